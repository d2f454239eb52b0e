//! The section on differences between releases: what the run saw between
//! versions of a board from different releases, each difference either
//! listed in the reviewed known-differences file (with its cause) or not
//! (which fails the run). Shown first: it is read before any verdict.

use super::group;
use crate::escape::{anchor, escape_html as esc};
use crate::results::{CrossRelease, KnownDifference, ObservedDifference, Results};
use crate::view::{self, plural};

/// Id of the section, for the navigation and the header's verdict.
pub(super) const SECTION_ID: &str = "cross-release";

/// The whole section (empty when the run had no version of a real release
/// next to another release).
pub(super) fn cross_release_section(results: &Results) -> String {
    let Some(c) = &results.cross_release else {
        return String::new();
    };
    let mut out = format!(
        "<section id=\"{SECTION_ID}\" class=\"cross-release-section\">\n\
         <h2>Differences between releases{count}</h2>\n\
         <p class=\"lead\">Versions of a board from different releases, run on the same \
         sequences without migrating (behaviour) and migrated each way between real releases \
         (migration). Every difference must be listed with its cause in <code>{file}</code>; \
         one it does not list fails the run.</p>\n",
        count = if c.unlisted.is_empty() {
            String::new()
        } else {
            format!(
                " <span class=\"count new\">{} new</span>",
                group(c.unlisted.len() as u64)
            )
        },
        file = esc(&c.file),
    );
    out.push_str(&totals_table(c));
    out.push_str(&unlisted_block(c));
    out.push_str(&known_block(c));
    out.push_str("</section>\n");
    out
}

/// The header's line on unlisted differences (empty when there are none).
pub(super) fn unlisted_verdict(results: &Results) -> String {
    let Some(c) = results
        .cross_release
        .as_ref()
        .filter(|c| !c.unlisted.is_empty())
    else {
        return String::new();
    };
    let n = c.unlisted.len() as u64;
    format!(
        "<p class=\"verdict bad\"><span class=\"sym\">!</span> <a href=\"#{SECTION_ID}\">{} {} \
         between releases</a> not listed in <code>{}</code>.</p>\n",
        group(n),
        plural(n, "difference", "differences"),
        esc(&c.file)
    )
}

/// Differences per pair of releases and kind, with how many are known.
fn totals_table(c: &CrossRelease) -> String {
    if c.totals.is_empty() {
        return "<p class=\"empty-note\">No difference between releases in this run.</p>\n"
            .to_string();
    }
    let mut out = String::from(
        "<table class=\"data release-totals\">\n<thead><tr><th>kind</th><th>between</th>\
         <th class=\"num\">differences</th><th class=\"num\">known</th><th class=\"num\">new</th>\
         </tr></thead>\n<tbody>\n",
    );
    for t in &c.totals {
        let new = t.differences.saturating_sub(t.known);
        let (class, new) = if new == 0 {
            ("", "<span class=\"none\">0</span>".to_string())
        } else {
            (
                " class=\"has-new\"",
                format!("{}<b class=\"mark\">!</b>", group(new)),
            )
        };
        out.push_str(&format!(
            "<tr{class}><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num new\">{new}</td></tr>\n",
            esc(&t.kind),
            esc(&t.between),
            group(t.differences),
            group(t.known),
        ));
    }
    out.push_str("</tbody>\n</table>\n");
    out
}

/// The differences no entry lists, marked as failures.
fn unlisted_block(c: &CrossRelease) -> String {
    if c.unlisted.is_empty() {
        if c.totals.is_empty() {
            return String::new();
        }
        return format!(
            "<p class=\"all-listed\"><span class=\"sym\">✓</span> Every difference seen is listed \
             in <code>{}</code>.</p>\n",
            esc(&c.file)
        );
    }
    let n = c.unlisted.len() as u64;
    let mut out = format!(
        "<div class=\"unlisted-differences\">\n<h3><span class=\"tag unexpected-tag\">! new</span> \
         {} {} not listed</h3>\n<p>Each fails the run. Find its cause, then add it to \
         <code>{}</code>.</p>\n",
        group(n),
        plural(n, "difference", "differences"),
        esc(&c.file)
    );
    for (index, o) in c.unlisted.iter().enumerate() {
        out.push_str(&format!(
            "<article class=\"difference new\" id=\"{}\">\n<h4><span class=\"tag kind\">{}</span> \
             <code>{}</code> <span class=\"meta\">on {} · {} · seed {} · {}×</span></h4>\n{}\
             </article>\n",
            anchor(
                "new",
                index,
                &[o.a.clone(), o.b.clone(), o.scenario.clone()]
            ),
            esc(&o.kind),
            esc(&view::difference_pair(o, "→")),
            esc(&o.board),
            esc(&o.scenario),
            o.seed,
            group(o.count),
            observation(o, true, true),
        ));
    }
    out.push_str("</div>\n");
    out
}

