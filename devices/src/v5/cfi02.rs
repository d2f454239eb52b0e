//! v5 `cfi.pflash02`: QEMU 7.2.22's AMD/Fujitsu parallel NOR flash
//! (spec: shared/spec/pflash-cfi02.md), read for read, quirks included.
//!
//! Layout: [`config`] holds the properties and realize checks (§2, §3),
//! `cfi_table` the CFI query table (§12), [`protocol`] QEMU's `cmd` and
//! `wcycle` encodings, masks and timings (the command set's own numbers are
//! [`crate::command_set::amd`]), and `machine` the read path,
//! the write state machine and the erase timer (§6–§11). This file holds
//! the device itself: memory model, virtual time, canonical state and
//! migration (§15: the device migrates nothing but its RAM block).

mod cfi_table;
mod config;
mod machine;
pub mod protocol;
#[cfg(test)]
mod tests;

pub use crate::command_set::amd::CFI_TABLE_LEN;
pub use config::{Region, MAX_ERASE_REGIONS, PROPERTIES};

use crate::backend::BlockBackend;
use crate::clock::{Nanos, Timer, VirtualClock};
use crate::device::{mask, DeviceError, FlashDevice};
use crate::storage::Storage;
use config::Config;
use protocol::{cmd, wcycle};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

/// QOM type name.
pub const TYPE_NAME: &str = "cfi.pflash02";

/// Canonical state of a v5 cfi02: every guest-relevant variable of QEMU's
/// `PFlashCFI02` except the array, in QEMU's raw encodings (Read Array is
/// `cmd == 0x00`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct State {
    /// Write cycle: 0–6, 7 = CFI, 8 = autoselect-CFI.
    pub wcycle: u8,
    /// Command state (0x00, 0x80, 0x90, 0xA0, 0x10, 0x30, 0x98).
    pub cmd: u8,
    /// Unlock bypass mode.
    pub bypass: bool,
    /// DQ status byte, including the toggle phase.
    pub status: u8,
    /// ROMD on: reads are served from the array.
    pub rom_mode: bool,
    /// Lazy return-to-ROMD counter.
    pub read_counter: u32,
    /// Sector erase commands queued since the last completion.
    pub sectors_to_erase: u32,
    /// Sectors set in the erase bitmap, ascending.
    pub erase_sectors: Vec<u32>,
    /// Remaining erase time in ns; non-zero means erase-suspended.
    pub erase_time_remaining: u64,
    /// Time until the pending timer deadline (deadline − now), if any.
    pub timer_remaining: Option<u64>,
}

/// The mutable command state (QEMU's `PFlashCFI02` fields besides the
/// configuration, the array and the timer).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Regs {
    wcycle: u8,
    cmd: u8,
    bypass: bool,
    status: u8,
    rom_mode: bool,
    read_counter: u32,
    sectors_to_erase: u32,
    erase_map: BTreeSet<u32>,
    erase_time_remaining: u64,
}

impl Regs {
    /// The state right after realize and reset (§3), also what a migration
    /// destination holds (§15).
    fn power_on() -> Regs {
        Regs {
            wcycle: wcycle::IDLE,
            cmd: cmd::READ_ARRAY,
            bypass: false,
            status: 0,
            rom_mode: true,
            read_counter: 0,
            sectors_to_erase: 0,
            erase_map: BTreeSet::new(),
            erase_time_remaining: 0,
        }
    }
}

