//! A real version's running machine: one QEMU process on the version's board
//! with its flash images in files, driven by trial ops through qtest and
//! migrated through QEMU's own stream with QMP.

use crate::definitions::emulators::locate;
use crate::definitions::losses::DeviceLoss;
use crate::definitions::versions::Version;
use crate::definitions::versions::MODEL_PAGE_BITS;
use crate::generation::generator::TrialOp;
use crate::qemu::process::{qtest_args, Launch, QemuProcess};
use crate::qemu::QemuError;
use crate::running::board::Board;
use crate::running::machine::{Drives, Refusal, RunError, Saved, Scratch, VersionMachine};
use crate::running::observation::End;
use crate::running::streams::flash_only_for;
use devices::migration::foreign;
use devices::Storage;
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often a migration's progress is polled.
const MIGRATION_POLL: Duration = Duration::from_millis(2);

/// The flash images of one machine, as files in a private directory
/// (on `/dev/shm` where it exists: QEMU writes every program and erase
/// through, and a `virt` board has 128 MiB of flash).
#[derive(Debug)]
pub struct Images {
    /// Keeps the directory (and the files) until the images drop.
    _dir: tempfile::TempDir,
    /// Device id → image file, in the version's device order.
    pub files: Vec<(String, PathBuf)>,
}

fn image_dir() -> Result<tempfile::TempDir, QemuError> {
    let shm = Path::new("/dev/shm");
    let b = tempfile::Builder::new().prefix("norcompat-img-").clone();
    let r = if shm.is_dir() {
        b.tempdir_in(shm)
    } else {
        b.tempdir()
    };
    r.map_err(|e| QemuError::Start(format!("image directory: {e}")))
}

impl Images {
    /// Fresh images filled with each device's `fill` byte.
    pub fn fresh(version: &Version) -> Result<Images, QemuError> {
        Images::create(version, |i, f| {
            let d = &version.devices[i];
            if d.fill == 0 {
                return f.set_len(d.image_size);
            }
            let mut w = std::io::BufWriter::new(f);
            let chunk = vec![d.fill; 1 << 16];
            let mut left = d.image_size;
            while left > 0 {
                let n = left.min(chunk.len() as u64) as usize;
                w.write_all(&chunk[..n])?;
                left -= n as u64;
            }
            w.flush()
        })
    }

    /// Images holding `contents` (by device, in the version's order): a
    /// storage copy taken at a migration point.
    pub fn with_contents(
        version: &Version,
        contents: &[(String, Vec<u8>)],
    ) -> Result<Images, QemuError> {
        Images::create(version, |i, mut f| {
            f.write_all(contents.get(i).map_or(&[][..], |(_, b)| b.as_slice()))
        })
    }

    /// One file per device in a private directory, written by `write`.
    fn create(
        version: &Version,
        write: impl Fn(usize, std::fs::File) -> std::io::Result<()>,
    ) -> Result<Images, QemuError> {
        let dir = image_dir()?;
        let mut files = Vec::new();
        for (i, d) in version.devices.iter().enumerate() {
            let path = dir.path().join(format!("{}.img", d.id));
            std::fs::File::create(&path)
                .and_then(|f| write(i, f))
                .map_err(|e| QemuError::Start(format!("{}: {e}", path.display())))?;
            files.push((d.id.clone(), path));
        }
        Ok(Images { _dir: dir, files })
    }

    /// The contents of every image, by device id.
    pub fn read(&self) -> Result<Vec<(String, Vec<u8>)>, QemuError> {
        self.files
            .iter()
            .map(|(id, p)| {
                std::fs::read(p)
                    .map(|b| (id.clone(), b))
                    .map_err(|e| QemuError::Start(format!("{}: {e}", p.display())))
            })
            .collect()
    }
}

/// A running real machine.
#[derive(Debug)]
pub struct QemuMachine {
    pub version: Arc<Version>,
    pub process: QemuProcess,
    /// The machine type it was started with (`-M`).
    pub machine_type: String,
    pub images: Images,
    /// Scenario device index → index into the version's devices.
    pub targets: Vec<usize>,
}

