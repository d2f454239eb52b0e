//! QEMU 7.2.22's own numbers of `pflash_cfi02.c`: its `cmd` and `wcycle`
//! encodings, address decoding, the lazy return to ROMD and timings (spec
//! §4, §5, §6, §7, §11). The AMD command set's bytes, addresses, status bits
//! and table length are [`crate::command_set::amd`].

/// Values of the `cmd` state variable (spec §5). QEMU stores the command
/// byte that started the operation; Read Array is 0x00.
pub mod cmd {
    use crate::command_set::amd;

    /// Read array.
    pub const READ_ARRAY: u8 = 0x00;
    /// Erase sequence in progress (after 0x80, waiting for the second unlock).
    pub const ERASE: u8 = amd::ERASE_SETUP;
    /// Autoselect (ID read).
    pub const AUTOSELECT: u8 = amd::AUTOSELECT;
    /// Program pending (between 0xA0 and the data).
    pub const PROGRAM: u8 = amd::PROGRAM;
    /// Chip erase running.
    pub const CHIP_ERASE: u8 = amd::CHIP_ERASE;
    /// Sector erase: the 50 µs window or the erase itself.
    pub const SECTOR_ERASE: u8 = amd::SECTOR_ERASE;
    /// CFI query mode (both CFI write cycles).
    pub const CFI_QUERY: u8 = amd::CFI_QUERY;
}

/// Values of the `wcycle` state variable (spec §5, §7).
pub mod wcycle {
    /// Read mode; expects the first unlock cycle (§7.2).
    pub const IDLE: u8 = 0;
    /// First unlock cycle seen; expects the second (§7.3).
    pub const UNLOCK1_SEEN: u8 = 1;
    /// Unlocked (or in unlock bypass); expects a command byte (§7.4).
    pub const UNLOCKED: u8 = 2;
    /// A command (0x80, 0x90, 0xA0) was accepted (§7.5).
    pub const COMMAND: u8 = 3;
    /// Erase: first unlock cycle of the second unlock expected (§7.6).
    pub const ERASE_UNLOCK1: u8 = 4;
    /// Erase: second unlock done; expects 0x10 or 0x30 (§7.6).
    pub const ERASE_UNLOCKED: u8 = 5;
    /// Chip or sector erase running (§7.7).
    pub const ERASING: u8 = 6;
    /// CFI query entered from read mode (QEMU's `WCYCLE_CFI`, §7.8).
    pub const CFI: u8 = 7;
    /// CFI query entered from autoselect (QEMU's `WCYCLE_AUTOSELECT_CFI`, §7.8).
    pub const AUTOSELECT_CFI: u8 = 8;
}

/// Bits of the byte offset used for the ID/CFI index: answers repeat every
/// 256 bytes (§4).
pub const INDEX_OFFSET_MASK: u64 = 0xFF;

/// The lazy return to ROMD happens when the counter exceeds this (§6).
pub const LAZY_ROMD_THRESHOLD: u32 = 42;

/// QEMU's `SCALE_US`: CFI byte 0x21 (typical sector erase, 2^n) is applied in µs (§14.2).
pub const SCALE_US: u64 = 1_000;
/// QEMU's `SCALE_MS`: CFI byte 0x22 (typical chip erase, 2^n) is applied in ms.
pub const SCALE_MS: u64 = 1_000_000;

/// QEMU's `BDRV_SECTOR_SIZE`: write-backs are widened to this granularity.
pub const BDRV_SECTOR_SIZE: u32 = 512;

/// Address shift for the bus `width` property: 2 → 1, 4 → 2, else 0 (§2, §4).
pub fn width_shift(width: u8) -> u32 {
    match width {
        2 => 1,
        4 => 2,
        _ => 0,
    }
}
