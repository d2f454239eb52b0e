//! The outcome of a trial from what it observed: DESIGN.md's table as one
//! pure function, [`judge`], with the table as its unit test.

use crate::definitions::scenarios::Scenario;
use crate::definitions::versions::{across_releases, Version};
use crate::generation::generator::TrialOp;
use crate::judging::comparison::{flash_diffs_of, state_diffs};
use crate::running::machine::Link;
use crate::running::observation::{End, HopLoss, LossyRun, Observation, Observed, OpStep};
use crate::running::trial::run_lossy;
use reports::results::{FlashDiff, StateDiff};
use reports::Outcome;
use std::collections::BTreeSet;
use std::sync::Arc;

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
    /// Each op as the run executed it (recorded runs only).
    pub steps: Vec<OpStep>,
    /// The states the target devices migrated in (`type: state`).
    pub migrated_in: Vec<String>,
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
            steps: Vec::new(),
            migrated_in: Vec::new(),
        }
    }
}

/// The trial of `chain` among `trials` with `t`'s scenario and seed.
pub fn same_seed<'a>(
    trials: &'a [TrialOutcome],
    t: &TrialOutcome,
    chain: &[Arc<Version>],
) -> Option<&'a TrialOutcome> {
    trials.iter().find(|u| {
        u.scenario.name == t.scenario.name
            && u.seed == t.seed
            && u.chain
                .iter()
                .map(|v| &v.name)
                .eq(chain.iter().map(|v| &v.name))
    })
}

/// A trial's reason starts with this when the whole-VM stream was refused
/// by another device and the flash-only stream was judged instead.
pub const WHOLE_VM_REFUSED: &str = "whole-VM stream refused";

/// One finished trial.
#[derive(Clone, Debug)]
pub struct TrialOutcome {
    pub scenario: Arc<Scenario>,
    pub chain: Vec<Arc<Version>>,
    pub seed: u64,
    pub ops: Vec<TrialOp>,
    pub expected: BTreeSet<Outcome>,
    pub result: TrialResult,
}

impl TrialOutcome {
    /// True if the outcome is among the expected ones.
    pub fn as_expected(&self) -> bool {
        self.expected.contains(&self.result.outcome)
    }
}

/// The result of a trial from its observation: the ends are compared and
/// [`judge`] decides. A difference is a loss only where the trial ends
/// exactly as the reference run with the declared losses of some of its
/// hops applied (each hop loses what its versions' missing features excuse,
/// or nothing); anything beyond is `diverged`. A whole-VM stream refused
/// because of another device is told beside the flash-only verdict.
pub fn verdict(ops: &[TrialOp], observation: Observation) -> TrialResult {
    verdict_with(ops, observation, &mut |o, units| {
        let loaded: Vec<usize> = o.loaded.iter().map(|h| h.at).collect();
        let link = Link::for_chain(&o.chain);
        run_lossy(&o.chain[0], &o.targets, ops, link, &loaded, units).map_err(|e| e.to_string())
    })
}

/// The run a trial is compared with when each declared loss happened
/// (`true`) or was kept (`None`: the source cannot run it).
type LossyRunner<'a> =
    dyn FnMut(&Observed, &[(&HopLoss, bool)]) -> Result<Option<LossyRun>, String> + 'a;

