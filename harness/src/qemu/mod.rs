//! The driver of a real QEMU process: its qtest and QMP channels, with
//! every wait bounded (locating a usable binary is
//! `definitions::emulators`; a QEMU machine running trial ops is
//! `running::qemu_machine`).
//!
//! A QEMU that hangs, crashes or answers garbage ends as a [`QemuError`]
//! carrying what it wrote on stderr, never as a hung run: every wait is
//! bounded by the launch's [`Timeouts`], and no QEMU outlives the
//! [`QemuProcess`] that started it (nor the harness).
//!
//! `NORCOMPAT_QEMU_TIMEOUT_S=N` (seconds, fractions allowed) gives QEMU more
//! (or less) time on slow machines: N replaces the connect and per-command
//! defaults (20 s and 30 s) and a migration may take 4 N (default 120 s).

mod channel;
pub mod process;
pub mod qmp;
pub mod qtest;

pub use process::{Launch, QemuProcess, Timeouts};

/// Why talking to QEMU failed. Each variant that follows QEMU's death,
/// silence or garbage carries what it wrote on stderr (filled in by
/// [`QemuProcess::explain`]).
#[derive(Debug, thiserror::Error)]
pub enum QemuError {
    #[error("cannot start QEMU: {0}")]
    Start(String),
    #[error("QEMU exited ({status}) {what}{}", stderr_suffix(.stderr))]
    Exited {
        what: String,
        status: String,
        stderr: String,
    },
    #[error("QEMU did not answer in time: {what}{}", stderr_suffix(.stderr))]
    Timeout { what: String, stderr: String },
    #[error("QEMU closed the channel: {what}{}", stderr_suffix(.stderr))]
    Closed { what: String, stderr: String },
    #[error("{what}: {source}{}", stderr_suffix(.stderr))]
    Io {
        what: String,
        source: std::io::Error,
        stderr: String,
    },
    #[error("QEMU answered garbage: {what}{}", stderr_suffix(.stderr))]
    Protocol { what: String, stderr: String },
    /// QEMU answered, refusing the command (qtest `FAIL`, QMP `error`).
    #[error("{command} failed: {message}")]
    Command { command: String, message: String },
    #[error("migration {what}{}", stderr_suffix(.stderr))]
    Migration { what: String, stderr: String },
}

fn stderr_suffix(stderr: &str) -> String {
    if stderr.is_empty() {
        String::new()
    } else {
        format!("; stderr: {stderr}")
    }
}

impl QemuError {
    /// An I/O error on a channel: a timed-out read or write is a
    /// [`QemuError::Timeout`].
    pub(crate) fn io(what: &str, source: std::io::Error) -> QemuError {
        if is_timeout(source.kind()) {
            QemuError::Timeout {
                what: what.to_string(),
                stderr: String::new(),
            }
        } else {
            QemuError::Io {
                what: what.to_string(),
                source,
                stderr: String::new(),
            }
        }
    }

    /// Garbage from QEMU (stderr is added by [`QemuProcess::explain`]).
    pub(crate) fn protocol(what: String) -> QemuError {
        QemuError::Protocol {
            what,
            stderr: String::new(),
        }
    }

    /// A channel QEMU closed (stderr is added by [`QemuProcess::explain`]).
    pub(crate) fn closed(what: String) -> QemuError {
        QemuError::Closed {
            what,
            stderr: String::new(),
        }
    }

    /// A wait that ran out (stderr is added by [`QemuProcess::explain`]).
    pub(crate) fn timeout(what: String) -> QemuError {
        QemuError::Timeout {
            what,
            stderr: String::new(),
        }
    }
}

/// The socket read/write timeouts surface as `WouldBlock` (Linux) or
/// `TimedOut`.
fn is_timeout(kind: std::io::ErrorKind) -> bool {
    matches!(
        kind,
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}
