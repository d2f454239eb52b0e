//! Rendering tests on the known results file and on synthetic results:
//! escaping, matrix layout, counts and symbols, details, links, compactness,
//! and the terminal summary.

mod common;

use common::{attr_values, between, element, header_texts, ids, internal_links, strip_tags};
use reports::results::{
    Cell, DeviceInfo, FailureDetail, Outcome, StateDiff, TrialRecord, VersionInfo,
};
use reports::{render_html, summary_table, Results};
use std::collections::BTreeSet;

/// The laptop screen the matrix must fit for at least 6 versions (CSS px).
const LAPTOP_WIDTH_PX: f64 = 1366.0;
/// Page padding, the section's padding and border, and the cell spacing, generously.
const PAGE_CHROME_PX: f64 = 160.0;

fn chain(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn pair_cells(html: &str) -> Vec<(String, String)> {
    let pairs = element(html, "<table class=\"matrix pairs\"");
    attr_values(pairs, "data-src")
        .into_iter()
        .zip(attr_values(pairs, "data-dst"))
        .map(|(s, d)| (s.to_string(), d.to_string()))
        .collect()
}

/// The `<td>` of the pair or chain labelled `label` (e.g. `v5 → v6`).
fn cell_td<'a>(html: &'a str, label: &str) -> &'a str {
    let matrix = between(html, "<section id=\"matrix\"", "<section id=\"details\"");
    let needle = format!("data-chain=\"{label}\"");
    let at = matrix
        .find(&needle)
        .unwrap_or_else(|| panic!("no cell {label}"));
    let start = matrix[..at].rfind("<td").unwrap();
    let end = at + matrix[at..].find("</td>").unwrap();
    &matrix[start..end]
}

#[test]
fn sample_results_file_is_consistent() {
    let results = common::sample();
    assert_eq!(results.format, reports::results::FORMAT);
    assert_eq!(results.versions.len(), 3);
    assert_eq!(
        results.static_checks.len(),
        9,
        "a verdict for every ordered pair"
    );
    assert_eq!(results.cells.len(), 11, "9 pairs and 2 chains");
    let total: u64 = results.cells.iter().flat_map(|c| c.counts.values()).sum();
    assert_eq!(total, results.run.trials);
    assert_eq!(results.trials.len() as u64, results.run.trials);
    for cell in &results.cells {
        let trials = results.trials.iter().filter(|t| t.chain == cell.chain);
        let unexpected = trials.filter(|t| !t.expected).count() as u64;
        assert_eq!(cell.unexpected, unexpected, "{:?}", cell.chain);
        if let Some(d) = cell.detail {
            assert_eq!(results.details[d].chain, cell.chain);
        }
    }
    let cfi01 = &results.versions[0].devices[0];
    assert_eq!(
        (cfi01.id.as_str(), cfi01.type_name.as_str()),
        ("flash0", "cfi.pflash01")
    );
    assert_eq!(
        results.versions[1].devices[0].type_name,
        "parallel-nor-cfi01-flash"
    );
}

#[test]
fn page_is_self_contained() {
    let html = render_html(&common::sample());
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.trim_end().ends_with("</html>"));
    assert!(
        html.contains("<style>") && html.contains("@media print"),
        "inline CSS with a print stylesheet"
    );
    assert!(html.contains("Content-Security-Policy"));
    for external in [
        "http://",
        "https://",
        " src=",
        "<script",
        "<link rel=\"stylesheet\"",
        "@import",
        "url(",
    ] {
        assert!(
            !html.contains(external),
            "page must not reference {external:?}"
        );
    }
}

