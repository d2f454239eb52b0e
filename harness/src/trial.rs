//! Trials: run a sequence on the source version, migrate at the marked points
//! along a chain of versions, continue, and compare with the reference run
//! (every read after the first migration, the arrays, the backing images and
//! the canonical states). Outcomes as DESIGN.md defines them.

use crate::board::{migrate, Board};
use crate::features::{MIGRATES_COMMAND_STATE, RESTORES_READ_MODE};
use crate::generator::TrialOp;
use crate::layout::{command_set, CommandSet};
use crate::machines::Version;
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

/// True if a hop `a → b` is allowed to lose command state (features say so).
pub fn loss_allowed(a: &Version, b: &Version, targets: &[String]) -> bool {
    targets.iter().any(|id| {
        [a, b].iter().any(|v| match v.device(id) {
            Some(d) => {
                let intel = command_set(&d.type_name) == Some(CommandSet::Intel);
                !d.has(MIGRATES_COMMAND_STATE) || (intel && !d.has(RESTORES_READ_MODE))
            }
            None => true,
        })
    })
}

/// True if the destination release cannot accept the source's machine type.
pub fn refusal_predicted(a: &Version, b: &Version) -> bool {
    !b.release.offers.contains(&a.machine_type.as_str())
}

/// The outcomes a chain may have, from features and refusal predictions.
pub fn expected_outcomes(chain: &[Arc<Version>], targets: &[String]) -> BTreeSet<Outcome> {
    let mut out = BTreeSet::new();
    // Track where the machine actually is: a refused hop leaves it on the source.
    let mut at = chain[0].clone();
    let mut refused = false;
    let mut lossy = false;
    for next in &chain[1..] {
        if refusal_predicted(&at, next) {
            refused = true;
            continue;
        }
        lossy |= loss_allowed(&at, next, targets);
        at = next.clone();
    }
    if refused {
        out.insert(Outcome::Refused);
    } else {
        out.insert(Outcome::Identical);
        if lossy {
            out.insert(Outcome::Lossy);
        }
    }
    out
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
            TrialResult {
                outcome: Outcome::Crashed,
                reason: format!("panic: {msg}"),
                first_read_mismatch: None,
                reads: Vec::new(),
                reference_reads: reference.reads.clone(),
                state_diff: Vec::new(),
                flash_diff: Vec::new(),
                migrate_us: 0,
                total_us: 0,
            }
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
                    // equal the reference's at this point.
                    let snap = &reference.snapshots[hop - 1];
                    if lost_at.is_none() {
                        for ((id, a), (_, b)) in snap.arrays().iter().zip(next.arrays().iter()) {
                            if a != b {
                                lost_at = Some(format!(
                                    "flash contents of '{id}' lost in migration {} -> {} at op {i}",
                                    board.version.name, dst.name
                                ));
                                break;
                            }
                        }
                    }
                    loss_permitted |= loss_allowed(&board.version, dst, targets);
                    board = next;
                }
                Err(r) => refusals.push(format!(
                    "{} -> {} refused at op {i}: {}",
                    board.version.name, dst.name, r.reason
                )),
            }
        } else if let Some(v) = board.apply(op) {
            reads.push((i, v));
        }
    }

    let first_read_mismatch = reads
        .iter()
        .zip(&reference.reads)
        .find(|(a, b)| a != b)
        .map(|(a, _)| a.0)
        .or_else(|| (reads.len() != reference.reads.len()).then_some(ops.len()));
    let flash_diff = flash_diffs(&reference.end, &board);
    let state_diff = state_diffs(&reference.end, &board);
    let differs = first_read_mismatch.is_some() || !flash_diff.is_empty() || !state_diff.is_empty();

    let describe = || {
        let mut parts = Vec::new();
        if let Some(i) = first_read_mismatch {
            let got = reads.iter().find(|(j, _)| *j == i).map(|r| r.1);
            let want = reference.reads.iter().find(|(j, _)| *j == i).map(|r| r.1);
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
        reference_reads: reference.reads.clone(),
        state_diff,
        flash_diff,
        migrate_us,
        total_us: 0,
    }
}

fn flash_diffs(reference: &Board, got: &Board) -> Vec<FlashDiff> {
    let mut out = Vec::new();
    let pairs = reference
        .arrays()
        .into_iter()
        .zip(got.arrays())
        .map(|((id, a), (_, b))| (id, "array", Some(a), Some(b)))
        .chain(
            reference
                .images()
                .into_iter()
                .zip(got.images())
                .map(|((id, a), (_, b))| (id, "image", a, b)),
        );
    for (id, what, a, b) in pairs {
        let (Some(a), Some(b)) = (a, b) else {
            continue;
        };
        if a == b {
            continue;
        }
        let sector = got
            .version
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
