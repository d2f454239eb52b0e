//! Corrupted streams never panic and never leave a destination half-loaded:
//! truncation at every byte, bit flips, random bytes and huge lengths, on a
//! realistic stream (two cfi01 flashes, one with an open write buffer, and a
//! cfi02 in the middle of an erase).

mod migration_support;

use devices::catalogue::compat::{NOR_5_0, NOR_6_0, V6_CFI01_TYPE, V6_CFI02_TYPE};
use devices::migration::{LoadError, Machine};
use devices::FlashDevice;
use migration_support::*;
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The busy state's history, on either release's devices (flash0, flash1,
/// flash2 = the small cfi01, the legacy cfi01, the cfi02).
fn make_busy(devs: &mut [Box<dyn FlashDevice>]) {
    // flash0: a buffered write with two words staged (wcycle 2).
    w(devs[0].as_mut(), 0x1000, 4, 0xE8);
    w(devs[0].as_mut(), 0x1000, 4, 0x0003_0003);
    w(devs[0].as_mut(), 0x1000, 4, 0x1234_5678);
    w(devs[0].as_mut(), 0x1004, 4, 0x9ABC_DEF0);
    // flash1: a programmed word, then status mode.
    w(devs[1].as_mut(), 0x2_0040, 4, 0x40);
    w(devs[1].as_mut(), 0x2_0040, 4, 0x0BAD_F00D);
    // flash2: a sector erase running (past the 50 us window).
    for (a, v) in [
        (0xAAAA, 0xAA),
        (0x5554, 0x55),
        (0xAAAA, 0x80),
        (0xAAAA, 0xAA),
        (0x5554, 0x55),
        (0x3_0000, 0x30),
    ] {
        w(devs[2].as_mut(), a, 2, v);
    }
    devs[2].advance(60_000);
}

/// A v5 machine in a busy state, and a fresh destination for it.
fn busy_v5() -> (Machine, Machine) {
    let specs = [
        spec(SMALL_CFI01),
        spec(SMALL_CFI01_LEGACY),
        spec(SMALL_CFI02),
    ];
    let mut devs: Vec<_> = specs.iter().map(|s| device(s, 0xFF)).collect();
    make_busy(&mut devs);
    let src = Machine::new(NOR_5_0, devs);
    let dst = destination(&specs, &drives(&src), NOR_5_0);
    (src, dst)
}

/// The same machine on v6 under nor-6.0: new sections, a write-buffer
/// subsection and an erase subsection with a pending timer.
fn busy_v6() -> (Machine, Machine) {
    let (v5, _) = busy_v5();
    let v6_types = [V6_CFI01_TYPE, V6_CFI01_TYPE, V6_CFI02_TYPE];
    let specs: Vec<_> = [SMALL_CFI01, SMALL_CFI01_LEGACY, SMALL_CFI02]
        .iter()
        .zip(v6_types)
        .map(|(s, t)| with_type(&spec(s), t))
        .collect();
    let mut devs: Vec<_> = specs.iter().map(|s| device(s, 0xFF)).collect();
    // The v5 machine's history on v6 (same guest-visible behaviour).
    make_busy(&mut devs);
    for (a, b) in devs.iter().zip(&v5.devices) {
        assert_eq!(a.array(), b.array());
    }
    let src = Machine::new(NOR_6_0, devs);
    let dst = destination(&specs, &drives(&src), NOR_6_0);
    (src, dst)
}

/// Loads `bytes` into a fork of `dst`; on failure the fork must be unchanged.
fn load_checked(dst: &Machine, before: &Snapshot, bytes: &[u8], what: &str) -> bool {
    let mut d = dst.fork();
    match d.load_into(bytes) {
        Ok(_) => true,
        Err(e) => {
            assert!(
                e.error.offset() <= bytes.len(),
                "{what}: offset past the end: {e}"
            );
            assert_eq!(&snapshot(&d), before, "{what}: destination changed by {e}");
            false
        }
    }
}

#[test]
fn truncation_at_every_byte_is_refused_and_changes_nothing() {
    let (src, dst) = busy_v5();
    let bytes = src.save();
    let before = snapshot(&dst);
    for cut in 0..bytes.len() {
        assert!(
            !load_checked(&dst, &before, &bytes[..cut], &format!("cut {cut}")),
            "a stream cut at byte {cut} of {} loaded",
            bytes.len()
        );
    }
    let mut d = dst.fork();
    d.load_into(&bytes).expect("the whole stream loads");
}

#[test]
fn v6_stream_truncation_and_bit_flips_never_half_load() {
    let (src, dst) = busy_v6();
    let bytes = src.save();
    for sub in [
        &b"parallel-nor-cfi01-flash/write-buffer"[..],
        b"parallel-nor-cfi02-flash/erase",
    ] {
        assert!(
            bytes.windows(sub.len()).any(|w| w == sub),
            "subsections present"
        );
    }
    let before = snapshot(&dst);
    for cut in 0..bytes.len() {
        assert!(!load_checked(
            &dst,
            &before,
            &bytes[..cut],
            &format!("cut {cut}")
        ));
    }
    for i in 0..bytes.len() {
        let mut flipped = bytes.clone();
        flipped[i] ^= 1 << ((i * 5) % 8);
        load_checked(&dst, &before, &flipped, &format!("byte {i}"));
    }
    let mut d = dst.fork();
    d.load_into(&bytes).expect("the whole stream loads");
    assert_eq!(snapshot(&d).devices.len(), 3);
    for (a, b) in d.devices.iter().zip(&src.devices) {
        assert_eq!(a.state(), b.state());
    }
}

#[test]
fn truncation_errors_name_the_offset_and_what_was_read() {
    let (src, dst) = busy_v5();
    let bytes = src.save();
    let section = bytes
        .windows(12)
        .position(|w| w == b"pflash_cfi01")
        .unwrap();
    // Cut in the middle of the first section's counter.
    let counter_at = section + 12 + 4 + 4 + 3;
    let err = dst.fork().load_into(&bytes[..counter_at + 5]).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "truncated stream at byte {counter_at} while reading section 'pflash_cfi01' \
             instance 0 field 'pflash_cfi01:counter' (8 bytes needed, 5 left)"
        )
    );
}

