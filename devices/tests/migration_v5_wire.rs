//! v5 on the wire is QEMU 7.2.22: the bytes of known states computed by hand
//! from shared/spec/pflash-cfi01.md §15.2 and migration.md §2, and a stream
//! migration that ends exactly where the device's own model of a 7.2.22
//! destination (`FlashDevice::migrated`) ends.

mod migration_support;

use devices::catalogue::compat::NOR_5_0;
use devices::migration::stream::save_stream;
use devices::migration::Machine;
use devices::{BlockBackend, FlashDevice};
use migration_support::*;

fn section_header(section_id: u32, idstr: &str, instance: u32, version: u32) -> Vec<u8> {
    let mut out = vec![0x04];
    out.extend_from_slice(&section_id.to_be_bytes());
    out.push(idstr.len() as u8);
    out.extend_from_slice(idstr.as_bytes());
    out.extend_from_slice(&instance.to_be_bytes());
    out.extend_from_slice(&version.to_be_bytes());
    out
}

/// The byte range of the first FULL section with id string `idstr`.
fn find_section(stream: &[u8], idstr: &str) -> usize {
    let mut needle = vec![idstr.len() as u8];
    needle.extend_from_slice(idstr.as_bytes());
    stream
        .windows(needle.len())
        .position(|w| w == needle.as_slice())
        .map(|p| p - 5)
        .expect("section present")
}

#[test]
fn cfi01_section_matches_qemus_measured_bytes() {
    // spec pflash-cfi01.md §15.2: arm virt flash0, all-zero array, write to
    // buffer with count 3 at 0x2000, two words written.
    let s = spec(VIRT_FLASH0);
    let mut dev = devices::create(&s, BlockBackend::none()).unwrap();
    w(dev.as_mut(), 0x2000, 4, 0xE8);
    w(dev.as_mut(), 0x2000, 4, 0x0003_0003);
    w(dev.as_mut(), 0x2000, 4, 0x1111_1111);
    w(dev.as_mut(), 0x2004, 4, 0x2222_2222);
    let stream = save_stream(NOR_5_0, &[dev.as_ref()]);
    let at = find_section(&stream, "pflash_cfi01");
    // QEMU's virt numbers this section 4; here it is 1 (the only
    // registration after `ram`). Only header and footer must agree.
    let mut expected = section_header(1, "pflash_cfi01", 0, 1);
    expected.extend_from_slice(&[0x02, 0xE8, 0x80, 0, 0, 0, 0, 0, 0, 0, 1]);
    expected.extend_from_slice(&[0x05, 0x16]);
    expected.extend_from_slice(b"pflash_cfi01_blk_write");
    expected.extend_from_slice(&[0, 0, 0, 1]);
    let mut blk = vec![0u8; 4096];
    blk[..8].copy_from_slice(&[0x11, 0x11, 0x11, 0x11, 0x22, 0x22, 0x22, 0x22]);
    expected.extend_from_slice(&blk);
    expected.extend_from_slice(&[0x00, 0x00, 0x20, 0x00]);
    expected.extend_from_slice(&[0x7E, 0, 0, 0, 1]);
    assert_eq!(&stream[at..at + expected.len()], expected.as_slice());
    assert_eq!(stream[at + expected.len()], 0x00, "EOF follows");

    // At wcycle 3 the same section carries counter = 2^64 - 1 (measured).
    w(dev.as_mut(), 0x2008, 4, 0x3333_3333);
    w(dev.as_mut(), 0x200C, 4, 0x4444_4444);
    let stream = save_stream(NOR_5_0, &[dev.as_ref()]);
    let at = find_section(&stream, "pflash_cfi01") + 26;
    assert_eq!(
        &stream[at..at + 11],
        &[0x03, 0xE8, 0x80, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]
    );
}

