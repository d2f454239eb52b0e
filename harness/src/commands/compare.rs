//! `norcompat compare`: one sequence on two versions of a board, without
//! migrating.

use crate::commands::{chain_of, load_project, CliError};
use std::process::ExitCode;

/// `norcompat compare`: one sequence on two versions of a board, no migration.
#[derive(clap::Args, Debug)]
pub struct CompareArgs {
    #[arg(long)]
    pub scenario: String,
    #[arg(long)]
    pub seed: u64,
    /// The two versions (of the same board).
    pub a: String,
    pub b: String,
}

/// Runs `norcompat compare`: both traces side by side, the first
/// difference and a minimized op list; exit status 1 if they differ.
pub fn compare(args: CompareArgs) -> Result<ExitCode, CliError> {
    let project = load_project()?;
    let s = project
        .scenario(&args.scenario)
        .ok_or_else(|| format!("unknown scenario '{}'", args.scenario))?
        .clone();
    let pair = chain_of(&project, &[args.a.clone(), args.b.clone()])?;
    let (a, b) = (&pair[0], &pair[1]);
    if a.board != b.board {
        return Err(format!(
            "{} is on board {}, {} on {}",
            a.name, a.board, b.name, b.board
        )
        .into());
    }
    let ops = crate::running::behaviour::sequence(&project, &s, args.seed);
    let ra = crate::running::behaviour::run_on(a, &s.devices, &ops)?;
    let rb = crate::running::behaviour::run_on(b, &s.devices, &ops)?;
    let va: std::collections::BTreeMap<usize, u64> = ra.reads.iter().copied().collect();
    let vb: std::collections::BTreeMap<usize, u64> = rb.reads.iter().copied().collect();
    println!("{:>4} {:<44} {:>12} {:>12}", "op", "", a.name, b.name);
    for (i, op) in ops.iter().enumerate() {
        let (x, y) = (va.get(&i), vb.get(&i));
        let show = |v: Option<&u64>| v.map_or(String::new(), |v| format!("{v:#x}"));
        let mark = if x != y { "  <-- differs" } else { "" };
        println!(
            "{i:>4} {:<44} {:>12} {:>12}{mark}",
            op.to_string(),
            show(x),
            show(y)
        );
    }
    let Some(d) = crate::judging::behaviour::compare_runs(a, &ops, &ra, &rb) else {
        println!(
            "{} and {} behave the same on {} seed {}",
            a.name, b.name, s.name, args.seed
        );
        return Ok(ExitCode::SUCCESS);
    };
    println!(
        "{} and {} differ: {} at {}: {} vs {}",
        a.name, b.name, d.what, d.at, d.a, d.b
    );
    let o = crate::judging::behaviour::BehaviourOutcome {
        board: a.board.clone(),
        scenario: s.clone(),
        a: a.clone(),
        b: b.clone(),
        seed: args.seed,
        ops,
        difference: Some(d),
        model: crate::running::behaviour::mode_model(&project, a, b),
    };
    if let Some(detail) = crate::minimizing::behaviour::detail(&o) {
        println!(
            "minimized ({} ops), mode before the op: {}",
            detail.ops.len(),
            detail.mode
        );
        for op in &detail.ops {
            println!("  {op}");
        }
    }
    Ok(ExitCode::from(1))
}