#[test]
fn bit_flips_never_panic_or_half_load() {
    let (src, dst) = busy_v5();
    let bytes = src.save();
    let before = snapshot(&dst);
    let mut refused = 0;
    for i in 0..bytes.len() {
        let bit = (i * 3) % 8;
        let mut flipped = bytes.clone();
        flipped[i] ^= 1 << bit;
        if !load_checked(&dst, &before, &flipped, &format!("byte {i} bit {bit}")) {
            refused += 1;
        }
    }
    // Every flip in framing is refused; flips in page data load (with other data).
    assert!(refused > 0);
}

#[test]
fn random_bytes_and_random_damage_never_panic_or_half_load() {
    let (src, dst) = busy_v5();
    let bytes = src.save();
    let before = snapshot(&dst);
    for seed in 0..300u64 {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        // Pure noise, sometimes behind a valid header.
        let mut noise = vec![0u8; rng.gen_range(0..2048)];
        rng.fill_bytes(&mut noise);
        if seed % 2 == 0 {
            let mut with_header = bytes[..rng.gen_range(0..64)].to_vec();
            with_header.extend_from_slice(&noise);
            noise = with_header;
        }
        load_checked(&dst, &before, &noise, &format!("noise seed {seed}"));
        // A valid stream with a few random bytes overwritten.
        let mut damaged = bytes.clone();
        for _ in 0..rng.gen_range(1..8) {
            let at = rng.gen_range(0..damaged.len());
            damaged[at] = rng.gen();
        }
        load_checked(&dst, &before, &damaged, &format!("damage seed {seed}"));
        // Random bytes spliced in, or a random range cut out.
        let mut spliced = bytes.clone();
        let at = rng.gen_range(0..spliced.len());
        if seed % 3 == 0 {
            let end = (at + rng.gen_range(1..64)).min(spliced.len());
            spliced.drain(at..end);
        } else {
            let mut extra = vec![0u8; rng.gen_range(1..32)];
            rng.fill_bytes(&mut extra);
            spliced.splice(at..at, extra);
        }
        load_checked(&dst, &before, &spliced, &format!("splice seed {seed}"));
    }
}

fn header() -> Vec<u8> {
    let mut b = vec![0x51, 0x45, 0x56, 0x4D, 0, 0, 0, 3, 7, 0, 0, 0, 7];
    b.extend_from_slice(b"nor-5.0");
    b.extend_from_slice(&[5, 0x1E]);
    b.extend_from_slice(b"configuration/target-page-bits");
    b.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 12]);
    b
}

fn ram_start() -> Vec<u8> {
    vec![1, 0, 0, 0, 0, 3, b'r', b'a', b'm', 0, 0, 0, 0, 0, 0, 0, 4]
}

