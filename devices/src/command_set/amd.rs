//! The AMD/Fujitsu command set (CFI primary command set 0x0002) as QEMU
//! 7.2.22's `cfi.pflash02` implements it: command bytes, command addresses,
//! autoselect indices, status (DQ) bits, the sector-erase window and the CFI
//! table length (spec: shared/spec/pflash-cfi02.md, section numbers below).
//!
//! A command byte is the low byte of the written value (§7). QEMU's `cmd`
//! and `wcycle` encodings are v5's (`v5::cfi02::protocol`).

/// CFI primary command set code of the AMD/Fujitsu set (§12).
pub const PRIMARY_COMMAND_SET: u16 = 0x0002;

/// First unlock cycle data (at `unlock_addr0`).
pub const UNLOCK1: u8 = 0xAA;
/// Second unlock cycle data (at `unlock_addr1`).
pub const UNLOCK2: u8 = 0x55;
/// Enter unlock bypass, after the unlock cycles (§7.4, §7.9).
pub const UNLOCK_BYPASS: u8 = 0x20;
/// Second cycle of "unlock bypass reset" (0x90, 0x00; §7.5), or a lone
/// 0x00 at `wcycle 2` in bypass.
pub const UNLOCK_BYPASS_RESET: u8 = 0x00;
/// Erase setup (§7.4).
pub const ERASE_SETUP: u8 = 0x80;
/// Autoselect / ID read (§7.4).
pub const AUTOSELECT: u8 = 0x90;
/// Program setup, after the unlock cycles or alone in bypass (§7.4, §7.9).
pub const PROGRAM: u8 = 0xA0;
/// Chip erase, the sixth cycle of the erase sequence, at `unlock_addr0` (§7.6).
pub const CHIP_ERASE: u8 = 0x10;
/// Sector erase, the sixth cycle of the erase sequence, at the sector (§7.6); also
/// erase resume while suspended (§7.2).
pub const SECTOR_ERASE: u8 = 0x30;
/// Erase resume: the same byte as [`SECTOR_ERASE`] (§8).
pub const ERASE_RESUME: u8 = 0x30;
/// Erase suspend (§7.7).
pub const ERASE_SUSPEND: u8 = 0xB0;
/// CFI query (§7.2), accepted at word address [`CFI_QUERY_ADDR`].
pub const CFI_QUERY: u8 = 0x98;
/// Reset / exit to read array (§7.1).
pub const RESET: u8 = 0xF0;

/// Bits of the word address compared against the unlock addresses and
/// [`CFI_QUERY_ADDR`] (§4, quirk §14.7).
pub const COMMAND_ADDR_MASK: u16 = 0x7FF;
/// Word address of the CFI query command (§4, §7.2).
pub const CFI_QUERY_ADDR: u16 = 0x55;

/// Autoselect index of the manufacturer code, `id0` (§9).
pub const ID_INDEX_MANUFACTURER: u64 = 0x00;
/// Autoselect index of the device code, `id1` (§9).
pub const ID_INDEX_DEVICE: u64 = 0x01;
/// Autoselect index of sector protection (§9).
pub const ID_INDEX_PROTECTION: u64 = 0x02;
/// Autoselect index of the extended device code `id2` (§9).
pub const ID_INDEX_EXTENDED2: u64 = 0x0E;
/// Autoselect index of the extended device code `id3` (§9).
pub const ID_INDEX_EXTENDED3: u64 = 0x0F;
/// Value read at [`ID_INDEX_PROTECTION`]: all sectors unprotected (§9).
pub const SECTORS_UNPROTECTED: u64 = 0x00;
/// `id2`/`id3` value meaning "not present": the read falls through to array
/// data (QEMU compares with `(uint8_t)-1`, §9).
pub const ID_NOT_PRESENT: u16 = 0x00FF;

/// DQ7, data polling (§10).
pub const DQ7: u8 = 0x80;
/// DQ6, toggle bit: flips on status reads during program and erase (§10).
pub const DQ6: u8 = 0x40;
/// DQ3, sector-erase timer: set once the 50 µs window has expired (§10).
pub const DQ3: u8 = 0x08;
/// DQ2, erase toggle bit: flips on status reads during erase and on
/// suspended sectors (§10).
pub const DQ2: u8 = 0x04;

/// Length of the window for further sector-erase commands, in ns (§7.6, §11).
pub const SECTOR_ERASE_WINDOW_NS: u64 = 50_000;

/// Length of the CFI query table (QEMU's `cfi_table[0x4d]`, §12). Indices
/// beyond read 0.
pub const CFI_TABLE_LEN: usize = 0x4D;
