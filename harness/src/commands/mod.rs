//! `norcompat`'s commands, one file each; nothing else imports them.

pub mod analyze_stream;
pub mod bench;
pub mod compare;
pub mod introspect;
pub mod matrix;
pub mod merge;
pub mod replay;
pub mod soak;
pub mod trial;
pub mod vmstate;

/// A user-facing error: printed as one line, exit status 2.
pub type CliError = Box<dyn std::error::Error>;

/// Where reports go unless `--out` says otherwise.
pub const DEFAULT_OUT: &str = "target/norcompat";

fn load_project() -> Result<crate::definitions::project::Project, CliError> {
    let root = crate::definitions::project::default_root();
    Ok(crate::definitions::project::Project::load(&root)?)
}

fn chain_of(
    project: &crate::definitions::project::Project,
    names: &[String],
) -> Result<Vec<std::sync::Arc<crate::definitions::versions::Version>>, CliError> {
    if names.len() < 2 {
        return Err("--chain needs at least two versions".into());
    }
    names
        .iter()
        .map(|n| {
            project.version(n).cloned().ok_or_else(|| {
                let known: Vec<&str> = project.versions.iter().map(|v| v.name.as_str()).collect();
                format!("unknown version '{n}' (machines/: {})", known.join(", ")).into()
            })
        })
        .collect()
}