#[test]
fn huge_lengths_are_refused_without_allocating() {
    let (_, dst) = busy_v5();
    let before = snapshot(&dst);
    let refuse = |bytes: &[u8]| -> LoadError {
        let mut d = dst.fork();
        let e = d.load_into(bytes).unwrap_err();
        assert_eq!(snapshot(&d), before);
        e.error
    };
    // A 4 GiB machine type name.
    let mut b = header()[..9].to_vec();
    b.extend_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF, b'n']);
    assert!(matches!(
        refuse(&b),
        LoadError::Truncated { offset: 13, .. }
    ));
    // A 255-byte id string that is not there.
    let mut b = header();
    b.extend_from_slice(&[4, 0, 0, 0, 9, 0xFF, b'p']);
    assert!(matches!(refuse(&b), LoadError::Truncated { .. }));
    // A RAM total of 2^64 - 4096 with a block claiming most of it.
    let mut b = header();
    b.extend_from_slice(&ram_start());
    b.extend_from_slice(&(!0xFFFu64 | 4).to_be_bytes());
    b.push(12);
    b.extend_from_slice(b"small.flash0");
    b.extend_from_slice(&(1u64 << 62).to_be_bytes());
    b.push(0x42);
    let e = refuse(&b);
    assert!(
        e.to_string()
            .starts_with("Size mismatch: small.flash0: 0x4000000000000000 != 0x100000"),
        "{e}"
    );
    // A block longer than the announced total.
    let mut b = header();
    b.extend_from_slice(&ram_start());
    b.extend_from_slice(&(0x1000u64 | 4).to_be_bytes());
    b.push(12);
    b.extend_from_slice(b"small.flash0");
    b.extend_from_slice(&0x10_0000u64.to_be_bytes());
    assert!(matches!(refuse(&b), LoadError::Corrupt { .. }));
    // A page far beyond its block.
    let mut b = header();
    b.extend_from_slice(&ram_start());
    b.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0x10, 0x7E, 0, 0, 0, 0, 2, 0, 0, 0, 0]);
    b.extend_from_slice(&(0xFFFF_FFFF_FFFF_F000u64 | 0x08).to_be_bytes());
    b.push(12);
    b.extend_from_slice(b"small.flash0");
    let e = refuse(&b);
    assert!(
        e.to_string()
            .starts_with("Illegal RAM offset fffffffffffff000 (block 'small.flash0'"),
        "{e}"
    );
    // A subsection marker with a 255-byte name at the end of a section: as
    // in QEMU the short peek stops the subsection scan, so the marker is
    // taken for a footer.
    let (src, _) = busy_v5();
    let bytes = src.save();
    let sub = bytes
        .windows(22)
        .position(|w| w == b"pflash_cfi01_blk_write")
        .unwrap();
    let mut b = bytes[..sub - 1].to_vec();
    b.push(0xFF);
    b.extend_from_slice(b"pflash_cfi01_x");
    assert!(matches!(refuse(&b), LoadError::MissingFooter { .. }));
}

#[test]
fn framing_errors_use_qemus_messages() {
    let (src, dst) = busy_v5();
    let bytes = src.save();
    let load = |b: &[u8]| dst.fork().load_into(b).unwrap_err().error.to_string();
    let mut b = bytes.clone();
    b[0] = b'X';
    assert_eq!(load(&b), "Not a migration stream (at byte 0)");
    let mut b = bytes.clone();
    b[7] = 2;
    assert_eq!(
        load(&b),
        "SaveVM v2 format is obsolete and don't work anymore (at byte 4)"
    );
    let mut b = bytes.clone();
    b[7] = 4;
    assert!(load(&b).starts_with("Unsupported migration stream version"));
    let mut b = bytes.clone();
    b[8] = 4;
    assert!(load(&b).starts_with("Configuration section missing"));
    // Target page bits 13.
    let mut b = bytes.clone();
    let at = header().len() - 1;
    b[at] = 13;
    assert_eq!(
        load(&b),
        format!(
            "Received TARGET_PAGE_BITS is 13 but local is 12 (at byte {})",
            at - 3
        )
    );
    // A footer with the wrong section id.
    let section = bytes
        .windows(12)
        .position(|w| w == b"pflash_cfi01")
        .unwrap();
    let footer = section + 12 + 8 + 11 + 2 + 22 + 4 + 4096 + 4;
    assert_eq!(bytes[footer], 0x7E);
    let mut b = bytes.clone();
    b[footer + 4] = 9;
    assert_eq!(
        load(&b),
        format!(
            "Mismatched section id in footer for pflash_cfi01 - read 0x9 expected 0x1 \
             (at byte {footer})"
        )
    );
    let mut b = bytes.clone();
    b[footer] = 0x7F;
    assert_eq!(
        load(&b),
        format!("Missing section footer for pflash_cfi01 (at byte {footer})")
    );
    // An unknown section type.
    let mut b = bytes.clone();
    b[footer + 5] = 0x09;
    assert_eq!(
        load(&b),
        format!("Unknown savevm section type 9 (at byte {})", footer + 5)
    );
}
