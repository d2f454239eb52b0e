//! Trials: run a sequence on the source version, migrate at the marked
//! points along a chain of versions and continue. The reference run (the
//! sequence on the source without migrating) saves the state at every
//! migration point and goes on, so every chain of a (scenario, seed) starts
//! from its saved states. Machines are reached only through the version
//! interface (`running::machine`): models and real QEMU alike, and streams
//! cross between them in every direction. The observation keeps both runs'
//! reads and ends for judging.

use crate::definitions::losses::{hop_losses, DeviceLoss, Loss};
use crate::definitions::versions::Version;
use crate::generation::generator::TrialOp;
use crate::running::launch::{load, start};
use crate::running::machine::{catching, Link, RunError, Saved, Scratch, VersionMachine};
use crate::running::observation::{End, Hop, HopLoss, LossyRun, Observation, Observed, OpStep};
use devices::Storage;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

/// The reference run on the chain's source.
pub struct Reference {
    pub reads: Vec<(usize, u64)>,
    /// The state saved at each migration marker, in order.
    pub points: Vec<Saved>,
    pub end: End,
    /// How the trials from this reference pass state on.
    pub link: Link,
    /// Each op as the reference executed it, when recorded.
    pub steps: Option<Vec<OpStep>>,
    /// At each migration point, the states its target devices were in
    /// (`type: state`, where the machine shows them).
    pub point_states: Vec<Vec<String>>,
}

/// Whether a run records each op (with the accessed device's state before
/// it) for the report's op rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Record {
    Steps,
    Nothing,
}

/// Runs the reference for `ops` on `source`: its reads, the state saved at
/// every migration point, and its end.
pub fn run_reference(
    source: &Arc<Version>,
    targets: &[String],
    ops: &[TrialOp],
    link: Link,
    record: Record,
) -> Result<Reference, RunError> {
    catching(|| {
        let scratch = Scratch::default();
        let mut m = start(source, targets, link)?;
        let mut reads = Vec::new();
        let mut points = Vec::new();
        let mut steps = Vec::new();
        let mut point_states = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            if matches!(op, TrialOp::Migrate { .. }) {
                point_states.push(states_at(m.as_ref(), targets));
                points.push(m.save(&scratch)?);
                if record == Record::Steps {
                    steps.push(step(i, String::new(), op.to_string(), None, None));
                }
            } else {
                let steps = (record == Record::Steps).then_some(&mut steps);
                apply_op(m.as_mut(), targets, i, op, &mut reads, steps)?;
            }
        }
        let end = visible(m.end(&scratch)?, link);
        Ok(Reference {
            reads,
            points,
            end,
            link,
            steps: (record == Record::Steps).then_some(steps),
            point_states,
        })
    })
}

/// The states of the target devices (`type: state`), where `m` shows them.
fn states_at(m: &dyn VersionMachine, targets: &[String]) -> Vec<String> {
    (0..targets.len())
        .filter_map(|dev| m.target_state(dev))
        .map(|s| crate::running::modes::coverage_entry(&s))
        .collect()
}

/// The device an op accesses and its state before the op (where the
/// machine shows it).
fn state_before(
    m: &dyn VersionMachine,
    targets: &[String],
    op: &TrialOp,
) -> (String, Option<devices::DeviceState>) {
    match op {
        TrialOp::Write { dev, .. } | TrialOp::Read { dev, .. } => {
            (targets[*dev].clone(), m.target_state(*dev))
        }
        _ => (String::new(), None),
    }
}

/// What the oracle compares of an end: through QEMU's link, what QEMU can
/// show (canonical states are left out on either side).
fn visible(mut end: End, link: Link) -> End {
    if link == Link::Qemu {
        end.states = None;
    }
    end
}

/// Runs one trial along `chain` from the reference's saved states. A panic
/// or a failing machine is a `crashed` observation.
pub fn run_trial(
    chain: &[Arc<Version>],
    targets: &[String],
    ops: &[TrialOp],
    reference: &Reference,
) -> Observation {
    let started = Instant::now();
    let r = match catching(|| run_trial_inner(chain, targets, ops, reference)) {
        Ok(r) => r,
        Err(e) => Observation::crashed(e.to_string(), &reference.reads),
    };
    r.with_total_us(started.elapsed().as_micros() as u64)
}

