//! Round trips across releases keep every field both sides carry, including
//! the Read Array encoding (0x00 on v5 and on the v5 wire, 0xFF in v6) in
//! every state where it can occur: v5→v6→v5, v6→v5→v6 through the compat
//! machine type nor-5.0, v6→v6 under nor-6.0 (lossless), and migrations that
//! fail, after which the source continues as if nothing happened.

mod migration_support;

use devices::catalogue::compat::{self, NOR_5_0, NOR_6_0, V6_CFI01_TYPE, V6_CFI02_TYPE};
use devices::migration::{LoadError, LoadFailure, Machine};
use devices::{DeviceSpec, DeviceState, FlashDevice};
use migration_support::*;

/// v5's view of a cfi01 state: v5's own, or v6's projection onto it.
fn v5_view(d: &dyn FlashDevice) -> devices::v5::cfi01::State {
    match d.state() {
        DeviceState::Cfi01V5(s) => s,
        DeviceState::Cfi01V6(s) => s.to_v5(),
        other => panic!("not a cfi01: {other:?}"),
    }
}

/// What the v5 wire carries for a cfi01 (everything but ROMD).
fn wire(s: &devices::v5::cfi01::State) -> (u8, u8, u8, u64, u32, Option<Vec<u8>>) {
    (
        s.wcycle,
        s.cmd,
        s.status,
        s.counter,
        s.blk_offset,
        s.blk_bytes.clone(),
    )
}

fn v6_state(d: &dyn FlashDevice) -> devices::v6::cfi01::State {
    match d.state() {
        DeviceState::Cfi01V6(s) => s,
        other => panic!("not a v6 cfi01: {other:?}"),
    }
}

/// The v6 spec of a v5 spec, running `machine_type`.
fn v6(s: &DeviceSpec, ty: &str, machine_type: &str) -> DeviceSpec {
    compat::spec_for_machine_type(&s.with_type(ty), machine_type)
}

/// One hop: `src` saves, a fresh machine of `dst_specs`' release started
/// with its default machine type and sharing the drives loads.
fn hop(src: &Machine, dst_specs: &[DeviceSpec]) -> Result<Machine, LoadFailure> {
    let start = compat::release_of(&dst_specs[0].type_name)
        .unwrap()
        .machine_types[0];
    let mut dst = destination(dst_specs, &drives(src), start);
    dst.load_into(&src.save())?;
    Ok(dst)
}

/// cfi01 op sequences (x16 chips on a 32-bit bus) reaching every state
/// class, with the Read Array encoding they leave in `cmd`.
fn cfi01_states() -> Vec<(&'static str, Vec<(u64, u64)>)> {
    vec![
        ("idle", vec![]),
        ("read array after commands", vec![(0, 0x90), (0, 0xFF)]),
        ("program status", vec![(0x100, 0x40), (0x100, 0x1234_5678)]),
        ("erase status", vec![(0x40000, 0x20), (0x40000, 0xD0)]),
        ("erase bad confirm", vec![(0x40000, 0x20), (0x40000, 0x77)]),
        ("cfi query", vec![(0x154, 0x98)]),
        ("read id", vec![(0, 0x90)]),
        ("read status", vec![(0, 0x70)]),
        ("clear status", vec![(0x100, 0x40), (0x100, 0), (0, 0x50)]),
        ("program setup", vec![(0x200, 0x40)]),
        ("lock setup", vec![(0, 0x60)]),
        ("amd probe", vec![(0, 0x90), (0, 0xF0)]),
        (
            "buffer after count",
            vec![(0x2000, 0xE8), (0x2000, 0x0003_0003)],
        ),
        (
            "buffer mid",
            vec![(0x2000, 0xE8), (0x2000, 3), (0x2000, 0xAAAA_5555)],
        ),
        (
            "buffer before confirm",
            vec![
                (0x2000, 0xE8),
                (0x2000, 1),
                (0x2000, 0x0102_0304),
                (0x2004, 0x0506_0708),
            ],
        ),
        (
            "buffer committed",
            vec![
                (0x2000, 0xE8),
                (0x2000, 0),
                (0x2000, 0x0102_0304),
                (0x2000, 0xD0),
            ],
        ),
        (
            "buffer error",
            vec![(0x2000, 0xE8), (0x2000, 0), (0x9000, 0x1111_1111)],
        ),
    ]
}

