//! `parallel-nor-cfi02-flash`: the AMD/Fujitsu command set (CFI primary
//! command set 0x0002) on a [`ParallelNorFlash`].
//!
//! Guest-visible behaviour is QEMU 7.2.22's `cfi.pflash02`, quirks included
//! (spec: shared/spec/pflash-cfi02.md; section numbers below refer to it).
//! QEMU's `(wcycle, cmd)` pairs are the explicit [`Cycle`] states here.
//! [`State`] is the complete canonical state (v5 migrates none of it);
//! [`State::to_v5`] projects it onto v5's encoding.

mod migration;

use super::cfi::{
    assemble_table, table_entry, ChipGeometry, CommandSetData, CommonFlashMemoryInterface, Timeouts,
};
use super::nor_flash::{
    attribute_not_specified_or_zero, prop_sector_length, sector_start, EraseRegion, Geometry,
    NorFlash, MAX_ERASE_REGIONS, NAME_NOT_SPECIFIED, PROP_IDS, PROP_NAME, PROP_NUM_BLOCKS,
    PROP_REGION_NUM_BLOCKS, PROP_REGION_SECTOR_LENGTH,
};
use super::parallel::{
    BusConfig, BusGeometry, Endianness, ParallelNorDevice, ParallelNorFlash, LEGACY_MIGRATION_PROP,
    LEGACY_MIGRATION_PROP_DEF, PROP_BIG_ENDIAN_U8, PROP_MAPPINGS, PROP_WIDTH,
};
use crate::backend::BlockBackend;
use crate::clock::Nanos;
use crate::command_set::amd::{
    self, AUTOSELECT, CFI_QUERY, CFI_QUERY_ADDR, CFI_TABLE_LEN, CHIP_ERASE, COMMAND_ADDR_MASK, DQ2,
    DQ3, DQ6, DQ7, ERASE_RESUME, ERASE_SETUP, ERASE_SUSPEND, PROGRAM, RESET, SECTOR_ERASE,
    SECTOR_ERASE_WINDOW_NS, UNLOCK1, UNLOCK2, UNLOCK_BYPASS, UNLOCK_BYPASS_RESET,
};
use crate::command_set::query::INTERFACE_X8_X16;
use crate::device::DeviceError;
use crate::props::{PropDef, PropKind, PropValue, PropValues};
use crate::v5::cfi02::protocol::{cmd, wcycle};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// QOM-style type name.
pub const TYPE_NAME: &str = "parallel-nor-cfi02-flash";

/// `unlock-addr0`: address of the first unlock cycle (u16, masked to 11 bits).
pub const PROP_UNLOCK_ADDR0: PropDef = unlock_prop("unlock-addr0", "first unlock address");
/// `unlock-addr1`: address of the second unlock cycle (u16, masked to 11 bits).
pub const PROP_UNLOCK_ADDR1: PropDef = unlock_prop("unlock-addr1", "second unlock address");

const fn unlock_prop(name: &'static str, doc: &'static str) -> PropDef {
    PropDef {
        name,
        kind: PropKind::U16,
        default: Some(PropValue::Int(0)),
        doc,
    }
}

/// Properties, with v5's names, types and defaults (§2). `sector-length` is a
/// u32 here (cfi01 declares it u64) and `big-endian` a u8 (a bool on cfi01).
pub const PROPS: &[PropDef] = &[
    PROP_NUM_BLOCKS,
    prop_sector_length(PropKind::U32),
    PROP_REGION_NUM_BLOCKS[0],
    PROP_REGION_SECTOR_LENGTH[0],
    PROP_REGION_NUM_BLOCKS[1],
    PROP_REGION_SECTOR_LENGTH[1],
    PROP_REGION_NUM_BLOCKS[2],
    PROP_REGION_SECTOR_LENGTH[2],
    PROP_REGION_NUM_BLOCKS[3],
    PROP_REGION_SECTOR_LENGTH[3],
    PROP_WIDTH,
    PROP_MAPPINGS,
    PROP_BIG_ENDIAN_U8,
    PROP_IDS[0],
    PROP_IDS[1],
    PROP_IDS[2],
    PROP_IDS[3],
    PROP_UNLOCK_ADDR0,
    PROP_UNLOCK_ADDR1,
    PROP_NAME,
    LEGACY_MIGRATION_PROP_DEF,
];

