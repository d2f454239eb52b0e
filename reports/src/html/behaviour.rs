//! The behaviour section: every pair of versions of a board on the same
//! sequences without migrating. A guest-visible difference between two
//! versions is shown before any migration verdict is read.

use super::group;
use crate::escape::escape_html as esc;
use crate::results::{BehaviourCell, Results};

/// The whole behaviour section (empty when the run had no such check).
pub(super) fn behaviour_section(results: &Results) -> String {
    if results.behaviour.is_empty() {
        return String::new();
    }
    let differing = results.behaviour.iter().filter(|c| c.differ > 0).count();
    let mut out = format!(
        "<section id=\"behaviour\" class=\"behaviour-section\">\n<h2>Behaves the same</h2>\n\
         <p>The same sequence on both versions of a board, without migrating: reads, \
         arrays and images compared. {} of {} pairs differ.</p>\n\
         <table class=\"behaviour\">\n<thead><tr><th>board</th><th>pair</th><th>scenario</th>\
         <th>sequences</th><th>differ</th><th>first difference</th></tr></thead>\n<tbody>\n",
        group(differing as u64),
        group(results.behaviour.len() as u64),
    );
    for cell in &results.behaviour {
        out.push_str(&row(cell));
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
    out
}

fn row(cell: &BehaviourCell) -> String {
    let class = if cell.differ > 0 { "differs" } else { "same" };
    let first = match &cell.first {
        None => "<span class=\"none\">—</span>".to_string(),
        Some(d) => {
            let ops: Vec<String> = d
                .ops
                .iter()
                .map(|o| format!("<li><code>{}</code></li>", esc(o)))
                .collect();
            format!(
                "seed {} · {} at <code>{}</code>: <code>{}</code> on {}, <code>{}</code> on {} \
                 (mode: {})<br><code class=\"reproduce\">{}</code>\
                 <details><summary>{} ops</summary><ol start=\"0\">{}</ol></details>",
                d.seed,
                esc(&d.what),
                esc(&d.at),
                esc(&d.a_value),
                esc(&cell.a),
                esc(&d.b_value),
                esc(&cell.b),
                esc(&d.mode),
                esc(&d.reproduce),
                d.ops.len(),
                ops.join("")
            )
        }
    };
    format!(
        "<tr class=\"{class}\"><td>{}</td><td>{} = {}</td><td>{}</td><td>{}</td><td>{}</td><td>{first}</td></tr>\n",
        esc(&cell.board),
        esc(&cell.a),
        esc(&cell.b),
        esc(&cell.scenario),
        group(cell.trials),
        group(cell.differ),
    )
}
