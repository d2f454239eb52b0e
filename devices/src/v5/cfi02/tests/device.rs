//! Memory model (§4, §6), reset (§13), write-back, canonical state, restore,
//! fork and migration (§15).

use super::*;
use crate::catalogue::DeviceState;

#[test]
fn window_is_max_mappings_1_times_chip_len() {
    for (mappings, copies) in [("0", 1), ("1", 1), ("2", 2), ("32", 32)] {
        let dev = PflashCfi02::new(
            &props(&[
                ("num-blocks", "4"),
                ("sector-length", "0x1000"),
                ("mappings", mappings),
                ("name", "f"),
            ]),
            BlockBackend::none(),
        )
        .unwrap();
        assert_eq!(dev.window_size(), copies * 0x4000, "mappings={mappings}");
    }
}

#[test]
fn rom_read_is_raw_little_endian_and_byte_swapped_for_big_endian() {
    let mut p = musicpal_props(8);
    p.push(("big-endian".into(), "1".into()));
    let mut f = Flash::new(&p, BlockBackend::memory(8 * MIB, 0xFF, true));
    f.program(0x40, 0x1234);
    assert_eq!(f.dev.array().byte(0x40), 0x12, "stored big-endian");
    assert_eq!(f.r(0x40), 0x1234, "I/O read in device byte order");
    f.reads(0, 43);
    assert!(f.dev.romd());
    assert_eq!(f.r(0x40), 0x3412, "ROMD read is raw little-endian RAM");
    assert_eq!(
        f.dev.rom_read(8 * MIB + 0x40, 2),
        0x3412,
        "through a mirror"
    );
}

#[test]
fn romd_reads_have_no_side_effects() {
    let mut f = musicpal();
    let before = f.st();
    for width in [1, 2, 4, 8] {
        bus_read(&mut f.dev, 0x100, width);
    }
    assert_eq!(f.st(), before);
}

#[test]
fn wide_reads_are_split_into_status_reads_in_io_mode() {
    let mut f = musicpal();
    f.sector_erase(0);
    // An 8-byte read is two 4-byte device reads: two status reads.
    assert_eq!(bus_read(&mut f.dev, 0, 8), 0x44);
    assert_eq!(f.r(0), 0x44);
}

#[test]
fn device_reset_touches_only_cmd_and_wcycle() {
    let mut f = musicpal();
    f.sector_erase(SECTOR);
    f.step();
    f.w(0, 0xB0);
    f.command(0x20);
    f.w(0, 0x90);
    f.reads(0, 3);
    let before = f.st();
    assert_eq!((before.wcycle, before.cmd), (3, 0x90));
    f.dev.reset();
    let after = f.st();
    assert_eq!(
        after,
        State {
            wcycle: 0,
            cmd: 0,
            ..before
        }
    );
}

#[test]
fn bypass_survives_reset_but_a_bare_a0_then_resets_it() {
    let mut f = musicpal();
    f.command(0x20);
    f.dev.reset();
    assert!(f.st().bypass);
    f.w(0x100, 0xA0);
    let s = f.st();
    assert_eq!((s.wcycle, s.cmd, s.bypass), (0, 0, false));
}

#[test]
fn bypass_survives_reset_and_unlock_leads_back_to_any_address_commands() {
    let mut f = musicpal();
    f.command(0x20);
    f.dev.reset();
    f.unlock();
    f.w(0x1234, 0xA0);
    let s = f.st();
    assert_eq!((s.wcycle, s.cmd, s.bypass), (3, 0xA0, true));
}

#[test]
fn lazy_return_to_romd_leaves_bypass() {
    let mut f = musicpal();
    f.command(0x20);
    f.dev.reset();
    f.reads(0, 43);
    assert!(f.dev.romd());
    assert!(f.st().bypass);
}

#[test]
fn canonical_state_holds_every_variable() {
    let mut f = musicpal();
    f.sector_erase(2 * SECTOR);
    f.dev.advance(1_000);
    f.r(0);
    assert_eq!(
        f.st(),
        State {
            wcycle: 6,
            cmd: 0x30,
            bypass: false,
            status: 0x44,
            rom_mode: false,
            read_counter: 0,
            sectors_to_erase: 1,
            erase_sectors: vec![2],
            erase_time_remaining: 0,
            timer_remaining: Some(WINDOW_NS - 1_000),
        }
    );
    assert_eq!(DeviceState::of(&f.dev), Some(DeviceState::Cfi02V5(f.st())));
}

