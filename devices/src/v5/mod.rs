//! Release v5: the legacy devices, faithful to QEMU 7.2.22 read for read,
//! quirks and migration behaviour included. This is the baseline; its bugs
//! are facts the harness must find, not fix.

pub mod cfi01;
pub mod cfi02;
