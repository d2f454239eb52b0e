//! `-dump-vmstate` JSON and the rules of QEMU's
//! `scripts/vmstate-static-checker.py` (spec migration.md §9).
//!
//! The dump has QEMU's shape and text layout: `"vmschkmachine": {"Name"}`,
//! then one entry per device type that has a state description, keyed by the
//! QOM type, with `Name`, `version_id`, `minimum_version_id` and a
//! `Description` (`name`, `version_id`, `minimum_version_id`, `Fields`
//! [{`field`, `version_id`, `field_exists`, `size`}], `Subsections`).
//! Variable buffers dump `size: 0`.
//!
//! Two extensions, both absent from every v5 dump (so v5's dump is exactly
//! QEMU 7.2.22's):
//! - the description dumped is the one the device *emits* under the machine
//!   type of the dump (QEMU dumps the class's vmsd whatever the machine type;
//!   here compat properties can change what is emitted, and the dump says so);
//! - loaders registered under other id strings (QEMU's "register a handler
//!   under the old name", invisible to QEMU's dump) are listed under
//!   `"x-loads"`. The checker uses them on the destination side: a source
//!   description that matches a destination loader is checked against it.
//!
//! The checker follows the script rule for rule (section presence with a
//! rename whitelist, versions, entries, description names, fields in order by
//! name and size, `unused` padding, sub-structs, subsections) and prints the
//! same messages. QEMU's per-device field rename table lists no flash device
//! and is not carried.

use crate::device::FlashDevice;
use crate::vmstate::{EntryRole, FieldDesc, VmStateDescription};
use serde_json::Value;
use std::fmt::Write as _;

/// Top-level key naming the machine type of a dump.
pub const MACHINE_KEY: &str = "vmschkmachine";
/// Extension key: loaders registered under other id strings.
pub const LOADS_KEY: &str = "x-loads";
/// The exit status cap of the checker (an 8-bit shell status).
pub const MAX_EXIT: usize = 255;

/// Section (QOM type) renames the checker tolerates, like the script's
/// `get_changed_sec_name` table: QEMU's two entries plus the v6 renames of
/// the flash types.
pub const SECTION_RENAMES: &[(&str, &str)] = &[
    ("ICH9 LPC", "ICH9-LPC"),
    ("e1000-82540em", "e1000"),
    ("cfi.pflash01", crate::catalogue::compat::V6_CFI01_TYPE),
    ("cfi.pflash02", crate::catalogue::compat::V6_CFI02_TYPE),
];

/// The dump entry of one device type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DumpEntry {
    /// QOM type name (the key and `Name`).
    pub qom_type: String,
    /// The description the type emits under this machine type, if any.
    pub emitted: Option<VmStateDescription>,
    /// Descriptions it only accepts on load (legacy loaders).
    pub loads: Vec<VmStateDescription>,
}

/// One entry per device type of `devices` (the first device of each type
/// stands for the type, as QEMU dumps classes), types with no registration
/// left out.
pub fn dump_entries(devices: &[&dyn FlashDevice]) -> Vec<DumpEntry> {
    let mut out: Vec<DumpEntry> = Vec::new();
    for dev in devices {
        if out.iter().any(|e| e.qom_type == dev.type_name()) {
            continue;
        }
        let entries = dev.vmstate_entries();
        if entries.is_empty() {
            continue;
        }
        let mut entry = DumpEntry {
            qom_type: dev.type_name().to_string(),
            emitted: None,
            loads: Vec::new(),
        };
        for e in entries {
            match e.role {
                EntryRole::Emit if entry.emitted.is_none() => entry.emitted = Some(e.vmsd),
                _ => entry.loads.push(e.vmsd),
            }
        }
        out.push(entry);
    }
    out
}

