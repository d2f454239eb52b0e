//! The interface every flash model offers: guest accesses, virtual time,
//! reset, forking and migration. It names no release: the canonical state of
//! any device as one value is the catalogue's ([`crate::DeviceState`]).

use crate::backend::{BackendError, BlockBackend};
use crate::clock::Nanos;
use crate::props::PropError;
use crate::storage::Storage;
use crate::vmstate::{SavedSection, SectionValue, VmStateEntry};
use std::any::Any;

/// Largest single MMIO access the flash regions accept (QEMU's default
/// `valid.max_access_size`); wider guest accesses are split by the memory core.
pub const MAX_MMIO_ACCESS: u32 = 4;

/// Why a device could not be created.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// No device type is called `name`; `known` lists those that exist.
    #[error("'{name}' is not a valid device model name (known: {list})", list = .known.join(", "))]
    UnknownType {
        name: String,
        known: &'static [&'static str],
    },
    #[error(transparent)]
    Property(#[from] PropError),
    /// Realize failed with QEMU's message.
    #[error("{ty}: {message}")]
    Realize { ty: &'static str, message: String },
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// A flash device as a guest drives it.
///
/// `io_read`/`io_write` are single MMIO accesses (1, 2 or 4 bytes, naturally
/// aligned, offset inside the device's window). Use [`bus_read`] and
/// [`bus_write`] for arbitrary guest accesses: they apply the ROM-device
/// read path and QEMU's splitting of wide or misaligned accesses.
pub trait FlashDevice: Send + Sync + std::fmt::Debug {
    /// QOM-style type name (`cfi.pflash01`, `parallel-nor-cfi02-flash`, ...).
    fn type_name(&self) -> &'static str;
    /// Bytes of the guest-visible window (cfi02: `mappings` × chip size).
    fn window_size(&self) -> u64;
    /// True while reads are served from the array without calling the device.
    fn romd(&self) -> bool;
    /// A read served from the array in ROMD mode: no side effects.
    fn rom_read(&self, addr: u64, size: usize) -> u64;
    /// One MMIO read through the device's read function.
    fn io_read(&mut self, addr: u64, size: u32) -> u64;
    /// One MMIO write through the device's write function. `value` is already
    /// truncated to `size` bytes.
    fn io_write(&mut self, addr: u64, size: u32, value: u64);
    /// Current virtual time of the device's clock.
    fn now(&self) -> Nanos;
    /// The earliest pending timer deadline, if any.
    fn next_deadline(&self) -> Option<Nanos>;
    /// Advances the clock by `ns`, firing each expired timer at its exact deadline.
    fn advance(&mut self, ns: Nanos);
    /// Device reset (machine start, `system_reset`).
    fn reset(&mut self);
    /// The flash array (the RAM block).
    fn array(&self) -> &Storage;
    /// The backing image.
    fn backend(&self) -> &BlockBackend;
    /// Name of the RAM block (the `name` property).
    fn ram_block_name(&self) -> &str;
    /// The device as [`Any`], so that the catalogue can read the canonical
    /// state of its concrete type ([`crate::DeviceState::of`]).
    fn as_any(&self) -> &dyn Any;
    /// The device as mutable [`Any`], so that the catalogue can set the
    /// canonical state of its concrete type.
    fn as_any_mut(&mut self) -> &mut dyn Any;
    /// An independent copy (copy-on-write storage; file backends detach).
    fn fork(&self) -> Box<dyn FlashDevice>;
    /// The device a QEMU 7.2.22-style destination holds after an incoming
    /// migration of this one: realized afresh with the same properties and
    /// backend, the RAM block loaded, then whatever the release migrates.
    /// The destination's virtual clock restarts at 0, as under qtest.
    fn migrated(&self) -> Box<dyn FlashDevice>;

    // Migration (QEMU's VMState registration and hooks; see `crate::vmstate`).
    // There are deliberately no defaults: a device type without a decision
    // about its migration state does not compile.

    /// The sections this device registers, emitted ones in the order it saves
    /// them. An empty list means the type has no VMState at all (v5
    /// `cfi.pflash02`): only its RAM block migrates.
    fn vmstate_entries(&self) -> Vec<VmStateEntry>;
    /// The wire copies of the sections this device emits, in order, with
    /// `pre_save` applied to the copy. The live device is never changed, so a
    /// failed migration leaves the source exactly as it was (`post_save` has
    /// nothing to undo).
    fn save_vmstate(&self) -> Vec<SavedSection>;
    /// Loads one incoming section this device registers: `pre_load`
    /// defaults, the decoded fields and subsections, then `post_load`.
    /// `Err` carries the reason the values are refused.
    fn load_vmstate(
        &mut self,
        idstr: &str,
        version: u32,
        value: &SectionValue,
    ) -> Result<(), String>;
    /// Replaces the array with an incoming RAM block of the same length.
    fn load_ram_block(&mut self, array: Storage);
    /// The destination's block layer activates its own drive before the run
    /// state changes: `drive` replaces the one the device was realized on
    /// (migration without shared storage; the array stays as loaded).
    fn reopen_drive(&mut self, drive: BlockBackend);
    /// Runs once after a whole incoming stream was loaded (QEMU: the handlers
    /// `post_load` registered for the next run-state change, e.g. cfi01's
    /// whole-image write-back).
    fn post_incoming(&mut self);
}

/// Size of the next MMIO piece at `addr` for `remaining` bytes (QEMU's
/// `memory_access_size`: at most 4, at most the address alignment, a power of two).
fn piece_size(addr: u64, remaining: u32) -> u32 {
    let mut max = MAX_MMIO_ACCESS;
    if addr != 0 {
        let align = 1u64 << addr.trailing_zeros();
        if align < max as u64 {
            max = align as u32;
        }
    }
    let l = remaining.min(max);
    1 << (31 - l.leading_zeros())
}

/// A guest read of `width` bytes (1..=8) at `addr`, as QEMU's memory core does
/// it: while ROMD is on the rest of the access comes straight from the array;
/// otherwise it is split into aligned MMIO pieces combined little-endian.
pub fn bus_read(dev: &mut dyn FlashDevice, addr: u64, width: u32) -> u64 {
    let mut out = 0u64;
    let mut done = 0u32;
    while done < width {
        let a = addr + done as u64;
        let rest = width - done;
        let (v, l) = if dev.romd() {
            (dev.rom_read(a, rest as usize), rest)
        } else {
            let l = piece_size(a, rest);
            (dev.io_read(a, l) & mask(l), l)
        };
        out |= v << (8 * done);
        done += l;
    }
    out
}

/// A guest write of `width` bytes (1..=8) at `addr`: always through the
/// device, split into aligned pieces taken from `value` little-endian.
pub fn bus_write(dev: &mut dyn FlashDevice, addr: u64, width: u32, value: u64) {
    let value = value & mask(width);
    let mut done = 0u32;
    while done < width {
        let a = addr + done as u64;
        let l = piece_size(a, width - done);
        dev.io_write(a, l, (value >> (8 * done)) & mask(l));
        done += l;
    }
}

/// All-ones mask of `bytes` bytes (up to 8).
pub fn mask(bytes: u32) -> u64 {
    if bytes >= 8 {
        u64::MAX
    } else {
        (1u64 << (8 * bytes)) - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_follow_qemu_memory_access_size() {
        assert_eq!(piece_size(0x40, 8), 4);
        assert_eq!(piece_size(0x41, 2), 1);
        assert_eq!(piece_size(0x42, 4), 2);
        assert_eq!(piece_size(0x44, 2), 2);
        assert_eq!(piece_size(0, 3), 2);
        assert_eq!(piece_size(0x40, 1), 1);
    }
}
