//! `norcompat merge`: soak shards merged into one report.

use crate::commands::{load_project, CliError, DEFAULT_OUT};
use std::path::PathBuf;
use std::process::ExitCode;

/// `norcompat merge` arguments.
#[derive(clap::Args, Debug)]
pub struct MergeArgs {
    /// Soak output directories (each with a tally*.json per shard).
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// Where to write merged.json and merged.html.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Runs `norcompat merge`; exit status 1 if the merged run has unexpected findings.
pub fn merge(args: MergeArgs) -> Result<ExitCode, CliError> {
    let project = load_project()?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| project.root.join(DEFAULT_OUT).join("merged"));
    let results = crate::soak::merge(&project, &args.dirs, &out)?;
    print!("{}", reports::summary_table(&results));
    let paths = reports::write_report(&results, &out, "merged")?;
    println!("report: {}", paths.html.display());
    println!("results: {}", paths.json.display());
    let unexpected = crate::soak::summary::unexpected(&project, &results);
    println!(
        "{} trials merged, {} unexpected",
        results.run.trials, unexpected
    );
    Ok(if unexpected == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
