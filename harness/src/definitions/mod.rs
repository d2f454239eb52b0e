//! What a run is made of, read from the project tree: version files
//! (`machines/<board>/*.toml`), scenarios, feature flags, the emulator a
//! real version names, and the reviewed known differences between releases.

pub mod emulators;
pub mod features;
pub mod file_error;
pub mod known_differences;
pub mod layout;
pub mod losses;
pub mod project;
pub mod scenarios;
pub mod versions;

/// The reviewed differences between releases, beside the version files
/// (path under the project root; not a version file).
pub const KNOWN_DIFFERENCES_FILE: &str = "machines/known-differences.toml";
