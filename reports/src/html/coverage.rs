//! Coverage: the device states trials migrated in, per device type — every
//! command-cycle state of the type, reached or not, and the variants seen
//! with a timer pending or an erase suspended.

use super::group;
use crate::escape::escape_html as esc;
use crate::results::Results;

/// The section id.
pub(super) const SECTION_ID: &str = "coverage";

/// The section (empty when the run recorded no coverage).
pub(super) fn coverage_section(results: &Results) -> String {
    if results.coverage.is_empty() {
        return String::new();
    }
    let rows: Vec<String> = crate::view::coverage_by_type(&results.coverage)
        .iter()
        .map(|t| {
            let states: Vec<String> = t
                .rows
                .iter()
                .map(|r| {
                    let class = match (r.cycle, r.trials) {
                        (true, 0) => "never",
                        (true, _) => "reached",
                        (false, _) => "variant",
                    };
                    format!(
                        "<li class=\"{class}\">{} <span class=\"n\">{}</span></li>",
                        esc(&r.state),
                        group(r.trials)
                    )
                })
                .collect();
            format!(
                "<tr><td><code>{}</code></td><td>{}/{}</td><td><ul class=\"states\">{}</ul></td></tr>\n",
                esc(t.device_type),
                t.cycles - t.never.len(),
                t.cycles,
                states.join("")
            )
        })
        .collect();
    format!(
        "<section id=\"{SECTION_ID}\" class=\"coverage-section\">\n<h2>Coverage at migration points</h2>\n\
         <p>The states the target devices were in when trials migrated (where the machine shows \
         them: models), in trials per state. A command-cycle state no trial migrated in is \
         marked never: the run did not test migrating there.</p>\n\
         <table class=\"behaviour\">\n<thead><tr><th>device type</th><th>cycle states reached</th>\
         <th>states (trials)</th></tr></thead>\n<tbody>\n{}</tbody>\n</table>\n</section>\n",
        rows.join("")
    )
}
