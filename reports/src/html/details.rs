//! The details section: for every failing or lossy cell, each recorded trial
//! with its reason, reproducer, minimized ops, state diff, flash diff and
//! static-check findings.

use super::matrix::chain_html;
use super::{badge, code_list, details_anchor, group, outcome_tag, plural};
use crate::escape::escape_html as esc;
use crate::results::{Cell, FailureDetail, FlashDiff, OpRow, Outcome, Results, StateDiff};
use crate::view::{self, CellStatus, Layout, NotableTrials};
use std::collections::{BTreeMap, BTreeSet};

/// The whole details section.
pub(super) fn details_section(
    results: &Results,
    layout: &Layout,
    notable: &NotableTrials,
) -> String {
    // Unexpected cells first (the bugs), then the expected losses; matrix order within each.
    let mut cells: Vec<usize> = layout
        .ordered_cells()
        .into_iter()
        .filter(|&i| view::needs_details(&results.cells[i]))
        .collect();
    cells.sort_by_key(|&i| view::status(&results.cells[i]) != CellStatus::Unexpected);
    let mut out = format!(
        "<section id=\"details\" class=\"details-section\">\n<h2>Details <span class=\"count\">{} {}</span></h2>\n",
        cells.len(),
        plural(cells.len() as u64, "cell", "cells")
    );
    if cells.is_empty() {
        out.push_str("<p class=\"empty-note\">No failing or lossy cell: nothing to explain.</p>\n");
    }
    let mut shown = BTreeSet::new();
    for index in cells {
        out.push_str(&cell_section(
            results,
            index,
            &results.cells[index],
            notable,
            &mut shown,
        ));
    }
    out.push_str(&orphan_details(results, &shown));
    out.push_str("</section>\n");
    out
}

/// One failing or lossy cell: its counts and all its recorded trials not
/// already `shown` (ids must stay unique if two cells share a chain).
fn cell_section(
    results: &Results,
    index: usize,
    cell: &Cell,
    notable: &NotableTrials,
    shown: &mut BTreeSet<usize>,
) -> String {
    let mut out = format!(
        "<section class=\"cell-details\" id=\"{}\" data-chain=\"{}\">\n<header class=\"cell-head\">\
         <h3>{}</h3><span class=\"cell-counts\">",
        details_anchor(index, cell),
        esc(&view::chain_label(&cell.chain, " → ")),
        chain_html(&cell.chain),
    );
    for outcome in Outcome::ALL {
        let n = view::count(cell, outcome);
        if n > 0 {
            out.push_str(&badge(outcome, n, view::is_expected(cell, outcome)));
        }
    }
    out.push_str("</span><a class=\"back\" href=\"#matrix\">↑ matrix</a></header>\n");
    out.push_str(&expectation_line(cell));
    let reasons = trials_by_reason(notable, cell);
    out.push_str(&reasons);

    let details: Vec<usize> = details_of(results, cell)
        .into_iter()
        .filter(|&i| shown.insert(i))
        .collect();
    if details.is_empty() && reasons.is_empty() {
        out.push_str("<p class=\"empty-note\">No trial of this cell was recorded.</p>\n");
    }
    for detail_index in details {
        out.push_str(&detail_card(
            results,
            detail_index,
            &results.details[detail_index],
        ));
    }
    out.push_str("</section>\n");
    out
}

/// What was predicted for the cell and how many trials missed it.
fn expectation_line(cell: &Cell) -> String {
    let expected: Vec<String> = cell
        .expected
        .iter()
        .map(|o| format!("{} {}", view::symbol(*o), o.name()))
        .collect();
    let mut line = format!(
        "<p class=\"expectation\">{} {} · expected: <b>{}</b>",
        group(view::total(cell)),
        plural(view::total(cell), "trial", "trials"),
        if expected.is_empty() {
            "nothing".to_string()
        } else {
            expected.join(", ")
        }
    );
    let unexpected = view::unexpected_trials(cell);
    if unexpected > 0 {
        line.push_str(&format!(
            " · <span class=\"unexpected-note\">{} not as expected</span>",
            group(unexpected)
        ));
    }
    if cell.unexpectedly_identical > 0 {
        line.push_str(&format!(
            " · <span class=\"unexpected-note\">{} predicted failures now identical</span>",
            group(cell.unexpectedly_identical)
        ));
    }
    line.push_str("</p>\n");
    line
}

