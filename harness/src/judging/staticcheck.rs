//! Static compatibility prediction for a pair of versions: what QEMU's
//! vmstate-static-checker reports on their `-dump-vmstate` dumps, plus the
//! machine-type check the checker cannot see.

use crate::definitions::versions::Version;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// Incompatibilities predicted for migrating `a` → `b`.
pub fn findings(a: &Version, b: &Version) -> Vec<String> {
    let mut out = Vec::new();
    if !b.offers_type(&a.machine_type) {
        out.push(format!(
            "machine type '{}' is not offered by release {} (offers {})",
            a.machine_type,
            b.release_name,
            b.offered().join(", ")
        ));
    }
    match crate::commands::vmstate::check_versions(a, b) {
        Ok(report) => out.extend(report.findings),
        Err(e) => out.push(format!("static check failed: {e}")),
    }
    out
}

/// True if the static checker finds a section the source sends that does not
/// exist in the destination (callers check the machine type themselves:
/// see `trial::refusal_predicted`).
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
        .any(|f| f.contains("does not exist in dest"));
    if let Ok(mut c) = cache.lock() {
        c.insert(key, v);
    }
    v
}
