//! `norcompat soak`: a long randomized run.

use crate::commands::{load_project, CliError};
use std::process::ExitCode;

/// Runs `norcompat soak`; exit status 1 if any trial was unexpected.
pub fn soak(args: crate::soak::SoakArgs) -> Result<ExitCode, CliError> {
    let project = std::sync::Arc::new(load_project()?);
    let (unexpected, _) = crate::soak::soak(project, args)?;
    Ok(if unexpected == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
