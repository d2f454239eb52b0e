//! The metadata every results file carries: what ran, when, where, from
//! which revision.

fn git_revision(root: &std::path::Path) -> String {
    std::process::Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

fn host_description() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown-host".into());
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!(
        "{host}, {cpus} CPUs, {} {}",
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

/// Current UTC time as RFC 3339 (seconds).
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil-from-days (H. Hinnant), proleptic Gregorian.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Fills the run metadata every results file carries.
pub fn run_info(
    kind: &str,
    root: &std::path::Path,
    seeds: String,
    scenarios: Vec<String>,
    started: &str,
    secs: f64,
) -> reports::results::RunInfo {
    reports::results::RunInfo {
        kind: kind.to_string(),
        started: started.to_string(),
        duration_s: secs,
        seeds,
        scenarios,
        host: host_description(),
        git_revision: git_revision(root),
        norcompat_version: env!("CARGO_PKG_VERSION").to_string(),
        ..Default::default()
    }
}
