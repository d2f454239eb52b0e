//! One QEMU process under the qtest accelerator: started with its qtest and
//! QMP channels on unix sockets the harness listens on (as QEMU's own
//! `tests/qtest/libqtest.c` does), killed with its process group when
//! dropped, and never outliving the harness (`PR_SET_PDEATHSIG`). Every
//! wait is bounded by the launch's [`Timeouts`].

use super::qmp::Qmp;
use super::qtest::Qtest;
use super::QemuError;
use std::io::Read;
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a QEMU may take to connect its qtest and QMP sockets.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
/// How long one qtest or QMP command may take to answer.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one migration (save or load) may take.
pub const MIGRATION_TIMEOUT: Duration = Duration::from_secs(120);
/// Overrides the timeouts, in seconds (see the [module](super) doc).
pub const TIMEOUT_ENV: &str = "NORCOMPAT_QEMU_TIMEOUT_S";
/// A migration may take this many command timeouts under [`TIMEOUT_ENV`]
/// (the ratio of the defaults).
const MIGRATION_COMMANDS: u32 = 4;
/// How long a QEMU whose channel closed may take to exit before it counts
/// as alive.
const EXIT_GRACE: Duration = Duration::from_millis(500);
/// How often waits for QEMU poll.
const POLL: Duration = Duration::from_millis(5);

/// How long QEMU may take before it counts as hung.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Starting: connecting the qtest and QMP sockets, the QMP greeting,
    /// and a `-version` probe.
    pub connect: Duration,
    /// One qtest or QMP command (and a reset's RESET event).
    pub command: Duration,
    /// One migration, outgoing or incoming.
    pub migration: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            connect: CONNECT_TIMEOUT,
            command: COMMAND_TIMEOUT,
            migration: MIGRATION_TIMEOUT,
        }
    }
}

impl Timeouts {
    /// Every wait bounded by `d` (tests use a second or two).
    pub fn all(d: Duration) -> Timeouts {
        Timeouts {
            connect: d,
            command: d,
            migration: d,
        }
    }

    /// The defaults, or what [`TIMEOUT_ENV`] asks for.
    pub fn from_env() -> Result<Timeouts, String> {
        match std::env::var(TIMEOUT_ENV) {
            Err(_) => Ok(Timeouts::default()),
            Ok(v) => {
                let d = v
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|s| *s > 0.0)
                    .and_then(|s| Duration::try_from_secs_f64(s).ok())
                    .ok_or_else(|| {
                        format!("{TIMEOUT_ENV} = '{v}': expected a positive number of seconds")
                    })?;
                Ok(Timeouts {
                    connect: d,
                    command: d,
                    migration: d.saturating_mul(MIGRATION_COMMANDS),
                })
            }
        }
    }
}

/// What to start: binary, environment and arguments (without the qtest and
/// QMP channel arguments, which [`QemuProcess::start`] adds), and how long
/// it may take to answer.
#[derive(Clone, Debug)]
pub struct Launch {
    pub binary: PathBuf,
    /// Extra environment (e.g. `QEMU_MODULE_DIR` for Debian's build).
    pub env: Vec<(String, String)>,
    pub args: Vec<String>,
    pub timeouts: Timeouts,
}

impl Launch {
    /// The command for this binary and environment (arguments are the
    /// caller's): in a process group of its own, so that killing it kills
    /// what it started (e.g. the `exec:` migration helpers), and killed
    /// when the harness thread that started it exits.
    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.binary);
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .process_group(0);
        let parent = std::process::id();
        // SAFETY: prctl and getppid are async-signal-safe and nothing here
        // allocates; prctl only asks the kernel to kill this child when the
        // thread that started it exits. If the harness died before that, the
        // child is an orphan already: it must not run.
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::getppid() as u32 != parent {
                    return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
                }
                Ok(())
            });
        }
        cmd
    }

    /// Runs the binary with `args` alone (e.g. `-version`) to its end within
    /// the connect timeout; its standard output.
    pub(crate) fn output(&self, args: &[&str]) -> Result<String, QemuError> {
        let dir = private_dir()?;
        let out_path = dir.path().join("stdout");
        let err_path = dir.path().join("stderr");
        let file = |p: &Path| {
            std::fs::File::create(p).map_err(|e| QemuError::Start(format!("{}: {e}", p.display())))
        };
        let child = self
            .command()
            .args(args)
            .stdout(file(&out_path)?)
            .stderr(file(&err_path)?)
            .spawn()
            .map_err(|e| QemuError::Start(format!("cannot run {}: {e}", self.binary.display())))?;
        let mut child = Group(child);
        let what = format!("{} {}", self.binary.display(), args.join(" "));
        match child.wait_exit(self.timeouts.connect) {
            Some(status) if status.success() => Ok(read_text(&out_path)),
            Some(status) => Err(QemuError::Exited {
                what,
                status: status.to_string(),
                stderr: read_text(&err_path),
            }),
            None => Err(QemuError::Timeout {
                what,
                stderr: read_text(&err_path),
            }),
        }
    }
}

