//! `parallel-nor-cfi01-flash`: the Intel/Sharp command set (CFI primary
//! command set 0x0001) on a [`ParallelNorFlash`].
//!
//! Guest-visible behaviour is QEMU 7.2.22's `cfi.pflash01`, quirks included
//! (spec: shared/spec/pflash-cfi01.md; section numbers below refer to it).
//! Internal encodings are the clean ones: Read Array is the CFI command 0xFF,
//! the write buffer is an `Option`. [`State`] is the complete canonical state;
//! [`State::to_v5`] projects it onto v5's encoding.

mod migration;

use super::cfi::{
    assemble_table, table_entry, ChipGeometry, CommandSetData, CommonFlashMemoryInterface, Timeouts,
};
use super::nor_flash::{
    attribute_not_specified_or_zero, prop_sector_length, sector_start, EraseRegion, Geometry,
    NorFlash, NAME_NOT_SPECIFIED, PROP_IDS, PROP_NAME, PROP_NUM_BLOCKS,
};
use super::parallel::{
    BusConfig, BusGeometry, Endianness, ParallelNorDevice, ParallelNorFlash, LEGACY_MIGRATION_PROP,
    LEGACY_MIGRATION_PROP_DEF, PROP_BIG_ENDIAN_BOOL, PROP_DEVICE_WIDTH, PROP_MAX_DEVICE_WIDTH,
    PROP_WIDTH,
};
use crate::backend::BlockBackend;
use crate::command_set::intel::{
    self, CFI_TABLE_LEN, CONFIRM, LOCK_BLOCK, SR_ERASE_ERROR, SR_PROGRAM_ERROR, SR_READY,
    STATUS_AFTER_RESET,
};
use crate::command_set::query::INTERFACE_X8_X16;
use crate::device::DeviceError;
use crate::props::{PropDef, PropKind, PropValue, PropValues};
use crate::v5::cfi01::commands::{CMD_READ_ARRAY_QEMU, NO_BLOCK_OPEN};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// QOM-style type name.
pub const TYPE_NAME: &str = "parallel-nor-cfi01-flash";

/// `secure`: non-secure accesses bypass the command set (cfi01 only).
pub const PROP_SECURE: PropDef = PropDef {
    name: "secure",
    kind: PropKind::Bool,
    default: Some(PropValue::Bool(false)),
    doc: "non-secure reads return array data, non-secure writes are rejected",
};

/// `old-multiple-chip-handling`: QEMU ≤ 2.8 CFI geometry and buffer size (§11, §12).
pub const PROP_OLD_MULTIPLE_CHIP_HANDLING: PropDef = PropDef {
    name: "old-multiple-chip-handling",
    kind: PropKind::Bool,
    default: Some(PropValue::Bool(false)),
    doc: "report the bank geometry in CFI instead of one chip's",
};

/// Properties, with v5's names, types and defaults (§2). `sector-length` is a
/// u64 here (the bank sector); cfi02 declares it u32.
pub const PROPS: &[PropDef] = &[
    PROP_NUM_BLOCKS,
    prop_sector_length(PropKind::U64),
    PROP_WIDTH,
    PROP_DEVICE_WIDTH,
    PROP_MAX_DEVICE_WIDTH,
    PROP_BIG_ENDIAN_BOOL,
    PROP_SECURE,
    PROP_IDS[0],
    PROP_IDS[1],
    PROP_IDS[2],
    PROP_IDS[3],
    PROP_NAME,
    PROP_OLD_MULTIPLE_CHIP_HANDLING,
    LEGACY_MIGRATION_PROP_DEF,
];

