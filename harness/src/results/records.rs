//! Turning finished trials into the results data (`reports::Results`):
//! cells, trial records, and details of failing and lossy trials — shrunk,
//! traced op by op with the device mode, and saved as reproducers.

use crate::definitions::project::Project;
use crate::generation::generator::TrialOp;
use crate::judging::outcome::TrialOutcome;
use crate::judging::outcome::TrialResult;
use crate::judging::verdicts::{run_chain, run_chain_recorded};
use crate::minimizing::reproducer::{Reproducer, FORMAT};
use crate::minimizing::shrink::shrink;
use reports::results::{
    Cell, CoverageRow, DeviceInfo, FailureDetail, OpRow, RunInfo, StaticCheck, Timings,
    TrialRecord, VersionInfo,
};
use reports::{Outcome, Results};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

/// Candidate evaluations a shrink may spend.
const SHRINK_BUDGET: usize = 400;

/// Static information about every version (the report's Machines section).
pub fn version_infos(project: &Project) -> Vec<VersionInfo> {
    project
        .versions
        .iter()
        .map(|v| VersionInfo {
            name: v.name.clone(),
            file: v.file.display().to_string(),
            description: v.description.clone(),
            release: v.release_name.clone(),
            machine_type: v.machine_type.clone(),
            compat_properties: v.compat.iter().map(|c| c.to_string()).collect(),
            symbols: v.symbols.iter().cloned().collect(),
            board: v.board.clone(),
            emulator: v.emulator.as_ref().map(|e| {
                match crate::definitions::emulators::locate(e, &v.machine_type) {
                    Ok(l) => format!("{} ({})", l.launch.binary.display(), l.version),
                    Err(_) => e.binary.clone(),
                }
            }),
            model: crate::definitions::project::model_of(project, v).map(|m| m.name.clone()),
            left_out: project
                .unavailable
                .iter()
                .find(|(n, _)| *n == v.name)
                .map(|(_, r)| {
                    format!(
                        "{r}; set it up with `{}`",
                        crate::definitions::emulators::SETUP_COMMAND
                    )
                }),
            devices: v
                .devices
                .iter()
                .map(|d| DeviceInfo {
                    id: d.id.clone(),
                    type_name: d.type_name.clone(),
                    properties: d.properties.clone(),
                    features: d.features.iter().cloned().collect(),
                    declared_features: d.declared_features.iter().map(|f| f.to_string()).collect(),
                })
                .collect(),
        })
        .collect()
}

/// Static-check verdicts for every ordered pair.
pub fn static_checks(project: &Project) -> Vec<StaticCheck> {
    let mut out = Vec::new();
    for a in &project.versions {
        for b in &project.versions {
            out.push(StaticCheck {
                src: a.name.clone(),
                dst: b.name.clone(),
                findings: crate::judging::staticcheck::findings(a, b)
                    .iter()
                    .map(|f| f.to_string())
                    .collect(),
            });
        }
    }
    out
}

/// True if `ops` along `chain` still end with `outcome`.
fn reproduces(
    chain: &[Arc<crate::definitions::versions::Version>],
    targets: &[String],
    ops: &[TrialOp],
    outcome: Outcome,
) -> bool {
    run_chain(chain, targets, ops).is_ok_and(|r| r.outcome == outcome)
}

/// Shrink attempts for a chain through a real version (each one starts
/// QEMU processes: about a second).
const REAL_SHRINK_BUDGET: usize = 24;

/// The minimized ops of a trial whose outcome should be kept.
pub fn shrink_trial(t: &TrialOutcome) -> Vec<TrialOp> {
    let outcome = t.result.outcome;
    if outcome == Outcome::Identical {
        return t.ops.clone();
    }
    let fails = |ops: &[TrialOp]| reproduces(&t.chain, &t.scenario.devices, ops, outcome);
    let budget = if t.chain.iter().any(|v| v.is_real()) {
        REAL_SHRINK_BUDGET
    } else {
        SHRINK_BUDGET
    };
    shrink(&t.ops, &fails, budget)
}

