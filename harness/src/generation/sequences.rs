//! The op sequence of a (scenario, seed): the generator fed with the
//! scenario's device layouts and the command kinds every version promises.

use crate::definitions::project::Project;
use crate::definitions::scenarios::Scenario;
use crate::generation::generator::{generate, kind_feature, Sequence};

/// Whether the generator may emit `kind` on scenario device `dev`:
/// its feature must be promised by that device in every version.
pub fn kind_allowed(project: &Project, s: &Scenario, dev: usize, kind: &str) -> bool {
    match kind_feature(kind) {
        None => true,
        Some(f) => project
            .scenario_versions(s)
            .iter()
            .all(|v| v.device(&s.devices[dev]).is_some_and(|d| d.has(f))),
    }
}

/// The op sequence of (scenario, seed) with `hops` migrations.
pub fn sequence(project: &Project, s: &Scenario, seed: u64, hops: usize) -> Sequence {
    let layouts = project.layouts(s).unwrap_or_default();
    let allowed = |dev: usize, kind: &str| kind_allowed(project, s, dev, kind);
    generate(s, generator_seed(&s.name, seed), &layouts, &allowed, hops)
}

/// Mixes the scenario name into the seed so scenarios differ at equal seeds
/// (FNV-1a; stable across platforms and releases).
pub fn generator_seed(scenario: &str, seed: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in scenario.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^ seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}
