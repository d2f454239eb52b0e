//! The main job as a user runs it: on a clean clone nothing exists under
//! `target/norcompat` yet, so the report directory must be created.

use std::process::Command;

#[test]
fn the_main_job_creates_its_report_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("not/yet/there");
    let run = Command::new(env!("CARGO_BIN_EXE_norcompat"))
        .args([
            "matrix",
            "--scenario",
            "cfi01-program",
            "--seeds",
            "2",
            "--no-save",
        ])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(
        run.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let html = out.join("matrix.html");
    let json = out.join("matrix.json");
    assert!(
        stdout.contains(&format!("report: {}", html.display())),
        "{stdout}"
    );
    let html = std::fs::read_to_string(&html).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"), "rendered report");
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let trials = results["run"]["trials"].as_u64().unwrap();
    assert!(trials > 0, "the run recorded its trials: {trials}");
}
