//! Streams written by real QEMU: whole-VM analysis and flash-only rewriting.
//!
//! [`stream`](super::stream) loads streams that carry nothing but flash.
//! A stream from real QEMU (arm `virt-7.2`, `musicpal`) also carries guest
//! RAM, ROM blobs and a section for every device (cpu, gic, timers, ...),
//! and after `QEMU_VM_EOF` the JSON description QEMU writes for its
//! analysis script (`QEMU_VM_VMDESCRIPTION`). This module:
//!
//! - [`analyze`] decodes such a stream: header, configuration section, the
//!   `ram` section (block list, page records per block), every device
//!   section with its byte range, `QEMU_VM_COMMAND` records and the vmdesc.
//!   Sections this crate cannot parse are skipped by the size their vmdesc
//!   entry gives (QEMU's `vmsd_desc_field_end` records each field's written
//!   size), checked against the section footer; without a usable vmdesc the
//!   footer is found by scanning ([`SizeMethod`]);
//! - [`flash_only`] rewrites it into a stream with only the kept sections and
//!   RAM blocks, which a model release (or another QEMU) can load;
//! - [`decode_section`] shows a section's fields: with the description this
//!   crate registers for its id string, with the vmdesc, or as raw hex.
//!
//! References: QEMU 7.2 `migration/savevm.c` (records, commands, vmdesc),
//! `migration/ram.c` (`ram_save_setup`, `ram_load_precopy`),
//! `migration/vmstate.c` (`vmsd_desc_field_start/end`,
//! `vmstate_subsection_save`) and `scripts/analyze-migration.py`; the flag
//! `RAM_SAVE_FLAG_MULTIFD_FLUSH` and `MIG_CMD_SWITCHOVER_START` come from
//! QEMU 8.x/10.0.

use super::stream::{
    Capability, CONFIGURATION, CONFIGURATION_CAPABILITIES, CONFIGURATION_TARGET_PAGE_BITS,
    QEMU_VM_CONFIGURATION, QEMU_VM_EOF, QEMU_VM_FILE_MAGIC, QEMU_VM_FILE_VERSION,
    QEMU_VM_SECTION_END, QEMU_VM_SECTION_FOOTER, QEMU_VM_SECTION_FULL, QEMU_VM_SECTION_PART,
    QEMU_VM_SECTION_START, QEMU_VM_VMDESCRIPTION, RAM_IDSTR, RAM_SAVE_FLAG_COMPRESS_PAGE,
    RAM_SAVE_FLAG_CONTINUE, RAM_SAVE_FLAG_EOS, RAM_SAVE_FLAG_MEM_SIZE, RAM_SAVE_FLAG_PAGE,
    RAM_SAVE_FLAG_XBZRLE, RAM_SAVE_FLAG_ZERO, RAM_VERSION,
};
use crate::backend::BlockBackend;
use crate::props::DeviceSpec;
use crate::storage::Storage;
use crate::vmstate::wire::{Reader, Writer};
use crate::vmstate::{
    self, FieldKind, FieldValue, LoadError, SectionCtx, SectionValue, VmStateDescription,
    QEMU_VM_SUBSECTION,
};
use serde_json::{json, Map, Value};
use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::ops::Range;
use std::sync::OnceLock;

/// A command record (`QEMU_VM_COMMAND`): be16 command, be16 length, data.
pub const QEMU_VM_COMMAND: u8 = 0x08;
/// RAM record flag: an RDMA hook (`RAM_SAVE_FLAG_HOOK`), meaningless in a file.
pub const RAM_SAVE_FLAG_HOOK: u64 = 0x80;
/// RAM record flag: multifd channels synchronise here (QEMU 8.0+), no payload.
pub const RAM_SAVE_FLAG_MULTIFD_FLUSH: u64 = 0x200;
/// The only XBZRLE header flag (`ENCODING_FLAG_XBZRLE`, migration/ram.c).
pub const ENCODING_FLAG_XBZRLE: u8 = 0x01;
/// The configuration subsection carrying the VM's UUID (`validate-uuid`).
pub const CONFIGURATION_UUID: &str = "configuration/uuid";
/// Bytes of `configuration/uuid`'s field.
const UUID_LEN: usize = 16;
/// The validated capability whose streams keep RAM at file offsets instead
/// of in page records (QEMU 9.0+ `mapped-ram`).
pub const CAPABILITY_MAPPED_RAM: &str = "mapped-ram";
/// How QEMU 7.2's vmdesc JSON begins (`{"page_size": N, "devices": [...]}`).
pub const VMDESC_PREFIX: &[u8] = b"{\"page_size\"";
/// zlib's `compressBound(n)`: the largest compressed page QEMU accepts
/// (`RAM_SAVE_FLAG_COMPRESS_PAGE`, QEMU 9.0 and older).
fn compress_bound(n: u64) -> u64 {
    n + (n >> 12) + (n >> 14) + (n >> 25) + 13
}
/// Target page bits this reader accepts (QEMU targets use 10 to 16).
const PAGE_BITS: Range<u32> = 8..25;
/// The page size assumed when neither the configuration nor the vmdesc says.
const DEFAULT_PAGE_SIZE: u64 = 4096;
/// Nesting limit when walking vmdesc structs and subsections.
const MAX_VMDESC_DEPTH: usize = 64;

/// `QEMU_VM_COMMAND` command numbers (`enum qemu_vm_cmd`, migration/savevm.c).
pub const MIG_CMD_OPEN_RETURN_PATH: u16 = 1;
/// Request a PONG on the return path (be32 data).
pub const MIG_CMD_PING: u16 = 2;
/// Postcopy may follow: be64 page-size summary, be64 target page size.
pub const MIG_CMD_POSTCOPY_ADVISE: u16 = 3;
/// Start listening for postcopy pages.
pub const MIG_CMD_POSTCOPY_LISTEN: u16 = 4;
/// Start running the destination (postcopy).
pub const MIG_CMD_POSTCOPY_RUN: u16 = 5;
/// Pages to discard (postcopy).
pub const MIG_CMD_POSTCOPY_RAM_DISCARD: u16 = 6;
/// A wrapped stream inside this stream (postcopy device state).
pub const MIG_CMD_PACKAGED: u16 = 7;
/// Enable COLO.
pub const MIG_CMD_ENABLE_COLO: u16 = 8;
/// Resume postcopy on the destination.
pub const MIG_CMD_POSTCOPY_RESUME: u16 = 9;
/// Request the received bitmap.
pub const MIG_CMD_RECV_BITMAP: u16 = 10;
/// Switchover starts (QEMU 10.0).
pub const MIG_CMD_SWITCHOVER_START: u16 = 11;

/// QEMU's name of a command number (`mig_cmd_args`).
pub fn command_name(cmd: u16) -> Option<&'static str> {
    Some(match cmd {
        MIG_CMD_OPEN_RETURN_PATH => "OPEN_RETURN_PATH",
        MIG_CMD_PING => "PING",
        MIG_CMD_POSTCOPY_ADVISE => "POSTCOPY_ADVISE",
        MIG_CMD_POSTCOPY_LISTEN => "POSTCOPY_LISTEN",
        MIG_CMD_POSTCOPY_RUN => "POSTCOPY_RUN",
        MIG_CMD_POSTCOPY_RAM_DISCARD => "POSTCOPY_RAM_DISCARD",
        MIG_CMD_PACKAGED => "PACKAGED",
        MIG_CMD_ENABLE_COLO => "ENABLE_COLO",
        MIG_CMD_POSTCOPY_RESUME => "POSTCOPY_RESUME",
        MIG_CMD_RECV_BITMAP => "RECV_BITMAP",
        MIG_CMD_SWITCHOVER_START => "SWITCHOVER_START",
        _ => return None,
    })
}

/// Why a foreign stream cannot be analyzed or rewritten. Every variant names
/// the byte offset and what was expected there.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ForeignError {
    /// The stream ends before something it announces.
    #[error("truncated stream at byte {offset}: expected {expected}")]
    Truncated { offset: usize, expected: String },
    /// Bytes that are not what the format allows there.
    #[error("at byte {offset}: expected {expected}, found {found}")]
    Unexpected {
        offset: usize,
        expected: String,
        found: String,
    },
    /// A valid construct this reader does not handle.
    #[error("at byte {offset}: {what} is not supported: {why}")]
    Unsupported {
        offset: usize,
        what: String,
        why: String,
    },
    /// Neither the vmdesc nor a scan found where a section's data ends.
    #[error(
        "at byte {offset}: cannot find the end of section '{idstr}' (section id {section_id}): \
         expected a footer 7e {section_id:08x} followed by a record; {detail}"
    )]
    SectionEnd {
        offset: usize,
        idstr: String,
        section_id: u32,
        detail: String,
    },
}

impl ForeignError {
    /// The byte offset the error refers to.
    pub fn offset(&self) -> usize {
        match self {
            ForeignError::Truncated { offset, .. }
            | ForeignError::Unexpected { offset, .. }
            | ForeignError::Unsupported { offset, .. }
            | ForeignError::SectionEnd { offset, .. } => *offset,
        }
    }
}

impl From<LoadError> for ForeignError {
    fn from(e: LoadError) -> ForeignError {
        match e {
            LoadError::Truncated { offset, what } => ForeignError::Truncated {
                offset,
                expected: what,
            },
            other => ForeignError::Unexpected {
                offset: other.offset(),
                expected: "a well-formed value".into(),
                found: other.to_string(),
            },
        }
    }
}

fn unexpected(
    offset: usize,
    expected: impl Into<String>,
    found: impl Into<String>,
) -> ForeignError {
    ForeignError::Unexpected {
        offset,
        expected: expected.into(),
        found: found.into(),
    }
}

/// The four section record types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SectionKind {
    /// `QEMU_VM_SECTION_START` (iterative, with id string).
    Start,
    /// `QEMU_VM_SECTION_PART`.
    Part,
    /// `QEMU_VM_SECTION_END`.
    End,
    /// `QEMU_VM_SECTION_FULL` (non-iterative, with id string).
    Full,
}

impl SectionKind {
    /// The record type byte.
    pub fn byte(self) -> u8 {
        match self {
            SectionKind::Start => QEMU_VM_SECTION_START,
            SectionKind::Part => QEMU_VM_SECTION_PART,
            SectionKind::End => QEMU_VM_SECTION_END,
            SectionKind::Full => QEMU_VM_SECTION_FULL,
        }
    }

    /// `START`, `PART`, `END` or `FULL`.
    pub fn name(self) -> &'static str {
        match self {
            SectionKind::Start => "START",
            SectionKind::Part => "PART",
            SectionKind::End => "END",
            SectionKind::Full => "FULL",
        }
    }
}

/// How a section record's data length was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SizeMethod {
    /// Parsed item by item (the `ram` section).
    Parsed,
    /// Summed from the section's vmdesc entry; the footer is where the sum ends.
    Vmdesc,
    /// The first footer (`7e` + section id) followed by a plausible record;
    /// `why` says why the vmdesc was not used.
    FooterScan { why: String },
}

impl SizeMethod {
    /// `parsed`, `vmdesc` or `footer-scan`.
    pub fn name(&self) -> &'static str {
        match self {
            SizeMethod::Parsed => "parsed",
            SizeMethod::Vmdesc => "vmdesc",
            SizeMethod::FooterScan { .. } => "footer-scan",
        }
    }
}

/// The configuration section (`QEMU_VM_CONFIGURATION`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigurationInfo {
    /// Offset of the `07` byte.
    pub offset: usize,
    /// Bytes of the whole section.
    pub len: usize,
    /// The machine type (`virt-7.2`).
    pub machine_type: String,
    /// `configuration/target-page-bits`, when sent.
    pub target_page_bits: Option<u32>,
    /// `configuration/capabilities`, in stream order.
    pub capabilities: Vec<String>,
    /// `configuration/uuid` in hex, when sent.
    pub uuid: Option<String>,
    /// Subsection names in stream order.
    pub subsections: Vec<String>,
    /// Byte range of each subsection (marker to last field), parallel to `subsections`.
    pub subsection_spans: Vec<Range<usize>>,
}

/// One RAM block announced in the `ram` setup, with what its pages carried.
#[derive(Clone, Debug)]
pub struct RamBlockInfo {
    /// Block id string (`mach-virt.ram`, `virt.flash0`, `/rom@etc/acpi/tables`).
    pub name: String,
    /// `used_length`.
    pub length: u64,
    /// Offset of the block's entry in the setup (its name-length byte).
    pub offset: usize,
    /// The postcopy page size field, when present (hugepage blocks).
    pub page_size: Option<u64>,
    /// The guest address sent with `x-ignore-shared`.
    pub address: Option<u64>,
    /// Page records with `RAM_SAVE_FLAG_ZERO` (one repeated byte).
    pub zero_pages: u64,
    /// Page records with `RAM_SAVE_FLAG_PAGE` (a whole page).
    pub data_pages: u64,
    /// XBZRLE-encoded page records (content not reconstructed).
    pub xbzrle_pages: u64,
    /// Compressed page records (content not reconstructed).
    pub compressed_pages: u64,
    /// The block as the pages rebuild it from zero, when asked for
    /// ([`analyze_with`]); pages never sent stay zero.
    pub contents: Option<Storage>,
}

impl PartialEq for RamBlockInfo {
    fn eq(&self, other: &RamBlockInfo) -> bool {
        self.name == other.name
            && self.length == other.length
            && self.offset == other.offset
            && self.page_size == other.page_size
            && self.address == other.address
            && self.zero_pages == other.zero_pages
            && self.data_pages == other.data_pages
            && self.xbzrle_pages == other.xbzrle_pages
            && self.compressed_pages == other.compressed_pages
            && match (&self.contents, &other.contents) {
                (None, None) => true,
                (Some(a), Some(b)) => a.len() == b.len() && a.sha256_hex() == b.sha256_hex(),
                _ => false,
            }
    }
}

impl RamBlockInfo {
    /// Page records of every kind.
    pub fn pages(&self) -> u64 {
        self.zero_pages + self.data_pages + self.xbzrle_pages + self.compressed_pages
    }
}

/// The `ram` section (`ram`, instance 0, version 4).
#[derive(Clone, Debug, PartialEq)]
pub struct RamInfo {
    /// Its section id.
    pub section_id: u32,
    /// The total announced with `RAM_SAVE_FLAG_MEM_SIZE`.
    pub total: u64,
    /// The RAM page size of the stream (target page size).
    pub page_size: u64,
    /// Blocks in setup order.
    pub blocks: Vec<RamBlockInfo>,
    /// `RAM_SAVE_FLAG_EOS` records.
    pub eos: u64,
    /// `RAM_SAVE_FLAG_MULTIFD_FLUSH` records.
    pub multifd_flushes: u64,
}

/// One section record.
#[derive(Clone, Debug, PartialEq)]
pub struct SectionInfo {
    /// Offset of the record type byte.
    pub offset: usize,
    /// Record type.
    pub kind: SectionKind,
    /// Section id (header and footer agree).
    pub section_id: u32,
    /// Id string (from the START record for PART/END).
    pub idstr: String,
    /// Instance id.
    pub instance: u32,
    /// Version id.
    pub version: u32,
    /// Offset of the first data byte.
    pub data_offset: usize,
    /// Bytes of data (the footer follows them).
    pub data_len: usize,
    /// Subsection names found, nested ones included.
    pub subsections: Vec<String>,
    /// How `data_len` was found.
    pub method: SizeMethod,
    /// The fields, for FULL and START records of device sections.
    pub decoded: Option<DecodedSection>,
}

impl SectionInfo {
    /// One past the footer.
    pub fn end(&self) -> usize {
        self.data_offset + self.data_len + FOOTER_LEN
    }
}

/// Bytes of a section footer.
const FOOTER_LEN: usize = 5;

