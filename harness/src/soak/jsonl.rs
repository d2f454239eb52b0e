//! JSON lines: one record appended and flushed at a time, so a run killed
//! at any moment leaves every finished record readable; reading tolerates
//! a torn last line (and, for a gzip-compressed `.gz` file, a truncated
//! compressed tail) and names the line of any other bad one.

use crate::definitions::file_error::ReadError;
use crate::soak::error::ShardError;
use std::fs::File;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::path::Path;

pub fn append_line(file: &mut File, value: &impl serde::Serialize) -> std::io::Result<()> {
    // One write per complete line: a kill leaves at most a missing line,
    // never a torn one in the middle of the file.
    let mut line = serde_json::to_vec(value).map_err(std::io::Error::other)?;
    line.push(b'\n');
    file.write_all(&line)
}

/// Reads a JSON-lines file, ignoring a torn last line (a killed writer). A
/// file named `*.gz` is decompressed; its data may end without the gzip
/// trailer, or inside a compressed block (a killed writer): the lines
/// before that are read.
pub fn read_jsonl<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>, ShardError> {
    let file = File::open(path).map_err(|e| ReadError::io(path, e))?;
    let gz = path.extension().is_some_and(|x| x == "gz");
    let reader: Box<dyn Read> = if gz {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let mut lines = BufReader::new(reader).lines();
    let mut out = Vec::new();
    let mut number = 0;
    let mut next = lines.next();
    while let Some(line) = next {
        number += 1;
        let line = match line {
            Ok(line) => line,
            Err(e) if gz && e.kind() == ErrorKind::UnexpectedEof => {
                eprintln!(
                    "warning: {}: compressed data ends early after line {} (a killed run); \
                     reading the lines before",
                    path.display(),
                    number - 1
                );
                break;
            }
            Err(e) => return Err(ReadError::io(path, e).into()),
        };
        next = lines.next();
        if line.trim().is_empty() {
            continue;
        }
        // The last line of the file, or of what a truncated gzip stream
        // holds, may be torn.
        let last = next.as_ref().is_none_or(|n| {
            gz && n
                .as_ref()
                .is_err_and(|e| e.kind() == ErrorKind::UnexpectedEof)
        });
        match serde_json::from_str(&line) {
            Ok(v) => out.push(v),
            Err(_) if last => {
                eprintln!(
                    "warning: {}:{number}: ignoring an incomplete last line",
                    path.display()
                )
            }
            Err(e) => return Err(ReadError::json(path, number, &e).into()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soak::trial_log::TrialLog;
    use reports::results::TrialRecord;

    fn record(seed: u64) -> TrialRecord {
        TrialRecord {
            scenario: "cfi01-program".into(),
            chain: vec!["v5".into(), "v6".into()],
            seed,
            outcome: Some(reports::Outcome::Identical),
            expected: true,
            ..Default::default()
        }
    }

    #[test]
    fn a_trial_log_cut_anywhere_reads_the_records_flushed_before_the_cut() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("trials.jsonl.gz");
        let mut log = TrialLog::create(&path).expect("create");
        let mut flushed_at = Vec::new();
        for seed in 0..40 {
            log.append(&record(seed)).expect("append");
            if seed % 10 == 9 {
                log.flush().expect("flush");
                let len = std::fs::metadata(&path).expect("size").len() as usize;
                flushed_at.push((len, seed + 1));
            }
        }
        log.finish().expect("finish");
        let whole = std::fs::read(&path).expect("read");
        let all: Vec<TrialRecord> = read_jsonl(&path).expect("whole log");
        assert_eq!(all.len(), 40);
        let cut = dir.path().join("cut.jsonl.gz");
        for len in 0..whole.len() {
            std::fs::write(&cut, &whole[..len]).expect("write");
            let got: Vec<TrialRecord> = match read_jsonl(&cut) {
                Ok(v) => v,
                Err(e) => panic!("cut at {len}: {e}"),
            };
            let flushed = flushed_at
                .iter()
                .filter(|(at, _)| *at <= len)
                .map(|(_, n)| *n)
                .max()
                .unwrap_or(0);
            assert!(got.len() as u64 >= flushed, "cut at {len}: {}", got.len());
            assert_eq!(got, all[..got.len()], "cut at {len}");
        }
    }
}
