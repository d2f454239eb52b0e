//! The one op type: a step of a trial (an access to one of the scenario's
//! devices, or a machine-wide event), and op lists, the JSON format shared
//! with QEMU's qtest-driven tools (DESIGN.md "Entry points"; an op list
//! drives one device, index 0), parsed with errors that name the op.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Access widths a guest access may have (8 is split as QEMU's memory core does).
pub const WIDTHS: [u32; 4] = [1, 2, 4, 8];

/// One step of a trial: an access to one of the scenario's devices, or a
/// machine-wide event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum TrialOp {
    Write {
        dev: usize,
        addr: u64,
        width: u32,
        val: u64,
    },
    Read {
        dev: usize,
        addr: u64,
        width: u32,
    },
    /// Virtual time passes for every device (`None`: to the next deadline).
    Step {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ns: Option<u64>,
    },
    /// Machine reset (every device).
    Reset,
    /// Migrate: in a trial to the next version of the chain; in an op list
    /// to a fresh device (of type `to`, if given).
    Migrate {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<String>,
        /// The destination opens its own copy of the drives, as they were
        /// when the source started (no shared storage): what the image
        /// holds then is the release's post-load write-back, or its absence.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        own_drives: bool,
    },
}

impl TrialOp {
    /// A migration to the next version, on shared storage.
    pub const MIGRATE: TrialOp = TrialOp::Migrate {
        to: None,
        own_drives: false,
    };

    /// A write of `width` bytes to scenario device `dev`.
    pub const fn write(dev: usize, addr: u64, width: u32, val: u64) -> TrialOp {
        TrialOp::Write {
            dev,
            addr,
            width,
            val,
        }
    }

    /// A read of `width` bytes from scenario device `dev`.
    pub const fn read(dev: usize, addr: u64, width: u32) -> TrialOp {
        TrialOp::Read { dev, addr, width }
    }
}

impl std::fmt::Display for TrialOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TrialOp::Write {
                dev,
                addr,
                width,
                val,
            } => {
                write!(f, "dev{dev} write {addr:#x} w{width} {val:#x}")
            }
            TrialOp::Read { dev, addr, width } => write!(f, "dev{dev} read {addr:#x} w{width}"),
            TrialOp::Step { ns: Some(ns) } => write!(f, "step {ns} ns"),
            TrialOp::Step { ns: None } => f.write_str("step (next deadline)"),
            TrialOp::Reset => f.write_str("reset"),
            TrialOp::Migrate { to, own_drives } => {
                f.write_str("migrate")?;
                if let Some(t) = to {
                    write!(f, " to {t}")?;
                }
                if *own_drives {
                    f.write_str(" (own drives)")?;
                }
                Ok(())
            }
        }
    }
}

/// A malformed op list.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error("{source_name}: malformed JSON at line {line}, column {column}: {message}")]
    Json {
        source_name: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{source_name}: expected a JSON array of ops at the top level")]
    NotArray { source_name: String },
    #[error("{source_name}: op {index}: {message}")]
    Op {
        source_name: String,
        index: usize,
        message: String,
    },
}

/// Parses a JSON number or `"0x…"`/decimal string as an unsigned integer.
pub fn parse_number(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => {
            let s = s.trim();
            match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
                Some(hex) => u64::from_str_radix(hex, 16).ok(),
                None => s.parse().ok(),
            }
        }
        _ => None,
    }
}

/// Parses the op list in `text`; `source_name` names it in errors.
/// `window` is the device window size: every access must lie inside it.
pub fn parse_ops(text: &str, source_name: &str, window: u64) -> Result<Vec<TrialOp>, OpsError> {
    let value: Value = serde_json::from_str(text).map_err(|e| OpsError::Json {
        source_name: source_name.to_string(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    let Value::Array(items) = value else {
        return Err(OpsError::NotArray {
            source_name: source_name.to_string(),
        });
    };
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            parse_op(item, window).map_err(|message| OpsError::Op {
                source_name: source_name.to_string(),
                index,
                message,
            })
        })
        .collect()
}

fn field<'a>(obj: &'a serde_json::Map<String, Value>, key: &str) -> Result<&'a Value, String> {
    obj.get(key)
        .ok_or_else(|| format!("missing '{key}' (expected an integer or \"0x…\" string)"))
}

fn number(obj: &serde_json::Map<String, Value>, key: &str) -> Result<u64, String> {
    let v = field(obj, key)?;
    parse_number(v)
        .ok_or_else(|| format!("'{key}' must be a non-negative integer or \"0x…\" string, got {v}"))
}

fn access(obj: &serde_json::Map<String, Value>, window: u64) -> Result<(u64, u32), String> {
    let addr = number(obj, "addr")?;
    let width = number(obj, "width")?;
    if !WIDTHS.contains(&(width as u32)) || width > 8 {
        return Err(format!("'width' must be 1, 2, 4 or 8, got {width}"));
    }
    if addr.checked_add(width).is_none_or(|end| end > window) {
        return Err(format!(
            "address {addr:#x} (width {width}) lies outside the device window [0, {window:#x})"
        ));
    }
    Ok((addr, width as u32))
}

