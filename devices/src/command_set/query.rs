//! The CFI query table's layout (JEDEC JESD68), common to both command sets:
//! where each field sits (pflash-cfi01.md §11, pflash-cfi02.md §12). What a
//! device puts there (voltages, timeouts, the primary extended table) is its
//! own; the code of each command set is `intel::PRIMARY_COMMAND_SET` and
//! `amd::PRIMARY_COMMAND_SET`.

/// Offset of the "QRY" signature.
pub const QRY_OFFSET: usize = 0x10;
/// The "QRY" signature.
pub const QRY: [u8; 3] = *b"QRY";
/// Offset of the primary command set code (2 bytes, little-endian).
pub const PRIMARY_COMMAND_SET_OFFSET: usize = 0x13;
/// Offset of the primary extended table address (2 bytes).
pub const PRIMARY_TABLE_ADDRESS_OFFSET: usize = 0x15;
/// Offset of the alternate command set code (2 bytes).
pub const ALTERNATE_COMMAND_SET_OFFSET: usize = 0x17;
/// Offset of the alternate extended table address (2 bytes).
pub const ALTERNATE_TABLE_ADDRESS_OFFSET: usize = 0x19;
/// Offset of Vcc min, Vcc max, Vpp min, Vpp max.
pub const VOLTAGES_OFFSET: usize = 0x1B;
/// Offset of the eight timeout bytes (typical word/buffer/block/chip, then
/// the four maximum multipliers).
pub const TIMEOUTS_OFFSET: usize = 0x1F;
/// Offset of the typical block (sector) erase timeout, 2^n ms.
pub const TYPICAL_BLOCK_ERASE_OFFSET: usize = 0x21;
/// Offset of the typical chip erase timeout, 2^n ms.
pub const TYPICAL_CHIP_ERASE_OFFSET: usize = 0x22;
/// Offset of the four maximum timeout multipliers.
pub const MAX_TIMEOUTS_OFFSET: usize = 0x23;
/// Offset of the device size byte (2^n bytes per chip).
pub const DEVICE_SIZE_OFFSET: usize = 0x27;
/// Offset of the interface code (2 bytes).
pub const INTERFACE_OFFSET: usize = 0x28;
/// Offset of the maximum multi-byte write size (2 bytes, 2^n).
pub const MAX_WRITE_BUFFER_OFFSET: usize = 0x2A;
/// Offset of the number of erase-block regions.
pub const REGION_COUNT_OFFSET: usize = 0x2C;
/// Offset of the first erase-block region descriptor (4 bytes each).
pub const REGIONS_OFFSET: usize = 0x2D;
/// Bytes per erase-block region descriptor.
pub const REGION_DESCRIPTOR_LEN: usize = 4;
/// Interface code 0x0002: x8/x16 asynchronous.
pub const INTERFACE_X8_X16: u16 = 0x0002;
