//! Comparing two machines: flash arrays and images byte by byte (a few
//! lines per device), and canonical states field by field in a common
//! encoding.

use crate::definitions::versions::Version;
use devices::{DeviceState, Storage};
use reports::results::{FlashDiff, StateDiff};
use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// Bytes per line of a flash diff.
const FLASH_DIFF_CHUNK: u64 = 16;
/// At most this many flash diff lines per device.
const FLASH_DIFF_LIMIT: usize = 8;

/// Differences between two machines' flash arrays and images (lists by
/// device id, in the same order), at most [`FLASH_DIFF_LIMIT`] lines each.
pub fn flash_diffs_of(
    version: &Version,
    ref_arrays: &[(String, Storage)],
    ref_images: &[(String, Option<Storage>)],
    got_arrays: &[(String, Storage)],
    got_images: &[(String, Option<Storage>)],
) -> Vec<FlashDiff> {
    let mut out = Vec::new();
    let pairs = ref_arrays
        .iter()
        .cloned()
        .zip(got_arrays.iter().cloned())
        .map(|((id, a), (_, b))| (id, "array", Some(a), Some(b)))
        .chain(
            ref_images
                .iter()
                .cloned()
                .zip(got_images.iter().cloned())
                .map(|((id, a), (_, b))| (id, "image", a, b)),
        );
    for (id, what, a, b) in pairs {
        let (Some(a), Some(b)) = (a, b) else {
            continue;
        };
        if a == b {
            continue;
        }
        let sector = version
            .device(&id)
            .and_then(|d| {
                devices::props::parse_int(d.properties.get("sector-length").map_or("0", |s| s))
            })
            .filter(|s| *s > 0)
            .unwrap_or(devices::storage::PAGE_SIZE as u64);
        let mut lines = 0;
        'pages: for page in b.dirty_pages(&a) {
            let pa = a.page_bytes(page);
            let pb = b.page_bytes(page);
            let base = (page * devices::storage::PAGE_SIZE) as u64;
            let mut off = 0u64;
            while off < pa.len() as u64 {
                let end = (off + FLASH_DIFF_CHUNK).min(pa.len() as u64) as usize;
                let (x, y) = (&pa[off as usize..end], &pb[off as usize..end]);
                if x != y {
                    let hex = |s: &[u8]| {
                        s.iter()
                            .map(|b| format!("{b:02x}"))
                            .collect::<Vec<_>>()
                            .join(" ")
                    };
                    out.push(FlashDiff {
                        device: id.clone(),
                        what: what.to_string(),
                        sector: (base + off) / sector,
                        offset: base + off,
                        expected: hex(x),
                        got: hex(y),
                    });
                    lines += 1;
                    if lines >= FLASH_DIFF_LIMIT {
                        break 'pages;
                    }
                }
                off += FLASH_DIFF_CHUNK;
            }
        }
    }
    out
}

/// A canonical state as a JSON object, field by field.
type Fields = Map<String, Value>;

/// Two canonical states in a common encoding (a v6 state compared with a v5
/// one is projected to v5's fields), both as JSON objects.
pub fn comparable(reference: &DeviceState, got: &DeviceState) -> Result<(Fields, Fields), String> {
    // Across releases both sides are compared in the v5 encoding, the only
    // one both can express.
    let r = devices::project_like(reference, got);
    let g = devices::project_like(got, &r);
    let object = |s: &DeviceState| match serde_json::to_value(s) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(other) => Err(format!("state is not an object: {other}")),
        Err(e) => Err(format!("state does not serialize: {e}")),
    };
    Ok((object(&r)?, object(&g)?))
}

/// Field-by-field differences between two machines' canonical states (lists
/// by device id, in the same order). A state that cannot be compared is a
/// difference too, never a silent match.
pub fn state_diffs(
    reference: &[(String, DeviceState)],
    got: &[(String, DeviceState)],
) -> Vec<StateDiff> {
    let mut out = Vec::new();
    for ((id, rs), (_, gs)) in reference.iter().zip(got) {
        let (r, g) = match comparable(rs, gs) {
            Ok(pair) => pair,
            Err(why) => {
                out.push(StateDiff {
                    device: id.clone(),
                    field: "(state)".into(),
                    other_field: "(state)".into(),
                    expected: "a comparable state".into(),
                    got: why,
                });
                continue;
            }
        };
        let fields: BTreeSet<&String> = r.keys().chain(g.keys()).collect();
        for k in fields {
            if k == "type" {
                continue;
            }
            let (rv, gv) = (
                r.get(k).cloned().unwrap_or(Value::Null),
                g.get(k).cloned().unwrap_or(Value::Null),
            );
            if gv != rv {
                out.push(StateDiff {
                    device: id.clone(),
                    field: k.clone(),
                    other_field: k.clone(),
                    expected: short(&rv),
                    got: short(&gv),
                });
            }
        }
    }
    out
}

fn short(v: &Value) -> String {
    let s = match v {
        Value::Number(n) => n.as_u64().map_or(n.to_string(), |x| format!("{x:#x}")),
        other => other.to_string(),
    };
    if s.chars().count() > 80 {
        format!(
            "{}… ({} chars)",
            s.chars().take(80).collect::<String>(),
            s.len()
        )
    } else {
        s
    }
}
