//! The CFI query table (spec §11) and the write-buffer size it implies (§12).

use super::config::Config;
use crate::command_set::intel::{self, CFI_TABLE_LEN};
use crate::command_set::query::{
    DEVICE_SIZE_OFFSET, INTERFACE_OFFSET, INTERFACE_X8_X16, MAX_TIMEOUTS_OFFSET,
    MAX_WRITE_BUFFER_OFFSET, PRIMARY_COMMAND_SET_OFFSET, PRIMARY_TABLE_ADDRESS_OFFSET, QRY,
    QRY_OFFSET, REGIONS_OFFSET, REGION_COUNT_OFFSET, TIMEOUTS_OFFSET, VOLTAGES_OFFSET,
};

/// Primary extended table address 0x31.
const PRIMARY_TABLE_ADDR: [u8; 2] = [0x31, 0x00];
/// Vcc min 4.5 V, max 5.5 V.
const VCC_MIN_MAX: [u8; 2] = [0x45, 0x55];
/// Typical timeouts (single write 2^7, buffer write 2^7, block erase 2^10 ms,
/// chip erase "not supported"). The source comment says 4096 ms for chip
/// erase but stores 0.
const TYPICAL_TIMEOUTS: [u8; 4] = [0x07, 0x07, 0x0A, 0x00];
/// Maximum-timeout multipliers (0x26, chip erase, stays 0).
const MAX_TIMEOUTS: [u8; 3] = [0x04, 0x04, 0x04];
/// 2^8 = 256 bytes for an x8 bank.
const WRITE_BUFFER_LOG2_X8: u8 = 0x08;
/// 2^11 = 2048 bytes otherwise.
const WRITE_BUFFER_LOG2: u8 = 0x0B;
/// Number of erase-block regions.
const ERASE_REGIONS: u8 = 0x01;
/// "PRI" extended table and version "1" "0", at 0x31.
const PRI: [u8; 5] = *b"PRI10";
const PRI_AT: usize = 0x31;
/// Number of protection fields, at 0x3F.
const PROTECTION_FIELDS: u8 = 0x01;
const PROTECTION_FIELDS_AT: usize = 0x3F;

/// The table and the write-buffer size of one configuration
/// (`pflash_cfi01_fill_cfi_table`).
pub fn build(config: &Config, num_devices: u32) -> ([u8; CFI_TABLE_LEN], u32) {
    let (blocks_per_device, sector_len_per_device) = if config.old_multiple_chip_handling {
        (
            config.nb_blocs as u64 / num_devices as u64,
            config.sector_len,
        )
    } else {
        (
            config.nb_blocs as u64,
            config.sector_len / num_devices as u64,
        )
    };
    let device_len = sector_len_per_device.wrapping_mul(blocks_per_device);

    let mut t = [0u8; CFI_TABLE_LEN];
    let mut put = |at: usize, bytes: &[u8]| t[at..at + bytes.len()].copy_from_slice(bytes);
    put(QRY_OFFSET, &QRY);
    put(
        PRIMARY_COMMAND_SET_OFFSET,
        &intel::PRIMARY_COMMAND_SET.to_le_bytes(),
    );
    put(PRIMARY_TABLE_ADDRESS_OFFSET, &PRIMARY_TABLE_ADDR);
    put(VOLTAGES_OFFSET, &VCC_MIN_MAX);
    put(TIMEOUTS_OFFSET, &TYPICAL_TIMEOUTS);
    put(MAX_TIMEOUTS_OFFSET, &MAX_TIMEOUTS);
    // QEMU 7.2.22: ctz32 of the (truncated) size, not log2, so a
    // non-power-of-two size gives a misleading value.
    put(
        DEVICE_SIZE_OFFSET,
        &[(device_len as u32).trailing_zeros() as u8],
    );
    put(INTERFACE_OFFSET, &INTERFACE_X8_X16.to_le_bytes());
    let buffer_log2 = if config.bank_width == 1 {
        WRITE_BUFFER_LOG2_X8
    } else {
        WRITE_BUFFER_LOG2
    };
    put(MAX_WRITE_BUFFER_OFFSET, &[buffer_log2]);
    put(REGION_COUNT_OFFSET, &[ERASE_REGIONS]);
    let blocks_m1 = blocks_per_device.wrapping_sub(1);
    put(
        REGIONS_OFFSET,
        &[
            blocks_m1 as u8,
            (blocks_m1 >> 8) as u8,
            (sector_len_per_device >> 8) as u8,
            (sector_len_per_device >> 16) as u8,
        ],
    );
    put(PRI_AT, &PRI);
    put(PROTECTION_FIELDS_AT, &[PROTECTION_FIELDS]);

    let mut writeblock_size = 1u32 << buffer_log2;
    if !config.old_multiple_chip_handling && num_devices > 1 {
        writeblock_size *= num_devices;
    }
    (t, writeblock_size)
}
