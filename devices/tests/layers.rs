//! The modules of `devices/src` form layers (the crate doc in lib.rs lists
//! them): no module imports, directly or through others, a module that
//! imports it.
//!
//! A module imports another when its code names a path into it: `crate::x::…`,
//! `super::…` reaching it, or in lib.rs a bare `x::…`. Each top-level module
//! is one node of the graph, except the releases, whose modules (`v5::cfi01`,
//! `v6::parallel`, …) are nodes of their own; a release itself depends on all
//! of them, since naming `v5` reaches each. The crate root is a node too: the
//! items lib.rs defines count, its `mod` declarations and `pub use` re-exports
//! do not, and naming a re-exported item (`crate::FlashDevice`) counts as
//! naming the module it comes from. Comments, string and character literals
//! and test-only code (`#[cfg(test)]` items and the files of test modules)
//! are left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Modules whose submodules are nodes of their own.
const RELEASES: &[&str] = &["v5", "v6"];

/// The node of the crate root (lib.rs).
const ROOT: &str = "crate";

/// A module path from the crate root (`["v5", "cfi01", "read"]`).
type ModPath = Vec<String>;

/// One source file, reduced to the code the layering is about.
struct Source {
    /// Path shown in messages (`devices/src/v5/cfi01.rs`).
    shown: String,
    module: ModPath,
    /// The code with comments, literals and test-only items blanked out
    /// (same length and lines as the file).
    code: Vec<char>,
    /// Inline `mod name { … }` blocks: start, end and name.
    inline_mods: Vec<(usize, usize, String)>,
}

/// Where a dependency was seen: file, line and the path as written.
#[derive(Clone, Debug)]
struct Witness {
    file: String,
    line: usize,
    path: String,
}

type Graph = BTreeMap<String, BTreeMap<String, Witness>>;

#[test]
fn modules_of_devices_src_have_no_import_cycle() {
    let graph = import_graph(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    // The scan must see the layering at all, or an empty graph would pass.
    for (from, to) in [
        ("device", "vmstate"),
        ("v5::cfi01", "device"),
        ("v6::cfi01", "v5::cfi01"),
        ("catalogue", "v6::cfi02"),
        ("migration", "catalogue"),
    ] {
        assert!(
            graph.get(from).is_some_and(|e| e.contains_key(to)),
            "expected {from} to import {to}; the graph is:\n{}",
            describe(&graph)
        );
    }
    if let Some(cycle) = find_cycle(&graph) {
        let mut msg = format!("import cycle: {}\n", cycle.join(" -> "));
        for pair in cycle.windows(2) {
            let w = &graph[&pair[0]][&pair[1]];
            msg += &format!(
                "  {} -> {}: {}:{} names `{}`\n",
                pair[0], pair[1], w.file, w.line, w.path
            );
        }
        panic!("{msg}");
    }
}

/// Every edge of the graph, one a line, with where it was seen.
fn describe(graph: &Graph) -> String {
    let mut out = String::new();
    for (from, edges) in graph {
        for (to, w) in edges {
            out += &format!("  {from} -> {to} ({}:{})\n", w.file, w.line);
        }
    }
    out
}

/// A cycle as its nodes, the first repeated at the end, or `None`.
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &Graph,
        done: &mut BTreeSet<String>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_string());
        for next in graph.get(node).into_iter().flat_map(|e| e.keys()) {
            if let Some(cycle) = visit(next, graph, done, stack) {
                return Some(cycle);
            }
        }
        stack.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|n| visit(n, graph, &mut done, &mut Vec::new()))
}

