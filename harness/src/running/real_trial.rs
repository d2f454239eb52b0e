//! Trials whose chain includes a real emulator build. Real machines cannot
//! fork, so the reference run saves a stream (and copies its images, a
//! storage copy) at every migration point and continues (QEMU may `cont`
//! after migrating): one reference run per (scenario, seed) gives every
//! chain its starting stream. Streams cross between models and QEMU in
//! every direction: a model loads QEMU's whole-VM stream after the other
//! devices' sections and RAM blocks are removed (with the help of the JSON
//! description QEMU appends); QEMU loads a model's flash-only stream.

use crate::definitions::emulators::locate;
use crate::definitions::versions::{Version, MODEL_PAGE_BITS};
use crate::generation::generator::TrialOp;
use crate::qemu::{Launch, QemuError};
use crate::running::board::Board;
use crate::running::observation::{End, Hop, Observation, Observed};
use crate::running::qemu_machine::{Images, LoadError, QemuMachine};
use devices::migration::foreign;
use devices::{BlockBackend, Storage};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Where real trials spend their time, summed over every trial of the
/// process (microseconds): for `norcompat bench`.
pub struct Timings {
    pub start_us: AtomicU64,
    pub ops_us: AtomicU64,
    pub migration_us: AtomicU64,
    pub compare_us: AtomicU64,
    /// Creating, copying and reading image files.
    pub images_us: AtomicU64,
    pub ops: AtomicU64,
    pub starts: AtomicU64,
}

/// The process-wide [`Timings`].
pub static TIMINGS: Timings = Timings {
    start_us: AtomicU64::new(0),
    ops_us: AtomicU64::new(0),
    migration_us: AtomicU64::new(0),
    compare_us: AtomicU64::new(0),
    images_us: AtomicU64::new(0),
    ops: AtomicU64::new(0),
    starts: AtomicU64::new(0),
};

impl Timings {
    /// The sums as JSON, and resets them.
    pub fn take(&self) -> serde_json::Value {
        let t = |a: &AtomicU64| a.swap(0, Ordering::Relaxed);
        serde_json::json!({
            "start_s": t(&self.start_us) as f64 / 1e6,
            "ops_s": t(&self.ops_us) as f64 / 1e6,
            "migration_s": t(&self.migration_us) as f64 / 1e6,
            "compare_s": t(&self.compare_us) as f64 / 1e6,
            "images_s": t(&self.images_us) as f64 / 1e6,
            "ops": t(&self.ops),
            "qemu_starts": t(&self.starts),
        })
    }
}

fn timed<T>(counter: &AtomicU64, f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let r = f();
    counter.fetch_add(t.elapsed().as_micros() as u64, Ordering::Relaxed);
    r
}

/// A machine's state at a migration point, ready to go anywhere.
struct Saved {
    from: Arc<Version>,
    /// The outgoing stream: QEMU's own for a real source, the model's
    /// capability-free stream for a model.
    stream: Vec<u8>,
    /// The images at that point, by device id (a storage copy).
    images: Vec<(String, Vec<u8>)>,
    /// The machine type the stream carries.
    machine_type: String,
}

/// The reference run on the chain's source.
pub struct RealReference {
    pub reads: Vec<(usize, u64)>,
    points: Vec<Saved>,
    pub end: End,
}

impl RealReference {
    /// The stream saved at each migration point, in order.
    pub fn streams(&self) -> impl Iterator<Item = &[u8]> {
        self.points.iter().map(|p| p.stream.as_slice())
    }
}

/// A running machine of either kind.
enum Running {
    Model(Board),
    Real(Box<QemuMachine>),
}

/// Why a real run could not go on: the trial is `crashed`, with QEMU's
/// stderr in the reason.
#[derive(Debug)]
pub struct RunError(pub String);

impl From<QemuError> for RunError {
    fn from(e: QemuError) -> RunError {
        RunError(e.to_string())
    }
}

fn launch_of(v: &Version, machine_type: &str) -> Result<Launch, RunError> {
    let e = v
        .emulator
        .as_ref()
        .ok_or_else(|| RunError(format!("{} is not a real emulator", v.name)))?;
    locate(e, machine_type)
        .map(|l| l.launch)
        .map_err(|r| RunError(format!("{}: QEMU not usable: {r}", v.name)))
}

fn target_indices(v: &Version, targets: &[String]) -> Result<Vec<usize>, RunError> {
    targets
        .iter()
        .map(|id| {
            v.devices
                .iter()
                .position(|d| &d.id == id)
                .ok_or_else(|| RunError(format!("version {} has no device '{id}'", v.name)))
        })
        .collect()
}

