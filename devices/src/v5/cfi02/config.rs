//! Properties, realize-time validation and geometry (spec §2, §3).

use super::TYPE_NAME;
use crate::command_set::amd;
use crate::device::DeviceError;
use crate::props::{PropDef, PropKind, PropValue, PropValues};

/// QEMU's `PFLASH_MAX_ERASE_REGIONS`.
pub const MAX_ERASE_REGIONS: usize = 4;

/// Sector lengths of the non-uniform regions must be a multiple of this (check 4).
const SECTOR_LEN_GRANULE: u64 = 0x100;
/// Sector lengths of the non-uniform regions must be below this (check 4).
const SECTOR_LEN_LIMIT: u64 = 1 << 24;

const fn uint(name: &'static str, kind: PropKind, doc: &'static str) -> PropDef {
    PropDef {
        name,
        kind,
        default: Some(PropValue::Int(0)),
        doc,
    }
}

/// The properties of `cfi.pflash02`, in QEMU 7.2.22's declaration order
/// (`drive` is the backend argument of [`super::PflashCfi02::new`]).
pub const PROPERTIES: &[PropDef] = &[
    uint(
        "num-blocks",
        PropKind::U32,
        "uniform geometry: number of sectors",
    ),
    uint(
        "sector-length",
        PropKind::U32,
        "uniform geometry: sector size in bytes",
    ),
    uint(
        "num-blocks0",
        PropKind::U32,
        "erase region 0: number of sectors",
    ),
    uint(
        "sector-length0",
        PropKind::U32,
        "erase region 0: sector size in bytes",
    ),
    uint(
        "num-blocks1",
        PropKind::U32,
        "erase region 1: number of sectors",
    ),
    uint(
        "sector-length1",
        PropKind::U32,
        "erase region 1: sector size in bytes",
    ),
    uint(
        "num-blocks2",
        PropKind::U32,
        "erase region 2: number of sectors",
    ),
    uint(
        "sector-length2",
        PropKind::U32,
        "erase region 2: sector size in bytes",
    ),
    uint(
        "num-blocks3",
        PropKind::U32,
        "erase region 3: number of sectors",
    ),
    uint(
        "sector-length3",
        PropKind::U32,
        "erase region 3: sector size in bytes",
    ),
    uint(
        "width",
        PropKind::U8,
        "bus width in bytes (address shift only)",
    ),
    uint(
        "mappings",
        PropKind::U8,
        "number of mirrored copies in the window",
    ),
    uint(
        "big-endian",
        PropKind::U8,
        "non-zero: big-endian array accesses",
    ),
    uint("id0", PropKind::U16, "autoselect manufacturer code"),
    uint("id1", PropKind::U16, "autoselect device code"),
    uint("id2", PropKind::U16, "autoselect extended code 1"),
    uint("id3", PropKind::U16, "autoselect extended code 2"),
    uint(
        "unlock-addr0",
        PropKind::U16,
        "first unlock address (11 bits compared)",
    ),
    uint(
        "unlock-addr1",
        PropKind::U16,
        "second unlock address (11 bits compared)",
    ),
    PropDef {
        name: "name",
        kind: PropKind::Str,
        default: None,
        doc: "name of the ROM device region and RAM block (required)",
    },
];

/// One erase-block region: `blocks` sectors of `sector_len` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// Number of sectors (QEMU's `nb_blocs[i]`).
    pub blocks: u32,
    /// Sector size in bytes (QEMU's `sector_len[i]`).
    pub sector_len: u32,
}

impl Region {
    /// Bytes covered by the region (64-bit, as QEMU computes it).
    pub fn size(&self) -> u64 {
        self.blocks as u64 * self.sector_len as u64
    }
}

/// A realized configuration: validated properties and derived geometry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Config {
    /// The `name` property: ROM device region and RAM block name.
    pub name: String,
    /// The `nb_regions` leading regions (1..=4).
    pub regions: Vec<Region>,
    /// Σ region sizes, truncated to 32 bits as QEMU's `uint32_t chip_len`.
    pub chip_len: u32,
    /// Σ sectors, as QEMU's `uint32_t total_sectors`.
    pub total_sectors: u32,
    /// The `width` property.
    pub width: u8,
    /// The `mappings` property.
    pub mappings: u8,
    /// `big-endian != 0`.
    pub big_endian: bool,
    /// `id0`..`id3`.
    pub ids: [u16; 4],
    /// `unlock-addr0`/`unlock-addr1`, masked to 11 bits (realize step 4).
    pub unlock_addr: [u64; 2],
}

fn realize_error(message: String) -> DeviceError {
    DeviceError::Realize {
        ty: TYPE_NAME,
        message,
    }
}

