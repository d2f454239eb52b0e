//! The section on differences between releases: what the run saw between
//! versions of different releases, each difference either listed in the
//! reviewed known-differences file (with its cause) or not (which fails the
//! run). Shown first: a maintainer reads it before any verdict.

use super::group;
use crate::escape::escape_html as esc;
use crate::results::{CrossRelease, KnownDifference, ObservedDifference, Results};

/// The whole section (empty when no real build ran next to another release).
pub(super) fn cross_release_section(results: &Results) -> String {
    let Some(c) = &results.cross_release else {
        return String::new();
    };
    let mut out = format!(
        "<section id=\"cross-release\" class=\"cross-release\">\n<h2>Differences between releases</h2>\n\
         <p>Behaviour (the same sequence without migrating) and migration (each direction between \
         two real releases, against the source's own reference run). Every difference must be \
         listed in <code>{}</code> with its cause; {} not listed.</p>\n",
        esc(&c.file),
        if c.unlisted.is_empty() {
            "none is".to_string()
        } else {
            format!("<strong class=\"unlisted\">{} are</strong>", group(c.unlisted.len() as u64))
        }
    );
    out.push_str(&totals(c));
    for o in &c.unlisted {
        out.push_str(&observed_card(
            o,
            "unlisted",
            "NEW — not in the known-differences file",
        ));
    }
    for k in &c.known {
        out.push_str(&known_card(k));
    }
    out.push_str("</section>\n");
    out
}

fn totals(c: &CrossRelease) -> String {
    if c.totals.is_empty() {
        return "<p>No difference between releases in this run.</p>\n".into();
    }
    let rows: Vec<String> = c
        .totals
        .iter()
        .map(|t| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&t.kind),
                esc(&t.between),
                group(t.differences),
                group(t.known)
            )
        })
        .collect();
    format!(
        "<table class=\"cross-release-totals\"><thead><tr><th>kind</th><th>between</th>\
         <th>differences</th><th>known</th></tr></thead><tbody>{}</tbody></table>\n",
        rows.join("")
    )
}

fn ops_list(ops: &[String]) -> String {
    let items: Vec<String> = ops
        .iter()
        .map(|o| format!("<li><code>{}</code></li>", esc(o)))
        .collect();
    format!(
        "<details><summary>{} ops</summary><ol class=\"ops\">{}</ol></details>",
        ops.len(),
        items.join("")
    )
}

fn observed_card(o: &ObservedDifference, class: &str, title: &str) -> String {
    let sep = if o.kind == "behaviour" { "=" } else { "→" };
    format!(
        "<div class=\"difference {class}\"><p class=\"title\">{} · {} difference \
         <code>{}</code> {sep} <code>{}</code> on {} ({}, seed {}, {}×)</p>\
         <p>{}</p>{}{}<p>reproduce: <code class=\"reproduce\">{}</code></p></div>\n",
        esc(title),
        esc(&o.kind),
        esc(&o.a),
        esc(&o.b),
        esc(&o.board),
        esc(&o.scenario),
        o.seed,
        group(o.count),
        esc(&o.summary),
        if o.mode.is_empty() {
            String::new()
        } else {
            format!("<p>mode: {}</p>", esc(&o.mode))
        },
        ops_list(&o.ops),
        esc(&o.reproduce)
    )
}

fn known_card(k: &KnownDifference) -> String {
    let seen = if k.seen == 0 {
        "<span class=\"not-seen\">not seen in this run</span>".to_string()
    } else {
        format!("seen {}×", group(k.seen))
    };
    let example = k.example.as_ref().map_or(String::new(), |o| {
        format!(
            "<p>example: <code>{}</code> {} <code>{}</code> on {} ({}, seed {}): {}</p>{}\
             <p>this run's reproduction: <code class=\"reproduce\">{}</code></p>",
            esc(&o.a),
            if o.kind == "behaviour" { "=" } else { "→" },
            esc(&o.b),
            esc(&o.board),
            esc(&o.scenario),
            o.seed,
            esc(&o.summary),
            ops_list(&o.ops),
            esc(&o.reproduce)
        )
    });
    let boards = if k.boards.is_empty() {
        "every board".to_string()
    } else {
        k.boards.join(", ")
    };
    format!(
        "<div class=\"difference known\" id=\"known-{}\"><p class=\"title\">{} · {} · {} · {} · {}</p>\
         <p><b>First release:</b> {}</p><p><b>Cause:</b> {}</p><p><b>Evidence:</b> {}</p>\
         <p><b>Reproduce:</b> <code class=\"reproduce\">{}</code></p>{}</div>\n",
        esc(&k.id),
        esc(&k.id),
        esc(&k.kind),
        esc(&k.between),
        esc(&boards),
        seen,
        esc(&k.first_release),
        esc(&k.cause),
        esc(&k.evidence),
        esc(&k.reproduce),
        example
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::ReleasePairTotal;

    fn sample() -> Results {
        let o = ObservedDifference {
            kind: "behaviour".into(),
            board: "virt".into(),
            scenario: "cfi01-write-buffer".into(),
            a: "virt-qemu-10.0".into(),
            b: "virt-qemu-7.2".into(),
            a_release: "qemu-10.0".into(),
            b_release: "qemu-7.2".into(),
            seed: 1,
            count: 2,
            summary: "read at op 3: 0x0 vs 0x800080".into(),
            mode: String::new(),
            ops: vec![
                "0: dev0 write 0x0 w4 0xe8".into(),
                "1: dev0 read 0x0 w4".into(),
            ],
            reproduce: "cargo run --release -- compare".into(),
        };
        let known = |id: &str, seen: u64| KnownDifference {
            id: id.into(),
            kind: "behaviour".into(),
            between: "qemu-10.0 ↔ qemu-7.2".into(),
            cause: "pflash_write() <moved>".into(),
            seen,
            example: (seen > 0).then(|| o.clone()),
            ..KnownDifference::default()
        };
        Results {
            cross_release: Some(CrossRelease {
                file: "machines/known-differences.toml".into(),
                known: vec![known("seen-one", 2), known("unseen-one", 0)],
                unlisted: vec![ObservedDifference {
                    summary: "array at flash0 offset 0x10".into(),
                    ops: vec!["0: dev0 write 0x10 w4 0x40".into()],
                    ..o.clone()
                }],
                totals: vec![ReleasePairTotal {
                    kind: "behaviour".into(),
                    between: "qemu-10.0 ↔ qemu-7.2".into(),
                    differences: 2,
                    known: 1,
                }],
            }),
            ..Results::default()
        }
    }

    #[test]
    fn the_section_shows_known_unseen_and_unlisted_differences_escaped() {
        let html = cross_release_section(&sample());
        assert!(html.contains("<h2>Differences between releases</h2>"));
        assert!(html.contains("pflash_write() &lt;moved&gt;"), "{html}");
        assert!(!html.contains("<moved>"));
        assert!(html.contains("id=\"known-unseen-one\""));
        assert!(html.contains("not seen in this run"));
        assert!(html.contains("seen 2×"));
        assert!(html.contains("NEW — not in the known-differences file"));
        assert!(html.contains("<code>0: dev0 write 0x10 w4 0x40</code>"));
        assert_eq!(html.matches("class=\"difference unlisted\"").count(), 1);
    }

    #[test]
    fn no_section_without_real_builds() {
        assert_eq!(cross_release_section(&Results::default()), "");
    }
}
