//! The optional per-trial log (`--trial-log`): every trial's record as a
//! JSON line, gzip-compressed. It is sync-flushed at every checkpoint, so a
//! run killed at any moment leaves a log whose prefix up to the last flush
//! decompresses; [`crate::soak::jsonl::read_jsonl`] reads it and stops at
//! the truncated tail.

use flate2::write::GzEncoder;
use flate2::Compression;
use reports::results::TrialRecord;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// A gzip-compressed JSON-lines file of trial records, being written.
pub struct TrialLog {
    path: PathBuf,
    gz: GzEncoder<BufWriter<File>>,
}

impl TrialLog {
    /// Creates (or truncates) the log at `path`.
    pub fn create(path: &Path) -> std::io::Result<TrialLog> {
        let file = File::create(path)?;
        Ok(TrialLog {
            path: path.to_path_buf(),
            gz: GzEncoder::new(BufWriter::new(file), Compression::default()),
        })
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record as a line (buffered until the next flush).
    pub fn append(&mut self, r: &TrialRecord) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(r).map_err(std::io::Error::other)?;
        line.push(b'\n');
        self.gz.write_all(&line)
    }

    /// Ends the compressed data written so far on a byte boundary (a
    /// deflate sync flush) and hands it to the file: everything appended
    /// until now decompresses even if the process dies next.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.gz.flush()
    }

    /// Writes the gzip trailer and syncs the file.
    pub fn finish(self) -> std::io::Result<()> {
        let file = self.gz.finish()?.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()
    }
}