/// The import graph of the crate whose sources are under `src`.
fn import_graph(src: &Path) -> Graph {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let mut sources = Vec::new();
    let mut test_modules: Vec<ModPath> = Vec::new();
    for path in &files {
        let rel = path.strip_prefix(src).expect("under src");
        let module = module_path(rel);
        let text = std::fs::read_to_string(path).expect("readable source");
        let mut code = code_only(&text);
        for name in blank_test_items(&mut code) {
            let mut m = module.clone();
            m.push(name);
            test_modules.push(m);
        }
        let inline_mods = inline_modules(&code);
        sources.push(Source {
            shown: format!("devices/src/{}", rel.display()),
            module,
            code,
            inline_mods,
        });
    }
    sources.retain(|s| !test_modules.iter().any(|t| s.module.starts_with(t)));
    let modules: BTreeSet<ModPath> = sources.iter().map(|s| s.module.clone()).collect();
    let root = sources
        .iter()
        .find(|s| s.module.is_empty())
        .expect("lib.rs");
    let reexports = root_reexports(root, &modules);

    let mut graph = Graph::new();
    for s in &sources {
        let from = node_of(&s.module, &modules);
        graph.entry(from.clone()).or_default();
        for (at, path) in references(s, &modules, &reexports) {
            let to = target(&path, &modules, &reexports);
            if to != from {
                let line = line_of(&s.code, at);
                graph
                    .entry(from.clone())
                    .or_default()
                    .entry(to)
                    .or_insert(Witness {
                        file: s.shown.clone(),
                        line,
                        path: path.join("::"),
                    });
            }
        }
    }
    // A release depends on each of its modules: naming `v5` reaches them all.
    for release in sources.iter().filter(|s| is_release(&s.module)) {
        for (start, end) in statements(&release.code, "mod") {
            let mut cur = Cursor {
                code: &release.code[..end],
                at: start + "mod".len(),
            };
            let Some(name) = cur.ident() else { continue };
            let mut child = release.module.clone();
            child.push(name);
            let line = line_of(&release.code, start);
            graph
                .entry(node_of(&release.module, &modules))
                .or_default()
                .insert(
                    node_of(&child, &modules),
                    Witness {
                        file: release.shown.clone(),
                        line,
                        path: child.join("::"),
                    },
                );
        }
    }
    graph
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable directory") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// True for a release's own module (`v5`), whose modules are nodes.
fn is_release(module: &[String]) -> bool {
    module.len() == 1 && RELEASES.contains(&module[0].as_str())
}

/// The module of a file: `lib.rs` is the root, `x/mod.rs` and `x.rs` are `x`.
fn module_path(rel: &Path) -> ModPath {
    let mut parts: ModPath = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") || parts == ["lib"] {
        parts.pop();
    }
    parts
}

/// The graph node of a module or item path.
fn node_of(path: &[String], modules: &BTreeSet<ModPath>) -> String {
    match path {
        [] => ROOT.to_string(),
        [release, m, ..]
            if RELEASES.contains(&release.as_str())
                && modules.contains(&vec![release.clone(), m.clone()]) =>
        {
            format!("{release}::{m}")
        }
        [first, ..] if modules.contains(&vec![first.clone()]) => first.clone(),
        _ => ROOT.to_string(),
    }
}

/// The node a path reaches: its module's or, for an item lib.rs re-exports,
/// the node of the module it comes from.
fn target(
    path: &[String],
    modules: &BTreeSet<ModPath>,
    reexports: &BTreeMap<String, String>,
) -> String {
    match path.first().and_then(|first| reexports.get(first)) {
        Some(node) if !modules.contains(&path[..1]) => node.clone(),
        _ => node_of(path, modules),
    }
}

/// The items lib.rs re-exports (`pub use`), by name, with the node each comes from.
fn root_reexports(root: &Source, modules: &BTreeSet<ModPath>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (start, end) in statements(&root.code, "pub use") {
        let mut cur = Cursor {
            code: &root.code[..end],
            at: start + "pub use".len(),
        };
        for path in cur.path_tree() {
            if let Some(name) = path.last() {
                out.insert(name.clone(), node_of(&path, modules));
            }
        }
    }
    out
}

/// Start and end (after the `;`) of each statement that begins with `keyword`.
fn statements(code: &[char], keyword: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(start) = find_word(code, keyword, i) {
        let end = (start..code.len())
            .find(|&j| code[j] == ';')
            .map_or(code.len(), |j| j + 1);
        out.push((start, end));
        i = end;
    }
    out
}

