//! Reading Rust sources the way the tidy rules need: which files are production code, the code
//! without comments, strings and test items, and the module paths a file names (`crate::`,
//! `super::`, `use` groups, re-exports).

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

pub fn source_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

pub fn relative(path: &Path) -> String {
    path.strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .unwrap()
        .to_string_lossy()
        .replace('\\', "/")
}

/// `src/ftp/proto/line.rs` → `ftp::proto`; `src/ftp/session.rs` → `ftp`; `src/lib.rs` → `lib`.
pub fn module_of(relative: &str) -> String {
    let inside = relative.trim_start_matches("src/");
    let mut parts: Vec<&str> = inside.split('/').collect();
    let file = parts.pop().unwrap().trim_end_matches(".rs");
    if parts.is_empty() {
        return file.to_owned();
    }
    if parts.len() >= 2 && parts[1] == "proto" {
        return format!("{}::proto", parts[0]);
    }
    parts[0].to_owned()
}

/// The non-test code of a file: without `#[cfg(test)]` items (a `mod tests { … }` anywhere in
/// the file, not just at its end), without comments (a doc saying "no tokio here" is not a use
/// of tokio) and without string contents.
pub fn production_code(text: &str) -> String {
    let code = strip_comments_and_strings(text);
    let mut out = String::with_capacity(code.len());
    let mut rest = code.as_str();
    while let Some(index) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..index]);
        rest = skip_item(&rest[index + "#[cfg(test)]".len()..]);
    }
    out.push_str(rest);
    out
}

/// What follows the item at the start of `code`: through its `;` or its balanced `{ … }`,
/// whichever comes first (strings and comments are already gone).
pub fn skip_item(code: &str) -> &str {
    let mut depth = 0usize;
    for (index, c) in code.char_indices() {
        match c {
            ';' if depth == 0 => return &code[index + 1..],
            '{' => depth += 1,
            '}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return &code[index + 1..];
                }
            }
            _ => {}
        }
    }
    ""
}

/// `text` with comments removed and string and char literals emptied, so braces, `crate::`
/// and `std::fs` inside them count for nothing. Raw strings (`r"…"`, `r#"…"#`) included.
pub fn strip_comments_and_strings(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut index = 0;
    while index < bytes.len() {
        let rest = &text[index..];
        if rest.starts_with("//") {
            index += rest.find('\n').unwrap_or(rest.len());
        } else if rest.starts_with("/*") {
            index += rest.find("*/").map_or(rest.len(), |end| end + 2);
        } else if let Some(hashes) = raw_string_start(rest) {
            let close = format!("\"{}", "#".repeat(hashes));
            let body = &rest[hashes + 2..];
            let end = body
                .find(&close)
                .map_or(body.len(), |end| end + close.len());
            index += hashes + 2 + end;
            out.push_str("\"\"");
        } else if rest.starts_with('"') {
            let mut end = 1;
            while end < rest.len() {
                match rest.as_bytes()[end] {
                    b'\\' => end += 2,
                    b'"' => break,
                    _ => end += 1,
                }
            }
            index += (end + 1).min(rest.len());
            out.push_str("\"\"");
        } else if let Some(length) = char_literal_length(rest) {
            index += length;
            out.push_str("' '");
        } else {
            let c = rest.chars().next().unwrap_or(' ');
            out.push(c);
            index += c.len_utf8();
        }
    }
    out
}

/// The number of `#`s of a raw string starting `code` (`r"` → 0, `r#"` → 1), if one does.
pub fn raw_string_start(code: &str) -> Option<usize> {
    let after_r = code.strip_prefix('r')?;
    let hashes = after_r.len() - after_r.trim_start_matches('#').len();
    after_r[hashes..].starts_with('"').then_some(hashes)
}

/// The length of a char literal (`'x'`, `'\n'`, `'\''`) starting `code`; `None` for a
/// lifetime (`'a`).
pub fn char_literal_length(code: &str) -> Option<usize> {
    let body = code.strip_prefix('\'')?;
    let escaped = body.starts_with('\\');
    let first = body.chars().next()?;
    let inner = if escaped {
        2 + body[2..].find('\'')?
    } else {
        first.len_utf8()
    };
    body[inner..].starts_with('\'').then_some(inner + 2)
}