#[test]
fn canonical_state_compares_across_different_clock_origins() {
    let mut a = musicpal();
    let mut b = musicpal();
    b.dev.advance(123_456_789);
    for f in [&mut a, &mut b] {
        f.sector_erase(0);
        f.step();
        f.dev.advance(1_000);
    }
    assert_eq!(a.st(), b.st());
}

#[test]
fn state_serializes_and_round_trips() {
    let mut f = musicpal();
    f.sector_erase(0);
    let state = DeviceState::of(&f.dev).unwrap();
    let json = serde_json::to_string(&state).unwrap();
    assert!(json.contains("\"type\":\"cfi.pflash02\""), "{json}");
    let back: DeviceState = serde_json::from_str(&json).unwrap();
    assert_eq!(back, state);
}

#[test]
fn set_state_restores_and_rearms_the_timer_relative_to_now() {
    let mut a = musicpal();
    a.sector_erase(0);
    a.step();
    a.dev.advance(100_000);
    a.w(0, 0xB0);
    a.w(0, 0x30);
    a.r(0);
    let state = a.st();
    let mut b = musicpal();
    b.dev.advance(7_000_000);
    b.dev.set_state(&state);
    assert_eq!(b.st(), state);
    assert_eq!(
        b.dev.next_deadline(),
        Some(7_000_000 + state.timer_remaining.unwrap())
    );
    // Both continue identically.
    assert_eq!(a.reads(0, 5), b.reads(0, 5));
    a.step();
    b.step();
    assert_eq!(a.st(), b.st());
    assert_eq!(a.r(0), b.r(0));
}

#[test]
fn set_state_without_timer_cancels_the_pending_one() {
    let mut f = musicpal();
    f.sector_erase(0);
    f.dev.set_state(&power_on_state());
    assert_eq!(f.dev.next_deadline(), None);
    assert_eq!(f.st(), power_on_state());
}

#[test]
fn migrated_keeps_only_the_array() {
    let mut f = musicpal_filled(0);
    f.program(0x20, 0x0000);
    f.sector_erase(SECTOR);
    f.step();
    f.w(0, 0xB0);
    f.command(0x20);
    f.w(0, 0x90);
    f.dev.advance(3_000_000);
    let dest = f.dev.migrated();
    assert_eq!(dest.state(), DeviceState::Cfi02V5(power_on_state()));
    assert_eq!(dest.now(), 0);
    assert_eq!(dest.next_deadline(), None);
    assert!(dest.romd());
    assert_eq!(dest.array(), f.dev.array());
    assert_eq!(
        dest.array().read_le(SECTOR, 2),
        0xFFFF,
        "erase data arrived"
    );
    assert_eq!(dest.ram_block_name(), "musicpal.flash");
    assert_eq!(dest.backend().image(), f.dev.backend().image());
    assert_eq!(dest.window_size(), f.dev.window_size());
}

#[test]
fn after_migration_a_resume_just_resets() {
    let mut f = musicpal();
    f.sector_erase(SECTOR);
    f.w(0, 0xB0);
    let mut dest = f.dev.migrated();
    bus_write(dest.as_mut(), 0, 2, 0x30);
    assert_eq!(dest.next_deadline(), None);
    assert_eq!(
        bus_read(dest.as_mut(), SECTOR, 2),
        0xFFFF,
        "array data, not status"
    );
}

#[test]
fn migrated_mid_erase_loses_the_busy_status() {
    let mut f = musicpal_filled(0);
    f.sector_erase(0);
    let mut dest = f.dev.migrated();
    assert_eq!(bus_read(dest.as_mut(), 0, 2), 0xFFFF);
    assert_eq!(f.r(0), 0x44, "the source still reports status");
}

