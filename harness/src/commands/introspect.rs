//! `norcompat introspect`: each device state struct of a version as QEMU's
//! QAPI introspection (`query-qmp-schema`) shows an object type — name,
//! members, and the effective features only — followed by the enum, array
//! and builtin types its members refer to.
//!
//! The members come from the state's JSON Schema (derived from the Rust
//! type), so the introspection cannot drift from what `state()` serializes.

use crate::commands::CliError;
use crate::definitions::versions::Version;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

/// The introspection of every device state struct of `version`.
pub fn schema(version: &Version) -> Result<Value, String> {
    let mut types = Types::default();
    let mut out = Vec::new();
    for d in &version.devices {
        let schema = devices::state_schema(&d.type_name)
            .ok_or_else(|| format!("device '{}': unknown type '{}'", d.id, d.type_name))?;
        let defs = schema.get("$defs").and_then(Value::as_object);
        let empty = Map::new();
        let mut walker = Walker {
            defs: defs.unwrap_or(&empty),
            types: &mut types,
        };
        let members = walker
            .members(&schema)
            .map_err(|e| format!("state of '{}': {e}", d.type_name))?;
        out.push(json!({
            "name": format!("{}-state", d.type_name),
            "meta-type": "object",
            "members": members,
            "features": d.features.iter().collect::<Vec<_>>(),
            "device": d.id,
        }));
    }
    out.extend(types.0.into_values());
    Ok(Value::Array(out))
}

/// The named types members refer to, by name (printed in name order).
#[derive(Default)]
struct Types(BTreeMap<String, Value>);

impl Types {
    /// Registers `info` under `name`; the same name must always mean the same type.
    fn add(&mut self, name: &str, info: Value) -> Result<(), String> {
        match self.0.get(name) {
            Some(known) if *known != info => Err(format!("two different types are named '{name}'")),
            Some(_) => Ok(()),
            None => {
                self.0.insert(name.to_string(), info);
                Ok(())
            }
        }
    }
}

/// Turns JSON Schema nodes into QAPI type names, registering named types.
struct Walker<'a> {
    defs: &'a Map<String, Value>,
    types: &'a mut Types,
}

impl Walker<'_> {
    /// The members of an object schema: `{ name, type }`, plus
    /// `"default": null` for optional ones (QAPI's encoding).
    fn members(&mut self, object: &Value) -> Result<Vec<Value>, String> {
        let properties = object
            .get("properties")
            .and_then(Value::as_object)
            .ok_or("an object without properties")?;
        let required: Vec<&str> = object
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut members = Vec::new();
        for (name, schema) in properties {
            let ty = self.type_name(strip_null(schema))?;
            members.push(if required.contains(&name.as_str()) {
                json!({ "name": name, "type": ty })
            } else {
                json!({ "name": name, "type": ty, "default": null })
            });
        }
        Ok(members)
    }

    /// The QAPI name of the type `schema` describes.
    fn type_name(&mut self, schema: &Value) -> Result<String, String> {
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            let name = reference
                .strip_prefix("#/$defs/")
                .ok_or_else(|| format!("unsupported reference '{reference}'"))?;
            let def = self
                .defs
                .get(name)
                .ok_or_else(|| format!("reference to undefined '{name}'"))?;
            return self.named(name, def);
        }
        match json_type(schema) {
            Some("boolean") => self.builtin("bool", "boolean"),
            Some("string") => self.builtin("str", "string"),
            Some("integer") => {
                let format = schema
                    .get("format")
                    .and_then(Value::as_str)
                    .unwrap_or("int");
                self.builtin(format, "int")
            }
            Some("array") => {
                let items = schema.get("items").ok_or("an array without items")?;
                let element = self.type_name(items)?;
                let name = format!("[{element}]");
                self.types.add(
                    &name,
                    json!({ "name": name, "meta-type": "array", "element-type": element }),
                )?;
                Ok(name)
            }
            _ => Err(format!("unsupported schema {schema}")),
        }
    }

    /// A type defined once and referred to by name: an object, an enum of
    /// strings, or an alias of a builtin (a command byte, say).
    fn named(&mut self, name: &str, def: &Value) -> Result<String, String> {
        if let Some(values) = enum_values(def) {
            let members: Vec<Value> = values.iter().map(|v| json!({ "name": v })).collect();
            self.types.add(
                name,
                json!({ "name": name, "meta-type": "enum", "members": members, "values": values }),
            )?;
            return Ok(name.to_string());
        }
        if def.get("type").and_then(Value::as_str) == Some("object") {
            let members = self.members(def)?;
            self.types.add(
                name,
                json!({ "name": name, "meta-type": "object", "members": members }),
            )?;
            return Ok(name.to_string());
        }
        self.type_name(def)
    }

    /// A builtin type (`uint8`, `bool`, …) with its JSON type.
    fn builtin(&mut self, name: &str, json_type: &str) -> Result<String, String> {
        self.types.add(
            name,
            json!({ "name": name, "meta-type": "builtin", "json-type": json_type }),
        )?;
        Ok(name.to_string())
    }
}

