//! Regressions the harness must catch on its own verdicts: each mutation in
//! `tests/data/mutations.toml` is applied to a copy of the project (device
//! code or version files), the copy's main job runs on the model chains,
//! and it must fail with the verdict the mutation names. Ignored by default
//! (each device mutation rebuilds the copy); CI runs them:
//! `cargo test --release -p harness --test mutations -- --ignored`.

use libtest_mimic::{Arguments, Failed, Trial};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    mutation: Vec<Mutation>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct Mutation {
    id: String,
    what: String,
    file: String,
    find: Option<String>,
    replace: Option<String>,
    #[serde(default)]
    edits: Vec<Edit>,
    /// Every one of these is in the main job's output.
    expect: Vec<String>,
    /// None of these is.
    #[serde(default)]
    absent: Vec<String>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct Edit {
    find: String,
    replace: String,
}

impl Mutation {
    fn edits(&self) -> Vec<Edit> {
        let mut out: Vec<Edit> = self
            .find
            .iter()
            .zip(&self.replace)
            .map(|(find, replace)| Edit {
                find: find.clone(),
                replace: replace.clone(),
            })
            .collect();
        out.extend(self.edits.iter().cloned());
        out
    }

    /// Only version files or scenarios change: the built binary serves.
    fn needs_build(&self) -> bool {
        !(self.file.starts_with("machines/") || self.file.starts_with("scenarios/"))
    }
}

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_path_buf()
}

/// Copies the project's tracked files (as they are on disk) to `to`.
fn copy_project(to: &Path) -> Result<(), String> {
    let root = workspace();
    let out = Command::new("git")
        .args(["ls-files", "-z"])
        .current_dir(&root)
        .output()
        .map_err(|e| format!("git ls-files: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "git ls-files: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    for name in out.stdout.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let name = String::from_utf8_lossy(name).into_owned();
        let (src, dst) = (root.join(&name), to.join(&name));
        if !src.is_file() {
            continue; // deleted in the working tree
        }
        if let Some(dir) = dst.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        std::fs::copy(&src, &dst).map_err(|e| format!("{}: {e}", src.display()))?;
    }
    Ok(())
}

/// Applies the mutation's edits to the copy; each `find` occurs exactly once.
fn apply(m: &Mutation, root: &Path) -> Result<(), String> {
    let path = root.join(&m.file);
    let mut text =
        std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    for e in m.edits() {
        let n = text.matches(&e.find).count();
        if n != 1 {
            return Err(format!(
                "mutation {}: {} holds {n} copies of {:?} (exactly one expected): update tests/data/mutations.toml",
                m.id, m.file, e.find
            ));
        }
        text = text.replacen(&e.find, &e.replace, 1);
    }
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Device mutations build one after another in one target directory.
static BUILD: Mutex<()> = Mutex::new(());

fn run(m: &Mutation) -> Result<(), Failed> {
    let dir = tempfile::Builder::new()
        .prefix("norcompat-mutant-")
        .tempdir()
        .map_err(|e| e.to_string())?;
    let root = dir.path().join("project");
    copy_project(&root)?;
    apply(m, &root)?;
    let _guard = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let binary = if m.needs_build() {
        let target = workspace().join("target/mutants");
        let out = Command::new(env!("CARGO"))
            .args(["build", "--release", "--offline", "--bin", "norcompat"])
            .env("CARGO_TARGET_DIR", &target)
            .current_dir(&root)
            .output()
            .map_err(|e| format!("cargo build: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mutation {} does not build:\n{}",
                m.id,
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        target.join("release/norcompat")
    } else {
        PathBuf::from(env!("CARGO_BIN_EXE_norcompat"))
    };
    let out = Command::new(&binary)
        .args(["matrix", "--no-save", "--out"])
        .arg(dir.path().join("out"))
        .env("NORCOMPAT_ROOT", &root)
        .env("NORCOMPAT_REAL_SEEDS", "0")
        .output()
        .map_err(|e| format!("{}: {e}", binary.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let failed: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("FAILED") || l.contains("behave differently"))
        .collect();
    // The first failures and the summary line.
    let shown = failed
        .iter()
        .take(3)
        .chain(failed.last().filter(|_| failed.len() > 3))
        .map(|l| format!("  {}", l.chars().take(400).collect::<String>()))
        .collect::<Vec<_>>()
        .join("\n");
    if out.status.code() != Some(1) {
        return Err(format!(
            "mutation {} ({}): the main job exited {:?}, not 1: the regression went unnoticed\n{shown}\nstderr: {}",
            m.id,
            m.what,
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    let missing: Vec<&String> = m
        .expect
        .iter()
        .filter(|e| !stdout.contains(e.as_str()))
        .collect();
    let present: Vec<&String> = m
        .absent
        .iter()
        .filter(|a| stdout.contains(a.as_str()))
        .collect();
    if !missing.is_empty() || !present.is_empty() {
        return Err(format!(
            "mutation {} ({}): the main job failed, but its output lacks {missing:?} or holds {present:?}:\n{shown}",
            m.id, m.what
        )
        .into());
    }
    // What the run said, for the record (`--nocapture`).
    println!("{}: {}\n{shown}", m.id, m.what);
    Ok(())
}

fn main() {
    let args = Arguments::from_args();
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/mutations.toml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let file: File = toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let trials = file
        .mutation
        .into_iter()
        .map(|m| {
            Trial::test(format!("mutation::{}", m.id), move || run(&m)).with_ignored_flag(true)
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}
