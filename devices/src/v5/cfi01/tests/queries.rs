//! Identifier and CFI reads, legacy and device-width formulas (spec §8),
//! with the worked examples of §8.3 for each example configuration.

use super::*;

fn cfi_mode(cfg: &[(&str, &str)]) -> PflashCfi01 {
    let mut d = erased(cfg);
    wr(&mut d, 0x154, 1, 0x98);
    d
}

fn id_mode(cfg: &[(&str, &str)]) -> PflashCfi01 {
    let mut d = erased(cfg);
    wr(&mut d, 0, 1, 0x90);
    d
}

// arm virt / vexpress: width 4, device-width 2 (S = 2), measured

#[test]
fn virt_cfi_reads_replicate_each_entry_in_both_x16_lanes() {
    let mut d = cfi_mode(VIRT);
    assert_eq!(rd(&mut d, 0x40, 4), 0x0051_0051);
    assert_eq!(rd(&mut d, 0x44, 4), 0x0052_0052);
    assert_eq!(rd(&mut d, 0x48, 4), 0x0059_0059);
    assert_eq!(rd(&mut d, 0x40, 2), 0x0051);
    assert_eq!(rd(&mut d, 0x42, 2), 0x0051);
    assert_eq!(rd(&mut d, 0x40, 1), 0x51);
}

#[test]
fn virt_cfi_entry_n_is_at_4n_and_past_the_table_reads_zero() {
    let mut d = cfi_mode(VIRT);
    let table = d.cfi_table().to_vec();
    for (n, &b) in table.iter().enumerate() {
        let expect = (b as u64) << 16 | b as u64;
        assert_eq!(rd(&mut d, 4 * n as u64, 4), expect, "entry {n:#x}");
    }
    for addr in [0x148, 0x14C, 0x3FC, 0x400, 0x440, 0x1_0040] {
        assert_eq!(
            rd(&mut d, addr, 4),
            0,
            "{addr:#x}: no wrap in device-width mode"
        );
    }
}

#[test]
fn virt_id_reads_replicate_and_repeat_every_kib() {
    let mut d = id_mode(VIRT);
    assert_eq!(rd(&mut d, 0x0, 4), 0x0089_0089);
    assert_eq!(rd(&mut d, 0x4, 4), 0x0018_0018);
    assert_eq!(rd(&mut d, 0x8, 4), 0x0000_0000);
    assert_eq!(rd(&mut d, 0xC, 4), 0x0000_0000);
    for base in [0x400, 0x800, 0x4_0000, 0x3FF_FC00] {
        assert_eq!(rd(&mut d, base, 4), 0x0089_0089, "{base:#x}");
        assert_eq!(rd(&mut d, base + 4, 4), 0x0018_0018, "{base:#x}");
    }
}

#[test]
fn virt_qtest_split_reads_combine_device_accesses_little_endian() {
    // §5.2, measured: readq/readw/readl at misaligned addresses.
    let mut d = cfi_mode(VIRT);
    assert_eq!(rd(&mut d, 0x40, 8), 0x0052_0052_0051_0051);
    assert_eq!(rd(&mut d, 0x41, 2), 0x5151);
    assert_eq!(rd(&mut d, 0x42, 4), 0x0052_0051);
    assert_eq!(rd(&mut d, 0x41, 1), 0x51);
    assert_eq!(rd(&mut d, 0x43, 1), 0x51);
}

// x86 pc/q35: width 1, legacy

#[test]
fn x86_cfi_entry_n_is_at_byte_n_and_wraps_every_256_bytes() {
    let mut d = cfi_mode(X86);
    let table = d.cfi_table().to_vec();
    assert_eq!(rd(&mut d, 0x10, 1), 0x51);
    assert_eq!(rd(&mut d, 0x10, 2), 0x0051, "single byte, zero-extended");
    for base in [0, 0x100, 0xF_FF00] {
        for (n, &b) in table.iter().enumerate() {
            assert_eq!(rd(&mut d, base + n as u64, 1), b as u64, "{base:#x}+{n:#x}");
        }
        for n in 0x52..0x100 {
            assert_eq!(rd(&mut d, base + n, 1), 0, "{base:#x}+{n:#x}");
        }
    }
}

