//! The compatibility matrix: every ordered pair of versions (X→X included)
//! and the chains scenarios ask for, over seeds, with shared references.

use crate::generator::{generate, kind_feature, Sequence, TrialOp};
use crate::layout::Layout;
use crate::machines::{self, Version};
use crate::scenarios::{self, Scenario};
use crate::toml_error::FileError;
use crate::trial::{expected_outcomes, run_reference, run_trial, TrialResult};
use rayon::prelude::*;
use reports::Outcome;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Machine definitions and scenarios of a project tree.
#[derive(Clone, Debug)]
pub struct Project {
    pub root: PathBuf,
    pub versions: Vec<Arc<Version>>,
    pub scenarios: Vec<Arc<Scenario>>,
}

/// The project root: `NORCOMPAT_ROOT`, else the workspace (where `machines/` is).
pub fn default_root() -> PathBuf {
    if let Ok(r) = std::env::var("NORCOMPAT_ROOT") {
        return PathBuf::from(r);
    }
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    for dir in cwd.ancestors() {
        if dir.join("machines").is_dir() && dir.join("scenarios").is_dir() {
            return dir.to_path_buf();
        }
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

impl Project {
    /// Loads `machines/*.toml` and `scenarios/*.toml` under `root`, and checks
    /// that every scenario's devices exist with the same geometry everywhere.
    pub fn load(root: &Path) -> Result<Project, FileError> {
        let versions: Vec<Arc<Version>> = machines::load_dir(&root.join("machines"))?
            .into_iter()
            .map(Arc::new)
            .collect();
        let scenarios: Vec<Arc<Scenario>> = scenarios::load_dir(&root.join("scenarios"))?
            .into_iter()
            .map(Arc::new)
            .collect();
        let p = Project {
            root: root.to_path_buf(),
            versions,
            scenarios,
        };
        for s in &p.scenarios {
            p.layouts(s)?;
        }
        Ok(p)
    }

    /// The version with this name.
    pub fn version(&self, name: &str) -> Option<&Arc<Version>> {
        self.versions.iter().find(|v| v.name == name)
    }

    /// The scenario with this name.
    pub fn scenario(&self, name: &str) -> Option<&Arc<Scenario>> {
        self.scenarios.iter().find(|s| s.name == name)
    }

    /// Generator layouts of a scenario's devices (identical in every version).
    pub fn layouts(&self, s: &Scenario) -> Result<Vec<Layout>, FileError> {
        let err = |m: String| FileError {
            path: s.file.clone(),
            position: None,
            message: m,
        };
        let mut out = Vec::new();
        for id in &s.devices {
            let mut layout: Option<(String, Layout)> = None;
            for v in &self.versions {
                let d = v.device(id).ok_or_else(|| {
                    err(format!(
                        "device '{id}' does not exist in version {} ({})",
                        v.name,
                        v.file.display()
                    ))
                })?;
                let l = Layout::of(d);
                match &layout {
                    None => layout = Some((v.name.clone(), l)),
                    Some((first, l0)) if (l0.window, l0.set) != (l.window, l.set) => {
                        return Err(err(format!(
                            "device '{id}' differs between versions {first} and {}: a trial needs the same board everywhere",
                            v.name
                        )))
                    }
                    Some(_) => {}
                }
            }
            if let Some((_, l)) = layout {
                out.push(l);
            }
        }
        Ok(out)
    }

    /// Whether the generator may emit `kind` on scenario device `dev`:
    /// its feature must be promised by that device in every version.
    pub fn kind_allowed(&self, s: &Scenario, dev: usize, kind: &str) -> bool {
        match kind_feature(kind) {
            None => true,
            Some(f) => self
                .versions
                .iter()
                .all(|v| v.device(&s.devices[dev]).is_some_and(|d| d.has(f))),
        }
    }

    /// The op sequence of (scenario, seed) with `hops` migrations.
    pub fn sequence(&self, s: &Scenario, seed: u64, hops: usize) -> Sequence {
        let layouts = self.layouts(s).unwrap_or_default();
        let allowed = |dev: usize, kind: &str| self.kind_allowed(s, dev, kind);
        generate(s, generator_seed(&s.name, seed), &layouts, &allowed, hops)
    }

    /// Chains of version indices a scenario runs: for 1 hop every ordered pair
    /// (X→X included); for n hops A→B→A→… for every ordered pair A ≠ B.
    pub fn chains(&self, s: &Scenario) -> Vec<Vec<usize>> {
        let n = self.versions.len();
        let mut out = Vec::new();
        for &hops in &s.hops {
            for a in 0..n {
                for b in 0..n {
                    if hops > 1 && a == b {
                        continue;
                    }
                    out.push((0..=hops).map(|i| if i % 2 == 0 { a } else { b }).collect());
                }
            }
        }
        out
    }

    /// Versions of a chain of indices.
    pub fn chain_versions(&self, chain: &[usize]) -> Vec<Arc<Version>> {
        chain.iter().map(|i| self.versions[*i].clone()).collect()
    }
}

/// Mixes the scenario name into the seed so scenarios differ at equal seeds
/// (FNV-1a; stable across platforms and releases).
pub fn generator_seed(scenario: &str, seed: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in scenario.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^ seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

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
    let seq = project.sequence(s, seed, hops);
    let source = &project.versions[first[0]];
    let reference = match run_reference(source, &s.devices, &seq.ops) {
        Ok(r) => r,
        Err(e) => panic!("{}: cannot realize the reference machine: {e}", source.name),
    };
    chains
        .iter()
        .map(|c| {
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

/// Seeds to run: `NORCOMPAT_SEEDS` (a count) overrides the scenario's own.
pub fn seeds_for(s: &Scenario, long: bool) -> Vec<u64> {
    let n = std::env::var("NORCOMPAT_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if long { s.long_seeds } else { s.seeds });
    (0..n).collect()
}