/// QEMU scales CFI's typical sector erase time (2^n "ms") by microseconds (quirk §14.2).
const SCALE_US: Nanos = 1_000;
/// ... and the typical chip erase time by milliseconds.
const SCALE_MS: Nanos = 1_000_000;
/// CFI typical sector erase, 2^9.
const TYPICAL_SECTOR_ERASE_LOG2: u8 = 0x09;
/// CFI typical chip erase, 2^12.
const TYPICAL_CHIP_ERASE_LOG2: u8 = 0x0C;
/// Device reads in read mode before ROMD comes back lazily: the 43rd read
/// switches (§6).
pub const LAZY_ROMD_THRESHOLD: u32 = 42;

/// Where the primary extended table ("PRI") starts.
pub const PRIMARY_TABLE_ADDRESS: u16 = 0x40;
/// Primary extended table (0x40..=0x4C): "PRI", version "1" "0", unlock
/// required, erase suspend read/write, no protection, no simultaneous
/// operation, no burst or page mode.
const PRIMARY_TABLE: [u8; 13] = [b'P', b'R', b'I', b'1', b'0', 0x00, 0x02, 0, 0, 0, 0, 0, 0];

/// Where the command state machine stands. Each state is one of QEMU's
/// reachable `(wcycle, cmd)` pairs, given by [`Cycle::qemu_encoding`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Cycle {
    /// Read mode, expecting a command (wcycle 0).
    Read,
    /// AA written at `unlock-addr0` (wcycle 1).
    FirstUnlock,
    /// Both unlock cycles written, or unlock bypass (wcycle 2).
    Unlocked,
    /// 0xA0 written: the next write is program data (wcycle 3, cmd 0xA0).
    Program,
    /// Autoselect mode (wcycle 3, cmd 0x90).
    Autoselect,
    /// 0x80 written: the erase needs another unlock (wcycle 3, cmd 0x80).
    EraseSetup,
    /// AA of the erase unlock written (wcycle 4, cmd 0x80).
    EraseFirstUnlock,
    /// Erase unlock done: 0x10 or 0x30 comes next (wcycle 5, cmd 0x80).
    EraseUnlocked,
    /// Chip erase running (wcycle 6, cmd 0x10).
    ChipErase,
    /// Sector erase: the 50 µs window (DQ3 = 0) or running (wcycle 6, cmd 0x30).
    SectorErase,
    /// CFI query mode (wcycle 7).
    CfiQuery,
    /// CFI query entered from autoselect; 0xF0 returns to autoselect (wcycle 8).
    AutoselectCfiQuery,
}

impl Cycle {
    /// QEMU's `(wcycle, cmd)` for this state (Read Array is `cmd` 0x00 there).
    pub fn qemu_encoding(self) -> (u8, u8) {
        match self {
            Cycle::Read => (wcycle::IDLE, cmd::READ_ARRAY),
            Cycle::FirstUnlock => (wcycle::UNLOCK1_SEEN, cmd::READ_ARRAY),
            Cycle::Unlocked => (wcycle::UNLOCKED, cmd::READ_ARRAY),
            Cycle::Program => (wcycle::COMMAND, cmd::PROGRAM),
            Cycle::Autoselect => (wcycle::COMMAND, cmd::AUTOSELECT),
            Cycle::EraseSetup => (wcycle::COMMAND, cmd::ERASE),
            Cycle::EraseFirstUnlock => (wcycle::ERASE_UNLOCK1, cmd::ERASE),
            Cycle::EraseUnlocked => (wcycle::ERASE_UNLOCKED, cmd::ERASE),
            Cycle::ChipErase => (wcycle::ERASING, cmd::CHIP_ERASE),
            Cycle::SectorErase => (wcycle::ERASING, cmd::SECTOR_ERASE),
            Cycle::CfiQuery => (wcycle::CFI, cmd::CFI_QUERY),
            Cycle::AutoselectCfiQuery => (wcycle::AUTOSELECT_CFI, cmd::CFI_QUERY),
        }
    }
}