/// QEMU's stream with only the flash sections and RAM blocks of `v`'s
/// devices, re-paged to `page_bits` (`Some(12)` for a model destination;
/// `None` keeps QEMU's pages, for a QEMU of the same target).
fn flash_only_paged(v: &Version, stream: &[u8], page_bits: Option<u32>) -> Result<Vec<u8>, String> {
    let board = Board::plain(&Arc::new(v.clone()), &[], None)?;
    let blocks: Vec<String> = board
        .devices()
        .iter()
        .map(|d| d.ram_block_name().to_string())
        .collect();
    let sections = section_ids(&board);
    foreign::flash_only_with(
        stream,
        &|idstr| sections.iter().any(|s| s == idstr),
        &|name| blocks.iter().any(|b| b == name),
        &foreign::FlashOnlyOptions {
            target_page_bits: page_bits,
        },
    )
    .map(|f| f.stream)
    .map_err(|e| format!("cannot take the flash sections out of the stream: {e}"))
}

/// One flash device's section in a saved stream: what the device put on
/// the wire.
#[derive(Clone, Debug, PartialEq)]
pub struct WireSection {
    pub idstr: String,
    pub instance: u32,
    pub version: u32,
    pub data: Vec<u8>,
    /// The fields, flattened to `name` / `subsection.name` paths.
    pub fields: Vec<(String, serde_json::Value)>,
}

/// The id strings of the sections a board's flash devices send.
fn section_ids(board: &Board) -> Vec<String> {
    board
        .devices()
        .iter()
        .flat_map(|d| {
            d.vmstate_entries()
                .into_iter()
                .map(|e| e.idstr().to_string())
        })
        .collect()
}

/// The flash devices' sections of `v` in `stream`, in stream order.
pub fn flash_sections(v: &Version, stream: &[u8]) -> Result<Vec<WireSection>, String> {
    let ids = section_ids(&Board::plain(&Arc::new(v.clone()), &[], None)?);
    let info = foreign::analyze(stream).map_err(|e| format!("reading {}'s stream: {e}", v.name))?;
    Ok(info
        .sections
        .iter()
        .filter(|s| ids.contains(&s.idstr))
        .map(|s| {
            let mut fields = Vec::new();
            if let Some(d) = &s.decoded {
                flatten("", &d.to_json()["fields"], &mut fields);
            }
            WireSection {
                idstr: s.idstr.clone(),
                instance: s.instance,
                version: s.version,
                data: stream[s.data_offset..s.data_offset + s.data_len].to_vec(),
                fields,
            }
        })
        .collect())
}

/// Leaves of a decoded section as (`a.b`, value).
fn flatten(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, serde_json::Value)>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&p, x, out);
            }
        }
        _ => out.push((prefix.to_string(), v.clone())),
    }
}

/// What a model of `v` keeps of QEMU's whole-VM stream.
fn flash_only_for(v: &Version, stream: &[u8]) -> Result<Vec<u8>, String> {
    flash_only_paged(v, stream, Some(MODEL_PAGE_BITS))
}

/// A model machine of `v` on `images`, without capabilities.
fn model_on(
    v: &Arc<Version>,
    targets: &[String],
    images: &[(String, Vec<u8>)],
) -> Result<Board, String> {
    let backends = v
        .devices
        .iter()
        .zip(images)
        .map(|(d, (_, bytes))| BlockBackend::memory_from(Storage::from_bytes(bytes), !d.read_only))
        .collect();
    Board::plain(v, targets, Some(backends))
}

impl Running {
    fn start(v: &Arc<Version>, targets: &[String]) -> Result<Running, RunError> {
        if v.is_real() {
            let launch = launch_of(v, &v.machine_type)?;
            let idx = target_indices(v, targets)?;
            let images = timed(&TIMINGS.images_us, || Images::fresh(v))?;
            TIMINGS.starts.fetch_add(1, Ordering::Relaxed);
            let q = timed(&TIMINGS.start_us, || {
                QemuMachine::start(&launch, v, &v.machine_type, &idx, images, false)
            })?;
            Ok(Running::Real(Box::new(q)))
        } else {
            Ok(Running::Model(
                Board::plain(v, targets, None).map_err(RunError)?,
            ))
        }
    }

    fn apply(&mut self, op: &TrialOp) -> Result<Option<u64>, RunError> {
        match self {
            Running::Model(b) => Ok(b.apply(op)),
            Running::Real(q) => {
                TIMINGS.ops.fetch_add(1, Ordering::Relaxed);
                Ok(timed(&TIMINGS.ops_us, || q.apply(op))?)
            }
        }
    }

