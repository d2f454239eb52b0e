//! A device's mode, shown before each op in reports: typed from the
//! canonical state in v5's encoding (v6 states are projected), with the
//! command bytes and cycle numbers of the device crate.

use devices::command_set::{amd, intel};
use devices::v5::cfi01::commands::CMD_READ_ARRAY_QEMU;
use devices::v5::cfi02::protocol::{cmd as amd_cmd, wcycle as amd_cycle};
use devices::DeviceState;
use std::fmt;

/// Where an Intel (cfi01) device is in its command cycles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntelCycle {
    ReadArray,
    ProgramData,
    EraseConfirm,
    LockConfirm,
    CfiQuery,
    ReadId,
    BufferCount,
    /// Data words of a buffered write; `more` still to come.
    BufferData {
        more: u64,
    },
    BufferConfirm,
    ReadStatus {
        cmd: u8,
    },
    Other {
        cmd: u8,
        wcycle: u8,
    },
}

/// Where an AMD (cfi02) device is in its command cycles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AmdCycle {
    ReadArray,
    Unlock1,
    UnlockBypass,
    Unlocked,
    EraseUnlockNext,
    EraseUnlock2Next,
    EraseCommandNext,
    ProgramData,
    Autoselect,
    CfiQuery,
    AutoselectCfi,
    SectorEraseWindow,
    SectorEraseRunning,
    ChipEraseRunning,
    Other { cmd: u8, wcycle: u8 },
}

/// A device's mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Intel {
        cycle: IntelCycle,
        romd: bool,
        status: u8,
    },
    Amd {
        cycle: AmdCycle,
        erase_suspended: bool,
        /// Nanoseconds until the pending timer fires.
        timer_in: Option<u64>,
        romd: bool,
        status: u8,
    },
}

impl Mode {
    /// The mode a canonical state is in.
    pub fn of(state: &DeviceState) -> Mode {
        match devices::to_v5(state) {
            DeviceState::Cfi01V5(s) => Mode::Intel {
                cycle: intel_cycle(s.cmd, s.wcycle, s.counter),
                romd: s.romd,
                status: s.status,
            },
            DeviceState::Cfi02V5(s) => Mode::Amd {
                cycle: amd_cycle(s.cmd, s.wcycle, s.bypass, s.status),
                erase_suspended: s.erase_time_remaining > 0,
                timer_in: s.timer_remaining,
                romd: s.rom_mode,
                status: s.status,
            },
            other => unreachable!("to_v5 gives a v5 state, not {other:?}"),
        }
    }
}

fn intel_cycle(cmd: u8, wcycle: u8, counter: u64) -> IntelCycle {
    use IntelCycle::*;
    match (cmd, wcycle) {
        (CMD_READ_ARRAY_QEMU, 0) => ReadArray,
        (intel::PROGRAM | intel::PROGRAM_ALT, 1) => ProgramData,
        (intel::BLOCK_ERASE, 1) => EraseConfirm,
        (intel::LOCK_SETUP, 1) => LockConfirm,
        (intel::CFI_QUERY, _) => CfiQuery,
        (intel::READ_ID, _) => ReadId,
        (intel::WRITE_TO_BUFFER, 1) => BufferCount,
        (intel::WRITE_TO_BUFFER, 2) => BufferData {
            more: counter.wrapping_add(1),
        },
        (intel::WRITE_TO_BUFFER, 3) => BufferConfirm,
        (cmd, 0) => ReadStatus { cmd },
        (cmd, wcycle) => Other { cmd, wcycle },
    }
}

fn amd_cycle(cmd: u8, wcycle: u8, bypass: bool, status: u8) -> AmdCycle {
    use AmdCycle::*;
    match (cmd, wcycle) {
        (amd_cmd::READ_ARRAY, amd_cycle::IDLE) => ReadArray,
        (_, amd_cycle::UNLOCK1_SEEN) => Unlock1,
        (amd_cmd::READ_ARRAY, amd_cycle::UNLOCKED) if bypass => UnlockBypass,
        (_, amd_cycle::UNLOCKED) => Unlocked,
        (amd_cmd::ERASE, amd_cycle::COMMAND) => EraseUnlockNext,
        (amd_cmd::ERASE, amd_cycle::ERASE_UNLOCK1) => EraseUnlock2Next,
        (amd_cmd::ERASE, amd_cycle::ERASE_UNLOCKED) => EraseCommandNext,
        (amd_cmd::PROGRAM, _) => ProgramData,
        (amd_cmd::AUTOSELECT, _) => Autoselect,
        (amd_cmd::CFI_QUERY, amd_cycle::CFI) => CfiQuery,
        (amd_cmd::CFI_QUERY, amd_cycle::AUTOSELECT_CFI) => AutoselectCfi,
        (amd_cmd::SECTOR_ERASE, amd_cycle::ERASING) if status & amd::DQ3 == 0 => SectorEraseWindow,
        (amd_cmd::SECTOR_ERASE, amd_cycle::ERASING) => SectorEraseRunning,
        (amd_cmd::CHIP_ERASE, amd_cycle::ERASING) => ChipEraseRunning,
        (cmd, wcycle) => Other { cmd, wcycle },
    }
}

