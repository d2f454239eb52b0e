//! The write state machine, one test per row of the §7 tables.

use super::*;

/// `(wcycle, cmd, bypass)`.
fn wcb(f: &Flash) -> (u8, u8, bool) {
    let s = f.st();
    (s.wcycle, s.cmd, s.bypass)
}

/// Enters unlock bypass: AA, 55, 20.
fn enter_bypass(f: &mut Flash) {
    f.command(0x20);
    assert_eq!(wcb(f), (2, 0, true));
}

/// Bypass kept, `wcycle 0` (a device reset in bypass mode, §13): a RESET
/// from here shows as `bypass` going false.
fn bypass_at_wcycle0(f: &mut Flash) {
    enter_bypass(f);
    f.dev.reset();
    assert_eq!(wcb(f), (0, 0, true));
}

/// Erases the sector at 0x10000, lets the window expire and suspends.
fn suspended(f: &mut Flash) {
    f.sector_erase(SECTOR);
    f.step();
    f.w(0, 0xB0);
    assert_eq!(f.st().erase_time_remaining, PER_SECTOR_NS);
}

// §7.1 pre-check

#[test]
fn f0_resets_every_unlock_cycle_and_leaves_bypass() {
    let mut f = musicpal();
    f.w(U0, 0xAA);
    f.w(0, 0xF0);
    assert_eq!(wcb(&f), (0, 0, false));
    f.unlock();
    f.w(0, 0xF0);
    assert_eq!(wcb(&f), (0, 0, false));
    f.command(0x90);
    f.w(0, 0xF0);
    assert_eq!(wcb(&f), (0, 0, false));
    enter_bypass(&mut f);
    f.w(0x1234, 0xF0);
    assert_eq!(wcb(&f), (0, 0, false));
}

#[test]
fn f0_leaves_suspend_timer_bitmap_and_status_alone() {
    let mut f = musicpal();
    suspended(&mut f);
    f.unlock();
    let before = f.st();
    f.w(0, 0xF0);
    let after = f.st();
    assert_eq!((after.wcycle, after.cmd), (0, 0));
    assert_eq!(after.erase_time_remaining, before.erase_time_remaining);
    assert_eq!(after.erase_sectors, vec![1]);
    assert_eq!(after.status, before.status);
    // A pending timer survives too (device reset inside the window first).
    let mut g = musicpal();
    g.sector_erase(0);
    g.dev.reset();
    g.w(0, 0xF0);
    assert_eq!(g.dev.next_deadline(), Some(WINDOW_NS));
    assert_eq!(g.st().sectors_to_erase, 1);
}

#[test]
fn f0_neither_switches_romd_off_nor_clears_the_counter() {
    let mut f = musicpal();
    f.w(0, 0xF0);
    assert!(f.dev.romd(), "0xF0 never reaches the wcycle 0 branch");
    f.w(0, 0xB0); // ROMD off, counter 0
    f.reads(0, 5);
    f.w(0, 0xF0);
    assert_eq!(f.st().read_counter, 5);
    assert!(!f.dev.romd());
}

#[test]
fn f0_in_autoselect_cfi_returns_to_autoselect() {
    let mut f = musicpal();
    f.command(0x90);
    f.w(CFI_ADDR, 0x98);
    assert_eq!(wcb(&f), (8, 0x98, false));
    f.w(0, 0xF0);
    assert_eq!(wcb(&f), (3, 0x90, false));
    assert_eq!(f.r(0), 0xBF);
}

#[test]
fn f0_while_program_pending_is_programmed_as_data() {
    let mut f = musicpal();
    f.program(0x200, 0xF0);
    assert_eq!(f.raw(0x200), 0x00F0);
    assert_eq!(wcb(&f), (0, 0, false));
}

// §7.2 wcycle 0

#[test]
fn u0_98_at_word_0x55_enters_cfi() {
    let mut f = musicpal();
    f.w(CFI_ADDR, 0x98);
    assert_eq!(wcb(&f), (7, 0x98, false));
    // 11-bit compare: word 0x855 is word 0x55 (measured).
    let mut g = musicpal();
    g.w(0x855 * 2, 0x98);
    assert_eq!(wcb(&g), (7, 0x98, false));
}

#[test]
fn u0_98_elsewhere_resets() {
    let mut f = musicpal();
    bypass_at_wcycle0(&mut f);
    f.w(CFI_ADDR + 2, 0x98);
    assert_eq!(wcb(&f), (0, 0, false));
}

