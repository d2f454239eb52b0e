//! The machine-level migration stream: QEMU's format version 3
//! (spec migration.md §2; byte layout in docs/MIGRATION-STREAM.md).
//!
//! Saving writes the header, the configuration section with the machine type,
//! the `ram` section (one RAM block per flash, named by its `name` property),
//! one FULL section per emitted device registration, and the EOF byte.
//!
//! Loading is transactional. Phase one parses and validates the whole stream
//! against the destination's registrations (machine type, every section
//! matched as QEMU's `find_se` does, versions, subsections, RAM block names
//! and sizes) into a staging value; nothing is touched. Phase two runs the
//! devices' load hooks on forks first, so a hook that refuses its values is
//! found before anything changes, and only then loads the destination
//! devices. Any error leaves the destination exactly as it was.

use crate::backend::BlockBackend;
use crate::device::FlashDevice;
use crate::storage::{PageView, Storage, PAGE_SIZE};
use crate::vmstate::wire::{Reader, Writer};
use crate::vmstate::{
    self, EntryRole, LoadError, LoadFailure, SavedSection, SectionCtx, SectionValue,
    VmStateDescription, QEMU_VM_SUBSECTION,
};
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;

/// `QEVM`.
pub const QEMU_VM_FILE_MAGIC: u32 = 0x5145_564d;
/// The stream format version written and read.
pub const QEMU_VM_FILE_VERSION: u32 = 3;
/// The obsolete format version QEMU recognises only to reject it.
pub const QEMU_VM_FILE_VERSION_COMPAT: u32 = 2;

/// End of the device sections.
pub const QEMU_VM_EOF: u8 = 0x00;
/// First record of an iterative section (with id string).
pub const QEMU_VM_SECTION_START: u8 = 0x01;
/// Further record of an iterative section.
pub const QEMU_VM_SECTION_PART: u8 = 0x02;
/// Last record of an iterative section.
pub const QEMU_VM_SECTION_END: u8 = 0x03;
/// A non-iterative section (with id string).
pub const QEMU_VM_SECTION_FULL: u8 = 0x04;
/// The JSON description QEMU may append after EOF (ignored on load).
pub const QEMU_VM_VMDESCRIPTION: u8 = 0x06;
/// The configuration section (machine type).
pub const QEMU_VM_CONFIGURATION: u8 = 0x07;
/// Section footer marker.
pub const QEMU_VM_SECTION_FOOTER: u8 = 0x7e;

/// Id string of the RAM section.
pub const RAM_IDSTR: &str = "ram";
/// Version of the RAM section.
pub const RAM_VERSION: u32 = 4;
/// RAM record flag: the page is one repeated byte, which follows.
pub const RAM_SAVE_FLAG_ZERO: u64 = 0x02;
/// RAM record flag: the block list (setup).
pub const RAM_SAVE_FLAG_MEM_SIZE: u64 = 0x04;
/// RAM record flag: a full page follows.
pub const RAM_SAVE_FLAG_PAGE: u64 = 0x08;
/// RAM record flag: end of this chunk of RAM records.
pub const RAM_SAVE_FLAG_EOS: u64 = 0x10;
/// RAM record flag: same block as the previous page (no name follows).
pub const RAM_SAVE_FLAG_CONTINUE: u64 = 0x20;
/// RAM record flag: XBZRLE-encoded page (not implemented here).
pub const RAM_SAVE_FLAG_XBZRLE: u64 = 0x40;
/// RAM record flag: compressed page (not implemented here).
pub const RAM_SAVE_FLAG_COMPRESS_PAGE: u64 = 0x100;

/// Target page size bits (ARM: 4 KiB pages, like the measured virt stream).
pub const TARGET_PAGE_BITS: u32 = 12;
/// The minimum page bits of the target, assumed when the subsection is absent.
pub const TARGET_PAGE_BITS_MIN: u32 = 10;
const TARGET_PAGE_MASK: u64 = !((1u64 << TARGET_PAGE_BITS) - 1);

/// Name of the configuration VMState.
pub const CONFIGURATION: &str = "configuration";
/// The configuration subsection carrying the target page bits.
pub const CONFIGURATION_TARGET_PAGE_BITS: &str = "configuration/target-page-bits";
/// The configuration subsection listing the enabled validated capabilities.
pub const CONFIGURATION_CAPABILITIES: &str = "configuration/capabilities";

/// A migration capability that both sides must agree on (QEMU validates
/// only these in `configuration_validate_capabilities`, migration/savevm.c).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Capability {
    /// `x-ignore-shared`: RAM blocks whose backing the destination shares
    /// are not sent. Here: a flash with a drive sends only the pages that
    /// differ from its drive image; the destination, which opens the same
    /// drive, keeps its own (realize-time) contents for the others.
    XIgnoreShared,
}

impl Capability {
    /// Every capability this implementation knows (all are validated).
    pub const ALL: [Capability; 1] = [Capability::XIgnoreShared];

    /// QEMU's name (`MigrationCapability_str`).
    pub fn name(self) -> &'static str {
        match self {
            Capability::XIgnoreShared => "x-ignore-shared",
        }
    }

    /// The capability called `name`, if known.
    pub fn from_name(name: &[u8]) -> Option<Capability> {
        Capability::ALL
            .into_iter()
            .find(|c| c.name().as_bytes() == name)
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Builds the devices of this release started with another machine type it
/// offers (QEMU: the destination started with `-M <type>`), fresh and with
/// the same backing images.
pub trait MachineBuilder: Send + Sync {
    /// Fresh devices, in registration order, for `machine_type`.
    fn build(&self, machine_type: &str) -> Result<Vec<Box<dyn FlashDevice>>, String>;
}

/// A machine: a machine type, the machine types this release could run
/// instead, and its flash devices in registration (realize) order.
pub struct Machine {
    /// The machine type it runs.
    pub machine_type: String,
    /// Machine types this release accepts in an incoming stream (the running
    /// one included). On accepting another one, the destination is rebuilt
    /// for it (see [`Machine::with_builder`]) and then runs it.
    pub offered: Vec<String>,
    /// Devices in registration order: this decides instance ids.
    pub devices: Vec<Box<dyn FlashDevice>>,
    /// Enabled migration capabilities (QEMU's `migrate-set-capabilities`),
    /// in [`Capability::ALL`] order.
    capabilities: Vec<Capability>,
    /// Section id of `ram` in the streams it writes.
    ram_section_id: u32,
    /// How uniform pages travel in the streams it writes.
    page_encoding: PageEncoding,
    builder: Option<Arc<dyn MachineBuilder>>,
}

impl fmt::Debug for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Machine")
            .field("machine_type", &self.machine_type)
            .field("offered", &self.offered)
            .field("devices", &self.devices)
            .field("capabilities", &self.capabilities)
            .field("builder", &self.builder.is_some())
            .finish()
    }
}

/// What a successful load did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadReport {
    /// The machine type the destination runs after the load.
    pub machine_type: String,
    /// True when it had to switch to an offered machine type.
    pub switched_machine_type: bool,
    /// Device sections loaded, in stream order.
    pub sections: Vec<LoadedSection>,
    /// RAM blocks that received pages.
    pub ram_blocks: Vec<String>,
    /// Indices of devices that received no section (fine, as in QEMU).
    pub devices_without_section: Vec<usize>,
}

/// One device section that was loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadedSection {
    pub idstr: String,
    pub instance: u32,
    pub version: u32,
    /// Index of the device it was loaded into.
    pub device: usize,
    /// Names of the subsections it carried.
    pub subsections: Vec<String>,
}

