//! Machine definitions (`machines/*.toml`): one file per version — a release
//! running a machine type, its board's flash devices, compat properties,
//! configuration symbols and the features each device promises.

use crate::definitions::features::{FeatureDecl, KNOWN_FEATURES};
use crate::definitions::file_error::FileError;
use devices::{type_is_a, BlockBackend, DeviceSpec};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

pub use devices::catalogue::compat::{Release, RELEASES};

/// Looks up a release by name.
pub fn release(name: &str) -> Option<&'static Release> {
    RELEASES.iter().find(|r| r.name == name)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct MachineFile {
    name: Option<String>,
    #[serde(default)]
    description: String,
    release: toml::Spanned<String>,
    machine_type: toml::Spanned<String>,
    /// Machine types the release offers on this board, each with the compat
    /// properties it applies (default: the built-in release table).
    #[serde(default)]
    offers: Option<toml::Spanned<BTreeMap<String, Vec<String>>>>,
    /// A real emulator build instead of an in-process model.
    #[serde(default)]
    emulator: Option<Emulator>,
    /// Section id of `ram` in the streams a model writes (QEMU's on the
    /// board: 2 on `virt` and `musicpal`; QEMU cannot take 0 there).
    #[serde(default)]
    ram_section_id: u32,
    #[serde(default)]
    symbols: Vec<String>,
    #[serde(default)]
    compat: Vec<toml::Spanned<String>>,
    #[serde(rename = "device")]
    devices: Vec<toml::Spanned<DeviceFile>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct DeviceFile {
    id: String,
    #[serde(rename = "type")]
    type_name: String,
    #[serde(default)]
    base: u64,
    #[serde(default)]
    properties: BTreeMap<String, toml::Value>,
    #[serde(default)]
    features: Vec<FeatureDecl>,
    #[serde(default)]
    read_only: bool,
    /// Initial image byte (0xFF erased by default).
    #[serde(default = "erased")]
    fill: u8,
    /// The `-drive if=pflash,unit=N` a real emulator attaches the image to.
    #[serde(default)]
    drive_unit: Option<u32>,
}

/// A real emulator build (`[emulator]` in a version file).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Emulator {
    /// The binary: a path, or a name looked up on `PATH`.
    pub binary: String,
    /// An environment variable whose value (a path) overrides `binary`.
    #[serde(default)]
    pub env: Option<String>,
    /// The set-up record `scripts/setup-qemu.sh` writes for this build
    /// (`<cache>/<setup>.env`: the binary and its module directory).
    #[serde(default)]
    pub setup: Option<String>,
    /// Extra arguments after the machine and drives.
    #[serde(default)]
    pub args: Vec<String>,
    /// The QEMU version the binary must report (`-version`), e.g. `7.2`:
    /// a binary of another release is not usable as this version.
    #[serde(default)]
    pub qemu_version: Option<String>,
    /// The model version of the same board (file name without `.toml`)
    /// that must agree with this build seed for seed: `X → X` on this build
    /// gives the reads and the outcome `M → M` gives on the model.
    #[serde(default)]
    pub model: Option<String>,
    /// The board's target page bits in this build (QEMU's
    /// `configuration/target-page-bits`): 12 on `virt`; 10 on `musicpal`,
    /// whose ARM926 has 1 KiB pages. A model's 4 KiB-page stream is
    /// re-paged to this before this build loads it.
    #[serde(default = "model_page_bits")]
    pub target_page_bits: u32,
}

/// The target page bits of every model (4 KiB pages).
pub const MODEL_PAGE_BITS: u32 = 12;

fn model_page_bits() -> u32 {
    MODEL_PAGE_BITS
}

fn erased() -> u8 {
    0xFF
}

/// A compat property: `driver.property=value`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompatProp {
    pub driver: String,
    pub property: String,
    pub value: String,
}

impl std::fmt::Display for CompatProp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}={}", self.driver, self.property, self.value)
    }
}

/// One flash device of a version.
#[derive(Clone, Debug)]
pub struct DeviceConfig {
    pub id: String,
    pub type_name: String,
    pub base: u64,
    /// Properties as written in the file.
    pub properties: BTreeMap<String, String>,
    /// The device as realized: compat properties first, then the file's own.
    pub spec: DeviceSpec,
    pub declared_features: Vec<FeatureDecl>,
    /// Features in effect under the version's symbols.
    pub features: BTreeSet<String>,
    pub read_only: bool,
    pub fill: u8,
    pub window: u64,
    pub image_size: u64,
    /// The pflash drive unit on a real emulator.
    pub drive_unit: Option<u32>,
}

