//! The QEMU driver keeps its promise: a QEMU that hangs, crashes or answers
//! garbage is an error carrying its stderr within a bounded time, never a
//! hung run, and no QEMU (nor what it started) outlives the value that
//! started it. Checked against a fake QEMU (tests/data/fake-qemu, a python3
//! script that misbehaves on demand) and, at the end, against real QEMU 7.2
//! (required when `NORCOMPAT_REQUIRE_QEMU=1`, as in CI).

use harness::definitions::emulators::locate;
use harness::definitions::versions::{parse_version, Version};
use harness::generation::generator::TrialOp;
use harness::qemu::{Launch, QemuError, QemuProcess, Timeouts};
use harness::running::board::Board;
use harness::running::qemu_machine::QemuMachine;
use harness::running::qemu_machine::{Images, LoadError};
use reports::Outcome;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The fake QEMU (an executable python3 script).
const FAKE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/fake-qemu/fake-qemu.py"
);
/// Every timeout of a fake launch: short, so that the tests are fast.
const TIMEOUT: Duration = Duration::from_secs(1);
/// Every failure must be reported within this (a timeout plus python's
/// start-up and the harness's grace for an exiting QEMU).
const BOUND: Duration = Duration::from_secs(6);
/// The CFI query command and the answer at the query's `Q` (QEMU's
/// `pflash_cfi01.c`, on the virt board's 32-bit bank of two x16 chips).
const CFI_QUERY_ADDR: u64 = 0x55 << 2;
const CFI_QUERY: u64 = 0x0098_0098;
const CFI_Q_ADDR: u64 = 0x10 << 2;
const CFI_Q: u64 = 0x0051_0051;
/// `QEMU_VM_FILE_MAGIC`: every QEMU stream starts with it.
const STREAM_MAGIC: &[u8] = b"QEVM";

/// A launch of the fake misbehaving as `mode` (empty: behaving).
fn fake(mode: &str, args: &[&str]) -> Launch {
    Launch {
        binary: PathBuf::from(FAKE),
        env: vec![("FAKE_QEMU_MODE".into(), mode.into())],
        args: args.iter().map(|a| a.to_string()).collect(),
        timeouts: Timeouts::all(TIMEOUT),
    }
}

/// The fake version file: one small cfi01 bank, `args` as the emulator's.
fn fake_version_text(args: &[String]) -> String {
    format!(
        r#"release = "qemu-7.2"
machine-type = "fake-7.2"

[emulator]
binary = "{FAKE}"
args = {args:?}

[[device]]
id = "flash0"
type = "cfi.pflash01"
drive-unit = 0
fill = 0x00
properties = {{ name = "fake.flash0", num-blocks = 4, sector-length = 0x1000, width = 4, device-width = 2, id0 = 0x89, id1 = 0x18 }}
"#
    )
}

fn fake_version(args: &[String]) -> Arc<Version> {
    let path = Path::new("/fake/fake.toml");
    Arc::new(parse_version(path, &fake_version_text(args)).expect("the fake version parses"))
}

/// A machine of the fake version on fresh images, started by `launch`.
fn fake_machine(launch: &Launch, incoming: bool) -> Result<QemuMachine, QemuError> {
    let v = fake_version(&[]);
    let images = Images::fresh(&v).expect("images");
    QemuMachine::start(launch, &v, &v.machine_type, &[0], images, incoming)
}

/// True once `pid` is no process (or a zombie: dead, and not ours to reap).
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z')),
    }
}

/// The pid the fake names on stderr after `what` (e.g. "started, pid").
fn named_pid(text: &str, what: &str) -> u32 {
    let at = text
        .find(what)
        .unwrap_or_else(|| panic!("'{what}' not in {text}"));
    text[at + what.len()..]
        .trim_start()
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no pid after '{what}' in {text}"))
}

/// Runs `f` and checks it took less than [`BOUND`].
fn bounded<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let r = f();
    assert!(
        t.elapsed() < BOUND,
        "{what} took {:?}, more than {BOUND:?}",
        t.elapsed()
    );
    r
}