/// One registration: a device's entry with its instance and section id.
#[derive(Clone, Debug)]
struct Registration {
    device: usize,
    instance: u32,
    section_id: u32,
    vmsd: VmStateDescription,
    role: EntryRole,
}

/// Guest address of every RAM block (sent with `x-ignore-shared`): these
/// machines have no memory map.
const RAM_BLOCK_ADDR: u64 = 0;

/// Section id of `ram` unless a machine numbers as its board does
/// ([`Machine::with_ram_section_id`]); device registrations follow it.
pub const RAM_SECTION_ID: u32 = 0;

/// Registrations of `devices`: instance ids count up per id string in
/// registration order (QEMU's `calculate_new_instance_id`).
fn registrations(devices: &[&dyn FlashDevice]) -> Vec<Registration> {
    registrations_from(devices, RAM_SECTION_ID)
}

/// [`registrations`] with `ram` at section id `ram_id`. Section ids follow
/// `ram` over the emitted sections first, in registration order, so that a
/// machine saves the same bytes as one of another release registering only
/// what it emits (QEMU registers one description per device); loaders take
/// the ids after them (a stream's own ids pair its headers and footers).
fn registrations_from(devices: &[&dyn FlashDevice], ram_id: u32) -> Vec<Registration> {
    let mut out: Vec<Registration> = Vec::new();
    for (device, dev) in devices.iter().enumerate() {
        for entry in dev.vmstate_entries() {
            let instance = out
                .iter()
                .filter(|r| r.vmsd.name == entry.vmsd.name)
                .count() as u32;
            out.push(Registration {
                device,
                instance,
                section_id: 0,
                vmsd: entry.vmsd,
                role: entry.role,
            });
        }
    }
    let order = out
        .iter()
        .enumerate()
        .filter(|(_, r)| r.role == EntryRole::Emit)
        .chain(
            out.iter()
                .enumerate()
                .filter(|(_, r)| r.role != EntryRole::Emit),
        )
        .map(|(i, _)| i)
        .collect::<Vec<_>>();
    for (n, i) in order.into_iter().enumerate() {
        out[i].section_id = ram_id + 1 + n as u32;
    }
    out
}

/// Length of a RAM block for an array of `len` bytes: QEMU allocates RAM
/// blocks in whole host pages.
pub fn ram_block_len(len: u64) -> u64 {
    len.div_ceil(PAGE_SIZE as u64) * PAGE_SIZE as u64
}

fn footer(w: &mut Writer, section_id: u32) {
    w.u8(QEMU_VM_SECTION_FOOTER);
    w.be32(section_id);
}

fn write_configuration(w: &mut Writer, machine_type: &str, capabilities: &[Capability]) {
    w.u8(QEMU_VM_CONFIGURATION);
    w.str_be32(machine_type);
    w.u8(QEMU_VM_SUBSECTION);
    w.str_u8(CONFIGURATION_TARGET_PAGE_BITS);
    w.be32(1);
    w.be32(TARGET_PAGE_BITS);
    // QEMU 7.2's `vmstate_capabilites`: sent only when a validated
    // capability is enabled; version 1, be32 count (`caps_count`), then per
    // capability a u8 length and the name (`put_capability`).
    if !capabilities.is_empty() {
        w.u8(QEMU_VM_SUBSECTION);
        w.str_u8(CONFIGURATION_CAPABILITIES);
        w.be32(1);
        w.be32(capabilities.len() as u32);
        for c in capabilities {
            w.str_u8(c.name());
        }
    }
}

/// The pages of `d`'s RAM block that go on the wire: all of them, or with
/// `x-ignore-shared` and a drive the destination shares, only those that
/// differ from the drive image (shared page groups are skipped unread).
fn pages_to_send(d: &dyn FlashDevice, ignore_shared: bool) -> Option<Vec<usize>> {
    if !ignore_shared {
        return None;
    }
    let image = d.backend().image()?;
    let array = d.array();
    (image.len() == array.len()).then(|| array.dirty_pages(image))
}

/// One page record: header word, block name unless CONTINUE, payload.
/// How uniform pages travel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PageEncoding {
    /// Every page holding one repeated byte as ZERO with that byte (erased
    /// 0xFF pages too): compact, and QEMU 7.2's loader memsets the page with
    /// the byte. The models' default.
    #[default]
    Compact,
    /// As QEMU writes pages: ZERO only for all-zero pages, every other page
    /// whole. QEMU 8.2 and later refuse a ZERO record with another byte
    /// ("Found a zero page with value 255"): streams for a real QEMU use this.
    Qemu,
}

fn write_page(w: &mut Writer, d: &dyn FlashDevice, index: usize, first: bool, enc: PageEncoding) {
    let offset = (index * PAGE_SIZE) as u64;
    let cont = if first { 0 } else { RAM_SAVE_FLAG_CONTINUE };
    let array = d.array();
    let view = array.page_view(index);
    let len = array.len().saturating_sub(offset).min(PAGE_SIZE as u64) as usize;
    let fill = array.page_fill(index).or(match view {
        PageView::Fill(b) => Some(b),
        PageView::Data(_) => None,
    });
    let zero = match (enc, fill) {
        (PageEncoding::Compact, Some(b)) => Some(b),
        (PageEncoding::Qemu, Some(0)) => Some(0),
        _ => None,
    };
    let flag = if zero.is_some() {
        RAM_SAVE_FLAG_ZERO
    } else {
        RAM_SAVE_FLAG_PAGE
    };
    w.be64(offset | flag | cont);
    if first {
        w.str_u8(d.ram_block_name());
    }
    if let Some(b) = zero {
        w.u8(b);
        return;
    }
    // A partial last page is padded with zeros, as the page-rounded RAM
    // block is in QEMU.
    match view {
        PageView::Data(bytes) => {
            w.bytes(bytes);
            w.fill(0, PAGE_SIZE - bytes.len());
        }
        PageView::Fill(b) => {
            w.fill(b, len);
            w.fill(0, PAGE_SIZE - len);
        }
    }
}

fn write_ram(
    w: &mut Writer,
    devices: &[&dyn FlashDevice],
    ignore_shared: bool,
    ram_id: u32,
    enc: PageEncoding,
) {
    let total: u64 = devices.iter().map(|d| ram_block_len(d.array().len())).sum();
    let pages: Vec<Option<Vec<usize>>> = devices
        .iter()
        .map(|d| pages_to_send(*d, ignore_shared))
        .collect();
    // Room for the records: a sparse page list is bounded by full pages; a
    // whole block mostly by ZERO records (the writer grows for the rest).
    let records: usize = devices
        .iter()
        .zip(&pages)
        .map(|(d, p)| match p {
            Some(p) => p.len() * (PAGE_SIZE + 9) + d.ram_block_name().len() + 1,
            None => d.array().page_count() * 9 + d.ram_block_name().len() + 1,
        })
        .sum();
    w.reserve(records + 64 * (devices.len() + 1));
    // START: the block list (setup).
    w.u8(QEMU_VM_SECTION_START);
    w.be32(ram_id);
    w.str_u8(RAM_IDSTR);
    w.be32(0);
    w.be32(RAM_VERSION);
    w.be64(total | RAM_SAVE_FLAG_MEM_SIZE);
    for d in devices {
        w.str_u8(d.ram_block_name());
        w.be64(ram_block_len(d.array().len()));
        if ignore_shared {
            // QEMU's ram_save_setup adds the block's guest address with
            // ignore-shared. These machines have no memory map: 0.
            w.be64(RAM_BLOCK_ADDR);
        }
    }
    w.be64(RAM_SAVE_FLAG_EOS);
    footer(w, ram_id);
    // PART: the pages.
    w.u8(QEMU_VM_SECTION_PART);
    w.be32(ram_id);
    for (d, p) in devices.iter().zip(&pages) {
        match p {
            None => {
                for index in 0..d.array().page_count() {
                    write_page(w, *d, index, index == 0, enc);
                }
            }
            Some(p) => {
                for (i, &index) in p.iter().enumerate() {
                    write_page(w, *d, index, i == 0, enc);
                }
            }
        }
    }
    w.be64(RAM_SAVE_FLAG_EOS);
    footer(w, ram_id);
    // END: nothing was dirtied since (the machine is stopped).
    w.u8(QEMU_VM_SECTION_END);
    w.be32(ram_id);
    w.be64(RAM_SAVE_FLAG_EOS);
    footer(w, ram_id);
}

