//! Streams crossing between real QEMU 7.2 and the models through
//! `norcompat replay`'s stream options, on every real board: QEMU's
//! whole-VM stream taken at a random point of a random sequence loads into
//! v5 (`--incoming`) and v5 continues exactly as QEMU does after loading its
//! own stream; v6 loads it too (cfi01: losslessly, continuing as the source
//! that never migrated). Streams that v5 and v6 under the compat machine
//! type write (`--outgoing`, `--machine-type`) load into QEMU, which then
//! continues as v5 does after loading the same stream.
//!
//! Needs real QEMU (`bash scripts/setup-qemu.sh`); without it the tests say
//! why and return, unless `NORCOMPAT_REQUIRE_QEMU=1` (CI), where they fail.

use devices::BlockBackend;
use harness::definitions::emulators::locate;
use harness::definitions::project::{default_root, Project};
use harness::definitions::versions::Version;
use harness::generation::generator::TrialOp;
use harness::qemu::Launch;
use harness::running::qemu_machine::Images;
use harness::running::qemu_machine::QemuMachine;
use harness::running::replay::{replay_with, StreamOptions};
use std::sync::Arc;

/// Seeds per (board, device).
const SEEDS: u64 = 3;

/// (board, scenario, scenario device index, section instance on the board).
const CASES: &[(&str, &str, usize, u32)] = &[
    ("virt", "cfi01-program", 0, 0),
    ("virt", "cfi01-program", 1, 1),
    ("versatilepb", "cfi01-legacy", 0, 0),
    ("musicpal", "cfi02-suspend", 0, 0),
    ("xilinx-zynq-a9", "cfi02-x8", 0, 0),
];

fn require_qemu() -> bool {
    std::env::var("NORCOMPAT_REQUIRE_QEMU").is_ok_and(|v| v == "1")
}

fn version(p: &Project, board: &str, name: &str) -> Arc<Version> {
    p.version(&format!("{board}-{name}"))
        .unwrap_or_else(|| panic!("machines/{board}/{name}.toml"))
        .clone()
}

/// The board's real version and its launch, or `None` (why printed) when
/// QEMU is not usable here and CI does not require it.
fn real(p: &Project, board: &str) -> Option<(Arc<Version>, Launch)> {
    let v = version(p, board, "qemu-7.2");
    match locate(v.emulator.as_ref().expect("[emulator]"), &v.machine_type) {
        Ok(l) => Some((v, l.launch)),
        Err(why) if !require_qemu() => {
            eprintln!("skipped: real QEMU is not usable ({why}); set up with `bash scripts/setup-qemu.sh`");
            None
        }
        Err(why) => panic!("NORCOMPAT_REQUIRE_QEMU=1 but real QEMU is not usable: {why}"),
    }
}

/// A scenario sequence cut at its migration point, keeping the ops of one
/// device (and the clock and reset ops), as single-device ops.
fn sequence(p: &Project, scenario: &str, dev: usize, seed: u64) -> (Vec<TrialOp>, Vec<TrialOp>) {
    let s = p.scenario(scenario).expect("scenario");
    let ops = harness::generation::sequences::sequence(p, s, seed, 1).ops;
    let keep = |o: &TrialOp| match o {
        TrialOp::Write { dev: d, .. } | TrialOp::Read { dev: d, .. } => *d == dev,
        _ => true,
    };
    let at = ops
        .iter()
        .position(|o| matches!(o, TrialOp::Migrate { .. }))
        .expect("a migration point");
    let one = |o: &TrialOp| match o.clone() {
        TrialOp::Write {
            addr, width, val, ..
        } => TrialOp::Write {
            dev: 0,
            addr,
            width,
            val,
        },
        TrialOp::Read { addr, width, .. } => TrialOp::Read {
            dev: 0,
            addr,
            width,
        },
        other => other,
    };
    (
        ops[..at].iter().filter(|o| keep(o)).map(one).collect(),
        ops[at + 1..].iter().filter(|o| keep(o)).map(one).collect(),
    )
}

/// Reads of `ops` on a running QEMU, in op order.
fn qemu_reads(m: &mut QemuMachine, ops: &[TrialOp]) -> Vec<u64> {
    ops.iter()
        .filter_map(|o| m.apply(o).unwrap_or_else(|e| panic!("{o}: {e}")))
        .collect()
}

/// Reads of a replay trace from op index `from` on.
fn replay_reads(trace: &[serde_json::Value], from: usize) -> Vec<u64> {
    trace
        .iter()
        .filter(|e| e["op"] == "read" && e["i"].as_u64().is_some_and(|i| i as usize >= from))
        .map(|e| e["val"].as_u64().expect("a read value"))
        .collect()
}

fn device_of(v: &Version, scenario_dev: &str) -> (usize, devices::DeviceSpec) {
    let i = v
        .devices
        .iter()
        .position(|d| d.id == scenario_dev)
        .expect("the device");
    (i, v.devices[i].spec.clone())
}