#[test]
fn a_behaving_fake_runs_ops_saves_and_resumes() {
    let mut m = fake_machine(&fake("", &[]), false).expect("the fake starts");
    let pid = m.process.pid();
    let write = TrialOp::Write {
        dev: 0,
        addr: 0x40,
        width: 4,
        val: 0x1234,
    };
    assert_eq!(m.apply(&write).unwrap(), None);
    let read = TrialOp::Read {
        dev: 0,
        addr: 0x40,
        width: 4,
    };
    assert_eq!(m.apply(&read).unwrap(), Some(0x1234));
    assert_eq!(m.apply(&TrialOp::Reset).unwrap(), None);
    let dir = tempfile::tempdir().unwrap();
    let stream = m.save(&dir.path().join("stream.bin")).unwrap();
    assert!(stream.starts_with(STREAM_MAGIC));
    m.resume().unwrap();
    drop(m);
    assert!(gone(pid), "the fake (pid {pid}) outlived its machine");
}

#[test]
fn a_crash_is_exited_with_status_and_stderr() {
    let mut m = fake_machine(&fake("crash", &[]), false).expect("the fake starts");
    let pid = m.process.pid();
    let op = TrialOp::Read {
        dev: 0,
        addr: 0,
        width: 4,
    };
    let e = bounded("a crash", || m.apply(&op)).unwrap_err();
    assert!(
        matches!(&e, QemuError::Exited { status, stderr, .. }
            if status.contains('3') && stderr.contains("crashed on purpose")),
        "{e:?}"
    );
    assert!(e.to_string().contains("crashed on purpose"), "{e}");
    drop(m);
    assert!(gone(pid));
}

#[test]
fn a_hang_is_a_timeout_with_stderr_and_kills_what_qemu_started() {
    let mut p = QemuProcess::start(&fake("hang", &["--fake-grandchild"])).expect("starts");
    let pid = p.pid();
    let t = Instant::now();
    let e = bounded("a hang", || p.qtest.clock_step(Some(1))).unwrap_err();
    assert!(t.elapsed() >= TIMEOUT, "timed out early: {:?}", t.elapsed());
    assert!(matches!(e, QemuError::Timeout { .. }), "{e:?}");
    let e = p.explain(e);
    assert!(
        matches!(&e, QemuError::Timeout { stderr, .. } if stderr.contains("hanging")),
        "{e:?}"
    );
    let grandchild = named_pid(&e.to_string(), "grandchild pid");
    assert!(!gone(grandchild), "the fake's child should still run");
    drop(p);
    assert!(gone(pid), "the hanging fake (pid {pid}) survived");
    assert!(
        gone(grandchild),
        "the fake's child (pid {grandchild}) survived"
    );
}

#[test]
fn a_hang_during_an_op_is_a_timeout_of_the_machine() {
    let mut m = fake_machine(&fake("hang", &[]), false).expect("starts");
    let pid = m.process.pid();
    let e = bounded("a hang", || m.apply(&TrialOp::Step { ns: Some(10) })).unwrap_err();
    assert!(
        matches!(&e, QemuError::Timeout { stderr, .. } if stderr.contains("hanging")),
        "{e:?}"
    );
    drop(m);
    assert!(gone(pid));
}

#[test]
fn a_qtest_answer_that_is_not_ok_fail_or_irq_is_protocol() {
    let mut m = fake_machine(&fake("garbage", &[]), false).expect("starts");
    let pid = m.process.pid();
    let op = TrialOp::Read {
        dev: 0,
        addr: 0,
        width: 2,
    };
    let e = bounded("garbage", || m.apply(&op)).unwrap_err();
    assert!(
        matches!(&e, QemuError::Protocol { what, stderr }
            if what.contains("BANANA") && stderr.contains("answering garbage")),
        "{e:?}"
    );
    drop(m);
    assert!(gone(pid));
}

#[test]
fn a_qtest_answer_that_is_not_utf8_is_protocol() {
    let mut m = fake_machine(&fake("binary", &[]), false).expect("starts");
    let pid = m.process.pid();
    let op = TrialOp::Read {
        dev: 0,
        addr: 0,
        width: 1,
    };
    let e = bounded("bytes", || m.apply(&op)).unwrap_err();
    assert!(
        matches!(&e, QemuError::Protocol { what, stderr }
            if what.contains("not UTF-8") && stderr.contains("answering bytes")),
        "{e:?}"
    );
    drop(m);
    assert!(gone(pid));
}

#[test]
fn a_qtest_fail_is_a_refused_command() {
    let mut p = QemuProcess::start(&fake("fail", &[])).expect("starts");
    let pid = p.pid();
    let e = p.qtest.command("readl 0x0").unwrap_err();
    assert!(
        matches!(&e, QemuError::Command { command, message }
            if command.contains("readl 0x0") && message.contains("unknown command")),
        "{e:?}"
    );
    drop(p);
    assert!(gone(pid));
}