#[test]
fn u0_30_resumes_a_suspended_erase() {
    let mut f = musicpal();
    suspended(&mut f);
    f.dev.advance(7);
    let now = f.dev.now();
    f.w(0x300000, 0x30);
    let s = f.st();
    assert_eq!((s.wcycle, s.cmd), (6, 0x30));
    assert_eq!(s.erase_time_remaining, 0);
    assert_eq!(s.status & 0x80, 0, "DQ7 = 0");
    assert_eq!(s.status & 0x08, 0x08, "DQ3 = 1");
    assert_eq!(f.dev.next_deadline(), Some(now + PER_SECTOR_NS));
}

#[test]
fn u0_30_without_suspend_resets() {
    let mut f = musicpal();
    bypass_at_wcycle0(&mut f);
    f.w(0, 0x30);
    assert_eq!(wcb(&f), (0, 0, false));
    assert_eq!(f.dev.next_deadline(), None);
}

#[test]
fn u0_b0_is_ignored() {
    let mut f = musicpal();
    bypass_at_wcycle0(&mut f);
    f.w(0, 0xB0);
    assert_eq!(wcb(&f), (0, 0, true));
    assert!(!f.dev.romd(), "the ROMD step still applies");
}

#[test]
fn u0_aa_at_unlock_addr0_advances() {
    let mut f = musicpal();
    f.w(U0, 0xAA);
    assert_eq!(wcb(&f), (1, 0, false));
}

#[test]
fn u0_anything_else_resets() {
    for (addr, val) in [(U0 + 2, 0xAA), (U0, 0x55), (0, 0x00), (U0, 0xA0)] {
        let mut f = musicpal();
        bypass_at_wcycle0(&mut f);
        f.w(addr, val);
        assert_eq!(wcb(&f), (0, 0, false), "{val:#x}@{addr:#x}");
    }
}

#[test]
fn wcycle0_writes_switch_romd_off_and_zero_the_counter() {
    for val in [0xB0, 0x98, 0xAA, 0x00] {
        let mut f = musicpal();
        f.w(0, 0xB0);
        f.reads(0, 3);
        assert_eq!(f.st().read_counter, 3);
        f.dev.reset();
        f.w(CFI_ADDR, val);
        assert!(!f.dev.romd(), "{val:#x}");
        assert_eq!(f.st().read_counter, 0, "{val:#x}");
    }
}

// §7.3 wcycle 1

#[test]
fn u1_55_at_unlock_addr1_advances() {
    let mut f = musicpal();
    f.unlock();
    assert_eq!(wcb(&f), (2, 0, false));
}

#[test]
fn u1_wrong_address_or_data_resets() {
    for (addr, val) in [(U1 + 2, 0x55), (U1, 0xAA)] {
        let mut f = musicpal();
        f.w(U0, 0xAA);
        f.w(addr, val);
        assert_eq!(wcb(&f), (0, 0, false));
    }
}

// §7.4 wcycle 2

#[test]
fn cycle2_wrong_address_resets_outside_bypass() {
    let mut f = musicpal();
    f.unlock();
    f.w(U0 + 2, 0x90);
    assert_eq!(wcb(&f), (0, 0, false));
}

#[test]
fn cycle2_20_enters_unlock_bypass() {
    let mut f = musicpal();
    f.command(0x20);
    assert_eq!(wcb(&f), (2, 0, true));
}

#[test]
fn cycle2_80_90_a0_start_their_command() {
    for c in [0x80u8, 0x90, 0xA0] {
        let mut f = musicpal();
        f.command(c as u64);
        assert_eq!(wcb(&f), (3, c, false));
    }
}

#[test]
fn cycle2_other_bytes_reset() {
    let mut f = musicpal();
    f.command(0x10);
    assert_eq!(wcb(&f), (0, 0, false));
}

#[test]
fn cycle2_in_bypass_accepts_any_address() {
    let mut f = musicpal();
    enter_bypass(&mut f);
    f.w(0x1234, 0xA0);
    assert_eq!(wcb(&f), (3, 0xA0, true));
}

#[test]
fn cycle2_lone_zero_in_bypass_exits_bypass() {
    let mut f = musicpal();
    enter_bypass(&mut f);
    f.w(0, 0x00);
    assert_eq!(wcb(&f), (0, 0, false));
}

// §7.5 wcycle 3

#[test]
fn cycle3_erase_98_at_0x55_enters_cfi() {
    let mut f = musicpal();
    f.command(0x80);
    f.w(CFI_ADDR, 0x98);
    assert_eq!(wcb(&f), (7, 0x98, false));
}