/// Saves `devices` running `machine_type` as a stream.
///
/// Saving takes the devices by shared reference: `pre_save` conversions work
/// on wire copies, so the source is provably unchanged whether or not the
/// migration later succeeds (QEMU's `post_save` has nothing to undo).
pub fn save_stream(machine_type: &str, devices: &[&dyn FlashDevice]) -> Vec<u8> {
    save_stream_with(machine_type, devices, &[])
}

/// [`save_stream`] with migration capabilities enabled on the source.
pub fn save_stream_with(
    machine_type: &str,
    devices: &[&dyn FlashDevice],
    capabilities: &[Capability],
) -> Vec<u8> {
    save_stream_numbered(machine_type, devices, capabilities, RAM_SECTION_ID)
}

/// [`save_stream_with`] with `ram` at section id `ram_id` and the device
/// sections after it. QEMU finds a `ram` PART or END record by the id its
/// START gave, comparing with every registration's last loaded id, which is
/// 0 for those not loaded yet: on a real board `ram` must not be 0 (QEMU's
/// `timer` would take its pages), so board models number as QEMU does.
pub fn save_stream_numbered(
    machine_type: &str,
    devices: &[&dyn FlashDevice],
    capabilities: &[Capability],
    ram_id: u32,
) -> Vec<u8> {
    save_stream_encoded(
        machine_type,
        devices,
        capabilities,
        ram_id,
        PageEncoding::Compact,
    )
}

/// [`save_stream_numbered`] with a choice of page encoding
/// ([`PageEncoding::Qemu`] for a stream a real QEMU is to load).
pub fn save_stream_encoded(
    machine_type: &str,
    devices: &[&dyn FlashDevice],
    capabilities: &[Capability],
    ram_id: u32,
    enc: PageEncoding,
) -> Vec<u8> {
    let regs = registrations_from(devices, ram_id);
    let ignore_shared = capabilities.contains(&Capability::XIgnoreShared);
    let mut w = Writer::with_capacity(256);
    w.be32(QEMU_VM_FILE_MAGIC);
    w.be32(QEMU_VM_FILE_VERSION);
    write_configuration(&mut w, machine_type, capabilities);
    write_ram(&mut w, devices, ignore_shared, ram_id, enc);
    for (device, dev) in devices.iter().enumerate() {
        for SavedSection {
            idstr,
            version,
            value,
        } in dev.save_vmstate()
        {
            let Some(reg) = regs
                .iter()
                .find(|r| r.device == device && r.vmsd.name == idstr && r.role == EntryRole::Emit)
            else {
                panic!(
                    "{}: saved section '{idstr}' that it does not register for emission",
                    dev.type_name()
                );
            };
            w.u8(QEMU_VM_SECTION_FULL);
            w.be32(reg.section_id);
            w.str_u8(idstr);
            w.be32(reg.instance);
            w.be32(version);
            vmstate::encode(&reg.vmsd, version, &value, &mut w);
            footer(&mut w, reg.section_id);
        }
    }
    w.u8(QEMU_VM_EOF);
    w.into_bytes()
}

impl Machine {
    /// A machine running `machine_type` that accepts only that machine type.
    pub fn new(machine_type: &str, devices: Vec<Box<dyn FlashDevice>>) -> Machine {
        Machine {
            machine_type: machine_type.to_string(),
            offered: vec![machine_type.to_string()],
            devices,
            capabilities: Vec::new(),
            ram_section_id: RAM_SECTION_ID,
            page_encoding: PageEncoding::Compact,
            builder: None,
        }
    }

    /// Writes pages as QEMU does ([`PageEncoding::Qemu`]): for a machine
    /// whose streams a real QEMU loads.
    pub fn with_page_encoding(mut self, enc: PageEncoding) -> Machine {
        self.page_encoding = enc;
        self
    }

    /// Numbers the sections it writes from `id` for `ram` (as the board's
    /// QEMU does: 2 on `virt`), see [`save_stream_numbered`].
    pub fn with_ram_section_id(mut self, id: u32) -> Machine {
        self.ram_section_id = id;
        self
    }

    /// Enables a migration capability (QEMU's `migrate-set-capabilities`
    /// before `migrate` on the source, and before `migrate-incoming` on the
    /// destination). Both sides of a migration should enable the same ones.
    pub fn with_capability(mut self, capability: Capability) -> Machine {
        if !self.capabilities.contains(&capability) {
            self.capabilities.push(capability);
            self.capabilities.sort();
        }
        self
    }

    /// The enabled migration capabilities.
    pub fn capabilities(&self) -> &[Capability] {
        &self.capabilities
    }

    /// Also accepts streams of the machine types in `offered`; on accepting
    /// one that is not the running type, the devices are rebuilt for it by
    /// `builder` (how QEMU's destination would have been started) before
    /// loading, and the machine then runs that type.
    pub fn with_builder(
        mut self,
        offered: Vec<String>,
        builder: Arc<dyn MachineBuilder>,
    ) -> Machine {
        self.offered = offered;
        if !self.offered.contains(&self.machine_type) {
            self.offered.insert(0, self.machine_type.clone());
        }
        self.builder = Some(builder);
        self
    }

    /// An independent copy (devices forked, same builder).
    pub fn fork(&self) -> Machine {
        Machine {
            machine_type: self.machine_type.clone(),
            offered: self.offered.clone(),
            devices: self.devices.iter().map(|d| d.fork()).collect(),
            capabilities: self.capabilities.clone(),
            ram_section_id: self.ram_section_id,
            page_encoding: self.page_encoding,
            builder: self.builder.clone(),
        }
    }

    fn device_refs(&self) -> Vec<&dyn FlashDevice> {
        self.devices.iter().map(|d| d.as_ref()).collect()
    }

    /// The outgoing stream of this machine. The machine is not changed.
    pub fn save(&self) -> Vec<u8> {
        save_stream_encoded(
            &self.machine_type,
            &self.device_refs(),
            &self.capabilities,
            self.ram_section_id,
            self.page_encoding,
        )
    }

    /// Loads an incoming stream into this (freshly started) machine.
    ///
    /// On any error the machine is left exactly as it was; the error says
    /// why, as QEMU 7.2.22 would, and lists what else would have failed.
    pub fn load_into(&mut self, bytes: &[u8]) -> Result<LoadReport, LoadFailure> {
        self.load(bytes, None)
    }

    /// [`Machine::load_into`] without shared storage: once the stream is
    /// loaded, each device opens its own drive, `drives[i]` (the
    /// destination's copy of the images), before its post-load handlers run.
    pub fn load_into_reopening(
        &mut self,
        bytes: &[u8],
        drives: &[BlockBackend],
    ) -> Result<LoadReport, LoadFailure> {
        self.load(bytes, Some(drives))
    }

