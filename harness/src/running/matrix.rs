//! The compatibility matrix: every ordered pair of versions (X→X included)
//! and the chains scenarios ask for, over seeds, with shared references.

use crate::definitions::project::{model_of, Project};
use crate::definitions::scenarios::Scenario;
use crate::definitions::versions::Version;
use crate::generation::generator::TrialOp;
use crate::running::trial::{expected_outcomes, run_reference, run_trial, TrialResult};
use rayon::prelude::*;
use reports::Outcome;
use std::collections::BTreeSet;
use std::sync::Arc;

/// Display name of a chain: `v5->v6`, `v5->v6->v5`.
pub fn chain_name(chain: &[Arc<Version>]) -> String {
    chain
        .iter()
        .map(|v| v.name.as_str())
        .collect::<Vec<_>>()
        .join("->")
}

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

/// Runs every chain in `chains` (same hop count, same source) for one seed,
/// computing the reference once and forking it at each migration point.
pub fn run_group(
    project: &Project,
    s: &Arc<Scenario>,
    seed: u64,
    chains: &[Vec<usize>],
) -> Vec<TrialOutcome> {
    let Some(first) = chains.first() else {
        return Vec::new();
    };
    let hops = first.len() - 1;
    let seq = crate::generation::sequences::sequence(project, s, seed, hops);
    let source = &project.versions[first[0]];
    let (real, model): (Vec<Vec<usize>>, Vec<Vec<usize>>) = chains
        .iter()
        .cloned()
        .partition(|c| c.iter().any(|i| project.versions[*i].is_real()));
    let mut out = run_real_group(project, s, seed, &seq.ops, &real);
    if model.is_empty() {
        return out;
    }
    let reference = match run_reference(source, &s.devices, &seq.ops) {
        Ok(r) => r,
        Err(e) => panic!("{}: cannot realize the reference machine: {e}", source.name),
    };
    out.extend(model.iter().map(|c| {
        let chain = project.chain_versions(c);
        let result = run_trial(&chain, &s.devices, &seq.ops, &reference);
        TrialOutcome {
            scenario: s.clone(),
            expected: expected_outcomes(&chain, &s.devices),
            chain,
            seed,
            ops: seq.ops.clone(),
            result,
        }
    }));
    out
}

/// Chains through a real version (same source): one reference run, whose
/// saved streams start every chain.
fn run_real_group(
    project: &Project,
    s: &Arc<Scenario>,
    seed: u64,
    ops: &[TrialOp],
    chains: &[Vec<usize>],
) -> Vec<TrialOutcome> {
    let Some(first) = chains.first() else {
        return Vec::new();
    };
    let source = &project.versions[first[0]];
    let reference = crate::running::real_trial::run_reference(source, &s.devices, ops);
    chains
        .iter()
        .map(|c| {
            let chain = project.chain_versions(c);
            let result = match &reference {
                Ok(r) => crate::running::real_trial::run_trial(&chain, &s.devices, ops, r),
                Err(e) => TrialResult::crashed(
                    format!("reference run on {} failed: {}", source.name, e.0),
                    &[],
                ),
            };
            TrialOutcome {
                scenario: s.clone(),
                expected: expected_outcomes(&chain, &s.devices),
                chain,
                seed,
                ops: ops.to_vec(),
                result,
            }
        })
        .collect()
}

/// Runs `chains` of scenario `s` over `seeds`, grouping chains by source
/// and hop count so references are shared; parallel over seeds.
pub fn run_cells(
    project: &Project,
    s: &Arc<Scenario>,
    chains: &[Vec<usize>],
    seeds: &[u64],
) -> Vec<TrialOutcome> {
    let mut groups: Vec<Vec<Vec<usize>>> = Vec::new();
    for c in chains {
        match groups
            .iter_mut()
            .find(|g| g[0][0] == c[0] && g[0].len() == c.len())
        {
            Some(g) => g.push(c.clone()),
            None => groups.push(vec![c.clone()]),
        }
    }
    // One task per (seed, source group): fine-grained enough to keep every
    // core busy even with few seeds.
    let tasks: Vec<(u64, &Vec<Vec<usize>>)> = seeds
        .iter()
        .flat_map(|seed| groups.iter().map(move |g| (*seed, g)))
        .collect();
    let mut out: Vec<TrialOutcome> = tasks
        .par_iter()
        .flat_map_iter(|(seed, g)| run_group(project, s, *seed, g))
        .collect();
    out.sort_by_key(|t| (chain_name(&t.chain), t.seed));
    out
}