/// One card per entry of the file, seen in this run or not.
fn known_block(c: &CrossRelease) -> String {
    if c.known.is_empty() {
        return format!(
            "<p class=\"empty-note\"><code>{}</code> lists no difference.</p>\n",
            esc(&c.file)
        );
    }
    let mut out = format!(
        "<h3 class=\"known-title\">Known differences <span class=\"count\">{}</span></h3>\n\
         <div class=\"known-differences\">\n",
        group(c.known.len() as u64)
    );
    for (index, k) in c.known.iter().enumerate() {
        out.push_str(&known_card(index, k));
    }
    out.push_str("</div>\n");
    out
}

/// An entry: what it is, why, how to see it, and what this run saw of it.
fn known_card(index: usize, k: &KnownDifference) -> String {
    let (class, seen) = if k.seen == 0 {
        (
            " not-seen",
            "<span class=\"tag not-seen-tag\">not seen in this run</span>".to_string(),
        )
    } else {
        (
            "",
            format!(
                "<span class=\"tag seen-tag\">seen {}×</span>",
                group(k.seen)
            ),
        )
    };
    let boards = if k.boards.is_empty() {
        "every board".to_string()
    } else {
        let boards: Vec<String> = k.boards.iter().map(|b| esc(b)).collect();
        boards.join(", ")
    };
    let example = match &k.example {
        None => String::new(),
        Some(o) => format!(
            "<div class=\"example\"><span class=\"label\">In this run</span>\
             <p class=\"where\"><code>{}</code> on {} · {} · seed {}</p>\n{}</div>\n",
            esc(&view::difference_pair(o, "→")),
            esc(&o.board),
            esc(&o.scenario),
            o.seed,
            // The entry's own command is shown above; repeat only another one.
            observation(o, false, o.reproduce != k.reproduce),
        ),
    };
    format!(
        "<article class=\"difference known{class}\" id=\"{id}\">\n<h4><code class=\"id\">{name}</code> \
         <span class=\"tag kind\">{kind}</span> <span class=\"meta\">{between}</span> {seen}</h4>\n\
         <dl class=\"facts-grid\"><dt>boards</dt><dd>{boards}</dd>\
         <dt>first release</dt><dd>{first}</dd><dt>cause</dt><dd class=\"prose\">{cause}</dd>\
         <dt>evidence</dt><dd class=\"prose\">{evidence}</dd></dl>\n{reproduce}{example}</article>\n",
        id = anchor("known", index, std::slice::from_ref(&k.id)),
        name = esc(&k.id),
        kind = esc(&k.kind),
        between = esc(&k.between),
        first = esc(&k.first_release),
        cause = esc(&k.cause),
        evidence = esc(&k.evidence),
        reproduce = reproduce(&k.reproduce),
    )
}

/// What differs, the mode there, the ops (folded unless `ops_open`) and,
/// if `with_reproduce`, the command that shows it again.
fn observation(o: &ObservedDifference, ops_open: bool, with_reproduce: bool) -> String {
    let mode = if o.mode.is_empty() {
        String::new()
    } else {
        format!(
            "<p class=\"mode\">mode: <code>{}</code></p>\n",
            esc(&o.mode)
        )
    };
    let ops: Vec<String> = o.ops.iter().map(|op| esc(op)).collect();
    format!(
        "<p class=\"summary\">{summary}</p>\n{mode}<details class=\"ops\"{open}><summary>{n} {ops_word}\
         </summary><pre class=\"op-list\">{ops}</pre></details>\n{reproduce}",
        summary = esc(&o.summary),
        open = if ops_open { " open" } else { "" },
        n = o.ops.len(),
        ops_word = plural(o.ops.len() as u64, "op", "ops"),
        ops = ops.join("\n"),
        reproduce = if with_reproduce {
            reproduce(&o.reproduce)
        } else {
            String::new()
        },
    )
}

