//! The reviewed file of known differences between releases
//! (`machines/known-differences.toml`): each entry says between which
//! releases (and boards) a difference is known, the text that identifies it,
//! its cause in QEMU's code, its evidence, the first release that shows it
//! and a one-line reproduction.

use crate::definitions::file_error::FileError;
use crate::definitions::versions::Version;
use reports::results::{KnownDifference, ObservedDifference};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The file's path under the project root.
pub use super::KNOWN_DIFFERENCES_FILE as FILE;

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

    /// The report row of this entry, not yet seen.
    pub fn row(&self) -> KnownDifference {
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::definitions::project::Project;

    pub(crate) fn observed(kind: &str, a: &str, b: &str, summary: &str) -> ObservedDifference {
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

    pub(crate) fn entry(kind: Kind, a: &str, b: &str, matches: &[&str]) -> Entry {
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
    fn a_file_naming_an_unknown_release_or_missing_its_cause_is_an_error_with_its_line() {
        let project = Project::load(&crate::definitions::project::default_root()).expect("project");
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
        let project = Project::load(&crate::definitions::project::default_root()).expect("project");
        let entries = load(&project.root, &project.versions).expect("known differences");
        assert!(!entries.is_empty());
    }
}
