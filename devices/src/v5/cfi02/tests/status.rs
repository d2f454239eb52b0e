//! What a read returns (§9) and the status bits (§10), including the
//! measured musicpal sequence.

use super::*;

#[test]
fn status_starts_at_zero() {
    assert_eq!(musicpal().st().status, 0);
}

#[test]
fn program_pending_reads_toggle_dq6_only() {
    let mut f = musicpal();
    f.command(0xA0);
    assert_eq!(f.reads(0x4000, 4), vec![0x40, 0x00, 0x40, 0x00]);
}

#[test]
fn erase_window_reads_toggle_dq6_and_dq2_at_any_address() {
    let mut f = musicpal();
    f.sector_erase(0);
    assert_eq!(f.r(0), 0x44);
    assert_eq!(f.r(4 * SECTOR), 0x00);
    assert_eq!(f.r(0x7FFFFE), 0x44);
}

#[test]
fn chip_erase_reads_toggle_dq6_and_dq2() {
    let mut f = musicpal();
    f.chip_erase();
    assert_eq!(f.reads(0x100, 3), vec![0x44, 0x00, 0x44]);
}

#[test]
fn status_is_one_byte_zero_extended() {
    let mut f = musicpal();
    f.sector_erase(0);
    assert_eq!(bus_read(&mut f.dev, 0, 4), 0x0000_0044);
    assert_eq!(bus_read(&mut f.dev, 0, 1), 0x00);
}

#[test]
fn suspended_sector_reads_toggle_dq2_only_other_sectors_read_data() {
    let mut f = musicpal_filled(0);
    f.sector_erase(SECTOR);
    f.w(0, 0xB0);
    assert_eq!(f.reads(SECTOR + 0x40, 3), vec![0x04, 0x00, 0x04]);
    assert_eq!(f.reads(2 * SECTOR, 2), vec![0x0000, 0x0000]);
    assert_eq!(f.r(SECTOR), 0x00, "DQ6 steady, DQ2 toggles again");
}

#[test]
fn reads_during_the_erase_unlock_sequence_follow_the_read_array_rule() {
    let mut f = musicpal_filled(0);
    f.sector_erase(SECTOR);
    f.w(0, 0xB0);
    f.command(0x80);
    assert_eq!((f.st().wcycle, f.st().cmd), (3, 0x80));
    assert_eq!(
        f.reads(SECTOR, 2),
        vec![0x04, 0x00],
        "suspended sector: status"
    );
    assert_eq!(f.r(0), 0x0000, "other sector: data");
    f.unlock();
    assert_eq!(f.st().cmd, 0x80);
    assert_eq!(f.r(SECTOR), 0x04);
}

#[test]
fn dq7_is_cleared_by_sector_erase_chip_erase_and_resume() {
    let mut f = musicpal();
    f.program(0, 0x00); // DQ7 = 1
    assert_eq!(f.st().status & 0x80, 0x80);
    f.sector_erase(0);
    assert_eq!(f.st().status & 0x80, 0);
    f.step();
    f.step();
    assert_eq!(f.st().status & 0x80, 0x80, "toggled by completion");
    f.chip_erase();
    assert_eq!(f.st().status & 0x80, 0);
    f.step();
    assert_eq!(f.st().status & 0x80, 0x80);
    f.sector_erase(0);
    f.w(0, 0xB0);
    f.program(SECTOR, 0x0000); // DQ7 = 1 while suspended
    assert_eq!(f.st().status & 0x80, 0x80);
    f.w(0, 0x30);
    assert_eq!(f.st().status & 0x80, 0, "cleared by resume");
}

#[test]
fn dq7_is_toggled_not_set_by_completion() {
    let mut f = musicpal();
    f.sector_erase(0);
    f.reads(0, 1);
    f.step();
    // Program leaves DQ7 = 1 while the erase runs; completion toggles it to 0.
    let mut s = f.st();
    s.status |= 0x80;
    f.dev.set_state(&s);
    f.step();
    assert_eq!(f.st().status & 0x80, 0);
}

#[test]
fn dq3_follows_window_resume_completion_and_suspend() {
    let mut f = musicpal();
    f.sector_erase(0);
    assert_eq!(f.st().status & 0x08, 0, "window");
    f.step();
    assert_eq!(f.st().status & 0x08, 0x08, "window expired");
    f.w(0, 0xB0);
    assert_eq!(f.st().status & 0x08, 0, "suspend");
    f.w(0, 0x30);
    assert_eq!(f.st().status & 0x08, 0x08, "resume");
    f.step();
    assert_eq!(f.st().status & 0x08, 0, "completion");
}

#[test]
fn dq3_is_not_cleared_by_reset() {
    let mut f = musicpal();
    f.sector_erase(0);
    f.step();
    f.dev.reset();
    assert_eq!(f.st().status & 0x08, 0x08);
    f.w(0, 0xF0);
    assert_eq!(f.st().status & 0x08, 0x08);
}

#[test]
fn status_is_never_reset() {
    let mut f = musicpal();
    f.command(0xA0);
    f.r(0); // DQ6 = 1
    f.w(0, 0x0000); // DQ7 = 1
    assert_eq!(f.st().status, 0xC0);
    f.dev.reset();
    f.w(0, 0xF0);
    f.command(0x90);
    f.w(0, 0xF0);
    assert_eq!(f.st().status, 0xC0);
    f.command(0xA0);
    assert_eq!(f.r(0), 0x80, "a new operation starts from the old phase");
}

