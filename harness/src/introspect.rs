//! `norcompat introspect`: each device state struct of a version as QEMU's
//! QAPI introspection shows an object type — name, members, and the
//! effective features only.

use crate::machines::Version;
use serde_json::{json, Value};

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_u64() => "uint64",
        Value::Number(_) => "number",
        Value::String(_) => "str",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
        Value::Null => "null",
    }
}

/// The schema of every device state struct of `version`.
pub fn schema(version: &Version) -> Result<Value, devices::DeviceError> {
    let mut out = Vec::new();
    for d in &version.devices {
        let dev = devices::create(&d.spec, d.backend())?;
        let state = serde_json::to_value(dev.state()).unwrap_or(Value::Null);
        let members: Vec<Value> = state
            .as_object()
            .map(|o| {
                o.iter()
                    .filter(|(k, _)| k.as_str() != "type")
                    .map(|(k, v)| {
                        // Optional members have a null value in a fresh device.
                        let ty = json_type(v);
                        if v.is_null() {
                            json!({ "name": k, "type": "any", "default": null })
                        } else {
                            json!({ "name": k, "type": ty })
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        let name = format!("{}-state", d.type_name);
        out.push(json!({
            "name": name,
            "meta-type": "object",
            "members": members,
            "features": d.features.iter().collect::<Vec<_>>(),
            "device": d.id,
        }));
    }
    Ok(json!(out))
}
