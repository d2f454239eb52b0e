//! Migration of `parallel-nor-cfi01-flash`.
//!
//! - Machine type `nor-6.0` (compat property `x-legacy-migration` off): the
//!   section `parallel-nor-cfi01-flash` carries the complete canonical state
//!   (Read Array as the CFI command 0xFF, ROMD included), with the open
//!   write buffer in the subsection `parallel-nor-cfi01-flash/write-buffer`.
//! - Both machine types also accept v5's `pflash_cfi01` (forward migration):
//!   `post_load` translates Read Array 0x00 → 0xFF and derives ROMD as
//!   `cmd == Read Array && wcycle == 0`, the restore QEMU 7.2.22 lacks.
//! - Machine type `nor-5.0` (`x-legacy-migration=on`): emits exactly v5's
//!   `pflash_cfi01` (backward migration). `pre_save` writes Read Array as
//!   0x00 on the wire copy; `post_save` would restore 0xFF on the source,
//!   which saving from a copy never changed.

use super::{IntelCommand, ParallelNorCfi01Flash, WriteBuffer, TYPE_NAME};
use crate::v5::cfi01::commands::{CMD_READ_ARRAY_QEMU, NO_BLOCK_OPEN};
use crate::v5::cfi01::migration as v5;
use crate::v5::cfi01::VMSTATE_NAME as LEGACY_VMSTATE_NAME;
use crate::vmstate::{
    FieldDesc, FieldKind, FieldValue, Hooks, SavedSection, SectionValue, SubsectionDesc,
    VmStateDescription, VmStateEntry,
};

/// Id string of the v6 section: the QOM type name.
pub const VMSTATE_NAME: &str = TYPE_NAME;
/// Version of the v6 section.
pub const VMSTATE_VERSION: u32 = 1;
/// The subsection carrying an open write buffer.
pub const WRITE_BUFFER_SUBSECTION: &str = "parallel-nor-cfi01-flash/write-buffer";
/// Version of the write-buffer subsection.
pub const WRITE_BUFFER_VERSION: u32 = 1;

/// Field names of the v6 section, in wire order.
pub const FIELD_WCYCLE: &str = "wcycle";
pub const FIELD_CMD: &str = "cmd";
pub const FIELD_STATUS: &str = "status";
pub const FIELD_COUNTER: &str = "counter";
pub const FIELD_ROMD: &str = "romd";
pub const FIELD_BUFFER_OFFSET: &str = "offset";
pub const FIELD_BUFFER_BYTES: &str = "bytes";

/// The v6 section of a device with a write buffer of `writeblock_size` bytes.
pub fn vmstate_description(writeblock_size: usize) -> VmStateDescription {
    VmStateDescription {
        name: VMSTATE_NAME,
        version_id: VMSTATE_VERSION,
        minimum_version_id: VMSTATE_VERSION,
        fields: vec![
            FieldDesc::new(FIELD_WCYCLE, FieldKind::U8),
            FieldDesc::new(FIELD_CMD, FieldKind::U8),
            FieldDesc::new(FIELD_STATUS, FieldKind::U8),
            FieldDesc::new(FIELD_COUNTER, FieldKind::U64),
            FieldDesc::new(FIELD_ROMD, FieldKind::Bool),
        ],
        subsections: vec![SubsectionDesc {
            vmsd: VmStateDescription {
                name: WRITE_BUFFER_SUBSECTION,
                version_id: WRITE_BUFFER_VERSION,
                minimum_version_id: WRITE_BUFFER_VERSION,
                fields: vec![
                    FieldDesc::new(FIELD_BUFFER_OFFSET, FieldKind::U32),
                    FieldDesc::new(
                        FIELD_BUFFER_BYTES,
                        FieldKind::VBuffer {
                            len: writeblock_size,
                        },
                    ),
                ],
                subsections: vec![],
                hooks: Hooks::NONE,
            },
            needed: "a write buffer is open (between the count cycle and the confirm)",
        }],
        hooks: Hooks {
            pre_load: true,
            post_load: true,
            ..Hooks::NONE
        },
    }
}

/// v5's `pflash_cfi01` as v6 registers it: the same layout, with the hooks
/// that translate Read Array (pre_save/post_save when emitting under
/// `nor-5.0`, post_load when loading).
pub fn legacy_description(writeblock_size: usize) -> VmStateDescription {
    VmStateDescription {
        hooks: Hooks {
            pre_save: true,
            post_save: true,
            pre_load: true,
            post_load: true,
        },
        ..v5::vmstate_description(writeblock_size)
    }
}

/// A wire `cmd` byte as a command: the v6 encoding (`legacy` false) or
/// v5's, where Read Array is 0x00 (`legacy` true).
fn decode_cmd(b: u8, legacy: bool) -> Result<IntelCommand, String> {
    if legacy && b == CMD_READ_ARRAY_QEMU {
        return Ok(IntelCommand::ReadArray);
    }
    IntelCommand::try_from(b).map_err(|e| format!("field 'cmd': {e}"))
}

