//! The one op loop's step on in-process devices: an op applied to a
//! machine's flash devices, as QEMU's memory core and qtest do it. Boards
//! (trials, behaviour runs) and `replay` (an op list on one device) both
//! execute ops here.

use crate::generation::ops::TrialOp;
use devices::{bus_read, bus_write, FlashDevice};

/// Applies one op to `devices` (a machine's flash devices in registration
/// order; `targets` maps the op's device index to them) and returns a
/// read's value. A migration is the caller's to do: here it does nothing.
pub fn apply_op(
    devices: &mut [Box<dyn FlashDevice>],
    targets: &[usize],
    op: &TrialOp,
) -> Option<u64> {
    match op {
        TrialOp::Write {
            dev,
            addr,
            width,
            val,
        } => {
            bus_write(devices[targets[*dev]].as_mut(), *addr, *width, *val);
            None
        }
        TrialOp::Read { dev, addr, width } => {
            Some(bus_read(devices[targets[*dev]].as_mut(), *addr, *width))
        }
        TrialOp::Step { ns } => {
            let by = match ns {
                Some(ns) => *ns,
                // qtest's bare clock_step: to the earliest deadline of any device.
                None => devices
                    .iter()
                    .filter_map(|d| d.next_deadline().map(|t| t.saturating_sub(d.now())))
                    .min()
                    .unwrap_or(0),
            };
            for d in devices.iter_mut() {
                d.advance(by);
            }
            None
        }
        TrialOp::Reset => {
            for d in devices.iter_mut() {
                d.reset();
            }
            None
        }
        TrialOp::Migrate { .. } => None,
    }
}