fn json_str(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

fn dump_field(out: &mut String, f: &FieldDesc, indent: usize) {
    let pad = " ".repeat(indent);
    let pad2 = " ".repeat(indent + 2);
    let _ = write!(
        out,
        "{pad}{{\n{pad2}\"field\": {},\n{pad2}\"version_id\": {},\n{pad2}\"field_exists\": false,\n\
         {pad2}\"size\": {}\n{pad}}}",
        json_str(f.name),
        f.version_id,
        f.kind.dump_size()
    );
}

/// QEMU's `dump_vmstate_vmsd`.
fn dump_vmsd(out: &mut String, vmsd: &VmStateDescription, indent: usize, is_subsection: bool) {
    let pad = " ".repeat(indent);
    let pad2 = " ".repeat(indent + 2);
    if is_subsection {
        let _ = writeln!(out, "{pad}{{");
    } else {
        let _ = writeln!(out, "{pad}\"Description\": {{");
    }
    let _ = write!(
        out,
        "{pad2}\"name\": {},\n{pad2}\"version_id\": {},\n{pad2}\"minimum_version_id\": {}",
        json_str(vmsd.name),
        vmsd.version_id,
        vmsd.minimum_version_id
    );
    if !vmsd.fields.is_empty() {
        let _ = writeln!(out, ",\n{pad2}\"Fields\": [");
        for (i, f) in vmsd.fields.iter().enumerate() {
            if i > 0 {
                out.push_str(",\n");
            }
            dump_field(out, f, indent + 4);
        }
        let _ = write!(out, "\n{pad2}]");
    }
    if !vmsd.subsections.is_empty() {
        let _ = writeln!(out, ",\n{pad2}\"Subsections\": [");
        for (i, s) in vmsd.subsections.iter().enumerate() {
            if i > 0 {
                out.push_str(",\n");
            }
            dump_vmsd(out, &s.vmsd, indent + 4, true);
        }
        let _ = write!(out, "\n{pad2}]");
    }
    let _ = write!(out, "\n{pad}}}");
}

/// The dump as text, laid out exactly as QEMU's `-dump-vmstate` writes it.
pub fn dump_json(machine_type: &str, entries: &[DumpEntry]) -> String {
    let mut out = String::from("{\n");
    let _ = write!(
        out,
        "  \"{MACHINE_KEY}\": {{\n    \"Name\": {}\n  }}",
        json_str(machine_type)
    );
    for e in entries {
        out.push_str(",\n");
        let _ = writeln!(out, "  {}: {{", json_str(&e.qom_type));
        let _ = write!(out, "    \"Name\": {}", json_str(&e.qom_type));
        if let Some(vmsd) = &e.emitted {
            let _ = writeln!(
                out,
                ",\n    \"version_id\": {},\n    \"minimum_version_id\": {},",
                vmsd.version_id, vmsd.minimum_version_id
            );
            dump_vmsd(&mut out, vmsd, 4, false);
        }
        if !e.loads.is_empty() {
            let _ = writeln!(out, ",\n    \"{LOADS_KEY}\": [");
            for (i, l) in e.loads.iter().enumerate() {
                if i > 0 {
                    out.push_str(",\n");
                }
                dump_vmsd(&mut out, l, 6, true);
            }
            out.push_str("\n    ]");
        }
        out.push_str("\n  }");
    }
    out.push_str("\n}\n");
    out
}

/// The dump of `devices` running `machine_type`, as a JSON value.
pub fn dump_value(machine_type: &str, devices: &[&dyn FlashDevice]) -> Value {
    let text = dump_json(machine_type, &dump_entries(devices));
    // The text is produced above from escaped strings and numbers only.
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("dump is not valid JSON: {e}\n{text}"))
}

