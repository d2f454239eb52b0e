//! The write state machine, command by command (spec §7.1–§7.5).

use super::*;
use crate::command_set::intel::{BLOCK_ERASE_ALT, SR_PROGRAM_ERROR};
use crate::v5::cfi01::commands::*;

/// Puts a device into an arbitrary state (what a migration stream can deliver).
fn force(dev: &mut PflashCfi01, wcycle: u8, cmd: u8) {
    let mut s = dev.state();
    s.wcycle = wcycle;
    s.cmd = cmd;
    s.romd = false;
    dev.set_state(&s);
}

// §7.1, wcycle == 0

#[test]
fn read_array_commands_end_in_read_array_with_romd_on() {
    for b in [0x00, 0xF0, 0xFF] {
        let mut d = virt();
        wr(&mut d, 0, 4, 0x70);
        d.status = 0x90;
        wr(&mut d, 0x1234, 4, b);
        let s = st(&d);
        assert_eq!((s.wcycle, s.cmd, s.romd), (0, 0x00, true), "command {b:#x}");
        assert_eq!(s.status, 0x90, "command {b:#x} leaves status alone");
    }
}

#[test]
fn program_setup_enters_cycle_one_with_romd_off() {
    for b in [0x10u8, 0x40] {
        let mut d = virt();
        wr(&mut d, 0, 4, b as u64);
        let s = st(&d);
        assert_eq!((s.wcycle, s.cmd, s.romd, s.status), (1, b, false, 0x80));
    }
}

#[test]
fn block_erase_setup_erases_the_bank_sector_at_once() {
    let mut d = virt();
    let sector = 0x40000;
    for off in [sector - 4, sector, 2 * sector - 4, 2 * sector] {
        wr(&mut d, 0, 4, 0x40);
        wr(&mut d, off, 4, 0x1234_5678);
    }
    wr(&mut d, 0, 4, 0x50);
    wr(&mut d, sector + 0x1234, 4, 0x20);
    let s = st(&d);
    assert_eq!((s.wcycle, s.cmd, s.romd, s.status), (1, 0x20, false, 0x80));
    assert_eq!(array_le(&d, sector - 4, 4), 0x1234_5678);
    assert_eq!(array_le(&d, sector, 4), 0xFFFF_FFFF);
    assert_eq!(array_le(&d, 2 * sector - 4, 4), 0xFFFF_FFFF);
    assert_eq!(array_le(&d, 2 * sector, 4), 0x1234_5678);
    assert_eq!(image_le(&d, sector, 4), 0xFFFF_FFFF, "written back");
    assert_eq!(image_le(&d, 2 * sector, 4), 0x1234_5678);
}

#[test]
fn clear_status_zeroes_every_bit_and_goes_to_read_array() {
    let mut d = erased_ro(VIRT);
    wr(&mut d, 0, 4, 0x20);
    wr(&mut d, 0, 4, 0xFF);
    assert_eq!(d.status, 0xA0);
    wr(&mut d, 0, 4, 0x50);
    let s = st(&d);
    assert_eq!((s.wcycle, s.cmd, s.romd, s.status), (0, 0x00, true, 0x00));
}

#[test]
fn lock_setup_enters_cycle_one() {
    let mut d = virt();
    wr(&mut d, 0, 4, 0x60);
    let s = st(&d);
    assert_eq!((s.wcycle, s.cmd, s.romd, s.status), (1, 0x60, false, 0x80));
}

#[test]
fn read_status_and_read_id_stay_in_cycle_zero_with_romd_off() {
    for b in [0x70u8, 0x90] {
        let mut d = virt();
        wr(&mut d, 0, 4, b as u64);
        let s = st(&d);
        assert_eq!((s.wcycle, s.cmd, s.romd, s.status), (0, b, false, 0x80));
    }
}

#[test]
fn cfi_query_enters_cycle_one() {
    let mut d = virt();
    wr(&mut d, 0x154, 4, 0x98);
    let s = st(&d);
    assert_eq!((s.wcycle, s.cmd, s.romd), (1, 0x98, false));
}

