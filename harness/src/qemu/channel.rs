//! One line-based channel to QEMU (qtest or QMP) on a unix socket: every
//! write and every line read is bounded by a deadline, so a QEMU that stops
//! answering — or dribbles bytes without ever ending a line — is a
//! [`QemuError::Timeout`], never a hang.

use super::{is_timeout, QemuError};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// The longest line QEMU may send (a qtest `read` of 1 MiB is 2 MiB of hex):
/// longer is garbage, not a reason to run out of memory.
const MAX_LINE: usize = 8 << 20;

/// A connected channel.
pub(crate) struct Channel {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    /// How long one command may take to answer.
    pub timeout: Duration,
}

impl Channel {
    /// Wraps a connected socket; `timeout` bounds each command.
    pub fn new(s: UnixStream, timeout: Duration, what: &str) -> Result<Channel, QemuError> {
        let writer = s.try_clone().map_err(|e| QemuError::io(what, e))?;
        writer
            .set_write_timeout(Some(timeout))
            .map_err(|e| QemuError::io(what, e))?;
        Ok(Channel {
            reader: BufReader::new(s),
            writer,
            timeout,
        })
    }

    /// The deadline of a command sent now.
    pub fn deadline(&self) -> Instant {
        Instant::now() + self.timeout
    }

    /// Sends one line (a newline is added).
    pub fn send(&mut self, line: &str, what: &str) -> Result<(), QemuError> {
        self.writer
            .write_all(format!("{line}\n").as_bytes())
            .map_err(|e| QemuError::io(what, e))
    }

    /// Reads one line (without its newline) before `deadline`. A channel
    /// closed before the line ends is [`QemuError::Closed`]; bytes that are
    /// not UTF-8, or a line longer than [`MAX_LINE`], are
    /// [`QemuError::Protocol`].
    pub fn read_line(&mut self, deadline: Instant, what: &str) -> Result<String, QemuError> {
        let mut line = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(QemuError::timeout(what.to_string()));
            }
            self.reader
                .get_ref()
                .set_read_timeout(Some(left))
                .map_err(|e| QemuError::io(what, e))?;
            let buf = match self.reader.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if is_timeout(e.kind()) => return Err(QemuError::timeout(what.to_string())),
                Err(e) => return Err(QemuError::io(what, e)),
            };
            if buf.is_empty() {
                return Err(QemuError::closed(what.to_string()));
            }
            let (n, done) = match buf.iter().position(|b| *b == b'\n') {
                Some(i) => (i + 1, true),
                None => (buf.len(), false),
            };
            line.extend_from_slice(&buf[..n]);
            self.reader.consume(n);
            if done {
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return String::from_utf8(line).map_err(|e| {
                    QemuError::protocol(format!(
                        "{what} answered bytes that are not UTF-8: {:?}",
                        String::from_utf8_lossy(e.as_bytes())
                    ))
                });
            }
            if line.len() > MAX_LINE {
                return Err(QemuError::protocol(format!(
                    "{what} answered more than {MAX_LINE} bytes without a newline"
                )));
            }
        }
    }
}
