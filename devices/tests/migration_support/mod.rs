//! Helpers shared by the migration integration tests.
#![allow(dead_code)]

use devices::catalogue::compat::{self, RELEASES};
use devices::clock::Nanos;
use devices::migration::{Machine, MachineBuilder};
use devices::{bus_read, bus_write, BlockBackend, DeviceSpec, DeviceState, FlashDevice, Storage};
use std::sync::Arc;

/// arm virt flash0: two x16 chips on a 32-bit bus, 64 MiB, write block 4096.
pub const VIRT_FLASH0: &str = "cfi.pflash01,name=virt.flash0,num-blocks=256,\
    sector-length=0x40000,width=4,device-width=2,id0=0x89,id1=0x18";
/// A small cfi01 in the same geometry family (x16 chips on a 32-bit bus).
pub const SMALL_CFI01: &str = "cfi.pflash01,name=small.flash0,num-blocks=4,\
    sector-length=0x40000,width=4,device-width=2,id0=0x89,id1=0x18";
/// A second small cfi01 (legacy device-width 0 mode, write block 2048).
pub const SMALL_CFI01_LEGACY: &str = "cfi.pflash01,name=small.flash1,num-blocks=8,\
    sector-length=0x20000,width=4,id0=0x89,id1=0x18";
/// A small musicpal-like cfi02 mirrored twice.
pub const SMALL_CFI02: &str = "cfi.pflash02,name=small.flash2,num-blocks=16,\
    sector-length=0x10000,width=2,mappings=2,id0=0xBF,id1=0x236D,\
    unlock-addr0=0x5555,unlock-addr1=0x2AAA";

/// Parses a device spec.
pub fn spec(s: &str) -> DeviceSpec {
    DeviceSpec::parse(s).expect("test spec parses")
}

/// `s` as the same device of another type (a v5 spec's v6 counterpart).
pub fn with_type(s: &DeviceSpec, ty: &str) -> DeviceSpec {
    s.with_type(ty)
}

/// A device on a writable in-memory image filled with `fill`.
pub fn device(s: &DeviceSpec, fill: u8) -> Box<dyn FlashDevice> {
    let len = devices::image_size(s).expect("valid spec");
    devices::create(s, BlockBackend::memory(len, fill, true)).expect("device realizes")
}

/// A fresh destination device for `src`: `s` realized on the same drive.
pub fn fresh_for(s: &DeviceSpec, src: &dyn FlashDevice) -> Box<dyn FlashDevice> {
    devices::create(s, src.backend().clone()).expect("destination realizes")
}

pub fn w(d: &mut dyn FlashDevice, addr: u64, width: u32, val: u64) {
    bus_write(d, addr, width, val);
}

pub fn r(d: &mut dyn FlashDevice, addr: u64, width: u32) -> u64 {
    bus_read(d, addr, width)
}

/// One device's part of a [`Snapshot`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceSnapshot {
    pub state: DeviceState,
    pub array: Storage,
    pub image: Option<Storage>,
    pub now: Nanos,
    pub deadline: Option<Nanos>,
}

/// Everything a failed load must leave alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub machine_type: String,
    pub devices: Vec<DeviceSnapshot>,
}

pub fn snapshot(m: &Machine) -> Snapshot {
    Snapshot {
        machine_type: m.machine_type.clone(),
        devices: m
            .devices
            .iter()
            .map(|d| DeviceSnapshot {
                state: d.state(),
                array: d.array().clone(),
                image: d.backend().image().cloned(),
                now: d.now(),
                deadline: d.next_deadline(),
            })
            .collect(),
    }
}

/// Builds the devices of a release for one of its machine types from base
/// specs (compat properties stripped), on the drives of `drives`.
pub struct SpecBuilder {
    pub specs: Vec<DeviceSpec>,
    pub drives: Vec<BlockBackend>,
}

impl MachineBuilder for SpecBuilder {
    fn build(&self, machine_type: &str) -> Result<Vec<Box<dyn FlashDevice>>, String> {
        self.specs
            .iter()
            .zip(&self.drives)
            .map(|(s, b)| {
                devices::create(&compat::spec_for_machine_type(s, machine_type), b.clone())
                    .map_err(|e| e.to_string())
            })
            .collect()
    }
}

/// A fresh destination machine of the release that ships `specs`' types,
/// started with `machine_type` and offering every machine type of that
/// release, on the drives of `drives`.
pub fn destination(specs: &[DeviceSpec], drives: &[BlockBackend], machine_type: &str) -> Machine {
    let release = compat::release_of(&specs[0].type_name).expect("known release");
    let builder = SpecBuilder {
        specs: specs.to_vec(),
        drives: drives.to_vec(),
    };
    let devices = builder.build(machine_type).expect("destination realizes");
    Machine::new(machine_type, devices).with_builder(
        release
            .machine_types
            .iter()
            .map(|s| s.to_string())
            .collect(),
        Arc::new(builder),
    )
}

/// The drives of a machine's devices (shared, as with shared storage).
pub fn drives(m: &Machine) -> Vec<BlockBackend> {
    m.devices.iter().map(|d| d.backend().clone()).collect()
}

/// All releases' machine types, for sanity.
pub fn all_machine_types() -> Vec<&'static str> {
    RELEASES
        .iter()
        .flat_map(|r| r.machine_types.iter().copied())
        .collect()
}