#[test]
fn cycle3_erase_30_resumes_when_suspended() {
    let mut f = musicpal();
    suspended(&mut f);
    f.command(0x80);
    f.w(0, 0x30);
    assert_eq!(wcb(&f), (6, 0x30, false));
    assert_eq!(f.dev.next_deadline(), Some(f.dev.now() + PER_SECTOR_NS));
}

#[test]
fn cycle3_erase_30_resets_when_not_suspended() {
    let mut f = musicpal();
    f.command(0x80);
    f.w(0, 0x30);
    assert_eq!(wcb(&f), (0, 0, false));
}

#[test]
fn cycle3_erase_b0_is_ignored() {
    let mut f = musicpal();
    f.command(0x80);
    f.w(0, 0xB0);
    assert_eq!(wcb(&f), (3, 0x80, false));
}

#[test]
fn cycle3_erase_aa_at_unlock_addr0_advances() {
    let mut f = musicpal();
    f.command(0x80);
    f.w(U0, 0xAA);
    assert_eq!(wcb(&f), (4, 0x80, false));
}

#[test]
fn cycle3_erase_anything_else_resets() {
    let mut f = musicpal();
    f.command(0x80);
    f.w(U1, 0x55);
    assert_eq!(wcb(&f), (0, 0, false));
}

#[test]
fn program_ands_the_data_and_returns_to_read() {
    let mut f = musicpal();
    f.program(0x100, 0x1234);
    assert_eq!(f.raw(0x100), 0x1234);
    assert_eq!(wcb(&f), (0, 0, false));
    f.program(0x100, 0xFF0F);
    assert_eq!(f.raw(0x100), 0x1204);
}

#[test]
fn program_sets_dq7_to_the_complement_of_bit7() {
    let mut f = musicpal();
    f.program(0x100, 0x0080);
    assert_eq!(f.st().status & 0x80, 0);
    f.program(0x102, 0xFF7F);
    assert_eq!(f.st().status & 0x80, 0x80);
}

#[test]
fn program_in_bypass_returns_to_bypass() {
    let mut f = musicpal();
    enter_bypass(&mut f);
    f.w(0x40, 0xA0);
    f.w(0x100, 0x00AB);
    assert_eq!(f.raw(0x100), 0x00AB);
    assert_eq!(wcb(&f), (2, 0, true));
}

#[test]
fn program_to_a_suspended_sector_is_ignored() {
    let mut f = musicpal();
    suspended(&mut f);
    f.program(SECTOR + 0x10, 0x0000);
    assert_eq!(f.raw(SECTOR + 0x10), 0xFFFF);
    assert_eq!(wcb(&f), (0, 0, false));
    // In bypass the device returns to BYPASS instead.
    let mut g = musicpal();
    suspended(&mut g);
    enter_bypass(&mut g);
    g.w(0, 0xA0);
    g.w(SECTOR + 0x10, 0x0000);
    assert_eq!(g.raw(SECTOR + 0x10), 0xFFFF);
    assert_eq!(wcb(&g), (2, 0, true));
}

#[test]
fn program_to_another_sector_while_suspended_works() {
    let mut f = musicpal();
    suspended(&mut f);
    f.program(2 * SECTOR, 0x1234);
    assert_eq!(f.raw(2 * SECTOR), 0x1234);
    assert!(f.st().erase_time_remaining > 0, "still suspended");
}

#[test]
fn program_writes_the_range_back_to_the_drive() {
    let mut f = musicpal();
    f.program(0x1002, 0x5AA5);
    assert_eq!(f.dev.backend().image().unwrap().read_le(0x1002, 2), 0x5AA5);
}

#[test]
fn cycle3_autoselect_00_in_bypass_is_bypass_reset() {
    let mut f = musicpal();
    enter_bypass(&mut f);
    f.w(0x40, 0x90);
    assert_eq!(wcb(&f), (3, 0x90, true));
    f.w(0, 0x00);
    assert_eq!(wcb(&f), (0, 0, false));
}

#[test]
fn cycle3_autoselect_98_at_0x55_enters_autoselect_cfi() {
    let mut f = musicpal();
    f.command(0x90);
    f.w(CFI_ADDR, 0x98);
    assert_eq!(wcb(&f), (8, 0x98, false));
    assert_eq!(f.r(0x20), 0x51);
}

#[test]
fn cycle3_autoselect_anything_else_resets() {
    for (addr, val) in [(0, 0x00), (CFI_ADDR + 2, 0x98), (U0, 0xAA)] {
        let mut f = musicpal();
        f.command(0x90);
        f.w(addr, val);
        assert_eq!(wcb(&f), (0, 0, false), "{val:#x}@{addr:#x}");
    }
}

// §7.6 wcycle 4 and 5

