//! The matrix section: pairs (rows = sources, columns = destinations), the
//! chains after them, the legend, and why refused cells were refused.

use super::{badge, cell_link, group, plural, refusal_anchor};
use crate::escape::escape_html as esc;
use crate::results::{Cell, Outcome, Results};
use crate::view::{self, CellStatus, Layout, NotableTrials};
use std::collections::BTreeMap;

/// What each outcome means, for the legend (DESIGN.md "Trials and outcomes").
const MEANINGS: [(Outcome, &str); 5] = [
    (
        Outcome::Identical,
        "everything matches the run that never migrated",
    ),
    (
        Outcome::Refused,
        "destination rejected the stream; source carried on unharmed",
    ),
    (
        Outcome::Lossy,
        "loaded, data intact, later behaviour differs as features allow",
    ),
    (Outcome::Diverged, "a difference no feature excuses: a bug"),
    (Outcome::Crashed, "a panic or abort: a bug"),
];

/// The whole matrix section.
pub(super) fn matrix_section(
    results: &Results,
    layout: &Layout,
    notable: &NotableTrials,
) -> String {
    let mut out =
        String::from("<section id=\"matrix\" class=\"matrix-section\">\n<h2>Matrix</h2>\n");
    out.push_str(
        "<p class=\"lead\">Rows are sources, columns destinations, chains below. Plain counts were \
         predicted by the features and the static checker; counts marked <b class=\"mark-sample\">!</b> \
         were not. A cell links to its details.</p>\n",
    );
    out.push_str("<div class=\"matrix-layout\">\n<div class=\"matrix-main\">\n");
    out.push_str(&pair_table(results, layout));
    out.push_str(&chain_table(results, layout));
    out.push_str("</div>\n<div class=\"matrix-side\">\n");
    out.push_str(&legend());
    out.push_str(&refusals(results, layout, notable));
    out.push_str("</div>\n</div>\n");
    out.push_str("</section>\n");
    out
}