/// Most seeds listed per scenario in the reasons table before "…".
const MAX_SEEDS_LISTED: usize = 8;

/// The cell's non-identical trials grouped by outcome and reason, with the
/// scenarios and seeds that hit each: the whole story when no trial was minimized.
fn trials_by_reason(notable: &NotableTrials, cell: &Cell) -> String {
    type Key<'a> = (Outcome, bool, &'a str);
    let mut groups: BTreeMap<Key, BTreeMap<&str, Vec<u64>>> = BTreeMap::new();
    for trial in notable.of(&cell.chain) {
        let Some(outcome) = trial.outcome.filter(|&o| o != Outcome::Identical) else {
            continue;
        };
        let key = (outcome, trial.expected, trial.reason.as_str());
        groups
            .entry(key)
            .or_default()
            .entry(&trial.scenario)
            .or_default()
            .push(trial.seed);
    }
    if groups.is_empty() {
        return String::new();
    }
    let mut rows: Vec<(Key, BTreeMap<&str, Vec<u64>>)> = groups.into_iter().collect();
    // Unexpected first, then by severity.
    rows.sort_by_key(|((outcome, expected, _), _)| (*expected, std::cmp::Reverse(*outcome)));
    let mut out = String::from(
        "<table class=\"data reasons\"><thead><tr><th>outcome</th><th class=\"num\">trials</th>\
         <th>reason</th><th>scenario: seeds</th></tr></thead><tbody>\n",
    );
    for ((outcome, expected, reason), scenarios) in rows {
        let n: usize = scenarios.values().map(Vec::len).sum();
        let seeds: Vec<String> = scenarios
            .iter()
            .map(|(scenario, seeds)| {
                let mut listed: Vec<String> = seeds
                    .iter()
                    .take(MAX_SEEDS_LISTED)
                    .map(u64::to_string)
                    .collect();
                if seeds.len() > MAX_SEEDS_LISTED {
                    listed.push("…".to_string());
                }
                format!("<code>{}</code>: {}", esc(scenario), listed.join(", "))
            })
            .collect();
        out.push_str(&format!(
            "<tr><td>{}</td><td class=\"num\">{}</td><td>{}</td><td class=\"seeds\">{}</td></tr>\n",
            outcome_label(outcome, expected),
            group(n as u64),
            if reason.is_empty() {
                "<span class=\"none\">no reason recorded</span>".to_string()
            } else {
                esc(reason)
            },
            seeds.join("<br>"),
        ));
    }
    out.push_str("</tbody></table>\n");
    out
}

/// Symbol and name, flagged like a badge when not expected.
fn outcome_label(outcome: Outcome, expected: bool) -> String {
    let (class, mark) = if expected {
        ("expected", "")
    } else {
        ("unexpected", "<b class=\"mark\">!</b>")
    };
    format!(
        "<span class=\"n o-{name} {class}\">{sym} {name}{mark}</span>",
        name = outcome.name(),
        sym = view::symbol(outcome)
    )
}

/// Indices of the details recorded for `cell`: the one it points to first.
fn details_of(results: &Results, cell: &Cell) -> Vec<usize> {
    let mut indices: Vec<usize> = cell
        .detail
        .filter(|&i| i < results.details.len())
        .into_iter()
        .collect();
    for (i, detail) in results.details.iter().enumerate() {
        if detail.chain == cell.chain && !indices.contains(&i) {
            indices.push(i);
        }
    }
    indices
}

