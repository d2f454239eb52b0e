//! Scenarios (`scenarios/*.toml`): recipes for random command sequences —
//! target devices, a weighted command mix, length, migration points, hops and
//! the seeds `cargo test` runs.

use crate::definitions::file_error::FileError;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where a migration may be placed.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, serde::Serialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum PointKind {
    /// Any position between two ops.
    Anywhere,
    /// Inside a multi-cycle command sequence (between its writes).
    MidCommand,
    /// After the device was returned to read-array mode with no timer pending.
    Quiescent,
    /// During a cfi02 erase (window or busy time), before completion.
    MidErase,
    /// Inside a cfi01 write-to-buffer, between the count and the confirm.
    MidBuffer,
}

impl PointKind {
    /// Kebab-case name.
    pub fn name(self) -> &'static str {
        match self {
            PointKind::Anywhere => "anywhere",
            PointKind::MidCommand => "mid-command",
            PointKind::Quiescent => "quiescent",
            PointKind::MidErase => "mid-erase",
            PointKind::MidBuffer => "mid-buffer",
        }
    }
}

/// Every command kind a mix may weight, with the command set it belongs to.
pub const MIX_KINDS: &[(&str, &str)] = &[
    // Both command sets.
    ("read", "array reads at random addresses and widths"),
    ("garbage", "random bytes written at random addresses"),
    ("step", "virtual time passes (with and without a duration)"),
    ("reset", "device reset"),
    ("read-array", "return to read-array mode"),
    ("program", "single-word program"),
    ("cfi", "CFI query mode, reads, exit"),
    ("id", "identifier / autoselect mode, reads, exit"),
    // Intel (cfi01).
    ("erase", "cfi01 block erase with good and bad confirms"),
    (
        "write-buffer",
        "cfi01 write-to-buffer: count 0, window crossing, abort",
    ),
    ("status", "cfi01 read status (0x70) and status reads"),
    ("clear-status", "cfi01 clear status (0x50)"),
    ("lock", "cfi01 lock / unlock commands"),
    // AMD (cfi02).
    ("bypass", "cfi02 unlock bypass: enter, program, exit"),
    (
        "sector-erase",
        "cfi02 sector erase, several sectors in one window",
    ),
    ("chip-erase", "cfi02 chip erase"),
    (
        "suspend",
        "cfi02 erase suspend, reads, program elsewhere, resume",
    ),
    (
        "poll",
        "cfi02 status polling (crossing the lazy ROMD counter)",
    ),
    (
        "autoselect-cfi",
        "cfi02 CFI inside autoselect, 0xF0 back to autoselect",
    ),
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct ScenarioFile {
    #[serde(default)]
    description: String,
    devices: Vec<String>,
    length: [usize; 2],
    #[serde(default = "default_hops")]
    hops: Vec<usize>,
    #[serde(default = "default_seeds")]
    seeds: u64,
    #[serde(default = "default_long_seeds")]
    long_seeds: u64,
    migration: MigrationFile,
    mix: BTreeMap<String, toml::Spanned<u32>>,
    #[serde(default)]
    default: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct MigrationFile {
    points: Vec<PointKind>,
}

fn default_hops() -> Vec<usize> {
    vec![1]
}
fn default_seeds() -> u64 {
    4
}
fn default_long_seeds() -> u64 {
    200
}

/// A loaded scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub file: PathBuf,
    pub description: String,
    /// Device ids the sequences target.
    pub devices: Vec<String>,
    pub min_len: usize,
    pub max_len: usize,
    /// Chain lengths in hops: 1 = A→B, 2 = A→B→A, ...
    pub hops: Vec<usize>,
    pub seeds: u64,
    pub long_seeds: u64,
    pub points: Vec<PointKind>,
    /// Weight per command kind.
    pub mix: BTreeMap<String, u32>,
    /// Part of the default matrix (`cargo run --release`).
    pub in_default: bool,
}

/// Parses a scenario from `text` (`path` names it in errors).
pub fn parse_scenario(path: &Path, text: &str) -> Result<Scenario, FileError> {
    let f: ScenarioFile = toml::from_str(text).map_err(|e| FileError::from_toml(path, text, e))?;
    let whole = |msg: String| FileError::at(path, text, None, msg);
    for (kind, w) in &f.mix {
        if !MIX_KINDS.iter().any(|(k, _)| k == kind) {
            return Err(FileError::at(
                path,
                text,
                Some(w.span()),
                format!(
                    "unknown command kind '{kind}' in [mix] (expected one of {})",
                    MIX_KINDS
                        .iter()
                        .map(|(k, _)| *k)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    }
    if f.mix.values().all(|w| *w.get_ref() == 0) {
        return Err(whole(
            "[mix] needs at least one command kind with a non-zero weight".into(),
        ));
    }
    if f.length[0] == 0 || f.length[0] > f.length[1] {
        return Err(whole(format!(
            "length = [{}, {}]: expected [min, max] with 1 <= min <= max",
            f.length[0], f.length[1]
        )));
    }
    if f.devices.is_empty() {
        return Err(whole("devices: expected at least one device id".into()));
    }
    if f.hops.is_empty() || f.hops.iter().any(|h| *h == 0 || *h > 8) {
        return Err(whole("hops: expected chain lengths between 1 and 8".into()));
    }
    if f.migration.points.is_empty() {
        return Err(whole(
            "[migration] points: expected at least one point kind".into(),
        ));
    }
    Ok(Scenario {
        name: path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
        file: path.to_path_buf(),
        description: f.description,
        devices: f.devices,
        min_len: f.length[0],
        max_len: f.length[1],
        hops: f.hops,
        seeds: f.seeds,
        long_seeds: f.long_seeds,
        points: f.migration.points,
        mix: f
            .mix
            .into_iter()
            .map(|(k, w)| (k, w.into_inner()))
            .collect(),
        in_default: f.default.unwrap_or(true),
    })
}

/// Loads one scenario file.
pub fn load_scenario(path: &Path) -> Result<Scenario, FileError> {
    let text = std::fs::read_to_string(path).map_err(|e| FileError::io(path, e))?;
    parse_scenario(path, &text)
}

/// Loads every `*.toml` directly in `dir` (not `regressions/`), sorted by name.
pub fn load_dir(dir: &Path) -> Result<Vec<Scenario>, FileError> {
    let entries = std::fs::read_dir(dir).map_err(|e| FileError::io(dir, e))?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    paths.iter().map(|p| load_scenario(p)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
description = "program"
devices = ["flash0"]
length = [10, 20]
hops = [1, 2]
seeds = 3
[migration]
points = ["anywhere", "mid-command"]
[mix]
program = 3
read = 1
"#;

    #[test]
    fn parses_a_scenario() {
        let s = parse_scenario(Path::new("scenarios/p.toml"), GOOD).unwrap();
        assert_eq!(s.name, "p");
        assert_eq!((s.min_len, s.max_len), (10, 20));
        assert_eq!(s.points, vec![PointKind::Anywhere, PointKind::MidCommand]);
        assert_eq!(s.mix["program"], 3);
    }

    #[test]
    fn errors_name_file_line_and_expectation() {
        let e = parse_scenario(
            Path::new("s.toml"),
            &GOOD.replace("program = 3", "teleport = 3"),
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("s.toml:10:"), "{e}");
        assert!(e.message.contains("unknown command kind 'teleport'"), "{e}");
        let e = parse_scenario(
            Path::new("s.toml"),
            &GOOD.replace("\"mid-command\"", "\"mid-air\""),
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("s.toml:8:"), "{e}");
        let e = parse_scenario(Path::new("s.toml"), &GOOD.replace("seeds = 3", "sedes = 3"))
            .unwrap_err();
        assert!(e.message.contains("unknown field `sedes`"), "{e}");
        let e =
            parse_scenario(Path::new("s.toml"), &GOOD.replace("[10, 20]", "[20, 10]")).unwrap_err();
        assert!(e.message.contains("1 <= min <= max"), "{e}");
    }
}