#[test]
fn escapes_everything_from_the_data() {
    let evil = "<script>alert(1)</script>";
    let mut results = common::sample();
    results.versions[0].name = evil.to_string();
    results.versions[0].description = "\"><img onerror=alert(2)>".to_string();
    results.versions[0].devices[0]
        .properties
        .insert("name".to_string(), "'><b>x</b>".to_string());
    results.run.host = "<iframe>".to_string();
    for cell in &mut results.cells {
        for name in &mut cell.chain {
            if name == "v5" {
                *name = evil.to_string();
            }
        }
    }
    results.details[0].reason = "</p><script>alert(3)</script>".to_string();
    results.details[0].reproduce = "echo '<&>'".to_string();
    results.details[0].flash_diff[0].expected = "<b>".to_string();
    results.trials[0].reason = "<style>".to_string();

    let html = render_html(&results);
    let lower = html.to_lowercase();
    for raw in [
        "<script",
        "<img",
        "<iframe",
        "<b>x",
        "<mark><b>",
        "</p><script",
    ] {
        assert!(!lower.contains(raw), "unescaped {raw:?} in the page");
    }
    assert_eq!(
        lower.matches("<style").count(),
        1,
        "only the page's own stylesheet"
    );
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("echo &#39;&lt;&amp;&gt;&#39;"));
    // Anchors made from the name stay plain.
    for id in ids(&html) {
        assert!(
            id.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "unsafe id {id:?}"
        );
    }
    assert!(ids(&html).contains(&"version-0-script-alert-1-script"));
    // The matrix still finds its row and column.
    assert!(pair_cells(&html).contains(&(
        "&lt;script&gt;alert(1)&lt;/script&gt;".to_string(),
        "v6".to_string()
    )));
}

#[test]
fn matrix_rows_are_sources_columns_destinations_chains_after() {
    let html = render_html(&common::sample());
    let pairs = element(&html, "<table class=\"matrix pairs\"");
    let versions = ["v5", "v6", "v6-compat5"];
    assert_eq!(
        header_texts(pairs, "dst"),
        versions,
        "columns are destinations"
    );
    assert_eq!(header_texts(pairs, "src"), versions, "rows are sources");

    let expected: Vec<(String, String)> = versions
        .iter()
        .flat_map(|s| versions.iter().map(move |d| (s.to_string(), d.to_string())))
        .collect();
    assert_eq!(
        pair_cells(&html),
        expected,
        "row-major: each row one source"
    );
    assert!(
        !pairs.contains("v5 → v6 → v5"),
        "chains are not in the pair grid"
    );

    let chains = element(&html, "<table class=\"matrix chains\"");
    assert!(html.find("id=\"pairs\"").unwrap() < html.find("id=\"chains\"").unwrap());
    assert_eq!(
        attr_values(chains, "data-chain"),
        ["v5 → v6 → v5", "v6 → v5 → v6"]
    );
}

#[test]
fn cells_show_counts_symbols_and_flag_unexpected() {
    let html = render_html(&common::sample());

    let compat = cell_td(&html, "v6-compat5 → v5");
    assert!(compat.contains("class=\"cell unexpected\""));
    assert!(
        compat.contains("<span class=\"n o-identical expected\">✓ 23</span>"),
        "{compat}"
    );
    assert!(
        compat.contains("<span class=\"n o-lossy expected\">≈ 7</span>"),
        "{compat}"
    );
    assert!(
        compat.contains("<span class=\"n o-refused unexpected\">⊘ 2<b class=\"mark\">!</b></span>"),
        "unexpected refusals flagged: {compat}"
    );
    // Expected and unexpected counts sit in separate groups.
    let expected_group = between(
        compat,
        "<span class=\"counts\">",
        "<span class=\"counts unexpected-counts\">",
    );
    assert!(!expected_group.contains("unexpected"));

    let refused = cell_td(&html, "v6 → v5");
    assert!(refused.contains("class=\"cell expected\""));
    assert!(
        refused.contains("⊘ 32") && !refused.contains("mark"),
        "{refused}"
    );

    let clean = cell_td(&html, "v6 → v6");
    assert!(clean.contains("class=\"cell clean diagonal\""), "{clean}");
    assert!(
        clean.contains("✓ 32") && !clean.contains("href"),
        "clean cells link nowhere"
    );

    let chain = cell_td(&html, "v5 → v6 → v5");
    assert!(chain.contains("✗ 3<b class=\"mark\">!</b>"), "{chain}");

    // Totals in the header.
    let totals = element(&html, "<ul class=\"totals\"");
    assert!(strip_tags(totals).contains("✓ 224 identical"), "{totals}");
    assert!(strip_tags(totals).contains("✗ 3 diverged"), "{totals}");
}

