//! `norcompat merge`: soak shards merged into one report, identical to the
//! report of a single run.

use crate::definitions::file_error::ReadError;
use crate::definitions::project::Project;
use crate::results::records::{static_checks, CellTally, Listed};
use crate::soak::jsonl::{read_jsonl, ShardError};
use reports::results::{FailureDetail, TrialRecord};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// `norcompat merge DIR…`: joins shard results into one results file and report.
pub fn merge(
    project: &Project,
    dirs: &[PathBuf],
    out: &Path,
) -> Result<reports::Results, ShardError> {
    let mut tally = CellTally::new(project);
    let mut kept = Listed::default();
    let mut details = Vec::new();
    let mut shards = Vec::new();
    let mut seen = BTreeSet::new();
    let mut duration: f64 = 0.0;
    let mut scenarios = BTreeSet::new();
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
            if name.starts_with("trials") && name.ends_with(".jsonl") {
                shards.push(f.display().to_string());
                for r in read_jsonl::<TrialRecord>(&f)? {
                    // The same trial twice (overlapping shards) counts once.
                    if seen.insert((r.scenario.clone(), r.chain.clone(), r.seed)) {
                        scenarios.insert(r.scenario.clone());
                        tally.add(&r);
                        kept.add(&r);
                    }
                }
            } else if name.starts_with("details") && name.ends_with(".jsonl") {
                details.extend(read_jsonl::<FailureDetail>(&f)?);
            } else if name.starts_with("soak") && name.ends_with(".json") {
                // A shard's summary is written once its run ends: a run
                // killed before has none, but one that exists must read.
                let text = std::fs::read_to_string(&f).map_err(|source| io(&f, source))?;
                let r: reports::Results =
                    serde_json::from_str(&text).map_err(|e| ReadError::json(&f, e.line(), &e))?;
                duration = duration.max(r.run.duration_s);
            }
        }
    }
    if shards.is_empty() {
        return Err(ShardError::NoShards {
            dirs: dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    // Keep one detail per (scenario, chain, seed).
    let mut dseen = BTreeSet::new();
    details.retain(|d| dseen.insert((d.scenario.clone(), d.chain.clone(), d.seed)));
    let mut run = crate::results::run_info::run_info(
        "merge",
        &project.root,
        format!("{} trials from {} shard file(s)", seen.len(), shards.len()),
        scenarios.into_iter().collect(),
        &crate::results::run_info::now_rfc3339(),
        duration,
    );
    run.shards = shards;
    let results = crate::results::records::assemble(
        project,
        tally,
        kept.into_records(),
        details,
        run,
        static_checks(project),
    );
    std::fs::create_dir_all(out).map_err(|source| io(out, source))?;
    Ok(results)
}

fn io(path: &Path, source: std::io::Error) -> ShardError {
    ReadError::io(path, source).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seed: u64) -> String {
        serde_json::to_string(&reports::results::TrialRecord {
            scenario: "cfi01-program".into(),
            chain: vec!["v5".into(), "v6".into()],
            seed,
            outcome: Some(reports::Outcome::Identical),
            expected: true,
            ..Default::default()
        })
        .expect("a record serializes")
    }

    fn project() -> Project {
        Project::load(&crate::definitions::project::default_root()).expect("project")
    }

    #[test]
    fn a_run_killed_mid_line_still_merges_and_a_corrupt_line_is_an_error_naming_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = tempfile::tempdir().expect("temp dir");
        let shard = dir.path().join("trials-0.jsonl");
        let torn = format!("{}\n{}\n{{\"scenario\": \"cfi0", record(0), record(1));
        std::fs::write(&shard, torn).expect("write");
        let r = merge(&project(), &[dir.path().to_path_buf()], out.path()).expect("merges");
        assert!(r.run.seeds.starts_with("2 trials"), "{}", r.run.seeds);

        let corrupt = format!("{}\nnot json\n{}\n", record(0), record(1));
        std::fs::write(&shard, corrupt).expect("write");
        let e = merge(&project(), &[dir.path().to_path_buf()], out.path())
            .unwrap_err()
            .to_string();
        assert!(e.contains("trials-0.jsonl:2:"), "{e}");
    }

    #[test]
    fn an_unreadable_shard_summary_is_an_error_not_skipped() {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("trials-0.jsonl"), record(0) + "\n").expect("write");
        std::fs::write(dir.path().join("soak-0.json"), "{ truncated").expect("write");
        let e = merge(&project(), &[dir.path().to_path_buf()], out.path())
            .unwrap_err()
            .to_string();
        assert!(e.contains("soak-0.json:1:"), "{e}");
    }
}