/// One `QEMU_VM_COMMAND` record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandInfo {
    /// Offset of the `08` byte.
    pub offset: usize,
    /// The command number.
    pub command: u16,
    /// QEMU's name for it (`unknown` otherwise).
    pub name: String,
    /// Its data.
    pub data: Vec<u8>,
}

/// How the vmdesc was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmdescLocator {
    /// The last `{"page_size"` in the file, with `06` and a be32 length before it
    /// that ends exactly at the end of the file.
    PageSizePrefix,
    /// `analyze-migration.py`'s way: the first `{` after the last NUL byte.
    LastNul,
    /// Read after `QEMU_VM_EOF` (the search found none that fit).
    AfterEof,
}

/// The JSON description QEMU appends after EOF.
#[derive(Clone, Debug, PartialEq)]
pub struct VmdescInfo {
    /// Offset of the `06` byte.
    pub offset: usize,
    /// Bytes of JSON.
    pub len: usize,
    /// How it was located.
    pub located_by: VmdescLocator,
    /// True when it starts right after the EOF byte.
    pub follows_eof: bool,
    /// The parsed JSON.
    pub json: Value,
}

impl VmdescInfo {
    fn devices(&self) -> &[Value] {
        self.json
            .get("devices")
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
    }
}

/// What a whole stream contains.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamInfo {
    /// Bytes of the stream.
    pub len: usize,
    /// Format version (3).
    pub format_version: u32,
    /// RAM page size used to split page record headers.
    pub page_size: u64,
    /// Where `page_size` came from.
    pub page_size_from: String,
    /// The configuration section, if the stream has one.
    pub configuration: Option<ConfigurationInfo>,
    /// The `ram` section, if the stream has one.
    pub ram: Option<RamInfo>,
    /// Every section record in stream order (`ram` records included).
    pub sections: Vec<SectionInfo>,
    /// Command records in stream order.
    pub commands: Vec<CommandInfo>,
    /// Offset of the `QEMU_VM_EOF` byte.
    pub eof_offset: usize,
    /// The vmdesc, if present.
    pub vmdesc: Option<VmdescInfo>,
    /// Findings that did not stop the analysis, each with its offset.
    pub notes: Vec<String>,
}

/// One item of a RAM record, with its bytes in the stream.
#[derive(Clone, Debug)]
enum RamItem {
    /// The block list: each block's index and the bytes after its length
    /// (page size, address).
    MemSize { blocks: Vec<(usize, Range<usize>)> },
    /// A page of block `block`: the header word without CONTINUE, and its payload.
    Page {
        block: usize,
        word: u64,
        payload: Range<usize>,
    },
    /// End of the record (EOS): copied as is.
    Verbatim(Range<usize>),
    /// A MULTIFD_FLUSH at this offset: dropped when rewriting (a single
    /// stream has no multifd channels, and QEMU 7.2 refuses the flag).
    MultifdFlush(usize),
}

/// The analysis plus what rewriting needs.
struct Walk {
    info: StreamInfo,
    /// RAM items of each `ram` record, by index into `info.sections`.
    ram_items: HashMap<usize, Vec<RamItem>>,
    /// Stream pages received per block whose contents are rebuilt.
    sent: HashMap<usize, BTreeSet<u64>>,
}

/// Decodes a whole QEMU migration stream (format version 3).
pub fn analyze(bytes: &[u8]) -> Result<StreamInfo, ForeignError> {
    analyze_with(bytes, &|_| false)
}

/// [`analyze`], rebuilding the contents of the RAM blocks `contents` selects.
pub fn analyze_with(
    bytes: &[u8],
    contents: &dyn Fn(&str) -> bool,
) -> Result<StreamInfo, ForeignError> {
    Ok(walk(bytes, contents)?.info)
}

fn walk(bytes: &[u8], contents: &dyn Fn(&str) -> bool) -> Result<Walk, ForeignError> {
    let (vmdesc, mut notes) = locate_vmdesc(bytes);
    let used = vec![false; vmdesc.as_ref().map_or(0, |v| v.devices().len())];
    let mut w = Walker {
        bytes,
        r: Reader::new(bytes),
        contents,
        vmdesc,
        vmdesc_used: used,
        page_size: DEFAULT_PAGE_SIZE,
        ignore_shared: false,
        advise: None,
        started: HashMap::new(),
        block_index: HashMap::new(),
        last_block: None,
        ram: None,
        sections: Vec::new(),
        commands: Vec::new(),
        ram_items: HashMap::new(),
        sent: HashMap::new(),
        notes: Vec::new(),
    };
    w.notes.append(&mut notes);
    let format_version = w.header()?;
    let configuration = w.configuration()?;
    let page_size_from = w.choose_page_size(configuration.as_ref())?;
    let eof_offset = w.records()?;
    let vmdesc = w.trailer(eof_offset)?;
    let Walker {
        ram,
        sections,
        commands,
        ram_items,
        sent,
        notes,
        page_size,
        ..
    } = w;
    Ok(Walk {
        info: StreamInfo {
            len: bytes.len(),
            format_version,
            page_size,
            page_size_from,
            configuration,
            ram,
            sections,
            commands,
            eof_offset,
            vmdesc,
            notes,
        },
        ram_items,
        sent,
    })
}

/// Finds the vmdesc before walking (the walk needs it to skip sections):
/// first as the last `{"page_size"` preceded by `06` and a be32 length that
/// ends at the end of the file, then as `analyze-migration.py` does.
fn locate_vmdesc(bytes: &[u8]) -> (Option<VmdescInfo>, Vec<String>) {
    let mut notes = Vec::new();
    let candidates = [
        (
            bytes
                .windows(VMDESC_PREFIX.len())
                .rposition(|w| w == VMDESC_PREFIX),
            VmdescLocator::PageSizePrefix,
        ),
        (
            bytes.iter().rposition(|&b| b == 0).and_then(|nul| {
                bytes[nul..]
                    .iter()
                    .position(|&b| b == b'{')
                    .map(|p| nul + p)
            }),
            VmdescLocator::LastNul,
        ),
    ];
    for (json_at, how) in candidates {
        let Some(json_at) = json_at else { continue };
        let Some(marker) = json_at.checked_sub(1 + 4) else {
            continue;
        };
        if bytes[marker] != QEMU_VM_VMDESCRIPTION {
            continue;
        }
        let mut len = [0u8; 4];
        len.copy_from_slice(&bytes[marker + 1..json_at]);
        let len = u32::from_be_bytes(len) as usize;
        if json_at.checked_add(len) != Some(bytes.len()) {
            continue;
        }
        match serde_json::from_slice::<Value>(&bytes[json_at..]) {
            Ok(json) => {
                return (
                    Some(VmdescInfo {
                        offset: marker,
                        len,
                        located_by: how,
                        follows_eof: false,
                        json,
                    }),
                    notes,
                )
            }
            Err(e) => notes.push(format!(
                "vmdesc candidate at byte {marker} is not JSON ({e}); not used"
            )),
        }
    }
    (None, notes)
}

struct Walker<'a> {
    bytes: &'a [u8],
    r: Reader<'a>,
    contents: &'a dyn Fn(&str) -> bool,
    vmdesc: Option<VmdescInfo>,
    /// vmdesc device entries already matched to a section.
    vmdesc_used: Vec<bool>,
    page_size: u64,
    ignore_shared: bool,
    /// POSTCOPY_ADVISE's page-size summary, when seen.
    advise: Option<u64>,
    /// Section id → index of its START/FULL record in `sections`.
    started: HashMap<u32, usize>,
    block_index: HashMap<String, usize>,
    /// The block of the previous page record (CONTINUE refers to it).
    last_block: Option<usize>,
    ram: Option<RamInfo>,
    sections: Vec<SectionInfo>,
    commands: Vec<CommandInfo>,
    ram_items: HashMap<usize, Vec<RamItem>>,
    sent: HashMap<usize, BTreeSet<u64>>,
    notes: Vec<String>,
}