#[test]
fn write_to_buffer_setup_sets_ready() {
    let mut d = virt();
    wr(&mut d, 0, 4, 0x50);
    wr(&mut d, 0x2000, 4, 0xE8);
    let s = st(&d);
    assert_eq!((s.wcycle, s.cmd, s.romd, s.status), (1, 0xE8, false, 0x80));
    assert_eq!(
        s.blk_offset, NO_BLOCK_OPEN,
        "the window opens at the count cycle"
    );
}

#[test]
fn unknown_first_cycle_command_goes_to_read_array() {
    for b in [0x01, 0x28, 0x55, 0xAA, 0xD0] {
        let mut d = virt();
        wr(&mut d, 0, 4, b as u64);
        let s = st(&d);
        assert_eq!(
            (s.wcycle, s.cmd, s.romd, s.status),
            (0, 0, true, 0x80),
            "{b:#x}"
        );
    }
}

#[test]
fn romd_after_each_first_cycle_command_matches_the_spec_table() {
    // §5: net effect of a first-cycle command on ROMD and wcycle.
    let expect = |b: u8| match b {
        0x70 | 0x90 => (false, 0),
        0x10 | 0x20 | 0x40 | 0x60 | 0x98 | 0xE8 => (false, 1),
        _ => (true, 0),
    };
    for b in 0..=255u8 {
        let mut d = virt();
        wr(&mut d, 0, 4, b as u64);
        assert_eq!((d.romd, d.wcycle), expect(b), "command {b:#04x}");
    }
}

#[test]
fn command_byte_is_the_low_byte_of_the_value() {
    let mut a = virt();
    let mut b = virt();
    wr(&mut a, 0, 4, 0x0098_0098);
    wr(&mut b, 0, 1, 0x98);
    assert_eq!(st(&a), st(&b));
    let mut c = virt();
    wr(&mut c, 0, 4, 0x1234_5698);
    assert_eq!(st(&c).cmd, 0x98);
    let mut d = virt();
    wr(&mut d, 0, 2, 0xFF90);
    assert_eq!(st(&d).cmd, 0x90);
}

// §7.2, wcycle == 1

#[test]
fn program_writes_the_access_width_and_keeps_the_program_command() {
    for (cmd, width, value) in [
        (0x40, 4, 0x1234_5678u64),
        (0x10, 2, 0xBEEF),
        (0x40, 1, 0x5A),
    ] {
        let mut d = virt();
        wr(&mut d, 0x100, 4, cmd);
        wr(&mut d, 0x100, width, value);
        assert_eq!(array_le(&d, 0x100, width as usize), value);
        assert_eq!(image_le(&d, 0x100, width as usize), value, "written back");
        assert_eq!(
            array_le(&d, 0x100 + width as u64, 1),
            0xFF,
            "only {width} bytes"
        );
        let s = st(&d);
        assert_eq!(
            (s.wcycle, s.cmd, s.romd, s.status),
            (0, cmd as u8, false, 0x80)
        );
        assert_eq!(rd(&mut d, 0x100, 4), 0x0080_0080, "status, not data");
    }
}

#[test]
fn program_goes_to_the_data_address_not_the_setup_address() {
    let mut d = virt();
    wr(&mut d, 0x3000, 4, 0x40);
    wr(&mut d, 0x10, 4, 0xCAFE_F00D);
    assert_eq!(array_le(&d, 0x10, 4), 0xCAFE_F00D);
    assert_eq!(array_le(&d, 0x3000, 4), 0xFFFF_FFFF);
}

#[test]
fn erase_confirm_keeps_the_erase_command_for_status_reads() {
    let mut d = virt();
    wr(&mut d, 0, 4, 0x20);
    wr(&mut d, 0, 4, 0x50_00D0);
    let s = st(&d);
    assert_eq!((s.wcycle, s.cmd, s.romd, s.status), (0, 0x20, false, 0x80));
    assert_eq!(rd(&mut d, 0x4_0000, 4), 0x0080_0080);
}

#[test]
fn erase_then_read_array_leaves_the_block_erased() {
    let mut d = virt();
    wr(&mut d, 0, 4, 0x40);
    wr(&mut d, 0x20, 4, 0);
    wr(&mut d, 0, 4, 0x20);
    wr(&mut d, 0, 4, 0xFF);
    let s = st(&d);
    assert_eq!((s.wcycle, s.cmd, s.romd), (0, 0, true));
    assert_eq!(rd(&mut d, 0x20, 4), 0xFFFF_FFFF);
}