/// What kind of incompatibility a finding is (the checker's rules, in the
/// order the script applies them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FindingKind {
    /// A section the source sends does not exist in the destination: the
    /// destination refuses the stream.
    SectionMissing,
    /// An entry of a section (`version_id`, `Description`, ...) is missing.
    EntryMissing,
    /// The source's version is newer than the destination's.
    VersionTooNew,
    /// The source's version is below the destination's minimum.
    VersionTooOld,
    /// The sections' descriptions have different names.
    DescriptionRenamed,
    /// An entry of a description is missing.
    DescriptionEntryMissing,
    /// A subsection the source may send is not in the destination.
    SubsectionMissing,
    /// A field's size differs.
    FieldSizeMismatch,
    /// A field of a struct has no description.
    FieldDescriptionMissing,
    /// The fields differ (another field where one was expected, fields
    /// left over on one side, unused bytes of another size).
    FieldsDiffer,
}

/// One incompatibility, with the script's words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub kind: FindingKind,
    pub message: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// What the checker found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// Incompatibilities. Each counts toward the exit status.
    pub findings: Vec<Finding>,
    /// Warnings that do not count (differing machine types).
    pub warnings: Vec<String>,
}

impl CheckReport {
    /// The findings in the script's words.
    pub fn messages(&self) -> Vec<String> {
        self.findings.iter().map(|f| f.message.clone()).collect()
    }

    /// The exit status: the number of findings, capped at 255.
    pub fn exit_status(&self) -> u8 {
        self.findings.len().min(MAX_EXIT) as u8
    }
}

/// Why a dump cannot be checked.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{which} dump: {message}")]
pub struct DumpError {
    pub which: &'static str,
    pub message: String,
}

/// Compares a source and a destination dump as QEMU's static checker does
/// (`reverse` swaps them, to check backward migration).
pub fn check(src: &Value, dest: &Value, reverse: bool) -> Result<CheckReport, DumpError> {
    let (src, dest) = if reverse { (dest, src) } else { (src, dest) };
    let (Some(s), Some(d)) = (src.as_object(), dest.as_object()) else {
        let which = if src.is_object() {
            "destination"
        } else {
            "source"
        };
        return Err(DumpError {
            which,
            message: "expected a JSON object at the top level".into(),
        });
    };
    let mut c = Checker {
        dest: d,
        report: CheckReport::default(),
    };
    for (sec, s_entry) in s {
        if sec == MACHINE_KEY {
            if let Some(d_entry) = d.get(MACHINE_KEY) {
                c.check_machine_type(s_entry, d_entry);
            } else {
                c.taint(
                    FindingKind::SectionMissing,
                    format!("Section \"{sec}\" does not exist in dest"),
                );
            }
            continue;
        }
        c.check_section(sec, s_entry);
    }
    Ok(c.report)
}

struct Checker<'a> {
    dest: &'a serde_json::Map<String, Value>,
    report: CheckReport,
}

fn renamed(sec: &str) -> Option<&'static str> {
    SECTION_RENAMES.iter().find_map(|(a, b)| {
        if *a == sec {
            Some(*b)
        } else if *b == sec {
            Some(*a)
        } else {
            None
        }
    })
}

fn desc_name(entry: &Value) -> Option<&str> {
    entry.get("Description")?.get("name")?.as_str()
}

/// Keys of a JSON object in QEMU's dump order, then the rest.
fn ordered_keys(obj: &serde_json::Map<String, Value>) -> Vec<&String> {
    const ORDER: [&str; 7] = [
        "Name",
        "version_id",
        "minimum_version_id",
        "Description",
        "name",
        "Fields",
        "Subsections",
    ];
    let mut keys: Vec<&String> = obj.keys().collect();
    keys.sort_by_key(|k| ORDER.iter().position(|o| o == k).unwrap_or(ORDER.len()));
    keys
}

fn num(v: &Value, key: &str) -> i64 {
    v.get(key).and_then(Value::as_i64).unwrap_or(0)
}

fn field_name(v: &Value) -> &str {
    v.get("field").and_then(Value::as_str).unwrap_or("")
}