/// A child process in its own group, killed with its group and reaped
/// when dropped.
struct Group(Child);

impl Group {
    /// Waits up to `timeout` for the process to exit; its status if it did.
    fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(s)) = self.0.try_wait() {
                return Some(s);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(POLL);
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        // The group's id is the child's pid, which stays ours until the
        // child is reaped below: the kill cannot reach a stranger.
        // SAFETY: kill has no memory effects.
        unsafe {
            libc::kill(-(self.0.id() as libc::pid_t), libc::SIGKILL);
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn private_dir() -> Result<tempfile::TempDir, QemuError> {
    tempfile::Builder::new()
        .prefix("norcompat-qemu-")
        .tempdir()
        .map_err(|e| QemuError::Start(format!("temporary directory: {e}")))
}

/// A file's text, at most its last 4 KiB, trailing white space trimmed.
fn read_text(path: &Path) -> String {
    let mut bytes = Vec::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        let _ = f.read_to_end(&mut bytes);
    }
    let s = String::from_utf8_lossy(&bytes);
    let s = s.trim_end();
    let cut = s.len().saturating_sub(STDERR_TAIL);
    let cut = (cut..=s.len())
        .find(|i| s.is_char_boundary(*i))
        .unwrap_or(s.len());
    s[cut..].to_string()
}

/// How much of QEMU's stderr errors carry (its end, where the reason is).
const STDERR_TAIL: usize = 4096;

/// A running QEMU with its two channels.
pub struct QemuProcess {
    child: Group,
    pub qtest: Qtest,
    pub qmp: Qmp,
    stderr_path: PathBuf,
    /// Holds the sockets and the stderr file.
    _dir: tempfile::TempDir,
    pub launch: Launch,
}

impl std::fmt::Debug for QemuProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "QemuProcess(pid {})", self.pid())
    }
}