#[test]
fn erase_bad_confirm_goes_to_read_array_without_error_bit() {
    let mut d = virt();
    wr(&mut d, 0, 4, 0x40);
    wr(&mut d, 0x20, 4, 0);
    wr(&mut d, 0, 4, 0x20);
    wr(&mut d, 0, 4, 0x70);
    let s = st(&d);
    assert_eq!((s.wcycle, s.cmd, s.romd, s.status), (0, 0, true, 0x80));
    assert_eq!(rd(&mut d, 0x20, 4), 0xFFFF_FFFF);
}

#[test]
fn lock_and_unlock_confirms_return_to_status_mode() {
    for b in [0xD0, 0x01] {
        let mut d = virt();
        wr(&mut d, 0, 4, 0x50);
        wr(&mut d, 0, 4, 0x60);
        wr(&mut d, 0, 4, b as u64);
        let s = st(&d);
        assert_eq!(
            (s.wcycle, s.cmd, s.romd, s.status),
            (0, 0x60, false, 0x80),
            "{b:#x}"
        );
    }
}

#[test]
fn lock_setup_followed_by_anything_else_goes_to_read_array() {
    for b in [0xFF, 0x2F, 0x00, 0x70] {
        let mut d = virt();
        wr(&mut d, 0, 4, 0x50);
        wr(&mut d, 0, 4, 0x60);
        wr(&mut d, 0, 4, b as u64);
        let s = st(&d);
        assert_eq!(
            (s.wcycle, s.cmd, s.romd, s.status),
            (0, 0, true, 0),
            "{b:#x}"
        );
    }
}

#[test]
fn cfi_query_mode_is_left_only_by_ff() {
    let mut d = virt();
    wr(&mut d, 0, 4, 0x98);
    for b in [0x00, 0x50, 0x70, 0x90, 0xF0, 0xD0, 0x40] {
        wr(&mut d, 0, 4, b);
        assert_eq!(
            (d.wcycle, d.cmd, d.romd),
            (1, 0x98, false),
            "{b:#x} ignored"
        );
    }
    wr(&mut d, 0, 4, 0xFF);
    assert_eq!((d.wcycle, d.cmd, d.romd), (0, 0, true));
}

#[test]
fn count_cycle_masks_the_count_to_the_device_width() {
    let mut d = virt();
    wr(&mut d, 0, 4, 0xE8);
    wr(&mut d, 0, 4, 0xFFFF_0001);
    assert_eq!((d.wcycle, d.counter), (2, 1));
}

#[test]
fn count_cycle_masks_to_the_bank_width_in_legacy_mode() {
    let mut d = erased(CONNEX);
    wr(&mut d, 0, 2, 0xE8);
    wr(&mut d, 0, 4, 0x0001_0203);
    assert_eq!(d.counter, 0x0203, "2-byte mask, wider write split");

    let mut d = erased(VERSATILE);
    wr(&mut d, 0, 4, 0xE8);
    wr(&mut d, 0, 4, 0x0102_0304);
    assert_eq!(d.counter, 0x0102_0304, "4-byte mask");

    let mut d = erased(X86);
    wr(&mut d, 0, 1, 0xE8);
    wr(&mut d, 0, 1, 0x07);
    assert_eq!(d.counter, 7);
}

#[test]
fn count_cycle_opens_the_window_at_the_count_address() {
    let mut d = virt();
    wr(&mut d, 0, 4, 0x40);
    wr(&mut d, 0x2010, 4, 0x1111_2222);
    wr(&mut d, 0, 4, 0xE8);
    wr(&mut d, 0x2ABC, 2, 3);
    let s = st(&d);
    assert_eq!((s.wcycle, s.cmd, s.counter), (2, 0xE8, 3));
    assert_eq!(s.blk_offset, 0x2000);
    let bytes = s.blk_bytes.expect("window open");
    assert_eq!(bytes.len(), 4096);
    assert_eq!(
        &bytes[0x10..0x14],
        &[0x22, 0x22, 0x11, 0x11],
        "copy of the array"
    );
}

