//! QEMU's own acceptance test for `cfi.pflash02`, `tests/qtest/pflash-cfi02-test.c`
//! (2019, Stephen Checkoway), ported to the v5 model (spec §16).
//!
//! The machine is musicpal with an 8 MiB all-zero image file, so the flash
//! is mirrored 4 times in its 32 MiB window. Addresses below are relative
//! to the flash base (0xFE000000 on the board). As upstream, command
//! addresses are *flash* addresses: byte address = flash address × bank
//! width. `clock_step_next` is qtest's `clock_step` without an argument:
//! advance to the next pending deadline, or stay if none is pending.

use devices::v5::cfi02::PflashCfi02;
use devices::{bus_read, bus_write, BlockBackend, DeviceState, FlashDevice};
use std::io::Write;

const UNIFORM_FLASH_SIZE: u64 = 8 * 1024 * 1024;
const UNIFORM_FLASH_SECTOR_SIZE: u64 = 64 * 1024;

/// A flash address, kept apart from byte addresses as upstream's `faddr`.
#[derive(Clone, Copy)]
struct FAddr(u64);

const CFI_ADDR: FAddr = FAddr(0x55);
const UNLOCK0_ADDR: FAddr = FAddr(0x555);
const UNLOCK1_ADDR: FAddr = FAddr(0x2AA);

const CFI_CMD: u64 = 0x98;
const UNLOCK0_CMD: u64 = 0xAA;
const UNLOCK1_CMD: u64 = 0x55;
const SECOND_UNLOCK_CMD: u64 = 0x80;
const AUTOSELECT_CMD: u64 = 0x90;
const RESET_CMD: u64 = 0xF0;
const PROGRAM_CMD: u64 = 0xA0;
const SECTOR_ERASE_CMD: u64 = 0x30;
const CHIP_ERASE_CMD: u64 = 0x10;
const UNLOCK_BYPASS_CMD: u64 = 0x20;
const UNLOCK_BYPASS_RESET_CMD: u64 = 0x00;
const ERASE_SUSPEND_CMD: u64 = 0xB0;
const ERASE_RESUME_CMD: u64 = SECTOR_ERASE_CMD;

const DQ7: u64 = 0x80;
const DQ6: u64 = 0x40;
const DQ3: u64 = 0x08;
const DQ2: u64 = 0x04;

/// Upstream's `FlashConfig`: bank width and the non-uniform geometry given
/// with `-global driver=cfi.pflash02,property=num-blocksN/sector-lengthN`.
#[derive(Clone, Copy, Debug)]
struct FlashConfig {
    bank_width: u64,
    nb_blocs: [u64; 4],
    sector_len: [u64; 4],
}

/// "One x16 device": no regions given, the board's uniform geometry.
const UNIFORM: FlashConfig = FlashConfig {
    bank_width: 2,
    nb_blocs: [0; 4],
    sector_len: [0; 4],
};

/// Nonuniform sectors (top boot).
const TOP_BOOT: FlashConfig = FlashConfig {
    bank_width: 2,
    nb_blocs: [127, 1, 2, 1],
    sector_len: [0x10000, 0x08000, 0x02000, 0x04000],
};

/// Nonuniform sectors (bottom boot).
const BOTTOM_BOOT: FlashConfig = FlashConfig {
    bank_width: 2,
    nb_blocs: [1, 2, 1, 127],
    sector_len: [0x04000, 0x02000, 0x08000, 0x10000],
};

/// The running machine: the configuration with defaults filled in, the
/// flash, and the image file it writes through to.
struct Qtest {
    c: FlashConfig,
    flash: Box<dyn FlashDevice>,
    image: tempfile::NamedTempFile,
}

/// Upstream's `expand_config_defaults`.
fn expand_config_defaults(c: &FlashConfig) -> FlashConfig {
    let mut ret = *c;
    if ret.bank_width == 0 {
        ret.bank_width = 2;
    }
    if ret.nb_blocs[0] == 0 && ret.sector_len[0] == 0 {
        ret.sector_len[0] = UNIFORM_FLASH_SECTOR_SIZE;
        ret.nb_blocs[0] = UNIFORM_FLASH_SIZE / UNIFORM_FLASH_SECTOR_SIZE;
    }
    assert_eq!(ret.bank_width, 2, "limitation of the test harness");
    ret
}

