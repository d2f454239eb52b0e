//! Why a soak directory cannot be merged; each error names the file and
//! what was expected of it.

use crate::definitions::file_error::ReadError;
use std::path::PathBuf;

/// Why soak output cannot be read or merged.
#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(
        "no tally*.json found in {dirs} (a soak directory holds one per shard{})",
        if *old_format { "; trials*.jsonl without one are from a soak before tallies: merge them with that version" } else { "" }
    )]
    NoShards { dirs: String, old_format: bool },
    #[error("{}: {problem}; expected a soak tally of format {expected}", path.display())]
    Tally {
        path: PathBuf,
        problem: String,
        expected: &'static str,
    },
    #[error(
        "{} and {} both count the trials of {shared} seed(s), but not of all the same ones ({}): \
         a tally cannot be split, so merge only one of them, or directories whose seeds do not overlap",
        a.display(), b.display(), seeds
    )]
    Overlap {
        a: PathBuf,
        b: PathBuf,
        shared: u64,
        seeds: String,
    },
    #[error(
        "{}: holds {found} unexpected trial(s) of the seeds {} covers, which counts {counted}: \
         expected one line per unexpected trial (are they from different runs?)",
        path.display(), tally.display()
    )]
    Unexpected {
        path: PathBuf,
        tally: PathBuf,
        counted: u64,
        found: u64,
    },
}