#[test]
fn an_early_exit_is_exited_with_stderr() {
    let e = bounded("an early exit", || {
        QemuProcess::start(&fake("exit-early", &[]))
    })
    .unwrap_err();
    assert!(
        matches!(&e, QemuError::Exited { status, stderr, .. }
            if status.contains('2') && stderr.contains("exiting before connecting")),
        "{e:?}"
    );
    let pid = named_pid(&e.to_string(), "started, pid");
    assert!(gone(pid));
}

#[test]
fn a_qemu_that_never_connects_is_a_timeout() {
    let e = bounded("no connection", || {
        QemuProcess::start(&fake("no-connect", &[]))
    })
    .unwrap_err();
    assert!(
        matches!(&e, QemuError::Timeout { what, stderr }
            if what.contains("connecting") && stderr.contains("not connecting")),
        "{e:?}"
    );
    let pid = named_pid(&e.to_string(), "started, pid");
    assert!(gone(pid), "the silent fake (pid {pid}) survived");
}

#[test]
fn a_qmp_answer_that_is_not_json_is_protocol() {
    let mut m = fake_machine(&fake("bad-json", &[]), false).expect("the handshake passes");
    let pid = m.process.pid();
    let e = bounded("bad JSON", || m.apply(&TrialOp::Reset)).unwrap_err();
    assert!(
        matches!(&e, QemuError::Protocol { what, stderr }
            if what.contains("not JSON") && stderr.contains("answering non-JSON")),
        "{e:?}"
    );
    drop(m);
    assert!(gone(pid));
}

#[test]
fn a_load_that_never_completes_is_a_migration_timeout() {
    let mut launch = fake("inmigrate", &[]);
    launch.timeouts.migration = Duration::from_secs(2);
    let mut m = fake_machine(&launch, true).expect("starts");
    let pid = m.process.pid();
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.bin");
    std::fs::write(&empty, b"").unwrap();
    let t = Instant::now();
    let e = bounded("a load that never ends", || m.load(&empty)).unwrap_err();
    assert!(t.elapsed() >= launch.timeouts.migration);
    assert!(
        matches!(&e, LoadError::Failed(QemuError::Timeout { what, stderr })
            if what.contains("loading") && stderr.contains("waiting for a stream forever")),
        "{e:?}"
    );
    drop(m);
    assert!(gone(pid));
}

