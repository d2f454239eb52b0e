//! NOR flash device models for norcompat: the v5 legacy devices (QEMU 7.2.22's
//! `cfi.pflash01` and `cfi.pflash02`), the v6 NOR flash type hierarchy,
//! copy-on-write storage, block backends and the virtual clock.

pub mod backend;
pub mod clock;
pub mod device;
pub mod migration;
pub mod props;
pub mod storage;
pub mod v5;
pub mod v6;
pub mod vmstate;

pub use backend::BlockBackend;
pub use device::{bus_read, bus_write, DeviceError, DeviceState, FlashDevice};
pub use props::DeviceSpec;
pub use storage::Storage;

/// QOM-style parent of each type of the v6 hierarchy (the interface
/// `common-flash-memory-interface` is not a parent). The v5 types have none.
const TYPE_PARENTS: &[(&str, &str)] = &[
    (v6::cfi01::TYPE_NAME, v6::parallel::TYPE_NAME),
    (v6::cfi02::TYPE_NAME, v6::parallel::TYPE_NAME),
    (v6::parallel::TYPE_NAME, v6::nor_flash::TYPE_NAME),
];

/// True if type `ty` is `ancestor` or one of its subclasses (QOM's
/// `object_dynamic_cast`): compat properties name a type and apply to its
/// subclasses, as QEMU's `GlobalProperty` does.
pub fn type_is_a(ty: &str, ancestor: &str) -> bool {
    let mut t = ty;
    loop {
        if t == ancestor {
            return true;
        }
        match TYPE_PARENTS.iter().find(|(child, _)| *child == t) {
            Some((_, parent)) => t = parent,
            None => return false,
        }
    }
}

/// Every device type name `create` accepts.
pub const KNOWN_TYPES: &[&str] = &[
    v5::cfi01::TYPE_NAME,
    v5::cfi02::TYPE_NAME,
    v6::cfi01::TYPE_NAME,
    v6::cfi02::TYPE_NAME,
];

/// Creates and realizes a device from its type name and properties.
pub fn create(
    spec: &DeviceSpec,
    backend: BlockBackend,
) -> Result<Box<dyn FlashDevice>, DeviceError> {
    match spec.type_name.as_str() {
        v5::cfi01::TYPE_NAME => Ok(Box::new(v5::cfi01::PflashCfi01::new(&spec.props, backend)?)),
        v5::cfi02::TYPE_NAME => Ok(Box::new(v5::cfi02::PflashCfi02::new(&spec.props, backend)?)),
        v6::cfi01::TYPE_NAME => Ok(Box::new(v6::cfi01::ParallelNorCfi01Flash::new(
            &spec.props,
            backend,
        )?)),
        v6::cfi02::TYPE_NAME => Ok(Box::new(v6::cfi02::ParallelNorCfi02Flash::new(
            &spec.props,
            backend,
        )?)),
        other => Err(DeviceError::UnknownType(other.to_string())),
    }
}

/// The JSON Schema of a device type's canonical state (the shape
/// `FlashDevice::state` serializes to), or `None` for an unknown type.
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

/// The window size a device of this spec would have, without realizing it
/// (used to size a default backing image). `None` if the spec is invalid.
pub fn window_size(spec: &DeviceSpec) -> Result<u64, DeviceError> {
    Ok(create(spec, BlockBackend::none())?.window_size())
}

/// The array size (image size) a device of this spec requires.
pub fn image_size(spec: &DeviceSpec) -> Result<u64, DeviceError> {
    Ok(create(spec, BlockBackend::none())?.array().len())
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
