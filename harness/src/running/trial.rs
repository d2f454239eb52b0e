//! Trials: run a sequence on the source version, migrate at the marked points
//! along a chain of versions, continue, and compare with the reference run
//! (every read after the first migration, the arrays, the backing images and
//! the canonical states). Outcomes as DESIGN.md defines them.

use crate::definitions::features::{MIGRATES_COMMAND_STATE, RESTORES_READ_MODE};
use crate::definitions::layout::{command_set, CommandSet};
use crate::definitions::versions::Version;
use crate::generation::generator::TrialOp;
use crate::running::board::{migrate, Board};
use devices::Storage;
use reports::results::{FlashDiff, StateDiff};
use reports::Outcome;
use serde_json::Value;
use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Instant;

/// Bytes per line of a flash diff.
const FLASH_DIFF_CHUNK: u64 = 16;
/// At most this many flash diff lines per device.
const FLASH_DIFF_LIMIT: usize = 8;

/// What a trial found.
#[derive(Clone, Debug)]
pub struct TrialResult {
    pub outcome: Outcome,
    pub reason: String,
    /// Index of the first differing read (op index), if any.
    pub first_read_mismatch: Option<usize>,
    /// Read values of the trial, by op index.
    pub reads: Vec<(usize, u64)>,
    /// Read values of the reference run, by op index.
    pub reference_reads: Vec<(usize, u64)>,
    pub state_diff: Vec<StateDiff>,
    pub flash_diff: Vec<FlashDiff>,
    pub migrate_us: u64,
    pub total_us: u64,
}

impl TrialResult {
    /// A `crashed` result: a panic, or a QEMU that died, hung or answered
    /// garbage (`reason` says which, with QEMU's stderr).
    pub fn crashed(reason: String, reference_reads: &[(usize, u64)]) -> TrialResult {
        TrialResult {
            outcome: Outcome::Crashed,
            reason,
            first_read_mismatch: None,
            reads: Vec::new(),
            reference_reads: reference_reads.to_vec(),
            state_diff: Vec::new(),
            flash_diff: Vec::new(),
            migrate_us: 0,
            total_us: 0,
        }
    }
}

/// The reference run: the sequence on the source version without migrating,
/// with snapshots at every migration point so trials start from a fork
/// instead of re-running the prefix.
pub struct Reference {
    pub reads: Vec<(usize, u64)>,
    /// Board snapshot at each migration marker (in order).
    pub snapshots: Vec<Board>,
    /// The board at the end.
    pub end: Board,
}

/// Runs the reference for `ops` on `source`.
pub fn run_reference(
    source: &Arc<Version>,
    targets: &[String],
    ops: &[TrialOp],
) -> Result<Reference, String> {
    let mut board = Board::new(source, targets)?;
    let mut reads = Vec::new();
    let mut snapshots = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        if matches!(op, TrialOp::Migrate) {
            snapshots.push(board.fork());
        } else if let Some(v) = board.apply(op) {
            reads.push((i, v));
        }
    }
    Ok(Reference {
        reads,
        snapshots,
        end: board,
    })
}

/// The features of device `d` of version `v` while it runs `machine_type`
/// (a destination keeps the machine type of the stream it accepted, so a
/// version may run another machine type than its own; conditions are
/// re-evaluated with that `machine-type:` symbol).
pub fn features_running(v: &Version, id: &str, machine_type: &str) -> BTreeSet<String> {
    let Some(d) = v.device(id) else {
        return BTreeSet::new();
    };
    if machine_type == v.machine_type {
        return d.features.clone();
    }
    let symbols = v.symbols_running(machine_type);
    d.declared_features
        .iter()
        .filter(|f| f.effective(&symbols))
        .map(|f| f.name().to_string())
        .collect()
}

/// True if a hop `a → b` running `machine_type` may lose command state: a
/// target device on either side does not promise `migrates-command-state`
/// (or, for cfi01, `restores-read-mode`).
pub fn loss_allowed(a: &Version, b: &Version, machine_type: &str, targets: &[String]) -> bool {
    targets.iter().any(|id| {
        [a, b].iter().any(|v| {
            let intel = v
                .device(id)
                .is_some_and(|d| command_set(&d.type_name) == Some(CommandSet::Intel));
            let f = features_running(v, id, machine_type);
            !f.contains(MIGRATES_COMMAND_STATE) || (intel && !f.contains(RESTORES_READ_MODE))
        })
    })
}

