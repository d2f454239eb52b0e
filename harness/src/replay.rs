//! `norcompat replay`: run an op list on one device and produce the trace in
//! the format QEMU's qtest-driven tools write, so the two compare directly.

use crate::ops::{op_to_json, Op};
use devices::migration::compat;
use devices::migration::stream::save_stream;
use devices::migration::{Machine, MachineBuilder};
use devices::{bus_read, bus_write, BlockBackend, DeviceError, DeviceSpec, FlashDevice};
use serde_json::{json, Value};
use std::sync::Arc;

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

/// Migrates `dev` as a `migrate` op does, through the migration stream:
/// the source saves under its machine type (`nor-5.0` for v5 types; for v6
/// types `nor-6.0`, or `nor-5.0` when the compat property is on), and a fresh
/// destination of type `to` (default: the same type) with the same
/// properties loads it. The destination's release offers its machine types
/// (v5: `nor-5.0`; v6: `nor-6.0` and `nor-5.0`) and is started with the one
/// the stream names, compat properties included, as QEMU's `-incoming`
/// destination would be. It shares the source's drive; its clock starts at 0.
///
/// Returns the destination and its spec, or the refusal message (the source
/// is never changed, so it simply continues).
pub fn migrate(
    dev: &dyn FlashDevice,
    spec: &DeviceSpec,
    to: Option<&str>,
) -> Result<(Box<dyn FlashDevice>, DeviceSpec), String> {
    let stream = save_stream(compat::machine_type_of(spec), &[dev]);
    let base = spec.with_type(to.unwrap_or(&spec.type_name));
    let offered: Vec<String> = match compat::release_of(&base.type_name) {
        Some(release) => release
            .machine_types
            .iter()
            .map(|m| m.to_string())
            .collect(),
        None => vec![compat::machine_type_of(&base).to_string()],
    };
    let builder = Arc::new(SpecBuilder {
        spec: base.clone(),
        drive: dev.backend().clone(),
    });
    let start = offered[0].clone();
    let devices = builder.build(&start)?;
    let mut dst = Machine::new(&start, devices).with_builder(offered, builder);
    dst.load_into(&stream).map_err(|e| e.to_string())?;
    let spec = compat::spec_for_machine_type(&base, &dst.machine_type);
    dst.devices
        .pop()
        .map(|d| (d, spec))
        .ok_or_else(|| "the destination has no device".to_string())
}

/// Starts one device of a spec under a machine type, on a shared drive.
struct SpecBuilder {
    spec: DeviceSpec,
    drive: BlockBackend,
}

impl MachineBuilder for SpecBuilder {
    fn build(&self, machine_type: &str) -> Result<Vec<Box<dyn FlashDevice>>, String> {
        let spec = compat::spec_for_machine_type(&self.spec, machine_type);
        devices::create(&spec, self.drive.clone())
            .map(|d| vec![d])
            .map_err(|e| format!("cannot start the destination '{spec}': {e}"))
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
    // The spec of the running device: a `migrate` op with `to` changes it.
    let mut current = spec.clone();
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
            Op::Migrate { to } => match migrate(dev.as_ref(), &current, to.as_deref()) {
                Ok((next, next_spec)) => {
                    dev = next;
                    current = next_spec;
                }
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

#[cfg(test)]
mod tests {
    use super::*;

    const CFI01: &str = "cfi.pflash01,name=f0,num-blocks=4,sector-length=0x40000,width=4,\
                         device-width=2,id0=0x89,id1=0x18";

    fn run(spec: &str, ops: &[Op]) -> ReplayOutput {
        let spec = DeviceSpec::parse(spec).unwrap();
        let len = devices::image_size(&spec).unwrap();
        replay(&spec, BlockBackend::memory(len, 0xFF, true), ops).unwrap()
    }

    #[test]
    fn migrate_goes_through_the_stream_and_loses_romd_as_qemu_does() {
        let ops = [
            Op::Write {
                addr: 0x154,
                width: 4,
                val: 0x98,
            },
            Op::Read {
                addr: 0x40,
                width: 4,
            },
            Op::Migrate { to: None },
            Op::Read {
                addr: 0x40,
                width: 4,
            },
        ];
        let out = run(CFI01, &ops);
        assert_eq!(out.reads(), vec![(1, 0x0051_0051), (3, 0xFFFF_FFFF)]);
        assert!(out.trace[2].get("refused").is_none());
    }

    #[test]
    fn a_refused_migration_is_recorded_and_the_source_continues() {
        let ops = [
            Op::Write {
                addr: 0,
                width: 4,
                val: 0x90,
            },
            Op::Migrate {
                to: Some("cfi.pflash02".into()),
            },
            Op::Read { addr: 0, width: 4 },
        ];
        // Legacy mode: the properties suit a cfi.pflash02 destination too.
        let legacy = "cfi.pflash01,name=f0,num-blocks=4,sector-length=0x40000,width=4,id0=0x89";
        let out = run(legacy, &ops);
        let refused = out.trace[1]["refused"].as_str().unwrap();
        assert!(
            refused.starts_with("Unknown savevm section or instance 'pflash_cfi01' 0."),
            "{refused}"
        );
        // The source continued: the same reads as without the migration.
        let reference = run(legacy, &[ops[0].clone(), ops[2].clone()]);
        assert_eq!(out.reads()[0].1, reference.reads()[0].1);
        assert_eq!(out.reads()[0].1, 0x8900);
    }

    #[test]
    fn migrate_to_another_release_follows_the_machine_types() {
        let read = |addr| Op::Read { addr, width: 4 };
        let to = |t: &str| Op::Migrate {
            to: Some(t.to_string()),
        };
        let ops = [
            Op::Write {
                addr: 0x154,
                width: 4,
                val: 0x98,
            },
            to("parallel-nor-cfi01-flash"),
            read(0x40),
            to("cfi.pflash01"),
            read(0x40),
        ];
        let out = run(CFI01, &ops);
        assert!(out.trace.iter().all(|e| e.get("refused").is_none()));
        // v6 restores the read mode from the v5 stream; back on v5 (the v6
        // destination switched to nor-5.0) ROMD is lost again, as in QEMU.
        assert_eq!(out.reads(), vec![(2, 0x0051_0051), (4, 0xFFFF_FFFF)]);
        // A v6 device on nor-6.0 cannot go back to v5.
        let v6 = CFI01.replacen("cfi.pflash01", "parallel-nor-cfi01-flash", 1);
        let out = run(&v6, &[to("cfi.pflash01"), read(0)]);
        let refused = out.trace[0]["refused"].as_str().unwrap();
        assert!(
            refused.starts_with("Machine type received is 'nor-6.0' and local is 'nor-5.0'"),
            "{refused}"
        );
        // With the compat property it can.
        let out = run(
            &format!("{v6},x-legacy-migration=on"),
            &[to("cfi.pflash01"), read(0)],
        );
        assert!(out.trace[0].get("refused").is_none());
    }
}