impl DeviceConfig {
    /// True if the feature is in effect.
    pub fn has(&self, feature: &str) -> bool {
        self.features.contains(feature)
    }

    /// A fresh backing image for this device.
    pub fn backend(&self) -> BlockBackend {
        BlockBackend::memory(self.image_size, self.fill, !self.read_only)
    }
}

/// A loaded machine definition: one column of the matrix.
#[derive(Clone, Debug)]
pub struct Version {
    pub name: String,
    pub file: PathBuf,
    pub description: String,
    /// The board: the folder under `machines/` (`composite` for the top level).
    pub board: String,
    /// The release's name as the file gives it (`v5`, `v6`, `qemu-7.2`).
    pub release_name: String,
    /// The device code: a model release, or for a real emulator the model
    /// release whose device types and properties it shares (QEMU's).
    pub release: &'static Release,
    pub machine_type: String,
    /// Machine types the release offers on this board (the running one
    /// first), each with its compat properties.
    pub offers: Vec<(String, Vec<CompatProp>)>,
    /// A real emulator build; `None` for an in-process model.
    pub emulator: Option<Emulator>,
    /// Section id of `ram` in the streams the model writes.
    pub ram_section_id: u32,
    /// Configuration symbols features may depend on: the file's own, plus
    /// `machine-type:<type>` and one `compat:<driver>.<prop>=<value>` per compat property.
    pub symbols: BTreeSet<String>,
    pub compat: Vec<CompatProp>,
    pub devices: Vec<DeviceConfig>,
}

impl Version {
    /// The device with this id.
    pub fn device(&self, id: &str) -> Option<&DeviceConfig> {
        self.devices.iter().find(|d| d.id == id)
    }

    /// True for a real emulator build.
    pub fn is_real(&self) -> bool {
        self.emulator.is_some()
    }

    /// Names of the machine types the release offers on this board.
    pub fn offered(&self) -> Vec<String> {
        self.offers.iter().map(|(m, _)| m.clone()).collect()
    }

    /// True if the release offers `machine_type`.
    pub fn offers_type(&self, machine_type: &str) -> bool {
        self.offers.iter().any(|(m, _)| m == machine_type)
    }

    /// The compat properties of an offered machine type.
    pub fn compat_of(&self, machine_type: &str) -> &[CompatProp] {
        self.offers
            .iter()
            .find(|(m, _)| m == machine_type)
            .map_or(&[], |(_, c)| c.as_slice())
    }

    /// Configuration symbols while running `machine_type`: the file's own,
    /// `machine-type:<type>` and that type's compat properties.
    pub fn symbols_running(&self, machine_type: &str) -> BTreeSet<String> {
        if machine_type == self.machine_type {
            return self.symbols.clone();
        }
        let mut out: BTreeSet<String> = self
            .symbols
            .iter()
            .filter(|s| !s.starts_with("machine-type:") && !s.starts_with("compat:"))
            .cloned()
            .collect();
        out.insert(format!("machine-type:{machine_type}"));
        for c in self.compat_of(machine_type) {
            out.insert(format!("compat:{c}"));
        }
        out
    }

    /// Device `d` as realized under `machine_type`: that type's compat
    /// properties first, then the file's own (which win, as in QEMU).
    pub fn spec_for(&self, d: &DeviceConfig, machine_type: &str) -> DeviceSpec {
        if machine_type == self.machine_type {
            return d.spec.clone();
        }
        device_spec(&d.type_name, &d.properties, self.compat_of(machine_type))
    }
}

fn device_spec(
    type_name: &str,
    properties: &BTreeMap<String, String>,
    compat: &[CompatProp],
) -> DeviceSpec {
    let mut props: Vec<(String, String)> = compat
        .iter()
        .filter(|c| type_is_a(type_name, &c.driver) && !properties.contains_key(&c.property))
        .map(|c| (c.property.clone(), c.value.clone()))
        .collect();
    props.extend(properties.iter().map(|(k, v)| (k.clone(), v.clone())));
    DeviceSpec {
        type_name: type_name.to_string(),
        props,
    }
}

fn parse_compat(text: &str) -> Option<CompatProp> {
    let (dp, value) = text.split_once('=')?;
    let (driver, property) = dp.split_once('.')?;
    Some(CompatProp {
        driver: driver.trim().to_string(),
        property: property.trim().to_string(),
        value: value.trim().to_string(),
    })
}

