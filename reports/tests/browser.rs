//! End-to-end: the rendered report opened in a real browser (Debian's headless
//! Chromium). Checks the live DOM, that nothing logs to the console, that the
//! matrix fits a 1366 px laptop screen, and saves screenshots under `target/`.
//!
//! Ignored by default (needs `apt-get install chromium`); CI runs it with `--ignored`.

mod common;

use reports::{render_html, write_report, Results};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";
/// A common laptop screen.
const WINDOW: (u32, u32) = (1366, 900);
/// A hung browser fails the test instead of blocking CI.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(90);
/// A 1366×900 screenshot of a real page is far bigger than this; a blank one is smaller.
const MIN_SCREENSHOT_BYTES: u64 = 20_000;

/// Flags for a quiet, offline, throwaway browser.
const BASE_FLAGS: [&str; 9] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
];

/// Written into the page by the probe below: layout and link facts from the live DOM.
const PROBE_ATTR: &str = "data-probe";

/// Test-only script: measures the matrix and checks every in-page link
/// against the live DOM. The report itself runs no script (its CSP forbids
/// them), so the probe page gets a policy that allows this one inline script.
const PROBE_SCRIPT: &str = r##"<script>
(function () {
  var errors = [];
  window.addEventListener('error', function (e) { errors.push(String(e.message)); });
  function probe() {
    var pairs = document.getElementById('pairs').getBoundingClientRect();
    var broken = [];
    document.querySelectorAll('a[href^="#"]').forEach(function (a) {
      var id = decodeURIComponent(a.getAttribute('href').slice(1));
      if (!document.getElementById(id)) { broken.push(id); }
    });
    var result = {
      matrixRight: Math.ceil(pairs.right),
      viewport: window.innerWidth,
      documentWidth: document.documentElement.scrollWidth,
      broken: broken,
      errors: errors
    };
    document.body.setAttribute('data-probe', JSON.stringify(result));
  }
  probe();
})();
</script>"##;

fn chromium() -> &'static str {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} not found: this test needs Debian's headless Chromium; install it with `apt-get install chromium`"
    );
    CHROMIUM
}