#[test]
fn idle_cfi01_stream_is_byte_exact() {
    let s = spec("cfi.pflash01,name=f,num-blocks=2,sector-length=0x1000,width=1");
    let dev = device(&s, 0xFF);
    let stream = Machine::new(NOR_5_0, vec![dev]).save();
    let mut e: Vec<u8> = vec![0x51, 0x45, 0x56, 0x4D, 0, 0, 0, 3];
    // Configuration: machine type, target page bits 12.
    e.extend_from_slice(&[0x07, 0, 0, 0, 7]);
    e.extend_from_slice(b"nor-5.0");
    e.extend_from_slice(&[0x05, 0x1E]);
    e.extend_from_slice(b"configuration/target-page-bits");
    e.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 12]);
    // ram START: section 0, instance 0, version 4; 0x2000 bytes | MEM_SIZE;
    // block "f" of 0x2000 bytes; EOS; footer.
    e.extend_from_slice(&[
        0x01, 0, 0, 0, 0, 3, b'r', b'a', b'm', 0, 0, 0, 0, 0, 0, 0, 4,
    ]);
    e.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0x20, 0x04]);
    e.extend_from_slice(&[1, b'f', 0, 0, 0, 0, 0, 0, 0x20, 0x00]);
    e.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0x10, 0x7E, 0, 0, 0, 0]);
    // ram PART: page 0 ZERO with fill 0xFF and the block name, page 0x1000
    // ZERO | CONTINUE; EOS; footer.
    e.extend_from_slice(&[0x02, 0, 0, 0, 0]);
    e.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0x00, 0x02, 1, b'f', 0xFF]);
    e.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0x10, 0x22, 0xFF]);
    e.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0x10, 0x7E, 0, 0, 0, 0]);
    // ram END: EOS; footer.
    e.extend_from_slice(&[
        0x03, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0x7E, 0, 0, 0, 0,
    ]);
    // pflash_cfi01 instance 0, version 1: wcycle 0, cmd 0x00 (read array),
    // status 0x80, counter 0; footer; EOF.
    e.extend_from_slice(&section_header(1, "pflash_cfi01", 0, 1));
    e.extend_from_slice(&[0x00, 0x00, 0x80, 0, 0, 0, 0, 0, 0, 0, 0]);
    e.extend_from_slice(&[0x7E, 0, 0, 0, 1, 0x00]);
    assert_eq!(stream, e);
}

#[test]
fn cfi02_sends_no_section_and_cfi01_instances_follow_registration_order() {
    let specs = [
        spec(SMALL_CFI02),
        spec(SMALL_CFI01),
        spec(SMALL_CFI01_LEGACY),
    ];
    let devs: Vec<_> = specs.iter().map(|s| device(s, 0xFF)).collect();
    let stream = Machine::new(NOR_5_0, devs).save();
    assert!(!stream.windows(12).any(|w| w == b"cfi.pflash02"));
    // Two pflash_cfi01 sections: ids 1 and 2, instances 0 and 1.
    let first = find_section(&stream, "pflash_cfi01");
    assert_eq!(&stream[first..first + 1 + 4], &[0x04, 0, 0, 0, 1]);
    assert_eq!(&stream[first + 18..first + 22], &[0, 0, 0, 0]);
    let second = first + 26 + 11 + 5;
    assert_eq!(
        &stream[second..second + 26],
        section_header(2, "pflash_cfi01", 1, 1).as_slice()
    );
    // Three RAM blocks by name, in order.
    for name in ["small.flash2", "small.flash0", "small.flash1"] {
        assert!(stream.windows(name.len()).any(|w| w == name.as_bytes()));
    }
}

/// Op sequences reaching every cfi01 state class that matters for migration.
fn cfi01_states() -> Vec<(&'static str, Vec<(u64, u64)>)> {
    vec![
        ("idle", vec![]),
        ("program status", vec![(0x100, 0x40), (0x100, 0x1234_5678)]),
        ("erase status", vec![(0x40000, 0x20), (0x40000, 0xD0)]),
        ("cfi query", vec![(0x154, 0x98)]),
        ("read id", vec![(0, 0x90)]),
        ("read status", vec![(0, 0x70)]),
        ("clear status", vec![(0x100, 0x40), (0x100, 0), (0, 0x50)]),
        ("program setup", vec![(0x200, 0x40)]),
        ("lock setup", vec![(0, 0x60)]),
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
            "buffer done",
            vec![
                (0x2000, 0xE8),
                (0x2000, 0),
                (0x2000, 0x0102_0304),
                (0x2000, 0xD0),
            ],
        ),
    ]
}

/// Op sequences for cfi02 (width 2: unlock addresses are shifted by one).
fn cfi02_states() -> Vec<(&'static str, Vec<(u64, u64)>)> {
    let unlock = vec![(0xAAAA, 0xAA), (0x5554, 0x55)];
    let with = |tail: &[(u64, u64)]| {
        let mut v = unlock.clone();
        v.extend_from_slice(tail);
        v
    };
    vec![
        ("idle", vec![]),
        ("unlock 1", vec![(0xAAAA, 0xAA)]),
        ("autoselect", with(&[(0xAAAA, 0x90)])),
        ("cfi", vec![(0xAA, 0x98)]),
        ("bypass", with(&[(0xAAAA, 0x20)])),
        ("programmed", with(&[(0xAAAA, 0xA0), (0x100, 0x1234)])),
        (
            "erase window",
            with(&[
                (0xAAAA, 0x80),
                (0xAAAA, 0xAA),
                (0x5554, 0x55),
                (0x10000, 0x30),
            ]),
        ),
    ]
}

