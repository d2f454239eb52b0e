//! Turning finished trials into the results data (`reports::Results`):
//! cells, trial records, and details of failing and lossy trials — shrunk,
//! traced op by op with the device mode, and saved as reproducers.

use crate::board::{migrate, Board};
use crate::generator::TrialOp;
use crate::matrix::{chain_name, Project, TrialOutcome};
use crate::reproducer::{Reproducer, FORMAT};
use crate::shrink::shrink;
use crate::trial::{run_reference, run_trial};
use reports::results::{
    Cell, DeviceInfo, FailureDetail, OpRow, RunInfo, StaticCheck, Timings, TrialRecord, VersionInfo,
};
use reports::{Outcome, Results};
use std::collections::BTreeMap;
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
            release: v.release.name.to_string(),
            machine_type: v.machine_type.clone(),
            compat_properties: v.compat.iter().map(|c| c.to_string()).collect(),
            symbols: v.symbols.iter().cloned().collect(),
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
                findings: crate::staticcheck::findings(a, b),
            });
        }
    }
    out
}

/// True if `ops` along `chain` still end with `outcome`.
fn reproduces(
    chain: &[Arc<crate::machines::Version>],
    targets: &[String],
    ops: &[TrialOp],
    outcome: Outcome,
) -> bool {
    match run_reference(&chain[0], targets, ops) {
        Ok(reference) => run_trial(chain, targets, ops, &reference).outcome == outcome,
        Err(_) => false,
    }
}

/// The minimized ops of a trial whose outcome should be kept.
pub fn shrink_trial(t: &TrialOutcome) -> Vec<TrialOp> {
    let outcome = t.result.outcome;
    if outcome == Outcome::Identical {
        return t.ops.clone();
    }
    let fails = |ops: &[TrialOp]| reproduces(&t.chain, &t.scenario.devices, ops, outcome);
    shrink(&t.ops, &fails, SHRINK_BUDGET)
}

/// Op-by-op rows of a trial: the mode of the accessed device before each op,
/// and what the reference and the trial read.
pub fn op_rows(
    chain: &[Arc<crate::machines::Version>],
    targets: &[String],
    ops: &[TrialOp],
) -> Vec<OpRow> {
    let Ok(reference) = run_reference(&chain[0], targets, ops) else {
        return Vec::new();
    };
    let Ok(mut board) = Board::new(&chain[0], targets) else {
        return Vec::new();
    };
    let want: BTreeMap<usize, u64> = reference.reads.iter().copied().collect();
    let mut hop = 0;
    let mut rows = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let (device, mode) = match op {
            TrialOp::Write { dev, .. } | TrialOp::Read { dev, .. } => {
                let d = board.targets[*dev];
                (
                    targets[*dev].clone(),
                    crate::modes::describe(&board.devices[d].state()),
                )
            }
            _ => (String::new(), String::new()),
        };
        let mut text = op.to_string();
        let mut got = None;
        if matches!(op, TrialOp::Migrate) {
            hop += 1;
            let dst = &chain[hop.min(chain.len() - 1)];
            match migrate(&board, dst) {
                Ok(next) => {
                    text = format!("migrate {} -> {}", board.version.name, dst.name);
                    board = next;
                }
                Err(r) => {
                    text = format!(
                        "migrate {} -> {}: refused ({})",
                        board.version.name, dst.name, r.reason
                    )
                }
            }
        } else {
            got = board.apply(op);
        }
        rows.push(OpRow {
            index: i,
            device,
            op: text,
            mode_before: mode,
            expected: want.get(&i).copied(),
            got,
        });
    }
    rows
}

/// Builds the results of a run from its trials. Unexpected trials are shrunk
/// and (if `regressions` is given) saved as reproducers there; the first
/// lossy trial of each cell gets a detail too.
pub fn build(
    project: &Project,
    trials: &[TrialOutcome],
    mut run: RunInfo,
    regressions: Option<&Path>,
) -> Results {
    let mut cells: BTreeMap<String, Cell> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut details = Vec::new();
    let mut records = Vec::with_capacity(trials.len());
    let checks = static_checks(project);
    for t in trials {
        let name = chain_name(&t.chain);
        let cell = cells.entry(name.clone()).or_insert_with(|| {
            order.push(name.clone());
            Cell {
                chain: t.chain.iter().map(|v| v.name.clone()).collect(),
                expected: t.expected.iter().copied().collect(),
                ..Cell::default()
            }
        });
        for e in &t.expected {
            if !cell.expected.contains(e) {
                cell.expected.push(*e);
            }
        }
        *cell.counts.entry(t.result.outcome).or_insert(0) += 1;
        let expected = t.as_expected();
        if !expected {
            cell.unexpected += 1;
            if t.result.outcome == Outcome::Identical {
                cell.unexpectedly_identical += 1;
            }
        }
        records.push(TrialRecord {
            scenario: t.scenario.name.clone(),
            chain: cell.chain.clone(),
            seed: t.seed,
            outcome: Some(t.result.outcome),
            expected,
            reason: t.result.reason.clone(),
            ops: t.ops.len() as u64,
            timings: Timings {
                total_us: t.result.total_us,
                migrate_us: t.result.migrate_us,
            },
        });
        let first_lossy = t.result.outcome == Outcome::Lossy
            && !details.iter().any(|d: &FailureDetail| {
                d.chain == cell.chain && d.outcome == Some(Outcome::Lossy)
            });
        let failing = !expected && t.result.outcome != Outcome::Identical;
        if failing || first_lossy {
            if cell.detail.is_none() {
                cell.detail = Some(details.len());
            }
            details.push(detail(
                project,
                t,
                &checks,
                if failing { regressions } else { None },
            ));
        }
    }
    run.trials = trials.len() as u64;
    run.ops = trials.iter().map(|t| t.ops.len() as u64).sum();
    if run.duration_s > 0.0 {
        run.trials_per_s = run.trials as f64 / run.duration_s;
        run.ops_per_s = run.ops as f64 / run.duration_s;
    }
    Results {
        format: reports::results::FORMAT.to_string(),
        run,
        versions: version_infos(project),
        static_checks: checks,
        cells: order.into_iter().filter_map(|n| cells.remove(&n)).collect(),
        trials: records,
        details,
    }
}

fn detail(
    project: &Project,
    t: &TrialOutcome,
    checks: &[StaticCheck],
    save_to: Option<&Path>,
) -> FailureDetail {
    let _ = project;
    let ops = shrink_trial(t);
    let targets = &t.scenario.devices;
    let reference = run_reference(&t.chain[0], targets, &ops).ok();
    let result = reference
        .as_ref()
        .map(|r| run_trial(&t.chain, targets, &ops, r));
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
        ops: op_rows(&t.chain, targets, &ops),
        state_diff: result.state_diff.clone(),
        flash_diff: result.flash_diff.clone(),
        static_findings,
    }
}