#[test]
fn autoselect_returns_ids_unreplicated() {
    let mut f = musicpal();
    f.command(0x90);
    assert_eq!(f.r(0), 0x00BF);
    assert_eq!(f.r(2), 0x236D);
    assert_eq!(f.r(4), 0x0000);
    assert_eq!(bus_read(&mut f.dev, 0, 4), 0x0000_00BF);
    assert_eq!(bus_read(&mut f.dev, 2, 1), 0x6D);
    assert_eq!(bus_read(&mut f.dev, 3, 1), 0x6D);
    // Repeats every 256 bytes, in every sector.
    assert_eq!(f.r(0x100), 0xBF);
    assert_eq!(f.r(SECTOR + 2), 0x236D);
}

#[test]
fn autoselect_extended_ids_and_their_ff_fallthrough() {
    let mut p = musicpal_props(8);
    p.extend(props(&[("id2", "0x1234"), ("id3", "0xFF")]));
    let mut image = crate::storage::Storage::filled(8 * MIB, 0);
    image.write_le(0x1C, 4, 0xCAFE_5A5A);
    let mut f = Flash::new(&p, BlockBackend::memory_from(image, true));
    f.command(0x90);
    assert_eq!(f.r(0x1C), 0x1234);
    assert_eq!(f.r(0x1E), 0xCAFE, "id3 == 0xFF reads array data");
    // Unlisted indices read array data too.
    assert_eq!(f.r(0x1A), 0);
    // The same rule for id2.
    let mut p = musicpal_props(8);
    p.extend(props(&[("id2", "0xFF"), ("id3", "0x00FE")]));
    let mut image = crate::storage::Storage::filled(8 * MIB, 0);
    image.write_le(0x1C, 2, 0x4321);
    let mut g = Flash::new(&p, BlockBackend::memory_from(image, true));
    g.command(0x90);
    assert_eq!(g.r(0x1C), 0x4321, "id2 == 0xFF reads array data");
    assert_eq!(g.r(0x1E), 0x00FE);
}

#[test]
fn autoselect_on_width4_canon_places_id2_id3_at_0x38_0x3c() {
    let mut f = Flash::new(
        &props(&[
            ("num-blocks", "64"),
            ("sector-length", "0x10000"),
            ("width", "4"),
            ("mappings", "32"),
            ("id0", "0xEC"),
            ("id1", "0x7E"),
            ("id2", "0x03"),
            ("id3", "0x01"),
            ("unlock-addr0", "0x555"),
            ("unlock-addr1", "0x2AA"),
            ("name", "pflash"),
        ]),
        BlockBackend::none(),
    );
    bus_write(&mut f.dev, 0x1554, 4, 0xAA);
    bus_write(&mut f.dev, 0xAA8, 4, 0x55);
    bus_write(&mut f.dev, 0x1554, 4, 0x90);
    let ids: Vec<u64> = [0, 4, 0x38, 0x3C]
        .iter()
        .map(|a| bus_read(&mut f.dev, *a, 4))
        .collect();
    assert_eq!(ids, vec![0xEC, 0x7E, 0x03, 0x01]);
}

#[test]
fn unknown_command_state_reads_reset_to_array() {
    let mut f = musicpal_filled(0x5A);
    let mut s = f.st();
    s.cmd = 0x42;
    s.wcycle = 3;
    s.rom_mode = false;
    f.dev.set_state(&s);
    assert_eq!(f.r(0), 0x5A5A);
    assert_eq!((f.st().wcycle, f.st().cmd), (0, 0));
}

/// The continuous measured sequence of §10 on a freshly started musicpal.
#[test]
fn measured_musicpal_status_sequence() {
    let mut f = musicpal_filled(0);
    let a = SECTOR;
    f.sector_erase(a);
    assert_eq!(f.reads(a, 3), vec![0x44, 0x00, 0x44]);
    f.step();
    assert_eq!(f.dev.now(), WINDOW_NS);
    assert_eq!(f.reads(a, 3), vec![0x08, 0x4C, 0x08]);
    f.w(0, 0xB0);
    let suspended: Vec<u64> = f.reads(a, 44);
    for (i, v) in suspended[..43].iter().enumerate() {
        let want = if i % 2 == 0 { 0x04 } else { 0x00 };
        assert_eq!(*v, want, "suspended read {}", i + 1);
    }
    assert_eq!(suspended[43], 0xFFFF, "44th read comes from RAM");
    f.w(0, 0x30);
    assert_eq!(f.reads(a, 3), vec![0x48, 0x0C, 0x48]);
    f.step();
    assert_eq!(f.dev.now(), ONE_SECTOR_DONE_NS);
    assert_eq!(f.r(a), 0xFFFF);
    assert!(f.dev.romd());
    f.command(0xA0);
    assert_eq!(f.reads(a, 2), vec![0x80, 0xC0]);
}

#[test]
fn dq5_dq4_dq1_dq0_are_never_set() {
    const UNUSED: u8 = 0x20 | 0x10 | 0x02 | 0x01;
    let mut f = musicpal();
    let mut seen = Vec::new();
    let mut look = |f: &mut Flash| {
        let s = f.st().status;
        assert_eq!(s & UNUSED, 0, "status {s:#x}");
        seen.push(s);
    };
    f.command(0xA0);
    f.reads(0, 3);
    look(&mut f);
    f.w(0, 0x0000);
    f.sector_erase(0);
    f.reads(0, 5);
    look(&mut f);
    f.step();
    f.reads(0, 3);
    look(&mut f);
    f.w(0, 0xB0);
    f.reads(0, 7);
    look(&mut f);
    f.w(0, 0x30);
    f.step();
    look(&mut f);
    f.chip_erase();
    f.reads(0, 9);
    look(&mut f);
    f.step();
    look(&mut f);
    assert!(seen.iter().any(|s| *s != 0), "status did change");
}
