//! Differences between releases: what a run observed between versions of
//! different releases (a real QEMU build and another release), judged
//! against the reviewed file of known differences
//! (`machines/known-differences.toml`). A difference that no entry lists
//! fails the run; an entry that nothing matched is reported as not seen.
//!
//! A behaviour difference is a pair of versions of a board whose reads,
//! arrays, images or saved device state differ on the same sequence without
//! migrating. A migration difference is a hop between two real releases
//! whose verdict is not `identical` against the source's own reference run:
//! a whole-VM stream refused (QEMU's message names the section), or the
//! flash verdict (refused, lossy, diverged).

use crate::definitions::known_differences::{Entry, Kind, FILE};
use crate::definitions::project::Project;
use crate::definitions::versions::{across_releases, Version};
use crate::judging::behaviour::BehaviourOutcome;
use crate::judging::outcome::TrialOutcome;
use crate::judging::outcome::WHOLE_VM_REFUSED;
use reports::results::{
    BehaviourCell, CrossRelease, KnownDifference, ObservedDifference, ReleasePairTotal,
};
use reports::Outcome;

/// Adds one differing sequence of a pair of different releases to `acc`
/// (grouping key, observation): every differing sequence is classified on
/// its own, so one cause cannot hide another in the same cell. Sequences
/// an entry covers group by (pair, scenario, entry); the others by their
/// one-line summary. The observation keeps the first sequence's ops.
pub fn add_behaviour_observation(
    acc: &mut Vec<(String, ObservedDifference)>,
    project: &Project,
    o: &BehaviourOutcome,
) {
    let Some(d) = &o.difference else {
        return;
    };
    if !across_releases(&o.a, &o.b) {
        return;
    }
    let obs = ObservedDifference {
        kind: Kind::Behaviour.name().into(),
        board: o.board.clone(),
        scenario: o.scenario.name.clone(),
        a: o.a.name.clone(),
        b: o.b.name.clone(),
        a_release: o.a.release_name.clone(),
        b_release: o.b.release_name.clone(),
        seed: o.seed,
        count: 1,
        summary: format!("{} at {}: {} vs {}", d.what, d.at, d.a, d.b),
        mode: String::new(),
        ops: o
            .ops
            .iter()
            .enumerate()
            .map(|(i, op)| format!("{i}: {op}"))
            .collect(),
        reproduce: crate::judging::behaviour::reproduce_command(
            &o.scenario.name,
            o.seed,
            &o.a.name,
            &o.b.name,
        ),
    };
    let by = match project.known.iter().find(|e| e.covers(&obs)) {
        Some(e) => format!("entry {}", e.id),
        None => format!("unlisted {}", obs.summary),
    };
    let key = format!("{}\n{}\n{}\n{by}", o.scenario.name, o.a.name, o.b.name);
    match acc.iter_mut().find(|(k, _)| *k == key) {
        Some((_, x)) => x.count += 1,
        None => acc.push((key, obs)),
    }
}

/// The behaviour observations, with the minimal op list (and mode) of the
/// report's cell where the cell's first difference is the same sequence
/// and the same entry still covers it.
pub fn behaviour_observations(
    project: &Project,
    acc: Vec<(String, ObservedDifference)>,
    cells: &[BehaviourCell],
) -> Vec<ObservedDifference> {
    acc.into_iter()
        .map(|(_, mut o)| {
            let first = cells
                .iter()
                .find(|c| {
                    c.board == o.board && c.scenario == o.scenario && c.a == o.a && c.b == o.b
                })
                .and_then(|c| c.first.clone())
                .filter(|d| d.seed == o.seed);
            if let Some(d) = first {
                let shrunk = ObservedDifference {
                    summary: format!("{} at {}: {} vs {}", d.what, d.at, d.a_value, d.b_value),
                    mode: d.mode.clone(),
                    ops: d.ops.clone(),
                    ..o.clone()
                };
                let entry = |x: &ObservedDifference| project.known.iter().position(|e| e.covers(x));
                if entry(&shrunk) == entry(&o) {
                    o = shrunk;
                }
            }
            o
        })
        .collect()
}

/// The entry that lists a behaviour difference of `a` and `b` on `board`
/// (one-line `summary`, the `ops` that show it), if they are of different
/// releases and an entry covers it.
pub fn listing<'p>(
    project: &'p Project,
    a: &Version,
    b: &Version,
    summary: &str,
    ops: &[String],
) -> Option<&'p Entry> {
    if !across_releases(a, b) {
        return None;
    }
    let o = ObservedDifference {
        kind: Kind::Behaviour.name().into(),
        board: a.board.clone(),
        a: a.name.clone(),
        b: b.name.clone(),
        a_release: a.release_name.clone(),
        b_release: b.release_name.clone(),
        summary: summary.to_string(),
        ops: ops.to_vec(),
        ..ObservedDifference::default()
    };
    project.known.iter().find(|e| e.covers(&o))
}

/// Ops shown with a migration difference: up to the first migration and
/// a few after it.
const OPS_AFTER_MIGRATION: usize = 8;

/// The parts of a trial's verdict that differ, each with the key it is
/// grouped by: the whole-VM refusal, then the flash verdict.
fn migration_parts(t: &TrialOutcome) -> Vec<(String, String)> {
    let r = &t.result;
    let mut out = Vec::new();
    let flash = match r.reason.strip_prefix(WHOLE_VM_REFUSED) {
        Some(rest) => {
            let (whole, flash) = rest
                .split_once("; flash-only stream: ")
                .unwrap_or((rest, ""));
            let whole = format!("{WHOLE_VM_REFUSED}{whole}");
            out.push((whole.clone(), whole));
            if r.outcome == Outcome::Identical {
                None
            } else {
                Some(format!("flash-only stream: {flash}"))
            }
        }
        None if r.outcome == Outcome::Identical => None,
        None => Some(format!("{}: {}", r.outcome.name(), r.reason)),
    };
    if let Some(f) = flash {
        out.push((format!("flash verdict {}", r.outcome.name()), f));
    }
    out
}

