//! Conformance with real QEMU 7.2.22: op lists recorded with the qtest oracle
//! (tests/data/qemu, see its README) replayed on the v5 devices — and on v6
//! where no migration happens — must give the same read values in op order
//! and the same final backing image.

use devices::{BlockBackend, DeviceSpec};
use harness::generation::ops::parse_ops;
use harness::running::replay::replay;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The flash configuration of each recorded board (spec/boards.md).
const BOARDS: &[(&str, &str)] = &[
    (
        "virt",
        "cfi.pflash01,name=virt.flash0,num-blocks=256,sector-length=0x40000,width=4,device-width=2,id0=0x89,id1=0x18",
    ),
    (
        "versatilepb",
        "cfi.pflash01,name=versatile.flash,num-blocks=256,sector-length=0x40000,width=4,id0=0x89,id1=0x18",
    ),
    (
        "musicpal",
        "cfi.pflash02,name=musicpal.flash,num-blocks=128,sector-length=0x10000,width=2,mappings=4,id0=0xBF,id1=0x236D,unlock-addr0=0x5555,unlock-addr1=0x2AAA",
    ),
    (
        "xilinx-zynq-a9",
        "cfi.pflash02,name=zynq.pflash,num-blocks=512,sector-length=0x20000,width=1,id0=0x66,id1=0x22,unlock-addr0=0x555,unlock-addr1=0x2AA",
    ),
];

/// The v6 type standing in for each v5 type.
const V6_TYPES: &[(&str, &str)] = &[
    ("cfi.pflash01", "parallel-nor-cfi01-flash"),
    ("cfi.pflash02", "parallel-nor-cfi02-flash"),
];

/// The recorded traces: tests/data/qemu, or the directory named by
/// `NORCOMPAT_QEMU_TRACES` (freshly recorded ones, see the data README).
fn data_dir() -> PathBuf {
    match std::env::var_os("NORCOMPAT_QEMU_TRACES") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/qemu"),
    }
}

fn traces() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(data_dir())
        .expect("tests/data/qemu exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".trace.json"))
        .collect();
    v.sort();
    v
}

/// Replays one recorded trace on `type_map`-substituted devices; returns a
/// description of the first difference.
fn check(trace_path: &Path, v6: bool) -> Result<bool, String> {
    let trace: Value = serde_json::from_str(&std::fs::read_to_string(trace_path).unwrap()).unwrap();
    let machine = trace["machine"].as_str().unwrap_or_default();
    let Some((_, spec)) = BOARDS.iter().find(|(m, _)| *m == machine) else {
        return Err(format!(
            "{}: unknown machine '{machine}'",
            trace_path.display()
        ));
    };
    let mut spec = DeviceSpec::parse(spec).unwrap();
    if v6 {
        let Some((_, t)) = V6_TYPES.iter().find(|(a, _)| *a == spec.type_name) else {
            return Ok(false);
        };
        spec = spec.with_type(t);
    }
    let ops_path = PathBuf::from(
        trace_path
            .to_string_lossy()
            .replace(".trace.json", ".ops.json"),
    );
    let text =
        std::fs::read_to_string(&ops_path).map_err(|e| format!("{}: {e}", ops_path.display()))?;
    let name = ops_path.display().to_string();
    let size = devices::image_size(&spec).map_err(|e| e.to_string())?;
    let window = devices::window_size(&spec).map_err(|e| e.to_string())?;
    let ops = parse_ops(&text, &name, window).map_err(|e| e.to_string())?;
    if v6
        && ops
            .iter()
            .any(|o| matches!(o, harness::generation::ops::TrialOp::Migrate { .. }))
    {
        // v6 migrates losslessly where QEMU 7.2.22 loses state.
        return Ok(false);
    }
    let fill = trace["fill"]
        .as_str()
        .and_then(devices::props::parse_int)
        .unwrap_or(0xFF) as u8;
    let out =
        replay(&spec, BlockBackend::memory(size, fill, true), &ops).map_err(|e| e.to_string())?;
    let want = trace["trace"].as_array().cloned().unwrap_or_default();
    if want.len() != out.trace.len() {
        return Err(format!(
            "{name}: QEMU's trace has {} entries, {} gave {}",
            want.len(),
            spec.type_name,
            out.trace.len()
        ));
    }
    for (entry, got) in want.iter().zip(&out.trace) {
        if entry["op"] == "read" && entry["val"] != got["val"] {
            return Err(format!(
                "{}: op {} ({} addr {} width {}): QEMU read {}, {} read {}",
                name,
                entry["i"],
                entry["op"],
                entry["addr"],
                entry["width"],
                entry["val"],
                spec.type_name,
                got["val"]
            ));
        }
    }
    if let (Some(want), Some(got)) = (trace["image_sha256"].as_str(), out.image_sha256.as_deref()) {
        if want != got {
            return Err(format!(
                "{name}: final backing image differs from QEMU's ({want} vs {got})"
            ));
        }
    }
    Ok(true)
}

fn run_all(v6: bool) {
    let files = traces();
    assert!(
        files.len() >= 8,
        "expected recorded QEMU traces in {}",
        data_dir().display()
    );
    let mut failures = Vec::new();
    let mut checked = 0;
    for f in &files {
        match check(f, v6) {
            Ok(true) => checked += 1,
            Ok(false) => {}
            Err(e) => failures.push(e),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} traces differ from QEMU 7.2.22:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
    assert!(checked > 0, "no trace was checked");
    eprintln!("{checked} traces agree with QEMU 7.2.22");
}

#[test]
fn v5_agrees_with_qemu_read_for_read() {
    run_all(false);
}

#[test]
fn v6_agrees_with_qemu_read_for_read_without_migration() {
    run_all(true);
}