#[test]
fn cycle4_55_at_unlock_addr1_advances() {
    let mut f = musicpal();
    f.erase_setup();
    assert_eq!(wcb(&f), (5, 0x80, false));
}

#[test]
fn cycle4_anything_else_resets() {
    let mut f = musicpal();
    f.command(0x80);
    f.w(U0, 0xAA);
    f.w(U1 + 2, 0x55);
    assert_eq!(wcb(&f), (0, 0, false));
}

#[test]
fn cycle5_while_suspended_resets() {
    let mut f = musicpal();
    suspended(&mut f);
    f.erase_setup();
    f.w(2 * SECTOR, 0x30);
    assert_eq!(wcb(&f), (0, 0, false));
    assert_eq!(f.dev.next_deadline(), None);
    assert_eq!(f.st().erase_sectors, vec![1]);
    assert_eq!(f.raw(2 * SECTOR), 0xFFFF);
}

#[test]
fn cycle5_10_at_unlock_addr0_is_chip_erase() {
    let mut f = musicpal_filled(0);
    f.chip_erase();
    assert_eq!(wcb(&f), (6, 0x10, false));
    assert_eq!(f.dev.array().page_fill(0), Some(0xFF));
    assert_eq!(f.raw(8 * MIB - 2), 0xFFFF);
    assert_eq!(
        f.dev.backend().image().unwrap().read_le(0x777776, 2),
        0xFFFF
    );
    assert_eq!(f.st().status & 0x80, 0);
    assert_eq!(f.dev.next_deadline(), Some(CHIP_ERASE_NS));
}

#[test]
fn cycle5_10_elsewhere_resets() {
    let mut f = musicpal_filled(0);
    f.erase_setup();
    f.w(0, 0x10);
    assert_eq!(wcb(&f), (0, 0, false));
    assert_eq!(f.raw(0), 0);
    assert_eq!(f.dev.next_deadline(), None);
}

#[test]
fn cycle5_30_erases_and_queues_the_sector() {
    let mut f = musicpal_filled(0);
    f.sector_erase(SECTOR + 0x1236);
    assert_eq!(wcb(&f), (6, 0x30, false));
    assert_eq!(f.raw(SECTOR - 2), 0);
    assert_eq!(f.raw(SECTOR), 0xFFFF);
    assert_eq!(f.raw(2 * SECTOR - 2), 0xFFFF);
    assert_eq!(f.raw(2 * SECTOR), 0);
    assert_eq!(f.dev.backend().image().unwrap().read_le(SECTOR, 2), 0xFFFF);
    let s = f.st();
    assert_eq!(s.sectors_to_erase, 1);
    assert_eq!(s.erase_sectors, vec![1]);
    assert_eq!(s.status & 0x80, 0);
    assert_eq!(f.dev.next_deadline(), Some(WINDOW_NS));
}

#[test]
fn cycle5_sector_numbers_count_across_regions() {
    // Bottom boot: 1×16K, 2×8K, 1×32K, 127×64K.
    let mut p = musicpal_props(8);
    p.extend(props(&[
        ("num-blocks0", "1"),
        ("sector-length0", "0x4000"),
        ("num-blocks1", "2"),
        ("sector-length1", "0x2000"),
        ("num-blocks2", "1"),
        ("sector-length2", "0x8000"),
        ("num-blocks3", "127"),
        ("sector-length3", "0x10000"),
    ]));
    let mut f = Flash::new(&p, BlockBackend::memory(8 * MIB, 0, true));
    f.sector_erase(0x7ffe);
    f.w(0x8000, 0x30);
    f.w(0x23456, 0x30);
    assert_eq!(f.st().erase_sectors, vec![2, 3, 5]);
    assert_eq!(f.raw(0x5FFE), 0);
    assert_eq!(f.raw(0x6000), 0xFFFF);
    assert_eq!(f.raw(0xFFFE), 0xFFFF);
    assert_eq!(f.raw(0x1FFFE), 0);
    assert_eq!(f.raw(0x20000), 0xFFFF);
    assert_eq!(f.raw(0x30000), 0);
}

#[test]
fn cycle5_other_bytes_reset() {
    let mut f = musicpal();
    f.erase_setup();
    f.w(U0, 0x20);
    assert_eq!(wcb(&f), (0, 0, false));
}

// §7.7 wcycle 6

#[test]
fn cycle6_chip_erase_ignores_every_write() {
    let mut f = musicpal();
    f.chip_erase();
    let before = f.st();
    for val in [0xF0, 0xB0, 0x30, 0xAA, 0x00] {
        f.w(U0, val);
    }
    assert_eq!(f.st(), before);
}