/// Intel/Sharp commands (first bus cycle), with their CFI command bytes.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(into = "u8", try_from = "u8")]
pub enum IntelCommand {
    /// Alternate word program setup.
    AltWordProgram = intel::PROGRAM_ALT,
    /// Block erase setup (QEMU erases right away, §7.1).
    BlockErase = intel::BLOCK_ERASE,
    /// Alternate block erase setup; QEMU treats it as 0x20 but only a
    /// migration stream can deliver it (§7.2).
    AltBlockErase = intel::BLOCK_ERASE_ALT,
    /// Word program setup.
    WordProgram = intel::PROGRAM,
    /// Clear status register.
    ClearStatus = intel::CLEAR_STATUS,
    /// Block lock/unlock setup.
    LockSetup = intel::LOCK_SETUP,
    /// Read status register.
    ReadStatus = intel::READ_STATUS,
    /// Read identifier codes.
    ReadIdentifier = intel::READ_ID,
    /// CFI query.
    CfiQuery = intel::CFI_QUERY,
    /// Write to buffer setup.
    WriteToBuffer = intel::WRITE_TO_BUFFER,
    /// "Probe for AMD flash": the AMD reset command, accepted as Read Array.
    AmdProbe = intel::AMD_PROBE,
    /// Read array (the CFI standard's value; QEMU stores 0x00 instead).
    ReadArray = intel::READ_ARRAY,
}

impl From<IntelCommand> for u8 {
    fn from(c: IntelCommand) -> u8 {
        c as u8
    }
}

impl TryFrom<u8> for IntelCommand {
    type Error = String;
    fn try_from(b: u8) -> Result<IntelCommand, String> {
        use IntelCommand::*;
        Ok(match b {
            intel::PROGRAM_ALT => AltWordProgram,
            intel::BLOCK_ERASE => BlockErase,
            intel::BLOCK_ERASE_ALT => AltBlockErase,
            intel::PROGRAM => WordProgram,
            intel::CLEAR_STATUS => ClearStatus,
            intel::LOCK_SETUP => LockSetup,
            intel::READ_STATUS => ReadStatus,
            intel::READ_ID => ReadIdentifier,
            intel::CFI_QUERY => CfiQuery,
            intel::WRITE_TO_BUFFER => WriteToBuffer,
            intel::AMD_PROBE => AmdProbe,
            intel::READ_ARRAY => ReadArray,
            other => return Err(format!("{other:#04x} is not an Intel command set command")),
        })
    }
}

/// Where the primary extended table ("PRI") starts.
pub const PRIMARY_TABLE_ADDRESS: u16 = 0x31;
/// log2 of the write buffer of an 8-bit bank (256 bytes).
pub const WRITE_BUFFER_LOG2_X8: u16 = 0x08;
/// log2 of the write buffer of a wider bank (2048 bytes).
pub const WRITE_BUFFER_LOG2_WIDE: u16 = 0x0B;
/// Primary extended table: "PRI", version "1" "0", no optional features,
/// one protection field (0x31..=0x3F).
const PRIMARY_TABLE: [u8; 15] = [
    b'P', b'R', b'I', b'1', b'0', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
];

/// An open write buffer: the staging window and what it holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WriteBuffer {
    /// Start of the window in the array (aligned to the buffer size).
    pub offset: u32,
    /// The window's bytes: the array copy taken when it opened, plus staged data.
    pub bytes: Vec<u8>,
}

/// Canonical state of a v6 cfi01: everything that influences a future read
/// or write, except the array.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct State {
    /// Bus cycle inside a command sequence; 0 = expecting a command.
    pub wcycle: u8,
    /// Current command; `ReadArray` (0xFF) in read-array mode.
    pub cmd: IntelCommand,
    /// Status register.
    pub status: u8,
    /// Remaining data writes of a buffered write minus one (wraps to 2^64−1
    /// after the last one, §7.3).
    pub counter: u64,
    /// ROM-device read mode.
    pub romd: bool,
    /// The open write buffer, between the count cycle and the confirm.
    pub write_buffer: Option<WriteBuffer>,
}

