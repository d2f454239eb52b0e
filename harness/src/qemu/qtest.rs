//! QEMU's qtest line protocol (`tests/qtest/libqtest.c`): one command per
//! line, answered by `OK …` or `FAIL …`; asynchronous `IRQ …` lines are
//! skipped. Anything else is garbage.

use super::channel::Channel;
use super::QemuError;
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// A connected qtest channel.
pub struct Qtest {
    conn: Option<Channel>,
}

impl Qtest {
    /// A placeholder before QEMU connects.
    pub(crate) fn disconnected() -> Qtest {
        Qtest { conn: None }
    }

    /// Wraps a connected socket; `timeout` bounds each command.
    pub(crate) fn new(s: UnixStream, timeout: Duration) -> Result<Qtest, QemuError> {
        Ok(Qtest {
            conn: Some(Channel::new(s, timeout, "qtest")?),
        })
    }

    /// Sends one command line and returns the words after `OK`; `FAIL` is
    /// [`QemuError::Command`].
    pub fn command(&mut self, line: &str) -> Result<Vec<String>, QemuError> {
        let what = format!("qtest '{line}'");
        let c = self
            .conn
            .as_mut()
            .ok_or_else(|| QemuError::closed(format!("{what}: not connected")))?;
        let deadline = c.deadline();
        c.send(line, &what)?;
        loop {
            let answer = c.read_line(deadline, &what)?;
            let mut words = answer.split_whitespace();
            match words.next() {
                Some("IRQ") => continue,
                Some("OK") => return Ok(words.map(str::to_string).collect()),
                Some("FAIL") => {
                    return Err(QemuError::Command {
                        command: what,
                        message: words.collect::<Vec<_>>().join(" "),
                    })
                }
                _ => return Err(QemuError::protocol(format!("{what} answered '{answer}'"))),
            }
        }
    }

    /// `readb|readw|readl|readq ADDR`.
    pub fn read(&mut self, addr: u64, width: u32) -> Result<u64, QemuError> {
        let cmd = format!("{} {addr:#x}", access("read", width)?);
        let words = self.command(&cmd)?;
        words
            .first()
            .and_then(|w| u64::from_str_radix(w.trim_start_matches("0x"), 16).ok())
            .ok_or_else(|| QemuError::protocol(format!("qtest '{cmd}' answered OK {words:?}")))
    }

    /// `writeb|writew|writel|writeq ADDR VALUE`.
    pub fn write(&mut self, addr: u64, width: u32, val: u64) -> Result<(), QemuError> {
        self.command(&format!("{} {addr:#x} {val:#x}", access("write", width)?))
            .map(|_| ())
    }

    /// `clock_step [NS]` as a guest sees time: advances to the next timer
    /// deadline (or by NS), and nothing if there is none (or NS is 0).
    /// QEMU 7.2 answers `OK <now>` then; QEMU 10.0's qtest answers `FAIL
    /// cannot advance clock to the next deadline because there is no
    /// pending deadline` or `FAIL could not advance time` (system/qtest.c
    /// checks the clock moved). Both mean the clock stayed: `Ok(None)`.
    pub fn step(&mut self, ns: Option<u64>) -> Result<Option<u64>, QemuError> {
        match self.clock_step(ns) {
            Ok(t) => Ok(Some(t)),
            Err(QemuError::Command { message, .. })
                if message.contains("no pending deadline")
                    || message == "could not advance time" =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// `clock_step [NS]`: returns the new virtual time.
    pub fn clock_step(&mut self, ns: Option<u64>) -> Result<u64, QemuError> {
        let cmd = match ns {
            Some(ns) => format!("clock_step {ns}"),
            None => "clock_step".to_string(),
        };
        let words = self.command(&cmd)?;
        words
            .first()
            .and_then(|w| w.parse().ok())
            .ok_or_else(|| QemuError::protocol(format!("qtest '{cmd}' answered OK {words:?}")))
    }
}

fn access(verb: &str, width: u32) -> Result<String, QemuError> {
    let suffix = match width {
        1 => "b",
        2 => "w",
        4 => "l",
        8 => "q",
        w => return Err(QemuError::protocol(format!("no qtest access of width {w}"))),
    };
    Ok(format!("{verb}{suffix}"))
}
