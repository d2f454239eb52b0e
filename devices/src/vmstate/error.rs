//! Why an incoming migration stream was refused.
//!
//! Each variant carries QEMU 7.2.22's message where QEMU has one
//! (shared/spec/migration.md §4) and the byte offset of the stream where the
//! problem was found, so a refusal can be matched against real QEMU logs and
//! located in a hex dump.

use std::fmt;

/// One reason a stream cannot be loaded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// The first four bytes are not `QEVM`.
    #[error("Not a migration stream (at byte {offset})")]
    NotAStream { offset: usize },
    /// Format version 2.
    #[error("SaveVM v2 format is obsolete and don't work anymore (at byte {offset})")]
    ObsoleteFormat { offset: usize },
    /// Any format version other than 2 and 3.
    #[error("Unsupported migration stream version (got {version}, at byte {offset})")]
    UnsupportedFormat { offset: usize, version: u32 },
    /// The configuration section (`0x07`) does not follow the header.
    #[error("Configuration section missing (found byte {found:#04x} at byte {offset})")]
    ConfigurationMissing { offset: usize, found: u8 },
    /// The stream's machine type is neither the local one nor one this release offers.
    #[error(
        "Machine type received is '{received}' and local is '{local}' \
         (this release offers: {offered}; at byte {offset})",
        offered = offered.join(", ")
    )]
    MachineType {
        offset: usize,
        received: String,
        local: String,
        offered: Vec<String>,
    },
    /// `configuration/target-page-bits` disagrees with the local page size.
    #[error("Received TARGET_PAGE_BITS is {received} but local is {local} (at byte {offset})")]
    TargetPageBits {
        offset: usize,
        received: u32,
        local: u32,
    },
    /// `configuration/capabilities` names a capability this loader does not
    /// know (QEMU 7.2 `get_capability`, migration/savevm.c).
    #[error("Received unknown capability {name} (at byte {offset})")]
    UnknownCapability { offset: usize, name: String },
    /// A validated capability is enabled on one side only (QEMU 7.2
    /// `configuration_validate_capabilities`, migration/savevm.c).
    #[error(
        "Capability {capability} is {local}, but received capability is {received} \
         (at byte {offset})",
        local = if *local { "on" } else { "off" },
        received = if *received { "on" } else { "off" }
    )]
    CapabilityMismatch {
        offset: usize,
        capability: String,
        local: bool,
        received: bool,
    },
    /// No local registration matches the section's id string and instance id.
    #[error(
        "Unknown savevm section or instance '{idstr}' {instance}. Make sure that your current \
         VM setup matches your saved VM setup, including any hotplugged devices (at byte {offset})"
    )]
    UnknownSection {
        offset: usize,
        idstr: String,
        instance: u32,
    },
    /// A section's version is newer than the local registration's `version_id`.
    #[error("savevm: unsupported version {version} for '{idstr}' v{local} (at byte {offset})")]
    UnsupportedVersion {
        offset: usize,
        idstr: String,
        version: u32,
        local: u32,
    },
    /// A (sub)section version newer than the local description's `version_id`.
    #[error(
        "{vmsd}: incoming version_id {version} is too new for local version_id {local} \
         (at byte {offset})"
    )]
    VersionTooNew {
        offset: usize,
        vmsd: String,
        version: u32,
        local: u32,
    },
    /// A (sub)section version older than the local `minimum_version_id`
    /// (QEMU's message has two spaces before the number).
    #[error(
        "{vmsd}: incoming version_id {version} is too old for local minimum version_id  \
         {minimum} (at byte {offset})"
    )]
    VersionTooOld {
        offset: usize,
        vmsd: String,
        version: u32,
        minimum: u32,
    },
    /// A subsection whose name has the parent's prefix but is not known locally (ENOENT).
    #[error(
        "error while loading state for instance {instance:#x} of device '{idstr}': unknown \
         subsection '{subsection}': No such file or directory (at byte {offset})"
    )]
    UnknownSubsection {
        offset: usize,
        idstr: String,
        instance: u32,
        subsection: String,
    },
    /// The byte after a section's data is not the footer marker `0x7E`.
    #[error("Missing section footer for {idstr} (at byte {offset})")]
    MissingFooter { offset: usize, idstr: String },
    /// The footer names another section id than the header.
    #[error(
        "Mismatched section id in footer for {idstr} - read {read:#x} expected {expected:#x} \
         (at byte {offset})"
    )]
    MismatchedFooter {
        offset: usize,
        idstr: String,
        read: u32,
        expected: u32,
    },
    /// The RAM setup announces a block the destination does not have.
    #[error("Unknown ramblock \"{name}\", cannot accept migration (at byte {offset})")]
    UnknownRamBlock { offset: usize, name: String },
    /// A RAM block's length differs from the destination's (blocks are not resizable).
    #[error("Size mismatch: {name}: {received:#x} != {local:#x} (at byte {offset})")]
    RamBlockSize {
        offset: usize,
        name: String,
        received: u64,
        local: u64,
    },
    /// With `x-ignore-shared`, a shared block's guest address differs
    /// (QEMU 7.2 `ram_load_precopy`, migration/ram.c).
    #[error("Mismatched GPAs for block {name} {received}!= {local} (at byte {offset})")]
    RamBlockAddress {
        offset: usize,
        name: String,
        received: i64,
        local: i64,
    },
    /// A page record names a block that is not known locally.
    #[error("Can't find block {name} (at byte {offset})")]
    RamPageBlock { offset: usize, name: String },
    /// A page record says "same block as before" but there was none.
    #[error("Ack, bad migration stream! (CONTINUE without a previous block, at byte {offset})")]
    RamNoBlock { offset: usize },
    /// A page lies beyond the end of its block.
    #[error("Illegal RAM offset {addr:x} (block '{block}', at byte {offset})")]
    IllegalRamOffset {
        offset: usize,
        block: String,
        addr: u64,
    },
    /// RAM page flags this loader does not implement (XBZRLE, compression, hooks, ...).
    #[error("Unknown combination of migration flags: {flags:#x} (at byte {offset})")]
    RamFlags { offset: usize, flags: u64 },
    /// A section type byte that is not defined.
    #[error("Unknown savevm section type {ty} (at byte {offset})")]
    UnknownSectionType { offset: usize, ty: u8 },
    /// A PART or END record for a section id that had no START.
    #[error("Unknown savevm section {section_id} (at byte {offset})")]
    UnknownSectionId { offset: usize, section_id: u32 },
    /// The stream ends in the middle of something.
    #[error("truncated stream at byte {offset} while reading {what}")]
    Truncated { offset: usize, what: String },
    /// Bytes that cannot be right whatever the destination looks like.
    #[error("corrupt stream at byte {offset}: {what}")]
    Corrupt { offset: usize, what: String },
    /// A device's load hook (`post_load`) refused the values it received.
    #[error(
        "error while loading state for instance {instance:#x} of device '{idstr}': {reason} \
         (at byte {offset})"
    )]
    LoadState {
        offset: usize,
        idstr: String,
        instance: u32,
        reason: String,
    },
}