/// Writes that finish whatever is in progress, then probe the result.
const CONTINUATION: &[(u64, u64)] = &[
    (0x2008, 0x0908_0706),
    (0x200C, 0xD0),
    (0, 0x70),
    (0, 0xFF),
    (0x300, 0x40),
    (0x300, 0xCAFE_F00D),
    (0, 0x50),
];

fn run(d: &mut dyn FlashDevice, ops: &[(u64, u64)]) {
    for (a, v) in ops {
        w(d, *a, 4, *v);
    }
}

#[test]
fn v5_to_v6_to_v5_keeps_the_wire_state_and_read_array_encoding() {
    let s5 = spec(SMALL_CFI01);
    let s6 = v6(&s5, V6_CFI01_TYPE, NOR_6_0);
    for (what, ops) in cfi01_states() {
        let mut d = device(&s5, 0xFF);
        run(d.as_mut(), &ops);
        let src = Machine::new(NOR_5_0, vec![d]);
        let original = v5_view(src.devices[0].as_ref());

        let on_v6 = hop(&src, std::slice::from_ref(&s6)).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(on_v6.machine_type, NOR_5_0, "{what}: v6 now runs nor-5.0");
        let v6s = v6_state(on_v6.devices[0].as_ref());
        assert_eq!(wire(&v6s.to_v5()), wire(&original), "{what}: v5 -> v6");
        assert_eq!(
            v6s.cmd == devices::v6::cfi01::IntelCommand::ReadArray,
            original.cmd == 0x00,
            "{what}: Read Array is 0xFF in v6 exactly where v5 held 0x00"
        );
        // ROMD is derived, the fix QEMU lacks.
        assert_eq!(
            v6s.romd,
            original.cmd == 0 && original.wcycle == 0,
            "{what}"
        );
        assert_eq!(on_v6.devices[0].array(), src.devices[0].array(), "{what}");

        let back = hop(&on_v6, std::slice::from_ref(&s5)).unwrap_or_else(|e| panic!("{what}: {e}"));
        let end = v5_view(back.devices[0].as_ref());
        assert_eq!(wire(&end), wire(&original), "{what}: v6 -> v5");
        assert_eq!(back.devices[0].array(), src.devices[0].array(), "{what}");
        // Exactly what one v5 -> v5 hop gives (ROMD on: QEMU's bug).
        assert_eq!(
            back.devices[0].state(),
            src.devices[0].migrated().state(),
            "{what}"
        );
    }
}

#[test]
fn v6_to_v5_to_v6_through_nor_5_0_is_lossless_for_cfi01() {
    let s5 = spec(SMALL_CFI01);
    let s6 = v6(&s5, V6_CFI01_TYPE, NOR_5_0);
    for (what, ops) in cfi01_states() {
        let mut d = device(&s6, 0xFF);
        run(d.as_mut(), &ops);
        let src = Machine::new(NOR_5_0, vec![d]);
        let original = v6_state(src.devices[0].as_ref());

        let on_v5 = hop(&src, std::slice::from_ref(&s5)).unwrap_or_else(|e| panic!("{what}: {e}"));
        let v5s = v5_view(on_v5.devices[0].as_ref());
        assert_eq!(wire(&v5s), wire(&original.to_v5()), "{what}: v6 -> v5");
        assert_eq!(v5s.cmd == 0, original.cmd as u8 == 0xFF, "{what}");

        let back = hop(&on_v5, &[v6(&s5, V6_CFI01_TYPE, NOR_6_0)])
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(back.machine_type, NOR_5_0, "{what}");
        assert_eq!(
            v6_state(back.devices[0].as_ref()),
            original,
            "{what}: v5 -> v6"
        );
        assert_eq!(back.devices[0].array(), src.devices[0].array(), "{what}");
        // And it goes on exactly like a v6 that never migrated.
        let mut reference = src.fork();
        let mut moved = back;
        run(reference.devices[0].as_mut(), CONTINUATION);
        run(moved.devices[0].as_mut(), CONTINUATION);
        for addr in [0u64, 0x2000, 0x2008, 0x300] {
            assert_eq!(
                r(moved.devices[0].as_mut(), addr, 4),
                r(reference.devices[0].as_mut(), addr, 4),
                "{what}: read at {addr:#x} after continuing"
            );
        }
        assert_eq!(
            moved.devices[0].array(),
            reference.devices[0].array(),
            "{what}"
        );
    }
}

