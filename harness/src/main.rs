//! `norcompat`: the command-line entry point.

use clap::{Parser, Subcommand};
use harness::cli;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "norcompat",
    version,
    about = "Versioned-machine compatibility harness for parallel NOR flash",
    long_about = "Runs randomized CFI command sequences on versioned machines, migrates \
                  mid-run between every ordered pair of versions and checks that the flash \
                  state is identical to a run that never migrated.\n\n\
                  Without a subcommand: the main job (the default compatibility matrix)."
)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Replay an op list on one device and print the trace (JSON).
    Replay(cli::ReplayArgs),
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = match args.command {
        Some(Command::Replay(a)) => cli::replay(a),
        None => cli::main_job(),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("norcompat: error: {e}");
            ExitCode::from(2)
        }
    }
}