/// A schema's JSON type, ignoring the `"null"` of an optional member
/// (`"type": ["integer", "null"]`).
fn json_type(schema: &Value) -> Option<&str> {
    match schema.get("type")? {
        Value::String(t) => Some(t),
        Value::Array(types) => {
            let mut non_null = types
                .iter()
                .filter_map(Value::as_str)
                .filter(|t| *t != "null");
            match (non_null.next(), non_null.next()) {
                (Some(t), None) => Some(t),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The values of an enum of strings: `"enum": [...]`, or `oneOf` string
/// constants (the form a documented Rust enum takes).
fn enum_values(def: &Value) -> Option<Vec<&str>> {
    if let Some(values) = def.get("enum").and_then(Value::as_array) {
        return values.iter().map(Value::as_str).collect();
    }
    def.get("oneOf")?
        .as_array()?
        .iter()
        .map(|alternative| alternative.get("const").and_then(Value::as_str))
        .collect()
}

/// The non-null alternative of an optional member's schema
/// (`"type": [T, "null"]` or `anyOf: [T, {"type": "null"}]`).
fn strip_null(schema: &Value) -> &Value {
    if let Some(alternatives) = schema.get("anyOf").and_then(Value::as_array) {
        let non_null: Vec<&Value> = alternatives
            .iter()
            .filter(|a| a.get("type").and_then(Value::as_str) != Some("null"))
            .collect();
        if let [only] = non_null[..] {
            return only;
        }
    }
    schema
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project_version(name: &str) -> Version {
        let root = crate::definitions::project::default_root();
        crate::definitions::versions::find_version(&root.join("machines"), name).unwrap()
    }

    fn entry<'a>(schema: &'a Value, name: &str) -> &'a Value {
        schema
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("no type '{name}' in {schema:#}"))
    }

    fn member_type<'a>(object: &'a Value, member: &str) -> &'a Value {
        object["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == member)
            .unwrap_or_else(|| panic!("no member '{member}' in {object:#}"))
    }

    #[test]
    fn test_members_carry_their_rust_widths_and_optionality() {
        let schema = schema(&project_version("v6")).unwrap();
        let cfi01 = entry(&schema, "parallel-nor-cfi01-flash-state");
        assert_eq!(cfi01["meta-type"], "object");
        assert_eq!(member_type(cfi01, "wcycle")["type"], "uint8");
        assert_eq!(member_type(cfi01, "cmd")["type"], "uint8");
        assert_eq!(member_type(cfi01, "counter")["type"], "uint64");
        assert_eq!(member_type(cfi01, "romd")["type"], "bool");
        let buffer = member_type(cfi01, "write_buffer");
        assert_eq!(buffer["type"], "WriteBuffer");
        assert_eq!(buffer["default"], Value::Null);
        assert!(buffer.as_object().unwrap().contains_key("default"));
        assert!(!member_type(cfi01, "romd")
            .as_object()
            .unwrap()
            .contains_key("default"));
        let write_buffer = entry(&schema, "WriteBuffer");
        assert_eq!(member_type(write_buffer, "bytes")["type"], "[uint8]");
        assert_eq!(entry(&schema, "[uint8]")["element-type"], "uint8");
        assert_eq!(entry(&schema, "uint8")["meta-type"], "builtin");
    }

    #[test]
    fn test_enums_list_their_values() {
        let schema = schema(&project_version("v6")).unwrap();
        let cfi02 = entry(&schema, "parallel-nor-cfi02-flash-state");
        assert_eq!(member_type(cfi02, "cycle")["type"], "Cycle");
        assert_eq!(member_type(cfi02, "erase_queue")["type"], "[uint32]");
        let cycle = entry(&schema, "Cycle");
        assert_eq!(cycle["meta-type"], "enum");
        let values = cycle["values"].as_array().unwrap();
        assert!(values.contains(&json!("read")) && values.contains(&json!("sector-erase")));
    }

    #[test]
    fn test_members_are_exactly_what_the_state_serializes() {
        for version in ["v5", "v6"] {
            let version = project_version(version);
            let schema = schema(&version).unwrap();
            for d in &version.devices {
                let dev = devices::create(&d.spec, d.backend()).unwrap();
                let state = serde_json::to_value(dev.state()).unwrap();
                let mut serialized: Vec<&String> = state.as_object().unwrap().keys().collect();
                serialized.retain(|k| *k != "type");
                let object = schema
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|e| e["device"] == d.id.as_str())
                    .unwrap();
                let members: Vec<&str> = object["members"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|m| m["name"].as_str().unwrap())
                    .collect();
                assert_eq!(members, serialized, "{}", d.type_name);
            }
        }
    }

    #[test]
    fn test_only_effective_features_are_shown() {
        let v6 = schema(&project_version("v6")).unwrap();
        let compat = schema(&project_version("v6-compat5")).unwrap();
        let features = |s: &Value| entry(s, "parallel-nor-cfi01-flash-state")["features"].clone();
        let has = |f: &Value, name: &str| f.as_array().unwrap().contains(&json!(name));
        assert!(has(&features(&v6), "restores-read-mode"));
        assert!(!has(&features(&compat), "restores-read-mode"));
        assert!(has(&features(&compat), "write-buffer"));
    }
}

/// `norcompat introspect VERSION`.
#[derive(clap::Args, Debug)]
pub struct IntrospectArgs {
    /// A version name (machines/<name>.toml) or a path to a machine definition.
    pub version: String,
}

/// Runs `norcompat introspect`: QAPI-introspection-shaped schema of each
/// device state struct with its effective features.
pub fn introspect(args: IntrospectArgs) -> Result<ExitCode, CliError> {
    let root = crate::definitions::project::default_root();
    let path = PathBuf::from(&args.version);
    let version = if path.is_file() {
        crate::definitions::versions::load_version(&path)?
    } else {
        crate::definitions::versions::find_version(&root.join("machines"), &args.version)?
    };
    let json = crate::commands::introspect::schema(&version)?;
    println!("{}", serde_json::to_string_pretty(&json)?);
    Ok(ExitCode::SUCCESS)
}
