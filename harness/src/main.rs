//! `norcompat`: the command-line entry point.

use clap::{Parser, Subcommand};
use harness::commands as cli;
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
    /// Run the compatibility matrix (the main job), print the table, write the report.
    Matrix(cli::matrix::MatrixArgs),
    /// Replay an op list on one device and print the trace (JSON).
    Replay(cli::replay::ReplayArgs),
    /// Print what a migration stream holds (sections, decoded flash fields,
    /// RAM blocks, capabilities), like QEMU's analyze-migration.py.
    AnalyzeStream(cli::analyze_stream::AnalyzeStreamArgs),
    /// Run one trial: a scenario's seed along a chain of versions.
    Trial(cli::trial::TrialArgs),
    /// One scenario seed on two versions of a board without migrating: do
    /// they behave the same?
    Compare(cli::compare::CompareArgs),
    /// Replay a saved trial (scenarios/regressions/*.json).
    ReplayTrial(cli::trial::ReplayTrialArgs),
    /// Long randomized runs: all cores, progress, shards, checkpoints, reproducers.
    Soak(harness::soak::SoakArgs),
    /// Join soak shard results (directories) into one results file and report.
    Merge(cli::merge::MergeArgs),
    /// Measure accesses/s, migrations/s, trials/s, fork-vs-naive and jobs scaling (JSON).
    Bench(cli::bench::BenchArgs),
    /// Print each device state struct of a version with its effective features (JSON).
    Introspect(cli::introspect::IntrospectArgs),
    /// Print the migration state descriptions as JSON, in the shape of QEMU's -dump-vmstate.
    DumpVmstate(harness::commands::vmstate::DumpVmstateArgs),
    /// Compare two state description dumps as QEMU's vmstate-static-checker does;
    /// exit status = number of incompatibilities (at most 255).
    CheckStatic(harness::commands::vmstate::CheckStaticArgs),
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = match args.command {
        Some(Command::Matrix(a)) => cli::matrix::main_job(a),
        Some(Command::Replay(a)) => cli::replay::replay(a),
        Some(Command::Trial(a)) => cli::trial::trial(a),
        Some(Command::Compare(a)) => cli::compare::compare(a),
        Some(Command::AnalyzeStream(a)) => cli::analyze_stream::analyze_stream(a),
        Some(Command::ReplayTrial(a)) => cli::trial::replay_trial(a),
        Some(Command::Introspect(a)) => cli::introspect::introspect(a),
        Some(Command::DumpVmstate(a)) => harness::commands::vmstate::dump_vmstate(a),
        Some(Command::CheckStatic(a)) => harness::commands::vmstate::check_static(a),
        Some(Command::Soak(a)) => cli::soak::soak(a),
        Some(Command::Bench(a)) => cli::bench::bench(a),
        Some(Command::Merge(a)) => cli::merge::merge(a),
        None => cli::matrix::main_job(cli::matrix::MatrixArgs::default()),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("norcompat: error: {e}");
            ExitCode::from(2)
        }
    }
}
