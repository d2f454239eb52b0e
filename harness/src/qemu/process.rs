//! One QEMU process under the qtest accelerator: started with its qtest and
//! QMP channels on unix sockets the harness listens on (as QEMU's own
//! `tests/qtest/libqtest.c` does), killed when dropped, and never outliving
//! the harness (`PR_SET_PDEATHSIG`).

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

/// What to start: binary, environment and arguments (without the qtest and
/// QMP channel arguments, which [`QemuProcess::start`] adds).
#[derive(Clone, Debug)]
pub struct Launch {
    pub binary: PathBuf,
    /// Extra environment (e.g. `QEMU_MODULE_DIR` for Debian's build).
    pub env: Vec<(String, String)>,
    pub args: Vec<String>,
}

impl Launch {
    /// The command line as one shell-quoted string (for reproducers and errors).
    pub fn command_line(&self) -> String {
        let mut parts: Vec<String> = self
            .env
            .iter()
            .map(|(k, v)| format!("{k}={}", shell_quote(v)))
            .collect();
        parts.push(shell_quote(&self.binary.display().to_string()));
        parts.extend(self.args.iter().map(|a| shell_quote(a)));
        parts.join(" ")
    }
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=,:@+".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// A running QEMU with its two channels.
pub struct QemuProcess {
    child: Child,
    pub qtest: Qtest,
    pub qmp: Qmp,
    stderr_path: PathBuf,
    /// Holds the sockets and the stderr file.
    _dir: tempfile::TempDir,
    pub launch: Launch,
}

impl std::fmt::Debug for QemuProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "QemuProcess(pid {})", self.child.id())
    }
}

impl QemuProcess {
    /// Starts QEMU and waits for both channels (and the QMP handshake).
    pub fn start(launch: &Launch) -> Result<QemuProcess, QemuError> {
        let dir = tempfile::Builder::new()
            .prefix("norcompat-qemu-")
            .tempdir()
            .map_err(|e| QemuError::Start(format!("temporary directory: {e}")))?;
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
        let mut cmd = Command::new(&launch.binary);
        cmd.envs(launch.env.iter().map(|(k, v)| (k, v)))
            .args(&launch.args)
            .arg("-qtest")
            .arg(format!("unix:{}", qtest_path.display()))
            .arg("-qmp")
            .arg(format!("unix:{}", qmp_path.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        // SAFETY: prctl is async-signal-safe; it only asks the kernel to kill
        // this child when the thread that started it exits.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().map_err(|e| {
            QemuError::Start(format!("cannot run {}: {e}", launch.binary.display()))
        })?;
        let mut p = QemuProcess {
            child,
            qtest: Qtest::disconnected(),
            qmp: Qmp::disconnected(),
            stderr_path,
            _dir: dir,
            launch: launch.clone(),
        };
        let qtest = p.accept(&qtest_listener, "qtest")?;
        let qmp = p.accept(&qmp_listener, "QMP")?;
        p.qtest = Qtest::new(qtest)?;
        p.qmp = Qmp::connect(qmp)?;
        Ok(p)
    }

    fn accept(&mut self, l: &UnixListener, what: &str) -> Result<UnixStream, QemuError> {
        let deadline = Instant::now() + CONNECT_TIMEOUT;
        loop {
            match l.accept() {
                Ok((s, _)) => {
                    s.set_nonblocking(false)
                        .map_err(|e| QemuError::Start(e.to_string()))?;
                    s.set_read_timeout(Some(COMMAND_TIMEOUT))
                        .map_err(|e| QemuError::Start(e.to_string()))?;
                    return Ok(s);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(QemuError::Start(format!("{what} socket: {e}"))),
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(QemuError::Exited {
                    what: format!("before connecting its {what} socket"),
                    status: status.to_string(),
                    stderr: self.stderr(),
                });
            }
            if Instant::now() > deadline {
                return Err(QemuError::Timeout {
                    what: format!("connecting the {what} socket"),
                    stderr: self.stderr(),
                });
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// What QEMU wrote on stderr so far (at most the last 4 KiB).
    pub fn stderr(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.stderr_path) {
            let _ = f.read_to_string(&mut s);
        }
        let s = s.trim_end();
        let cut = s.len().saturating_sub(4096);
        let cut = (cut..=s.len())
            .find(|i| s.is_char_boundary(*i))
            .unwrap_or(s.len());
        s[cut..].to_string()
    }

    /// The exit status if QEMU has exited.
    pub fn exited(&mut self) -> Option<String> {
        self.child.try_wait().ok().flatten().map(|s| s.to_string())
    }

    /// Waits up to `timeout` for QEMU to exit; its status if it did.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.exited() {
                return Some(s);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Turns a channel error into a verdict-ready error with stderr and,
    /// if QEMU died, its exit status.
    pub fn explain(&mut self, e: QemuError) -> QemuError {
        match e {
            QemuError::Io { what, .. } | QemuError::Closed { what } => {
                match self.wait_exit(Duration::from_millis(500)) {
                    Some(status) => QemuError::Exited {
                        what,
                        status,
                        stderr: self.stderr(),
                    },
                    None => QemuError::Timeout {
                        what,
                        stderr: self.stderr(),
                    },
                }
            }
            other => other,
        }
    }
}

impl Drop for QemuProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
