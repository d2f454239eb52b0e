//! The HTML page: one self-contained document (inline CSS, no scripts, no
//! external resources), one function per section.

mod behaviour;
mod coverage;
mod crossrelease;
mod details;
mod machines;
mod matrix;
mod real;
mod run;

use crate::escape::{anchor, escape_html as esc};
use crate::results::{Cell, Outcome, Results};
use crate::view::{self, plural, CellStatus, Layout, NotableTrials};

/// Root font size; every length in the stylesheet is in rem of this.
pub(crate) const ROOT_FONT_PX: f64 = 14.0;
/// Width of one destination column of the matrix, in rem.
pub(crate) const MATRIX_COLUMN_REM: f64 = 9.75;
/// Width of the source-name column of the matrix, in rem.
pub(crate) const MATRIX_ROW_HEADER_REM: f64 = 8.5;

/// Cells the verdict line names before it says "n more".
const VERDICT_MAX_LINKS: usize = 6;

/// The stylesheet, inlined into every page.
const STYLESHEET: &str = include_str!("report.css");

/// Only inline styles and `data:` images may load; no script runs, nothing is
/// fetched. This makes the "works offline" promise checkable and keeps any
/// markup that slipped through escaping inert.
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'";

/// Renders `results` as a complete, self-contained HTML page.
pub fn render_html(results: &Results) -> String {
    let layout = view::layout(results);
    let notable = NotableTrials::new(results);
    let mut out = String::with_capacity(64 * 1024);
    out.push_str(&head(results));
    out.push_str("<body>\n<div class=\"page\">\n");
    out.push_str(&header(results, &layout));
    out.push_str("<main>\n");
    out.push_str(&crossrelease::cross_release_section(results));
    out.push_str(&behaviour::behaviour_section(results));
    out.push_str(&matrix::matrix_section(results, &layout, &notable));
    out.push_str(&real::real_section(results));
    out.push_str(&coverage::coverage_section(results));
    out.push_str(&details::details_section(results, &layout, &notable));
    out.push_str(&machines::machines_section(results, &layout));
    out.push_str(&run::run_section(results));
    out.push_str("</main>\n");
    out.push_str(&footer(results));
    out.push_str("</div>\n</body>\n</html>\n");
    out
}

/// `<head>`: metadata, the security policy and the stylesheet.
fn head(results: &Results) -> String {
    let title = format!(
        "norcompat report · {} · {}",
        if results.run.kind.is_empty() {
            "run"
        } else {
            &results.run.kind
        },
        results.run.started
    );
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{CONTENT_SECURITY_POLICY}\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"color-scheme\" content=\"light\">\n\
         <meta name=\"generator\" content=\"norcompat reports\">\n\
         <link rel=\"icon\" href=\"data:,\">\n<title>{}</title>\n<style>\n\
         :root {{ --root: {ROOT_FONT_PX}px; --col: {MATRIX_COLUMN_REM}rem; --rowhead: {MATRIX_ROW_HEADER_REM}rem; }}\n\
         {STYLESHEET}</style>\n</head>\n",
        esc(&title)
    )
}

/// Title, overall verdict, outcome totals and the section navigation.
fn header(results: &Results, layout: &Layout) -> String {
    let run = &results.run;
    let mut facts = Vec::new();
    if !run.started.is_empty() {
        facts.push(format!(
            "started <time datetime=\"{}\">{}</time>",
            esc(&run.started),
            esc(&readable_time(&run.started))
        ));
    }
    facts.push(format!("{} versions", results.versions.len()));
    facts.push(format!("{} trials", group(total_trials(results))));
    if !run.git_revision.is_empty() {
        facts.push(format!("git <code>{}</code>", esc(&run.git_revision)));
    }
    let kind = if run.kind.is_empty() {
        "run"
    } else {
        &run.kind
    };
    let details = layout
        .ordered_cells()
        .into_iter()
        .filter(|&i| view::needs_details(&results.cells[i]))
        .count();
    format!(
        "<header class=\"page-head\">\n<div class=\"title-row\">\n\
         <h1><span class=\"brand\">norcompat</span> compatibility report</h1>\n\
         <span class=\"run-kind\">{kind} run</span>\n\
         <nav class=\"toc\" aria-label=\"Sections\">{releases}{behaviour}<a href=\"#matrix\">Matrix</a>\
         <a href=\"#details\">Details <span class=\"pill\">{details}</span></a>\
         {coverage}<a href=\"#machines\">Machines</a><a href=\"#run\">Run</a></nav>\n</div>\n\
         <p class=\"facts\">{facts}</p>\n{unlisted}{verdict}{totals}</header>\n",
        kind = esc(kind),
        releases = releases_link(results),
        behaviour = if results.behaviour.is_empty() {
            ""
        } else {
            "<a href=\"#behaviour\">Behaviour</a>"
        },
        coverage = if results.coverage.is_empty() {
            String::new()
        } else {
            format!("<a href=\"#{}\">Coverage</a>", coverage::SECTION_ID)
        },
        facts = facts.join(" <span class=\"sep\">·</span> "),
        unlisted = crossrelease::unlisted_verdict(results),
        verdict = verdict(results, layout),
        totals = totals(results),
    )
}

