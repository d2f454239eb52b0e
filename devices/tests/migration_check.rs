//! `-dump-vmstate` of v5 equals QEMU 7.2.22's (shared/spec/migration.md §9,
//! pflash-cfi01.md §15.2), and the static checker's findings between
//! releases.

mod migration_support;

use devices::catalogue::compat::NOR_5_0;
use devices::migration::check::{check, dump_entries, dump_json, dump_value};
use migration_support::*;
use serde_json::json;

/// QEMU 7.2.22's `-dump-vmstate` text for a machine with cfi01 and cfi02
/// flashes (there is no `cfi.pflash02` entry), machine name aside.
const QEMU_7_2_22_PFLASH: &str = r#"{
  "vmschkmachine": {
    "Name": "nor-5.0"
  },
  "cfi.pflash01": {
    "Name": "cfi.pflash01",
    "version_id": 1,
    "minimum_version_id": 1,
    "Description": {
      "name": "pflash_cfi01",
      "version_id": 1,
      "minimum_version_id": 1,
      "Fields": [
        {
          "field": "wcycle",
          "version_id": 0,
          "field_exists": false,
          "size": 1
        },
        {
          "field": "cmd",
          "version_id": 0,
          "field_exists": false,
          "size": 1
        },
        {
          "field": "status",
          "version_id": 0,
          "field_exists": false,
          "size": 1
        },
        {
          "field": "counter",
          "version_id": 0,
          "field_exists": false,
          "size": 8
        }
      ],
      "Subsections": [
        {
          "name": "pflash_cfi01_blk_write",
          "version_id": 1,
          "minimum_version_id": 1,
          "Fields": [
            {
              "field": "blk_bytes",
              "version_id": 0,
              "field_exists": false,
              "size": 0
            },
            {
              "field": "blk_offset",
              "version_id": 0,
              "field_exists": false,
              "size": 4
            }
          ]
        }
      ]
    }
  }
}
"#;

fn v5_devices() -> Vec<Box<dyn devices::FlashDevice>> {
    [VIRT_FLASH0, SMALL_CFI02, SMALL_CFI01_LEGACY]
        .iter()
        .map(|s| device(&spec(s), 0xFF))
        .collect()
}

#[test]
fn v5_dump_is_qemu_7_2_22s_text() {
    let devs = v5_devices();
    let refs: Vec<&dyn devices::FlashDevice> = devs.iter().map(|d| d.as_ref()).collect();
    assert_eq!(dump_json(NOR_5_0, &dump_entries(&refs)), QEMU_7_2_22_PFLASH);
}

#[test]
fn v5_dump_has_qemus_structure() {
    let devs = v5_devices();
    let refs: Vec<&dyn devices::FlashDevice> = devs.iter().map(|d| d.as_ref()).collect();
    let dump = dump_value(NOR_5_0, &refs);
    let field = |name: &str, size: u64| json!({"field": name, "version_id": 0, "field_exists": false, "size": size});
    assert_eq!(
        dump,
        json!({
            "vmschkmachine": {"Name": "nor-5.0"},
            "cfi.pflash01": {
                "Name": "cfi.pflash01", "version_id": 1, "minimum_version_id": 1,
                "Description": {
                    "name": "pflash_cfi01", "version_id": 1, "minimum_version_id": 1,
                    "Fields": [field("wcycle", 1), field("cmd", 1), field("status", 1),
                               field("counter", 8)],
                    "Subsections": [{
                        "name": "pflash_cfi01_blk_write", "version_id": 1,
                        "minimum_version_id": 1,
                        "Fields": [field("blk_bytes", 0), field("blk_offset", 4)],
                    }],
                },
            },
        })
    );
}

#[test]
fn v5_against_itself_and_a_machine_without_pflash() {
    let devs = v5_devices();
    let refs: Vec<&dyn devices::FlashDevice> = devs.iter().map(|d| d.as_ref()).collect();
    let dump = dump_value(NOR_5_0, &refs);
    let same = check(&dump, &dump, false).unwrap();
    assert!(same.findings.is_empty() && same.warnings.is_empty());
    // The historic finding of a build without the pflash VMState (§9).
    let mut without = dump.clone();
    without["cfi.pflash01"]
        .as_object_mut()
        .unwrap()
        .remove("Description");
    let r = check(&dump, &without, false).unwrap();
    assert_eq!(
        r.messages(),
        vec!["Section \"cfi.pflash01\": Entry \"Description\" missing"]
    );
    // A QEMU without the blk_write backport as destination.
    let mut old = dump.clone();
    old["cfi.pflash01"]["Description"]
        .as_object_mut()
        .unwrap()
        .remove("Subsections");
    let r = check(&dump, &old, false).unwrap();
    assert_eq!(
        r.messages(),
        vec![
            "Section \"cfi.pflash01\" Description \"pflash_cfi01\": Entry \"Subsections\" missing"
        ]
    );
    assert_eq!(r.exit_status(), 1);
}