/// Every path the file names into the crate, resolved from the crate root,
/// with its position.
fn references(
    s: &Source,
    modules: &BTreeSet<ModPath>,
    reexports: &BTreeMap<String, String>,
) -> Vec<(usize, ModPath)> {
    let is_root = s.module.is_empty();
    let mut code = s.code.clone();
    if is_root {
        // Declarations and re-exports are how lib.rs lays the layers out.
        for keyword in ["pub use", "pub mod", "mod"] {
            for (start, end) in statements(&code, keyword) {
                blank(&mut code, start, end);
            }
        }
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < code.len() {
        let starts_token = i == 0 || !(is_ident(code[i - 1]) || code[i - 1] == ':');
        if !starts_token || !is_ident(code[i]) {
            i += 1;
            continue;
        }
        let word_end = (i..code.len())
            .find(|&j| !is_ident(code[j]))
            .unwrap_or(code.len());
        let word: String = code[i..word_end].iter().collect();
        let followed_by_path = next_non_space(&code, word_end)
            .is_some_and(|j| code[j] == ':' && code.get(j + 1) == Some(&':'));
        let top_level_module = modules.contains(&vec![word.clone()]);
        let names_path = word == "crate" || word == "super" || (is_root && top_level_module);
        if names_path && followed_by_path {
            let mut cur = Cursor { code: &code, at: i };
            let base = module_at(s, i);
            for rel in cur.path_tree() {
                out.push((i, resolve(&base, &rel)));
            }
            i = cur.at.max(i + 1);
            continue;
        }
        if is_root && reexports.contains_key(&word) {
            out.push((i, vec![word]));
        }
        i = word_end;
    }
    out
}

/// The module at position `at` of a file: its own, or an inline module's.
fn module_at(s: &Source, at: usize) -> ModPath {
    let mut m = s.module.clone();
    for (start, end, name) in &s.inline_mods {
        if *start < at && at < *end {
            m.push(name.clone());
        }
    }
    m
}

/// A path as written (`crate::a::b`, `super::super::x`) made absolute.
fn resolve(base: &[String], rel: &[String]) -> ModPath {
    let mut out = base.to_vec();
    let mut segments = rel.iter().peekable();
    if segments.peek().is_some_and(|s| *s == "crate") {
        out.clear();
        segments.next();
    } else if segments
        .peek()
        .is_some_and(|s| *s != "super" && *s != "self")
    {
        // A bare path in lib.rs starts at the root.
        out.clear();
    }
    for seg in segments {
        match seg.as_str() {
            "super" => {
                out.pop();
            }
            "self" | "*" => {}
            _ => out.push(seg.clone()),
        }
    }
    out
}

/// Reads paths and `use` trees.
struct Cursor<'a> {
    code: &'a [char],
    at: usize,
}

impl Cursor<'_> {
    fn skip_space(&mut self) {
        while self.at < self.code.len() && self.code[self.at].is_whitespace() {
            self.at += 1;
        }
    }

    fn eat(&mut self, s: &str) -> bool {
        self.skip_space();
        let s: Vec<char> = s.chars().collect();
        let whole_word = !is_ident(s[0])
            || self
                .code
                .get(self.at + s.len())
                .is_none_or(|&c| !is_ident(c));
        if self.code[self.at..].starts_with(&s) && whole_word {
            self.at += s.len();
            true
        } else {
            false
        }
    }

    fn ident(&mut self) -> Option<String> {
        self.skip_space();
        if self.eat("*") {
            return Some("*".to_string());
        }
        let start = self.at;
        while self.at < self.code.len() && is_ident(self.code[self.at]) {
            self.at += 1;
        }
        (self.at > start).then(|| self.code[start..self.at].iter().collect())
    }

    /// The paths of a tree such as `a::b::{c, d::{e, f as g}, self}`.
    fn path_tree(&mut self) -> Vec<ModPath> {
        let mut prefix = ModPath::new();
        loop {
            if self.eat("{") {
                let mut out = Vec::new();
                loop {
                    if self.eat("}") {
                        return out;
                    }
                    for tail in self.path_tree() {
                        let mut p = prefix.clone();
                        p.extend(tail);
                        out.push(p);
                    }
                    if !self.eat(",") {
                        self.eat("}");
                        return out;
                    }
                }
            }
            match self.ident() {
                Some(seg) => prefix.push(seg),
                None => return vec![prefix],
            }
            if !self.eat("::") {
                if self.eat("as") {
                    self.ident();
                }
                return vec![prefix];
            }
        }
    }
}

