//! HTML escaping and anchor ids: everything that comes from results data goes
//! through here before it reaches the page.

/// Escapes text for use in HTML element content and in quoted attribute values.
///
/// ```
/// assert_eq!(reports::escape_html("<a href='x'>&</a>"), "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;");
/// ```
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // NUL is a parse error in HTML; show the replacement character instead.
            '\0' => out.push('\u{FFFD}'),
            _ => out.push(c),
        }
    }
    out
}

/// Longest slug kept in an anchor id; the index prefix keeps ids unique anyway.
const MAX_SLUG_LEN: usize = 48;

/// Reduces arbitrary text to `[a-z0-9-]`, for readable anchor ids.
pub(crate) fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars().flat_map(char::to_lowercase) {
        if out.len() >= MAX_SLUG_LEN {
            break;
        }
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    out
}

/// An id that is unique (by `index`), safe in `id` and `href="#…"`, and readable.
pub(crate) fn anchor(prefix: &str, index: usize, parts: &[String]) -> String {
    let slug = slug(&parts.join(" "));
    if slug.is_empty() {
        format!("{prefix}-{index}")
    } else {
        format!("{prefix}-{index}-{slug}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_escape_html_escapes_markup_and_quotes() {
        assert_eq!(
            escape_html(r#"<script>alert("x&y")</script>'"#),
            "&lt;script&gt;alert(&quot;x&amp;y&quot;)&lt;/script&gt;&#39;"
        );
        assert_eq!(escape_html("v6-compat5 → v5"), "v6-compat5 → v5");
        assert_eq!(escape_html("a\0b"), "a\u{FFFD}b");
    }

    #[test]
    fn test_slug_keeps_only_safe_characters() {
        assert_eq!(slug("v6-compat5"), "v6-compat5");
        assert_eq!(slug("<script>alert(1)</script>"), "script-alert-1-script");
        assert_eq!(slug("Ünïcode ☠ name"), "n-code-name");
        assert_eq!(slug("☠☠"), "");
        assert!(slug(&"x".repeat(500)).len() <= MAX_SLUG_LEN);
    }

    #[test]
    fn test_anchor_is_unique_by_index_and_safe() {
        let parts = ["v5".to_string(), "<v6>".to_string()];
        assert_eq!(anchor("cell", 3, &parts), "cell-3-v5-v6");
        assert_eq!(anchor("cell", 4, &["☠".to_string()]), "cell-4");
        assert_ne!(anchor("cell", 1, &parts), anchor("cell", 2, &parts));
    }
}
