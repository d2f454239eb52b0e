//! Shared by the rendering and browser tests: the known results file, a
//! synthetic 7-version run, and a few string-level HTML inspectors (no HTML
//! parser dependency; the renderer's output is regular enough).

#![allow(dead_code)] // each test binary uses a different subset

use reports::results::{
    BehaviourCell, BehaviourDifference, Cell, DeviceInfo, FailureDetail, OpRow, Outcome, Results,
    RunInfo, StaticCheck, TrialRecord, VersionInfo, FORMAT,
};
use std::path::PathBuf;

/// Path of the hand-written results file the tests render.
pub fn sample_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/sample-results.json")
}

/// The known results file.
pub fn sample() -> Results {
    let text =
        std::fs::read_to_string(sample_path()).expect("tests/data/sample-results.json is readable");
    serde_json::from_str(&text).expect("tests/data/sample-results.json is a valid results file")
}

/// Seven versions, every ordered pair plus three chains, all outcomes present,
/// some unexpected: the size the matrix must still fit a laptop screen at.
pub fn seven_versions() -> Results {
    use Outcome::*;
    let names = [
        "v4.2",
        "v5",
        "v5-compat4",
        "v6",
        "v6-compat5",
        "v6.1-rc1",
        "v7-next-generation",
    ];
    let versions = names
        .iter()
        .map(|name| VersionInfo {
            name: name.to_string(),
            file: format!("machines/{name}.toml"),
            description: format!("synthetic version {name}"),
            release: name.split('-').next().unwrap().to_string(),
            machine_type: format!("nor-{}", &name[1..].split('-').next().unwrap()),
            devices: vec![DeviceInfo {
                id: "flash0".to_string(),
                type_name: "parallel-nor-cfi01-flash".to_string(),
                properties: [("num-blocks", "256"), ("sector-length", "0x40000")]
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                features: vec!["write-buffer".to_string()],
                declared_features: vec!["write-buffer".to_string()],
            }],
            ..VersionInfo::default()
        })
        .collect();
    let mut cells = Vec::new();
    let mut static_checks = Vec::new();
    let mut details = Vec::new();
    for (i, src) in names.iter().enumerate() {
        for (j, dst) in names.iter().enumerate() {
            // A different mix per cell, big counts included, so widths are realistic.
            let (counts, expected): (Vec<(Outcome, u64)>, Vec<Outcome>) = match (i * 7 + j) % 6 {
                0 => (vec![(Identical, 12_800)], vec![Identical]),
                1 => (
                    vec![(Identical, 11_904), (Lossy, 896)],
                    vec![Identical, Lossy],
                ),
                2 => (vec![(Refused, 12_800)], vec![Refused]),
                3 => (
                    vec![
                        (Identical, 12_000),
                        (Lossy, 700),
                        (Diverged, 96),
                        (Crashed, 4),
                    ],
                    vec![Identical, Lossy],
                ),
                4 => (vec![(Identical, 12_790), (Refused, 10)], vec![Identical]),
                _ => (
                    vec![
                        (Identical, 12_700),
                        (Refused, 50),
                        (Lossy, 40),
                        (Crashed, 10),
                    ],
                    vec![Identical, Refused],
                ),
            };
            let unexpected = counts
                .iter()
                .filter(|(o, _)| !expected.contains(o))
                .map(|(_, n)| n)
                .sum();
            let chain = vec![src.to_string(), dst.to_string()];
            let detail = (unexpected > 0).then(|| {
                details.push(FailureDetail {
                    scenario: "cfi01-program-erase".to_string(),
                    chain: chain.clone(),
                    seed: (i * 7 + j) as u64,
                    outcome: Some(counts.last().unwrap().0),
                    reason: "synthetic".to_string(),
                    reproduce: "norcompat replay ops.json".to_string(),
                    ops: vec![OpRow {
                        index: 0,
                        device: "flash0".to_string(),
                        op: "read 0x0 w4".to_string(),
                        mode_before: "read-array (romd)".to_string(),
                        expected: Some(0xffff_ffff),
                        got: Some(0x0080_0080),
                    }],
                    ..FailureDetail::default()
                });
                details.len() - 1
            });
            cells.push(Cell {
                chain: chain.clone(),
                counts: counts.into_iter().collect(),
                expected,
                unexpected,
                unexpectedly_identical: if (i + j) % 5 == 4 { 3 } else { 0 },
                detail,
                predicted_refused: Some(i > j),
            });
            static_checks.push(StaticCheck {
                src: src.to_string(),
                dst: dst.to_string(),
                findings: if i > j {
                    vec![format!("Section \"{src}-flash\" does not exist in dest")]
                } else {
                    vec![]
                },
            });
        }
    }
    for chain in [
        ["v5", "v6", "v5"],
        ["v6", "v5", "v6"],
        ["v4.2", "v7-next-generation", "v4.2"],
    ] {
        cells.push(Cell {
            chain: chain.iter().map(|s| s.to_string()).collect(),
            counts: [(Identical, 12_000), (Refused, 800)].into_iter().collect(),
            expected: vec![Identical, Refused],
            ..Cell::default()
        });
    }
    let trials: u64 = cells.iter().flat_map(|c| c.counts.values()).sum();
    let behaviour = vec![
        BehaviourCell {
            board: "virt".to_string(),
            scenario: "cfi01-program".to_string(),
            a: "virt-v5".to_string(),
            b: "virt-qemu-7.2".to_string(),
            trials: 6,
            differ: 0,
            first: None,
        },
        BehaviourCell {
            board: "virt".to_string(),
            scenario: "cfi01-program".to_string(),
            a: "virt-qemu-7.2".to_string(),
            b: "virt-qemu-10.0".to_string(),
            trials: 6,
            differ: 2,
            first: Some(BehaviourDifference {
                seed: 3,
                what: "read".to_string(),
                op_index: Some(4),
                at: "op 4: dev0 read 0x0 w4".to_string(),
                a_value: "0x800080".to_string(),
                b_value: "0xffffffff".to_string(),
                mode: "read-status (cmd 0x70) [i/o, SR 0x80]".to_string(),
                ops: vec!["dev0 write 0x0 w4 0x700070".to_string(), "dev0 read 0x0 w4".to_string()],
                reproduce: "cargo run --release -- compare --scenario cfi01-program --seed 3 virt-qemu-7.2 virt-qemu-10.0".to_string(),
            }),
        },
    ];
    Results {
        behaviour,
        cross_release: None,
        coverage: Vec::new(),
        format: FORMAT.to_string(),
        run: RunInfo {
            kind: "soak".to_string(),
            started: "2025-11-22T01:00:00Z".to_string(),
            duration_s: 28_800.0,
            seeds: "0..12800".to_string(),
            scenarios: vec!["scenarios/cfi01-program-erase.toml".to_string()],
            trials,
            ops: trials * 200,
            trials_per_s: trials as f64 / 28_800.0,
            ops_per_s: trials as f64 * 200.0 / 28_800.0,
            host: "soak-1".to_string(),
            git_revision: "0123abc".to_string(),
            norcompat_version: "0.1.0".to_string(),
            shards: vec!["shard 1/2".to_string(), "shard 2/2".to_string()],
        },
        versions,
        static_checks,
        cells,
        trials: vec![TrialRecord {
            scenario: "cfi01-program-erase".to_string(),
            chain: vec!["v4.2".to_string(), "v5".to_string()],
            outcome: Some(Refused),
            reason: "synthetic refusal".to_string(),
            ..TrialRecord::default()
        }],
        details,
    }
}