#[test]
fn all_outcome_symbols_render() {
    let results = common::seven_versions();
    let html = render_html(&results);
    for (outcome, symbol) in [
        (Outcome::Identical, "✓"),
        (Outcome::Refused, "⊘"),
        (Outcome::Lossy, "≈"),
        (Outcome::Diverged, "✗"),
        (Outcome::Crashed, "☠\u{FE0E}"),
    ] {
        let badge = format!("class=\"n o-{}", outcome.name());
        assert!(html.contains(&badge), "{badge}");
        assert!(html.contains(symbol), "{symbol}");
    }
    assert!(
        html.contains("✓↑ 3"),
        "predicted failures that now pass are flagged"
    );
}

#[test]
fn details_only_for_failing_or_lossy_cells() {
    let results = common::sample();
    let html = render_html(&results);
    let details = between(&html, "<section id=\"details\"", "<section id=\"machines\"");
    let sections: BTreeSet<&str> = attr_values(details, "data-chain").into_iter().collect();
    let expected: BTreeSet<&str> = [
        "v5 → v5",
        "v5 → v6",
        "v5 → v6-compat5",
        "v6-compat5 → v5",
        "v6-compat5 → v6",
        "v6-compat5 → v6-compat5",
        "v5 → v6 → v5",
    ]
    .into_iter()
    .collect();
    assert_eq!(
        sections, expected,
        "lossy or unexpected cells only; no clean or expected-refused cell"
    );
    // Unexpected ones first.
    let order = attr_values(details, "data-chain");
    assert_eq!(&order[..2], ["v6-compat5 → v5", "v5 → v6 → v5"]);
    assert_eq!(
        details.matches("<article class=\"detail").count(),
        results.details.len()
    );
}

#[test]
fn diverged_detail_shows_everything_needed_to_debug() {
    let html = render_html(&common::sample());
    let detail = element(
        &html,
        "<article class=\"detail is-unexpected\" id=\"detail-0\"",
    );
    assert!(detail.contains("✗ diverged"));
    assert!(
        detail.contains("post_save never restored 0xff"),
        "the reason"
    );
    assert!(detail.contains(
        "<pre class=\"command\"><code>cargo run --release -- replay --device &#39;cfi.pflash01,"
    ));
    // Ops with the mode before each op; the differing read flagged.
    let ops = element(detail, "<table class=\"data ops\"");
    assert_eq!(ops.matches("<tr").count(), 1 + 12, "header + 12 ops");
    assert!(ops.contains("<td class=\"mode\">status-read</td>"));
    assert!(ops.contains("<tr class=\"migrate\">"));
    let mismatch = between(ops, "<tr class=\"mismatch\">", "</tr>");
    assert!(
        mismatch.contains("0x12345678") && mismatch.contains("0x00800080"),
        "{mismatch}"
    );
    // State diff with both versions' field names.
    let state = element(detail, "<table class=\"data state\"");
    assert!(state.contains("<th>field in v5</th><th>field in v6</th>"));
    assert!(
        strip_tags(state).contains("cmdcmd0xff (read array)0x00 (unassigned)"),
        "{state}"
    );
    assert!(state.contains("read_mode"));
    // Flash diff with the differing bytes marked.
    let flash = element(detail, "<table class=\"data flash\"");
    assert!(flash.contains("<code>0x40000</code>"));
    assert!(flash.contains("<mark>ef</mark> <mark>be</mark> <mark>ad</mark> <mark>de</mark>"));
    // Static findings for the pair.
    assert!(detail.contains("Section &quot;parallel-nor-cfi01-flash&quot; does not exist in dest"));
}

#[test]
fn lossy_and_refused_details_render() {
    let html = render_html(&common::sample());
    let lossy = element(&html, "<article class=\"detail\" id=\"detail-1\"");
    assert!(lossy.contains("≈ lossy") && lossy.contains(">expected<"));
    assert!(lossy.contains("erase.remaining_ns"));
    assert!(
        lossy.contains("array and backing image identical"),
        "empty flash diff said in one line"
    );
    let refused = element(
        &html,
        "<article class=\"detail is-unexpected\" id=\"detail-2\"",
    );
    assert!(
        refused.contains("Unknown savevm section or instance &#39;parallel-nor-cfi01-flash&#39; 0")
    );
    assert!(refused.contains("the static checker predicted that v6-compat5 → v5 would load"));
}

