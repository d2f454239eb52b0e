//! Trials of models: run a sequence on the source version, migrate at the
//! marked points along a chain of versions and continue, starting from forks
//! of the reference run (the sequence without migrating). The observation
//! keeps both runs' reads and ends for judging.

use crate::definitions::versions::Version;
use crate::generation::generator::TrialOp;
use crate::running::board::{migrate, Board};
use crate::running::observation::{End, Hop, Observation, Observed};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Instant;

/// The reference run: the sequence on the source version without migrating,
/// with snapshots at every migration point so trials start from a fork
/// instead of re-running the prefix.
pub struct Reference {
    pub reads: Vec<(usize, u64)>,
    /// Board snapshot at each migration marker (in order).
    pub snapshots: Vec<Board>,
    /// The board at the end.
    pub end: Board,
}

/// Runs the reference for `ops` on `source`.
pub fn run_reference(
    source: &Arc<Version>,
    targets: &[String],
    ops: &[TrialOp],
) -> Result<Reference, String> {
    let mut board = Board::new(source, targets)?;
    let mut reads = Vec::new();
    let mut snapshots = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        if matches!(op, TrialOp::Migrate) {
            snapshots.push(board.fork());
        } else if let Some(v) = board.apply(op) {
            reads.push((i, v));
        }
    }
    Ok(Reference {
        reads,
        snapshots,
        end: board,
    })
}

/// Runs one trial along `chain` from the reference's snapshots.
pub fn run_trial(
    chain: &[Arc<Version>],
    targets: &[String],
    ops: &[TrialOp],
    reference: &Reference,
) -> Observation {
    let started = Instant::now();
    let result = catch_unwind(AssertUnwindSafe(|| {
        run_trial_inner(chain, targets, ops, reference)
    }));
    let r = match result {
        Ok(r) => r,
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".into());
            Observation::crashed(format!("panic: {msg}"), &reference.reads)
        }
    };
    r.with_total_us(started.elapsed().as_micros() as u64)
}

fn run_trial_inner(
    chain: &[Arc<Version>],
    targets: &[String],
    ops: &[TrialOp],
    reference: &Reference,
) -> Observation {
    let first = ops.iter().position(|o| matches!(o, TrialOp::Migrate));
    let mut board = match first {
        Some(_) => reference.snapshots[0].fork(),
        None => Board::new(&chain[0], targets).expect("reference board was realized"),
    };
    let start = first.unwrap_or(0);
    let mut reads: Vec<(usize, u64)> = reference
        .reads
        .iter()
        .copied()
        .filter(|(i, _)| *i < start)
        .collect();
    let mut hop = 0;
    let mut refusals = Vec::new();
    let mut lost_at: Option<String> = None;
    let mut loaded = Vec::new();
    let mut migrate_us = 0;
    for (i, op) in ops.iter().enumerate().skip(start) {
        if matches!(op, TrialOp::Migrate) {
            hop += 1;
            let dst = &chain[hop.min(chain.len() - 1)];
            let t = Instant::now();
            let res = migrate(&board, dst);
            migrate_us += t.elapsed().as_micros() as u64;
            match res {
                Ok(next) => {
                    // Data is never lost: the array right after loading must
                    // equal the source's at the moment it was saved.
                    if lost_at.is_none() {
                        for ((id, a), (_, b)) in board.arrays().iter().zip(next.arrays().iter()) {
                            if let Some(page) = b.dirty_pages(a).first() {
                                let (pa, pb) = (a.page_bytes(*page), b.page_bytes(*page));
                                let at = pa.iter().zip(&pb).position(|(x, y)| x != y).unwrap_or(0);
                                let off = (*page * devices::storage::PAGE_SIZE + at) as u64;
                                lost_at = Some(format!(
                                    "flash contents of '{id}' lost in migration {} -> {} at op {i}: byte {off:#x} is {:#04x} on the destination, {:#04x} on the source",
                                    board.version.name, dst.name, pb.get(at).copied().unwrap_or(0), pa.get(at).copied().unwrap_or(0)
                                ));
                                break;
                            }
                        }
                    }
                    loaded.push(Hop {
                        from: board.version.clone(),
                        to: dst.clone(),
                    });
                    board = next;
                }
                // No op index here: reasons are grouped by text in reports
                // (the op sequence shows where the migration was).
                Err(r) => refusals.push(format!(
                    "{} -> {} refused: {}",
                    board.version.name, dst.name, r.reason
                )),
            }
        } else if let Some(v) = board.apply(op) {
            reads.push((i, v));
        }
    }

    Observation::Ran(Box::new(Observed {
        reads,
        reference_reads: reference.reads.clone(),
        machine_type: board.machine.machine_type.clone(),
        loaded,
        refusals,
        whole_vm_refusals: Vec::new(),
        lost_at,
        reference_end: end_of(&reference.end),
        end: end_of(&board),
        migrate_us,
        total_us: 0,
    }))
}

/// What a model machine holds: arrays, images and canonical states.
pub fn end_of(board: &Board) -> End {
    End {
        version: board.version.clone(),
        arrays: board.arrays(),
        images: board.images(),
        states: Some(board.states()),
    }
}
