//! What the generator needs to know about a target device, derived from its
//! properties only (no device internals): command set, bus widths, window,
//! sectors and command addresses.

use crate::definitions::versions::DeviceConfig;
use devices::command_set::amd;
use devices::props::parse_int;

/// The address bits a cfi02 command write is decoded with.
const ADDR_MASK: u64 = amd::COMMAND_ADDR_MASK as u64;

/// The command set a device type speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommandSet {
    /// Intel/Sharp (cfi01).
    Intel,
    /// AMD/Fujitsu (cfi02).
    Amd,
}

/// The command set of a device type.
pub fn command_set(type_name: &str) -> Option<CommandSet> {
    use devices::{v5, v6};
    match type_name {
        v5::cfi01::TYPE_NAME | v6::cfi01::TYPE_NAME => Some(CommandSet::Intel),
        v5::cfi02::TYPE_NAME | v6::cfi02::TYPE_NAME => Some(CommandSet::Amd),
        _ => None,
    }
}

/// The generator's view of one device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    pub set: CommandSet,
    /// Bank width in bytes (at least 1).
    pub width: u32,
    /// Chip width (0 = legacy cfi01 mode).
    pub device_width: u32,
    /// Guest window in bytes.
    pub window: u64,
    /// One chip (cfi02) or the bank (cfi01).
    pub chip: u64,
    /// Start offsets of every sector within the chip, with their lengths.
    pub sectors: Vec<(u64, u64)>,
    /// Byte addresses of the AMD unlock cycles and the CFI entry (cfi02).
    pub unlock0: u64,
    pub unlock1: u64,
    pub cfi_entry: u64,
    /// Address shift of ID/CFI indices.
    pub index_shift: u32,
    /// Likely write-buffer window (cfi01) in bytes.
    pub buffer: u64,
}

fn prop(d: &DeviceConfig, name: &str) -> u64 {
    d.spec
        .props
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .and_then(|(_, v)| parse_int(v))
        .unwrap_or(0)
}

impl Layout {
    /// The layout of a configured device; `None` for a type with no
    /// command set the generator knows.
    pub fn of(d: &DeviceConfig) -> Option<Layout> {
        let set = command_set(&d.type_name)?;
        let width = prop(d, "width").max(1) as u32;
        let device_width = prop(d, "device-width") as u32;
        let shift = match width {
            2 => 1,
            4 => 2,
            _ => 0,
        };
        let chip = d.image_size;
        let mut sectors = Vec::new();
        match set {
            CommandSet::Intel => {
                let len = prop(d, "sector-length").max(1);
                let mut off = 0;
                while off < chip {
                    sectors.push((off, len));
                    off += len;
                }
            }
            CommandSet::Amd => {
                let mut off = 0;
                for i in 0..4 {
                    let (n, len) = (
                        prop(d, &format!("num-blocks{i}")),
                        prop(d, &format!("sector-length{i}")),
                    );
                    if n == 0 {
                        break;
                    }
                    for _ in 0..n {
                        sectors.push((off, len));
                        off += len;
                    }
                }
                if sectors.is_empty() {
                    let len = prop(d, "sector-length").max(1);
                    while off < chip {
                        sectors.push((off, len));
                        off += len;
                    }
                }
            }
        }
        let num_devices = width.checked_div(device_width).unwrap_or(1).max(1) as u64;
        let buffer = if width == 1 { 256 } else { 2048 * num_devices };
        Some(Layout {
            set,
            width,
            device_width,
            window: d.window,
            chip,
            sectors,
            unlock0: (prop(d, "unlock-addr0") & ADDR_MASK) << shift,
            unlock1: (prop(d, "unlock-addr1") & ADDR_MASK) << shift,
            cfi_entry: u64::from(amd::CFI_QUERY_ADDR) << shift,
            index_shift: shift,
            buffer,
        })
    }
}