#[test]
fn cycle6_suspend_inside_the_window_keeps_the_full_erase_time() {
    let mut f = musicpal();
    f.sector_erase(0);
    f.w(2 * SECTOR, 0x30);
    f.dev.advance(10_000);
    f.w(0, 0xB0);
    let s = f.st();
    assert_eq!(s.erase_time_remaining, 2 * PER_SECTOR_NS);
    assert_eq!(s.status & 0x08, 0);
    assert_eq!((s.wcycle, s.cmd), (0, 0));
    assert_eq!(s.timer_remaining, None);
}

#[test]
fn cycle6_suspend_after_the_window_keeps_the_time_left() {
    let mut f = musicpal();
    f.sector_erase(0);
    f.step();
    f.dev.advance(100_000);
    f.w(0, 0xB0);
    let s = f.st();
    assert_eq!(s.erase_time_remaining, PER_SECTOR_NS - 100_000);
    assert_eq!(s.status & 0x08, 0, "DQ3 cleared by suspend");
    assert_eq!(s.timer_remaining, None);
}

#[test]
fn cycle6_suspend_keeps_bypass_and_romd() {
    let mut f = musicpal();
    enter_bypass(&mut f);
    f.w(0x40, 0x80);
    f.unlock();
    f.w(0, 0x30);
    f.w(0, 0xB0);
    let s = f.st();
    assert!(s.bypass);
    assert!(!s.rom_mode);
    assert_eq!((s.wcycle, s.cmd), (0, 0));
}

#[test]
fn cycle6_30_in_the_window_queues_another_sector() {
    let mut f = musicpal();
    f.sector_erase(0);
    f.dev.advance(20_000);
    f.w(3 * SECTOR, 0x30);
    let s = f.st();
    assert_eq!(s.sectors_to_erase, 2);
    assert_eq!(s.erase_sectors, vec![0, 3]);
    assert_eq!(f.dev.next_deadline(), Some(20_000 + WINDOW_NS));
}

#[test]
fn cycle6_other_writes_in_the_window_reset_but_leave_the_erase_queue() {
    for val in [0x00, 0xF0, 0xAA] {
        let mut f = musicpal();
        f.sector_erase(0);
        f.w(U0, val);
        let s = f.st();
        assert_eq!((s.wcycle, s.cmd), (0, 0), "{val:#x}");
        assert_eq!(s.sectors_to_erase, 1);
        assert_eq!(s.erase_sectors, vec![0]);
        assert_eq!(f.dev.next_deadline(), Some(WINDOW_NS));
    }
}

#[test]
fn cycle6_writes_after_dq3_rose_are_ignored() {
    let mut f = musicpal();
    f.sector_erase(0);
    f.step();
    let before = f.st();
    for val in [0x30, 0x00, 0xF0, 0xAA] {
        f.w(2 * SECTOR, val);
    }
    assert_eq!(f.st(), before);
}

// §7.8 CFI modes

#[test]
fn cfi_any_write_leaves_cfi_mode() {
    for (addr, val) in [(0, 0x00), (CFI_ADDR, 0x98), (U0, 0xAA), (0, 0xF0)] {
        let mut f = musicpal();
        f.w(CFI_ADDR, 0x98);
        f.w(addr, val);
        assert_eq!(wcb(&f), (0, 0, false), "{val:#x}@{addr:#x}");
    }
}

#[test]
fn autoselect_cfi_non_f0_write_resets() {
    let mut f = musicpal();
    f.command(0x90);
    f.w(CFI_ADDR, 0x98);
    f.w(0, 0x00);
    assert_eq!(wcb(&f), (0, 0, false));
}

// §7.9 unlock bypass

#[test]
fn bypass_erase_needs_unlock_and_completes_to_bypass() {
    let mut f = musicpal();
    enter_bypass(&mut f);
    f.w(0x4000, 0x80);
    assert_eq!(wcb(&f), (3, 0x80, true));
    f.unlock();
    f.w(SECTOR, 0x30);
    assert_eq!(wcb(&f), (6, 0x30, true));
    f.step();
    f.step();
    assert_eq!(wcb(&f), (2, 0, true));
    assert!(!f.dev.romd(), "completion in bypass leaves ROMD off");
}

#[test]
fn bypass_autoselect_then_zero_exits() {
    let mut f = musicpal();
    enter_bypass(&mut f);
    f.w(0x4000, 0x90);
    assert_eq!(f.r(0), 0xBF);
    f.w(0x4000, 0x00);
    assert_eq!(wcb(&f), (0, 0, false));
}
