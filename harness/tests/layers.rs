//! The architecture as a test: the modules of `harness` and `reports` do not
//! import each other in a cycle, and the harness's stages import only the
//! stages before them (definitions → generation → running → judging →
//! minimizing → results → soak → commands, with the `qemu` driver below
//! them all). `devices/tests/layers.rs` checks the device crate's layers.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The harness's stage folders, in pipeline order.
const STAGES: &[&str] = &[
    "qemu",
    "definitions",
    "generation",
    "running",
    "judging",
    "minimizing",
    "results",
    "soak",
    "commands",
];

/// Module path → the module paths its non-test code names (`crate::a::b`,
/// `super::x`), resolved to modules of the crate.
type Graph = BTreeMap<String, BTreeSet<String>>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            // Test-only folders (`tests/` beside a module) do not count.
            if p.file_name().is_some_and(|n| n != "tests") {
                rust_files(&p, out);
            }
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `a/b/mod.rs` and `a/b.rs` are `a::b`; `lib.rs` is the crate root `""`.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("under src");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().expect("a file name");
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" && stem != "main" {
        parts.push(stem.to_string());
    }
    parts.join("::")
}

/// The code outside `#[cfg(test)]` modules (they sit at the end of a file).
fn non_test_code(text: &str) -> &str {
    match text.find("#[cfg(test)]") {
        Some(i) => &text[..i],
        None => text,
    }
}

/// Every path `prefix` starts in `code`, as its identifier segments.
fn paths_after<'a>(code: &'a str, prefix: &str) -> Vec<Vec<&'a str>> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find(prefix) {
        let before = rest[..i].chars().last();
        rest = &rest[i + prefix.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let mut segs = Vec::new();
        let mut tail = rest;
        loop {
            let end = tail
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            if end == 0 {
                break;
            }
            segs.push(&tail[..end]);
            match tail[end..].strip_prefix("::") {
                Some(t) => tail = t,
                None => break,
            }
        }
        out.push(segs);
    }
    out
}

/// True if `c` is a direct submodule of `m`.
fn is_child(m: &str, c: &str) -> bool {
    match c.rsplit_once("::") {
        Some((parent, _)) => parent == m,
        None => m.is_empty() && !c.is_empty(),
    }
}

/// True if every crate-root item `code` names (`crate::Name`) is one of the
/// root's `pub use` re-exports: such a use names the module re-exported,
/// not the root.
fn reexports(texts: &[(String, String)], code: &str) -> bool {
    let root = texts
        .iter()
        .find(|(m, _)| m.is_empty())
        .map_or("", |(_, t)| t.as_str());
    let exported: BTreeSet<&str> = root
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("pub use "))
        .flat_map(|l| {
            l.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .filter(|w| !w.is_empty())
        })
        .collect();
    paths_after(code, "crate::")
        .iter()
        .filter(|segs| segs.len() == 1)
        .all(|segs| exported.contains(segs[0]))
}

/// The longest module of `modules` that `segs` (a path from the crate root) names.
fn resolve(modules: &BTreeSet<String>, segs: &[&str]) -> Option<String> {
    (0..=segs.len()).rev().find_map(|n| {
        let m = segs[..n].join("::");
        modules.contains(&m).then_some(m)
    })
}