/// Op-by-op rows of a trial from its recorded steps: the mode of the
/// accessed device before each op ("n/a" where the machine does not show
/// its state: real QEMU), and what the reference and the trial read.
pub fn op_rows(r: &TrialResult) -> Vec<OpRow> {
    let want: BTreeMap<usize, u64> = r.reference_reads.iter().copied().collect();
    r.steps
        .iter()
        .map(|s| OpRow {
            index: s.index,
            device: s.device.clone(),
            op: s.op.clone(),
            mode_before: match &s.state_before {
                Some(state) => crate::running::modes::describe(state),
                None if !s.device.is_empty() => "n/a".into(),
                None => String::new(),
            },
            expected: want.get(&s.index).copied(),
            got: s.got,
        })
        .collect()
}

/// The record of one finished trial (also a soak JSON line).
pub fn record_of(t: &TrialOutcome) -> TrialRecord {
    TrialRecord {
        scenario: t.scenario.name.clone(),
        chain: t.chain.iter().map(|v| v.name.clone()).collect(),
        seed: t.seed,
        outcome: Some(t.result.outcome),
        expected: t.as_expected(),
        reason: t.result.reason.clone(),
        ops: t.ops.len() as u64,
        timings: Timings {
            total_us: t.result.total_us,
            migrate_us: t.result.migrate_us,
        },
        reproduce: None,
        migrated_in: t.result.migrated_in.clone(),
    }
}

/// Sort key of a chain: pairs in version order first, then longer chains.
fn chain_key(project: &Project, chain: &[String]) -> (usize, Vec<usize>) {
    let idx = chain
        .iter()
        .map(|n| {
            project
                .versions
                .iter()
                .position(|v| &v.name == n)
                .unwrap_or(usize::MAX)
        })
        .collect();
    (chain.len(), idx)
}

/// A tally's counts as plain data: what a soak checkpoint saves and a merge
/// adds up ([`CellTally::counts`], [`CellTally::absorb`]).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TallyCounts {
    pub trials: u64,
    pub ops: u64,
    /// The cells so far, without their `detail` index.
    pub cells: Vec<Cell>,
    /// Trials per state migrated in (`type: state`).
    pub coverage: BTreeMap<String, u64>,
}

/// Accumulates matrix cells from trial records, one record at a time (soak
/// runs stream millions of records through it without keeping them).
pub struct CellTally<'p> {
    project: &'p Project,
    cells: BTreeMap<Vec<String>, Cell>,
    /// (scenario, chain) pairs whose expected outcomes are already in their cell.
    seen: BTreeSet<(String, Vec<String>)>,
    pub trials: u64,
    pub ops: u64,
    /// Trials per state migrated in (`type: state`).
    coverage: BTreeMap<String, u64>,
}

impl<'p> CellTally<'p> {
    /// An empty tally.
    pub fn new(project: &'p Project) -> Self {
        CellTally {
            project,
            cells: BTreeMap::new(),
            seen: BTreeSet::new(),
            trials: 0,
            ops: 0,
            coverage: BTreeMap::new(),
        }
    }

    /// Counts one record: outcome, expected outcomes of its chain (union over
    /// the scenarios that ran it) and whether it was unexpected.
    pub fn add(&mut self, r: &TrialRecord) {
        self.trials += 1;
        self.ops += r.ops;
        for s in &r.migrated_in {
            *self.coverage.entry(s.clone()).or_insert(0) += 1;
        }
        let cell = self.cells.entry(r.chain.clone()).or_insert_with(|| Cell {
            chain: r.chain.clone(),
            ..Cell::default()
        });
        // Expected outcomes depend only on (scenario, chain): work them out
        // once, not per record (soak runs stream millions of records).
        let first = !self.seen.contains(&(r.scenario.clone(), r.chain.clone()));
        if first {
            self.seen.insert((r.scenario.clone(), r.chain.clone()));
        }
        let chain: Option<Vec<_>> = first
            .then(|| {
                r.chain
                    .iter()
                    .map(|n| self.project.version(n).cloned())
                    .collect()
            })
            .flatten();
        if let (Some(s), Some(chain)) = (self.project.scenario(&r.scenario), chain) {
            for e in crate::judging::expectations::expected_outcomes(&chain, &s.devices) {
                if !cell.expected.contains(&e) {
                    cell.expected.push(e);
                }
            }
            cell.predicted_refused =
                Some(crate::judging::staticcheck::predicts_chain_refusal(&chain));
        }
        let Some(outcome) = r.outcome else {
            return;
        };
        *cell.counts.entry(outcome).or_insert(0) += 1;
        if !r.expected {
            cell.unexpected += 1;
            if outcome == Outcome::Identical {
                cell.unexpectedly_identical += 1;
            }
        }
    }

