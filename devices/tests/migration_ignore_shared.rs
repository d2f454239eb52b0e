//! The `x-ignore-shared` capability: a flash whose drive the destination
//! shares sends only the pages that differ from its drive image, so the
//! stream (and the migration's cost) follows what was touched, not the
//! flash size.

mod migration_support;

use devices::catalogue::compat::NOR_5_0;
use devices::migration::stream::CONFIGURATION_CAPABILITIES;
use devices::migration::{Capability, LoadError, LoadErrorKind, Machine};
use devices::{BlockBackend, DeviceSpec, FlashDevice, Storage};
use migration_support::*;

fn cfi01_spec(bank: usize, mib: u64) -> DeviceSpec {
    spec(&format!(
        "cfi.pflash01,name=bank{bank}.flash,num-blocks={},sector-length=0x40000,width=4,\
         device-width=2,id0=0x89,id1=0x18",
        mib * 4
    ))
}

fn cfi02_spec() -> DeviceSpec {
    spec(SMALL_CFI02)
}

fn specs(mib: u64) -> Vec<DeviceSpec> {
    vec![cfi01_spec(0, mib), cfi01_spec(1, mib), cfi02_spec()]
}

/// Two cfi01 banks of `mib` MiB and a cfi02, with `words` words programmed
/// in bank 0 (one per page), one in bank 1 and one in the cfi02, all back in
/// Read Array mode.
fn source(mib: u64, words: u64) -> Machine {
    let mut devs: Vec<_> = specs(mib).iter().map(|s| device(s, 0xFF)).collect();
    for i in 0..words {
        let a = (i * 4096 * 3) % (mib << 20);
        w(devs[0].as_mut(), a, 4, 0x40);
        w(devs[0].as_mut(), a, 4, 0x1234_0000 | i);
    }
    w(devs[1].as_mut(), 0x8_0000, 4, 0x40);
    w(devs[1].as_mut(), 0x8_0000, 4, 0xCAFE_F00D);
    devs[2].advance(1_000_000);
    // Back to Read Array, so that ROMD is on (v5 does not migrate it).
    w(devs[0].as_mut(), 0, 4, 0xFF);
    w(devs[1].as_mut(), 0, 4, 0xFF);
    for (a, v) in [
        (0xAAAA, 0xAA),
        (0x5554, 0x55),
        (0xAAAA, 0xA0),
        (0x2000, 0x1234),
    ] {
        w(devs[2].as_mut(), a, 2, v);
    }
    Machine::new(NOR_5_0, devs).with_capability(Capability::XIgnoreShared)
}

fn ignore_shared_destination(src: &Machine, specs: &[DeviceSpec]) -> Machine {
    destination(specs, &forked_drives(src), NOR_5_0).with_capability(Capability::XIgnoreShared)
}

/// The source's drives as a destination opens them (shared storage).
fn forked_drives(m: &Machine) -> Vec<BlockBackend> {
    m.devices.iter().map(|d| d.backend().fork()).collect()
}

fn assert_same_machine(a: &Machine, b: &Machine) {
    assert_eq!(a.devices.len(), b.devices.len());
    for (x, y) in a.devices.iter().zip(&b.devices) {
        assert_eq!(x.array(), y.array(), "{}", x.ram_block_name());
        assert_eq!(
            x.backend().image(),
            y.backend().image(),
            "{}",
            x.ram_block_name()
        );
        // v5's cfi02 migrates no state: the destination keeps its power-on state.
        let expected = if x.type_name() == "cfi.pflash02" {
            device(&cfi02_spec(), 0xFF).state()
        } else {
            x.state()
        };
        assert_eq!(y.state(), expected, "{}", x.ram_block_name());
    }
}

fn capabilities_subsection() -> Vec<u8> {
    let mut b = vec![5, CONFIGURATION_CAPABILITIES.len() as u8];
    b.extend_from_slice(CONFIGURATION_CAPABILITIES.as_bytes());
    b.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1, 15]);
    b.extend_from_slice(b"x-ignore-shared");
    b
}

#[test]
fn two_64_mib_banks_and_a_cfi02_round_trip_with_a_small_stream() {
    let src = source(64, 200);
    let bytes = src.save();
    assert!(
        bytes.len() < 64 * 1024,
        "stream of {} bytes for ≤ 256 touched pages",
        bytes.len()
    );
    // The capability travels as QEMU 7.2 encodes it, after the page bits.
    let sub = capabilities_subsection();
    let at = bytes
        .windows(sub.len())
        .position(|w| w == sub)
        .expect("configuration/capabilities");
    assert_eq!(at, 13 + NOR_5_0.len() - 7 + 7 + 2 + 30 + 8);
    let mut dst = ignore_shared_destination(&src, &specs(64));
    let report = dst.load_into(&bytes).expect("loads");
    assert_eq!(report.sections.len(), 2, "the two cfi01 sections");
    assert_same_machine(&src, &dst);
    // Again from the destination: same stream.
    assert_eq!(dst.save(), bytes);
}