    /// Saves the state (a real machine stops, migrates and continues).
    fn save(&mut self, scratch: &Path) -> Result<Saved, RunError> {
        match self {
            Running::Model(b) => Ok(Saved {
                from: b.version.clone(),
                // A plain board: no capabilities, sections numbered as
                // the board's QEMU numbers them.
                stream: b.machine.save(),
                images: b
                    .images()
                    .into_iter()
                    .map(|(id, s)| (id, s.map(|s| s.to_vec()).unwrap_or_default()))
                    .collect(),
                machine_type: b.machine.machine_type.clone(),
            }),
            Running::Real(q) => {
                let stream = timed(&TIMINGS.migration_us, || {
                    q.save(&scratch.join("stream.bin"))
                })?;
                let images = timed(&TIMINGS.images_us, || q.images.read())?;
                q.resume()?;
                Ok(Saved {
                    from: q.version.clone(),
                    stream,
                    images,
                    machine_type: q.machine_type.clone(),
                })
            }
        }
    }

    /// The arrays and images at the end (a real machine saves a final
    /// stream: its RAM blocks are the arrays).
    fn end(&mut self, scratch: &Path) -> Result<End, RunError> {
        match self {
            // Chains through a real version compare what QEMU can show:
            // canonical states are left out on either side.
            Running::Model(b) => Ok(End {
                version: b.version.clone(),
                arrays: b.arrays(),
                images: b.images(),
                states: None,
            }),
            Running::Real(q) => {
                let stream = timed(&TIMINGS.compare_us, || q.save(&scratch.join("end.bin")))?;
                let images = timed(&TIMINGS.images_us, || q.images.read())?;
                let v = q.version.clone();
                // The final stream's flash RAM blocks are the arrays.
                let arrays = timed(&TIMINGS.compare_us, || {
                    let flash = flash_only_for(&v, &stream).map_err(RunError)?;
                    let mut model = model_on(&v, &[], &images).map_err(RunError)?;
                    model.machine.load_into(&flash).map_err(|e| {
                        RunError(format!("reading the final stream of {}: {e}", v.name))
                    })?;
                    Ok::<_, RunError>(model.arrays())
                })?;
                Ok(End {
                    version: v,
                    arrays,
                    images: images
                        .into_iter()
                        .map(|(id, b)| (id, Some(Storage::from_bytes(&b))))
                        .collect(),
                    states: None,
                })
            }
        }
    }
}

/// Loads `saved` into a fresh machine of `dst`: `Ok(Err(reason))` when the
/// destination refuses it.
/// A trial's reason starts with this when the whole-VM stream was refused
/// by another device and the flash-only stream was judged instead.
pub const WHOLE_VM_REFUSED: &str = "whole-VM stream refused";

/// What a load did: the machine, or the destination's refusal. A real
/// destination that refused a real source's whole-VM stream because of a
/// device other than the flash gets the flash-only stream as well: the
/// flash's own compatibility is still judged, and the whole-VM refusal is
/// kept beside that verdict.
struct Loaded {
    result: Result<Running, String>,
    /// The whole-VM refusal when the flash-only stream was sent instead.
    whole_vm_refused: Option<String>,
}

fn load(
    saved: &Saved,
    dst: &Arc<Version>,
    targets: &[String],
    scratch: &Path,
) -> Result<Loaded, RunError> {
    let first = load_once(saved, &saved.stream, dst, targets, scratch)?;
    let Err(reason) = &first else {
        return Ok(Loaded {
            result: first,
            whole_vm_refused: None,
        });
    };
    if !(saved.from.is_real() && dst.is_real() && names_other_device(reason)) {
        return Ok(Loaded {
            result: first,
            whole_vm_refused: None,
        });
    }
    let flash = flash_only_stream(dst, &saved.stream).map_err(RunError)?;
    let second = load_once(saved, &flash, dst, targets, scratch)?;
    Ok(Loaded {
        result: second,
        whole_vm_refused: Some(reason.clone()),
    })
}