/// The navigation link to the differences between releases, with the
/// number not listed (nothing when the run had none to judge).
fn releases_link(results: &Results) -> String {
    match &results.cross_release {
        None => String::new(),
        Some(c) if c.unlisted.is_empty() => {
            format!("<a href=\"#{}\">Releases</a>", crossrelease::SECTION_ID)
        }
        Some(c) => format!(
            "<a href=\"#{}\">Releases <span class=\"pill new\">{} new</span></a>",
            crossrelease::SECTION_ID,
            group(c.unlisted.len() as u64)
        ),
    }
}

/// One line saying whether everything went as predicted, linking the cells that did not.
fn verdict(results: &Results, layout: &Layout) -> String {
    let bad: Vec<usize> = layout
        .ordered_cells()
        .into_iter()
        .filter(|&i| view::status(&results.cells[i]) == CellStatus::Unexpected)
        .collect();
    if bad.is_empty() {
        let text = if results.cells.is_empty() {
            "No trials in this results file."
        } else {
            "Every outcome as expected."
        };
        return format!("<p class=\"verdict ok\"><span class=\"sym\">✓</span> {text}</p>\n");
    }
    let unexpected: u64 = bad
        .iter()
        .map(|&i| view::unexpected_trials(&results.cells[i]))
        .sum();
    let passing: u64 = bad
        .iter()
        .map(|&i| results.cells[i].unexpectedly_identical)
        .sum();
    let mut what = Vec::new();
    if unexpected > 0 {
        what.push(format!(
            "{} unexpected {}",
            group(unexpected),
            plural(unexpected, "trial", "trials")
        ));
    }
    if passing > 0 {
        what.push(format!(
            "{} expected {} now identical",
            group(passing),
            plural(passing, "failure", "failures")
        ));
    }
    let mut links: Vec<String> = bad
        .iter()
        .take(VERDICT_MAX_LINKS)
        .map(|&i| {
            let cell = &results.cells[i];
            format!(
                "<a href=\"#{}\">{}</a>",
                details_anchor(i, cell),
                esc(&view::chain_label(&cell.chain, " → "))
            )
        })
        .collect();
    if bad.len() > VERDICT_MAX_LINKS {
        links.push(format!(
            "<a href=\"#details\">{} more</a>",
            bad.len() - VERDICT_MAX_LINKS
        ));
    }
    format!(
        "<p class=\"verdict bad\"><span class=\"sym\">!</span> {} in {} {}: {}</p>\n",
        what.join(", "),
        bad.len(),
        plural(bad.len() as u64, "cell", "cells"),
        links.join(", ")
    )
}

/// Trials per outcome over the whole run.
fn totals(results: &Results) -> String {
    let mut out = String::from("<ul class=\"totals\" aria-label=\"Trials per outcome\">");
    for outcome in Outcome::ALL {
        let n: u64 = results.cells.iter().map(|c| view::count(c, outcome)).sum();
        out.push_str(&format!(
            "<li class=\"o-{name}{zero}\"><span class=\"sym\">{sym}</span> <b>{n}</b> {name}</li>",
            name = outcome.name(),
            zero = if n == 0 { " zero" } else { "" },
            sym = view::symbol(outcome),
            n = group(n),
        ));
    }
    out.push_str("</ul>\n");
    out
}

