//! The Intel/Sharp command set (CFI primary command set 0x0001) as QEMU
//! 7.2.22's `cfi.pflash01` implements it: command bytes, second-cycle bytes,
//! status register bits and the CFI table length (spec:
//! shared/spec/pflash-cfi01.md, section numbers below).
//!
//! QEMU stores Read Array as `cmd` 0x00, which is not a command byte of the
//! set; that value is v5's (`v5::cfi01::commands::CMD_READ_ARRAY_QEMU`).

/// CFI primary command set code of the Intel/Sharp set (§11).
pub const PRIMARY_COMMAND_SET: u16 = 0x0001;

/// Single-word program setup (§7.1), alternative code.
pub const PROGRAM_ALT: u8 = 0x10;
/// Block erase setup; the erase itself runs on this write in QEMU (§7.1).
pub const BLOCK_ERASE: u8 = 0x20;
/// Alternate block erase: QEMU knows it only as a stored `cmd`, reachable
/// through a migration stream and treated like [`BLOCK_ERASE`] (§7.2, §9).
pub const BLOCK_ERASE_ALT: u8 = 0x28;
/// Single-word program setup (§7.1).
pub const PROGRAM: u8 = 0x40;
/// Clear status register, then read array (§7.1).
pub const CLEAR_STATUS: u8 = 0x50;
/// Block lock / unlock setup (§7.1).
pub const LOCK_SETUP: u8 = 0x60;
/// Read status register (§7.1).
pub const READ_STATUS: u8 = 0x70;
/// Read identifier (§7.1, §8).
pub const READ_ID: u8 = 0x90;
/// CFI query (§7.1, §8, §11).
pub const CFI_QUERY: u8 = 0x98;
/// Write-to-buffer setup (§7.1, §7.3).
pub const WRITE_TO_BUFFER: u8 = 0xE8;
/// "Probe for AMD flash": the AMD reset command, accepted as read array (§7.1).
pub const AMD_PROBE: u8 = 0xF0;
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

/// Length of the CFI query table (§11).
pub const CFI_TABLE_LEN: usize = 0x52;
