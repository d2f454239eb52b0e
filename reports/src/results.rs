//! The results data model: what every run (main job, soak, merge) writes as
//! `results.json` and what the HTML report is rendered from. Plain data; no
//! device types.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Format tag written into every results file.
pub const FORMAT: &str = "norcompat-results/1";

/// The verdict of one trial (DESIGN.md "Trials and outcomes").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Identical,
    Refused,
    Lossy,
    Diverged,
    Crashed,
}

impl Outcome {
    /// All outcomes in display order.
    pub const ALL: [Outcome; 5] = [
        Outcome::Identical,
        Outcome::Refused,
        Outcome::Lossy,
        Outcome::Diverged,
        Outcome::Crashed,
    ];

    /// Lower-case name as written in results.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Identical => "identical",
            Outcome::Refused => "refused",
            Outcome::Lossy => "lossy",
            Outcome::Diverged => "diverged",
            Outcome::Crashed => "crashed",
        }
    }
}

/// A whole results file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Results {
    /// Always [`FORMAT`].
    pub format: String,
    pub run: RunInfo,
    /// The versions (machine definitions) involved, in matrix order.
    pub versions: Vec<VersionInfo>,
    /// Static checker verdict for every ordered pair of versions.
    pub static_checks: Vec<StaticCheck>,
    /// One cell per (source, destination) pair or chain, summed over scenarios.
    pub cells: Vec<Cell>,
    /// One record per trial.
    pub trials: Vec<TrialRecord>,
    /// Details of every unexpected or lossy trial worth showing (minimized).
    pub details: Vec<FailureDetail>,
    /// Behaviour equivalence: every pair of versions of a board on the
    /// same sequences without migrating.
    #[serde(default)]
    pub behaviour: Vec<BehaviourCell>,
    /// Differences between releases (behaviour and migration) judged
    /// against the reviewed file of known differences; `None` when the run
    /// had no version of a real release next to another release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cross_release: Option<CrossRelease>,
    /// The device states trials migrated in, per device type: every state
    /// of the type's command cycles, with how many trials migrated in it
    /// (0: never reached at a migration point).
    #[serde(default)]
    pub coverage: Vec<CoverageRow>,
}

/// How many trials migrated with a device of a type in one state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoverageRow {
    pub device_type: String,
    /// The command-cycle state (`buffer-data`, `sector-erase running, timer pending`).
    pub state: String,
    /// Whether the state is one of the type's command-cycle states (the
    /// ones a run should reach), not only a variant seen with a timer or a
    /// suspended erase.
    pub cycle: bool,
    pub trials: u64,
}

/// The `kind` of a difference between releases seen without migrating (the
/// same sequence on both versions).
pub const BEHAVIOUR_KIND: &str = "behaviour";
/// The `kind` of a difference between releases seen by migrating (a
/// direction: source, then destination).
pub const MIGRATION_KIND: &str = "migration";

/// Differences between releases seen in a run, each either listed in the
/// reviewed file of known differences or not (an unlisted difference fails
/// the run).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CrossRelease {
    /// The known-differences file, relative to the project root.
    pub file: String,
    /// Every entry of the file, with what the run saw of it.
    pub known: Vec<KnownDifference>,
    /// Differences no entry lists.
    pub unlisted: Vec<ObservedDifference>,
    /// Per pair of releases (and kind), how many differences were seen.
    pub totals: Vec<ReleasePairTotal>,
}

/// One reviewed entry of the known-differences file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct KnownDifference {
    pub id: String,
    /// `behaviour` or `migration`.
    pub kind: String,
    /// The releases involved, as the file says: `a ↔ b` for behaviour,
    /// `a → b` for migration (a direction).
    pub between: String,
    /// Boards it applies to (empty: every board).
    pub boards: Vec<String>,
    /// The first release known to show it.
    pub first_release: String,
    /// The cause, in QEMU's code.
    pub cause: String,
    /// How it was established.
    pub evidence: String,
    /// A one-line reproduction.
    pub reproduce: String,
    /// Observations of this run it covers (0: listed but not seen).
    pub seen: u64,
    /// The first observation it covers, with its minimal op list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub example: Option<ObservedDifference>,
}

