//! Names for the numbers of the AMD/Fujitsu command set as QEMU 7.2.22's
//! `pflash_cfi02.c` uses them: command bytes, command states, write cycles,
//! status bits, address decoding and timings (spec §4, §5, §7, §10, §11).

/// Command bytes a guest writes: the low byte of the written value (spec §7).
pub mod op {
    /// First unlock cycle data (at `unlock_addr0`).
    pub const UNLOCK1: u8 = 0xAA;
    /// Second unlock cycle data (at `unlock_addr1`).
    pub const UNLOCK2: u8 = 0x55;
    /// Enter unlock bypass (§7.4).
    pub const UNLOCK_BYPASS: u8 = 0x20;
    /// Second cycle of "unlock bypass reset" (0x90, 0x00; §7.5), or a lone
    /// 0x00 at `wcycle 2` in bypass.
    pub const UNLOCK_BYPASS_RESET: u8 = 0x00;
    /// Erase setup (§7.4).
    pub const ERASE_SETUP: u8 = 0x80;
    /// Autoselect / ID read (§7.4).
    pub const AUTOSELECT: u8 = 0x90;
    /// Program setup (§7.4).
    pub const PROGRAM: u8 = 0xA0;
    /// Chip erase, the sixth cycle of the erase sequence (§7.6).
    pub const CHIP_ERASE: u8 = 0x10;
    /// Sector erase, the sixth cycle of the erase sequence (§7.6); also
    /// erase resume while suspended (§7.2).
    pub const SECTOR_ERASE: u8 = 0x30;
    /// Erase resume: the same byte as [`SECTOR_ERASE`] (§8).
    pub const ERASE_RESUME: u8 = 0x30;
    /// Erase suspend (§7.7).
    pub const ERASE_SUSPEND: u8 = 0xB0;
    /// CFI query (§7.2), accepted at word address [`super::CFI_QUERY_ADDR`].
    pub const CFI_QUERY: u8 = 0x98;
    /// Reset / exit (§7.1).
    pub const RESET: u8 = 0xF0;
}

/// Values of the `cmd` state variable (spec §5). QEMU stores the command
/// byte that started the operation; Read Array is 0x00.
pub mod cmd {
    /// Read array.
    pub const READ_ARRAY: u8 = 0x00;
    /// Erase sequence in progress (after 0x80, waiting for the second unlock).
    pub const ERASE: u8 = 0x80;
    /// Autoselect (ID read).
    pub const AUTOSELECT: u8 = 0x90;
    /// Program pending (between 0xA0 and the data).
    pub const PROGRAM: u8 = 0xA0;
    /// Chip erase running.
    pub const CHIP_ERASE: u8 = 0x10;
    /// Sector erase: the 50 µs window or the erase itself.
    pub const SECTOR_ERASE: u8 = 0x30;
    /// CFI query mode (both CFI write cycles).
    pub const CFI_QUERY: u8 = 0x98;
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

/// Status (DQ) bits (spec §10).
pub mod status {
    /// DQ7, data polling.
    pub const DQ7: u8 = 0x80;
    /// DQ6, toggle bit.
    pub const DQ6: u8 = 0x40;
    /// DQ3, sector-erase timer.
    pub const DQ3: u8 = 0x08;
    /// DQ2, erase toggle bit.
    pub const DQ2: u8 = 0x04;
}

/// Autoselect indices (spec §9).
pub mod id_index {
    /// Manufacturer code (`id0`).
    pub const MANUFACTURER: u64 = 0x00;
    /// Device code (`id1`).
    pub const DEVICE: u64 = 0x01;
    /// Sector protection: always 0 (all sectors unprotected).
    pub const PROTECTION: u64 = 0x02;
    /// Extended device code (`id2`).
    pub const EXTENDED2: u64 = 0x0E;
    /// Extended device code (`id3`).
    pub const EXTENDED3: u64 = 0x0F;
}

/// `id2`/`id3` value meaning "not present": the read falls through to array
/// data (QEMU compares with `(uint8_t)-1`, spec §9).
pub const ID_NOT_PRESENT: u16 = 0x00FF;
/// Value read at [`id_index::PROTECTION`].
pub const SECTORS_UNPROTECTED: u64 = 0x00;

/// Bits of the word address compared against the unlock addresses (§4).
pub const UNLOCK_ADDR_MASK: u64 = 0x7FF;
/// Word address of the CFI query command (§4, §7.2).
pub const CFI_QUERY_ADDR: u64 = 0x55;
/// Bits of the byte offset used for the ID/CFI index: answers repeat every
/// 256 bytes (§4).
pub const INDEX_OFFSET_MASK: u64 = 0xFF;

/// The lazy return to ROMD happens when the counter exceeds this (§6).
pub const LAZY_ROMD_THRESHOLD: u32 = 42;

/// Length of the sector-erase window for further 0x30 commands (§7.6, §11).
pub const SECTOR_ERASE_WINDOW_NS: u64 = 50_000;
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
