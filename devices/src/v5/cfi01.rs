//! v5 `cfi.pflash01`: QEMU 7.2.22's Intel/Sharp parallel NOR flash, read for
//! read, quirks included (spec: shared/spec/pflash-cfi01.md).
//!
//! The array is a ROM device: while ROMD is on, reads come straight from the
//! array ([`FlashDevice::rom_read`]); writes always go through the command
//! state machine. There are no timers: erase and program are instantaneous.
//!
//! ```
//! use devices::{bus_read, bus_write, BlockBackend};
//! use devices::v5::cfi01::PflashCfi01;
//!
//! let props: Vec<(String, String)> = [
//!     ("num-blocks", "256"), ("sector-length", "0x40000"), ("width", "4"),
//!     ("device-width", "2"), ("id0", "0x89"), ("id1", "0x18"), ("name", "virt.flash0"),
//! ].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
//! let mut flash = PflashCfi01::new(&props, BlockBackend::memory(64 << 20, 0xFF, true)).unwrap();
//! bus_write(&mut flash, 0x154, 4, 0x98); // CFI query
//! assert_eq!(bus_read(&mut flash, 0x40, 4), 0x0051_0051); // 'Q' in each x16 lane
//! ```

mod cfi_table;
pub mod commands;
mod config;
pub mod migration;
mod read;
mod write;

#[cfg(test)]
mod tests;

pub use config::{Config, MAX_ARRAY_LEN, PROPERTIES};

use crate::backend::BlockBackend;
use crate::clock::{Nanos, VirtualClock};
use crate::command_set::intel;
use crate::device::{mask, DeviceError, FlashDevice};
use crate::storage::Storage;
use commands::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// QOM type name.
pub const TYPE_NAME: &str = "cfi.pflash01";
/// VMState name: the migration section id string (spec §1, §15.1).
pub const VMSTATE_NAME: &str = "pflash_cfi01";

/// Canonical state of a v5 cfi01: everything guest-relevant except the array,
/// in QEMU's raw encodings (Read Array is `cmd == 0x00`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct State {
    /// Write-cycle index inside a command sequence (0 = expecting a command).
    pub wcycle: u8,
    /// Current command; 0x00 = read array.
    pub cmd: u8,
    /// Status register.
    pub status: u8,
    /// Remaining data writes of a buffered write (wraps to 2^64 − 1).
    pub counter: u64,
    /// ROM-device read mode: reads bypass the device.
    pub romd: bool,
    /// Start of the open staging window, 0xFFFFFFFF when none is open.
    pub blk_offset: u32,
    /// The staging buffer (`writeblock_size` bytes), only while a window is open.
    pub blk_bytes: Option<Vec<u8>>,
}

/// The device.
#[derive(Clone)]
pub struct PflashCfi01 {
    config: Config,
    cfi_table: [u8; intel::CFI_TABLE_LEN],
    writeblock_size: u32,
    /// The backend does not allow writes (§3).
    ro: bool,
    array: Storage,
    backend: BlockBackend,
    clock: VirtualClock,
    wcycle: u8,
    cmd: u8,
    status: u8,
    counter: u64,
    romd: bool,
    blk_offset: u32,
    /// Pre-allocated at realize, as in QEMU; meaningful only while
    /// `blk_offset != NO_BLOCK_OPEN`.
    blk_bytes: Vec<u8>,
    /// An incoming migration's post_load registered the whole-image
    /// write-back, which runs at the next run-state change (§15.3).
    writeback_pending: bool,
}

impl std::fmt::Debug for PflashCfi01 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PflashCfi01")
            .field("config", &self.config)
            .field("ro", &self.ro)
            .field("writeblock_size", &self.writeblock_size)
            .field("wcycle", &self.wcycle)
            .field("cmd", &format_args!("{:#04x}", self.cmd))
            .field("status", &format_args!("{:#04x}", self.status))
            .field("counter", &format_args!("{:#x}", self.counter))
            .field("romd", &self.romd)
            .field("blk_offset", &format_args!("{:#x}", self.blk_offset))
            .field("now", &self.clock.now())
            .finish_non_exhaustive()
    }
}

