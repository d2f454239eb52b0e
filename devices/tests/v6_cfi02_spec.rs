//! `parallel-nor-cfi02-flash` against the measured facts of
//! shared/spec/pflash-cfi02.md (section numbers refer to it), including
//! QEMU's own qtest `pflash-cfi02-test.c` (§16).

use devices::v6::cfi::CommonFlashMemoryInterface;
use devices::v6::cfi02::{Cycle, ParallelNorCfi02Flash};
use devices::{bus_read, bus_write, BlockBackend, DeviceError, DeviceSpec, FlashDevice};

/// musicpal: 8 MiB (128 × 64 KiB), 16-bit bus, mirrored 4 times in 32 MiB.
const MUSICPAL: &str = "num-blocks=128,sector-length=0x10000,width=2,mappings=4,\
                        id0=0xBF,id1=0x236D,unlock-addr0=0x5555,unlock-addr1=0x2AAA,\
                        name=musicpal.flash";
/// The qtest's top-boot layout (127 × 64K, 1 × 32K, 2 × 8K, 1 × 16K).
const TOP_BOOT: &str = "num-blocks0=127,sector-length0=0x10000,num-blocks1=1,\
                        sector-length1=0x8000,num-blocks2=2,sector-length2=0x2000,\
                        num-blocks3=1,sector-length3=0x4000";
/// The qtest's bottom-boot layout.
const BOTTOM_BOOT: &str = "num-blocks0=1,sector-length0=0x4000,num-blocks1=2,\
                           sector-length1=0x2000,num-blocks2=1,sector-length2=0x8000,\
                           num-blocks3=127,sector-length3=0x10000";

fn realize(spec: &str, backend: BlockBackend) -> Result<ParallelNorCfi02Flash, DeviceError> {
    let spec = DeviceSpec::parse(&format!("parallel-nor-cfi02-flash,{spec}")).unwrap();
    ParallelNorCfi02Flash::new(&spec.props, backend)
}

fn with_image(spec: &str, fill: u8, writable: bool) -> ParallelNorCfi02Flash {
    let spec_full = DeviceSpec::parse(&format!("parallel-nor-cfi02-flash,{spec}")).unwrap();
    let len = devices::image_size(&spec_full).unwrap();
    realize(spec, BlockBackend::memory(len, fill, writable)).unwrap()
}

fn musicpal() -> ParallelNorCfi02Flash {
    with_image(MUSICPAL, 0xFF, true)
}

fn rd(d: &mut ParallelNorCfi02Flash, addr: u64) -> u64 {
    bus_read(d, addr, 2)
}

fn wr(d: &mut ParallelNorCfi02Flash, addr: u64, v: u64) {
    bus_write(d, addr, 2, v)
}

fn unlock(d: &mut ParallelNorCfi02Flash) {
    wr(d, 0xAAA, 0xAA);
    wr(d, 0x554, 0x55);
}

fn sector_erase(d: &mut ParallelNorCfi02Flash, addr: u64) {
    unlock(d);
    wr(d, 0xAAA, 0x80);
    unlock(d);
    wr(d, addr, 0x30);
}

fn program(d: &mut ParallelNorCfi02Flash, addr: u64, v: u64) {
    unlock(d);
    wr(d, 0xAAA, 0xA0);
    wr(d, addr, v);
}

/// qtest's `clock_step` without an argument.
fn step(d: &mut ParallelNorCfi02Flash) {
    if let Some(t) = d.next_deadline() {
        let by = t - d.now();
        d.advance(by);
    }
}

#[test]
fn autoselect_reads() {
    let mut d = musicpal();
    unlock(&mut d);
    wr(&mut d, 0xAAA, 0x90);
    assert_eq!(rd(&mut d, 0), 0xBF);
    assert_eq!(rd(&mut d, 2), 0x236D);
    assert_eq!(rd(&mut d, 4), 0);
    assert_eq!(rd(&mut d, 0x1C), 0);
    assert_eq!(bus_read(&mut d, 0, 4), 0xBF);
    assert_eq!(bus_read(&mut d, 2, 1), 0x6D);
    assert_eq!(bus_read(&mut d, 3, 1), 0x6D);
    assert_eq!(rd(&mut d, 0x10000), 0xBF, "repeats every 256 bytes");
    assert_eq!(rd(&mut d, 0x10), 0xFFFF, "array data at unlisted indices");
}