/// True if `b` is predicted to refuse a stream from `a` running
/// `machine_type`: its release does not offer that machine type, or (when
/// both run their own machine types) the static checker finds a section the
/// destination does not have.
pub fn refusal_predicted(a: &Version, b: &Version, machine_type: &str) -> bool {
    if !b.offers_type(machine_type) {
        return true;
    }
    machine_type == a.machine_type
        && machine_type == b.machine_type
        && crate::judging::staticcheck::predicts_refusal(a, b)
}

/// The outcomes a chain may have, from features and refusal predictions.
/// The machine type is the source's all along: a destination keeps running
/// the machine type of the stream it accepted.
pub fn expected_outcomes(chain: &[Arc<Version>], targets: &[String]) -> BTreeSet<Outcome> {
    let mut out = BTreeSet::new();
    let machine_type = chain[0].machine_type.as_str();
    // Track where the machine actually is: a refused hop leaves it on the source.
    let mut at = chain[0].clone();
    let mut refused = false;
    let mut lossy = false;
    for next in &chain[1..] {
        if refusal_predicted(&at, next, machine_type) {
            refused = true;
            continue;
        }
        lossy |= loss_allowed(&at, next, machine_type, targets);
        at = next.clone();
    }
    if refused {
        out.insert(Outcome::Refused);
    } else {
        out.insert(Outcome::Identical);
    }
    if lossy {
        out.insert(Outcome::Lossy);
    }
    out
}

/// Runs one trial along `chain` from scratch: its reference first. Chains
/// through a real version run on QEMU processes; model chains fork.
pub fn run_chain(
    chain: &[Arc<Version>],
    targets: &[String],
    ops: &[TrialOp],
) -> Result<TrialResult, String> {
    if chain.iter().any(|v| v.is_real()) {
        let reference = crate::running::real_trial::run_reference(&chain[0], targets, ops)
            .map_err(|e| format!("reference run on {}: {}", chain[0].name, e.0))?;
        Ok(crate::running::real_trial::run_trial(
            chain, targets, ops, &reference,
        ))
    } else {
        let reference = run_reference(&chain[0], targets, ops)?;
        Ok(run_trial(chain, targets, ops, &reference))
    }
}

/// Runs one trial along `chain` from the reference's snapshots.
pub fn run_trial(
    chain: &[Arc<Version>],
    targets: &[String],
    ops: &[TrialOp],
    reference: &Reference,
) -> TrialResult {
    let started = Instant::now();
    let result = catch_unwind(AssertUnwindSafe(|| {
        run_trial_inner(chain, targets, ops, reference)
    }));
    let mut r = match result {
        Ok(r) => r,
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".into());
            TrialResult::crashed(format!("panic: {msg}"), &reference.reads)
        }
    };
    r.total_us = started.elapsed().as_micros() as u64;
    r
}

