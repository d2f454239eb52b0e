//! Differences between releases: what a run observed between versions of
//! different releases (a real QEMU build and another release), judged
//! against the reviewed file of known differences
//! (`machines/known-differences.toml`). A difference that no entry lists
//! fails the run; an entry that nothing matched is reported as not seen.
//!
//! A behaviour difference is a pair of versions of a board whose reads,
//! arrays, images or saved device state differ on the same sequence without
//! migrating. A migration difference is a hop between two real releases
//! whose verdict is not `identical` against the source's own reference run:
//! a whole-VM stream refused (QEMU's message names the section), or the
//! flash verdict (refused, lossy, diverged).

use crate::definitions::file_error::FileError;
use crate::definitions::versions::Version;
use crate::running::behaviour::BehaviourOutcome;
use crate::running::matrix::{Project, TrialOutcome};
use crate::running::real_trial::WHOLE_VM_REFUSED;
use reports::results::{
    BehaviourCell, CrossRelease, KnownDifference, ObservedDifference, ReleasePairTotal,
};
use reports::Outcome;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The file's path under the project root.
pub const FILE: &str = "machines/known-differences.toml";

/// Behaviour or migration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Behaviour,
    Migration,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Behaviour => "behaviour",
            Kind::Migration => "migration",
        }
    }
}

/// One reviewed entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub id: String,
    pub kind: Kind,
    /// Releases on one side (behaviour) or the sources (migration).
    pub a: Vec<String>,
    /// Releases on the other side, or the destinations.
    pub b: Vec<String>,
    /// Boards it applies to; empty: all.
    pub boards: Vec<String>,
    /// Every one of these must occur in the observation's text.
    pub matches: Vec<String>,
    pub first_release: String,
    pub cause: String,
    pub evidence: String,
    pub reproduce: String,
}

impl Entry {
    /// `a ↔ b` or `a → b`.
    pub fn between(&self) -> String {
        let arrow = match self.kind {
            Kind::Behaviour => "↔",
            Kind::Migration => "→",
        };
        format!("{} {arrow} {}", self.a.join(", "), self.b.join(", "))
    }

    /// True if the entry lists `o`.
    pub fn covers(&self, o: &ObservedDifference) -> bool {
        let side = |list: &[String], r: &str| list.iter().any(|x| x == r);
        let releases = match self.kind {
            Kind::Behaviour => {
                (side(&self.a, &o.a_release) && side(&self.b, &o.b_release))
                    || (side(&self.a, &o.b_release) && side(&self.b, &o.a_release))
            }
            Kind::Migration => side(&self.a, &o.a_release) && side(&self.b, &o.b_release),
        };
        let text = text_of(o);
        o.kind == self.kind.name()
            && releases
            && (self.boards.is_empty() || self.boards.contains(&o.board))
            && self.matches.iter().all(|m| text.contains(m.as_str()))
    }

    fn row(&self) -> KnownDifference {
        KnownDifference {
            id: self.id.clone(),
            kind: self.kind.name().into(),
            between: self.between(),
            boards: self.boards.clone(),
            first_release: self.first_release.clone(),
            cause: self.cause.clone(),
            evidence: self.evidence.clone(),
            reproduce: self.reproduce.clone(),
            seen: 0,
            example: None,
        }
    }
}

