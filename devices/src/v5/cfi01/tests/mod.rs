//! Unit tests of the v5 cfi01 model, grouped by spec section. Expected values
//! come from shared/spec/pflash-cfi01.md; "(measured)" ones were taken from
//! real QEMU 7.2.22.

mod buffer;
mod cfi_table;
mod commands;
mod device;
mod queries;
mod quirks;
mod status;

use super::{PflashCfi01, State};
use crate::backend::BlockBackend;
use crate::device::{bus_read, bus_write, FlashDevice};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

/// Property list from string pairs.
fn props(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Realizes a device on an erased, writable in-memory image of the right size.
fn erased(list: &[(&str, &str)]) -> PflashCfi01 {
    let p = props(list);
    let len = PflashCfi01::new(&p, BlockBackend::none())
        .expect("valid test configuration")
        .window_size();
    PflashCfi01::new(&p, BlockBackend::memory(len, 0xFF, true)).expect("valid test configuration")
}

/// Same, on a read-only image.
fn erased_ro(list: &[(&str, &str)]) -> PflashCfi01 {
    let p = props(list);
    let len = PflashCfi01::new(&p, BlockBackend::none())
        .expect("valid test configuration")
        .window_size();
    PflashCfi01::new(&p, BlockBackend::memory(len, 0xFF, false)).expect("valid test configuration")
}

/// arm virt / vexpress flash0: 256 × 256 KiB, width 4, device-width 2, ids 0x89 0x18.
const VIRT: &[(&str, &str)] = &[
    ("num-blocks", "256"),
    ("sector-length", "0x40000"),
    ("width", "4"),
    ("device-width", "2"),
    ("id0", "0x89"),
    ("id1", "0x18"),
    ("name", "virt.flash0"),
];

/// x86 pc/q35 flash0 with a 1 MiB image: width 1, legacy, 4 KiB sectors.
const X86: &[(&str, &str)] = &[
    ("num-blocks", "256"),
    ("sector-length", "4096"),
    ("width", "1"),
    ("name", "system.flash0"),
];

/// versatilepb: 256 × 256 KiB, width 4, legacy, ids 0x89 0x18.
const VERSATILE: &[(&str, &str)] = &[
    ("num-blocks", "256"),
    ("sector-length", "0x40000"),
    ("width", "4"),
    ("id0", "0x89"),
    ("id1", "0x18"),
    ("name", "versatile.flash"),
];

/// connex: 128 × 128 KiB, width 2, legacy.
const CONNEX: &[(&str, &str)] = &[
    ("num-blocks", "128"),
    ("sector-length", "0x20000"),
    ("width", "2"),
    ("name", "connext.rom"),
];

/// A 32-bit bank of x16 chips in x8 mode (width 4, device-width 1, max-device-width 2).
const X8_MODE: &[(&str, &str)] = &[
    ("num-blocks", "256"),
    ("sector-length", "0x40000"),
    ("width", "4"),
    ("device-width", "1"),
    ("max-device-width", "2"),
    ("name", "versatile.flash"),
];

fn virt() -> PflashCfi01 {
    erased(VIRT)
}

/// `with` plus extra properties (later entries must not repeat names).
fn with(
    base: &[(&'static str, &'static str)],
    extra: &[(&'static str, &'static str)],
) -> Vec<(&'static str, &'static str)> {
    base.iter()
        .filter(|(k, _)| !extra.iter().any(|(e, _)| e == k))
        .chain(extra)
        .copied()
        .collect()
}

/// qtest `read{b,w,l,q}`: a guest read through the memory core.
fn rd(dev: &mut PflashCfi01, addr: u64, width: u32) -> u64 {
    bus_read(dev, addr, width)
}

/// qtest `write{b,w,l,q}`.
fn wr(dev: &mut PflashCfi01, addr: u64, width: u32, value: u64) {
    bus_write(dev, addr, width, value)
}

/// Raw array bytes.
fn array_le(dev: &PflashCfi01, addr: u64, width: usize) -> u64 {
    dev.array().read_le(addr, width)
}

/// The backing image's bytes.
fn image_le(dev: &PflashCfi01, addr: u64, width: usize) -> u64 {
    dev.backend()
        .image()
        .expect("drive attached")
        .read_le(addr, width)
}

/// Canonical state shortcut.
fn st(dev: &PflashCfi01) -> State {
    dev.state()
}
