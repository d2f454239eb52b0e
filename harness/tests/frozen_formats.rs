//! Released wire formats are frozen: each model version's `-dump-vmstate`
//! output is a golden file under `harness/tests/data/vmstate/` (as QEMU keeps
//! `tests/data/vmstate-static-checker/`), and QEMU's static checker runs
//! between the golden and today's code in both directions. Any finding fails,
//! unless the golden was updated in the same change (regenerate it with the
//! command the failure prints, and the diff shows what changed on the wire).

use devices::migration::check;
use harness::definitions::project::{default_root, Project};
use harness::judging::staticcheck::version_dump;
use serde_json::Value;
use std::path::PathBuf;

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/vmstate")
}

/// The findings of the checker from `a` to `b` and back.
fn both_ways(a: &Value, b: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for (dir, src, dst) in [("forward", a, b), ("backward", b, a)] {
        let r = check::check(src, dst, false).expect("dumps are objects");
        out.extend(r.messages().into_iter().map(|m| format!("{dir}: {m}")));
    }
    out
}

#[test]
fn every_model_versions_wire_format_matches_its_golden_dump() {
    let project = Project::load(&default_root()).expect("project");
    let mut failures = Vec::new();
    let mut checked = 0;
    for v in project.versions.iter().filter(|v| !v.is_real()) {
        let path = golden_dir().join(format!("{}.json", v.name));
        let regenerate = format!(
            "cargo run --release -- dump-vmstate {} -o harness/tests/data/vmstate/{}.json",
            v.name, v.name
        );
        let now: Value =
            serde_json::from_str(&version_dump(v).expect("a dump")).expect("a JSON dump");
        let Ok(text) = std::fs::read_to_string(&path) else {
            failures.push(format!(
                "{}: no golden dump; create it: {regenerate}",
                v.name
            ));
            continue;
        };
        let golden: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let findings = both_ways(&golden, &now);
        if !findings.is_empty() {
            failures.push(format!(
                "{} ({}): the wire format changed:\n    {}\n  if that is intended, update the golden in the same change: {regenerate}",
                v.name,
                v.machine_type,
                findings.join("\n    ")
            ));
        }
        checked += 1;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked >= 12, "only {checked} model versions checked");
}

#[test]
fn a_changed_section_version_is_a_finding_in_one_direction_or_the_other() {
    let text = std::fs::read_to_string(golden_dir().join("v5.json")).expect("v5's golden");
    let golden: Value = serde_json::from_str(&text).expect("JSON");
    let mut bumped = golden.clone();
    let section = bumped
        .as_object_mut()
        .and_then(|m| m.get_mut("cfi.pflash01"))
        .expect("v5 sends cfi.pflash01");
    let v = section["version_id"].as_u64().expect("a version");
    section["version_id"] = (v + 1).into();
    assert_eq!(both_ways(&golden, &golden), Vec::<String>::new());
    let findings = both_ways(&golden, &bumped);
    assert!(
        findings.iter().any(|f| f.contains("version error")),
        "{findings:?}"
    );
}
