//! `parallel-nor-flash` (abstract): a [`NorFlash`] bound to a parallel bus.
//!
//! Bank width, device width, maximum device width and the interleave they
//! imply; the byte order of array accesses; the `mappings` mirrors of the chip
//! in its MMIO window; and the ROM-device read mode (ROMD), in which reads are
//! served from the array without reaching the command logic. Also the
//! bus-level shaping of query answers: address-to-index shifts and the
//! replication of one chip's answer over every chip of the bank.
//!
//! A command set on top implements [`ParallelNorDevice`]; the
//! [`FlashDevice`] interface is implemented here, once, for all of them.

use super::nor_flash::{NorFlash, TimerOwner};
use crate::backend::BlockBackend;
use crate::clock::Nanos;
use crate::device::{mask, DeviceError, FlashDevice};
use crate::props::{PropDef, PropKind, PropValue};
use crate::storage::Storage;
use crate::vmstate::{SavedSection, SectionValue, VmStateEntry};

/// QOM-style name of this abstract level.
pub const TYPE_NAME: &str = "parallel-nor-flash";

/// Mask of the byte offset QEMU keeps before shifting it into a query index
/// (legacy cfi01 and every cfi02 query): answers repeat every 256 bytes.
pub const QUERY_OFFSET_MASK: u64 = 0xFF;

/// `x-legacy-migration`: the v6 flash migrates as its v5 counterpart (QEMU
/// style: `x-` prefix, default off). The compat machine type `nor-5.0` sets it
/// on `parallel-nor-flash`, so every v6 flash type gets it.
pub const LEGACY_MIGRATION_PROP: &str = "x-legacy-migration";

/// The declaration of [`LEGACY_MIGRATION_PROP`] on the v6 flash types.
pub const LEGACY_MIGRATION_PROP_DEF: PropDef = PropDef {
    name: LEGACY_MIGRATION_PROP,
    kind: PropKind::Bool,
    default: Some(PropValue::Bool(false)),
    doc: "migrate as the v5 device (machine type nor-5.0): emit only what v5 loads",
};

/// `width`: bank width in bytes (u8 on every device).
pub const PROP_WIDTH: PropDef = u8_prop("width", "bank (bus) width in bytes");

/// `device-width`: width of one chip in bytes; 0 selects cfi01's legacy
/// addressing. Only `cfi.pflash01` declares it.
pub const PROP_DEVICE_WIDTH: PropDef = u8_prop("device-width", "width of one chip in bytes");

/// `max-device-width`: widest mode of one chip; 0 means `device-width`. Only
/// `cfi.pflash01` declares it.
pub const PROP_MAX_DEVICE_WIDTH: PropDef =
    u8_prop("max-device-width", "maximum width of one chip in bytes");

/// `mappings`: number of mirrors of the chip in the window (0 and 1 mean one).
/// Only `cfi.pflash02` declares it.
pub const PROP_MAPPINGS: PropDef = u8_prop("mappings", "mirrors of the chip in its window");

/// `big-endian` as `cfi.pflash01` declares it: a bool (bit 0 of `features`).
pub const PROP_BIG_ENDIAN_BOOL: PropDef = PropDef {
    name: "big-endian",
    kind: PropKind::Bool,
    default: Some(PropValue::Bool(false)),
    doc: "array accesses are big-endian",
};

/// `big-endian` as `cfi.pflash02` declares it: a u8, non-zero meaning big-endian.
pub const PROP_BIG_ENDIAN_U8: PropDef =
    u8_prop("big-endian", "non-zero: array accesses are big-endian");

const fn u8_prop(name: &'static str, doc: &'static str) -> PropDef {
    PropDef {
        name,
        kind: PropKind::U8,
        default: Some(PropValue::Int(0)),
        doc,
    }
}

/// Byte order of array data on the bus.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endianness {
    Little,
    Big,
}

/// How the chips of a bank sit on the bus.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BusGeometry {
    /// Bank width in bytes (`width`).
    pub bank_width: u8,
    /// Width of one chip (`device-width`); 0 = not given (legacy).
    pub device_width: u8,
    /// Widest mode of one chip (`max-device-width`, defaulted to `device-width`).
    pub max_device_width: u8,
}

