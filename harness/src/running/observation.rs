//! What a trial run observed, before any judgement: the reads of the trial
//! and of its reference run, the hops that loaded or were refused, and what
//! each machine held at the end. Judging turns it into an outcome.

use crate::definitions::losses::DeviceLoss;
use crate::definitions::versions::Version;
use devices::{DeviceState, Storage};
use std::sync::Arc;

/// What a machine holds at the end of a run, as the oracle compares it.
#[derive(Clone, Debug)]
pub struct End {
    /// The version the machine is (the last destination that loaded).
    pub version: Arc<Version>,
    /// The flash arrays (RAM blocks), by device id.
    pub arrays: Vec<(String, Storage)>,
    /// The backing images, by device id (`None`: no drive).
    pub images: Vec<(String, Option<Storage>)>,
    /// Canonical states by device id; `None` where the machine cannot show
    /// them (a real QEMU shows only what its streams carry).
    pub states: Option<Vec<(String, DeviceState)>>,
}

/// One op as a recorded run executed it.
#[derive(Clone, Debug)]
pub struct OpStep {
    pub index: usize,
    /// The scenario device it accesses (empty for machine-wide ops).
    pub device: String,
    /// The op, a migration with its hop and any refusal.
    pub op: String,
    /// The accessed device's canonical state before the op, where the
    /// machine shows it.
    pub state_before: Option<DeviceState>,
    /// The value a read returned.
    pub got: Option<u64>,
}

/// One hop of the chain that loaded.
#[derive(Clone, Debug)]
pub struct Hop {
    pub from: Arc<Version>,
    pub to: Arc<Version>,
    /// The migration marker's op index.
    pub at: usize,
}

/// What a hop that loaded may lose by declaration, of one kind: the losses
/// its versions' missing features excuse, for the devices the scenario
/// drives.
#[derive(Clone, Debug)]
pub struct HopLoss {
    /// The migration marker's op index.
    pub at: usize,
    /// `a -> b`.
    pub hop: String,
    pub losses: Vec<DeviceLoss>,
}

/// The reference run with declared losses applied where their hops
/// loaded: how a trial ends whose hops lose exactly what is excused.
#[derive(Clone, Debug)]
pub struct LossyRun {
    pub reads: Vec<(usize, u64)>,
    pub end: End,
}

/// A trial that ran to its end.
#[derive(Clone, Debug)]
pub struct Observed {
    /// Read values of the trial, by op index.
    pub reads: Vec<(usize, u64)>,
    /// Read values of the reference run, by op index.
    pub reference_reads: Vec<(usize, u64)>,
    /// The machine type the chain runs (the source's, all along).
    pub machine_type: String,
    /// Hops that loaded, in order.
    pub loaded: Vec<Hop>,
    /// One line per refused hop (`a -> b refused: reason`).
    pub refusals: Vec<String>,
    /// Whole-VM streams a real destination refused because of a device
    /// other than the flash (`a -> b: reason`), after which the flash-only
    /// stream was loaded instead.
    pub whole_vm_refusals: Vec<String>,
    /// Flash contents lost at a migration point (a description), if any.
    pub lost_at: Option<String>,
    /// The hops that loaded and may lose state by declaration.
    pub declared_losses: Vec<HopLoss>,
    /// The chain and the scenario's devices: what the runs with declared
    /// losses applied start from.
    pub chain: Vec<Arc<Version>>,
    pub targets: Vec<String>,
    pub reference_end: End,
    pub end: End,
    pub migrate_us: u64,
    pub total_us: u64,
    /// Each op as the run executed it (recorded runs only): before the
    /// first migration the reference's, then the trial's own.
    pub steps: Vec<OpStep>,
    /// The states the target devices migrated in (`type: state`), where the
    /// machine showed them.
    pub migrated_in: Vec<String>,
}

/// What a trial run observed.
#[derive(Clone, Debug)]
pub enum Observation {
    Ran(Box<Observed>),
    /// A panic, or a QEMU that died, hung or answered garbage (`reason` says
    /// which, with QEMU's stderr).
    Crashed {
        reason: String,
        reference_reads: Vec<(usize, u64)>,
        total_us: u64,
    },
}

impl Observation {
    /// A crash before the trial could run.
    pub fn crashed(reason: String, reference_reads: &[(usize, u64)]) -> Observation {
        Observation::Crashed {
            reason,
            reference_reads: reference_reads.to_vec(),
            total_us: 0,
        }
    }

    /// Sets the wall time the trial took.
    pub fn with_total_us(mut self, us: u64) -> Observation {
        match &mut self {
            Observation::Ran(o) => o.total_us = us,
            Observation::Crashed { total_us, .. } => *total_us = us,
        }
        self
    }
}