/// Runs Chromium with a fresh profile, returns (stdout, stderr); fails on timeout or error exit.
fn run_chromium(args: &[String]) -> (String, String) {
    let profile = tempfile::tempdir().unwrap();
    let mut command = Command::new(chromium());
    command
        .args(BASE_FLAGS)
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--window-size={},{}", WINDOW.0, WINDOW.1))
        .args(["--enable-logging=stderr", "--v=0"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("start chromium");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        stdout.read_to_string(&mut s).ok();
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        stderr.read_to_string(&mut s).ok();
        s
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > BROWSER_TIMEOUT {
            child.kill().ok();
            child.wait().ok();
            panic!("chromium did not finish within {BROWSER_TIMEOUT:?}: {args:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (out, err) = (out_reader.join().unwrap(), err_reader.join().unwrap());
    assert!(
        status.success(),
        "chromium failed ({status}) for {args:?}:\n{err}"
    );
    (out, err)
}

/// `file://` URL of an absolute path.
fn file_url(path: &Path) -> String {
    let path = path.canonicalize().unwrap();
    format!("file://{}", path.display())
}

/// Lines in which the page itself logged to the console (errors, CSP
/// violations, failed loads all end up here).
fn console_lines(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.contains(":CONSOLE")).collect()
}

/// The page with the probe added: the same document, plus one script.
fn with_probe(html: &str) -> String {
    let html = html.replacen(
        "default-src 'none';",
        "default-src 'none'; script-src 'unsafe-inline';",
        1,
    );
    assert!(
        html.contains("script-src 'unsafe-inline'"),
        "report has the expected CSP"
    );
    html.replacen("</body>", &format!("{PROBE_SCRIPT}\n</body>"), 1)
}

/// Renders `results` with the probe, loads it, returns the probe's findings as JSON.
fn probe(results: &Results, dir: &Path, name: &str) -> serde_json::Value {
    let path = dir.join(format!("{name}-probe.html"));
    std::fs::write(&path, with_probe(&render_html(results))).unwrap();
    let (dom, stderr) = run_chromium(&["--dump-dom".to_string(), file_url(&path)]);
    assert!(
        console_lines(&stderr).is_empty(),
        "console output:\n{stderr}"
    );
    let raw = common::attr_values(&dom, PROBE_ATTR);
    let raw = raw
        .first()
        .unwrap_or_else(|| panic!("probe did not run; DOM:\n{dom}"));
    let json = raw.replace("&quot;", "\"").replace("&amp;", "&");
    serde_json::from_str(&json).unwrap()
}

/// `<target>/` of this build (tests run from `<target>/<profile>/deps/`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().to_path_buf()
}

/// Takes a screenshot of `url` into `path` and checks it is a real picture.
fn screenshot(url: &str, path: &Path, height: u32) {
    let _ = std::fs::remove_file(path);
    run_chromium(&[
        format!("--screenshot={}", path.display()),
        format!("--window-size={},{height}", WINDOW.0),
        url.to_string(),
    ]);
    let bytes =
        std::fs::read(path).unwrap_or_else(|e| panic!("no screenshot at {}: {e}", path.display()));
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is not a PNG",
        path.display()
    );
    assert!(
        bytes.len() as u64 > MIN_SCREENSHOT_BYTES,
        "screenshot {} is only {} bytes: blank page?",
        path.display(),
        bytes.len()
    );
}

#[test]
#[ignore = "needs Debian chromium; run by .ci/run with --ignored"]
fn browser_renders_sample_report_dom_without_console_errors() {
    let results = common::sample();
    let dir = tempfile::tempdir().unwrap();
    let paths = write_report(&results, dir.path(), "report").unwrap();
    let (dom, stderr) = run_chromium(&["--dump-dom".to_string(), file_url(&paths.html)]);

    assert!(
        console_lines(&stderr).is_empty(),
        "the page logged to the console:\n{stderr}"
    );
    assert!(dom.contains("<html"), "no DOM dumped; stderr:\n{stderr}");

    // Matrix: 3 × 3 pair cells with the right sources and destinations.
    let pairs = common::element(&dom, "<table class=\"matrix pairs\"");
    let srcs = common::attr_values(pairs, "data-src");
    let dsts = common::attr_values(pairs, "data-dst");
    assert_eq!(srcs.len(), 9, "9 pair cells in the live DOM");
    let expected_pairs: Vec<(&str, &str)> = ["v5", "v6", "v6-compat5"]
        .iter()
        .flat_map(|s| ["v5", "v6", "v6-compat5"].map(move |d| (*s, d)))
        .collect();
    let got_pairs: Vec<(&str, &str)> = srcs.into_iter().zip(dsts).collect();
    assert_eq!(got_pairs, expected_pairs);
    assert!(
        pairs.contains("class=\"cell unexpected\" data-chain=\"v6-compat5 → v5\""),
        "{pairs}"
    );
    assert!(pairs.contains("⊘ 2"), "unexpected refusals shown: {pairs}");

    // Chains after the matrix.
    let chains = common::element(&dom, "<table class=\"matrix chains\"");
    assert!(dom.find("id=\"pairs\"").unwrap() < dom.find("id=\"chains\"").unwrap());
    let chain_labels = common::attr_values(chains, "data-chain");
    assert_eq!(chain_labels, ["v5 → v6 → v5", "v6 → v5 → v6"]);

    // A details section with a diverged trial and its tables.
    let details = common::between(&dom, "<section id=\"details\"", "<section id=\"machines\"");
    assert!(details.contains("data-chain=\"v5 → v6 → v5\""));
    for table in [
        "table class=\"data ops\"",
        "table class=\"data state\"",
        "table class=\"data flash\"",
    ] {
        assert!(details.contains(table), "details has {table}");
    }
    for section in ["id=\"machines\"", "id=\"run\"", "id=\"static-checks\""] {
        assert!(dom.contains(section), "page has {section}");
    }
}

#[test]
#[ignore = "needs Debian chromium; run by .ci/run with --ignored"]
fn browser_links_resolve_and_sample_fits_laptop_screen() {
    let dir = tempfile::tempdir().unwrap();
    let probe = probe(&common::sample(), dir.path(), "sample");
    assert_eq!(probe["broken"], serde_json::json!([]), "{probe}");
    assert_eq!(probe["errors"], serde_json::json!([]), "{probe}");
    assert_eq!(probe["viewport"], WINDOW.0, "{probe}");
    assert!(
        probe["documentWidth"].as_u64().unwrap() <= WINDOW.0 as u64,
        "no horizontal scrolling: {probe}"
    );
}

#[test]
#[ignore = "needs Debian chromium; run by .ci/run with --ignored"]
fn browser_seven_version_matrix_fits_laptop_screen() {
    let results = common::seven_versions();
    let dir = tempfile::tempdir().unwrap();
    let probe = probe(&results, dir.path(), "seven");
    assert_eq!(probe["broken"], serde_json::json!([]), "{probe}");
    let right = probe["matrixRight"].as_u64().unwrap();
    assert!(
        right <= WINDOW.0 as u64,
        "7×7 matrix ends at {right} px, wider than {} px",
        WINDOW.0
    );
    assert!(
        probe["documentWidth"].as_u64().unwrap() <= WINDOW.0 as u64,
        "{probe}"
    );

    let paths = write_report(&results, dir.path(), "seven").unwrap();
    let out = target_dir().join("report-screenshot-7-versions.png");
    screenshot(&file_url(&paths.html), &out, WINDOW.1);
}

#[test]
#[ignore = "needs Debian chromium; run by .ci/run with --ignored"]
fn browser_screenshot_of_sample_report() {
    let dir = tempfile::tempdir().unwrap();
    let paths = write_report(&common::sample(), dir.path(), "report").unwrap();
    let url = file_url(&paths.html);
    let out = target_dir().join("report-screenshot.png");
    screenshot(&url, &out, WINDOW.1);
    // The whole page too, for looking at the lower sections.
    screenshot(&url, &target_dir().join("report-screenshot-full.png"), 7000);
    println!("screenshot: {}", out.display());
}

#[test]
#[ignore = "needs Debian chromium; run by .ci/run with --ignored"]
fn browser_prints_sample_report_to_pdf() {
    let dir = tempfile::tempdir().unwrap();
    let paths = write_report(&common::sample(), dir.path(), "report").unwrap();
    let pdf = target_dir().join("report-print.pdf");
    let _ = std::fs::remove_file(&pdf);
    run_chromium(&[
        format!("--print-to-pdf={}", pdf.display()),
        "--no-pdf-header-footer".to_string(),
        file_url(&paths.html),
    ]);
    let bytes = std::fs::read(&pdf).unwrap();
    assert!(bytes.starts_with(b"%PDF"), "not a PDF");
    assert!(
        bytes.len() > MIN_SCREENSHOT_BYTES as usize,
        "PDF of {} bytes: empty?",
        bytes.len()
    );
}
