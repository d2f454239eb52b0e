//! `norcompat trial` and `norcompat replay-trial`: one trial, by scenario,
//! seed and chain or from a reproducer file, with its verdict and trace.

use crate::commands::{chain_of, load_project, CliError};
use std::path::PathBuf;
use std::process::ExitCode;

/// `norcompat trial`: one trial by scenario, seed and chain.
#[derive(clap::Args, Debug)]
pub struct TrialArgs {
    #[arg(long)]
    pub scenario: String,
    #[arg(long)]
    pub seed: u64,
    /// Versions visited, comma-separated (e.g. v5,v6 or v5,v6,v5).
    #[arg(long, value_delimiter = ',', required = true)]
    pub chain: Vec<String>,
    /// Print the op-by-op trace with device modes.
    #[arg(long)]
    pub trace: bool,
}

fn report_one(
    project: &crate::definitions::project::Project,
    chain: &[std::sync::Arc<crate::definitions::versions::Version>],
    targets: &[String],
    ops: &[crate::generation::generator::TrialOp],
    trace: bool,
    command: &str,
) -> Result<ExitCode, CliError> {
    let mut result = crate::judging::verdicts::run_chain_recorded(chain, targets, ops)?;
    // A real build against its model, seed for seed (as the matrix does).
    if let Some(model) = chain
        .iter()
        .all(|v| v.name == chain[0].name)
        .then(|| crate::definitions::project::model_of(project, &chain[0]))
        .flatten()
    {
        let model_chain: Vec<_> = chain.iter().map(|_| model.clone()).collect();
        let m = crate::judging::verdicts::run_chain(&model_chain, targets, ops)?;
        if let Some(why) =
            crate::judging::models::model_difference(chain, ops, &result, &m, &model.name)
        {
            result.outcome = reports::Outcome::Diverged;
            result.reason = why;
        }
    }
    // A compat machine type against the release it imitates (as the matrix does).
    crate::judging::imitation::check_one(project, chain, &mut result, &|c| {
        crate::judging::imitation::run(c, targets, ops)
    });
    let expected = crate::judging::expectations::expected_outcomes(chain, targets);
    if trace {
        for row in crate::results::records::op_rows(&result) {
            let vals = match (row.expected, row.got) {
                (Some(e), Some(g)) if e == g => format!(" = {g:#x}"),
                (Some(e), Some(g)) => format!(" = {g:#x} (reference {e:#x})  <-- differs"),
                (None, Some(g)) => format!(" = {g:#x}"),
                _ => String::new(),
            };
            println!(
                "{:>4} {:<10} {:<40} {}{}",
                row.index, row.device, row.mode_before, row.op, vals
            );
        }
    }
    let names: Vec<&str> = chain.iter().map(|v| v.name.as_str()).collect();
    let ok = expected.contains(&result.outcome);
    println!(
        "{}: {}{}{}",
        names.join("->"),
        result.outcome.name(),
        if ok { " (expected)" } else { " (UNEXPECTED)" },
        if result.reason.is_empty() {
            String::new()
        } else {
            format!(": {}", result.reason)
        }
    );
    for d in &result.state_diff {
        println!(
            "  state {}.{}: expected {} got {}",
            d.device, d.field, d.expected, d.got
        );
    }
    for d in &result.flash_diff {
        println!(
            "  {} {} @ {:#x} (sector {}): expected {} got {}",
            d.device, d.what, d.offset, d.sector, d.expected, d.got
        );
    }
    if !ok {
        println!("reproduce: {command}");
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Runs `norcompat trial`.
pub fn trial(args: TrialArgs) -> Result<ExitCode, CliError> {
    let project = load_project()?;
    let s = project
        .scenario(&args.scenario)
        .ok_or_else(|| format!("unknown scenario '{}'", args.scenario))?
        .clone();
    let chain = chain_of(&project, &args.chain)?;
    let seq = crate::generation::sequences::sequence(&project, &s, args.seed, chain.len() - 1);
    let cmd = format!(
        "cargo run --release -- trial --scenario {} --seed {} --chain {} --trace",
        s.name,
        args.seed,
        args.chain.join(",")
    );
    report_one(&project, &chain, &s.devices, &seq.ops, args.trace, &cmd)
}

/// `norcompat replay-trial FILE`.
#[derive(clap::Args, Debug)]
pub struct ReplayTrialArgs {
    /// A reproducer file (scenarios/regressions/*.json).
    pub file: PathBuf,
    /// Print the op-by-op trace with device modes.
    #[arg(long)]
    pub trace: bool,
}

/// Runs `norcompat replay-trial`.
pub fn replay_trial(args: ReplayTrialArgs) -> Result<ExitCode, CliError> {
    let project = load_project()?;
    let r = crate::minimizing::reproducer::Reproducer::load(&args.file)?;
    let chain = chain_of(&project, &r.chain)?;
    let cmd = crate::minimizing::reproducer::Reproducer::command(&args.file);
    report_one(&project, &chain, &r.devices, &r.ops, args.trace, &cmd)
}