    fn load(
        &mut self,
        bytes: &[u8],
        drives: Option<&[BlockBackend]>,
    ) -> Result<LoadReport, LoadFailure> {
        let mut parser = Parser::new(bytes);
        let mut received = parser.header_and_configuration()?;
        if machine_name_matches(&received, &self.machine_type) {
            // QEMU's quirk: a prefix of the local name passes as the local name.
            received.clone_from(&self.machine_type);
        }
        parser.validate_capabilities(&self.capabilities);
        // Which devices the stream is loaded into.
        let mut rebuilt: Option<Vec<Box<dyn FlashDevice>>> = None;
        let accepted = received == self.machine_type || self.offered.contains(&received);
        if !accepted {
            parser.diag(LoadError::MachineType {
                offset: parser.config_offset,
                received: received.clone(),
                local: self.machine_type.clone(),
                offered: self.offered.clone(),
            });
        } else if received != self.machine_type {
            if let Some(builder) = &self.builder {
                match builder.build(&received) {
                    Ok(devices) => rebuilt = Some(devices),
                    Err(reason) => parser.diag(LoadError::LoadState {
                        offset: parser.config_offset,
                        idstr: CONFIGURATION.to_string(),
                        instance: 0,
                        reason: format!("cannot start machine type '{received}' here: {reason}"),
                    }),
                }
            }
        }
        let staged = {
            let targets: Vec<&dyn FlashDevice> = match &rebuilt {
                Some(devs) => devs.iter().map(|d| d.as_ref()).collect(),
                None => self.device_refs(),
            };
            parser.body(&targets)?
        };
        let switched = received != self.machine_type;
        match rebuilt {
            Some(mut devices) => {
                let report = apply(&mut devices, &staged, &received, switched, drives)?;
                self.devices = devices;
                self.machine_type = received;
                Ok(report)
            }
            None => {
                let report = apply(&mut self.devices, &staged, &received, switched, drives)?;
                self.machine_type = received;
                Ok(report)
            }
        }
    }
}

/// QEMU 7.2.22's machine check (`configuration_post_load`):
/// `strncmp(received, local, received_len)`. A received name equal to the
/// local one passes — and so does any prefix of it, the empty name included,
/// and a name whose NUL byte ends it where the local name ends (migration.md
/// §4 note). QEMU itself always sends the full name.
pub fn machine_name_matches(received: &str, local: &str) -> bool {
    let local = local.as_bytes();
    for (i, &r) in received.as_bytes().iter().enumerate() {
        let l = local.get(i).copied().unwrap_or(0);
        if r != l {
            return false;
        }
        if r == 0 {
            return true;
        }
    }
    true
}

/// A parsed device section waiting to be applied.
#[derive(Clone, Debug)]
struct StagedSection {
    offset: usize,
    device: usize,
    idstr: String,
    instance: u32,
    version: u32,
    value: SectionValue,
}

/// A local RAM block and the pages staged for it.
#[derive(Clone, Debug)]
struct StagedBlock {
    device: usize,
    name: String,
    /// Page-rounded length (what the stream announces).
    len: u64,
    array: Storage,
    touched: bool,
    /// The device has a drive (with `x-ignore-shared`, its unsent pages
    /// are the drive's: shared storage).
    shared: bool,
}

/// Everything a stream would do to the destination.
#[derive(Debug, Default)]
struct Staged {
    blocks: Vec<StagedBlock>,
    sections: Vec<StagedSection>,
}

/// Runs the staged load on `devices`: first on forks (so a refusing load
/// hook is found before anything changes), then on the devices themselves.
fn apply(
    devices: &mut [Box<dyn FlashDevice>],
    staged: &Staged,
    machine_type: &str,
    switched: bool,
    drives: Option<&[BlockBackend]>,
) -> Result<LoadReport, LoadFailure> {
    let mut forks: Vec<Box<dyn FlashDevice>> = devices.iter().map(|d| d.fork()).collect();
    load_devices(&mut forks, staged)?;
    drop(forks);
    // Loading is deterministic, so this cannot fail where the forks did not;
    // if it did, a device's load hook depends on something other than its
    // state and the values, which is a bug in that device.
    load_devices(devices, staged)?;
    if let Some(drives) = drives {
        for (dev, drive) in devices.iter_mut().zip(drives) {
            dev.reopen_drive(drive.fork());
        }
    }
    for dev in devices.iter_mut() {
        dev.post_incoming();
    }
    let sections: Vec<LoadedSection> = staged
        .sections
        .iter()
        .map(|s| LoadedSection {
            idstr: s.idstr.clone(),
            instance: s.instance,
            version: s.version,
            device: s.device,
            subsections: s
                .value
                .subsections
                .iter()
                .map(|(n, _, _)| n.clone())
                .collect(),
        })
        .collect();
    let loaded: BTreeSet<usize> = sections.iter().map(|s| s.device).collect();
    Ok(LoadReport {
        machine_type: machine_type.to_string(),
        switched_machine_type: switched,
        sections,
        ram_blocks: staged
            .blocks
            .iter()
            .filter(|b| b.touched)
            .map(|b| b.name.clone())
            .collect(),
        devices_without_section: (0..devices.len()).filter(|i| !loaded.contains(i)).collect(),
    })
}

fn load_devices(devices: &mut [Box<dyn FlashDevice>], staged: &Staged) -> Result<(), LoadError> {
    for block in staged.blocks.iter().filter(|b| b.touched) {
        devices[block.device].load_ram_block(block.array.clone());
    }
    for s in &staged.sections {
        devices[s.device]
            .load_vmstate(&s.idstr, s.version, &s.value)
            .map_err(|reason| LoadError::LoadState {
                offset: s.offset,
                idstr: s.idstr.clone(),
                instance: s.instance,
                reason,
            })?;
    }
    Ok(())
}

/// What a section record refers to locally.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Handler {
    Ram,
    Device(usize),
}

/// Phase one: parse and validate. Errors that leave the stream parseable are
/// collected and parsing goes on in dry-run, so that a refusal can say what
/// else would have failed; the first one is the refusal.
struct Parser<'a> {
    r: Reader<'a>,
    errors: Vec<LoadError>,
    config_offset: usize,
    /// Section ids seen in START/FULL records and what they refer to.
    started: HashMap<u32, (String, Handler)>,
    /// The block of the previous page record (for CONTINUE).
    last_block: Option<Option<usize>>,
    /// Unknown block names already reported.
    unknown_blocks: BTreeSet<String>,
    /// Capabilities the source announced, with the offset of each name.
    received_caps: Vec<(Capability, usize)>,
}

