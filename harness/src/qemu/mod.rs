//! Real QEMU as a version: the process with its qtest and QMP channels,
//! locating a usable binary, and migration through QEMU's own stream.

pub mod locate;
pub mod machine;
pub mod process;
pub mod qmp;
pub mod qtest;

pub use locate::{locate, Located};
pub use machine::QemuMachine;
pub use process::{Launch, QemuProcess};

/// Why talking to QEMU failed. Each variant that follows QEMU's death or
/// silence carries what it wrote on stderr.
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
    #[error("QEMU closed the channel: {what}")]
    Closed { what: String },
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("QEMU answered garbage: {0}")]
    Protocol(String),
    #[error("QMP {command} failed: {message}")]
    Command { command: String, message: String },
    #[error("migration {0}")]
    Migration(String),
}

fn stderr_suffix(stderr: &str) -> String {
    if stderr.is_empty() {
        String::new()
    } else {
        format!("; stderr: {stderr}")
    }
}

impl QemuError {
    pub(crate) fn io(what: &str, source: std::io::Error) -> QemuError {
        match source.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => QemuError::Timeout {
                what: what.to_string(),
                stderr: String::new(),
            },
            _ => QemuError::Io {
                what: what.to_string(),
                source,
            },
        }
    }
}