/// `src` with comments, string literals and character literals replaced by
/// spaces (newlines kept, so positions and lines still match the file).
fn code_only(src: &str) -> Vec<char> {
    let c: Vec<char> = src.chars().collect();
    let mut out = c.clone();
    let mut i = 0;
    while i < c.len() {
        let prev_ident = i > 0 && is_ident(c[i - 1]);
        if c[i] == '/' && c.get(i + 1) == Some(&'/') {
            let end = (i..c.len()).find(|&j| c[j] == '\n').unwrap_or(c.len());
            blank(&mut out, i, end);
            i = end;
        } else if c[i] == '/' && c.get(i + 1) == Some(&'*') {
            let (mut depth, mut j) = (1, i + 2);
            while j < c.len() && depth > 0 {
                if c[j] == '/' && c.get(j + 1) == Some(&'*') {
                    depth += 1;
                    j += 2;
                } else if c[j] == '*' && c.get(j + 1) == Some(&'/') {
                    depth -= 1;
                    j += 2;
                } else {
                    j += 1;
                }
            }
            blank(&mut out, i, j);
            i = j;
        } else if !prev_ident && (c[i] == 'r' || (c[i] == 'b' && c.get(i + 1) == Some(&'r'))) {
            // A raw string `r#"…"#` (or `br…`), else an identifier.
            let r = if c[i] == 'b' { i + 1 } else { i };
            let hashes = (r + 1..c.len()).take_while(|&j| c[j] == '#').count();
            if c.get(r + 1 + hashes) == Some(&'"') {
                let close: Vec<char> = std::iter::once('"')
                    .chain(std::iter::repeat_n('#', hashes))
                    .collect();
                let body = r + 2 + hashes;
                let end = (body..c.len())
                    .find(|&j| c[j..].starts_with(&close))
                    .map_or(c.len(), |j| j + close.len());
                blank(&mut out, i, end);
                i = end;
            } else {
                i += 1;
            }
        } else if c[i] == '"' {
            let mut j = i + 1;
            while j < c.len() && c[j] != '"' {
                j += if c[j] == '\\' { 2 } else { 1 };
            }
            blank(&mut out, i, (j + 1).min(c.len()));
            i = j + 1;
        } else if c[i] == '\'' {
            // A character literal ('a', '\n', '\u{7f}'), else a lifetime.
            let end = if c.get(i + 1) == Some(&'\\') {
                (i + 2..c.len()).find(|&j| c[j] == '\'').map(|j| j + 1)
            } else if c.get(i + 2) == Some(&'\'') {
                Some(i + 3)
            } else {
                None
            };
            match end {
                Some(end) => {
                    blank(&mut out, i, end);
                    i = end;
                }
                None => i += 1,
            }
        } else {
            i += 1;
        }
    }
    out
}

/// Blanks each `#[cfg(test)]` item; returns the names of the test modules
/// declared as `mod name;` (their files are left out).
fn blank_test_items(code: &mut [char]) -> Vec<String> {
    let mut names = Vec::new();
    while let Some(start) = find(code, "#[cfg(test)]", 0) {
        let mut j = start + "#[cfg(test)]".len();
        // Further attributes of the same item.
        loop {
            while j < code.len() && code[j].is_whitespace() {
                j += 1;
            }
            if code.get(j) == Some(&'#') {
                j = (j..code.len())
                    .find(|&k| code[k] == ']')
                    .map_or(code.len(), |k| k + 1);
            } else {
                break;
            }
        }
        let stop = (j..code.len())
            .find(|&k| code[k] == ';' || code[k] == '{')
            .unwrap_or(code.len());
        let head: String = code[j..stop].iter().collect();
        let end = if code.get(stop) == Some(&'{') {
            matching_brace(code, stop)
        } else {
            let words: Vec<&str> = head.split_whitespace().collect();
            if let Some(at) = words.iter().position(|w| *w == "mod") {
                if let Some(name) = words.get(at + 1) {
                    names.push(name.to_string());
                }
            }
            (stop + 1).min(code.len())
        };
        blank(code, start, end);
    }
    names
}

/// Inline `mod name { … }` blocks of a file (test modules already blanked).
fn inline_modules(code: &[char]) -> Vec<(usize, usize, String)> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(at) = find_word(code, "mod", i) {
        i = at + 3;
        let mut cur = Cursor { code, at: at + 3 };
        let Some(name) = cur.ident() else { continue };
        if cur.eat("{") {
            out.push((at, matching_brace(code, cur.at - 1), name));
        }
    }
    out
}

/// The position after the `}` that closes the `{` at `open`.
fn matching_brace(code: &[char], open: usize) -> usize {
    let mut depth = 0usize;
    for (k, &ch) in code.iter().enumerate().skip(open) {
        match ch {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return k + 1;
                }
            }
            _ => {}
        }
    }
    code.len()
}

fn find(code: &[char], needle: &str, from: usize) -> Option<usize> {
    let n: Vec<char> = needle.chars().collect();
    (from..code.len()).find(|&i| code[i..].starts_with(&n))
}

/// Like [`find`], for `word` standing alone (not inside an identifier).
fn find_word(code: &[char], word: &str, from: usize) -> Option<usize> {
    let len = word.chars().count();
    let mut i = from;
    while let Some(at) = find(code, word, i) {
        let before = at > 0 && is_ident(code[at - 1]);
        let after = code.get(at + len).is_some_and(|&c| is_ident(c));
        if !before && !after {
            return Some(at);
        }
        i = at + 1;
    }
    None
}

fn next_non_space(code: &[char], from: usize) -> Option<usize> {
    (from..code.len()).find(|&j| !code[j].is_whitespace())
}

/// The 1-based line of position `at`.
fn line_of(code: &[char], at: usize) -> usize {
    1 + code[..at].iter().filter(|&&c| c == '\n').count()
}

fn blank(code: &mut [char], from: usize, to: usize) {
    for ch in &mut code[from..to] {
        if *ch != '\n' {
            *ch = ' ';
        }
    }
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}