impl State {
    /// The same state in v5's encoding (QEMU 7.2.22's raw values), field by field:
    /// - `wcycle`, `status`, `counter`, `romd`: unchanged;
    /// - `cmd`: the command byte, except Read Array 0xFF → 0x00 (QEMU's value);
    /// - `blk_offset`: the open window's offset, or 0xFFFFFFFF when
    ///   `write_buffer` is `None`;
    /// - `blk_bytes`: the window's bytes while one is open, else `None`.
    pub fn to_v5(&self) -> crate::v5::cfi01::State {
        crate::v5::cfi01::State {
            wcycle: self.wcycle,
            cmd: v5_cmd(self.cmd),
            status: self.status,
            counter: self.counter,
            romd: self.romd,
            blk_offset: self
                .write_buffer
                .as_ref()
                .map_or(NO_BLOCK_OPEN, |b| b.offset),
            blk_bytes: self.write_buffer.as_ref().map(|b| b.bytes.clone()),
        }
    }
}

/// The read mode a command state implies: reads come from the array (ROMD
/// on) only in Read Array with no cycle pending. A destination that gets no
/// ROMD on the wire derives it so.
pub fn romd_of(cmd: IntelCommand, wcycle: u8) -> bool {
    cmd == IntelCommand::ReadArray && wcycle == 0
}

/// `cmd` in v5's encoding: Read Array is QEMU's 0x00, which the guest may
/// still write as a command (§7.1) but v6 never stores.
fn v5_cmd(cmd: IntelCommand) -> u8 {
    match cmd {
        IntelCommand::ReadArray => CMD_READ_ARRAY_QEMU,
        other => other as u8,
    }
}

/// Configuration fixed at realize.
#[derive(Clone, Debug)]
struct Config {
    /// The properties as given (a migration destination realizes from them).
    props: Vec<(String, String)>,
    sector_len: u64,
    num_blocks: u32,
    ids: [u16; 4],
    secure: bool,
    old_multiple_chip_handling: bool,
    writeblock_size: u64,
    /// `x-legacy-migration`: emit v5's stream (machine type nor-5.0).
    legacy_migration: bool,
}

/// The Intel/Sharp parallel NOR flash.
#[derive(Clone, Debug)]
pub struct ParallelNorCfi01Flash {
    bus: ParallelNorFlash,
    config: Config,
    cfi: Vec<u8>,
    wcycle: u8,
    cmd: IntelCommand,
    status: u8,
    counter: u64,
    write_buffer: Option<WriteBuffer>,
}

fn realize_error(message: impl Into<String>) -> DeviceError {
    DeviceError::Realize {
        ty: TYPE_NAME,
        message: message.into(),
    }
}

