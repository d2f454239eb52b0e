//! The canonical state of any device as one value: each release's state in
//! its own encoding, tagged with the device type.

use crate::device::FlashDevice;
use crate::{v5, v6};
use serde::{Deserialize, Serialize};

/// Canonical state of one device: everything guest-relevant except the array,
/// as a plain comparable value. Each release keeps its own encoding (v5 holds
/// QEMU 7.2.22's raw values, e.g. Read Array as `cmd == 0x00`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum DeviceState {
    /// v5 `cfi.pflash01`.
    #[serde(rename = "cfi.pflash01")]
    Cfi01V5(v5::cfi01::State),
    /// v5 `cfi.pflash02`.
    #[serde(rename = "cfi.pflash02")]
    Cfi02V5(v5::cfi02::State),
    /// v6 `parallel-nor-cfi01-flash` (Read Array is `cmd == 0xFF`).
    #[serde(rename = "parallel-nor-cfi01-flash")]
    Cfi01V6(v6::cfi01::State),
    /// v6 `parallel-nor-cfi02-flash`.
    #[serde(rename = "parallel-nor-cfi02-flash")]
    Cfi02V6(v6::cfi02::State),
}

impl DeviceState {
    /// The canonical state of `dev`, or `None` when `dev` is not one of the
    /// catalogue's device types (a test double, for instance).
    pub fn of(dev: &dyn FlashDevice) -> Option<DeviceState> {
        let any = dev.as_any();
        let state = if let Some(d) = any.downcast_ref::<v5::cfi01::PflashCfi01>() {
            DeviceState::Cfi01V5(d.state())
        } else if let Some(d) = any.downcast_ref::<v5::cfi02::PflashCfi02>() {
            DeviceState::Cfi02V5(d.state())
        } else if let Some(d) = any.downcast_ref::<v6::cfi01::ParallelNorCfi01Flash>() {
            DeviceState::Cfi01V6(d.state())
        } else if let Some(d) = any.downcast_ref::<v6::cfi02::ParallelNorCfi02Flash>() {
            DeviceState::Cfi02V6(d.state())
        } else {
            return None;
        };
        Some(state)
    }
}

impl dyn FlashDevice + '_ {
    /// Canonical state (everything guest-relevant except the array).
    ///
    /// Panics for a device type the catalogue does not list: only its types
    /// have a [`DeviceState`] (see [`DeviceState::of`]).
    pub fn state(&self) -> DeviceState {
        DeviceState::of(self).unwrap_or_else(|| {
            panic!(
                "'{}' is not a device type of the catalogue: it has no DeviceState",
                self.type_name()
            )
        })
    }
}

/// A canonical state given to a device of another type.
#[derive(Debug, thiserror::Error)]
#[error("a {state} state cannot be set on a {device} device")]
pub struct StateMismatch {
    pub state: &'static str,
    pub device: &'static str,
}

impl DeviceState {
    /// The device type the state belongs to.
    pub fn type_name(&self) -> &'static str {
        match self {
            DeviceState::Cfi01V5(_) => v5::cfi01::TYPE_NAME,
            DeviceState::Cfi02V5(_) => v5::cfi02::TYPE_NAME,
            DeviceState::Cfi01V6(_) => v6::cfi01::TYPE_NAME,
            DeviceState::Cfi02V6(_) => v6::cfi02::TYPE_NAME,
        }
    }

    /// The same state with the ROM-device read mode `romd`.
    pub fn with_romd(&self, romd: bool) -> DeviceState {
        let mut s = self.clone();
        match &mut s {
            DeviceState::Cfi01V5(s) => s.romd = romd,
            DeviceState::Cfi02V5(s) => s.rom_mode = romd,
            DeviceState::Cfi01V6(s) => s.romd = romd,
            DeviceState::Cfi02V6(s) => s.romd = romd,
        }
        s
    }

    /// The same state with the read mode its command state implies, as a
    /// destination that restores it derives it: a cfi01 serves reads from
    /// the array (ROMD on) only in Read Array with no cycle pending. cfi02
    /// states are returned as they are.
    pub fn with_read_mode_restored(&self) -> DeviceState {
        match self {
            DeviceState::Cfi01V5(s) => {
                let romd = s.wcycle == 0 && s.cmd == v5::cfi01::commands::CMD_READ_ARRAY_QEMU;
                self.with_romd(romd)
            }
            DeviceState::Cfi01V6(s) => self.with_romd(v6::cfi01::romd_of(s.cmd, s.wcycle)),
            DeviceState::Cfi02V5(_) | DeviceState::Cfi02V6(_) => self.clone(),
        }
    }

    /// Sets this state on `dev`, a device of the state's type (same
    /// configuration); nothing changes on a mismatch.
    pub fn set_on(&self, dev: &mut dyn FlashDevice) -> Result<(), StateMismatch> {
        let mismatch = StateMismatch {
            state: self.type_name(),
            device: dev.type_name(),
        };
        let any = dev.as_any_mut();
        match self {
            DeviceState::Cfi01V5(s) => any
                .downcast_mut::<v5::cfi01::PflashCfi01>()
                .map(|d| d.set_state(s)),
            DeviceState::Cfi02V5(s) => any
                .downcast_mut::<v5::cfi02::PflashCfi02>()
                .map(|d| d.set_state(s)),
            DeviceState::Cfi01V6(s) => any
                .downcast_mut::<v6::cfi01::ParallelNorCfi01Flash>()
                .map(|d| d.set_state(s)),
            DeviceState::Cfi02V6(s) => any
                .downcast_mut::<v6::cfi02::ParallelNorCfi02Flash>()
                .map(|d| d.set_state(s)),
        }
        .ok_or(mismatch)
    }
}

