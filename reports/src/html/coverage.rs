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
    let mut types: Vec<&str> = Vec::new();
    for r in &results.coverage {
        if !types.contains(&r.device_type.as_str()) {
            types.push(&r.device_type);
        }
    }
    let rows: Vec<String> = types
        .iter()
        .map(|ty| {
            let of_type = || results.coverage.iter().filter(|r| r.device_type == *ty);
            let cycles = of_type().filter(|r| r.cycle).count();
            let reached = of_type().filter(|r| r.cycle && r.trials > 0).count();
            let states: Vec<String> = of_type()
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
                "<tr><td><code>{}</code></td><td>{reached}/{cycles}</td><td><ul class=\"states\">{}</ul></td></tr>\n",
                esc(ty),
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