/// The check of a model against reality: every `Q → Q` trial of a real
/// version `Q` must give the reads and the outcome of `M → M` on its model
/// `M` for the same scenario and seed (run here if `trials` lacks it). A
/// difference turns the real trial into `diverged` with both reads.
pub fn check_against_models(project: &Project, trials: &mut [TrialOutcome]) {
    for i in 0..trials.len() {
        let t = &trials[i];
        let q = &t.chain[0];
        if !q.is_real() || t.chain.iter().any(|v| v.name != q.name) {
            continue;
        }
        let Some(model) = model_of(project, q) else {
            continue;
        };
        let chain: Vec<Arc<Version>> = t.chain.iter().map(|_| model.clone()).collect();
        let found = trials.iter().find(|u| {
            u.scenario.name == t.scenario.name
                && u.seed == t.seed
                && u.chain
                    .iter()
                    .map(|v| &v.name)
                    .eq(chain.iter().map(|v| &v.name))
        });
        let model_run = match found {
            Some(u) => u.result.clone(),
            None => {
                let Ok(r) = run_reference(model, &t.scenario.devices, &t.ops) else {
                    continue;
                };
                run_trial(&chain, &t.scenario.devices, &t.ops, &r)
            }
        };
        let t = &trials[i];
        if let Some(why) = model_difference(&t.chain, &t.ops, &t.result, &model_run, &model.name) {
            let t = &mut trials[i];
            t.result.reason = why;
            t.result.outcome = Outcome::Diverged;
        }
    }
}

/// Reasons of the verdict "model differs from real QEMU" start with this.
pub const MODEL_DIFFERS: &str = "model differs from real QEMU";

/// How a real trial differs from its model's run of the same seed, if it does.
pub fn model_difference(
    chain: &[Arc<Version>],
    ops: &[TrialOp],
    r: &TrialResult,
    model: &TrialResult,
    model_name: &str,
) -> Option<String> {
    let q = &chain[0].name;
    if let Some(((i, a), (_, b))) = r.reads.iter().zip(&model.reads).find(|(a, b)| a != b) {
        return Some(format!(
            "{MODEL_DIFFERS}: read at op {i} ({}) gave {a:#x} on {q}, {b:#x} on {model_name}",
            ops.get(*i).map(|o| o.to_string()).unwrap_or_default()
        ));
    }
    if r.reads.len() != model.reads.len() {
        return Some(format!(
            "{MODEL_DIFFERS}: {} reads on {q}, {} on {model_name}",
            r.reads.len(),
            model.reads.len()
        ));
    }
    if shown(r) != shown(model) {
        return Some(format!(
            "{MODEL_DIFFERS}: {q} -> {q} was {} ({}), {model_name} -> {model_name} was {} ({})",
            r.outcome.name(),
            r.reason,
            model.outcome.name(),
            model.reason
        ));
    }
    None
}

/// The outcome as a real build can show it: a loss seen only in the
/// model's canonical state (no read, array or image differs) is invisible
/// to QEMU, whose state the harness sees only through reads and streams.
fn shown(r: &TrialResult) -> Outcome {
    if r.outcome == Outcome::Lossy && r.first_read_mismatch.is_none() && r.flash_diff.is_empty() {
        Outcome::Identical
    } else {
        r.outcome
    }
}

