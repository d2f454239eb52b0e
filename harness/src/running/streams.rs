//! QEMU's streams as the harness reads them: the flash devices' sections
//! of a saved stream, the flash-only stream a model (or a QEMU whose other
//! devices refused) loads, and which device a QEMU refusal names.

use crate::definitions::versions::{Version, MODEL_PAGE_BITS};
use crate::running::board::Board;
use devices::migration::foreign;
use std::sync::Arc;

/// QEMU's stream with only the flash sections and RAM blocks of `v`'s
/// devices, re-paged to `page_bits` (`Some(12)` for a model destination;
/// `None` keeps QEMU's pages, for a QEMU of the same target).
fn flash_only_paged(v: &Version, stream: &[u8], page_bits: Option<u32>) -> Result<Vec<u8>, String> {
    let board = Board::plain(&Arc::new(v.clone()), &[], None)?;
    let blocks: Vec<String> = board
        .devices()
        .iter()
        .map(|d| d.ram_block_name().to_string())
        .collect();
    let sections = section_ids(&board);
    foreign::flash_only_with(
        stream,
        &|idstr| sections.iter().any(|s| s == idstr),
        &|name| blocks.iter().any(|b| b == name),
        &foreign::FlashOnlyOptions {
            target_page_bits: page_bits,
        },
    )
    .map(|f| f.stream)
    .map_err(|e| format!("cannot take the flash sections out of the stream: {e}"))
}

/// One flash device's section in a saved stream: what the device put on
/// the wire.
#[derive(Clone, Debug, PartialEq)]
pub struct WireSection {
    pub idstr: String,
    pub instance: u32,
    pub version: u32,
    pub data: Vec<u8>,
    /// The fields, flattened to `name` / `subsection.name` paths.
    pub fields: Vec<(String, serde_json::Value)>,
}

/// The id strings of the sections a board's flash devices send.
fn section_ids(board: &Board) -> Vec<String> {
    board
        .devices()
        .iter()
        .flat_map(|d| {
            d.vmstate_entries()
                .into_iter()
                .map(|e| e.idstr().to_string())
        })
        .collect()
}

/// The flash devices' sections of `v` in `stream`, in stream order.
pub fn flash_sections(v: &Version, stream: &[u8]) -> Result<Vec<WireSection>, String> {
    let ids = section_ids(&Board::plain(&Arc::new(v.clone()), &[], None)?);
    let info = foreign::analyze(stream).map_err(|e| format!("reading {}'s stream: {e}", v.name))?;
    Ok(info
        .sections
        .iter()
        .filter(|s| ids.contains(&s.idstr))
        .map(|s| {
            let mut fields = Vec::new();
            if let Some(d) = &s.decoded {
                flatten("", &d.to_json()["fields"], &mut fields);
            }
            WireSection {
                idstr: s.idstr.clone(),
                instance: s.instance,
                version: s.version,
                data: stream[s.data_offset..s.data_offset + s.data_len].to_vec(),
                fields,
            }
        })
        .collect())
}

/// Leaves of a decoded section as (`a.b`, value).
fn flatten(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, serde_json::Value)>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&p, x, out);
            }
        }
        _ => out.push((prefix.to_string(), v.clone())),
    }
}

/// What a model of `v` keeps of QEMU's whole-VM stream.
pub fn flash_only_for(v: &Version, stream: &[u8]) -> Result<Vec<u8>, String> {
    flash_only_paged(v, stream, Some(MODEL_PAGE_BITS))
}

/// True if QEMU's refusal names a section or command that is not the
/// flash's: `… of device 'cpu'`, `section id 0(timer)`, `MIG_CMD 0xb
/// unknown`, `musicpal_key: incoming version_id …`.
pub fn names_other_device(reason: &str) -> bool {
    const FLASH: &[&str] = &["pflash_cfi01", "ram", "configuration"];
    if reason.contains("MIG_CMD") {
        return true;
    }
    let named = |after: &str, until: char| -> Vec<String> {
        reason
            .match_indices(after)
            .filter_map(|(i, _)| {
                let rest = &reason[i + after.len()..];
                rest.find(until).map(|end| rest[..end].to_string())
            })
            .collect()
    };
    let mut devices = named("of device '", '\'');
    devices.extend(named("(", ')'));
    devices.extend(
        reason
            .split("; ")
            .filter_map(|part| part.split_once(": incoming version_id"))
            .map(|(d, _)| d.trim().to_string()),
    );
    devices.iter().any(|d| !FLASH.contains(&d.as_str()))
}

/// The flash-only stream for a QEMU of the same target (its own pages).
pub fn flash_only_stream(v: &Version, stream: &[u8]) -> Result<Vec<u8>, String> {
    flash_only_paged(v, stream, None)
}

#[cfg(test)]
mod tests {
    use super::names_other_device;

    #[test]
    fn refusals_naming_another_device_are_told_from_the_flashs_own() {
        // QEMU 10.0 -> 7.2 and 7.2 -> 10.0 on virt-7.2, 10.0 -> 7.2 on musicpal.
        assert!(names_other_device(
            "Invalid value 209 expecting positive value <= 197; Failed to load cpu:cpreg_vmstate_array_len; \
             error while loading state for instance 0x0 of device 'cpu'; load of migration failed: Invalid argument"
        ));
        assert!(names_other_device(
            "MIG_CMD 0xb unknown (len 0x0); load of migration failed: Invalid argument"
        ));
        assert!(names_other_device(
            "musicpal_key: incoming version_id 1 is too old for local minimum version_id  2; \
             error while loading state for instance 0x0 of device 'musicpal_key'"
        ));
        assert!(names_other_device(
            "timer: incoming version_id 0 is too old for local minimum version_id 1; \
             error while loading state section id 0(timer)"
        ));
        // The flash's own refusals, and the RAM's, are not.
        assert!(!names_other_device(
            "pflash_cfi01: incoming version_id 2 is too old; error while loading state for instance 0x0 of device 'pflash_cfi01'"
        ));
        assert!(!names_other_device(
            "Found a zero page with value 255; error while loading state section id 2(ram); load of migration failed: Invalid argument"
        ));
        assert!(!names_other_device(
            "Unknown ramblock \"virt.flash1\", cannot accept migration"
        ));
    }
}