/// The files that are test code: declared as `#[cfg(test)] mod name;` (that file or directory).
pub fn test_only_files(files: &[PathBuf]) -> BTreeSet<PathBuf> {
    let mut test_only = BTreeSet::new();
    for path in files {
        // The raw text: a `#[path = "…"]` keeps its string (comments rarely say `#[cfg(test)]`
        // right before `mod x;`).
        let code = fs::read_to_string(path).unwrap();
        let dir = module_dir(path);
        for (index, _) in code.match_indices("#[cfg(test)]") {
            let mut item = code[index + "#[cfg(test)]".len()..].trim_start();
            let mut file = None;
            if let Some(attribute) = item.strip_prefix("#[path = \"") {
                let Some(end) = attribute.find("\"]") else {
                    continue;
                };
                file = Some(path.parent().unwrap().join(&attribute[..end]));
                item = attribute[end + 2..].trim_start();
            }
            let item = item.strip_prefix("pub(crate) ").unwrap_or(item);
            let Some(declared) = item.strip_prefix("mod ") else {
                continue;
            };
            let name = declared
                .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .next();
            let Some(name) = name.filter(|_| {
                declared
                    .trim_start_matches(|c: char| c.is_alphanumeric() || c == '_')
                    .trim_start()
                    .starts_with(';')
            }) else {
                continue;
            };
            match file {
                Some(file) => {
                    test_only.insert(file);
                }
                None => {
                    test_only.insert(dir.join(format!("{name}.rs")));
                    test_only.insert(dir.join(name));
                }
            }
        }
    }
    files
        .iter()
        .filter(|file| test_only.iter().any(|prefix| file.starts_with(prefix)))
        .cloned()
        .collect()
}

/// The directory a file's child modules live in: its own directory for `mod.rs`/`lib.rs`,
/// else a directory named after it.
pub fn module_dir(path: &Path) -> PathBuf {
    let parent = path.parent().unwrap();
    let stem = path.file_stem().unwrap().to_string_lossy();
    if stem == "mod" || stem == "lib" || stem == "main" {
        parent.to_owned()
    } else {
        parent.join(stem.as_ref())
    }
}

/// The production source files: all of `src/` but the test-only ones.
pub fn production_files() -> Vec<PathBuf> {
    let files = source_files();
    let tests = test_only_files(&files);
    files
        .into_iter()
        .filter(|file| !tests.contains(file))
        .collect()
}

/// `src/ftp/commands/files.rs` → `["ftp", "commands", "files"]`; `src/ftp/mod.rs` → `["ftp"]`.
pub fn module_path(relative: &str) -> Vec<String> {
    let inside = relative.trim_start_matches("src/").trim_end_matches(".rs");
    let mut parts: Vec<String> = inside.split('/').map(str::to_owned).collect();
    if parts
        .last()
        .is_some_and(|last| last == "mod" || last == "lib" || last == "main")
    {
        parts.pop();
    }
    parts
}

/// Every top-level module reached with `super::` from the file at `relative`
/// (`super::super::vfs` from `src/ftp/commands/x.rs` names `ftp::vfs`; one more `super` names
/// `vfs`), including `use super::{…}` groups.
pub fn super_references(code: &str, relative: &str) -> BTreeSet<String> {
    let own = module_path(relative);
    let mut found = BTreeSet::new();
    let mut search = 0;
    while let Some(offset) = code[search..].find("super::") {
        let index = search + offset;
        let preceded = index > 0 && {
            let before = code.as_bytes()[index - 1];
            before.is_ascii_alphanumeric() || before == b'_' || before == b':'
        };
        let mut rest = &code[index..];
        let mut ups = 0;
        while let Some(after) = rest.strip_prefix("super::") {
            ups += 1;
            rest = after;
        }
        search = code.len() - rest.len();
        if preceded || ups > own.len() {
            continue;
        }
        let base = &own[..own.len() - ups];
        let items: Vec<&str> = match rest.strip_prefix('{') {
            Some(group) => top_level_items(group),
            None => vec![rest],
        };
        for item in items {
            let mut path: Vec<String> = base.to_vec();
            path.extend(
                item.trim()
                    .split("::")
                    .take(2)
                    .map(|segment| {
                        segment
                            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                            .next()
                            .unwrap_or("")
                            .to_owned()
                    })
                    .filter(|segment| !segment.is_empty()),
            );
            match path.as_slice() {
                [first, second, ..] if second == "proto" => {
                    found.insert(format!("{first}::proto"));
                }
                [first, ..] => {
                    found.insert(first.clone());
                }
                [] => {}
            }
        }
    }
    found
}

