//! Repository rules as a test: module docs, file length, dependency direction, where the
//! disk is touched, and that pure protocol modules stay free of I/O.
//!
//! The rules are from `docs/ARCHITECTURE.md` (and DESIGN section 4). Changing a rule here is
//! changing the architecture: update that document in the same commit.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

const MAX_LINES: usize = 800;

/// Which crate modules each module may name (`crate::x`). Modules may always use themselves.
const ALLOWED: &[(&str, &[&str])] = &[
    ("ftp::proto", &[]),
    ("sftp::proto", &[]),
    ("config", &[]),
    ("vfs", &[]),
    ("audit", &["config"]),
    ("connection", &["config"]),
    ("limits", &["config"]),
    ("logging", &["config"]),
    ("auth", &["config", "vfs"]),
    ("metrics", &["config", "audit", "auth", "connection"]),
    (
        "services",
        &[
            "config",
            "auth",
            "vfs",
            "limits",
            "audit",
            "connection",
            "metrics",
        ],
    ),
    (
        "ftp",
        &[
            "ftp::proto",
            "vfs",
            "auth",
            "config",
            "audit",
            "connection",
            "limits",
            "services",
            "metrics",
        ],
    ),
    (
        "sftp",
        &[
            "sftp::proto",
            "vfs",
            "auth",
            "config",
            "audit",
            "connection",
            "limits",
            "services",
            "metrics",
        ],
    ),
    (
        "server",
        &[
            "ftp",
            "ftp::proto",
            "sftp",
            "sftp::proto",
            "vfs",
            "auth",
            "config",
            "audit",
            "connection",
            "limits",
            "logging",
            "services",
            "metrics",
        ],
    ),
    // `auth` for the pure users-file format only (`auth::users_file`).
    (
        "fuzzing",
        &["ftp::proto", "sftp::proto", "vfs", "config", "auth"],
    ),
    // `vfs` for its plain types only (`Permissions` for `user add --read-only`).
    (
        "cli",
        &["server", "config", "auth", "logging", "services", "vfs"],
    ),
    ("lib", &[]),
];

/// Modules that may read or write files with `std::fs` / `tokio::fs` (user data goes only
/// through `vfs`; the rest are config, keys, certificates and the users file).
const DISK_ALLOWED: &[&str] = &[
    "src/vfs/",
    "src/config/",
    "src/auth/user_db.rs",
    "src/ftp/certificate.rs",
    "src/sftp/host_keys.rs",
    "src/logging.rs",
    "src/audit/",
    "src/server/",
    "src/cli/",
];

fn source_files() -> Vec<PathBuf> {
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

fn relative(path: &Path) -> String {
    path.strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .unwrap()
        .to_string_lossy()
        .replace('\\', "/")
}

/// `src/ftp/proto/line.rs` → `ftp::proto`; `src/ftp/session.rs` → `ftp`; `src/lib.rs` → `lib`.
fn module_of(relative: &str) -> String {
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

/// The non-test code of a file: everything before the first `#[cfg(test)]`, without comment
/// lines (a doc saying "no tokio here" is not a use of tokio).
fn production_code(text: &str) -> String {
    let code = text
        .find("#[cfg(test)]")
        .map_or(text, |index| &text[..index]);
    code.lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every `crate::a` or `crate::a::proto` named in `code`, including `use crate::{a, b::c}`.
fn crate_references(code: &str) -> BTreeSet<String> {
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
fn top_level_items(group: &str) -> Vec<&str> {
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

fn path_module(path: &str) -> String {
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

#[test]
fn every_source_file_has_a_module_doc() {
    let missing: Vec<String> = source_files()
        .iter()
        .filter(|path| {
            let text = fs::read_to_string(path).unwrap();
            !text.trim_start().starts_with("//!")
        })
        .map(|path| relative(path))
        .collect();
    assert!(missing.is_empty(), "files without a //! doc: {missing:?}");
}

#[test]
fn no_source_file_is_too_long() {
    let long: Vec<String> = source_files()
        .iter()
        .filter_map(|path| {
            let lines = fs::read_to_string(path).unwrap().lines().count();
            (lines > MAX_LINES).then(|| format!("{} ({lines} lines)", relative(path)))
        })
        .collect();
    assert!(long.is_empty(), "files over {MAX_LINES} lines: {long:?}");
}

#[test]
fn modules_depend_only_on_allowed_modules() {
    let mut violations = Vec::new();
    for path in source_files() {
        let relative = relative(&path);
        if relative == "src/main.rs" {
            continue;
        }
        let module = module_of(&relative);
        let Some((_, allowed)) = ALLOWED.iter().find(|(name, _)| *name == module) else {
            violations.push(format!(
                "{relative}: module `{module}` is not in the tidy table"
            ));
            continue;
        };
        let text = fs::read_to_string(&path).unwrap();
        for used in crate_references(&production_code(&text)) {
            let same_module = used == module || module.starts_with(&format!("{used}::"));
            let own_proto = used.ends_with("::proto") && used.starts_with(&module);
            if !same_module && !own_proto && !allowed.contains(&used.as_str()) {
                violations.push(format!(
                    "{relative}: `{module}` must not use `crate::{used}`"
                ));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "dependency rule violations:\n{}",
        violations.join("\n")
    );
}

#[test]
fn only_allowed_modules_touch_the_disk() {
    let mut violations = Vec::new();
    for path in source_files() {
        let relative = relative(&path);
        if DISK_ALLOWED
            .iter()
            .any(|prefix| relative.starts_with(prefix))
        {
            continue;
        }
        let text = fs::read_to_string(&path).unwrap();
        let code = production_code(&text);
        for needle in ["std::fs", "tokio::fs", "File::open", "File::create"] {
            if code.contains(needle) {
                violations.push(format!("{relative}: uses {needle}"));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "disk access outside allowed modules:\n{}",
        violations.join("\n")
    );
}

#[test]
fn proto_modules_do_no_io() {
    let mut violations = Vec::new();
    for path in source_files() {
        let relative = relative(&path);
        if !relative.contains("/proto/") {
            continue;
        }
        let text = fs::read_to_string(&path).unwrap();
        let code = production_code(&text);
        for needle in [
            "tokio",
            "std::net::TcpStream",
            "std::io::Read",
            "std::io::Write",
            "std::fs",
        ] {
            if code.contains(needle) {
                violations.push(format!("{relative}: mentions {needle}"));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "I/O in pure protocol code:\n{}",
        violations.join("\n")
    );
}

#[test]
fn no_stubs_in_source() {
    let mut violations = Vec::new();
    for path in source_files() {
        let text = fs::read_to_string(&path).unwrap();
        for needle in ["todo!(", "unimplemented!(", "dbg!("] {
            if text.contains(needle) {
                violations.push(format!("{}: {needle}", relative(&path)));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "stubs left in src:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_tidy_parser_understands_use_forms() {
    let code = "use crate::{vfs::{VirtualPath, Permissions}, config};\nuse crate::ftp::proto::Command;\nlet x = crate::auth::f();\nmy_crate::nope();";
    let found: Vec<String> = crate_references(code).into_iter().collect();
    assert_eq!(found, ["auth", "config", "ftp::proto", "vfs"]);
    assert_eq!(module_of("src/ftp/proto/line.rs"), "ftp::proto");
    assert_eq!(module_of("src/ftp/commands/files.rs"), "ftp");
    assert_eq!(module_of("src/limits.rs"), "limits");
}
