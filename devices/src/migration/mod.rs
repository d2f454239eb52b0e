//! Migration: state descriptions, a QEMU-style stream (format version 3),
//! versioned machine types with compat properties, and the static checker.
//!
//! The wire format is documented in `docs/MIGRATION-STREAM.md`; QEMU's rules
//! are in shared/spec/migration.md. The layers:
//! - [`wire`]: big-endian writer and bounds-checked reader;
//! - [`vmstate`]: descriptions and the generic encoder/decoder they drive;
//! - [`stream`]: a machine-level stream with transactional loading;
//! - [`check`]: `-dump-vmstate` JSON and QEMU's static checker rules;
//! - [`compat`]: machine types and their compat properties.
//!
//! Devices take part through the migration methods of
//! [`crate::FlashDevice`]: they declare the sections they register
//! ([`VmStateEntry`]), produce wire copies of their state ([`SavedSection`])
//! and load sections back.

pub mod check;
pub mod compat;
pub mod error;
pub mod foreign;
pub mod stream;
#[cfg(test)]
pub(crate) mod testdev;
pub mod vmstate;
pub mod wire;

pub use error::{LoadError, LoadErrorKind, LoadFailure};
pub use stream::{Capability, LoadReport, Machine, MachineBuilder};
pub use vmstate::{
    FieldDesc, FieldKind, FieldValue, Hooks, SectionValue, SubsectionDesc, VmStateDescription,
};

/// Whether a registration is saved, or only accepted when loading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryRole {
    /// The device saves this section, and loads it.
    Emit,
    /// A loader registered under another (legacy) id string: it accepts
    /// sections of that name and layout but the device never emits them
    /// under the current machine type.
    LoadOnly,
}

/// One section a device registers with the migration core
/// (QEMU's `vmstate_register`). The id string is the description's name:
/// sysbus flash devices have no qdev path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmStateEntry {
    pub vmsd: VmStateDescription,
    pub role: EntryRole,
}

impl VmStateEntry {
    /// A section the device saves and loads.
    pub fn emit(vmsd: VmStateDescription) -> VmStateEntry {
        VmStateEntry {
            vmsd,
            role: EntryRole::Emit,
        }
    }

    /// A section the device only accepts on load.
    pub fn load_only(vmsd: VmStateDescription) -> VmStateEntry {
        VmStateEntry {
            vmsd,
            role: EntryRole::LoadOnly,
        }
    }

    /// The section id string.
    pub fn idstr(&self) -> &'static str {
        self.vmsd.name
    }
}

/// The wire copy of one section a device saves: its id string, the version
/// written in the section header, and the values (after `pre_save`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SavedSection {
    pub idstr: &'static str,
    pub version: u32,
    pub value: SectionValue,
}