impl BusGeometry {
    /// Chips side by side in the bank (integer division, 1 when the device
    /// width is not given; QEMU's `num_devices`).
    pub fn num_devices(&self) -> u32 {
        self.bank_width
            .checked_div(self.device_width)
            .map_or(1, u32::from)
    }

    /// Shift from byte offset to bus-word index: 1 for width 2, 2 for width 4,
    /// none otherwise.
    pub fn width_shift(&self) -> u32 {
        match self.bank_width {
            2 => 1,
            4 => 2,
            _ => 0,
        }
    }

    /// Query index of a byte offset when chip widths are not modelled: the
    /// low 256 bytes, shifted by the bus width (so answers wrap every 256 bytes).
    pub fn wrapped_query_index(&self, offset: u64) -> u64 {
        (offset & QUERY_OFFSET_MASK) >> self.width_shift()
    }

    /// Query index of a byte offset when chip widths are modelled: query
    /// addresses count in units of the chip's widest mode, so a chip used
    /// narrower than that sees higher address bits (QEMU shifts by
    /// `ctz(bank) + ctz(max) − ctz(device)` and does not mask).
    pub fn chip_query_index(&self, offset: u64) -> u64 {
        let shift = ctz32(self.bank_width) as i32 + ctz32(self.max_device_width) as i32
            - ctz32(self.device_width) as i32;
        // A negative shift is undefined in C; x86 masks the count to 6 bits,
        // which is what `wrapping_shr` does.
        offset.wrapping_shr(shift as u32)
    }

    /// Replicates one chip's `device_width`-byte answer into every chip lane
    /// of the bank (nothing to do when the device width is not given).
    pub fn replicate_per_chip(&self, answer: u32) -> u32 {
        let dw = self.device_width as u32;
        let bw = self.bank_width as u32;
        let mut resp = answer;
        if dw != 0 && dw < bw {
            let mut i = dw;
            while i < bw {
                resp = deposit32(resp, 8 * i, 8 * dw, resp);
                i += dw;
            }
        }
        resp
    }

    /// A chip's one-byte query answer across the chip's own data lanes. A
    /// chip used narrower than its widest mode repeats the byte in each of its
    /// `max_device_width` bytes instead of zero-padding; QEMU supports only x8
    /// mode of a wider chip in a bank of up to 4 bytes (`None` otherwise).
    pub fn widen_x8_answer(&self, byte: u8) -> Option<u32> {
        if self.device_width == self.max_device_width {
            return Some(byte as u32);
        }
        if self.device_width != 1 || self.bank_width > 4 {
            return None;
        }
        let mut resp = byte as u32;
        for i in 1..self.max_device_width as u32 {
            resp = deposit32(resp, 8 * i, 8, byte as u32);
        }
        Some(resp)
    }

    /// A status byte as the bank returns it for an access of `access` bytes:
    /// OR-ed into each whole chip lane that fits, or (device width not given)
    /// into both halves of a 32-bit access.
    pub fn replicate_status(&self, status: u8, access: u32) -> u32 {
        let dw = self.device_width as u32;
        let mut ret = status as u32;
        if dw != 0 && access > dw {
            let mut shift = dw * 8;
            while shift + dw * 8 <= access * 8 {
                ret |= (status as u32).wrapping_shl(shift);
                shift += dw * 8;
            }
        } else if dw == 0 && access > 2 {
            ret |= (status as u32) << 16;
        }
        ret
    }

    /// Builds the answer to a query read of `access` bytes at `offset` from
    /// per-bank answers: starting from all ones, the answer for `offset +
    /// i·bank_width` fills bytes `[i, i + bank_width)` for `i = 0, bank_width,
    /// …` (QEMU advances the address by `i·bank_width`, not by `i`).
    pub fn gather(&self, offset: u64, access: u32, mut query: impl FnMut(u64) -> u32) -> u32 {
        let bw = self.bank_width as u32;
        let mut ret = u32::MAX;
        if bw == 0 {
            // QEMU loops forever here; a bank needs a width to answer queries.
            return ret;
        }
        let mut i = 0u32;
        while i < access {
            ret = deposit32(ret, 8 * i, 8 * bw, query(offset + (i * bw) as u64));
            i += bw;
        }
        ret
    }
}

/// Count of trailing zero bits as QEMU's `ctz32` (32 for 0).
fn ctz32(v: u8) -> u32 {
    (v as u32).trailing_zeros()
}