#[test]
fn autoselect_hides_id2_id3_of_0xff() {
    let mut d = with_image(
        "num-blocks=64,sector-length=0x10000,width=4,id0=0xEC,id1=0x7E,id2=0xFF,id3=0x01,\
         unlock-addr0=0x555,unlock-addr1=0x2AA,name=canon",
        0x3C,
        true,
    );
    bus_write(&mut d, 0x1554, 4, 0xAA);
    bus_write(&mut d, 0xAA8, 4, 0x55);
    bus_write(&mut d, 0x1554, 4, 0x90);
    assert_eq!(bus_read(&mut d, 0, 4), 0xEC);
    assert_eq!(bus_read(&mut d, 4, 4), 0x7E);
    assert_eq!(
        bus_read(&mut d, 0x38, 4),
        0x3C3C_3C3C,
        "id2 == 0xFF: array data"
    );
    assert_eq!(bus_read(&mut d, 0x3C, 4), 0x01);
}

#[test]
fn cfi_table_as_measured_on_musicpal() {
    let mut d = musicpal();
    wr(&mut d, 0xAA, 0x98);
    let from_0x10 = [
        0x51, 0x52, 0x59, 0x02, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x27, 0x36, 0x00, 0x00,
        0x07, 0x00, 0x09, 0x0c, 0x01, 0x00, 0x0a, 0x0d, 0x17, 0x02, 0x00, 0x00, 0x00, 0x01, 0x7f,
        0x00, 0x00, 0x01,
    ];
    for (i, e) in from_0x10.iter().enumerate() {
        assert_eq!(rd(&mut d, 2 * (0x10 + i as u64)), *e);
    }
    let pri = [0x50, 0x52, 0x49, 0x31, 0x30, 0x00, 0x02, 0, 0, 0, 0, 0, 0];
    for (i, e) in pri.iter().enumerate() {
        assert_eq!(rd(&mut d, 2 * (0x40 + i as u64)), *e);
    }
    assert_eq!(rd(&mut d, 2 * 0x4D), 0);
    assert_eq!(bus_read(&mut d, 0x20, 4), 0x51);
    assert_eq!(bus_read(&mut d, 0x21, 1), 0x51);
    assert_eq!(d.cfi_table().len(), 0x4D);
    // Any write leaves CFI mode.
    wr(&mut d, 0, 0x12);
    assert_eq!(rd(&mut d, 0x20), 0xFFFF);
}

#[test]
fn geometry_tables() {
    let top = with_image(&format!("{TOP_BOOT},width=2,name=f"), 0xFF, true);
    let t = top.cfi_table();
    assert_eq!((t[0x27], t[0x2C]), (0x17, 4));
    assert_eq!(
        &t[0x2D..0x3D],
        &[0x7E, 0, 0, 1, 0, 0, 0x80, 0, 1, 0, 0x20, 0, 0, 0, 0x40, 0]
    );
    let bottom = with_image(&format!("{BOTTOM_BOOT},width=2,name=f"), 0xFF, true);
    let t = bottom.cfi_table();
    assert_eq!((t[0x27], t[0x2C]), (0x17, 4));
    assert_eq!(
        &t[0x2D..0x3D],
        &[0, 0, 0x40, 0, 1, 0, 0x20, 0, 0, 0, 0x80, 0, 0x7E, 0, 0, 1]
    );
    let zynq = realize(
        "num-blocks=512,sector-length=0x20000,width=1,name=zynq",
        BlockBackend::none(),
    )
    .unwrap();
    assert_eq!(
        &zynq.cfi_table()[0x27..0x31],
        &[0x1A, 2, 0, 0, 0, 1, 0xFF, 1, 0, 2]
    );
}

#[test]
fn mirrors_and_eleven_bit_command_addresses() {
    let mut d = musicpal();
    assert_eq!(d.window_size(), 32 << 20);
    program(&mut d, 0x10000, 0x1234);
    assert_eq!(rd(&mut d, 0x81_0000), 0x1234);
    assert_eq!(rd(&mut d, 0x181_0000), 0x1234);
    // 0x98 at word 0x855 enters CFI mode (0x855 & 0x7FF = 0x55).
    wr(&mut d, 0x10AA, 0x98);
    assert_eq!(rd(&mut d, 0x20), 0x51);
    wr(&mut d, 0, 0xF0);
    // High address bits ignored: AA@0xAAAA, 55@0x5554, 90@0xAAAA.
    wr(&mut d, 0xAAAA, 0xAA);
    wr(&mut d, 0x5554, 0x55);
    wr(&mut d, 0xAAAA, 0x90);
    assert_eq!(rd(&mut d, 0), 0xBF);
}

