//! Migration of `parallel-nor-cfi02-flash`.
//!
//! v5's `cfi.pflash02` has no VMState at all, so there is no legacy layout:
//! - machine type `nor-6.0`: the section `parallel-nor-cfi02-flash` carries
//!   the command state, bypass, status with its toggle phase, ROMD and the
//!   lazy read counter; the subsection `parallel-nor-cfi02-flash/erase`
//!   carries the erase queue, a suspended erase's remaining time and the
//!   pending timer, and is sent only while any of them is in use;
//! - machine type `nor-5.0` (`x-legacy-migration=on`): nothing is emitted,
//!   exactly like v5 (an older destination would refuse an unknown section);
//! - a stream without this section (from v5) loads fine: the device keeps
//!   its power-on state and receives only its array, as v5 does.

use super::{Cycle, ParallelNorCfi02Flash, TYPE_NAME};
use crate::clock::Nanos;
use crate::vmstate::{
    FieldDesc, FieldKind, FieldValue, Hooks, SavedSection, SectionValue, SubsectionDesc,
    VmStateDescription, VmStateEntry,
};
use std::collections::BTreeSet;

/// Id string of the section: the QOM type name.
pub const VMSTATE_NAME: &str = TYPE_NAME;
/// Version of the section.
pub const VMSTATE_VERSION: u32 = 1;
/// The subsection carrying erase bookkeeping and the timer.
pub const ERASE_SUBSECTION: &str = "parallel-nor-cfi02-flash/erase";
/// Version of the erase subsection.
pub const ERASE_VERSION: u32 = 1;

/// Field names, in wire order.
pub const FIELD_WCYCLE: &str = "wcycle";
pub const FIELD_CMD: &str = "cmd";
pub const FIELD_BYPASS: &str = "bypass";
pub const FIELD_STATUS: &str = "status";
pub const FIELD_ROMD: &str = "romd";
pub const FIELD_READ_COUNTER: &str = "read_counter";
pub const FIELD_SECTORS_TO_ERASE: &str = "sectors_to_erase";
pub const FIELD_ERASE_MAP: &str = "sector_erase_map";
pub const FIELD_ERASE_TIME_REMAINING: &str = "erase_time_remaining";
pub const FIELD_TIMER_REMAINING: &str = "timer_remaining";

/// `timer_remaining` on the wire when no timer is pending (QEMU's timer
/// encoding: an expiry of -1 means "not pending").
pub const TIMER_NOT_PENDING: i64 = -1;

/// Every command state, to decode QEMU's `(wcycle, cmd)` pair back.
const CYCLES: [Cycle; 12] = [
    Cycle::Read,
    Cycle::FirstUnlock,
    Cycle::Unlocked,
    Cycle::Program,
    Cycle::Autoselect,
    Cycle::EraseSetup,
    Cycle::EraseFirstUnlock,
    Cycle::EraseUnlocked,
    Cycle::ChipErase,
    Cycle::SectorErase,
    Cycle::CfiQuery,
    Cycle::AutoselectCfiQuery,
];

/// Bytes of the erase bitmap for `sectors` sectors (bit i = sector i, LSB first).
pub fn erase_map_len(sectors: u32) -> usize {
    (sectors as usize).div_ceil(8)
}

/// The section of a device with `sectors` sectors.
pub fn vmstate_description(sectors: u32) -> VmStateDescription {
    VmStateDescription {
        name: VMSTATE_NAME,
        version_id: VMSTATE_VERSION,
        minimum_version_id: VMSTATE_VERSION,
        fields: vec![
            FieldDesc::new(FIELD_WCYCLE, FieldKind::U8),
            FieldDesc::new(FIELD_CMD, FieldKind::U8),
            FieldDesc::new(FIELD_BYPASS, FieldKind::Bool),
            FieldDesc::new(FIELD_STATUS, FieldKind::U8),
            FieldDesc::new(FIELD_ROMD, FieldKind::Bool),
            FieldDesc::new(FIELD_READ_COUNTER, FieldKind::U32),
        ],
        subsections: vec![SubsectionDesc {
            vmsd: VmStateDescription {
                name: ERASE_SUBSECTION,
                version_id: ERASE_VERSION,
                minimum_version_id: ERASE_VERSION,
                fields: vec![
                    FieldDesc::new(FIELD_SECTORS_TO_ERASE, FieldKind::U32),
                    FieldDesc::new(
                        FIELD_ERASE_MAP,
                        FieldKind::VBuffer {
                            len: erase_map_len(sectors),
                        },
                    ),
                    FieldDesc::new(FIELD_ERASE_TIME_REMAINING, FieldKind::U64),
                    FieldDesc::new(FIELD_TIMER_REMAINING, FieldKind::I64),
                ],
                subsections: vec![],
                hooks: Hooks::NONE,
            },
            needed: "sectors are queued or counted for erase, an erase is suspended, \
                     or the timer is pending",
        }],
        hooks: Hooks {
            pre_load: true,
            post_load: true,
            ..Hooks::NONE
        },
    }
}

impl ParallelNorCfi02Flash {
    fn total_sectors(&self) -> u32 {
        self.bus.nor().geometry().total_sectors()
    }

    /// One registration: emitted under `nor-6.0`, a loader under `nor-5.0`.
    pub(super) fn migration_entries(&self) -> Vec<VmStateEntry> {
        let vmsd = vmstate_description(self.total_sectors());
        if self.config.legacy_migration {
            vec![VmStateEntry::load_only(vmsd)]
        } else {
            vec![VmStateEntry::emit(vmsd)]
        }
    }