/// The command line for `version` running `machine_type` on `images`.
pub fn launch(
    base: &Launch,
    version: &Version,
    machine_type: &str,
    images: &Images,
    incoming: bool,
) -> Launch {
    let mut args = qtest_args(machine_type);
    for (d, (_, path)) in version.devices.iter().zip(&images.files) {
        let unit = d.drive_unit.unwrap_or(0);
        args.push("-drive".into());
        let ro = if d.read_only { ",readonly=on" } else { "" };
        args.push(format!(
            "if=pflash,format=raw,unit={unit},file={}{ro}",
            path.display()
        ));
    }
    if let Some(e) = &version.emulator {
        args.extend(e.args.iter().cloned());
    }
    if incoming {
        args.push("-incoming".into());
        args.push("defer".into());
    }
    Launch {
        args,
        ..base.clone()
    }
}

/// Why an incoming stream did not load.
#[derive(Debug)]
pub enum LoadError {
    /// QEMU refused it (and exited, as QEMU 7.2 does): its message.
    Refused(String),
    /// QEMU hung or answered garbage.
    Failed(QemuError),
}

impl QemuMachine {
    /// Starts `version` on `images` (fresh or copied), running
    /// `machine_type`; with `incoming` it waits for a stream (`-incoming defer`).
    pub fn start(
        base: &Launch,
        version: &Arc<Version>,
        machine_type: &str,
        targets: &[usize],
        images: Images,
        incoming: bool,
    ) -> Result<QemuMachine, QemuError> {
        let l = launch(base, version, machine_type, &images, incoming);
        let process = QemuProcess::start(&l)?;
        Ok(QemuMachine {
            version: version.clone(),
            process,
            machine_type: machine_type.to_string(),
            images,
            targets: targets.to_vec(),
        })
    }

    fn target_addr(&self, dev: usize, addr: u64) -> u64 {
        self.version.devices[self.targets[dev]].base + addr
    }

    /// Applies one op (not `Migrate`); returns the value of a read.
    pub fn apply(&mut self, op: &TrialOp) -> Result<Option<u64>, QemuError> {
        let r = match op {
            TrialOp::Write {
                dev,
                addr,
                width,
                val,
            } => {
                let a = self.target_addr(*dev, *addr);
                self.process.qtest.write(a, *width, *val).map(|_| None)
            }
            TrialOp::Read { dev, addr, width } => {
                let a = self.target_addr(*dev, *addr);
                self.process.qtest.read(a, *width).map(Some)
            }
            TrialOp::Step { ns } => self.process.qtest.step(*ns).map(|_| None),
            TrialOp::Reset => self.reset().map(|_| None),
            TrialOp::Migrate { .. } => Ok(None),
        };
        r.map_err(|e| self.process.explain(e))
    }

    /// `system_reset`, waiting for QEMU's RESET event.
    fn reset(&mut self) -> Result<(), QemuError> {
        self.process.qmp.execute("system_reset", json!({}))?;
        let deadline = Instant::now() + self.process.launch.timeouts.command;
        while !self.process.qmp.take_event("RESET") {
            if Instant::now() > deadline {
                return Err(QemuError::timeout("waiting for the RESET event".into()));
            }
            // A cheap command lets QEMU's main loop run and deliver the event.
            self.process.qmp.execute("query-status", json!({}))?;
        }
        Ok(())
    }

    /// Stops the machine and migrates it into `path` (QEMU's own stream);
    /// the machine stays stopped until [`QemuMachine::resume`].
    pub fn save(&mut self, path: &Path) -> Result<Vec<u8>, QemuError> {
        let r = self.save_inner(path);
        r.map_err(|e| self.process.explain(e))
    }

    fn save_inner(&mut self, path: &Path) -> Result<Vec<u8>, QemuError> {
        let deadline = Instant::now() + self.process.launch.timeouts.migration;
        let qmp = &mut self.process.qmp;
        qmp.execute("stop", json!({}))?;
        let uri = format!("exec:cat > {}", path.display());
        qmp.execute("migrate", json!({ "uri": uri }))?;
        loop {
            let info = qmp.execute("query-migrate", json!({}))?;
            match info.get("status").and_then(Value::as_str) {
                Some("completed") => break,
                Some("failed") | Some("cancelled") => {
                    return Err(QemuError::Migration {
                        what: format!(
                            "to {} failed: {}",
                            path.display(),
                            info.get("error-desc")
                                .and_then(Value::as_str)
                                .unwrap_or("(no description)")
                        ),
                        stderr: String::new(),
                    })
                }
                _ => {}
            }
            if Instant::now() > deadline {
                return Err(QemuError::timeout(format!(
                    "migrating to {}",
                    path.display()
                )));
            }
            std::thread::sleep(MIGRATION_POLL);
        }
        std::fs::read(path).map_err(|e| QemuError::Migration {
            what: format!("{}: {e}", path.display()),
            stderr: String::new(),
        })
    }

