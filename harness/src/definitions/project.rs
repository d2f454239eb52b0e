//! A project tree: its version files, scenarios and known differences,
//! loaded and checked together, and which real versions are usable here.

use crate::definitions::file_error::FileError;
use crate::definitions::layout::Layout;
use crate::definitions::scenarios::{self, Scenario};
use crate::definitions::versions::{self, Version};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Machine definitions and scenarios of a project tree.
#[derive(Clone, Debug)]
pub struct Project {
    pub root: PathBuf,
    pub versions: Vec<Arc<Version>>,
    pub scenarios: Vec<Arc<Scenario>>,
    /// Real versions whose emulator is not usable here, with the reason:
    /// left out of the matrix (and listed as ignored by `cargo test`).
    pub unavailable: Vec<(String, String)>,
    /// The reviewed differences between releases (`machines/known-differences.toml`).
    pub known: Vec<crate::definitions::known_differences::Entry>,
}

/// The project root: `NORCOMPAT_ROOT`, else the workspace (where `machines/` is).
pub fn default_root() -> PathBuf {
    if let Ok(r) = std::env::var("NORCOMPAT_ROOT") {
        return PathBuf::from(r);
    }
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    for dir in cwd.ancestors() {
        if dir.join("machines").is_dir() && dir.join("scenarios").is_dir() {
            return dir.to_path_buf();
        }
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

impl Project {
    /// Loads `machines/*.toml` and `scenarios/*.toml` under `root`, and checks
    /// that every scenario's devices exist with the same geometry everywhere.
    pub fn load(root: &Path) -> Result<Project, FileError> {
        let versions: Vec<Arc<Version>> = versions::load_all(&root.join("machines"))?
            .into_iter()
            .map(Arc::new)
            .collect();
        let scenarios: Vec<Arc<Scenario>> = scenarios::load_dir(&root.join("scenarios"))?
            .into_iter()
            .map(Arc::new)
            .collect();
        let unavailable = versions
            .iter()
            .filter_map(|v| {
                let e = v.emulator.as_ref()?;
                crate::definitions::emulators::locate(e, &v.machine_type)
                    .err()
                    .map(|reason| (v.name.clone(), reason))
            })
            .collect();
        let known = crate::definitions::known_differences::load(root, &versions)?;
        let p = Project {
            root: root.to_path_buf(),
            versions,
            scenarios,
            unavailable,
            known,
        };
        for s in &p.scenarios {
            p.layouts(s)?;
        }
        Ok(p)
    }

    /// The version with this name.
    pub fn version(&self, name: &str) -> Option<&Arc<Version>> {
        self.versions.iter().find(|v| v.name == name)
    }

    /// The scenario with this name.
    pub fn scenario(&self, name: &str) -> Option<&Arc<Scenario>> {
        self.scenarios.iter().find(|s| s.name == name)
    }

    /// The boards, in version order (composite first).
    pub fn boards(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for v in &self.versions {
            if !out.contains(&v.board) {
                out.push(v.board.clone());
            }
        }
        out
    }

    /// Indices of a board's versions.
    pub fn board_versions(&self, board: &str) -> Vec<usize> {
        (0..self.versions.len())
            .filter(|i| self.versions[*i].board == board)
            .collect()
    }

    /// The boards a scenario runs on: those where every version has all of
    /// the scenario's devices.
    pub fn scenario_boards(&self, s: &Scenario) -> Vec<String> {
        self.boards()
            .into_iter()
            .filter(|b| {
                self.board_versions(b).iter().all(|i| {
                    s.devices
                        .iter()
                        .all(|id| self.versions[*i].device(id).is_some())
                })
            })
            .collect()
    }

    /// The versions a scenario runs on.
    pub fn scenario_versions(&self, s: &Scenario) -> Vec<&Arc<Version>> {
        let boards = self.scenario_boards(s);
        self.versions
            .iter()
            .filter(|v| boards.contains(&v.board))
            .collect()
    }

    /// True if the version's emulator is usable here (always for models).
    pub fn available(&self, v: &Version) -> bool {
        !self.unavailable.iter().any(|(n, _)| *n == v.name)
    }

    /// Generator layouts of a scenario's devices (identical in every version).
    pub fn layouts(&self, s: &Scenario) -> Result<Vec<Layout>, FileError> {
        let err = |m: String| FileError {
            path: s.file.clone(),
            position: None,
            message: m,
        };
        if self.scenario_boards(s).is_empty() {
            return Err(err(format!(
                "no board has all of the devices {:?} (boards: {})",
                s.devices,
                self.boards().join(", ")
            )));
        }
        let mut out = Vec::new();
        for id in &s.devices {
            let mut layout: Option<(String, Layout)> = None;
            for v in self.scenario_versions(s) {
                let d = v.device(id).ok_or_else(|| {
                    err(format!(
                        "device '{id}' does not exist in version {} ({})",
                        v.name,
                        v.file.display()
                    ))
                })?;
                let l = Layout::of(d).ok_or_else(|| {
                    err(format!(
                        "device '{id}' of version {} is a '{}', which speaks no CFI command set the generator knows",
                        v.name, d.type_name
                    ))
                })?;
                match &layout {
                    None => layout = Some((v.name.clone(), l)),
                    Some((first, l0)) if (l0.window, l0.set) != (l.window, l.set) => {
                        return Err(err(format!(
                            "device '{id}' differs between versions {first} and {}: a trial needs the same board everywhere",
                            v.name
                        )))
                    }
                    Some(_) => {}
                }
            }
            if let Some((_, l)) = layout {
                out.push(l);
            }
        }
        Ok(out)
    }

    /// Chains of version indices a scenario runs, per board it runs on: for
    /// 1 hop every ordered pair of the board's versions (X→X included); for
    /// n hops A→B→A→… for every ordered pair A ≠ B. Chains through a real
    /// version run one hop only (each hop starts QEMU processes), and the
    /// versions left out here are included: callers skip or ignore them.
    pub fn chains(&self, s: &Scenario) -> Vec<Vec<usize>> {
        let mut out = Vec::new();
        for board in self.scenario_boards(s) {
            let vs = self.board_versions(&board);
            for &hops in &s.hops {
                for &a in &vs {
                    for &b in &vs {
                        if hops > 1 && a == b {
                            continue;
                        }
                        let real = self.versions[a].is_real() || self.versions[b].is_real();
                        if real && hops > 1 {
                            continue;
                        }
                        out.push((0..=hops).map(|i| if i % 2 == 0 { a } else { b }).collect());
                    }
                }
            }
        }
        out
    }

    /// The chains of [`Project::chains`] with models only.
    pub fn model_chains(&self, s: &Scenario) -> Vec<Vec<usize>> {
        self.chains(s)
            .into_iter()
            .filter(|c| !c.iter().any(|i| self.versions[*i].is_real()))
            .collect()
    }

    /// True if every version of the chain is usable here.
    pub fn chain_available(&self, chain: &[usize]) -> bool {
        chain.iter().all(|i| self.available(&self.versions[*i]))
    }

    /// Versions of a chain of indices.
    pub fn chain_versions(&self, chain: &[usize]) -> Vec<Arc<Version>> {
        chain.iter().map(|i| self.versions[*i].clone()).collect()
    }
}

/// The model a real version must agree with (its `[emulator] model`).
pub fn model_of<'a>(project: &'a Project, real: &Version) -> Option<&'a Arc<Version>> {
    let m = real.emulator.as_ref()?.model.as_ref()?;
    project.versions.iter().find(|v| {
        v.board == real.board && !v.is_real() && v.file.file_stem().is_some_and(|s| s == m.as_str())
    })
}
