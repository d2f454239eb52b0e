//! The differences between QEMU 7.2.22 and QEMU 10.0.13 that the
//! behaviour check must find, each on a hand-written op list, and the
//! reviewed file listing them. Needs both builds (`bash
//! scripts/setup-qemu.sh`, `bash scripts/build-qemu.sh
//! debian:trixie:1:10.0.13+ds-0+deb13u1`); without them the tests say why
//! and return, unless `NORCOMPAT_REQUIRE_QEMU=1` (CI), where they fail.

use harness::definitions::project::{default_root, Project};
use harness::definitions::versions::Version;
use harness::generation::generator::TrialOp;
use harness::judging::behaviour::check_pair;
use std::sync::Arc;

fn require_qemu() -> bool {
    std::env::var("NORCOMPAT_REQUIRE_QEMU").is_ok_and(|v| v == "1")
}

/// virt's QEMU 7.2 and QEMU 10.0 (both on virt-7.2), or `None` when they
/// are not usable here and CI does not require them.
fn releases() -> Option<(Project, Arc<Version>, Arc<Version>)> {
    let p = Project::load(&default_root()).expect("project");
    let old = p.version("virt-qemu-7.2").expect("virt-qemu-7.2").clone();
    let new = p.version("virt-qemu-10.0").expect("virt-qemu-10.0").clone();
    let missing: Vec<&(String, String)> = p
        .unavailable
        .iter()
        .filter(|(n, _)| *n == old.name || *n == new.name)
        .collect();
    if !missing.is_empty() {
        assert!(
            !require_qemu(),
            "NORCOMPAT_REQUIRE_QEMU=1 but not usable: {missing:?}"
        );
        eprintln!("skipped: {missing:?}");
        return None;
    }
    Some((p, old, new))
}

fn w(addr: u64, val: u64) -> TrialOp {
    TrialOp::write(0, addr, 4, val)
}

fn r(addr: u64) -> TrialOp {
    TrialOp::read(0, addr, 4)
}

fn targets() -> Vec<String> {
    vec!["flash0".to_string()]
}

#[test]
fn a_one_word_buffered_write_is_refused_by_10_0_and_written_by_7_2() {
    let Some((p, old, new)) = releases() else {
        return;
    };
    // 0xE8, count 0 (one word), the word, confirm, status.
    let ops = [
        w(0x2000, 0xE8),
        w(0x2000, 0),
        w(0x2000, 0x1234_5678),
        w(0x2000, 0xD0),
        r(0x2000),
    ];
    let d = check_pair(&new, &old, &targets(), &ops).expect("a behaviour difference");
    assert_eq!(d.what, "read");
    assert_eq!(d.op_index, Some(4));
    // 10.0 refused the word (SR.4) and the confirm aborted to read-array:
    // the array, still zero; 7.2 wrote it and reads status (ready).
    assert_eq!((d.a.as_str(), d.b.as_str()), ("0x0", "0x800080"));
    let summary = format!("{} at {}: {} vs {}", d.what, d.at, d.a, d.b);
    let shown: Vec<String> = ops.iter().map(|o| o.to_string()).collect();
    let e = harness::judging::releases::listing(&p, &new, &old, &summary, &shown).expect("listed");
    assert_eq!(e.id, "cfi01-buffer-opens-on-first-data-write");
    // A count of 1 (two words) opens a buffer on both: no difference.
    let ops = [
        w(0x2000, 0xE8),
        w(0x2000, 1),
        w(0x2000, 0x1234_5678),
        w(0x2004, 0x9abc_def0),
        w(0x2000, 0xD0),
        r(0x2000),
        w(0x2000, 0xFF),
        r(0x2004),
    ];
    assert_eq!(check_pair(&new, &old, &targets(), &ops), None);
}

#[test]
fn after_the_last_buffered_word_10_0_keeps_the_counter_at_zero_on_the_wire() {
    let Some((_, old, new)) = releases() else {
        return;
    };
    // Stopped between the last data word and the confirm (wcycle 3): the
    // saved streams differ in `counter` only, guest-visibly nothing.
    let ops = [
        w(0x2000, 0xE8),
        w(0x2000, 1),
        w(0x2000, 0x1111_1111),
        w(0x2004, 0x2222_2222),
        TrialOp::MIGRATE,
        w(0x2000, 0xD0),
        r(0x2000),
    ];
    let d = check_pair(&new, &old, &targets(), &ops).expect("a wire difference");
    assert_eq!(d.what, "wire", "{d:?}");
    assert!(
        d.at.contains("pflash_cfi01 instance 0 field counter"),
        "{d:?}"
    );
    assert_eq!((d.a.as_str(), d.b.as_str()), ("0", "18446744073709551615"));
}

#[test]
fn between_count_and_first_word_only_7_2_has_a_buffer_on_the_wire() {
    let Some((_, old, new)) = releases() else {
        return;
    };
    let ops = [
        w(0x2000, 0xE8),
        w(0x2000, 1),
        TrialOp::MIGRATE,
        w(0x2000, 0x1111_1111),
        w(0x2004, 0x2222_2222),
        w(0x2000, 0xD0),
        r(0x2000),
    ];
    let d = check_pair(&new, &old, &targets(), &ops).expect("a wire difference");
    assert_eq!(d.what, "wire", "{d:?}");
    // 7.2 opened the buffer on the count cycle and sends it; 10.0 has none yet.
    assert!(
        d.at.contains("pflash_cfi01 instance 0 field pflash_cfi01_blk_write"),
        "{d:?}"
    );
    assert_eq!(d.a, "absent");
}
