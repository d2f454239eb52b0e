//! The fifteen quirks of §14, one test each (numbered as in the spec).

use super::*;

#[test]
fn quirk01_erase_data_is_applied_at_command_time() {
    let mut f = musicpal_filled(0);
    f.sector_erase(SECTOR);
    assert_eq!(f.raw(SECTOR + 0x100), 0xFFFF, "erased while still busy");
    assert_eq!(f.st().cmd, 0x30);
    let mut g = musicpal_filled(0);
    g.chip_erase();
    assert_eq!(g.raw(0x123456), 0xFFFF);
    assert_eq!(g.st().cmd, 0x10);
}

#[test]
fn quirk02_sector_erase_in_microseconds_chip_erase_in_milliseconds() {
    let mut f = musicpal();
    let cfi = f.dev.cfi_table().to_vec();
    assert_eq!((cfi[0x21], cfi[0x22]), (9, 12));
    f.sector_erase(0);
    f.step();
    assert_eq!(f.dev.next_deadline(), Some(WINDOW_NS + (1 << 9) * 1_000));
    f.step();
    f.chip_erase();
    assert_eq!(
        f.dev.next_deadline(),
        Some(f.dev.now() + (1 << 12) * 1_000_000)
    );
}

#[test]
fn quirk03_every_status_read_at_any_address_mutates_status() {
    let mut a = musicpal();
    let mut b = musicpal();
    for f in [&mut a, &mut b] {
        f.sector_erase(0);
    }
    b.r(0x7FFFFE); // one extra read, elsewhere
    assert_ne!(a.st().status, b.st().status);
    assert_eq!(a.r(0), 0x44);
    assert_eq!(b.r(0), 0x00);
}

#[test]
fn quirk04_program_ands_with_the_old_contents() {
    let mut f = musicpal();
    f.program(0x10, 0x1234);
    f.program(0x10, 0xFF0F);
    assert_eq!(f.r(0x10), 0x1204);
}

#[test]
fn quirk05_reset_leaves_timer_bitmap_count_and_dq3() {
    let mut f = musicpal();
    f.sector_erase(0);
    f.w(0, 0x00); // RESET inside the window
    let s = f.st();
    assert_eq!(s.sectors_to_erase, 1);
    assert_eq!(s.erase_sectors, vec![0]);
    assert_eq!(f.dev.next_deadline(), Some(WINDOW_NS));
    f.step(); // the stale window timer takes the common completion
              // The queued sector leaks into the next erase.
    f.sector_erase(5 * SECTOR);
    assert_eq!(f.st().sectors_to_erase, 2);
    assert_eq!(f.st().erase_sectors, vec![0, 5]);
    f.step();
    assert_eq!(f.dev.next_deadline(), Some(f.dev.now() + 2 * PER_SECTOR_NS));
}

#[test]
fn quirk06_a_stale_timer_aborts_an_unrelated_sequence() {
    let mut f = musicpal_filled(0);
    f.sector_erase(0);
    f.dev.reset();
    f.command(0x90);
    assert_eq!(f.r(0x10000), 0xBF, "in autoselect");
    f.step();
    let s = f.st();
    assert_eq!((s.wcycle, s.cmd), (0, 0));
    assert!(s.rom_mode);
    assert_eq!(s.status & 0x80, 0x80, "DQ7 toggled");
    assert_eq!(f.r(0x10000), 0x0000, "array data, autoselect aborted");
}