/// One difference between two versions of different releases, as observed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ObservedDifference {
    /// `behaviour` or `migration`.
    pub kind: String,
    pub board: String,
    pub scenario: String,
    /// The two versions (for migration: source, then destination).
    pub a: String,
    pub b: String,
    pub a_release: String,
    pub b_release: String,
    pub seed: u64,
    /// Trials or sequences showing it.
    pub count: u64,
    /// One line: what differs (the first differing op and both values, or
    /// the migration verdict with QEMU's message).
    pub summary: String,
    /// The device's mode at the first difference, where known.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mode: String,
    /// The minimal op list that shows it (behaviour), or the trial's ops
    /// up to the migration (migration).
    pub ops: Vec<String>,
    /// A one-line command that reproduces it.
    pub reproduce: String,
}

/// How many differences a run saw between two releases, of one kind.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReleasePairTotal {
    /// `behaviour` or `migration`.
    pub kind: String,
    /// `a ↔ b` (behaviour) or `a → b` (migration).
    pub between: String,
    /// Distinct differences (observations) seen.
    pub differences: u64,
    /// Of which listed in the known-differences file.
    pub known: u64,
}

/// The behaviour check of one pair of versions of a board over one
/// scenario: the same sequences on both, no migration.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BehaviourCell {
    pub board: String,
    pub scenario: String,
    pub a: String,
    pub b: String,
    /// Sequences run on both.
    pub trials: u64,
    /// Sequences whose reads, arrays or images differ.
    pub differ: u64,
    /// The first difference (smallest seed), minimized.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first: Option<BehaviourDifference>,
}

/// Where two versions first behave differently.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BehaviourDifference {
    pub seed: u64,
    /// `read`, `array` or `image`.
    pub what: String,
    /// The op whose read differs (for `read`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op_index: Option<u64>,
    /// The op, or the device and offset for an array or image.
    pub at: String,
    pub a_value: String,
    pub b_value: String,
    /// The device's mode before that op (from a model of the pair).
    pub mode: String,
    /// The minimal op list that still shows the difference.
    pub ops: Vec<String>,
    /// A one-line command that reproduces it.
    pub reproduce: String,
}

/// Facts about the run itself.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// `matrix`, `soak`, `merge` or `test`.
    pub kind: String,
    /// RFC 3339 UTC start time.
    pub started: String,
    pub duration_s: f64,
    /// Seed description, e.g. "0..8" or "shard 2/4 of 0..1000".
    pub seeds: String,
    pub scenarios: Vec<String>,
    pub trials: u64,
    pub ops: u64,
    pub trials_per_s: f64,
    pub ops_per_s: f64,
    pub host: String,
    pub git_revision: String,
    pub norcompat_version: String,
    /// Shards merged into this file (empty for a single run).
    #[serde(default)]
    pub shards: Vec<String>,
}

/// A version (one machine definition file).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VersionInfo {
    pub name: String,
    pub file: String,
    pub description: String,
    pub release: String,
    pub machine_type: String,
    /// `driver.property=value` entries applied as compat properties.
    pub compat_properties: Vec<String>,
    /// Configuration symbols features may be conditional on.
    pub symbols: Vec<String>,
    pub devices: Vec<DeviceInfo>,
    /// The board the version belongs to (the matrix runs per board).
    #[serde(default)]
    pub board: String,
    /// For a real emulator build: the binary and what `-version` printed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emulator: Option<String>,
    /// Why this version was left out of the run (its emulator is not usable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left_out: Option<String>,
    /// For a real build: the model version that must agree with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

