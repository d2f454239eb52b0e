//! The eighteen quirks of QEMU 7.2.22 that v5 reproduces (spec §14), one
//! test each.

use super::*;

#[test]
fn quirk01_erase_runs_on_the_setup_write_and_is_not_undone() {
    for second in [0xFF, 0x70, 0x00] {
        let mut d = virt();
        wr(&mut d, 0, 4, 0x40);
        wr(&mut d, 0x100, 4, 0x1234_5678);
        wr(&mut d, 0, 4, 0x20);
        assert_eq!(
            array_le(&d, 0x100, 4),
            0xFFFF_FFFF,
            "erased before any confirm"
        );
        wr(&mut d, 0, 4, second);
        assert_eq!(
            array_le(&d, 0x100, 4),
            0xFFFF_FFFF,
            "{second:#x} does not undo it"
        );
        assert_eq!(d.status, 0x80, "{second:#x}: no error bit");
    }
}

#[test]
fn quirk02_program_overwrites_instead_of_clearing_bits() {
    // measured: 0x12345678 reprogrammed with 0x0000FFFF reads 0x0000FFFF
    let mut d = virt();
    wr(&mut d, 0, 4, 0x40);
    wr(&mut d, 0x80, 4, 0x1234_5678);
    wr(&mut d, 0, 4, 0x40);
    wr(&mut d, 0x80, 4, 0x0000_FFFF);
    wr(&mut d, 0, 4, 0xFF);
    assert_eq!(rd(&mut d, 0x80, 4), 0x0000_FFFF);
}

#[test]
fn quirk03_clear_status_clears_the_ready_bit() {
    let mut d = virt();
    wr(&mut d, 0, 4, 0x50);
    wr(&mut d, 0, 4, 0x70);
    assert_eq!(rd(&mut d, 0, 4), 0);
}

#[test]
fn quirk04_only_ff_leaves_cfi_query_mode() {
    let mut d = virt();
    wr(&mut d, 0, 4, 0x98);
    for b in [0x00, 0x50, 0x70, 0x90, 0xF0] {
        wr(&mut d, 0, 4, b);
        assert_eq!(rd(&mut d, 0x40, 4), 0x0051_0051, "after {b:#x}");
    }
    wr(&mut d, 0, 4, 0xFF);
    assert_eq!(rd(&mut d, 0x40, 4), 0xFFFF_FFFF);
}

#[test]
fn quirk05_status_is_returned_everywhere_after_an_operation() {
    let seqs: &[&[u64]] = &[
        &[0x40, 0x55],
        &[0x20, 0xD0],
        &[0x60, 0xD0],
        &[0xE8, 0, 0x55, 0xD0],
    ];
    for seq in seqs {
        let mut d = virt();
        for &v in *seq {
            wr(&mut d, 0x2000, 4, v);
        }
        assert_ne!(d.cmd, 0, "{seq:x?}");
        assert!(!d.romd, "{seq:x?}");
        for addr in [0, 0x2000, 0x1_0000] {
            assert_eq!(rd(&mut d, addr, 4), 0x0080_0080, "{seq:x?} at {addr:#x}");
        }
    }
}

#[test]
fn quirk06_read_status_and_read_id_decode_the_next_write_as_a_command() {
    for b in [0x70, 0x90] {
        let mut d = virt();
        wr(&mut d, 0, 4, b);
        wr(&mut d, 0x10, 4, 0x40);
        assert_eq!((d.wcycle, d.cmd), (1, 0x40), "after {b:#x}");
        wr(&mut d, 0x10, 4, 0xAA);
        assert_eq!(array_le(&d, 0x10, 4), 0xAA);
    }
}

#[test]
fn quirk07_buffer_window_is_anchored_at_the_count_address() {
    // Count at 0x0, data at 0x2000: outside [0, 0x1000) (measured).
    let mut d = virt();
    wr(&mut d, 0x2000, 4, 0xE8);
    wr(&mut d, 0x0, 4, 0);
    wr(&mut d, 0x2000, 4, 0x1111_1111);
    assert_eq!(rd(&mut d, 0, 4), 0x0090_0090);
    wr(&mut d, 0x2000, 4, 0xD0);
    assert_eq!(rd(&mut d, 0x2000, 4), 0xFFFF_FFFF, "aborted");
    // A count of 0 writes a single unit.
    let mut d = virt();
    wr(&mut d, 0x3000, 4, 0xE8);
    wr(&mut d, 0x3000, 4, 0);
    wr(&mut d, 0x3004, 4, 0xAABB_CCDD);
    assert_eq!(d.wcycle, 3);
    wr(&mut d, 0x3000, 4, 0xD0);
    assert_eq!(array_le(&d, 0x3004, 4), 0xAABB_CCDD);
}