#[test]
fn quirk07_unlock_addresses_compared_on_11_bits() {
    let mut f = musicpal();
    // Word addresses 0x5555 and 0x2AAA.
    f.w(0xAAAA, 0xAA);
    f.w(0x5554, 0x55);
    f.w(0xAAAA, 0x90);
    assert_eq!(f.r(0), 0xBF);
    // On the x8 zynq part, x16-style 0xAAA is 0x2AA after masking: it fails.
    let mut z = Flash::new(
        &props(&[
            ("num-blocks", "512"),
            ("sector-length", "0x20000"),
            ("width", "1"),
            ("mappings", "1"),
            ("id0", "0x66"),
            ("id1", "0x22"),
            ("unlock-addr0", "0x555"),
            ("unlock-addr1", "0x2AA"),
            ("name", "zynq.pflash"),
        ]),
        BlockBackend::none(),
    );
    bus_write(&mut z.dev, 0xAAA, 1, 0xAA);
    assert_eq!(z.st().wcycle, 0);
    bus_write(&mut z.dev, 0x555, 1, 0xAA);
    bus_write(&mut z.dev, 0x2AA, 1, 0x55);
    bus_write(&mut z.dev, 0x555, 1, 0x90);
    assert_eq!(bus_read(&mut z.dev, 0, 1), 0x66);
    // Wider accesses pass straight through: a 32-bit program writes 4 bytes.
    bus_write(&mut z.dev, 0, 1, 0xF0);
    bus_write(&mut z.dev, 0x555, 1, 0xAA);
    bus_write(&mut z.dev, 0x2AA, 1, 0x55);
    bus_write(&mut z.dev, 0x555, 1, 0xA0);
    // RAM-only array starts at zero: erase first, then program.
    z.dev.array.fill(0, 4, 0xFF);
    bus_write(&mut z.dev, 0, 4, 0x1122_3344);
    assert_eq!(z.dev.array().read_le(0, 4), 0x1122_3344);
}

#[test]
fn quirk08_the_image_is_mirrored_across_the_window() {
    let mut f = musicpal_filled(0);
    assert_eq!(f.dev.window_size(), 4 * 8 * MIB);
    f.sector_erase(0x810000);
    assert_eq!(f.st().erase_sectors, vec![1]);
    f.step();
    f.step();
    f.program(0x1810000, 0x1234);
    assert_eq!(f.raw(0x10000), 0x1234);
    assert!(!f.dev.romd());
    for base in [0, 8 * MIB, 16 * MIB, 24 * MIB] {
        assert_eq!(f.r(base + 0x10000), 0x1234, "I/O read in copy {base:#x}");
    }
    f.reads(0, 43);
    assert!(f.dev.romd());
    for base in [0, 8 * MIB, 16 * MIB, 24 * MIB] {
        assert_eq!(f.r(base + 0x10000), 0x1234, "ROMD read in copy {base:#x}");
    }
}

#[test]
fn quirk09_f0_programmed_during_a_program_ignored_or_resetting_during_erase() {
    let mut f = musicpal();
    f.program(0x20, 0xF0);
    assert_eq!(f.raw(0x20), 0x00F0);
    f.chip_erase();
    f.w(0, 0xF0);
    assert_eq!(f.st().cmd, 0x10, "ignored during chip erase");
    f.step();
    f.sector_erase(0);
    f.step();
    f.w(0, 0xF0);
    assert_eq!(f.st().cmd, 0x30, "ignored after DQ3 rose");
    f.step();
    f.sector_erase(0);
    f.w(0, 0xF0);
    assert_eq!(f.st().cmd, 0x00, "resets inside the window");
}

#[test]
fn quirk10_any_write_leaves_cfi_and_f0_returns_to_autoselect() {
    let mut f = musicpal();
    f.w(CFI_ADDR, 0x98);
    f.w(0x1000, 0x12);
    assert_eq!(f.st().cmd, 0x00);
    f.command(0x90);
    f.w(CFI_ADDR, 0x98);
    f.w(0, 0xF0);
    assert_eq!((f.st().wcycle, f.st().cmd), (3, 0x90));
}