#[test]
fn width_one_rejects_x16_addresses() {
    let mut d = with_image(
        "num-blocks=16,sector-length=0x20000,width=1,unlock-addr0=0x555,unlock-addr1=0x2AA,\
         id0=1,name=zynq",
        0xFF,
        true,
    );
    bus_write(&mut d, 0xAAA, 1, 0xAA);
    assert_eq!(d.state().cycle, Cycle::Read);
    bus_write(&mut d, 0x555, 1, 0xAA);
    bus_write(&mut d, 0x2AA, 1, 0x55);
    bus_write(&mut d, 0x555, 1, 0x90);
    assert_eq!(bus_read(&mut d, 0, 1), 1);
    // A 32-bit program on the x8 part writes 4 bytes.
    bus_write(&mut d, 0, 1, 0xF0);
    bus_write(&mut d, 0x555, 1, 0xAA);
    bus_write(&mut d, 0x2AA, 1, 0x55);
    bus_write(&mut d, 0x555, 1, 0xA0);
    bus_write(&mut d, 0x100, 4, 0x1122_3344);
    assert_eq!(d.array().read_le(0x100, 4), 0x1122_3344);
}

#[test]
fn measured_status_sequence_with_suspend_and_lazy_romd() {
    let mut d = musicpal();
    sector_erase(&mut d, 0x10000);
    let r: Vec<u64> = (0..3).map(|_| rd(&mut d, 0x10000)).collect();
    assert_eq!(r, [0x44, 0x00, 0x44]);
    assert_eq!(d.next_deadline(), Some(50_000));
    step(&mut d);
    let r: Vec<u64> = (0..3).map(|_| rd(&mut d, 0x10000)).collect();
    assert_eq!(r, [0x08, 0x4C, 0x08]);
    wr(&mut d, 0, 0xB0);
    assert_eq!(d.next_deadline(), None);
    let r: Vec<u64> = (0..45).map(|_| rd(&mut d, 0x10000)).collect();
    for (i, v) in r.iter().enumerate().take(43) {
        assert_eq!(*v, if i % 2 == 0 { 0x04 } else { 0x00 }, "read {}", i + 1);
    }
    assert_eq!(&r[43..], &[0xFFFF, 0xFFFF]);
    assert!(d.romd());
    // Other sectors read data in suspend mode.
    assert_eq!(rd(&mut d, 0x20000), 0xFFFF);
    wr(&mut d, 0, 0x30);
    let r: Vec<u64> = (0..3).map(|_| rd(&mut d, 0x10000)).collect();
    assert_eq!(r, [0x48, 0x0C, 0x48]);
    assert_eq!(d.next_deadline(), Some(562_000));
    step(&mut d);
    assert_eq!(d.now(), 562_000);
    assert_eq!(rd(&mut d, 0x10000), 0xFFFF);
    unlock(&mut d);
    wr(&mut d, 0xAAA, 0xA0);
    assert_eq!(rd(&mut d, 0), 0x80);
    assert_eq!(rd(&mut d, 0), 0xC0);
}

#[test]
fn erase_timings() {
    let mut d = musicpal();
    d.advance(1000);
    sector_erase(&mut d, 0);
    assert_eq!(d.next_deadline(), Some(51_000));
    d.advance(50_000);
    assert_eq!(d.next_deadline(), Some(563_000));
    assert!(!d.romd());
    d.advance(511_999);
    assert!(!d.romd());
    d.advance(1);
    assert!(d.romd());
    // Two sectors in one window.
    sector_erase(&mut d, 0);
    wr(&mut d, 0x30000, 0x30);
    let t = d.now();
    assert_eq!(d.next_deadline(), Some(t + 50_000));
    d.advance(50_000);
    assert_eq!(d.next_deadline(), Some(t + 50_000 + 1_024_000));
    // Chip erase.
    let mut d = musicpal();
    program(&mut d, 0x1000, 0);
    unlock(&mut d);
    wr(&mut d, 0xAAA, 0x80);
    unlock(&mut d);
    wr(&mut d, 0xAAA, 0x10);
    assert_eq!(
        d.array().read_le(0x1000, 2),
        0xFFFF,
        "erased at command time"
    );
    let r0 = rd(&mut d, 0);
    let r1 = rd(&mut d, 0);
    assert_eq!(r0 & 0x80, 0);
    assert_eq!((r0 ^ r1) & 0x40, 0x40);
    d.advance(4_095_999_999);
    assert!(!d.romd());
    wr(&mut d, 0, 0xF0);
    assert_eq!(
        d.state().cycle,
        Cycle::ChipErase,
        "0xF0 ignored during chip erase"
    );
    d.advance(1);
    assert!(d.romd());
    assert_eq!(rd(&mut d, 0), 0xFFFF);
}

