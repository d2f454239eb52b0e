//! Op lists: the JSON format shared with QEMU's qtest-driven tools
//! (DESIGN.md "Entry points"), parsed with errors that name the op.

use serde_json::Value;
use std::fmt;

/// Access widths a guest access may have (8 is split as QEMU's memory core does).
pub const WIDTHS: [u32; 4] = [1, 2, 4, 8];

/// One operation of an op list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Write {
        addr: u64,
        width: u32,
        val: u64,
    },
    Read {
        addr: u64,
        width: u32,
    },
    /// Advance the virtual clock by `ns`, or to the next pending deadline.
    Step {
        ns: Option<u64>,
    },
    Reset,
    /// Save and load into a fresh device (of type `to`, if given).
    Migrate {
        to: Option<String>,
    },
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Write { addr, width, val } => write!(f, "write {addr:#x} w{width} {val:#x}"),
            Op::Read { addr, width } => write!(f, "read {addr:#x} w{width}"),
            Op::Step { ns: Some(ns) } => write!(f, "step {ns} ns"),
            Op::Step { ns: None } => f.write_str("step (next deadline)"),
            Op::Reset => f.write_str("reset"),
            Op::Migrate { to: None } => f.write_str("migrate"),
            Op::Migrate { to: Some(t) } => write!(f, "migrate to {t}"),
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
pub fn parse_ops(text: &str, source_name: &str, window: u64) -> Result<Vec<Op>, OpsError> {
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

fn parse_op(item: &Value, window: u64) -> Result<Op, String> {
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
            Ok(Op::Write {
                addr,
                width,
                val: val & devices::device::mask(width),
            })
        }
        "read" => {
            let (addr, width) = access(obj, window)?;
            Ok(Op::Read { addr, width })
        }
        "step" => match obj.get("ns") {
            None | Some(Value::Null) => Ok(Op::Step { ns: None }),
            Some(_) => Ok(Op::Step {
                ns: Some(number(obj, "ns")?),
            }),
        },
        "reset" => Ok(Op::Reset),
        "migrate" => match obj.get("to") {
            None | Some(Value::Null) => Ok(Op::Migrate { to: None }),
            Some(Value::String(t)) => Ok(Op::Migrate {
                to: Some(t.clone()),
            }),
            Some(other) => Err(format!("'to' must be a device type name, got {other}")),
        },
        other => Err(format!(
            "unknown op '{other}' (expected write, read, step, reset or migrate)"
        )),
    }
}

/// The JSON form of an op (inverse of parsing; numbers as integers).
pub fn op_to_json(op: &Op) -> Value {
    use serde_json::json;
    match op {
        Op::Write { addr, width, val } => {
            json!({"op": "write", "addr": addr, "width": width, "val": val})
        }
        Op::Read { addr, width } => json!({"op": "read", "addr": addr, "width": width}),
        Op::Step { ns: Some(ns) } => json!({"op": "step", "ns": ns}),
        Op::Step { ns: None } => json!({"op": "step"}),
        Op::Reset => json!({"op": "reset"}),
        Op::Migrate { to: None } => json!({"op": "migrate"}),
        Op::Migrate { to: Some(t) } => json!({"op": "migrate", "to": t}),
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
                Op::Write {
                    addr: 0x10,
                    width: 2,
                    val: 0xFFFF
                },
                Op::Read { addr: 16, width: 4 },
                Op::Step { ns: Some(50000) },
                Op::Step { ns: None },
                Op::Reset,
                Op::Migrate { to: None },
                Op::Migrate {
                    to: Some("cfi.pflash01".into())
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
