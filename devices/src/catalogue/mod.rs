//! The catalogue of device types: what names every release at once.
//!
//! It sits above the releases ([`crate::v5`], [`crate::v6`]) and below the
//! streams ([`crate::migration`]). It creates a device from its type name
//! ([`create`]), lists the known types and their QOM-style parents, and gives
//! any device's canonical state as one comparable value ([`DeviceState`],
//! read with `dev.state()` on a `dyn FlashDevice`). [`compat`] holds the
//! releases, the machine types they offer and their compat properties.

pub mod compat;
mod state;

pub use state::{project_like, state_schema, to_v5, DeviceState, StateMismatch};

use crate::backend::BlockBackend;
use crate::device::{DeviceError, FlashDevice};
use crate::props::DeviceSpec;
use crate::{v5, v6};

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
        other => Err(DeviceError::UnknownType {
            name: other.to_string(),
            known: KNOWN_TYPES,
        }),
    }
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
