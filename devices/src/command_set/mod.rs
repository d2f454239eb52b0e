//! The fixed numbers of the two CFI command sets the devices implement, each
//! defined once for both releases: [`intel`], the Intel/Sharp set of
//! `cfi.pflash01` (spec: shared/spec/pflash-cfi01.md); [`amd`], the
//! AMD/Fujitsu set of `cfi.pflash02` (spec: shared/spec/pflash-cfi02.md);
//! and [`query`], the layout of the CFI query table both answer with.
//! Command bytes, second-cycle bytes, status bits, command addresses, table
//! layout and lengths live here; what only QEMU's implementation uses (its
//! internal `cmd` and `wcycle` encodings, timings, masks) stays with v5, and
//! the contents of QEMU's tables stay with each device.

pub mod amd;
pub mod intel;
pub mod query;

/// Value every byte of an erased block or sector takes, in both command sets
/// (pflash-cfi01.md §7.1, pflash-cfi02.md §7.6).
pub const ERASED_BYTE: u8 = 0xFF;