/// Every full path a `use` names in `code`, with groups expanded (`use std::{fs, io::Read}` →
/// `std::fs`, `std::io::Read`), plus the code itself, for needle searches that a group would
/// otherwise hide.
pub fn expanded_paths(code: &str) -> String {
    let mut out = code.to_owned();
    for (index, _) in code.match_indices("use ") {
        if index > 0 && {
            let before = code.as_bytes()[index - 1];
            before.is_ascii_alphanumeric() || before == b'_'
        } {
            continue;
        }
        let statement = &code[index + 4..];
        let statement = &statement[..statement.find(';').unwrap_or(statement.len())];
        for path in expand_use_tree(statement.trim()) {
            out.push('\n');
            out.push_str(&path);
        }
    }
    out
}

/// `a::{b, c::{d, e}}` → `a::b`, `a::c::d`, `a::c::e`.
pub fn expand_use_tree(tree: &str) -> Vec<String> {
    let Some(open) = tree.find('{') else {
        return vec![tree.split_whitespace().next().unwrap_or("").to_owned()];
    };
    let prefix = &tree[..open];
    top_level_items(&tree[open + 1..])
        .into_iter()
        .flat_map(|item| expand_use_tree(item.trim()))
        .filter(|item| !item.is_empty())
        .map(|item| {
            if item == "self" {
                prefix.trim_end_matches("::").to_owned()
            } else {
                format!("{prefix}{item}")
            }
        })
        .collect()
}

/// Every `crate::a` or `crate::a::proto` named in `code`, including `use crate::{a, b::c}`.
pub fn crate_references(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (index, _) in code.match_indices("crate::") {
        if index > 0 {
            let before = code.as_bytes()[index - 1];
            if before.is_ascii_alphanumeric() || before == b'_' {
                continue;
            }
        }
        let rest = &code[index + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            for item in top_level_items(group) {
                found.insert(path_module(item.trim()));
            }
        } else {
            found.insert(path_module(rest));
        }
    }
    found.retain(|name| !name.is_empty());
    found
}

/// The comma-separated items of a `{…}` group up to its closing brace, ignoring nested groups.
pub fn top_level_items(group: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (index, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                items.push(&group[start..index]);
                return items;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&group[start..index]);
                start = index + 1;
            }
            _ => {}
        }
    }
    items.push(&group[start..]);
    items
}

pub fn path_module(path: &str) -> String {
    let segments: Vec<&str> = path
        .split("::")
        .map(|segment| {
            segment
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .next()
                .unwrap_or("")
        })
        .take(2)
        .collect();
    match segments.as_slice() {
        [first, "proto", ..] => format!("{first}::proto"),
        [first, ..] => (*first).to_owned(),
        [] => String::new(),
    }
}

/// The `pub use …;` statements (any `pub(…)` visibility) of `code`.
pub fn re_exports(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (index, _) in code.match_indices("pub") {
        let rest = &code[index + 3..];
        let rest = match rest.strip_prefix('(') {
            Some(inner) => match inner.find(')') {
                Some(end) => &inner[end + 1..],
                None => continue,
            },
            None => rest,
        };
        if let Some(statement) = rest.trim_start().strip_prefix("use ") {
            found.push(format!(
                "use {}",
                &statement[..statement.find(';').unwrap_or(statement.len())]
            ));
        }
    }
    found
}
