//! Soak shards as separate processes: merged, they give exactly the
//! results of one run over the same seeds (cells, counts, every notable
//! trial, the details and the behaviour cells), from their checkpoints; a
//! shard killed with SIGKILL mid-run merges from its last checkpoint (and
//! its trial log reads up to the last flush); without the trial log a
//! shard's output does not grow with its number of seeds.

use harness::soak::checkpoint::Checkpoint;
use harness::soak::jsonl::read_jsonl;
use reports::results::TrialRecord;
use reports::Results;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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
    assert_eq!(a.coverage, b.coverage, "coverage at migration points");
    assert_eq!(records(&a), records(&b), "notable trials");
    assert!(!a.behaviour.is_empty(), "the run should check behaviour");
    assert_eq!(a.behaviour, b.behaviour, "behaviour cells");
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

    // The single run's directory beside the shards': every shard's seeds
    // are already counted by the single run's checkpoint, so they count once.
    let twice = tmp.path().join("twice");
    norcompat(&[
        "merge",
        shards.to_str().unwrap(),
        single.to_str().unwrap(),
        "--out",
        twice.to_str().unwrap(),
    ]);
    let c = load(&twice.join("merged.json"));
    assert_eq!(
        a.run.trials, c.run.trials,
        "trial counts, shards given twice"
    );
    assert_eq!(a.cells, c.cells, "matrix cells, shards given twice");
    assert_eq!(c.run.shards.len(), 1, "{:?}", c.run.shards);
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

/// Bytes of every file below `dir`.
fn bytes_below(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .expect("output directory")
        .map(|e| e.expect("directory entry").path())
        .map(|p| {
            if p.is_dir() {
                bytes_below(&p)
            } else {
                std::fs::metadata(&p).expect("file size").len()
            }
        })
        .sum()
}

#[test]
fn a_soak_killed_with_sigkill_merges_from_its_last_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("killed");
    let mut child = Command::new(env!("CARGO_BIN_EXE_norcompat"))
        .args(["soak", "--duration", "10m", "--jobs", "1", "--quiet"])
        .args(["--scenario", "cfi01-program,cfi02-erase", "--trial-log"])
        .arg("--out")
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("norcompat starts");
    // Kill it once a checkpoint has counted some seeds and the run has
    // gone on past it (in the middle of the next second's seeds).
    let tally = dir.join("tally.json");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let ready =
            Checkpoint::load(&tally).is_ok_and(|c| c.summary.tally.trials > 0 && c.elapsed_s > 1.5);
        if ready {
            std::thread::sleep(Duration::from_millis(450));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no checkpoint with trials in 2 minutes"
        );
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");

    let last = Checkpoint::load(&tally).expect("the last checkpoint is whole");
    assert!(!last.finished, "killed, yet marked finished");
    assert!(
        !dir.join("soak.json").exists(),
        "a killed run has no report"
    );
    let merged = tmp.path().join("merged");
    norcompat(&[
        "merge",
        dir.to_str().unwrap(),
        "--out",
        merged.to_str().unwrap(),
    ]);
    let r = load(&merged.join("merged.json"));
    assert_eq!(r.run.trials, last.summary.tally.trials);
    assert_eq!(
        r.cells.iter().flat_map(|c| c.counts.values()).sum::<u64>(),
        last.summary.tally.trials
    );

    // The trial log is flushed before each checkpoint: its readable prefix
    // holds every trial the checkpoint counts.
    let log: Vec<TrialRecord> = read_jsonl(&dir.join("trials.jsonl.gz")).expect("trial log");
    let logged = log.iter().filter(|t| last.seeds.contains(t.seed)).count() as u64;
    assert_eq!(logged, last.summary.tally.trials);
}

/// Bytes one more trial would add if the output held a line per trial (a
/// trial record is about 200 bytes of JSON).
const BYTES_PER_TRIAL_LINE: u64 = 100;

/// How much the output may differ between runs of different lengths (the
/// digits of counts and times).
const SLACK: u64 = 4096;

#[test]
fn output_without_the_trial_log_does_not_grow_with_the_seeds() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |seeds: u64| {
        let dir = tmp.path().join(format!("seeds-{seeds}"));
        let seeds = seeds.to_string();
        norcompat(&[
            "soak",
            "--seeds",
            &seeds,
            "--jobs",
            "1",
            "--quiet",
            "--scenario",
            "cfi01-program",
            "--out",
            dir.to_str().unwrap(),
        ]);
        (bytes_below(&dir), load(&dir.join("soak.json")).run.trials)
    };
    // 50 seeds already find every kind of listed example of the scenario.
    let (small, small_trials) = run(50);
    let (large, large_trials) = run(200);
    let added = large_trials - small_trials;
    assert!(
        added * BYTES_PER_TRIAL_LINE > 10 * SLACK,
        "too few trials to tell: {added}"
    );
    assert!(
        large <= small + SLACK,
        "{large_trials} trials wrote {large} bytes, {small_trials} trials {small} bytes"
    );
}
