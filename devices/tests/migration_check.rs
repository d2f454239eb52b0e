//! `-dump-vmstate` of v5 equals QEMU 7.2.22's (shared/spec/migration.md §9,
//! pflash-cfi01.md §15.2), and the static checker's findings between
//! releases.

mod migration_support;

use devices::migration::check::{check, dump_entries, dump_json, dump_value};
use devices::migration::compat::NOR_5_0;
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
        r.findings,
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
        r.findings,
        vec![
            "Section \"cfi.pflash01\" Description \"pflash_cfi01\": Entry \"Subsections\" missing"
        ]
    );
    assert_eq!(r.exit_status(), 1);
}
