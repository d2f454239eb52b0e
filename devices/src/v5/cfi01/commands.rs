//! QEMU 7.2.22's own numbers of `cfi.pflash01`: values of its state variables
//! and masks that are not part of the Intel command set (spec:
//! shared/spec/pflash-cfi01.md, section numbers below). The command set's
//! bytes, status bits and table length are [`crate::command_set::intel`].

/// Read array as QEMU stores it in `cmd` (§4). Not a CFI command byte: the
/// standard's Read Array is [`intel::READ_ARRAY`](crate::command_set::intel::READ_ARRAY);
/// QEMU keeps 0x00 internally and on the wire, and accepts it as a command (§7.1).
pub const CMD_READ_ARRAY_QEMU: u8 = 0x00;

/// `blk_offset` when no buffered write is open (§4, §7.2).
pub const NO_BLOCK_OPEN: u32 = 0xFFFF_FFFF;

/// Legacy ID/CFI reads look only at the low address byte (§8.1).
pub const LEGACY_OFFSET_MASK: u64 = 0xFF;
/// Device-width ID reads wrap every 256 entries (§8.2).
pub const ID_INDEX_MASK: u64 = 0xFF;
/// Accumulator start value of device-width ID/CFI reads (§8.2).
pub const QUERY_ACCUMULATOR_START: u32 = 0xFFFF_FFFF;

/// The block layer's sector: `pflash_update` widens write-backs to it.
pub const BDRV_SECTOR_SIZE: u64 = 512;
