//! A compat machine type is indistinguishable from the release it imitates:
//! a model running another model release's own machine type with compat
//! properties (v6 on `nor-5.0` claims to be v5 on the wire) must end its
//! chains as the imitated release does, seed for seed:
//! - `C → W` (the imitator migrating to the release it imitates) ends as
//!   `W → W`: the same outcome and the same reads;
//! - any chain on the imitated machine type through `C` is `identical`
//!   wherever the same chain with `W` everywhere is;
//! - for the same guest history, the stream `C` saves at each migration
//!   point equals `W`'s byte for byte.
//!
//! Chains of models only: a real build running the same machine type is
//! another release, whose differences are its own. A trial that breaks
//! either rule is `diverged`, naming the imitated chain.

use crate::definitions::project::Project;
use crate::definitions::versions::Version;
use crate::generation::generator::TrialOp;
use crate::judging::outcome::{same_seed, verdict, TrialOutcome, TrialResult};
use crate::running::machine::Link;
use crate::running::matrix::chain_name;
use crate::running::trial::{run_reference, run_trial, Record};
use reports::Outcome;
use std::sync::Arc;

/// Reasons of the verdict start with this.
pub const COMPAT_DIFFERS: &str = "compat machine type differs from the release it imitates";

/// The model version of the same board that `v` imitates: a model of an
/// older release (one whose machine types `v`'s release all offers, and
/// more) running the same machine type.
pub fn imitated<'a>(project: &'a Project, v: &Version) -> Option<&'a Arc<Version>> {
    if v.is_real() {
        return None;
    }
    let newer_than = |w: &Version| {
        w.offers.iter().all(|(m, _)| v.offers_type(m)) && w.offers.len() < v.offers.len()
    };
    project.versions.iter().find(|w| {
        !w.is_real()
            && w.board == v.board
            && w.release_name != v.release_name
            && w.machine_type == v.machine_type
            && newer_than(w)
    })
}

/// Checks every trial through an imitator against the imitated chain (found
/// in `trials`, or run here), turning a trial that differs into `diverged`.
pub fn check_imitations(project: &Project, trials: &mut [TrialOutcome]) {
    // Streams: once per (scenario, seed, imitating source).
    let mut streams: Vec<(String, u64, String, Option<String>)> = Vec::new();
    for i in 0..trials.len() {
        let t = &trials[i];
        let source = t.chain[0].clone();
        if let Some(w) =
            imitated(project, &source).filter(|w| w.machine_type == source.machine_type)
        {
            let key = (t.scenario.name.clone(), t.seed, source.name.clone());
            let known = streams
                .iter()
                .find(|(s, seed, c, _)| (s, seed, c) == (&key.0, &key.1, &key.2));
            let why = match known {
                Some((.., why)) => why.clone(),
                None => {
                    let why = stream_difference(&source, w, &t.scenario.devices, &t.ops);
                    streams.push((key.0, key.1, key.2, why.clone()));
                    why
                }
            };
            if let Some(why) = why {
                let t = &mut trials[i];
                t.result.reason = format!(
                    "{COMPAT_DIFFERS} ({} imitates {}): {why}; {}",
                    source.name, w.name, t.result.reason
                );
                t.result.outcome = Outcome::Diverged;
                continue;
            }
        }
        let t = &trials[i];
        if !t.chain.iter().any(|v| imitated(project, v).is_some()) {
            continue;
        }
        let (ops, targets) = (t.ops.clone(), t.scenario.devices.clone());
        let lookup = |chain: &[Arc<Version>]| match same_seed(trials, t, chain) {
            Some(u) => Some(u.result.clone()),
            None => run(chain, &targets, &ops),
        };
        let mut result = t.result.clone();
        if check_one(project, &t.chain, &mut result, &lookup) {
            trials[i].result = result;
        }
    }
}