impl QemuProcess {
    /// Starts QEMU and waits for both channels (and the QMP handshake).
    pub fn start(launch: &Launch) -> Result<QemuProcess, QemuError> {
        let dir = private_dir()?;
        let qtest_path = dir.path().join("qtest.sock");
        let qmp_path = dir.path().join("qmp.sock");
        let stderr_path = dir.path().join("stderr");
        let listen = |p: &Path| {
            let l = UnixListener::bind(p)
                .map_err(|e| QemuError::Start(format!("{}: {e}", p.display())))?;
            l.set_nonblocking(true)
                .map_err(|e| QemuError::Start(e.to_string()))?;
            Ok::<_, QemuError>(l)
        };
        let qtest_listener = listen(&qtest_path)?;
        let qmp_listener = listen(&qmp_path)?;
        let stderr = std::fs::File::create(&stderr_path)
            .map_err(|e| QemuError::Start(format!("{}: {e}", stderr_path.display())))?;
        let child = launch
            .command()
            .args(&launch.args)
            .arg("-qtest")
            .arg(format!("unix:{}", qtest_path.display()))
            .arg("-qmp")
            .arg(format!("unix:{}", qmp_path.display()))
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|e| {
                QemuError::Start(format!("cannot run {}: {e}", launch.binary.display()))
            })?;
        let mut p = QemuProcess {
            child: Group(child),
            qtest: Qtest::disconnected(),
            qmp: Qmp::disconnected(),
            stderr_path,
            _dir: dir,
            launch: launch.clone(),
        };
        let t = launch.timeouts;
        let deadline = Instant::now() + t.connect;
        let qtest = p.accept(&qtest_listener, "qtest", deadline)?;
        let qmp = p.accept(&qmp_listener, "QMP", deadline)?;
        p.qtest = Qtest::new(qtest, t.command).map_err(|e| p.explain(e))?;
        let left = deadline.saturating_duration_since(Instant::now());
        p.qmp = Qmp::connect(qmp, left, t.command).map_err(|e| p.explain(e))?;
        Ok(p)
    }

    fn accept(
        &mut self,
        l: &UnixListener,
        what: &str,
        deadline: Instant,
    ) -> Result<UnixStream, QemuError> {
        loop {
            match l.accept() {
                Ok((s, _)) => {
                    s.set_nonblocking(false)
                        .map_err(|e| QemuError::Start(e.to_string()))?;
                    return Ok(s);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(QemuError::Start(format!("{what} socket: {e}"))),
            }
            if let Some(status) = self.exited() {
                return Err(QemuError::Exited {
                    what: format!("before connecting its {what} socket"),
                    status,
                    stderr: self.stderr(),
                });
            }
            if Instant::now() > deadline {
                return Err(QemuError::Timeout {
                    what: format!("connecting the {what} socket"),
                    stderr: self.stderr(),
                });
            }
            std::thread::sleep(POLL);
        }
    }

    /// QEMU's process id.
    pub fn pid(&self) -> u32 {
        self.child.0.id()
    }

    /// What QEMU wrote on stderr so far (at most the last 4 KiB).
    pub fn stderr(&self) -> String {
        read_text(&self.stderr_path)
    }

    /// The exit status if QEMU has exited.
    pub fn exited(&mut self) -> Option<String> {
        self.child
            .0
            .try_wait()
            .ok()
            .flatten()
            .map(|s| s.to_string())
    }

    /// Waits up to `timeout` for QEMU to exit; its status if it did.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<String> {
        self.child.wait_exit(timeout).map(|s| s.to_string())
    }

    /// `stderr` if an error already carries it, else what QEMU wrote now.
    fn or_stderr(&self, stderr: String) -> String {
        if stderr.is_empty() {
            self.stderr()
        } else {
            stderr
        }
    }

    /// Turns a channel error into a verdict-ready error: with QEMU's stderr,
    /// and [`QemuError::Exited`] with its status if QEMU died. A closed
    /// channel or an I/O error gives QEMU a moment to exit; a timed-out I/O
    /// error is a [`QemuError::Timeout`].
    pub fn explain(&mut self, e: QemuError) -> QemuError {
        let e = match e {
            QemuError::Io { what, source, .. } if super::is_timeout(source.kind()) => {
                QemuError::timeout(what)
            }
            other => other,
        };
        match e {
            QemuError::Closed { what, stderr: old } => match self.wait_exit(EXIT_GRACE) {
                Some(status) => QemuError::Exited {
                    what,
                    status,
                    stderr: self.or_stderr(old),
                },
                None => QemuError::Closed {
                    what,
                    stderr: self.or_stderr(old),
                },
            },
            QemuError::Io {
                what,
                source,
                stderr: old,
            } => match self.wait_exit(EXIT_GRACE) {
                Some(status) => QemuError::Exited {
                    what: format!("{what} ({source})"),
                    status,
                    stderr: self.or_stderr(old),
                },
                None => QemuError::Io {
                    what,
                    source,
                    stderr: self.or_stderr(old),
                },
            },
            QemuError::Timeout { what, stderr: old } => match self.exited() {
                Some(status) => QemuError::Exited {
                    what,
                    status,
                    stderr: self.or_stderr(old),
                },
                None => QemuError::Timeout {
                    what,
                    stderr: self.or_stderr(old),
                },
            },
            QemuError::Exited {
                what,
                status,
                stderr: old,
            } => QemuError::Exited {
                what,
                status,
                stderr: self.or_stderr(old),
            },
            QemuError::Protocol { what, stderr: old } => QemuError::Protocol {
                what,
                stderr: self.or_stderr(old),
            },
            QemuError::Migration { what, stderr: old } => QemuError::Migration {
                what,
                stderr: self.or_stderr(old),
            },
            other @ (QemuError::Start(_) | QemuError::Command { .. }) => other,
        }
    }
}

/// The arguments every harness QEMU starts with: the machine type under
/// the qtest accelerator, no display, no default devices, no qtest log.
pub fn qtest_args(machine_type: &str) -> Vec<String> {
    vec![
        "-M".into(),
        machine_type.into(),
        "-accel".into(),
        "qtest".into(),
        "-display".into(),
        "none".into(),
        "-nodefaults".into(),
        // The qtest log goes to stderr otherwise, one line per access.
        "-qtest-log".into(),
        "/dev/null".into(),
    ]
}
