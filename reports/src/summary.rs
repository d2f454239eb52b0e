//! The plain-text summary printed on the terminal by the main job: one row per
//! pair (matrix order), then the chains, with counts per outcome.

use crate::results::{Outcome, Results};
use crate::view::{self, CellStatus};

/// Marks a count of an outcome that was not predicted for its cell.
const UNEXPECTED_MARK: char = '!';
/// Stands for a zero count, so real numbers stand out.
const NONE: &str = "-";
/// Space between columns.
const GAP: &str = "  ";

/// A terminal table of pairs and chains × outcome counts, columns aligned.
///
/// A count followed by `!` is an outcome the cell did not expect; the last
/// column says whether the cell is as predicted.
pub fn summary_table(results: &Results) -> String {
    let layout = view::layout(results);
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut separator_before = None;
    for (position, index) in layout.ordered_cells().into_iter().enumerate() {
        if position == layout.grid.len() && !layout.chains.is_empty() && position > 0 {
            separator_before = Some(rows.len());
        }
        rows.push(cell_row(&results.cells[index]));
    }

    let mut header = vec!["pair / chain".to_string()];
    header.extend(Outcome::ALL.iter().map(|o| o.name().to_string()));
    header.push("verdict".to_string());

    let widths: Vec<usize> = (0..header.len())
        .map(|col| {
            rows.iter()
                .chain(std::iter::once(&header))
                .map(|row| row[col].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();

    let mut out = String::new();
    out.push_str(&format_row(&header, &widths));
    let rule_len = widths.iter().sum::<usize>() + GAP.len() * (widths.len() - 1);
    let rule = "-".repeat(rule_len);
    out.push_str(&rule);
    out.push('\n');
    if rows.is_empty() {
        out.push_str("(no cells)\n");
    }
    for (i, row) in rows.iter().enumerate() {
        if separator_before == Some(i) {
            out.push_str(&rule);
            out.push('\n');
        }
        out.push_str(&format_row(row, &widths));
    }
    out.push_str(&rule);
    out.push('\n');
    out.push_str(&footer(results));
    out.push_str(&behaviour_lines(results));
    out.push_str(&cross_release_lines(results));
    out
}

/// One line per pair of releases (and kind) with how many differences and
/// how many of them known; then each unlisted difference with its
/// reproduction, the known ones not seen, and the known ones seen.
fn cross_release_lines(results: &Results) -> String {
    let Some(c) = &results.cross_release else {
        return String::new();
    };
    let mut out = String::new();
    if c.totals.is_empty() {
        out.push_str("between releases: no differences\n");
    }
    for t in &c.totals {
        out.push_str(&format!(
            "between releases: {}: {} {} {}, {} known\n",
            t.between,
            t.differences,
            t.kind,
            view::plural(t.differences, "difference", "differences"),
            t.known
        ));
    }
    for o in &c.unlisted {
        out.push_str(&format!(
            "  NEW {} difference {} on {} ({}, seed {}): {}\n    reproduce: {}\n    \
             add it to {} once its cause is understood\n",
            o.kind,
            view::difference_pair(o, "->"),
            o.board,
            o.scenario,
            o.seed,
            o.summary,
            o.reproduce,
            c.file
        ));
    }
    for k in c.known.iter().filter(|k| k.seen == 0) {
        out.push_str(&format!(
            "  known difference not seen: {} ({})\n",
            k.id, k.between
        ));
    }
    for k in c.known.iter().filter(|k| k.seen > 0) {
        out.push_str(&format!(
            "  known: {} ({}): seen {}×\n",
            k.id, k.between, k.seen
        ));
    }
    out
}

/// One line for the behaviour check, then one per pair that differs.
fn behaviour_lines(results: &Results) -> String {
    if results.behaviour.is_empty() {
        return String::new();
    }
    let differing: Vec<_> = results.behaviour.iter().filter(|c| c.differ > 0).collect();
    let sequences: u64 = results.behaviour.iter().map(|c| c.trials).sum();
    let mut out = format!(
        "behaves the same: {} pairs of versions over {} sequences, {} differ\n",
        results.behaviour.len(),
        sequences,
        differing.len()
    );
    for c in differing {
        out.push_str(&format!(
            "  DIFFERS {} {} = {} ({}): {} of {} sequences",
            c.board, c.a, c.b, c.scenario, c.differ, c.trials
        ));
        if let Some(d) = &c.first {
            out.push_str(&format!(
                "; seed {}: {} at {}: {} vs {} [{}]\n    reproduce: {}",
                d.seed, d.what, d.at, d.a_value, d.b_value, d.mode, d.reproduce
            ));
        }
        out.push('\n');
    }
    out
}

/// The text cells of one table row; counts carry a trailing mark column
/// (`!` or a space) so digits stay right-aligned.
fn cell_row(cell: &crate::results::Cell) -> Vec<String> {
    let mut row = vec![view::chain_label(&cell.chain, " -> ")];
    for outcome in Outcome::ALL {
        let n = view::count(cell, outcome);
        row.push(if n == 0 {
            format!("{NONE} ")
        } else if view::is_expected(cell, outcome) {
            format!("{n} ")
        } else {
            format!("{n}{UNEXPECTED_MARK}")
        });
    }
    row.push(verdict(cell));
    row
}

/// `ok`, `expected` or what is unexpected about the cell.
fn verdict(cell: &crate::results::Cell) -> String {
    match view::status(cell) {
        CellStatus::Empty => "no trials".to_string(),
        CellStatus::Clean => "ok".to_string(),
        CellStatus::Expected => "ok (as expected)".to_string(),
        CellStatus::Unexpected => {
            let mut parts = Vec::new();
            let unexpected = view::unexpected_trials(cell);
            if unexpected > 0 {
                parts.push(format!("UNEXPECTED {unexpected}"));
            }
            if cell.unexpectedly_identical > 0 {
                parts.push(format!("NOW IDENTICAL {}", cell.unexpectedly_identical));
            }
            parts.join(", ")
        }
    }
}

/// Left-aligns the first column and the verdict, right-aligns the counts.
fn format_row(cells: &[String], widths: &[usize]) -> String {
    let last = cells.len() - 1;
    let mut line = String::new();
    for (i, (text, &width)) in cells.iter().zip(widths).enumerate() {
        if i > 0 {
            line.push_str(GAP);
        }
        let pad = " ".repeat(width - text.chars().count());
        if i == 0 || i == last {
            line.push_str(text);
            line.push_str(&pad);
        } else {
            line.push_str(&pad);
            line.push_str(text);
        }
    }
    line.truncate(line.trim_end().len());
    line.push('\n');
    line
}

/// Totals and the legend.
fn footer(results: &Results) -> String {
    let trials: u64 = results.cells.iter().map(view::total).sum();
    let unexpected: u64 = results.cells.iter().map(view::unexpected_trials).sum();
    let bad_cells = results
        .cells
        .iter()
        .filter(|c| view::status(c) == CellStatus::Unexpected)
        .count();
    let mut out = format!("{trials} trials in {} cells", results.cells.len());
    if bad_cells == 0 {
        out.push_str(": every outcome as expected\n");
    } else {
        out.push_str(&format!(
            ": {unexpected} unexpected trials in {bad_cells} cells\n"
        ));
    }
    out.push_str(&format!(
        "{UNEXPECTED_MARK} = outcome not expected for that pair; {NONE} = none\n"
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{samples, Cell, VersionInfo};

    fn results() -> Results {
        use Outcome::*;
        let cell = |chain: &[&str], counts: &[(Outcome, u64)], expected: &[Outcome]| Cell {
            chain: chain.iter().map(|s| s.to_string()).collect(),
            counts: counts.iter().copied().collect(),
            expected: expected.to_vec(),
            unexpected: counts
                .iter()
                .filter(|(o, _)| !expected.contains(o))
                .map(|(_, n)| n)
                .sum(),
            ..Cell::default()
        };
        Results {
            versions: ["v5", "v6-compat5"]
                .iter()
                .map(|n| VersionInfo {
                    name: n.to_string(),
                    ..VersionInfo::default()
                })
                .collect(),
            cells: vec![
                cell(
                    &["v5", "v6-compat5", "v5"],
                    &[(Diverged, 3), (Refused, 29)],
                    &[Refused],
                ),
                cell(&["v5", "v5"], &[(Identical, 32)], &[Identical]),
                cell(
                    &["v6-compat5", "v5"],
                    &[(Identical, 23), (Lossy, 7), (Refused, 2)],
                    &[Identical, Lossy],
                ),
            ],
            ..Results::default()
        }
    }

    #[test]
    fn test_summary_lists_pairs_in_matrix_order_then_chains() {
        let table = summary_table(&results());
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[0].starts_with("pair / chain"), "{table}");
        assert!(lines[2].starts_with("v5 -> v5 "), "{table}");
        assert!(lines[3].starts_with("v6-compat5 -> v5 "), "{table}");
        assert!(
            lines[4].starts_with("---"),
            "separator before chains:\n{table}"
        );
        assert!(lines[5].starts_with("v5 -> v6-compat5 -> v5"), "{table}");
    }

    #[test]
    fn test_summary_marks_unexpected_counts_and_verdicts() {
        let table = summary_table(&results());
        let row = |prefix: &str| {
            table
                .lines()
                .find(|l| l.starts_with(prefix))
                .unwrap()
                .to_string()
        };
        let compat = row("v6-compat5 -> v5");
        assert!(compat.contains("23 "), "{compat}");
        assert!(compat.contains(" 2!"), "refused is unexpected: {compat}");
        assert!(compat.contains("7 "), "{compat}");
        assert!(compat.ends_with("UNEXPECTED 2"), "{compat}");
        assert!(row("v5 -> v5").ends_with("ok"));
        let chain = row("v5 -> v6-compat5 -> v5");
        assert!(chain.contains("3!") && chain.contains("29 "), "{chain}");
        assert!(
            table.contains("96 trials in 3 cells: 5 unexpected trials in 2 cells"),
            "{table}"
        );
    }

    #[test]
    fn test_summary_columns_are_aligned() {
        let table = summary_table(&results());
        let header = table.lines().next().unwrap();
        // Every count column ends where its header ends (right-aligned).
        for name in ["identical", "refused", "lossy", "diverged", "crashed"] {
            let end = header.find(name).unwrap() + name.len();
            for line in table.lines().skip(2).take(2) {
                let before = &line[..end];
                let last = before.chars().last().unwrap();
                assert!(
                    last == ' ' || last == '!',
                    "column {name} misaligned in {line:?}"
                );
                let digit = before.chars().rev().nth(1).unwrap();
                assert!(
                    digit.is_ascii_digit() || digit == '-',
                    "column {name} in {line:?}"
                );
            }
        }
    }

    #[test]
    fn test_summary_of_empty_results() {
        let table = summary_table(&Results::default());
        assert!(table.contains("(no cells)"));
        assert!(table.contains("0 trials in 0 cells: every outcome as expected"));
    }

    #[test]
    fn test_summary_tells_differences_between_releases() {
        let results = Results {
            cross_release: Some(samples::cross_release()),
            ..Results::default()
        };
        let table = summary_table(&results);
        let from = table.find("between releases:").expect(&table);
        assert_eq!(
            &table[from..],
            "between releases: qemu-10.0 ↔ qemu-7.2: 1 behaviour difference, 1 known\n\
             between releases: qemu-7.2 → qemu-10.0: 1 migration difference, 0 known\n\
             \x20 NEW migration difference virt-qemu-7.2 -> virt-qemu-10.0 on virt \
             (cfi01-modes, seed 7): diverged: read at op 2: 0x800080 vs 0xffffffff\n\
             \x20   reproduce: cargo run --release -- trial --scenario cfi01-modes --seed 7 \
             --chain virt-qemu-7.2,virt-qemu-10.0\n\
             \x20   add it to machines/known-differences.toml once its cause is understood\n\
             \x20 known difference not seen: cfi01-7.2-destination-restores-no-read-mode \
             (qemu-10.0 → qemu-7.2)\n\
             \x20 known: cfi01-buffer-opens-on-first-data-write (qemu-10.0 ↔ qemu-7.2): seen 2×\n"
        );
    }

    #[test]
    fn test_summary_pluralises_and_gives_behaviour_no_direction() {
        let mut c = samples::cross_release();
        c.totals[0].differences = 2;
        c.unlisted[0] = c.known[0].example.clone().unwrap();
        let text = cross_release_lines(&Results {
            cross_release: Some(c),
            ..Results::default()
        });
        assert!(
            text.contains("qemu-10.0 ↔ qemu-7.2: 2 behaviour differences, 1 known\n"),
            "{text}"
        );
        assert!(
            text.contains("NEW behaviour difference virt-qemu-10.0 = virt-qemu-7.2 on virt"),
            "{text}"
        );
    }

    #[test]
    fn test_summary_says_when_no_difference_between_releases_was_seen() {
        let mut c = samples::cross_release();
        c.totals.clear();
        c.unlisted.clear();
        let text = cross_release_lines(&Results {
            cross_release: Some(c),
            ..Results::default()
        });
        assert!(
            text.starts_with("between releases: no differences\n"),
            "{text}"
        );
        assert_eq!(cross_release_lines(&Results::default()), "");
    }
}