impl Walker<'_> {
    fn header(&mut self) -> Result<u32, ForeignError> {
        let magic = self.r.be32(&"the magic QEVM (51 45 56 4d)")?;
        if magic != QEMU_VM_FILE_MAGIC {
            return Err(unexpected(
                0,
                "the magic QEVM (51 45 56 4d)",
                format!("{magic:08x}"),
            ));
        }
        let at = self.r.offset();
        let version = self.r.be32(&"the format version (be32 3)")?;
        if version != QEMU_VM_FILE_VERSION {
            return Err(unexpected(
                at,
                "format version 3",
                format!("version {version}"),
            ));
        }
        Ok(version)
    }

    /// The configuration section (QEMU 7.2 `vmstate_configuration`), if any:
    /// streams of machine types 2.3 and older have none.
    fn configuration(&mut self) -> Result<Option<ConfigurationInfo>, ForeignError> {
        if self.r.peek(0) != Some(QEMU_VM_CONFIGURATION) {
            return Ok(None);
        }
        let offset = self.r.offset();
        self.r.u8(&"configuration section")?;
        let machine_type = self
            .r
            .str_be32(&"configuration: machine type (be32 length, name)")?;
        let mut cfg = ConfigurationInfo {
            offset,
            len: 0,
            machine_type,
            target_page_bits: None,
            capabilities: Vec::new(),
            uuid: None,
            subsections: Vec::new(),
            subsection_spans: Vec::new(),
        };
        // vmstate_subsection_load: only names with the parent's prefix.
        while self.r.peek(0) == Some(QEMU_VM_SUBSECTION) {
            let Some(len) = self.r.peek(1) else { break };
            let len = len as usize;
            if len < CONFIGURATION.len() + 1 {
                break;
            }
            let Some(name) = self.r.peek_bytes(2, len) else {
                break;
            };
            if !name.starts_with(CONFIGURATION.as_bytes()) {
                break;
            }
            let name = String::from_utf8_lossy(name).into_owned();
            let start = self.r.offset();
            self.r.seek(start + 2 + len);
            let version_at = self.r.offset();
            let version = self.r.be32(&format_args!("subsection '{name}' version"))? as u8;
            if version != 1 {
                return Err(ForeignError::Unsupported {
                    offset: version_at,
                    what: format!("subsection '{name}' version {version}"),
                    why: "QEMU 7.2 to 10.0 write version 1".into(),
                });
            }
            match name.as_str() {
                CONFIGURATION_TARGET_PAGE_BITS => {
                    cfg.target_page_bits = Some(
                        self.r
                            .be32(&"configuration/target-page-bits: be32 page bits")?,
                    );
                }
                CONFIGURATION_CAPABILITIES => {
                    let count = self
                        .r
                        .be32(&"configuration/capabilities: be32 caps_count")?;
                    for i in 0..count {
                        let name = self.r.str_u8(&format_args!(
                            "configuration/capabilities: capability {i} (u8 length, name)"
                        ))?;
                        cfg.capabilities.push(name);
                    }
                }
                CONFIGURATION_UUID => {
                    let uuid = self.r.bytes(UUID_LEN, &"configuration/uuid: 16 bytes")?;
                    cfg.uuid = Some(hex(uuid));
                }
                _ => {
                    return Err(unexpected(
                        start,
                        format!(
                            "a configuration subsection this reader knows \
                             ({CONFIGURATION_TARGET_PAGE_BITS}, {CONFIGURATION_CAPABILITIES}, \
                             {CONFIGURATION_UUID})"
                        ),
                        format!("'{name}'"),
                    ))
                }
            }
            cfg.subsections.push(name);
            cfg.subsection_spans.push(start..self.r.offset());
        }
        cfg.len = self.r.offset() - offset;
        if cfg.capabilities.iter().any(|c| c == CAPABILITY_MAPPED_RAM) {
            return Err(ForeignError::Unsupported {
                offset,
                what: format!("capability {CAPABILITY_MAPPED_RAM}"),
                why: "its RAM lives at file offsets, not in page records".into(),
            });
        }
        self.ignore_shared = cfg
            .capabilities
            .iter()
            .any(|c| c == Capability::XIgnoreShared.name());
        Ok(Some(cfg))
    }

    /// The RAM page size: the configuration's page bits, else the vmdesc's
    /// `page_size`, else 4 KiB. A target without the subsection runs at its
    /// minimum page size (arm musicpal: 1 KiB), which the vmdesc states.
    fn choose_page_size(
        &mut self,
        cfg: Option<&ConfigurationInfo>,
    ) -> Result<String, ForeignError> {
        if let Some(bits) = cfg.and_then(|c| c.target_page_bits) {
            if !PAGE_BITS.contains(&bits) {
                return Err(unexpected(
                    cfg.map_or(0, |c| c.offset),
                    format!("target page bits in {PAGE_BITS:?}"),
                    bits.to_string(),
                ));
            }
            self.page_size = 1 << bits;
            return Ok(CONFIGURATION_TARGET_PAGE_BITS.to_string());
        }
        if let Some(ps) = self
            .vmdesc
            .as_ref()
            .and_then(|v| v.json.get("page_size"))
            .and_then(Value::as_u64)
        {
            if ps.is_power_of_two() && PAGE_BITS.contains(&ps.trailing_zeros()) {
                self.page_size = ps;
                return Ok("vmdesc page_size".into());
            }
        }
        self.notes.push(format!(
            "no target page size in the stream: assuming {DEFAULT_PAGE_SIZE}"
        ));
        Ok("assumed".into())
    }

    /// Records up to EOF; returns the EOF offset.
    fn records(&mut self) -> Result<usize, ForeignError> {
        loop {
            let at = self.r.offset();
            let ty = self
                .r
                .u8(&"a record type (00 EOF, 01-04 section, 08 command)")?;
            match ty {
                QEMU_VM_EOF => return Ok(at),
                QEMU_VM_SECTION_START | QEMU_VM_SECTION_FULL => self.section_with_header(at, ty)?,
                QEMU_VM_SECTION_PART | QEMU_VM_SECTION_END => self.section_continued(at, ty)?,
                QEMU_VM_COMMAND => self.command(at)?,
                other => {
                    return Err(unexpected(
                        at,
                        "a record type: 00 EOF, 01 START, 02 PART, 03 END, 04 FULL or 08 COMMAND",
                        format!("{other:#04x}"),
                    ))
                }
            }
        }
    }

    fn section_with_header(&mut self, at: usize, ty: u8) -> Result<(), ForeignError> {
        let kind = if ty == QEMU_VM_SECTION_START {
            SectionKind::Start
        } else {
            SectionKind::Full
        };
        let section_id = self.r.be32(&"section id (be32)")?;
        let idstr = self.r.str_u8(&"section id string (u8 length, name)")?;
        let instance = self
            .r
            .be32(&format_args!("section '{idstr}' instance id (be32)"))?;
        let version = self
            .r
            .be32(&format_args!("section '{idstr}' version id (be32)"))?;
        let index = self.sections.len();
        if idstr == RAM_IDSTR && instance == 0 {
            if kind == SectionKind::Full {
                return Err(unexpected(
                    at,
                    "'ram' as an iterative section (START/PART/END)",
                    "a FULL record",
                ));
            }
            if version != RAM_VERSION {
                return Err(ForeignError::Unsupported {
                    offset: at,
                    what: format!("'ram' version {version}"),
                    why: format!("only version {RAM_VERSION} exists since QEMU 1.x"),
                });
            }
            self.ram_record(at, kind, section_id, idstr, instance, version)?;
        } else {
            self.device_record(at, kind, section_id, idstr, instance, version)?;
        }
        self.started.insert(section_id, index);
        Ok(())
    }

    fn section_continued(&mut self, at: usize, ty: u8) -> Result<(), ForeignError> {
        let kind = if ty == QEMU_VM_SECTION_PART {
            SectionKind::Part
        } else {
            SectionKind::End
        };
        let section_id = self.r.be32(&"section id (be32)")?;
        let Some(&start) = self.started.get(&section_id) else {
            return Err(unexpected(
                at,
                "a PART/END record of a section started before",
                format!("section id {section_id}, never started"),
            ));
        };
        let (idstr, instance, version) = {
            let s = &self.sections[start];
            (s.idstr.clone(), s.instance, s.version)
        };
        if self
            .ram
            .as_ref()
            .is_some_and(|r| r.section_id == section_id)
        {
            self.ram_record(at, kind, section_id, idstr, instance, version)
        } else {
            self.device_record(at, kind, section_id, idstr, instance, version)
        }
    }

    fn footer(&mut self, section_id: u32, idstr: &str) -> Result<(), ForeignError> {
        let at = self.r.offset();
        let expected = format!("the footer 7e {section_id:08x} of section '{idstr}'");
        let mark = self.r.u8(&expected)?;
        let id = self.r.be32(&expected)?;
        if mark != QEMU_VM_SECTION_FOOTER || id != section_id {
            return Err(unexpected(at, expected, format!("{mark:02x} {id:08x}")));
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn ram_record(
        &mut self,
        at: usize,
        kind: SectionKind,
        section_id: u32,
        idstr: String,
        instance: u32,
        version: u32,
    ) -> Result<(), ForeignError> {
        match &self.ram {
            Some(r) if r.section_id != section_id => {
                return Err(unexpected(
                    at,
                    format!("one 'ram' section (id {})", r.section_id),
                    format!("a second one with id {section_id}"),
                ))
            }
            Some(_) => {}
            None => {
                self.ram = Some(RamInfo {
                    section_id,
                    total: 0,
                    page_size: self.page_size,
                    blocks: Vec::new(),
                    eos: 0,
                    multifd_flushes: 0,
                })
            }
        }
        let data_offset = self.r.offset();
        let items = self.ram_items()?;
        let data_len = self.r.offset() - data_offset;
        self.footer(section_id, &idstr)?;
        self.ram_items.insert(self.sections.len(), items);
        self.sections.push(SectionInfo {
            offset: at,
            kind,
            section_id,
            idstr,
            instance,
            version,
            data_offset,
            data_len,
            subsections: Vec::new(),
            method: SizeMethod::Parsed,
            decoded: None,
        });
        Ok(())
    }

    fn ram_mut(&mut self) -> &mut RamInfo {
        self.ram
            .as_mut()
            .unwrap_or_else(|| unreachable!("ram_record creates the RAM info first"))
    }

    /// QEMU's `ram_load_precopy` for one record's data, up to its EOS.
    fn ram_items(&mut self) -> Result<Vec<RamItem>, ForeignError> {
        let mut items = Vec::new();
        let page_mask = self.page_size - 1;
        loop {
            let at = self.r.offset();
            let word = self.r.be64(&"a RAM record header (be64 offset | flags)")?;
            let flags = word & page_mask;
            let addr = word & !page_mask;
            let mut block = None;
            if flags
                & (RAM_SAVE_FLAG_ZERO
                    | RAM_SAVE_FLAG_PAGE
                    | RAM_SAVE_FLAG_COMPRESS_PAGE
                    | RAM_SAVE_FLAG_XBZRLE)
                != 0
            {
                let b = self.page_block(at, flags)?;
                let info = &self.ram_mut().blocks[b];
                if addr >= info.length {
                    return Err(unexpected(
                        at,
                        format!(
                            "a page offset inside block '{}' (length {:#x})",
                            info.name, info.length
                        ),
                        format!("offset {addr:#x}"),
                    ));
                }
                block = Some(b);
            }
            let payload_at = self.r.offset();
            match (flags & !RAM_SAVE_FLAG_CONTINUE, block) {
                (RAM_SAVE_FLAG_MEM_SIZE, _) if flags & RAM_SAVE_FLAG_CONTINUE == 0 => {
                    items.push(self.ram_setup(addr)?);
                }
                (RAM_SAVE_FLAG_ZERO, Some(b)) => {
                    let fill = self.r.u8(&"a ZERO page's fill byte")?;
                    self.ram_mut().blocks[b].zero_pages += 1;
                    self.page_contents(b, addr, |s, off, n| s.fill(off, n as u64, fill));
                    items.push(self.page_item(b, word, payload_at));
                }
                (RAM_SAVE_FLAG_PAGE, Some(b)) => {
                    let len = self.page_size as usize;
                    let data = self
                        .r
                        .bytes(len, &format_args!("a PAGE record's {len} bytes"))?;
                    self.ram_mut().blocks[b].data_pages += 1;
                    self.page_contents(b, addr, |s, off, n| s.write(off, &data[..n]));
                    items.push(self.page_item(b, word, payload_at));
                }
                (RAM_SAVE_FLAG_COMPRESS_PAGE, Some(b)) => {
                    let len_at = self.r.offset();
                    let len = self.r.be32(&"a compressed page's be32 length")?;
                    if u64::from(len) > compress_bound(self.page_size) {
                        return Err(unexpected(
                            len_at,
                            "a compressed page length within zlib's bound",
                            len.to_string(),
                        ));
                    }
                    self.r
                        .bytes(len as usize, &"a compressed page's zlib data")?;
                    self.ram_mut().blocks[b].compressed_pages += 1;
                    self.note_unrebuilt(b, at, "compressed");
                    items.push(self.page_item(b, word, payload_at));
                }
                (RAM_SAVE_FLAG_XBZRLE, Some(b)) => {
                    let hdr_at = self.r.offset();
                    let hdr = self.r.u8(&"an XBZRLE header byte")?;
                    if hdr != ENCODING_FLAG_XBZRLE {
                        return Err(unexpected(
                            hdr_at,
                            format!("the XBZRLE header flag {ENCODING_FLAG_XBZRLE:#04x}"),
                            format!("{hdr:#04x}"),
                        ));
                    }
                    let len = self.r.be16(&"an XBZRLE be16 length")?;
                    if u64::from(len) > self.page_size {
                        return Err(unexpected(
                            hdr_at + 1,
                            format!("an XBZRLE length of at most {}", self.page_size),
                            len.to_string(),
                        ));
                    }
                    self.r.bytes(len as usize, &"XBZRLE data")?;
                    self.ram_mut().blocks[b].xbzrle_pages += 1;
                    self.note_unrebuilt(b, at, "XBZRLE");
                    items.push(self.page_item(b, word, payload_at));
                }
                (RAM_SAVE_FLAG_EOS, _) => {
                    self.ram_mut().eos += 1;
                    items.push(RamItem::Verbatim(at..self.r.offset()));
                    return Ok(items);
                }
                (RAM_SAVE_FLAG_MULTIFD_FLUSH, _) => {
                    self.ram_mut().multifd_flushes += 1;
                    items.push(RamItem::MultifdFlush(at));
                }
                _ if flags & RAM_SAVE_FLAG_HOOK != 0 => {
                    return Err(ForeignError::Unsupported {
                        offset: at,
                        what: format!("RAM flag RAM_SAVE_FLAG_HOOK ({flags:#x})"),
                        why: "RDMA hooks have no meaning in a stream file".into(),
                    })
                }
                _ => {
                    return Err(unexpected(
                        at,
                        "RAM flags ZERO 0x02, MEM_SIZE 0x04, PAGE 0x08, EOS 0x10, XBZRLE 0x40, \
                         COMPRESS_PAGE 0x100 or MULTIFD_FLUSH 0x200 (pages with CONTINUE 0x20)",
                        format!("{flags:#x}"),
                    ))
                }
            }
        }
    }

    fn page_item(&self, block: usize, word: u64, payload_at: usize) -> RamItem {
        RamItem::Page {
            block,
            word: word & !RAM_SAVE_FLAG_CONTINUE,
            payload: payload_at..self.r.offset(),
        }
    }

    fn note_unrebuilt(&mut self, block: usize, at: usize, what: &str) {
        if self.sent.contains_key(&block) {
            let name = self.ram_mut().blocks[block].name.clone();
            self.notes.push(format!(
                "{what} page of '{name}' at byte {at}: its contents are not rebuilt"
            ));
        }
    }

    /// Applies one page to a block being rebuilt (the part inside the block).
    fn page_contents(
        &mut self,
        block: usize,
        addr: u64,
        op: impl FnOnce(&mut Storage, u64, usize),
    ) {
        let page_size = self.page_size;
        let Some(sent) = self.sent.get_mut(&block) else {
            return;
        };
        sent.insert(addr / page_size);
        let ram = self
            .ram
            .as_mut()
            .unwrap_or_else(|| unreachable!("pages follow the setup"));
        if let Some(s) = ram.blocks[block].contents.as_mut() {
            let n = (s.len() - addr).min(page_size) as usize;
            op(s, addr, n);
        }
    }

    /// The block a page record refers to (`ram_block_from_stream`).
    fn page_block(&mut self, at: usize, flags: u64) -> Result<usize, ForeignError> {
        if flags & RAM_SAVE_FLAG_CONTINUE != 0 {
            return self.last_block.ok_or_else(|| {
                unexpected(
                    at,
                    "a block name (CONTINUE 0x20 needs a previous page record)",
                    "CONTINUE on the first page record",
                )
            });
        }
        let name_at = self.r.offset();
        let name = self.r.str_u8(&"a page record's block name")?;
        let Some(&b) = self.block_index.get(&name) else {
            return Err(unexpected(
                name_at,
                "a block announced in the RAM setup",
                format!("'{name}'"),
            ));
        };
        self.last_block = Some(b);
        Ok(b)
    }

    /// The block list (`RAM_SAVE_FLAG_MEM_SIZE`): name, length, then the
    /// postcopy page size and the `x-ignore-shared` address when present.
    fn ram_setup(&mut self, total: u64) -> Result<RamItem, ForeignError> {
        let mut left = total;
        let mut listed = Vec::new();
        self.ram_mut().total += total;
        while left > 0 {
            let at = self.r.offset();
            let name = self.r.str_u8(&"a RAM block name (u8 length, name)")?;
            let length = self
                .r
                .be64(&format_args!("the be64 length of RAM block '{name}'"))?;
            if length > left {
                return Err(unexpected(
                    at,
                    format!("block lengths within the announced total ({left:#x} left)"),
                    format!("'{name}' of length {length:#x}"),
                ));
            }
            let extra_at = self.r.offset();
            let page_size = self.postcopy_page_size(&name)?;
            let address = if self.ignore_shared {
                Some(
                    self.r
                        .be64(&format_args!("the be64 address of RAM block '{name}'"))?,
                )
            } else {
                None
            };
            if self.block_index.contains_key(&name) {
                return Err(unexpected(
                    at,
                    "each RAM block announced once",
                    format!("'{name}' again"),
                ));
            }
            let index = self.ram_mut().blocks.len();
            let contents = (self.contents)(&name).then(|| {
                self.sent.insert(index, BTreeSet::new());
                Storage::filled(length, 0)
            });
            self.block_index.insert(name.clone(), index);
            self.ram_mut().blocks.push(RamBlockInfo {
                name,
                length,
                offset: at,
                page_size,
                address,
                zero_pages: 0,
                data_pages: 0,
                xbzrle_pages: 0,
                compressed_pages: 0,
                contents,
            });
            listed.push((index, extra_at..self.r.offset()));
            left -= length;
        }
        Ok(RamItem::MemSize { blocks: listed })
    }

    /// QEMU sends a block's page size only with postcopy, and only for
    /// blocks whose page size is not the host's (hugepages). The stream says
    /// neither directly: POSTCOPY_ADVISE gives the OR of all blocks' page
    /// sizes; if it has one bit, no block differs. Otherwise a be64 that is
    /// one of the summary's larger sizes is taken as the field (inferred).
    fn postcopy_page_size(&mut self, name: &str) -> Result<Option<u64>, ForeignError> {
        let Some(summary) = self.advise else {
            return Ok(None);
        };
        if summary.count_ones() <= 1 {
            return Ok(None);
        }
        let Some(b) = self.r.peek_bytes(0, 8) else {
            return Ok(None);
        };
        let mut v = [0u8; 8];
        v.copy_from_slice(b);
        let v = u64::from_be_bytes(v);
        let host = 1u64 << summary.trailing_zeros();
        if v.is_power_of_two() && v & summary != 0 && v != host {
            let at = self.r.offset();
            self.r.be64(&"a postcopy page size")?;
            self.notes.push(format!(
                "RAM block '{name}': be64 {v:#x} at byte {at} taken as its postcopy page size \
                 (inferred from POSTCOPY_ADVISE's summary {summary:#x})"
            ));
            return Ok(Some(v));
        }
        Ok(None)
    }

    #[allow(clippy::too_many_arguments)]
    fn device_record(
        &mut self,
        at: usize,
        kind: SectionKind,
        section_id: u32,
        idstr: String,
        instance: u32,
        version: u32,
    ) -> Result<(), ForeignError> {
        let data_offset = self.r.offset();
        let mut why = match (&self.vmdesc, kind) {
            (None, _) => "the stream has no vmdesc".to_string(),
            (Some(_), SectionKind::Full) => String::new(),
            (Some(_), _) => "the vmdesc describes only FULL sections".to_string(),
        };
        let mut found: Option<(usize, Vec<String>, usize)> = None;
        if why.is_empty() {
            match self.vmdesc_entry(&idstr, instance) {
                None => why = format!("the vmdesc has no entry for '{idstr}' instance {instance}"),
                Some(i) => {
                    let entry = &self.vmdesc.as_ref().map_or(&[][..], |v| v.devices())[i];
                    match vmdesc_walk(entry, &self.bytes[data_offset..], 0) {
                        Err(e) => why = format!("its vmdesc entry does not fit: {e}"),
                        Ok(w) if self.footer_at(data_offset + w.len, section_id) => {
                            found = Some((w.len, w.subsections, i));
                        }
                        Ok(w) => {
                            why = format!(
                                "its vmdesc size {} ends at byte {}, where there is no footer",
                                w.len,
                                data_offset + w.len
                            )
                        }
                    }
                }
            }
        }
        let (data_len, mut subsections, method, entry) = match found {
            Some((len, subs, i)) => {
                self.vmdesc_used[i] = true;
                (len, subs, SizeMethod::Vmdesc, Some(i))
            }
            None => {
                let Some(len) = self.scan_footer(data_offset, section_id) else {
                    return Err(ForeignError::SectionEnd {
                        offset: data_offset,
                        idstr,
                        section_id,
                        detail: why,
                    });
                };
                (len, Vec::new(), SizeMethod::FooterScan { why }, None)
            }
        };
        let decoded = matches!(kind, SectionKind::Full | SectionKind::Start).then(|| {
            let entry = entry.and_then(|i| self.vmdesc.as_ref().map(|v| &v.devices()[i]));
            decode_section(
                &idstr,
                version,
                &self.bytes[data_offset..data_offset + data_len],
                entry,
            )
        });
        if subsections.is_empty() {
            if let Some(DecodedSection::Known { value, .. }) = &decoded {
                subsection_names(value, &mut subsections);
            }
        }
        self.r.seek(data_offset + data_len);
        self.footer(section_id, &idstr)?;
        self.sections.push(SectionInfo {
            offset: at,
            kind,
            section_id,
            idstr,
            instance,
            version,
            data_offset,
            data_len,
            subsections,
            method,
            decoded,
        });
        Ok(())
    }

    /// The first unused vmdesc entry for `(idstr, instance)`.
    fn vmdesc_entry(&self, idstr: &str, instance: u32) -> Option<usize> {
        let devices = self.vmdesc.as_ref()?.devices();
        devices.iter().enumerate().position(|(i, d)| {
            !self.vmdesc_used[i]
                && d.get("name").and_then(Value::as_str) == Some(idstr)
                && d.get("instance_id").and_then(Value::as_u64) == Some(u64::from(instance))
        })
    }

    fn footer_at(&self, at: usize, section_id: u32) -> bool {
        let mut footer = [QEMU_VM_SECTION_FOOTER, 0, 0, 0, 0];
        footer[1..].copy_from_slice(&section_id.to_be_bytes());
        self.bytes.get(at..at + FOOTER_LEN) == Some(&footer[..])
    }

    /// Bytes from `from` to the first footer of `section_id` that is
    /// followed by a plausible record.
    fn scan_footer(&self, from: usize, section_id: u32) -> Option<usize> {
        let mut footer = [QEMU_VM_SECTION_FOOTER, 0, 0, 0, 0];
        footer[1..].copy_from_slice(&section_id.to_be_bytes());
        let rest = self.bytes.get(from..)?;
        rest.windows(FOOTER_LEN)
            .enumerate()
            .filter(|(_, w)| *w == footer)
            .map(|(i, _)| i)
            .find(|&i| self.plausible_record(from + i + FOOTER_LEN))
    }

    /// Whether a record plausibly starts at `at`: EOF at the end or before
    /// the vmdesc, a START/FULL header with a printable id string, a
    /// PART/END of a started section, or a known command.
    fn plausible_record(&self, at: usize) -> bool {
        let b = self.bytes;
        let be32 = |p: usize| -> Option<u32> {
            let s = b.get(p..p + 4)?;
            Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
        };
        match b.get(at) {
            Some(&QEMU_VM_EOF) => {
                at + 1 == b.len()
                    || b.get(at + 1) == Some(&QEMU_VM_VMDESCRIPTION)
                    || self.vmdesc.as_ref().is_some_and(|v| v.offset == at + 1)
            }
            Some(&QEMU_VM_SECTION_START) | Some(&QEMU_VM_SECTION_FULL) => {
                let Some(&len) = b.get(at + 5) else {
                    return false;
                };
                let name = b.get(at + 6..at + 6 + len as usize);
                len > 0
                    && name.is_some_and(|n| n.iter().all(|c| c.is_ascii_graphic()))
                    && b.len() >= at + 6 + len as usize + 8
            }
            Some(&QEMU_VM_SECTION_PART) | Some(&QEMU_VM_SECTION_END) => {
                be32(at + 1).is_some_and(|id| self.started.contains_key(&id))
            }
            Some(&QEMU_VM_COMMAND) => b
                .get(at + 1..at + 3)
                .is_some_and(|c| command_name(u16::from_be_bytes([c[0], c[1]])).is_some()),
            _ => false,
        }
    }

    fn command(&mut self, at: usize) -> Result<(), ForeignError> {
        let command = self.r.be16(&"a command number (be16)")?;
        let len = self.r.be16(&"a command's data length (be16)")?;
        let data = self
            .r
            .bytes(len as usize, &format_args!("{len} bytes of command data"))?
            .to_vec();
        let Some(name) = command_name(command) else {
            return Err(unexpected(
                at + 1,
                "a command number from 1 (OPEN_RETURN_PATH) to 11 (SWITCHOVER_START)",
                command.to_string(),
            ));
        };
        match command {
            MIG_CMD_PACKAGED => {
                return Err(ForeignError::Unsupported {
                    offset: at,
                    what: "command PACKAGED".into(),
                    why: "a postcopy package carries the device sections in a nested stream".into(),
                })
            }
            MIG_CMD_POSTCOPY_ADVISE if data.len() == 16 => {
                let mut summary = [0u8; 8];
                summary.copy_from_slice(&data[..8]);
                self.advise = Some(u64::from_be_bytes(summary));
            }
            _ => {}
        }
        self.commands.push(CommandInfo {
            offset: at,
            command,
            name: name.to_string(),
            data,
        });
        Ok(())
    }

    /// The vmdesc record at the current offset: marker, be32 length, JSON.
    fn vmdesc_after_eof(&mut self) -> Result<(usize, Value), ForeignError> {
        self.r.u8(&"the vmdesc marker")?;
        let len = self.r.be32(&"the vmdesc be32 length")? as usize;
        let json_at = self.r.offset();
        let text = self.r.bytes(len, &"the vmdesc JSON")?;
        let json = serde_json::from_slice(text)
            .map_err(|e| unexpected(json_at, "the vmdesc's JSON", format!("invalid JSON ({e})")))?;
        Ok((len, json))
    }

    /// After EOF: the vmdesc record, if any, checked against the located one.
    fn trailer(&mut self, eof: usize) -> Result<Option<VmdescInfo>, ForeignError> {
        let mut located = self.vmdesc.take();
        let after = eof + 1;
        if let Some(v) = located.as_mut() {
            v.follows_eof = v.offset == after;
        }
        if self.r.peek(0) == Some(QEMU_VM_VMDESCRIPTION)
            && located.as_ref().is_none_or(|v| v.offset != after)
        {
            match self.vmdesc_after_eof() {
                Ok((len, json)) => {
                    if let Some(v) = &located {
                        self.notes.push(format!(
                            "the vmdesc located at byte {} is not the one after EOF at byte \
                             {after}",
                            v.offset
                        ));
                    }
                    located = Some(VmdescInfo {
                        offset: after,
                        len,
                        located_by: VmdescLocator::AfterEof,
                        follows_eof: true,
                        json,
                    });
                }
                // The stream itself is complete: a broken description is
                // worth a note, not a refusal.
                Err(e) => self.notes.push(format!("vmdesc after EOF not used: {e}")),
            }
        } else if let Some(v) = &located {
            if !v.follows_eof {
                self.notes.push(format!(
                    "the vmdesc at byte {} does not follow EOF (byte {eof})",
                    v.offset
                ));
            }
        } else if after < self.bytes.len() {
            self.notes.push(format!(
                "{} bytes after EOF (byte {eof}) are not a vmdesc",
                self.bytes.len() - after
            ));
        }
        if let Some(v) = &located {
            let unused: Vec<String> = v
                .devices()
                .iter()
                .enumerate()
                .filter(|(i, _)| !self.vmdesc_used.get(*i).copied().unwrap_or(false))
                .map(|(_, d)| {
                    format!(
                        "'{}' {}",
                        d.get("name").and_then(Value::as_str).unwrap_or("?"),
                        d.get("instance_id").and_then(Value::as_u64).unwrap_or(0)
                    )
                })
                .collect();
            if !unused.is_empty() {
                self.notes.push(format!(
                    "vmdesc entries not used to size a section: {}",
                    unused.join(", ")
                ));
            }
        }
        Ok(located)
    }
}

/// What walking a vmdesc entry over the stream found.
struct VmdescWalk {
    /// Bytes the entry describes.
    len: usize,
    /// Subsection names, nested ones included.
    subsections: Vec<String>,
    /// Field values, `analyze-migration.py` style.
    value: Described,
}

/// The bytes a vmdesc entry describes, starting at `data[0]`: every field
/// takes its `size` (times `array_len` for a compressed array; a `struct`
/// field is walked into and must add up to its `size`), then every listed
/// subsection takes `05`, u8 length, its `vmsd_name`, be32 version and its
/// own fields and subsections (QEMU's `vmsd_desc_field_end` and
/// `vmstate_subsection_save`).
fn vmdesc_walk(entry: &Value, data: &[u8], depth: usize) -> Result<VmdescWalk, String> {
    let mut pos = 0;
    let mut subsections = Vec::new();
    let value = walk_struct(entry, data, &mut pos, &mut subsections, depth)?;
    Ok(VmdescWalk {
        len: pos,
        subsections,
        value,
    })
}

fn walk_struct(
    desc: &Value,
    data: &[u8],
    pos: &mut usize,
    subsections: &mut Vec<String>,
    depth: usize,
) -> Result<Described, String> {
    if depth > MAX_VMDESC_DEPTH {
        return Err(format!("structs nested deeper than {MAX_VMDESC_DEPTH}"));
    }
    let mut out: Vec<(String, Described)> = Vec::new();
    let fields = match desc.get("fields") {
        Some(Value::Array(f)) => f.as_slice(),
        Some(_) => return Err("'fields' is not an array".into()),
        None => &[],
    };
    for field in fields {
        let name = field
            .get("name")
            .and_then(Value::as_str)
            .ok_or("a field without a name")?;
        let ty = field
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("unknown");
        let size = field
            .get("size")
            .and_then(Value::as_u64)
            .ok_or_else(|| format!("field '{name}' has no size"))? as usize;
        let count = field.get("array_len").and_then(Value::as_u64).unwrap_or(1) as usize;
        let inner = field
            .get("struct")
            .or_else(|| field.get("fields").is_some().then_some(field));
        let mut values = Vec::new();
        for _ in 0..count {
            let start = *pos;
            if data.len().saturating_sub(start) < size {
                return Err(format!(
                    "field '{name}' needs {size} bytes at byte +{start}, {} left",
                    data.len().saturating_sub(start)
                ));
            }
            let v = match inner {
                Some(inner) => {
                    let v = walk_struct(inner, data, pos, subsections, depth + 1)?;
                    if *pos - start != size {
                        return Err(format!(
                            "struct '{name}' walks {} bytes but its size is {size}",
                            *pos - start
                        ));
                    }
                    v
                }
                None => {
                    *pos += size;
                    Described::Leaf(field_json(ty, &data[start..start + size]))
                }
            };
            values.push(v);
        }
        let v = match values.pop() {
            Some(v) if count == 1 => v,
            last => Described::List(values.into_iter().chain(last).collect()),
        };
        // Elements of an uncompressed array come as separate entries with
        // an `index` (analyze-migration.py gathers them the same way).
        match out.iter_mut().find(|(n, _)| n == name) {
            Some((_, Described::List(a))) if field.get("index").is_some() => a.push(v),
            Some((_, prev)) => {
                let first = std::mem::replace(prev, Described::List(Vec::new()));
                *prev = Described::List(vec![first, v]);
            }
            None if field.get("index").is_some() => {
                out.push((name.to_string(), Described::List(vec![v])))
            }
            None => out.push((name.to_string(), v)),
        }
    }
    if let Some(subs) = desc.get("subsections") {
        let subs = subs.as_array().ok_or("'subsections' is not an array")?;
        for sub in subs {
            let name = sub
                .get("vmsd_name")
                .and_then(Value::as_str)
                .ok_or("a subsection without vmsd_name")?;
            let at = *pos;
            let header = data
                .get(at..at + 2)
                .ok_or_else(|| format!("subsection '{name}' expected at byte +{at}, data ends"))?;
            let len = header[1] as usize;
            let wire = data.get(at + 2..at + 2 + len);
            if header[0] != QEMU_VM_SUBSECTION || wire != Some(name.as_bytes()) {
                return Err(format!(
                    "subsection '{name}' expected at byte +{at} (05 {:02x} ...), found {:02x} {:02x}",
                    name.len(),
                    header[0],
                    header[1]
                ));
            }
            if data.len() < at + 2 + len + 4 {
                return Err(format!("subsection '{name}' version: data ends"));
            }
            *pos = at + 2 + len + 4;
            subsections.push(name.to_string());
            let v = walk_struct(sub, data, pos, subsections, depth + 1)?;
            out.push((name.to_string(), v));
        }
    }
    Ok(Described::Struct(out))
}

/// A value decoded with a vmdesc entry, in stream order.
#[derive(Clone, Debug, PartialEq)]
pub enum Described {
    /// One field: a number, a bool, or hex for anything else.
    Leaf(Value),
    /// Array elements.
    List(Vec<Described>),
    /// Fields, then subsections, in stream order.
    Struct(Vec<(String, Described)>),
}

impl Described {
    /// The member called `name` of a struct.
    pub fn get(&self, name: &str) -> Option<&Described> {
        match self {
            Described::Struct(m) => m.iter().find(|(n, _)| n == name).map(|(_, v)| v),
            _ => None,
        }
    }

    /// A leaf's unsigned value.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Described::Leaf(v) => v.as_u64(),
            _ => None,
        }
    }

    /// As JSON (struct member order is not kept by JSON objects).
    pub fn to_json(&self) -> Value {
        match self {
            Described::Leaf(v) => v.clone(),
            Described::List(a) => Value::Array(a.iter().map(Described::to_json).collect()),
            Described::Struct(m) => {
                Value::Object(m.iter().map(|(n, v)| (n.clone(), v.to_json())).collect())
            }
        }
    }
}