/// The hops between two real releases that were not identical, grouped by
/// (chain, part): a whole-VM refusal and the flash verdict are separate
/// observations.
pub fn migration_observations(trials: &[TrialOutcome]) -> Vec<ObservedDifference> {
    let mut out = Vec::new();
    add_migration_observations(&mut out, trials);
    out.into_iter().map(|(_, o)| o).collect()
}

/// [`migration_observations`] added to `out` (grouping key, observation),
/// for runs that see their trials a seed at a time (soak).
pub fn add_migration_observations(
    out: &mut Vec<(String, ObservedDifference)>,
    trials: &[TrialOutcome],
) {
    for t in trials {
        let [a, b] = t.chain.as_slice() else {
            continue;
        };
        if !(a.is_real() && b.is_real()) || a.release_name == b.release_name {
            continue;
        }
        // A stream of another machine type is refused between any two
        // versions: a promise of the machine types, not a difference.
        if t.result.outcome == Outcome::Refused && a.machine_type != b.machine_type {
            continue;
        }
        for (key, summary) in migration_parts(t) {
            let key = format!("{}\n{}\n{}\n{key}", t.scenario.name, a.name, b.name);
            if let Some((_, o)) = out.iter_mut().find(|(k, _)| *k == key) {
                o.count += 1;
                continue;
            }
            let migrate = t
                .ops
                .iter()
                .position(|o| matches!(o, crate::generation::generator::TrialOp::Migrate { .. }))
                .unwrap_or(0);
            out.push((
                key,
                ObservedDifference {
                    kind: Kind::Migration.name().into(),
                    board: a.board.clone(),
                    scenario: t.scenario.name.clone(),
                    a: a.name.clone(),
                    b: b.name.clone(),
                    a_release: a.release_name.clone(),
                    b_release: b.release_name.clone(),
                    seed: t.seed,
                    count: 1,
                    summary,
                    mode: String::new(),
                    ops: t
                        .ops
                        .iter()
                        .take(migrate + 1 + OPS_AFTER_MIGRATION)
                        .enumerate()
                        .map(|(i, op)| format!("{i}: {op}"))
                        .collect(),
                    reproduce: format!(
                        "cargo run --release -- trial --scenario {} --seed {} --chain {},{}",
                        t.scenario.name, t.seed, a.name, b.name
                    ),
                },
            ));
        }
    }
}

/// Judges the observations against the entries: which entry covers each
/// (the first that does), what is unlisted, and the totals per pair of
/// releases.
pub fn judge(entries: &[Entry], observed: Vec<ObservedDifference>) -> CrossRelease {
    let mut known: Vec<KnownDifference> = entries.iter().map(Entry::row).collect();
    let mut unlisted = Vec::new();
    let mut totals: Vec<ReleasePairTotal> = Vec::new();
    for o in observed {
        let between = match o.kind.as_str() {
            "behaviour" => {
                let mut r = [o.a_release.clone(), o.b_release.clone()];
                r.sort();
                format!("{} ↔ {}", r[0], r[1])
            }
            _ => format!("{} → {}", o.a_release, o.b_release),
        };
        let i = match totals
            .iter()
            .position(|t| t.kind == o.kind && t.between == between)
        {
            Some(i) => i,
            None => {
                totals.push(ReleasePairTotal {
                    kind: o.kind.clone(),
                    between,
                    differences: 0,
                    known: 0,
                });
                totals.len() - 1
            }
        };
        totals[i].differences += 1;
        match entries.iter().position(|e| e.covers(&o)) {
            Some(k) => {
                totals[i].known += 1;
                known[k].seen += o.count;
                if known[k].example.is_none() {
                    known[k].example = Some(o);
                }
            }
            None => unlisted.push(o),
        }
    }
    CrossRelease {
        file: FILE.into(),
        known,
        unlisted,
        totals,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::definitions::known_differences::tests::{entry, observed};

    #[test]
    fn an_unlisted_difference_is_kept_and_an_unseen_entry_counts_zero() {
        let entries = [
            entry(Kind::Migration, "qemu-10.0", "qemu-7.2", &["device 'cpu'"]),
            entry(Kind::Migration, "qemu-7.2", "qemu-10.0", &["device 'cpu'"]),
        ];
        let j = judge(
            &entries,
            vec![
                observed("migration", "qemu-10.0", "qemu-7.2", "of device 'cpu'"),
                observed("behaviour", "qemu-10.0", "qemu-7.2", "read at op 3"),
            ],
        );
        assert_eq!(j.known[0].seen, 2);
        assert!(j.known[0].example.is_some());
        assert_eq!(j.known[1].seen, 0);
        assert_eq!(j.unlisted.len(), 1);
        assert_eq!(j.unlisted[0].kind, "behaviour");
        assert_eq!(j.totals.len(), 2);
        assert_eq!(j.totals[0].between, "qemu-10.0 → qemu-7.2");
        assert_eq!((j.totals[0].differences, j.totals[0].known), (1, 1));
        assert_eq!(j.totals[1].between, "qemu-10.0 ↔ qemu-7.2");
        assert_eq!((j.totals[1].differences, j.totals[1].known), (1, 0));
    }
}
