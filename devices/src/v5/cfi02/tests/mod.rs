//! Unit tests of the v5 cfi02, grouped by spec section. Most use the
//! musicpal configuration (width 2, so word address N is byte address 2N).

mod cfi;
mod commands;
mod device;
mod quirks;
mod realize;
mod status;
mod timing;

use super::{PflashCfi02, State};
use crate::backend::BlockBackend;
use crate::device::{bus_read, bus_write, FlashDevice};

pub(super) const MIB: u64 = 1 << 20;
/// Musicpal sector length.
pub(super) const SECTOR: u64 = 0x10000;
/// Musicpal byte address of unlock_addr0 (word 0x555).
pub(super) const U0: u64 = 0xAAA;
/// Musicpal byte address of unlock_addr1 (word 0x2AA).
pub(super) const U1: u64 = 0x554;
/// Musicpal byte address of the CFI query command (word 0x55).
pub(super) const CFI_ADDR: u64 = 0xAA;
/// One sector erase, window included (§11).
pub(super) const ONE_SECTOR_DONE_NS: u64 = 562_000;
/// The erase window (§11).
pub(super) const WINDOW_NS: u64 = 50_000;
/// Sector erase time per queued sector (§11).
pub(super) const PER_SECTOR_NS: u64 = 512_000;
/// Chip erase time (§11).
pub(super) const CHIP_ERASE_NS: u64 = 4_096_000_000;

/// `(name, value)` pairs as owned strings.
pub(super) fn props(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The musicpal board's properties for an image of `mib` MiB (8, 16 or 32).
pub(super) fn musicpal_props(mib: u64) -> Vec<(String, String)> {
    let blocks = (mib * MIB / SECTOR).to_string();
    let mappings = (32 / mib).to_string();
    props(&[
        ("num-blocks", &blocks),
        ("sector-length", "0x10000"),
        ("width", "2"),
        ("mappings", &mappings),
        ("id0", "0xBF"),
        ("id1", "0x236D"),
        ("unlock-addr0", "0x5555"),
        ("unlock-addr1", "0x2AAA"),
        ("name", "musicpal.flash"),
    ])
}

/// A device plus helpers that drive it like a guest (16-bit accesses).
pub(super) struct Flash {
    pub dev: PflashCfi02,
}

impl Flash {
    pub fn new(props: &[(String, String)], backend: BlockBackend) -> Flash {
        Flash {
            dev: PflashCfi02::new(props, backend).expect("valid test configuration"),
        }
    }

    /// 16-bit write.
    pub fn w(&mut self, addr: u64, val: u64) {
        bus_write(&mut self.dev, addr, 2, val);
    }

    /// 16-bit read.
    pub fn r(&mut self, addr: u64) -> u64 {
        bus_read(&mut self.dev, addr, 2)
    }

    /// `n` 16-bit reads at `addr`.
    pub fn reads(&mut self, addr: u64, n: usize) -> Vec<u64> {
        (0..n).map(|_| self.r(addr)).collect()
    }

    pub fn unlock(&mut self) {
        self.w(U0, 0xAA);
        self.w(U1, 0x55);
    }

    /// Unlock, then `cmd` at unlock_addr0.
    pub fn command(&mut self, cmd: u64) {
        self.unlock();
        self.w(U0, cmd);
    }

    /// unlock, 80, unlock (the first five erase cycles).
    pub fn erase_setup(&mut self) {
        self.command(0x80);
        self.unlock();
    }

    pub fn sector_erase(&mut self, addr: u64) {
        self.erase_setup();
        self.w(addr, 0x30);
    }

    pub fn chip_erase(&mut self) {
        self.erase_setup();
        self.w(U0, 0x10);
    }

    pub fn program(&mut self, addr: u64, val: u64) {
        self.command(0xA0);
        self.w(addr, val);
    }

    /// Advances to the next deadline (qtest `clock_step` without argument).
    pub fn step(&mut self) {
        if let Some(d) = self.dev.next_deadline() {
            let now = self.dev.now();
            self.dev.advance(d - now);
        }
    }

    pub fn st(&self) -> State {
        self.dev.state()
    }

    /// The array bytes as a little-endian 16-bit word, bypassing the device.
    pub fn raw(&self, off: u64) -> u64 {
        self.dev.array().read_le(off, 2)
    }
}

/// Musicpal with an 8 MiB image filled with `fill`.
pub(super) fn musicpal_filled(fill: u8) -> Flash {
    Flash::new(
        &musicpal_props(8),
        BlockBackend::memory(8 * MIB, fill, true),
    )
}

/// Musicpal with an erased (0xFF) 8 MiB image.
pub(super) fn musicpal() -> Flash {
    musicpal_filled(0xFF)
}

/// The power-on canonical state (§3).
pub(super) fn power_on_state() -> State {
    State {
        wcycle: 0,
        cmd: 0,
        bypass: false,
        status: 0,
        rom_mode: true,
        read_counter: 0,
        sectors_to_erase: 0,
        erase_sectors: vec![],
        erase_time_remaining: 0,
        timer_remaining: None,
    }
}
