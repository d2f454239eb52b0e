//! The run section: what was run, where, how fast.

use super::group;
use crate::escape::escape_html as esc;
use crate::results::Results;

/// The whole run section.
pub(super) fn run_section(results: &Results) -> String {
    let run = &results.run;
    let text = |s: &str| {
        if s.is_empty() {
            "<span class=\"none\">unknown</span>".to_string()
        } else {
            esc(s)
        }
    };
    let code = |s: &str| {
        if s.is_empty() {
            "<span class=\"none\">unknown</span>".to_string()
        } else {
            format!("<code>{}</code>", esc(s))
        }
    };
    let scenarios = if run.scenarios.is_empty() {
        "<span class=\"none\">none</span>".to_string()
    } else {
        let items: Vec<String> = run
            .scenarios
            .iter()
            .map(|s| format!("<li><code>{}</code></li>", esc(s)))
            .collect();
        format!("<ul class=\"chips\">{}</ul>", items.join(""))
    };
    let mut rows = vec![
        ("kind", text(&run.kind)),
        ("started", text(&super::readable_time(&run.started))),
        ("duration", duration(run.duration_s)),
        ("seeds", code(&run.seeds)),
        ("trials", group(run.trials)),
        ("ops", group(run.ops)),
        ("trials / s", rate(run.trials_per_s)),
        ("ops / s", rate(run.ops_per_s)),
        ("host", text(&run.host)),
        ("git revision", code(&run.git_revision)),
        ("norcompat", code(&run.norcompat_version)),
        ("results format", code(&results.format)),
    ];
    if !run.shards.is_empty() {
        let items: Vec<String> = run
            .shards
            .iter()
            .map(|s| format!("<li><code>{}</code></li>", esc(s)))
            .collect();
        rows.push((
            "merged shards",
            format!("<ul class=\"chips\">{}</ul>", items.join("")),
        ));
    }
    let mut out = String::from(
        "<section id=\"run\" class=\"run-section\">\n<h2>Run</h2>\n<dl class=\"run-grid\">\n",
    );
    for (key, value) in rows {
        out.push_str(&format!("<div><dt>{key}</dt><dd>{value}</dd></div>\n"));
    }
    out.push_str(&format!(
        "<div class=\"wide\"><dt>scenarios <span class=\"count\">{}</span></dt><dd>{scenarios}</dd></div>\n",
        run.scenarios.len()
    ));
    out.push_str("</dl>\n</section>\n");
    out
}

/// `12.4 s`, `3 min 05 s`, `2 h 01 min`.
fn duration(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return "<span class=\"none\">unknown</span>".to_string();
    }
    if seconds < 60.0 {
        return format!("{seconds:.1} s");
    }
    let whole = seconds.round() as u64;
    let (h, m, s) = (whole / 3600, whole / 60 % 60, whole % 60);
    if h > 0 {
        format!("{h} h {m:02} min")
    } else {
        format!("{m} min {s:02} s")
    }
}

/// A rate with one decimal below 100, whole and grouped above.
fn rate(per_second: f64) -> String {
    if !per_second.is_finite() || per_second < 0.0 {
        "<span class=\"none\">unknown</span>".to_string()
    } else if per_second < 100.0 {
        format!("{per_second:.1}")
    } else {
        group(per_second.round() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_duration_and_rate_formats() {
        assert_eq!(duration(12.41), "12.4 s");
        assert_eq!(duration(185.0), "3 min 05 s");
        assert_eq!(duration(7260.0), "2 h 01 min");
        assert!(duration(f64::NAN).contains("unknown"));
        assert_eq!(rate(28.36), "28.4");
        assert_eq!(rate(5789.2), "5\u{202F}789");
    }
}
