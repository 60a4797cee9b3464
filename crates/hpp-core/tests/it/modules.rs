//! The core's modules import each other without a loop: each file's `crate::…` paths (and the
//! root re-exports they go through) make a graph of top-level modules, and it has no cycle.
//! A loop is how "one concept, one place" erodes: two modules that need each other are one
//! concept split in two, or a shared piece in the wrong one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top-level module name → its source (a file, or a directory's files).
fn modules(src: &Path) -> BTreeMap<String, String> {
    let mut modules = BTreeMap::new();
    for entry in std::fs::read_dir(src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let text = if path.is_dir() {
            let mut files: Vec<_> = std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()).collect();
            files.sort();
            files.iter().map(|f| std::fs::read_to_string(f).unwrap()).collect::<Vec<_>>().join("\n")
        } else {
            std::fs::read_to_string(&path).unwrap()
        };
        // `error.rs` and its children in `error/` are one module.
        modules.entry(name).or_insert_with(String::new).push_str(&text);
    }
    modules
}

/// The first segment of every `crate::` path in the code of `text` (grouped imports included;
/// comments and doc links left out: they are not imports).
fn crate_paths(text: &str) -> BTreeSet<String> {
    let code: String = text.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
    let mut firsts = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            // Nested groups are rare in the core; their outer segments are what matter here.
            for item in group[..end].split(',') {
                let first = item.trim().split("::").next().unwrap_or("").trim();
                firsts.insert(first.to_owned());
            }
        } else {
            let first: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            firsts.insert(first);
        }
    }
    firsts
}

/// The edges: module → the modules it uses. A name re-exported at the root (`pub use m::Name`)
/// counts as `m`.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut modules = modules(&src);
    let lib = modules.remove("lib").unwrap();
    modules.remove("macros"); // `macro_rules!` only
    let mut root_names = BTreeMap::new();
    for line in lib.lines().filter_map(|l| l.trim().strip_prefix("pub use ")) {
        let Some((module, names)) = line.split_once("::") else { continue };
        let names = names.trim_end_matches(';').trim_start_matches('{').trim_end_matches('}');
        for name in names.split(',') {
            root_names.insert(name.trim().to_owned(), module.to_owned());
        }
    }
    let names: BTreeSet<String> = modules.keys().cloned().collect();
    modules
        .iter()
        .map(|(module, text)| {
            let uses = crate_paths(text)
                .into_iter()
                .filter_map(|first| if names.contains(&first) { Some(first) } else { root_names.get(&first).cloned() })
                .filter(|used| used != module)
                .collect();
            (module.clone(), uses)
        })
        .collect()
}

/// A cycle through `start`, if any (depth-first).
fn cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut found = path[at..].to_vec();
            found.push(node.to_owned());
            return Some(found);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, graph, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn the_core_modules_import_each_other_without_a_loop() {
    let graph = graph();
    assert!(graph["transport"].contains("error") && graph["client"].contains("ops"), "the graph is read: {graph:?}");
    if let Some(cycle) = cycle(&graph) {
        panic!("a loop between the core's modules: {}\nedges: {graph:#?}", cycle.join(" -> "));
    }
}

#[test]
fn a_loop_is_found() {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    graph.insert("a".into(), ["b".into()].into());
    graph.insert("b".into(), ["c".into()].into());
    graph.insert("c".into(), ["a".into()].into());
    assert_eq!(cycle(&graph).unwrap(), ["a", "b", "c", "a"]);
    graph.insert("c".into(), BTreeSet::new());
    assert_eq!(cycle(&graph), None);
}