#[test]
fn refusal_reasons_are_listed_per_cell() {
    let html = render_html(&common::sample());
    let refusals = element(&html, "<div class=\"refusals\"");
    let text = strip_tags(refusals);
    assert!(
        text.contains(
            "24× Unknown savevm section or instance &#39;parallel-nor-cfi01-flash&#39; 0"
        ),
        "{text}"
    );
    assert!(
        text.contains("8× Unknown savevm section or instance &#39;parallel-nor-cfi02-flash&#39; 0"),
        "{text}"
    );
    assert!(text.contains("not expected!"));
    // The expected-refused cell links to its reasons.
    assert!(cell_td(&html, "v6 → v5").contains("href=\"#refused-3-v6-v5\""));
}

#[test]
fn links_resolve_to_unique_ids() {
    for results in [
        common::sample(),
        common::seven_versions(),
        Results::default(),
    ] {
        let html = render_html(&results);
        let all_ids = ids(&html);
        let unique: BTreeSet<&str> = all_ids.iter().copied().collect();
        assert_eq!(unique.len(), all_ids.len(), "duplicate ids");
        for target in internal_links(&html) {
            assert!(unique.contains(target), "link to missing #{target}");
        }
    }
    let html = render_html(&common::sample());
    // Every failing cell links to its details section.
    for label in ["v6-compat5 → v5", "v5 → v6 → v5", "v5 → v6"] {
        let td = cell_td(&html, label);
        let href = attr_values(td, "href")[0]
            .trim_start_matches('#')
            .to_string();
        let section =
            format!("<section class=\"cell-details\" id=\"{href}\" data-chain=\"{label}\"");
        assert!(html.contains(&section), "{label} links to {href}");
    }
}

#[test]
fn machines_section_shows_introspection_and_static_verdicts() {
    let html = render_html(&common::sample());
    let machines = between(&html, "<section id=\"machines\"", "<section id=\"run\"");
    for text in [
        "cfi.pflash01",
        "parallel-nor-cfi01-flash",
        "parallel-nor-cfi02-flash",
        "musicpal.flash",
        "nor-6.0",
        "parallel-nor-cfi01-flash.x-legacy-stream=on",
        "compat-nor-5.0",
        "<span class=\"k\">sector-length</span>=<span class=\"v\">0x40000</span>",
    ] {
        assert!(machines.contains(text), "machines shows {text}");
    }
    // A feature dropped by the compat machine type is shown struck through.
    assert!(machines.contains("<li class=\"feature off\" title=\"declared, not in effect here\">migrates-command-state if !compat-nor-5.0</li>"));
    let verdicts = element(machines, "<table class=\"matrix static-matrix\"");
    assert_eq!(attr_values(verdicts, "data-src").len(), 9);
    assert_eq!(verdicts.matches("✓ loads").count(), 8);
    assert!(verdicts.contains("⊘ 2 findings"));
}

#[test]
fn run_section_shows_provenance_and_speed() {
    let html = render_html(&common::sample());
    let run = strip_tags(between(&html, "<section id=\"run\"", "</section>"));
    for text in [
        "seeds0..8",
        "duration12.4 s",
        "trials352",
        "trials / s28.4",
        "ops / s5\u{202F}539",
        "hostci-runner-3",
        "git revision8a890bd",
        "norcompat0.1.0",
        "scenarios/cfi02-erase-suspend.toml",
    ] {
        assert!(run.contains(text), "run section shows {text:?}: {run}");
    }
}

#[test]
fn seven_version_matrix_stays_compact() {
    let results = common::seven_versions();
    let html = render_html(&results);
    let pairs = element(&html, "<table class=\"matrix pairs\"");
    assert_eq!(header_texts(pairs, "dst").len(), 7);
    assert_eq!(attr_values(pairs, "data-src").len(), 49);

    // Fixed column widths from the page's own CSS variables.
    let css_var = |name: &str, unit: &str| -> f64 {
        let decl = format!("{name}: ");
        let at = html.find(&decl).unwrap() + decl.len();
        html[at..].split(unit).next().unwrap().parse().unwrap()
    };
    let root = css_var("--root", "px");
    let width = (css_var("--rowhead", "rem") + 7.0 * css_var("--col", "rem")) * root;
    assert!(
        width + PAGE_CHROME_PX <= LAPTOP_WIDTH_PX,
        "7 columns need {width} px + chrome, more than {LAPTOP_WIDTH_PX}"
    );
    // Cells hold counts, not prose: at most one badge per outcome plus "now identical".
    for td in pairs.split("<td ").skip(1) {
        assert!(td.matches("class=\"n ").count() <= 6, "{td}");
    }
    // The verdict line stays one short paragraph.
    let verdict = element(&html, "<p class=\"verdict bad\"");
    assert!(verdict.matches("<a ").count() <= 7, "{verdict}");
}