#[test]
fn stream_size_follows_touched_pages_not_flash_size() {
    let small = source(8, 200).save();
    let large = source(128, 200).save();
    assert_eq!(small.len(), large.len());
    // Without the capability, every page of every block is on the wire.
    let mut plain = source(8, 200);
    plain = Machine::new(NOR_5_0, plain.devices);
    let full = plain.save();
    assert!(full.len() > small.len() + 2 * 8 * 256 * 9, "{}", full.len());
}

#[test]
fn pages_that_differ_from_the_drive_travel() {
    // A read-only drive: programming changes the array but not the image,
    // so those pages are sent, and only those.
    let ro = |s: &DeviceSpec| {
        let len = devices::image_size(s).unwrap();
        devices::create(s, BlockBackend::memory(len, 0xFF, false)).unwrap()
    };
    let specs = specs(8);
    let mut devs: Vec<Box<dyn FlashDevice>> = specs.iter().map(ro).collect();
    // cfi01 on a read-only drive still programs its array (QEMU: no write-back).
    w(devs[0].as_mut(), 0x3000, 4, 0x40);
    w(devs[0].as_mut(), 0x3000, 4, 0x5555_AAAA);
    w(devs[0].as_mut(), 0x3000, 4, 0xFF);
    let src = Machine::new(NOR_5_0, devs).with_capability(Capability::XIgnoreShared);
    let dirty: Vec<usize> = src
        .devices
        .iter()
        .map(|d| d.array().dirty_pages(d.backend().image().unwrap()).len())
        .collect();
    let bytes = src.save();
    let mut dst = ignore_shared_destination(&src, &specs);
    let report = dst.load_into(&bytes).unwrap();
    for (d, n) in src.devices.iter().zip(&dirty) {
        let listed = report.ram_blocks.iter().any(|b| b == d.ram_block_name());
        assert_eq!(listed, *n > 0, "{}", d.ram_block_name());
    }
    assert_same_machine(&src, &dst);
}

#[test]
fn a_destination_without_the_capability_refuses_it_unchanged() {
    let src = source(8, 16);
    let bytes = src.save();
    let dst = destination(&specs(8), &forked_drives(&src), NOR_5_0);
    let before = snapshot(&dst);
    let mut d = dst.fork();
    let err = d.load_into(&bytes).unwrap_err();
    assert_eq!(err.error.kind(), LoadErrorKind::Capability);
    assert!(matches!(
        &err.error,
        LoadError::CapabilityMismatch { capability, local: false, received: true, .. }
            if capability == "x-ignore-shared"
    ));
    assert!(
        err.to_string()
            .starts_with("Capability x-ignore-shared is off, but received capability is on"),
        "{err}"
    );
    assert_eq!(snapshot(&d), before);
}

#[test]
fn a_destination_with_the_capability_refuses_a_stream_without_it_unchanged() {
    // QEMU 7.2 validates both ways: no capabilities subsection means "off".
    let src = source(8, 16);
    let plain = Machine::new(NOR_5_0, src.devices.iter().map(|d| d.fork()).collect());
    let bytes = plain.save();
    assert!(!bytes
        .windows(CONFIGURATION_CAPABILITIES.len())
        .any(|w| w == CONFIGURATION_CAPABILITIES.as_bytes()));
    let dst = ignore_shared_destination(&src, &specs(8));
    let before = snapshot(&dst);
    let mut d = dst.fork();
    let err = d.load_into(&bytes).unwrap_err();
    assert!(matches!(
        &err.error,
        LoadError::CapabilityMismatch { capability, local: true, received: false, .. }
            if capability == "x-ignore-shared"
    ));
    assert!(
        err.to_string()
            .starts_with("Capability x-ignore-shared is on, but received capability is off"),
        "{err}"
    );
    assert_eq!(snapshot(&d), before);
    // Without the capability on either side every page travels and loads.
    let mut plain_dst = destination(&specs(8), &forked_drives(&src), NOR_5_0);
    let report = plain_dst.load_into(&bytes).unwrap();
    assert_eq!(report.ram_blocks.len(), 3);
    assert_same_machine(&src, &plain_dst);
}

