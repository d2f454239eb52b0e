//! Properties of `cfi.pflash01` (QEMU's names, types and defaults, spec §2)
//! and the realize checks that depend only on them (spec §3).

use super::TYPE_NAME;
use crate::device::DeviceError;
use crate::props::{PropDef, PropKind, PropValue, PropValues};

/// Largest array this model allocates (4 GiB). QEMU's limit is the host's
/// memory; beyond 4 GiB `blk_offset` (a u32) and `pflash_update` (int
/// offsets) stop working in QEMU 7.2.22 anyway.
pub const MAX_ARRAY_LEN: u64 = 1 << 32;

const fn int(name: &'static str, kind: PropKind, doc: &'static str) -> PropDef {
    PropDef {
        name,
        kind,
        default: Some(PropValue::Int(0)),
        doc,
    }
}

const fn flag(name: &'static str, doc: &'static str) -> PropDef {
    PropDef {
        name,
        kind: PropKind::Bool,
        default: Some(PropValue::Bool(false)),
        doc,
    }
}

/// QEMU 7.2.22's property table, in its order (`drive` is the backend argument).
pub const PROPERTIES: &[PropDef] = &[
    int(
        "num-blocks",
        PropKind::U32,
        "number of guest-visible blocks (total size / sector-length)",
    ),
    int(
        "sector-length",
        PropKind::U64,
        "block size of the whole bank, summed over interleaved chips",
    ),
    int("width", PropKind::U8, "bank width in bytes"),
    int(
        "device-width",
        PropKind::U8,
        "width of one chip in bytes; 0 selects the legacy format",
    ),
    int(
        "max-device-width",
        PropKind::U8,
        "maximum width of one chip; 0 means device-width",
    ),
    flag("big-endian", "byte order of array reads and writes"),
    flag(
        "secure",
        "non-secure reads return array data, non-secure writes are rejected",
    ),
    int("id0", PropKind::U16, "identifier code 0 (manufacturer)"),
    int("id1", PropKind::U16, "identifier code 1 (device)"),
    int("id2", PropKind::U16, "identifier code 2"),
    int("id3", PropKind::U16, "identifier code 3"),
    PropDef {
        name: "name",
        kind: PropKind::Str,
        default: None,
        doc: "name of the memory region and RAM block",
    },
    flag(
        "old-multiple-chip-handling",
        "alternative CFI geometry and write-buffer size",
    ),
];

/// The configuration of a realized device (properties after realize's defaults).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// `num-blocks` (QEMU's `nb_blocs`).
    pub nb_blocs: u32,
    /// `sector-length`.
    pub sector_len: u64,
    /// `width` (QEMU's `bank_width`).
    pub bank_width: u8,
    /// `device-width`; 0 = legacy addressing and answers.
    pub device_width: u8,
    /// `max-device-width`, already defaulted to `device-width` when 0.
    pub max_device_width: u8,
    /// `big-endian`.
    pub big_endian: bool,
    /// `secure`.
    pub secure: bool,
    /// `id0`..`id3`.
    pub ident: [u16; 4],
    /// `name`.
    pub name: String,
    /// `old-multiple-chip-handling`.
    pub old_multiple_chip_handling: bool,
}

fn realize_error(message: String) -> DeviceError {
    DeviceError::Realize {
        ty: TYPE_NAME,
        message,
    }
}

impl Config {
    /// Parses the properties and runs realize's checks on them, in QEMU's
    /// order and with QEMU's messages (spec §3). The backend size check
    /// comes after this, in the caller.
    pub fn realize(props: &[(String, String)]) -> Result<Config, DeviceError> {
        let v = PropValues::parse(TYPE_NAME, PROPERTIES, props)?;
        // Values were range-checked against their declared kinds by the parser.
        let u8_prop = |name| v.int(name) as u8;
        let u16_prop = |name| v.int(name) as u16;
        let sector_len = v.int("sector-length");
        let nb_blocs = v.int("num-blocks") as u32;
        if sector_len == 0 {
            return Err(realize_error(
                "attribute \"sector-length\" not specified or zero.".into(),
            ));
        }
        if nb_blocs == 0 {
            return Err(realize_error(
                "attribute \"num-blocks\" not specified or zero.".into(),
            ));
        }
        let Some(name) = v.str("name") else {
            return Err(realize_error("attribute \"name\" not specified.".into()));
        };
        let device_width = u8_prop("device-width");
        let mut max_device_width = u8_prop("max-device-width");
        let config = Config {
            nb_blocs,
            sector_len,
            bank_width: u8_prop("width"),
            device_width,
            max_device_width,
            big_endian: v.bool("big-endian"),
            secure: v.bool("secure"),
            ident: [
                u16_prop("id0"),
                u16_prop("id1"),
                u16_prop("id2"),
                u16_prop("id3"),
            ],
            name: name.to_string(),
            old_multiple_chip_handling: v.bool("old-multiple-chip-handling"),
        };
        // memory_region_init_rom_device: QEMU fails here only when the host
        // cannot allocate the RAM; this model refuses arrays above its limit
        // with the same message.
        if config.total_len() > MAX_ARRAY_LEN {
            return Err(realize_error(format!(
                "cannot set up guest memory '{}': Cannot allocate memory",
                config.name
            )));
        }
        // Realize step 4: "default to devices being used at their maximum width".
        if max_device_width == 0 {
            max_device_width = device_width;
        }
        Ok(Config {
            max_device_width,
            ..config
        })
    }

    /// Size of the array: `sector_len × nb_blocs` (64-bit product, as QEMU).
    pub fn total_len(&self) -> u64 {
        self.sector_len.wrapping_mul(self.nb_blocs as u64)
    }

    /// Chips in the bank: `width / device-width`, or 1 in legacy mode (§11).
    /// `None` when the division gives 0 (or divides by zero): QEMU 7.2.22
    /// then divides by zero while building the CFI table and dies.
    pub fn num_devices(&self) -> Option<u32> {
        if self.device_width == 0 {
            return Some(1);
        }
        match self.bank_width / self.device_width {
            0 => None,
            n => Some(n as u32),
        }
    }

    /// The CFI-table step of realize: refuses the configurations on which
    /// QEMU 7.2.22 crashes (device wider than the bank).
    pub fn check_geometry(&self) -> Result<u32, DeviceError> {
        self.num_devices().ok_or_else(|| {
            realize_error(format!(
                "attribute \"device-width\" ({}) larger than \"width\" ({}): \
                 QEMU 7.2.22 divides by zero building the CFI table",
                self.device_width, self.bank_width
            ))
        })
    }
}