/// True if QEMU's refusal names a section or command that is not the
/// flash's: `… of device 'cpu'`, `section id 0(timer)`, `MIG_CMD 0xb
/// unknown`, `musicpal_key: incoming version_id …`.
pub fn names_other_device(reason: &str) -> bool {
    const FLASH: &[&str] = &["pflash_cfi01", "ram", "configuration"];
    if reason.contains("MIG_CMD") {
        return true;
    }
    let named = |after: &str, until: char| -> Vec<String> {
        reason
            .match_indices(after)
            .filter_map(|(i, _)| {
                let rest = &reason[i + after.len()..];
                rest.find(until).map(|end| rest[..end].to_string())
            })
            .collect()
    };
    let mut devices = named("of device '", '\'');
    devices.extend(named("(", ')'));
    devices.extend(
        reason
            .split("; ")
            .filter_map(|part| part.split_once(": incoming version_id"))
            .map(|(d, _)| d.trim().to_string()),
    );
    devices.iter().any(|d| !FLASH.contains(&d.as_str()))
}

/// The flash-only stream for a QEMU of the same target (its own pages).
fn flash_only_stream(v: &Version, stream: &[u8]) -> Result<Vec<u8>, String> {
    flash_only_paged(v, stream, None)
}

fn load_once(
    saved: &Saved,
    stream: &[u8],
    dst: &Arc<Version>,
    targets: &[String],
    scratch: &Path,
) -> Result<Result<Running, String>, RunError> {
    if dst.is_real() {
        let launch = launch_of(dst, &dst.machine_type)?;
        let idx = target_indices(dst, targets)?;
        let images = timed(&TIMINGS.images_us, || {
            Images::with_contents(dst, &saved.images)
        })?;
        let path = scratch.join("incoming.bin");
        let bits = dst
            .emulator
            .as_ref()
            .map_or(MODEL_PAGE_BITS, |e| e.target_page_bits);
        let stream = if !saved.from.is_real() && bits != MODEL_PAGE_BITS {
            // A model writes 4 KiB pages; this board's QEMU reads its own.
            foreign::flash_only_with(
                stream,
                &|_| true,
                &|_| true,
                &foreign::FlashOnlyOptions {
                    target_page_bits: Some(bits),
                },
            )
            .map_err(|e| RunError(format!("re-paging the model's stream: {e}")))?
            .stream
        } else {
            stream.to_vec()
        };
        std::fs::write(&path, &stream).map_err(|e| RunError(format!("{}: {e}", path.display())))?;
        TIMINGS.starts.fetch_add(1, Ordering::Relaxed);
        let mut q = timed(&TIMINGS.start_us, || {
            QemuMachine::start(&launch, dst, &dst.machine_type, &idx, images, true)
        })?;
        match timed(&TIMINGS.migration_us, || q.load(&path)) {
            Ok(()) => {
                if saved.machine_type != q.machine_type {
                    q.machine_type.clone_from(&saved.machine_type);
                }
                Ok(Ok(Running::Real(Box::new(q))))
            }
            Err(LoadError::Refused(reason)) => Ok(Err(reason)),
            Err(LoadError::Failed(e)) => Err(e.into()),
        }
    } else {
        let stream = if saved.from.is_real() {
            match flash_only_for(dst, stream) {
                Ok(s) => s,
                Err(reason) => return Ok(Err(reason)),
            }
        } else {
            stream.to_vec()
        };
        let mut b = model_on(dst, targets, &saved.images).map_err(RunError)?;
        match b.machine.load_into(&stream) {
            Ok(_) => Ok(Ok(Running::Model(b))),
            Err(f) => Ok(Err(f.to_string())),
        }
    }
}

fn scratch_dir() -> Result<tempfile::TempDir, RunError> {
    tempfile::Builder::new()
        .prefix("norcompat-run-")
        .tempdir()
        .map_err(|e| RunError(format!("scratch directory: {e}")))
}

/// The reference run on `source`: reads, a saved state at every migration
/// point, and the end.
pub fn run_reference(
    source: &Arc<Version>,
    targets: &[String],
    ops: &[TrialOp],
) -> Result<RealReference, RunError> {
    let scratch = scratch_dir()?;
    let mut m = Running::start(source, targets)?;
    let mut reads = Vec::new();
    let mut points = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        if matches!(op, TrialOp::Migrate) {
            points.push(m.save(scratch.path())?);
        } else if let Some(v) = m.apply(op)? {
            reads.push((i, v));
        }
    }
    let end = m.end(scratch.path())?;
    Ok(RealReference { reads, points, end })
}

/// Runs one trial along `chain` from the reference's saved states.
pub fn run_trial(
    chain: &[Arc<Version>],
    targets: &[String],
    ops: &[TrialOp],
    reference: &RealReference,
) -> Observation {
    let started = Instant::now();
    let r = match run_trial_inner(chain, targets, ops, reference) {
        Ok(r) => r,
        Err(RunError(reason)) => Observation::crashed(reason, &reference.reads),
    };
    r.with_total_us(started.elapsed().as_micros() as u64)
}