/// QEMU's `deposit32`: `field`'s low `len` bits placed at bit `start` of `value`.
fn deposit32(value: u32, start: u32, len: u32, field: u32) -> u32 {
    if start >= 32 || len == 0 {
        return value;
    }
    let len = len.min(32 - start);
    let mask = (u32::MAX >> (32 - len)) << start;
    (value & !mask) | ((field << start) & mask)
}

/// Bus configuration of a [`ParallelNorFlash`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BusConfig {
    pub geometry: BusGeometry,
    pub endianness: Endianness,
    /// Mirrors of the chip in the window; 0 and 1 both mean one.
    pub mappings: u8,
}

/// A NOR flash on a parallel bus.
#[derive(Clone, Debug)]
pub struct ParallelNorFlash {
    nor: NorFlash,
    config: BusConfig,
    romd: bool,
}

impl ParallelNorFlash {
    /// Binds `nor` to the bus; the device starts in ROMD mode.
    pub fn new(nor: NorFlash, config: BusConfig) -> ParallelNorFlash {
        ParallelNorFlash {
            nor,
            config,
            romd: true,
        }
    }

    /// The NOR core.
    pub fn nor(&self) -> &NorFlash {
        &self.nor
    }

    /// The NOR core, mutably.
    pub fn nor_mut(&mut self) -> &mut NorFlash {
        &mut self.nor
    }

    /// A copy for a forked device (the drive detaches).
    pub fn fork(&self) -> ParallelNorFlash {
        ParallelNorFlash {
            nor: self.nor.fork(),
            ..self.clone()
        }
    }

    /// Widths of the bank.
    pub fn bus(&self) -> &BusGeometry {
        &self.config.geometry
    }

    /// Byte order of array data.
    pub fn endianness(&self) -> Endianness {
        self.config.endianness
    }

    /// Bytes of one chip (the array).
    pub fn chip_size(&self) -> u64 {
        self.nor.array().len()
    }

    /// Bytes of the guest-visible window: the chip times its mirrors.
    pub fn window_size(&self) -> u64 {
        self.config.mappings.max(1) as u64 * self.chip_size()
    }

    /// The chip offset a window address reaches through its mirror alias.
    pub fn alias(&self, addr: u64) -> u64 {
        match self.chip_size() {
            0 => 0,
            size => addr % size,
        }
    }

    /// True while reads are served from the array (ROM-device mode).
    pub fn romd(&self) -> bool {
        self.romd
    }

    /// Switches ROM-device mode on or off.
    pub fn set_romd(&mut self, on: bool) {
        self.romd = on;
    }

    /// A read served straight from the array in ROMD mode, through the
    /// mirrors, combined little-endian as the memory core copies bytes
    /// (whatever `big-endian` says). Bytes past the window read 0.
    pub fn rom_read(&self, addr: u64, size: usize) -> u64 {
        let window = self.window_size();
        (0..size.min(8)).fold(0u64, |acc, i| {
            let at = addr.wrapping_add(i as u64);
            let byte = if at < window {
                self.nor.array().byte(self.alias(at))
            } else {
                0
            };
            acc | (byte as u64) << (8 * i)
        })
    }

    /// `width` bytes of array data at chip offset `offset`, in the configured
    /// byte order. Bytes past the end of the array read 0.
    pub fn read_data(&self, offset: u64, width: u32) -> u64 {
        let array = self.nor.array();
        let mut bytes = [0u8; 8];
        let width = (width as usize).min(bytes.len());
        for (i, b) in bytes[..width].iter_mut().enumerate() {
            let at = offset.wrapping_add(i as u64);
            if at < array.len() {
                *b = array.byte(at);
            }
        }
        let lanes = &bytes[..width];
        match self.config.endianness {
            Endianness::Little => lanes.iter().rev().fold(0, |acc, &b| acc << 8 | b as u64),
            Endianness::Big => lanes.iter().fold(0, |acc, &b| acc << 8 | b as u64),
        }
    }

    /// The low `width` bytes of `value` as they lie in the array, in the
    /// configured byte order.
    pub fn encode(&self, value: u64, width: u32) -> Vec<u8> {
        let w = width as usize;
        match self.config.endianness {
            Endianness::Little => value.to_le_bytes()[..w].to_vec(),
            Endianness::Big => value.to_be_bytes()[8 - w..].to_vec(),
        }
    }