/// Canonical state of a v6 cfi02: everything that influences a future read
/// or write, except the array.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct State {
    /// Command state machine.
    pub cycle: Cycle,
    /// Unlock bypass mode.
    pub bypass: bool,
    /// DQ status byte, toggle parity included (never reset, §10).
    pub status: u8,
    /// ROM-device read mode.
    pub romd: bool,
    /// Device reads counted towards the lazy return to ROMD (§6).
    pub read_counter: u32,
    /// Sector-erase commands queued since the last completion (a sector
    /// queued twice counts twice).
    pub sectors_to_erase: u32,
    /// Sectors queued for erase (numbered across regions).
    pub erase_queue: BTreeSet<u32>,
    /// Erase time left of a suspended erase, in ns (`None`: not suspended).
    pub suspended_erase_ns: Option<Nanos>,
    /// Time left until the pending timer fires, in ns.
    pub timer_remaining: Option<Nanos>,
}

impl State {
    /// The same state in v5's encoding (QEMU 7.2.22's variables), field by field:
    /// - `wcycle`, `cmd`: [`Cycle::qemu_encoding`] of `cycle` (Read Array is
    ///   `cmd` 0x00);
    /// - `bypass`, `status`, `read_counter`, `sectors_to_erase`,
    ///   `timer_remaining`: unchanged;
    /// - `rom_mode`: `romd`;
    /// - `erase_sectors`: `erase_queue`, ascending;
    /// - `erase_time_remaining`: `suspended_erase_ns`, 0 when not suspended.
    pub fn to_v5(&self) -> crate::v5::cfi02::State {
        let (wcycle, cmd) = self.cycle.qemu_encoding();
        crate::v5::cfi02::State {
            wcycle,
            cmd,
            bypass: self.bypass,
            status: self.status,
            rom_mode: self.romd,
            read_counter: self.read_counter,
            sectors_to_erase: self.sectors_to_erase,
            erase_sectors: self.erase_queue.iter().copied().collect(),
            erase_time_remaining: self.suspended_erase_ns.unwrap_or(0),
            timer_remaining: self.timer_remaining,
        }
    }
}

/// Configuration fixed at realize.
#[derive(Clone, Debug)]
struct Config {
    /// The properties as given (a migration destination realizes from them).
    props: Vec<(String, String)>,
    /// QEMU's `chip_len` (a u32; addresses are masked with `chip_len − 1`).
    chip_len: u32,
    ids: [u16; 4],
    unlock_addr: [u16; 2],
    /// `x-legacy-migration`: emit nothing, as v5 (machine type nor-5.0).
    legacy_migration: bool,
}

/// The AMD/Fujitsu parallel NOR flash.
#[derive(Clone, Debug)]
pub struct ParallelNorCfi02Flash {
    bus: ParallelNorFlash,
    config: Config,
    cfi: Vec<u8>,
    cycle: Cycle,
    bypass: bool,
    status: u8,
    read_counter: u32,
    sectors_to_erase: u32,
    erase_queue: BTreeSet<u32>,
    /// QEMU's `erase_time_remaining`: non-zero means erase-suspend mode.
    erase_time_remaining: Nanos,
}

fn realize_error(message: impl Into<String>) -> DeviceError {
    DeviceError::Realize {
        ty: TYPE_NAME,
        message: message.into(),
    }
}

/// Largest sector a region may have (exclusive), §3 rule 4.
const MAX_SECTOR_LEN: u64 = 1 << 24;
/// Region sector lengths are multiples of this (§3 rule 4).
const SECTOR_LEN_GRANULE: u64 = 0x100;

