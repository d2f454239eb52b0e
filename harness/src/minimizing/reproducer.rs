//! Reproducer files: a shrunk failing trial saved under
//! `scenarios/regressions/` and replayed by `norcompat replay-trial` and by
//! `cargo test` before the matrix.

use crate::generation::generator::TrialOp;
use reports::Outcome;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Format tag of reproducer files.
pub const FORMAT: &str = "norcompat-reproducer/1";

/// A saved trial.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reproducer {
    pub format: String,
    pub scenario: String,
    pub seed: u64,
    /// Versions visited, by machine definition name.
    pub chain: Vec<String>,
    /// Device ids the ops' `dev` indices refer to.
    pub devices: Vec<String>,
    /// Outcome when it was saved, and why.
    pub outcome: Outcome,
    pub reason: String,
    pub ops: Vec<TrialOp>,
}

impl Reproducer {
    /// File name under `scenarios/regressions/`.
    pub fn file_name(&self) -> String {
        format!(
            "{}--{}--seed{}.json",
            self.scenario,
            self.chain.join("_to_"),
            self.seed
        )
    }

    /// Writes the file atomically into `dir`; returns its path.
    pub fn save(&self, dir: &Path) -> std::io::Result<PathBuf> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(self.file_name());
        let tmp = dir.join(format!(".{}.tmp", self.file_name()));
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)? + "\n";
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, &path)?;
        Ok(path)
    }

    /// Loads a reproducer, with errors naming the file, line and column.
    pub fn load(path: &Path) -> Result<Reproducer, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let r: Reproducer = serde_json::from_str(&text)
            .map_err(|e| format!("{}:{}:{}: {e}", path.display(), e.line(), e.column()))?;
        if r.format != FORMAT {
            return Err(format!(
                "{}: format '{}' (expected '{FORMAT}')",
                path.display(),
                r.format
            ));
        }
        if r.chain.len()
            != r.ops
                .iter()
                .filter(|o| matches!(o, TrialOp::Migrate))
                .count()
                + 1
        {
            return Err(format!(
                "{}: a chain of {} versions needs {} migrate ops",
                path.display(),
                r.chain.len(),
                r.chain.len().saturating_sub(1)
            ));
        }
        Ok(r)
    }

    /// The one-line command that reproduces this trial.
    pub fn command(path: &Path) -> String {
        format!("cargo run --release -- replay-trial {}", path.display())
    }
}