    /// The counts so far, as plain data.
    pub fn counts(&self) -> TallyCounts {
        TallyCounts {
            trials: self.trials,
            ops: self.ops,
            cells: self.cells.values().cloned().collect(),
            coverage: self.coverage.clone(),
        }
    }

    /// Adds counts tallied elsewhere (a shard's checkpoint): outcome counts
    /// add up, expected outcomes join.
    pub fn absorb(&mut self, counts: &TallyCounts) {
        self.trials += counts.trials;
        self.ops += counts.ops;
        for (state, n) in &counts.coverage {
            *self.coverage.entry(state.clone()).or_insert(0) += n;
        }
        for c in &counts.cells {
            let cell = self.cells.entry(c.chain.clone()).or_insert_with(|| Cell {
                chain: c.chain.clone(),
                ..Cell::default()
            });
            for (outcome, n) in &c.counts {
                *cell.counts.entry(*outcome).or_insert(0) += n;
            }
            for e in &c.expected {
                if !cell.expected.contains(e) {
                    cell.expected.push(*e);
                }
            }
            cell.unexpected += c.unexpected;
            cell.unexpectedly_identical += c.unexpectedly_identical;
            cell.predicted_refused = cell.predicted_refused.or(c.predicted_refused);
        }
    }

    /// The coverage rows: every command-cycle state of each model device
    /// type of the project (reached or not), then the other states seen.
    pub fn coverage(&self) -> Vec<CoverageRow> {
        let mut types: Vec<&str> = Vec::new();
        for v in self.project.versions.iter().filter(|v| !v.is_real()) {
            for d in &v.devices {
                if !types.contains(&d.type_name.as_str()) {
                    types.push(&d.type_name);
                }
            }
        }
        let mut rows: Vec<CoverageRow> = Vec::new();
        for ty in types {
            for state in crate::running::modes::cycles_of(ty) {
                // A cycle state counts every variant of it (with a timer
                // pending or an erase suspended).
                let trials = self
                    .coverage
                    .iter()
                    .filter(|(entry, _)| {
                        entry.split_once(": ").is_some_and(|(t, rest)| {
                            t == ty && rest.split(", ").next() == Some(state)
                        })
                    })
                    .map(|(_, n)| n)
                    .sum();
                rows.push(CoverageRow {
                    device_type: ty.to_string(),
                    state: state.to_string(),
                    cycle: true,
                    trials,
                });
            }
        }
        for (entry, n) in &self.coverage {
            let Some((ty, state)) = entry.split_once(": ") else {
                continue;
            };
            // The variants with a timer or a suspended erase, apart.
            if !rows.iter().any(|r| r.device_type == ty && r.state == state) {
                rows.push(CoverageRow {
                    device_type: ty.to_string(),
                    state: state.to_string(),
                    cycle: false,
                    trials: *n,
                });
            }
        }
        rows
    }

    /// The cells, pairs in version order first, then chains.
    pub fn cells(self) -> Vec<Cell> {
        let project = self.project;
        let mut out: Vec<Cell> = self.cells.into_values().collect();
        for c in &mut out {
            c.expected.sort();
        }
        out.sort_by_key(|c| chain_key(project, &c.chain));
        out
    }
}

/// Expected non-identical trials listed per chain in a results file; the
/// cell counts cover every trial, so a long soak's file stays small.
pub const LISTED_PER_CHAIN: usize = 20;

/// The trial records a results file lists: every unexpected one, and per
/// chain the [`LISTED_PER_CHAIN`] expected non-identical ones with the
/// smallest (scenario, seed) — a rule that gives the same list whether the
/// trials arrive in one run or in merged shards. Memory stays bounded by
/// the failures plus chains × the cap.
#[derive(Default)]
pub struct Listed {
    unexpected: Vec<TrialRecord>,
    examples: BTreeMap<Vec<String>, BTreeMap<(String, u64), TrialRecord>>,
}

impl Listed {
    /// Offers one record.
    pub fn add(&mut self, r: &TrialRecord) {
        if !r.expected {
            self.unexpected.push(r.clone());
            return;
        }
        if r.outcome == Some(Outcome::Identical) {
            return;
        }
        let chain = self.examples.entry(r.chain.clone()).or_default();
        let key = (r.scenario.clone(), r.seed);
        if chain.len() >= LISTED_PER_CHAIN && chain.last_key_value().is_some_and(|(k, _)| *k < key)
        {
            return;
        }
        chain.insert(key, r.clone());
        if chain.len() > LISTED_PER_CHAIN {
            chain.pop_last();
        }
    }