#[test]
fn reset_in_the_window_leaks_the_queue() {
    let mut d = musicpal();
    sector_erase(&mut d, 0);
    d.reset();
    assert_eq!(d.state().sectors_to_erase, 1);
    step(&mut d);
    assert_eq!(d.now(), 50_000);
    assert!(
        d.romd(),
        "the stale window timer took the common completion"
    );
    assert_eq!(d.state().sectors_to_erase, 1);
    sector_erase(&mut d, 0x10000);
    let t = d.now();
    d.advance(50_000);
    assert_eq!(d.next_deadline(), Some(t + 50_000 + 2 * 512_000));
    // 0xF0 in the window: the same leak through the write path.
    let mut d = musicpal();
    sector_erase(&mut d, 0);
    wr(&mut d, 0, 0xF0);
    assert_eq!(d.state().cycle, Cycle::Read);
    assert_eq!(d.next_deadline(), Some(50_000));
}

#[test]
fn reset_while_erasing_leaves_a_stale_dq3() {
    let mut d = musicpal();
    sector_erase(&mut d, 0);
    d.advance(50_000);
    d.reset();
    step(&mut d);
    assert_eq!(d.now(), 562_000);
    assert_eq!(d.state().status & 0x08, 0x08, "DQ3 stays set");
    sector_erase(&mut d, 0x10000);
    assert_eq!(
        rd(&mut d, 0x10000) & 0x08,
        0x08,
        "DQ3 already up in the window"
    );
    let t = d.now();
    step(&mut d);
    assert_eq!(d.now(), t + 50_000, "completes at the window deadline");
    assert!(d.romd());
    let s = d.state();
    assert_eq!((s.sectors_to_erase, s.erase_queue.len()), (0, 0));
}

#[test]
fn programs_and_with_the_old_contents() {
    let mut d = musicpal();
    program(&mut d, 0x100, 0x1234);
    program(&mut d, 0x100, 0xFF0F);
    assert_eq!(rd(&mut d, 0x100), 0x1204);
    // 0xF0 during a pending program is data.
    program(&mut d, 0x200, 0x00F0);
    assert_eq!(rd(&mut d, 0x200), 0x00F0);
    assert_eq!(d.backend().image().unwrap().read_le(0x200, 2), 0x00F0);
}

#[test]
fn unlock_bypass_as_the_qtest_does() {
    let mut d = musicpal();
    unlock(&mut d);
    wr(&mut d, 0xAAA, 0x20);
    for (a, v) in [(0, 0x01), (2, 0x23), (4, 0x45)] {
        wr(&mut d, 0xAAA, 0xA0);
        wr(&mut d, a, v);
    }
    wr(&mut d, 0xC, 0xA0);
    wr(&mut d, 6, 0x67);
    wr(&mut d, 0, 0x00);
    assert!(!d.state().bypass);
    wr(&mut d, 0xAAA, 0xA0);
    wr(&mut d, 8, 0x89);
    let got: Vec<u64> = [0, 2, 4, 6, 8].iter().map(|a| rd(&mut d, *a)).collect();
    assert_eq!(got, [0x0001, 0x0023, 0x0045, 0x0067, 0xFFFF]);
}

#[test]
fn reset_keeps_bypass() {
    let mut d = musicpal();
    unlock(&mut d);
    wr(&mut d, 0xAAA, 0x20);
    d.reset();
    assert!(d.state().bypass);
    assert_eq!(d.state().cycle, Cycle::Read);
    wr(&mut d, 0x100, 0xA0);
    assert!(!d.state().bypass, "a bare 0xA0 at wcycle 0 resets");
}

#[test]
fn cfi_in_autoselect() {
    let mut d = musicpal();
    unlock(&mut d);
    wr(&mut d, 0xAAA, 0x90);
    assert_eq!(rd(&mut d, 0), 0xBF);
    wr(&mut d, 0xAA, 0x98);
    assert_eq!(rd(&mut d, 0x20), 0x51);
    assert_eq!(rd(&mut d, 0x22), 0x52);
    assert_eq!(rd(&mut d, 0x24), 0x59);
    wr(&mut d, 0, 0xF0);
    assert_eq!(rd(&mut d, 0), 0xBF);
}