/// One vmdesc field's bytes as `analyze-migration.py` shows them: integers
/// as numbers, bools as bools, everything else as hex.
fn field_json(ty: &str, b: &[u8]) -> Value {
    let unsigned = || b.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x));
    match ty {
        "bool" if b.len() == 1 => Value::Bool(b[0] != 0),
        "uint8" | "uint16" | "uint32" | "uint64" | "uint32 equal" | "uint8 equal"
        | "uint16 equal"
            if (1..=8).contains(&b.len()) =>
        {
            json!(unsigned())
        }
        // "int32 le" is VMSTATE_INT32_POSITIVE_LE: "less or equal", big-endian.
        "int8" | "int16" | "int32" | "int64" | "int32 equal" | "int64 equal" | "int32 le"
            if (1..=8).contains(&b.len()) =>
        {
            let shift = 64 - 8 * b.len() as u32;
            json!(((unsigned() << shift) as i64) >> shift)
        }
        _ => Value::String(hex(b)),
    }
}

fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

/// A section's fields, for display.
#[derive(Clone, Debug, PartialEq)]
pub enum DecodedSection {
    /// Decoded with the description this crate registers for the id string.
    Known {
        /// The description's name.
        vmsd: String,
        /// The variable buffer's length, when one was on the wire.
        vbuffer_len: Option<usize>,
        /// Where that length came from (`vmdesc` or `remaining bytes`).
        vbuffer_from: Option<String>,
        /// The fields and subsections.
        value: SectionValue,
    },
    /// Decoded with the section's vmdesc entry (`analyze-migration.py` style).
    Described {
        /// The fields and subsections, in stream order.
        value: Described,
    },
    /// Neither: the raw bytes.
    Raw {
        /// The data in hex.
        hex: String,
        /// Why a description did not fit, if one was tried.
        note: Option<String>,
    },
}

/// Properties that realize a small device of every type this crate knows.
const PROBE_PROPS: [(&str, &str); 4] = [
    ("name", "probe"),
    ("num-blocks", "1"),
    ("sector-length", "0x1000"),
    ("width", "1"),
];

/// Every description this crate's device types register (emitted or
/// load-only), one per id string. The crate has no registry function: a
/// small device of each known type is realized and asked for its entries.
/// Variable buffer lengths are those of the probe; [`decode_section`]
/// replaces them.
pub fn registered_descriptions() -> &'static [VmStateDescription] {
    static REGISTRY: OnceLock<Vec<VmStateDescription>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut out: Vec<VmStateDescription> = Vec::new();
        for ty in crate::catalogue::KNOWN_TYPES {
            let spec = DeviceSpec {
                type_name: ty.to_string(),
                props: PROBE_PROPS
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            };
            let Ok(dev) = crate::catalogue::create(&spec, BlockBackend::none()) else {
                continue;
            };
            for entry in dev.vmstate_entries() {
                if !out.iter().any(|d| d.name == entry.vmsd.name) {
                    out.push(entry.vmsd);
                }
            }
        }
        out
    })
}

