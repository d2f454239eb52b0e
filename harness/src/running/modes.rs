//! Human names for a device's mode, shown before each op in reports.
//! Works on the v5 encoding of the canonical state (v6 states are projected).

use devices::DeviceState;
use serde_json::Value;

fn num(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

fn flag(v: &Value, key: &str) -> bool {
    v.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// A short description of the device's command mode.
pub fn describe(state: &DeviceState) -> String {
    let v = serde_json::to_value(devices::to_v5(state)).unwrap_or(Value::Null);
    let (cmd, wcycle, status) = (num(&v, "cmd"), num(&v, "wcycle"), num(&v, "status"));
    match v.get("type").and_then(Value::as_str) {
        Some("cfi.pflash01") => {
            let romd = if flag(&v, "romd") { "romd" } else { "i/o" };
            let mode = match (cmd, wcycle) {
                (0x00, 0) => "read-array".to_string(),
                (0x10 | 0x40, 1) => "program: data next".into(),
                (0x20, 1) => "erase: confirm next".into(),
                (0x60, 1) => "lock: confirm next".into(),
                (0x98, _) => "cfi-query".into(),
                (0x90, _) => "read-id".into(),
                (0xE8, 1) => "buffer: count next".into(),
                (0xE8, 2) => format!("buffer: data ({} more)", num(&v, "counter").wrapping_add(1)),
                (0xE8, 3) => "buffer: confirm next".into(),
                (c, 0) => format!("read-status (cmd {c:#04x})"),
                (c, w) => format!("cmd {c:#04x} cycle {w}"),
            };
            format!("{mode} [{romd}, SR {status:#04x}]")
        }
        Some("cfi.pflash02") => {
            let bypass = flag(&v, "bypass");
            let mut mode = match (cmd, wcycle) {
                (0x00, 0) => "read-array".to_string(),
                (_, 1) => "unlock 1/2".into(),
                (0x00, 2) if bypass => "unlock-bypass".into(),
                (_, 2) => "unlocked".into(),
                (0x80, 3) => "erase: unlock next".into(),
                (0x80, 4) => "erase: unlock 2 next".into(),
                (0x80, 5) => "erase: command next".into(),
                (0xA0, _) => "program: data next".into(),
                (0x90, _) => "autoselect".into(),
                (0x98, 7) => "cfi-query".into(),
                (0x98, 8) => "autoselect-cfi".into(),
                (0x30, 6) if status & 0x08 == 0 => "sector-erase window".into(),
                (0x30, 6) => "sector-erase running".into(),
                (0x10, 6) => "chip-erase running".into(),
                (c, w) => format!("cmd {c:#04x} cycle {w}"),
            };
            if num(&v, "erase_time_remaining") > 0 {
                mode.push_str(", erase suspended");
            }
            if let Some(t) = v.get("timer_remaining").and_then(Value::as_u64) {
                mode.push_str(&format!(", timer in {t} ns"));
            }
            let romd = if flag(&v, "rom_mode") { "romd" } else { "i/o" };
            format!("{mode} [{romd}, DQ {status:#04x}]")
        }
        _ => format!("{v}"),
    }
}
