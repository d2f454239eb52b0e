//! Shards run as separate processes and merged give exactly the results of
//! one run over the same seeds (cells, counts and every notable trial).

use reports::Results;
use std::path::Path;
use std::process::Command;

fn norcompat(args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_norcompat"))
        .args(args)
        .output()
        .expect("norcompat runs");
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "norcompat {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn load(path: &Path) -> Results {
    serde_json::from_str(&std::fs::read_to_string(path).expect("results file"))
        .expect("results JSON")
}

/// A trial record without its timings.
type Key = (
    String,
    Vec<String>,
    u64,
    Option<reports::Outcome>,
    bool,
    String,
);

/// Trial records without timings, sorted.
fn records(r: &Results) -> Vec<Key> {
    let mut v: Vec<Key> = r
        .trials
        .iter()
        .map(|t| {
            (
                t.scenario.clone(),
                t.chain.clone(),
                t.seed,
                t.outcome,
                t.expected,
                t.reason.clone(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn merged_shards_equal_a_single_run() {
    let tmp = tempfile::tempdir().unwrap();
    let single = tmp.path().join("single");
    let shards = tmp.path().join("shards");
    let common = [
        "soak",
        "--seeds",
        "9",
        "--seed-start",
        "40",
        "--scenario",
        "cfi01-program,cfi02-erase",
        "--jobs",
        "1",
        "--quiet",
    ];
    let mut args: Vec<&str> = common.to_vec();
    args.extend(["--out", single.to_str().unwrap()]);
    norcompat(&args);
    for k in ["1/3", "2/3", "3/3"] {
        let mut args: Vec<&str> = common.to_vec();
        args.extend(["--shard", k, "--out", shards.to_str().unwrap()]);
        norcompat(&args);
    }
    let merged = tmp.path().join("merged");
    norcompat(&[
        "merge",
        shards.to_str().unwrap(),
        "--out",
        merged.to_str().unwrap(),
    ]);

    let a = load(&single.join("soak.json"));
    let b = load(&merged.join("merged.json"));
    assert!(a.run.trials > 0);
    assert_eq!(a.run.trials, b.run.trials, "trial counts");
    assert_eq!(a.cells, b.cells, "matrix cells");
    assert_eq!(records(&a), records(&b), "notable trials");
    let details = |r: &Results| {
        r.details
            .iter()
            .map(|d| {
                (
                    d.scenario.clone(),
                    d.chain.clone(),
                    d.seed,
                    d.outcome,
                    d.reason.clone(),
                    d.ops.len(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert!(!a.details.is_empty(), "the run should have lossy examples");
    assert_eq!(details(&a), details(&b), "details");
}

#[test]
fn a_torn_last_line_is_ignored_and_other_damage_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("trials.jsonl");
    std::fs::write(&p, "{\"scenario\":\"x\",\"chain\":[\"v5\",\"v5\"],\"seed\":1,\"outcome\":\"identical\",\"expected\":true,\"reason\":\"\",\"ops\":3,\"timings\":{\"total_us\":1,\"migrate_us\":0}}\n{\"scen").unwrap();
    let v: Vec<reports::results::TrialRecord> = harness::soak::jsonl::read_jsonl(&p).unwrap();
    assert_eq!(v.len(), 1);
    std::fs::write(&p, "{\"scen\n{}\n").unwrap();
    let e = harness::soak::jsonl::read_jsonl::<reports::results::TrialRecord>(&p)
        .unwrap_err()
        .to_string();
    assert!(e.contains("trials.jsonl:1:"), "{e}");
}
