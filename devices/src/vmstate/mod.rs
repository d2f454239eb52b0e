//! What a device's migration state looks like and how it is put on the wire:
//! state descriptions, their values, the encoder and decoder they drive, the
//! big-endian wire primitives and the reasons a stream is refused.
//!
//! This is the layer below the devices: a device declares the sections it
//! registers ([`VmStateEntry`]), produces wire copies of its state
//! ([`SavedSection`]) and loads [`SectionValue`]s back through the migration
//! methods of [`crate::FlashDevice`]. The streams that carry those sections
//! between machines are in [`crate::migration`]. The wire format is
//! documented in `docs/MIGRATION-STREAM.md`; QEMU's rules are in
//! shared/spec/migration.md. The parts:
//! - [`wire`]: big-endian writer and bounds-checked reader;
//! - [`description`]: descriptions (QEMU's `VMStateDescription`) and values;
//! - [`codec`]: the generic encoder/decoder descriptions drive;
//! - [`error`]: why an incoming stream is refused.

pub mod codec;
pub mod description;
pub mod error;
pub mod wire;

pub use codec::{decode, encode, SectionCtx, QEMU_VM_SUBSECTION};
pub use description::{
    FieldDesc, FieldKind, FieldValue, Hooks, SectionValue, SubsectionDesc, VmStateDescription,
};
pub use error::{LoadError, LoadErrorKind, LoadFailure};

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