#[test]
fn quirk08_counter_wraps_after_the_last_write_and_survives_reset() {
    let mut d = virt();
    wr(&mut d, 0, 4, 0xE8);
    wr(&mut d, 0, 4, 0);
    wr(&mut d, 0, 4, 0x1234);
    assert_eq!(d.counter, u64::MAX);
    d.reset();
    assert_eq!(d.counter, u64::MAX);
    wr(&mut d, 0, 4, 0xD0);
    assert_eq!(d.counter, u64::MAX);
}

#[test]
fn quirk09_stale_program_error_blocks_buffered_writes_erase_error_does_not() {
    let mut d = virt();
    wr(&mut d, 0, 4, 0xE8);
    wr(&mut d, 0, 4, 0);
    wr(&mut d, 0x8000, 4, 0x1111);
    wr(&mut d, 0, 4, 0xD0);
    assert_eq!(d.status, 0x90);
    // A later, valid buffered write still aborts at confirm.
    wr(&mut d, 0, 4, 0xE8);
    wr(&mut d, 0, 4, 0);
    wr(&mut d, 0, 4, 0x2222);
    wr(&mut d, 0, 4, 0xD0);
    assert_eq!((d.cmd, d.romd), (0, true));
    assert_eq!(array_le(&d, 0, 4), 0xFFFF_FFFF);
    // Until 0x50.
    wr(&mut d, 0, 4, 0x50);
    wr(&mut d, 0, 4, 0xE8);
    wr(&mut d, 0, 4, 0);
    wr(&mut d, 0, 4, 0x2222);
    wr(&mut d, 0, 4, 0xD0);
    assert_eq!(array_le(&d, 0, 4), 0x2222);
    // SR.5 does not block.
    let mut d = virt();
    d.status |= 0x20;
    wr(&mut d, 0, 4, 0xE8);
    wr(&mut d, 0, 4, 0);
    wr(&mut d, 0, 4, 0x3333);
    wr(&mut d, 0, 4, 0xD0);
    assert_eq!(array_le(&d, 0, 4), 0x3333);
    assert_eq!(d.status, 0xA0);
}

#[test]
fn quirk10_locks_keep_no_state_and_lock_status_reads_zero() {
    let mut d = virt();
    wr(&mut d, 0, 4, 0x60);
    wr(&mut d, 0, 4, 0x01);
    wr(&mut d, 0, 4, 0x40);
    wr(&mut d, 0, 4, 0x1234);
    assert_eq!(array_le(&d, 0, 4), 0x1234, "a locked block still programs");
    let mut d = id_mode_virt();
    assert_eq!(rd(&mut d, 0x8, 4), 0, "entry 2");
    assert_eq!(rd(&mut d, 0xC, 4), 0, "entry 3");
    let mut v = erased(&with(VERSATILE, &[("id2", "0x12"), ("id3", "0x34")]));
    wr(&mut v, 0, 4, 0x90);
    assert_eq!(rd(&mut v, 0x8, 4), 0, "legacy entry 2");
}

fn id_mode_virt() -> PflashCfi01 {
    let mut d = erased(&with(VIRT, &[("id2", "0x12"), ("id3", "0x34")]));
    wr(&mut d, 0, 4, 0x90);
    d
}

#[test]
fn quirk11_legacy_mode_packs_ids_answers_one_byte_and_wraps() {
    let mut d = erased(VERSATILE);
    wr(&mut d, 0, 4, 0x90);
    assert_eq!(rd(&mut d, 0, 4), 0x8918);
    assert_eq!(rd(&mut d, 0x100, 4), 0x8918);
    wr(&mut d, 0, 4, 0x98);
    assert_eq!(rd(&mut d, 0x40, 4), 0x51);
    assert_eq!(rd(&mut d, 0x140, 4), 0x51);
    assert_eq!(rd(&mut d, 0x100, 4), 0, "entries 0x40..0x51 unreachable");
}

