//! JSON lines: one record appended and flushed at a time, so a run killed
//! at any moment leaves every finished record readable; reading tolerates
//! a torn last line and names the line of any other bad one.

use crate::definitions::file_error::ReadError;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

/// Why shard files cannot be read; each names the file (and line).
#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("no trials*.jsonl found in {dirs}")]
    NoShards { dirs: String },
}

pub fn append_line(file: &mut File, value: &impl serde::Serialize) -> std::io::Result<()> {
    // One write per complete line: a kill leaves at most a missing line,
    // never a torn one in the middle of the file.
    let mut line = serde_json::to_vec(value).map_err(std::io::Error::other)?;
    line.push(b'\n');
    file.write_all(&line)
}

/// Reads a JSON-lines file, ignoring a torn last line (a killed writer).
pub fn read_jsonl<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>, ShardError> {
    let f = OpenOptions::new()
        .read(true)
        .open(path)
        .map_err(|e| ReadError::io(path, e))?;
    let lines: Vec<String> = BufReader::new(f)
        .lines()
        .collect::<Result<_, _>>()
        .map_err(|e| ReadError::io(path, e))?;
    let mut out = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(line) {
            Ok(v) => out.push(v),
            Err(_) if i + 1 == lines.len() => {
                eprintln!(
                    "warning: {}:{}: ignoring an incomplete last line",
                    path.display(),
                    i + 1
                )
            }
            Err(e) => return Err(ReadError::json(path, i + 1, &e).into()),
        }
    }
    Ok(out)
}