/// The dump of a v5 board's flash types on `release` under `machine_type`.
fn dump_of(v6_release: bool, machine_type: &str) -> serde_json::Value {
    use devices::catalogue::compat::{spec_for_machine_type, V6_CFI01_TYPE, V6_CFI02_TYPE};
    let specs: Vec<devices::DeviceSpec> =
        [(SMALL_CFI01, V6_CFI01_TYPE), (SMALL_CFI02, V6_CFI02_TYPE)]
            .iter()
            .map(|(s, t)| {
                let s = spec(s);
                if v6_release {
                    spec_for_machine_type(&s.with_type(t), machine_type)
                } else {
                    s
                }
            })
            .collect();
    let devs: Vec<_> = specs.iter().map(|s| device(s, 0xFF)).collect();
    let refs: Vec<&dyn devices::FlashDevice> = devs.iter().map(|d| d.as_ref()).collect();
    dump_value(machine_type, &refs)
}

#[test]
fn v6_dumps_show_what_each_machine_type_emits_and_loads() {
    let v6 = dump_of(true, "nor-6.0");
    let cfi01 = &v6["parallel-nor-cfi01-flash"];
    assert_eq!(cfi01["Description"]["name"], "parallel-nor-cfi01-flash");
    assert_eq!(
        cfi01["Description"]["Subsections"][0]["name"],
        "parallel-nor-cfi01-flash/write-buffer"
    );
    assert_eq!(cfi01["x-loads"][0]["name"], "pflash_cfi01");
    assert_eq!(
        v6["parallel-nor-cfi02-flash"]["Description"]["Subsections"][0]["name"],
        "parallel-nor-cfi02-flash/erase"
    );
    let compat5 = dump_of(true, "nor-5.0");
    // Under nor-5.0 the v6 cfi01 emits v5's description, field for field.
    assert_eq!(
        compat5["parallel-nor-cfi01-flash"]["Description"],
        dump_of(false, "nor-5.0")["cfi.pflash01"]["Description"]
    );
    // ... and cfi02 emits nothing, but still loads its new section.
    let cfi02 = &compat5["parallel-nor-cfi02-flash"];
    assert!(cfi02.get("Description").is_none());
    assert_eq!(cfi02["x-loads"][0]["name"], "parallel-nor-cfi02-flash");
}

#[test]
fn static_checker_predicts_which_directions_are_refused() {
    let v5 = dump_of(false, "nor-5.0");
    let v6 = dump_of(true, "nor-6.0");
    let v6c5 = dump_of(true, "nor-5.0");
    // Forward: v6 registers a loader under v5's name.
    let r = check(&v5, &v6, false).unwrap();
    assert!(r.findings.is_empty(), "{:?}", r.findings);
    assert_eq!(
        r.warnings,
        vec!["Warning: checking incompatible machine types: \"nor-5.0\", \"nor-6.0\""]
    );
    // Backward under nor-6.0: v5 knows neither new section.
    let expected_backward = vec![
        "Section \"parallel-nor-cfi01-flash\": Description \"parallel-nor-cfi01-flash\" \
         missing, got \"pflash_cfi01\" instead; skipping",
        "Section \"parallel-nor-cfi02-flash\" does not exist in dest",
    ];
    let r = check(&v6, &v5, false).unwrap();
    assert_eq!(r.messages(), expected_backward);
    assert_eq!(r.exit_status(), 2);
    assert_eq!(check(&v5, &v6, true).unwrap().messages(), expected_backward);
    // Backward through the compat machine type: nothing v5 cannot parse.
    let r = check(&v6c5, &v5, false).unwrap();
    assert!(r.findings.is_empty(), "{:?}", r.findings);
    assert!(r.warnings.is_empty());
    assert!(check(&v5, &v6c5, false).unwrap().findings.is_empty());
    // Between v6's two machine types both ways.
    assert!(check(&v6, &v6c5, false).unwrap().findings.is_empty());
    assert!(check(&v6c5, &v6, false).unwrap().findings.is_empty());
}