impl ParallelNorCfi01Flash {
    /// Realizes a device from its properties, with v5's checks and messages (§3).
    pub fn new(
        props: &[(String, String)],
        backend: BlockBackend,
    ) -> Result<ParallelNorCfi01Flash, DeviceError> {
        let v = PropValues::parse(TYPE_NAME, PROPS, props)?;
        let sector_len = v.int("sector-length");
        let num_blocks = v.int("num-blocks") as u32;
        if sector_len == 0 {
            return Err(realize_error(attribute_not_specified_or_zero(
                "sector-length",
            )));
        }
        if num_blocks == 0 {
            return Err(realize_error(attribute_not_specified_or_zero("num-blocks")));
        }
        let Some(name) = v.str("name") else {
            return Err(realize_error(NAME_NOT_SPECIFIED));
        };
        let size = sector_len.wrapping_mul(num_blocks as u64);
        let nor = NorFlash::realize(
            TYPE_NAME,
            name,
            Geometry::uniform(num_blocks, sector_len),
            size,
            backend,
        )?;
        let bank_width = v.int("width") as u8;
        let device_width = v.int("device-width") as u8;
        let max_device_width = match v.int("max-device-width") as u8 {
            0 => device_width,
            m => m,
        };
        let bus = ParallelNorFlash::new(
            nor,
            BusConfig {
                geometry: BusGeometry {
                    bank_width,
                    device_width,
                    max_device_width,
                },
                endianness: if v.bool("big-endian") {
                    Endianness::Big
                } else {
                    Endianness::Little
                },
                mappings: 1,
            },
        );
        let mut dev = ParallelNorCfi01Flash {
            bus,
            config: Config {
                props: props.to_vec(),
                sector_len,
                num_blocks,
                ids: [0, 1, 2, 3].map(|i| v.int(&format!("id{i}")) as u16),
                secure: v.bool("secure"),
                old_multiple_chip_handling: v.bool("old-multiple-chip-handling"),
                writeblock_size: 0,
                legacy_migration: v.bool(LEGACY_MIGRATION_PROP),
            },
            cfi: Vec::new(),
            wcycle: 0,
            cmd: IntelCommand::ReadArray,
            status: STATUS_AFTER_RESET,
            counter: 0,
            write_buffer: None,
        };
        if dev.num_devices() == 0 {
            // QEMU 7.2.22 divides by zero here and dies; v5 refuses with this message.
            return Err(realize_error(format!(
                "attribute \"device-width\" ({device_width}) larger than \"width\" ({bank_width}): \
                 QEMU 7.2.22 divides by zero building the CFI table"
            )));
        }
        dev.cfi = assemble_table(&dev.command_set_data(), &dev.chip_geometry());
        dev.config.writeblock_size = dev.compute_writeblock_size();
        Ok(dev)
    }

    /// Chips in the bank (1 when `device-width` is not given).
    fn num_devices(&self) -> u32 {
        self.bus.bus().num_devices()
    }

    /// Bytes of the write buffer (§12): 2^table[0x2A], times the chips in the
    /// bank unless `old-multiple-chip-handling`.
    fn compute_writeblock_size(&self) -> u64 {
        let mut size = 1u64 << self.command_set_data().max_write_buffer_log2;
        if !self.config.old_multiple_chip_handling && self.num_devices() > 1 {
            size *= self.num_devices() as u64;
        }
        size
    }

    /// Size of the write buffer in bytes.
    pub fn writeblock_size(&self) -> u64 {
        self.config.writeblock_size
    }

    /// The canonical state.
    pub fn state(&self) -> State {
        State {
            wcycle: self.wcycle,
            cmd: self.cmd,
            status: self.status,
            counter: self.counter,
            romd: self.bus.romd(),
            write_buffer: self.write_buffer.clone(),
        }
    }

    /// Restores the canonical state (the array is loaded separately, see
    /// [`FlashDevice::load_ram_block`](crate::device::FlashDevice::load_ram_block)).
    pub fn set_state(&mut self, state: &State) {
        self.wcycle = state.wcycle;
        self.cmd = state.cmd;
        self.status = state.status;
        self.counter = state.counter;
        self.bus.set_romd(state.romd);
        self.write_buffer = state.write_buffer.clone();
    }

    /// "Go to read array" (RA in the spec): ROMD on, expect a command.
    fn read_array(&mut self) {
        self.bus.set_romd(true);
        self.wcycle = 0;
        self.cmd = IntelCommand::ReadArray;
    }

    /// A command that takes a second cycle.
    fn setup(&mut self, cmd: IntelCommand) {
        self.wcycle = 1;
        self.cmd = cmd;
    }

