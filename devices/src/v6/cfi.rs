//! `common-flash-memory-interface` (interface): the CFI query table.
//!
//! A command set supplies its identification data (primary command set,
//! voltages, timeouts, write-buffer size, primary extended table); the flash
//! supplies its per-chip geometry. [`assemble_table`] lays them out as the CFI
//! standard (JEDEC JESD68) does ([`crate::command_set::query`]),
//! byte-identical to QEMU 7.2.22's hand-written tables (pflash-cfi01.md §11,
//! pflash-cfi02.md §12).

use super::nor_flash::{EraseRegion, MAX_ERASE_REGIONS};
use crate::command_set::query::{
    ALTERNATE_COMMAND_SET_OFFSET, ALTERNATE_TABLE_ADDRESS_OFFSET, DEVICE_SIZE_OFFSET,
    INTERFACE_OFFSET, MAX_WRITE_BUFFER_OFFSET, PRIMARY_COMMAND_SET_OFFSET,
    PRIMARY_TABLE_ADDRESS_OFFSET, QRY, QRY_OFFSET, REGIONS_OFFSET, REGION_COUNT_OFFSET,
    REGION_DESCRIPTOR_LEN, TIMEOUTS_OFFSET, VOLTAGES_OFFSET,
};

/// QOM-style name of the interface.
pub const TYPE_NAME: &str = "common-flash-memory-interface";

/// The eight CFI timeout bytes, in table order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Typical single word program, 2^n µs.
    pub typical_word_program: u8,
    /// Typical buffer write, 2^n µs (0: not supported).
    pub typical_buffer_write: u8,
    /// Typical block erase, 2^n ms.
    pub typical_block_erase: u8,
    /// Typical chip erase, 2^n ms (0: not supported).
    pub typical_chip_erase: u8,
    /// Maximum word program, 2^n times typical.
    pub max_word_program: u8,
    /// Maximum buffer write, 2^n times typical.
    pub max_buffer_write: u8,
    /// Maximum block erase, 2^n times typical.
    pub max_block_erase: u8,
    /// Maximum chip erase, 2^n times typical.
    pub max_chip_erase: u8,
}

impl Timeouts {
    fn bytes(&self) -> [u8; 8] {
        [
            self.typical_word_program,
            self.typical_buffer_write,
            self.typical_block_erase,
            self.typical_chip_erase,
            self.max_word_program,
            self.max_buffer_write,
            self.max_block_erase,
            self.max_chip_erase,
        ]
    }
}

/// What a command set contributes to the CFI table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandSetData {
    /// Length of the table the device answers from; indices past it read 0.
    pub table_len: usize,
    /// Primary vendor command set (1 = Intel/Sharp, 2 = AMD/Fujitsu).
    pub primary_command_set: u16,
    /// Where the primary extended query table starts.
    pub primary_table_address: u16,
    /// Vcc min, Vcc max, Vpp min, Vpp max (BCD volts).
    pub voltages: [u8; 4],
    pub timeouts: Timeouts,
    /// Device interface code.
    pub interface: u16,
    /// Maximum bytes of a multi-byte write, 2^n (0: none).
    pub max_write_buffer_log2: u16,
    /// The primary extended query table ("PRI", version, features), placed at
    /// `primary_table_address`.
    pub primary_table: Vec<u8>,
}

/// What the flash contributes to the CFI table: one chip's view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChipGeometry {
    /// Bytes of one chip (the table stores its count of trailing zeros, as QEMU
    /// does with `ctz32`, which equals log2 only for powers of two).
    pub chip_size: u64,
    /// Erase-block regions of one chip (1 to 4).
    pub regions: Vec<EraseRegion>,
}

/// A device type that answers CFI queries.
pub trait CommonFlashMemoryInterface {
    /// The command set's identification data.
    fn command_set_data(&self) -> CommandSetData;
    /// One chip's geometry as the table reports it.
    fn chip_geometry(&self) -> ChipGeometry;
    /// The assembled table the device answers from.
    fn cfi_table(&self) -> &[u8];
}

/// Lays out a CFI query table from command-set data and chip geometry.
pub fn assemble_table(cs: &CommandSetData, chip: &ChipGeometry) -> Vec<u8> {
    assert!(chip.regions.len() <= MAX_ERASE_REGIONS);
    let mut t = vec![0u8; cs.table_len];
    let put16 = |t: &mut [u8], at: usize, v: u16| t[at..at + 2].copy_from_slice(&v.to_le_bytes());
    t[QRY_OFFSET..QRY_OFFSET + 3].copy_from_slice(&QRY);
    put16(&mut t, PRIMARY_COMMAND_SET_OFFSET, cs.primary_command_set);
    put16(
        &mut t,
        PRIMARY_TABLE_ADDRESS_OFFSET,
        cs.primary_table_address,
    );
    put16(&mut t, ALTERNATE_COMMAND_SET_OFFSET, 0);
    put16(&mut t, ALTERNATE_TABLE_ADDRESS_OFFSET, 0);
    t[VOLTAGES_OFFSET..VOLTAGES_OFFSET + 4].copy_from_slice(&cs.voltages);
    t[TIMEOUTS_OFFSET..TIMEOUTS_OFFSET + 8].copy_from_slice(&cs.timeouts.bytes());
    t[DEVICE_SIZE_OFFSET] = (chip.chip_size as u32).trailing_zeros() as u8;
    put16(&mut t, INTERFACE_OFFSET, cs.interface);
    put16(&mut t, MAX_WRITE_BUFFER_OFFSET, cs.max_write_buffer_log2);
    t[REGION_COUNT_OFFSET] = chip.regions.len() as u8;
    for (i, r) in chip.regions.iter().enumerate() {
        let at = REGIONS_OFFSET + REGION_DESCRIPTOR_LEN * i;
        let blocks_minus_one = r.blocks.wrapping_sub(1);
        t[at] = blocks_minus_one as u8;
        t[at + 1] = (blocks_minus_one >> 8) as u8;
        t[at + 2] = (r.sector_len >> 8) as u8;
        t[at + 3] = (r.sector_len >> 16) as u8;
    }
    let pri = cs.primary_table_address as usize;
    assert!(REGIONS_OFFSET + REGION_DESCRIPTOR_LEN * chip.regions.len() <= pri);
    t[pri..pri + cs.primary_table.len()].copy_from_slice(&cs.primary_table);
    t
}

/// Entry `index` of a query table; indices past its end read 0.
pub fn table_entry(table: &[u8], index: u64) -> u8 {
    usize::try_from(index)
        .ok()
        .and_then(|i| table.get(i))
        .copied()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_past_the_table_read_zero() {
        let t = [1u8, 2, 3];
        assert_eq!(table_entry(&t, 2), 3);
        assert_eq!(table_entry(&t, 3), 0);
        assert_eq!(table_entry(&t, u64::MAX), 0);
    }
}