/// Validates the geometry properties as QEMU does (§3 rules 1, 2, 4, 5, 6),
/// returning the regions and `chip_len`.
fn realize_geometry(v: &PropValues) -> Result<(Geometry, u32), DeviceError> {
    let uniform_blocks = v.int("num-blocks") as u32;
    let uniform_sector = v.int("sector-length");
    let region_blocks: Vec<u32> = PROP_REGION_NUM_BLOCKS
        .iter()
        .map(|p| v.int(p.name) as u32)
        .collect();
    let region_sector: Vec<u64> = PROP_REGION_SECTOR_LENGTH
        .iter()
        .map(|p| v.int(p.name))
        .collect();
    if uniform_sector == 0 && region_sector[0] == 0 {
        return Err(realize_error(attribute_not_specified_or_zero(
            "sector-length",
        )));
    }
    if uniform_blocks == 0 && region_blocks[0] == 0 {
        return Err(realize_error(attribute_not_specified_or_zero("num-blocks")));
    }
    if v.str("name").is_none() {
        return Err(realize_error(NAME_NOT_SPECIFIED));
    }
    let mut regions = Vec::new();
    let mut chip_len = 0u32;
    for i in 0..MAX_ERASE_REGIONS {
        if region_blocks[i] == 0 {
            break;
        }
        let sector_len = region_sector[i];
        if sector_len & (SECTOR_LEN_GRANULE - 1) != 0
            || sector_len >= MAX_SECTOR_LEN
            || !sector_len.is_power_of_two()
        {
            return Err(realize_error(format!(
                "unsupported configuration: sector length[{i}] per device = {sector_len:x}."
            )));
        }
        if chip_len as u64 & (sector_len - 1) != 0 {
            return Err(realize_error(format!(
                "unsupported configuration: flash region {i} not correctly aligned."
            )));
        }
        chip_len = chip_len.wrapping_add((sector_len * region_blocks[i] as u64) as u32);
        regions.push(EraseRegion {
            blocks: region_blocks[i],
            sector_len,
        });
    }
    let uniform_len = uniform_blocks as u64 * uniform_sector;
    if regions.is_empty() {
        // The uniform pair is not checked by the region rules (quirk §14.13).
        regions.push(EraseRegion {
            blocks: uniform_blocks,
            sector_len: uniform_sector,
        });
        chip_len = uniform_len as u32;
    } else if uniform_len != 0 && uniform_len != chip_len as u64 {
        return Err(realize_error(
            "\"num-blocks\"*\"sector-length\" different from \"num-blocks0\"*'sector-length0\" + ... + \"num-blocks3\"*\"sector-length3\"",
        ));
    }
    Ok((Geometry::regions(regions), chip_len))
}

impl ParallelNorCfi02Flash {
    /// Realizes a device from its properties, with v5's checks and messages (§3).
    pub fn new(
        props: &[(String, String)],
        backend: BlockBackend,
    ) -> Result<ParallelNorCfi02Flash, DeviceError> {
        let v = PropValues::parse(TYPE_NAME, PROPS, props)?;
        let (geometry, chip_len) = realize_geometry(&v)?;
        let name = v.str("name").unwrap_or_default();
        let nor = match NorFlash::realize(TYPE_NAME, name, geometry, chip_len as u64, backend) {
            // v5 reports the block layer's size mismatch as a realize error
            // of cfi02 (and as a backend error of cfi01); v6 keeps that.
            Err(DeviceError::Backend(e)) => return Err(realize_error(e.to_string())),
            other => other?,
        };
        let bus = ParallelNorFlash::new(
            nor,
            BusConfig {
                geometry: BusGeometry {
                    bank_width: v.int("width") as u8,
                    device_width: 0,
                    max_device_width: 0,
                },
                endianness: if v.int("big-endian") != 0 {
                    Endianness::Big
                } else {
                    Endianness::Little
                },
                mappings: v.int("mappings") as u8,
            },
        );
        let mut dev = ParallelNorCfi02Flash {
            bus,
            config: Config {
                props: props.to_vec(),
                chip_len,
                ids: [0, 1, 2, 3].map(|i| v.int(&format!("id{i}")) as u16),
                unlock_addr: [
                    v.int("unlock-addr0") as u16 & COMMAND_ADDR_MASK,
                    v.int("unlock-addr1") as u16 & COMMAND_ADDR_MASK,
                ],
                legacy_migration: v.bool(LEGACY_MIGRATION_PROP),
            },
            cfi: Vec::new(),
            cycle: Cycle::Read,
            bypass: false,
            status: 0,
            read_counter: 0,
            sectors_to_erase: 0,
            erase_queue: BTreeSet::new(),
            erase_time_remaining: 0,
        };
        dev.cfi = assemble_table(&dev.command_set_data(), &dev.chip_geometry());
        Ok(dev)
    }

