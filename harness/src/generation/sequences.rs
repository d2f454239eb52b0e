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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definitions::scenarios::parse_scenario;
    use crate::definitions::versions::{parse_version, Version};
    use std::path::{Path, PathBuf};
    use std::sync::Arc;

    #[test]
    fn generator_seed_is_fnv1a_of_the_name_and_stable() {
        // Published FNV-1a 64 test vectors (seed 0 mixes nothing in).
        assert_eq!(generator_seed("", 0), 0xcbf2_9ce4_8422_2325);
        assert_eq!(generator_seed("a", 0), 0xaf63_dc4c_8601_ec8c);
        // Saved `trial --scenario --seed` commands depend on this value.
        assert_eq!(generator_seed("cfi02-erase", 3), 0x2541_9e0c_e44f_5d4d);
    }

    #[test]
    fn generator_seed_differs_by_scenario_name_and_by_seed() {
        for seed in 0..64 {
            let a = generator_seed("cfi01-program", seed);
            assert_ne!(a, generator_seed("cfi01-erase", seed), "seed {seed}");
            assert_ne!(a, generator_seed("cfi01-program", seed + 1), "seed {seed}");
        }
    }

    /// A `[[device]]` table of a version file.
    fn device(id: &str, ty: &str, props: &str, features: &str) -> String {
        format!(
            "[[device]]\nid = \"{id}\"\ntype = \"{ty}\"\nproperties = {{ {props} }}\nfeatures = [{features}]\n"
        )
    }

    const CFI01: &str = "name = \"virt.flash0\", num-blocks = 4, sector-length = 0x40000, width = 4, device-width = 2";
    const CFI02: &str = "name = \"musicpal.flash\", num-blocks = 8, sector-length = 0x10000, width = 2, unlock-addr0 = 0x5555, unlock-addr1 = 0x2AAA";

    fn version(path: &str, devices: &[String]) -> Arc<Version> {
        let text = format!(
            "release = \"v5\"\nmachine-type = \"nor-5.0\"\n{}",
            devices.concat()
        );
        Arc::new(parse_version(Path::new(path), &text).unwrap())
    }

    fn scenario(devices: &str) -> Scenario {
        let text = format!(
            "devices = [{devices}]\nlength = [4, 8]\n[migration]\npoints = [\"anywhere\"]\n[mix]\nread = 1\n"
        );
        parse_scenario(Path::new("scenarios/t.toml"), &text).unwrap()
    }

    #[test]
    fn kind_allowed_refuses_a_kind_whose_feature_one_version_lacks() {
        let both = "\"write-buffer\", \"erase-suspend\"";
        // Two versions of the composite board: b's flash0 lacks write-buffer.
        // A third board has only a musicpal, without erase-suspend.
        let a = version(
            "machines/a.toml",
            &[
                device("flash0", "cfi.pflash01", CFI01, both),
                device("musicpal", "cfi.pflash02", CFI02, both),
            ],
        );
        let b = version(
            "machines/b.toml",
            &[
                device("flash0", "cfi.pflash01", CFI01, ""),
                device("musicpal", "cfi.pflash02", CFI02, both),
            ],
        );
        let c = version(
            "machines/other/c.toml",
            &[device("musicpal", "cfi.pflash02", CFI02, "")],
        );
        let project = Project {
            root: PathBuf::from("."),
            versions: vec![a, b, c],
            scenarios: Vec::new(),
            unavailable: Vec::new(),
            known: Vec::new(),
        };
        let s = scenario("\"flash0\", \"musicpal\"");
        assert!(!kind_allowed(&project, &s, 0, "write-buffer"));
        // Kinds that need no feature are always allowed.
        assert!(kind_allowed(&project, &s, 0, "program"));
        // Board `other` lacks flash0, so this scenario does not run there
        // and its musicpal's missing erase-suspend does not count.
        assert!(kind_allowed(&project, &s, 1, "suspend"));
        // A scenario on musicpal alone runs on both boards.
        let alone = scenario("\"musicpal\"");
        assert!(!kind_allowed(&project, &alone, 0, "suspend"));
        assert!(kind_allowed(&project, &alone, 0, "sector-erase"));
    }
}