/// Details whose chain has no cell at all: still shown, not silently dropped.
fn orphan_details(results: &Results, shown: &BTreeSet<usize>) -> String {
    let orphans: Vec<usize> = (0..results.details.len())
        .filter(|&i| !shown.contains(&i))
        .filter(|&i| {
            let pointed_to = results.cells.iter().any(|c| c.detail == Some(i));
            let chain = &results.details[i].chain;
            !pointed_to && !results.cells.iter().any(|c| &c.chain == chain)
        })
        .collect();
    if orphans.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "<section class=\"cell-details\" id=\"details-other\">\n<header class=\"cell-head\">\
         <h3>Trials without a matrix cell</h3><a class=\"back\" href=\"#matrix\">↑ matrix</a></header>\n",
    );
    for i in orphans {
        out.push_str(&detail_card(results, i, &results.details[i]));
    }
    out.push_str("</section>\n");
    out
}

/// Everything about one recorded trial.
fn detail_card(results: &Results, index: usize, detail: &FailureDetail) -> String {
    let expected = if detail.expected {
        "<span class=\"tag expected-tag\">expected</span>"
    } else {
        "<span class=\"tag unexpected-tag\">unexpected !</span>"
    };
    let mut out = format!(
        "<article class=\"detail{bad}\" id=\"detail-{index}\">\n<h4>{outcome} {expected} \
         <span class=\"meta\">scenario <code>{scenario}</code> · seed <code>{seed}</code> · \
         {chain}</span></h4>\n",
        bad = if detail.expected {
            ""
        } else {
            " is-unexpected"
        },
        outcome = outcome_tag(detail.outcome),
        scenario = esc(&detail.scenario),
        seed = detail.seed,
        chain = chain_html(&detail.chain),
    );
    out.push_str(&format!(
        "<div class=\"reason\"><span class=\"label\">Reason</span><p>{}</p></div>\n",
        if detail.reason.is_empty() {
            "<span class=\"none\">none recorded</span>".to_string()
        } else {
            esc(&detail.reason)
        }
    ));
    out.push_str(&reproduce(detail));
    out.push_str(&ops_table(detail));
    out.push_str(&state_diff_table(detail));
    out.push_str(&flash_diff_table(&detail.flash_diff));
    out.push_str(&static_findings(results, detail));
    out.push_str("</article>\n");
    out
}

/// The one-line command, selectable with one click, and the reproducer file.
fn reproduce(detail: &FailureDetail) -> String {
    let mut out = String::from("<div class=\"repro\"><span class=\"label\">Reproduce</span>");
    if detail.reproduce.is_empty() {
        out.push_str("<p class=\"none\">no command recorded</p>");
    } else {
        out.push_str(&format!(
            "<pre class=\"command\"><code>{}</code></pre>",
            esc(&detail.reproduce)
        ));
    }
    if let Some(file) = &detail.reproducer_file {
        out.push_str(&format!(
            "<p class=\"file\">reproducer <code>{}</code></p>",
            esc(file)
        ));
    }
    out.push_str("</div>\n");
    out
}

/// The minimized op sequence with the device mode before each op.
fn ops_table(detail: &FailureDetail) -> String {
    if detail.ops.is_empty() {
        return empty_part("Minimized ops", "none recorded");
    }
    let mut out = format!(
        "<h5>Minimized ops <span class=\"count\">{}</span></h5>\n",
        detail.ops.len()
    );
    out.push_str(
        "<table class=\"data ops\"><thead><tr><th class=\"num\">#</th><th>device</th><th>op</th>\
         <th>mode before</th><th class=\"num\">expected</th><th class=\"num\">got</th></tr></thead><tbody>\n",
    );
    for op in &detail.ops {
        out.push_str(&op_row(op));
    }
    out.push_str("</tbody></table>\n");
    out
}