#[test]
fn v6_to_v6_under_nor_6_0_is_lossless_for_cfi01() {
    let s6 = v6(&spec(SMALL_CFI01), V6_CFI01_TYPE, NOR_6_0);
    for (what, ops) in cfi01_states() {
        let mut d = device(&s6, 0xFF);
        run(d.as_mut(), &ops);
        let src = Machine::new(NOR_6_0, vec![d]);
        let dst = hop(&src, std::slice::from_ref(&s6)).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(dst.machine_type, NOR_6_0);
        assert_eq!(dst.devices[0].state(), src.devices[0].state(), "{what}");
        assert_eq!(dst.devices[0].array(), src.devices[0].array(), "{what}");
        assert_eq!(
            dst.devices[0].state(),
            src.devices[0].migrated().state(),
            "{what}: same as the device's own model"
        );
    }
}

/// A named state: the writes that reach it and the time to let pass afterwards.
type NamedState = (&'static str, Vec<(u64, u64)>, u64);

/// cfi02 op sequences (x16 bus: unlock addresses shifted by one).
fn cfi02_states() -> Vec<NamedState> {
    let u = |tail: &[(u64, u64)]| {
        let mut v = vec![(0xAAAA, 0xAA), (0x5554, 0x55)];
        v.extend_from_slice(tail);
        v
    };
    let erase = |sector: u64| {
        u(&[
            (0xAAAA, 0x80),
            (0xAAAA, 0xAA),
            (0x5554, 0x55),
            (sector, 0x30),
        ])
    };
    let mut two = erase(0x10000);
    two.push((0x30000, 0x30));
    let mut suspended = erase(0x10000);
    suspended.push((0, 0xB0));
    vec![
        ("idle", vec![], 0),
        ("first unlock", vec![(0xAAAA, 0xAA)], 0),
        ("autoselect", u(&[(0xAAAA, 0x90)]), 0),
        ("autoselect cfi", u(&[(0xAAAA, 0x90), (0xAA, 0x98)]), 0),
        ("cfi", vec![(0xAA, 0x98)], 0),
        ("bypass", u(&[(0xAAAA, 0x20)]), 0),
        ("program pending", u(&[(0xAAAA, 0xA0)]), 0),
        ("programmed", u(&[(0xAAAA, 0xA0), (0x100, 0x1234)]), 0),
        ("erase setup", u(&[(0xAAAA, 0x80), (0xAAAA, 0xAA)]), 0),
        ("erase window", erase(0x10000), 10_000),
        ("two sectors queued", two, 20_000),
        ("erase running", erase(0x10000), 60_000),
        ("erase suspended", suspended, 100_000),
        ("erase done", erase(0x10000), 600_000),
        (
            "chip erase",
            u(&[
                (0xAAAA, 0x80),
                (0xAAAA, 0xAA),
                (0x5554, 0x55),
                (0xAAAA, 0x10),
            ]),
            1_000,
        ),
        ("stale timer after reset", erase(0x10000), 20_000),
    ]
}

fn cfi02_device(s: &DeviceSpec, what: &str, ops: &[(u64, u64)], ns: u64) -> Box<dyn FlashDevice> {
    let mut d = device(s, 0xFF);
    for (a, v) in ops {
        w(d.as_mut(), *a, 2, *v);
    }
    d.advance(ns);
    if what == "stale timer after reset" {
        d.reset();
    }
    d
}

#[test]
fn v6_to_v6_under_nor_6_0_is_lossless_for_cfi02_timers_included() {
    let s6 = v6(&spec(SMALL_CFI02), V6_CFI02_TYPE, NOR_6_0);
    for (what, ops, ns) in cfi02_states() {
        let d = cfi02_device(&s6, what, &ops, ns);
        let src = Machine::new(NOR_6_0, vec![d]);
        let dst = hop(&src, std::slice::from_ref(&s6)).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(dst.devices[0].state(), src.devices[0].state(), "{what}");
        assert_eq!(dst.devices[0].now(), 0, "{what}: the clock restarts");
        assert_eq!(
            dst.devices[0].next_deadline(),
            src.devices[0]
                .next_deadline()
                .map(|d| (d - src.devices[0].now()).max(1)),
            "{what}"
        );
        // Time goes on identically from here.
        let (mut a, mut b) = (src.fork(), dst);
        for dev in [&mut a.devices[0], &mut b.devices[0]] {
            dev.advance(5_000_000_000);
            w(dev.as_mut(), 0x10000, 2, 0xF0);
        }
        assert_eq!(
            r(a.devices[0].as_mut(), 0x10000, 2),
            r(b.devices[0].as_mut(), 0x10000, 2)
        );
        assert_eq!(
            a.devices[0].state(),
            b.devices[0].state(),
            "{what}: after continuing"
        );
    }
}

#[test]
fn cfi02_has_no_section_on_the_v5_wire_in_either_direction() {
    let s5 = spec(SMALL_CFI02);
    let compat5 = v6(&s5, V6_CFI02_TYPE, NOR_5_0);
    for (what, ops, ns) in cfi02_states() {
        // v5 -> v6: the v6 destination keeps its power-on state, with the array.
        let src = Machine::new(NOR_5_0, vec![cfi02_device(&s5, what, &ops, ns)]);
        let on_v6 = hop(&src, &[v6(&s5, V6_CFI02_TYPE, NOR_6_0)]).unwrap();
        let fresh = device(&compat5, 0xFF);
        assert_eq!(on_v6.devices[0].state(), fresh.state(), "{what}");
        assert_eq!(on_v6.devices[0].array(), src.devices[0].array(), "{what}");
        // v6 under nor-5.0 -> v5: no section either; v5 holds its power-on state.
        let src = Machine::new(NOR_5_0, vec![cfi02_device(&compat5, what, &ops, ns)]);
        assert!(src.devices[0].save_vmstate().is_empty());
        let on_v5 = hop(&src, std::slice::from_ref(&s5)).unwrap();
        assert_eq!(
            on_v5.devices[0].state(),
            device(&s5, 0xFF).state(),
            "{what}"
        );
        assert_eq!(on_v5.devices[0].array(), src.devices[0].array(), "{what}");
        // ... which is what v5's own model of the destination holds.
        let v5src = cfi02_device(&s5, what, &ops, ns);
        assert_eq!(on_v5.devices[0].state(), v5src.migrated().state(), "{what}");
    }
}

#[test]
fn backward_migration_under_nor_6_0_is_refused_and_the_source_continues() {
    let s5 = [spec(SMALL_CFI01), spec(SMALL_CFI02)];
    let s6: Vec<DeviceSpec> = vec![
        v6(&s5[0], V6_CFI01_TYPE, NOR_6_0),
        v6(&s5[1], V6_CFI02_TYPE, NOR_6_0),
    ];
    let mut a = device(&s6[0], 0xFF);
    run(
        a.as_mut(),
        &[(0x2000, 0xE8), (0x2000, 3), (0x2000, 0x1234_5678)],
    );
    let b = cfi02_device(&s6[1], "erase window", &cfi02_states()[9].1, 10_000);
    let src = Machine::new(NOR_6_0, vec![a, b]);
    let before = snapshot(&src);
    let err = hop(&src, &s5).unwrap_err();
    assert!(matches!(err.error, LoadError::MachineType { .. }), "{err}");
    assert_eq!(
        err.unknown_sections(),
        vec![
            ("parallel-nor-cfi01-flash".to_string(), 0),
            ("parallel-nor-cfi02-flash".to_string(), 0)
        ]
    );
    assert!(
        err.to_string().starts_with(
            "Machine type received is 'nor-6.0' and local is 'nor-5.0' (this release offers: \
         nor-5.0; at byte 8); sections unknown here: parallel-nor-cfi01-flash 0, \
         parallel-nor-cfi02-flash 0"
        ),
        "{err}"
    );
    // The source is exactly as before and finishes its buffered write.
    assert_eq!(snapshot(&src), before);
    let mut src = src;
    let mut reference = src.fork();
    for m in [&mut src, &mut reference] {
        run(
            m.devices[0].as_mut(),
            &[(0x2004, 1), (0x2008, 2), (0x200C, 3), (0x2000, 0xD0)],
        );
    }
    assert_eq!(src.devices[0].state(), reference.devices[0].state());
    assert_eq!(src.devices[0].array(), reference.devices[0].array());
}

#[test]
fn a_failed_migration_keeps_read_array_0xff_on_a_nor_5_0_source() {
    // The trap of migration.md §10: pre_save writes 0x00 on the wire. Saving
    // works on a copy, so a source that continues after a refusal still
    // holds 0xFF, in every state.
    let s5 = spec(SMALL_CFI01);
    let s6 = v6(&s5, V6_CFI01_TYPE, NOR_5_0);
    let other = spec(
        "cfi.pflash01,name=small.flash0,num-blocks=2,sector-length=0x40000,width=4,device-width=2",
    );
    for (what, ops) in cfi01_states() {
        let mut d = device(&s6, 0xFF);
        run(d.as_mut(), &ops);
        let src = Machine::new(NOR_5_0, vec![d]);
        let before = v6_state(src.devices[0].as_ref());
        let bytes = src.save();
        assert!(
            bytes.windows(12).any(|w| w == b"pflash_cfi01"),
            "{what}: v5's section on the wire"
        );
        // A destination with another geometry refuses (RAM block size).
        let mut dst = Machine::new(NOR_5_0, vec![device(&other, 0xFF)]);
        let err = dst.load_into(&bytes).unwrap_err();
        assert_eq!(
            err.error.kind(),
            devices::migration::LoadErrorKind::RamBlock,
            "{what}"
        );
        assert_eq!(v6_state(src.devices[0].as_ref()), before, "{what}");
        // Migrating again, now successfully, to v6: the same state.
        let again = hop(&src, &[v6(&s5, V6_CFI01_TYPE, NOR_6_0)]).unwrap();
        assert_eq!(v6_state(again.devices[0].as_ref()), before, "{what}");
    }
}

#[test]
fn v5_mid_buffer_migrated_to_v6_completes_the_write() {
    let s5 = spec(SMALL_CFI01);
    let mut d = device(&s5, 0xFF);
    run(
        d.as_mut(),
        &[(0x2000, 0xE8), (0x2000, 3), (0x2000, 0x1111_1111)],
    );
    let src = Machine::new(NOR_5_0, vec![d]);
    let mut on_v6 = hop(&src, &[v6(&s5, V6_CFI01_TYPE, NOR_6_0)]).unwrap();
    let mut reference = src.fork();
    let rest = [
        (0x2004, 0x2222_2222),
        (0x2008, 0x3333_3333),
        (0x200C, 0x4444_4444),
        (0x2000, 0xD0),
    ];
    run(on_v6.devices[0].as_mut(), &rest);
    run(reference.devices[0].as_mut(), &rest);
    assert_eq!(on_v6.devices[0].array(), reference.devices[0].array());
    // v6 restored ROMD off, so the status shows where v5's destination would
    // show array data (QEMU's bug); v5 without migration shows status too.
    assert_eq!(r(on_v6.devices[0].as_mut(), 0, 4), 0x0080_0080);
    assert_eq!(r(reference.devices[0].as_mut(), 0, 4), 0x0080_0080);
}

#[test]
fn the_machine_check_is_qemus_strncmp_on_the_received_length() {
    // migration.md §4 note: strncmp(received, local, received_len).
    let specs = [spec(SMALL_CFI01)];
    let mut a = device(&specs[0], 0xFF);
    run(a.as_mut(), &[(0x40, 0x40), (0x40, 0x1234_5678)]);
    let src = Machine::new(NOR_5_0, vec![a]);
    for (received, passes) in [
        ("nor-5.0", true),
        ("nor-5", true),
        ("", true),
        ("nor-5.0\0junk", true),
        ("nor-5.00", false),
        ("nor-5.1", false),
        ("nor-5.0 ", false),
    ] {
        let named = Machine::new(received, src.devices.iter().map(|d| d.fork()).collect());
        let bytes = named.save();
        let mut dst = destination(&specs, &drives(&src), NOR_5_0);
        let before = snapshot(&dst);
        match dst.load_into(&bytes) {
            Ok(_) => {
                assert!(passes, "{received:?} should be refused");
                assert_eq!(dst.machine_type, NOR_5_0, "keeps its own name");
                // The four migrated fields arrived (ROMD is not restored by v5).
                let (DeviceState::Cfi01V5(got), DeviceState::Cfi01V5(sent)) =
                    (dst.devices[0].state(), src.devices[0].state())
                else {
                    panic!("v5 cfi01 states expected");
                };
                assert_eq!(got.cmd, 0x40);
                assert_eq!(
                    (got.wcycle, got.cmd, got.status, got.counter),
                    (sent.wcycle, sent.cmd, sent.status, sent.counter)
                );
            }
            Err(e) => {
                assert!(!passes, "{received:?} should pass: {e}");
                assert!(matches!(e.error, LoadError::MachineType { .. }), "{e}");
                assert_eq!(snapshot(&dst), before);
            }
        }
    }
}