    /// Continues after [`QemuMachine::save`] (QEMU may `cont` after a
    /// completed migration: the reference run goes on).
    pub fn resume(&mut self) -> Result<(), QemuError> {
        let r = self.process.qmp.execute("cont", json!({})).map(|_| ());
        r.map_err(|e| self.process.explain(e))
    }

    /// Loads the stream in `path` into this machine (started with
    /// `incoming`), and waits until it runs.
    pub fn load(&mut self, path: &Path) -> Result<(), LoadError> {
        let uri = format!("exec:cat {}", path.display());
        if let Err(e) = self
            .process
            .qmp
            .execute("migrate-incoming", json!({ "uri": uri }))
        {
            return Err(self.load_failure(e));
        }
        let deadline = Instant::now() + self.process.launch.timeouts.migration;
        loop {
            let status = match self.process.qmp.execute("query-status", json!({})) {
                Ok(s) => s,
                Err(e) => return Err(self.load_failure(e)),
            };
            match status.get("status").and_then(Value::as_str) {
                Some("inmigrate") => {}
                Some("running") => return Ok(()),
                Some(other) => {
                    // Loaded but not running (e.g. paused): run it.
                    if other == "paused" || other == "prelaunch" {
                        if let Err(e) = self.process.qmp.execute("cont", json!({})) {
                            return Err(self.load_failure(e));
                        }
                        return Ok(());
                    }
                    return Err(LoadError::Refused(format!(
                        "after loading QEMU is '{other}': {}",
                        self.process.stderr()
                    )));
                }
                None => {
                    let e = QemuError::protocol(format!("query-status answered {status}"));
                    return Err(LoadError::Failed(self.process.explain(e)));
                }
            }
            if Instant::now() > deadline {
                // QEMU 7.2 waits in `inmigrate` forever on a stream that
                // never starts (an empty file).
                let e = QemuError::timeout(format!("loading {}", path.display()));
                return Err(LoadError::Failed(self.process.explain(e)));
            }
            std::thread::sleep(MIGRATION_POLL);
        }
    }

    fn load_failure(&mut self, e: QemuError) -> LoadError {
        match self.process.explain(e) {
            // QEMU 7.2 exits when an incoming migration fails: a refusal,
            // with its own message on stderr.
            QemuError::Exited { stderr, .. } => LoadError::Refused(refusal_message(&stderr)),
            other => LoadError::Failed(other),
        }
    }
}

/// QEMU's reason for refusing a stream: its stderr lines without the
/// program-name prefix, joined.
pub fn refusal_message(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .map(|l| match l.split_once(": ") {
            Some((prog, rest)) if prog.starts_with("qemu-system") => rest,
            _ => l,
        })
        .filter(|l| !l.trim().is_empty())
        .collect();
    if lines.is_empty() {
        "QEMU exited without a message".into()
    } else {
        lines.join("; ")
    }
}

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

fn launch_of(v: &Version, machine_type: &str) -> Result<Launch, RunError> {
    let e = v.emulator.as_ref().ok_or_else(|| RunError::NotUsable {
        version: v.name.clone(),
        reason: "not a real emulator".into(),
    })?;
    locate(e, machine_type)
        .map(|l| l.launch)
        .map_err(|reason| RunError::NotUsable {
            version: v.name.clone(),
            reason,
        })
}

fn target_indices(v: &Version, targets: &[String]) -> Result<Vec<usize>, RunError> {
    targets
        .iter()
        .map(|id| {
            v.devices
                .iter()
                .position(|d| &d.id == id)
                .ok_or_else(|| RunError::NoSuchDevice {
                    version: v.name.clone(),
                    device: id.clone(),
                })
        })
        .collect()
}

impl QemuMachine {
    /// A fresh machine of `v` on fresh images, running its own machine type.
    pub fn fresh(v: &Arc<Version>, targets: &[String]) -> Result<QemuMachine, RunError> {
        let launch = launch_of(v, &v.machine_type)?;
        let idx = target_indices(v, targets)?;
        let images = timed(&TIMINGS.images_us, || Images::fresh(v))?;
        TIMINGS.starts.fetch_add(1, Ordering::Relaxed);
        Ok(timed(&TIMINGS.start_us, || {
            QemuMachine::start(&launch, v, &v.machine_type, &idx, images, false)
        })?)
    }

