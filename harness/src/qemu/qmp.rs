//! QMP, QEMU's JSON monitor protocol: a greeting, `qmp_capabilities`, then
//! one `{"execute": …}` per command answered by `{"return": …}` or
//! `{"error": …}`, with `{"event": …}` lines in between.

use super::channel::Channel;
use super::QemuError;
use serde_json::{json, Value};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// A connected QMP channel.
pub struct Qmp {
    conn: Option<Channel>,
    /// Events received while waiting for answers, oldest first.
    pub events: Vec<Value>,
}

impl Qmp {
    /// A placeholder before QEMU connects.
    pub(crate) fn disconnected() -> Qmp {
        Qmp {
            conn: None,
            events: Vec::new(),
        }
    }

    /// Reads the greeting (within `connect`) and enters command mode;
    /// `timeout` bounds each command.
    pub(crate) fn connect(
        s: UnixStream,
        connect: Duration,
        timeout: Duration,
    ) -> Result<Qmp, QemuError> {
        let mut q = Qmp {
            conn: Some(Channel::new(s, timeout, "QMP")?),
            events: Vec::new(),
        };
        let greeting = q.read_message(Instant::now() + connect, "QMP greeting")?;
        if greeting.get("QMP").is_none() {
            return Err(QemuError::protocol(format!(
                "QMP greeting expected, got {greeting}"
            )));
        }
        q.execute("qmp_capabilities", json!({}))?;
        Ok(q)
    }

    fn channel(&mut self, what: &str) -> Result<&mut Channel, QemuError> {
        self.conn
            .as_mut()
            .ok_or_else(|| QemuError::closed(format!("{what}: not connected")))
    }

    fn read_message(&mut self, deadline: Instant, what: &str) -> Result<Value, QemuError> {
        let line = self.channel(what)?.read_line(deadline, what)?;
        serde_json::from_str(&line)
            .map_err(|e| QemuError::protocol(format!("{what}: not JSON ({e}): {line}")))
    }

    /// Runs one command; its `return` value, or its error as
    /// [`QemuError::Command`]. Events that arrive first are kept in
    /// [`Qmp::events`].
    pub fn execute(&mut self, command: &str, arguments: Value) -> Result<Value, QemuError> {
        let what = format!("QMP {command}");
        let c = self.channel(&what)?;
        let deadline = c.deadline();
        let msg = json!({ "execute": command, "arguments": arguments });
        c.send(&msg.to_string(), &what)?;
        loop {
            let m = self.read_message(deadline, &what)?;
            if m.get("event").is_some() {
                self.events.push(m);
                continue;
            }
            if let Some(r) = m.get("return") {
                return Ok(r.clone());
            }
            if let Some(e) = m.get("error") {
                return Err(QemuError::Command {
                    command: what,
                    message: e
                        .get("desc")
                        .and_then(Value::as_str)
                        .unwrap_or("(no description)")
                        .to_string(),
                });
            }
            return Err(QemuError::protocol(format!(
                "{what}: unexpected message {m}"
            )));
        }
    }

    /// True once an event named `name` has been received (consumed).
    pub fn take_event(&mut self, name: &str) -> bool {
        match self.events.iter().position(|e| e["event"] == name) {
            Some(i) => {
                self.events.remove(i);
                true
            }
            None => false,
        }
    }
}