/// The JSON Schema of a device type's canonical state (the shape
/// [`DeviceState`] serializes to), or `None` for an unknown type.
pub fn state_schema(type_name: &str) -> Option<serde_json::Value> {
    let schema = match type_name {
        v5::cfi01::TYPE_NAME => schemars::schema_for!(v5::cfi01::State),
        v5::cfi02::TYPE_NAME => schemars::schema_for!(v5::cfi02::State),
        v6::cfi01::TYPE_NAME => schemars::schema_for!(v6::cfi01::State),
        v6::cfi02::TYPE_NAME => schemars::schema_for!(v6::cfi02::State),
        _ => return None,
    };
    Some(schema.to_value())
}

/// True for states of release v5.
fn is_v5(state: &DeviceState) -> bool {
    matches!(state, DeviceState::Cfi01V5(_) | DeviceState::Cfi02V5(_))
}

/// `state` in the encoding of `like`'s release, for comparing states across
/// releases field by field: a v6 state compared with a v5 one is projected
/// onto v5's fields and encodings; states of the same release are returned as
/// they are. (A v5 state cannot be lifted to v6: it lacks what v5 never kept.)
pub fn project_like(state: &DeviceState, like: &DeviceState) -> DeviceState {
    if is_v5(like) {
        to_v5(state)
    } else {
        state.clone()
    }
}

/// The state in v5's encoding (v6 states are projected field by field).
pub fn to_v5(state: &DeviceState) -> DeviceState {
    match state {
        DeviceState::Cfi01V6(s) => DeviceState::Cfi01V5(s.to_v5()),
        DeviceState::Cfi02V6(s) => DeviceState::Cfi02V5(s.to_v5()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::{create, KNOWN_TYPES};
    use crate::{BlockBackend, DeviceSpec};

    #[test]
    fn a_state_set_on_a_device_of_its_type_is_the_state_it_then_has() {
        for ty in KNOWN_TYPES {
            let spec = format!("{ty},num-blocks=4,sector-length=0x1000,width=2,name=f");
            let mut dev = create(&DeviceSpec::parse(&spec).unwrap(), BlockBackend::none()).unwrap();
            let off = dev.state().with_romd(false);
            assert_ne!(off, dev.state(), "{ty}: a fresh device has ROMD on");
            off.set_on(dev.as_mut()).unwrap();
            assert_eq!(dev.state(), off, "{ty}");
            assert!(!dev.romd(), "{ty}");
        }
        let spec = "cfi.pflash01,num-blocks=4,sector-length=0x1000,width=2,name=f";
        let mut v5 = create(&DeviceSpec::parse(spec).unwrap(), BlockBackend::none()).unwrap();
        let before = v5.state();
        let v6 = DeviceState::Cfi01V6(devices_v6_state());
        let e = v6.set_on(v5.as_mut()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "a parallel-nor-cfi01-flash state cannot be set on a cfi.pflash01 device"
        );
        assert_eq!(v5.state(), before);
    }

    fn devices_v6_state() -> v6::cfi01::State {
        let spec = "parallel-nor-cfi01-flash,num-blocks=4,sector-length=0x1000,width=2,name=f";
        let dev = create(&DeviceSpec::parse(spec).unwrap(), BlockBackend::none()).unwrap();
        match dev.state() {
            DeviceState::Cfi01V6(s) => s,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_known_type_has_a_state_tagged_with_its_type_name() {
        for ty in KNOWN_TYPES {
            let spec = format!("{ty},num-blocks=4,sector-length=0x1000,width=2,name=f");
            let dev = create(&DeviceSpec::parse(&spec).unwrap(), BlockBackend::none()).unwrap();
            let json = serde_json::to_value(dev.state()).unwrap();
            assert_eq!(json["type"], *ty);
            assert!(state_schema(ty).is_some(), "{ty} has no state schema");
        }
    }
}