impl ParallelNorCfi01Flash {
    fn writeblock_len(&self) -> usize {
        self.config.writeblock_size as usize
    }

    /// The registrations: the section this machine type emits, and the
    /// other layout as a loader.
    pub(super) fn migration_entries(&self) -> Vec<VmStateEntry> {
        let new = vmstate_description(self.writeblock_len());
        let legacy = legacy_description(self.writeblock_len());
        if self.config.legacy_migration {
            vec![VmStateEntry::emit(legacy), VmStateEntry::load_only(new)]
        } else {
            vec![VmStateEntry::emit(new), VmStateEntry::load_only(legacy)]
        }
    }

    /// The wire copy of the state.
    pub(super) fn migration_save(&self) -> Vec<SavedSection> {
        if self.config.legacy_migration {
            // pre_save on the copy: Read Array travels as QEMU's 0x00.
            let cmd = match self.cmd {
                IntelCommand::ReadArray => CMD_READ_ARRAY_QEMU,
                other => other as u8,
            };
            let blk = self
                .write_buffer
                .as_ref()
                .map(|b| (b.bytes.as_slice(), b.offset));
            return vec![SavedSection {
                idstr: LEGACY_VMSTATE_NAME,
                version: v5::VMSTATE_VERSION,
                value: v5::section_value(self.wcycle, cmd, self.status, self.counter, blk),
            }];
        }
        let mut value = SectionValue::new()
            .with(FIELD_WCYCLE, FieldValue::U8(self.wcycle))
            .with(FIELD_CMD, FieldValue::U8(self.cmd as u8))
            .with(FIELD_STATUS, FieldValue::U8(self.status))
            .with(FIELD_COUNTER, FieldValue::U64(self.counter))
            .with(FIELD_ROMD, FieldValue::Bool(self.bus.romd()));
        if let Some(buf) = &self.write_buffer {
            value = value.with_sub(
                WRITE_BUFFER_SUBSECTION,
                WRITE_BUFFER_VERSION,
                SectionValue::new()
                    .with(FIELD_BUFFER_OFFSET, FieldValue::U32(buf.offset))
                    .with(FIELD_BUFFER_BYTES, FieldValue::Bytes(buf.bytes.clone())),
            );
        }
        vec![SavedSection {
            idstr: VMSTATE_NAME,
            version: VMSTATE_VERSION,
            value,
        }]
    }

    /// Loads either layout. Values are checked before anything changes.
    pub(super) fn migration_load(
        &mut self,
        idstr: &str,
        value: &SectionValue,
    ) -> Result<(), String> {
        let legacy = match idstr {
            VMSTATE_NAME => false,
            LEGACY_VMSTATE_NAME => true,
            other => return Err(format!("{TYPE_NAME} registers no section '{other}'")),
        };
        let missing = |f: &str| format!("field '{f}' missing");
        let wcycle = value
            .u8(FIELD_WCYCLE)
            .ok_or_else(|| missing(FIELD_WCYCLE))?;
        let cmd = decode_cmd(
            value.u8(FIELD_CMD).ok_or_else(|| missing(FIELD_CMD))?,
            legacy,
        )?;
        let status = value
            .u8(FIELD_STATUS)
            .ok_or_else(|| missing(FIELD_STATUS))?;
        let counter = value
            .u64(FIELD_COUNTER)
            .ok_or_else(|| missing(FIELD_COUNTER))?;
        // pre_load: no write buffer unless the subsection brings one.
        let write_buffer = if legacy {
            value.sub(v5::BLK_WRITE_SUBSECTION).and_then(|(_, sub)| {
                let offset = sub.u32(v5::FIELD_BLK_OFFSET)?;
                let bytes = sub.bytes(v5::FIELD_BLK_BYTES)?;
                (offset != NO_BLOCK_OPEN).then(|| WriteBuffer {
                    offset,
                    bytes: bytes.to_vec(),
                })
            })
        } else {
            value.sub(WRITE_BUFFER_SUBSECTION).and_then(|(_, sub)| {
                Some(WriteBuffer {
                    offset: sub.u32(FIELD_BUFFER_OFFSET)?,
                    bytes: sub.bytes(FIELD_BUFFER_BYTES)?.to_vec(),
                })
            })
        };
        // post_load. v5's stream has no ROMD: derive it from the command
        // state, which v6 always keeps consistent with it.
        let romd = if legacy {
            super::romd_of(cmd, wcycle)
        } else {
            value.bool(FIELD_ROMD).ok_or_else(|| missing(FIELD_ROMD))?
        };
        self.wcycle = wcycle;
        self.cmd = cmd;
        self.status = status;
        self.counter = counter;
        self.write_buffer = write_buffer;
        self.bus.set_romd(romd);
        Ok(())
    }
}
