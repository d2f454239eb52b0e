//! Static compatibility prediction for a pair of versions: what QEMU's
//! vmstate-static-checker reports on their `-dump-vmstate` dumps, plus the
//! machine-type check the checker cannot see.

use crate::definitions::versions::Version;
use devices::migration::check::{self, CheckReport, DumpError};
use devices::{DeviceError, FlashDevice};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// One incompatibility predicted for a pair of versions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Finding {
    /// The destination's release does not offer the source's machine type.
    MachineTypeNotOffered {
        machine_type: String,
        release: String,
        offered: Vec<String>,
    },
    /// What QEMU's vmstate-static-checker reports on the two dumps.
    Checker(check::Finding),
    /// The dumps could not be made or checked.
    CheckFailed(String),
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Finding::MachineTypeNotOffered {
                machine_type,
                release,
                offered,
            } => write!(
                f,
                "machine type '{machine_type}' is not offered by release {release} (offers {})",
                offered.join(", ")
            ),
            Finding::Checker(c) => write!(f, "{c}"),
            Finding::CheckFailed(e) => write!(f, "static check failed: {e}"),
        }
    }
}

/// Incompatibilities predicted for migrating `a` → `b`.
pub fn findings(a: &Version, b: &Version) -> Vec<Finding> {
    let mut out = Vec::new();
    if !b.offers_type(&a.machine_type) {
        out.push(Finding::MachineTypeNotOffered {
            machine_type: a.machine_type.clone(),
            release: b.release_name.clone(),
            offered: b.offered(),
        });
    }
    match check_versions(a, b) {
        Ok(report) => out.extend(report.findings.into_iter().map(Finding::Checker)),
        Err(e) => out.push(Finding::CheckFailed(e.to_string())),
    }
    out
}

/// True if the static checker finds a section the source sends that does not
/// exist in the destination: a prediction shown beside the observed verdict,
/// never an expectation (`judging::expectations` expects a refusal only
/// where the destination's release does not offer the machine type).
pub fn predicts_refusal(a: &Version, b: &Version) -> bool {
    type Key = (String, std::path::PathBuf, String, std::path::PathBuf);
    static CACHE: OnceLock<Mutex<HashMap<Key, bool>>> = OnceLock::new();
    let key = (
        a.name.clone(),
        a.file.clone(),
        b.name.clone(),
        b.file.clone(),
    );
    let cache = CACHE.get_or_init(Default::default);
    if let Some(v) = cache.lock().ok().and_then(|c| c.get(&key).copied()) {
        return v;
    }
    let v = findings(a, b)
        .iter()
        .any(|f| matches!(f, Finding::Checker(c) if c.kind == check::FindingKind::SectionMissing));
    if let Ok(mut c) = cache.lock() {
        c.insert(key, v);
    }
    v
}

/// Why a version's state descriptions could not be dumped or checked.
#[derive(Debug, thiserror::Error)]
pub enum StaticCheckError {
    #[error("{version}: device '{device}': {source}")]
    Realize {
        version: String,
        device: String,
        source: Box<DeviceError>,
    },
    #[error("{version}: its dump is not JSON: {source}")]
    Dump {
        version: String,
        source: Box<serde_json::Error>,
    },
    #[error(transparent)]
    Check(#[from] DumpError),
}

/// The static prediction for a chain: some hop is refused, because the
/// destination's release does not offer the stream's machine type, or (where
/// both sides run that type as their own) the checker finds a section the
/// destination lacks. Shown beside the observed verdict, never expected.
pub fn predicts_chain_refusal(chain: &[Arc<Version>]) -> bool {
    let machine_type = &chain[0].machine_type;
    chain.windows(2).any(|w| {
        let (a, b) = (&w[0], &w[1]);
        !b.offers_type(machine_type)
            || (&a.machine_type == machine_type
                && &b.machine_type == machine_type
                && predicts_refusal(a, b))
    })
}

/// Realizes every device of a version on fresh images, in registration order.
pub fn version_devices(version: &Version) -> Result<Vec<Box<dyn FlashDevice>>, StaticCheckError> {
    version
        .devices
        .iter()
        .map(|d| {
            devices::create(&d.spec, d.backend()).map_err(|e| StaticCheckError::Realize {
                version: version.name.clone(),
                device: d.id.clone(),
                source: Box::new(e),
            })
        })
        .collect()
}

/// The dump of a version (`-dump-vmstate` of its machine type), as text.
pub fn version_dump(version: &Version) -> Result<String, StaticCheckError> {
    let devs = version_devices(version)?;
    let refs: Vec<&dyn FlashDevice> = devs.iter().map(|d| d.as_ref()).collect();
    Ok(check::dump_json(
        &version.machine_type,
        &check::dump_entries(&refs),
    ))
}

/// What the static checker finds for migrating version `src` to `dst`.
pub fn check_versions(src: &Version, dst: &Version) -> Result<CheckReport, StaticCheckError> {
    let parse = |v: &Version| -> Result<serde_json::Value, StaticCheckError> {
        serde_json::from_str(&version_dump(v)?).map_err(|e| StaticCheckError::Dump {
            version: v.name.clone(),
            source: Box::new(e),
        })
    };
    Ok(check::check(&parse(src)?, &parse(dst)?, false)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definitions::project::{default_root, Project};

    #[test]
    fn a_section_the_destination_lacks_predicts_a_refusal_by_its_kind() {
        let p = Project::load(&default_root()).expect("project");
        let (v5, v6) = (p.version("v5").unwrap(), p.version("v6").unwrap());
        let back = findings(v6, v5);
        assert!(
            back.iter().any(|f| matches!(
                f,
                Finding::Checker(c) if c.kind == check::FindingKind::SectionMissing
            )),
            "{back:?}"
        );
        assert!(predicts_refusal(v6, v5));
        assert!(!predicts_refusal(v5, v6), "{:?}", findings(v5, v6));
        // The machine type v6 runs is not one v5's release offers.
        assert!(back
            .iter()
            .any(|f| matches!(f, Finding::MachineTypeNotOffered { .. })));
        assert!(
            back[0].to_string().starts_with("machine type '"),
            "{}",
            back[0]
        );
    }
}
