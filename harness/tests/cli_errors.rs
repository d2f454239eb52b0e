//! Bad input to `norcompat replay` gives one clear error line naming the op
//! or property and what was expected, exit status 2, and never a panic.

use std::io::Write;
use std::process::Command;

const VIRT: &str =
    "cfi.pflash01,name=virt.flash0,num-blocks=256,sector-length=0x40000,width=4,device-width=2";

fn replay(device: &str, ops: &str) -> (i32, String, String) {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(ops.as_bytes()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_norcompat"))
        .args(["replay", "--device", device])
        .arg(f.path())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_error(device: &str, ops: &str, needle: &str) {
    let (code, stdout, stderr) = replay(device, ops);
    assert_eq!(code, 2, "exit status for {device} {ops}: {stderr}");
    assert!(stdout.is_empty(), "no half-written trace: {stdout}");
    assert!(stderr.contains(needle), "expected '{needle}' in: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one error line: {stderr}");
}

#[test]
fn unknown_type_and_property() {
    assert_error(
        "cfi.pflash03,name=x",
        "[]",
        "'cfi.pflash03' is not a valid device model name",
    );
    assert_error(
        &format!("{VIRT},colour=red"),
        "[]",
        "Property 'cfi.pflash01.colour' not found",
    );
    assert_error(
        &format!("{VIRT},id0=0x10000"),
        "[]",
        "out of range for uint16",
    );
}

#[test]
fn invalid_geometry_uses_qemus_messages() {
    assert_error(
        "cfi.pflash01,name=x,num-blocks=4",
        "[]",
        "attribute \"sector-length\" not specified or zero.",
    );
    assert_error(
        "cfi.pflash02,name=x,num-blocks=4,sector-length=0x10000,num-blocks0=2,sector-length0=0x1800",
        "[]",
        "unsupported configuration: sector length[0] per device = 1800.",
    );
}

#[test]
fn malformed_op_lists_name_the_op() {
    assert_error(VIRT, "[{\"op\":\"read\"", "malformed JSON at line 1");
    assert_error(
        VIRT,
        r#"[{"op":"reset"},{"op":"read","addr":0,"width":3}]"#,
        "op 1: 'width' must be 1, 2, 4 or 8, got 3",
    );
    assert_error(
        VIRT,
        r#"[{"op":"read","addr":"0x4000000","width":4}]"#,
        "op 0: address 0x4000000 (width 4) lies outside the device window",
    );
    assert_error(VIRT, r#"[{"op":"fly"}]"#, "op 0: unknown op 'fly'");
}

#[test]
fn good_input_gives_one_trace_entry_per_op() {
    let (code, stdout, stderr) = replay(
        VIRT,
        r#"[{"op":"write","addr":0,"width":4,"val":"0x00980098"},{"op":"read","addr":"0x40","width":4},{"op":"migrate"},{"op":"read","addr":"0x40","width":4}]"#,
    );
    assert_eq!(code, 0, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let trace = v["trace"].as_array().unwrap();
    assert_eq!(trace.len(), 4);
    // CFI 'Q' in each x16 lane; after a QEMU 7.2.22 migration ROMD is back on
    // and the (erased) array shows through (spec cfi01 §15.4).
    assert_eq!(trace[1]["val"], 0x0051_0051);
    assert_eq!(trace[3]["val"], 0xFFFF_FFFFu64);
}