/// Decodes one section's data for display: with the description this crate
/// registers for `idstr` (a variable buffer's length, which is not on the
/// wire, comes from the vmdesc entry if given, else from the bytes left
/// before the last fixed fields), else with the vmdesc entry, else as hex.
pub fn decode_section(
    idstr: &str,
    version: u32,
    data: &[u8],
    vmdesc: Option<&Value>,
) -> DecodedSection {
    let mut note = None;
    if let Some(desc) = registered_descriptions().iter().find(|d| d.name == idstr) {
        match decode_known(desc, idstr, version, data, vmdesc) {
            Ok(d) => return d,
            Err(e) => note = Some(format!("the '{idstr}' description does not fit: {e}")),
        }
    }
    if let Some(entry) = vmdesc {
        match vmdesc_walk(entry, data, 0) {
            Ok(w) if w.len == data.len() => return DecodedSection::Described { value: w.value },
            Ok(w) => {
                note = Some(format!(
                    "the vmdesc entry describes {} of {} bytes",
                    w.len,
                    data.len()
                ))
            }
            Err(e) => note = Some(format!("the vmdesc entry does not fit: {e}")),
        }
    }
    DecodedSection::Raw {
        hex: hex(data),
        note,
    }
}

fn vbuffer_fields(desc: &VmStateDescription, out: &mut Vec<&'static str>) {
    for f in &desc.fields {
        if matches!(f.kind, FieldKind::VBuffer { .. }) {
            out.push(f.name);
        }
    }
    for s in &desc.subsections {
        vbuffer_fields(&s.vmsd, out);
    }
}

/// The `size` of the vmdesc field called `name`, searched in every struct
/// and subsection of `entry`.
fn vmdesc_field_size(entry: &Value, name: &str) -> Option<usize> {
    let fields = entry.get("fields").and_then(Value::as_array);
    for f in fields.into_iter().flatten() {
        if f.get("name").and_then(Value::as_str) == Some(name) {
            return f.get("size").and_then(Value::as_u64).map(|s| s as usize);
        }
        if let Some(s) = f.get("struct").and_then(|s| vmdesc_field_size(s, name)) {
            return Some(s);
        }
    }
    let subs = entry.get("subsections").and_then(Value::as_array);
    subs.into_iter()
        .flatten()
        .find_map(|s| vmdesc_field_size(s, name))
}

fn with_vbuffer_len(desc: &VmStateDescription, len: usize) -> VmStateDescription {
    let mut d = desc.clone();
    for f in &mut d.fields {
        if let FieldKind::VBuffer { len: l } = &mut f.kind {
            *l = len;
        }
    }
    for s in &mut d.subsections {
        s.vmsd = with_vbuffer_len(&s.vmsd, len);
    }
    d
}

/// (fixed bytes, variable buffers) of a description's fields at `version`.
fn field_shape(desc: &VmStateDescription, version: u32) -> (usize, usize) {
    desc.fields
        .iter()
        .filter(|f| f.version_id <= version)
        .fold((0, 0), |(fixed, vbufs), f| match f.kind {
            FieldKind::VBuffer { .. } => (fixed, vbufs + 1),
            k => (fixed + k.wire_len(), vbufs),
        })
}

/// The variable buffer length that makes `data` end exactly after the
/// fields: the buffer is taken to be in the last subsection present (as in
/// every description of this crate), or in the main fields when there are
/// no subsections. `None` when no variable buffer is on the wire.
fn infer_vbuffer_len(desc: &VmStateDescription, version: u32, data: &[u8]) -> Option<usize> {
    let (fixed, vbufs) = field_shape(desc, version);
    if vbufs > 0 {
        let rest = data.len().checked_sub(fixed)?;
        return rest.is_multiple_of(vbufs).then_some(rest / vbufs);
    }
    let mut pos = fixed;
    while data.get(pos) == Some(&QEMU_VM_SUBSECTION) {
        let len = *data.get(pos + 1)? as usize;
        let name = data.get(pos + 2..pos + 2 + len)?;
        let sub = desc
            .subsections
            .iter()
            .find(|s| s.vmsd.name.as_bytes() == name)?;
        let v = data.get(pos + 2 + len + 3).copied()?;
        pos += 2 + len + 4;
        let (fixed, vbufs) = field_shape(&sub.vmsd, u32::from(v));
        if vbufs > 0 {
            let rest = data.len().checked_sub(pos + fixed)?;
            return rest.is_multiple_of(vbufs).then_some(rest / vbufs);
        }
        pos += fixed;
    }
    None
}

fn decode_known(
    desc: &VmStateDescription,
    idstr: &str,
    version: u32,
    data: &[u8],
    vmdesc: Option<&Value>,
) -> Result<DecodedSection, String> {
    let mut names = Vec::new();
    vbuffer_fields(desc, &mut names);
    let from_vmdesc = vmdesc.and_then(|e| names.iter().find_map(|n| vmdesc_field_size(e, n)));
    let (len, from) = match from_vmdesc {
        Some(l) => (Some(l), Some("vmdesc".to_string())),
        None => match infer_vbuffer_len(desc, version, data) {
            Some(l) => (Some(l), Some("remaining bytes".to_string())),
            None => (None, None),
        },
    };
    let desc = match len {
        Some(l) => with_vbuffer_len(desc, l),
        None => desc.clone(),
    };
    let mut r = Reader::new(data);
    let value = vmstate::decode(&desc, version, &mut r, SectionCtx { idstr, instance: 0 })
        .map_err(|e| e.to_string())?;
    if !r.at_end() {
        return Err(format!(
            "{} of {} bytes left after the fields",
            r.remaining(),
            data.len()
        ));
    }
    // A buffer length only matters if a buffer was on the wire.
    let mut present = Vec::new();
    value_bytes_fields(&value, &names, &mut present);
    let on_wire = !present.is_empty();
    Ok(DecodedSection::Known {
        vmsd: desc.name.to_string(),
        vbuffer_len: len.filter(|_| on_wire),
        vbuffer_from: from.filter(|_| on_wire),
        value,
    })
}

fn value_bytes_fields(v: &SectionValue, names: &[&str], out: &mut Vec<String>) {
    for (n, f) in &v.fields {
        if matches!(f, FieldValue::Bytes(_)) && names.contains(&n.as_str()) {
            out.push(n.clone());
        }
    }
    for (_, _, s) in &v.subsections {
        value_bytes_fields(s, names, out);
    }
}

fn subsection_names(v: &SectionValue, out: &mut Vec<String>) {
    for (name, _, s) in &v.subsections {
        out.push(name.clone());
        subsection_names(s, out);
    }
}

/// A section left out of a flash-only stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedSection {
    /// Id string.
    pub idstr: String,
    /// Instance id.
    pub instance: u32,
    /// Section id.
    pub section_id: u32,
}

/// A RAM block left out of a flash-only stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedBlock {
    /// Block name.
    pub name: String,
    /// Its length.
    pub length: u64,
}

/// A rewritten stream and what it left out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlashOnly {
    /// The stream: header, configuration, the `ram` section with the kept
    /// blocks, the kept device sections, EOF (no vmdesc).
    pub stream: Vec<u8>,
    /// Sections left out, once per section id, in stream order.
    pub skipped_sections: Vec<SkippedSection>,
    /// RAM blocks left out, in setup order.
    pub skipped_blocks: Vec<SkippedBlock>,
    /// Command records and RAM `MULTIFD_FLUSH` records left out
    /// (`NAME at byte N`).
    pub skipped_commands: Vec<String>,
}

/// How [`flash_only_with`] rewrites.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlashOnlyOptions {
    /// Re-page RAM to `1 << bits` bytes and state it in the configuration's
    /// `target-page-bits` (a model release reads only 4 KiB pages: 12).
    /// `None` copies the configuration and the page records as they are,
    /// which is what another QEMU of the same target needs.
    pub target_page_bits: Option<u32>,
}

/// Rewrites a QEMU stream to carry only the device sections `keep_section`
/// accepts (by id string) and the RAM blocks `keep_block` accepts (by name).
/// The configuration and kept sections are copied byte for byte (section
/// ids kept); `ram` announces only the kept blocks and carries only their
/// pages. Commands, `MULTIFD_FLUSH` records and the vmdesc are dropped.
pub fn flash_only(
    bytes: &[u8],
    keep_section: &dyn Fn(&str) -> bool,
    keep_block: &dyn Fn(&str) -> bool,
) -> Result<FlashOnly, ForeignError> {
    flash_only_with(
        bytes,
        keep_section,
        keep_block,
        &FlashOnlyOptions::default(),
    )
}

/// [`flash_only`] with options (re-paging for a model release).
pub fn flash_only_with(
    bytes: &[u8],
    keep_section: &dyn Fn(&str) -> bool,
    keep_block: &dyn Fn(&str) -> bool,
    options: &FlashOnlyOptions,
) -> Result<FlashOnly, ForeignError> {
    let probe = analyze(bytes)?;
    let repage = match options.target_page_bits {
        Some(bits) if !PAGE_BITS.contains(&bits) => {
            return Err(unexpected(
                0,
                format!("requested target page bits in {PAGE_BITS:?}"),
                bits.to_string(),
            ))
        }
        Some(bits) if 1u64 << bits != probe.page_size => Some(bits),
        _ => None,
    };
    let walk = if repage.is_some() {
        walk(bytes, keep_block)?
    } else {
        walk(bytes, &|_| false)?
    };
    let info = &walk.info;
    let mut out = FlashOnly {
        stream: Vec::new(),
        skipped_sections: Vec::new(),
        skipped_blocks: Vec::new(),
        skipped_commands: info
            .commands
            .iter()
            .map(|c| format!("{} at byte {}", c.name, c.offset))
            .collect(),
    };
    let blocks: &[RamBlockInfo] = info.ram.as_ref().map_or(&[], |r| &r.blocks);
    let kept: Vec<bool> = blocks.iter().map(|b| keep_block(&b.name)).collect();
    out.skipped_blocks = blocks
        .iter()
        .zip(&kept)
        .filter(|(_, k)| !**k)
        .map(|(b, _)| SkippedBlock {
            name: b.name.clone(),
            length: b.length,
        })
        .collect();
    let mut w = Writer::with_capacity(bytes.len().min(1 << 20));
    let header_len = 8;
    w.bytes(&bytes[..header_len]);
    match (&info.configuration, repage) {
        (Some(cfg), None) => w.bytes(&bytes[cfg.offset..cfg.offset + cfg.len]),
        (cfg, Some(bits)) => write_configuration(&mut w, bytes, cfg.as_ref(), bits),
        (None, None) => {}
    }
    let mut ram_done = false;
    let mut out_last: Option<usize> = None;
    let mut skipped_ids = BTreeSet::new();
    for (index, s) in info.sections.iter().enumerate() {
        if let Some(items) = walk.ram_items.get(&index) {
            if let Some(bits) = repage {
                if !ram_done {
                    write_repaged_ram(&mut w, &walk, &kept, 1u64 << bits)?;
                    ram_done = true;
                }
                continue;
            }
            w.bytes(&bytes[s.offset..s.data_offset]);
            for item in items {
                match item {
                    RamItem::MemSize { blocks: listed } => {
                        let keep: Vec<_> = listed.iter().filter(|(b, _)| kept[*b]).collect();
                        let total: u64 = keep.iter().map(|(b, _)| blocks[*b].length).sum();
                        w.be64(total | RAM_SAVE_FLAG_MEM_SIZE);
                        for (b, extra) in keep {
                            w.str_u8(&blocks[*b].name);
                            w.be64(blocks[*b].length);
                            w.bytes(&bytes[extra.clone()]);
                        }
                    }
                    RamItem::Page {
                        block,
                        word,
                        payload,
                    } => {
                        if !kept[*block] {
                            continue;
                        }
                        // CONTINUE refers to the previous page *written*:
                        // after dropped pages the name must be written again.
                        if out_last == Some(*block) {
                            w.be64(word | RAM_SAVE_FLAG_CONTINUE);
                        } else {
                            w.be64(*word);
                            w.str_u8(&blocks[*block].name);
                            out_last = Some(*block);
                        }
                        w.bytes(&bytes[payload.clone()]);
                    }
                    RamItem::Verbatim(span) => w.bytes(&bytes[span.clone()]),
                    RamItem::MultifdFlush(at) => out
                        .skipped_commands
                        .push(format!("RAM MULTIFD_FLUSH at byte {at}")),
                }
            }
            write_footer(&mut w, s.section_id);
        } else if keep_section(&s.idstr) {
            w.bytes(&bytes[s.offset..s.end()]);
        } else if skipped_ids.insert(s.section_id) {
            out.skipped_sections.push(SkippedSection {
                idstr: s.idstr.clone(),
                instance: s.instance,
                section_id: s.section_id,
            });
        }
    }
    w.u8(QEMU_VM_EOF);
    out.stream = w.into_bytes();
    Ok(out)
}

fn write_footer(w: &mut Writer, section_id: u32) {
    w.u8(QEMU_VM_SECTION_FOOTER);
    w.be32(section_id);
}

/// The configuration with `target-page-bits` set to `bits` (other
/// subsections copied as they are).
fn write_configuration(w: &mut Writer, bytes: &[u8], cfg: Option<&ConfigurationInfo>, bits: u32) {
    w.u8(QEMU_VM_CONFIGURATION);
    w.str_be32(cfg.map_or("", |c| c.machine_type.as_str()));
    w.u8(QEMU_VM_SUBSECTION);
    w.str_u8(CONFIGURATION_TARGET_PAGE_BITS);
    w.be32(1);
    w.be32(bits);
    for (name, span) in cfg
        .iter()
        .flat_map(|c| c.subsections.iter().zip(&c.subsection_spans))
    {
        if name != CONFIGURATION_TARGET_PAGE_BITS {
            w.bytes(&bytes[span.clone()]);
        }
    }
}

/// The kept blocks as a fresh `ram` section (START with the block list,
/// PART with the pages, END) in pages of `page` bytes, from their rebuilt
/// contents. A new page is sent when every stream page it covers was sent,
/// skipped when none was; anything else cannot be re-paged.
fn write_repaged_ram(
    w: &mut Writer,
    walk: &Walk,
    kept: &[bool],
    page: u64,
) -> Result<(), ForeignError> {
    let Some(ram) = &walk.info.ram else {
        return Ok(());
    };
    let old = walk.info.page_size;
    let keep: Vec<(usize, &RamBlockInfo)> = ram
        .blocks
        .iter()
        .enumerate()
        .filter(|(i, _)| kept[*i])
        .collect();
    for (_, b) in &keep {
        if !b.length.is_multiple_of(page) {
            return Err(ForeignError::Unsupported {
                offset: b.offset,
                what: format!("re-paging block '{}' of length {:#x}", b.name, b.length),
                why: format!("it is not a multiple of {page} bytes"),
            });
        }
        if b.xbzrle_pages + b.compressed_pages > 0 {
            return Err(ForeignError::Unsupported {
                offset: b.offset,
                what: format!("re-paging block '{}'", b.name),
                why: "it has XBZRLE or compressed pages, whose contents are not rebuilt".into(),
            });
        }
    }
    let id = ram.section_id;
    w.u8(QEMU_VM_SECTION_START);
    w.be32(id);
    w.str_u8(RAM_IDSTR);
    w.be32(0);
    w.be32(RAM_VERSION);
    w.be64(keep.iter().map(|(_, b)| b.length).sum::<u64>() | RAM_SAVE_FLAG_MEM_SIZE);
    for (_, b) in &keep {
        w.str_u8(&b.name);
        w.be64(b.length);
        if let Some(ps) = b.page_size {
            w.be64(ps);
        }
        if let Some(addr) = b.address {
            w.be64(addr);
        }
    }
    w.be64(RAM_SAVE_FLAG_EOS);
    write_footer(w, id);
    w.u8(QEMU_VM_SECTION_PART);
    w.be32(id);
    let mut buf = vec![0u8; page as usize];
    for (i, b) in &keep {
        let (Some(contents), Some(sent)) = (&b.contents, walk.sent.get(i)) else {
            continue;
        };
        let mut first = true;
        for p in 0..b.length / page {
            let start = p * page;
            let covered = (start / old)..=((start + page - 1) / old);
            let n = covered.clone().filter(|q| sent.contains(q)).count() as u64;
            if n == 0 {
                continue;
            }
            if n != covered.end() - covered.start() + 1 {
                return Err(ForeignError::Unsupported {
                    offset: b.offset,
                    what: format!("re-paging block '{}' at {start:#x}", b.name),
                    why: format!("only {n} of the {old}-byte pages it covers were sent"),
                });
            }
            contents.read(start, &mut buf);
            let fill = buf[0];
            let cont = if first { 0 } else { RAM_SAVE_FLAG_CONTINUE };
            // As QEMU writes: ZERO only for zero pages (8.2 and later refuse
            // a ZERO record with another byte).
            if fill == 0 && buf.iter().all(|&x| x == 0) {
                w.be64(start | RAM_SAVE_FLAG_ZERO | cont);
                if first {
                    w.str_u8(&b.name);
                }
                w.u8(fill);
            } else {
                w.be64(start | RAM_SAVE_FLAG_PAGE | cont);
                if first {
                    w.str_u8(&b.name);
                }
                w.bytes(&buf);
            }
            first = false;
        }
    }
    w.be64(RAM_SAVE_FLAG_EOS);
    write_footer(w, id);
    w.u8(QEMU_VM_SECTION_END);
    w.be32(id);
    w.be64(RAM_SAVE_FLAG_EOS);
    write_footer(w, id);
    Ok(())
}

