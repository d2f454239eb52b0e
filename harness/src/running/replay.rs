//! `norcompat replay`: run an op list on one device and produce the trace in
//! the format QEMU's qtest-driven tools write, so the two compare directly.

use crate::generation::ops::{op_to_json, TrialOp};
use crate::running::execute::apply_op;
use devices::catalogue::compat;
use devices::migration::foreign;
use devices::migration::stream::{save_stream, save_stream_encoded, PageEncoding};
use devices::migration::{Machine, MachineBuilder};
use devices::{BlockBackend, DeviceError, DeviceSpec, FlashDevice};
use serde_json::{json, Value};
use std::path::PathBuf;
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
    /// What `--incoming` loaded and skipped.
    pub incoming: Option<IncomingReport>,
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
            "incoming": self.incoming.as_ref().map(|r| json!({
                "machine_type": r.machine_type,
                "skipped_sections": r.skipped_sections,
                "skipped_blocks": r.skipped_blocks,
            })),
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
    load_fresh(&stream, spec, to, &dev.backend().clone(), None)
}

/// A fresh destination of type `to` (default: `spec`'s) with `spec`'s
/// properties on `drive`, started with the machine type the stream names
/// (its release's machine types are offered, and `extra` too), loading
/// `stream`.
fn load_fresh(
    stream: &[u8],
    spec: &DeviceSpec,
    to: Option<&str>,
    drive: &BlockBackend,
    extra: Option<&str>,
) -> Result<(Box<dyn FlashDevice>, DeviceSpec), String> {
    let base = spec.with_type(to.unwrap_or(&spec.type_name));
    let mut offered: Vec<String> = match compat::release_of(&base.type_name) {
        Some(release) => release
            .machine_types
            .iter()
            .map(|m| m.to_string())
            .collect(),
        None => vec![compat::machine_type_of(&base).to_string()],
    };
    if let Some(m) = extra {
        offered.insert(0, m.to_string());
    }
    let builder = Arc::new(SpecBuilder {
        spec: base.clone(),
        drive: drive.clone(),
    });
    let start = offered[0].clone();
    let devices = builder.build(&start)?;
    let mut dst = Machine::new(&start, devices).with_builder(offered, builder);
    dst.load_into(stream).map_err(|e| e.to_string())?;
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

/// The stream a `migrate` op writes for QEMU: `ram` numbered as QEMU
/// numbers it, the device's section addressed to its instance, pages of
/// the machine type's size.
fn outgoing_stream(
    dev: &dyn FlashDevice,
    machine_type: &str,
    streams: &StreamOptions,
) -> Result<Vec<u8>, String> {
    let bytes = save_stream_encoded(
        machine_type,
        &[dev],
        &[],
        QEMU_RAM_SECTION_ID,
        PageEncoding::Qemu,
    );
    let idstrs: Vec<String> = dev
        .vmstate_entries()
        .iter()
        .map(|e| e.idstr().to_string())
        .collect();
    let keep = |s: &str| idstrs.iter().any(|i| i == s);
    let bytes = foreign::select_instance(&bytes, &keep, 0, streams.instance)
        .map_err(|e| format!("outgoing stream: {e}"))?;
    let bits = streams
        .target_page_bits
        .unwrap_or_else(|| target_page_bits_of(machine_type));
    if bits == crate::definitions::versions::MODEL_PAGE_BITS {
        return Ok(bytes);
    }
    foreign::flash_only_with(
        &bytes,
        &|_| true,
        &|_| true,
        &foreign::FlashOnlyOptions {
            target_page_bits: Some(bits),
        },
    )
    .map(|f| f.stream)
    .map_err(|e| format!("outgoing stream: re-paging to {bits} bits: {e}"))
}

impl MachineBuilder for SpecBuilder {
    fn build(&self, machine_type: &str) -> Result<Vec<Box<dyn FlashDevice>>, String> {
        let spec = compat::spec_for_machine_type(&self.spec, machine_type);
        devices::create(&spec, self.drive.clone())
            .map(|d| vec![d])
            .map_err(|e| format!("cannot start the destination '{spec}': {e}"))
    }
}

/// Streams in a replay: one QEMU wrote, to load first; the ones migrate ops
/// write, kept for QEMU to load.
#[derive(Clone, Debug, Default)]
pub struct StreamOptions {
    /// A stream (QEMU's whole-VM stream, or a model's) loaded before the
    /// first op: the device takes its section instance [`Self::instance`]
    /// and the RAM block named by its `name`; the rest is skipped.
    pub incoming: Option<Vec<u8>>,
    /// The section instance the device is on its board (`virt.flash1`: 1).
    pub instance: u32,
    /// Each `migrate` op writes its stream here as `opN.bin`.
    pub outgoing: Option<PathBuf>,
    /// The machine type written into streams (and accepted from them).
    pub machine_type: Option<String>,
    /// Target page bits of the streams written to `outgoing` (default: the
    /// machine type's, [`target_page_bits_of`]).
    pub target_page_bits: Option<u32>,
}

/// QEMU's section id of `ram` in streams written for QEMU: QEMU finds a
/// `ram` record by the id its START gave, and 0 would name its `timer`.
pub const QEMU_RAM_SECTION_ID: u32 = 2;

/// The target page bits QEMU 7.2 uses for an ARM machine type: 12 on
/// `virt` (its `minimum_page_bits`), ARM's minimum of 10 elsewhere
/// (measured on musicpal, versatilepb and xilinx-zynq-a9); the model
/// releases' own machine types (`nor-*`) use 12.
pub fn target_page_bits_of(machine_type: &str) -> u32 {
    if machine_type == "virt"
        || machine_type.starts_with("virt-")
        || machine_type.starts_with("nor-")
    {
        12
    } else {
        10
    }
}

/// What loading `--incoming` did.
#[derive(Clone, Debug)]
pub struct IncomingReport {
    pub machine_type: String,
    /// `idstr instance` of every section skipped.
    pub skipped_sections: Vec<String>,
    /// RAM blocks skipped.
    pub skipped_blocks: Vec<String>,
}

/// Loads a stream into a fresh device of `spec` on `backend`: the device's
/// section instance `instance` and its RAM block; the rest is skipped.
pub fn load_incoming(
    spec: &DeviceSpec,
    backend: BlockBackend,
    bytes: &[u8],
    instance: u32,
    machine_type: Option<&str>,
) -> Result<(Box<dyn FlashDevice>, IncomingReport), String> {
    let probe = devices::create(spec, BlockBackend::none()).map_err(|e| e.to_string())?;
    let idstrs: Vec<String> = probe
        .vmstate_entries()
        .iter()
        .map(|e| e.idstr().to_string())
        .collect();
    let block = probe.ram_block_name().to_string();
    let info = foreign::analyze(bytes).map_err(|e| format!("incoming stream: {e}"))?;
    let received = info
        .configuration
        .as_ref()
        .map(|c| c.machine_type.clone())
        .ok_or(
            "incoming stream: no configuration section (QEMU: \"Configuration section missing\")",
        )?;
    if let Some(ram) = &info.ram {
        if !ram.blocks.iter().any(|b| b.name == block) {
            let names: Vec<&str> = ram.blocks.iter().map(|b| b.name.as_str()).collect();
            return Err(format!(
                "incoming stream has no RAM block '{block}' (the device's `name`); it has: {}",
                names.join(", ")
            ));
        }
    }
    let keep = |s: &str| idstrs.iter().any(|i| i == s);
    let flash = foreign::flash_only_with(
        bytes,
        &keep,
        &|b| b == block,
        &foreign::FlashOnlyOptions {
            target_page_bits: Some(crate::definitions::versions::MODEL_PAGE_BITS),
        },
    )
    .map_err(|e| format!("incoming stream: {e}"))?;
    let one = foreign::select_instance(&flash.stream, &keep, instance, 0)
        .map_err(|e| format!("incoming stream: {e}"))?;
    let mut skipped_sections: Vec<String> = flash
        .skipped_sections
        .iter()
        .map(|s| format!("{} {}", s.idstr, s.instance))
        .collect();
    skipped_sections.extend(
        info.sections
            .iter()
            .filter(|s| keep(&s.idstr) && s.instance != instance)
            .map(|s| format!("{} {}", s.idstr, s.instance)),
    );
    let mt = machine_type.unwrap_or(&received).to_string();
    let (dev, _) = load_fresh(&one, spec, None, &backend, Some(&mt))?;
    Ok((
        dev,
        IncomingReport {
            machine_type: mt,
            skipped_sections,
            skipped_blocks: flash
                .skipped_blocks
                .iter()
                .map(|b| b.name.clone())
                .collect(),
        },
    ))
}

/// Replays `ops` on a device built from `spec` with `backend`.
/// Ops must already be validated against the device window ([`crate::generation::ops::parse_ops`]).
pub fn replay(
    spec: &DeviceSpec,
    backend: BlockBackend,
    ops: &[TrialOp],
) -> Result<ReplayOutput, ReplayError> {
    replay_with(spec, backend, ops, &StreamOptions::default())
}

/// Why a replay could not run.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Device(#[from] DeviceError),
    /// An incoming stream that cannot be loaded, or an outgoing one that
    /// cannot be written.
    #[error("{0}")]
    Stream(String),
}

