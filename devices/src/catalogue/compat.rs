//! Versioned machine types, releases and compat properties (QEMU's
//! `hw_compat_X_Y` arrays, spec migration.md §6).
//!
//! A machine type fixes the migration stream a release emits. v5 offers only
//! `nor-5.0`. v6 offers `nor-6.0` and the compat machine type `nor-5.0`, which
//! sets [`LEGACY_MIGRATION_PROP`] on the v6 flash types so that they emit
//! exactly the v5 wire format. Machine definition files (`machines/*.toml`)
//! carry the same compat properties as data; this table is the built-in
//! default used where no definition file is involved (`norcompat replay`).

use crate::props::DeviceSpec;
use crate::v6::parallel::LEGACY_MIGRATION_PROP;

/// The machine type of release v5 (and v6's compat machine type).
pub const NOR_5_0: &str = "nor-5.0";
/// The machine type of release v6.
pub const NOR_6_0: &str = "nor-6.0";

/// QOM type of the v6 Intel/Sharp flash.
pub const V6_CFI01_TYPE: &str = crate::v6::cfi01::TYPE_NAME;
/// QOM type of the v6 AMD/Fujitsu flash.
pub const V6_CFI02_TYPE: &str = crate::v6::cfi02::TYPE_NAME;

/// One compat property: `{driver, property, value}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GlobalProperty {
    pub driver: &'static str,
    pub property: &'static str,
    pub value: &'static str,
}

/// Compat properties of machine type `nor-5.0` (what `hw_compat_5_0` would
/// hold): on the abstract `parallel-nor-flash`, so both v6 flash types get it.
pub const HW_COMPAT_5_0: &[GlobalProperty] = &[GlobalProperty {
    driver: crate::v6::parallel::TYPE_NAME,
    property: LEGACY_MIGRATION_PROP,
    value: "on",
}];

/// A release: the device types it ships and the machine types it offers
/// (the first one is its default).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Release {
    pub name: &'static str,
    pub types: &'static [&'static str],
    pub machine_types: &'static [&'static str],
}

/// Release v5: QEMU 7.2.22's legacy devices.
pub const RELEASE_V5: Release = Release {
    name: "v5",
    types: &[crate::v5::cfi01::TYPE_NAME, crate::v5::cfi02::TYPE_NAME],
    machine_types: &[NOR_5_0],
};

/// Release v6: the NOR flash type hierarchy.
pub const RELEASE_V6: Release = Release {
    name: "v6",
    types: &[V6_CFI01_TYPE, V6_CFI02_TYPE],
    machine_types: &[NOR_6_0, NOR_5_0],
};

/// Every release.
pub const RELEASES: &[Release] = &[RELEASE_V5, RELEASE_V6];

/// The release that ships device type `type_name`.
pub fn release_of(type_name: &str) -> Option<&'static Release> {
    RELEASES.iter().find(|r| r.types.contains(&type_name))
}

/// The built-in compat properties of a machine type (all drivers).
pub fn builtin_compat(machine_type: &str) -> &'static [GlobalProperty] {
    match machine_type {
        NOR_5_0 => HW_COMPAT_5_0,
        _ => &[],
    }
}

/// The compat properties machine type `machine_type` applies to `type_name`
/// (those whose driver is the type or one of its ancestors).
pub fn compat_props(machine_type: &str, type_name: &str) -> Vec<(String, String)> {
    builtin_compat(machine_type)
        .iter()
        .filter(|p| super::type_is_a(type_name, p.driver))
        .map(|p| (p.property.to_string(), p.value.to_string()))
        .collect()
}

/// True for properties that machine types set (compat properties), which a
/// device spec carries over to another type only through its machine type.
pub fn is_compat_prop(name: &str) -> bool {
    name == LEGACY_MIGRATION_PROP
}

/// `spec` with its compat properties replaced by those `machine_type` applies.
pub fn spec_for_machine_type(spec: &DeviceSpec, machine_type: &str) -> DeviceSpec {
    let mut props: Vec<(String, String)> = spec
        .props
        .iter()
        .filter(|(k, _)| !is_compat_prop(k))
        .cloned()
        .collect();
    props.extend(compat_props(machine_type, &spec.type_name));
    DeviceSpec {
        type_name: spec.type_name.clone(),
        props,
    }
}

/// The machine type a device built from `spec` runs: the release's default,
/// or `nor-5.0` when a v6 device has the legacy-migration compat property on.
pub fn machine_type_of(spec: &DeviceSpec) -> &'static str {
    let legacy = spec
        .props
        .iter()
        .any(|(k, v)| k == LEGACY_MIGRATION_PROP && matches!(v.as_str(), "on" | "yes" | "true"));
    match release_of(&spec.type_name) {
        Some(r) if r.name == RELEASE_V6.name && legacy => NOR_5_0,
        Some(r) => r.machine_types[0],
        None => NOR_5_0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nor_5_0_turns_legacy_migration_on_for_v6_types_only() {
        assert_eq!(
            compat_props(NOR_5_0, V6_CFI01_TYPE),
            vec![(LEGACY_MIGRATION_PROP.to_string(), "on".to_string())]
        );
        assert_eq!(
            compat_props(NOR_5_0, V6_CFI02_TYPE),
            vec![(LEGACY_MIGRATION_PROP.to_string(), "on".to_string())]
        );
        assert!(compat_props(NOR_5_0, crate::v5::cfi01::TYPE_NAME).is_empty());
        assert!(compat_props(NOR_6_0, V6_CFI02_TYPE).is_empty());
    }

    #[test]
    fn compat_properties_match_the_type_and_its_subclasses() {
        use crate::catalogue::type_is_a;
        assert!(type_is_a(V6_CFI01_TYPE, "nor-flash"));
        assert!(type_is_a(V6_CFI02_TYPE, "parallel-nor-flash"));
        assert!(type_is_a(V6_CFI02_TYPE, V6_CFI02_TYPE));
        assert!(!type_is_a(V6_CFI01_TYPE, V6_CFI02_TYPE));
        assert!(!type_is_a("parallel-nor-flash", V6_CFI01_TYPE));
        assert!(!type_is_a(crate::v5::cfi01::TYPE_NAME, "nor-flash"));
    }

    #[test]
    fn machine_type_follows_release_and_compat_property() {
        let spec = DeviceSpec::parse("parallel-nor-cfi01-flash,name=f").unwrap();
        assert_eq!(machine_type_of(&spec), NOR_6_0);
        let compat = spec_for_machine_type(&spec, NOR_5_0);
        assert_eq!(machine_type_of(&compat), NOR_5_0);
        assert_eq!(spec_for_machine_type(&compat, NOR_6_0), spec);
        let v5 = DeviceSpec::parse("cfi.pflash01,name=f").unwrap();
        assert_eq!(machine_type_of(&v5), NOR_5_0);
    }
}