    /// Bus cycle 0: the written byte is a command (§7.1).
    fn write_command(&mut self, offset: u64, b: u8) {
        use IntelCommand::*;
        match IntelCommand::try_from(b) {
            Ok(c @ (AltWordProgram | WordProgram | LockSetup | CfiQuery)) => self.setup(c),
            Ok(BlockErase) => {
                // Quirk §14.1: the block is erased on the setup cycle.
                let start = sector_start(offset, self.config.sector_len);
                if !self.bus.nor_mut().erase(start, self.config.sector_len) {
                    self.status |= SR_ERASE_ERROR;
                }
                self.status |= SR_READY;
                self.setup(BlockErase);
            }
            Ok(ClearStatus) => {
                // Quirk §14.3: SR.7 is cleared too.
                self.status = 0;
                self.read_array();
            }
            Ok(c @ (ReadStatus | ReadIdentifier)) => self.cmd = c,
            Ok(WriteToBuffer) => {
                self.status |= SR_READY;
                self.setup(WriteToBuffer);
            }
            // 0xFF, 0xF0, QEMU's 0x00, and anything unassigned (including
            // 0x28, which QEMU only knows as a stored command) go to read
            // array; QEMU logs the unassigned ones, which no guest can see.
            Ok(ReadArray | AmdProbe | AltBlockErase) | Err(_) => self.read_array(),
        }
    }

    /// Bus cycle 1: the second cycle of a setup command (§7.2).
    fn write_setup_data(&mut self, offset: u64, width: u32, value: u64, b: u8) {
        use IntelCommand::*;
        match self.cmd {
            AltWordProgram | WordProgram => {
                // Quirk §14.2: program overwrites; `cmd` stays (status reads).
                if !self.bus.program(offset, width, value) {
                    self.status |= SR_PROGRAM_ERROR;
                }
                self.status |= SR_READY;
                self.wcycle = 0;
            }
            BlockErase | AltBlockErase => match b {
                CONFIRM => {
                    self.wcycle = 0;
                    self.status |= SR_READY;
                }
                // The block stays erased; a bad confirm sets no error bit.
                _ => self.read_array(),
            },
            WriteToBuffer => self.write_buffer_count(offset, value),
            LockSetup => match b {
                // No lock state is kept (quirk §14.10).
                CONFIRM | LOCK_BLOCK => {
                    self.wcycle = 0;
                    self.status |= SR_READY;
                }
                _ => self.read_array(),
            },
            CfiQuery => {
                // Quirk §14.4: only Read Array leaves query mode.
                if b == ReadArray as u8 {
                    self.read_array();
                }
            }
            ClearStatus | ReadStatus | ReadIdentifier | AmdProbe | ReadArray => self.read_array(),
        }
    }

    /// The count cycle of write-to-buffer (§7.2): the count is masked to the
    /// chip width (bank width in legacy mode), and in 7.2.22 the staging
    /// window opens here, positioned from this write's address (§14.7).
    fn write_buffer_count(&mut self, offset: u64, value: u64) {
        let bus = self.bus.bus();
        let lane = if bus.device_width != 0 {
            bus.device_width
        } else {
            bus.bank_width
        } as u32;
        self.counter = if lane >= 4 {
            value & 0xFFFF_FFFF
        } else {
            value & ((1u64 << (8 * lane)) - 1)
        };
        self.wcycle = 2;
        let size = self.config.writeblock_size;
        let start = offset & !(size - 1);
        let mut bytes = vec![0u8; size as usize];
        let array = self.bus.nor().array();
        let avail = array.len().saturating_sub(start).min(size) as usize;
        array.read(start.min(array.len()), &mut bytes[..avail]);
        self.write_buffer = Some(WriteBuffer {
            offset: start as u32,
            bytes,
        });
    }

    /// Bus cycle 2: buffered data (§7.3). Each write consumes one count
    /// whatever its width; `counter` wraps after the last one (§14.8).
    fn write_buffer_data(&mut self, offset: u64, width: u32, value: u64) {
        if self.cmd != IntelCommand::WriteToBuffer {
            // Only a migration stream can get here; the buffer is kept.
            self.read_array();
            return;
        }
        let staged = !self.bus.nor().read_only() && self.stage(offset, width, value);
        if !staged {
            self.status |= SR_PROGRAM_ERROR;
        }
        self.status |= SR_READY;
        if self.counter == 0 {
            self.wcycle = 3;
        }
        self.counter = self.counter.wrapping_sub(1);
    }