fn toml_value_string(v: &toml::Value) -> Option<String> {
    match v {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) if *i >= 0 => Some(i.to_string()),
        toml::Value::Boolean(b) => Some(if *b { "on" } else { "off" }.to_string()),
        _ => None,
    }
}

/// Parses one machine definition from `text` (`path` names it in errors).
/// True if `a` and `b` are versions of different releases as far as their
/// differences go: one of them is a real build, their releases differ, and
/// neither is the model of the other (a model that departs from its release
/// is a bug, never a difference between releases).
pub fn across_releases(a: &Version, b: &Version) -> bool {
    let model_of = |real: &Version, m: &Version| {
        !m.is_real()
            && m.board == real.board
            && real
                .emulator
                .as_ref()
                .and_then(|e| e.model.as_deref())
                .is_some_and(|model| m.file.file_stem().is_some_and(|s| s == model))
    };
    (a.is_real() || b.is_real())
        && a.release_name != b.release_name
        && !model_of(a, b)
        && !model_of(b, a)
}

pub fn parse_version(path: &Path, text: &str) -> Result<Version, FileError> {
    let file: MachineFile =
        toml::from_str(text).map_err(|e| FileError::from_toml(path, text, e))?;
    let err =
        |span: std::ops::Range<usize>, msg: String| FileError::at(path, text, Some(span), msg);
    let board = board_of(path);
    let name = file.name.clone().unwrap_or_else(|| {
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        // Names are unique across boards: `virt-v5`, `musicpal-qemu-7.2`.
        if board == COMPOSITE_BOARD {
            stem
        } else {
            format!("{board}-{stem}")
        }
    });
    let release_name = file.release.get_ref().clone();
    // A real emulator's devices are QEMU's own types, which release v5 models.
    let model_release = if file.emulator.is_some() {
        release("v5")
    } else {
        release(&release_name)
    };
    let release = model_release.ok_or_else(|| {
        err(
            file.release.span(),
            format!(
                "unknown release '{}': expected one of {} (or an [emulator] table for a real build)",
                file.release.get_ref(),
                RELEASES
                    .iter()
                    .map(|r| r.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    })?;
    let machine_type = file.machine_type.get_ref().clone();
    let mut offers: Vec<(String, Vec<CompatProp>)> = Vec::new();
    match &file.offers {
        Some(table) => {
            for (mt, props) in table.get_ref() {
                let mut parsed = Vec::new();
                for p in props {
                    parsed.push(parse_compat(p).ok_or_else(|| {
                        err(
                            table.span(),
                            format!("machine type '{mt}': malformed compat property '{p}': expected 'driver.property=value'"),
                        )
                    })?);
                }
                offers.push((mt.clone(), parsed));
            }
        }
        None if file.emulator.is_some() => offers.push((machine_type.clone(), Vec::new())),
        None => {
            for mt in release.machine_types {
                let props = devices::catalogue::compat::builtin_compat(mt)
                    .iter()
                    .map(|g| CompatProp {
                        driver: g.driver.to_string(),
                        property: g.property.to_string(),
                        value: g.value.to_string(),
                    })
                    .collect();
                offers.push((mt.to_string(), props));
            }
        }
    }
    let Some(pos) = offers.iter().position(|(m, _)| *m == machine_type) else {
        return Err(err(
            file.machine_type.span(),
            format!(
                "release {} does not offer machine type '{machine_type}' (it offers {})",
                release_name,
                offers
                    .iter()
                    .map(|(m, _)| m.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    };
    let running = offers.remove(pos);
    offers.insert(0, running);
    let mut compat = Vec::new();
    for c in &file.compat {
        match parse_compat(c.get_ref()) {
            Some(p) => compat.push(p),
            None => {
                return Err(err(
                    c.span(),
                    format!(
                        "malformed compat property '{}': expected 'driver.property=value'",
                        c.get_ref()
                    ),
                ))
            }
        }
    }
    if file.offers.is_some() && !file.compat.is_empty() {
        return Err(err(
            file.compat[0].span(),
            "give compat properties either in `compat` or per machine type in `offers`, not both"
                .to_string(),
        ));
    }
    if file.offers.is_some() {
        compat = offers[0].1.clone();
    } else {
        offers[0].1 = compat.clone();
    }
    let mut symbols: BTreeSet<String> = file.symbols.iter().cloned().collect();
    symbols.insert(format!("machine-type:{machine_type}"));
    for c in &compat {
        symbols.insert(format!("compat:{c}"));
    }

    let mut devices_out: Vec<DeviceConfig> = Vec::new();
    for spanned in &file.devices {
        let d = spanned.get_ref();
        let span = spanned.span();
        if devices_out.iter().any(|o| o.id == d.id) {
            return Err(err(span, format!("device id '{}' used twice", d.id)));
        }
        if !release.types.contains(&d.type_name.as_str()) {
            return Err(err(
                span,
                format!(
                    "device '{}': type '{}' is not part of release {} (expected one of {})",
                    d.id,
                    d.type_name,
                    release_name,
                    release.types.join(", ")
                ),
            ));
        }
        for f in &d.features {
            if !KNOWN_FEATURES.iter().any(|(k, _)| *k == f.name()) {
                return Err(err(
                    span,
                    format!(
                        "device '{}': unknown feature '{}' (known: {})",
                        d.id,
                        f.name(),
                        KNOWN_FEATURES
                            .iter()
                            .map(|(k, _)| *k)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
        }
        let mut properties = BTreeMap::new();
        for (k, v) in &d.properties {
            let s = toml_value_string(v).ok_or_else(|| {
                err(
                    span.clone(),
                    format!(
                        "device '{}': property '{k}' must be a string, a non-negative integer or a boolean, got {v}",
                        d.id
                    ),
                )
            })?;
            properties.insert(k.clone(), s);
        }
        // Compat properties are defaults; the board's own properties win (QEMU).
        let spec = device_spec(&d.type_name, &properties, &compat);
        if file.emulator.is_some() && d.drive_unit.is_none() {
            return Err(err(
                span,
                format!(
                    "device '{}': a real emulator needs `drive-unit` (its -drive if=pflash,unit=N)",
                    d.id
                ),
            ));
        }
        let dev = devices::create(&spec, BlockBackend::none())
            .map_err(|e| err(span.clone(), format!("device '{}': {e}", d.id)))?;
        let features = d
            .features
            .iter()
            .filter(|f| f.effective(&symbols))
            .map(|f| f.name().to_string())
            .collect();
        devices_out.push(DeviceConfig {
            id: d.id.clone(),
            type_name: d.type_name.clone(),
            base: d.base,
            properties,
            spec,
            declared_features: d.features.clone(),
            features,
            read_only: d.read_only,
            fill: d.fill,
            window: dev.window_size(),
            image_size: dev.array().len(),
            drive_unit: d.drive_unit,
        });
    }
    if devices_out.is_empty() {
        return Err(FileError::at(path, text, None, "no [[device]] defined"));
    }
    Ok(Version {
        name,
        file: path.to_path_buf(),
        description: file.description,
        board,
        release_name,
        release,
        machine_type,
        offers,
        emulator: file.emulator,
        ram_section_id: file.ram_section_id,
        symbols,
        compat,
        devices: devices_out,
    })
}

/// The board of a version file: its folder under `machines/`, or
/// `composite` for files at the top level.
fn board_of(path: &Path) -> String {
    let parent = path.parent().and_then(|p| p.file_name());
    match parent {
        Some(n) if n != "machines" => n.to_string_lossy().into_owned(),
        _ => COMPOSITE_BOARD.to_string(),
    }
}

/// The board of the version files at the top of `machines/`.
pub const COMPOSITE_BOARD: &str = "composite";

/// Loads one machine definition file.
pub fn load_version(path: &Path) -> Result<Version, FileError> {
    let text = std::fs::read_to_string(path).map_err(|e| FileError::io(path, e))?;
    parse_version(path, &text)
}

/// Loads every version: `dir/*.toml` (the composite board) and
/// `dir/<board>/*.toml`, sorted by board (composite first), then name.
pub fn load_all(dir: &Path) -> Result<Vec<Version>, FileError> {
    let mut out = load_dir(dir)?;
    let entries = std::fs::read_dir(dir).map_err(|e| FileError::io(dir, e))?;
    let mut boards: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    boards.sort();
    for b in boards {
        out.extend(load_dir(&b)?);
    }
    for (i, v) in out.iter().enumerate() {
        if let Some(w) = out[..i].iter().find(|w| w.name == v.name) {
            return Err(FileError {
                path: v.file.clone(),
                position: None,
                message: format!(
                    "version name '{}' is already used by {}",
                    v.name,
                    w.file.display()
                ),
            });
        }
    }
    Ok(out)
}

/// Loads every `*.toml` in `dir`, sorted by version name.
pub fn load_dir(dir: &Path) -> Result<Vec<Version>, FileError> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| FileError::io(dir, e))?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        // The reviewed differences between releases live beside the versions.
        .filter(|p| !p.ends_with(crate::definitions::KNOWN_DIFFERENCES_FILE))
        .collect();
    paths.sort();
    for p in paths {
        out.push(load_version(&p)?);
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Finds a version by name in `dir` (`<dir>/<name>.toml`, or any file whose `name` matches).
pub fn find_version(dir: &Path, name: &str) -> Result<Version, FileError> {
    let direct = dir.join(format!("{name}.toml"));
    if direct.exists() {
        return load_version(&direct);
    }
    load_all(dir)?
        .into_iter()
        .find(|v| v.name == name)
        .ok_or_else(|| FileError {
            path: dir.to_path_buf(),
            position: None,
            message: format!("no machine definition named '{name}'"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
description = "test"
release = "v5"
machine-type = "nor-5.0"

[[device]]
id = "flash0"
type = "cfi.pflash01"
properties = { name = "virt.flash0", num-blocks = 4, sector-length = 0x40000, width = 4, device-width = 2 }
features = ["write-buffer", { name = "migrates-command-state", if = { not = "machine-type:nor-5.0" } }]
"#;

    fn parse(text: &str) -> Result<Version, FileError> {
        parse_version(Path::new("machines/t.toml"), text)
    }

    #[test]
    fn loads_devices_features_and_symbols() {
        let v = parse(GOOD).unwrap();
        assert_eq!(v.name, "t");
        let d = v.device("flash0").unwrap();
        assert!(d.has("write-buffer"));
        assert!(!d.has("migrates-command-state"));
        assert_eq!(d.window, 4 * 0x40000);
        assert!(v.symbols.contains("machine-type:nor-5.0"));
    }

    #[test]
    fn unknown_keys_are_rejected_with_line_and_column() {
        let e = parse(&GOOD.replace("description", "descripton")).unwrap_err();
        assert_eq!(e.position.map(|p| p.0), Some(2));
        assert!(e.message.contains("unknown field `descripton`"), "{e}");
        assert!(e.to_string().starts_with("machines/t.toml:2:1:"), "{e}");
    }

    #[test]
    fn geometry_is_validated_by_the_device_rules() {
        let e = parse(&GOOD.replace("num-blocks = 4, ", "")).unwrap_err();
        assert!(
            e.message
                .contains("attribute \"num-blocks\" not specified or zero."),
            "{e}"
        );
        assert_eq!(e.position.map(|p| p.0), Some(6), "{e}");
    }

    #[test]
    fn release_machine_types_and_features_are_checked() {
        let e = parse(&GOOD.replace("nor-5.0\"\n", "nor-6.0\"\n")).unwrap_err();
        assert!(
            e.message.contains("does not offer machine type 'nor-6.0'"),
            "{e}"
        );
        let e = parse(&GOOD.replace("\"write-buffer\"", "\"teleport\"")).unwrap_err();
        assert!(e.message.contains("unknown feature 'teleport'"), "{e}");
        let e = parse(&GOOD.replace("cfi.pflash01", "cfi.pflash03")).unwrap_err();
        assert!(e.message.contains("not part of release v5"), "{e}");
    }

    const BOARD_V6: &str = r#"
release = "v6"
machine-type = "virt-8.0"
ram-section-id = 2

[offers]
"virt-8.0" = []
"virt-7.2" = ["parallel-nor-flash.x-legacy-migration=on"]

[[device]]
id = "flash0"
type = "parallel-nor-cfi01-flash"
properties = { name = "virt.flash0", num-blocks = 4, sector-length = 0x40000, width = 4, device-width = 2 }
features = [{ name = "migrates-command-state", if = { not = "compat:parallel-nor-flash.x-legacy-migration=on" } }]
"#;

    const REAL: &str = r#"
release = "qemu-7.2"
machine-type = "virt-7.2"

[emulator]
binary = "qemu-system-arm"
env = "NORCOMPAT_QEMU_7_2"

[[device]]
id = "flash0"
type = "cfi.pflash01"
drive-unit = 0
properties = { name = "virt.flash0", num-blocks = 4, sector-length = 0x40000, width = 4, device-width = 2 }
"#;

    fn parse_at(path: &str, text: &str) -> Result<Version, FileError> {
        parse_version(Path::new(path), text)
    }

    #[test]
    fn a_board_is_the_folder_and_names_carry_it() {
        let v = parse_at("machines/virt/v6.toml", BOARD_V6).unwrap();
        assert_eq!(v.board, "virt");
        assert_eq!(v.name, "virt-v6");
        assert_eq!(v.ram_section_id, 2);
        let c = parse_at("machines/t.toml", GOOD).unwrap();
        assert_eq!(c.board, COMPOSITE_BOARD);
        assert_eq!(c.name, "t");
        assert_eq!(c.ram_section_id, 0);
    }

    #[test]
    fn offered_machine_types_carry_their_compat_properties() {
        let v = parse_at("machines/virt/v6.toml", BOARD_V6).unwrap();
        assert_eq!(
            v.offered(),
            vec!["virt-8.0", "virt-7.2"],
            "the running type first"
        );
        assert!(v.compat.is_empty());
        let d = v.device("flash0").unwrap();
        assert!(d.has("migrates-command-state"));
        // Under the compat machine type: its property, and the feature off.
        let spec = v.spec_for(d, "virt-7.2");
        assert!(spec
            .props
            .contains(&("x-legacy-migration".to_string(), "on".to_string())));
        assert!(!v
            .spec_for(d, "virt-8.0")
            .props
            .iter()
            .any(|(k, _)| k == "x-legacy-migration"));
        let symbols = v.symbols_running("virt-7.2");
        assert!(symbols.contains("machine-type:virt-7.2"));
        assert!(symbols.contains("compat:parallel-nor-flash.x-legacy-migration=on"));
        assert!(!symbols.contains("machine-type:virt-8.0"));
        // The compat type's file: the same offers, its compat applied.
        let c = parse_at(
            "machines/virt/v6-compat.toml",
            &BOARD_V6.replace("machine-type = \"virt-8.0\"", "machine-type = \"virt-7.2\""),
        )
        .unwrap();
        assert_eq!(c.offered(), vec!["virt-7.2", "virt-8.0"]);
        assert!(!c.device("flash0").unwrap().has("migrates-command-state"));
    }

    #[test]
    fn offers_must_contain_the_machine_type_and_exclude_compat() {
        let e = parse_at(
            "machines/virt/v6.toml",
            &BOARD_V6.replace("\"virt-8.0\" = []\n", ""),
        )
        .unwrap_err();
        assert!(
            e.message.contains("does not offer machine type 'virt-8.0'"),
            "{e}"
        );
        assert!(e.message.contains("it offers virt-7.2"), "{e}");
        let e = parse_at(
            "machines/virt/v6.toml",
            &BOARD_V6.replace(
                "ram-section-id = 2",
                "ram-section-id = 2\ncompat = [\"a.b=c\"]",
            ),
        )
        .unwrap_err();
        assert!(e.message.contains("not both"), "{e}");
        let e = parse_at(
            "machines/virt/v6.toml",
            &BOARD_V6.replace("\"virt-8.0\" = []", "\"virt-8.0\" = [\"nodot\"]"),
        )
        .unwrap_err();
        assert!(
            e.message.contains("malformed compat property 'nodot'"),
            "{e}"
        );
    }

    #[test]
    fn a_real_emulator_uses_qemus_types_and_needs_drive_units() {
        let v = parse_at("machines/virt/qemu-7.2.toml", REAL).unwrap();
        assert!(v.is_real());
        assert_eq!(v.release_name, "qemu-7.2");
        assert_eq!(
            v.release.name, "v5",
            "QEMU's own device types, as v5 models them"
        );
        assert_eq!(v.offered(), vec!["virt-7.2"]);
        let e = v.emulator.as_ref().unwrap();
        assert_eq!(e.env.as_deref(), Some("NORCOMPAT_QEMU_7_2"));
        assert_eq!(e.target_page_bits, MODEL_PAGE_BITS);
        let err = parse_at(
            "machines/virt/qemu-7.2.toml",
            &REAL.replace("drive-unit = 0\n", ""),
        )
        .unwrap_err();
        assert!(err.message.contains("needs `drive-unit`"), "{err}");
        let err = parse_at(
            "machines/virt/qemu-7.2.toml",
            &REAL.replace("cfi.pflash01", "parallel-nor-cfi01-flash"),
        )
        .unwrap_err();
        assert!(
            err.message.contains("not part of release qemu-7.2")
                || err.message.contains("not part of release"),
            "{err}"
        );
        let err = parse_at(
            "machines/virt/qemu-7.2.toml",
            &REAL.replace("env = ", "bogus = 1\nenv = "),
        )
        .unwrap_err();
        assert!(err.message.contains("unknown field `bogus`"), "{err}");
    }
}