/// Coarse classes of [`LoadError`], for expected-outcome tables and reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LoadErrorKind {
    /// Not a stream, or a format version this loader does not read.
    Format,
    /// Machine type or target page size not accepted.
    MachineType,
    /// A migration capability unknown here or not enabled on both sides.
    Capability,
    /// Unknown section id string or instance id.
    UnknownSection,
    /// A version too new or too old.
    Version,
    /// An unknown subsection.
    UnknownSubsection,
    /// Unknown or mis-sized RAM block.
    RamBlock,
    /// Truncated or corrupt bytes.
    Corrupt,
    /// A device refused the values.
    DeviceState,
}

impl LoadError {
    /// The stream offset the error refers to.
    pub fn offset(&self) -> usize {
        use LoadError::*;
        match self {
            NotAStream { offset }
            | ObsoleteFormat { offset }
            | UnsupportedFormat { offset, .. }
            | ConfigurationMissing { offset, .. }
            | MachineType { offset, .. }
            | TargetPageBits { offset, .. }
            | UnknownCapability { offset, .. }
            | CapabilityMismatch { offset, .. }
            | RamBlockAddress { offset, .. }
            | UnknownSection { offset, .. }
            | UnsupportedVersion { offset, .. }
            | VersionTooNew { offset, .. }
            | VersionTooOld { offset, .. }
            | UnknownSubsection { offset, .. }
            | MissingFooter { offset, .. }
            | MismatchedFooter { offset, .. }
            | UnknownRamBlock { offset, .. }
            | RamBlockSize { offset, .. }
            | RamPageBlock { offset, .. }
            | RamNoBlock { offset }
            | IllegalRamOffset { offset, .. }
            | RamFlags { offset, .. }
            | UnknownSectionType { offset, .. }
            | UnknownSectionId { offset, .. }
            | Truncated { offset, .. }
            | Corrupt { offset, .. }
            | LoadState { offset, .. } => *offset,
        }
    }