/// The imitation check of one trial's `result` along `chain`: `lookup`
/// gives the imitated chain's result (same scenario and seed). Returns true
/// if the result was turned into `diverged`.
pub fn check_one(
    project: &Project,
    chain: &[Arc<Version>],
    result: &mut TrialResult,
    lookup: &dyn Fn(&[Arc<Version>]) -> Option<TrialResult>,
) -> bool {
    let Some((c, w)) = chain
        .iter()
        .find_map(|v| imitated(project, v).map(|w| (v.clone(), w.clone())))
    else {
        return false;
    };
    // Models only: a real build on the same machine type is another
    // release, with differences of its own (the known differences).
    if chain[0].machine_type != w.machine_type || chain.iter().any(|v| v.is_real()) {
        return false;
    }
    let direct = chain.len() == 2 && chain[0].name == c.name && chain[1].name == w.name;
    let all_w: Vec<Arc<Version>> = chain.iter().map(|_| w.clone()).collect();
    let Some(reference) = lookup(&all_w) else {
        return false;
    };
    let why = if direct {
        imitation_difference(result, &reference)
    } else if reference.outcome == Outcome::Identical && result.outcome != Outcome::Identical {
        Some(format!(
            "{} where {} is identical",
            result.outcome.name(),
            chain_name(&all_w)
        ))
    } else {
        None
    };
    let Some(why) = why else {
        return false;
    };
    result.reason = format!(
        "{COMPAT_DIFFERS} ({} imitates {}): {why}; {}",
        c.name, w.name, result.reason
    );
    result.outcome = Outcome::Diverged;
    true
}

/// Where the streams the imitator `c` and the imitated `w` save at the
/// migration points of `ops` first differ, if they do.
pub fn stream_difference(
    c: &Arc<Version>,
    w: &Arc<Version>,
    targets: &[String],
    ops: &[TrialOp],
) -> Option<String> {
    let runs = (
        run_reference(c, targets, ops, Link::Shared, Record::Nothing),
        run_reference(w, targets, ops, Link::Shared, Record::Nothing),
    );
    let (a, b) = match runs {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return Some(format!("no stream to compare: {e}")),
    };
    let marker = |k: usize| {
        ops.iter()
            .enumerate()
            .filter(|(_, o)| matches!(o, TrialOp::Migrate { .. }))
            .nth(k)
            .map_or(0, |(i, _)| i)
    };
    a.points.iter().zip(&b.points).enumerate().find_map(|(k, (x, y))| {
        let at = x
            .stream
            .iter()
            .zip(&y.stream)
            .position(|(p, q)| p != q)
            .or_else(|| (x.stream.len() != y.stream.len()).then(|| x.stream.len().min(y.stream.len())))?;
        Some(format!(
            "its stream at the migration of op {} differs from {}'s at byte {at} ({:#04x} vs {:#04x}; {} and {} bytes)",
            marker(k),
            w.name,
            x.stream.get(at).copied().unwrap_or(0),
            y.stream.get(at).copied().unwrap_or(0),
            x.stream.len(),
            y.stream.len()
        ))
    })
}

/// Runs and judges `chain` on `ops`.
pub fn run(chain: &[Arc<Version>], targets: &[String], ops: &[TrialOp]) -> Option<TrialResult> {
    let r = run_reference(&chain[0], targets, ops, Link::Shared, Record::Nothing).ok()?;
    Some(verdict(ops, run_trial(chain, targets, ops, &r)))
}