    /// The wire copy of the state (nothing under `nor-5.0`).
    pub(super) fn migration_save(&self) -> Vec<SavedSection> {
        if self.config.legacy_migration {
            return Vec::new();
        }
        let (wcycle, cmd) = self.cycle.qemu_encoding();
        let mut value = SectionValue::new()
            .with(FIELD_WCYCLE, FieldValue::U8(wcycle))
            .with(FIELD_CMD, FieldValue::U8(cmd))
            .with(FIELD_BYPASS, FieldValue::Bool(self.bypass))
            .with(FIELD_STATUS, FieldValue::U8(self.status))
            .with(FIELD_ROMD, FieldValue::Bool(self.bus.romd()))
            .with(FIELD_READ_COUNTER, FieldValue::U32(self.read_counter));
        let timer = self.bus.nor().timer_remaining();
        let needed = self.sectors_to_erase != 0
            || !self.erase_queue.is_empty()
            || self.erase_time_remaining != 0
            || timer.is_some();
        if needed {
            let mut map = vec![0u8; erase_map_len(self.total_sectors())];
            for &s in &self.erase_queue {
                if let Some(byte) = map.get_mut(s as usize / 8) {
                    *byte |= 1 << (s % 8);
                }
            }
            let timer = timer.map_or(TIMER_NOT_PENDING, |t| t.min(i64::MAX as u64) as i64);
            value = value.with_sub(
                ERASE_SUBSECTION,
                ERASE_VERSION,
                SectionValue::new()
                    .with(
                        FIELD_SECTORS_TO_ERASE,
                        FieldValue::U32(self.sectors_to_erase),
                    )
                    .with(FIELD_ERASE_MAP, FieldValue::Bytes(map))
                    .with(
                        FIELD_ERASE_TIME_REMAINING,
                        FieldValue::U64(self.erase_time_remaining),
                    )
                    .with(FIELD_TIMER_REMAINING, FieldValue::I64(timer)),
            );
        }
        vec![SavedSection {
            idstr: VMSTATE_NAME,
            version: VMSTATE_VERSION,
            value,
        }]
    }

    /// Loads the section. Values are checked before anything changes.
    pub(super) fn migration_load(
        &mut self,
        idstr: &str,
        value: &SectionValue,
    ) -> Result<(), String> {
        if idstr != VMSTATE_NAME {
            return Err(format!("{TYPE_NAME} registers no section '{idstr}'"));
        }
        let missing = |f: &str| format!("field '{f}' missing");
        let wcycle = value
            .u8(FIELD_WCYCLE)
            .ok_or_else(|| missing(FIELD_WCYCLE))?;
        let cmd = value.u8(FIELD_CMD).ok_or_else(|| missing(FIELD_CMD))?;
        let cycle = CYCLES
            .iter()
            .copied()
            .find(|c| c.qemu_encoding() == (wcycle, cmd))
            .ok_or_else(|| format!("wcycle {wcycle} with cmd {cmd:#04x} is not a command state"))?;
        let bypass = value
            .bool(FIELD_BYPASS)
            .ok_or_else(|| missing(FIELD_BYPASS))?;
        let status = value
            .u8(FIELD_STATUS)
            .ok_or_else(|| missing(FIELD_STATUS))?;
        let romd = value.bool(FIELD_ROMD).ok_or_else(|| missing(FIELD_ROMD))?;
        let read_counter = value
            .u32(FIELD_READ_COUNTER)
            .ok_or_else(|| missing(FIELD_READ_COUNTER))?;
        // pre_load defaults: nothing queued, not suspended, no timer.
        let mut sectors_to_erase = 0;
        let mut erase_queue = BTreeSet::new();
        let mut erase_time_remaining: Nanos = 0;
        let mut timer: Option<Nanos> = None;
        if let Some((_, sub)) = value.sub(ERASE_SUBSECTION) {
            sectors_to_erase = sub
                .u32(FIELD_SECTORS_TO_ERASE)
                .ok_or_else(|| missing(FIELD_SECTORS_TO_ERASE))?;
            let map = sub
                .bytes(FIELD_ERASE_MAP)
                .ok_or_else(|| missing(FIELD_ERASE_MAP))?;
            let total = self.total_sectors();
            for (i, byte) in map.iter().enumerate() {
                for bit in 0..8 {
                    if byte & (1 << bit) != 0 {
                        let sector = (i * 8 + bit) as u32;
                        if sector >= total {
                            return Err(format!(
                                "erase bitmap names sector {sector} of a {total}-sector device"
                            ));
                        }
                        erase_queue.insert(sector);
                    }
                }
            }
            erase_time_remaining = sub
                .u64(FIELD_ERASE_TIME_REMAINING)
                .ok_or_else(|| missing(FIELD_ERASE_TIME_REMAINING))?;
            timer = match sub
                .i64(FIELD_TIMER_REMAINING)
                .ok_or_else(|| missing(FIELD_TIMER_REMAINING))?
            {
                TIMER_NOT_PENDING => None,
                t if t >= 0 => Some(t as Nanos),
                t => return Err(format!("timer_remaining {t} is neither -1 nor a time")),
            };
        }
        self.cycle = cycle;
        self.bypass = bypass;
        self.status = status;
        self.bus.set_romd(romd);
        self.read_counter = read_counter;
        self.sectors_to_erase = sectors_to_erase;
        self.erase_queue = erase_queue;
        self.erase_time_remaining = erase_time_remaining;
        // The destination's clock restarted at 0: re-arm relative to it.
        self.bus.nor_mut().restore_timer(timer);
        Ok(())
    }
}
