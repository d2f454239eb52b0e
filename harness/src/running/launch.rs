//! Starting a machine of any version, and loading a saved state into a
//! fresh machine of another: the two ways a machine comes to be.

use crate::definitions::versions::Version;
use crate::running::board::Board;
use crate::running::machine::{Drives, Link, Refusal, RunError, Saved, Scratch, VersionMachine};
use crate::running::qemu_machine::QemuMachine;
use devices::BlockBackend;
use std::sync::Arc;

/// Starts a fresh machine of `v`; `targets` are the scenario's device ids.
pub fn start(
    v: &Arc<Version>,
    targets: &[String],
    link: Link,
) -> Result<Box<dyn VersionMachine>, RunError> {
    if v.is_real() {
        Ok(Box::new(QemuMachine::fresh(v, targets)?))
    } else {
        let board = match link {
            Link::Shared => Board::new(v, targets),
            Link::Qemu => Board::plain(v, targets, None),
        };
        Ok(Box::new(board.map_err(RunError::Realize)?))
    }
}

/// What a load did: the machine, or the destination's refusal. A real
/// destination that refused a real source's whole-VM stream because of a
/// device other than the flash gets the flash-only stream as well: the
/// flash's own compatibility is still judged, and the whole-VM refusal is
/// kept beside that verdict.
pub struct Loaded {
    pub result: Result<Box<dyn VersionMachine>, Refusal>,
    /// The whole-VM refusal when the flash-only stream was sent instead.
    pub whole_vm_refused: Option<Refusal>,
}

/// Loads `saved` into a fresh machine of `dst`.
pub fn load(
    saved: &Saved,
    dst: &Arc<Version>,
    targets: &[String],
    scratch: &Scratch,
    own_drives: bool,
) -> Result<Loaded, RunError> {
    // Without shared storage the destination's drives are its own copies
    // of those the source started with.
    let own = match (&saved.started_with, own_drives) {
        (Some(w), true) => Some(w.as_slice()),
        _ => None,
    };
    let first = load_stream(saved, &saved.stream, dst, targets, scratch, own)?;
    let refused = match &first {
        Err(r @ Refusal::Qemu(reason))
            if saved.from.is_real()
                && dst.is_real()
                && crate::running::streams::names_other_device(reason) =>
        {
            r.clone()
        }
        _ => {
            return Ok(Loaded {
                result: first,
                whole_vm_refused: None,
            })
        }
    };
    let flash =
        crate::running::streams::flash_only_stream(dst, &saved.stream).map_err(RunError::Stream)?;
    Ok(Loaded {
        result: load_stream(saved, &flash, dst, targets, scratch, own)?,
        whole_vm_refused: Some(refused),
    })
}

fn load_stream(
    saved: &Saved,
    stream: &[u8],
    dst: &Arc<Version>,
    targets: &[String],
    scratch: &Scratch,
    own: Option<&[BlockBackend]>,
) -> Result<Result<Box<dyn VersionMachine>, Refusal>, RunError> {
    if dst.is_real() {
        let on_own;
        let drives = match own {
            Some(w) => {
                on_own = Drives::Shared(w.to_vec());
                &on_own
            }
            None => &saved.drives,
        };
        let loaded = QemuMachine::incoming(saved, stream, drives, dst, targets, scratch)?;
        return Ok(loaded.map(|q| Box::new(q) as Box<dyn VersionMachine>));
    }
    let board = match &saved.drives {
        Drives::Shared(drives) => Board::opening(&saved.from, dst, targets, drives),
        Drives::Copied(images) => Board::on_copies(dst, targets, images).map(Ok),
    };
    let mut board = match board.map_err(RunError::Realize)? {
        Ok(b) => b,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let stream = if saved.from.is_real() {
        match crate::running::streams::flash_only_for(dst, stream) {
            Ok(s) => s,
            Err(reason) => return Ok(Err(Refusal::Unreadable(reason))),
        }
    } else {
        stream.to_vec()
    };
    let loaded = match own {
        Some(w) => board.machine.load_into_reopening(&stream, w),
        None => board.machine.load_into(&stream),
    };
    if let Some(w) = own {
        board.started_with = w.iter().map(|d| d.fork()).collect();
    }
    Ok(match loaded {
        Ok(_) => Ok(Box::new(board) as Box<dyn VersionMachine>),
        Err(f) => Err(f.into()),
    })
}