    /// The expected examples listed so far (a soak checkpoint saves them).
    pub fn examples(&self) -> impl Iterator<Item = &TrialRecord> {
        self.examples.values().flat_map(|m| m.values())
    }

    /// The listed records.
    pub fn into_records(self) -> Vec<TrialRecord> {
        let mut out = self.unexpected;
        out.extend(self.examples.into_values().flat_map(|m| m.into_values()));
        out
    }
}

/// Assembles a results file (every run kind, including merges of shards,
/// goes through here). `records` are the trials to list; `tally` counted all.
pub fn assemble(
    project: &Project,
    tally: CellTally<'_>,
    mut records: Vec<TrialRecord>,
    mut details: Vec<FailureDetail>,
    mut run: RunInfo,
    checks: Vec<StaticCheck>,
) -> Results {
    records.sort_by_cached_key(|r| (r.scenario.clone(), chain_key(project, &r.chain), r.seed));
    details.sort_by_cached_key(|d| (chain_key(project, &d.chain), d.scenario.clone(), d.seed));
    // One example of an expected loss per chain: the smallest (scenario,
    // seed), whichever shard or worker found it, so merges equal single runs.
    let mut seen_chains = BTreeSet::new();
    details.retain(|d| {
        !(d.expected && d.outcome == Some(Outcome::Lossy)) || seen_chains.insert(d.chain.clone())
    });
    run.trials = tally.trials;
    run.ops = tally.ops;
    if run.duration_s > 0.0 {
        run.trials_per_s = run.trials as f64 / run.duration_s;
        run.ops_per_s = run.ops as f64 / run.duration_s;
    }
    let coverage = tally.coverage();
    let mut cells = tally.cells();
    for c in &mut cells {
        c.detail = details.iter().position(|d| d.chain == c.chain);
    }
    Results {
        format: reports::results::FORMAT.to_string(),
        run,
        versions: version_infos(project),
        static_checks: checks,
        cells,
        trials: records,
        details,
        behaviour: Vec::new(),
        cross_release: None,
        coverage,
    }
}

/// True if this trial deserves a detail section: unexpected and not
/// identical, or a lossy trial that is the first of its (chain, scenario)
/// seen here (`seen_lossy` tracks those; seeds arrive in increasing order,
/// so the first is the smallest). [`assemble`] keeps one per chain.
pub fn wants_detail(t: &TrialOutcome, seen_lossy: &mut BTreeSet<(Vec<String>, String)>) -> bool {
    if !t.as_expected() && t.result.outcome != Outcome::Identical {
        return true;
    }
    t.result.outcome == Outcome::Lossy
        && seen_lossy.insert((
            t.chain.iter().map(|v| v.name.clone()).collect(),
            t.scenario.name.clone(),
        ))
}

/// Builds the results of a run from its trials. Unexpected trials are shrunk
/// and (if `regressions` is given) saved as reproducers there; the first
/// lossy trial of each chain gets a detail too.
pub fn build(
    project: &Project,
    trials: &[TrialOutcome],
    run: RunInfo,
    regressions: Option<&Path>,
) -> Results {
    let checks = static_checks(project);
    // Every unexpected trial, and per chain the lossy one with the smallest
    // (scenario, seed) — the one `assemble` would keep.
    let mut best_lossy: BTreeMap<Vec<String>, &TrialOutcome> = BTreeMap::new();
    for t in trials
        .iter()
        .filter(|t| t.as_expected() && t.result.outcome == Outcome::Lossy)
    {
        let chain: Vec<String> = t.chain.iter().map(|v| v.name.clone()).collect();
        let better = best_lossy
            .get(&chain)
            .is_none_or(|b| (&t.scenario.name, t.seed) < (&b.scenario.name, b.seed));
        if better {
            best_lossy.insert(chain, t);
        }
    }
    let details = trials
        .iter()
        .filter(|t| !t.as_expected() && t.result.outcome != Outcome::Identical)
        .chain(best_lossy.into_values())
        .map(|t| detail(t, &checks, if t.as_expected() { None } else { regressions }))
        .collect();
    let mut tally = CellTally::new(project);
    let mut listed = Listed::default();
    for r in trials.iter().map(record_of) {
        tally.add(&r);
        listed.add(&r);
    }
    assemble(project, tally, listed.into_records(), details, run, checks)
}

