//! A shard's checkpoint, `tally[.shard-K-of-N].json`: its summary and the
//! seeds it covers, replaced whole (temp file, fsync, rename) at most once a
//! second while the run goes on, at its end and on Ctrl-C. Whenever a run
//! stops, even killed, the last checkpoint is a complete file.

use crate::soak::error::ShardError;
use crate::soak::seeds::SeedSet;
use crate::soak::summary::SummaryData;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Format tag of a checkpoint.
pub const FORMAT: &str = "norcompat-soak-tally/1";

/// File-name prefix and extension of a checkpoint (`tally` + shard suffix + `.json`).
pub const PREFIX: &str = "tally";
pub const EXTENSION: &str = ".json";

/// Which trials a seed stands for: every chain of these scenarios among
/// these versions (empty: all models), through real builds if `real`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selection {
    pub scenarios: Vec<String>,
    pub versions: Vec<String>,
    pub real: bool,
}

/// One shard's checkpoint.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Always [`FORMAT`].
    pub format: String,
    /// `K/N`.
    pub shard: String,
    pub selection: Selection,
    /// RFC 3339 start of the run.
    pub started: String,
    /// Seconds the run had been going at this checkpoint.
    pub elapsed_s: f64,
    /// True once the run has ended (all its seeds, its time, or Ctrl-C);
    /// false while it goes on, or if it was killed.
    pub finished: bool,
    /// The seeds whose trials the summary counts (each seed: every trial of
    /// the selection), and whose unexpected trials and details are in the
    /// shard's JSON-lines files.
    pub seeds: SeedSet,
    #[serde(flatten)]
    pub summary: SummaryData,
}

/// The shard suffix of a checkpoint's file name (`""` or
/// `.shard-K-of-N`), if `name` is one.
pub fn suffix_of(name: &str) -> Option<&str> {
    name.strip_prefix(PREFIX)?.strip_suffix(EXTENSION)
}

impl Checkpoint {
    /// Replaces `path` with this checkpoint, atomically and synced.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let json = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        reports::write_atomically(path, &json)
    }

    /// Reads a checkpoint; a truncated, corrupt or foreign file is an error
    /// naming it and what was expected.
    pub fn load(path: &Path) -> Result<Checkpoint, ShardError> {
        let bad = |problem: String| ShardError::Tally {
            path: path.to_path_buf(),
            problem,
            expected: FORMAT,
        };
        let text = std::fs::read(path)
            .map_err(|e| crate::definitions::file_error::ReadError::io(path, e))?;
        let c: Checkpoint = serde_json::from_slice(&text).map_err(|e| {
            let problem = if e.is_eof() {
                format!("the file ends early (at byte {})", text.len())
            } else {
                format!("line {} column {}: {e}", e.line(), e.column())
            };
            bad(problem)
        })?;
        if c.format != FORMAT {
            return Err(bad(format!("format {:?}", c.format)));
        }
        for r in &c.seeds.0 {
            r.check().map_err(&bad)?;
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soak::seeds::SeedRange;

    #[test]
    fn a_truncated_corrupt_or_foreign_checkpoint_is_an_error_naming_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("tally.shard-2-of-3.json");
        let c = Checkpoint {
            format: FORMAT.into(),
            shard: "2/3".into(),
            seeds: SeedSet(vec![SeedRange {
                first: 41,
                step: 3,
                count: 5,
            }]),
            ..Checkpoint::default()
        };
        c.save(&path).expect("save");
        assert_eq!(Checkpoint::load(&path).expect("load"), c);
        let whole = std::fs::read(&path).expect("read");

        std::fs::write(&path, &whole[..whole.len() / 2]).expect("write");
        let e = Checkpoint::load(&path).unwrap_err().to_string();
        assert!(
            e.contains("tally.shard-2-of-3.json: the file ends early"),
            "{e}"
        );
        assert!(e.contains(FORMAT), "{e}");

        std::fs::write(&path, b"{\"format\": 7}").expect("write");
        let e = Checkpoint::load(&path).unwrap_err().to_string();
        assert!(e.contains("line 1 column"), "{e}");

        let other = String::from_utf8(whole.clone())
            .expect("utf-8")
            .replace(FORMAT, "norcompat-soak-tally/0");
        std::fs::write(&path, other).expect("write");
        let e = Checkpoint::load(&path).unwrap_err().to_string();
        assert!(e.contains("format \"norcompat-soak-tally/0\""), "{e}");

        let zero_step = String::from_utf8(whole)
            .expect("utf-8")
            .replace("\"step\":3", "\"step\":0");
        std::fs::write(&path, zero_step).expect("write");
        let e = Checkpoint::load(&path).unwrap_err().to_string();
        assert!(e.contains("step 0: expected a step from 1"), "{e}");
    }

    #[test]
    fn checkpoint_names_give_their_shard_suffix() {
        assert_eq!(suffix_of("tally.json"), Some(""));
        assert_eq!(suffix_of("tally.shard-1-of-4.json"), Some(".shard-1-of-4"));
        assert_eq!(suffix_of("trials.jsonl"), None);
        assert_eq!(suffix_of(".tally.json.12.0.tmp"), None);
    }
}
