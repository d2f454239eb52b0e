//! Device properties: QEMU's names, types and defaults, parsed from
//! `TYPE,prop=value,...` strings or key/value pairs (machine definitions).

use std::collections::BTreeMap;
use std::fmt;

/// The type of a property value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PropKind {
    U8,
    U16,
    U32,
    U64,
    Bool,
    Str,
}

impl PropKind {
    fn max(self) -> u64 {
        match self {
            PropKind::U8 => u8::MAX as u64,
            PropKind::U16 => u16::MAX as u64,
            PropKind::U32 => u32::MAX as u64,
            _ => u64::MAX,
        }
    }
}

impl fmt::Display for PropKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PropKind::U8 => "uint8",
            PropKind::U16 => "uint16",
            PropKind::U32 => "uint32",
            PropKind::U64 => "uint64",
            PropKind::Bool => "bool",
            PropKind::Str => "str",
        })
    }
}

/// One declared property of a device type.
#[derive(Clone, Copy, Debug)]
pub struct PropDef {
    pub name: &'static str,
    pub kind: PropKind,
    /// Default as QEMU declares it (`None` for an unset string).
    pub default: Option<PropValue>,
    pub doc: &'static str,
}

/// A parsed property value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PropValue {
    Int(u64),
    Bool(bool),
}

/// A property error a user can cause: unknown name or a value of the wrong type.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PropError {
    #[error("Property '{ty}.{name}' not found")]
    Unknown { ty: String, name: String },
    #[error("Property '{ty}.{name}': expected {kind}, got '{value}'")]
    BadValue {
        ty: String,
        name: String,
        kind: PropKind,
        value: String,
    },
    #[error("Property '{ty}.{name}': value {value} out of range for {kind} (maximum {max:#x})")]
    OutOfRange {
        ty: String,
        name: String,
        kind: PropKind,
        value: String,
        max: u64,
    },
    #[error("Property '{ty}.{name}' given twice")]
    Duplicate { ty: String, name: String },
    #[error("malformed property '{item}' in '{spec}': expected prop=value")]
    Malformed { spec: String, item: String },
    #[error("empty device specification: expected 'TYPE,prop=value,...'")]
    Empty,
}

/// A device type name with its property assignments, as written by the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceSpec {
    pub type_name: String,
    pub props: Vec<(String, String)>,
}

impl DeviceSpec {
    /// Parses `TYPE,prop=value,...` (QEMU's `-device` syntax without escapes).
    pub fn parse(spec: &str) -> Result<DeviceSpec, PropError> {
        let mut parts = spec.split(',');
        let type_name = parts.next().unwrap_or("").trim().to_string();
        if type_name.is_empty() {
            return Err(PropError::Empty);
        }
        let mut props = Vec::new();
        for item in parts {
            let Some((k, v)) = item.split_once('=') else {
                return Err(PropError::Malformed {
                    spec: spec.to_string(),
                    item: item.to_string(),
                });
            };
            props.push((k.trim().to_string(), v.trim().to_string()));
        }
        Ok(DeviceSpec { type_name, props })
    }

    /// The same properties under another type name (`migrate` with `to`).
    pub fn with_type(&self, type_name: &str) -> DeviceSpec {
        DeviceSpec {
            type_name: type_name.to_string(),
            props: self.props.clone(),
        }
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.type_name)?;
        for (k, v) in &self.props {
            write!(f, ",{k}={v}")?;
        }
        Ok(())
    }
}

/// Property values of one device after parsing: every declared property has a
/// value (given or default), except unset strings.
#[derive(Clone, Debug, Default)]
pub struct PropValues {
    ints: BTreeMap<&'static str, u64>,
    bools: BTreeMap<&'static str, bool>,
    strs: BTreeMap<&'static str, String>,
}

/// Parses an integer as QEMU's string visitor does: decimal, `0x` hex or `0` octal.
pub fn parse_int(s: &str) -> Option<u64> {
    let s = s.trim();
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u64::from_str_radix(hex, 16).ok()
    } else if s.len() > 1 && s.starts_with('0') {
        u64::from_str_radix(&s[1..], 8).ok()
    } else {
        s.parse().ok()
    }
}

fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "on" | "yes" | "true" => Some(true),
        "off" | "no" | "false" => Some(false),
        _ => None,
    }
}

impl PropValues {
    /// Parses `props` against the declared `defs` of type `ty`.
    pub fn parse(
        ty: &str,
        defs: &[PropDef],
        props: &[(String, String)],
    ) -> Result<PropValues, PropError> {
        let mut out = PropValues::default();
        for d in defs {
            match d.default {
                Some(PropValue::Int(v)) => {
                    out.ints.insert(d.name, v);
                }
                Some(PropValue::Bool(b)) => {
                    out.bools.insert(d.name, b);
                }
                None => {}
            }
        }
        let mut seen: Vec<&str> = Vec::new();
        for (name, value) in props {
            let Some(def) = defs.iter().find(|d| d.name == name) else {
                return Err(PropError::Unknown {
                    ty: ty.to_string(),
                    name: name.clone(),
                });
            };
            if seen.contains(&def.name) {
                return Err(PropError::Duplicate {
                    ty: ty.to_string(),
                    name: name.clone(),
                });
            }
            seen.push(def.name);
            let bad = || PropError::BadValue {
                ty: ty.to_string(),
                name: name.clone(),
                kind: def.kind,
                value: value.clone(),
            };
            match def.kind {
                PropKind::Str => {
                    out.strs.insert(def.name, value.clone());
                }
                PropKind::Bool => {
                    out.bools
                        .insert(def.name, parse_bool(value).ok_or_else(bad)?);
                }
                kind => {
                    let v = parse_int(value).ok_or_else(bad)?;
                    if v > kind.max() {
                        return Err(PropError::OutOfRange {
                            ty: ty.to_string(),
                            name: name.clone(),
                            kind,
                            value: value.clone(),
                            max: kind.max(),
                        });
                    }
                    out.ints.insert(def.name, v);
                }
            }
        }
        Ok(out)
    }

    /// Integer property value (0 if undeclared).
    pub fn int(&self, name: &str) -> u64 {
        self.ints.get(name).copied().unwrap_or(0)
    }

    /// Boolean property value (false if undeclared).
    pub fn bool(&self, name: &str) -> bool {
        self.bools.get(name).copied().unwrap_or(false)
    }

    /// String property value, if set.
    pub fn str(&self, name: &str) -> Option<&str> {
        self.strs.get(name).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFS: &[PropDef] = &[
        PropDef {
            name: "width",
            kind: PropKind::U8,
            default: Some(PropValue::Int(0)),
            doc: "",
        },
        PropDef {
            name: "big-endian",
            kind: PropKind::Bool,
            default: Some(PropValue::Bool(false)),
            doc: "",
        },
        PropDef {
            name: "name",
            kind: PropKind::Str,
            default: None,
            doc: "",
        },
    ];

    fn parse(s: &str) -> Result<PropValues, PropError> {
        let spec = DeviceSpec::parse(s)?;
        PropValues::parse(&spec.type_name, DEFS, &spec.props)
    }

    #[test]
    fn parses_qemu_syntax() {
        let v = parse("t,width=0x4,big-endian=on,name=virt.flash0").unwrap();
        assert_eq!(v.int("width"), 4);
        assert!(v.bool("big-endian"));
        assert_eq!(v.str("name"), Some("virt.flash0"));
        assert_eq!(parse("t").unwrap().int("width"), 0);
    }

    #[test]
    fn rejects_bad_input_with_names() {
        assert_eq!(
            parse("t,foo=1").unwrap_err().to_string(),
            "Property 't.foo' not found"
        );
        assert!(matches!(
            parse("t,width=256"),
            Err(PropError::OutOfRange { .. })
        ));
        assert!(matches!(
            parse("t,width=x"),
            Err(PropError::BadValue { .. })
        ));
        assert!(matches!(
            parse("t,big-endian=2"),
            Err(PropError::BadValue { .. })
        ));
        assert!(matches!(parse("t,width"), Err(PropError::Malformed { .. })));
        assert!(matches!(
            parse("t,width=1,width=2"),
            Err(PropError::Duplicate { .. })
        ));
        assert!(matches!(parse(""), Err(PropError::Empty)));
    }
}