#[test]
fn x86_id_packs_two_codes_per_index() {
    let mut d = id_mode(X86);
    assert_eq!(rd(&mut d, 0, 2), 0, "the board's ids are 0");
    let mut d = id_mode(&with(
        X86,
        &[
            ("id0", "0x89"),
            ("id1", "0x18"),
            ("id2", "0x12"),
            ("id3", "0x34"),
        ],
    ));
    assert_eq!(rd(&mut d, 0, 2), 0x8918);
    assert_eq!(rd(&mut d, 0, 1), 0x18, "a byte read returns the low byte");
    assert_eq!(rd(&mut d, 0, 4), 0x8918, "one access: the whole answer");
    assert_eq!(
        rd(&mut d, 1, 1),
        0x34,
        "index 1: (id2 << 8) | id3, low byte"
    );
    assert_eq!(rd(&mut d, 1, 2), 0x34, "split into byte reads at 1 and 2");
    assert_eq!(rd(&mut d, 2, 2), 0);
    assert_eq!(rd(&mut d, 0x100, 2), 0x8918, "wraps every 256 bytes");
}

#[test]
fn legacy_id_codes_overlap_when_wider_than_a_byte() {
    // `(id0 << 8) | id1` with 16-bit codes: the bytes are OR-ed together.
    let mut d = id_mode(&with(X86, &[("id0", "0x1234"), ("id1", "0x5678")]));
    assert_eq!(rd(&mut d, 0, 4), 0x0012_7678);
}

// width-4 legacy (versatile and friends), measured

#[test]
fn width4_legacy_cfi_is_one_unreplicated_byte_at_4n() {
    let mut d = cfi_mode(VERSATILE);
    let table = d.cfi_table().to_vec();
    assert_eq!(rd(&mut d, 0x40, 4), 0x0000_0051);
    for (n, &b) in table.iter().enumerate().take(0x40) {
        assert_eq!(rd(&mut d, 4 * n as u64, 4), b as u64, "entry {n:#x}");
    }
    assert_eq!(rd(&mut d, 0x140, 4), 0x51, "wraps every 256 bytes");
}

#[test]
fn width4_legacy_cfi_entries_from_0x40_are_unreachable() {
    let mut d = cfi_mode(VERSATILE);
    // 0xFC is the last in-window index (0x3F); 0x100 wraps to entry 0.
    assert_eq!(rd(&mut d, 0xFC, 4), 0x01, "entry 0x3F");
    assert_eq!(rd(&mut d, 0x100, 4), 0, "entry 0 again, not 0x40");
    assert_eq!(rd(&mut d, 0x144, 4), 0x52, "entry 0x11 again, not 0x51");
}

#[test]
fn width4_legacy_id_reads_pack_and_truncate() {
    let mut d = id_mode(VERSATILE);
    assert_eq!(rd(&mut d, 0, 4), 0x0000_8918);
    assert_eq!(rd(&mut d, 0, 2), 0x8918);
    assert_eq!(rd(&mut d, 0, 1), 0x18);
    assert_eq!(rd(&mut d, 4, 4), 0);
    assert_eq!(rd(&mut d, 8, 4), 0);
    assert_eq!(rd(&mut d, 2, 2), 0x8918, "index is off >> 2");
    let mut z = id_mode(&with(VERSATILE, &[("id0", "0"), ("id1", "0")]));
    assert_eq!(rd(&mut z, 0, 4), 0, "boards with zero ids read 0");
}

// width-2 legacy (connex, verdex), measured on connex

