//! Released wire formats are frozen: each model version's `-dump-vmstate`
//! output is a golden file (`harness/tests/data/vmstate/<version>.json`, as
//! QEMU keeps `tests/data/vmstate-static-checker/`), and QEMU's static
//! checker runs between the golden and today's code in both directions. Any
//! finding is a changed wire format: the main job and `cargo test` fail on
//! it, unless the golden was updated in the same change.

use crate::definitions::project::Project;
use crate::definitions::versions::Version;
use crate::judging::staticcheck::version_dump;
use devices::migration::check;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Where the golden dumps are, under the project root.
pub const GOLDEN_DIR: &str = "harness/tests/data/vmstate";

/// A model version whose wire format is not its golden's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changed {
    pub version: String,
    pub machine_type: String,
    /// The checker's findings (`forward:` golden → today, `backward:`
    /// today → golden), or why the golden could not be read.
    pub findings: Vec<String>,
    /// The command that regenerates the golden.
    pub regenerate: String,
}

/// The findings of the checker from `a` to `b` and back.
pub fn both_ways(a: &Value, b: &Value) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for (dir, src, dst) in [("forward", a, b), ("backward", b, a)] {
        let r = check::check(src, dst, false).map_err(|e| e.to_string())?;
        out.extend(r.messages().into_iter().map(|m| format!("{dir}: {m}")));
    }
    Ok(out)
}

/// The golden of version `name` under `root`.
pub fn golden_path(root: &Path, name: &str) -> PathBuf {
    root.join(GOLDEN_DIR).join(format!("{name}.json"))
}

/// Checks one model version against its golden: `None` when they agree.
pub fn check_version(root: &Path, v: &Version) -> Option<Changed> {
    let regenerate = format!(
        "cargo run --release -- dump-vmstate {} -o {GOLDEN_DIR}/{}.json",
        v.name, v.name
    );
    let path = golden_path(root, &v.name);
    let changed = |findings: Vec<String>| {
        Some(Changed {
            version: v.name.clone(),
            machine_type: v.machine_type.clone(),
            findings,
            regenerate: regenerate.clone(),
        })
    };
    let now = match version_dump(v).map(|d| serde_json::from_str::<Value>(&d)) {
        Ok(Ok(now)) => now,
        Ok(Err(e)) => return changed(vec![format!("today's dump is not JSON: {e}")]),
        Err(e) => return changed(vec![format!("no dump of today's code: {e}")]),
    };
    let golden = match std::fs::read_to_string(&path) {
        Ok(text) => match serde_json::from_str::<Value>(&text) {
            Ok(g) => g,
            Err(e) => {
                return changed(vec![format!(
                    "{}: not a JSON dump (line {}, column {}): {e}",
                    path.display(),
                    e.line(),
                    e.column()
                )])
            }
        },
        Err(e) => return changed(vec![format!("{}: no golden dump: {e}", path.display())]),
    };
    match both_ways(&golden, &now) {
        Ok(f) if f.is_empty() => None,
        Ok(f) => changed(f),
        Err(e) => changed(vec![format!("{}: {e}", path.display())]),
    }
}

/// Every model version of the project against its golden; the number
/// checked and the changed ones.
pub fn check_project(project: &Project) -> (usize, Vec<Changed>) {
    let models: Vec<_> = project.versions.iter().filter(|v| !v.is_real()).collect();
    let changed = models
        .iter()
        .filter_map(|v| check_version(&project.root, v))
        .collect();
    (models.len(), changed)
}
