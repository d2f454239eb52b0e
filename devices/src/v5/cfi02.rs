//! v5 `cfi.pflash02`: QEMU 7.2.22's AMD/Fujitsu parallel NOR flash
//! (spec: shared/spec/pflash-cfi02.md). STUB: to be implemented.

use crate::backend::BlockBackend;
use crate::device::DeviceError;
use serde::{Deserialize, Serialize};

/// QOM type name.
pub const TYPE_NAME: &str = "cfi.pflash02";

/// Canonical state of a v5 cfi02 (QEMU's raw encodings: Read Array is `cmd == 0x00`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub wcycle: u8,
    pub cmd: u8,
    pub status: u8,
    pub counter: u64,
    pub romd: bool,
}

/// The device.
#[derive(Clone, Debug)]
pub struct PflashCfi02 {}

impl PflashCfi02 {
    /// Realizes a device from its properties.
    pub fn new(
        _props: &[(String, String)],
        _backend: BlockBackend,
    ) -> Result<PflashCfi02, DeviceError> {
        todo!("v5 cfi02")
    }
}

impl crate::device::FlashDevice for PflashCfi02 {
    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }
    fn window_size(&self) -> u64 {
        todo!()
    }
    fn romd(&self) -> bool {
        todo!()
    }
    fn rom_read(&self, _addr: u64, _size: usize) -> u64 {
        todo!()
    }
    fn io_read(&mut self, _addr: u64, _size: u32) -> u64 {
        todo!()
    }
    fn io_write(&mut self, _addr: u64, _size: u32, _value: u64) {
        todo!()
    }
    fn now(&self) -> crate::clock::Nanos {
        todo!()
    }
    fn next_deadline(&self) -> Option<crate::clock::Nanos> {
        todo!()
    }
    fn advance(&mut self, _ns: crate::clock::Nanos) {
        todo!()
    }
    fn reset(&mut self) {
        todo!()
    }
    fn array(&self) -> &crate::storage::Storage {
        todo!()
    }
    fn backend(&self) -> &BlockBackend {
        todo!()
    }
    fn ram_block_name(&self) -> &str {
        todo!()
    }
    fn state(&self) -> crate::device::DeviceState {
        todo!()
    }
    fn fork(&self) -> Box<dyn crate::device::FlashDevice> {
        Box::new(self.clone())
    }
    fn migrated(&self) -> Box<dyn crate::device::FlashDevice> {
        todo!()
    }
    fn vmstate_entries(&self) -> Vec<crate::migration::VmStateEntry> {
        todo!()
    }
    fn save_vmstate(&self) -> Vec<crate::migration::SavedSection> {
        todo!()
    }
    fn load_vmstate(
        &mut self,
        _idstr: &str,
        _version: u32,
        _value: &crate::migration::SectionValue,
    ) -> Result<(), String> {
        todo!()
    }
    fn load_ram_block(&mut self, _array: crate::storage::Storage) {
        todo!()
    }
    fn post_incoming(&mut self) {
        todo!()
    }
}
