//! Migration of the v5 `cfi.pflash01`, exactly as QEMU 7.2.22 does it
//! (spec pflash-cfi01.md §15): section `pflash_cfi01` version 1 with four
//! fields, the `pflash_cfi01_blk_write` subsection while a buffered write is
//! open, and a `post_load` that restores nothing but schedules the
//! whole-image write-back. ROMD is neither sent nor restored (the known bug).

use super::commands::NO_BLOCK_OPEN;
use super::{PflashCfi01, VMSTATE_NAME};
use crate::storage::Storage;
use crate::vmstate::{
    FieldDesc, FieldKind, FieldValue, Hooks, SavedSection, SectionValue, SubsectionDesc,
    VmStateDescription, VmStateEntry,
};

/// Version of the `pflash_cfi01` section (spec §15.1).
pub const VMSTATE_VERSION: u32 = 1;
/// Minimum version of the `pflash_cfi01` section.
pub const VMSTATE_MINIMUM_VERSION: u32 = 1;
/// The subsection carrying an open buffered write (spec §15.2).
pub const BLK_WRITE_SUBSECTION: &str = "pflash_cfi01_blk_write";
/// Version of the subsection.
pub const BLK_WRITE_VERSION: u32 = 1;

/// Field names, in wire order (spec §15.2).
pub const FIELD_WCYCLE: &str = "wcycle";
pub const FIELD_CMD: &str = "cmd";
pub const FIELD_STATUS: &str = "status";
pub const FIELD_COUNTER: &str = "counter";
pub const FIELD_BLK_BYTES: &str = "blk_bytes";
pub const FIELD_BLK_OFFSET: &str = "blk_offset";

/// The `pflash_cfi01` description of a device whose write block is
/// `writeblock_size` bytes (the subsection's buffer length is not on the
/// wire: each side uses its own). Shared with v6's legacy loader and its
/// `nor-5.0` emitter, which must match it byte for byte.
pub fn vmstate_description(writeblock_size: usize) -> VmStateDescription {
    VmStateDescription {
        name: VMSTATE_NAME,
        version_id: VMSTATE_VERSION,
        minimum_version_id: VMSTATE_MINIMUM_VERSION,
        fields: vec![
            FieldDesc::new(FIELD_WCYCLE, FieldKind::U8),
            FieldDesc::new(FIELD_CMD, FieldKind::U8),
            FieldDesc::new(FIELD_STATUS, FieldKind::U8),
            FieldDesc::new(FIELD_COUNTER, FieldKind::U64),
        ],
        subsections: vec![SubsectionDesc {
            vmsd: VmStateDescription {
                name: BLK_WRITE_SUBSECTION,
                version_id: BLK_WRITE_VERSION,
                minimum_version_id: BLK_WRITE_VERSION,
                fields: vec![
                    FieldDesc::new(
                        FIELD_BLK_BYTES,
                        FieldKind::VBuffer {
                            len: writeblock_size,
                        },
                    ),
                    FieldDesc::new(FIELD_BLK_OFFSET, FieldKind::U32),
                ],
                subsections: vec![],
                hooks: Hooks::NONE,
            },
            needed: "blk_offset != 0xFFFFFFFF (a buffered write is open: wcycle 2 or 3)",
        }],
        hooks: Hooks {
            post_load: true,
            ..Hooks::NONE
        },
    }
}

/// The wire values of a `pflash_cfi01` section: the four fields, plus the
/// subsection when `blk` (buffer, offset) is given.
pub fn section_value(
    wcycle: u8,
    cmd: u8,
    status: u8,
    counter: u64,
    blk: Option<(&[u8], u32)>,
) -> SectionValue {
    let mut value = SectionValue::new()
        .with(FIELD_WCYCLE, FieldValue::U8(wcycle))
        .with(FIELD_CMD, FieldValue::U8(cmd))
        .with(FIELD_STATUS, FieldValue::U8(status))
        .with(FIELD_COUNTER, FieldValue::U64(counter));
    if let Some((bytes, offset)) = blk {
        value = value.with_sub(
            BLK_WRITE_SUBSECTION,
            BLK_WRITE_VERSION,
            SectionValue::new()
                .with(FIELD_BLK_BYTES, FieldValue::Bytes(bytes.to_vec()))
                .with(FIELD_BLK_OFFSET, FieldValue::U32(offset)),
        );
    }
    value
}

impl PflashCfi01 {
    /// The registration: `pflash_cfi01`, emitted and loaded.
    pub(super) fn migration_entries(&self) -> Vec<VmStateEntry> {
        vec![VmStateEntry::emit(vmstate_description(
            self.writeblock_size as usize,
        ))]
    }

    /// The section as QEMU 7.2.22 writes it (no pre_save).
    pub(super) fn migration_save(&self) -> Vec<SavedSection> {
        let open = self.blk_offset != NO_BLOCK_OPEN;
        vec![SavedSection {
            idstr: VMSTATE_NAME,
            version: VMSTATE_VERSION,
            value: section_value(
                self.wcycle,
                self.cmd,
                self.status,
                self.counter,
                open.then_some((self.blk_bytes.as_slice(), self.blk_offset)),
            ),
        }]
    }

    /// The fields overwrite the live state; an absent subsection leaves
    /// `blk_offset`/`blk_bytes` as they are (there is no pre_load). The
    /// post_load does not touch ROMD or validate anything; it only schedules
    /// the whole-image write-back for the next run-state change (§15.3).
    pub(super) fn migration_load(
        &mut self,
        idstr: &str,
        value: &SectionValue,
    ) -> Result<(), String> {
        if idstr != VMSTATE_NAME {
            return Err(format!(
                "{} registers no section '{idstr}'",
                super::TYPE_NAME
            ));
        }
        if let Some(v) = value.u8(FIELD_WCYCLE) {
            self.wcycle = v;
        }
        if let Some(v) = value.u8(FIELD_CMD) {
            self.cmd = v;
        }
        if let Some(v) = value.u8(FIELD_STATUS) {
            self.status = v;
        }
        if let Some(v) = value.u64(FIELD_COUNTER) {
            self.counter = v;
        }
        if let Some((_, sub)) = value.sub(BLK_WRITE_SUBSECTION) {
            if let Some(bytes) = sub.bytes(FIELD_BLK_BYTES) {
                let n = bytes.len().min(self.blk_bytes.len());
                self.blk_bytes[..n].copy_from_slice(&bytes[..n]);
            }
            if let Some(offset) = sub.u32(FIELD_BLK_OFFSET) {
                self.blk_offset = offset;
            }
        }
        // post_load: the run-state-change handler is registered only for a
        // writable flash (without a drive the write-back is a no-op anyway).
        if !self.ro {
            self.writeback_pending = true;
        }
        Ok(())
    }

    /// The incoming RAM block replaces the array (loaded before the section).
    pub(super) fn migration_load_ram(&mut self, array: Storage) {
        debug_assert_eq!(array.len(), self.array.len());
        self.array = array;
    }

    /// The deferred post_load handler: write the whole array back to the drive.
    pub(super) fn migration_post_incoming(&mut self) {
        if std::mem::take(&mut self.writeback_pending) {
            self.update(0, self.config.total_len());
        }
    }
}