#[test]
fn unknown_versions_and_missing_pairs_still_render() {
    let results = Results {
        versions: vec![VersionInfo {
            name: "v5".to_string(),
            devices: vec![DeviceInfo::default()],
            ..VersionInfo::default()
        }],
        cells: vec![
            Cell {
                chain: chain(&["v5", "qemu-9.2"]),
                counts: [(Outcome::Crashed, 1)].into_iter().collect(),
                expected: vec![Outcome::Identical],
                unexpected: 1,
                ..Cell::default()
            },
            Cell {
                chain: chain(&["v5"]),
                ..Cell::default()
            },
        ],
        trials: vec![TrialRecord {
            chain: chain(&["v5", "qemu-9.2"]),
            outcome: Some(Outcome::Crashed),
            reason: "panicked at 'index out of bounds'".to_string(),
            scenario: "s".to_string(),
            ..TrialRecord::default()
        }],
        details: vec![FailureDetail {
            chain: chain(&["v9", "v10"]),
            outcome: None,
            state_diff: vec![StateDiff::default()],
            ..FailureDetail::default()
        }],
        ..Results::default()
    };
    let html = render_html(&results);
    assert_eq!(
        header_texts(element(&html, "<table class=\"matrix pairs\""), "dst"),
        ["v5", "qemu-9.2"]
    );
    assert!(html.contains("not run"), "missing pairs are marked");
    assert!(html.contains("☠\u{FE0E} 1<b class=\"mark\">!</b>"));
    assert!(html.contains("panicked at &#39;index out of bounds&#39;"));
    assert!(
        html.contains("id=\"details-other\""),
        "details without a cell are still shown"
    );
    assert!(html.contains("no outcome"));
}

#[test]
fn empty_results_render_a_valid_page() {
    let html = render_html(&Results::default());
    assert!(html.contains("No trials in this results file."));
    assert!(html.contains("No failing or lossy cell"));
    assert!(html.contains("No version definitions"));
    assert!(html.trim_end().ends_with("</html>"));
}

#[test]
fn rendering_is_deterministic() {
    let results = common::sample();
    assert_eq!(render_html(&results), render_html(&results));
}

#[test]
fn summary_table_of_sample() {
    let table = summary_table(&common::sample());
    println!("{table}");
    let lines: Vec<&str> = table.lines().collect();
    let data: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with('v'))
        .collect();
    assert_eq!(data.len(), 11, "9 pairs and 2 chains:\n{table}");
    assert!(data[0].starts_with("v5 -> v5 "));
    assert!(data[8].starts_with("v6-compat5 -> v6-compat5"));
    assert!(data[9].starts_with("v5 -> v6 -> v5"));
    let compat = data
        .iter()
        .find(|l| l.starts_with("v6-compat5 -> v5 "))
        .unwrap();
    assert!(
        compat.contains(" 2!") && compat.ends_with("UNEXPECTED 2"),
        "{compat}"
    );
    let refused = data.iter().find(|l| l.starts_with("v6 -> v5 ")).unwrap();
    assert!(
        refused.contains("32 ") && refused.ends_with("ok (as expected)"),
        "{refused}"
    );
    assert!(table.contains("352 trials in 11 cells: 5 unexpected trials in 2 cells"));
    // Aligned: every row is as long as the header up to the verdict column.
    let verdict_col = lines[0].find("verdict").unwrap();
    for line in &data {
        let verdict_start = line
            .char_indices()
            .nth(verdict_col)
            .map(|(i, _)| i)
            .unwrap();
        assert!(line[..verdict_start].ends_with("  "), "{line:?}");
        assert!(!line[verdict_start..].starts_with(' '), "{line:?}");
    }
}