fn run_trial_inner(
    chain: &[Arc<Version>],
    targets: &[String],
    ops: &[TrialOp],
    reference: &Reference,
) -> TrialResult {
    let first = ops.iter().position(|o| matches!(o, TrialOp::Migrate));
    let mut board = match first {
        Some(_) => reference.snapshots[0].fork(),
        None => Board::new(&chain[0], targets).expect("reference board was realized"),
    };
    let start = first.unwrap_or(0);
    let mut reads: Vec<(usize, u64)> = reference
        .reads
        .iter()
        .copied()
        .filter(|(i, _)| *i < start)
        .collect();
    let mut hop = 0;
    let mut refusals = Vec::new();
    let mut lost_at: Option<String> = None;
    let mut loss_permitted = false;
    let mut migrate_us = 0;
    for (i, op) in ops.iter().enumerate().skip(start) {
        if matches!(op, TrialOp::Migrate) {
            hop += 1;
            let dst = &chain[hop.min(chain.len() - 1)];
            let t = Instant::now();
            let res = migrate(&board, dst);
            migrate_us += t.elapsed().as_micros() as u64;
            match res {
                Ok(next) => {
                    // Data is never lost: the array right after loading must
                    // equal the source's at the moment it was saved.
                    if lost_at.is_none() {
                        for ((id, a), (_, b)) in board.arrays().iter().zip(next.arrays().iter()) {
                            if let Some(page) = b.dirty_pages(a).first() {
                                let (pa, pb) = (a.page_bytes(*page), b.page_bytes(*page));
                                let at = pa.iter().zip(&pb).position(|(x, y)| x != y).unwrap_or(0);
                                let off = (*page * devices::storage::PAGE_SIZE + at) as u64;
                                lost_at = Some(format!(
                                    "flash contents of '{id}' lost in migration {} -> {} at op {i}: byte {off:#x} is {:#04x} on the destination, {:#04x} on the source",
                                    board.version.name, dst.name, pb.get(at).copied().unwrap_or(0), pa.get(at).copied().unwrap_or(0)
                                ));
                                break;
                            }
                        }
                    }
                    loss_permitted |=
                        loss_allowed(&board.version, dst, &board.machine.machine_type, targets);
                    board = next;
                }
                // No op index here: reasons are grouped by text in reports
                // (the op sequence shows where the migration was).
                Err(r) => refusals.push(format!(
                    "{} -> {} refused: {}",
                    board.version.name, dst.name, r.reason
                )),
            }
        } else if let Some(v) = board.apply(op) {
            reads.push((i, v));
        }
    }

    let flash_diff = flash_diffs(&reference.end, &board);
    let state_diff = state_diffs(&reference.end, &board);
    judge(Judged {
        ops,
        reads,
        reference_reads: &reference.reads,
        lost_at,
        refusals,
        loss_permitted,
        flash_diff,
        state_diff,
        migrate_us,
    })
}

/// What a trial observed, ready to be judged.
pub struct Judged<'a> {
    pub ops: &'a [TrialOp],
    pub reads: Vec<(usize, u64)>,
    pub reference_reads: &'a [(usize, u64)],
    /// Contents lost at a migration point (a description), if any.
    pub lost_at: Option<String>,
    /// One line per refused hop.
    pub refusals: Vec<String>,
    /// Some hop that loaded may lose state, as its features allow.
    pub loss_permitted: bool,
    pub flash_diff: Vec<FlashDiff>,
    pub state_diff: Vec<StateDiff>,
    pub migrate_us: u64,
}

/// The outcome of a trial from what it observed (DESIGN.md's table).
pub fn judge(j: Judged<'_>) -> TrialResult {
    let Judged {
        ops,
        reads,
        reference_reads,
        lost_at,
        refusals,
        loss_permitted,
        flash_diff,
        state_diff,
        migrate_us,
    } = j;
    let first_read_mismatch = reads
        .iter()
        .zip(reference_reads)
        .find(|(a, b)| a != b)
        .map(|(a, _)| a.0)
        .or_else(|| (reads.len() != reference_reads.len()).then_some(ops.len()));
    let differs = first_read_mismatch.is_some() || !flash_diff.is_empty() || !state_diff.is_empty();

    let describe = || {
        let mut parts = Vec::new();
        if first_read_mismatch == Some(ops.len()) {
            parts.push(format!(
                "the trial made {} reads where the reference made {}",
                reads.len(),
                reference_reads.len()
            ));
        } else if let Some(i) = first_read_mismatch {
            let got = reads.iter().find(|(j, _)| *j == i).map(|r| r.1);
            let want = reference_reads.iter().find(|(j, _)| *j == i).map(|r| r.1);
            parts.push(format!(
                "read at op {i} ({}) returned {} where the reference read {}",
                ops.get(i).map(|o| o.to_string()).unwrap_or_default(),
                got.map_or("nothing".into(), |v| format!("{v:#x}")),
                want.map_or("nothing".into(), |v| format!("{v:#x}"))
            ));
        }
        if !state_diff.is_empty() {
            let fields: Vec<String> = state_diff
                .iter()
                .map(|d| format!("{}.{}", d.device, d.field))
                .collect();
            parts.push(format!("canonical state differs in {}", fields.join(", ")));
        }
        if !flash_diff.is_empty() {
            let what: BTreeSet<String> = flash_diff
                .iter()
                .map(|d| format!("{} {}", d.device, d.what))
                .collect();
            parts.push(format!(
                "flash differs ({})",
                what.into_iter().collect::<Vec<_>>().join(", ")
            ));
        }
        parts.join("; ")
    };

    let (outcome, reason) = if let Some(lost) = lost_at {
        (Outcome::Diverged, lost)
    } else if !refusals.is_empty() {
        if differs && loss_permitted {
            // A later hop that loaded may lose state; the refusal stands.
            (
                Outcome::Refused,
                format!(
                    "{}; later hops lost state as their features allow: {}",
                    refusals.join("; "),
                    describe()
                ),
            )
        } else if differs {
            (
                Outcome::Diverged,
                format!(
                    "{}; after the refusal the source did not continue as the reference: {}",
                    refusals.join("; "),
                    describe()
                ),
            )
        } else {
            (Outcome::Refused, refusals.join("; "))
        }
    } else if !differs {
        (Outcome::Identical, String::new())
    } else if loss_permitted {
        (Outcome::Lossy, describe())
    } else {
        (Outcome::Diverged, describe())
    };
    TrialResult {
        outcome,
        reason,
        first_read_mismatch,
        reads,
        reference_reads: reference_reads.to_vec(),
        state_diff,
        flash_diff,
        migrate_us,
        total_us: 0,
    }
}

