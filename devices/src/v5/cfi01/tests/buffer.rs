//! Write-to-buffer with the 7.2.22 staging buffer (spec §7.2–§7.4, §7.6, §12).

use super::*;

#[test]
fn walk_through_on_virt_commits_two_words() {
    // §7.6, measured.
    let mut d = virt();
    wr(&mut d, 0x2000, 4, 0xE8);
    assert_eq!(rd(&mut d, 0x2000, 4), 0x0080_0080);
    wr(&mut d, 0x2000, 4, 0x1);
    assert_eq!(d.blk_offset(), 0x2000);
    assert_eq!(d.writeblock_size(), 0x1000, "window [0x2000, 0x3000)");
    wr(&mut d, 0x2000, 4, 0x1111_1111);
    wr(&mut d, 0x2004, 4, 0x2222_2222);
    assert_eq!(d.wcycle(), 3);
    assert_eq!(d.counter(), u64::MAX);
    assert_eq!(
        array_le(&d, 0x2000, 8),
        0xFFFF_FFFF_FFFF_FFFF,
        "only staged so far"
    );
    assert_eq!(image_le(&d, 0x2000, 8), 0xFFFF_FFFF_FFFF_FFFF);
    wr(&mut d, 0x2000, 4, 0xD0);
    assert_eq!(rd(&mut d, 0x2000, 4), 0x0080_0080);
    let s = st(&d);
    assert_eq!((s.wcycle, s.cmd, s.romd), (0, 0xE8, false));
    assert_eq!((s.blk_offset, s.blk_bytes), (0xFFFF_FFFF, None));
    assert_eq!(array_le(&d, 0x2000, 8), 0x2222_2222_1111_1111);
    assert_eq!(
        image_le(&d, 0x2000, 8),
        0x2222_2222_1111_1111,
        "written back"
    );
    wr(&mut d, 0, 4, 0xFF);
    assert_eq!(rd(&mut d, 0x2000, 8), 0x2222_2222_1111_1111);
}

#[test]
fn data_outside_the_window_aborts_the_whole_write() {
    // Data at 0x5FFC and 0x6000 with the count at 0x5000 (measured).
    let mut d = virt();
    wr(&mut d, 0x5000, 4, 0xE8);
    wr(&mut d, 0x5000, 4, 1);
    wr(&mut d, 0x5FFC, 4, 0x1111_1111);
    assert_eq!(d.status, 0x80);
    wr(&mut d, 0x6000, 4, 0x2222_2222);
    assert_eq!(d.status, 0x90);
    wr(&mut d, 0x5000, 4, 0xD0);
    assert_eq!((d.cmd, d.romd), (0, true));
    assert_eq!(array_le(&d, 0x5FFC, 8), u64::MAX, "neither word written");
    assert_eq!(d.status, 0x90, "SR.4 stays set");
}

#[test]
fn count_is_masked_before_counting_data_writes() {
    // 0xFFFF0001 with writel on device-width 2: two writes expected (measured).
    let mut d = virt();
    wr(&mut d, 0x2000, 4, 0xE8);
    wr(&mut d, 0x2000, 4, 0xFFFF_0001);
    wr(&mut d, 0x2000, 4, 0xA);
    assert_eq!(d.wcycle(), 2);
    wr(&mut d, 0x2004, 4, 0xB);
    assert_eq!(d.wcycle(), 3);
}

#[test]
fn every_data_write_consumes_one_count_whatever_its_width() {
    let mut d = virt();
    wr(&mut d, 0, 4, 0xE8);
    wr(&mut d, 0x100, 4, 2);
    wr(&mut d, 0x100, 1, 0x11);
    wr(&mut d, 0x102, 2, 0x3322);
    assert_eq!((d.wcycle(), d.counter()), (2, 0));
    wr(&mut d, 0x104, 4, 0x7766_5544);
    assert_eq!((d.wcycle(), d.counter()), (3, u64::MAX));
    wr(&mut d, 0, 4, 0xD0);
    assert_eq!(array_le(&d, 0x100, 8), 0x7766_5544_3322_FF11);
}