    /// The canonical state.
    pub fn state(&self) -> State {
        State {
            cycle: self.cycle,
            bypass: self.bypass,
            status: self.status,
            romd: self.bus.romd(),
            read_counter: self.read_counter,
            sectors_to_erase: self.sectors_to_erase,
            erase_queue: self.erase_queue.clone(),
            suspended_erase_ns: (self.erase_time_remaining != 0)
                .then_some(self.erase_time_remaining),
            timer_remaining: self.bus.nor().timer_remaining(),
        }
    }

    /// Restores the canonical state; the timer is re-armed at its remaining
    /// time from the current clock (the array is loaded separately, see
    /// [`FlashDevice::load_ram_block`](crate::device::FlashDevice::load_ram_block)).
    pub fn set_state(&mut self, state: &State) {
        self.cycle = state.cycle;
        self.bypass = state.bypass;
        self.status = state.status;
        self.bus.set_romd(state.romd);
        self.read_counter = state.read_counter;
        self.sectors_to_erase = state.sectors_to_erase;
        self.erase_queue = state.erase_queue.clone();
        self.erase_time_remaining = state.suspended_erase_ns.unwrap_or(0);
        self.bus.nor_mut().restore_timer(state.timer_remaining);
    }

    /// Chip offset of a window address: through the mirror alias, then
    /// masked with `chip_len − 1` as QEMU does (§4).
    fn chip_offset(&self, addr: u64) -> u64 {
        self.bus.alias(addr) & (self.config.chip_len.wrapping_sub(1) as u64)
    }

    /// True in erase-suspend mode.
    fn erase_suspended(&self) -> bool {
        self.erase_time_remaining > 0
    }

    /// True if `offset`'s sector is queued for erase.
    fn sector_queued(&self, offset: u64) -> bool {
        self.bus
            .nor()
            .geometry()
            .sector_at(offset)
            .is_some_and(|s| self.erase_queue.contains(&s.index))
    }

    /// Busy time of the queued sectors: CFI's typical sector erase (2^9)
    /// per queued command, in µs (quirk §14.2).
    fn erase_time(&self) -> Nanos {
        self.sectors_to_erase as Nanos * (1 << TYPICAL_SECTOR_ERASE_LOG2) * SCALE_US
    }

    /// DQ7 = bit 7 of `value`.
    fn set_dq7(&mut self, value: u8) {
        self.status = (self.status & !DQ7) | (value & DQ7);
    }

    /// RESET (write path): leave bypass, expect a command. ROMD, status, the
    /// timer and the erase bookkeeping are untouched (quirk §14.5).
    fn reset_sequence(&mut self) {
        self.bypass = false;
        self.cycle = Cycle::Read;
    }

    /// Back to unlock bypass after a program or an erase (BYPASS).
    fn back_to_bypass(&mut self) {
        self.cycle = Cycle::Unlocked;
    }

    /// "Common completion" and the lazy return: read mode with ROMD on.
    fn read_array_mode(&mut self) {
        self.cycle = Cycle::Read;
        self.bus.set_romd(true);
    }

    /// The U0 rules (§7.2), from `Read` and `EraseSetup`.
    fn first_unlock_cycle(&mut self, boff: u16, b: u8) {
        if boff == CFI_QUERY_ADDR && b == CFI_QUERY {
            self.cycle = Cycle::CfiQuery;
        } else if b == ERASE_RESUME {
            if self.erase_suspended() {
                let remaining = self.erase_time_remaining;
                self.bus.nor_mut().arm_timer(remaining);
                self.erase_time_remaining = 0;
                self.cycle = Cycle::SectorErase;
                self.set_dq7(0);
                self.status |= DQ3;
            } else {
                self.reset_sequence();
            }
        } else if b == ERASE_SUSPEND {
            // Ignored outside a sector erase.
        } else if boff == self.config.unlock_addr[0] && b == UNLOCK1 {
            self.cycle = match self.cycle {
                Cycle::EraseSetup => Cycle::EraseFirstUnlock,
                _ => Cycle::FirstUnlock,
            };
        } else {
            self.reset_sequence();
        }
    }