#[test]
fn quirk12_device_width_cfi_does_not_wrap_but_id_does() {
    let mut d = virt();
    wr(&mut d, 0, 4, 0x98);
    assert_eq!(rd(&mut d, 0x440, 4), 0);
    wr(&mut d, 0, 4, 0xFF);
    wr(&mut d, 0, 4, 0x90);
    assert_eq!(rd(&mut d, 0x400, 4), 0x0089_0089);
}

#[test]
fn quirk13_sub_word_reads_return_the_low_lanes() {
    let mut d = virt();
    wr(&mut d, 0, 4, 0x98);
    assert_eq!(rd(&mut d, 0x41, 1), 0x51);
    assert_eq!(rd(&mut d, 0x43, 1), 0x51);
    assert_eq!(rd(&mut d, 0x42, 2), 0x0051);
    wr(&mut d, 0, 4, 0xFF);
    wr(&mut d, 0, 4, 0x90);
    assert_eq!(rd(&mut d, 0x6, 2), 0x0018);
}

#[test]
fn quirk14_command_addresses_are_not_decoded() {
    let mut a = virt();
    let mut b = virt();
    wr(&mut a, 0x154, 4, 0x98);
    wr(&mut b, 0x3FF_FFFC, 4, 0x98);
    assert_eq!(st(&a), st(&b));
    assert_eq!(rd(&mut a, 0x40, 4), rd(&mut b, 0x40, 4));
}

#[test]
fn quirk15_erase_granularity_is_the_bank_sector() {
    // CFI says 128 KiB per chip; erase clears the 256 KiB bank sector.
    let mut d = virt();
    assert_eq!(&d.cfi_table()[0x2F..=0x30], &[0x00, 0x02]);
    for off in [0, 0x2_0000, 0x3_FFFC, 0x4_0000] {
        wr(&mut d, 0, 4, 0x40);
        wr(&mut d, off, 4, 0);
    }
    wr(&mut d, 0x2_0000, 4, 0x20);
    for off in [0, 0x2_0000, 0x3_FFFC] {
        assert_eq!(array_le(&d, off, 4), 0xFFFF_FFFF, "{off:#x}");
    }
    assert_eq!(array_le(&d, 0x4_0000, 4), 0);
}

#[test]
fn quirk16_no_timing_at_all() {
    let mut d = virt();
    wr(&mut d, 0, 4, 0x20);
    wr(&mut d, 0, 4, 0xD0);
    assert_eq!(d.next_deadline(), None);
    assert_eq!(rd(&mut d, 0, 4), 0x0080_0080);
    let before = st(&d);
    d.advance(10_000_000_000);
    assert_eq!(st(&d), before);
    assert_eq!(d.now(), 10_000_000_000);
}

#[test]
fn quirk17_read_only_sets_errors_and_never_changes_the_array() {
    let mut d = erased_ro(VIRT);
    let image = d.array().clone();
    wr(&mut d, 0, 4, 0x20);
    assert_eq!(d.status, 0xA0);
    wr(&mut d, 0, 4, 0xD0);
    wr(&mut d, 0, 4, 0x40);
    wr(&mut d, 0, 4, 0);
    assert_eq!(d.status, 0xB0);
    wr(&mut d, 0, 4, 0x50);
    wr(&mut d, 0, 4, 0xE8);
    wr(&mut d, 0, 4, 0);
    wr(&mut d, 0, 4, 0);
    assert_eq!(d.status, 0x90);
    wr(&mut d, 0, 4, 0xD0);
    assert_eq!(
        (d.cmd, d.romd, d.blk_offset),
        (0, true, 0xFFFF_FFFF),
        "aborted"
    );
    assert!(d.array() == &image);
    assert!(d.backend().image().expect("drive") == &image);
}

#[test]
fn quirk18_a_read_in_an_unknown_command_state_resets_the_cycle() {
    let mut d = virt();
    wr(&mut d, 0, 4, 0x40);
    wr(&mut d, 0x10, 4, 0x1234_5678);
    let mut s = st(&d);
    s.cmd = 0x33;
    s.wcycle = 1;
    d.set_state(&s);
    assert_eq!(rd(&mut d, 0x10, 4), 0x1234_5678, "array data");
    assert_eq!((d.wcycle, d.cmd, d.romd), (0, 0, false), "ROMD stays off");
}