/// One device of a version.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DeviceInfo {
    pub id: String,
    pub type_name: String,
    pub properties: BTreeMap<String, String>,
    /// Effective features (after conditions).
    pub features: Vec<String>,
    /// Declared features with their conditions, as written (`name` or `name if cond`).
    pub declared_features: Vec<String>,
}

/// The static checker's verdict for one ordered pair.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StaticCheck {
    pub src: String,
    pub dst: String,
    /// One line per incompatibility, as `check-static` prints them.
    pub findings: Vec<String>,
}

/// One matrix cell: a pair (chain of two) or a longer chain.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// Versions visited, e.g. ["v5", "v6"] or ["v5", "v6", "v5"].
    pub chain: Vec<String>,
    /// Trial count per outcome name.
    pub counts: BTreeMap<Outcome, u64>,
    /// Outcomes the features and the static checker predict for this cell.
    pub expected: Vec<Outcome>,
    /// Trials whose outcome was not among their expected ones.
    pub unexpected: u64,
    /// Expected refusals or losses that turned out identical.
    pub unexpectedly_identical: u64,
    /// What the static checker predicts for the chain (`true`: a hop is
    /// refused), shown beside what was observed; never an expectation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicted_refused: Option<bool>,
    /// Index into `details` of the first detail for this cell, if any.
    pub detail: Option<usize>,
}

/// Timings of one trial, in microseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    pub total_us: u64,
    pub migrate_us: u64,
}

/// One trial's record (also the JSON-lines record of soak runs).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrialRecord {
    pub scenario: String,
    pub chain: Vec<String>,
    pub seed: u64,
    pub outcome: Option<Outcome>,
    /// Whether the outcome was among the expected ones.
    pub expected: bool,
    pub reason: String,
    pub ops: u64,
    pub timings: Timings,
    /// One-line command reproducing an unexpected trial (soak runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reproduce: Option<String>,
    /// The states its devices migrated in (`type: state`), where the
    /// machine showed them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub migrated_in: Vec<String>,
}

/// Everything the report shows about one failing or lossy trial.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FailureDetail {
    pub scenario: String,
    pub chain: Vec<String>,
    pub seed: u64,
    pub outcome: Option<Outcome>,
    pub expected: bool,
    pub reason: String,
    /// One-line command that reproduces the trial.
    pub reproduce: String,
    /// Path of the saved reproducer file, if any.
    pub reproducer_file: Option<String>,
    /// The minimized op sequence.
    pub ops: Vec<OpRow>,
    /// Field-by-field differences of the canonical state.
    pub state_diff: Vec<StateDiff>,
    /// Differing flash bytes.
    pub flash_diff: Vec<FlashDiff>,
    /// Static checker findings for the pairs in this chain.
    pub static_findings: Vec<String>,
}

/// One op of a minimized sequence.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OpRow {
    pub index: usize,
    /// Device id the op targets (empty for machine-wide ops).
    pub device: String,
    /// Human form, e.g. `write 0x0aaa w2 0x00aa`, `read 0x0 w4`, `migrate v5 -> v6`.
    pub op: String,
    /// The device mode before this op, e.g. `read-array (romd)`, `cfi-query`.
    pub mode_before: String,
    /// Value the reference run read (reads only).
    pub expected: Option<u64>,
    /// Value the trial read (reads only).
    pub got: Option<u64>,
}

/// One differing canonical-state field.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StateDiff {
    pub device: String,
    /// Field name in the reference version's state.
    pub field: String,
    /// Field name in the other version's state (may differ: v5 vs v6 names).
    pub other_field: String,
    pub expected: String,
    pub got: String,
}

/// A run of differing flash bytes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FlashDiff {
    pub device: String,
    /// `array` or `image` (backing image).
    pub what: String,
    pub sector: u64,
    pub offset: u64,
    /// Hex bytes.
    pub expected: String,
    pub got: String,
}

/// Results data the unit tests of several views share.
#[cfg(test)]
pub(crate) mod samples {
    use super::*;

    /// The known-differences file the samples name.
    pub(crate) const KNOWN_FILE: &str = "machines/known-differences.toml";