/// A one-line command, selectable with one click.
fn reproduce(command: &str) -> String {
    format!(
        "<div class=\"repro\"><span class=\"label\">Reproduce</span>\
         <pre class=\"command\"><code>{}</code></pre></div>\n",
        esc(command)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::samples::{self, KNOWN_FILE};

    fn results() -> Results {
        Results {
            cross_release: Some(samples::cross_release()),
            ..Results::default()
        }
    }

    /// The `<article>` whose id starts with `id`.
    fn article<'a>(html: &'a str, id: &str) -> &'a str {
        let start = html
            .find(&format!("id=\"{id}"))
            .unwrap_or_else(|| panic!("no {id} in {html}"));
        let end = start + html[start..].find("</article>").expect("closed");
        &html[start..end]
    }

    #[test]
    fn test_cross_release_section_names_the_file_and_the_totals() {
        let html = cross_release_section(&results());
        assert!(html.starts_with("<section id=\"cross-release\""), "{html}");
        assert!(html.contains(
            "<h2>Differences between releases <span class=\"count new\">1 new</span></h2>"
        ));
        assert!(html.contains(&format!("<code>{KNOWN_FILE}</code>")));
        assert!(
            html.contains(
                "<tr><td>behaviour</td><td>qemu-10.0 ↔ qemu-7.2</td><td class=\"num\">1</td>\
                 <td class=\"num\">1</td>"
            ),
            "{html}"
        );
        assert!(
            html.contains(
                "<tr class=\"has-new\"><td>migration</td><td>qemu-7.2 → qemu-10.0</td>\
                 <td class=\"num\">1</td><td class=\"num\">0</td>\
                 <td class=\"num new\">1<b class=\"mark\">!</b></td></tr>"
            ),
            "{html}"
        );
    }

    #[test]
    fn test_cross_release_section_escapes_the_cause() {
        let html = cross_release_section(&results());
        assert!(
            html.contains("only if counter &lt;&gt; 0</dd>"),
            "cause escaped: {html}"
        );
        assert!(!html.contains("counter <> 0"));
    }

    #[test]
    fn test_cross_release_section_marks_a_known_difference_not_seen() {
        let html = cross_release_section(&results());
        let unseen = article(&html, "known-1-");
        assert!(
            html.contains("class=\"difference known not-seen\" id=\"known-1-"),
            "{html}"
        );
        assert!(unseen.contains("not seen in this run"), "{unseen}");
        assert!(unseen.contains("every board"), "{unseen}");
        let seen = article(&html, "known-0-");
        assert!(!seen.contains("not seen"), "{seen}");
        assert!(seen.contains("seen 2×"), "{seen}");
        assert!(
            seen.contains("<pre class=\"op-list\">dev0 write 0x80184 w4 0xe8\n"),
            "the example's ops: {seen}"
        );
        assert!(
            seen.contains("read at op 3: 0x900090 vs 0x800080"),
            "{seen}"
        );
        assert!(seen.contains("<dd>upstream after May 2024</dd>"), "{seen}");
        assert_eq!(
            seen.matches("<pre class=\"command\">").count(),
            1,
            "the example's command is the entry's: {seen}"
        );
    }

    #[test]
    fn test_cross_release_section_lists_the_unlisted_difference_and_its_ops() {
        let html = cross_release_section(&results());
        let block_start = html
            .find("<div class=\"unlisted-differences\">")
            .expect("block");
        let new = article(&html[block_start..], "new-0-");
        assert!(
            new.contains("<code>virt-qemu-7.2 → virt-qemu-10.0</code>"),
            "{new}"
        );
        assert!(new.contains("on virt · cfi01-modes · seed 7 · 1×"), "{new}");
        assert!(
            new.contains(
                "<details class=\"ops\" open><summary>3 ops</summary><pre class=\"op-list\">\
                 0: dev0 write 0x0 w4 0x700070\n1: migrate\n2: dev0 read 0x0 w4</pre>"
            ),
            "{new}"
        );
        assert!(
            new.contains(
                "<pre class=\"command\"><code>cargo run --release -- trial --scenario cfi01-modes \
                 --seed 7 --chain virt-qemu-7.2,virt-qemu-10.0</code></pre>"
            ),
            "{new}"
        );
        assert!(
            html.find("unlisted-differences") < html.find("Known differences"),
            "new differences before known ones"
        );
    }

    #[test]
    fn test_cross_release_section_when_nothing_differs() {
        let mut c = samples::cross_release();
        c.totals.clear();
        c.unlisted.clear();
        let html = cross_release_section(&Results {
            cross_release: Some(c),
            ..Results::default()
        });
        assert!(html.contains("No difference between releases in this run."));
        assert!(!html.contains("unlisted-differences"));
        assert!(!html.contains("count new"));
        assert_eq!(cross_release_section(&Results::default()), "");
        assert_eq!(unlisted_verdict(&Results::default()), "");
    }

    #[test]
    fn test_render_html_shows_differences_between_releases_first() {
        let mut results = results();
        results.behaviour = vec![crate::results::BehaviourCell::default()];
        let html = super::super::render_html(&results);
        let section = html.find("<section id=\"cross-release\"").expect(&html);
        let behaviour = html.find("<section id=\"behaviour\"").expect(&html);
        let matrix = html.find("<section id=\"matrix\"").expect(&html);
        assert!(section < behaviour && behaviour < matrix);
        assert!(html.contains("<a href=\"#cross-release\">Releases"), "nav");
        assert!(
            html.contains(
                "<a href=\"#cross-release\">1 difference between releases</a> not listed in"
            ),
            "header verdict"
        );
    }
}