fn run_trial_inner(
    chain: &[Arc<Version>],
    targets: &[String],
    ops: &[TrialOp],
    reference: &Reference,
) -> Result<Observation, RunError> {
    let scratch = Scratch::default();
    let start = ops
        .iter()
        .position(|o| matches!(o, TrialOp::Migrate { .. }))
        .unwrap_or(ops.len());
    let mut reads: Vec<(usize, u64)> = reference
        .reads
        .iter()
        .copied()
        .filter(|(i, _)| *i < start)
        .collect();
    // `None` while the machine is still the untouched source: its state at
    // every point is the reference's.
    let mut current: Option<Box<dyn VersionMachine>> = None;
    let mut at = chain[0].clone();
    let machine_type = chain[0].machine_type.clone();
    let mut hop = 0;
    let mut loaded = Vec::new();
    let mut refusals = Vec::new();
    let mut whole_vm = Vec::new();
    let mut lost_at: Option<String> = None;
    let mut declared_losses: Vec<HopLoss> = Vec::new();
    let mut migrated_in: Vec<String> = Vec::new();
    let mut migrate_us = 0;
    // Recorded steps: the reference's up to the first migration (and while
    // the machine is the untouched source), then the trial's own.
    let recorded = reference.steps.as_ref();
    let mut steps: Vec<OpStep> = recorded
        .map(|s| s.iter().filter(|s| s.index < start).cloned().collect())
        .unwrap_or_default();
    for (i, op) in ops.iter().enumerate().skip(start) {
        if !matches!(op, TrialOp::Migrate { .. }) {
            if let Some(m) = current.as_mut() {
                let steps = recorded.map(|_| &mut steps);
                apply_op(m.as_mut(), targets, i, op, &mut reads, steps)?;
            } else {
                if let Some(r) = reference.reads.iter().find(|(j, _)| *j == i) {
                    reads.push(*r);
                }
                steps.extend(
                    recorded
                        .and_then(|s| s.iter().find(|s| s.index == i))
                        .cloned(),
                );
            }
            continue;
        }
        hop += 1;
        let dst = &chain[hop.min(chain.len() - 1)];
        let t = Instant::now();
        let owned;
        let states = match current.as_ref() {
            None => reference.point_states[hop - 1].clone(),
            Some(m) => states_at(m.as_ref(), targets),
        };
        for s in states {
            if !migrated_in.contains(&s) {
                migrated_in.push(s);
            }
        }
        let saved = match current.as_mut() {
            None => &reference.points[hop - 1],
            Some(m) => {
                owned = m.save(&scratch)?;
                &owned
            }
        };
        let own_drives = matches!(
            op,
            TrialOp::Migrate {
                own_drives: true,
                ..
            }
        );
        let l = load(saved, dst, targets, &scratch, own_drives)?;
        let hop_text = format!("migrate {} -> {}", at.name, dst.name);
        if let Some(reason) = l.whole_vm_refused {
            whole_vm.push(format!("{} -> {}: {reason}", at.name, dst.name));
        }
        match l.result {
            Ok(next) => {
                // Data is never lost: the array right after loading must
                // equal the source's at the moment it was saved.
                if lost_at.is_none() {
                    if let (Some(a), Some(b)) = (&saved.arrays, next.arrays()) {
                        lost_at = lost_contents(a, &b).map(|(id, off, x, y)| {
                            format!(
                                "flash contents of '{id}' lost in migration {} -> {} at op {i}: byte {off:#x} is {y:#04x} on the destination, {x:#04x} on the source",
                                at.name, dst.name
                            )
                        });
                    }
                }
                // One unit per kind of loss: a destination keeps or loses
                // each kind for all its devices of that type alike.
                let mut by_kind: BTreeMap<Loss, Vec<DeviceLoss>> = BTreeMap::new();
                for l in hop_losses(&at, dst, &machine_type, own_drives) {
                    if targets.contains(&l.device) {
                        by_kind.entry(l.loss).or_default().push(l);
                    }
                }
                declared_losses.extend(by_kind.into_values().map(|losses| HopLoss {
                    at: i,
                    hop: format!("{} -> {}", at.name, dst.name),
                    losses,
                }));
                loaded.push(Hop {
                    from: at.clone(),
                    to: dst.clone(),
                    at: i,
                });
                at = dst.clone();
                current = Some(next);
                if recorded.is_some() {
                    steps.push(step(i, String::new(), hop_text, None, None));
                }
            }
            // The source continues (while it is the untouched source, it
            // is the reference run itself). No op index here: reasons are
            // grouped by text in reports (the op sequence shows where the
            // migration was).
            Err(reason) => {
                if recorded.is_some() {
                    steps.push(step(
                        i,
                        String::new(),
                        format!("{hop_text}: refused ({reason})"),
                        None,
                        None,
                    ));
                }
                refusals.push(format!("{} -> {} refused: {reason}", at.name, dst.name))
            }
        }
        migrate_us += t.elapsed().as_micros() as u64;
    }
    let end = match current.as_mut() {
        Some(m) => visible(m.end(&scratch)?, reference.link),
        None => reference.end.clone(),
    };
    Ok(Observation::Ran(Box::new(Observed {
        reads,
        reference_reads: reference.reads.clone(),
        machine_type,
        loaded,
        refusals,
        whole_vm_refusals: whole_vm,
        lost_at,
        declared_losses,
        chain: chain.to_vec(),
        targets: targets.to_vec(),
        reference_end: reference.end.clone(),
        end,
        migrate_us,
        total_us: 0,
        steps,
        migrated_in,
    })))
}

