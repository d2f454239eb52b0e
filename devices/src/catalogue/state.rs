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
