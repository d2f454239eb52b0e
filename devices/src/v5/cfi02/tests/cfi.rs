//! The CFI query table per configuration (§12) and how it is read (§4, §9).

use super::*;
use crate::v5::cfi02::CFI_TABLE_LEN;

/// Bytes 0x10..=0x2C of every configuration, with the size exponent at 0x27
/// and the region count at 0x2C filled in by the caller.
fn header(size_exp: u8, regions: u8) -> Vec<u8> {
    vec![
        0x51, 0x52, 0x59, 0x02, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x27, 0x36, 0x00, 0x00,
        0x07, 0x00, 0x09, 0x0c, 0x01, 0x00, 0x0a, 0x0d, size_exp, 0x02, 0x00, 0x00, 0x00, regions,
    ]
}

const PRI: [u8; 13] = [
    0x50, 0x52, 0x49, 0x31, 0x30, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
];

/// Checks the whole table: zeros, header, region bytes, padding and PRI.
fn assert_table(table: &[u8], size_exp: u8, regions: &[[u8; 4]]) {
    assert_eq!(table.len(), CFI_TABLE_LEN);
    assert_eq!(&table[..0x10], &[0u8; 0x10]);
    assert_eq!(
        &table[0x10..0x2D],
        &header(size_exp, regions.len() as u8)[..]
    );
    let region_bytes: Vec<u8> = regions.iter().flatten().copied().collect();
    let end = 0x2D + region_bytes.len();
    assert_eq!(&table[0x2D..end], &region_bytes[..]);
    assert!(
        table[end..0x40].iter().all(|b| *b == 0),
        "padding up to 0x3F"
    );
    assert_eq!(&table[0x40..], &PRI);
}

fn table_of(list: &[(&str, &str)]) -> Vec<u8> {
    PflashCfi02::new(&props(list), BlockBackend::none())
        .unwrap()
        .cfi_table()
        .to_vec()
}

/// Musicpal properties plus non-uniform regions given as `-global` would.
fn musicpal_with_regions(regions: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut p = musicpal_props(8);
    p.extend(props(regions));
    p
}

const TOP_BOOT: &[(&str, &str)] = &[
    ("num-blocks0", "127"),
    ("sector-length0", "0x10000"),
    ("num-blocks1", "1"),
    ("sector-length1", "0x8000"),
    ("num-blocks2", "2"),
    ("sector-length2", "0x2000"),
    ("num-blocks3", "1"),
    ("sector-length3", "0x4000"),
];

const BOTTOM_BOOT: &[(&str, &str)] = &[
    ("num-blocks0", "1"),
    ("sector-length0", "0x4000"),
    ("num-blocks1", "2"),
    ("sector-length1", "0x2000"),
    ("num-blocks2", "1"),
    ("sector-length2", "0x8000"),
    ("num-blocks3", "127"),
    ("sector-length3", "0x10000"),
];

#[test]
fn cfi_musicpal_8mib_matches_measured_bytes() {
    let f = musicpal();
    let measured: [u8; 33] = [
        0x51, 0x52, 0x59, 0x02, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x27, 0x36, 0x00, 0x00,
        0x07, 0x00, 0x09, 0x0c, 0x01, 0x00, 0x0a, 0x0d, 0x17, 0x02, 0x00, 0x00, 0x00, 0x01, 0x7f,
        0x00, 0x00, 0x01,
    ];
    assert_eq!(&f.dev.cfi_table()[0x10..0x31], &measured);
    assert_table(f.dev.cfi_table(), 0x17, &[[0x7F, 0x00, 0x00, 0x01]]);
}

#[test]
fn cfi_musicpal_16mib() {
    let dev = PflashCfi02::new(&musicpal_props(16), BlockBackend::none()).unwrap();
    assert_table(dev.cfi_table(), 0x18, &[[0xFF, 0x00, 0x00, 0x01]]);
}

#[test]
fn cfi_musicpal_32mib() {
    let dev = PflashCfi02::new(&musicpal_props(32), BlockBackend::none()).unwrap();
    assert_table(dev.cfi_table(), 0x19, &[[0xFF, 0x01, 0x00, 0x01]]);
}

