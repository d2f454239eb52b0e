//! Human names for a device's mode, shown before each op in reports.

use devices::DeviceState;

/// A short description of the device's command mode.
pub fn describe(state: &DeviceState) -> String {
    match devices::to_v5(state) {
        DeviceState::Cfi01V5(s) => {
            let romd = if s.romd { "romd" } else { "i/o" };
            let mode = match (s.cmd, s.wcycle) {
                (0x00, 0) => "read-array".to_string(),
                (0x10 | 0x40, 1) => "program: data next".into(),
                (0x20, 1) => "erase: confirm next".into(),
                (0x60, 1) => "lock: confirm next".into(),
                (0x98, _) => "cfi-query".into(),
                (0x90, _) => "read-id".into(),
                (0xE8, 1) => "buffer: count next".into(),
                (0xE8, 2) => format!("buffer: data ({} more)", s.counter.wrapping_add(1)),
                (0xE8, 3) => "buffer: confirm next".into(),
                (c, 0) => format!("read-status (cmd {c:#04x})"),
                (c, w) => format!("cmd {c:#04x} cycle {w}"),
            };
            format!("{mode} [{romd}, SR {:#04x}]", s.status)
        }
        DeviceState::Cfi02V5(s) => {
            let mut mode = match (s.cmd, s.wcycle) {
                (0x00, 0) => "read-array".to_string(),
                (_, 1) => "unlock 1/2".into(),
                (0x00, 2) if s.bypass => "unlock-bypass".into(),
                (_, 2) => "unlocked".into(),
                (0x80, 3) => "erase: unlock next".into(),
                (0x80, 4) => "erase: unlock 2 next".into(),
                (0x80, 5) => "erase: command next".into(),
                (0xA0, _) => "program: data next".into(),
                (0x90, _) => "autoselect".into(),
                (0x98, 7) => "cfi-query".into(),
                (0x98, 8) => "autoselect-cfi".into(),
                (0x30, 6) if s.status & 0x08 == 0 => "sector-erase window".into(),
                (0x30, 6) => "sector-erase running".into(),
                (0x10, 6) => "chip-erase running".into(),
                (c, w) => format!("cmd {c:#04x} cycle {w}"),
            };
            if s.erase_time_remaining > 0 {
                mode.push_str(", erase suspended");
            }
            if let Some(t) = s.timer_remaining {
                mode.push_str(&format!(", timer in {t} ns"));
            }
            let romd = if s.rom_mode { "romd" } else { "i/o" };
            format!("{mode} [{romd}, DQ {:#04x}]", s.status)
        }
        #[allow(unreachable_patterns)]
        other => format!("{other:?}"),
    }
}