/// The reference run on `source` with the declared losses `units` applied
/// at their migration markers, each lost (`true`) or kept as the missing
/// feature would have promised: how a trial ends whose hops (those at the
/// markers `loaded`) lost exactly that. `None` where the source cannot set a
/// device's state (real QEMU).
pub fn run_lossy(
    source: &Arc<Version>,
    targets: &[String],
    ops: &[TrialOp],
    link: Link,
    loaded: &[usize],
    units: &[(&HopLoss, bool)],
) -> Result<Option<LossyRun>, RunError> {
    if source.is_real() {
        return Ok(None);
    }
    catching(|| {
        let scratch = Scratch::default();
        let mut m = start(source, targets, link)?;
        let mut reads = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            if let TrialOp::Migrate { own_drives, .. } = op {
                // A refused hop leaves the machine where it was.
                if loaded.contains(&i) {
                    m.pass_drives(*own_drives);
                }
                for (h, lost) in units.iter().filter(|(h, _)| h.at == i) {
                    for l in &h.losses {
                        if !m.after_hop(l, *lost)? {
                            return Ok(None);
                        }
                    }
                }
            } else {
                apply_op(m.as_mut(), targets, i, op, &mut reads, None)?;
            }
        }
        let end = visible(m.end(&scratch)?, link);
        Ok(Some(LossyRun { reads, end }))
    })
}

fn step(
    index: usize,
    device: String,
    op: String,
    state_before: Option<devices::DeviceState>,
    got: Option<u64>,
) -> OpStep {
    OpStep {
        index,
        device,
        op,
        state_before,
        got,
    }
}

/// Applies op `i` (not a migration) to `m`, keeping a read's value and,
/// when `steps` records, the op with the accessed device's state before it.
fn apply_op(
    m: &mut dyn VersionMachine,
    targets: &[String],
    i: usize,
    op: &TrialOp,
    reads: &mut Vec<(usize, u64)>,
    steps: Option<&mut Vec<OpStep>>,
) -> Result<(), RunError> {
    let before = steps.is_some().then(|| state_before(m, targets, op));
    let got = m.apply(op)?;
    if let Some(v) = got {
        reads.push((i, v));
    }
    if let (Some(steps), Some((device, state))) = (steps, before) {
        steps.push(step(i, device, op.to_string(), state, got));
    }
    Ok(())
}

