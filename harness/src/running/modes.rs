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
            IntelCycle::BufferData { more } => write!(f, "buffer: data ({more} more)"),
            IntelCycle::ReadStatus { cmd } => write!(f, "read-status (cmd {cmd:#04x})"),
            IntelCycle::Other { cmd, wcycle } => write!(f, "cmd {cmd:#04x} cycle {wcycle}"),
            other => f.write_str(other.kind()),
        }
    }
}

impl fmt::Display for AmdCycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AmdCycle::Other { cmd, wcycle } => write!(f, "cmd {cmd:#04x} cycle {wcycle}"),
            other => f.write_str(other.kind()),
        }
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

/// The command-cycle states of the Intel command set a run should migrate in.
pub const INTEL_CYCLES: &[IntelCycle] = &[
    IntelCycle::ReadArray,
    IntelCycle::ProgramData,
    IntelCycle::EraseConfirm,
    IntelCycle::LockConfirm,
    IntelCycle::CfiQuery,
    IntelCycle::ReadId,
    IntelCycle::BufferCount,
    IntelCycle::BufferData { more: 0 },
    IntelCycle::BufferConfirm,
    IntelCycle::ReadStatus {
        cmd: intel::READ_STATUS,
    },
];

/// The command-cycle states of the AMD command set a run should migrate in.
pub const AMD_CYCLES: &[AmdCycle] = &[
    AmdCycle::ReadArray,
    AmdCycle::Unlock1,
    AmdCycle::UnlockBypass,
    AmdCycle::Unlocked,
    AmdCycle::EraseUnlockNext,
    AmdCycle::EraseUnlock2Next,
    AmdCycle::EraseCommandNext,
    AmdCycle::ProgramData,
    AmdCycle::Autoselect,
    AmdCycle::CfiQuery,
    AmdCycle::AutoselectCfi,
    AmdCycle::SectorEraseWindow,
    AmdCycle::SectorEraseRunning,
    AmdCycle::ChipEraseRunning,
];

impl IntelCycle {
    /// The state without its data (a buffer's word count, a status command).
    pub fn kind(&self) -> &'static str {
        match self {
            IntelCycle::ReadArray => "read-array",
            IntelCycle::ProgramData => "program: data next",
            IntelCycle::EraseConfirm => "erase: confirm next",
            IntelCycle::LockConfirm => "lock: confirm next",
            IntelCycle::CfiQuery => "cfi-query",
            IntelCycle::ReadId => "read-id",
            IntelCycle::BufferCount => "buffer: count next",
            IntelCycle::BufferData { .. } => "buffer: data",
            IntelCycle::BufferConfirm => "buffer: confirm next",
            IntelCycle::ReadStatus { .. } => "read-status",
            IntelCycle::Other { .. } => "other",
        }
    }
}

impl AmdCycle {
    /// The state's name.
    pub fn kind(&self) -> &'static str {
        match self {
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
            AmdCycle::Other { .. } => "other",
        }
    }
}

impl Mode {
    /// The state a coverage count keys on: the cycle without its data, and
    /// for AMD whether an erase is suspended or a timer pending.
    pub fn coverage_key(&self) -> String {
        match self {
            Mode::Intel { cycle, .. } => cycle.kind().to_string(),
            Mode::Amd {
                cycle,
                erase_suspended,
                timer_in,
                ..
            } => {
                let mut k = cycle.kind().to_string();
                if *erase_suspended {
                    k.push_str(", erase suspended");
                }
                if timer_in.is_some() {
                    k.push_str(", timer pending");
                }
                k
            }
        }
    }
}

/// The device type of a canonical state.
pub fn type_of(state: &DeviceState) -> &'static str {
    use devices::{v5, v6};
    match state {
        DeviceState::Cfi01V5(_) => v5::cfi01::TYPE_NAME,
        DeviceState::Cfi02V5(_) => v5::cfi02::TYPE_NAME,
        DeviceState::Cfi01V6(_) => v6::cfi01::TYPE_NAME,
        DeviceState::Cfi02V6(_) => v6::cfi02::TYPE_NAME,
    }
}

/// `type: state` of a device at a migration point.
pub fn coverage_entry(state: &DeviceState) -> String {
    format!("{}: {}", type_of(state), Mode::of(state).coverage_key())
}

/// The command-cycle states of a device type's command set (coverage keys).
pub fn cycles_of(type_name: &str) -> Vec<&'static str> {
    use devices::{v5, v6};
    match type_name {
        v5::cfi01::TYPE_NAME | v6::cfi01::TYPE_NAME => {
            INTEL_CYCLES.iter().map(IntelCycle::kind).collect()
        }
        v5::cfi02::TYPE_NAME | v6::cfi02::TYPE_NAME => {
            AMD_CYCLES.iter().map(AmdCycle::kind).collect()
        }
        _ => Vec::new(),
    }
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

    #[test]
    fn coverage_keys_name_the_cycle_and_what_is_pending() {
        let mut d = device(
            "cfi.pflash02,name=f,num-blocks=4,sector-length=0x1000,width=1,unlock-addr0=0x555,unlock-addr1=0x2aa",
        );
        for (addr, val) in [
            (0x555, amd::UNLOCK1),
            (0x2aa, amd::UNLOCK2),
            (0x555, amd::ERASE_SETUP),
            (0x555, amd::UNLOCK1),
            (0x2aa, amd::UNLOCK2),
            (0x1000, amd::SECTOR_ERASE),
        ] {
            bus_write(d.as_mut(), addr, 1, val as u64);
        }
        assert_eq!(
            coverage_entry(&d.state()),
            "cfi.pflash02: sector-erase window, timer pending"
        );
        assert!(cycles_of("cfi.pflash02").contains(&"sector-erase window"));
        assert_eq!(cycles_of("cfi.pflash01").len(), INTEL_CYCLES.len());
        assert!(cycles_of("nor-flash").is_empty());
    }
}