impl Checker<'_> {
    fn taint(&mut self, kind: FindingKind, message: String) {
        self.report.findings.push(Finding { kind, message });
    }

    fn check_machine_type(&mut self, s: &Value, d: &Value) {
        let (sn, dn) = (
            s.get("Name").and_then(Value::as_str).unwrap_or(""),
            d.get("Name").and_then(Value::as_str).unwrap_or(""),
        );
        if sn != dn {
            self.report.warnings.push(format!(
                "Warning: checking incompatible machine types: \"{sn}\", \"{dn}\""
            ));
        }
    }

    /// A destination loader description named `name`, from any type's `x-loads`.
    fn dest_loader(&self, name: &str) -> Option<(String, Value)> {
        self.dest.iter().find_map(|(sec, entry)| {
            let loads = entry.get(LOADS_KEY)?.as_array()?;
            let vmsd = loads
                .iter()
                .find(|l| l.get("name").and_then(Value::as_str) == Some(name))?;
            let synthesized = serde_json::json!({
                "Name": sec,
                "version_id": vmsd.get("version_id").cloned().unwrap_or(Value::Null),
                "minimum_version_id":
                    vmsd.get("minimum_version_id").cloned().unwrap_or(Value::Null),
                "Description": vmsd,
            });
            Some((sec.clone(), synthesized))
        })
    }

    fn check_section(&mut self, sec: &str, s: &Value) {
        // A type that emits nothing under this machine type (only loads)
        // sends no section: nothing to check on the source side.
        if s.get("Description").is_none() && s.get(LOADS_KEY).is_some() {
            return;
        }
        let mut dest_sec = self.dest.get(sec).map(|_| sec.to_string()).or_else(|| {
            renamed(sec)
                .filter(|r| self.dest.contains_key(*r))
                .map(String::from)
        });
        let mut d: Option<Value> = dest_sec.as_ref().and_then(|k| self.dest.get(k).cloned());
        // Extension: a destination loader registered under the source's id string.
        if let Some(name) = desc_name(s) {
            let matches_directly = d.as_ref().and_then(desc_name) == Some(name);
            if !matches_directly {
                if let Some((loader_sec, synthesized)) = self.dest_loader(name) {
                    dest_sec = Some(loader_sec);
                    d = Some(synthesized);
                }
            }
        }
        let (Some(_), Some(d)) = (dest_sec, d) else {
            self.taint(
                FindingKind::SectionMissing,
                format!("Section \"{sec}\" does not exist in dest"),
            );
            return;
        };
        // A destination type that only loads (has no section of its own).
        if d.get("Description").is_none() && d.get(LOADS_KEY).is_some() {
            self.taint(
                FindingKind::SectionMissing,
                format!("Section \"{sec}\" does not exist in dest"),
            );
            return;
        }
        self.check_version(s, &d, sec, None);
        let Some(s_obj) = s.as_object() else { return };
        for entry in ordered_keys(s_obj) {
            if entry.starts_with("x-") {
                continue;
            }
            if d.get(entry.as_str()).is_none() {
                self.taint(
                    FindingKind::EntryMissing,
                    format!("Section \"{sec}\": Entry \"{entry}\" missing"),
                );
                continue;
            }
            if entry == "Description" {
                self.check_descriptions(&s["Description"], &d["Description"], sec);
            }
        }
    }

    fn check_version(&mut self, s: &Value, d: &Value, sec: &str, desc: Option<&str>) {
        let prefix = match desc {
            Some(desc) => format!("Section \"{sec}\" Description \"{desc}\":"),
            None => format!("Section \"{sec}\""),
        };
        let (sv, dv) = (num(s, "version_id"), num(d, "version_id"));
        if sv > dv {
            self.taint(
                FindingKind::VersionTooNew,
                format!("{prefix} version error: {sv} > {dv}"),
            );
        }
        if d.get("minimum_version_id").is_none() {
            return;
        }
        let dmin = num(d, "minimum_version_id");
        if sv < dmin {
            self.taint(
                FindingKind::VersionTooOld,
                format!("{prefix} minimum version error: {sv} < {dmin}"),
            );
        }
    }

    fn check_descriptions(&mut self, s: &Value, d: &Value, sec: &str) {
        let s_name = s.get("name").and_then(Value::as_str).unwrap_or("");
        self.check_version(s, d, sec, Some(s_name));
        let d_name = d.get("name").and_then(Value::as_str).unwrap_or("");
        if s_name != d_name {
            self.taint(
                FindingKind::DescriptionRenamed,
                format!(
                "Section \"{sec}\": Description \"{s_name}\" missing, got \"{d_name}\" instead; \
                 skipping"
            ),
            );
            return;
        }
        let Some(s_obj) = s.as_object() else { return };
        for f in ordered_keys(s_obj) {
            if d.get(f.as_str()).is_none() {
                self.taint(
                    FindingKind::DescriptionEntryMissing,
                    format!("Section \"{sec}\" Description \"{s_name}\": Entry \"{f}\" missing"),
                );
                continue;
            }
            let empty = Vec::new();
            let list = |v: &Value, k: &str| v.get(k).and_then(Value::as_array).cloned();
            if f == "Fields" {
                let sf = list(s, "Fields").unwrap_or_else(|| empty.clone());
                let df = list(d, "Fields").unwrap_or_else(|| empty.clone());
                self.check_fields(&sf, &df, s_name, sec);
            }
            if f == "Subsections" {
                let ss = list(s, "Subsections").unwrap_or_else(|| empty.clone());
                let ds = list(d, "Subsections").unwrap_or_else(|| empty.clone());
                self.check_subsections(&ss, &ds, s_name, sec);
            }
        }
    }

    fn check_subsections(&mut self, src: &[Value], dest: &[Value], desc: &str, sec: &str) {
        for s_item in src {
            let s_name = s_item.get("name").and_then(Value::as_str).unwrap_or("");
            let mut found = false;
            for d_item in dest {
                if d_item.get("name").and_then(Value::as_str) != Some(s_name) {
                    continue;
                }
                found = true;
                self.check_descriptions(s_item, d_item, sec);
            }
            if !found {
                self.taint(
                    FindingKind::SubsectionMissing,
                    format!(
                    "Section \"{sec}\", Description \"{desc}\": Subsection \"{s_name}\" not found"
                ),
                );
            }
        }
    }

    fn check_size(&mut self, s: &Value, d: &Value, sec: &str, desc: &str, field: &str) {
        let (ss, ds) = (num(s, "size"), num(d, "size"));
        if ss != ds {
            self.taint(
                FindingKind::FieldSizeMismatch,
                format!(
                    "Section \"{sec}\" Description \"{desc}\" Field \"{field}\" size mismatch: \
                 {ss} , {ds}"
                ),
            );
        }
    }

    fn check_description_in_list(&mut self, s: &Value, d: &Value, sec: &str, desc: &str) {
        let Some(sd) = s.get("Description") else {
            return;
        };
        let Some(dd) = d.get("Description") else {
            self.taint(
                FindingKind::FieldDescriptionMissing,
                format!(
                    "Section \"{sec}\", Description \"{desc}\", Field \"{}\": missing description",
                    field_name(s)
                ),
            );
            return;
        };
        self.check_descriptions(sd, dd, sec);
    }

    /// The script's `check_fields`: in order, by name, descending into
    /// sub-structs that keep the wire unchanged and letting `unused` padding
    /// absorb runs of fields of the same total size.
    fn check_fields(&mut self, src: &[Value], dest: &[Value], desc: &str, sec: &str) {
        let mut s_stack: Vec<(Vec<Value>, usize)> = Vec::new();
        let mut d_stack: Vec<(Vec<Value>, usize)> = Vec::new();
        let (mut s_list, mut s_pos) = (src.to_vec(), 0usize);
        let (mut d_list, mut d_pos) = (dest.to_vec(), 0usize);
        let (mut advance_src, mut advance_dest) = (true, true);
        let mut unused_count: i64 = 0;
        let mut s_item = Value::Null;
        let mut d_item = Value::Null;
        loop {
            if advance_src {
                if s_pos < s_list.len() {
                    s_item = s_list[s_pos].clone();
                    s_pos += 1;
                } else {
                    match s_stack.pop() {
                        None => break,
                        Some((l, p)) => {
                            (s_list, s_pos) = (l, p);
                            continue;
                        }
                    }
                }
            } else if unused_count == 0 {
                advance_src = true;
            }
            if advance_dest {
                if d_pos < d_list.len() {
                    d_item = d_list[d_pos].clone();
                    d_pos += 1;
                } else {
                    match d_stack.pop() {
                        None => {
                            self.taint(
                                FindingKind::FieldsDiffer,
                                format!(
                                    "Section \"{sec}\", Description \"{desc}\": expected field \
                                 \"{}\", while dest has no further fields",
                                    field_name(&s_item)
                                ),
                            );
                            break;
                        }
                        Some((l, p)) => {
                            (d_list, d_pos) = (l, p);
                            advance_src = false;
                            continue;
                        }
                    }
                }
            } else if unused_count == 0 {
                advance_dest = true;
            }

            if unused_count != 0 {
                if !advance_dest {
                    unused_count -= num(&s_item, "size");
                    if unused_count == 0 {
                        advance_dest = true;
                        continue;
                    }
                    if unused_count < 0 {
                        self.taint(
                            FindingKind::FieldsDiffer,
                            format!(
                                "Section \"{sec}\", Description \"{desc}\": unused size mismatch \
                             near \" {}\"",
                                field_name(&s_item)
                            ),
                        );
                        break;
                    }
                    continue;
                }
                if !advance_src {
                    unused_count -= num(&d_item, "size");
                    if unused_count == 0 {
                        advance_src = true;
                        continue;
                    }
                    if unused_count < 0 {
                        self.taint(
                            FindingKind::FieldsDiffer,
                            format!(
                                "Section \"{sec}\", Description \"{desc}\": unused size mismatch \
                             near \" {}\"",
                                field_name(&d_item)
                            ),
                        );
                        break;
                    }
                    continue;
                }
            }

            let (sf, df) = (
                field_name(&s_item).to_string(),
                field_name(&d_item).to_string(),
            );
            if sf != df {
                if let Some(fields) = substruct_starting_with(&d_item, &sf) {
                    d_stack.push((std::mem::take(&mut d_list), d_pos));
                    (d_list, d_pos) = (fields, 0);
                    advance_src = false;
                    continue;
                }
                if let Some(fields) = substruct_starting_with(&s_item, &df) {
                    s_stack.push((std::mem::take(&mut s_list), s_pos));
                    (s_list, s_pos) = (fields, 0);
                    advance_dest = false;
                    continue;
                }
                if sf == "unused" || df == "unused" {
                    let (ss, ds) = (num(&s_item, "size"), num(&d_item, "size"));
                    if ss == ds {
                        continue;
                    }
                    if df == "unused" {
                        advance_dest = false;
                        unused_count = ds - ss;
                        continue;
                    }
                    if sf == "unused" {
                        advance_src = false;
                        unused_count = ss - ds;
                        continue;
                    }
                }
                self.taint(
                    FindingKind::FieldsDiffer,
                    format!(
                        "Section \"{sec}\", Description \"{desc}\": expected field \"{sf}\", got \
                     \"{df}\"; skipping rest"
                    ),
                );
                break;
            }
            self.check_version(&s_item, &d_item, sec, Some(desc));
            if s_item.get("Description").is_none() {
                self.check_size(&s_item, &d_item, sec, desc, &sf);
            }
            self.check_description_in_list(&s_item, &d_item, sec, desc);
        }
    }
}