#[test]
fn a_bad_confirm_discards_the_staged_data() {
    let mut d = virt();
    wr(&mut d, 0, 4, 0xE8);
    wr(&mut d, 0, 4, 0);
    wr(&mut d, 0, 4, 0x1234);
    wr(&mut d, 0, 4, 0xFF);
    let s = st(&d);
    assert_eq!((s.wcycle, s.cmd, s.romd, s.status), (0, 0, true, 0x80));
    assert_eq!(s.blk_bytes, None);
    assert_eq!(array_le(&d, 0, 4), 0xFFFF_FFFF);
}

#[test]
fn the_window_is_a_copy_of_the_array_so_unwritten_bytes_keep_their_data() {
    let mut d = virt();
    wr(&mut d, 0, 4, 0x40);
    wr(&mut d, 0x2010, 4, 0x0000_0000);
    wr(&mut d, 0, 4, 0xE8);
    wr(&mut d, 0x2000, 4, 0);
    wr(&mut d, 0x2000, 4, 0x1234_5678);
    wr(&mut d, 0, 4, 0xD0);
    assert_eq!(array_le(&d, 0x2000, 4), 0x1234_5678);
    assert_eq!(array_le(&d, 0x2010, 4), 0, "kept, not erased");
    assert_eq!(array_le(&d, 0x2014, 4), 0xFFFF_FFFF);
}

#[test]
fn staged_data_overwrites_rather_than_ands() {
    let mut d = virt();
    wr(&mut d, 0, 4, 0x40);
    wr(&mut d, 0x2000, 4, 0x0F0F_0F0F);
    wr(&mut d, 0, 4, 0xE8);
    wr(&mut d, 0x2000, 4, 0);
    wr(&mut d, 0x2000, 4, 0xF0F0_F0F0);
    wr(&mut d, 0, 4, 0xD0);
    assert_eq!(array_le(&d, 0x2000, 4), 0xF0F0_F0F0);
}

#[test]
fn canonical_state_carries_the_buffer_only_while_open() {
    let mut d = virt();
    assert_eq!(st(&d).blk_bytes, None);
    wr(&mut d, 0, 4, 0xE8);
    assert_eq!(st(&d).blk_bytes, None);
    wr(&mut d, 0x2000, 4, 1);
    wr(&mut d, 0x2004, 4, 0x4433_2211);
    let s = st(&d);
    assert_eq!(s.blk_offset, 0x2000);
    let bytes = s.blk_bytes.expect("open");
    assert_eq!(
        &bytes[..8],
        &[0xFF, 0xFF, 0xFF, 0xFF, 0x11, 0x22, 0x33, 0x44]
    );
    assert!(bytes[8..].iter().all(|&b| b == 0xFF));
    wr(&mut d, 0x2000, 4, 0);
    assert!(st(&d).blk_bytes.is_some(), "still open at wcycle 3");
    wr(&mut d, 0x2000, 4, 0xD0);
    assert_eq!(st(&d).blk_bytes, None);
}

#[test]
fn x86_window_is_256_bytes() {
    let mut d = erased(X86);
    wr(&mut d, 0, 1, 0xE8);
    wr(&mut d, 0x1234, 1, 1);
    assert_eq!(d.blk_offset(), 0x1200);
    wr(&mut d, 0x12FF, 1, 0xAB);
    wr(&mut d, 0x1300, 1, 0xCD);
    assert_eq!(d.status, 0x90, "0x1300 is past [0x1200, 0x1300)");
}

#[test]
fn big_endian_buffer_data_is_staged_in_big_endian_order() {
    let mut d = erased(&with(VIRT, &[("big-endian", "on")]));
    wr(&mut d, 0, 4, 0xE8);
    wr(&mut d, 0, 4, 0);
    wr(&mut d, 0x10, 4, 0x1122_3344);
    wr(&mut d, 0, 4, 0xD0);
    let mut b = [0u8; 4];
    d.array().read(0x10, &mut b);
    assert_eq!(b, [0x11, 0x22, 0x33, 0x44]);
}

#[test]
fn reset_drops_an_open_buffered_write() {
    let mut d = virt();
    wr(&mut d, 0, 4, 0xE8);
    wr(&mut d, 0x2000, 4, 1);
    wr(&mut d, 0x2000, 4, 0x1234);
    d.reset();
    assert_eq!(d.blk_offset(), 0xFFFF_FFFF);
    assert_eq!(d.counter(), 0, "counter unchanged");
    wr(&mut d, 0x2004, 4, 0xD0);
    assert_eq!(array_le(&d, 0x2000, 4), 0xFFFF_FFFF);
}