/// One op; a read that differs from the reference and a migration stand out.
fn op_row(op: &OpRow) -> String {
    let mismatch = matches!((op.expected, op.got), (Some(e), Some(g)) if e != g)
        || op.expected.is_some() != op.got.is_some();
    let migrate = op.op.trim_start().starts_with("migrate");
    let class = match (mismatch, migrate) {
        (true, _) => " class=\"mismatch\"",
        (false, true) => " class=\"migrate\"",
        _ => "",
    };
    let digits = access_width(&op.op).map_or(0, |w| 2 + 2 * w);
    let value = |v: Option<u64>| v.map(|v| format!("{v:#0digits$x}")).unwrap_or_default();
    format!(
        "<tr{class}><td class=\"num\">{}</td><td>{}</td><td><code>{}</code></td><td class=\"mode\">{}</td>\
         <td class=\"num\"><code>{}</code></td><td class=\"num\"><code>{}</code>{}</td></tr>\n",
        op.index,
        esc(&op.device),
        esc(&op.op),
        esc(&op.mode_before),
        value(op.expected),
        value(op.got),
        if mismatch { " <b class=\"mark\" title=\"differs from the reference run\">≠</b>" } else { "" },
    )
}

/// The access width of an op written as `… w4 …`, in bytes.
fn access_width(op: &str) -> Option<usize> {
    op.split_whitespace()
        .filter_map(|word| word.strip_prefix('w')?.parse().ok())
        .find(|w| matches!(w, 1 | 2 | 4 | 8))
}

/// Canonical state, field by field, with the field names of both versions.
fn state_diff_table(detail: &FailureDetail) -> String {
    if detail.state_diff.is_empty() {
        return empty_part("Canonical state diff", "identical to the reference run");
    }
    let mut out = String::from("<h5>Canonical state diff</h5>\n");
    let (reference, other) = field_name_versions(&detail.chain);
    out.push_str(&format!(
        "<table class=\"data state\"><thead><tr><th>device</th><th>field in {}</th><th>field in {}</th>\
         <th>expected</th><th>got</th></tr></thead><tbody>\n",
        esc(reference),
        esc(other)
    ));
    for diff in &detail.state_diff {
        out.push_str(&state_diff_row(diff));
    }
    out.push_str("</tbody></table>\n");
    out
}

/// One differing field.
fn state_diff_row(diff: &StateDiff) -> String {
    let renamed = if diff.field != diff.other_field {
        " class=\"renamed\""
    } else {
        ""
    };
    format!(
        "<tr><td>{}</td><td><code>{}</code></td><td{renamed}><code>{}</code></td>\
         <td class=\"want\"><code>{}</code></td><td class=\"got\"><code>{}</code></td></tr>\n",
        esc(&diff.device),
        esc(&diff.field),
        esc(&diff.other_field),
        esc(&diff.expected),
        esc(&diff.got),
    )
}

/// Versions whose field names the state diff shows: the reference (first of
/// the chain) and the first other version visited.
fn field_name_versions(chain: &[String]) -> (&str, &str) {
    let reference = chain.first().map(String::as_str).unwrap_or("reference");
    let other = chain
        .iter()
        .map(String::as_str)
        .find(|v| *v != reference)
        .unwrap_or(reference);
    (reference, other)
}

/// Differing flash bytes, differing bytes highlighted.
fn flash_diff_table(diffs: &[FlashDiff]) -> String {
    if diffs.is_empty() {
        return empty_part(
            "Flash diff",
            "array and backing image identical to the reference run",
        );
    }
    let mut out = String::from("<h5>Flash diff</h5>\n");
    out.push_str(
        "<table class=\"data flash\"><thead><tr><th>device</th><th>where</th><th class=\"num\">sector</th>\
         <th class=\"num\">offset</th><th>expected</th><th>got</th></tr></thead><tbody>\n",
    );
    for diff in diffs {
        let (expected, got) = hex_bytes_diff(&diff.expected, &diff.got);
        out.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\"><code>{:#x}</code></td>\
             <td class=\"bytes want\"><code>{expected}</code></td><td class=\"bytes got\"><code>{got}</code></td></tr>\n",
            esc(&diff.device),
            esc(&diff.what),
            diff.sector,
            diff.offset,
        ));
    }
    out.push_str("</tbody></table>\n");
    out
}

