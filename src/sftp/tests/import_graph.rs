//! The import graph inside `sftp` has no circle, and no request handler imports the session or
//! the `sftp` root.
//!
//! The parser is a copy of `ftp/tests/import_graph.rs`'s with the front end's name as a
//! parameter ([`FRONT_END`]): the two front ends never name each other, and there is no
//! test-support module below both yet; whoever adds one can keep a single copy there.
//!
//! Every file under `src/sftp` is a node; an edge is any path in its production code that names
//! another file's module: `use` lines (groups expanded), inline paths, every form (`crate::ftp::`,
//! `super::`, `self::`, a child module's bare name). A path that names an item of a module root
//! (`super::Shared`) is an edge to that root's file, so a child using its parent's items while
//! the parent uses the child is a circle too.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

/// The module whose files are the graph's nodes.
const FRONT_END: &str = "sftp";

fn front_end_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src")
        .join(FRONT_END)
}

/// `requests/files.rs` → `sftp::requests::files`; `proto/mod.rs` → `sftp::proto`.
fn module_name(relative: &Path) -> String {
    let mut parts = vec![FRONT_END.to_owned()];
    for component in relative.components() {
        let text = component.as_os_str().to_string_lossy();
        let text = text.strip_suffix(".rs").unwrap_or(&text).to_owned();
        if text != "mod" {
            parts.push(text);
        }
    }
    parts.join("::")
}

/// Test-only files: `tests.rs`, `*_tests.rs`, anything under a `tests` directory.
fn is_test_file(relative: &Path) -> bool {
    relative.components().any(|component| {
        let text = component.as_os_str().to_string_lossy();
        text == "tests" || text == "tests.rs" || text.ends_with("_tests.rs")
    })
}

fn files(dir: &Path, base: &Path, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let relative = path.strip_prefix(base).unwrap().to_owned();
        if path.is_dir() {
            files(&path, base, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") && !is_test_file(&relative) {
            let text = std::fs::read_to_string(&path).unwrap();
            out.push((module_name(&relative), text));
        }
    }
}

/// The code without comments, string contents and `#[cfg(test)]` items.
fn production_code(text: &str) -> String {
    let mut code = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for next in chars.by_ref() {
                    if next == '\n' {
                        code.push('\n');
                        break;
                    }
                }
            }
            '"' => {
                code.push('"');
                while let Some(next) = chars.next() {
                    if next == '\\' {
                        chars.next();
                    } else if next == '"' {
                        break;
                    }
                }
                code.push('"');
            }
            _ => code.push(c),
        }
    }
    while let Some(start) = code.find("#[cfg(test)]") {
        let rest = &code[start..];
        let end = match (rest.find(';'), rest.find('{')) {
            (Some(semicolon), Some(brace)) if semicolon < brace => semicolon + 1,
            (Some(semicolon), None) => semicolon + 1,
            (_, Some(brace)) => {
                let mut depth = 0usize;
                let mut end = rest.len();
                for (index, c) in rest[brace..].char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = brace + index + 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                end
            }
            (None, None) => rest.len(),
        };
        code.replace_range(start..start + end, "");
    }
    code
}

/// `a::{b, c::{d, e}}` → `a::b`, `a::c::d`, `a::c::e`.
fn expand(tree: &str) -> Vec<String> {
    let tree: String = tree.chars().filter(|c| !c.is_whitespace()).collect();
    let Some(open) = tree.find('{') else {
        return vec![tree];
    };
    let prefix = &tree[..open];
    let inner = &tree[open + 1..tree.len() - 1];
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (index, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..index]);
                start = index + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|part| !part.is_empty())
        .flat_map(|part| expand(&format!("{prefix}{part}")))
        .collect()
}

/// Every path in `code`: the `use` trees expanded, and each `a::b::c` run elsewhere.
fn paths(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = String::new();
    let mut remaining = code;
    while let Some(index) = remaining.find("use ") {
        let starts_word = remaining[..index]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        rest.push_str(&remaining[..index]);
        if !starts_word {
            rest.push_str("use ");
            remaining = &remaining[index + 4..];
            continue;
        }
        let tail = &remaining[index + 4..];
        let end = tail.find(';').unwrap_or(tail.len());
        for path in expand(&tail[..end]) {
            let path = path.split(" as ").next().unwrap_or_default().to_owned();
            found.push(path);
        }
        remaining = &tail[end..];
    }
    rest.push_str(remaining);
    let bytes: Vec<char> = rest.chars().collect();
    let mut index = 0;
    while index < bytes.len() {
        let word_start = index == 0
            || !(bytes[index - 1].is_alphanumeric()
                || bytes[index - 1] == '_'
                || bytes[index - 1] == ':');
        if word_start && (bytes[index].is_alphabetic() || bytes[index] == '_') {
            let mut end = index;
            while end < bytes.len()
                && (bytes[end].is_alphanumeric() || bytes[end] == '_' || bytes[end] == ':')
            {
                end += 1;
            }
            let path: String = bytes[index..end].iter().collect();
            if path.contains("::") {
                found.push(path.trim_end_matches(':').to_owned());
            }
            index = end;
        } else {
            index += 1;
        }
    }
    found
}