#[test]
fn erase_alternative_command_28_is_treated_like_20() {
    let mut d = virt();
    force(&mut d, 1, BLOCK_ERASE_ALT);
    wr(&mut d, 0, 4, 0xD0);
    assert_eq!((d.wcycle, d.cmd, d.status), (0, 0x28, 0x80));
    assert_eq!(rd(&mut d, 0, 4), 0x0080_0080, "0x28 reads status");
    force(&mut d, 1, BLOCK_ERASE_ALT);
    wr(&mut d, 0, 4, 0x33);
    assert_eq!((d.wcycle, d.cmd, d.romd), (0, 0, true));
}

#[test]
fn cycle_one_with_a_one_cycle_command_goes_to_read_array() {
    for cmd in [0x00, 0x50, 0x70, 0x90, 0x12] {
        let mut d = virt();
        force(&mut d, 1, cmd);
        wr(&mut d, 0x40, 4, 0x1234_5678);
        assert_eq!((d.wcycle, d.cmd, d.romd), (0, 0, true), "cmd {cmd:#x}");
        assert_eq!(array_le(&d, 0x40, 4), 0xFFFF_FFFF);
    }
}

// §7.3–§7.5: states only a migration stream reaches

#[test]
fn cycle_two_without_write_to_buffer_goes_to_read_array_keeping_the_buffer() {
    let mut d = virt();
    wr(&mut d, 0, 4, 0xE8);
    wr(&mut d, 0x2000, 4, 1);
    let mut s = st(&d);
    s.cmd = 0x40;
    d.set_state(&s);
    wr(&mut d, 0x2000, 4, 0x1234_5678);
    let after = st(&d);
    assert_eq!((after.wcycle, after.cmd, after.romd), (0, 0, true));
    assert_eq!(after.blk_offset, 0x2000, "buffer not discarded");
    assert_eq!(array_le(&d, 0x2000, 4), 0xFFFF_FFFF);
}

#[test]
fn cycle_three_without_write_to_buffer_discards_the_buffer() {
    let mut d = virt();
    wr(&mut d, 0, 4, 0xE8);
    wr(&mut d, 0x2000, 4, 0);
    wr(&mut d, 0x2000, 4, 0x1234_5678);
    let mut s = st(&d);
    s.cmd = 0x70;
    d.set_state(&s);
    wr(&mut d, 0x2000, 4, 0xD0);
    let after = st(&d);
    assert_eq!((after.wcycle, after.cmd, after.romd), (0, 0, true));
    assert_eq!((after.blk_offset, after.blk_bytes), (NO_BLOCK_OPEN, None));
    assert_eq!(array_le(&d, 0x2000, 4), 0xFFFF_FFFF);
}

#[test]
fn cycle_four_and_above_go_to_read_array() {
    for wcycle in [4, 7, 255] {
        let mut d = virt();
        force(&mut d, wcycle, 0xE8);
        wr(&mut d, 0, 4, 0xD0);
        assert_eq!((d.wcycle, d.cmd, d.romd), (0, 0, true), "wcycle {wcycle}");
    }
}

#[test]
fn program_while_a_window_is_open_goes_into_the_buffer() {
    // `pflash_data_write` redirects every data write while `blk_offset` is
    // set; only a stream that leaves a window open outside wcycle 2/3 shows it.
    let mut d = virt();
    wr(&mut d, 0, 4, 0xE8);
    wr(&mut d, 0x2000, 4, 1);
    let mut s = st(&d);
    s.wcycle = 0;
    s.cmd = 0;
    d.set_state(&s);
    wr(&mut d, 0, 4, 0x40);
    wr(&mut d, 0x2008, 4, 0xABCD_EF01);
    assert_eq!(array_le(&d, 0x2008, 4), 0xFFFF_FFFF, "array untouched");
    assert_eq!(&d.blk_bytes()[8..12], &[0x01, 0xEF, 0xCD, 0xAB]);
    wr(&mut d, 0, 4, 0x40);
    wr(&mut d, 0x8000, 4, 0);
    assert_eq!(
        d.status & SR_PROGRAM_ERROR,
        SR_PROGRAM_ERROR,
        "outside the window"
    );
    assert_eq!(array_le(&d, 0x8000, 4), 0xFFFF_FFFF);
}