fn parse_op(item: &Value, window: u64) -> Result<TrialOp, String> {
    let Value::Object(obj) = item else {
        return Err(format!(
            "expected an object like {{\"op\":\"read\",...}}, got {item}"
        ));
    };
    let kind = match obj.get("op") {
        Some(Value::String(s)) => s.as_str(),
        Some(other) => return Err(format!("'op' must be a string, got {other}")),
        None => return Err("missing 'op' (one of write, read, step, reset, migrate)".into()),
    };
    match kind {
        "write" => {
            let (addr, width) = access(obj, window)?;
            let val = number(obj, "val")?;
            // The memory core truncates the value to the access width.
            Ok(TrialOp::Write {
                dev: 0,
                addr,
                width,
                val: val & devices::device::mask(width),
            })
        }
        "read" => {
            let (addr, width) = access(obj, window)?;
            Ok(TrialOp::Read {
                dev: 0,
                addr,
                width,
            })
        }
        "step" => match obj.get("ns") {
            None | Some(Value::Null) => Ok(TrialOp::Step { ns: None }),
            Some(_) => Ok(TrialOp::Step {
                ns: Some(number(obj, "ns")?),
            }),
        },
        "reset" => Ok(TrialOp::Reset),
        "migrate" => {
            let to = match obj.get("to") {
                None | Some(Value::Null) => None,
                Some(Value::String(t)) => Some(t.clone()),
                Some(other) => return Err(format!("'to' must be a device type name, got {other}")),
            };
            let own_drives = match obj.get("own-drives") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(other) => {
                    return Err(format!("'own-drives' must be true or false, got {other}"))
                }
            };
            Ok(TrialOp::Migrate { to, own_drives })
        }
        other => Err(format!(
            "unknown op '{other}' (expected write, read, step, reset or migrate)"
        )),
    }
}

/// The op-list JSON form of an op (inverse of parsing; numbers as
/// integers; an op list drives one device, so no device index).
pub fn op_to_json(op: &TrialOp) -> Value {
    use serde_json::json;
    match op {
        TrialOp::Write {
            addr, width, val, ..
        } => {
            json!({"op": "write", "addr": addr, "width": width, "val": val})
        }
        TrialOp::Read { addr, width, .. } => json!({"op": "read", "addr": addr, "width": width}),
        TrialOp::Step { ns: Some(ns) } => json!({"op": "step", "ns": ns}),
        TrialOp::Step { ns: None } => json!({"op": "step"}),
        TrialOp::Reset => json!({"op": "reset"}),
        TrialOp::Migrate { to, own_drives } => {
            let mut v = json!({"op": "migrate"});
            if let Some(t) = to {
                v["to"] = json!(t);
            }
            if *own_drives {
                v["own-drives"] = json!(true);
            }
            v
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_op_kind_and_hex_strings() {
        let ops = parse_ops(
            r#"[{"op":"write","addr":"0x10","width":2,"val":"0x1FFFF","note":"x"},
                {"op":"read","addr":16,"width":4},{"op":"step","ns":50000},{"op":"step"},
                {"op":"reset"},{"op":"migrate"},{"op":"migrate","to":"cfi.pflash01"}]"#,
            "t.json",
            0x100,
        )
        .unwrap();
        assert_eq!(
            ops,
            vec![
                TrialOp::Write {
                    dev: 0,
                    addr: 0x10,
                    width: 2,
                    val: 0xFFFF
                },
                TrialOp::Read {
                    dev: 0,
                    addr: 16,
                    width: 4
                },
                TrialOp::Step { ns: Some(50000) },
                TrialOp::Step { ns: None },
                TrialOp::Reset,
                TrialOp::MIGRATE,
                TrialOp::Migrate {
                    to: Some("cfi.pflash01".into()),
                    own_drives: false,
                },
            ]
        );
        for op in &ops {
            let text = serde_json::to_string(&vec![op_to_json(op)]).unwrap();
            assert_eq!(&parse_ops(&text, "rt", 0x100).unwrap()[0], op);
        }
    }

    #[test]
    fn errors_name_the_op_and_the_expectation() {
        let err = |s: &str| parse_ops(s, "f.json", 0x100).unwrap_err().to_string();
        assert_eq!(
            err(r#"[{"op":"reset"},{"op":"read","addr":0,"width":3}]"#),
            "f.json: op 1: 'width' must be 1, 2, 4 or 8, got 3"
        );
        assert!(err(r#"[{"op":"read","addr":"0xfe","width":4}]"#).contains("op 0: address 0xfe"));
        assert!(err(r#"[{"op":"jump"}]"#).contains("unknown op 'jump'"));
        assert!(err(r#"[{"op":"write","addr":0,"width":1}]"#).contains("missing 'val'"));
        assert!(err(r#"[{"op":"read","addr":-1,"width":1}]"#).contains("'addr' must be"));
        assert!(err("[{\"op\":").contains("malformed JSON at line 1"));
        assert!(err("{}").contains("expected a JSON array"));
        assert!(err(r#"[{"op":"step","ns":"ten"}]"#).contains("'ns' must be"));
    }
}