/// Escaped byte strings with the bytes that differ wrapped in `<mark>`.
/// Accepts `ff 00 12` or `ff0012`.
pub(super) fn hex_bytes_diff(expected: &str, got: &str) -> (String, String) {
    let (a, b) = (hex_tokens(expected), hex_tokens(got));
    let render = |tokens: &[String], other: &[String]| {
        let parts: Vec<String> = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| {
                if other.get(i) == Some(t) {
                    esc(t)
                } else {
                    format!("<mark>{}</mark>", esc(t))
                }
            })
            .collect();
        parts.join(" ")
    };
    (render(&a, &b), render(&b, &a))
}

/// Splits a hex byte string into bytes: on whitespace, or in pairs if it has none.
fn hex_tokens(hex: &str) -> Vec<String> {
    let trimmed = hex.trim();
    if trimmed.contains(char::is_whitespace) {
        return trimmed.split_whitespace().map(str::to_string).collect();
    }
    let chars: Vec<char> = trimmed.chars().collect();
    let all_hex = chars.iter().all(char::is_ascii_hexdigit);
    if all_hex && chars.len().is_multiple_of(2) {
        chars.chunks(2).map(|pair| pair.iter().collect()).collect()
    } else if trimmed.is_empty() {
        Vec::new()
    } else {
        vec![trimmed.to_string()]
    }
}

/// The static checker's findings for the pairs of this chain.
fn static_findings(results: &Results, detail: &FailureDetail) -> String {
    let mut findings = detail.static_findings.clone();
    if findings.is_empty() {
        for hop in detail.chain.windows(2) {
            if let Some(check) = results
                .static_checks
                .iter()
                .find(|c| c.src == hop[0] && c.dst == hop[1])
            {
                findings.extend(check.findings.iter().cloned());
            }
        }
    }
    if findings.is_empty() {
        let text = format!(
            "none: the static checker predicted that {} would load",
            view::chain_label(&detail.chain, " → ")
        );
        return empty_part("Static-check findings", &text);
    }
    format!("<h5>Static-check findings</h5>\n{}\n", code_list(&findings))
}

/// A part of a detail with nothing to show: one line instead of a heading and a table.
fn empty_part(title: &str, text: &str) -> String {
    format!(
        "<p class=\"empty-part\"><span class=\"part-title\">{}</span> {}</p>\n",
        esc(title),
        esc(text)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_hex_bytes_diff_marks_differing_bytes() {
        let (e, g) = hex_bytes_diff("ef be ad de", "ef be ff ff");
        assert_eq!(e, "ef be <mark>ad</mark> <mark>de</mark>");
        assert_eq!(g, "ef be <mark>ff</mark> <mark>ff</mark>");
        let (e, g) = hex_bytes_diff("00ff", "0000");
        assert_eq!(e, "00 <mark>ff</mark>");
        assert_eq!(g, "00 <mark>00</mark>");
        let (e, _) = hex_bytes_diff("<b>", "");
        assert_eq!(e, "<mark>&lt;b&gt;</mark>");
    }

    #[test]
    fn test_access_width_pads_read_values() {
        assert_eq!(access_width("read 0x0 w4"), Some(4));
        assert_eq!(access_width("write 0xaaaa w2 0x00aa"), Some(2));
        assert_eq!(access_width("step"), None);
        let row = op_row(&OpRow {
            op: "read 0x0 w4".to_string(),
            expected: Some(0x0080_0080),
            got: Some(0x1234_5678),
            ..OpRow::default()
        });
        assert!(
            row.contains("0x00800080") && row.contains("0x12345678"),
            "{row}"
        );
        assert!(
            row.contains("class=\"mismatch\"") && row.contains('≠'),
            "{row}"
        );
    }

    #[test]
    fn test_field_name_versions() {
        let chain = |c: &[&str]| c.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            field_name_versions(&chain(&["v5", "v6", "v5"])),
            ("v5", "v6")
        );
        assert_eq!(field_name_versions(&chain(&["v6", "v6"])), ("v6", "v6"));
        assert_eq!(field_name_versions(&[]), ("reference", "reference"));
    }
}