/// The first byte where `after` (arrays by device id) differs from
/// `before`: (device, offset, byte before, byte after).
fn lost_contents(
    before: &[(String, Storage)],
    after: &[(String, Storage)],
) -> Option<(String, u64, u8, u8)> {
    for ((id, a), (_, b)) in before.iter().zip(after) {
        if let Some(page) = b.dirty_pages(a).first() {
            let (pa, pb) = (a.page_bytes(*page), b.page_bytes(*page));
            let at = pa.iter().zip(&pb).position(|(x, y)| x != y).unwrap_or(0);
            let off = (*page * devices::storage::PAGE_SIZE + at) as u64;
            return Some((
                id.clone(),
                off,
                pa.get(at).copied().unwrap_or(0),
                pb.get(at).copied().unwrap_or(0),
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definitions::project::{default_root, Project};

    fn project() -> Project {
        Project::load(&default_root()).expect("project")
    }

    /// A program of one word, a migration, and reads of it and of the status.
    fn ops() -> Vec<TrialOp> {
        let w = |addr, val| TrialOp::write(0, addr, 4, val);
        let r = |addr| TrialOp::read(0, addr, 4);
        vec![
            w(0x100, 0x0040_0040),
            w(0x100, 0x1234_5678),
            r(0x100),
            TrialOp::MIGRATE,
            r(0x100),
            w(0, 0x00ff_00ff),
            r(0x100),
        ]
    }

    fn ran(o: Observation) -> Observed {
        match o {
            Observation::Ran(o) => *o,
            Observation::Crashed { reason, .. } => panic!("crashed: {reason}"),
        }
    }

    #[test]
    fn a_refused_hop_leaves_the_trial_on_the_reference_run() {
        let p = project();
        let (v5, v6) = (p.version("v5").unwrap(), p.version("v6").unwrap());
        let targets = vec!["flash0".to_string()];
        let reference =
            run_reference(v6, &targets, &ops(), Link::Shared, Record::Nothing).expect("runs");
        let o = ran(run_trial(
            &[v6.clone(), v5.clone()],
            &targets,
            &ops(),
            &reference,
        ));
        assert_eq!(o.refusals.len(), 1, "{:?}", o.refusals);
        assert!(
            o.refusals[0].starts_with("v6 -> v5 refused: "),
            "{}",
            o.refusals[0]
        );
        assert!(o.loaded.is_empty());
        assert_eq!(o.reads, reference.reads);
        assert_eq!(o.end.version.name, "v6");
    }

    #[test]
    fn a_hop_that_loads_is_recorded_with_every_op_and_the_device_state_before_it() {
        let p = project();
        let (v5, v6) = (p.version("v5").unwrap(), p.version("v6").unwrap());
        let targets = vec!["flash0".to_string()];
        let ops = ops();
        let reference =
            run_reference(v5, &targets, &ops, Link::Shared, Record::Steps).expect("runs");
        let o = ran(run_trial(
            &[v5.clone(), v6.clone()],
            &targets,
            &ops,
            &reference,
        ));
        assert!(o.refusals.is_empty(), "{:?}", o.refusals);
        assert_eq!(o.loaded.len(), 1);
        assert_eq!(
            (o.loaded[0].from.name.as_str(), o.loaded[0].to.name.as_str()),
            ("v5", "v6")
        );
        assert_eq!(o.end.version.name, "v6");
        assert!(o.lost_at.is_none(), "{:?}", o.lost_at);
        // The word programmed before the migration is in the destination's
        // array (reads after a program show the status until read array).
        let array = o.end.arrays[0].1.to_vec();
        assert_eq!(array[0x100..0x104], [0x78, 0x56, 0x34, 0x12]);
        assert_eq!(o.reads[0], (2, 0x0080_0080), "status after the program");
        // Every op once, in order; the migration names its hop; device ops
        // carry the model's state (v5 before the hop, v6 after).
        let indices: Vec<usize> = o.steps.iter().map(|s| s.index).collect();
        assert_eq!(indices, (0..ops.len()).collect::<Vec<_>>());
        assert_eq!(o.steps[3].op, "migrate v5 -> v6");
        assert!(matches!(
            o.steps[0].state_before,
            Some(devices::DeviceState::Cfi01V5(_))
        ));
        assert!(matches!(
            o.steps[4].state_before,
            Some(devices::DeviceState::Cfi01V6(_))
        ));
        assert_eq!(o.steps[2].got, Some(0x0080_0080));
        assert_eq!(o.steps[6].got, Some(o.reads[2].1));
    }

    #[test]
    fn through_qemus_link_no_canonical_state_is_compared() {
        let p = project();
        let v5 = p.version("v5").unwrap();
        let targets = vec!["flash0".to_string()];
        let r = run_reference(v5, &targets, &ops(), Link::Qemu, Record::Nothing).expect("runs");
        assert!(r.end.states.is_none());
        let r = run_reference(v5, &targets, &ops(), Link::Shared, Record::Nothing).expect("runs");
        assert!(r.end.states.is_some());
    }
}