/// The file module `path` (as written in `module`, whose children are `children`) names.
fn resolve(
    path: &str,
    module: &str,
    children: &BTreeSet<String>,
    known: &BTreeSet<String>,
) -> Option<String> {
    let segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    let mut absolute: Vec<String> = Vec::new();
    let mut rest = &segments[..];
    match segments.first().copied() {
        Some("crate") => rest = &segments[1..],
        Some("super") | Some("self") => {
            // A file's `self` is its own module; `super` goes up from there.
            absolute = module.split("::").map(str::to_owned).collect();
            while let Some(first) = rest.first() {
                match *first {
                    "self" => rest = &rest[1..],
                    "super" => {
                        absolute.pop();
                        rest = &rest[1..];
                    }
                    _ => break,
                }
            }
        }
        Some(first) if children.contains(first) => {
            absolute = module.split("::").map(str::to_owned).collect();
        }
        _ => return None,
    }
    absolute.extend(rest.iter().map(|s| (*s).to_owned()));
    (1..=absolute.len())
        .rev()
        .map(|length| absolute[..length].join("::"))
        .find(|candidate| known.contains(candidate))
}

fn graph() -> Graph {
    let dir = front_end_dir();
    let mut sources = Vec::new();
    files(&dir, &dir, &mut sources);
    let known: BTreeSet<String> = sources.iter().map(|(name, _)| name.clone()).collect();
    let mut graph = Graph::new();
    for (module, text) in &sources {
        let code = production_code(text);
        let prefix = format!("{module}::");
        let children: BTreeSet<String> = known
            .iter()
            .filter_map(|other| other.strip_prefix(&prefix))
            .filter(|tail| !tail.contains("::"))
            .map(str::to_owned)
            .collect();
        let edges = graph.entry(module.clone()).or_default();
        for path in paths(&code) {
            if let Some(target) = resolve(&path, module, &children, &known) {
                if &target != module && target.starts_with(FRONT_END) {
                    edges.insert(target);
                }
            }
        }
    }
    graph
}

/// A circle in `graph`, if there is one.
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &Graph,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(position) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[position..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, stack, done) {
                return Some(cycle);
            }
        }
        stack.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn the_import_graph_inside_sftp_has_no_circle() {
    let graph = graph();
    assert!(graph.contains_key("sftp::session"), "{graph:?}");
    // Dispatch flows one way: session -> requests -> context.
    assert!(graph["sftp::session"].contains("sftp::requests"));
    assert!(graph["sftp::requests::files"].contains("sftp::context"));
    if let Some(cycle) = find_cycle(&graph) {
        panic!("import circle: {}", cycle.join(" -> "));
    }
}

#[test]
fn no_request_handler_imports_the_session_or_the_root() {
    let graph = graph();
    let handlers: Vec<_> = graph
        .iter()
        .filter(|(module, _)| module.starts_with("sftp::requests"))
        .collect();
    assert!(handlers.len() >= 4, "{handlers:?}");
    for (module, edges) in handlers {
        for forbidden in ["sftp::session", "sftp"] {
            assert!(!edges.contains(forbidden), "{module} uses {forbidden}");
        }
    }
}

#[test]
fn the_checker_sees_every_path_form() {
    let known: BTreeSet<String> = [
        "sftp",
        "sftp::session",
        "sftp::requests",
        "sftp::requests::x",
    ]
    .map(str::to_owned)
    .into();
    let none = BTreeSet::new();
    let code = production_code(
        "use super::super::{errors, session::{run, Reader}};\n\
         // use crate::sftp::nothing;\n\
         fn f() { let s = \"super::super::fake\"; crate::sftp::session::execute(); }\n\
         #[cfg(test)]\nmod tests { use crate::sftp::hidden; }\n",
    );
    let found: BTreeSet<String> = paths(&code)
        .iter()
        .filter_map(|path| resolve(path, "sftp::requests::x", &none, &known))
        .collect();
    assert_eq!(found, ["sftp", "sftp::session"].map(str::to_owned).into());
    // A parent's item is an edge to the parent's file; a bare child name is an edge to it.
    let children: BTreeSet<String> = ["x".to_owned()].into();
    assert_eq!(
        resolve("super::Context", "sftp::requests", &none, &known).as_deref(),
        Some("sftp")
    );
    assert_eq!(
        resolve("x::run", "sftp::requests", &children, &known).as_deref(),
        Some("sftp::requests::x")
    );
    let mut circular = Graph::new();
    circular.insert("a".into(), ["b".to_owned()].into());
    circular.insert("b".into(), ["a".to_owned()].into());
    assert!(find_cycle(&circular).is_some());
    let mut straight = Graph::new();
    straight.insert("a".into(), ["b".to_owned()].into());
    straight.insert("b".into(), BTreeSet::new());
    assert!(find_cycle(&straight).is_none());
}