/// [`verdict`] with the runs of declared losses from `lossy`.
pub fn verdict_with(
    ops: &[TrialOp],
    observation: Observation,
    lossy: &mut LossyRunner<'_>,
) -> TrialResult {
    let o = match observation {
        Observation::Ran(o) => o,
        Observation::Crashed {
            reason,
            reference_reads,
            total_us,
        } => {
            let mut r = TrialResult::crashed(reason, &reference_reads);
            r.total_us = total_us;
            return r;
        }
    };
    let (re, end) = (&o.reference_end, &o.end);
    let against_reference = Against::of(&o.reads, &o.reference_reads, re, end);
    let checked = if o.declared_losses.is_empty() || against_reference.is_empty() {
        LossCheck::NotNeeded
    } else {
        check_losses(&o, lossy)
    };
    let all = || describe_hops(&o.declared_losses.iter().collect::<Vec<_>>());
    let (loss_permitted, loss_note, beyond) = match checked {
        LossCheck::NotNeeded => (false, None, None),
        LossCheck::Unchecked(why) => (
            true,
            Some(format!("declared losses ({}) not checked exactly: {why}", all())),
            None,
        ),
        LossCheck::Exact(lost) => (
            true,
            Some(format!("exactly the declared losses of {}", describe_hops(&lost))),
            None,
        ),
        LossCheck::Beyond { run, diffs } => (
            false,
            Some(format!(
                "beyond the declared losses ({}): the differences shown are from the reference run that lost all of that",
                all()
            )),
            Some((run.reads, diffs)),
        ),
        LossCheck::Failed(why) => (
            false,
            Some(format!("the declared losses could not be checked: {why}")),
            None,
        ),
    };
    // Beyond the declared losses, the differences shown are from the run
    // that lost them all.
    let (reference_reads, diffs) =
        beyond.unwrap_or_else(|| (o.reference_reads.clone(), against_reference));
    let o = *o;
    let mut r = judge(Judged {
        ops,
        reads: o.reads,
        reference_reads: &reference_reads,
        lost_at: o.lost_at,
        refusals: o.refusals,
        loss_permitted,
        loss_note,
        flash_diff: diffs.flash,
        state_diff: diffs.state,
        migrate_us: o.migrate_us,
    });
    r.total_us = o.total_us;
    r.steps = o.steps;
    r.migrated_in = o.migrated_in;
    if !o.whole_vm_refusals.is_empty() {
        // Both verdicts side by side: the whole-VM stream's, then the
        // flash-only stream's (the outcome).
        r.reason = format!(
            "{WHOLE_VM_REFUSED}: {}; flash-only stream: {}{}",
            o.whole_vm_refusals.join("; "),
            r.outcome.name(),
            if r.reason.is_empty() {
                String::new()
            } else {
                format!(" ({})", r.reason)
            }
        );
    }
    r
}

/// How the declared losses of a differing trial were checked.
enum LossCheck<'a> {
    NotNeeded,
    /// The trial ends as the run where these hops lost what they declare.
    Exact(Vec<&'a HopLoss>),
    /// No such run: the differences from the run where every hop lost.
    Beyond {
        run: LossyRun,
        diffs: Against,
    },
    /// The source cannot run it (real QEMU).
    Unchecked(String),
    Failed(String),
}

/// At most this many declared losses (one kind of loss at one hop) are
/// tried in every combination (lost or kept); longer chains try "all lost"
/// only.
const LOSS_COMBINATIONS_UP_TO: usize = 6;

/// Finds the declared losses that make the reference run end as the trial:
/// each may have happened or not (a version may keep more than it
/// promises), all lost first.
fn check_losses<'a>(o: &'a Observed, lossy: &mut LossyRunner<'_>) -> LossCheck<'a> {
    if let Some(h) = o.loaded.iter().find(|h| across_releases(&h.from, &h.to)) {
        return LossCheck::Unchecked(format!(
            "{} -> {} crosses releases, whose differences are judged between the real builds",
            h.from.name, h.to.name
        ));
    }
    let k = o.declared_losses.len();
    let all = (1u32 << k) - 1;
    let masks: Vec<u32> = if k <= LOSS_COMBINATIONS_UP_TO {
        (1..=all).rev().collect()
    } else {
        vec![all]
    };
    let mut all_lost = None;
    for mask in masks {
        let units: Vec<(&HopLoss, bool)> = o
            .declared_losses
            .iter()
            .enumerate()
            .map(|(i, h)| (h, mask & (1 << i) != 0))
            .collect();
        let run = match lossy(o, &units) {
            Ok(Some(run)) => run,
            Ok(None) => {
                return LossCheck::Unchecked(format!(
                    "the source {} cannot set a device's state (its model check covers it)",
                    o.chain[0].name
                ))
            }
            Err(e) => return LossCheck::Failed(e),
        };
        let diffs = Against::of(&o.reads, &run.reads, &run.end, &o.end);
        if diffs.is_empty() {
            return LossCheck::Exact(units.iter().filter(|u| u.1).map(|u| u.0).collect());
        }
        if mask == all {
            all_lost = Some((run, diffs));
        }
    }
    match all_lost {
        Some((run, diffs)) => LossCheck::Beyond { run, diffs },
        None => LossCheck::Failed("no run with every declared loss".into()),
    }
}