fn flash_diffs(reference: &Board, got: &Board) -> Vec<FlashDiff> {
    flash_diffs_of(
        &got.version,
        &reference.arrays(),
        &reference.images(),
        &got.arrays(),
        &got.images(),
    )
}

/// Differences between two machines' flash arrays and images (lists by
/// device id, in the same order), at most [`FLASH_DIFF_LIMIT`] lines each.
pub fn flash_diffs_of(
    version: &Version,
    ref_arrays: &[(String, Storage)],
    ref_images: &[(String, Option<Storage>)],
    got_arrays: &[(String, Storage)],
    got_images: &[(String, Option<Storage>)],
) -> Vec<FlashDiff> {
    let mut out = Vec::new();
    let pairs = ref_arrays
        .iter()
        .cloned()
        .zip(got_arrays.iter().cloned())
        .map(|((id, a), (_, b))| (id, "array", Some(a), Some(b)))
        .chain(
            ref_images
                .iter()
                .cloned()
                .zip(got_images.iter().cloned())
                .map(|((id, a), (_, b))| (id, "image", a, b)),
        );
    for (id, what, a, b) in pairs {
        let (Some(a), Some(b)) = (a, b) else {
            continue;
        };
        if a == b {
            continue;
        }
        let sector = version
            .device(&id)
            .and_then(|d| {
                devices::props::parse_int(d.properties.get("sector-length").map_or("0", |s| s))
            })
            .filter(|s| *s > 0)
            .unwrap_or(devices::storage::PAGE_SIZE as u64);
        let mut lines = 0;
        'pages: for page in b.dirty_pages(&a) {
            let pa = a.page_bytes(page);
            let pb = b.page_bytes(page);
            let base = (page * devices::storage::PAGE_SIZE) as u64;
            let mut off = 0u64;
            while off < pa.len() as u64 {
                let end = (off + FLASH_DIFF_CHUNK).min(pa.len() as u64) as usize;
                let (x, y) = (&pa[off as usize..end], &pb[off as usize..end]);
                if x != y {
                    let hex = |s: &[u8]| {
                        s.iter()
                            .map(|b| format!("{b:02x}"))
                            .collect::<Vec<_>>()
                            .join(" ")
                    };
                    out.push(FlashDiff {
                        device: id.clone(),
                        what: what.to_string(),
                        sector: (base + off) / sector,
                        offset: base + off,
                        expected: hex(x),
                        got: hex(y),
                    });
                    lines += 1;
                    if lines >= FLASH_DIFF_LIMIT {
                        break 'pages;
                    }
                }
                off += FLASH_DIFF_CHUNK;
            }
        }
    }
    out
}

