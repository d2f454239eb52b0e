//! NOR flash device models for norcompat: the v5 legacy devices (QEMU 7.2.22's
//! `cfi.pflash01` and `cfi.pflash02`), the v6 NOR flash type hierarchy, and
//! the migration stream that carries them between machines.
//!
//! The modules form layers; each uses only the layers below it:
//! 1. [`clock`], [`storage`], [`props`], [`backend`], [`command_set`]: the
//!    virtual clock, copy-on-write storage, device properties, block
//!    backends and the fixed numbers of the CFI command sets;
//! 2. [`vmstate`]: state descriptions, section values and the wire format;
//! 3. [`device`]: the [`FlashDevice`] interface and guest bus accesses;
//! 4. [`v5`], [`v6`]: the releases' devices (v6 projects its state onto v5's);
//! 5. [`catalogue`]: what names every release — [`create`], the known types,
//!    [`DeviceState`], releases, machine types and compat properties;
//! 6. [`migration`]: machine-level streams, QEMU's own streams and the checker.
//!
//! `devices/tests/layers.rs` fails on an import cycle between them.

pub mod backend;
pub mod catalogue;
pub mod clock;
pub mod command_set;
pub mod device;
pub mod migration;
pub mod props;
pub mod storage;
pub mod v5;
pub mod v6;
pub mod vmstate;

pub use backend::BlockBackend;
pub use catalogue::{
    create, image_size, project_like, state_schema, to_v5, type_is_a, window_size, DeviceState,
    KNOWN_TYPES,
};
pub use device::{bus_read, bus_write, DeviceError, FlashDevice};
pub use props::DeviceSpec;
pub use storage::Storage;
