//! The module layout of `src/`, checked: no import cycles between top-level modules, Envoy's
//! types only at the Envoy boundary, and no async runtime, network, file or Envoy crate named
//! by the pure modules. Read from the source text (comments and `#[cfg(test)]` parts left
//! out), so a new `use` that breaks a wall fails here with the offending file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const SRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src");

/// Modules that decide without I/O: they may not name these crates or std modules.
const PURE: &[&str] = &[
    "catalog", "claims", "host", "body", "outcome", "request", "decision", "policy", "text",
];
const IMPURE_NAMES: &[&str] = &[
    "tokio",
    "tonic",
    "reqwest",
    "axum",
    "envoy_types",
    "std::fs",
    "std::net",
    "hyper",
];
/// The only places that may name Envoy's types or tonic: the Envoy boundary, the server that
/// runs it, the generated gateway protocol and the bench tool.
const ENVOY_ALLOWED: &[&str] = &["envoy", "server", "proto", "bench"];

/// Every `.rs` file under `src/` with its top-level module and its code (no comments, no
/// `#[cfg(test)]` module).
fn sources() -> Vec<(String, PathBuf, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(Path::new(SRC), &mut files);
    files.sort();
    files
        .into_iter()
        .filter_map(|path| {
            let rel = path.strip_prefix(SRC).unwrap();
            let top = rel
                .components()
                .next()?
                .as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_string();
            if top == "lib" || top == "main" {
                return None;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            let code: String = code
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            Some((top, path, code))
        })
        .collect()
}

/// `crate::x` references between top-level modules.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (top, _, code) in sources() {
        let entry = g.entry(top.clone()).or_default();
        for (i, _) in code.match_indices("crate::") {
            let name: String = code[i + 7..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() && name != top {
                entry.insert(name);
            }
        }
    }
    g
}

#[test]
fn modules_import_each_other_without_cycles() {
    let g = graph();
    // Depth-first search for a back edge; report the cycle it closes.
    fn visit(
        g: &BTreeMap<String, BTreeSet<String>>,
        node: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in g.get(node).into_iter().flatten() {
            if let Some(c) = visit(g, next, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for node in g.keys() {
        if let Some(cycle) = visit(&g, node, &mut Vec::new(), &mut done) {
            panic!("import cycle: {}", cycle.join(" -> "));
        }
    }
    assert!(g.len() > 10, "the walk found the modules: {:?}", g.keys());
}

#[test]
fn envoy_types_and_tonic_stay_at_the_envoy_boundary() {
    let mut offenders = Vec::new();
    for (top, path, code) in sources() {
        if !ENVOY_ALLOWED.contains(&top.as_str())
            && (code.contains("envoy_types") || code.contains("tonic"))
        {
            offenders.push(path.display().to_string());
        }
    }
    assert!(
        offenders.is_empty(),
        "Envoy or tonic types outside envoy/: {offenders:?}"
    );
}

#[test]
fn pure_modules_name_no_io_async_or_envoy_crate() {
    let mut offenders = Vec::new();
    for (top, path, code) in sources() {
        if !PURE.contains(&top.as_str()) {
            continue;
        }
        for name in IMPURE_NAMES {
            if code.contains(name) {
                offenders.push(format!("{} names {name}", path.display()));
            }
        }
    }
    assert!(offenders.is_empty(), "{offenders:#?}");
    // The walk saw every pure module.
    let seen: BTreeSet<String> = sources().into_iter().map(|(t, _, _)| t).collect();
    for m in PURE {
        assert!(seen.contains(*m), "no module {m}");
    }
}