/// A QEMU whose value is never dropped still dies with the thread that
/// started it (`PR_SET_PDEATHSIG`): it cannot outlive the harness.
#[test]
fn a_forgotten_qemu_dies_with_the_thread_that_started_it() {
    let (pid, sockets) = std::thread::spawn(|| {
        let p = QemuProcess::start(&fake("", &[])).expect("starts");
        let pid = p.pid();
        // Its private directory (sockets, stderr) is leaked with it: found
        // through its command line, and removed below.
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
        let sockets = cmdline
            .split(|b| *b == 0)
            .filter_map(|a| std::str::from_utf8(a).ok()?.strip_prefix("unix:"))
            .map(|path| Path::new(path).parent().unwrap().to_path_buf())
            .next()
            .expect("the fake's -qtest unix:PATH");
        std::mem::forget(p);
        (pid, sockets)
    })
    .join()
    .unwrap();
    let t = Instant::now();
    while !gone(pid) && t.elapsed() < BOUND {
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = std::fs::remove_dir_all(&sockets);
    assert!(
        gone(pid),
        "the forgotten fake (pid {pid}) survived its thread"
    );
}

#[test]
fn timeouts_default_to_the_documented_constants() {
    use harness::qemu::process::{COMMAND_TIMEOUT, CONNECT_TIMEOUT, MIGRATION_TIMEOUT};
    let t = Timeouts::default();
    assert_eq!(t.connect, CONNECT_TIMEOUT);
    assert_eq!(t.command, COMMAND_TIMEOUT);
    assert_eq!(t.migration, MIGRATION_TIMEOUT);
}

/// Through the trial runner: the fake passes `locate()`'s probe and the
/// reference run, and crashes once it is a migration's destination; the
/// trial is `crashed` with its stderr in the reason.
#[test]
fn a_destination_that_crashes_makes_a_crashed_trial() {
    let dir = tempfile::tempdir().unwrap();
    let stream = dir.path().join("fake-stream.bin");
    let args = vec![
        "--fake-mode=crash".to_string(),
        "--fake-incoming-only".to_string(),
        format!("--fake-stream={}", stream.display()),
    ];
    let v = fake_version(&args);
    // What the fake's `migrate` writes: the model's stream of the same
    // board, which the reference run reads back.
    let board = Board::plain(&v, &[], None).expect("a model board of the fake version");
    std::fs::write(&stream, board.machine.save()).unwrap();
    let ops = [
        TrialOp::Write {
            dev: 0,
            addr: 0,
            width: 4,
            val: 0x0040_0040,
        },
        TrialOp::Read {
            dev: 0,
            addr: 0,
            width: 4,
        },
        TrialOp::MIGRATE,
        TrialOp::Read {
            dev: 0,
            addr: 0,
            width: 4,
        },
    ];
    let r = bounded("a crashed trial", || {
        harness::judging::verdicts::run_chain(
            &[v.clone(), v.clone()],
            &["flash0".to_string()],
            &ops,
        )
    })
    .expect("the reference run on the fake passes");
    assert_eq!(r.outcome, Outcome::Crashed, "{}", r.reason);
    assert!(r.reason.contains("crashed on purpose"), "{}", r.reason);
    let pid = named_pid(&r.reason, "started, pid");
    assert!(gone(pid), "the crashed fake (pid {pid}) is still there");
}

/// CI sets NORCOMPAT_REQUIRE_QEMU=1: a missing QEMU is then a failure.
fn require_qemu() -> bool {
    std::env::var("NORCOMPAT_REQUIRE_QEMU").is_ok_and(|v| v == "1")
}

/// Real QEMU 7.2 on virt-7.2 and its launch, or why not (which fails the
/// test under `NORCOMPAT_REQUIRE_QEMU=1`).
fn real_virt() -> Option<(Arc<Version>, Launch)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../machines/virt/qemu-7.2.toml");
    let text = std::fs::read_to_string(&path).expect("machines/virt/qemu-7.2.toml");
    let v = Arc::new(parse_version(&path, &text).expect("the virt QEMU version parses"));
    let e = v.emulator.as_ref().expect("an [emulator] table");
    match locate(e, &v.machine_type) {
        Ok(l) => Some((v, l.launch)),
        Err(why) if !require_qemu() => {
            eprintln!("skipped: real QEMU is not usable ({why}); set up with `bash scripts/setup-qemu.sh`");
            None
        }
        Err(why) => panic!("NORCOMPAT_REQUIRE_QEMU=1 but real QEMU is not usable: {why}"),
    }
}

#[test]
fn real_qemu_answers_cfi_saves_resumes_resets_and_dies_with_its_machine() {
    let Some((v, launch)) = real_virt() else {
        return;
    };
    let images = Images::fresh(&v).expect("images");
    let flash0 = v.devices.iter().position(|d| d.id == "flash0").unwrap();
    let mut m = QemuMachine::start(&launch, &v, &v.machine_type, &[flash0], images, false)
        .expect("QEMU starts");
    let pid = m.process.pid();
    let query = TrialOp::Write {
        dev: 0,
        addr: CFI_QUERY_ADDR,
        width: 4,
        val: CFI_QUERY,
    };
    m.apply(&query).unwrap();
    let q = TrialOp::Read {
        dev: 0,
        addr: CFI_Q_ADDR,
        width: 4,
    };
    assert_eq!(m.apply(&q).unwrap(), Some(CFI_Q));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stream.bin");
    let stream = m.save(&path).unwrap();
    assert!(stream.starts_with(STREAM_MAGIC));
    assert_eq!(std::fs::read(&path).unwrap(), stream);
    m.resume().unwrap();
    m.apply(&TrialOp::Reset).unwrap();
    drop(m);
    assert!(gone(pid), "QEMU (pid {pid}) outlived its machine");
}

/// QEMU 7.2 waits in `inmigrate` forever on an empty stream: the load ends
/// as a timeout after the launch's migration timeout.
#[test]
fn real_qemu_loading_an_empty_stream_times_out() {
    let Some((v, mut launch)) = real_virt() else {
        return;
    };
    launch.timeouts.migration = Duration::from_secs(2);
    let images = Images::fresh(&v).expect("images");
    let mut m =
        QemuMachine::start(&launch, &v, &v.machine_type, &[0], images, true).expect("QEMU starts");
    let pid = m.process.pid();
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.bin");
    std::fs::write(&empty, b"").unwrap();
    let e = bounded("loading an empty stream", || m.load(&empty)).unwrap_err();
    assert!(
        matches!(&e, LoadError::Failed(QemuError::Timeout { what, .. }) if what.contains("loading")),
        "{e:?}"
    );
    drop(m);
    assert!(gone(pid));
}