impl From<String> for ReplayError {
    fn from(s: String) -> ReplayError {
        ReplayError::Stream(s)
    }
}

/// [`replay`] with streams in and out.
pub fn replay_with(
    spec: &DeviceSpec,
    backend: BlockBackend,
    ops: &[TrialOp],
    streams: &StreamOptions,
) -> Result<ReplayOutput, ReplayError> {
    let mut incoming = None;
    let mut dev = match &streams.incoming {
        Some(bytes) => {
            let (dev, report) = load_incoming(
                spec,
                backend,
                bytes,
                streams.instance,
                streams.machine_type.as_deref(),
            )?;
            incoming = Some(report);
            dev
        }
        None => devices::create(spec, backend)?,
    };
    // The machine type streams carry: given, or the incoming stream's.
    let machine_type = streams
        .machine_type
        .clone()
        .or_else(|| incoming.as_ref().map(|r| r.machine_type.clone()));
    // The spec of the running device: a `migrate` op with `to` changes it.
    let mut current = spec.clone();
    let mut trace = Vec::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        let mut entry = op_to_json(op);
        entry["i"] = json!(i);
        match op {
            TrialOp::Read { width, .. } => {
                let v = apply_op(std::slice::from_mut(&mut dev), &[0], op).unwrap_or(0);
                entry["val"] = json!(v);
                entry["hex"] = json!(format!("0x{v:0w$x}", w = 2 * *width as usize));
            }
            TrialOp::Step { .. } => {
                apply_op(std::slice::from_mut(&mut dev), &[0], op);
                entry["clock"] = json!(dev.now());
            }
            TrialOp::Write { .. } | TrialOp::Reset => {
                apply_op(std::slice::from_mut(&mut dev), &[0], op);
            }
            TrialOp::Migrate { to, .. } => {
                let mt = machine_type
                    .clone()
                    .unwrap_or_else(|| compat::machine_type_of(&current).to_string());
                let stream = match &streams.outgoing {
                    None => save_stream(&mt, &[dev.as_ref()]),
                    Some(_) => outgoing_stream(dev.as_ref(), &mt, streams)?,
                };
                if let Some(dir) = &streams.outgoing {
                    let path = dir.join(format!("op{i}.bin"));
                    std::fs::write(&path, &stream)
                        .map_err(|e| format!("{}: {e}", path.display()))?;
                    entry["stream"] = json!(path.display().to_string());
                }
                let own = if streams.outgoing.is_some() {
                    save_stream(&mt, &[dev.as_ref()])
                } else {
                    stream
                };
                let drive = dev.backend().clone();
                match load_fresh(
                    &own,
                    &current,
                    to.as_deref(),
                    &drive,
                    machine_type.as_deref(),
                ) {
                    Ok((next, next_spec)) => {
                        dev = next;
                        current = next_spec;
                    }
                    // A refused migration leaves the source running, as in QEMU.
                    Err(reason) => entry["refused"] = json!(reason),
                }
            }
        }
        trace.push(entry);
    }
    Ok(ReplayOutput {
        device: spec.to_string(),
        incoming,
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

    fn run(spec: &str, ops: &[TrialOp]) -> ReplayOutput {
        let spec = DeviceSpec::parse(spec).unwrap();
        let len = devices::image_size(&spec).unwrap();
        replay(&spec, BlockBackend::memory(len, 0xFF, true), ops).unwrap()
    }

    #[test]
    fn migrate_goes_through_the_stream_and_loses_romd_as_qemu_does() {
        let ops = [
            TrialOp::Write {
                dev: 0,
                addr: 0x154,
                width: 4,
                val: 0x98,
            },
            TrialOp::Read {
                dev: 0,
                addr: 0x40,
                width: 4,
            },
            TrialOp::MIGRATE,
            TrialOp::Read {
                dev: 0,
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
            TrialOp::Write {
                dev: 0,
                addr: 0,
                width: 4,
                val: 0x90,
            },
            TrialOp::Migrate {
                to: Some("cfi.pflash02".into()),
                own_drives: false,
            },
            TrialOp::Read {
                dev: 0,
                addr: 0,
                width: 4,
            },
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
        let read = |addr| TrialOp::Read {
            dev: 0,
            addr,
            width: 4,
        };
        let to = |t: &str| TrialOp::Migrate {
            to: Some(t.to_string()),
            own_drives: false,
        };
        let ops = [
            TrialOp::Write {
                dev: 0,
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