/// Values of attribute `name` in document order (still HTML-escaped).
pub fn attr_values<'a>(html: &'a str, name: &str) -> Vec<&'a str> {
    let needle = format!(" {name}=\"");
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find(&needle) {
        let value_start = start + needle.len();
        let len = rest[value_start..]
            .find('"')
            .expect("attribute value is closed");
        out.push(&rest[value_start..value_start + len]);
        rest = &rest[value_start + len..];
    }
    out
}

/// All `id` values.
pub fn ids(html: &str) -> Vec<&str> {
    attr_values(html, "id")
}

/// Targets of all in-page links (`href="#…"`), without the `#`.
pub fn internal_links(html: &str) -> Vec<&str> {
    attr_values(html, "href")
        .into_iter()
        .filter_map(|h| h.strip_prefix('#'))
        .collect()
}

/// The element that starts with `open` (e.g. `<table class="matrix pairs"`), up to its closing `</tag>`.
/// Elements of the same tag must not nest inside it (true for the report's tables and sections).
pub fn element<'a>(html: &'a str, open: &str) -> &'a str {
    let start = html
        .find(open)
        .unwrap_or_else(|| panic!("no element starting with {open:?}"));
    let tag: String = open[1..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    let close = format!("</{tag}>");
    let end = html[start..].find(&close).expect("element is closed") + close.len();
    &html[start..start + end]
}

/// The text from the first `start` up to (not including) the next `end` after it.
pub fn between<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let from = html.find(start).unwrap_or_else(|| panic!("no {start:?}"));
    let len = html[from..].find(end).unwrap_or(html.len() - from);
    &html[from..from + len]
}

/// Inner text of every `<th …>…</th>` inside `html`, tags stripped.
pub fn header_texts(html: &str, class: &str) -> Vec<String> {
    let open = format!("<th scope=\"col\" class=\"{class}\">");
    let open_row = format!("<th scope=\"row\" class=\"{class}\">");
    let mut out = Vec::new();
    for needle in [open, open_row] {
        let mut rest = html;
        while let Some(start) = rest.find(&needle) {
            let body = &rest[start + needle.len()..];
            let end = body.find("</th>").unwrap();
            out.push(strip_tags(&body[..end]));
            rest = &body[end..];
        }
    }
    out
}

/// Text with tags removed (entities left as they are).
pub fn strip_tags(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}