    /// SE (§7.6): erase the sector now, queue it, (re)start the 50 µs window.
    fn sector_erase(&mut self, offset: u64) {
        let info = self
            .bus
            .nor()
            .geometry()
            .sector_at(offset)
            .expect("offsets are masked into the chip");
        let start = sector_start(offset, info.len);
        self.bus.nor_mut().erase(start, info.len);
        self.set_dq7(0);
        self.sectors_to_erase = self.sectors_to_erase.wrapping_add(1);
        self.erase_queue.insert(info.index);
        self.bus.nor_mut().arm_timer(SECTOR_ERASE_WINDOW_NS);
        self.cycle = Cycle::SectorErase;
    }

    /// Erase suspend (§8): acts at once.
    fn suspend_erase(&mut self) {
        self.erase_time_remaining = if self.status & DQ3 == 0 {
            // Still in the window: the whole erase is left.
            self.erase_time()
        } else {
            let nor = self.bus.nor();
            // QEMU's timer_expire_time_ns is -1 when nothing is pending.
            let delta = nor.deadline().map_or(-1, |d| d as i64) - nor.now() as i64;
            delta.max(1) as Nanos
        };
        self.status &= !DQ3;
        self.bus.nor_mut().cancel_timer();
        self.cycle = Cycle::Read;
    }

    /// Program data (§7.5): AND into the array, immediate.
    fn program(&mut self, offset: u64, width: u32, value: u64) {
        if self.erase_suspended() && self.sector_queued(offset) {
            // Programs to suspended sectors are ignored.
        } else {
            self.bus.program_and(offset, width, value);
            // DQ7 shows the complement of the programmed bit 7.
            self.set_dq7(!(value as u8));
        }
        if self.bypass {
            self.back_to_bypass();
        } else {
            self.reset_sequence();
        }
    }

    /// The autoselect answer (§9): ids whole, not replicated; array data at
    /// unlisted indices.
    fn read_autoselect(&self, offset: u64, index: u64, size: u32) -> u64 {
        let ids = self.config.ids;
        match index {
            amd::ID_INDEX_MANUFACTURER => ids[0] as u64,
            amd::ID_INDEX_DEVICE => ids[1] as u64,
            amd::ID_INDEX_PROTECTION => amd::SECTORS_UNPROTECTED,
            amd::ID_INDEX_EXTENDED2 if ids[2] != amd::ID_NOT_PRESENT => ids[2] as u64,
            amd::ID_INDEX_EXTENDED3 if ids[3] != amd::ID_NOT_PRESENT => ids[3] as u64,
            _ => self.bus.read_data(offset, size),
        }
    }
}

impl CommonFlashMemoryInterface for ParallelNorCfi02Flash {
    fn command_set_data(&self) -> CommandSetData {
        CommandSetData {
            table_len: CFI_TABLE_LEN,
            primary_command_set: amd::PRIMARY_COMMAND_SET,
            primary_table_address: PRIMARY_TABLE_ADDRESS,
            // 2.7–3.6 V, no Vpp.
            voltages: [0x27, 0x36, 0x00, 0x00],
            timeouts: Timeouts {
                typical_word_program: 0x07,
                typical_buffer_write: 0x00,
                typical_block_erase: TYPICAL_SECTOR_ERASE_LOG2,
                typical_chip_erase: TYPICAL_CHIP_ERASE_LOG2,
                max_word_program: 0x01,
                max_buffer_write: 0x00,
                max_block_erase: 0x0A,
                max_chip_erase: 0x0D,
            },
            interface: INTERFACE_X8_X16,
            max_write_buffer_log2: 0,
            primary_table: PRIMARY_TABLE.to_vec(),
        }
    }