impl Config {
    /// Parses the properties and applies realize checks 1–6 in QEMU's order.
    pub fn parse(props: &[(String, String)]) -> Result<Config, DeviceError> {
        let v = PropValues::parse(TYPE_NAME, PROPERTIES, props)?;
        // Every value fits its declared kind, so these narrowings are exact.
        let u32p = |name: &str| v.int(name) as u32;
        let uniform = Region {
            blocks: u32p("num-blocks"),
            sector_len: u32p("sector-length"),
        };
        let given: [Region; MAX_ERASE_REGIONS] = std::array::from_fn(|i| Region {
            blocks: u32p(&format!("num-blocks{i}")),
            sector_len: u32p(&format!("sector-length{i}")),
        });

        // Check 1.
        if uniform.sector_len == 0 && given[0].sector_len == 0 {
            return Err(realize_error(
                "attribute \"sector-length\" not specified or zero.".into(),
            ));
        }
        // Check 2.
        if uniform.blocks == 0 && given[0].blocks == 0 {
            return Err(realize_error(
                "attribute \"num-blocks\" not specified or zero.".into(),
            ));
        }
        // Check 3.
        let Some(name) = v.str("name") else {
            return Err(realize_error("attribute \"name\" not specified.".into()));
        };

        // Checks 4 and 5, over the leading regions with a non-zero count.
        let mut chip_len: u32 = 0;
        let mut total_sectors: u32 = 0;
        let mut regions = Vec::new();
        for (i, region) in given.iter().enumerate() {
            if region.blocks == 0 {
                break;
            }
            total_sectors = total_sectors.wrapping_add(region.blocks);
            let len = region.sector_len as u64;
            if len & (SECTOR_LEN_GRANULE - 1) != 0
                || len >= SECTOR_LEN_LIMIT
                || !len.is_power_of_two()
            {
                return Err(realize_error(format!(
                    "unsupported configuration: sector length[{i}] per device = {len:x}."
                )));
            }
            if chip_len as u64 & (len - 1) != 0 {
                return Err(realize_error(format!(
                    "unsupported configuration: flash region {i} not correctly aligned."
                )));
            }
            // QEMU 7.2.22 behaviour: `chip_len` is a uint32_t, the sum wraps.
            chip_len = chip_len.wrapping_add(region.size() as u32);
            regions.push(*region);
        }

        // Check 6, or the uniform pair as region 0. QEMU 7.2.22 behaviour:
        // the uniform pair is not validated by checks 4 and 5 (§14.13).
        let uniform_len = uniform.size();
        if regions.is_empty() {
            regions.push(uniform);
            chip_len = uniform_len as u32;
            total_sectors = uniform.blocks;
        } else if uniform_len != 0 && uniform_len != chip_len as u64 {
            return Err(realize_error(
                "\"num-blocks\"*\"sector-length\" different from \
                 \"num-blocks0\"*'sector-length0\" + ... + \"num-blocks3\"*\"sector-length3\""
                    .into(),
            ));
        }

        let id = |name: &str| v.int(name) as u16;
        Ok(Config {
            name: name.to_string(),
            regions,
            chip_len,
            total_sectors,
            width: v.int("width") as u8,
            mappings: v.int("mappings") as u8,
            big_endian: v.int("big-endian") != 0,
            ids: [id("id0"), id("id1"), id("id2"), id("id3")],
            unlock_addr: [
                v.int("unlock-addr0") & u64::from(amd::COMMAND_ADDR_MASK),
                v.int("unlock-addr1") & u64::from(amd::COMMAND_ADDR_MASK),
            ],
        })
    }

    /// Bytes of the exported window: `mappings` copies if `mappings > 1`.
    pub fn window_size(&self) -> u64 {
        self.mappings.max(1) as u64 * self.chip_len as u64
    }
}

/// Where a byte offset lies: its sector's length and number (QEMU's `SectorInfo`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct SectorInfo {
    pub len: u32,
    pub num: u32,
}

impl Config {
    /// The sector containing chip offset `off` (QEMU's `pflash_sector_info`).
    /// `None` only for offsets beyond every region, which QEMU aborts on and
    /// which cannot happen after masking with `chip_len - 1`.
    pub fn sector_info(&self, off: u64) -> Option<SectorInfo> {
        let mut addr = 0u64;
        let mut num = 0u32;
        for region in &self.regions {
            let size = region.size();
            if addr <= off && off < addr + size {
                let index = (off - addr) / region.sector_len as u64;
                return Some(SectorInfo {
                    len: region.sector_len,
                    num: num.wrapping_add(index as u32),
                });
            }
            num = num.wrapping_add(region.blocks);
            addr += size;
        }
        None
    }
}