fn run_trial_inner(
    chain: &[Arc<Version>],
    targets: &[String],
    ops: &[TrialOp],
    reference: &RealReference,
) -> Result<Observation, RunError> {
    let scratch = scratch_dir()?;
    let start = ops
        .iter()
        .position(|o| matches!(o, TrialOp::Migrate))
        .unwrap_or(ops.len());
    let mut reads: Vec<(usize, u64)> = reference
        .reads
        .iter()
        .copied()
        .filter(|(i, _)| *i < start)
        .collect();
    // `None` while the machine is still the untouched source: its state at
    // every point is the reference's.
    let mut current: Option<Running> = None;
    let mut at = chain[0].clone();
    let machine_type = chain[0].machine_type.clone();
    let mut hop = 0;
    let mut refusals = Vec::new();
    let mut whole_vm: Vec<String> = Vec::new();
    let mut hops_loaded = Vec::new();
    let mut migrate_us = 0;
    for (i, op) in ops.iter().enumerate().skip(start) {
        if matches!(op, TrialOp::Migrate) {
            hop += 1;
            let dst = &chain[hop.min(chain.len() - 1)];
            let t = Instant::now();
            let owned;
            let saved = match current.as_mut() {
                None => &reference.points[hop - 1],
                Some(m) => {
                    owned = m.save(scratch.path())?;
                    &owned
                }
            };
            let loaded = load(saved, dst, targets, scratch.path())?;
            if let Some(reason) = loaded.whole_vm_refused {
                whole_vm.push(format!("{} -> {}: {reason}", at.name, dst.name));
            }
            match loaded.result {
                Ok(next) => {
                    hops_loaded.push(Hop {
                        from: at.clone(),
                        to: dst.clone(),
                    });
                    at = dst.clone();
                    current = Some(next);
                }
                // The source continues (while it is the untouched source,
                // it is the reference run itself).
                Err(reason) => {
                    refusals.push(format!("{} -> {} refused: {reason}", at.name, dst.name))
                }
            }
            migrate_us += t.elapsed().as_micros() as u64;
        } else if let Some(m) = current.as_mut() {
            if let Some(v) = m.apply(op)? {
                reads.push((i, v));
            }
        } else if let Some(r) = reference.reads.iter().find(|(j, _)| *j == i) {
            reads.push(*r);
        }
    }
    let end = match current.as_mut() {
        Some(m) => m.end(scratch.path())?,
        None => reference.end.clone(),
    };
    Ok(Observation::Ran(Box::new(Observed {
        reads,
        reference_reads: reference.reads.clone(),
        machine_type,
        loaded: hops_loaded,
        refusals,
        whole_vm_refusals: whole_vm,
        lost_at: None,
        reference_end: reference.end.clone(),
        end,
        migrate_us,
        total_us: 0,
    })))
}

#[cfg(test)]
mod tests {
    use super::names_other_device;

    #[test]
    fn refusals_naming_another_device_are_told_from_the_flashs_own() {
        // QEMU 10.0 -> 7.2 and 7.2 -> 10.0 on virt-7.2, 10.0 -> 7.2 on musicpal.
        assert!(names_other_device(
            "Invalid value 209 expecting positive value <= 197; Failed to load cpu:cpreg_vmstate_array_len; \
             error while loading state for instance 0x0 of device 'cpu'; load of migration failed: Invalid argument"
        ));
        assert!(names_other_device(
            "MIG_CMD 0xb unknown (len 0x0); load of migration failed: Invalid argument"
        ));
        assert!(names_other_device(
            "musicpal_key: incoming version_id 1 is too old for local minimum version_id  2; \
             error while loading state for instance 0x0 of device 'musicpal_key'"
        ));
        assert!(names_other_device(
            "timer: incoming version_id 0 is too old for local minimum version_id 1; \
             error while loading state section id 0(timer)"
        ));
        // The flash's own refusals, and the RAM's, are not.
        assert!(!names_other_device(
            "pflash_cfi01: incoming version_id 2 is too old; error while loading state for instance 0x0 of device 'pflash_cfi01'"
        ));
        assert!(!names_other_device(
            "Found a zero page with value 255; error while loading state section id 2(ram); load of migration failed: Invalid argument"
        ));
        assert!(!names_other_device(
            "Unknown ramblock \"virt.flash1\", cannot accept migration"
        ));
    }
}