    /// The class of this error.
    pub fn kind(&self) -> LoadErrorKind {
        use LoadError::*;
        match self {
            NotAStream { .. }
            | ObsoleteFormat { .. }
            | UnsupportedFormat { .. }
            | ConfigurationMissing { .. } => LoadErrorKind::Format,
            MachineType { .. } | TargetPageBits { .. } => LoadErrorKind::MachineType,
            UnknownCapability { .. } | CapabilityMismatch { .. } => LoadErrorKind::Capability,
            UnknownSection { .. } => LoadErrorKind::UnknownSection,
            UnsupportedVersion { .. } | VersionTooNew { .. } | VersionTooOld { .. } => {
                LoadErrorKind::Version
            }
            UnknownSubsection { .. } => LoadErrorKind::UnknownSubsection,
            UnknownRamBlock { .. }
            | RamBlockSize { .. }
            | RamBlockAddress { .. }
            | RamPageBlock { .. } => LoadErrorKind::RamBlock,
            RamNoBlock { .. }
            | IllegalRamOffset { .. }
            | RamFlags { .. }
            | UnknownSectionType { .. }
            | UnknownSectionId { .. }
            | MissingFooter { .. }
            | MismatchedFooter { .. }
            | Truncated { .. }
            | Corrupt { .. } => LoadErrorKind::Corrupt,
            LoadState { .. } => LoadErrorKind::DeviceState,
        }
    }
}

/// A refused load: the error that stopped it, plus what else would have
/// failed (found by parsing on in dry-run where the stream allowed it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadFailure {
    /// The refusal, as QEMU would report it.
    pub error: LoadError,
    /// Further problems found after the refusal, in stream order.
    pub diagnostics: Vec<LoadError>,
}

impl From<LoadError> for LoadFailure {
    fn from(error: LoadError) -> LoadFailure {
        LoadFailure {
            error,
            diagnostics: Vec::new(),
        }
    }
}

impl LoadFailure {
    /// `(idstr, instance)` of every section found unknown, the refusal included.
    pub fn unknown_sections(&self) -> Vec<(String, u32)> {
        std::iter::once(&self.error)
            .chain(&self.diagnostics)
            .filter_map(|e| match e {
                LoadError::UnknownSection {
                    idstr, instance, ..
                } => Some((idstr.clone(), *instance)),
                _ => None,
            })
            .collect()
    }
}

impl fmt::Display for LoadFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.error)?;
        let unknown: Vec<String> = self
            .diagnostics
            .iter()
            .filter_map(|e| match e {
                LoadError::UnknownSection {
                    idstr, instance, ..
                } => Some(format!("{idstr} {instance}")),
                _ => None,
            })
            .collect();
        if !unknown.is_empty() {
            write!(f, "; sections unknown here: {}", unknown.join(", "))?;
        }
        for d in &self.diagnostics {
            if !matches!(d, LoadError::UnknownSection { .. }) {
                write!(f, "; also: {d}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for LoadFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}