impl PflashCfi01 {
    /// Realizes a device from its properties and its drive (spec §3).
    pub fn new(
        props: &[(String, String)],
        backend: BlockBackend,
    ) -> Result<PflashCfi01, DeviceError> {
        let config = Config::realize(props)?;
        let array = backend.initial_array(config.total_len())?;
        let num_devices = config.check_geometry()?;
        Ok(PflashCfi01::realized(config, num_devices, backend, array))
    }

    /// The device right after a successful realize, with `array` as its RAM.
    fn realized(
        config: Config,
        num_devices: u32,
        backend: BlockBackend,
        array: Storage,
    ) -> PflashCfi01 {
        let (cfi_table, writeblock_size) = cfi_table::build(&config, num_devices);
        PflashCfi01 {
            ro: !backend.writable(),
            cfi_table,
            writeblock_size,
            array,
            backend,
            clock: VirtualClock::new(),
            wcycle: 0,
            cmd: CMD_READ_ARRAY_QEMU,
            status: intel::STATUS_AFTER_RESET,
            counter: 0,
            romd: true,
            blk_offset: NO_BLOCK_OPEN,
            blk_bytes: vec![0; writeblock_size as usize],
            writeback_pending: false,
            config,
        }
    }

    /// The realized configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// True when the drive does not allow writes (QEMU's `ro`).
    pub fn read_only(&self) -> bool {
        self.ro
    }

    /// The canonical state (what [`crate::DeviceState::Cfi01V5`] wraps).
    pub fn state(&self) -> State {
        let open = self.blk_offset != NO_BLOCK_OPEN;
        State {
            wcycle: self.wcycle,
            cmd: self.cmd,
            status: self.status,
            counter: self.counter,
            romd: self.romd,
            blk_offset: self.blk_offset,
            blk_bytes: open.then(|| self.blk_bytes.clone()),
        }
    }

    /// Restores a canonical state into this realized device (same
    /// configuration). `blk_bytes`, when given, is cut or zero-padded to this
    /// device's `writeblock_size`; when absent the buffer is left as it is.
    pub fn set_state(&mut self, state: &State) {
        self.wcycle = state.wcycle;
        self.cmd = state.cmd;
        self.status = state.status;
        self.counter = state.counter;
        self.romd = state.romd;
        self.blk_offset = state.blk_offset;
        if let Some(bytes) = &state.blk_bytes {
            let n = bytes.len().min(self.blk_bytes.len());
            self.blk_bytes.fill(0);
            self.blk_bytes[..n].copy_from_slice(&bytes[..n]);
        }
    }

    /// Wire field 1: `wcycle`.
    pub fn wcycle(&self) -> u8 {
        self.wcycle
    }

    /// Wire field 2: `cmd` (0x00 = read array).
    pub fn cmd(&self) -> u8 {
        self.cmd
    }

    /// Wire field 3: `status`.
    pub fn status(&self) -> u8 {
        self.status
    }

    /// Wire field 4: `counter`.
    pub fn counter(&self) -> u64 {
        self.counter
    }

    /// Start of the open staging window, or 0xFFFFFFFF (the
    /// `pflash_cfi01_blk_write` subsection is needed when it is not).
    pub fn blk_offset(&self) -> u32 {
        self.blk_offset
    }

    /// The whole staging buffer (`writeblock_size` bytes, as sent on the wire;
    /// stale while no window is open).
    pub fn blk_bytes(&self) -> &[u8] {
        &self.blk_bytes
    }

    /// Size of the staging buffer (spec §12); not migrated.
    pub fn writeblock_size(&self) -> u32 {
        self.writeblock_size
    }

    /// The CFI query table (0x52 bytes, spec §11).
    pub fn cfi_table(&self) -> &[u8] {
        &self.cfi_table
    }
}