/// What `matches` is searched in: the summary, the mode and the ops.
fn text_of(o: &ObservedDifference) -> String {
    format!("{}\n{}\n{}", o.summary, o.mode, o.ops.join("\n"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileEntry {
    id: toml::Spanned<String>,
    kind: Kind,
    a: Vec<String>,
    b: Vec<String>,
    #[serde(default)]
    boards: Vec<String>,
    #[serde(default)]
    matches: Vec<String>,
    #[serde(rename = "first-release")]
    first_release: String,
    cause: String,
    evidence: String,
    reproduce: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    difference: Vec<FileEntry>,
}

/// Loads the file (none: no entries) and checks it against the versions:
/// every release and board it names exists, ids are unique, and the
/// reviewed fields are filled in.
pub fn load(root: &Path, versions: &[std::sync::Arc<Version>]) -> Result<Vec<Entry>, FileError> {
    let path: PathBuf = root.join(FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(FileError::io(&path, e)),
    };
    parse(&path, &text, versions)
}

/// Parses and checks the file's text.
pub fn parse(
    path: &Path,
    text: &str,
    versions: &[std::sync::Arc<Version>],
) -> Result<Vec<Entry>, FileError> {
    let file: File = toml::from_str(text).map_err(|e| FileError::from_toml(path, text, e))?;
    let mut out: Vec<Entry> = Vec::new();
    for f in file.difference {
        let span = f.id.span();
        let id = f.id.into_inner();
        let err = |m: String| FileError::at(path, text, Some(span.clone()), m);
        if out.iter().any(|e| e.id == id) {
            return Err(err(format!("difference '{id}' is listed twice")));
        }
        for r in f.a.iter().chain(&f.b) {
            if !versions.iter().any(|v| v.release_name == *r) {
                let mut known: Vec<&str> =
                    versions.iter().map(|v| v.release_name.as_str()).collect();
                known.sort();
                known.dedup();
                return Err(err(format!(
                    "difference '{id}': no version has release '{r}' (releases: {})",
                    known.join(", ")
                )));
            }
        }
        if f.a.is_empty() || f.b.is_empty() {
            return Err(err(format!(
                "difference '{id}': `a` and `b` must each name at least one release"
            )));
        }
        for b in &f.boards {
            if !versions.iter().any(|v| v.board == *b) {
                return Err(err(format!("difference '{id}': no board '{b}'")));
            }
        }
        for (name, value) in [
            ("first-release", &f.first_release),
            ("cause", &f.cause),
            ("evidence", &f.evidence),
            ("reproduce", &f.reproduce),
        ] {
            if value.trim().is_empty() {
                return Err(err(format!(
                    "difference '{id}': `{name}` is empty (a known difference is written down only once it is understood)"
                )));
            }
        }
        out.push(Entry {
            id,
            kind: f.kind,
            a: f.a,
            b: f.b,
            boards: f.boards,
            matches: f.matches,
            first_release: f.first_release,
            cause: f.cause,
            evidence: f.evidence,
            reproduce: f.reproduce,
        });
    }
    Ok(out)
}

/// True if a difference between `a` and `b` is a difference between
/// releases: one of them is a real build, their releases differ, and
/// neither is the model the other must agree with (a model that departs
/// from its release is a bug, never a known difference).
pub fn across_releases(project: &Project, a: &Version, b: &Version) -> bool {
    let model_of = |real: &Version, m: &Version| {
        crate::running::matrix::model_of(project, real).is_some_and(|x| x.name == m.name)
    };
    (a.is_real() || b.is_real())
        && a.release_name != b.release_name
        && !model_of(a, b)
        && !model_of(b, a)
}

/// Adds one differing sequence of a pair of different releases to `acc`
/// (grouping key, observation): every differing sequence is classified on
/// its own, so one cause cannot hide another in the same cell. Sequences
/// an entry covers group by (pair, scenario, entry); the others by their
/// one-line summary. The observation keeps the first sequence's ops.
pub fn add_behaviour_observation(
    acc: &mut Vec<(String, ObservedDifference)>,
    project: &Project,
    o: &BehaviourOutcome,
) {
    let Some(d) = &o.difference else {
        return;
    };
    if !across_releases(project, &o.a, &o.b) {
        return;
    }
    let obs = ObservedDifference {
        kind: Kind::Behaviour.name().into(),
        board: o.board.clone(),
        scenario: o.scenario.name.clone(),
        a: o.a.name.clone(),
        b: o.b.name.clone(),
        a_release: o.a.release_name.clone(),
        b_release: o.b.release_name.clone(),
        seed: o.seed,
        count: 1,
        summary: format!("{} at {}: {} vs {}", d.what, d.at, d.a, d.b),
        mode: String::new(),
        ops: o
            .ops
            .iter()
            .enumerate()
            .map(|(i, op)| format!("{i}: {op}"))
            .collect(),
        reproduce: crate::running::behaviour::reproduce_command(
            &o.scenario.name,
            o.seed,
            &o.a.name,
            &o.b.name,
        ),
    };
    let by = match project.known.iter().find(|e| e.covers(&obs)) {
        Some(e) => format!("entry {}", e.id),
        None => format!("unlisted {}", obs.summary),
    };
    let key = format!("{}\n{}\n{}\n{by}", o.scenario.name, o.a.name, o.b.name);
    match acc.iter_mut().find(|(k, _)| *k == key) {
        Some((_, x)) => x.count += 1,
        None => acc.push((key, obs)),
    }
}

/// The behaviour observations, with the minimal op list (and mode) of the
/// report's cell where the cell's first difference is the same sequence
/// and the same entry still covers it.
pub fn behaviour_observations(
    project: &Project,
    acc: Vec<(String, ObservedDifference)>,
    cells: &[BehaviourCell],
) -> Vec<ObservedDifference> {
    acc.into_iter()
        .map(|(_, mut o)| {
            let first = cells
                .iter()
                .find(|c| {
                    c.board == o.board && c.scenario == o.scenario && c.a == o.a && c.b == o.b
                })
                .and_then(|c| c.first.clone())
                .filter(|d| d.seed == o.seed);
            if let Some(d) = first {
                let shrunk = ObservedDifference {
                    summary: format!("{} at {}: {} vs {}", d.what, d.at, d.a_value, d.b_value),
                    mode: d.mode.clone(),
                    ops: d.ops.clone(),
                    ..o.clone()
                };
                let entry = |x: &ObservedDifference| project.known.iter().position(|e| e.covers(x));
                if entry(&shrunk) == entry(&o) {
                    o = shrunk;
                }
            }
            o
        })
        .collect()
}

/// The entry that lists a behaviour difference of `a` and `b` on `board`
/// (one-line `summary`, the `ops` that show it), if they are of different
/// releases and an entry covers it.
pub fn listing<'p>(
    project: &'p Project,
    a: &Version,
    b: &Version,
    summary: &str,
    ops: &[String],
) -> Option<&'p Entry> {
    if !across_releases(project, a, b) {
        return None;
    }
    let o = ObservedDifference {
        kind: Kind::Behaviour.name().into(),
        board: a.board.clone(),
        a: a.name.clone(),
        b: b.name.clone(),
        a_release: a.release_name.clone(),
        b_release: b.release_name.clone(),
        summary: summary.to_string(),
        ops: ops.to_vec(),
        ..ObservedDifference::default()
    };
    project.known.iter().find(|e| e.covers(&o))
}

/// Ops shown with a migration difference: up to the first migration and
/// a few after it.
const OPS_AFTER_MIGRATION: usize = 8;

/// The parts of a trial's verdict that differ, each with the key it is
/// grouped by: the whole-VM refusal, then the flash verdict.
fn migration_parts(t: &TrialOutcome) -> Vec<(String, String)> {
    let r = &t.result;
    let mut out = Vec::new();
    let flash = match r.reason.strip_prefix(WHOLE_VM_REFUSED) {
        Some(rest) => {
            let (whole, flash) = rest
                .split_once("; flash-only stream: ")
                .unwrap_or((rest, ""));
            let whole = format!("{WHOLE_VM_REFUSED}{whole}");
            out.push((whole.clone(), whole));
            if r.outcome == Outcome::Identical {
                None
            } else {
                Some(format!("flash-only stream: {flash}"))
            }
        }
        None if r.outcome == Outcome::Identical => None,
        None => Some(format!("{}: {}", r.outcome.name(), r.reason)),
    };
    if let Some(f) = flash {
        out.push((format!("flash verdict {}", r.outcome.name()), f));
    }
    out
}

/// The hops between two real releases that were not identical, grouped by
/// (chain, part): a whole-VM refusal and the flash verdict are separate
/// observations.
pub fn migration_observations(trials: &[TrialOutcome]) -> Vec<ObservedDifference> {
    let mut out = Vec::new();
    add_migration_observations(&mut out, trials);
    out.into_iter().map(|(_, o)| o).collect()
}

/// [`migration_observations`] added to `out` (grouping key, observation),
/// for runs that see their trials a seed at a time (soak).
pub fn add_migration_observations(
    out: &mut Vec<(String, ObservedDifference)>,
    trials: &[TrialOutcome],
) {
    for t in trials {
        let [a, b] = t.chain.as_slice() else {
            continue;
        };
        if !(a.is_real() && b.is_real()) || a.release_name == b.release_name {
            continue;
        }
        // A stream of another machine type is refused between any two
        // versions: a promise of the machine types, not a difference.
        if t.result.outcome == Outcome::Refused && a.machine_type != b.machine_type {
            continue;
        }
        for (key, summary) in migration_parts(t) {
            let key = format!("{}\n{}\n{}\n{key}", t.scenario.name, a.name, b.name);
            if let Some((_, o)) = out.iter_mut().find(|(k, _)| *k == key) {
                o.count += 1;
                continue;
            }
            let migrate = t
                .ops
                .iter()
                .position(|o| matches!(o, crate::generation::generator::TrialOp::Migrate))
                .unwrap_or(0);
            out.push((
                key,
                ObservedDifference {
                    kind: Kind::Migration.name().into(),
                    board: a.board.clone(),
                    scenario: t.scenario.name.clone(),
                    a: a.name.clone(),
                    b: b.name.clone(),
                    a_release: a.release_name.clone(),
                    b_release: b.release_name.clone(),
                    seed: t.seed,
                    count: 1,
                    summary,
                    mode: String::new(),
                    ops: t
                        .ops
                        .iter()
                        .take(migrate + 1 + OPS_AFTER_MIGRATION)
                        .enumerate()
                        .map(|(i, op)| format!("{i}: {op}"))
                        .collect(),
                    reproduce: format!(
                        "cargo run --release -- trial --scenario {} --seed {} --chain {},{}",
                        t.scenario.name, t.seed, a.name, b.name
                    ),
                },
            ));
        }
    }
}

/// Judges the observations against the entries: which entry covers each
/// (the first that does), what is unlisted, and the totals per pair of
/// releases.
pub fn judge(entries: &[Entry], observed: Vec<ObservedDifference>) -> CrossRelease {
    let mut known: Vec<KnownDifference> = entries.iter().map(Entry::row).collect();
    let mut unlisted = Vec::new();
    let mut totals: Vec<ReleasePairTotal> = Vec::new();
    for o in observed {
        let between = match o.kind.as_str() {
            "behaviour" => {
                let mut r = [o.a_release.clone(), o.b_release.clone()];
                r.sort();
                format!("{} ↔ {}", r[0], r[1])
            }
            _ => format!("{} → {}", o.a_release, o.b_release),
        };
        let i = match totals
            .iter()
            .position(|t| t.kind == o.kind && t.between == between)
        {
            Some(i) => i,
            None => {
                totals.push(ReleasePairTotal {
                    kind: o.kind.clone(),
                    between,
                    differences: 0,
                    known: 0,
                });
                totals.len() - 1
            }
        };
        totals[i].differences += 1;
        match entries.iter().position(|e| e.covers(&o)) {
            Some(k) => {
                totals[i].known += 1;
                known[k].seen += o.count;
                if known[k].example.is_none() {
                    known[k].example = Some(o);
                }
            }
            None => unlisted.push(o),
        }
    }
    CrossRelease {
        file: FILE.into(),
        known,
        unlisted,
        totals,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observed(kind: &str, a: &str, b: &str, summary: &str) -> ObservedDifference {
        ObservedDifference {
            kind: kind.into(),
            board: "virt".into(),
            scenario: "s".into(),
            a: format!("virt-{a}"),
            b: format!("virt-{b}"),
            a_release: a.into(),
            b_release: b.into(),
            seed: 1,
            count: 2,
            summary: summary.into(),
            mode: String::new(),
            ops: vec!["0: dev0 write 0x0 w4 0xe8".into()],
            reproduce: "r".into(),
        }
    }

    fn entry(kind: Kind, a: &str, b: &str, matches: &[&str]) -> Entry {
        Entry {
            id: format!("{a}-{b}"),
            kind,
            a: vec![a.into()],
            b: vec![b.into()],
            boards: vec!["virt".into()],
            matches: matches.iter().map(|s| s.to_string()).collect(),
            first_release: "x".into(),
            cause: "c".into(),
            evidence: "e".into(),
            reproduce: "r".into(),
        }
    }

    #[test]
    fn behaviour_entries_cover_either_order_and_migration_entries_one_direction() {
        let b = entry(Kind::Behaviour, "qemu-10.0", "qemu-7.2", &["0xe8"]);
        assert!(b.covers(&observed("behaviour", "qemu-7.2", "qemu-10.0", "read")));
        assert!(b.covers(&observed("behaviour", "qemu-10.0", "qemu-7.2", "read")));
        assert!(!b.covers(&observed("migration", "qemu-10.0", "qemu-7.2", "read")));
        let m = entry(Kind::Migration, "qemu-10.0", "qemu-7.2", &["device 'cpu'"]);
        assert!(m.covers(&observed(
            "migration",
            "qemu-10.0",
            "qemu-7.2",
            "of device 'cpu'"
        )));
        assert!(!m.covers(&observed(
            "migration",
            "qemu-7.2",
            "qemu-10.0",
            "of device 'cpu'"
        )));
        assert!(!m.covers(&observed(
            "migration",
            "qemu-10.0",
            "qemu-7.2",
            "musicpal_key"
        )));
    }

    #[test]
    fn an_unlisted_difference_is_kept_and_an_unseen_entry_counts_zero() {
        let entries = [
            entry(Kind::Migration, "qemu-10.0", "qemu-7.2", &["device 'cpu'"]),
            entry(Kind::Migration, "qemu-7.2", "qemu-10.0", &["device 'cpu'"]),
        ];
        let j = judge(
            &entries,
            vec![
                observed("migration", "qemu-10.0", "qemu-7.2", "of device 'cpu'"),
                observed("behaviour", "qemu-10.0", "qemu-7.2", "read at op 3"),
            ],
        );
        assert_eq!(j.known[0].seen, 2);
        assert!(j.known[0].example.is_some());
        assert_eq!(j.known[1].seen, 0);
        assert_eq!(j.unlisted.len(), 1);
        assert_eq!(j.unlisted[0].kind, "behaviour");
        assert_eq!(j.totals.len(), 2);
        assert_eq!(j.totals[0].between, "qemu-10.0 → qemu-7.2");
        assert_eq!((j.totals[0].differences, j.totals[0].known), (1, 1));
        assert_eq!(j.totals[1].between, "qemu-10.0 ↔ qemu-7.2");
        assert_eq!((j.totals[1].differences, j.totals[1].known), (1, 0));
    }

    #[test]
    fn a_file_naming_an_unknown_release_or_missing_its_cause_is_an_error_with_its_line() {
        let project = Project::load(&crate::running::matrix::default_root()).expect("project");
        let text = "[[difference]]\nid = \"x\"\nkind = \"migration\"\na = [\"qemu-9.9\"]\nb = [\"qemu-7.2\"]\nfirst-release = \"f\"\ncause = \"c\"\nevidence = \"e\"\nreproduce = \"r\"\n";
        let e = parse(Path::new("k.toml"), text, &project.versions).unwrap_err();
        assert_eq!(e.position.map(|p| p.0), Some(2));
        assert!(
            e.message.contains("no version has release 'qemu-9.9'"),
            "{e}"
        );
        let text = text
            .replace("qemu-9.9", "qemu-7.2")
            .replace("cause = \"c\"", "cause = \" \"");
        let e = parse(Path::new("k.toml"), &text, &project.versions).unwrap_err();
        assert!(e.message.contains("`cause` is empty"), "{e}");
        let text = "[[difference]]\nid = \"x\"\nkind = \"sideways\"\n";
        let e = parse(Path::new("k.toml"), text, &project.versions).unwrap_err();
        assert!(e.position.is_some(), "{e}");
    }

    #[test]
    fn the_projects_file_loads() {
        let project = Project::load(&crate::running::matrix::default_root()).expect("project");
        let entries = load(&project.root, &project.versions).expect("known differences");
        assert!(!entries.is_empty());
    }
}