/// The script's `exists_in_substruct`: the fields of `item`'s embedded struct
/// if its first field is called `name`.
fn substruct_starting_with(item: &Value, name: &str) -> Option<Vec<Value>> {
    let fields = item.get("Description")?.get("Fields")?.as_array()?;
    (field_name(fields.first()?) == name).then(|| fields.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(name: &str, fields: Value, subs: Option<Value>) -> Value {
        let mut desc = json!({"name": name, "version_id": 1, "minimum_version_id": 1,
                              "Fields": fields});
        if let Some(s) = subs {
            desc["Subsections"] = s;
        }
        json!({"Name": "t", "version_id": 1, "minimum_version_id": 1, "Description": desc})
    }

    fn field(name: &str, size: u64) -> Value {
        json!({"field": name, "version_id": 0, "field_exists": false, "size": size})
    }

    #[test]
    fn reports_missing_sections_fields_sizes_and_subsections() {
        let src = json!({
            "vmschkmachine": {"Name": "a"},
            "gone": entry("gone", json!([field("x", 1)]), None),
            "dev": entry("dev", json!([field("a", 1), field("b", 8), field("c", 4)]),
                         Some(json!([{"name": "dev/s", "version_id": 1,
                                      "minimum_version_id": 1, "Fields": []}]))),
        });
        let dest = json!({
            "vmschkmachine": {"Name": "b"},
            "dev": entry("dev", json!([field("a", 2), field("c", 4)]), Some(json!([]))),
        });
        let r = check(&src, &dest, false).unwrap();
        assert_eq!(
            r.messages(),
            vec![
                "Section \"dev\" Description \"dev\" Field \"a\" size mismatch: 1 , 2",
                "Section \"dev\", Description \"dev\": expected field \"b\", got \"c\"; \
                 skipping rest",
                "Section \"dev\", Description \"dev\": Subsection \"dev/s\" not found",
                "Section \"gone\" does not exist in dest",
            ]
        );
        assert_eq!(
            r.findings.iter().map(|f| f.kind).collect::<Vec<_>>(),
            [
                FindingKind::FieldSizeMismatch,
                FindingKind::FieldsDiffer,
                FindingKind::SubsectionMissing,
                FindingKind::SectionMissing,
            ]
        );
        assert_eq!(
            r.warnings,
            vec!["Warning: checking incompatible machine types: \"a\", \"b\""]
        );
        assert_eq!(r.exit_status(), 4);
        // Backward: the destination's extra section is not reported.
        let back = check(&src, &dest, true).unwrap();
        assert_eq!(back.findings.len(), 2);
    }

    #[test]
    fn unused_padding_absorbs_fields_of_equal_total_size() {
        let src = json!({"d": entry("d", json!([field("unused", 5), field("z", 1)]), None)});
        let dest = json!({"d": entry("d", json!([field("a", 1), field("b", 4),
                                                 field("z", 1)]), None)});
        assert!(check(&src, &dest, false).unwrap().findings.is_empty());
        let bad = json!({"d": entry("d", json!([field("a", 2), field("b", 4)]), None)});
        assert_eq!(check(&src, &bad, false).unwrap().findings.len(), 1);
    }

    #[test]
    fn versions_are_checked_at_every_level() {
        let mut src = entry("d", json!([field("a", 1)]), None);
        src["version_id"] = json!(3);
        src["Description"]["version_id"] = json!(3);
        let mut dest = entry("d", json!([field("a", 1)]), None);
        dest["minimum_version_id"] = json!(4);
        let r = check(&json!({"d": src}), &json!({"d": dest}), false).unwrap();
        assert_eq!(
            r.messages(),
            vec![
                "Section \"d\" version error: 3 > 1",
                "Section \"d\" minimum version error: 3 < 4",
                "Section \"d\" Description \"d\": version error: 3 > 1",
            ]
        );
    }

    #[test]
    fn exit_status_is_capped() {
        let report = CheckReport {
            findings: vec![
                Finding {
                    kind: FindingKind::FieldsDiffer,
                    message: String::new(),
                };
                300
            ],
            warnings: vec![],
        };
        assert_eq!(report.exit_status(), 255);
    }
}