    /// Programs `width` bytes of `value` at `offset`, overwriting (Intel
    /// command set as QEMU models it). False when read-only.
    pub fn program(&mut self, offset: u64, width: u32, value: u64) -> bool {
        let bytes = self.encode(value, width);
        self.nor.program(offset, &bytes)
    }

    /// Programs `width` bytes of `value` at `offset` the way NOR cells work:
    /// bits can only go from 1 to 0 (AND with the old contents). False when
    /// read-only.
    pub fn program_and(&mut self, offset: u64, width: u32, value: u64) -> bool {
        if self.nor.read_only() {
            return false;
        }
        let old = self.read_data(offset, width);
        self.program(offset, width, old & value)
    }
}

/// What a command set adds to a [`ParallelNorFlash`] to make a device: its
/// read and write functions, reset, timer callback and canonical state.
/// Every implementor is a [`FlashDevice`] (and a [`TimerOwner`]) through the
/// implementations below, which hold what all parallel NOR devices share.
pub trait ParallelNorDevice: Clone + std::fmt::Debug + Send + Sync + 'static {
    /// QOM-style type name.
    const TYPE_NAME: &'static str;
    /// The canonical state.
    type State;
    /// Realizes a device from its properties and drive.
    fn realize(props: &[(String, String)], backend: BlockBackend) -> Result<Self, DeviceError>;
    /// The properties it was realized from.
    fn props(&self) -> &[(String, String)];
    /// The bus binding (and through it the NOR core).
    fn parallel(&self) -> &ParallelNorFlash;
    /// The bus binding, mutably.
    fn parallel_mut(&mut self) -> &mut ParallelNorFlash;
    /// One access through the device's read function (ROMD off), before the
    /// memory core truncates it to `size` bytes.
    fn command_read(&mut self, addr: u64, size: u32) -> u64;
    /// One access through the device's write function; `value` is already
    /// truncated to `size` bytes.
    fn command_write(&mut self, addr: u64, size: u32, value: u64);
    /// Device reset.
    fn command_reset(&mut self);
    /// The NOR core's timer fired; the clock stands at its deadline.
    fn timer_fired(&mut self);
    /// The canonical state.
    fn state(&self) -> Self::State;
    /// Restores the canonical state (timers re-armed from now).
    fn set_state(&mut self, state: &Self::State);
    /// The sections the device registers ([`FlashDevice::vmstate_entries`]).
    fn sections(&self) -> Vec<VmStateEntry>;
    /// The wire copies of the sections it emits ([`FlashDevice::save_vmstate`]).
    fn save_sections(&self) -> Vec<SavedSection>;
    /// Loads one incoming section ([`FlashDevice::load_vmstate`]).
    fn load_section(
        &mut self,
        idstr: &str,
        version: u32,
        value: &SectionValue,
    ) -> Result<(), String>;
    /// Runs once after a whole incoming stream ([`FlashDevice::post_incoming`]).
    fn after_incoming(&mut self);
}

impl<D: ParallelNorDevice> TimerOwner for D {
    fn nor_flash(&self) -> &NorFlash {
        self.parallel().nor()
    }

    fn nor_flash_mut(&mut self) -> &mut NorFlash {
        self.parallel_mut().nor_mut()
    }

    fn timer_expired(&mut self) {
        self.timer_fired();
    }
}

