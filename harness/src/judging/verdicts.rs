//! Judged trials: each observation of the matrix turned into a verdict
//! against the outcomes its chain may have.

use crate::definitions::project::Project;
use crate::definitions::scenarios::Scenario;
use crate::definitions::versions::Version;
use crate::generation::generator::TrialOp;
use crate::judging::expectations::expected_outcomes;
use crate::judging::imitation::check_imitations;
use crate::judging::models::check_against_models;
use crate::judging::outcome::{verdict, TrialOutcome, TrialResult};
use crate::running::matrix::{available_chains, RanTrial};
use crate::running::trial::Record;
use std::sync::Arc;

/// Judges one trial that ran.
pub fn judge_trial(t: RanTrial) -> TrialOutcome {
    let expected = expected_outcomes(&t.chain, &t.scenario.devices);
    let result = verdict(&t.ops, t.observation);
    TrialOutcome {
        scenario: t.scenario,
        chain: t.chain,
        seed: t.seed,
        ops: t.ops,
        expected,
        result,
    }
}

/// Runs and judges `chains` of scenario `s` over `seeds`
/// ([`crate::running::matrix::run_cells`]).
pub fn run_cells(
    project: &Project,
    s: &Arc<Scenario>,
    chains: &[Vec<usize>],
    seeds: &[u64],
) -> Vec<TrialOutcome> {
    crate::running::matrix::run_cells(project, s, chains, seeds, &judge_trial)
}

/// Runs a scenario's chains whose versions are all usable here: model-only
/// chains over `seeds`, chains through a real version over `reals` (none:
/// models only).
pub fn run_available(
    project: &Project,
    s: &Arc<Scenario>,
    seeds: &[u64],
    reals: &[u64],
) -> Vec<TrialOutcome> {
    let (model, real) = available_chains(project, s);
    let mut out = run_cells(project, s, &model, seeds);
    if !reals.is_empty() {
        out.extend(run_cells(project, s, &real, reals));
    }
    check_against_models(project, &mut out);
    check_imitations(project, &mut out);
    out
}

/// Runs one trial along `chain` from scratch and judges it.
pub fn run_chain(
    chain: &[Arc<Version>],
    targets: &[String],
    ops: &[TrialOp],
) -> Result<TrialResult, String> {
    let observation = crate::running::matrix::run_chain(chain, targets, ops, Record::Nothing)?;
    Ok(verdict(ops, observation))
}

/// [`run_chain`], recording each op with the accessed device's state
/// before it (the result's `steps`).
pub fn run_chain_recorded(
    chain: &[Arc<Version>],
    targets: &[String],
    ops: &[TrialOp],
) -> Result<TrialResult, String> {
    let observation = crate::running::matrix::run_chain(chain, targets, ops, Record::Steps)?;
    Ok(verdict(ops, observation))
}