impl<'a> Parser<'a> {
    fn new(bytes: &'a [u8]) -> Parser<'a> {
        Parser {
            r: Reader::new(bytes),
            errors: Vec::new(),
            config_offset: 0,
            started: HashMap::new(),
            last_block: None,
            unknown_blocks: BTreeSet::new(),
            received_caps: Vec::new(),
        }
    }

    /// Records an error that does not stop parsing.
    fn diag(&mut self, e: LoadError) {
        self.errors.push(e);
    }

    /// The refusal for a fatal error: earlier collected errors come first.
    fn fail(&mut self, e: LoadError) -> LoadFailure {
        self.errors.push(e);
        let mut errors = std::mem::take(&mut self.errors).into_iter();
        let error = errors.next().unwrap_or_else(|| LoadError::Corrupt {
            offset: 0,
            what: "no error recorded".into(),
        });
        LoadFailure {
            error,
            diagnostics: errors.collect(),
        }
    }

    /// True when the source announced `capability`.
    fn received(&self, capability: Capability) -> bool {
        self.received_caps.iter().any(|(c, _)| *c == capability)
    }

    /// Magic, version and the configuration section; returns the machine type.
    fn header_and_configuration(&mut self) -> Result<String, LoadFailure> {
        self.header().map_err(|e| self.fail(e))
    }

    fn header(&mut self) -> Result<String, LoadError> {
        let magic = self.r.be32(&"stream magic")?;
        if magic != QEMU_VM_FILE_MAGIC {
            return Err(LoadError::NotAStream { offset: 0 });
        }
        let at = self.r.offset();
        let version = self.r.be32(&"stream format version")?;
        if version == QEMU_VM_FILE_VERSION_COMPAT {
            return Err(LoadError::ObsoleteFormat { offset: at });
        }
        if version != QEMU_VM_FILE_VERSION {
            return Err(LoadError::UnsupportedFormat {
                offset: at,
                version,
            });
        }
        self.config_offset = self.r.offset();
        let ty = self.r.u8(&"configuration section")?;
        if ty != QEMU_VM_CONFIGURATION {
            return Err(LoadError::ConfigurationMissing {
                offset: self.config_offset,
                found: ty,
            });
        }
        let name = self
            .r
            .str_be32(&"section 'configuration' field 'configuration:name'")?;
        // configuration_pre_load: without the subsection the source used the
        // target's minimum page size.
        let mut page_bits = TARGET_PAGE_BITS_MIN;
        let mut page_bits_at = self.r.offset();
        while self.r.peek(0) == Some(QEMU_VM_SUBSECTION) {
            let Some(len) = self.r.peek(1) else { break };
            let len = len as usize;
            if len < CONFIGURATION.len() + 1 {
                break;
            }
            let Some(sub) = self.r.peek_bytes(2, len) else {
                break;
            };
            if !sub.starts_with(CONFIGURATION.as_bytes()) {
                break;
            }
            let known = [CONFIGURATION_TARGET_PAGE_BITS, CONFIGURATION_CAPABILITIES]
                .into_iter()
                .find(|k| k.as_bytes() == sub);
            let Some(known) = known else {
                // configuration/uuid is not implemented: an unknown
                // subsection here.
                return Err(LoadError::UnknownSubsection {
                    offset: self.r.offset(),
                    idstr: CONFIGURATION.to_string(),
                    instance: 0,
                    subsection: String::from_utf8_lossy(sub).into_owned(),
                });
            };
            self.r.seek(self.r.offset() + 2 + len);
            let at = self.r.offset();
            let version = self.r.be32(&format_args!("subsection '{known}' version"))? as u8 as u32;
            if version > 1 {
                return Err(LoadError::VersionTooNew {
                    offset: at,
                    vmsd: known.to_string(),
                    version,
                    local: 1,
                });
            }
            if version < 1 {
                return Err(LoadError::VersionTooOld {
                    offset: at,
                    vmsd: known.to_string(),
                    version,
                    minimum: 1,
                });
            }
            if known == CONFIGURATION_CAPABILITIES {
                self.capabilities()?;
                continue;
            }
            page_bits_at = self.r.offset();
            page_bits = self.r.be32(
                &"section 'configuration' field 'configuration/target-page-bits:target_page_bits'",
            )?;
        }
        if page_bits != TARGET_PAGE_BITS {
            self.diag(LoadError::TargetPageBits {
                offset: page_bits_at,
                received: page_bits,
                local: TARGET_PAGE_BITS,
            });
        }
        Ok(name)
    }

    /// The fields of `configuration/capabilities` (QEMU 7.2's
    /// `vmstate_capabilites`): be32 `caps_count`, then per capability a u8
    /// length and the name. The count is not trusted for allocation: each
    /// name is read (and bounds-checked) in turn.
    fn capabilities(&mut self) -> Result<(), LoadError> {
        let count = self
            .r
            .be32(&"section 'configuration' field 'configuration/capabilities:caps_count'")?;
        self.received_caps.clear();
        for i in 0..count {
            let at = self.r.offset();
            let len = self.r.u8(&format_args!(
                "section 'configuration' field 'configuration/capabilities:capabilities' \
                 element {i} length"
            ))? as usize;
            let name = self.r.bytes(
                len,
                &format_args!(
                    "section 'configuration' field 'configuration/capabilities:capabilities' \
                     element {i}"
                ),
            )?;
            match Capability::from_name(name) {
                Some(c) => self.received_caps.push((c, at)),
                // get_capability fails the field: the load stops here.
                None => {
                    return Err(LoadError::UnknownCapability {
                        offset: at,
                        name: String::from_utf8_lossy(name).into_owned(),
                    })
                }
            }
        }
        Ok(())
    }

    /// QEMU's `configuration_validate_capabilities`: every validated
    /// capability must be on at both ends or off at both ends. A stream
    /// without the capabilities subsection has them all off (QEMU's
    /// `configuration_pre_load` clears the list).
    fn validate_capabilities(&mut self, local: &[Capability]) {
        for capability in Capability::ALL {
            let at = self.received_caps.iter().find(|(c, _)| *c == capability);
            let received = at.is_some();
            let here = local.contains(&capability);
            if received != here {
                self.diag(LoadError::CapabilityMismatch {
                    offset: at.map_or(self.config_offset, |(_, offset)| *offset),
                    capability: capability.name().to_string(),
                    local: here,
                    received,
                });
            }
        }
    }

    /// Everything after the configuration section, against `devices`.
    fn body(&mut self, devices: &[&dyn FlashDevice]) -> Result<Staged, LoadFailure> {
        match self.sections(devices) {
            Ok(staged) if self.errors.is_empty() => Ok(staged),
            Ok(_) => {
                let mut errors = std::mem::take(&mut self.errors).into_iter();
                let error = errors.next().unwrap_or_else(|| LoadError::Corrupt {
                    offset: 0,
                    what: "no error recorded".into(),
                });
                Err(LoadFailure {
                    error,
                    diagnostics: errors.collect(),
                })
            }
            Err(e) => Err(self.fail(e)),
        }
    }

    fn sections(&mut self, devices: &[&dyn FlashDevice]) -> Result<Staged, LoadError> {
        let regs = registrations(devices);
        let mut staged = Staged {
            blocks: devices
                .iter()
                .enumerate()
                .map(|(device, d)| StagedBlock {
                    device,
                    name: d.ram_block_name().to_string(),
                    len: ram_block_len(d.array().len()),
                    array: d.array().clone(),
                    touched: false,
                    shared: d.backend().has_drive(),
                })
                .collect(),
            sections: Vec::new(),
        };
        loop {
            let at = self.r.offset();
            let ty = self.r.u8(&"section type")?;
            match ty {
                QEMU_VM_EOF => break,
                QEMU_VM_SECTION_START | QEMU_VM_SECTION_FULL => {
                    let section_id = self.r.be32(&"section id")?;
                    let idstr = self.r.str_u8(&"section id string")?;
                    let instance = self
                        .r
                        .be32(&format_args!("section '{idstr}' instance id"))?;
                    let version = self.r.be32(&format_args!("section '{idstr}' version id"))?;
                    let handler = if idstr == RAM_IDSTR && instance == 0 {
                        Handler::Ram
                    } else {
                        // find_se: the first registration with this id
                        // string and instance id.
                        match regs
                            .iter()
                            .position(|r| r.vmsd.name == idstr && r.instance == instance)
                        {
                            Some(i) => Handler::Device(i),
                            None => {
                                self.diag(LoadError::UnknownSection {
                                    offset: at,
                                    idstr,
                                    instance,
                                });
                                if !self.resync(section_id) {
                                    return Ok(staged);
                                }
                                continue;
                            }
                        }
                    };
                    self.started.insert(section_id, (idstr.clone(), handler));
                    let local = match handler {
                        Handler::Ram => RAM_VERSION,
                        Handler::Device(i) => regs[i].vmsd.version_id,
                    };
                    if version > local {
                        self.diag(LoadError::UnsupportedVersion {
                            offset: at,
                            idstr,
                            version,
                            local,
                        });
                        if !self.resync(section_id) {
                            return Ok(staged);
                        }
                        continue;
                    }
                    if !self.section_data(
                        at,
                        section_id,
                        &idstr,
                        instance,
                        version,
                        handler,
                        &regs,
                        &mut staged,
                    )? {
                        return Ok(staged);
                    }
                }
                QEMU_VM_SECTION_PART | QEMU_VM_SECTION_END => {
                    let section_id = self.r.be32(&"section id")?;
                    let Some((idstr, handler)) = self.started.get(&section_id).cloned() else {
                        return Err(LoadError::UnknownSectionId {
                            offset: at,
                            section_id,
                        });
                    };
                    let (instance, version) = match handler {
                        Handler::Ram => (0, RAM_VERSION),
                        Handler::Device(i) => (regs[i].instance, regs[i].vmsd.version_id),
                    };
                    if !self.section_data(
                        at,
                        section_id,
                        &idstr,
                        instance,
                        version,
                        handler,
                        &regs,
                        &mut staged,
                    )? {
                        return Ok(staged);
                    }
                }
                other => {
                    return Err(LoadError::UnknownSectionType {
                        offset: at,
                        ty: other,
                    })
                }
            }
        }
        // Anything after EOF (QEMU's optional JSON description) is not read.
        Ok(staged)
    }

    /// The data and footer of one section record. Returns false when
    /// parsing cannot go on after a collected error.
    #[allow(clippy::too_many_arguments)]
    fn section_data(
        &mut self,
        at: usize,
        section_id: u32,
        idstr: &str,
        instance: u32,
        version: u32,
        handler: Handler,
        regs: &[Registration],
        staged: &mut Staged,
    ) -> Result<bool, LoadError> {
        match handler {
            Handler::Ram => {
                if version < RAM_VERSION {
                    self.diag(LoadError::LoadState {
                        offset: at,
                        idstr: RAM_IDSTR.to_string(),
                        instance,
                        reason: format!("RAM section version {version} is not {RAM_VERSION}"),
                    });
                    return Ok(self.resync(section_id));
                }
                self.ram(staged)?;
            }
            Handler::Device(i) => {
                let reg = &regs[i];
                let ctx = SectionCtx { idstr, instance };
                match vmstate::decode(&reg.vmsd, version, &mut self.r, ctx) {
                    Ok(value) => staged.sections.push(StagedSection {
                        offset: at,
                        device: reg.device,
                        idstr: idstr.to_string(),
                        instance,
                        version,
                        value,
                    }),
                    Err(e @ LoadError::Truncated { .. }) => return Err(e),
                    Err(e) => {
                        self.diag(e);
                        return Ok(self.resync(section_id));
                    }
                }
            }
        }
        self.footer(section_id, idstr)?;
        Ok(true)
    }

    /// QEMU's `check_section_footer`.
    fn footer(&mut self, section_id: u32, idstr: &str) -> Result<(), LoadError> {
        let at = self.r.offset();
        let mark = self.r.u8(&format_args!("section '{idstr}' footer"))?;
        if mark != QEMU_VM_SECTION_FOOTER {
            return Err(LoadError::MissingFooter {
                offset: at,
                idstr: idstr.to_string(),
            });
        }
        let read = self
            .r
            .be32(&format_args!("section '{idstr}' footer section id"))?;
        if read != section_id {
            return Err(LoadError::MismatchedFooter {
                offset: at,
                idstr: idstr.to_string(),
                read,
                expected: section_id,
            });
        }
        Ok(())
    }

    /// After an error inside a section (dry-run only): skip to the byte after
    /// its footer, recognised as `7E <section id>` followed by a plausible
    /// record type. False if there is none.
    fn resync(&mut self, section_id: u32) -> bool {
        let mut footer = [QEMU_VM_SECTION_FOOTER, 0, 0, 0, 0];
        footer[1..].copy_from_slice(&section_id.to_be_bytes());
        let mut ahead = 0;
        while let Some(window) = self.r.peek_bytes(ahead, footer.len()) {
            if window == footer {
                let next = self.r.peek(ahead + footer.len());
                if matches!(next, None | Some(QEMU_VM_EOF..=QEMU_VM_SECTION_FULL)) {
                    self.r.seek(self.r.offset() + ahead + footer.len());
                    return next.is_some();
                }
            }
            ahead += 1;
        }
        false
    }

    /// QEMU's `ram_load_precopy` for one record's data, up to its EOS.
    fn ram(&mut self, staged: &mut Staged) -> Result<(), LoadError> {
        loop {
            let at = self.r.offset();
            let word = self.r.be64(&"section 'ram' record header")?;
            let flags = word & !TARGET_PAGE_MASK;
            let addr = word & TARGET_PAGE_MASK;
            let mut block: Option<usize> = None;
            if flags
                & (RAM_SAVE_FLAG_ZERO
                    | RAM_SAVE_FLAG_PAGE
                    | RAM_SAVE_FLAG_COMPRESS_PAGE
                    | RAM_SAVE_FLAG_XBZRLE)
                != 0
            {
                block = self.page_block(flags, staged)?;
                if let Some(b) = block {
                    if addr >= staged.blocks[b].len {
                        return Err(LoadError::IllegalRamOffset {
                            offset: at,
                            block: staged.blocks[b].name.clone(),
                            addr,
                        });
                    }
                }
            }
            match flags & !RAM_SAVE_FLAG_CONTINUE {
                RAM_SAVE_FLAG_MEM_SIZE => self.ram_setup(addr, staged)?,
                RAM_SAVE_FLAG_ZERO => {
                    let fill = self.r.u8(&"section 'ram' zero-page fill byte")?;
                    if let Some(b) = block {
                        stage_page(&mut staged.blocks[b], addr, |array, off, n| {
                            array.fill(off, n as u64, fill)
                        });
                    }
                }
                RAM_SAVE_FLAG_PAGE => {
                    let data = self.r.bytes(PAGE_SIZE, &"section 'ram' page data")?;
                    if let Some(b) = block {
                        stage_page(&mut staged.blocks[b], addr, |array, off, n| {
                            array.write(off, &data[..n])
                        });
                    }
                }
                RAM_SAVE_FLAG_EOS => return Ok(()),
                _ => return Err(LoadError::RamFlags { offset: at, flags }),
            }
        }
    }

    /// The block a page record refers to (`ram_block_from_stream`).
    /// `None` for a block already reported unknown (dry-run).
    fn page_block(&mut self, flags: u64, staged: &Staged) -> Result<Option<usize>, LoadError> {
        let at = self.r.offset();
        if flags & RAM_SAVE_FLAG_CONTINUE != 0 {
            return match self.last_block {
                Some(b) => Ok(b),
                None => Err(LoadError::RamNoBlock { offset: at }),
            };
        }
        let name = self.r.str_u8(&"section 'ram' page block name")?;
        let found = staged.blocks.iter().position(|b| b.name == name);
        if found.is_none() && self.unknown_blocks.insert(name.clone()) {
            self.diag(LoadError::RamPageBlock { offset: at, name });
        }
        self.last_block = Some(found);
        Ok(found)
    }

    /// The block list: every announced block must exist with the same size.
    fn ram_setup(&mut self, total: u64, staged: &Staged) -> Result<(), LoadError> {
        let mut left = total;
        while left > 0 {
            let at = self.r.offset();
            let name = self.r.str_u8(&"section 'ram' block name")?;
            let len = self
                .r
                .be64(&format_args!("section 'ram' length of block '{name}'"))?;
            let local = staged.blocks.iter().find(|b| b.name == name);
            match local {
                None => {
                    self.unknown_blocks.insert(name.clone());
                    self.diag(LoadError::UnknownRamBlock {
                        offset: at,
                        name: name.clone(),
                    });
                }
                Some(b) if b.len != len => self.diag(LoadError::RamBlockSize {
                    offset: at,
                    name: name.clone(),
                    received: len,
                    local: b.len,
                }),
                Some(_) => {}
            }
            if self.received(Capability::XIgnoreShared) {
                // ram_load_precopy: the block's guest address follows; it
                // must match for a block that is not sent (a shared one).
                let addr_at = self.r.offset();
                let addr = self
                    .r
                    .be64(&format_args!("section 'ram' address of block '{name}'"))?;
                if local.is_some_and(|b| b.shared) && addr != RAM_BLOCK_ADDR {
                    self.diag(LoadError::RamBlockAddress {
                        offset: addr_at,
                        name: name.clone(),
                        received: addr as i64,
                        local: RAM_BLOCK_ADDR as i64,
                    });
                }
            }
            if len > left {
                return Err(LoadError::Corrupt {
                    offset: at,
                    what: format!(
                        "RAM block lengths exceed the announced total ({len:#x} > {left:#x} left)"
                    ),
                });
            }
            left -= len;
        }
        Ok(())
    }
}

/// Applies one page to a staged block: the part inside the array (a
/// page-rounded block may extend past a partial last page).
fn stage_page(block: &mut StagedBlock, addr: u64, op: impl FnOnce(&mut Storage, u64, usize)) {
    let len = block.array.len();
    if addr >= len {
        return;
    }
    let n = (len - addr).min(PAGE_SIZE as u64) as usize;
    op(&mut block.array, addr, n);
    block.touched = true;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migration::testdev::{MockDevice, MOCK, MOCK_OLD, REFUSED_CMD};

    fn machine(mt: &str, devs: Vec<MockDevice>) -> Machine {
        Machine::new(
            mt,
            devs.into_iter()
                .map(|d| Box::new(d) as Box<dyn FlashDevice>)
                .collect(),
        )
    }

    fn busy_source() -> Machine {
        let mut a = MockDevice::new("flash0", 3 * PAGE_SIZE as u64, 0xFF);
        a.m.cmd = 0xE8;
        a.m.counter = 0xFFFF_FFFF_FFFF_FFFF;
        a.m.buf = Some(((0..16).collect(), 0x2000));
        a.m.array.write(PAGE_SIZE as u64 + 5, &[1, 2, 3]);
        let mut b = MockDevice::new("flash1", 2 * PAGE_SIZE as u64, 0);
        b.m.counter = 7;
        let mut c = MockDevice::new("flash2", PAGE_SIZE as u64, 0xFF);
        c.m.stateless = true;
        c.m.array.write(0, &[0x5A]);
        machine("m-1", vec![a, b, c])
    }

    fn fresh_destination() -> Machine {
        let c = {
            let mut c = MockDevice::new("flash2", PAGE_SIZE as u64, 0xFF);
            c.m.stateless = true;
            c
        };
        machine(
            "m-1",
            vec![
                MockDevice::new("flash0", 3 * PAGE_SIZE as u64, 0xFF),
                MockDevice::new("flash1", 2 * PAGE_SIZE as u64, 0),
                c,
            ],
        )
    }

    #[test]
    fn without_shared_storage_each_device_opens_its_own_drive_before_post_load() {
        for (ty, writes_back) in [
            ("cfi.pflash01", true),
            ("cfi.pflash02", false),
            ("parallel-nor-cfi01-flash", true),
            ("parallel-nor-cfi02-flash", true),
        ] {
            let spec = crate::DeviceSpec::parse(&format!(
                "{ty},num-blocks=4,sector-length=0x1000,width=2,name=f"
            ))
            .unwrap();
            let stale = BlockBackend::memory(0x4000, 0xFF, true);
            let mut src = crate::create(&spec, stale.fork()).unwrap();
            let mut written = src.array().clone();
            written.write(0x1000, &[0x12, 0x34]);
            src.load_ram_block(written.clone());
            let bytes = Machine::new("m-1", vec![src]).save();
            let mut dst = Machine::new("m-1", vec![crate::create(&spec, stale.fork()).unwrap()]);
            dst.load_into_reopening(&bytes, std::slice::from_ref(&stale))
                .unwrap();
            let d = &dst.devices[0];
            assert_eq!(d.array(), &written, "{ty}: the array is the stream's");
            let image = d.backend().image().expect("a drive");
            if writes_back {
                assert_eq!(image, &written, "{ty}: written back after the load");
            } else {
                assert_eq!(image, stale.image().unwrap(), "{ty}: left as the copy was");
            }
        }
    }

    /// Everything about a machine, representation included.
    fn snapshot(m: &Machine) -> String {
        format!("{m:?}")
    }

    #[test]
    fn round_trip_carries_state_subsections_and_arrays() {
        let src = busy_source();
        let before = snapshot(&src);
        let bytes = src.save();
        assert_eq!(snapshot(&src), before, "saving must not touch the source");
        let mut dst = fresh_destination();
        let report = dst.load_into(&bytes).unwrap();
        assert_eq!(report.machine_type, "m-1");
        assert!(!report.switched_machine_type);
        assert_eq!(report.sections.len(), 2);
        assert_eq!(report.sections[0].subsections, vec!["mock/buf".to_string()]);
        assert_eq!(report.devices_without_section, vec![2]);
        assert_eq!(report.ram_blocks, vec!["flash0", "flash1", "flash2"]);
        // Same stream again from the destination: nothing was lost.
        assert_eq!(dst.save(), bytes);
        for (s, d) in src.devices.iter().zip(&dst.devices) {
            assert_eq!(s.array(), d.array());
        }
    }

    #[test]
    fn header_configuration_and_ram_layout() {
        let mut d = MockDevice::new("f", PAGE_SIZE as u64, 0xFF);
        d.m.stateless = true;
        let bytes = machine("nor-5.0", vec![d]).save();
        let mut expected: Vec<u8> = vec![0x51, 0x45, 0x56, 0x4d, 0, 0, 0, 3, 7, 0, 0, 0, 7];
        expected.extend_from_slice(b"nor-5.0");
        expected.extend_from_slice(&[5, 0x1e]);
        expected.extend_from_slice(b"configuration/target-page-bits");
        expected.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 12]);
        // START ram: section 0, instance 0, version 4; MEM_SIZE; block; EOS; footer.
        expected.extend_from_slice(&[1, 0, 0, 0, 0, 3, b'r', b'a', b'm', 0, 0, 0, 0, 0, 0, 0, 4]);
        expected.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0x10, 0x04, 1, b'f']);
        expected.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0x10, 0x00]);
        expected.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0x10, 0x7e, 0, 0, 0, 0]);
        // PART: one ZERO page filled with 0xFF, EOS, footer.
        expected.extend_from_slice(&[2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 1, b'f', 0xFF]);
        expected.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0x10, 0x7e, 0, 0, 0, 0]);
        // END: EOS, footer. Then EOF.
        expected.extend_from_slice(&[3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0x7e, 0, 0, 0, 0]);
        expected.push(0);
        assert_eq!(bytes, expected);
        // For a real QEMU: the erased page whole (QEMU sends ZERO only for
        // zero pages, and 8.2 and later refuse a ZERO with another byte).
        let mut d = MockDevice::new("f", PAGE_SIZE as u64, 0xFF);
        d.m.stateless = true;
        let qemu = machine("nor-5.0", vec![d])
            .with_page_encoding(PageEncoding::Qemu)
            .save();
        let at = expected
            .windows(3)
            .position(|w| w == [0x02, 1, b'f'])
            .unwrap();
        let mut whole = expected[..at].to_vec();
        whole.extend_from_slice(&[0x08, 1, b'f']);
        whole.extend_from_slice(&[0xFF; PAGE_SIZE]);
        whole.extend_from_slice(&expected[at + 4..]);
        assert_eq!(qemu, whole);
    }

    #[test]
    fn unknown_section_is_refused_and_destination_untouched() {
        let bytes = busy_source().save();
        let mut dst = machine(
            "m-1",
            vec![
                MockDevice::new("flash0", 3 * PAGE_SIZE as u64, 0xFF),
                {
                    let mut d = MockDevice::new("flash1", 2 * PAGE_SIZE as u64, 0);
                    d.m.stateless = true;
                    d
                },
                {
                    let mut d = MockDevice::new("flash2", PAGE_SIZE as u64, 0xFF);
                    d.m.stateless = true;
                    d
                },
            ],
        );
        let before = snapshot(&dst);
        let err = dst.load_into(&bytes).unwrap_err();
        assert_eq!(
            err.error,
            LoadError::UnknownSection {
                offset: err.error.offset(),
                idstr: MOCK.into(),
                instance: 1
            }
        );
        assert!(err.to_string().starts_with(
            "Unknown savevm section or instance 'mock' 1. Make sure that your current VM setup \
             matches your saved VM setup, including any hotplugged devices (at byte "
        ));
        assert_eq!(snapshot(&dst), before);
    }

    #[test]
    fn machine_type_refusal_lists_what_else_would_fail() {
        let bytes = busy_source().save();
        let mut dst = machine(
            "m-0",
            vec![{
                let mut d = MockDevice::new("flash0", 3 * PAGE_SIZE as u64, 0xFF);
                d.m.stateless = true;
                d
            }],
        );
        let before = snapshot(&dst);
        let err = dst.load_into(&bytes).unwrap_err();
        assert!(matches!(err.error, LoadError::MachineType { .. }));
        assert_eq!(
            err.unknown_sections(),
            vec![(MOCK.to_string(), 0), (MOCK.to_string(), 1)]
        );
        let text = err.to_string();
        assert!(
            text.starts_with("Machine type received is 'm-1' and local is 'm-0'"),
            "{text}"
        );
        assert!(
            text.contains("sections unknown here: mock 0, mock 1"),
            "{text}"
        );
        assert!(text.contains("Unknown ramblock \"flash1\""), "{text}");
        assert_eq!(snapshot(&dst), before);
    }

    struct LegacyBuilder;

    impl MachineBuilder for LegacyBuilder {
        fn build(&self, machine_type: &str) -> Result<Vec<Box<dyn FlashDevice>>, String> {
            let mut d = MockDevice::new("flash0", 3 * PAGE_SIZE as u64, 0xFF);
            d.m.legacy = machine_type == "m-0";
            Ok(vec![Box::new(d)])
        }
    }

    #[test]
    fn offered_machine_type_rebuilds_the_destination_and_legacy_sections_load() {
        // An old source: legacy layout, Read Array travels as 0x00.
        let mut old = MockDevice::new("flash0", 3 * PAGE_SIZE as u64, 0xFF);
        old.m.legacy = true;
        old.m.counter = 9;
        let src = machine("m-0", vec![old]);
        let bytes = src.save();
        let mut dst = Machine::new("m-1", LegacyBuilder.build("m-1").unwrap())
            .with_builder(vec!["m-1".into(), "m-0".into()], Arc::new(LegacyBuilder));
        let report = dst.load_into(&bytes).unwrap();
        assert!(report.switched_machine_type);
        assert_eq!(dst.machine_type, "m-0");
        assert_eq!(report.sections[0].idstr, MOCK_OLD);
        // Running m-0 now, it emits the legacy section again, byte for byte.
        assert_eq!(dst.save(), bytes);
        // A new-layout stream into an m-1 machine loads the new section.
        let mut new_src = MockDevice::new("flash0", 3 * PAGE_SIZE as u64, 0xFF);
        new_src.m.cmd = 0;
        let bytes = machine("m-1", vec![new_src]).save();
        let mut dst = Machine::new("m-1", LegacyBuilder.build("m-1").unwrap());
        dst.load_into(&bytes).unwrap();
        assert_eq!(dst.save(), bytes, "0x00 stays 0x00 in the new layout");
    }

    #[test]
    fn refused_values_leave_the_destination_untouched() {
        let mut src = busy_source();
        let mut bad = MockDevice::new("flash1", 2 * PAGE_SIZE as u64, 0);
        bad.m.cmd = REFUSED_CMD;
        src.devices[1] = Box::new(bad);
        let bytes = src.save();
        let mut dst = fresh_destination();
        let before = snapshot(&dst);
        let err = dst.load_into(&bytes).unwrap_err();
        assert_eq!(
            err.error.kind(),
            crate::migration::LoadErrorKind::DeviceState
        );
        assert!(err.to_string().starts_with(
            "error while loading state for instance 0x1 of device 'mock': command 0x42"
        ));
        assert_eq!(snapshot(&dst), before);
    }

    #[test]
    fn ram_block_names_and_sizes_must_match() {
        let bytes = busy_source().save();
        let mut dst = fresh_destination();
        dst.devices[1] = Box::new(MockDevice::new("flash1", 3 * PAGE_SIZE as u64, 0));
        let err = dst.load_into(&bytes).unwrap_err();
        assert!(err
            .to_string()
            .starts_with("Size mismatch: flash1: 0x2000 != 0x3000 (at byte "));
        let mut dst = fresh_destination();
        dst.devices[2] = Box::new({
            let mut d = MockDevice::new("other", PAGE_SIZE as u64, 0xFF);
            d.m.stateless = true;
            d
        });
        let err = dst.load_into(&bytes).unwrap_err();
        assert!(err
            .to_string()
            .starts_with("Unknown ramblock \"flash2\", cannot accept migration"));
    }

    #[test]
    fn version_checks_use_qemu_messages() {
        let mut bytes = busy_source().save();
        // The first FULL record's version field.
        let pos = bytes.windows(5).position(|w| w == [4, 0, 0, 0, 1]).unwrap();
        let version_at = pos + 5 + 1 + MOCK.len() + 4;
        bytes[version_at + 3] = 3;
        let err = fresh_destination().load_into(&bytes).unwrap_err();
        assert_eq!(
            err.error.to_string(),
            format!("savevm: unsupported version 3 for 'mock' v2 (at byte {pos})")
        );
        bytes[version_at + 3] = 0;
        let err = fresh_destination().load_into(&bytes).unwrap_err();
        assert!(err
            .error
            .to_string()
            .starts_with("mock: incoming version_id 0 is too old for local minimum version_id  1"));
    }

    #[test]
    fn every_truncation_and_bit_flip_is_refused_or_loads_without_panic() {
        let bytes = busy_source().save();
        let dst = fresh_destination();
        let before = snapshot(&dst);
        for cut in 0..bytes.len() {
            let mut d = dst.fork();
            // Cutting inside what QEMU never reads (after EOF) is the only way to load.
            if d.load_into(&bytes[..cut]).is_ok() {
                panic!("truncated stream of {cut} bytes loaded");
            }
            assert_eq!(snapshot(&d), before, "cut at {cut}");
        }
        for bit in (0..bytes.len() * 8).step_by(7) {
            let mut flipped = bytes.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            let mut d = dst.fork();
            if d.load_into(&flipped).is_err() {
                assert_eq!(snapshot(&d), before, "bit {bit}");
            }
        }
    }
}