#[test]
fn cfi_zynq() {
    let t = table_of(&[
        ("num-blocks", "512"),
        ("sector-length", "0x20000"),
        ("width", "1"),
        ("mappings", "1"),
        ("id0", "0x66"),
        ("id1", "0x22"),
        ("unlock-addr0", "0x555"),
        ("unlock-addr1", "0x2AA"),
        ("name", "zynq.pflash"),
    ]);
    assert_table(&t, 0x1A, &[[0xFF, 0x01, 0x00, 0x02]]);
}

#[test]
fn cfi_canon_a1100() {
    let t = table_of(&[
        ("num-blocks", "64"),
        ("sector-length", "0x10000"),
        ("width", "4"),
        ("mappings", "32"),
        ("name", "pflash"),
    ]);
    assert_table(&t, 0x16, &[[0x3F, 0x00, 0x00, 0x01]]);
}

#[test]
fn cfi_top_boot_has_four_regions() {
    let dev = PflashCfi02::new(&musicpal_with_regions(TOP_BOOT), BlockBackend::none()).unwrap();
    assert_table(
        dev.cfi_table(),
        0x17,
        &[
            [0x7E, 0x00, 0x00, 0x01],
            [0x00, 0x00, 0x80, 0x00],
            [0x01, 0x00, 0x20, 0x00],
            [0x00, 0x00, 0x40, 0x00],
        ],
    );
    assert_eq!(dev.total_sectors(), 131);
}

#[test]
fn cfi_bottom_boot_has_four_regions() {
    let dev = PflashCfi02::new(&musicpal_with_regions(BOTTOM_BOOT), BlockBackend::none()).unwrap();
    assert_table(
        dev.cfi_table(),
        0x17,
        &[
            [0x00, 0x00, 0x40, 0x00],
            [0x01, 0x00, 0x20, 0x00],
            [0x00, 0x00, 0x80, 0x00],
            [0x7E, 0x00, 0x00, 0x01],
        ],
    );
}

#[test]
fn cfi_reads_return_the_table_and_zero_beyond() {
    let mut f = musicpal();
    f.w(CFI_ADDR, 0x98);
    let table = f.dev.cfi_table().to_vec();
    for idx in 0..0x80u64 {
        let want = table.get(idx as usize).copied().unwrap_or(0) as u64;
        assert_eq!(f.r(2 * idx), want, "index {idx:#x}");
    }
    // Reads do not leave CFI mode.
    assert_eq!(f.st().wcycle, 7);
    assert_eq!(f.st().cmd, 0x98);
}

#[test]
fn cfi_reads_are_one_byte_whatever_the_access() {
    let mut f = musicpal();
    f.w(CFI_ADDR, 0x98);
    assert_eq!(bus_read(&mut f.dev, 0x20, 4), 0x51);
    assert_eq!(bus_read(&mut f.dev, 0x21, 1), 0x51);
    assert_eq!(bus_read(&mut f.dev, 0x22, 1), 0x52);
}

#[test]
fn cfi_answers_repeat_every_256_bytes_and_in_every_mirror() {
    let mut f = musicpal();
    f.w(CFI_ADDR, 0x98);
    for base in [0x100, 0x10000, 0x7FFF00, 0x810000, 0x1810000] {
        assert_eq!(f.r(base + 0x20), 0x51, "at {base:#x}");
    }
}

#[test]
fn cfi_width4_cannot_reach_the_pri_block() {
    let mut f = Flash::new(
        &props(&[
            ("num-blocks", "64"),
            ("sector-length", "0x10000"),
            ("width", "4"),
            ("mappings", "32"),
            ("name", "pflash"),
        ]),
        BlockBackend::none(),
    );
    // CFI entry at byte 0x55 << 2.
    bus_write(&mut f.dev, 0x154, 4, 0x98);
    let table = f.dev.cfi_table().to_vec();
    for off in (0..0x100u64).step_by(4) {
        assert_eq!(
            bus_read(&mut f.dev, off, 4),
            table[(off >> 2) as usize] as u64
        );
    }
    // The index wraps at 256 bytes: byte 0x100 is index 0, not 0x40 ('P').
    assert_eq!(bus_read(&mut f.dev, 0x100, 4), 0);
    assert_eq!(bus_read(&mut f.dev, 0x140, 4), 0x51);
}