/// Sources × destinations.
fn pair_table(results: &Results, layout: &Layout) -> String {
    let mut out = String::from(
        "<div class=\"matrix-scroll\">\n<table class=\"matrix pairs\" id=\"pairs\">\n\
         <thead><tr><th class=\"corner\" scope=\"col\"><span class=\"to\">to →</span>\
         <span class=\"from\">from ↓</span></th>",
    );
    for name in &layout.axis {
        out.push_str(&format!(
            "<th scope=\"col\" class=\"dst\">{}</th>",
            esc(name)
        ));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for (row, src) in layout.axis.iter().enumerate() {
        out.push_str(&format!(
            "<tr><th scope=\"row\" class=\"src\">{}</th>",
            esc(src)
        ));
        for (col, dst) in layout.axis.iter().enumerate() {
            let diagonal = if row == col { " diagonal" } else { "" };
            match layout.grid.get(&(row, col)) {
                Some(&index) => out.push_str(&cell_td(index, &results.cells[index], diagonal)),
                None => out.push_str(&format!(
                    "<td class=\"cell missing{diagonal}\" data-src=\"{}\" data-dst=\"{}\">\
                     <span class=\"na\" title=\"no trials for this pair\">not run</span></td>",
                    esc(src),
                    esc(dst)
                )),
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n</div>\n");
    out
}

/// Multi-hop chains (and any cell without a grid slot), after the pairs,
/// aligned with the matrix's first column.
fn chain_table(results: &Results, layout: &Layout) -> String {
    if layout.chains.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "<table class=\"matrix chains\" id=\"chains\">\n<thead><tr><th class=\"corner\" scope=\"col\">chains</th>\
         <th scope=\"col\" class=\"dst\"></th></tr></thead>\n<tbody>\n",
    );
    for &index in &layout.chains {
        let cell = &results.cells[index];
        out.push_str(&format!(
            "<tr><th scope=\"row\" class=\"src chain-name\">{}</th>{}</tr>\n",
            chain_html(&cell.chain),
            cell_td(index, cell, "")
        ));
    }
    out.push_str("</tbody>\n</table>\n");
    out
}

/// A chain with arrows that may wrap.
pub(super) fn chain_html(chain: &[String]) -> String {
    let names: Vec<String> = chain
        .iter()
        .map(|n| format!("<span class=\"v\">{}</span>", esc(n)))
        .collect();
    names.join("<span class=\"arrow\"> → </span>")
}

/// One matrix cell: a proportion bar, expected counts, then unexpected ones
/// apart, all inside a link to the cell's details when it has any.
fn cell_td(index: usize, cell: &Cell, extra_class: &str) -> String {
    let status = view::status(cell);
    let status_class = match status {
        CellStatus::Empty => "empty",
        CellStatus::Clean => "clean",
        CellStatus::Expected => "expected",
        CellStatus::Unexpected => "unexpected",
    };
    let label = esc(&view::chain_label(&cell.chain, " → "));
    let attrs = format!(
        "class=\"cell {status_class}{extra_class}\" data-chain=\"{label}\"{pair}",
        pair = match cell.chain.as_slice() {
            [src, dst] => format!(" data-src=\"{}\" data-dst=\"{}\"", esc(src), esc(dst)),
            _ => String::new(),
        }
    );
    if status == CellStatus::Empty {
        return format!("<td {attrs}><span class=\"na\">no trials</span></td>");
    }

    let mut expected = String::new();
    let mut unexpected = String::new();
    for outcome in Outcome::ALL {
        let n = view::count(cell, outcome);
        if n == 0 {
            continue;
        }
        if view::is_expected(cell, outcome) {
            expected.push_str(&badge(outcome, n, true));
        } else {
            unexpected.push_str(&badge(outcome, n, false));
        }
    }
    if cell.unexpectedly_identical > 0 {
        unexpected.push_str(&format!(
            "<span class=\"n o-identical unexpected now-passing\" title=\"predicted refused or lossy, \
             turned out identical\">✓↑ {}<b class=\"mark\">!</b></span>",
            group(cell.unexpectedly_identical)
        ));
    }
    if view::prediction_failed(cell) {
        unexpected.push_str(&format!(
            "<span class=\"n prediction-failed\" title=\"{}\">static ≠</span>",
            esc(&view::prediction(cell).unwrap_or_default())
        ));
    }

    let mut body = bar(cell, view::total(cell));
    body.push_str(&format!("<span class=\"counts\">{expected}</span>"));
    if !unexpected.is_empty() {
        body.push_str(&format!(
            "<span class=\"counts unexpected-counts\">{unexpected}</span>"
        ));
    }
    let title = esc(&cell_title(cell));
    match cell_link(index, cell) {
        Some(target) => format!(
            "<td {attrs}><a class=\"cell-body\" href=\"#{target}\" title=\"{title}\">{body}</a></td>"
        ),
        None => format!("<td {attrs}><div class=\"cell-body\" title=\"{title}\">{body}</div></td>"),
    }
}

/// Thin stacked bar of outcome proportions (decoration; counts carry the data).
fn bar(cell: &Cell, total: u64) -> String {
    let mut out = String::from("<span class=\"bar\" aria-hidden=\"true\">");
    for outcome in Outcome::ALL {
        let n = view::count(cell, outcome);
        if n > 0 && total > 0 {
            let percent = n as f64 * 100.0 / total as f64;
            out.push_str(&format!(
                "<i class=\"o-{}\" style=\"width:{percent:.2}%\"></i>",
                outcome.name()
            ));
        }
    }
    out.push_str("</span>");
    out
}

/// Tooltip: the counts in words and what was expected.
fn cell_title(cell: &Cell) -> String {
    let counts: Vec<String> = Outcome::ALL
        .iter()
        .filter(|&&o| view::count(cell, o) > 0)
        .map(|&o| {
            let flag = if view::is_expected(cell, o) {
                ""
            } else {
                " (unexpected)"
            };
            format!("{} {}{flag}", view::count(cell, o), o.name())
        })
        .collect();
    let expected: Vec<&str> = cell.expected.iter().map(|o| o.name()).collect();
    let mut title = format!(
        "{}: {} of {} trials; expected: {}",
        view::chain_label(&cell.chain, " → "),
        counts.join(", "),
        view::total(cell),
        if expected.is_empty() {
            "nothing".to_string()
        } else {
            expected.join(", ")
        }
    );
    if let Some(line) = view::prediction(cell) {
        title.push_str("; ");
        title.push_str(&line);
    }
    title
}

/// Symbols, colours, and how expected and unexpected counts look.
fn legend() -> String {
    let mut out = String::from("<div class=\"legend\">\n<h3>Legend</h3>\n<ul>");
    for (outcome, meaning) in MEANINGS {
        out.push_str(&format!(
            "<li><span class=\"n o-{name}\">{sym}</span><b>{name}</b><span class=\"meaning\">{meaning}</span></li>",
            name = outcome.name(),
            sym = view::symbol(outcome),
        ));
    }
    out.push_str("</ul>\n<ul class=\"legend-marks\">");
    out.push_str(&format!(
        "<li>{} predicted outcome</li><li>{} not predicted</li>",
        badge(Outcome::Refused, 4, true),
        badge(Outcome::Diverged, 1, false)
    ));
    out.push_str("</ul>\n</div>\n");
    out
}

/// For every cell with refusals: the distinct reasons and how often each occurred.
fn refusals(results: &Results, layout: &Layout, notable: &NotableTrials) -> String {
    let refused: Vec<usize> = layout
        .ordered_cells()
        .into_iter()
        .filter(|&i| view::count(&results.cells[i], Outcome::Refused) > 0)
        .collect();
    if refused.is_empty() {
        return String::new();
    }
    let mut out = String::from("<div class=\"refusals\">\n<h3>Why refused</h3>\n<dl>\n");
    for index in refused {
        let cell = &results.cells[index];
        let n = view::count(cell, Outcome::Refused);
        let expectation = if view::is_expected(cell, Outcome::Refused) {
            "<span class=\"expected-note\">expected</span>"
        } else {
            "<span class=\"unexpected-note\">not expected!</span>"
        };
        out.push_str(&format!(
            "<dt id=\"{id}\"><span class=\"chain\">{chain}</span> <span class=\"of\">{n} of {total} {trials}</span> {expectation}</dt>\n<dd><ul>",
            id = refusal_anchor(index, cell),
            chain = chain_html(&cell.chain),
            n = group(n),
            total = group(view::total(cell)),
            trials = plural(view::total(cell), "trial", "trials"),
        ));
        let reasons = refusal_reasons(results, notable, cell);
        if reasons.is_empty() {
            out.push_str("<li class=\"none\">no reason recorded</li>");
        }
        for (reason, count) in reasons {
            out.push_str(&format!(
                "<li><span class=\"times\">{}×</span> <code class=\"reason\">{}</code></li>",
                group(count),
                esc(reason)
            ));
        }
        out.push_str("</ul></dd>\n");
    }
    out.push_str("</dl>\n</div>\n");
    out
}

/// Distinct refusal reasons of `cell`'s trials (or, without trial records, of
/// its details), most frequent first.
fn refusal_reasons<'a>(
    results: &'a Results,
    notable: &NotableTrials<'a>,
    cell: &Cell,
) -> Vec<(&'a str, u64)> {
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    for trial in notable.of(&cell.chain) {
        if trial.outcome == Some(Outcome::Refused) && !trial.reason.is_empty() {
            *counts.entry(&trial.reason).or_default() += 1;
        }
    }
    if counts.is_empty() {
        for detail in &results.details {
            if detail.chain == cell.chain
                && detail.outcome == Some(Outcome::Refused)
                && !detail.reason.is_empty()
            {
                *counts.entry(&detail.reason).or_default() += 1;
            }
        }
    }
    let mut reasons: Vec<(&str, u64)> = counts.into_iter().collect();
    reasons.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    reasons
}