/// Seeds per scenario for chains through a real version (each costs QEMU
/// processes): `NORCOMPAT_REAL_SEEDS`, default 2, at most the scenario's seeds.
pub fn real_seeds(seeds: &[u64]) -> Vec<u64> {
    let n = std::env::var("NORCOMPAT_REAL_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_REAL_SEEDS);
    seeds.iter().copied().take(n).collect()
}

/// Default seeds per scenario for chains through a real version.
pub const DEFAULT_REAL_SEEDS: usize = 2;

/// Runs a scenario's chains whose versions are all usable here: model-only
/// chains over `seeds`, chains through a real version over [`real_seeds`].
pub fn run_available(project: &Project, s: &Arc<Scenario>, seeds: &[u64]) -> Vec<TrialOutcome> {
    let (real, model): (Vec<Vec<usize>>, Vec<Vec<usize>>) = project
        .chains(s)
        .into_iter()
        .filter(|c| project.chain_available(c))
        .partition(|c| c.iter().any(|i| project.versions[*i].is_real()));
    let mut out = run_cells(project, s, &model, seeds);
    out.extend(run_cells(project, s, &real, &real_seeds(seeds)));
    check_against_models(project, &mut out);
    out
}

/// Seeds to run: `NORCOMPAT_SEEDS` (a count) overrides the scenario's own.
pub fn seeds_for(s: &Scenario, long: bool) -> Vec<u64> {
    let n = std::env::var("NORCOMPAT_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if long { s.long_seeds } else { s.seeds });
    (0..n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definitions::versions::parse_version;

    fn real() -> Arc<Version> {
        let text = r#"
release = "qemu-7.2"
machine-type = "virt-7.2"
[emulator]
binary = "qemu-system-arm"
model = "v5"
[[device]]
id = "flash0"
type = "cfi.pflash01"
drive-unit = 0
properties = { name = "virt.flash0", num-blocks = 4, sector-length = 0x40000, width = 4, device-width = 2 }
"#;
        Arc::new(parse_version(std::path::Path::new("machines/virt/qemu-7.2.toml"), text).unwrap())
    }

    fn result(outcome: Outcome, reads: &[(usize, u64)]) -> TrialResult {
        TrialResult {
            outcome,
            reason: String::new(),
            first_read_mismatch: None,
            reads: reads.to_vec(),
            reference_reads: Vec::new(),
            state_diff: Vec::new(),
            flash_diff: Vec::new(),
            migrate_us: 0,
            total_us: 0,
        }
    }

    const OPS: &[TrialOp] = &[
        TrialOp::Read {
            dev: 0,
            addr: 0,
            width: 4,
        },
        TrialOp::Migrate,
        TrialOp::Read {
            dev: 0,
            addr: 4,
            width: 4,
        },
    ];

    #[test]
    fn a_real_build_that_reads_what_its_model_reads_agrees() {
        let q = real();
        let chain = [q.clone(), q];
        let r = result(Outcome::Lossy, &[(0, 1), (2, 2)]);
        assert_eq!(
            model_difference(&chain, OPS, &r, &r.clone(), "virt-v5"),
            None
        );
    }

    #[test]
    fn a_model_loss_seen_only_in_its_canonical_state_agrees_with_an_identical_real_trial() {
        let q = real();
        let chain = [q.clone(), q];
        let model = result(Outcome::Lossy, &[(0, 1), (2, 2)]);
        let real = result(Outcome::Identical, &[(0, 1), (2, 2)]);
        assert_eq!(
            model_difference(&chain, OPS, &real, &model, "virt-v5"),
            None
        );
    }

    #[test]
    fn a_different_read_count_or_outcome_is_a_model_difference() {
        let q = real();
        let chain = [q.clone(), q];
        let got = result(Outcome::Lossy, &[(0, 1), (2, 2)]);
        let why = model_difference(
            &chain,
            OPS,
            &got,
            &result(Outcome::Lossy, &[(0, 1), (2, 3)]),
            "virt-v5",
        )
        .expect("a read differs");
        assert!(why.starts_with(MODEL_DIFFERS), "{why}");
        assert!(
            why.contains("op 2") && why.contains("0x2 on virt-qemu-7.2, 0x3 on virt-v5"),
            "{why}"
        );
        let why = model_difference(
            &chain,
            OPS,
            &got,
            &result(Outcome::Lossy, &[(0, 1)]),
            "virt-v5",
        )
        .expect("a read is missing");
        assert!(
            why.contains("2 reads on virt-qemu-7.2, 1 on virt-v5"),
            "{why}"
        );
        // A loss the reads show (op 2 read what the reference did not).
        let mut seen = got.clone();
        seen.first_read_mismatch = Some(2);
        let why = model_difference(
            &chain,
            OPS,
            &seen,
            &result(Outcome::Identical, &[(0, 1), (2, 2)]),
            "virt-v5",
        )
        .expect("the outcome differs");
        assert!(
            why.contains("was lossy") && why.contains("was identical"),
            "{why}"
        );
    }
}
