//! The compatibility matrix: every ordered pair of versions (X→X included)
//! and the chains scenarios ask for, over seeds, with shared references.
//! Each trial's observation is handed to the caller's `finish` as soon as it
//! ends (judging it there keeps memory flat: a real trial's ends hold whole
//! flash images).

use crate::definitions::project::Project;
use crate::definitions::scenarios::Scenario;
use crate::definitions::versions::Version;
use crate::generation::generator::TrialOp;
use crate::running::machine::Link;
use crate::running::observation::Observation;
use crate::running::trial::{run_reference, run_trial, Record};
use rayon::prelude::*;
use std::sync::Arc;

/// Display name of a chain: `v5->v6`, `v5->v6->v5`.
pub fn chain_name(chain: &[Arc<Version>]) -> String {
    chain
        .iter()
        .map(|v| v.name.as_str())
        .collect::<Vec<_>>()
        .join("->")
}

/// One trial that ran: where, and what it observed.
pub struct RanTrial {
    pub scenario: Arc<Scenario>,
    pub chain: Vec<Arc<Version>>,
    pub seed: u64,
    pub ops: Vec<TrialOp>,
    pub observation: Observation,
}

/// Runs one trial along `chain` from scratch: its reference first. Chains
/// through a real version run on QEMU processes; model chains fork.
pub fn run_chain(
    chain: &[Arc<Version>],
    targets: &[String],
    ops: &[TrialOp],
    record: Record,
) -> Result<Observation, String> {
    let reference = run_reference(&chain[0], targets, ops, Link::for_chain(chain), record)
        .map_err(|e| format!("reference run on {}: {e}", chain[0].name))?;
    Ok(run_trial(chain, targets, ops, &reference))
}

/// Runs every chain in `chains` (same hop count, same source) for one seed,
/// computing the reference once and forking it at each migration point.
pub fn run_group<T>(
    project: &Project,
    s: &Arc<Scenario>,
    seed: u64,
    chains: &[Vec<usize>],
    finish: &(dyn Fn(RanTrial) -> T + Sync),
) -> Vec<T> {
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
    let ran = |c: &Vec<usize>, observation: Observation| RanTrial {
        scenario: s.clone(),
        chain: project.chain_versions(c),
        seed,
        ops: seq.ops.clone(),
        observation,
    };
    // One reference per link: chains through a real version pass QEMU's
    // streams, model chains share storage.
    let mut out = Vec::new();
    for (chains, link) in [(&real, Link::Qemu), (&model, Link::Shared)] {
        if chains.is_empty() {
            continue;
        }
        // Trials through QEMU record their steps as they run (a rerun for
        // the report would cost QEMU processes); model trials are rerun,
        // shrunk, when the report needs their steps.
        let record = match link {
            Link::Qemu => Record::Steps,
            Link::Shared => Record::Nothing,
        };
        let reference = run_reference(source, &s.devices, &seq.ops, link, record);
        for c in chains {
            let observation = match &reference {
                Ok(r) => run_trial(&project.chain_versions(c), &s.devices, &seq.ops, r),
                Err(e) => Observation::crashed(
                    format!("reference run on {} failed: {e}", source.name),
                    &[],
                ),
            };
            out.push(finish(ran(c, observation)));
        }
    }
    out
}

/// Runs `chains` of scenario `s` over `seeds`, grouping chains by source
/// and hop count so references are shared; parallel over seeds. The
/// results come in (chain name, seed) order.
pub fn run_cells<T: Send>(
    project: &Project,
    s: &Arc<Scenario>,
    chains: &[Vec<usize>],
    seeds: &[u64],
    finish: &(dyn Fn(RanTrial) -> T + Sync),
) -> Vec<T> {
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
    let keyed = |t: RanTrial| ((chain_name(&t.chain), t.seed), finish(t));
    let mut out: Vec<((String, u64), T)> = tasks
        .par_iter()
        .flat_map_iter(|(seed, g)| run_group(project, s, *seed, g, &keyed))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out.into_iter().map(|(_, t)| t).collect()
}

/// A scenario's chains whose versions are all usable here, split into
/// model-only chains and chains through a real version.
pub fn available_chains(project: &Project, s: &Scenario) -> (Vec<Vec<usize>>, Vec<Vec<usize>>) {
    let (real, model): (Vec<Vec<usize>>, Vec<Vec<usize>>) = project
        .chains(s)
        .into_iter()
        .filter(|c| project.chain_available(c))
        .partition(|c| c.iter().any(|i| project.versions[*i].is_real()));
    (model, real)
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

/// Seeds to run: `NORCOMPAT_SEEDS` (a count) overrides the scenario's own.
pub fn seeds_for(s: &Scenario, long: bool) -> Vec<u64> {
    let n = std::env::var("NORCOMPAT_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if long { s.long_seeds } else { s.seeds });
    (0..n).collect()
}
