//! Command bytes, status bits and other fixed numbers of QEMU 7.2.22's
//! `cfi.pflash01` (spec: shared/spec/pflash-cfi01.md, section numbers below).

/// Read array as QEMU stores it in `cmd` (§4). Not a CFI command byte: the
/// standard's Read Array is [`READ_ARRAY`]; QEMU keeps 0x00 internally and on the wire.
pub const CMD_READ_ARRAY_QEMU: u8 = 0x00;
/// Single-word program setup (§7.1), alternative code.
pub const CMD_PROGRAM_ALT: u8 = 0x10;
/// Block erase setup; the erase itself runs on this write in QEMU (§7.1).
pub const CMD_BLOCK_ERASE: u8 = 0x20;
/// Block erase as an internal `cmd` value; only reachable through a
/// migration stream, treated like [`CMD_BLOCK_ERASE`] (§7.2, §9).
pub const CMD_BLOCK_ERASE_ALT: u8 = 0x28;
/// Single-word program setup (§7.1).
pub const CMD_PROGRAM: u8 = 0x40;
/// Clear status register, then read array (§7.1).
pub const CMD_CLEAR_STATUS: u8 = 0x50;
/// Block lock / unlock setup (§7.1).
pub const CMD_LOCK_SETUP: u8 = 0x60;
/// Read status register (§7.1).
pub const CMD_READ_STATUS: u8 = 0x70;
/// Read identifier (§7.1, §8).
pub const CMD_READ_ID: u8 = 0x90;
/// CFI query (§7.1, §8, §11).
pub const CMD_CFI_QUERY: u8 = 0x98;
/// Write-to-buffer setup (§7.1, §7.3).
pub const CMD_WRITE_TO_BUFFER: u8 = 0xE8;
/// "Probe for AMD flash": goes to read array (§7.1).
pub const CMD_AMD_PROBE: u8 = 0xF0;
/// Read array, the CFI standard's code (§7.1).
pub const READ_ARRAY: u8 = 0xFF;

/// Second-cycle byte confirming an erase, an unlock or a buffered write (§7.2, §7.4).
pub const CONFIRM: u8 = 0xD0;
/// Second-cycle byte of "lock block" (§7.2).
pub const LOCK_BLOCK: u8 = 0x01;

/// SR.7: write state machine ready (§10).
pub const SR_READY: u8 = 0x80;
/// SR.5: erase error (§10).
pub const SR_ERASE_ERROR: u8 = 0x20;
/// SR.4: program error (§10).
pub const SR_PROGRAM_ERROR: u8 = 0x10;
/// Status after realize and reset: WSM ready (§3, §13).
pub const STATUS_AFTER_RESET: u8 = SR_READY;

/// `blk_offset` when no buffered write is open (§4, §7.2).
pub const NO_BLOCK_OPEN: u32 = 0xFFFF_FFFF;
/// Value every erased byte takes (§7.1).
pub const ERASED_BYTE: u8 = 0xFF;

/// Length of the CFI query table (§11).
pub const CFI_TABLE_LEN: usize = 0x52;
/// Legacy ID/CFI reads look only at the low address byte (§8.1).
pub const LEGACY_OFFSET_MASK: u64 = 0xFF;
/// Device-width ID reads wrap every 256 entries (§8.2).
pub const ID_INDEX_MASK: u64 = 0xFF;
/// Accumulator start value of device-width ID/CFI reads (§8.2).
pub const QUERY_ACCUMULATOR_START: u32 = 0xFFFF_FFFF;

/// The block layer's sector: `pflash_update` widens write-backs to it.
pub const BDRV_SECTOR_SIZE: u64 = 512;
