//! The compatibility matrix: every ordered pair of versions (X→X included)
//! and the chains scenarios ask for, over seeds, with shared references.

use crate::definitions::file_error::FileError;
use crate::definitions::layout::Layout;
use crate::definitions::scenarios::{self, Scenario};
use crate::definitions::versions::{self, Version};
use crate::generation::generator::{generate, kind_feature, Sequence, TrialOp};
use crate::running::trial::{expected_outcomes, run_reference, run_trial, TrialResult};
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
    /// Real versions whose emulator is not usable here, with the reason:
    /// left out of the matrix (and listed as ignored by `cargo test`).
    pub unavailable: Vec<(String, String)>,
    /// The reviewed differences between releases (`machines/known-differences.toml`).
    pub known: Vec<crate::judging::releases::Entry>,
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
        let versions: Vec<Arc<Version>> = versions::load_all(&root.join("machines"))?
            .into_iter()
            .map(Arc::new)
            .collect();
        let scenarios: Vec<Arc<Scenario>> = scenarios::load_dir(&root.join("scenarios"))?
            .into_iter()
            .map(Arc::new)
            .collect();
        let unavailable = versions
            .iter()
            .filter_map(|v| {
                let e = v.emulator.as_ref()?;
                crate::definitions::emulators::locate(e, &v.machine_type)
                    .err()
                    .map(|reason| (v.name.clone(), reason))
            })
            .collect();
        let known = crate::judging::releases::load(root, &versions)?;
        let p = Project {
            root: root.to_path_buf(),
            versions,
            scenarios,
            unavailable,
            known,
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

    /// The boards, in version order (composite first).
    pub fn boards(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for v in &self.versions {
            if !out.contains(&v.board) {
                out.push(v.board.clone());
            }
        }
        out
    }

    /// Indices of a board's versions.
    pub fn board_versions(&self, board: &str) -> Vec<usize> {
        (0..self.versions.len())
            .filter(|i| self.versions[*i].board == board)
            .collect()
    }

    /// The boards a scenario runs on: those where every version has all of
    /// the scenario's devices.
    pub fn scenario_boards(&self, s: &Scenario) -> Vec<String> {
        self.boards()
            .into_iter()
            .filter(|b| {
                self.board_versions(b).iter().all(|i| {
                    s.devices
                        .iter()
                        .all(|id| self.versions[*i].device(id).is_some())
                })
            })
            .collect()
    }

    /// The versions a scenario runs on.
    fn scenario_versions(&self, s: &Scenario) -> Vec<&Arc<Version>> {
        let boards = self.scenario_boards(s);
        self.versions
            .iter()
            .filter(|v| boards.contains(&v.board))
            .collect()
    }

    /// True if the version's emulator is usable here (always for models).
    pub fn available(&self, v: &Version) -> bool {
        !self.unavailable.iter().any(|(n, _)| *n == v.name)
    }

    /// Generator layouts of a scenario's devices (identical in every version).
    pub fn layouts(&self, s: &Scenario) -> Result<Vec<Layout>, FileError> {
        let err = |m: String| FileError {
            path: s.file.clone(),
            position: None,
            message: m,
        };
        if self.scenario_boards(s).is_empty() {
            return Err(err(format!(
                "no board has all of the devices {:?} (boards: {})",
                s.devices,
                self.boards().join(", ")
            )));
        }
        let mut out = Vec::new();
        for id in &s.devices {
            let mut layout: Option<(String, Layout)> = None;
            for v in self.scenario_versions(s) {
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
                .scenario_versions(s)
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

    /// Chains of version indices a scenario runs, per board it runs on: for
    /// 1 hop every ordered pair of the board's versions (X→X included); for
    /// n hops A→B→A→… for every ordered pair A ≠ B. Chains through a real
    /// version run one hop only (each hop starts QEMU processes), and the
    /// versions left out here are included: callers skip or ignore them.
    pub fn chains(&self, s: &Scenario) -> Vec<Vec<usize>> {
        let mut out = Vec::new();
        for board in self.scenario_boards(s) {
            let vs = self.board_versions(&board);
            for &hops in &s.hops {
                for &a in &vs {
                    for &b in &vs {
                        if hops > 1 && a == b {
                            continue;
                        }
                        let real = self.versions[a].is_real() || self.versions[b].is_real();
                        if real && hops > 1 {
                            continue;
                        }
                        out.push((0..=hops).map(|i| if i % 2 == 0 { a } else { b }).collect());
                    }
                }
            }
        }
        out
    }

    /// The chains of [`Project::chains`] with models only.
    pub fn model_chains(&self, s: &Scenario) -> Vec<Vec<usize>> {
        self.chains(s)
            .into_iter()
            .filter(|c| !c.iter().any(|i| self.versions[*i].is_real()))
            .collect()
    }

    /// True if every version of the chain is usable here.
    pub fn chain_available(&self, chain: &[usize]) -> bool {
        chain.iter().all(|i| self.available(&self.versions[*i]))
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

/// The model a real version must agree with (its `[emulator] model`).
pub fn model_of<'a>(project: &'a Project, real: &Version) -> Option<&'a Arc<Version>> {
    let m = real.emulator.as_ref()?.model.as_ref()?;
    project.versions.iter().find(|v| {
        v.board == real.board && !v.is_real() && v.file.file_stem().is_some_and(|s| s == m.as_str())
    })
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
        Arc::new(parse_version(Path::new("machines/virt/qemu-7.2.toml"), text).unwrap())
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
