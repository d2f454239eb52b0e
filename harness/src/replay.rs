//! `norcompat replay`: run an op list on one device and produce the trace in
//! the format QEMU's qtest-driven tools write, so the two compare directly.

use crate::ops::{op_to_json, Op};
use devices::{bus_read, bus_write, BlockBackend, DeviceError, DeviceSpec, FlashDevice};
use serde_json::{json, Value};

/// The result of a replay.
#[derive(Clone, Debug)]
pub struct ReplayOutput {
    /// The device specification as given.
    pub device: String,
    /// One entry per op: the op, its index `i`, and `val`/`hex` for reads,
    /// `clock` for steps.
    pub trace: Vec<Value>,
    /// SHA-256 of the backing image at the end (`None` without a drive).
    pub image_sha256: Option<String>,
    /// SHA-256 of the flash array at the end.
    pub array_sha256: String,
}

impl ReplayOutput {
    /// The JSON document `norcompat replay` prints.
    pub fn to_json(&self) -> Value {
        json!({
            "tool": "norcompat replay",
            "device": self.device,
            "trace": self.trace,
            "image_sha256": self.image_sha256,
            "array_sha256": self.array_sha256,
        })
    }

    /// The read values in op order (what comparisons look at).
    pub fn reads(&self) -> Vec<(usize, u64)> {
        self.trace
            .iter()
            .filter(|e| e["op"] == "read")
            .map(|e| {
                (
                    e["i"].as_u64().unwrap_or(0) as usize,
                    e["val"].as_u64().unwrap_or(0),
                )
            })
            .collect()
    }
}

/// Migrates `dev` as a `migrate` op does: save, then load into a fresh device
/// of the same type (or of `to`, with the same properties).
pub fn migrate(
    dev: &dyn FlashDevice,
    spec: &DeviceSpec,
    to: Option<&str>,
) -> Result<Box<dyn FlashDevice>, String> {
    match to {
        None => Ok(dev.migrated()),
        Some(t) if t == dev.type_name() => Ok(dev.migrated()),
        Some(t) => Err(format!(
            "cannot migrate {} ({}) to '{t}': cross-type migration needs the migration stream",
            dev.type_name(),
            spec
        )),
    }
}

/// Replays `ops` on a device built from `spec` with `backend`.
/// Ops must already be validated against the device window ([`crate::ops::parse_ops`]).
pub fn replay(
    spec: &DeviceSpec,
    backend: BlockBackend,
    ops: &[Op],
) -> Result<ReplayOutput, DeviceError> {
    let mut dev = devices::create(spec, backend)?;
    let mut trace = Vec::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        let mut entry = op_to_json(op);
        entry["i"] = json!(i);
        match op {
            Op::Write { addr, width, val } => bus_write(dev.as_mut(), *addr, *width, *val),
            Op::Read { addr, width } => {
                let v = bus_read(dev.as_mut(), *addr, *width);
                entry["val"] = json!(v);
                entry["hex"] = json!(format!("0x{v:0w$x}", w = 2 * *width as usize));
            }
            Op::Step { ns } => {
                let by = match ns {
                    Some(ns) => *ns,
                    None => dev.next_deadline().map_or(0, |d| d - dev.now()),
                };
                dev.advance(by);
                entry["clock"] = json!(dev.now());
            }
            Op::Reset => dev.reset(),
            Op::Migrate { to } => match migrate(dev.as_ref(), spec, to.as_deref()) {
                Ok(next) => dev = next,
                // A refused migration leaves the source running, as in QEMU.
                Err(reason) => entry["refused"] = json!(reason),
            },
        }
        trace.push(entry);
    }
    Ok(ReplayOutput {
        device: spec.to_string(),
        trace,
        image_sha256: dev.backend().image().map(|i| i.sha256_hex()),
        array_sha256: dev.array().sha256_hex(),
    })
}
