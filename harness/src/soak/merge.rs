//! `norcompat merge`: soak shards merged into one report, identical to the
//! report of a single run.
//!
//! Each shard directory holds a checkpoint per shard (`tally*.json`) and,
//! beside it, the unexpected trials and details of the same shard. Their
//! summaries add up. A tally cannot be split, so a trial counted by two
//! checkpoints (overlapping shard directories) is dealt with whole: a
//! checkpoint whose seeds another one of the same selection already covers
//! (the same shard twice, a copy, an earlier stage of the same run) is left
//! out with a warning; checkpoints that share only some of their trials are
//! an error naming both.

use crate::definitions::file_error::ReadError;
use crate::definitions::project::Project;
use crate::results::records::static_checks;
use crate::soak::checkpoint::{suffix_of, Checkpoint};
use crate::soak::error::ShardError;
use crate::soak::jsonl::read_jsonl;
use crate::soak::summary::Summary;
use reports::results::{FailureDetail, TrialRecord};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// File-name stems of a shard's JSON-lines files (stem + shard suffix + `.jsonl`).
pub const UNEXPECTED: &str = "unexpected";
pub const DETAILS: &str = "details";

/// A checkpoint found in a shard directory.
struct Found {
    path: PathBuf,
    dir: PathBuf,
    suffix: String,
    checkpoint: Checkpoint,
}

/// `norcompat merge DIR…`: joins shard results into one results file and report.
pub fn merge(
    project: &Project,
    dirs: &[PathBuf],
    out: &Path,
) -> Result<reports::Results, ShardError> {
    let mut found = Vec::new();
    let mut old_format = false;
    for dir in dirs {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|source| io(dir, source))?
            .map(|e| e.map(|e| e.path()).map_err(|source| io(dir, source)))
            .collect::<Result<_, _>>()?;
        files.sort();
        for f in files {
            let name = f
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            old_format |= name.starts_with("trials") && name.ends_with(".jsonl");
            if let Some(suffix) = suffix_of(&name) {
                found.push(Found {
                    checkpoint: Checkpoint::load(&f)?,
                    path: f,
                    dir: dir.clone(),
                    suffix: suffix.to_string(),
                });
            }
        }
    }
    if found.is_empty() {
        return Err(ShardError::NoShards {
            dirs: dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            old_format,
        });
    }
    let found = without_repeats(found)?;

    let mut summary = Summary::new(project);
    let mut unexpected = Vec::new();
    let mut details = Vec::new();
    let mut seen = BTreeSet::new();
    let mut scenarios = BTreeSet::new();
    let mut duration: f64 = 0.0;
    let mut seeds = 0;
    let mut cross_release = false;
    for f in &found {
        let c = &f.checkpoint;
        summary.absorb(&c.summary);
        duration = duration.max(c.elapsed_s);
        seeds += c.seeds.len();
        cross_release |= c.selection.real;
        scenarios.extend(c.selection.scenarios.iter().cloned());
        // Lines of seeds after the last checkpoint (a killed run) are not
        // in its summary: left out with them.
        let path = f.dir.join(format!("{UNEXPECTED}{}.jsonl", f.suffix));
        let records: Vec<TrialRecord> = read_if_present(&path)?
            .into_iter()
            .filter(|r: &TrialRecord| c.seeds.contains(r.seed))
            .filter(|r| seen.insert((r.scenario.clone(), r.chain.clone(), r.seed)))
            .collect();
        let counted: u64 = c.summary.tally.cells.iter().map(|c| c.unexpected).sum();
        if records.len() as u64 != counted {
            return Err(ShardError::Unexpected {
                path,
                tally: f.path.clone(),
                counted,
                found: records.len() as u64,
            });
        }
        unexpected.extend(records);
        let path = f.dir.join(format!("{DETAILS}{}.jsonl", f.suffix));
        details.extend(
            read_if_present::<FailureDetail>(&path)?
                .into_iter()
                .filter(|d| c.seeds.contains(d.seed)),
        );
    }
    // Keep one detail per (scenario, chain, seed).
    let mut dseen = BTreeSet::new();
    details.retain(|d| dseen.insert((d.scenario.clone(), d.chain.clone(), d.seed)));
    let mut run = crate::results::run_info::run_info(
        "merge",
        &project.root,
        format!(
            "{} trials of {seeds} seeds from {} shard checkpoint(s)",
            summary.trials(),
            found.len()
        ),
        scenarios.into_iter().collect(),
        &crate::results::run_info::now_rfc3339(),
        duration,
    );
    run.shards = found.iter().map(|f| f.path.display().to_string()).collect();
    let results = summary.results(
        unexpected,
        details,
        run,
        static_checks(project),
        cross_release,
    );
    std::fs::create_dir_all(out).map_err(|source| io(out, source))?;
    Ok(results)
}

/// The checkpoints without those whose trials others already count. The
/// largest come first, so a checkpoint is dropped only for one at least as
/// large; two that share some trials but not all are an error.
fn without_repeats(mut found: Vec<Found>) -> Result<Vec<Found>, ShardError> {
    found.sort_by(|x, y| {
        (y.checkpoint.seeds.len(), &x.path).cmp(&(x.checkpoint.seeds.len(), &y.path))
    });
    let mut kept: Vec<Found> = Vec::new();
    for f in found {
        let c = &f.checkpoint;
        let mut covered = 0;
        let mut first_shared = None;
        for (i, k) in kept.iter().enumerate() {
            let s = &k.checkpoint;
            let same_trials = c
                .selection
                .scenarios
                .iter()
                .any(|n| s.selection.scenarios.contains(n));
            let shared = if same_trials {
                c.seeds.shared(&s.seeds)
            } else {
                0
            };
            if shared == 0 {
                continue;
            }
            if s.selection != c.selection {
                return Err(overlap(k, &f, shared));
            }
            covered += shared;
            first_shared.get_or_insert(i);
        }
        match first_shared {
            None => kept.push(f),
            Some(i) if covered == c.seeds.len() => eprintln!(
                "warning: {}: its {} are already counted (by {}); left out",
                f.path.display(),
                c.seeds,
                kept[i].path.display()
            ),
            Some(i) => return Err(overlap(&kept[i], &f, covered)),
        }
    }
    Ok(kept)
}

