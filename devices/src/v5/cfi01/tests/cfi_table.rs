//! The CFI query table byte by byte and the write-buffer size (spec §11, §12).

use super::*;
use crate::v5::cfi01::cfi_table::build;
use crate::v5::cfi01::Config;

/// One board row of §11: configuration and expected 0x27, 0x2A, 0x2D..0x30, writeblock_size.
struct Row {
    board: &'static str,
    blocks: u64,
    sector: u64,
    width: u8,
    device_width: u8,
    size_log2: u8,
    buffer_log2: u8,
    region: [u8; 4],
    writeblock_size: u32,
}

fn realize_row(r: &Row) -> PflashCfi01 {
    let (blocks, sector) = (r.blocks.to_string(), r.sector.to_string());
    let (width, dw) = (r.width.to_string(), r.device_width.to_string());
    PflashCfi01::new(
        &props(&[
            ("num-blocks", &blocks),
            ("sector-length", &sector),
            ("width", &width),
            ("device-width", &dw),
            ("name", r.board),
        ]),
        BlockBackend::none(),
    )
    .expect("board configuration realizes")
}

const fn row(
    board: &'static str,
    blocks: u64,
    sector: u64,
    width: u8,
    device_width: u8,
    size_log2: u8,
    region: [u8; 4],
) -> Row {
    let buffer_log2 = if width == 1 { 0x08 } else { 0x0B };
    // Legacy mode (device-width 0) counts as one chip.
    let num_devices = match width.checked_div(device_width) {
        Some(n) => n as u32,
        None => 1,
    };
    Row {
        board,
        blocks,
        sector,
        width,
        device_width,
        size_log2,
        buffer_log2,
        region,
        writeblock_size: (1 << buffer_log2) * num_devices,
    }
}

const ROWS: &[Row] = &[
    row("virt", 256, 256 * KIB, 4, 2, 0x19, [0xFF, 0x00, 0x00, 0x02]),
    row(
        "vexpress",
        256,
        256 * KIB,
        4,
        2,
        0x19,
        [0xFF, 0x00, 0x00, 0x02],
    ),
    row(
        "versatilepb",
        256,
        256 * KIB,
        4,
        0,
        0x1A,
        [0xFF, 0x00, 0x00, 0x04],
    ),
    row(
        "collie",
        512,
        64 * KIB,
        4,
        0,
        0x19,
        [0xFF, 0x01, 0x00, 0x01],
    ),
    row(
        "mainstone",
        128,
        256 * KIB,
        4,
        0,
        0x19,
        [0x7F, 0x00, 0x00, 0x04],
    ),
    row(
        "connex",
        128,
        128 * KIB,
        2,
        0,
        0x18,
        [0x7F, 0x00, 0x00, 0x02],
    ),
    row(
        "verdex",
        256,
        128 * KIB,
        2,
        0,
        0x19,
        [0xFF, 0x00, 0x00, 0x02],
    ),
    row("z2", 128, 64 * KIB, 4, 0, 0x17, [0x7F, 0x00, 0x00, 0x01]),
    row("sx1", 256, 128 * KIB, 4, 0, 0x19, [0xFF, 0x00, 0x00, 0x02]),
    row(
        "sx1-v1 flash0",
        128,
        128 * KIB,
        4,
        0,
        0x18,
        [0x7F, 0x00, 0x00, 0x02],
    ),
    row(
        "sx1-v1 flash1",
        64,
        128 * KIB,
        4,
        0,
        0x17,
        [0x3F, 0x00, 0x00, 0x02],
    ),
    // pc/q35 with images of S bytes: S/4096 × 4 KiB, 0x27 = ctz32(S).
    row("pc 1 MiB", 256, 4 * KIB, 1, 0, 20, [0xFF, 0x00, 0x10, 0x00]),
    row(
        "pc 4 MiB",
        1024,
        4 * KIB,
        1,
        0,
        22,
        [0xFF, 0x03, 0x10, 0x00],
    ),
    // 3 653 632 = 223 × 2^14: trailing zeros, not log2.
    row(
        "pc 3653632",
        892,
        4 * KIB,
        1,
        0,
        14,
        [0x7B, 0x03, 0x10, 0x00],
    ),
];

#[test]
fn per_board_geometry_bytes_and_writeblock_size() {
    for r in ROWS {
        let d = realize_row(r);
        let t = d.cfi_table();
        assert_eq!(t.len(), 0x52, "{}", r.board);
        assert_eq!(t[0x27], r.size_log2, "{}: 0x27", r.board);
        assert_eq!(t[0x2A], r.buffer_log2, "{}: 0x2A", r.board);
        assert_eq!(&t[0x2D..=0x30], &r.region, "{}: region 1", r.board);
        assert_eq!(d.writeblock_size(), r.writeblock_size, "{}", r.board);
    }
    assert_eq!(ROWS[0].writeblock_size, 4096, "virt: 2048 × 2 (measured)");
    assert_eq!(ROWS[2].writeblock_size, 2048);
    assert_eq!(ROWS[11].writeblock_size, 256);
}