/// Two canonical states in a common encoding (a v6 state compared with a v5
/// one is projected to v5's fields), both as JSON objects.
pub fn comparable(reference: &devices::DeviceState, got: &devices::DeviceState) -> (Value, Value) {
    // Across releases both sides are compared in the v5 encoding, the only
    // one both can express.
    let r = devices::project_like(reference, got);
    let g = devices::project_like(got, &r);
    (
        serde_json::to_value(r).unwrap_or(Value::Null),
        serde_json::to_value(g).unwrap_or(Value::Null),
    )
}

fn state_diffs(reference: &Board, got: &Board) -> Vec<StateDiff> {
    let mut out = Vec::new();
    for ((id, rs), (_, gs)) in reference.states().iter().zip(got.states().iter()) {
        let (r, g) = comparable(rs, gs);
        let (Value::Object(r), Value::Object(g)) = (r, g) else {
            continue;
        };
        for (k, rv) in &r {
            if k == "type" {
                continue;
            }
            let gv = g.get(k).cloned().unwrap_or(Value::Null);
            if &gv != rv {
                out.push(StateDiff {
                    device: id.clone(),
                    field: k.clone(),
                    other_field: k.clone(),
                    expected: short(rv),
                    got: short(&gv),
                });
            }
        }
    }
    out
}

