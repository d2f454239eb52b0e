//! Real QEMU, observed: what each real build lost when it migrated to
//! itself, next to what its model predicts for the same seeds.

use super::group;
use crate::escape::escape_html as esc;
use crate::results::{Cell, Outcome, Results};

fn cell<'a>(results: &'a Results, a: &str) -> Option<&'a Cell> {
    results
        .cells
        .iter()
        .find(|c| c.chain.len() == 2 && c.chain.iter().all(|n| n == a))
}

fn counts(c: Option<&Cell>) -> String {
    let Some(c) = c else {
        return "<span class=\"none\">not run</span>".into();
    };
    let parts: Vec<String> = Outcome::ALL
        .iter()
        .filter_map(|o| {
            let n = c.counts.get(o).copied().unwrap_or(0);
            (n > 0).then(|| format!("{} {}", o.name(), group(n)))
        })
        .collect();
    esc(&parts.join(", "))
}

fn example(results: &Results, a: &str) -> String {
    results
        .details
        .iter()
        .find(|d| d.chain.len() == 2 && d.chain.iter().all(|n| n == a) && !d.reason.is_empty())
        .map(|d| format!("seed {}: {}", d.seed, esc(&d.reason)))
        .unwrap_or_else(|| "<span class=\"none\">—</span>".into())
}

/// The section (empty when no real build took part).
pub(super) fn real_section(results: &Results) -> String {
    let rows: Vec<String> = results
        .versions
        .iter()
        .filter(|v| v.emulator.is_some() && v.left_out.is_none())
        .filter_map(|v| {
            let model = v.model.as_ref()?;
            cell(results, &v.name)?;
            Some(format!(
                "<tr><td>{}</td><td><code>{}</code> → itself: {}<br>{}</td>\
                 <td><code>{}</code> → itself: {}<br>{}</td></tr>\n",
                esc(&v.board),
                esc(&v.name),
                counts(cell(results, &v.name)),
                example(results, &v.name),
                esc(model),
                counts(cell(results, model)),
                example(results, model),
            ))
        })
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    format!(
        "<section id=\"real\" class=\"real-section\">\n<h2>Real QEMU, observed</h2>\n\
         <p>What each real build lost when it migrated to itself (QEMU's own stream, \
         its own load), next to its model's prediction (the model runs every seed, \
         QEMU the first few). Every QEMU trial is checked against the model's run \
         of the same seed, read for read.</p>\n\
         <table class=\"behaviour\">\n<thead><tr><th>board</th><th>observed on QEMU</th>\
         <th>predicted by the model</th></tr></thead>\n<tbody>\n{}</tbody>\n</table>\n</section>\n",
        rows.join("")
    )
}