#[test]
fn virt_table_matches_the_measured_bytes() {
    let d = virt();
    let measured: [u8; 0x2F] = [
        0x51, 0x52, 0x59, 0x01, 0x00, 0x31, 0x00, 0x00, 0x00, 0x00, 0x00, 0x45, 0x55, 0x00, 0x00,
        0x07, 0x07, 0x0a, 0x00, 0x04, 0x04, 0x04, 0x00, 0x19, 0x02, 0x00, 0x0b, 0x00, 0x01, 0xff,
        0x00, 0x00, 0x02, 0x50, 0x52, 0x49, 0x31, 0x30, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00,
    ];
    let t = d.cfi_table();
    assert_eq!(&t[0x10..0x3F], &measured[..]);
    assert_eq!(t[0x3F], 0x01);
    assert!(t[..0x10].iter().all(|&b| b == 0), "0x00..0x0F unused");
    assert!(t[0x40..].iter().all(|&b| b == 0), "0x40..0x51");
}

#[test]
fn fixed_bytes_are_the_same_for_every_configuration() {
    let fixed: &[(usize, u8)] = &[
        (0x10, b'Q'),
        (0x11, b'R'),
        (0x12, b'Y'),
        (0x13, 0x01),
        (0x14, 0x00),
        (0x15, 0x31),
        (0x16, 0x00),
        (0x1B, 0x45),
        (0x1C, 0x55),
        (0x1F, 0x07),
        (0x20, 0x07),
        (0x21, 0x0A),
        (0x22, 0x00),
        (0x23, 0x04),
        (0x24, 0x04),
        (0x25, 0x04),
        (0x26, 0x00),
        (0x28, 0x02),
        (0x29, 0x00),
        (0x2B, 0x00),
        (0x2C, 0x01),
        (0x31, b'P'),
        (0x32, b'R'),
        (0x33, b'I'),
        (0x34, b'1'),
        (0x35, b'0'),
        (0x3F, 0x01),
    ];
    for r in ROWS {
        let d = realize_row(r);
        for &(at, v) in fixed {
            assert_eq!(d.cfi_table()[at], v, "{}: {at:#x}", r.board);
        }
        for at in (0x17..=0x1A)
            .chain(0x1D..=0x1E)
            .chain(0x36..=0x3E)
            .chain(0x40..0x52)
        {
            assert_eq!(d.cfi_table()[at], 0, "{}: {at:#x}", r.board);
        }
    }
}

#[test]
fn old_multiple_chip_handling_on_virt_reports_per_bank_sectors() {
    // measured with -global driver=cfi.pflash01,property=old-multiple-chip-handling,value=on
    let d = erased(&with(VIRT, &[("old-multiple-chip-handling", "on")]));
    let t = d.cfi_table();
    assert_eq!(t[0x27], 0x19);
    assert_eq!(t[0x2A], 0x0B);
    assert_eq!(&t[0x2D..=0x30], &[0x7F, 0x00, 0x00, 0x04]);
    assert_eq!(d.writeblock_size(), 2048);
}

#[test]
fn old_multiple_chip_handling_changes_nothing_with_one_chip() {
    let a = erased(VERSATILE);
    let b = erased(&with(VERSATILE, &[("old-multiple-chip-handling", "on")]));
    assert_eq!(a.cfi_table(), b.cfi_table());
    assert_eq!(a.writeblock_size(), b.writeblock_size());
}

#[test]
fn old_multiple_chip_handling_moves_the_buffer_window_granularity() {
    // The window follows writeblock_size: 2048 with the old handling.
    let mut d = erased(&with(VIRT, &[("old-multiple-chip-handling", "on")]));
    wr(&mut d, 0, 4, 0xE8);
    wr(&mut d, 0x2ABC, 4, 0);
    assert_eq!(d.blk_offset(), 0x2800);
    assert_eq!(d.blk_bytes().len(), 2048);
}

fn config(nb_blocs: u32, sector_len: u64, old: bool) -> Config {
    Config {
        nb_blocs,
        sector_len,
        bank_width: 4,
        device_width: 2,
        max_device_width: 2,
        big_endian: false,
        secure: false,
        ident: [0; 4],
        name: "t".into(),
        old_multiple_chip_handling: old,
    }
}

#[test]
fn device_size_uses_ctz32_of_the_truncated_size() {
    // 4 GiB per chip: the low 32 bits are 0, ctz32(0) = 32.
    let (t, _) = build(&config(1, 8 << 30, false), 2);
    assert_eq!(t[0x27], 32);
}

#[test]
fn block_count_minus_one_wraps_when_old_handling_leaves_no_block() {
    let (t, wbs) = build(&config(1, 0x40000, true), 2);
    assert_eq!(&t[0x2D..=0x30], &[0xFF, 0xFF, 0x00, 0x04]);
    assert_eq!(t[0x27], 32, "device_len 0");
    assert_eq!(wbs, 2048);
}
