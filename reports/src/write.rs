//! Writing a report: `<stem>.html` and `<stem>.json` side by side, each
//! replaced atomically so a reader never sees half a file.

use crate::html::render_html;
use crate::results::Results;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// How many temp-file names to try before giving up (a name is only taken
/// if a concurrent writer, or a crashed one, left it behind).
const TEMP_NAME_ATTEMPTS: u32 = 100;

/// Where a report was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportPaths {
    /// The rendered report, `<stem>.html`.
    pub html: PathBuf,
    /// The results it was rendered from, `<stem>.json`.
    pub json: PathBuf,
}

/// Writes `<stem>.html` (the rendered report) and `<stem>.json` (the results,
/// pretty-printed) into `dir`, each atomically, and returns both paths.
pub fn write_report(results: &Results, dir: &Path, stem: &str) -> io::Result<ReportPaths> {
    check_stem(stem)?;
    let mut json = serde_json::to_string_pretty(results).map_err(io::Error::other)?;
    json.push('\n');
    let paths = ReportPaths {
        html: dir.join(format!("{stem}.html")),
        json: dir.join(format!("{stem}.json")),
    };
    write_atomically(&paths.json, json.as_bytes())?;
    write_atomically(&paths.html, render_html(results).as_bytes())?;
    Ok(paths)
}

/// A stem is a bare file name: no directories, nothing hidden.
fn check_stem(stem: &str) -> io::Result<()> {
    let bad = stem.is_empty() || stem.starts_with('.') || stem.contains(['/', '\\', '\0']);
    if bad {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("report name {stem:?} must be a plain file name (no directories, not hidden)"),
        ));
    }
    Ok(())
}

/// Writes `bytes` to a fresh temp file next to `path`, flushes it to disk and
/// renames it over `path`. On error the temp file is removed and `path` is
/// left as it was.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let context =
        |e: io::Error| io::Error::new(e.kind(), format!("writing {}: {e}", path.display()));
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| context(io::Error::new(io::ErrorKind::InvalidInput, "no file name")))?
        .to_string_lossy();
    let (temp, mut file) = create_temp(dir, &name).map_err(context)?;
    let result = file
        .write_all(bytes)
        .and_then(|()| file.sync_all())
        .and_then(|()| {
            drop(file);
            fs::rename(&temp, path)
        });
    if let Err(e) = result {
        let _ = fs::remove_file(&temp);
        return Err(context(e));
    }
    Ok(())
}

/// Creates `.<name>.<pid>.<n>.tmp` in `dir`, never reusing an existing file.
fn create_temp(dir: &Path, name: &str) -> io::Result<(PathBuf, fs::File)> {
    let pid = std::process::id();
    let mut last_error = None;
    for attempt in 0..TEMP_NAME_ATTEMPTS {
        let temp = dir.join(format!(".{name}.{pid}.{attempt}.tmp"));
        match OpenOptions::new().write(true).create_new(true).open(&temp) {
            Ok(file) => return Ok((temp, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last_error = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last_error.unwrap_or_else(|| io::Error::other("no temp file name available")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{RunInfo, FORMAT};

    fn results() -> Results {
        Results {
            format: FORMAT.to_string(),
            run: RunInfo {
                kind: "matrix".to_string(),
                ..RunInfo::default()
            },
            ..Results::default()
        }
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn test_write_report_writes_html_and_json_side_by_side() {
        let dir = tempfile::tempdir().unwrap();
        let paths = write_report(&results(), dir.path(), "report").unwrap();
        assert_eq!(paths.html, dir.path().join("report.html"));
        assert_eq!(paths.json, dir.path().join("report.json"));
        assert_eq!(
            entries(dir.path()),
            ["report.html", "report.json"],
            "no temp files left"
        );
        let back: Results =
            serde_json::from_str(&fs::read_to_string(&paths.json).unwrap()).unwrap();
        assert_eq!(back, results());
        let html = fs::read_to_string(&paths.html).unwrap();
        assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
    }

    #[test]
    fn test_write_report_round_trips_differences_between_releases() {
        let dir = tempfile::tempdir().unwrap();
        let results = Results {
            cross_release: Some(crate::results::samples::cross_release()),
            ..results()
        };
        let paths = write_report(&results, dir.path(), "report").unwrap();
        let json = fs::read_to_string(&paths.json).unwrap();
        assert!(json.contains("\"cross_release\""), "{json}");
        let back: Results = serde_json::from_str(&json).unwrap();
        assert_eq!(back, results);
        let html = fs::read_to_string(&paths.html).unwrap();
        assert!(html.contains("<section id=\"cross-release\""));
    }

    #[test]
    fn test_write_report_replaces_existing_files() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("r.html"), "old").unwrap();
        fs::write(dir.path().join("r.json"), "old").unwrap();
        let paths = write_report(&results(), dir.path(), "r").unwrap();
        assert_ne!(fs::read_to_string(paths.html).unwrap(), "old");
        assert_ne!(fs::read_to_string(paths.json).unwrap(), "old");
        assert_eq!(entries(dir.path()), ["r.html", "r.json"]);
    }

    #[test]
    fn test_write_atomically_skips_leftover_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        let leftover = dir
            .path()
            .join(format!(".r.json.{}.0.tmp", std::process::id()));
        fs::write(&leftover, "stale").unwrap();
        write_atomically(&path, b"new").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(
            fs::read_to_string(&leftover).unwrap(),
            "stale",
            "not clobbered"
        );
    }

    #[test]
    fn test_write_atomically_leaves_target_alone_on_failure() {
        let dir = tempfile::tempdir().unwrap();
        // A directory in the way makes the final rename fail.
        let path = dir.path().join("r.html");
        fs::create_dir(&path).unwrap();
        fs::write(path.join("keep"), "x").unwrap();
        let err = write_atomically(&path, b"new").unwrap_err();
        assert!(
            err.to_string().contains("r.html"),
            "error names the file: {err}"
        );
        assert!(path.join("keep").exists());
        assert_eq!(entries(dir.path()), ["r.html"], "temp file removed");
    }

    #[test]
    fn test_write_report_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-such-dir");
        let err = write_report(&results(), &missing, "report").unwrap_err();
        assert!(err.to_string().contains("report.json"), "{err}");
        assert!(!missing.exists());
    }

    #[test]
    fn test_write_report_rejects_stems_with_directories() {
        let dir = tempfile::tempdir().unwrap();
        for stem in ["", "../x", "a/b", ".hidden"] {
            let err = write_report(&results(), dir.path(), stem).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{stem:?}");
        }
        assert!(entries(dir.path()).is_empty());
    }
}