#[test]
fn unsent_pages_keep_the_destination_drive_contents() {
    // Not shared storage: the destination's drives hold something else. The
    // capability's contract (as in QEMU) is that unsent RAM is already on the
    // destination, so the destination keeps its own pages; only pages that
    // differ from the *source's* drive travel.
    let src = source(8, 4);
    let bytes = src.save();
    let other: Vec<BlockBackend> = src
        .devices
        .iter()
        .map(|d| {
            let mut image = Storage::filled(d.array().len(), 0xFF);
            image.write(0xC_0000, b"destination's own");
            BlockBackend::memory_from(image, true)
        })
        .collect();
    let mut dst =
        destination(&specs(8), &other, NOR_5_0).with_capability(Capability::XIgnoreShared);
    dst.load_into(&bytes)
        .expect("loads: nothing tells the difference");
    for (s, d) in src.devices.iter().zip(&dst.devices) {
        let mut buf = [0u8; 17];
        d.array().read(0xC_0000, &mut buf);
        assert_eq!(&buf, b"destination's own", "{}", d.ram_block_name());
        // The source's programmed words did not travel either: its drive had them.
        assert_ne!(s.array(), d.array());
        if s.type_name() != "cfi.pflash02" {
            assert_eq!(d.state(), s.state());
        }
    }
}

#[test]
fn corrupted_capabilities_are_refused_without_panic_or_change() {
    let src = source(8, 8);
    let bytes = src.save();
    let dst = ignore_shared_destination(&src, &specs(8));
    let before = snapshot(&dst);
    let sub = capabilities_subsection();
    let at = bytes.windows(sub.len()).position(|w| w == sub).unwrap();
    let refuse = |b: &[u8]| -> LoadError {
        let mut d = dst.fork();
        let e = d.load_into(b).unwrap_err();
        assert_eq!(snapshot(&d), before, "{e}");
        e.error
    };
    // Truncation anywhere in the configuration section and the RAM setup.
    for cut in 0..at + sub.len() + 200 {
        refuse(&bytes[..cut]);
    }
    // An unknown capability name (same length).
    let mut b = bytes.clone();
    let name = at + sub.len() - 15;
    b[name..name + 15].copy_from_slice(b"x-ignore-sharex");
    let e = refuse(&b);
    assert_eq!(e.kind(), LoadErrorKind::Capability);
    assert_eq!(
        e.to_string(),
        format!(
            "Received unknown capability x-ignore-sharex (at byte {})",
            name - 1
        )
    );
    // A huge count: the names run out (truncated), nothing is allocated.
    let mut b = bytes.clone();
    let count = at + 2 + CONFIGURATION_CAPABILITIES.len() + 4;
    b[count..count + 4].copy_from_slice(&[0xFF; 4]);
    assert!(matches!(
        refuse(&b),
        LoadError::UnknownCapability { .. } | LoadError::Truncated { .. }
    ));
    // A name length past the end of the stream.
    let mut b = bytes[..at + sub.len() - 16].to_vec();
    b.push(0xFF);
    b.extend_from_slice(b"x-ignore-shared");
    assert!(matches!(refuse(&b), LoadError::Truncated { .. }));
    // Version 2 of the subsection.
    let mut b = bytes.clone();
    b[count - 1] = 2;
    assert!(matches!(refuse(&b), LoadError::VersionTooNew { .. }));
    // A count of zero: the RAM setup's block addresses are then misparsed
    // as lengths, which the size checks refuse.
    let mut b = bytes.clone();
    b.drain(count + 4..at + sub.len());
    b[count + 3] = 0;
    refuse(&b);
    // A non-zero guest address for a shared block.
    let mut b = bytes.clone();
    let block = b.windows(11).position(|w| w == b"bank0.flash").unwrap();
    let addr = block + 11 + 8;
    b[addr + 7] = 0x10;
    let e = refuse(&b);
    assert!(
        e.to_string()
            .starts_with("Mismatched GPAs for block bank0.flash 16!= 0"),
        "{e}"
    );
    // Bit flips over the configuration section and the RAM setup.
    for i in 8..(at + sub.len() + 120).min(bytes.len()) {
        for bit in [0, 3, 7] {
            let mut b = bytes.clone();
            b[i] ^= 1 << bit;
            let mut d = dst.fork();
            if d.load_into(&b).is_err() {
                assert_eq!(snapshot(&d), before, "byte {i} bit {bit}");
            }
        }
    }
    let mut d = dst.fork();
    d.load_into(&bytes).expect("the intact stream loads");
}