impl<D: ParallelNorDevice> FlashDevice for D {
    fn type_name(&self) -> &'static str {
        D::TYPE_NAME
    }

    fn window_size(&self) -> u64 {
        self.parallel().window_size()
    }

    fn romd(&self) -> bool {
        self.parallel().romd()
    }

    fn rom_read(&self, addr: u64, size: usize) -> u64 {
        self.parallel().rom_read(addr, size)
    }

    fn io_read(&mut self, addr: u64, size: u32) -> u64 {
        // The memory core truncates the answer to the access size.
        self.command_read(addr, size) & mask(size)
    }

    fn io_write(&mut self, addr: u64, size: u32, value: u64) {
        self.command_write(addr, size, value);
    }

    fn now(&self) -> Nanos {
        self.parallel().nor().now()
    }

    fn next_deadline(&self) -> Option<Nanos> {
        self.parallel().nor().deadline()
    }

    fn advance(&mut self, ns: Nanos) {
        NorFlash::advance(self, ns);
    }

    fn reset(&mut self) {
        self.command_reset();
    }

    fn array(&self) -> &Storage {
        self.parallel().nor().array()
    }

    fn backend(&self) -> &BlockBackend {
        self.parallel().nor().backend()
    }

    fn ram_block_name(&self) -> &str {
        self.parallel().nor().name()
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }

    fn fork(&self) -> Box<dyn FlashDevice> {
        let mut copy = self.clone();
        *copy.parallel_mut() = self.parallel().fork();
        Box::new(copy)
    }

    /// Lossless (v6 migrates everything): a fresh device with the same
    /// properties and drive, the array copied and the whole canonical state
    /// restored; the clock restarts at 0 and timers are re-armed at their
    /// remaining time.
    fn migrated(&self) -> Box<dyn FlashDevice> {
        let mut dest = D::realize(self.props(), self.backend().clone())
            .expect("a realized device's properties realize again");
        dest.load_ram_block(self.array().clone());
        dest.set_state(&self.state());
        Box::new(dest)
    }

    fn vmstate_entries(&self) -> Vec<VmStateEntry> {
        self.sections()
    }

    fn save_vmstate(&self) -> Vec<SavedSection> {
        self.save_sections()
    }

    fn load_vmstate(
        &mut self,
        idstr: &str,
        version: u32,
        value: &SectionValue,
    ) -> Result<(), String> {
        self.load_section(idstr, version, value)
    }

    /// The drive is left alone: v6 writes program and erase through to it.
    fn load_ram_block(&mut self, array: Storage) {
        self.parallel_mut().nor_mut().load_array(&array);
    }

    fn reopen_drive(&mut self, drive: BlockBackend) {
        self.parallel_mut().nor_mut().reopen_drive(drive);
    }

    /// The whole array goes back to the drive (as QEMU 7.2's cfi01 does in
    /// its `post_load` handler): the RAM block carries the guest's data, and
    /// the destination's drive may be its own copy.
    fn post_incoming(&mut self) {
        self.parallel_mut().nor_mut().write_back_all();
        self.after_incoming();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bus(bank_width: u8, device_width: u8, max_device_width: u8) -> BusGeometry {
        BusGeometry {
            bank_width,
            device_width,
            max_device_width,
        }
    }

    #[test]
    fn query_index_shifts() {
        // arm virt: width 4, device-width 2 → S = 2 (pflash-cfi01.md §8.3).
        assert_eq!(bus(4, 2, 2).chip_query_index(0x40), 0x10);
        // x8 mode of an x16 part in a 32-bit bank: S = 3.
        assert_eq!(bus(4, 1, 2).chip_query_index(0x80), 0x10);
        assert_eq!(bus(4, 0, 0).wrapped_query_index(0x140), 0x10);
        assert_eq!(bus(2, 0, 0).wrapped_query_index(0x120), 0x10);
        assert_eq!(bus(1, 0, 0).wrapped_query_index(0x110), 0x10);
    }

    #[test]
    fn answers_replicate_per_chip() {
        assert_eq!(bus(4, 2, 2).replicate_per_chip(0x51), 0x0051_0051);
        assert_eq!(bus(4, 1, 1).replicate_per_chip(0x51), 0x5151_5151);
        assert_eq!(bus(2, 2, 2).replicate_per_chip(0x51), 0x51);
        assert_eq!(bus(4, 2, 2).replicate_status(0x80, 4), 0x0080_0080);
        assert_eq!(bus(4, 2, 2).replicate_status(0x80, 2), 0x80);
        assert_eq!(bus(4, 1, 1).replicate_status(0x80, 4), 0x8080_8080);
        assert_eq!(bus(2, 0, 0).replicate_status(0x80, 4), 0x0080_0080);
        assert_eq!(bus(4, 0, 0).replicate_status(0x80, 2), 0x80);
    }

    #[test]
    fn gather_advances_by_bank_width_squared() {
        let b = bus(2, 2, 2);
        let got = b.gather(0x40, 4, |a| a as u32);
        assert_eq!(got, 0x0044_0040);
        assert_eq!(bus(4, 2, 2).gather(0x40, 2, |_| 0x0051_0051), 0x0051_0051);
    }
}