fn graph(crate_dir: &str) -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(crate_dir)
        .join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let texts: Vec<(String, String)> = files
        .iter()
        .filter(|f| !f.ends_with("main.rs"))
        .map(|f| {
            let text = std::fs::read_to_string(f).expect("source file");
            (module_of(&src, f), text)
        })
        .collect();
    let modules: BTreeSet<String> = texts.iter().map(|(m, _)| m.clone()).collect();
    let mut g = Graph::new();
    for (m, text) in &texts {
        let code = non_test_code(text);
        let mut deps = BTreeSet::new();
        for segs in paths_after(code, "crate::") {
            if let Some(d) = resolve(&modules, &segs) {
                deps.insert(d);
            }
        }
        let parent: Vec<&str> = m.split("::").filter(|s| !s.is_empty()).collect();
        for segs in paths_after(code, "super::") {
            let mut full: Vec<&str> = parent[..parent.len().saturating_sub(1)].to_vec();
            full.extend(segs);
            if let Some(d) = resolve(&modules, &full) {
                deps.insert(d);
            }
        }
        // A parent names its children by relative paths (`v5::cfi01::X`);
        // its `pub use` re-exports are aliases, not uses.
        let own: String = code
            .lines()
            .filter(|l| !l.trim_start().starts_with("pub use "))
            .collect::<Vec<_>>()
            .join("\n");
        for child in modules.iter().filter(|c| is_child(m, c)) {
            let name = child.rsplit("::").next().expect("a name");
            if !paths_after(&own, &format!("{name}::")).is_empty() {
                deps.insert(child.clone());
            }
        }
        deps.remove(m);
        // A module may name its own ancestors (their constants and
        // re-exports); a parent only declares its children.
        deps.retain(|d| {
            !m.starts_with(&format!("{d}::")) || d.is_empty() && !reexports(&texts, code)
        });
        g.insert(m.clone(), deps);
    }
    g
}

/// A cycle of `g`, if it has one.
fn cycle(g: &Graph) -> Option<Vec<String>> {
    fn visit(
        g: &Graph,
        m: &str,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(m.to_string(), 1);
        stack.push(m.to_string());
        for d in g.get(m).into_iter().flatten() {
            match state.get(d) {
                Some(1) => {
                    let at = stack.iter().position(|x| x == d).expect("on the stack");
                    let mut c = stack[at..].to_vec();
                    c.push(d.clone());
                    return Some(c);
                }
                Some(_) => {}
                None => {
                    if let Some(c) = visit(g, d, state, stack) {
                        return Some(c);
                    }
                }
            }
        }
        stack.pop();
        state.insert(m.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for m in g.keys() {
        if !state.contains_key(m) {
            if let Some(c) = visit(g, m, &mut state, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

#[test]
fn no_module_of_harness_or_reports_is_in_an_import_cycle() {
    for krate in ["harness", "reports"] {
        let g = graph(krate);
        assert!(g.len() > 3, "{krate}: found only {} modules", g.len());
        if let Some(c) = cycle(&g) {
            let names: Vec<&str> = c
                .iter()
                .map(|m| if m.is_empty() { "(crate root)" } else { m })
                .collect();
            panic!(
                "{krate}: modules import each other in a cycle: {}",
                names.join(" -> ")
            );
        }
    }
}

#[test]
fn each_harness_stage_imports_only_the_stages_before_it() {
    let g = graph("harness");
    let stage = |m: &str| m.split("::").next().unwrap_or("").to_string();
    let mut wrong = Vec::new();
    for (m, deps) in &g {
        let Some(at) = STAGES.iter().position(|s| *s == stage(m)) else {
            assert!(m.is_empty(), "module {m} is in no stage folder");
            continue;
        };
        for d in deps {
            let to = STAGES.iter().position(|s| *s == stage(d));
            if to.is_some_and(|to| to > at) {
                wrong.push(format!("{m} -> {d}"));
            }
        }
    }
    assert!(wrong.is_empty(), "imports against the pipeline: {wrong:#?}");
}

#[test]
fn the_checker_sees_a_cycle_and_a_backward_import() {
    let mut g = graph("harness");
    assert_eq!(cycle(&g), None);
    g.entry("definitions::versions".into())
        .or_default()
        .insert("judging::outcome".into());
    g.entry("judging::outcome".into())
        .or_default()
        .insert("definitions::versions".into());
    let c = cycle(&g).expect("the cycle added");
    assert!(c.contains(&"judging::outcome".to_string()), "{c:?}");
    // The parser finds paths, nested ones and `super::` ones.
    let code = "use crate::running::trial::{run_trial, Reference};\nfn f() { crate::judging::outcome::judge(x); super::a::b(); }";
    assert_eq!(
        paths_after(code, "crate::"),
        vec![
            vec!["running", "trial", ""],
            vec!["judging", "outcome", "judge"]
        ]
        .into_iter()
        .map(|v: Vec<&str>| v.into_iter().filter(|s| !s.is_empty()).collect::<Vec<_>>())
        .collect::<Vec<_>>()
    );
    assert_eq!(paths_after(code, "super::"), vec![vec!["a", "b"]]);
}