/// The detail section of one trial: shrunk, traced, reproducer saved.
pub fn detail(t: &TrialOutcome, checks: &[StaticCheck], save_to: Option<&Path>) -> FailureDetail {
    // A real build that differs from its model is judged against another
    // run: its own rerun cannot reproduce that verdict, so it is kept whole.
    // An expected trial through a real version is shown as it ran: each
    // rerun costs QEMU processes.
    let real = t.chain.iter().any(|v| v.is_real());
    let model_differs = t
        .result
        .reason
        .starts_with(crate::judging::models::MODEL_DIFFERS);
    let keep = model_differs || (real && t.as_expected());
    let ops = if keep { t.ops.clone() } else { shrink_trial(t) };
    let targets = &t.scenario.devices;
    let result = (!keep)
        .then(|| run_chain_recorded(&t.chain, targets, &ops).ok())
        .flatten();
    let result = result.as_ref().unwrap_or(&t.result);
    let repro = Reproducer {
        format: FORMAT.to_string(),
        scenario: t.scenario.name.clone(),
        seed: t.seed,
        chain: t.chain.iter().map(|v| v.name.clone()).collect(),
        devices: targets.clone(),
        outcome: result.outcome,
        reason: result.reason.clone(),
        ops: ops.clone(),
    };
    let (file, reproduce) = match save_to.map(|dir| repro.save(dir)) {
        Some(Ok(path)) => (Some(path.display().to_string()), Reproducer::command(&path)),
        _ => (
            None,
            format!(
                "cargo run --release -- trial --scenario {} --seed {} --chain {}",
                t.scenario.name,
                t.seed,
                repro.chain.join(",")
            ),
        ),
    };
    let static_findings = t
        .chain
        .windows(2)
        .flat_map(|w| {
            checks
                .iter()
                .filter(|c| c.src == w[0].name && c.dst == w[1].name)
                .flat_map(|c| {
                    c.findings
                        .iter()
                        .map(|f| format!("{} -> {}: {f}", c.src, c.dst))
                })
                .collect::<Vec<_>>()
        })
        .collect();
    FailureDetail {
        scenario: t.scenario.name.clone(),
        chain: repro.chain.clone(),
        seed: t.seed,
        outcome: Some(result.outcome),
        expected: t.expected.contains(&result.outcome),
        reason: result.reason.clone(),
        reproduce,
        reproducer_file: file,
        ops: op_rows(result),
        state_diff: result.state_diff.clone(),
        flash_diff: result.flash_diff.clone(),
        static_findings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definitions::project::default_root;

    #[test]
    fn coverage_lists_every_cycle_state_and_counts_its_variants() {
        let project = Project::load(&default_root()).expect("project");
        let mut tally = CellTally::new(&project);
        let record = |migrated_in: &[&str]| TrialRecord {
            scenario: "cfi02-erase".into(),
            chain: vec!["v5".into(), "v5".into()],
            outcome: Some(Outcome::Identical),
            expected: true,
            migrated_in: migrated_in.iter().map(|s| s.to_string()).collect(),
            ..TrialRecord::default()
        };
        tally.add(&record(&[
            "cfi.pflash02: sector-erase window, timer pending",
        ]));
        tally.add(&record(&[
            "cfi.pflash02: sector-erase window",
            "cfi.pflash01: read-array",
        ]));
        let rows = tally.coverage();
        let row = |ty: &str, state: &str| {
            rows.iter()
                .find(|r| r.device_type == ty && r.state == state)
                .unwrap_or_else(|| panic!("no row {ty}: {state}"))
        };
        assert_eq!(row("cfi.pflash02", "sector-erase window").trials, 2);
        assert!(row("cfi.pflash02", "sector-erase window").cycle);
        let variant = row("cfi.pflash02", "sector-erase window, timer pending");
        assert_eq!((variant.trials, variant.cycle), (1, false));
        assert_eq!(row("cfi.pflash01", "read-array").trials, 1);
        assert_eq!(
            row("cfi.pflash01", "lock: confirm next").trials,
            0,
            "listed though never reached"
        );
        assert!(rows
            .iter()
            .any(|r| r.device_type == "parallel-nor-cfi02-flash"));
    }
}