fn short(v: &Value) -> String {
    let s = match v {
        Value::Number(n) => n.as_u64().map_or(n.to_string(), |x| format!("{x:#x}")),
        other => other.to_string(),
    };
    if s.chars().count() > 80 {
        format!(
            "{}… ({} chars)",
            s.chars().take(80).collect::<String>(),
            s.len()
        )
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPS: &[TrialOp] = &[
        TrialOp::Read {
            dev: 0,
            addr: 0,
            width: 4,
        },
        TrialOp::Migrate,
        TrialOp::Read {
            dev: 0,
            addr: 0,
            width: 4,
        },
    ];
    const REFERENCE: &[(usize, u64)] = &[(0, 0xff), (2, 0x80)];

    fn flash_diff() -> FlashDiff {
        FlashDiff {
            device: "flash0".into(),
            what: "array".into(),
            sector: 0,
            offset: 0,
            expected: "ff".into(),
            got: "00".into(),
        }
    }

    fn state_diff() -> StateDiff {
        StateDiff {
            device: "flash0".into(),
            field: "cmd".into(),
            other_field: "cmd".into(),
            expected: "0x70".into(),
            got: "0xff".into(),
        }
    }

    /// One row of DESIGN.md's outcome table, as the observations that lead to it.
    struct Row {
        name: &'static str,
        reads: &'static [(usize, u64)],
        lost: bool,
        refused: bool,
        loss_permitted: bool,
        flash: bool,
        state: bool,
        outcome: Outcome,
        reason_has: &'static str,
    }

    #[test]
    fn every_row_of_the_outcome_table_is_decided_by_judge() {
        let same = REFERENCE;
        let other: &[(usize, u64)] = &[(0, 0xff), (2, 0xff)];
        let short: &[(usize, u64)] = &[(0, 0xff)];
        let rows = [
            Row {
                name: "identical",
                reads: same,
                lost: false,
                refused: false,
                loss_permitted: false,
                flash: false,
                state: false,
                outcome: Outcome::Identical,
                reason_has: "",
            },
            Row {
                name: "identical although loss was allowed",
                reads: same,
                lost: false,
                refused: false,
                loss_permitted: true,
                flash: false,
                state: false,
                outcome: Outcome::Identical,
                reason_has: "",
            },
            Row {
                name: "refused, source continued",
                reads: same,
                lost: false,
                refused: true,
                loss_permitted: false,
                flash: false,
                state: false,
                outcome: Outcome::Refused,
                reason_has: "refused: no",
            },
            Row {
                name: "refused, later hop lost as allowed",
                reads: other,
                lost: false,
                refused: true,
                loss_permitted: true,
                flash: false,
                state: false,
                outcome: Outcome::Refused,
                reason_has: "later hops lost state",
            },
            Row {
                name: "refused, then the source differs",
                reads: other,
                lost: false,
                refused: true,
                loss_permitted: false,
                flash: false,
                state: false,
                outcome: Outcome::Diverged,
                reason_has: "did not continue as the reference",
            },
            Row {
                name: "lossy read",
                reads: other,
                lost: false,
                refused: false,
                loss_permitted: true,
                flash: false,
                state: false,
                outcome: Outcome::Lossy,
                reason_has: "read at op 2",
            },
            Row {
                name: "lossy state",
                reads: same,
                lost: false,
                refused: false,
                loss_permitted: true,
                flash: false,
                state: true,
                outcome: Outcome::Lossy,
                reason_has: "canonical state differs in flash0.cmd",
            },
            Row {
                name: "diverged read",
                reads: other,
                lost: false,
                refused: false,
                loss_permitted: false,
                flash: false,
                state: false,
                outcome: Outcome::Diverged,
                reason_has: "returned 0xff where the reference read 0x80",
            },
            Row {
                name: "a read missing, loss allowed",
                reads: short,
                lost: false,
                refused: false,
                loss_permitted: true,
                flash: false,
                state: false,
                outcome: Outcome::Lossy,
                reason_has: "made 1 reads where the reference made 2",
            },
            Row {
                name: "a read missing",
                reads: short,
                lost: false,
                refused: false,
                loss_permitted: false,
                flash: false,
                state: false,
                outcome: Outcome::Diverged,
                reason_has: "made 1 reads",
            },
            Row {
                name: "diverged flash",
                reads: same,
                lost: false,
                refused: false,
                loss_permitted: false,
                flash: true,
                state: false,
                outcome: Outcome::Diverged,
                reason_has: "flash differs (flash0 array)",
            },
            Row {
                name: "diverged state",
                reads: same,
                lost: false,
                refused: false,
                loss_permitted: false,
                flash: false,
                state: true,
                outcome: Outcome::Diverged,
                reason_has: "flash0.cmd",
            },
            Row {
                name: "contents lost at the migration point",
                reads: same,
                lost: true,
                refused: false,
                loss_permitted: true,
                flash: false,
                state: false,
                outcome: Outcome::Diverged,
                reason_has: "lost in migration",
            },
            Row {
                name: "contents lost beats a refusal",
                reads: same,
                lost: true,
                refused: true,
                loss_permitted: true,
                flash: false,
                state: false,
                outcome: Outcome::Diverged,
                reason_has: "lost in migration",
            },
        ];
        for row in rows {
            let r = judge(Judged {
                ops: OPS,
                reads: row.reads.to_vec(),
                reference_reads: REFERENCE,
                lost_at: row
                    .lost
                    .then(|| "flash contents of 'flash0' lost in migration".to_string()),
                refusals: if row.refused {
                    vec!["a -> b refused: no".to_string()]
                } else {
                    Vec::new()
                },
                loss_permitted: row.loss_permitted,
                flash_diff: if row.flash {
                    vec![flash_diff()]
                } else {
                    Vec::new()
                },
                state_diff: if row.state {
                    vec![state_diff()]
                } else {
                    Vec::new()
                },
                migrate_us: 0,
            });
            assert_eq!(r.outcome, row.outcome, "{}: {}", row.name, r.reason);
            assert!(
                r.reason.contains(row.reason_has),
                "{}: reason '{}'",
                row.name,
                r.reason
            );
        }
    }

    #[test]
    fn the_first_read_mismatch_is_the_op_index() {
        let r = judge(Judged {
            ops: OPS,
            reads: vec![(0, 0xff), (2, 0x81)],
            reference_reads: REFERENCE,
            lost_at: None,
            refusals: Vec::new(),
            loss_permitted: false,
            flash_diff: Vec::new(),
            state_diff: Vec::new(),
            migrate_us: 0,
        });
        assert_eq!(r.first_read_mismatch, Some(2));
        let r = judge(Judged {
            ops: OPS,
            reads: vec![(0, 0xff)],
            reference_reads: REFERENCE,
            lost_at: None,
            refusals: Vec::new(),
            loss_permitted: false,
            flash_diff: Vec::new(),
            state_diff: Vec::new(),
            migrate_us: 0,
        });
        assert_eq!(
            r.first_read_mismatch,
            Some(OPS.len()),
            "a missing read is past the last op"
        );
    }
}
