//! QMP, QEMU's JSON monitor protocol: a greeting, `qmp_capabilities`, then
//! one `{"execute": …}` per command answered by `{"return": …}` or
//! `{"error": …}`, with `{"event": …}` lines in between.

use super::QemuError;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;

/// A connected QMP channel.
pub struct Qmp {
    conn: Option<(BufReader<UnixStream>, UnixStream)>,
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

    /// Reads the greeting and enters command mode.
    pub(crate) fn connect(s: UnixStream) -> Result<Qmp, QemuError> {
        let w = s.try_clone().map_err(|e| QemuError::io("QMP", e))?;
        let mut q = Qmp {
            conn: Some((BufReader::new(s), w)),
            events: Vec::new(),
        };
        let greeting = q.read_message("QMP greeting")?;
        if greeting.get("QMP").is_none() {
            return Err(QemuError::Protocol(format!(
                "QMP greeting expected, got {greeting}"
            )));
        }
        q.execute("qmp_capabilities", json!({}))?;
        Ok(q)
    }

    fn read_message(&mut self, what: &str) -> Result<Value, QemuError> {
        let (r, _) = self.conn.as_mut().ok_or(QemuError::Closed {
            what: format!("{what}: not connected"),
        })?;
        let mut line = String::new();
        let n = r.read_line(&mut line).map_err(|e| QemuError::io(what, e))?;
        if n == 0 {
            return Err(QemuError::Closed {
                what: what.to_string(),
            });
        }
        serde_json::from_str(&line).map_err(|e| {
            QemuError::Protocol(format!("{what}: not JSON ({e}): {}", line.trim_end()))
        })
    }

    /// Runs one command; its `return` value, or its error as
    /// [`QemuError::Command`].
    pub fn execute(&mut self, command: &str, arguments: Value) -> Result<Value, QemuError> {
        let (_, w) = self.conn.as_mut().ok_or(QemuError::Closed {
            what: format!("QMP {command}: not connected"),
        })?;
        let msg = json!({ "execute": command, "arguments": arguments });
        w.write_all(format!("{msg}\n").as_bytes())
            .map_err(|e| QemuError::io(&format!("QMP {command}"), e))?;
        loop {
            let m = self.read_message(&format!("QMP {command}"))?;
            if m.get("event").is_some() {
                self.events.push(m);
                continue;
            }
            if let Some(r) = m.get("return") {
                return Ok(r.clone());
            }
            if let Some(e) = m.get("error") {
                return Err(QemuError::Command {
                    command: command.to_string(),
                    message: e
                        .get("desc")
                        .and_then(Value::as_str)
                        .unwrap_or("(no description)")
                        .to_string(),
                });
            }
            return Err(QemuError::Protocol(format!(
                "QMP {command}: unexpected message {m}"
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
