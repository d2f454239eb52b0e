//! Finding a usable QEMU for a version: the binary a version file names
//! (an environment variable may override it), the environment the project's
//! set-up script recorded (`scripts/setup-qemu.sh` writes
//! `<cache>/<setup>.env`, e.g. `QEMU_MODULE_DIR` for Debian's build, whose
//! qtest accelerator module it rebuilds), and a probe that the binary really
//! runs the qtest accelerator on the version's machine type.

use crate::definitions::versions::Emulator;
use crate::qemu::process::{qtest_args, Launch, QemuProcess, Timeouts};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// The command that sets real QEMU up.
pub const SETUP_COMMAND: &str = "bash scripts/setup-qemu.sh";

/// A QEMU that answered the probe.
#[derive(Clone, Debug)]
pub struct Located {
    /// Binary and environment; arguments are added per machine.
    pub launch: Launch,
    /// What `-version` printed (first line).
    pub version: String,
}

/// The set-up script's cache directory.
pub fn cache_dir() -> PathBuf {
    if let Ok(d) = std::env::var("NORCOMPAT_QEMU_CACHE") {
        return PathBuf::from(d);
    }
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    Path::new(&home).join(".cache/norcompat/qemu")
}

/// `KEY=VALUE` lines of a set-up env file.
fn read_env_file(path: &Path) -> BTreeMap<String, String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (k, v) = l.trim().split_once('=')?;
            (!k.starts_with('#')).then(|| (k.trim().to_string(), v.trim().to_string()))
        })
        .collect()
}

fn on_path(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        let p = PathBuf::from(name);
        return p.is_file().then_some(p);
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The launch (binary + environment) a version's emulator resolves to,
/// without running it.
pub fn resolve(e: &Emulator) -> Result<Launch, String> {
    let recorded = e
        .setup
        .as_ref()
        .map(|s| read_env_file(&cache_dir().join(format!("{s}.env"))))
        .unwrap_or_default();
    let overridden = e.env.as_ref().and_then(|k| std::env::var(k).ok());
    let named = overridden
        .clone()
        .or_else(|| e.env.as_ref().and_then(|k| recorded.get(k).cloned()))
        .unwrap_or_else(|| e.binary.clone());
    let binary = on_path(&named).ok_or_else(|| match &overridden {
        Some(v) => format!(
            "{} = '{v}' is not an executable file",
            e.env.as_deref().unwrap_or("")
        ),
        None => format!("'{named}' not found"),
    })?;
    let mut env = Vec::new();
    let module_dir = std::env::var("QEMU_MODULE_DIR")
        .ok()
        .or_else(|| recorded.get("QEMU_MODULE_DIR").cloned());
    if let Some(d) = module_dir {
        env.push(("QEMU_MODULE_DIR".to_string(), d));
    }
    Ok(Launch {
        binary,
        env,
        args: Vec::new(),
        timeouts: Timeouts::from_env()?,
    })
}

/// Resolves and probes a version's emulator (once per run and machine type):
/// it must start under `-accel qtest` on `machine_type` and step the clock.
pub fn locate(e: &Emulator, machine_type: &str) -> Result<Located, String> {
    static CACHE: OnceLock<Mutex<BTreeMap<String, Result<Located, String>>>> = OnceLock::new();
    let key = format!("{e:?}/{machine_type}");
    let cache = CACHE.get_or_init(Default::default);
    if let Some(r) = cache.lock().map(|c| c.get(&key).cloned()).ok().flatten() {
        return r;
    }
    let r = probe(e, machine_type);
    if let Ok(mut c) = cache.lock() {
        c.insert(key, r.clone());
    }
    r
}

fn probe(e: &Emulator, machine_type: &str) -> Result<Located, String> {
    let launch = resolve(e)?;
    let version = launch.output(&["-version"]).map_err(|e| e.to_string())?;
    let version = version.lines().next().unwrap_or("").to_string();
    if let Some(want) = &e.qemu_version {
        // "QEMU emulator version 7.2.22 (Debian …)": the release must match.
        let got = version
            .split_whitespace()
            .skip_while(|w| *w != "version")
            .nth(1)
            .unwrap_or("");
        if got != want.as_str() && !got.starts_with(&format!("{want}.")) {
            return Err(format!(
                "{} is '{version}', not QEMU {want}",
                launch.binary.display()
            ));
        }
    }
    let mut probe = launch.clone();
    probe.args = qtest_args(machine_type);
    // The version's own arguments too: a board may not start without them
    // (musicpal on a build without audio drivers needs its -audiodev).
    probe.args.extend(e.args.iter().cloned());
    let mut p = QemuProcess::start(&probe).map_err(|err| err.to_string())?;
    match p.qtest.clock_step(Some(1)) {
        Ok(1) => Ok(Located { launch, version }),
        Ok(t) => Err(format!("clock_step 1 moved the clock to {t}, not 1")),
        Err(err) => Err(p.explain(err).to_string()),
    }
}
