//! `norcompat analyze-stream`: what a migration stream holds.

use crate::commands::CliError;
use std::path::PathBuf;
use std::process::ExitCode;

/// `norcompat analyze-stream` arguments.
#[derive(clap::Args, Debug)]
pub struct AnalyzeStreamArgs {
    /// A migration stream (QEMU's, or one norcompat wrote).
    pub file: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `norcompat analyze-stream`: what a stream holds, like QEMU's
/// `scripts/analyze-migration.py` (including the streams its 7.2 version
/// cannot read: the variable-size write-buffer subsection).
pub fn analyze_stream(args: AnalyzeStreamArgs) -> Result<ExitCode, CliError> {
    let name = args.file.display().to_string();
    let bytes = std::fs::read(&args.file).map_err(|e| format!("{name}: {e}"))?;
    let info = devices::migration::foreign::analyze(&bytes).map_err(|e| format!("{name}: {e}"))?;
    let text = if args.json {
        serde_json::to_string_pretty(&info.to_json())? + "\n"
    } else {
        info.to_text()
    };
    // A closed pipe (`| head`) ends the output, not the program with a panic.
    match std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(ExitCode::SUCCESS),
    }
}