fn field_value_json(v: &FieldValue) -> Value {
    match v {
        FieldValue::U8(x) => json!(x),
        FieldValue::U16(x) => json!(x),
        FieldValue::U32(x) => json!(x),
        FieldValue::U64(x) => json!(x),
        FieldValue::I32(x) => json!(x),
        FieldValue::I64(x) => json!(x),
        FieldValue::Bool(x) => json!(x),
        FieldValue::Bytes(b) => json!({ "len": b.len(), "hex": hex(b) }),
    }
}

fn section_value_json(v: &SectionValue) -> Value {
    let mut m = Map::new();
    for (n, f) in &v.fields {
        m.insert(n.clone(), field_value_json(f));
    }
    for (n, ver, s) in &v.subsections {
        let mut sub = section_value_json(s);
        if let Value::Object(o) = &mut sub {
            o.insert("version".into(), json!(ver));
        }
        m.insert(n.clone(), sub);
    }
    Value::Object(m)
}

/// A short text for bytes: `N bytes, all XX` or the first bytes in hex.
fn bytes_summary(b: &[u8]) -> String {
    const SHOWN: usize = 16;
    match b.first() {
        None => "0 bytes".into(),
        Some(&f) if b.iter().all(|&x| x == f) => format!("{} bytes, all {f:02x}", b.len()),
        Some(_) if b.len() <= SHOWN => format!("{} bytes: {}", b.len(), hex(b)),
        Some(_) => format!("{} bytes: {}...", b.len(), hex(&b[..SHOWN])),
    }
}

fn field_value_text(v: &FieldValue) -> String {
    match v {
        FieldValue::Bytes(b) => bytes_summary(b),
        other => other.to_string(),
    }
}

fn section_value_text(v: &SectionValue, indent: &str, out: &mut String) {
    for (n, f) in &v.fields {
        let _ = writeln!(out, "{indent}{n} = {}", field_value_text(f));
    }
    for (n, ver, s) in &v.subsections {
        let _ = writeln!(out, "{indent}{n} (v{ver}):");
        section_value_text(s, &format!("{indent}  "), out);
    }
}

fn leaf_text(v: &Value) -> String {
    match v {
        Value::Number(n) => match n.as_u64() {
            Some(u) => format!("{u:#x}"),
            None => n.to_string(),
        },
        Value::String(h) if h.len() > 64 => format!("{} bytes: {}...", h.len() / 2, &h[..32]),
        Value::String(h) => h.clone(),
        other => other.to_string(),
    }
}

fn described_text(name: &str, v: &Described, indent: &str, out: &mut String) {
    /// Elements of a leaf array shown on one line.
    const SHOWN: usize = 8;
    match v {
        Described::Leaf(x) => {
            let _ = writeln!(out, "{indent}{name} = {}", leaf_text(x));
        }
        Described::List(a) if a.iter().all(|x| matches!(x, Described::Leaf(_))) => {
            let items: Vec<String> = a
                .iter()
                .take(SHOWN)
                .map(|x| match x {
                    Described::Leaf(l) => leaf_text(l),
                    _ => String::new(),
                })
                .collect();
            let more = if a.len() > SHOWN { ", ..." } else { "" };
            let _ = writeln!(
                out,
                "{indent}{name}[{}] = [{}{more}]",
                a.len(),
                items.join(", ")
            );
        }
        Described::List(a) => {
            for (i, x) in a.iter().enumerate() {
                described_text(&format!("{name}[{i}]"), x, indent, out);
            }
        }
        Described::Struct(m) => {
            let _ = writeln!(out, "{indent}{name}:");
            for (k, x) in m {
                described_text(k, x, &format!("{indent}  "), out);
            }
        }
    }
}

impl DecodedSection {
    /// The fields as JSON (numbers, bools, `{len, hex}` for buffers).
    pub fn to_json(&self) -> Value {
        match self {
            DecodedSection::Known {
                vmsd,
                vbuffer_len,
                vbuffer_from,
                value,
            } => json!({
                "decoded_with": "devices crate description",
                "vmsd": vmsd,
                "vbuffer_len": vbuffer_len,
                "vbuffer_len_from": vbuffer_from,
                "fields": section_value_json(value),
            }),
            DecodedSection::Described { value } => json!({
                "decoded_with": "vmdesc",
                "fields": value.to_json(),
            }),
            DecodedSection::Raw { hex, note } => json!({
                "decoded_with": "raw",
                "hex": hex,
                "note": note,
            }),
        }
    }
}

impl StreamInfo {
    /// Device section records with this id string, in stream order.
    pub fn sections_named<'a>(&'a self, idstr: &'a str) -> impl Iterator<Item = &'a SectionInfo> {
        self.sections.iter().filter(move |s| s.idstr == idstr)
    }

    /// The RAM block called `name`.
    pub fn block(&self, name: &str) -> Option<&RamBlockInfo> {
        self.ram.as_ref()?.blocks.iter().find(|b| b.name == name)
    }

    /// The whole analysis as JSON (for `norcompat analyze-stream --json`).
    pub fn to_json(&self) -> Value {
        let configuration = self.configuration.as_ref().map(|c| {
            json!({
                "offset": c.offset,
                "len": c.len,
                "machine_type": c.machine_type,
                "target_page_bits": c.target_page_bits,
                "capabilities": c.capabilities,
                "uuid": c.uuid,
                "subsections": c.subsections,
            })
        });
        let ram = self.ram.as_ref().map(|r| {
            json!({
                "section_id": r.section_id,
                "total": r.total,
                "page_size": r.page_size,
                "eos": r.eos,
                "multifd_flushes": r.multifd_flushes,
                "blocks": r.blocks.iter().map(|b| json!({
                    "name": b.name,
                    "length": b.length,
                    "offset": b.offset,
                    "page_size": b.page_size,
                    "address": b.address,
                    "zero_pages": b.zero_pages,
                    "data_pages": b.data_pages,
                    "xbzrle_pages": b.xbzrle_pages,
                    "compressed_pages": b.compressed_pages,
                    "contents_sha256": b.contents.as_ref().map(Storage::sha256_hex),
                })).collect::<Vec<_>>(),
            })
        });
        let sections: Vec<Value> = self
            .sections
            .iter()
            .map(|s| {
                json!({
                    "offset": s.offset,
                    "type": s.kind.name(),
                    "section_id": s.section_id,
                    "idstr": s.idstr,
                    "instance": s.instance,
                    "version": s.version,
                    "data_offset": s.data_offset,
                    "data_len": s.data_len,
                    "subsections": s.subsections,
                    "size_from": s.method.name(),
                    "size_note": match &s.method {
                        SizeMethod::FooterScan { why } => Some(why.as_str()),
                        _ => None,
                    },
                    "decoded": s.decoded.as_ref().map(DecodedSection::to_json),
                })
            })
            .collect();
        let commands: Vec<Value> = self
            .commands
            .iter()
            .map(|c| {
                json!({
                    "offset": c.offset,
                    "command": c.command,
                    "name": c.name,
                    "data": hex(&c.data),
                })
            })
            .collect();
        let vmdesc = self.vmdesc.as_ref().map(|v| {
            json!({
                "offset": v.offset,
                "len": v.len,
                "located_by": format!("{:?}", v.located_by),
                "follows_eof": v.follows_eof,
                "json": v.json,
            })
        });
        json!({
            "len": self.len,
            "format_version": self.format_version,
            "page_size": self.page_size,
            "page_size_from": self.page_size_from,
            "configuration": configuration,
            "ram": ram,
            "sections": sections,
            "commands": commands,
            "eof_offset": self.eof_offset,
            "vmdesc": vmdesc,
            "notes": self.notes,
        })
    }

    /// A human-readable dump, in stream order.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "QEMU migration stream, format version {}, {} bytes, RAM page size {} ({})",
            self.format_version, self.len, self.page_size, self.page_size_from
        );
        match &self.configuration {
            Some(c) => {
                let _ = writeln!(
                    out,
                    "@{} configuration: machine type '{}'{}{}{}",
                    c.offset,
                    c.machine_type,
                    c.target_page_bits
                        .map_or(String::new(), |b| format!(", target page bits {b}")),
                    if c.capabilities.is_empty() {
                        String::new()
                    } else {
                        format!(", capabilities {}", c.capabilities.join(" "))
                    },
                    c.uuid
                        .as_ref()
                        .map_or(String::new(), |u| format!(", uuid {u}")),
                );
            }
            None => {
                let _ = writeln!(out, "no configuration section");
            }
        }
        if let Some(r) = &self.ram {
            let _ = writeln!(
                out,
                "ram (section {}): {} blocks, total {:#x}",
                r.section_id,
                r.blocks.len(),
                r.total
            );
            for b in &r.blocks {
                let _ = write!(
                    out,
                    "  {:<28} length {:#010x}  zero {:>6}  data {:>6}",
                    b.name, b.length, b.zero_pages, b.data_pages
                );
                if b.xbzrle_pages + b.compressed_pages > 0 {
                    let _ = write!(
                        out,
                        "  xbzrle {}  compressed {}",
                        b.xbzrle_pages, b.compressed_pages
                    );
                }
                if let Some(a) = b.address {
                    let _ = write!(out, "  address {a:#x}");
                }
                if let Some(p) = b.page_size {
                    let _ = write!(out, "  page size {p:#x}");
                }
                let _ = writeln!(out);
            }
        }
        let mut commands = self.commands.iter().peekable();
        for s in &self.sections {
            while let Some(c) = commands.next_if(|c| c.offset < s.offset) {
                let _ = writeln!(
                    out,
                    "@{} COMMAND {} ({}) {}",
                    c.offset,
                    c.name,
                    c.command,
                    hex(&c.data)
                );
            }
            let _ = writeln!(
                out,
                "@{} {:<5} {:>3} '{}' instance {} v{}: {} bytes at {} (size: {})",
                s.offset,
                s.kind.name(),
                s.section_id,
                s.idstr,
                s.instance,
                s.version,
                s.data_len,
                s.data_offset,
                s.method.name()
            );
            if let SizeMethod::FooterScan { why } = &s.method {
                let _ = writeln!(out, "      ({why})");
            }
            if !s.subsections.is_empty() {
                let _ = writeln!(out, "      subsections: {}", s.subsections.join(", "));
            }
            match &s.decoded {
                Some(DecodedSection::Known { value, .. }) => {
                    section_value_text(value, "      ", &mut out)
                }
                Some(DecodedSection::Described {
                    value: Described::Struct(m),
                }) => {
                    for (k, v) in m {
                        described_text(k, v, "      ", &mut out);
                    }
                }
                Some(DecodedSection::Described { value }) => {
                    described_text("value", value, "      ", &mut out)
                }
                Some(DecodedSection::Raw { hex, note }) => {
                    let shown = &hex[..hex.len().min(64)];
                    let more = if hex.len() > shown.len() { "..." } else { "" };
                    let _ = writeln!(out, "      raw {shown}{more}");
                    if let Some(n) = note {
                        let _ = writeln!(out, "      ({n})");
                    }
                }
                None => {}
            }
        }
        for c in commands {
            let _ = writeln!(
                out,
                "@{} COMMAND {} ({}) {}",
                c.offset,
                c.name,
                c.command,
                hex(&c.data)
            );
        }
        let _ = writeln!(out, "@{} EOF", self.eof_offset);
        if let Some(v) = &self.vmdesc {
            let _ = writeln!(
                out,
                "@{} vmdesc: {} bytes of JSON, {} devices (located by {:?}{})",
                v.offset,
                v.len,
                v.devices().len(),
                v.located_by,
                if v.follows_eof {
                    ""
                } else {
                    ", not right after EOF"
                }
            );
        }
        for n in &self.notes {
            let _ = writeln!(out, "note: {n}");
        }
        out
    }
}