    /// A machine of `dst` that loads `stream` (of `saved`) on copies of
    /// `drives`, or QEMU's refusal.
    pub fn incoming(
        saved: &Saved,
        stream: &[u8],
        drives: &Drives,
        dst: &Arc<Version>,
        targets: &[String],
        scratch: &Scratch,
    ) -> Result<Result<QemuMachine, Refusal>, RunError> {
        let launch = launch_of(dst, &dst.machine_type)?;
        let idx = target_indices(dst, targets)?;
        let copies;
        let contents = match drives {
            Drives::Copied(images) => images,
            Drives::Shared(drives) => {
                copies = dst
                    .devices
                    .iter()
                    .zip(drives)
                    .map(|(d, b)| {
                        (
                            d.id.clone(),
                            b.image().map(|s| s.to_vec()).unwrap_or_default(),
                        )
                    })
                    .collect();
                &copies
            }
        };
        let images = timed(&TIMINGS.images_us, || Images::with_contents(dst, contents))?;
        let path = scratch.path()?.join("incoming.bin");
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
            .map_err(|e| RunError::Stream(format!("re-paging the model's stream: {e}")))?
            .stream
        } else {
            stream.to_vec()
        };
        std::fs::write(&path, &stream).map_err(|source| RunError::Io {
            path: path.clone(),
            source,
        })?;
        TIMINGS.starts.fetch_add(1, Ordering::Relaxed);
        let mut q = timed(&TIMINGS.start_us, || {
            QemuMachine::start(&launch, dst, &dst.machine_type, &idx, images, true)
        })?;
        match timed(&TIMINGS.migration_us, || q.load(&path)) {
            Ok(()) => {
                if saved.machine_type != q.machine_type {
                    q.machine_type.clone_from(&saved.machine_type);
                }
                Ok(Ok(q))
            }
            Err(LoadError::Refused(reason)) => Ok(Err(Refusal::Qemu(reason))),
            Err(LoadError::Failed(e)) => Err(e.into()),
        }
    }
}

impl VersionMachine for QemuMachine {
    fn version(&self) -> &Arc<Version> {
        &self.version
    }

    fn machine_type(&self) -> &str {
        &self.machine_type
    }

    fn apply(&mut self, op: &TrialOp) -> Result<Option<u64>, RunError> {
        TIMINGS.ops.fetch_add(1, Ordering::Relaxed);
        Ok(timed(&TIMINGS.ops_us, || QemuMachine::apply(self, op))?)
    }

    fn target_state(&self, _: usize) -> Option<devices::DeviceState> {
        None
    }

    fn after_hop(&mut self, _: &DeviceLoss, _: bool) -> Result<bool, RunError> {
        Ok(false)
    }

    fn pass_drives(&mut self, _: bool) {}

    fn arrays(&self) -> Option<Vec<(String, Storage)>> {
        None
    }

    /// Stops, migrates to a file and continues (QEMU may `cont` after a
    /// completed migration).
    fn save(&mut self, scratch: &Scratch) -> Result<Saved, RunError> {
        let path = scratch.path()?.join("stream.bin");
        let stream = timed(&TIMINGS.migration_us, || QemuMachine::save(self, &path))?;
        let images = timed(&TIMINGS.images_us, || self.images.read())?;
        self.resume()?;
        Ok(Saved {
            from: self.version.clone(),
            stream,
            drives: Drives::Copied(images),
            started_with: None,
            machine_type: self.machine_type.clone(),
            arrays: None,
        })
    }

    /// The arrays are the RAM blocks of a final stream (the machine stays
    /// stopped); canonical states are not shown.
    fn end(&mut self, scratch: &Scratch) -> Result<End, RunError> {
        let path = scratch.path()?.join("end.bin");
        let stream = timed(&TIMINGS.compare_us, || QemuMachine::save(self, &path))?;
        let images = timed(&TIMINGS.images_us, || self.images.read())?;
        let v = self.version.clone();
        let arrays = timed(&TIMINGS.compare_us, || {
            let flash = flash_only_for(&v, &stream).map_err(RunError::Stream)?;
            let mut model = Board::on_copies(&v, &[], &images).map_err(RunError::Realize)?;
            model.machine.load_into(&flash).map_err(|e| {
                RunError::Stream(format!("reading the final stream of {}: {e}", v.name))
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
