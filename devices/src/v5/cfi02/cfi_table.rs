//! The CFI query table (spec §12): QEMU 7.2.22's hard-coded table, "mostly
//! from SG29 Spansion flash", with the geometry filled in.

use super::config::Region;
use crate::command_set::amd::{self, CFI_TABLE_LEN};
use crate::command_set::query::{
    DEVICE_SIZE_OFFSET, INTERFACE_OFFSET, INTERFACE_X8_X16, QRY, QRY_OFFSET, REGIONS_OFFSET,
    REGION_COUNT_OFFSET, REGION_DESCRIPTOR_LEN,
};

/// Start of the primary extended query table ("PRI").
pub const PRI_OFFSET: usize = 0x40;

/// Fixed bytes from [`QRY_OFFSET`] up to the device size byte (0x10..=0x26).
const QUERY_HEADER: [u8; 0x17] = [
    QRY[0],                                // 0x10 "QRY"
    QRY[1],                                // 0x11
    QRY[2],                                // 0x12
    amd::PRIMARY_COMMAND_SET as u8,        // 0x13 primary command set, low byte
    (amd::PRIMARY_COMMAND_SET >> 8) as u8, // 0x14 high byte
    PRI_OFFSET as u8,                      // 0x15 primary extended table address, low byte
    (PRI_OFFSET >> 8) as u8,               // 0x16 high byte
    0x00,                                  // 0x17 no alternate command set
    0x00,                                  // 0x18
    0x00,                                  // 0x19 no alternate extended table
    0x00,                                  // 0x1A
    0x27,                                  // 0x1B Vcc min 2.7 V
    0x36,                                  // 0x1C Vcc max 3.6 V
    0x00,                                  // 0x1D no Vpp min
    0x00,                                  // 0x1E no Vpp max
    0x07,                                  // 0x1F typical word program timeout 2^7
    0x00,                                  // 0x20 buffer write not available
    0x09,                                  // 0x21 typical sector erase 2^9
    0x0C,                                  // 0x22 typical chip erase 2^12 ms
    0x01,                                  // 0x23 maximum word program timeout
    0x00,                                  // 0x24 maximum buffer write timeout (NA)
    0x0A,                                  // 0x25 maximum sector erase timeout
    0x0D,                                  // 0x26 maximum chip erase timeout
];

/// Bytes 0x28..=0x2B: interface x8/x16, buffered write disabled (QEMU:
/// "disable buffered write as it's not supported").
const INTERFACE: [u8; 4] = [
    INTERFACE_X8_X16 as u8,
    (INTERFACE_X8_X16 >> 8) as u8,
    0x00,
    0x00,
];

/// The primary extended query table at [`PRI_OFFSET`].
const PRI_TABLE: [u8; 0x0D] = [
    b'P', b'R', b'I', // "PRI"
    b'1', b'0', // version 1.0
    0x00, // address-sensitive unlock required
    0x02, // erase suspend: read and write
    0x00, // sector protect not supported
    0x00, // temporary sector unprotect not supported
    0x00, // sector protect/unprotect scheme
    0x00, // simultaneous operation not supported
    0x00, // burst mode not supported
    0x00, // page mode not supported
];

/// Builds the table for `regions` (1..=4) and `chip_len` (QEMU's
/// `pflash_cfi02_fill_cfi_table`).
pub fn build(regions: &[Region], chip_len: u32) -> [u8; CFI_TABLE_LEN] {
    let mut t = [0u8; CFI_TABLE_LEN];
    t[QRY_OFFSET..QRY_OFFSET + QUERY_HEADER.len()].copy_from_slice(&QUERY_HEADER);
    // QEMU's ctz32: 32 for a zero length.
    t[DEVICE_SIZE_OFFSET] = chip_len.trailing_zeros() as u8;
    t[INTERFACE_OFFSET..INTERFACE_OFFSET + INTERFACE.len()].copy_from_slice(&INTERFACE);
    t[REGION_COUNT_OFFSET] = regions.len() as u8;
    for (i, region) in regions.iter().enumerate() {
        let at = REGIONS_OFFSET + REGION_DESCRIPTOR_LEN * i;
        let count = region.blocks.wrapping_sub(1);
        t[at] = count as u8;
        t[at + 1] = (count >> 8) as u8;
        t[at + 2] = (region.sector_len >> 8) as u8;
        t[at + 3] = (region.sector_len >> 16) as u8;
    }
    t[PRI_OFFSET..PRI_OFFSET + PRI_TABLE.len()].copy_from_slice(&PRI_TABLE);
    t
}