    /// Puts data into the open window; false if none is open or the data
    /// falls outside it.
    fn stage(&mut self, offset: u64, width: u32, value: u64) -> bool {
        let bytes = self.bus.encode(value, width);
        let Some(buf) = self.write_buffer.as_mut() else {
            return false;
        };
        let start = buf.offset as u64;
        // QEMU computes the window end in 32 bits.
        let end = buf.offset.wrapping_add(buf.bytes.len() as u32) as u64;
        if offset < start || offset + width as u64 > end {
            return false;
        }
        let at = (offset - start) as usize;
        buf.bytes[at..at + width as usize].copy_from_slice(&bytes);
        true
    }

    /// Bus cycle 3: confirm of a buffered write (§7.4). A stale SR.4 makes
    /// every confirm abort (§14.9).
    fn write_buffer_confirm(&mut self, b: u8) {
        let buffer = self.write_buffer.take();
        if self.cmd == IntelCommand::WriteToBuffer
            && b == CONFIRM
            && self.status & SR_PROGRAM_ERROR == 0
        {
            if let Some(buf) = buffer {
                // Read-only devices never get here: every data write set SR.4.
                self.bus.nor_mut().program(buf.offset as u64, &buf.bytes);
            }
            self.wcycle = 0;
            self.status |= SR_READY;
        } else {
            // Abort: the staged data is dropped; status is unchanged.
            self.read_array();
        }
    }

    /// The identifier answer (§8).
    fn read_identifier(&self, offset: u64, size: u32) -> u32 {
        let bus = self.bus.bus();
        let ids = self.config.ids.map(u32::from);
        if bus.device_width == 0 {
            // Legacy: two ids packed per entry, not replicated, wrapping.
            match bus.wrapped_query_index(offset) {
                0 => ids[0] << 8 | ids[1],
                1 => ids[2] << 8 | ids[3],
                _ => 0,
            }
        } else {
            bus.gather(offset, size, |a| match bus.chip_query_index(a) & 0xFF {
                0 => bus.replicate_per_chip(ids[0]),
                1 => bus.replicate_per_chip(ids[1]),
                // Block lock status (2/3) is not modelled and not replicated.
                _ => 0,
            })
        }
    }

    /// The CFI query answer (§8).
    fn read_cfi(&self, offset: u64, size: u32) -> u32 {
        let bus = self.bus.bus();
        if bus.device_width == 0 {
            // Legacy: one byte, not replicated, wrapping every 256 bytes.
            table_entry(&self.cfi, bus.wrapped_query_index(offset)) as u32
        } else {
            bus.gather(offset, size, |a| {
                let index = bus.chip_query_index(a);
                if index >= self.cfi.len() as u64 {
                    // No wrap in device-width mode (quirk §14.12).
                    return 0;
                }
                match bus.widen_x8_answer(self.cfi[index as usize]) {
                    Some(answer) => bus.replicate_per_chip(answer),
                    None => 0,
                }
            })
        }
    }
}

impl CommonFlashMemoryInterface for ParallelNorCfi01Flash {
    fn command_set_data(&self) -> CommandSetData {
        CommandSetData {
            table_len: CFI_TABLE_LEN,
            primary_command_set: intel::PRIMARY_COMMAND_SET,
            primary_table_address: PRIMARY_TABLE_ADDRESS,
            // 4.5–5.5 V, no Vpp.
            voltages: [0x45, 0x55, 0x00, 0x00],
            timeouts: Timeouts {
                typical_word_program: 0x07,
                typical_buffer_write: 0x07,
                typical_block_erase: 0x0A,
                // The source comment says 4096 ms; the value is 0.
                typical_chip_erase: 0x00,
                max_word_program: 0x04,
                max_buffer_write: 0x04,
                max_block_erase: 0x04,
                max_chip_erase: 0x00,
            },
            interface: INTERFACE_X8_X16,
            max_write_buffer_log2: if self.bus.bus().bank_width == 1 {
                WRITE_BUFFER_LOG2_X8
            } else {
                WRITE_BUFFER_LOG2_WIDE
            },
            primary_table: PRIMARY_TABLE.to_vec(),
        }
    }