#[test]
fn width2_legacy_cfi_reaches_every_entry_at_2n() {
    let mut d = cfi_mode(CONNEX);
    let table = d.cfi_table().to_vec();
    for (n, &b) in table.iter().enumerate() {
        assert_eq!(rd(&mut d, 2 * n as u64, 2), b as u64, "entry {n:#x}");
    }
    for n in 0x52..0x80u64 {
        assert_eq!(rd(&mut d, 2 * n, 2), 0, "entry {n:#x}");
    }
    assert_eq!(rd(&mut d, 0x120, 2), 0x51, "wraps every 256 bytes");
    assert_eq!(rd(&mut d, 0x20, 4), 0x0000_0051, "one byte, no replication");
}

// x8 mode: width 4, device-width 1, max-device-width 2 (S = 3), measured

#[test]
fn x8_mode_repeats_the_byte_in_every_lane() {
    let mut d = cfi_mode(X8_MODE);
    assert_eq!(rd(&mut d, 0x80, 4), 0x5151_5151);
    assert_eq!(rd(&mut d, 0x88, 4), 0x5252_5252);
    assert_eq!(rd(&mut d, 0x87, 1), 0x51, "index is off >> 3");
    assert_eq!(rd(&mut d, 0x52 * 8, 4), 0, "past the table");
}

#[test]
fn x8_mode_id_replicates_the_low_byte_per_chip() {
    let mut d = id_mode(&with(X8_MODE, &[("id0", "0x89"), ("id1", "0x18")]));
    assert_eq!(rd(&mut d, 0, 4), 0x8989_8989);
    assert_eq!(rd(&mut d, 8, 4), 0x1818_1818);
    assert_eq!(rd(&mut d, 0x10, 4), 0);
    assert_eq!(rd(&mut d, 0x800, 4), 0x8989_8989, "wraps every 256 entries");
}

// formula details of §8.2

#[test]
fn wide_reads_advance_the_query_address_by_i_times_bank_width() {
    // width 2, device-width 2: S = 1. A 4-byte read at 0x20 (entry 0x10)
    // takes its upper half from 0x20 + 2·2 = 0x24 (entry 0x12, 'Y'), not 0x22.
    let cfg = with(CONNEX, &[("device-width", "2")]);
    let mut d = cfi_mode(&cfg);
    assert_eq!(d.io_read(0x20, 4), 0x0059_0051);
    assert_eq!(d.io_read(0x20, 2), 0x0051);
    // width 1, device-width 1: one query per byte at off + i.
    let cfg = with(X86, &[("device-width", "1")]);
    let mut d = cfi_mode(&cfg);
    assert_eq!(
        d.io_read(0x10, 4),
        0x0159_5251,
        "entries 0x10..0x13, one per byte"
    );
}

#[test]
fn device_width_smaller_than_max_but_not_x8_reads_zero_cfi() {
    // dw != mdw is supported only for dw == 1; ID reads are unaffected.
    let cfg = with(VIRT, &[("max-device-width", "4")]);
    let mut d = cfi_mode(&cfg);
    assert_eq!(rd(&mut d, 0x20, 4), 0);
    let mut d = id_mode(&cfg);
    // S = 2 + 2 - 1 = 3: id1 at 8.
    assert_eq!(rd(&mut d, 0, 4), 0x0089_0089);
    assert_eq!(rd(&mut d, 8, 4), 0x0018_0018);
}

#[test]
fn negative_query_shift_behaves_like_x86_64() {
    // width 3, device-width 2, max-device-width 1: S = 0 + 0 - 1 = -1, which
    // an x86-64 QEMU executes as a shift by 63: every address is index 0.
    let cfg = [
        ("num-blocks", "4"),
        ("sector-length", "0x3000"),
        ("width", "3"),
        ("device-width", "2"),
        ("max-device-width", "1"),
        ("id0", "0x89"),
        ("id1", "0x18"),
        ("name", "odd"),
    ];
    let mut d = id_mode(&cfg);
    assert_eq!(d.io_read(0, 2), 0x0089);
    assert_eq!(d.io_read(0x40, 2), 0x0089, "index 0 everywhere");
    let mut d = cfi_mode(&cfg);
    assert_eq!(d.io_read(0x20, 2), 0, "dw != mdw with dw 2: unsupported");
}