fn overlap(a: &Found, b: &Found, shared: u64) -> ShardError {
    ShardError::Overlap {
        a: a.path.clone(),
        b: b.path.clone(),
        shared,
        seeds: format!("{} and {}", a.checkpoint.seeds, b.checkpoint.seeds),
    }
}

/// A shard's JSON-lines file; none if the run never wrote it.
fn read_if_present<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>, ShardError> {
    if path.exists() {
        read_jsonl(path)
    } else {
        Ok(Vec::new())
    }
}

fn io(path: &Path, source: std::io::Error) -> ShardError {
    ReadError::io(path, source).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soak::checkpoint::{Selection, FORMAT};
    use crate::soak::seeds::{SeedRange, SeedSet};

    fn project() -> Project {
        Project::load(&crate::definitions::project::default_root()).expect("project")
    }

    fn record(seed: u64, expected: bool) -> TrialRecord {
        TrialRecord {
            scenario: "cfi01-program".into(),
            chain: vec!["v5".into(), "v6".into()],
            seed,
            outcome: Some(if expected {
                reports::Outcome::Identical
            } else {
                reports::Outcome::Diverged
            }),
            expected,
            ..Default::default()
        }
    }

    /// A shard directory's checkpoint of `count` seeds from `first` (one
    /// trial each, those in `unexpected` unexpected), and its unexpected
    /// trials file holding `lines`.
    fn shard(dir: &Path, first: u64, count: u64, unexpected: &[u64], lines: &[u64]) {
        let project = project();
        let mut summary = Summary::new(&project);
        for seed in first..first + count {
            summary.add_trial(&record(seed, !unexpected.contains(&seed)));
        }
        let c = Checkpoint {
            format: FORMAT.into(),
            shard: "1/1".into(),
            selection: Selection {
                scenarios: vec!["cfi01-program".into()],
                ..Selection::default()
            },
            seeds: SeedSet(vec![SeedRange {
                first,
                step: 1,
                count,
            }]),
            summary: summary.data(),
            ..Checkpoint::default()
        };
        std::fs::create_dir_all(dir).expect("dir");
        c.save(&dir.join("tally.json")).expect("save");
        let text: String = lines
            .iter()
            .map(|s| serde_json::to_string(&record(*s, false)).expect("json") + "\n")
            .collect();
        std::fs::write(dir.join("unexpected.jsonl"), text).expect("write");
    }

    #[test]
    fn unexpected_trials_after_the_last_checkpoint_are_left_out_and_missing_ones_are_an_error() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path().join("a");
        // Seed 7 finished after the last checkpoint (seeds 0..=3).
        shard(&dir, 0, 4, &[2], &[2, 7]);
        let r = merge(&project(), std::slice::from_ref(&dir), tmp.path()).expect("merges");
        assert_eq!(r.run.trials, 4);
        let seeds: Vec<u64> = r.trials.iter().map(|t| t.seed).collect();
        assert_eq!(seeds, vec![2]);

        shard(&dir, 0, 4, &[2], &[]);
        let e = merge(&project(), &[dir], tmp.path())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("unexpected.jsonl: holds 0 unexpected trial(s)") && e.contains("counts 1"),
            "{e}"
        );
    }

    #[test]
    fn a_truncated_checkpoint_is_an_error_naming_it_never_skipped() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path().join("a");
        shard(&dir, 0, 4, &[], &[]);
        let tally = dir.join("tally.json");
        let whole = std::fs::read(&tally).expect("read");
        std::fs::write(&tally, &whole[..whole.len() - 10]).expect("write");
        let e = merge(&project(), &[dir], tmp.path())
            .unwrap_err()
            .to_string();
        assert!(e.contains("tally.json: the file ends early"), "{e}");
        assert!(e.contains("expected a soak tally"), "{e}");
    }

    #[test]
    fn a_checkpoint_given_twice_counts_once_and_a_partial_overlap_is_an_error() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let (a, copy, b) = (
            tmp.path().join("a"),
            tmp.path().join("copy"),
            tmp.path().join("b"),
        );
        shard(&a, 0, 10, &[3], &[3]);
        shard(&copy, 0, 6, &[3], &[3]);
        let r = merge(&project(), &[copy.clone(), a.clone()], tmp.path()).expect("merges");
        assert_eq!(r.run.trials, 10);
        assert_eq!(r.trials.len(), 1);
        assert_eq!(
            r.run.shards,
            vec![a.join("tally.json").display().to_string()]
        );

        shard(&b, 5, 10, &[], &[]);
        let e = merge(&project(), &[a.clone(), b.clone()], tmp.path())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&a.join("tally.json").display().to_string())
                && e.contains(&b.join("tally.json").display().to_string())
                && e.contains("the trials of 5 seed(s)"),
            "{e}"
        );

        shard(&b, 10, 10, &[], &[]);
        let r = merge(&project(), &[a, b], tmp.path()).expect("merges");
        assert_eq!(r.run.trials, 20);
    }
}
