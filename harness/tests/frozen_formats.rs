//! Released wire formats are frozen: each model version's `-dump-vmstate`
//! output is a golden file under `harness/tests/data/vmstate/` (as QEMU keeps
//! `tests/data/vmstate-static-checker/`), and QEMU's static checker runs
//! between the golden and today's code in both directions. Any finding fails,
//! unless the golden was updated in the same change (regenerate it with the
//! command the failure prints, and the diff shows what changed on the wire).

use harness::definitions::project::{default_root, Project};
use harness::judging::frozen::{both_ways, check_project, golden_path};
use serde_json::Value;

#[test]
fn every_model_versions_wire_format_matches_its_golden_dump() {
    let project = Project::load(&default_root()).expect("project");
    let (checked, changed) = check_project(&project);
    let failures: Vec<String> = changed
        .iter()
        .map(|c| {
            format!(
                "{} ({}): the wire format changed:\n    {}\n  if that is intended, update the golden in the same change: {}",
                c.version,
                c.machine_type,
                c.findings.join("\n    "),
                c.regenerate
            )
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked >= 12, "only {checked} model versions checked");
}

#[test]
fn a_changed_section_version_is_a_finding_in_one_direction_or_the_other() {
    let text = std::fs::read_to_string(golden_path(&default_root(), "v5")).expect("v5's golden");
    let golden: Value = serde_json::from_str(&text).expect("JSON");
    let mut bumped = golden.clone();
    let section = bumped
        .as_object_mut()
        .and_then(|m| m.get_mut("cfi.pflash01"))
        .expect("v5 sends cfi.pflash01");
    let v = section["version_id"].as_u64().expect("a version");
    section["version_id"] = (v + 1).into();
    assert_eq!(both_ways(&golden, &golden).unwrap(), Vec::<String>::new());
    let findings = both_ways(&golden, &bumped).unwrap();
    assert!(
        findings.iter().any(|f| f.contains("version error")),
        "{findings:?}"
    );
}