/// Keeps one instance of the device sections `idstr` accepts and gives it
/// instance id `to`; sections of other instances of those id strings are
/// removed, everything else is copied. This is how one device of a board
/// (`virt.flash1` is `pflash_cfi01` instance 1) is loaded into a machine
/// holding only that device, and how a one-device stream is addressed to
/// the right instance of a board.
pub fn select_instance(
    bytes: &[u8],
    idstr: &dyn Fn(&str) -> bool,
    from: u32,
    to: u32,
) -> Result<Vec<u8>, ForeignError> {
    let info = analyze(bytes)?;
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    for s in &info.sections {
        let device = s.idstr != RAM_IDSTR && idstr(&s.idstr);
        if !device || !matches!(s.kind, SectionKind::Full | SectionKind::Start) {
            continue;
        }
        out.extend_from_slice(&bytes[at..s.offset]);
        at = s.end();
        if s.instance != from {
            continue;
        }
        // type, section id, idstr length, idstr, then the instance id.
        let instance_at = s.offset + 1 + 4 + 1 + s.idstr.len();
        out.extend_from_slice(&bytes[s.offset..instance_at]);
        out.extend_from_slice(&to.to_be_bytes());
        out.extend_from_slice(&bytes[instance_at + 4..at]);
    }
    out.extend_from_slice(&bytes[at..]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::DeviceState;
    use crate::device::{bus_write, FlashDevice};
    use crate::migration::stream::{save_stream, save_stream_with, Machine};
    use crate::storage::PAGE_SIZE;

    const MT: &str = "nor-5.0";
    /// 1 MiB, two x16 chips on a 32-bit bus (write buffer of 4 KiB... as the device says).
    const CFI01: &str = "cfi.pflash01,num-blocks=4,sector-length=0x40000,width=4,\
        device-width=2,id0=0x89,id1=0x18";
    /// 8 KiB, no VMState.
    const CFI02: &str = "cfi.pflash02,num-blocks=2,sector-length=0x1000,width=2,\
        id0=0xBF,id1=0x236D,unlock-addr0=0x5555,unlock-addr1=0x2AAA";
    const V6_CFI01: &str = "parallel-nor-cfi01-flash,num-blocks=4,sector-length=0x40000,\
        width=4,device-width=2,id0=0x89,id1=0x18";

    fn dev(spec: &str, name: &str, fill: u8) -> Box<dyn FlashDevice> {
        let spec = DeviceSpec::parse(&format!("{spec},name={name}")).unwrap();
        let len = crate::catalogue::image_size(&spec).unwrap();
        crate::catalogue::create(&spec, BlockBackend::memory(len, fill, true)).unwrap()
    }

    /// A cfi01 in the middle of a buffered write (E8, count, one word).
    fn busy(spec: &str, name: &str) -> Box<dyn FlashDevice> {
        let mut d = dev(spec, name, 0);
        bus_write(d.as_mut(), 0x2000, 4, 0xE8);
        bus_write(d.as_mut(), 0x2000, 4, 0x0003_0003);
        bus_write(d.as_mut(), 0x2000, 4, 0x1111_1111);
        d
    }

    /// A cfi01 with one programmed word.
    fn programmed(name: &str) -> Box<dyn FlashDevice> {
        let mut d = dev(CFI01, name, 0);
        bus_write(d.as_mut(), 0x4000, 4, 0x0040_0040);
        bus_write(d.as_mut(), 0x4000, 4, 0x1234_5678);
        d
    }

    fn refs(devs: &[Box<dyn FlashDevice>]) -> Vec<&dyn FlashDevice> {
        devs.iter().map(|d| d.as_ref()).collect()
    }

    /// A hand-built stream, written record by record.
    struct Built {
        w: Writer,
    }

    impl Built {
        fn new() -> Built {
            let mut w = Writer::new();
            w.be32(QEMU_VM_FILE_MAGIC);
            w.be32(QEMU_VM_FILE_VERSION);
            w.u8(QEMU_VM_CONFIGURATION);
            w.str_be32(MT);
            w.u8(QEMU_VM_SUBSECTION);
            w.str_u8(CONFIGURATION_TARGET_PAGE_BITS);
            w.be32(1);
            w.be32(12);
            Built { w }
        }

        fn ram_start(&mut self, id: u32, blocks: &[(&str, u64)]) {
            self.w.u8(QEMU_VM_SECTION_START);
            self.w.be32(id);
            self.w.str_u8(RAM_IDSTR);
            self.w.be32(0);
            self.w.be32(RAM_VERSION);
            self.w
                .be64(blocks.iter().map(|b| b.1).sum::<u64>() | RAM_SAVE_FLAG_MEM_SIZE);
            for (name, len) in blocks {
                self.w.str_u8(name);
                self.w.be64(*len);
            }
            self.eos(id);
        }

        fn record(&mut self, ty: u8, id: u32) {
            self.w.u8(ty);
            self.w.be32(id);
        }

        fn page_header(&mut self, flag: u64, block: Option<&str>, index: u64) {
            let cont = if block.is_none() {
                RAM_SAVE_FLAG_CONTINUE
            } else {
                0
            };
            self.w.be64((index * PAGE_SIZE as u64) | flag | cont);
            if let Some(b) = block {
                self.w.str_u8(b);
            }
        }

        fn zero(&mut self, block: Option<&str>, index: u64, fill: u8) {
            self.page_header(RAM_SAVE_FLAG_ZERO, block, index);
            self.w.u8(fill);
        }

        fn page(&mut self, block: Option<&str>, index: u64, byte: u8) {
            self.page_header(RAM_SAVE_FLAG_PAGE, block, index);
            self.w.fill(byte, PAGE_SIZE);
        }

        fn eos(&mut self, id: u32) {
            self.w.be64(RAM_SAVE_FLAG_EOS);
            write_footer(&mut self.w, id);
        }

        fn full(&mut self, id: u32, idstr: &str, instance: u32, version: u32, data: &[u8]) {
            self.w.u8(QEMU_VM_SECTION_FULL);
            self.w.be32(id);
            self.w.str_u8(idstr);
            self.w.be32(instance);
            self.w.be32(version);
            self.w.bytes(data);
            write_footer(&mut self.w, id);
        }

        fn finish(mut self) -> Vec<u8> {
            self.w.u8(QEMU_VM_EOF);
            self.w.into_bytes()
        }
    }

    /// Block `guest.ram` (8 KiB, dropped) interleaved with `f0` (a CFI01
    /// array, kept): pages continue across records and after dropped ones.
    fn interleaved() -> Vec<u8> {
        let mut b = Built::new();
        b.ram_start(3, &[("guest.ram", 0x2000), ("f0", 0x10_0000)]);
        b.record(QEMU_VM_SECTION_PART, 3);
        b.page(Some("f0"), 0, 0xA5);
        b.zero(Some("guest.ram"), 0, 0);
        b.page(None, 1, 0x77);
        b.zero(Some("f0"), 1, 0x5A);
        b.zero(None, 2, 0x11);
        b.w.be64(RAM_SAVE_FLAG_MULTIFD_FLUSH);
        b.eos(3);
        b.record(QEMU_VM_SECTION_END, 3);
        b.zero(None, 3, 0x22);
        b.zero(Some("guest.ram"), 1, 0x33);
        b.page(Some("f0"), 4, 0xC3);
        b.eos(3);
        b.full(7, "guest_dev", 0, 1, &[1, 2, 3]);
        b.w.u8(QEMU_VM_COMMAND);
        b.w.be16(MIG_CMD_SWITCHOVER_START);
        b.w.be16(0);
        b.finish()
    }

    #[test]
    fn model_stream_without_vmdesc_is_scanned_for_footers() {
        let devs = vec![busy(CFI01, "f0"), dev(CFI02, "g", 0xFF), programmed("f1")];
        let bytes = save_stream(MT, &refs(&devs));
        let info = analyze(&bytes).unwrap();
        let cfg = info.configuration.as_ref().unwrap();
        assert_eq!(cfg.machine_type, MT);
        assert_eq!(cfg.target_page_bits, Some(12));
        assert_eq!(cfg.subsections, vec![CONFIGURATION_TARGET_PAGE_BITS]);
        assert_eq!(info.eof_offset, bytes.len() - 1);
        assert!(info.vmdesc.is_none());
        let ram = info.ram.as_ref().unwrap();
        assert_eq!(ram.section_id, 0);
        for (b, d) in ram.blocks.iter().zip(&devs) {
            assert_eq!(b.name, d.ram_block_name());
            assert_eq!(b.length, d.array().len());
            assert_eq!(b.pages(), d.array().page_count() as u64);
        }
        assert_eq!(ram.blocks[2].data_pages, 1, "the programmed page");
        assert_eq!(ram.eos, 3);
        let flash: Vec<_> = info.sections_named("pflash_cfi01").collect();
        assert_eq!(
            flash
                .iter()
                .map(|s| (s.section_id, s.instance))
                .collect::<Vec<_>>(),
            vec![(1, 0), (2, 1)]
        );
        assert_eq!(
            flash[0].method,
            SizeMethod::FooterScan {
                why: "the stream has no vmdesc".into()
            }
        );
        assert_eq!(flash[0].subsections, vec!["pflash_cfi01_blk_write"]);
        let DeviceState::Cfi01V5(state) = devs[0].state() else {
            panic!("v5 cfi01")
        };
        let Some(DecodedSection::Known {
            value,
            vbuffer_len,
            vbuffer_from,
            ..
        }) = &flash[0].decoded
        else {
            panic!("{:?}", flash[0].decoded)
        };
        assert_eq!(value.u8("wcycle"), Some(state.wcycle));
        assert_eq!(value.u8("cmd"), Some(0xE8));
        assert_eq!(value.u64("counter"), Some(state.counter));
        let (_, blk) = value.sub("pflash_cfi01_blk_write").unwrap();
        assert_eq!(blk.u32("blk_offset"), Some(state.blk_offset));
        assert_eq!(blk.bytes("blk_bytes"), state.blk_bytes.as_deref());
        assert_eq!(*vbuffer_len, state.blk_bytes.as_ref().map(Vec::len));
        assert_eq!(vbuffer_from.as_deref(), Some("remaining bytes"));
        // Contents rebuilt on request.
        let info = analyze_with(&bytes, &|n| n == "f1").unwrap();
        assert_eq!(
            info.block("f1").unwrap().contents.as_ref(),
            Some(devs[2].array())
        );
        assert!(info.block("f0").unwrap().contents.is_none());
    }

    /// The vmdesc entry of a v5 `pflash_cfi01` with an open write buffer.
    fn pflash_vmdesc(instance: u32, blk_len: usize) -> Value {
        json!({
            "name": "pflash_cfi01", "instance_id": instance, "vmsd_name": "pflash_cfi01",
            "version": 1,
            "fields": [
                {"name": "wcycle", "type": "uint8", "size": 1},
                {"name": "cmd", "type": "uint8", "size": 1},
                {"name": "status", "type": "uint8", "size": 1},
                {"name": "counter", "type": "uint64", "size": 8}
            ],
            "subsections": [{
                "vmsd_name": "pflash_cfi01_blk_write", "version": 1,
                "fields": [
                    {"name": "blk_bytes", "type": "buffer", "size": blk_len},
                    {"name": "blk_offset", "type": "uint32", "size": 4}
                ]
            }]
        })
    }

    fn timer_vmdesc(size: u64) -> Value {
        json!({
            "name": "timer", "instance_id": 0, "vmsd_name": "timer", "version": 2,
            "fields": [
                {"name": "cpu_ticks_offset", "type": "int64", "size": 8},
                {"name": "unused", "type": "buffer", "size": 8},
                {"name": "cpu_clock_offset", "type": "int64", "size": size}
            ]
        })
    }

    /// A `cpu` entry: a compressed array, a struct, a subsection.
    fn cpu_vmdesc() -> Value {
        json!({
            "name": "cpu", "instance_id": 0, "vmsd_name": "cpu", "version": 22,
            "fields": [
                {"name": "regs", "array_len": 4, "type": "uint32", "size": 4},
                {"name": "env", "type": "struct", "size": 6, "struct": {
                    "vmsd_name": "env", "version": 1,
                    "fields": [
                        {"name": "a", "type": "uint16", "size": 2},
                        {"name": "b", "type": "int32", "size": 4}
                    ]
                }}
            ],
            "subsections": [{
                "vmsd_name": "cpu/vfp", "version": 1,
                "fields": [{"name": "fpscr", "type": "uint32", "size": 4}]
            }]
        })
    }

    /// The `cpu` data: its `regs` start with a footer-like pattern that a
    /// scan would take for the end (7e, id 11, then a plausible FULL).
    fn cpu_data() -> Vec<u8> {
        let mut d = vec![
            0x7E, 0, 0, 0, 11, 0x04, 0, 0, 0, 12, 3, b'x', b'y', b'z', 0, 0,
        ];
        d.extend_from_slice(&[0x12, 0x34, 0xFF, 0xFF, 0xFF, 0xFE]);
        d.extend_from_slice(&[QEMU_VM_SUBSECTION, 7]);
        d.extend_from_slice(b"cpu/vfp");
        d.extend_from_slice(&[0, 0, 0, 1, 0xDE, 0xAD, 0xBE, 0xEF]);
        d
    }

    /// A model stream of one busy cfi01 with `timer` and `cpu` sections and
    /// a vmdesc made of `entries`.
    fn with_foreign_sections(entries: Vec<Value>) -> (Vec<u8>, usize) {
        let d = busy(CFI01, "virt.flash0");
        let DeviceState::Cfi01V5(state) = d.state() else {
            panic!("v5 cfi01")
        };
        let blk_len = state.blk_bytes.map_or(0, |b| b.len());
        let mut bytes = save_stream("virt-7.2", &[d.as_ref()]);
        assert_eq!(bytes.pop(), Some(QEMU_VM_EOF));
        let mut w = Writer::new();
        w.bytes(&bytes);
        let mut b = Built { w };
        b.full(10, "timer", 0, 2, &[0u8; 24]);
        b.full(11, "cpu", 0, 22, &cpu_data());
        let mut bytes = b.finish();
        // QEMU's key order (serde_json's objects sort their keys).
        let json = format!(
            "{{\"page_size\": 4096, \"devices\": {}}}",
            Value::Array(entries)
        )
        .into_bytes();
        bytes.push(QEMU_VM_VMDESCRIPTION);
        bytes.extend_from_slice(&(json.len() as u32).to_be_bytes());
        bytes.extend_from_slice(&json);
        (bytes, blk_len)
    }

    #[test]
    fn vmdesc_sizes_foreign_sections_and_lands_on_their_footers() {
        let (probe, blk_len) = with_foreign_sections(vec![]);
        drop(probe);
        let (bytes, _) = with_foreign_sections(vec![
            timer_vmdesc(8),
            pflash_vmdesc(0, blk_len),
            cpu_vmdesc(),
        ]);
        let info = analyze(&bytes).unwrap();
        let vmdesc = info.vmdesc.as_ref().unwrap();
        assert_eq!(vmdesc.located_by, VmdescLocator::PageSizePrefix);
        assert!(vmdesc.follows_eof);
        assert!(info.notes.is_empty(), "{:?}", info.notes);
        let devices: Vec<_> = info
            .sections
            .iter()
            .filter(|s| s.idstr != RAM_IDSTR)
            .collect();
        assert_eq!(devices.len(), 3);
        for s in &devices {
            assert_eq!(s.method, SizeMethod::Vmdesc, "{}", s.idstr);
        }
        let cpu = devices[2];
        assert_eq!(cpu.data_len, cpu_data().len());
        assert_eq!(cpu.subsections, vec!["cpu/vfp"]);
        let Some(DecodedSection::Described { value }) = &cpu.decoded else {
            panic!("{:?}", cpu.decoded)
        };
        let Some(Described::List(regs)) = value.get("regs") else {
            panic!("{value:?}")
        };
        assert_eq!(regs.len(), 4);
        assert_eq!(regs[0].as_u64(), Some(0x7E00_0000));
        let env = value.get("env").unwrap();
        assert_eq!(env.get("a").and_then(Described::as_u64), Some(0x1234));
        assert_eq!(env.get("b"), Some(&Described::Leaf(json!(-2))));
        assert_eq!(
            value
                .get("cpu/vfp")
                .and_then(|v| v.get("fpscr"))
                .and_then(Described::as_u64),
            Some(0xDEAD_BEEF)
        );
        let Some(DecodedSection::Known { vbuffer_from, .. }) = &devices[0].decoded else {
            panic!("{:?}", devices[0].decoded)
        };
        assert_eq!(vbuffer_from.as_deref(), Some("vmdesc"));
        let text = info.to_text();
        assert!(text.contains("subsections: cpu/vfp"), "{text}");
        assert!(text.contains("fpscr = 0xdeadbeef"), "{text}");
        assert_eq!(info.to_json()["sections"][4]["size_from"], "vmdesc");
    }

    #[test]
    fn a_qemu_10_vmdesc_is_located_as_analyze_migration_does() {
        let (_, blk_len) = with_foreign_sections(vec![]);
        let (bytes, _) = with_foreign_sections(vec![pflash_vmdesc(0, blk_len), cpu_vmdesc()]);
        let at = analyze(&bytes).unwrap().vmdesc.unwrap().offset;
        // QEMU 10.0 starts the object with the configuration's description.
        let json = std::str::from_utf8(&bytes[at + 5..]).unwrap().replacen(
            "{\"page_size\"",
            "{\"configuration\": {\"vmsd_name\": \"configuration\"}, \"page_size\"",
            1,
        );
        let mut newer = bytes[..=at].to_vec();
        newer.extend_from_slice(&(json.len() as u32).to_be_bytes());
        newer.extend_from_slice(json.as_bytes());
        let info = analyze(&newer).unwrap();
        let vmdesc = info.vmdesc.as_ref().unwrap();
        assert_eq!(vmdesc.located_by, VmdescLocator::LastNul);
        assert!(vmdesc.json.get("configuration").is_some());
        assert_eq!(
            info.sections_named("cpu").next().unwrap().method,
            SizeMethod::Vmdesc
        );
    }

    #[test]
    fn a_vmdesc_that_misses_the_footer_falls_back_to_scanning() {
        let (_, blk_len) = with_foreign_sections(vec![]);
        // timer: 25 bytes by its vmdesc, 24 on the wire. pflash: no entry.
        let (bytes, _) = with_foreign_sections(vec![timer_vmdesc(9), cpu_vmdesc()]);
        let info = analyze(&bytes).unwrap();
        let timer = info.sections_named("timer").next().unwrap();
        assert_eq!(timer.data_len, 24);
        let SizeMethod::FooterScan { why } = &timer.method else {
            panic!("{:?}", timer.method)
        };
        let end = timer.data_offset + 25;
        assert_eq!(
            why,
            &format!("its vmdesc size 25 ends at byte {end}, where there is no footer")
        );
        let flash = info.sections_named("pflash_cfi01").next().unwrap();
        assert_eq!(
            flash.method,
            SizeMethod::FooterScan {
                why: "the vmdesc has no entry for 'pflash_cfi01' instance 0".into()
            }
        );
        assert_eq!(flash.data_len, 11 + 2 + 22 + 4 + blk_len + 4);
        assert_eq!(
            info.sections_named("cpu").next().unwrap().method,
            SizeMethod::Vmdesc
        );
        assert!(info.notes[0].starts_with("vmdesc entries not used to size a section: 'timer' 0"));
        // Without any vmdesc the footer-like bytes inside `cpu` fool the
        // scan (the vmdesc is what makes such streams readable).
        let end = bytes.len() - info.vmdesc.as_ref().unwrap().len - 5;
        assert!(analyze(&bytes[..end]).is_err());
    }

    #[test]
    fn the_scan_skips_footer_patterns_no_record_follows() {
        let mut b = Built::new();
        b.ram_start(0, &[]);
        let mut data = vec![1, 2, 0x7E, 0, 0, 0, 5, 0xEE, 3];
        data.extend_from_slice(&[0x7E, 0, 0, 0, 5, 0x01]);
        b.full(5, "blob", 0, 1, &data);
        let bytes = b.finish();
        let info = analyze(&bytes).unwrap();
        let blob = info.sections_named("blob").next().unwrap();
        assert_eq!(blob.data_len, data.len());
        assert_eq!(
            blob.decoded,
            Some(DecodedSection::Raw {
                hex: hex(&data),
                note: None
            })
        );
    }

    #[test]
    fn flash_only_of_a_flash_only_stream_is_the_same_stream_and_loads() {
        let devs = vec![busy(CFI01, "f0"), dev(CFI02, "g", 0xFF), programmed("f1")];
        let bytes = save_stream(MT, &refs(&devs));
        let out = flash_only(&bytes, &|_| true, &|_| true).unwrap();
        assert_eq!(out.stream, bytes);
        assert!(out.skipped_sections.is_empty() && out.skipped_blocks.is_empty());
        let mut dst = Machine::new(
            MT,
            vec![
                dev(CFI01, "f0", 0),
                dev(CFI02, "g", 0xFF),
                dev(CFI01, "f1", 0),
            ],
        );
        dst.load_into(&out.stream).unwrap();
        for (s, d) in devs.iter().zip(&dst.devices) {
            assert_eq!(s.array(), d.array());
        }
        // Without the first flash: its block and section go.
        let out = flash_only(&bytes, &|_| false, &|n| n != "f0").unwrap();
        assert_eq!(
            out.skipped_sections,
            vec![
                SkippedSection {
                    idstr: "pflash_cfi01".into(),
                    instance: 0,
                    section_id: 1
                },
                SkippedSection {
                    idstr: "pflash_cfi01".into(),
                    instance: 1,
                    section_id: 2
                }
            ]
        );
        assert_eq!(
            out.skipped_blocks,
            vec![SkippedBlock {
                name: "f0".into(),
                length: devs[0].array().len()
            }]
        );
        let mut dst = Machine::new(MT, vec![dev(CFI02, "g", 0), dev(CFI01, "f1", 0)]);
        let report = dst.load_into(&out.stream).unwrap();
        assert_eq!(report.ram_blocks, vec!["g", "f1"]);
        assert_eq!(dst.devices[1].array(), devs[2].array());
        assert_eq!(dst.devices[0].array(), devs[1].array());
    }

    #[test]
    fn flash_only_drops_interleaved_blocks_and_keeps_continue_right() {
        let bytes = interleaved();
        let info = analyze(&bytes).unwrap();
        let ram = info.ram.as_ref().unwrap();
        assert_eq!(ram.multifd_flushes, 1);
        assert_eq!(
            ram.blocks
                .iter()
                .map(|b| (b.zero_pages, b.data_pages))
                .collect::<Vec<_>>(),
            vec![(2, 1), (3, 2)]
        );
        assert_eq!(info.commands.len(), 1);
        assert_eq!(info.commands[0].name, "SWITCHOVER_START");
        let out = flash_only(&bytes, &|_| false, &|n| n == "f0").unwrap();
        assert_eq!(
            out.skipped_blocks,
            vec![SkippedBlock {
                name: "guest.ram".into(),
                length: 0x2000
            }]
        );
        assert_eq!(out.skipped_sections.len(), 1);
        assert_eq!(out.skipped_commands.len(), 2, "{:?}", out.skipped_commands);
        let again = analyze_with(&out.stream, &|_| true).unwrap();
        assert!(again.commands.is_empty());
        let f0 = again.block("f0").unwrap();
        assert_eq!((f0.zero_pages, f0.data_pages), (3, 2));
        let mut want = Storage::filled(0x10_0000, 0);
        for (index, fill) in [(0, 0xA5), (1, 0x5A), (2, 0x11), (3, 0x22), (4, 0xC3)] {
            want.fill(index * PAGE_SIZE as u64, PAGE_SIZE as u64, fill);
        }
        assert_eq!(f0.contents.as_ref(), Some(&want));
        let mut dst = Machine::new(MT, vec![dev(CFI01, "f0", 0)]);
        dst.load_into(&out.stream).unwrap();
        assert_eq!(dst.devices[0].array(), &want);
        // Keeping only the other block: its first page must carry its name
        // although the input's previous page was of the dropped block.
        let out = flash_only(&bytes, &|_| false, &|n| n == "guest.ram").unwrap();
        let mut dst = Machine::new(MT, vec![dev(CFI02, "guest.ram", 0xEE)]);
        dst.load_into(&out.stream).unwrap();
        // Page 1 came as 0x77 and again as 0x33: the last copy wins.
        let mut want = Storage::filled(0x2000, 0);
        want.fill(PAGE_SIZE as u64, PAGE_SIZE as u64, 0x33);
        assert_eq!(dst.devices[0].array(), &want);
    }

    #[test]
    fn repaging_to_1k_and_back_gives_the_model_stream_again() {
        let devs = vec![busy(CFI01, "f0"), dev(CFI02, "g", 0xFF), programmed("f1")];
        // As QEMU writes pages (the repaged stream can only be so).
        let bytes = crate::migration::stream::save_stream_encoded(
            MT,
            &refs(&devs),
            &[],
            crate::migration::stream::RAM_SECTION_ID,
            crate::migration::stream::PageEncoding::Qemu,
        );
        let small = flash_only_with(
            &bytes,
            &|_| true,
            &|_| true,
            &FlashOnlyOptions {
                target_page_bits: Some(10),
            },
        )
        .unwrap();
        let info = analyze(&small.stream).unwrap();
        assert_eq!(info.page_size, 1024);
        assert_eq!(
            info.configuration.as_ref().unwrap().target_page_bits,
            Some(10)
        );
        let f1 = info.block("f1").unwrap();
        assert_eq!(f1.pages(), devs[2].array().page_count() as u64 * 4);
        assert_eq!(f1.data_pages, 1, "only the 1 KiB page with the word");
        let back = flash_only_with(
            &small.stream,
            &|_| true,
            &|_| true,
            &FlashOnlyOptions {
                target_page_bits: Some(12),
            },
        )
        .unwrap();
        assert_eq!(back.stream, bytes);
    }

    #[test]
    fn ignore_shared_addresses_are_decoded_and_kept() {
        let devs = vec![programmed("f0")];
        let bytes = save_stream_with(MT, &refs(&devs), &[Capability::XIgnoreShared]);
        let info = analyze(&bytes).unwrap();
        assert_eq!(
            info.configuration.as_ref().unwrap().capabilities,
            vec!["x-ignore-shared"]
        );
        assert_eq!(info.block("f0").unwrap().address, Some(0));
        let out = flash_only(&bytes, &|_| true, &|_| true).unwrap();
        assert_eq!(out.stream, bytes);
    }

    #[test]
    fn commands_are_recorded_and_packaged_is_refused() {
        let mut bytes = save_stream(MT, &[dev(CFI02, "g", 0).as_ref()]);
        let eof = bytes.len() - 1;
        // POSTCOPY_ADVISE with one page size: no block has a page-size field.
        let mut advise = vec![QEMU_VM_COMMAND, 0, MIG_CMD_POSTCOPY_ADVISE as u8, 0, 16];
        advise.extend_from_slice(&4096u64.to_be_bytes());
        advise.extend_from_slice(&4096u64.to_be_bytes());
        let header_end = 8 + analyze(&bytes).unwrap().configuration.unwrap().len;
        bytes.splice(header_end..header_end, advise.iter().copied());
        let info = analyze(&bytes).unwrap();
        assert_eq!(info.commands[0].name, "POSTCOPY_ADVISE");
        assert_eq!(info.commands[0].offset, header_end);
        assert_eq!(info.block("g").unwrap().page_size, None);
        let eof = eof + advise.len();
        let packaged = [QEMU_VM_COMMAND, 0, MIG_CMD_PACKAGED as u8, 0, 4, 0, 0, 0, 0];
        bytes.splice(eof..eof, packaged);
        let err = analyze(&bytes).unwrap_err();
        assert_eq!(err.offset(), eof);
        assert!(
            err.to_string()
                .contains("command PACKAGED is not supported"),
            "{err}"
        );
        bytes[eof + 2] = 99;
        assert_eq!(
            analyze(&bytes).unwrap_err().to_string(),
            format!(
                "at byte {}: expected a command number from 1 (OPEN_RETURN_PATH) to 11 \
                 (SWITCHOVER_START), found 99",
                eof + 1
            )
        );
    }

    #[test]
    fn errors_name_the_offset_and_what_was_expected() {
        let bytes = interleaved();
        let mut bad = bytes.clone();
        bad[0] = b'X';
        assert_eq!(
            analyze(&bad).unwrap_err().to_string(),
            "at byte 0: expected the magic QEVM (51 45 56 4d), found 5845564d"
        );
        let mut bad = bytes.clone();
        bad[7] = 2;
        assert_eq!(
            analyze(&bad).unwrap_err().to_string(),
            "at byte 4: expected format version 3, found version 2"
        );
        let eof = bytes.len() - 1;
        let mut bad = bytes.clone();
        bad[eof] = 0x09;
        assert_eq!(
            analyze(&bad).unwrap_err().to_string(),
            format!(
                "at byte {eof}: expected a record type: 00 EOF, 01 START, 02 PART, 03 END, \
                 04 FULL or 08 COMMAND, found 0x09"
            )
        );
        // The first page record of the PART says CONTINUE.
        let info = analyze(&bytes).unwrap();
        let part = info.sections[1].data_offset;
        let mut bad = bytes.clone();
        bad[part + 7] |= RAM_SAVE_FLAG_CONTINUE as u8;
        let mut b = Built::new();
        b.ram_start(3, &[("f0", 0x1000)]);
        b.record(QEMU_VM_SECTION_PART, 3);
        b.zero(None, 0, 0);
        b.eos(3);
        let cont_first = b.finish();
        let err = analyze(&cont_first).unwrap_err();
        assert!(
            err.to_string()
                .contains("expected a block name (CONTINUE 0x20 needs a previous page record)"),
            "{err}"
        );
        let mut b = Built::new();
        b.ram_start(3, &[("f0", 0x1000)]);
        b.record(QEMU_VM_SECTION_PART, 3);
        b.zero(Some("f9"), 0, 0);
        let err = analyze(&b.finish()).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("expected a block announced in the RAM setup, found 'f9'"),
            "{err}"
        );
        let err = analyze(&bytes[..part + 3]).unwrap_err();
        assert_eq!(
            err,
            ForeignError::Truncated {
                offset: part,
                expected: "a RAM record header (be64 offset | flags) (8 bytes needed, 3 left)"
                    .into()
            }
        );
        assert!(err
            .to_string()
            .starts_with(&format!("truncated stream at byte {part}: ")));
    }

    #[test]
    fn every_truncation_and_bit_flip_is_an_error_or_a_result_never_a_panic() {
        let (bytes, _) = with_foreign_sections(vec![cpu_vmdesc()]);
        let stream_end = bytes.len() - analyze(&bytes).unwrap().vmdesc.unwrap().len - 5;
        for cut in 0..stream_end {
            let err = analyze(&bytes[..cut]).unwrap_err();
            assert!(err.offset() <= cut, "cut {cut}: {err}");
            assert!(flash_only(&bytes[..cut], &|_| true, &|_| true).is_err());
        }
        for bit in (0..bytes.len() * 8).step_by(13) {
            let mut flipped = bytes.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            let _ = analyze(&flipped);
            let _ = flash_only(&flipped, &|_| true, &|n| n != "virt.flash0");
        }
    }

    #[test]
    fn the_registry_decodes_every_section_this_crate_registers() {
        let names: Vec<&str> = registered_descriptions().iter().map(|d| d.name).collect();
        for n in [
            "pflash_cfi01",
            "parallel-nor-cfi01-flash",
            "parallel-nor-cfi02-flash",
        ] {
            assert!(names.contains(&n), "{names:?}");
        }
        // A v6 section with its write buffer open.
        let mut d = dev(V6_CFI01, "v6", 0xFF);
        bus_write(d.as_mut(), 0, 4, 0xE8);
        bus_write(d.as_mut(), 0, 4, 0x0001_0001);
        let section = d.save_vmstate().remove(0);
        let desc = d
            .vmstate_entries()
            .into_iter()
            .find(|e| e.vmsd.name == section.idstr)
            .unwrap()
            .vmsd;
        let mut w = Writer::new();
        vmstate::encode(&desc, section.version, &section.value, &mut w);
        let data = w.into_bytes();
        let DecodedSection::Known {
            value, vbuffer_len, ..
        } = decode_section(section.idstr, section.version, &data, None)
        else {
            panic!("not decoded")
        };
        assert_eq!(value, section.value);
        assert!(vbuffer_len.is_some());
        // Unknown id strings are shown raw; a bad fit says why.
        assert_eq!(
            decode_section("nope", 1, &[1, 2], None),
            DecodedSection::Raw {
                hex: "0102".into(),
                note: None
            }
        );
        let DecodedSection::Raw { note, .. } = decode_section("pflash_cfi01", 1, &[1, 2], None)
        else {
            panic!("short data decoded")
        };
        assert!(note
            .unwrap()
            .starts_with("the 'pflash_cfi01' description does not fit"));
    }

    #[test]
    fn json_and_text_renderings_name_what_the_stream_holds() {
        let info = analyze(&interleaved()).unwrap();
        let json = info.to_json();
        assert_eq!(json["configuration"]["machine_type"], MT);
        assert_eq!(json["ram"]["blocks"][1]["name"], "f0");
        assert_eq!(json["ram"]["multifd_flushes"], 1);
        assert_eq!(json["sections"][2]["size_from"], "parsed");
        assert_eq!(json["sections"][3]["size_from"], "footer-scan");
        assert_eq!(json["commands"][0]["name"], "SWITCHOVER_START");
        let text = info.to_text();
        for want in [
            "machine type 'nor-5.0', target page bits 12",
            "guest.ram",
            "FULL    7 'guest_dev' instance 0 v1: 3 bytes",
            "COMMAND SWITCHOVER_START (11)",
            "raw 010203",
        ] {
            assert!(text.contains(want), "{want:?} in\n{text}");
        }
    }
}
