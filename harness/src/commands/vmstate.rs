//! `norcompat dump-vmstate` and `norcompat check-static`: the state
//! descriptions of a version as QEMU's `-dump-vmstate` JSON, and QEMU's
//! vmstate-static-checker rules applied to two of them
//! (shared/spec/migration.md §9; the rules live in
//! `devices::migration::check`).

use crate::commands::CliError;
use crate::definitions::versions::{find_version, load_version, Version};
use crate::judging::staticcheck::version_dump;
use devices::catalogue::compat;
use devices::migration::check;
use devices::{BlockBackend, DeviceSpec, FlashDevice};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Properties that realize any flash type for a dump when `--props` is not
/// given (the dump does not depend on geometry: variable buffers dump size 0).
pub const DEFAULT_DUMP_PROPS: &str = "name=dump.flash,num-blocks=16,sector-length=0x10000,width=2";

/// `norcompat dump-vmstate` arguments.
#[derive(clap::Args, Debug)]
pub struct DumpVmstateArgs {
    /// A version (a name from machines/, or a path to a machine definition),
    /// or one or more device types (e.g. cfi.pflash01 parallel-nor-cfi02-flash).
    #[arg(required = true, value_name = "VERSION|TYPE")]
    pub targets: Vec<String>,
    /// Machine type for device types (default: their release's own). Its
    /// compat properties are applied, as a machine definition would.
    #[arg(long)]
    pub machine_type: Option<String>,
    /// Properties for device types, 'prop=value,...' (default: a small valid geometry).
    #[arg(long)]
    pub props: Option<String>,
    /// Write the dump here instead of standard output.
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
}

/// `norcompat check-static` arguments.
#[derive(clap::Args, Debug)]
pub struct CheckStaticArgs {
    /// Source: a dump file (*.json, e.g. from QEMU's -dump-vmstate), a version
    /// name or machine definition path, or TYPE[+TYPE...][@MACHINE-TYPE].
    pub src: String,
    /// Destination, in the same forms.
    pub dst: String,
    /// Check backward migration: swap source and destination.
    #[arg(long)]
    pub reverse: bool,
}

/// The dump of device types realized with `props` under `machine_type`
/// (default: the first type's release default).
pub fn types_dump(
    types: &[String],
    machine_type: Option<&str>,
    props: &str,
) -> Result<String, CliError> {
    let base: Vec<(String, String)> = DeviceSpec::parse(&format!("t,{props}"))?.props;
    let first = types.first().ok_or("no device type given")?;
    let machine_type = match machine_type {
        Some(m) => m.to_string(),
        None => compat::machine_type_of(&DeviceSpec {
            type_name: first.clone(),
            props: base.clone(),
        })
        .to_string(),
    };
    let mut devs = Vec::new();
    for ty in types {
        if let Some(release) = compat::release_of(ty) {
            if !release.machine_types.contains(&machine_type.as_str()) {
                return Err(format!(
                    "{ty}: release {} does not offer machine type '{machine_type}' (it offers {})",
                    release.name,
                    release.machine_types.join(", ")
                )
                .into());
            }
        }
        let spec = compat::spec_for_machine_type(
            &DeviceSpec {
                type_name: ty.clone(),
                props: base.clone(),
            },
            &machine_type,
        );
        let len = devices::image_size(&spec)?;
        devs.push(devices::create(
            &spec,
            BlockBackend::memory(len, 0xFF, true),
        )?);
    }
    let refs: Vec<&dyn FlashDevice> = devs.iter().map(|d| d.as_ref()).collect();
    Ok(check::dump_json(&machine_type, &check::dump_entries(&refs)))
}

/// A version given by name (in `<root>/machines`) or by path.
fn resolve_version(name: &str) -> Result<Option<Version>, CliError> {
    let path = PathBuf::from(name);
    if path.is_file() {
        return Ok(Some(load_version(&path)?));
    }
    let dir = crate::definitions::project::default_root().join("machines");
    if dir.join(format!("{name}.toml")).is_file() {
        return Ok(Some(find_version(&dir, name)?));
    }
    if dir.is_dir() && !devices::KNOWN_TYPES.contains(&name) && !name.contains('+') {
        // Not a type: it must be a version (this reports the lookup error).
        return Ok(Some(find_version(&dir, name)?));
    }
    Ok(None)
}

/// Runs `norcompat dump-vmstate`.
pub fn dump_vmstate(args: DumpVmstateArgs) -> Result<ExitCode, CliError> {
    let text = match args.targets.as_slice() {
        [one] if !devices::KNOWN_TYPES.contains(&one.as_str()) => match resolve_version(one)? {
            Some(version) => {
                if args.machine_type.is_some() || args.props.is_some() {
                    return Err(
                        "--machine-type and --props apply to device types, not to a version".into(),
                    );
                }
                version_dump(&version)?
            }
            None => types_dump(
                &args.targets,
                args.machine_type.as_deref(),
                args.props.as_deref().unwrap_or(DEFAULT_DUMP_PROPS),
            )?,
        },
        types => types_dump(
            types,
            args.machine_type.as_deref(),
            args.props.as_deref().unwrap_or(DEFAULT_DUMP_PROPS),
        )?,
    };
    match &args.output {
        Some(path) => std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?,
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// A `check-static` operand: a dump file, a version, or types with a machine type.
pub fn operand_dump(operand: &str) -> Result<Value, CliError> {
    let path = Path::new(operand);
    let text = if operand.ends_with(".json") || (path.is_file() && !operand.ends_with(".toml")) {
        std::fs::read_to_string(path).map_err(|e| format!("{operand}: {e}"))?
    } else if let Some(version) = resolve_version(operand)? {
        version_dump(&version)?
    } else {
        let (types, machine_type) = match operand.split_once('@') {
            Some((t, m)) => (t, Some(m)),
            None => (operand, None),
        };
        let types: Vec<String> = types.split('+').map(str::to_string).collect();
        types_dump(&types, machine_type, DEFAULT_DUMP_PROPS)?
    };
    serde_json::from_str(&text).map_err(|e| format!("{operand}: not a JSON dump: {e}").into())
}

/// Runs `norcompat check-static`: prints each incompatibility; the exit
/// status is their number, capped at 255.
pub fn check_static(args: CheckStaticArgs) -> Result<ExitCode, CliError> {
    let src = operand_dump(&args.src)?;
    let dst = operand_dump(&args.dst)?;
    let report = check::check(&src, &dst, args.reverse)?;
    for w in &report.warnings {
        println!("{w}");
    }
    for f in &report.findings {
        println!("{f}");
    }
    Ok(ExitCode::from(report.exit_status()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_dumps_follow_the_release_default_machine_type() {
        let text = types_dump(
            &["cfi.pflash01".to_string(), "cfi.pflash02".to_string()],
            None,
            DEFAULT_DUMP_PROPS,
        )
        .unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["vmschkmachine"]["Name"], "nor-5.0");
        assert_eq!(v["cfi.pflash01"]["Description"]["name"], "pflash_cfi01");
        assert!(v.get("cfi.pflash02").is_none());
    }

    #[test]
    fn a_machine_type_the_release_does_not_offer_is_an_error() {
        let err = types_dump(
            &["cfi.pflash01".to_string()],
            Some("nor-6.0"),
            DEFAULT_DUMP_PROPS,
        )
        .unwrap_err();
        assert!(err
            .to_string()
            .contains("does not offer machine type 'nor-6.0'"));
    }
}