/// Provenance line at the bottom of the page.
fn footer(results: &Results) -> String {
    let run = &results.run;
    let mut parts = vec!["Generated by norcompat".to_string()];
    if !run.norcompat_version.is_empty() {
        parts[0].push_str(&format!(" {}", esc(&run.norcompat_version)));
    }
    if !results.format.is_empty() {
        parts.push(format!(
            "results format <code>{}</code>",
            esc(&results.format)
        ));
    }
    parts.push("self-contained page: no scripts, no network".to_string());
    format!(
        "<footer class=\"page-foot\">{}</footer>\n",
        parts.join(" · ")
    )
}

/// `2025-11-21T14:02:11Z` as `2025-11-21 14:02:11 UTC`; anything else as given.
fn readable_time(rfc3339: &str) -> String {
    let shaped =
        |b: &[u8]| b.len() >= 16 && b[4] == b'-' && b[7] == b'-' && b[10] == b'T' && b[13] == b':';
    match rfc3339.strip_suffix('Z') {
        Some(utc) if utc.is_ascii() && shaped(utc.as_bytes()) => {
            format!("{} {} UTC", &utc[..10], &utc[11..])
        }
        _ => rfc3339.to_string(),
    }
}

/// All trials counted in the cells.
fn total_trials(results: &Results) -> u64 {
    results.cells.iter().map(view::total).sum()
}

/// Id of the details section of cell `index`.
fn details_anchor(index: usize, cell: &Cell) -> String {
    anchor("cell", index, &cell.chain)
}

/// Id of the refusal reasons of cell `index`.
fn refusal_anchor(index: usize, cell: &Cell) -> String {
    anchor("refused", index, &cell.chain)
}

/// Where a matrix cell links to: its details, else its refusal reasons, else nowhere.
fn cell_link(index: usize, cell: &Cell) -> Option<String> {
    if view::needs_details(cell) {
        Some(details_anchor(index, cell))
    } else if view::count(cell, Outcome::Refused) > 0 {
        Some(refusal_anchor(index, cell))
    } else {
        None
    }
}

/// A count badge: symbol and number, flagged with `!` when not expected.
fn badge(outcome: Outcome, n: u64, expected: bool) -> String {
    if expected {
        format!(
            "<span class=\"n o-{} expected\">{} {}</span>",
            outcome.name(),
            view::symbol(outcome),
            group(n)
        )
    } else {
        format!(
            "<span class=\"n o-{} unexpected\">{} {}<b class=\"mark\">!</b></span>",
            outcome.name(),
            view::symbol(outcome),
            group(n)
        )
    }
}

/// An outcome name with its symbol, coloured.
fn outcome_tag(outcome: Option<Outcome>) -> String {
    match outcome {
        Some(o) => format!(
            "<span class=\"tag o-{name}\">{sym} {name}</span>",
            name = o.name(),
            sym = view::symbol(o)
        ),
        None => "<span class=\"tag\">no outcome</span>".to_string(),
    }
}

/// Digits grouped by thousands with a narrow no-break space.
fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('\u{202F}');
        }
        out.push(c);
    }
    out
}

/// `<code>` list items, or a muted "none".
fn code_list(items: &[String]) -> String {
    if items.is_empty() {
        return "<span class=\"none\">none</span>".to_string();
    }
    let items: Vec<String> = items
        .iter()
        .map(|i| format!("<li><code>{}</code></li>", esc(i)))
        .collect();
    format!("<ul class=\"codes\">{}</ul>", items.join(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_group_digits() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1\u{202F}000");
        assert_eq!(group(71842), "71\u{202F}842");
        assert_eq!(group(1234567), "1\u{202F}234\u{202F}567");
    }

    #[test]
    fn test_readable_time() {
        assert_eq!(
            readable_time("2025-11-21T14:02:11Z"),
            "2025-11-21 14:02:11 UTC"
        );
        assert_eq!(
            readable_time("2025-11-21T14:02:11+01:00"),
            "2025-11-21T14:02:11+01:00"
        );
        assert_eq!(readable_time("soon"), "soon");
        assert_eq!(
            readable_time("ZZZZZZZZZZTZZZZZZZZZ"),
            "ZZZZZZZZZZTZZZZZZZZZ"
        );
    }

    #[test]
    fn test_badge_marks_unexpected() {
        assert!(!badge(Outcome::Lossy, 3, true).contains('!'));
        let bad = badge(Outcome::Diverged, 3, false);
        assert!(bad.contains("✗ 3") && bad.contains("unexpected") && bad.contains('!'));
    }
}