#[test]
fn quirk11_romd_stays_off_until_a_completion_or_the_43rd_read() {
    let mut f = musicpal();
    f.program(0, 0x00);
    assert!(!f.dev.romd(), "after a program");
    f.w(0, 0xF0);
    f.w(CFI_ADDR, 0x98);
    f.w(0, 0xF0);
    f.dev.reset();
    assert!(
        !f.dev.romd(),
        "after CFI exit, reset command and device reset"
    );
    f.reads(0, 42);
    assert!(!f.dev.romd());
    assert_eq!(f.st().read_counter, 42);
    f.r(0);
    assert!(f.dev.romd(), "the 43rd read turns ROMD on");
    f.r(0);
    assert_eq!(
        f.st().read_counter,
        43,
        "ROMD reads do not reach the device"
    );
    // Reads in other write cycles are not counted.
    f.w(U0, 0xAA);
    f.reads(0, 50);
    assert_eq!(f.st().read_counter, 0);
    assert!(!f.dev.romd());
}

#[test]
fn quirk12_autoselect_data_at_unlisted_indices_and_unreplicated_ids() {
    let mut f = musicpal_filled(0x77);
    f.command(0x90);
    assert_eq!(f.r(2), 0x236D);
    assert_eq!(bus_read(&mut f.dev, 0, 4), 0xBF, "not 0x00BF00BF");
    assert_eq!(f.r(6), 0x7777, "index 3 is array data");
    assert_eq!(f.r(0x1C), 0x0000, "id2 = 0 is a real id");
}

#[test]
fn quirk13_uniform_geometry_is_not_validated_and_masking_breaks() {
    // 3 × 4 KiB: chip_len 0x3000 is not a power of two; the mask is 0x2FFF.
    let mut f = Flash::new(
        &props(&[
            ("num-blocks", "3"),
            ("sector-length", "0x1000"),
            ("width", "1"),
            ("unlock-addr0", "0x555"),
            ("unlock-addr1", "0x2AA"),
            ("name", "odd"),
        ]),
        BlockBackend::memory(0x3000, 0xFF, true),
    );
    for (a, v) in [(0x555, 0xAA), (0x2AA, 0x55), (0x555, 0xA0), (0x1004, 0x00)] {
        bus_write(&mut f.dev, a, 1, v);
    }
    assert_eq!(f.dev.array().byte(0x4), 0x00, "0x1004 & 0x2FFF = 0x0004");
    assert_eq!(f.dev.array().byte(0x1004), 0xFF);
    // A non-power-of-two uniform sector length is accepted as well.
    let dev = PflashCfi02::new(
        &props(&[
            ("num-blocks", "2"),
            ("sector-length", "0x300"),
            ("name", "odd"),
        ]),
        BlockBackend::none(),
    )
    .unwrap();
    assert_eq!(dev.chip_len(), 0x600);
}

#[test]
fn quirk14_queuing_the_same_sector_twice_doubles_the_erase_time() {
    let mut f = musicpal();
    f.sector_erase(0);
    f.w(0x100, 0x30);
    let s = f.st();
    assert_eq!(s.sectors_to_erase, 2);
    assert_eq!(s.erase_sectors, vec![0]);
    f.step();
    assert_eq!(f.dev.next_deadline(), Some(WINDOW_NS + 2 * PER_SECTOR_NS));
}

#[test]
fn quirk15_read_only_runs_status_and_timers_but_leaves_the_array() {
    let mut f = Flash::new(&musicpal_props(8), BlockBackend::memory(8 * MIB, 0, false));
    f.program(0, 0x0000);
    assert_eq!(f.st().status & 0x80, 0x80, "DQ7 as for a real program");
    f.sector_erase(SECTOR);
    assert_eq!(f.raw(SECTOR), 0);
    assert_eq!(f.r(SECTOR), 0x44);
    f.step();
    f.step();
    assert_eq!(f.dev.now(), ONE_SECTOR_DONE_NS);
    f.chip_erase();
    assert_eq!(f.raw(0x100), 0);
    assert_eq!(
        f.dev.next_deadline(),
        Some(ONE_SECTOR_DONE_NS + CHIP_ERASE_NS)
    );
    assert_eq!(f.dev.backend().image().unwrap().page_fill(0), Some(0));
}