    /// The regions as configured: cfi02 has no interleave.
    fn chip_geometry(&self) -> ChipGeometry {
        ChipGeometry {
            chip_size: self.config.chip_len as u64,
            regions: self.bus.nor().geometry().erase_regions().to_vec(),
        }
    }

    fn cfi_table(&self) -> &[u8] {
        &self.cfi
    }
}

impl ParallelNorDevice for ParallelNorCfi02Flash {
    const TYPE_NAME: &'static str = TYPE_NAME;
    type State = State;

    fn realize(
        props: &[(String, String)],
        backend: BlockBackend,
    ) -> Result<ParallelNorCfi02Flash, DeviceError> {
        ParallelNorCfi02Flash::new(props, backend)
    }

    fn props(&self) -> &[(String, String)] {
        &self.config.props
    }

    fn parallel(&self) -> &ParallelNorFlash {
        &self.bus
    }

    fn parallel_mut(&mut self) -> &mut ParallelNorFlash {
        &mut self.bus
    }

    /// A read in I/O mode (§9). Status reads toggle DQ6/DQ2 (quirk §14.3).
    fn command_read(&mut self, addr: u64, size: u32) -> u64 {
        // The lazy return to ROMD (§6); this read is still a device read.
        if !self.bus.romd() && self.cycle == Cycle::Read {
            self.read_counter = self.read_counter.saturating_add(1);
            if self.read_counter > LAZY_ROMD_THRESHOLD {
                self.read_array_mode();
            }
        }
        let offset = self.chip_offset(addr);
        let index = self.bus.bus().wrapped_query_index(offset);
        match self.cycle {
            // Reads are allowed during the unlock cycles of any sequence.
            Cycle::Read
            | Cycle::FirstUnlock
            | Cycle::Unlocked
            | Cycle::EraseSetup
            | Cycle::EraseFirstUnlock
            | Cycle::EraseUnlocked => {
                if self.erase_suspended() && self.sector_queued(offset) {
                    self.status ^= DQ2;
                    self.status as u64
                } else {
                    self.bus.read_data(offset, size)
                }
            }
            Cycle::Autoselect => self.read_autoselect(offset, index, size),
            Cycle::ChipErase | Cycle::SectorErase => {
                self.status ^= DQ2;
                self.status ^= DQ6;
                self.status as u64
            }
            Cycle::Program => {
                self.status ^= DQ6;
                self.status as u64
            }
            Cycle::CfiQuery | Cycle::AutoselectCfiQuery => table_entry(&self.cfi, index) as u64,
        }
    }

