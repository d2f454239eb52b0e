//! Reproducer files: a shrunk failing trial saved under
//! `scenarios/regressions/` and replayed by `norcompat replay-trial` and by
//! `cargo test` before the matrix.

use crate::definitions::file_error::ReadError;
use crate::generation::generator::TrialOp;
use crate::generation::ops::WIDTHS;
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

/// Why a reproducer file cannot be replayed; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum ReproducerError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("{}: format '{found}' (expected '{FORMAT}')", path.display())]
    Format { path: PathBuf, found: String },
    #[error("{}: a chain of {versions} versions needs {} migrate ops", path.display(), versions.saturating_sub(1))]
    Chain { path: PathBuf, versions: usize },
    #[error("{}: op {op}: device index {dev}, but `devices` lists {} ({})", path.display(), devices.len(), devices.join(", "))]
    Device {
        path: PathBuf,
        op: usize,
        dev: usize,
        devices: Vec<String>,
    },
    #[error("{}: op {op}: width {width} (expected 1, 2, 4 or 8)", path.display())]
    Width {
        path: PathBuf,
        op: usize,
        width: u32,
    },
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
    pub fn load(path: &Path) -> Result<Reproducer, ReproducerError> {
        let at = || path.to_path_buf();
        let text = std::fs::read_to_string(path).map_err(|e| ReadError::io(path, e))?;
        let r: Reproducer =
            serde_json::from_str(&text).map_err(|e| ReadError::json(path, e.line(), &e))?;
        if r.format != FORMAT {
            return Err(ReproducerError::Format {
                path: at(),
                found: r.format,
            });
        }
        let migrations = r
            .ops
            .iter()
            .filter(|o| matches!(o, TrialOp::Migrate { .. }))
            .count();
        if r.chain.len() != migrations + 1 {
            return Err(ReproducerError::Chain {
                path: at(),
                versions: r.chain.len(),
            });
        }
        // Checked here, not when the ops run: a hand-edited index would
        // otherwise stop the replay with a panic.
        for (op, o) in r.ops.iter().enumerate() {
            let (TrialOp::Write { dev, width, .. } | TrialOp::Read { dev, width, .. }) = o else {
                continue;
            };
            if *dev >= r.devices.len() {
                return Err(ReproducerError::Device {
                    path: at(),
                    op,
                    dev: *dev,
                    devices: r.devices.clone(),
                });
            }
            if !WIDTHS.contains(width) {
                return Err(ReproducerError::Width {
                    path: at(),
                    op,
                    width: *width,
                });
            }
        }
        Ok(r)
    }

    /// The one-line command that reproduces this trial.
    pub fn command(path: &Path) -> String {
        format!("cargo run --release -- replay-trial {}", path.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Reproducer {
        Reproducer {
            format: FORMAT.to_string(),
            scenario: "cfi01-program".into(),
            seed: 7,
            chain: vec!["v5".into(), "v6".into(), "v5".into()],
            devices: vec!["flash0".into()],
            outcome: Outcome::Lossy,
            reason: "read at op 3 differs".into(),
            ops: vec![
                TrialOp::Write {
                    dev: 0,
                    addr: 0x100,
                    width: 4,
                    val: 0x0040_0040,
                },
                TrialOp::MIGRATE,
                TrialOp::Step { ns: None },
                TrialOp::Read {
                    dev: 0,
                    addr: 0x100,
                    width: 4,
                },
                TrialOp::MIGRATE,
                TrialOp::Step { ns: Some(50_000) },
                TrialOp::Reset,
            ],
        }
    }

    /// `sample()` as JSON with `edit` applied, written to `dir/name`.
    fn write_edited(
        dir: &Path,
        name: &str,
        edit: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>),
    ) -> PathBuf {
        let mut v = serde_json::to_value(sample()).unwrap();
        edit(v.as_object_mut().unwrap());
        let path = dir.join(name);
        std::fs::write(&path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
        path
    }

    #[test]
    fn save_then_load_gives_the_same_reproducer() {
        let dir = tempfile::tempdir().unwrap();
        let r = sample();
        let path = r.save(&dir.path().join("regressions")).unwrap();
        assert_eq!(path, dir.path().join("regressions").join(r.file_name()));
        assert_eq!(Reproducer::load(&path).unwrap(), r);
        // Written atomically: no temporary file is left behind.
        let left: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from(r.file_name())]);
        // Saving again replaces the file.
        let mut again = r.clone();
        again.reason = "shrunk further".into();
        assert_eq!(again.save(path.parent().unwrap()).unwrap(), path);
        assert_eq!(Reproducer::load(&path).unwrap().reason, "shrunk further");
    }

    #[test]
    fn the_file_name_says_scenario_chain_and_seed() {
        assert_eq!(
            sample().file_name(),
            "cfi01-program--v5_to_v6_to_v5--seed7.json"
        );
    }

    #[test]
    fn a_wrong_format_is_an_error_naming_the_file_and_the_expected_format() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_edited(dir.path(), "old.json", |m| {
            m.insert("format".into(), "norcompat-reproducer/0".into());
        });
        let e = Reproducer::load(&path).unwrap_err().to_string();
        assert!(e.starts_with(&path.display().to_string()), "{e}");
        assert!(e.contains("'norcompat-reproducer/0'"), "{e}");
        assert!(e.contains(FORMAT), "{e}");
    }

    #[test]
    fn a_missing_or_unknown_field_is_an_error_naming_the_file_and_the_field() {
        let dir = tempfile::tempdir().unwrap();
        for field in ["seed", "chain", "ops", "format"] {
            let path = write_edited(dir.path(), &format!("no-{field}.json"), |m| {
                m.remove(field);
            });
            let e = Reproducer::load(&path).unwrap_err().to_string();
            assert!(e.starts_with(&path.display().to_string()), "{e}");
            assert!(e.contains(&format!("missing field `{field}`")), "{e}");
        }
        let path = write_edited(dir.path(), "extra.json", |m| {
            m.insert("seeds".into(), 3.into());
        });
        let e = Reproducer::load(&path).unwrap_err().to_string();
        assert!(e.starts_with(&path.display().to_string()), "{e}");
        assert!(e.contains("unknown field `seeds`"), "{e}");
    }

    #[test]
    fn a_chain_that_does_not_match_the_migrate_ops_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_edited(dir.path(), "short.json", |m| {
            m.insert("chain".into(), serde_json::json!(["v5", "v6"]));
        });
        let e = Reproducer::load(&path).unwrap_err().to_string();
        assert!(e.starts_with(&path.display().to_string()), "{e}");
        assert!(
            e.contains("a chain of 2 versions needs 1 migrate ops"),
            "{e}"
        );
    }

    #[test]
    fn an_op_on_a_device_the_file_does_not_list_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_edited(dir.path(), "dev.json", |m| {
            m["ops"][3]["dev"] = 1.into();
        });
        let e = Reproducer::load(&path).unwrap_err().to_string();
        assert!(e.starts_with(&path.display().to_string()), "{e}");
        assert!(e.contains("op 3: device index 1"), "{e}");
        let path = write_edited(dir.path(), "width.json", |m| {
            m["ops"][0]["width"] = 3.into();
        });
        let e = Reproducer::load(&path).unwrap_err().to_string();
        assert!(e.starts_with(&path.display().to_string()), "{e}");
        assert!(e.contains("op 0: width 3"), "{e}");
    }

    #[test]
    fn a_missing_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent.json");
        let e = Reproducer::load(&path).unwrap_err().to_string();
        assert!(e.starts_with(&path.display().to_string()), "{e}");
    }

    #[test]
    fn command_is_the_one_line_replay_trial_of_the_file() {
        let path = Path::new("scenarios/regressions/cfi01-program--v5_to_v6--seed7.json");
        let cmd = Reproducer::command(path);
        assert!(!cmd.contains('\n'), "{cmd}");
        let words: Vec<&str> = cmd.split_whitespace().collect();
        assert_eq!(
            words,
            [
                "cargo",
                "run",
                "--release",
                "--",
                "replay-trial",
                "scenarios/regressions/cfi01-program--v5_to_v6--seed7.json"
            ]
        );
    }
}
