//! What Cargo cannot say about the workspace's layout, checked.
//!
//! Cargo keeps the direction between crates (tools → server → core: a crate cannot name one
//! it does not depend on). What it cannot keep: that the core's dependencies, transitively,
//! hold no async runtime, network or Envoy crate (read from `cargo metadata`, not from the
//! manifest's text); that the core's code does no file or socket I/O through std; and that no
//! two modules of a crate import each other, at any depth (`policy::compile` ↔
//! `policy::dialect` counts, not only top-level modules).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const CORE: &str = "zeebe-authz-core";
const SERVER: &str = "zeebe-authz-server";
const TOOLS: &str = "zeebe-authz";

/// Crates the core may not depend on, directly or through another crate: async runtimes,
/// HTTP and gRPC stacks, sockets, Envoy's types.
const NOT_IN_CORE: &[&str] = &[
    "tokio",
    "tokio-util",
    "tokio-stream",
    "mio",
    "socket2",
    "tonic",
    "tower",
    "hyper",
    "hyper-util",
    "h2",
    "axum",
    "reqwest",
    "envoy-types",
    "zeebe-authz-server",
    "zeebe-authz",
];

/// `cargo metadata` of the workspace.
fn metadata() -> serde_json::Value {
    let out = std::process::Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--manifest-path"])
        .arg(Path::new(ROOT).join("Cargo.toml"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON")
}

/// The names of every crate `package` depends on as a normal (not dev, not build) dependency,
/// transitively.
fn normal_dependencies(meta: &serde_json::Value, package: &str) -> BTreeSet<String> {
    let packages = meta["packages"].as_array().unwrap();
    let name_of: BTreeMap<&str, &str> = packages
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
        .collect();
    let id = packages
        .iter()
        .find(|p| p["name"] == package)
        .and_then(|p| p["id"].as_str())
        .unwrap_or_else(|| panic!("no package {package} in the workspace"));
    let nodes: BTreeMap<&str, &serde_json::Value> = meta["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["id"].as_str().unwrap(), n))
        .collect();
    let mut seen = BTreeSet::new();
    let mut todo = vec![id];
    while let Some(at) = todo.pop() {
        for dep in nodes[at]["deps"].as_array().unwrap() {
            let normal = dep["dep_kinds"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k["kind"].is_null());
            let dep_id = dep["pkg"].as_str().unwrap();
            if normal && seen.insert(name_of[dep_id].to_string()) {
                todo.push(dep_id);
            }
        }
    }
    seen
}

#[test]
fn the_core_depends_on_no_runtime_network_or_envoy_crate() {
    let meta = metadata();
    let core = normal_dependencies(&meta, CORE);
    let found: Vec<&&str> = NOT_IN_CORE.iter().filter(|c| core.contains(**c)).collect();
    assert!(
        found.is_empty(),
        "{CORE} depends on {found:?} (run `cargo tree -p {CORE} -e normal -i <crate>` to see through what)"
    );
    // The walk sees what it should: the core's own dependencies, and the server's runtime.
    assert!(
        core.contains("prost") && core.contains("serde_json"),
        "{core:?}"
    );
    let server = normal_dependencies(&meta, SERVER);
    assert!(
        server.contains("tokio") && server.contains(CORE),
        "{server:?}"
    );
    assert!(!server.contains(TOOLS), "the server depends on the tools");
}

/// The `.rs` files under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
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
    walk(dir, &mut files);
    files.sort();
    files
}

/// A file's code without comment lines and without its tests (everything from the first
/// `#[cfg(test)]` on: test modules close every file that has one).
fn code_of(text: &str) -> String {
    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
    code.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_core_does_no_file_or_socket_io() {
    const IO: &[&str] = &[
        "std::fs",
        "File::open",
        "read_dir",
        "TcpStream",
        "TcpListener",
        "UdpSocket",
        "std::process",
    ];
    let src = Path::new(ROOT).join("crates").join(CORE).join("src");
    let mut offenders = Vec::new();
    let files = rust_files(&src);
    for path in &files {
        // Test modules in their own files may write scratch files.
        if module_of(path.strip_prefix(&src).unwrap()).is_none() {
            continue;
        }
        let code = code_of(&std::fs::read_to_string(path).unwrap());
        for name in IO {
            if code.contains(name) {
                offenders.push(format!("{} names {name}", path.display()));
            }
        }
    }
    assert!(offenders.is_empty(), "{offenders:#?}");
    assert!(files.len() > 10, "the walk found the core: {files:?}");
}

/// A module's path in its crate (`["policy", "compile"]`; the crate root is `[]`).
type ModPath = Vec<String>;

/// The module a source file holds, from its path under `src/`; `None` for `main.rs` and for
/// test modules kept in their own files (`tests.rs`, `tests/`).
fn module_of(rel: &Path) -> Option<ModPath> {
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let file = parts.pop()?;
    let stem = file.trim_end_matches(".rs");
    if stem == "main" || stem == "tests" || parts.iter().any(|p| p == "tests") {
        return None;
    }
    if stem != "lib" && stem != "mod" {
        parts.push(stem.to_string());
    }
    Some(parts)
}

/// Every `use` tree of `code`, expanded into paths (`use a::{b, c::d}` → `a::b`, `a::c::d`),
/// and every other `crate::`/`super::` path written in the code.
fn paths_in(code: &str) -> Vec<Vec<String>> {
    fn expand(tree: &str, prefix: &[String], out: &mut Vec<Vec<String>>) {
        let tree = tree.trim();
        if tree.is_empty() {
            return;
        }
        if let Some(open) = tree.find('{') {
            let head: Vec<String> = tree[..open]
                .split("::")
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
            let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
            let mut base = prefix.to_vec();
            base.extend(head);
            // Split the group at top-level commas.
            let (mut depth, mut start) = (0, 0);
            for (i, ch) in inner.char_indices() {
                match ch {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        expand(&inner[start..i], &base, out);
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            expand(&inner[start..], &base, out);
        } else {
            let tree = tree.split(" as ").next().unwrap_or(tree);
            let mut path = prefix.to_vec();
            path.extend(
                tree.split("::")
                    .map(str::trim)
                    .filter(|s| !s.is_empty() && *s != "*" && *s != "self")
                    .map(String::from),
            );
            out.push(path);
        }
    }
    let mut out = Vec::new();
    let mut rest = String::new();
    let mut statement: Option<String> = None;
    for line in code.lines() {
        let t = line.trim_start();
        let t = t.strip_prefix("pub ").unwrap_or(t);
        let t = t
            .strip_prefix("pub(crate) ")
            .or_else(|| t.strip_prefix("pub(super) "))
            .unwrap_or(t);
        if let Some(open) = statement.as_mut() {
            open.push_str(line);
        } else if let Some(body) = t.strip_prefix("use ") {
            statement = Some(body.to_string());
        } else {
            rest.push_str(line);
            rest.push('\n');
            continue;
        }
        if statement
            .as_ref()
            .is_some_and(|s| s.trim_end().ends_with(';'))
        {
            let s = statement.take().unwrap();
            expand(s.trim_end().trim_end_matches(';'), &[], &mut out);
        }
    }
    for root in ["crate::", "super::"] {
        for (i, _) in rest.match_indices(root) {
            if rest[..i]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
            {
                continue;
            }
            let path: Vec<String> = rest[i..]
                .split("::")
                .map(|s| {
                    s.chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect::<String>()
                })
                .take_while(|s| !s.is_empty())
                .collect();
            out.push(path);
        }
    }
    out
}

/// The module graph of one crate, from `(module, code)` pairs: an edge from a module to each
/// module of the crate it names. A module naming its own descendants (`mod x; pub use x::…`)
/// is its face, not a dependency, and makes no edge; a child naming its parent does.
fn module_graph(modules: &[(ModPath, String)]) -> BTreeMap<ModPath, BTreeSet<ModPath>> {
    let known: BTreeSet<&ModPath> = modules.iter().map(|(m, _)| m).collect();
    let mut graph: BTreeMap<ModPath, BTreeSet<ModPath>> = BTreeMap::new();
    for (module, code) in modules {
        let edges = graph.entry(module.clone()).or_default();
        for path in paths_in(code) {
            let mut at: ModPath = module.clone();
            let mut segments = path.iter().peekable();
            match segments.peek().map(|s| s.as_str()) {
                Some("crate") => {
                    at.clear();
                    segments.next();
                }
                Some("super") => {
                    while segments.peek().is_some_and(|s| *s == "super") {
                        at.pop();
                        segments.next();
                    }
                }
                Some("self") => {
                    segments.next();
                }
                Some(first) => {
                    // A path from a child module (`use compile::X` in `policy`); else a crate.
                    let mut child = at.clone();
                    child.push(first.to_string());
                    if !known.contains(&child) {
                        continue;
                    }
                }
                None => continue,
            }
            for s in segments {
                let mut deeper = at.clone();
                deeper.push(s.clone());
                if !known.contains(&deeper) {
                    break;
                }
                at = deeper;
            }
            if at != *module && !at.starts_with(module) {
                edges.insert(at);
            }
        }
    }
    graph
}

/// A cycle of `graph`, if it has one, as the modules around it.
fn find_cycle<N: Ord + Clone>(graph: &BTreeMap<N, BTreeSet<N>>) -> Option<Vec<N>> {
    fn visit<N: Ord + Clone>(
        g: &BTreeMap<N, BTreeSet<N>>,
        node: &N,
        path: &mut Vec<N>,
        done: &mut BTreeSet<N>,
    ) -> Option<Vec<N>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.clone());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.clone());
        for next in g.get(node).into_iter().flatten() {
            if let Some(c) = visit(g, next, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.clone());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(graph, node, &mut Vec::new(), &mut done))
}

/// The modules of the crate whose sources are in `src`, with their code.
fn crate_modules(src: &Path) -> Vec<(ModPath, String)> {
    rust_files(src)
        .into_iter()
        .filter_map(|path| {
            let module = module_of(path.strip_prefix(src).unwrap())?;
            Some((module, code_of(&std::fs::read_to_string(&path).unwrap())))
        })
        .collect()
}

fn show(m: &ModPath) -> String {
    if m.is_empty() {
        "crate".into()
    } else {
        m.join("::")
    }
}

#[test]
fn no_two_modules_of_a_crate_import_each_other() {
    for (name, src) in [
        (CORE, Path::new(ROOT).join("crates").join(CORE).join("src")),
        (
            SERVER,
            Path::new(ROOT).join("crates").join(SERVER).join("src"),
        ),
        (TOOLS, Path::new(ROOT).join("src")),
    ] {
        let modules = crate_modules(&src);
        assert!(modules.len() > 5, "{name}: the walk found the modules");
        let graph = module_graph(&modules);
        if let Some(cycle) = find_cycle(&graph) {
            let cycle: Vec<String> = cycle.iter().map(show).collect();
            panic!("{name}: import cycle {}", cycle.join(" -> "));
        }
        // Top-level modules as units too: `a::x` → `b` and `b::y` → `a` is a cycle of a and b.
        let mut top: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (from, to) in &graph {
            let (Some(a), edges) = (from.first(), to) else {
                continue;
            };
            let entry = top.entry(a.clone()).or_default();
            for b in edges.iter().filter_map(|t| t.first()) {
                if b != a {
                    entry.insert(b.clone());
                }
            }
        }
        if let Some(cycle) = find_cycle(&top) {
            panic!("{name}: import cycle {}", cycle.join(" -> "));
        }
    }
}

/// The check finds the cycles it is for: between sibling modules at depth, through `super`
/// and `crate` paths and grouped `use` trees, and between top-level modules; a parent's own
/// re-exports of its children are not one.
#[test]
fn the_cycle_check_finds_the_circle_it_is_for() {
    let m = |path: &str, code: &str| -> (ModPath, String) {
        let module = if path.is_empty() {
            Vec::new()
        } else {
            path.split("::").map(String::from).collect()
        };
        (module, code.to_string())
    };
    let circle = [
        m("", "pub mod policy;"),
        m(
            "policy",
            "mod compile;\nmod dialect;\npub use compile::{compile, suggest};\npub struct Grant;",
        ),
        m(
            "policy::compile",
            "use super::dialect::{self, RawDialect};\nuse super::{Grant, Policy};",
        ),
        m(
            "policy::dialect",
            "use super::compile::{RawTenant, compile_tenant, suggest};\nuse super::Grant;",
        ),
    ];
    let cycle = find_cycle(&module_graph(&circle)).expect("the circle is found");
    let cycle: Vec<String> = cycle.iter().map(show).collect();
    assert!(
        cycle.contains(&"policy::compile".to_string())
            && cycle.contains(&"policy::dialect".to_string()),
        "{cycle:?}"
    );
    let mended = [
        circle[0].clone(),
        circle[1].clone(),
        circle[2].clone(),
        m(
            "policy::dialect",
            "use super::condition::RawTenant;\nuse crate::diag::suggest;\nuse super::Grant;",
        ),
        m("policy::condition", "use crate::diag::Span;"),
        m("diag", "pub struct Span;"),
    ];
    assert_eq!(find_cycle(&module_graph(&mended)), None);
    let top = [
        m("a", "pub mod x;"),
        m("a::x", "fn f() { crate::b::g() }"),
        m("b", "pub fn g() {}\nuse crate::a::x;"),
    ];
    assert!(find_cycle(&module_graph(&top)).is_some());
}