    /// One known behaviour difference seen twice (with its example), one
    /// known migration difference not seen, and one unlisted migration
    /// difference; the cause of the first holds markup to escape.
    pub(crate) fn cross_release() -> CrossRelease {
        let example = ObservedDifference {
            kind: BEHAVIOUR_KIND.into(),
            board: "virt".into(),
            scenario: "cfi01-write-buffer".into(),
            a: "virt-qemu-10.0".into(),
            b: "virt-qemu-7.2".into(),
            a_release: "qemu-10.0".into(),
            b_release: "qemu-7.2".into(),
            seed: 1,
            count: 2,
            summary: "read at op 3: 0x900090 vs 0x800080".into(),
            mode: "read-status (cmd 0xe8)".into(),
            ops: vec![
                "dev0 write 0x80184 w4 0xe8".into(),
                "dev0 write 0x80000 w4 0x0".into(),
                "dev0 read 0x80ffc w4".into(),
            ],
            reproduce: "cargo run --release -- compare --scenario cfi01-write-buffer --seed 1 \
                        virt-qemu-10.0 virt-qemu-7.2"
                .into(),
        };
        let unlisted = ObservedDifference {
            kind: MIGRATION_KIND.into(),
            board: "virt".into(),
            scenario: "cfi01-modes".into(),
            a: "virt-qemu-7.2".into(),
            b: "virt-qemu-10.0".into(),
            a_release: "qemu-7.2".into(),
            b_release: "qemu-10.0".into(),
            seed: 7,
            count: 1,
            summary: "diverged: read at op 2: 0x800080 vs 0xffffffff".into(),
            mode: String::new(),
            ops: vec![
                "0: dev0 write 0x0 w4 0x700070".into(),
                "1: migrate".into(),
                "2: dev0 read 0x0 w4".into(),
            ],
            reproduce: "cargo run --release -- trial --scenario cfi01-modes --seed 7 \
                        --chain virt-qemu-7.2,virt-qemu-10.0"
                .into(),
        };
        CrossRelease {
            file: KNOWN_FILE.into(),
            known: vec![
                KnownDifference {
                    id: "cfi01-buffer-opens-on-first-data-write".into(),
                    kind: BEHAVIOUR_KIND.into(),
                    between: "qemu-10.0 ↔ qemu-7.2".into(),
                    boards: vec!["virt".into()],
                    first_release: "upstream after May 2024".into(),
                    cause: "pflash_write() calls pflash_blk_write_start() only if counter <> 0"
                        .into(),
                    evidence: "status 0x900090 on 10.0, 0x800080 on 7.2".into(),
                    reproduce: "cargo run --release -- compare --scenario cfi01-write-buffer \
                                --seed 1 virt-qemu-10.0 virt-qemu-7.2"
                        .into(),
                    seen: 2,
                    example: Some(example),
                },
                KnownDifference {
                    id: "cfi01-7.2-destination-restores-no-read-mode".into(),
                    kind: MIGRATION_KIND.into(),
                    between: "qemu-10.0 → qemu-7.2".into(),
                    first_release: "qemu-7.2".into(),
                    cause: "pflash_post_load()".into(),
                    evidence: "a 10.0 stream taken mid-buffer".into(),
                    reproduce: "cargo test --release -p harness --test cross_release".into(),
                    seen: 0,
                    example: None,
                    ..KnownDifference::default()
                },
            ],
            unlisted: vec![unlisted],
            totals: vec![
                ReleasePairTotal {
                    kind: BEHAVIOUR_KIND.into(),
                    between: "qemu-10.0 ↔ qemu-7.2".into(),
                    differences: 1,
                    known: 1,
                },
                ReleasePairTotal {
                    kind: MIGRATION_KIND.into(),
                    between: "qemu-7.2 → qemu-10.0".into(),
                    differences: 1,
                    known: 0,
                },
            ],
        }
    }
}
