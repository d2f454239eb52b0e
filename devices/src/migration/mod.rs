//! Migration between machines: a QEMU-style stream (format version 3), the
//! flash sections of QEMU's own whole-VM streams, and the static checker.
//!
//! The wire format is documented in `docs/MIGRATION-STREAM.md`; QEMU's rules
//! are in shared/spec/migration.md. The layers:
//! - [`stream`]: a machine-level stream with transactional loading;
//! - [`foreign`]: the flash sections of streams written by real QEMU;
//! - [`check`]: `-dump-vmstate` JSON and QEMU's static checker rules.
//!
//! What the streams carry (state descriptions, section values, the wire
//! primitives and the load errors) is [`crate::vmstate`], below the devices;
//! machine types and their compat properties are in [`crate::catalogue::compat`].
//! Devices take part through the migration methods of [`crate::FlashDevice`].

pub mod check;
pub mod foreign;
pub mod stream;
#[cfg(test)]
pub(crate) mod testdev;

pub use crate::vmstate::{LoadError, LoadErrorKind, LoadFailure};
pub use stream::{Capability, LoadReport, Machine, MachineBuilder};