/// A realized v5 `cfi.pflash02`.
///
/// ```
/// use devices::{bus_read, bus_write, BlockBackend, FlashDevice};
/// use devices::v5::cfi02::PflashCfi02;
///
/// let props: Vec<(String, String)> = [
///     ("num-blocks", "128"), ("sector-length", "0x10000"), ("width", "2"),
///     ("mappings", "4"), ("id0", "0xBF"), ("id1", "0x236D"),
///     ("unlock-addr0", "0x5555"), ("unlock-addr1", "0x2AAA"),
///     ("name", "musicpal.flash"),
/// ].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
/// let mut flash = PflashCfi02::new(&props, BlockBackend::memory(8 << 20, 0xFF, true)).unwrap();
/// // Autoselect: AA@0xAAA, 55@0x554, 90@0xAAA, then the manufacturer id.
/// for (addr, val) in [(0xAAA, 0xAA), (0x554, 0x55), (0xAAA, 0x90)] {
///     bus_write(&mut flash, addr, 2, val);
/// }
/// assert_eq!(bus_read(&mut flash, 0, 2), 0xBF);
/// ```
#[derive(Clone)]
pub struct PflashCfi02 {
    config: Config,
    cfi: [u8; CFI_TABLE_LEN],
    /// The drive lacks write permission: programs and erases leave the array alone.
    ro: bool,
    array: Storage,
    backend: BlockBackend,
    clock: VirtualClock,
    timer: Timer,
    regs: Regs,
}

impl PflashCfi02 {
    /// Realizes a device from its properties (§3): checks 1–6 in QEMU's
    /// order, then the backend size (check 7).
    pub fn new(
        props: &[(String, String)],
        backend: BlockBackend,
    ) -> Result<PflashCfi02, DeviceError> {
        let config = Config::parse(props)?;
        let array =
            backend
                .initial_array(config.chip_len as u64)
                .map_err(|e| DeviceError::Realize {
                    ty: TYPE_NAME,
                    message: e.to_string(),
                })?;
        let cfi = cfi_table::build(&config.regions, config.chip_len);
        Ok(PflashCfi02 {
            ro: !backend.writable(),
            cfi,
            config,
            array,
            backend,
            clock: VirtualClock::new(),
            timer: Timer::default(),
            regs: Regs::power_on(),
        })
    }

    /// The erase-block regions in use (1..=4; the uniform pair as region 0
    /// when no region is given).
    pub fn regions(&self) -> &[Region] {
        &self.config.regions
    }

    /// Bytes of one copy of the chip (QEMU's 32-bit `chip_len`).
    pub fn chip_len(&self) -> u32 {
        self.config.chip_len
    }

    /// Number of sectors over all regions.
    pub fn total_sectors(&self) -> u32 {
        self.config.total_sectors
    }

    /// The CFI query table (0x4D bytes).
    pub fn cfi_table(&self) -> &[u8] {
        &self.cfi
    }

    /// The canonical state.
    pub fn state(&self) -> State {
        let r = &self.regs;
        State {
            wcycle: r.wcycle,
            cmd: r.cmd,
            bypass: r.bypass,
            status: r.status,
            rom_mode: r.rom_mode,
            read_counter: r.read_counter,
            sectors_to_erase: r.sectors_to_erase,
            erase_sectors: r.erase_map.iter().copied().collect(),
            erase_time_remaining: r.erase_time_remaining,
            timer_remaining: self.timer.deadline().map(|d| d - self.clock.now()),
        }
    }

    /// Restores a canonical state into this device (same configuration);
    /// a pending timer is re-armed at now + remaining. A remaining time of 0
    /// is armed 1 ns ahead, as every deadline lies strictly in the future.
    pub fn set_state(&mut self, state: &State) {
        self.regs = Regs {
            wcycle: state.wcycle,
            cmd: state.cmd,
            bypass: state.bypass,
            status: state.status,
            rom_mode: state.rom_mode,
            read_counter: state.read_counter,
            sectors_to_erase: state.sectors_to_erase,
            erase_map: state.erase_sectors.iter().copied().collect(),
            erase_time_remaining: state.erase_time_remaining,
        };
        match state.timer_remaining {
            Some(remaining) => self
                .timer
                .arm(self.clock.now().saturating_add(remaining.max(1))),
            None => self.timer.cancel(),
        }
    }

    /// The ROM device offset of window address `addr`. QEMU 7.2.22
    /// behaviour: the window holds `mappings` aliases of the chip, so the
    /// image is mirrored across it (§6, §14.8).
    fn alias(&self, addr: u64) -> u64 {
        match self.config.chip_len {
            0 => 0,
            len => addr % len as u64,
        }
    }
}