/// `-M musicpal -drive if=pflash,file=<8 MiB zero image>` plus the `-global`
/// geometry properties of `config`.
fn qtest_init(config: &FlashConfig) -> Qtest {
    let mut image = tempfile::NamedTempFile::new().expect("temporary image");
    image
        .as_file_mut()
        .write_all(&vec![0u8; UNIFORM_FLASH_SIZE as usize])
        .expect("write image");
    let mut props: Vec<(String, String)> = [
        ("num-blocks", "128"),
        ("sector-length", "0x10000"),
        ("width", "2"),
        ("mappings", "4"),
        ("id0", "0xBF"),
        ("id1", "0x236D"),
        ("unlock-addr0", "0x5555"),
        ("unlock-addr1", "0x2AAA"),
        ("name", "musicpal.flash"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for i in 0..4 {
        props.push((format!("num-blocks{i}"), config.nb_blocs[i].to_string()));
        props.push((
            format!("sector-length{i}"),
            config.sector_len[i].to_string(),
        ));
    }
    let backend = BlockBackend::file(image.path(), true).expect("open image");
    let flash = PflashCfi02::new(&props, backend).expect("realize musicpal flash");
    assert_eq!(flash.window_size(), 32 * 1024 * 1024);
    Qtest {
        c: expand_config_defaults(config),
        flash: Box::new(flash),
        image,
    }
}

impl Qtest {
    /// Upstream's `bank_mask`: all ones over the bank width.
    fn bank_mask(&self) -> u64 {
        (1u64 << (self.c.bank_width * 8)) - 1
    }

    fn flash_write(&mut self, byte_addr: u64, data: u64) {
        assert_eq!(data & !self.bank_mask(), 0, "sanity check of the test");
        bus_write(
            self.flash.as_mut(),
            byte_addr,
            self.c.bank_width as u32,
            data,
        );
    }

    fn flash_read(&mut self, byte_addr: u64) -> u64 {
        bus_read(self.flash.as_mut(), byte_addr, self.c.bank_width as u32)
    }

    fn as_byte_addr(&self, flash_addr: FAddr) -> u64 {
        flash_addr.0 * self.c.bank_width
    }

    fn flash_cmd(&mut self, cmd_addr: FAddr, cmd: u64) {
        let a = self.as_byte_addr(cmd_addr);
        self.flash_write(a, cmd);
    }

    fn flash_query(&mut self, query_addr: FAddr) -> u64 {
        let a = self.as_byte_addr(query_addr);
        self.flash_read(a)
    }

    fn unlock(&mut self) {
        self.flash_cmd(UNLOCK0_ADDR, UNLOCK0_CMD);
        self.flash_cmd(UNLOCK1_ADDR, UNLOCK1_CMD);
    }

    fn reset(&mut self) {
        self.flash_cmd(FAddr(0), RESET_CMD);
    }

    fn sector_erase(&mut self, byte_addr: u64) {
        self.unlock();
        self.flash_cmd(UNLOCK0_ADDR, SECOND_UNLOCK_CMD);
        self.unlock();
        self.flash_write(byte_addr, SECTOR_ERASE_CMD);
    }

    /// qtest `clock_step` without an argument.
    fn clock_step_next(&mut self) {
        if let Some(deadline) = self.flash.next_deadline() {
            let now = self.flash.now();
            self.flash.advance(deadline - now);
        }
    }

    /// If DQ6 is toggling, step the clock and ensure the toggle stops.
    fn wait_for_completion(&mut self, byte_addr: u64) {
        let first = self.flash_read(byte_addr) & DQ6;
        let second = self.flash_read(byte_addr) & DQ6;
        if first ^ second != 0 {
            self.clock_step_next();
            let a = self.flash_read(byte_addr);
            let b = self.flash_read(byte_addr);
            assert_eq!(a, b, "DQ6 stopped toggling at {byte_addr:#x}");
        }
    }

    fn bypass_program(&mut self, byte_addr: u64, data: u64) {
        self.flash_cmd(UNLOCK0_ADDR, PROGRAM_CMD);
        self.flash_write(byte_addr, data);
        self.wait_for_completion(byte_addr);
    }

    fn program(&mut self, byte_addr: u64, data: u64) {
        self.unlock();
        self.bypass_program(byte_addr, data);
    }

    fn chip_erase(&mut self) {
        self.unlock();
        self.flash_cmd(UNLOCK0_ADDR, SECOND_UNLOCK_CMD);
        self.unlock();
        self.flash_cmd(UNLOCK0_ADDR, CHIP_ERASE_CMD);
    }

    fn erase_suspend(&mut self) {
        self.flash_cmd(FAddr(0), ERASE_SUSPEND_CMD);
    }

    fn erase_resume(&mut self) {
        self.flash_cmd(FAddr(0), ERASE_RESUME_CMD);
    }

    /// Two reads at `byte_addr`.
    fn status_pair(&mut self, byte_addr: u64) -> (u64, u64) {
        let s0 = self.flash_read(byte_addr);
        let s1 = self.flash_read(byte_addr);
        (s0, s1)
    }

    /// DQ3 as expected, DQ6 and DQ2 toggling, at `byte_addr`.
    fn assert_erasing(&mut self, byte_addr: u64, dq3: u64) {
        let (s0, s1) = self.status_pair(byte_addr);
        assert_eq!(s0 & DQ3, dq3, "DQ3 at {byte_addr:#x}");
        assert_eq!(s0 & DQ6, !s1 & DQ6, "DQ6 toggles at {byte_addr:#x}");
        assert_eq!(s0 & DQ2, !s1 & DQ2, "DQ2 toggles at {byte_addr:#x}");
    }
}

/// Step 1: the autoselect IDs.
fn check_ids(q: &mut Qtest) {
    q.unlock();
    q.flash_cmd(UNLOCK0_ADDR, AUTOSELECT_CMD);
    assert_eq!(q.flash_query(FAddr(0)), 0xBF);
    // The 16-bit device id (an 8-bit device could not return it).
    assert_eq!(q.flash_query(FAddr(1)), 0x236D);
    q.reset();
}

/// Step 2: the CFI header, region count, device size and PRI block.
fn check_cfi(q: &mut Qtest) -> usize {
    q.flash_cmd(CFI_ADDR, CFI_CMD);
    assert_eq!(q.flash_query(FAddr(0x10)), b'Q' as u64);
    assert_eq!(q.flash_query(FAddr(0x11)), b'R' as u64);
    assert_eq!(q.flash_query(FAddr(0x12)), b'Y' as u64);
    // Number of erase regions: the non-zero sector lengths of the expanded config.
    let nb_erase_regions = q.flash_query(FAddr(0x2C)) as usize;
    let given = q.c.sector_len.iter().filter(|l| **l != 0).count();
    assert_eq!(nb_erase_regions, given);
    let device_len = 1u64 << q.flash_query(FAddr(0x27));
    assert_eq!(device_len, UNIFORM_FLASH_SIZE);
    // Erase suspend to read/write is supported.
    let pri = q.flash_query(FAddr(0x15)) + (q.flash_query(FAddr(0x16)) << 8);
    assert!(pri >= 0x2D + 4 * nb_erase_regions as u64);
    assert_eq!(q.flash_query(FAddr(pri)), b'P' as u64);
    assert_eq!(q.flash_query(FAddr(pri + 1)), b'R' as u64);
    assert_eq!(q.flash_query(FAddr(pri + 2)), b'I' as u64);
    assert_eq!(
        q.flash_query(FAddr(pri + 6)),
        2,
        "erase suspend: read/write"
    );
    q.reset();
    nb_erase_regions
}

/// Step 3: per region, the CFI descriptor, then erase and program every sector.
fn erase_and_program_every_sector(q: &mut Qtest, nb_erase_regions: usize) {
    let mut byte_addr = 0;
    for region in 0..nb_erase_regions {
        let base = 0x2D + 4 * region as u64;
        q.flash_cmd(CFI_ADDR, CFI_CMD);
        let nb_sectors = q.flash_query(FAddr(base)) + (q.flash_query(FAddr(base + 1)) << 8) + 1;
        let sector_len =
            (q.flash_query(FAddr(base + 2)) << 8) + (q.flash_query(FAddr(base + 3)) << 16);
        assert_eq!(nb_sectors, q.c.nb_blocs[region]);
        assert_eq!(sector_len, q.c.sector_len[region]);
        q.reset();

        for _ in 0..nb_sectors {
            q.sector_erase(byte_addr);
            assert_eq!(q.flash_read(byte_addr) & DQ3, 0, "DQ3 is 0 in the window");
            q.clock_step_next(); // over the 50 µs window
            let status0 = q.flash_read(byte_addr);
            assert_eq!(status0 & DQ3, DQ3, "DQ3 is 1 after the window");
            assert_eq!(status0 & DQ7, 0, "DQ7 is 0 during an erase");
            let status1 = q.flash_read(byte_addr);
            assert_eq!(status0 & DQ6, !status1 & DQ6, "DQ6 toggles during an erase");
            q.wait_for_completion(byte_addr);
            let (a, b) = q.status_pair(byte_addr);
            assert_eq!(a, b, "DQ6 stopped toggling");
            assert_eq!(q.flash_read(byte_addr), q.bank_mask(), "erased");
            // Program a bit pattern; programming ANDs.
            q.program(byte_addr, 0x55);
            assert_eq!(q.flash_read(byte_addr) & 0xFF, 0x55);
            q.program(byte_addr, 0xA5);
            assert_eq!(q.flash_read(byte_addr) & 0xFF, 0x05);
            assert_eq!(q.flash_read(byte_addr), 0x0005);
            byte_addr += sector_len;
        }
    }
}

/// Step 4: chip erase.
fn chip_erase_everything(q: &mut Qtest, nb_erase_regions: usize) {
    q.chip_erase();
    let status0 = q.flash_read(0);
    assert_eq!(status0 & DQ7, 0, "DQ7 is 0 during an erase");
    let status1 = q.flash_read(0);
    assert_eq!(status0 & DQ6, !status1 & DQ6, "DQ6 toggles during an erase");
    q.clock_step_next(); // 4096 ms
    let (a, b) = q.status_pair(0);
    assert_eq!(a, b, "DQ6 stopped toggling");
    // Upstream quirk kept: `i × sector_len[region]` without the region's base.
    for region in 0..nb_erase_regions {
        for i in 0..q.c.nb_blocs[region] {
            let byte_addr = i * q.c.sector_len[region];
            assert_eq!(q.flash_read(byte_addr), q.bank_mask());
        }
    }
}

/// Step 5: unlock bypass.
fn unlock_bypass(q: &mut Qtest) {
    let w = q.c.bank_width;
    q.unlock();
    q.flash_cmd(UNLOCK0_ADDR, UNLOCK_BYPASS_CMD);
    q.bypass_program(0, 0x01);
    q.bypass_program(w, 0x23);
    q.bypass_program(2 * w, 0x45);
    // Bypass programming, unlike normal programming, takes 0xA0 anywhere.
    q.flash_cmd(FAddr(3 * w), PROGRAM_CMD);
    q.flash_write(3 * w, 0x67);
    q.wait_for_completion(3 * w);
    q.flash_cmd(FAddr(0), UNLOCK_BYPASS_RESET_CMD);
    q.bypass_program(4 * w, 0x89); // must have no effect
    assert_eq!(q.flash_read(0), 0x0001);
    assert_eq!(q.flash_read(w), 0x0023);
    assert_eq!(q.flash_read(2 * w), 0x0045);
    assert_eq!(q.flash_read(3 * w), 0x0067);
    assert_eq!(q.flash_read(4 * w), q.bank_mask());
}

/// Step 6: high-order address bits of command addresses are ignored.
fn high_address_bits_ignored(q: &mut Qtest) {
    q.flash_cmd(FAddr(0x5555), UNLOCK0_CMD);
    q.flash_cmd(FAddr(0x2AAA), UNLOCK1_CMD);
    q.flash_cmd(FAddr(0x5555), AUTOSELECT_CMD);
    assert_eq!(q.flash_query(FAddr(0)), 0xBF);
    q.reset();
}

/// Step 7: program a word in every sector, erase one or two sectors per
/// region in one window, and check that exactly those are erased.
///
/// Upstream loops over the unexpanded config's `nb_blocs` when programming
/// and checking, so its uniform case programs and checks nothing; the
/// expanded geometry is used here, which checks all three cases.
fn multi_sector_erase(q: &mut Qtest, nb_erase_regions: usize) {
    let c = q.c;
    let mut byte_addr = 0;
    for region in 0..nb_erase_regions {
        for _ in 0..c.nb_blocs[region] {
            q.program(byte_addr, 0);
            byte_addr += c.sector_len[region];
        }
    }
    q.unlock();
    q.flash_cmd(UNLOCK0_ADDR, SECOND_UNLOCK_CMD);
    q.unlock();
    byte_addr = 0;
    for region in 0..nb_erase_regions {
        q.flash_write(byte_addr, SECTOR_ERASE_CMD);
        if c.nb_blocs[region] > 1 {
            q.flash_write(byte_addr + c.sector_len[region], SECTOR_ERASE_CMD);
        }
        byte_addr += c.sector_len[region] * c.nb_blocs[region];
    }
    q.clock_step_next(); // over the 50 µs window
    q.wait_for_completion(0);
    byte_addr = 0;
    for region in 0..nb_erase_regions {
        for i in 0..c.nb_blocs[region] {
            let want = if i < 2 { q.bank_mask() } else { 0 };
            assert_eq!(q.flash_read(byte_addr), want, "region {region} sector {i}");
            byte_addr += c.sector_len[region];
        }
    }
}

/// Steps 8 and 9: erase suspend/resume, inside the window or after it.
fn suspend_resume(q: &mut Qtest, after_window: bool) {
    q.sector_erase(0);
    let dq3 = if after_window {
        q.clock_step_next();
        DQ3
    } else {
        0
    };
    // Status at the erasing sector and at a sector not being erased.
    let byte_addr = q.c.sector_len[0];
    q.assert_erasing(0, dq3);
    q.assert_erasing(byte_addr, dq3);

    // Suspended: DQ6 steady, DQ2 toggling in the suspended sector; data elsewhere.
    q.erase_suspend();
    let (s0, s1) = q.status_pair(0);
    assert_eq!(s0 & DQ6, s1 & DQ6, "DQ6 steady while suspended");
    assert_eq!(s0 & DQ2, !s1 & DQ2, "DQ2 toggles in the suspended sector");
    let (s0, s1) = q.status_pair(byte_addr);
    assert_eq!(s0 & DQ2, s1 & DQ2, "data in a sector not being erased");
    assert_eq!(s0, s1);

    // Resumed: DQ3 is 1, DQ6 and DQ2 toggle.
    q.erase_resume();
    q.assert_erasing(0, DQ3);
    q.assert_erasing(byte_addr, DQ3);
    q.wait_for_completion(0);
}

/// Upstream's `test_geometry`.
fn test_geometry(config: &FlashConfig) {
    let mut q = qtest_init(config);
    check_ids(&mut q);
    let nb_erase_regions = check_cfi(&mut q);
    erase_and_program_every_sector(&mut q, nb_erase_regions);
    chip_erase_everything(&mut q, nb_erase_regions);
    unlock_bypass(&mut q);
    high_address_bits_ignored(&mut q);
    multi_sector_erase(&mut q, nb_erase_regions);
    suspend_resume(&mut q, false);
    suspend_resume(&mut q, true);
    // Not upstream: every program and erase was written through to the image.
    let on_disk = std::fs::read(q.image.path()).expect("read image");
    assert!(
        on_disk == q.flash.array().to_vec(),
        "image file matches the array"
    );
}

#[test]
fn geometry_uniform_one_x16_device() {
    test_geometry(&UNIFORM);
}

#[test]
fn geometry_top_boot_nonuniform_sectors() {
    test_geometry(&TOP_BOOT);
}

#[test]
fn geometry_bottom_boot_nonuniform_sectors() {
    test_geometry(&BOTTOM_BOOT);
}

/// Upstream's `test_cfi_in_autoselect`: 0xF0 leaves CFI back to autoselect.
#[test]
fn cfi_in_autoselect_returns_to_autoselect_on_reset() {
    let mut q = qtest_init(&UNIFORM);
    q.unlock();
    q.flash_cmd(UNLOCK0_ADDR, AUTOSELECT_CMD);
    assert_eq!(q.flash_query(FAddr(0)), 0xBF);
    q.flash_cmd(CFI_ADDR, CFI_CMD);
    assert_eq!(q.flash_query(FAddr(0x10)), b'Q' as u64);
    assert_eq!(q.flash_query(FAddr(0x11)), b'R' as u64);
    assert_eq!(q.flash_query(FAddr(0x12)), b'Y' as u64);
    q.reset();
    assert_eq!(q.flash_query(FAddr(0)), 0xBF);
}

/// Not upstream (no upstream test migrates): a QEMU 7.2.22 destination gets
/// the RAM block and nothing else (spec §15).
#[test]
fn migration_mid_erase_keeps_the_array_and_loses_the_command_state() {
    let mut q = qtest_init(&UNIFORM);
    q.sector_erase(0);
    q.clock_step_next();
    q.clock_step_next();
    q.program(0x20, 0x1234);
    q.sector_erase(UNIFORM_FLASH_SECTOR_SIZE);
    q.clock_step_next();
    q.assert_erasing(0, DQ3);
    let mut dest = q.flash.migrated();
    assert_eq!(dest.array(), q.flash.array());
    assert_eq!(dest.now(), 0);
    assert_eq!(dest.next_deadline(), None);
    let DeviceState::Cfi02V5(state) = dest.state() else {
        panic!("a v5 cfi02 state");
    };
    assert_eq!((state.wcycle, state.cmd, state.status), (0, 0, 0));
    assert!(state.rom_mode);
    // The erase already happened; its busy status is gone.
    assert_eq!(
        bus_read(dest.as_mut(), UNIFORM_FLASH_SECTOR_SIZE, 2),
        0xFFFF
    );
    assert_eq!(bus_read(dest.as_mut(), 0x20, 2), 0x1234);
    // The source still reports status.
    let (s0, s1) = q.status_pair(0);
    assert_ne!(s0, s1);
}
