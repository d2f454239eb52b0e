//! Renders norcompat results as a self-contained HTML compatibility report.
//! Knows nothing of devices: it takes only the results data.

pub mod results;

pub use results::{Outcome, Results};

use std::path::{Path, PathBuf};

/// Paths written by [`write_report`].
pub struct ReportPaths {
    pub html: PathBuf,
    pub json: PathBuf,
}

/// Plain-text table of chains × outcome counts.
pub fn summary_table(results: &Results) -> String {
    let mut out = String::new();
    for c in &results.cells {
        out.push_str(&format!("{:<24}", c.chain.join("->")));
        for o in Outcome::ALL {
            out.push_str(&format!(" {}={}", o.name(), c.counts.get(&o).unwrap_or(&0)));
        }
        out.push_str(&format!(" unexpected={}\n", c.unexpected));
    }
    out
}

/// Writes `<stem>.json` (and, once rendering exists, `<stem>.html`) into `dir`.
pub fn write_report(results: &Results, dir: &Path, stem: &str) -> std::io::Result<ReportPaths> {
    std::fs::create_dir_all(dir)?;
    let json = dir.join(format!("{stem}.json"));
    let html = dir.join(format!("{stem}.html"));
    std::fs::write(&json, serde_json::to_string_pretty(results).map_err(std::io::Error::other)?)?;
    std::fs::write(&html, "<!doctype html><title>norcompat</title><p>report rendering pending</p>")?;
    Ok(ReportPaths { html, json })
}