impl fmt::Debug for PflashCfi02 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PflashCfi02")
            .field("name", &self.config.name)
            .field("chip_len", &self.config.chip_len)
            .field("regions", &self.config.regions)
            .field("ro", &self.ro)
            .field("now", &self.clock.now())
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

impl FlashDevice for PflashCfi02 {
    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }

    fn window_size(&self) -> u64 {
        self.config.window_size()
    }

    fn romd(&self) -> bool {
        self.regs.rom_mode
    }

    /// Raw RAM, little-endian: a big-endian device reads byte-swapped here
    /// compared to I/O mode, as in QEMU.
    fn rom_read(&self, addr: u64, size: usize) -> u64 {
        if self.config.chip_len == 0 {
            return 0;
        }
        (0..size).rev().fold(0, |acc, i| {
            acc << 8 | self.array.byte(self.alias(addr + i as u64)) as u64
        })
    }

    fn io_read(&mut self, addr: u64, size: u32) -> u64 {
        let off = self.alias(addr);
        // The memory core truncates the answer to the access size.
        self.device_read(off, size) & mask(size)
    }

    fn io_write(&mut self, addr: u64, size: u32, value: u64) {
        let off = self.alias(addr);
        self.device_write(off, size, value & mask(size));
    }

    fn now(&self) -> Nanos {
        self.clock.now()
    }

    fn next_deadline(&self) -> Option<Nanos> {
        self.timer.deadline()
    }

    fn advance(&mut self, ns: Nanos) {
        let target = self.clock.now().saturating_add(ns);
        // The callback may re-arm: run every deadline up to the target, each
        // at its exact time.
        while let Some(deadline) = self.timer.take_expired(target) {
            self.clock.set(deadline);
            self.timer_expired();
        }
        self.clock.set(target);
    }

    /// QEMU's DeviceReset: only `cmd` and `wcycle` (§13).
    fn reset(&mut self) {
        self.reset_state_machine();
    }

    fn array(&self) -> &Storage {
        &self.array
    }

    fn backend(&self) -> &BlockBackend {
        &self.backend
    }

    fn ram_block_name(&self) -> &str {
        &self.config.name
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }

    fn fork(&self) -> Box<dyn FlashDevice> {
        let mut copy = self.clone();
        copy.backend = self.backend.fork();
        Box::new(copy)
    }

    /// QEMU 7.2.22 behaviour: `cfi.pflash02` has no VMState (§15). Only the
    /// RAM block arrives; everything else is at its power-on value and the
    /// destination clock restarts at 0.
    fn migrated(&self) -> Box<dyn FlashDevice> {
        Box::new(PflashCfi02 {
            config: self.config.clone(),
            cfi: self.cfi,
            ro: self.ro,
            array: self.array.clone(),
            backend: self.backend.clone(),
            clock: VirtualClock::new(),
            timer: Timer::default(),
            regs: Regs::power_on(),
        })
    }

    /// No VMState at all (§15): nothing registers, so a stream never carries
    /// a section for this device and only its RAM block migrates.
    fn vmstate_entries(&self) -> Vec<crate::vmstate::VmStateEntry> {
        Vec::new()
    }

    fn save_vmstate(&self) -> Vec<crate::vmstate::SavedSection> {
        Vec::new()
    }

    fn load_vmstate(
        &mut self,
        idstr: &str,
        _version: u32,
        _value: &crate::vmstate::SectionValue,
    ) -> Result<(), String> {
        // Unreachable through a stream: nothing is registered to match.
        Err(format!("{TYPE_NAME} has no VMState (section '{idstr}')"))
    }

    /// The incoming RAM block replaces the array; the command state stays at
    /// the destination's power-on values.
    fn load_ram_block(&mut self, array: Storage) {
        debug_assert_eq!(array.len(), self.array.len());
        self.array = array;
    }

    /// No post_load, no run-state handler: nothing happens.
    fn reopen_drive(&mut self, drive: BlockBackend) {
        self.backend = drive;
    }

    fn post_incoming(&mut self) {}
}