/// How a trial `C → W` differs from `W → W`, if it does.
fn imitation_difference(r: &TrialResult, w: &TrialResult) -> Option<String> {
    if let Some(((i, a), (_, b))) = r.reads.iter().zip(&w.reads).find(|(a, b)| a != b) {
        return Some(format!(
            "read at op {i} gave {a:#x}, the imitated chain {b:#x}"
        ));
    }
    if r.reads.len() != w.reads.len() {
        return Some(format!(
            "{} reads, the imitated chain {}",
            r.reads.len(),
            w.reads.len()
        ));
    }
    (r.outcome != w.outcome).then(|| {
        format!(
            "{}, the imitated chain {} ({})",
            r.outcome.name(),
            w.outcome.name(),
            w.reason
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definitions::project::default_root;
    use std::collections::BTreeSet;

    fn result(outcome: Outcome, reads: &[(usize, u64)]) -> TrialResult {
        let mut r = TrialResult::crashed(String::new(), &[]);
        r.outcome = outcome;
        r.reads = reads.to_vec();
        r
    }

    fn trial(p: &Project, chain: &[&str], r: TrialResult) -> TrialOutcome {
        TrialOutcome {
            scenario: p.scenario("cfi01-program").expect("scenario").clone(),
            chain: chain
                .iter()
                .map(|n| p.version(n).unwrap().clone())
                .collect(),
            seed: 3,
            ops: Vec::new(),
            expected: BTreeSet::from([Outcome::Identical, Outcome::Lossy]),
            result: r,
        }
    }

    #[test]
    fn the_compat_version_imitates_the_release_whose_own_type_it_runs() {
        let p = Project::load(&default_root()).expect("project");
        let v5 = p.version("v5").unwrap();
        assert_eq!(
            imitated(&p, p.version("v6-compat5").unwrap()).map(|w| &w.name),
            Some(&v5.name)
        );
        assert!(imitated(&p, v5).is_none());
        assert!(imitated(&p, p.version("v6").unwrap()).is_none());
        let virt = p.version("virt-v6-compat").unwrap();
        assert_eq!(imitated(&p, virt).map(|w| w.name.as_str()), Some("virt-v5"));
    }

    #[test]
    fn the_imitators_stream_is_the_imitated_releases_byte_for_byte() {
        let p = Project::load(&default_root()).expect("project");
        let (v5, compat, v6) = (
            p.version("v5").unwrap(),
            p.version("v6-compat5").unwrap(),
            p.version("v6").unwrap(),
        );
        let targets = vec!["flash0".to_string(), "musicpal".to_string()];
        // A buffered write left open on flash0 and an unlock on musicpal.
        let ops = [
            TrialOp::write(0, 0x100, 4, 0x00e8_00e8),
            TrialOp::write(0, 0x100, 4, 0x0001_0001),
            TrialOp::write(1, 0xaaaa, 2, 0xaa),
            TrialOp::MIGRATE,
            TrialOp::read(0, 0x100, 4),
        ];
        assert_eq!(stream_difference(compat, v5, &targets, &ops), None);
        let other = stream_difference(v6, v5, &targets, &ops).expect("v6's own type differs");
        assert!(
            other.contains("migration of op 3 differs from v5's at byte"),
            "{other}"
        );
    }

    #[test]
    fn an_imitator_that_ends_otherwise_than_the_imitated_chain_diverges() {
        let p = Project::load(&default_root()).expect("project");
        let reads = [(1, 0x80), (4, 0xff)];
        let mut trials = vec![
            trial(&p, &["v5", "v5"], result(Outcome::Lossy, &reads)),
            trial(&p, &["v6-compat5", "v5"], result(Outcome::Lossy, &reads)),
            trial(
                &p,
                &["v5", "v6-compat5"],
                result(Outcome::Identical, &reads),
            ),
        ];
        check_imitations(&p, &mut trials);
        assert!(trials.iter().all(|t| t.result.outcome != Outcome::Diverged));

        // A read differs after `C -> W`.
        trials[1].result.reads[1].1 = 0x00;
        // The all-v5 chain is identical, the chain through the imitator not.
        trials[0].result.outcome = Outcome::Identical;
        trials[2].result.outcome = Outcome::Lossy;
        check_imitations(&p, &mut trials);
        assert_eq!(trials[1].result.outcome, Outcome::Diverged);
        assert!(
            trials[1]
                .result
                .reason
                .contains("read at op 4 gave 0x0, the imitated chain 0xff"),
            "{}",
            trials[1].result.reason
        );
        assert_eq!(trials[2].result.outcome, Outcome::Diverged);
        assert!(
            trials[2].result.reason.starts_with(COMPAT_DIFFERS),
            "{}",
            trials[2].result.reason
        );
        assert!(
            trials[2]
                .result
                .reason
                .contains("lossy where v5->v5 is identical"),
            "{}",
            trials[2].result.reason
        );
    }

    #[test]
    fn a_chain_through_a_real_build_is_not_held_to_the_imitated_release() {
        let p = Project::load(&default_root()).expect("project");
        let reads = [(1, 0x80)];
        let mut trials = vec![
            trial(
                &p,
                &["virt-v5", "virt-v5"],
                result(Outcome::Identical, &reads),
            ),
            trial(
                &p,
                &["virt-v6-compat", "virt-qemu-10.0"],
                result(Outcome::Lossy, &reads),
            ),
        ];
        check_imitations(&p, &mut trials);
        assert_eq!(
            trials[1].result.outcome,
            Outcome::Lossy,
            "{}",
            trials[1].result.reason
        );
    }
}
