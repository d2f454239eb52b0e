//! Realize, properties, ROMD, reset, the secure attribute, read-only
//! drives, byte order and the device interface (spec §2–§5, §13).

use super::*;
use crate::catalogue::DeviceState;
use crate::device::DeviceError;
use crate::props::{PropKind, PropValue};
use crate::v5::cfi01::PROPERTIES;

fn realize_err(list: &[(&str, &str)], backend: BlockBackend) -> String {
    match PflashCfi01::new(&props(list), backend) {
        Ok(_) => panic!("realize unexpectedly succeeded"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn property_table_has_qemu_names_types_and_defaults_in_order() {
    let expect: &[(&str, PropKind, Option<PropValue>)] = &[
        ("num-blocks", PropKind::U32, Some(PropValue::Int(0))),
        ("sector-length", PropKind::U64, Some(PropValue::Int(0))),
        ("width", PropKind::U8, Some(PropValue::Int(0))),
        ("device-width", PropKind::U8, Some(PropValue::Int(0))),
        ("max-device-width", PropKind::U8, Some(PropValue::Int(0))),
        ("big-endian", PropKind::Bool, Some(PropValue::Bool(false))),
        ("secure", PropKind::Bool, Some(PropValue::Bool(false))),
        ("id0", PropKind::U16, Some(PropValue::Int(0))),
        ("id1", PropKind::U16, Some(PropValue::Int(0))),
        ("id2", PropKind::U16, Some(PropValue::Int(0))),
        ("id3", PropKind::U16, Some(PropValue::Int(0))),
        ("name", PropKind::Str, None),
        (
            "old-multiple-chip-handling",
            PropKind::Bool,
            Some(PropValue::Bool(false)),
        ),
    ];
    assert_eq!(PROPERTIES.len(), expect.len());
    for (def, (name, kind, default)) in PROPERTIES.iter().zip(expect) {
        assert_eq!((def.name, def.kind, def.default), (*name, *kind, *default));
        assert!(!def.doc.is_empty(), "{name} documented");
    }
}

#[test]
fn realize_checks_run_in_qemu_order_with_qemu_messages() {
    let none = BlockBackend::none;
    assert_eq!(
        realize_err(&[], none()),
        "cfi.pflash01: attribute \"sector-length\" not specified or zero."
    );
    assert_eq!(
        realize_err(&[("num-blocks", "4"), ("sector-length", "0")], none()),
        "cfi.pflash01: attribute \"sector-length\" not specified or zero."
    );
    assert_eq!(
        realize_err(&[("sector-length", "4096")], none()),
        "cfi.pflash01: attribute \"num-blocks\" not specified or zero."
    );
    assert_eq!(
        realize_err(&[("sector-length", "4096"), ("num-blocks", "4")], none()),
        "cfi.pflash01: attribute \"name\" not specified."
    );
    assert_eq!(
        realize_err(VIRT, BlockBackend::memory(4096, 0xFF, true)),
        "device requires 67108864 bytes, block backend provides 4096 bytes"
    );
    assert!(matches!(
        PflashCfi01::new(&props(VIRT), BlockBackend::memory(4096, 0xFF, true)),
        Err(DeviceError::Backend(_))
    ));
    assert!(matches!(
        PflashCfi01::new(&props(&[]), BlockBackend::none()),
        Err(DeviceError::Realize {
            ty: "cfi.pflash01",
            ..
        })
    ));
}

#[test]
fn bad_properties_are_rejected_by_name() {
    assert_eq!(
        realize_err(&with(VIRT, &[("drive", "x")]), BlockBackend::none()),
        "Property 'cfi.pflash01.drive' not found"
    );
    assert!(
        realize_err(&with(VIRT, &[("width", "256")]), BlockBackend::none())
            .contains("out of range")
    );
    assert!(
        realize_err(&with(VIRT, &[("secure", "maybe")]), BlockBackend::none())
            .contains("expected bool")
    );
}

#[test]
fn a_device_wider_than_its_bank_is_refused() {
    // QEMU 7.2.22 divides by zero building the CFI table here.
    let msg = realize_err(&with(X86, &[("device-width", "2")]), BlockBackend::none());
    assert!(
        msg.starts_with("cfi.pflash01: attribute \"device-width\" (2) larger than \"width\" (1)"),
        "{msg}"
    );
    let msg = realize_err(
        &with(X86, &[("width", "0"), ("device-width", "1")]),
        BlockBackend::none(),
    );
    assert!(msg.contains("divides by zero"), "{msg}");
}

#[test]
fn arrays_beyond_the_model_limit_are_refused_like_a_failed_allocation() {
    let msg = realize_err(
        &[
            ("num-blocks", "0xFFFFFFFF"),
            ("sector-length", "0x40000"),
            ("name", "big"),
        ],
        BlockBackend::none(),
    );
    assert_eq!(
        msg,
        "cfi.pflash01: cannot set up guest memory 'big': Cannot allocate memory"
    );
}

#[test]
fn realize_defaults_max_device_width_and_sets_initial_state() {
    let d = virt();
    assert_eq!(d.config().max_device_width, 2);
    assert_eq!(erased(X8_MODE).config().max_device_width, 2);
    assert_eq!(erased(X86).config().max_device_width, 0);
    let s = st(&d);
    assert_eq!(
        s,
        State {
            wcycle: 0,
            cmd: 0,
            status: 0x80,
            counter: 0,
            romd: true,
            blk_offset: 0xFFFF_FFFF,
            blk_bytes: None,
        }
    );
    assert_eq!(DeviceState::of(&d), Some(DeviceState::Cfi01V5(s)));
}

#[test]
fn window_name_and_type() {
    let d = virt();
    assert_eq!(d.window_size(), 64 * MIB);
    assert_eq!(d.ram_block_name(), "virt.flash0");
    assert_eq!(d.type_name(), "cfi.pflash01");
    assert_eq!(d.array().len(), 64 * MIB);
}

#[test]
fn without_a_drive_the_array_is_zero_and_writable() {
    let mut d = PflashCfi01::new(&props(VIRT), BlockBackend::none()).expect("realizes");
    assert!(!d.read_only());
    assert_eq!(rd(&mut d, 0, 4), 0);
    wr(&mut d, 0, 4, 0x20);
    assert_eq!(array_le(&d, 0, 4), 0xFFFF_FFFF);
    assert!(d.backend().image().is_none());
}

#[test]
fn a_drive_image_is_read_into_the_array() {
    let mut image = crate::storage::Storage::filled(64 * MIB, 0xFF);
    image.write_le(0x100, 4, 0xDEAD_BEEF);
    let mut d =
        PflashCfi01::new(&props(VIRT), BlockBackend::memory_from(image, true)).expect("realizes");
    assert_eq!(rd(&mut d, 0x100, 4), 0xDEAD_BEEF);
}

#[test]
fn romd_reads_do_not_reach_the_device() {
    let mut d = virt();
    let s = st(&d);
    // Even a state whose cmd would reset on an I/O read is untouched by ROMD reads.
    let mut odd = s.clone();
    odd.cmd = 0x33;
    d.set_state(&odd);
    assert!(d.romd());
    assert_eq!(rd(&mut d, 0x10, 8), u64::MAX);
    assert_eq!(st(&d), odd);
}

#[test]
fn reset_returns_to_read_array_keeping_counter_array_and_buffer_contents() {
    let mut d = virt();
    wr(&mut d, 0, 4, 0x40);
    wr(&mut d, 0x10, 4, 0x1234);
    wr(&mut d, 0, 4, 0xE8);
    wr(&mut d, 0x2000, 4, 5);
    wr(&mut d, 0x2000, 4, 0xABCD);
    d.status = 0x30;
    let buffer = d.blk_bytes().to_vec();
    d.reset();
    let s = st(&d);
    assert_eq!(
        s,
        State {
            wcycle: 0,
            cmd: 0,
            status: 0x80,
            counter: 4,
            romd: true,
            blk_offset: 0xFFFF_FFFF,
            blk_bytes: None,
        }
    );
    assert_eq!(d.blk_bytes(), &buffer[..]);
    assert_eq!(array_le(&d, 0x10, 4), 0x1234);
}

#[test]
fn secure_device_serves_non_secure_reads_from_the_array() {
    let mut d = erased(&with(VIRT, &[("secure", "on")]));
    d.array.write_le(0x40, 4, 0x1234_5678);
    let mut s = st(&d);
    s.cmd = 0x98;
    s.wcycle = 1;
    s.romd = false;
    d.set_state(&s);
    assert_eq!(rd(&mut d, 0x40, 4), 0x1234_5678, "array, not CFI");
    s.cmd = 0x33;
    d.set_state(&s);
    assert_eq!(rd(&mut d, 0x40, 2), 0x5678);
    assert_eq!(st(&d), s, "pure read: the unknown cmd is not reset");
}

#[test]
fn secure_device_rejects_non_secure_writes() {
    let mut d = erased(&with(VIRT, &[("secure", "on")]));
    let before = st(&d);
    for (addr, v) in [
        (0, 0x40),
        (0, 0x1234),
        (0, 0x20),
        (0, 0xD0),
        (0, 0x98),
        (0, 0x50),
    ] {
        wr(&mut d, addr, 4, v);
        assert_eq!(st(&d), before, "{v:#x}: nothing changes, not even ROMD");
    }
    assert_eq!(array_le(&d, 0, 4), 0xFFFF_FFFF);
    assert_eq!(rd(&mut d, 0, 4), 0xFFFF_FFFF);
}

#[test]
fn read_only_drive_is_never_written_back() {
    let mut d = erased_ro(VIRT);
    assert!(d.read_only());
    wr(&mut d, 0, 4, 0xE8);
    wr(&mut d, 0, 4, 0);
    wr(&mut d, 0, 4, 0);
    wr(&mut d, 0, 4, 0xD0);
    assert_eq!(image_le(&d, 0, 4), 0xFFFF_FFFF);
    assert_eq!(array_le(&d, 0, 4), 0xFFFF_FFFF);
}

#[test]
fn big_endian_program_and_io_read_use_big_endian_byte_order() {
    let mut d = erased(&with(VIRT, &[("big-endian", "on")]));
    wr(&mut d, 0, 4, 0x40);
    wr(&mut d, 0x10, 4, 0x1122_3344);
    wr(&mut d, 0, 4, 0x40);
    wr(&mut d, 0x20, 2, 0xAABB);
    let mut b = [0u8; 6];
    d.array().read(0x10, &mut b[..4]);
    d.array().read(0x20, &mut b[4..]);
    assert_eq!(b, [0x11, 0x22, 0x33, 0x44, 0xAA, 0xBB]);
    // I/O mode in read array: a read that resets an unknown cmd leaves ROMD off.
    let mut s = st(&d);
    s.cmd = 0;
    d.set_state(&s);
    assert!(!d.romd());
    assert_eq!(rd(&mut d, 0x10, 4), 0x1122_3344);
    assert_eq!(rd(&mut d, 0x10, 2), 0x1122);
    assert_eq!(rd(&mut d, 0x20, 2), 0xAABB);
    // ROMD mode: raw RAM, little-endian, so byte-swapped compared to I/O mode.
    wr(&mut d, 0, 4, 0xFF);
    assert!(d.romd());
    assert_eq!(rd(&mut d, 0x10, 4), 0x4433_2211);
    assert_eq!(rd(&mut d, 0x20, 2), 0xBBAA);
}

#[test]
fn big_endian_does_not_affect_status_id_or_cfi() {
    let mut d = erased(&with(VIRT, &[("big-endian", "on")]));
    wr(&mut d, 0, 4, 0x70);
    assert_eq!(rd(&mut d, 0, 4), 0x0080_0080);
    wr(&mut d, 0, 4, 0x90);
    assert_eq!(rd(&mut d, 0, 4), 0x0089_0089);
    wr(&mut d, 0, 4, 0x98);
    assert_eq!(rd(&mut d, 0x40, 4), 0x0051_0051);
}

#[test]
fn little_endian_io_reads_match_the_array() {
    let mut d = virt();
    d.array.write_le(0x10, 4, 0x1122_3344);
    let mut s = st(&d);
    s.romd = false;
    d.set_state(&s);
    assert_eq!(rd(&mut d, 0x10, 4), 0x1122_3344);
    assert_eq!(rd(&mut d, 0x11, 1), 0x33);
}

#[test]
fn program_writes_back_only_the_touched_sector() {
    let mut d = virt();
    wr(&mut d, 0, 4, 0x40);
    wr(&mut d, 0x204, 4, 0x5566_7788);
    assert_eq!(image_le(&d, 0x204, 4), 0x5566_7788);
    assert!(d.backend().image().expect("drive") == d.array());
}

#[test]
fn set_state_round_trips_and_normalises_the_buffer_length() {
    let mut d = virt();
    let s = State {
        wcycle: 2,
        cmd: 0xE8,
        status: 0x90,
        counter: 7,
        romd: false,
        blk_offset: 0x3000,
        blk_bytes: Some(vec![0xAB; 4096]),
    };
    d.set_state(&s);
    assert_eq!(st(&d), s);
    let mut short = s.clone();
    short.blk_bytes = Some(vec![1, 2, 3]);
    d.set_state(&short);
    let got = st(&d).blk_bytes.expect("open");
    assert_eq!(got.len(), 4096);
    assert_eq!(&got[..4], &[1, 2, 3, 0]);
}

#[test]
fn canonical_state_serializes_to_json_and_back() {
    let mut d = virt();
    wr(&mut d, 0, 4, 0xE8);
    wr(&mut d, 0, 4, 1);
    let s = DeviceState::of(&d).unwrap();
    let json = serde_json::to_string(&s).expect("serializes");
    assert!(json.contains("\"type\":\"cfi.pflash01\""), "{json}");
    let back: DeviceState = serde_json::from_str(&json).expect("deserializes");
    assert_eq!(back, s);
}

#[test]
fn fork_is_independent() {
    let mut a = virt();
    wr(&mut a, 0, 4, 0x40);
    let mut b = a.fork();
    bus_write(b.as_mut(), 0x10, 4, 0x1234);
    assert_eq!(array_le(&a, 0x10, 4), 0xFFFF_FFFF);
    assert_eq!(st(&a).wcycle, 1);
    assert_eq!(b.array().read_le(0x10, 4), 0x1234);
    assert_eq!(
        a.backend().image().expect("drive").read_le(0x10, 4),
        0xFFFF_FFFF
    );
}

#[test]
fn migrated_restores_wire_fields_and_leaves_romd_on() {
    let mut d = virt();
    d.advance(500);
    wr(&mut d, 0, 4, 0x90);
    let m = d.migrated();
    let DeviceState::Cfi01V5(s) = m.state() else {
        panic!("cfi01 state");
    };
    assert_eq!(
        (s.wcycle, s.cmd, s.status, s.counter, s.romd),
        (0, 0x90, 0x80, 0, true)
    );
    assert_eq!(m.now(), 0, "clock restarts");
}