#[test]
fn qemu_streams_load_into_the_models_and_continue_as_qemu_does() {
    let p = Project::load(&default_root()).expect("project");
    let (mut compared, mut lossy) = (0, 0);
    for &(board, scenario, dev, instance) in CASES {
        let Some((q, launch)) = real(&p, board) else {
            return;
        };
        let id = p.scenario(scenario).unwrap().devices[dev].clone();
        let (qi, _) = device_of(&q, &id);
        for seed in 0..SEEDS {
            let (prefix, suffix) = sequence(&p, scenario, dev, seed);
            let what = format!("{board} {id} {scenario} seed {seed}");
            // The source: prefix, save, continue without migrating.
            let mut src = QemuMachine::start(
                &launch,
                &q,
                &q.machine_type,
                &[qi],
                Images::fresh(&q).unwrap(),
                false,
            )
            .expect("QEMU starts");
            qemu_reads(&mut src, &prefix);
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("stream.bin");
            let stream = src.save(&path).expect("QEMU migrates");
            let images = src.images.read().unwrap();
            src.resume().unwrap();
            let continued = qemu_reads(&mut src, &suffix);
            // QEMU loading its own stream.
            let dst_images = Images::with_contents(&q, &images).unwrap();
            let mut dst = QemuMachine::start(&launch, &q, &q.machine_type, &[qi], dst_images, true)
                .expect("QEMU starts");
            dst.load(&path)
                .unwrap_or_else(|e| panic!("{what}: QEMU refused its own stream: {e:?}"));
            let loaded = qemu_reads(&mut dst, &suffix);
            let ops: Vec<TrialOp> = suffix.to_vec();
            for model in ["v5", "v6"] {
                let v = version(&p, board, model);
                let (mi, spec) = device_of(&v, &id);
                let image =
                    BlockBackend::memory_from(devices::Storage::from_bytes(&images[mi].1), true);
                let out = replay_with(
                    &spec,
                    image,
                    &ops,
                    &StreamOptions {
                        incoming: Some(stream.clone()),
                        instance,
                        ..StreamOptions::default()
                    },
                )
                .unwrap_or_else(|e| panic!("{what}: {model} cannot load QEMU's stream: {e}"));
                let got = replay_reads(&out.trace, 0);
                // v6 restores what the cfi01 section carries (the read
                // mode included): it continues as the source did. A cfi02
                // has no section in 7.2: every release restarts it.
                let want = if model == "v6" && spec.type_name.contains("cfi01") {
                    &continued
                } else {
                    &loaded
                };
                assert_eq!(&got, want, "{what}: {model} after loading QEMU's stream");
                compared += got.len();
            }
            lossy += usize::from(loaded != continued);
        }
    }
    if compared > 0 {
        // The sequences must reach states where QEMU's own migration loses
        // something, or the check above could not tell v5 from v6.
        assert!(compared > 100, "only {compared} reads compared");
        assert!(lossy > 0, "no seed migrated in a state QEMU 7.2 loses");
    }
}

#[test]
fn model_streams_load_into_qemu_which_continues_as_v5_does() {
    let p = Project::load(&default_root()).expect("project");
    for &(board, scenario, dev, instance) in CASES {
        let Some((q, launch)) = real(&p, board) else {
            return;
        };
        let id = p.scenario(scenario).unwrap().devices[dev].clone();
        let (qi, _) = device_of(&q, &id);
        for seed in 0..SEEDS {
            let (prefix, suffix) = sequence(&p, scenario, dev, seed);
            for model in ["v5", "v6-compat"] {
                let what = format!("{board} {id} {scenario} seed {seed} from {model}");
                let v = version(&p, board, model);
                let (mi, spec) = device_of(&v, &id);
                let dir = tempfile::tempdir().unwrap();
                let mut ops: Vec<TrialOp> = prefix.to_vec();
                ops.push(TrialOp::MIGRATE);
                let size = v.devices[mi].image_size;
                replay_with(
                    &spec,
                    BlockBackend::memory(size, 0x00, true),
                    &ops,
                    &StreamOptions {
                        outgoing: Some(dir.path().to_path_buf()),
                        machine_type: Some(q.machine_type.clone()),
                        instance,
                        ..StreamOptions::default()
                    },
                )
                .unwrap_or_else(|e| panic!("{what}: {e}"));
                let path = dir.path().join(format!("op{}.bin", ops.len() - 1));
                let stream = std::fs::read(&path).expect("the outgoing stream");
                // QEMU loads it (zero images: every page is in the stream).
                let mut dst = QemuMachine::start(
                    &launch,
                    &q,
                    &q.machine_type,
                    &[qi],
                    Images::fresh(&q).unwrap(),
                    true,
                )
                .expect("QEMU starts");
                dst.load(&path)
                    .unwrap_or_else(|e| panic!("{what}: QEMU refused the model's stream: {e:?}"));
                let on_qemu = qemu_reads(&mut dst, &suffix);
                // v5 loads the same stream.
                let v5 = version(&p, board, "v5");
                let (_, v5_spec) = device_of(&v5, &id);
                let out = replay_with(
                    &v5_spec,
                    BlockBackend::memory(size, 0x00, true),
                    &suffix.to_vec(),
                    &StreamOptions {
                        incoming: Some(stream),
                        instance,
                        ..StreamOptions::default()
                    },
                )
                .unwrap_or_else(|e| panic!("{what}: v5 cannot load the stream: {e}"));
                assert_eq!(
                    on_qemu,
                    replay_reads(&out.trace, 0),
                    "{what}: QEMU vs v5 after the load"
                );
                assert!(!on_qemu.is_empty() || suffix.is_empty(), "{what}: no reads");
            }
        }
    }
}