#[test]
fn fork_is_independent_and_detached() {
    let mut f = musicpal();
    f.sector_erase(0);
    let mut copy = f.dev.fork();
    bus_write(copy.as_mut(), 0, 2, 0xB0);
    assert_eq!(copy.next_deadline(), None);
    assert_eq!(f.dev.next_deadline(), Some(WINDOW_NS));
    let mut g = musicpal();
    let mut h = g.dev.fork();
    for (a, v) in [(U0, 0xAA), (U1, 0x55), (U0, 0xA0), (0x10, 0x1111)] {
        bus_write(h.as_mut(), a, 2, v);
    }
    assert_eq!(h.array().read_le(0x10, 2), 0x1111);
    assert_eq!(h.backend().image().unwrap().read_le(0x10, 2), 0x1111);
    assert_eq!(g.raw(0x10), 0xFFFF);
    assert_eq!(g.dev.backend().image().unwrap().read_le(0x10, 2), 0xFFFF);
    assert_eq!(g.r(0x10), 0xFFFF);
}

/// A chip of `blocks` × 256 bytes at width 1 with unlock addresses 0x55/0xAA.
fn tiny(blocks: &str) -> Flash {
    let len = 0x100 * blocks.parse::<u64>().unwrap();
    Flash::new(
        &props(&[
            ("num-blocks0", blocks),
            ("sector-length0", "0x100"),
            ("width", "1"),
            ("unlock-addr0", "0x55"),
            ("unlock-addr1", "0xAA"),
            ("name", "tiny"),
        ]),
        BlockBackend::memory(len, 0xFF, true),
    )
}

fn tiny_program(f: &mut Flash, addr: u64, val: u64) {
    for (a, v) in [(0x55, 0xAA), (0xAA, 0x55), (0x55, 0xA0), (addr, val)] {
        bus_write(&mut f.dev, a, 1, v);
    }
}

#[test]
fn write_back_is_skipped_when_the_512_byte_block_runs_past_the_image() {
    // 768 bytes (mask 0x2FF): offsets 0x10 and 0x210 survive the mask.
    let mut f = tiny("3");
    tiny_program(&mut f, 0x10, 0x12);
    tiny_program(&mut f, 0x210, 0x34);
    assert_eq!(f.dev.array().byte(0x10), 0x12);
    assert_eq!(f.dev.array().byte(0x210), 0x34);
    let image = f.dev.backend().image().unwrap();
    assert_eq!(image.byte(0x10), 0x12, "block 0..512 fits");
    assert_eq!(
        image.byte(0x210),
        0xFF,
        "block 512..1024 exceeds 768 bytes: EIO"
    );
    let mut g = tiny("1");
    tiny_program(&mut g, 0x10, 0x00);
    assert_eq!(g.dev.array().byte(0x10), 0x00);
    assert_eq!(g.dev.backend().image().unwrap().byte(0x10), 0xFF);
}

#[test]
fn write_back_covers_the_range_widened_to_512_bytes() {
    let mut f = musicpal();
    // Make the array differ from the image outside the programmed word.
    f.dev.array.write(0x200, &[0x11]);
    f.dev.array.write(0x400, &[0x22]);
    f.dev.array.write(0x5FF, &[0x33]);
    f.dev.array.write(0x600, &[0x44]);
    f.program(0x402, 0x0000);
    let image = f.dev.backend().image().unwrap();
    assert_eq!(image.byte(0x200), 0xFF, "previous block untouched");
    assert_eq!(image.byte(0x400), 0x22, "same block written back");
    assert_eq!(image.byte(0x5FF), 0x33, "same block written back");
    assert_eq!(image.byte(0x600), 0xFF, "next block untouched");
    assert_eq!(image.read_le(0x402, 2), 0);
}

#[test]
fn odd_tiny_chip_does_not_panic() {
    // Uniform geometry is not validated: a 3-byte chip.
    let mut f = Flash::new(
        &props(&[("num-blocks", "1"), ("sector-length", "3"), ("name", "odd")]),
        BlockBackend::memory(3, 0x11, true),
    );
    assert_eq!(f.dev.window_size(), 3);
    bus_write(&mut f.dev, 0, 1, 0xB0);
    assert_eq!(bus_read(&mut f.dev, 2, 1), 0x11);
    f.dev.io_read(2, 2);
    f.dev.io_write(2, 2, 0xFFFF);
    let _ = f.dev.rom_read(0, 8);
}