    /// One chip's view (§11): the bank sector is split over the chips, or
    /// with `old-multiple-chip-handling` the block count is.
    fn chip_geometry(&self) -> ChipGeometry {
        let n = self.num_devices().max(1);
        let (blocks, sector_len) = if self.config.old_multiple_chip_handling {
            (self.config.num_blocks / n, self.config.sector_len)
        } else {
            (self.config.num_blocks, self.config.sector_len / n as u64)
        };
        ChipGeometry {
            chip_size: sector_len.wrapping_mul(blocks as u64),
            regions: vec![EraseRegion { blocks, sector_len }],
        }
    }

    fn cfi_table(&self) -> &[u8] {
        &self.cfi
    }
}

impl ParallelNorDevice for ParallelNorCfi01Flash {
    const TYPE_NAME: &'static str = TYPE_NAME;
    type State = State;

    fn realize(
        props: &[(String, String)],
        backend: BlockBackend,
    ) -> Result<ParallelNorCfi01Flash, DeviceError> {
        ParallelNorCfi01Flash::new(props, backend)
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

    /// A read in I/O mode (§9). Accesses are non-secure, so with `secure` on
    /// they return array data and touch no state (§5.1).
    fn command_read(&mut self, addr: u64, size: u32) -> u64 {
        use IntelCommand::*;
        if self.config.secure {
            return self.bus.read_data(addr, size);
        }
        match self.cmd {
            ReadArray => self.bus.read_data(addr, size),
            AltWordProgram | BlockErase | AltBlockErase | WordProgram | ClearStatus | LockSetup
            | ReadStatus | WriteToBuffer => {
                // Status at any address (quirk §14.5).
                self.bus.bus().replicate_status(self.status, size) as u64
            }
            ReadIdentifier => self.read_identifier(addr, size) as u64,
            CfiQuery => self.read_cfi(addr, size) as u64,
            AmdProbe => {
                // Not a state QEMU can hold (only a crafted state gets here):
                // QEMU resets the cycle and reads the array, ROMD left off.
                self.wcycle = 0;
                self.cmd = ReadArray;
                self.bus.read_data(addr, size)
            }
        }
    }

    /// A write (§7). Non-secure writes are rejected with `secure` on (§5.1).
    fn command_write(&mut self, addr: u64, size: u32, value: u64) {
        if self.config.secure {
            return;
        }
        // The command byte is the low byte; other lanes are ignored (§6).
        let b = value as u8;
        if self.wcycle == 0 {
            self.bus.set_romd(false);
        }
        match self.wcycle {
            0 => self.write_command(addr, b),
            1 => self.write_setup_data(addr, size, value, b),
            2 => self.write_buffer_data(addr, size, value),
            3 => self.write_buffer_confirm(b),
            // Only a migration stream can get here (§7.5).
            _ => self.read_array(),
        }
    }

    /// Device reset (§13): `counter` is deliberately left alone.
    fn command_reset(&mut self) {
        self.cmd = IntelCommand::ReadArray;
        self.wcycle = 0;
        self.bus.set_romd(true);
        self.status = STATUS_AFTER_RESET;
        self.write_buffer = None;
    }

    /// The Intel command set as QEMU 7.2.22 models it has no timing at all
    /// (§14.16): it never arms the timer, so this never runs.
    fn timer_fired(&mut self) {}

    // The inherent methods, which callers reach without importing this trait.
    fn state(&self) -> State {
        ParallelNorCfi01Flash::state(self)
    }

    fn set_state(&mut self, state: &State) {
        ParallelNorCfi01Flash::set_state(self, state);
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

    /// Nothing runs after the load: the array arrives as a RAM block and
    /// program/erase write through to the (shared) drive.
    fn after_incoming(&mut self) {}
}