    /// A write (§7).
    fn command_write(&mut self, addr: u64, size: u32, value: u64) {
        let b = value as u8;
        // Pre-check (§7.1): 0xF0 resets, except as program data and while an
        // erase runs; from autoselect-CFI it returns to autoselect.
        if b == RESET
            && !matches!(
                self.cycle,
                Cycle::Program | Cycle::ChipErase | Cycle::SectorErase
            )
        {
            if self.cycle == Cycle::AutoselectCfiQuery {
                self.cycle = Cycle::Autoselect;
            } else {
                self.reset_sequence();
            }
            return;
        }
        let offset = self.chip_offset(addr);
        let boff = (offset >> self.bus.bus().width_shift()) as u16 & COMMAND_ADDR_MASK;
        let [unlock0, unlock1] = self.config.unlock_addr;
        match self.cycle {
            Cycle::Read => {
                self.bus.set_romd(false);
                self.read_counter = 0;
                self.first_unlock_cycle(boff, b);
            }
            Cycle::EraseSetup => self.first_unlock_cycle(boff, b),
            Cycle::FirstUnlock | Cycle::EraseFirstUnlock => {
                if boff == unlock1 && b == UNLOCK2 {
                    self.cycle = match self.cycle {
                        Cycle::EraseFirstUnlock => Cycle::EraseUnlocked,
                        _ => Cycle::Unlocked,
                    };
                } else {
                    self.reset_sequence();
                }
            }
            Cycle::Unlocked => {
                // In bypass any address is accepted.
                if !self.bypass && boff != unlock0 {
                    self.reset_sequence();
                    return;
                }
                match b {
                    UNLOCK_BYPASS => {
                        self.bypass = true;
                        self.back_to_bypass();
                    }
                    ERASE_SETUP => self.cycle = Cycle::EraseSetup,
                    AUTOSELECT => self.cycle = Cycle::Autoselect,
                    PROGRAM => self.cycle = Cycle::Program,
                    // A lone 0x00 in bypass lands here and exits bypass.
                    _ => self.reset_sequence(),
                }
            }
            Cycle::Program => self.program(offset, size, value),
            Cycle::Autoselect => {
                if self.bypass && b == UNLOCK_BYPASS_RESET {
                    self.reset_sequence();
                } else if boff == CFI_QUERY_ADDR && b == CFI_QUERY {
                    self.cycle = Cycle::AutoselectCfiQuery;
                } else {
                    self.reset_sequence();
                }
            }
            Cycle::EraseUnlocked => {
                if self.erase_suspended() {
                    // No new erase while one is suspended.
                    self.reset_sequence();
                    return;
                }
                match b {
                    CHIP_ERASE if boff == unlock0 => {
                        let len = self.config.chip_len as u64;
                        self.bus.nor_mut().erase(0, len);
                        self.set_dq7(0);
                        let busy = (1 << TYPICAL_CHIP_ERASE_LOG2) * SCALE_MS;
                        self.bus.nor_mut().arm_timer(busy);
                        self.cycle = Cycle::ChipErase;
                    }
                    SECTOR_ERASE => self.sector_erase(offset),
                    _ => self.reset_sequence(),
                }
            }
            // Writes are ignored while a chip erase runs (0xF0 included).
            Cycle::ChipErase => {}
            Cycle::SectorErase => {
                if b == ERASE_SUSPEND {
                    self.suspend_erase();
                } else if self.status & DQ3 == 0 {
                    // In the window: more sectors, or anything else resets and
                    // leaks the queue and the timer (quirk §14.5).
                    if b == SECTOR_ERASE {
                        self.sector_erase(offset);
                    } else {
                        self.reset_sequence();
                    }
                }
                // Otherwise ignored while the erase runs.
            }
            // Any write leaves CFI mode (quirk §14.10).
            Cycle::CfiQuery | Cycle::AutoselectCfiQuery => self.reset_sequence(),
        }
    }

    /// Device reset (§13): only the command cycle. Bypass, ROMD, status, the
    /// timer and the erase bookkeeping survive (quirk §14.5).
    fn command_reset(&mut self) {
        self.cycle = Cycle::Read;
    }

    /// The one timer (§11). It fires whatever the state is then: outside a
    /// sector erase it aborts any sequence in progress (quirk §14.6).
    fn timer_fired(&mut self) {
        if self.cycle == Cycle::SectorErase {
            if self.status & DQ3 == 0 {
                // The window closed: the erase runs.
                self.status |= DQ3;
                let busy = self.erase_time();
                self.bus.nor_mut().arm_timer(busy);
                return;
            }
            self.erase_queue.clear();
            self.sectors_to_erase = 0;
            self.status &= !DQ3;
        }
        self.status ^= DQ7;
        if self.bypass {
            self.back_to_bypass();
        } else {
            self.read_array_mode();
        }
    }

    // The inherent methods, which callers reach without importing this trait.
    fn state(&self) -> State {
        ParallelNorCfi02Flash::state(self)
    }

    fn set_state(&mut self, state: &State) {
        ParallelNorCfi02Flash::set_state(self, state);
    }

    fn sections(&self) -> Vec<crate::vmstate::VmStateEntry> {
        self.migration_entries()
    }

    fn save_sections(&self) -> Vec<crate::vmstate::SavedSection> {
        self.migration_save()
    }

    fn load_section(
        &mut self,
        idstr: &str,
        _version: u32,
        value: &crate::vmstate::SectionValue,
    ) -> Result<(), String> {
        self.migration_load(idstr, value)
    }

    /// Nothing runs after the load (no section: power-on state, as v5).
    fn after_incoming(&mut self) {}
}