fn run(dev: &mut dyn FlashDevice, ops: &[(u64, u64)], width: u32) {
    for (addr, val) in ops {
        w(dev, *addr, width, *val);
    }
}

/// Stream migration into a fresh destination versus the device's own model.
fn assert_stream_equals_migrated(s: &devices::DeviceSpec, dev: &dyn FlashDevice, what: &str) {
    let expected = dev.migrated();
    let mut dst = Machine::new(NOR_5_0, vec![fresh_for(s, dev)]);
    dst.load_into(&save_stream(NOR_5_0, &[dev])).unwrap();
    let got = &dst.devices[0];
    assert_eq!(got.state(), expected.state(), "{what}: state");
    assert_eq!(got.array(), expected.array(), "{what}: array");
    assert_eq!(
        got.backend().image(),
        expected.backend().image(),
        "{what}: image"
    );
    assert_eq!(got.now(), expected.now(), "{what}: clock");
    assert_eq!(
        got.next_deadline(),
        expected.next_deadline(),
        "{what}: timer"
    );
}

#[test]
fn stream_destination_equals_the_7_2_22_model_in_every_state() {
    let s = spec(SMALL_CFI01);
    for (what, ops) in cfi01_states() {
        let mut dev = device(&s, 0xFF);
        run(dev.as_mut(), &ops, 4);
        assert_stream_equals_migrated(&s, dev.as_ref(), what);
    }
    let s = spec(SMALL_CFI02);
    for (what, ops) in cfi02_states() {
        let mut dev = device(&s, 0xFF);
        run(dev.as_mut(), &ops, 2);
        dev.advance(10_000);
        assert_stream_equals_migrated(&s, dev.as_ref(), what);
        // Also once the erase runs (DQ3 up), and after it completed.
        dev.advance(60_000);
        assert_stream_equals_migrated(&s, dev.as_ref(), what);
    }
}

#[test]
fn whole_image_is_written_back_on_a_non_shared_destination() {
    let s = spec(SMALL_CFI01);
    let mut src = device(&s, 0xFF);
    run(src.as_mut(), &[(0x100, 0x40), (0x100, 0x1234_5678)], 4);
    let stream = save_stream(NOR_5_0, &[src.as_ref()]);
    // The destination's own image is stale (not shared with the source).
    let len = devices::image_size(&s).unwrap();
    let stale = devices::create(&s, BlockBackend::memory(len, 0xFF, true)).unwrap();
    let mut dst = Machine::new(NOR_5_0, vec![stale]);
    dst.load_into(&stream).unwrap();
    assert_eq!(dst.devices[0].backend().image(), Some(src.array()));
    // Read-only: post_load registers no write-back.
    let ro = devices::create(&s, BlockBackend::memory(len, 0xFF, false)).unwrap();
    let mut dst = Machine::new(NOR_5_0, vec![ro]);
    dst.load_into(&stream).unwrap();
    assert_eq!(dst.devices[0].array(), src.array());
    assert_ne!(dst.devices[0].backend().image(), Some(src.array()));
}

#[test]
fn qemu_destination_quirks_romd_on_and_missing_subsection_kept() {
    let s = spec(SMALL_CFI01);
    let mut src = device(&s, 0xFF);
    w(src.as_mut(), 0x154, 4, 0x98);
    assert_eq!(r(src.as_mut(), 0x40, 4), 0x0051_0051);
    let mut dst = Machine::new(NOR_5_0, vec![fresh_for(&s, src.as_ref())]);
    dst.load_into(&save_stream(NOR_5_0, &[src.as_ref()]))
        .unwrap();
    // ROMD is not restored: the CFI query reads array data (measured).
    assert_eq!(r(dst.devices[0].as_mut(), 0x40, 4), 0xFFFF_FFFF);
    w(dst.devices[0].as_mut(), 0, 4, 0xFF);
    w(dst.devices[0].as_mut(), 0x154, 4, 0x98);
    assert_eq!(r(dst.devices[0].as_mut(), 0x40, 4), 0x0051_0051);
}