impl fmt::Display for IntelCycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IntelCycle::ReadArray => f.write_str("read-array"),
            IntelCycle::ProgramData => f.write_str("program: data next"),
            IntelCycle::EraseConfirm => f.write_str("erase: confirm next"),
            IntelCycle::LockConfirm => f.write_str("lock: confirm next"),
            IntelCycle::CfiQuery => f.write_str("cfi-query"),
            IntelCycle::ReadId => f.write_str("read-id"),
            IntelCycle::BufferCount => f.write_str("buffer: count next"),
            IntelCycle::BufferData { more } => write!(f, "buffer: data ({more} more)"),
            IntelCycle::BufferConfirm => f.write_str("buffer: confirm next"),
            IntelCycle::ReadStatus { cmd } => write!(f, "read-status (cmd {cmd:#04x})"),
            IntelCycle::Other { cmd, wcycle } => write!(f, "cmd {cmd:#04x} cycle {wcycle}"),
        }
    }
}

impl fmt::Display for AmdCycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            AmdCycle::ReadArray => "read-array",
            AmdCycle::Unlock1 => "unlock 1/2",
            AmdCycle::UnlockBypass => "unlock-bypass",
            AmdCycle::Unlocked => "unlocked",
            AmdCycle::EraseUnlockNext => "erase: unlock next",
            AmdCycle::EraseUnlock2Next => "erase: unlock 2 next",
            AmdCycle::EraseCommandNext => "erase: command next",
            AmdCycle::ProgramData => "program: data next",
            AmdCycle::Autoselect => "autoselect",
            AmdCycle::CfiQuery => "cfi-query",
            AmdCycle::AutoselectCfi => "autoselect-cfi",
            AmdCycle::SectorEraseWindow => "sector-erase window",
            AmdCycle::SectorEraseRunning => "sector-erase running",
            AmdCycle::ChipEraseRunning => "chip-erase running",
            AmdCycle::Other { cmd, wcycle } => return write!(f, "cmd {cmd:#04x} cycle {wcycle}"),
        };
        f.write_str(s)
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let access = |romd: bool| if romd { "romd" } else { "i/o" };
        match self {
            Mode::Intel {
                cycle,
                romd,
                status,
            } => write!(f, "{cycle} [{}, SR {status:#04x}]", access(*romd)),
            Mode::Amd {
                cycle,
                erase_suspended,
                timer_in,
                romd,
                status,
            } => {
                write!(f, "{cycle}")?;
                if *erase_suspended {
                    f.write_str(", erase suspended")?;
                }
                if let Some(t) = timer_in {
                    write!(f, ", timer in {t} ns")?;
                }
                write!(f, " [{}, DQ {status:#04x}]", access(*romd))
            }
        }
    }
}

/// A short description of the device's command mode.
pub fn describe(state: &DeviceState) -> String {
    Mode::of(state).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use devices::{bus_write, create, BlockBackend, DeviceSpec, FlashDevice};

    fn device(spec: &str) -> Box<dyn FlashDevice> {
        let spec = DeviceSpec::parse(spec).expect("a spec");
        let len = devices::image_size(&spec).expect("a size");
        create(&spec, BlockBackend::memory(len, 0xFF, true)).expect("a device")
    }

    #[test]
    fn intel_modes_follow_the_command_cycles() {
        for ty in ["cfi.pflash01", "parallel-nor-cfi01-flash"] {
            let mut d = device(&format!(
                "{ty},name=f,num-blocks=4,sector-length=0x1000,width=2"
            ));
            assert_eq!(describe(&d.state()), "read-array [romd, SR 0x80]", "{ty}");
            bus_write(d.as_mut(), 0, 2, intel::WRITE_TO_BUFFER as u64);
            assert_eq!(
                describe(&d.state()),
                "buffer: count next [i/o, SR 0x80]",
                "{ty}"
            );
            bus_write(d.as_mut(), 0, 2, 1);
            assert_eq!(
                describe(&d.state()),
                "buffer: data (2 more) [i/o, SR 0x80]",
                "{ty}"
            );
            bus_write(d.as_mut(), 0, 2, intel::READ_STATUS as u64);
            assert!(
                describe(&d.state()).starts_with("buffer: data (1 more)"),
                "{ty}"
            );
        }
    }

    #[test]
    fn amd_modes_follow_the_unlock_cycles() {
        for ty in ["cfi.pflash02", "parallel-nor-cfi02-flash"] {
            let mut d = device(&format!(
                "{ty},name=f,num-blocks=4,sector-length=0x1000,width=1,unlock-addr0=0x555,unlock-addr1=0x2aa"
            ));
            assert!(describe(&d.state()).starts_with("read-array ["), "{ty}");
            bus_write(d.as_mut(), 0x555, 1, amd::UNLOCK1 as u64);
            assert!(describe(&d.state()).starts_with("unlock 1/2 [i/o"), "{ty}");
            bus_write(d.as_mut(), 0x2aa, 1, amd::UNLOCK2 as u64);
            assert!(describe(&d.state()).starts_with("unlocked"), "{ty}");
            bus_write(d.as_mut(), 0x555, 1, amd::AUTOSELECT as u64);
            assert!(describe(&d.state()).starts_with("autoselect"), "{ty}");
        }
    }
}