#[test]
fn behaviour_section_lists_every_pair_and_shows_the_first_difference() {
    let results = common::seven_versions();
    let html = render_html(&results);
    let section = element(&html, "<section id=\"behaviour\"");
    assert!(section.contains("1 of 2 pairs differ"), "{section}");
    assert!(section.contains("<tr class=\"same\"><td>virt</td><td>virt-v5 = virt-qemu-7.2</td>"));
    let differs = element(section, "<tr class=\"differs\"");
    assert!(differs.contains("seed 3"), "{differs}");
    assert!(
        differs.contains("<code>0x800080</code> on virt-qemu-7.2"),
        "{differs}"
    );
    assert!(
        differs.contains("<code>0xffffffff</code> on virt-qemu-10.0"),
        "{differs}"
    );
    assert!(
        differs.contains("compare --scenario cfi01-program --seed 3"),
        "{differs}"
    );
    assert!(differs.contains("<summary>2 ops</summary>"), "{differs}");
    assert!(html.contains("<a href=\"#behaviour\">Behaviour</a>"));
    // Without the check there is no section and no link.
    let mut none = results.clone();
    none.behaviour.clear();
    let html = render_html(&none);
    assert!(!html.contains("id=\"behaviour\""));
    assert!(!html.contains("href=\"#behaviour\""));
}

#[test]
fn real_qemu_section_shows_observed_losses_next_to_the_model() {
    let mut results = common::seven_versions();
    results.versions[1].emulator = Some("/usr/bin/qemu-system-arm (QEMU 7.2.22)".into());
    results.versions[1].model = Some(results.versions[0].name.clone());
    results.versions[1].board = "virt".into();
    let (q, m) = (
        results.versions[1].name.clone(),
        results.versions[0].name.clone(),
    );
    results.cells.retain(|c| c.chain != chain(&[&q, &q]));
    assert!(
        !render_html(&results).contains("id=\"real\""),
        "no Q -> Q cell yet"
    );
    results.cells.push(Cell {
        chain: chain(&[&q, &q]),
        counts: [(Outcome::Lossy, 2)].into_iter().collect(),
        expected: vec![Outcome::Identical, Outcome::Lossy],
        ..Cell::default()
    });
    let html = render_html(&results);
    let section = element(&html, "<section id=\"real\"");
    assert!(
        section.contains(&format!("<code>{q}</code> → itself: lossy 2")),
        "{section}"
    );
    assert!(
        section.contains(&format!("<code>{m}</code> → itself:")),
        "{section}"
    );
    // A left-out build has no row.
    results.versions[1].left_out = Some("not usable".into());
    assert!(!render_html(&results).contains("id=\"real\""));
}

#[test]
fn a_cell_shows_the_static_prediction_beside_the_observation_and_flags_a_wrong_one() {
    let mut r = common::sample();
    let i = r
        .cells
        .iter()
        .position(|c| c.chain.len() == 2 && c.chain[0] != c.chain[1])
        .expect("a pair");
    r.cells[i].counts = [(Outcome::Identical, 4)].into_iter().collect();
    r.cells[i].predicted_refused = Some(true);
    let label = r.cells[i].chain.join(" → ");
    let html = render_html(&r);
    let td = cell_td(&html, &label);
    assert!(td.contains("predicted refused / observed loads"), "{td}");
    assert!(td.contains("prediction-failed"), "{td}");
    r.cells[i].predicted_refused = Some(false);
    let html = render_html(&r);
    let td = cell_td(&html, &label);
    assert!(td.contains("predicted loads / observed loads"), "{td}");
    assert!(!td.contains("prediction-failed"), "{td}");
}

#[test]
fn the_coverage_section_lists_every_state_and_marks_the_ones_never_reached() {
    use reports::results::CoverageRow;
    let mut r = common::sample();
    assert!(
        !render_html(&r).contains("id=\"coverage\""),
        "no section without coverage"
    );
    let row = |state: &str, cycle: bool, trials: u64| CoverageRow {
        device_type: "cfi.pflash02".into(),
        state: state.into(),
        cycle,
        trials,
    };
    r.coverage = vec![
        row("read-array", true, 12),
        row("erase: unlock 2 next", true, 0),
        row("read-array, timer pending", false, 3),
    ];
    let html = render_html(&r);
    let section = between(&html, "<section id=\"coverage\"", "</section>");
    assert!(section.contains("<td>1/2</td>"), "{section}");
    assert!(
        section.contains("<li class=\"never\">erase: unlock 2 next"),
        "{section}"
    );
    assert!(
        section.contains("<li class=\"variant\">read-array, timer pending"),
        "{section}"
    );
    assert!(html.contains("<a href=\"#coverage\">Coverage</a>"));
}
