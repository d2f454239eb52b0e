//! The version interface: all a trial runner knows of a version. A machine
//! of a version is started, applies ops (reads return values; `Reset` is an
//! op), saves the state it would send (and goes on running), and shows what
//! it holds at the end — arrays, images, and the canonical states where it
//! can. A destination is a fresh machine that loads a saved state or refuses
//! it with a typed reason (`running::launch`). In-process models
//! (`running::board::Board`) and real QEMU processes
//! (`running::qemu_machine::QemuMachine`) are its two implementations.

use crate::definitions::losses::DeviceLoss;
use crate::definitions::versions::Version;
use crate::generation::generator::TrialOp;
use crate::running::observation::End;
use devices::migration::LoadFailure;
use devices::{BlockBackend, DeviceState, Storage};
use std::path::Path;
use std::sync::Arc;

/// Why a run could not go on: the trial is `crashed`, with the reason (and
/// QEMU's stderr where QEMU failed).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A model machine could not be realized.
    #[error("{0}")]
    Realize(String),
    /// A real version's emulator is not usable here.
    #[error("{version}: QEMU not usable: {reason}")]
    NotUsable { version: String, reason: String },
    /// A version lacks a device the scenario targets.
    #[error("version {version} has no device '{device}'")]
    NoSuchDevice { version: String, device: String },
    /// QEMU died, hung or answered garbage.
    #[error(transparent)]
    Qemu(#[from] crate::qemu::QemuError),
    /// A stream could not be read or rewritten for its destination.
    #[error("{0}")]
    Stream(String),
    /// A file of the run could not be written.
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    /// The scratch directory could not be created.
    #[error("scratch directory: {0}")]
    Scratch(String),
    /// A model panicked (a bug in the device or the harness).
    #[error("panic: {0}")]
    Panic(String),
}

/// Runs `f`, turning a panic into [`RunError::Panic`] with its message: a
/// model that panics is a verdict, never the end of the run.
pub fn catching<T>(f: impl FnOnce() -> Result<T, RunError>) -> Result<T, RunError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let msg = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "panic".into());
        Err(RunError::Panic(msg))
    })
}

/// How the machines of a trial pass state to each other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// Models in one process: the destination opens the source's drives
    /// (shared storage), and the stream skips what they hold
    /// (`x-ignore-shared`, compact uniform pages), so migration costs what
    /// the guest touched rather than the flash size.
    Shared,
    /// As between QEMU processes: QEMU's stream format with every page, and
    /// the images copied (a storage copy).
    Qemu,
}

impl Link {
    /// The link a chain needs: QEMU's as soon as one version is real.
    pub fn for_chain(chain: &[Arc<Version>]) -> Link {
        if chain.iter().any(|v| v.is_real()) {
            Link::Qemu
        } else {
            Link::Shared
        }
    }
}

/// The drives a saved state travels with.
#[derive(Clone, Debug)]
pub enum Drives {
    /// The source's own drives, opened again by the destination.
    Shared(Vec<BlockBackend>),
    /// Copies of the images, by device id.
    Copied(Vec<(String, Vec<u8>)>),
}

/// A machine's state at a migration point, ready to go anywhere.
#[derive(Clone, Debug)]
pub struct Saved {
    pub from: Arc<Version>,
    /// The outgoing stream: QEMU's own for a real source, the model's for a
    /// model (with the link's capabilities).
    pub stream: Vec<u8>,
    pub drives: Drives,
    /// The machine type the stream carries.
    pub machine_type: String,
    /// The flash arrays at that point, where the source shows them without
    /// a stream (models): the check that no data is lost in migration.
    pub arrays: Option<Vec<(String, Storage)>>,
    /// The drives the source started with (models): a destination without
    /// shared storage opens its own copy of them.
    pub started_with: Option<Vec<BlockBackend>>,
}

/// Why a destination refused a saved state.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The destination's device list is not the source's.
    #[error(
        "version {from} has {from_devices} devices, {to} has {to_devices}: not the same board"
    )]
    NotTheSameBoard {
        from: String,
        from_devices: usize,
        to: String,
        to_devices: usize,
    },
    /// A model's loader refused the stream (QEMU's message for the same
    /// refusal, with what it found after).
    #[error("{0}")]
    Model(String),
    /// A real QEMU refused the stream; its own message.
    #[error("{0}")]
    Qemu(String),
    /// QEMU's stream could not be cut down to the flash sections a model
    /// loads.
    #[error("{0}")]
    Unreadable(String),
}

impl From<LoadFailure> for Refusal {
    fn from(f: LoadFailure) -> Refusal {
        Refusal::Model(f.to_string())
    }
}

/// A running machine of one version.
pub trait VersionMachine {
    /// The version it is.
    fn version(&self) -> &Arc<Version>;
    /// The machine type it runs (a destination keeps the stream's).
    fn machine_type(&self) -> &str;
    /// Applies one op (a `Migrate` marker does nothing); a read returns its value.
    fn apply(&mut self, op: &TrialOp) -> Result<Option<u64>, RunError>;
    /// The canonical state of scenario device `dev`, where the machine
    /// shows it (`None` for real QEMU).
    fn target_state(&self, dev: usize) -> Option<DeviceState>;
    /// The flash arrays by device id, where the machine shows them without
    /// saving a stream (models); `None` for real QEMU.
    fn arrays(&self) -> Option<Vec<(String, Storage)>>;
    /// Leaves a device as a destination holds it after a hop that declares
    /// `loss`: with that part of its state lost (`lost`), or kept as the
    /// missing feature would have promised (the read mode restored from the
    /// command state; command state carried as it is). `false` where the
    /// machine cannot set a device's state (real QEMU).
    fn after_hop(&mut self, loss: &DeviceLoss, lost: bool) -> Result<bool, RunError>;
    /// At a migration point of a run that stands for the destinations: the
    /// next machine starts on its own copies of the drives this one started
    /// with (`own_drives`), or on these drives as they are now.
    fn pass_drives(&mut self, own_drives: bool);
    /// The state it would send now; it goes on running afterwards.
    fn save(&mut self, scratch: &Scratch) -> Result<Saved, RunError>;
    /// What it holds: arrays, images, and canonical states where it can
    /// show them (`None` for real QEMU).
    fn end(&mut self, scratch: &Scratch) -> Result<End, RunError>;
}

/// A scratch directory for streams and images, created when first needed
/// (model-only runs never need one) and removed with the run.
#[derive(Default)]
pub struct Scratch {
    dir: std::sync::OnceLock<Result<tempfile::TempDir, String>>,
}

impl Scratch {
    /// The directory, created on first use.
    pub fn path(&self) -> Result<&Path, RunError> {
        let dir = self.dir.get_or_init(|| {
            tempfile::Builder::new()
                .prefix("norcompat-run-")
                .tempdir()
                .map_err(|e| e.to_string())
        });
        match dir {
            Ok(d) => Ok(d.path()),
            Err(e) => Err(RunError::Scratch(e.clone())),
        }
    }
}