/// `a -> b at op N: dev: loss, …; …`
fn describe_hops(hops: &[&HopLoss]) -> String {
    hops.iter()
        .map(|h| {
            let what: Vec<String> = h.losses.iter().map(|l| l.to_string()).collect();
            format!("{} at op {}: {}", h.hop, h.at, what.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The differences of a trial's end from another run's end.
struct Against {
    reads_differ: bool,
    flash: Vec<FlashDiff>,
    state: Vec<StateDiff>,
}

impl Against {
    fn of(
        reads: &[(usize, u64)],
        their_reads: &[(usize, u64)],
        theirs: &End,
        end: &End,
    ) -> Against {
        let flash = flash_diffs_of(
            &end.version,
            &theirs.arrays,
            &theirs.images,
            &end.arrays,
            &end.images,
        );
        let state = match (&theirs.states, &end.states) {
            (Some(r), Some(g)) => state_diffs(r, g),
            _ => Vec::new(),
        };
        Against {
            reads_differ: reads != their_reads,
            flash,
            state,
        }
    }

    fn is_empty(&self) -> bool {
        !self.reads_differ && self.flash.is_empty() && self.state.is_empty()
    }
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
    /// The differences are what the hops that loaded lose by declaration
    /// (exactly, where it could be checked).
    pub loss_permitted: bool,
    /// How the declared losses were checked, told beside the reason.
    pub loss_note: Option<String>,
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
        loss_note,
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
    let reason = match loss_note {
        Some(note) if differs => format!("{reason}; {note}"),
        _ => reason,
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
        steps: Vec::new(),
        migrated_in: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPS: &[TrialOp] = &[
        TrialOp::read(0, 0, 4),
        TrialOp::MIGRATE,
        TrialOp::read(0, 0, 4),
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
                loss_note: None,
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
            loss_note: None,
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
            loss_note: None,
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

    // `verdict`: an observation to a result (the table above decides; these
    // pin what feeds it).

    use crate::definitions::losses::{DeviceLoss, Loss};
    use crate::definitions::versions::parse_version;
    use crate::running::observation::Hop;
    use devices::Storage;

    /// A one-device version promising `features`.
    fn version(name: &str, features: &str) -> Arc<Version> {
        let text = format!(
            r#"
release = "v5"
machine-type = "nor-5.0"
[[device]]
id = "flash0"
type = "cfi.pflash01"
properties = {{ name = "f0", num-blocks = 4, sector-length = 0x1000, width = 4 }}
features = [{features}]
"#
        );
        Arc::new(
            parse_version(
                std::path::Path::new(&format!("machines/{name}.toml")),
                &text,
            )
            .expect("a version"),
        )
    }

    fn end(v: &Arc<Version>, byte: u8, state: bool) -> End {
        let array = Storage::from_bytes(&[byte; 0x4000]);
        End {
            version: v.clone(),
            arrays: vec![("flash0".into(), array.clone())],
            images: vec![("flash0".into(), Some(array))],
            states: state.then(Vec::new),
        }
    }

    fn observed(v: &Arc<Version>, hops: &[(Arc<Version>, Arc<Version>)], end_byte: u8) -> Observed {
        Observed {
            reads: REFERENCE.to_vec(),
            reference_reads: REFERENCE.to_vec(),
            machine_type: "nor-5.0".into(),
            loaded: hops
                .iter()
                .map(|(a, b)| Hop {
                    from: a.clone(),
                    to: b.clone(),
                    at: 1,
                })
                .collect(),
            refusals: Vec::new(),
            whole_vm_refusals: Vec::new(),
            lost_at: None,
            declared_losses: Vec::new(),
            chain: vec![v.clone()],
            targets: vec!["flash0".into()],
            reference_end: end(v, 0xff, true),
            end: end(v, end_byte, true),
            migrate_us: 7,
            total_us: 9,
            steps: Vec::new(),
            migrated_in: Vec::new(),
        }
    }

    #[test]
    fn a_crash_keeps_its_reason_and_time() {
        let o = Observation::Crashed {
            reason: "QEMU died: stderr".into(),
            reference_reads: REFERENCE.to_vec(),
            total_us: 42,
        };
        let r = verdict(OPS, o);
        assert_eq!(r.outcome, Outcome::Crashed);
        assert_eq!((r.reason.as_str(), r.total_us), ("QEMU died: stderr", 42));
        assert_eq!(r.reference_reads, REFERENCE);
    }

    #[test]
    fn a_loss_is_granted_only_where_the_trial_ends_exactly_as_the_declared_loss_leaves_it() {
        let v = version("v", r#""write-buffer""#);
        let same = verdict(OPS, Observation::Ran(Box::new(observed(&v, &[], 0xff))));
        assert_eq!(same.outcome, Outcome::Identical, "{}", same.reason);
        assert_eq!((same.migrate_us, same.total_us), (7, 9));

        // Nothing declared lost: any difference diverges.
        let hop = [(v.clone(), v.clone())];
        let r = verdict(OPS, Observation::Ran(Box::new(observed(&v, &hop, 0))));
        assert_eq!(r.outcome, Outcome::Diverged, "{}", r.reason);
        assert!(
            r.reason
                .contains("flash differs (flash0 array, flash0 image)"),
            "{}",
            r.reason
        );
        assert_eq!(r.flash_diff[0].expected.split(' ').next(), Some("ff"));

        let declared = |n: usize| -> Vec<HopLoss> {
            (0..n)
                .map(|i| HopLoss {
                    at: 1 + 2 * i,
                    hop: format!("v -> v{i}"),
                    losses: vec![DeviceLoss {
                        device: "flash0".into(),
                        loss: Loss::ReadMode,
                    }],
                })
                .collect()
        };
        // A lossy run ending with `byte` where exactly the hops at `lost`
        // ops lose.
        let run = |lost: &'static [usize], byte: u8| {
            let v = v.clone();
            move |_: &Observed, units: &[(&HopLoss, bool)]| -> Result<Option<LossyRun>, String> {
                let at: Vec<usize> = units.iter().filter(|u| u.1).map(|u| u.0.at).collect();
                let byte = if at == lost { byte } else { 0x22 };
                Ok(Some(LossyRun {
                    reads: REFERENCE.to_vec(),
                    end: end(&v, byte, true),
                }))
            }
        };
        // The trial ends as the run where every hop lost: lossy.
        let mut o = observed(&v, &hop, 0);
        o.declared_losses = declared(1);
        let r = verdict_with(OPS, Observation::Ran(Box::new(o)), &mut run(&[1], 0));
        assert_eq!(r.outcome, Outcome::Lossy, "{}", r.reason);
        assert!(
            r.reason.contains(
                "exactly the declared losses of v -> v0 at op 1: flash0: read mode (no restores-read-mode)"
            ),
            "{}",
            r.reason
        );

        // Two hops, the second kept what it could have lost: lossy, and
        // only the first is named.
        let mut o = observed(&v, &hop, 0);
        o.declared_losses = declared(2);
        let r = verdict_with(OPS, Observation::Ran(Box::new(o)), &mut run(&[1], 0));
        assert_eq!(r.outcome, Outcome::Lossy, "{}", r.reason);
        assert!(
            r.reason.contains("losses of v -> v0 at op 1"),
            "{}",
            r.reason
        );
        assert!(!r.reason.contains("v -> v1"), "{}", r.reason);

        // Anything beyond it: diverged, shown against the all-lost run.
        let mut o = observed(&v, &hop, 0);
        o.declared_losses = declared(1);
        let r = verdict_with(OPS, Observation::Ran(Box::new(o)), &mut run(&[1], 0x11));
        assert_eq!(r.outcome, Outcome::Diverged, "{}", r.reason);
        assert!(
            r.reason.contains("beyond the declared losses"),
            "{}",
            r.reason
        );
        assert_eq!(r.flash_diff[0].expected.split(' ').next(), Some("11"));

        // A source that cannot run the lossy reference: granted, and told.
        let mut o = observed(&v, &hop, 0);
        o.declared_losses = declared(1);
        let r = verdict_with(OPS, Observation::Ran(Box::new(o)), &mut |_, _| Ok(None));
        assert_eq!(r.outcome, Outcome::Lossy, "{}", r.reason);
        assert!(r.reason.contains("not checked exactly"), "{}", r.reason);
    }

    #[test]
    fn canonical_states_are_compared_only_where_both_ends_show_them() {
        let v = version("v", r#""write-buffer""#);
        let mut o = observed(&v, &[], 0xff);
        let spec = devices::DeviceSpec::parse(
            "cfi.pflash01,name=f0,num-blocks=4,sector-length=0x1000,width=4",
        )
        .expect("a spec");
        let dev = devices::create(&spec, devices::BlockBackend::none()).expect("a device");
        o.reference_end.states = Some(vec![("flash0".into(), dev.state())]);
        o.end.states = None;
        let r = verdict(OPS, Observation::Ran(Box::new(o)));
        assert_eq!(r.outcome, Outcome::Identical, "{}", r.reason);
    }

    #[test]
    fn a_whole_vm_refusal_is_told_beside_the_flash_only_verdict() {
        let v = version("v", r#""write-buffer""#);
        let mut o = observed(&v, &[(v.clone(), v.clone())], 0xff);
        o.whole_vm_refusals = vec!["a -> b: device 'cpu' refused".into()];
        let r = verdict(OPS, Observation::Ran(Box::new(o)));
        assert_eq!(r.outcome, Outcome::Identical);
        assert_eq!(
            r.reason,
            format!(
                "{WHOLE_VM_REFUSED}: a -> b: device 'cpu' refused; flash-only stream: identical"
            )
        );
    }
}
