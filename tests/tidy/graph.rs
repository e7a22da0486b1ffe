//! The import graph of `src/`: one node per file module, an edge wherever a file's production
//! code names another file's module, and the circles in it.
//!
//! Every path form counts: `use` lines with their groups expanded, inline paths
//! (`crate::a::f()`), `super::` and `self::` chains, and the bare name of a child module the file
//! declares (`mod data;` … `data::accept(…)`). A path is an edge to the longest module it names,
//! so `super::Shared` (an item of the parent's file) is an edge to the parent: a child that
//! uses its parent's items while the parent uses the child is a circle.

use std::collections::{BTreeMap, BTreeSet};

use super::source::expand_use_tree;

/// A module as its path segments (`["ftp", "data", "accept"]`; the crate root is `[]`).
pub type Module = Vec<String>;
/// Each module and the modules it names.
pub type Graph = BTreeMap<Module, BTreeSet<Module>>;

/// Builds the graph from `(module, production code)` pairs.
pub fn graph(files: &[(Module, String)]) -> Graph {
    let known: BTreeSet<&Module> = files.iter().map(|(module, _)| module).collect();
    files
        .iter()
        .map(|(module, code)| {
            let named = named_paths(code)
                .into_iter()
                .filter_map(|path| resolve(module, &path, &declared_children(code)))
                .filter_map(|path| longest_known(&path, &known))
                .filter(|target| target != module && !target.is_empty())
                .collect();
            (module.clone(), named)
        })
        .collect()
}

/// The circles: each set of two or more modules that reach one another, sorted.
pub fn circles(graph: &Graph) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let mut seen: BTreeSet<&Module> = BTreeSet::new();
    for start in graph.keys() {
        if seen.contains(start) {
            continue;
        }
        let forward = reachable(graph, start);
        let component: BTreeSet<&Module> = forward
            .iter()
            .copied()
            .filter(|other| reachable(graph, other).contains(start))
            .collect();
        seen.extend(component.iter().copied());
        if component.len() > 1 {
            found.push(
                component
                    .iter()
                    .map(|module| display(module))
                    .collect::<Vec<_>>(),
            );
        }
    }
    found
}

/// `crate::`-style display of a module path.
pub fn display(module: &[String]) -> String {
    if module.is_empty() {
        "crate".to_owned()
    } else {
        module.join("::")
    }
}

fn reachable<'g>(graph: &'g Graph, start: &'g Module) -> BTreeSet<&'g Module> {
    let mut found = BTreeSet::from([start]);
    let mut stack = vec![start];
    while let Some(module) = stack.pop() {
        for next in graph.get(module).into_iter().flatten() {
            if found.insert(next) {
                stack.push(next);
            }
        }
    }
    found
}

/// The child modules `code` declares with `mod name;`.
fn declared_children(code: &str) -> BTreeSet<String> {
    let mut children = BTreeSet::new();
    for (index, _) in code.match_indices("mod ") {
        if index > 0 && is_ident_byte(code.as_bytes()[index - 1]) {
            continue;
        }
        let rest = &code[index + 4..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() && rest[name.len()..].trim_start().starts_with(';') {
            children.insert(name);
        }
    }
    children
}

/// Every path in `code` that starts with an identifier followed by `::`, as segments, plus
/// every path of every `use` statement with groups expanded.
fn named_paths(code: &str) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    for (index, _) in code.match_indices("use ") {
        if index > 0 && is_ident_byte(code.as_bytes()[index - 1]) {
            continue;
        }
        let statement = &code[index + 4..];
        let statement = &statement[..statement.find(';').unwrap_or(statement.len())];
        for path in expand_use_tree(statement.trim()) {
            paths.push(segments(&path));
        }
    }
    let bytes = code.as_bytes();
    let mut index = 0;
    while index < bytes.len() {
        let starts_path = is_ident_byte(bytes[index])
            && (index == 0 || !(is_ident_byte(bytes[index - 1]) || bytes[index - 1] == b':'));
        if !starts_path {
            index += 1;
            continue;
        }
        let mut end = index;
        while end < bytes.len() && (is_ident_byte(bytes[end]) || code[end..].starts_with("::")) {
            end += if bytes[end] == b':' { 2 } else { 1 };
        }
        let path = code[index..end].trim_end_matches("::");
        if path.contains("::") {
            paths.push(segments(path));
        }
        index = end.max(index + 1);
    }
    paths
}

fn segments(path: &str) -> Vec<String> {
    path.split("::")
        .map(|segment| segment.trim().to_owned())
        .filter(|segment| !segment.is_empty())
        .collect()
}

/// The absolute path `path` names from `module`, if it names a module of this crate.
fn resolve(module: &[String], path: &[String], children: &BTreeSet<String>) -> Option<Module> {
    let (first, rest) = path.split_first()?;
    let mut base: Module = match first.as_str() {
        "crate" => Vec::new(),
        "self" | "super" => module.to_vec(),
        name if children.contains(name) => {
            let mut base = module.to_vec();
            base.push(name.to_owned());
            base
        }
        _ => return None,
    };
    let mut rest = rest;
    if first == "super" {
        base.pop()?;
    }
    while let Some(("super", after)) = rest.split_first().map(|(s, r)| (s.as_str(), r)) {
        base.pop()?;
        rest = after;
    }
    base.extend(rest.iter().filter(|segment| *segment != "self").cloned());
    Some(base)
}

fn longest_known(path: &[String], known: &BTreeSet<&Module>) -> Option<Module> {
    (0..=path.len())
        .rev()
        .map(|length| path[..length].to_vec())
        .find(|prefix| known.contains(prefix))
}

fn is_ident_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}