#[test]
fn multi_sector_erase_over_boot_regions() {
    let mut d = with_image(
        &format!("{TOP_BOOT},width=2,unlock-addr0=0x555,unlock-addr1=0x2AA,name=f"),
        0xFF,
        true,
    );
    let starts = [0u64, 0x10000, 0x7F_0000, 0x7F_8000, 0x7F_A000, 0x7F_C000];
    for a in starts.iter().chain(&[0x20000, 0x30000]) {
        program(&mut d, *a, 0);
    }
    unlock(&mut d);
    wr(&mut d, 0xAAA, 0x80);
    unlock(&mut d);
    for a in starts {
        wr(&mut d, a, 0x30);
    }
    assert_eq!(d.state().erase_queue.len(), 6);
    step(&mut d);
    step(&mut d);
    assert_eq!(d.now(), 50_000 + 6 * 512_000);
    for a in starts {
        assert_eq!(rd(&mut d, a), 0xFFFF, "{a:#x}");
    }
    assert_eq!(rd(&mut d, 0x20000), 0);
    assert_eq!(rd(&mut d, 0x30000), 0);
}

#[test]
fn suspended_sectors_refuse_programs_and_new_erases() {
    let mut d = musicpal();
    sector_erase(&mut d, 0);
    wr(&mut d, 0, 0xB0);
    assert_eq!(d.state().suspended_erase_ns, Some(512_000));
    program(&mut d, 0x10, 0);
    assert_eq!(d.array().read_le(0x10, 2), 0xFFFF);
    program(&mut d, 0x10010, 0);
    assert_eq!(d.array().read_le(0x10010, 2), 0);
    sector_erase(&mut d, 0x20000);
    assert_eq!(d.state().cycle, Cycle::Read, "no erase while suspended");
    assert_eq!(d.next_deadline(), None);
}

#[test]
fn read_only_runs_the_status_machine_without_changing_the_array() {
    let mut d = with_image(MUSICPAL, 0x00, false);
    sector_erase(&mut d, 0);
    assert_eq!(rd(&mut d, 0), 0x44);
    step(&mut d);
    step(&mut d);
    assert!(d.romd());
    program(&mut d, 0x10, 0);
    assert_eq!(rd(&mut d, 0), 0);
}

#[test]
fn realize_errors() {
    let err = |s: &str| match realize(s, BlockBackend::none()) {
        Err(DeviceError::Realize { message, .. }) => message,
        other => panic!("{s}: {other:?}"),
    };
    assert_eq!(
        err("num-blocks=1,name=x"),
        "attribute \"sector-length\" not specified or zero."
    );
    assert_eq!(
        err("sector-length0=4096,name=x"),
        "attribute \"num-blocks\" not specified or zero."
    );
    assert_eq!(
        err("sector-length=4096,num-blocks=2"),
        "attribute \"name\" not specified."
    );
    assert_eq!(
        err("num-blocks0=1,sector-length0=0x180,name=x"),
        "unsupported configuration: sector length[0] per device = 180."
    );
    assert_eq!(
        err("num-blocks0=1,sector-length0=0x1000,num-blocks1=1,sector-length1=0x2000,name=x"),
        "unsupported configuration: flash region 1 not correctly aligned."
    );
    assert!(err(&format!(
        "{TOP_BOOT},num-blocks=1,sector-length=4096,name=x"
    ))
    .starts_with("\"num-blocks\"*\"sector-length\" different from"));
    // The uniform pair is not validated.
    assert!(realize(
        "num-blocks=3,sector-length=0x100,name=x",
        BlockBackend::none()
    )
    .is_ok());
    // A matching uniform product is accepted alongside regions.
    assert!(realize(
        &format!("{TOP_BOOT},num-blocks=128,sector-length=0x10000,name=x"),
        BlockBackend::none()
    )
    .is_ok());
}

#[test]
fn restored_state_continues_identically() {
    let mut a = musicpal();
    sector_erase(&mut a, 0x10000);
    a.advance(60_000);
    rd(&mut a, 0);
    let mut b = musicpal();
    b.load_ram_block(a.array().clone());
    b.set_state(&a.state());
    assert_eq!(a.state(), b.state());
    assert_eq!(b.next_deadline(), Some(562_000 - 60_000));
    for d in [&mut a, &mut b] {
        wr(d, 0, 0xB0);
        wr(d, 0, 0x30);
        d.advance(600_000);
    }
    assert_eq!(a.state(), b.state());
    let json = serde_json::to_string(&a.state()).unwrap();
    assert!(json.contains("\"cycle\":\"read\""), "{json}");
}
