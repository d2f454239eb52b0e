//! Static compatibility prediction for a pair of versions (the harness side
//! of `check-static`): what QEMU's vmstate-static-checker would report.

use crate::machines::Version;

/// Incompatibilities the static checker finds for migrating `a` → `b`.
pub fn findings(a: &Version, b: &Version) -> Vec<String> {
    let mut out = Vec::new();
    if !b.release.offers.contains(&a.machine_type.as_str()) {
        out.push(format!(
            "machine type '{}' is not offered by release {} (offers {})",
            a.machine_type,
            b.release.name,
            b.release.offers.join(", ")
        ));
    }
    out
}