impl FlashDevice for PflashCfi01 {
    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }

    fn window_size(&self) -> u64 {
        self.config.total_len()
    }

    fn romd(&self) -> bool {
        self.romd
    }

    fn rom_read(&self, addr: u64, size: usize) -> u64 {
        // Raw RAM, little-endian whatever `big-endian` says: a big-endian
        // device reads byte-swapped here compared to I/O mode, as in QEMU.
        let mut bytes = [0u8; 8];
        let len = self.array.len();
        for (i, b) in bytes[..size.min(8)].iter_mut().enumerate() {
            let at = addr.wrapping_add(i as u64);
            if at < len {
                *b = self.array.byte(at);
            }
        }
        u64::from_le_bytes(bytes)
    }

    fn io_read(&mut self, addr: u64, size: u32) -> u64 {
        let value = if self.config.secure {
            // Our accesses are non-secure: raw array data, no state change (§5.1).
            self.data_read(addr, size)
        } else {
            self.command_read(addr, size)
        };
        value as u64 & mask(size)
    }

    fn io_write(&mut self, addr: u64, size: u32, value: u64) {
        if self.config.secure {
            // Non-secure write: MEMTX_ERROR, nothing changes (§5.1).
            return;
        }
        self.command_write(addr, size, value as u32);
    }

    fn now(&self) -> Nanos {
        self.clock.now()
    }

    fn next_deadline(&self) -> Option<Nanos> {
        // No timers at all (quirk 16).
        None
    }

    fn advance(&mut self, ns: Nanos) {
        self.clock.set(self.clock.now().saturating_add(ns));
    }

    fn reset(&mut self) {
        // `pflash_cfi01_system_reset`: `counter`, the array and the buffer
        // contents are left alone (quirk 8).
        self.read_array();
        self.status = intel::STATUS_AFTER_RESET;
        self.blk_offset = NO_BLOCK_OPEN;
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
        Box::new(PflashCfi01 {
            backend: self.backend.fork(),
            ..self.clone()
        })
    }

    fn migrated(&self) -> Box<dyn FlashDevice> {
        // Realized afresh with the same properties and drive, reset, then
        // the RAM block (the array) loaded before the device section.
        let num_devices = self
            .config
            .num_devices()
            .expect("a realized configuration has at least one chip per bank");
        let mut dst = PflashCfi01::realized(
            self.config.clone(),
            num_devices,
            self.backend.clone(),
            self.array.clone(),
        );
        dst.wcycle = self.wcycle;
        dst.cmd = self.cmd;
        dst.status = self.status;
        dst.counter = self.counter;
        // The `pflash_cfi01_blk_write` subsection is sent only while a
        // window is open.
        if self.blk_offset != NO_BLOCK_OPEN {
            dst.blk_bytes.clone_from(&self.blk_bytes);
            dst.blk_offset = self.blk_offset;
        }
        // QEMU 7.2.22 neither migrates nor restores ROMD: it stays on from
        // the destination's reset (§15.4, the known bug).
        // post_load: when writable, the whole image is written back to the
        // drive once the VM runs (§15.3).
        if !dst.ro {
            dst.update(0, dst.config.total_len());
        }
        Box::new(dst)
    }

    fn vmstate_entries(&self) -> Vec<crate::vmstate::VmStateEntry> {
        self.migration_entries()
    }

    fn save_vmstate(&self) -> Vec<crate::vmstate::SavedSection> {
        self.migration_save()
    }

    fn load_vmstate(
        &mut self,
        idstr: &str,
        _version: u32,
        value: &crate::vmstate::SectionValue,
    ) -> Result<(), String> {
        self.migration_load(idstr, value)
    }

    fn load_ram_block(&mut self, array: Storage) {
        self.migration_load_ram(array)
    }

    fn reopen_drive(&mut self, drive: BlockBackend) {
        self.backend = drive;
    }

    fn post_incoming(&mut self) {
        self.migration_post_incoming()
    }
}
