//! Repository rules as a test: module docs, file length, dependency direction, no circles in
//! the import graph, where the disk is touched, that pure protocol modules stay free of I/O,
//! no re-exports across modules, no stubs, and that `docs/ARCHITECTURE.md` maps every module.
//!
//! Each rule is a function of one file's path and text (or of all files), so
//! `tidy/planted.rs` can prove that a planted violation fails it; the `#[test]`s below apply
//! the rules to every file of `src/`.
//!
//! The rules are from `docs/ARCHITECTURE.md` (and DESIGN section 4). Changing a rule here is
//! changing the architecture: update that document in the same commit.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "tidy/graph.rs"]
mod graph;
#[cfg(test)]
#[path = "tidy/planted.rs"]
mod planted;
#[path = "tidy/source.rs"]
mod source;

use std::fs;

use source::*;

const MAX_LINES: usize = 800;
/// The front ends are adapters (decode, ask the core, encode); a longer file there is a sign
/// that logic belongs in a lower module.
const FRONT_END_MAX_LINES: usize = 600;
const FRONT_ENDS: &[&str] = &["src/ftp/", "src/sftp/"];

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
    // Who the client is behind a trusted load balancer: the header parser and its reader.
    ("proxy_protocol", &["config"]),
    // Below `auth` and the front ends: private files and their modes, certificates, host keys.
    ("key_material", &[]),
    ("auth", &["config", "vfs", "key_material"]),
    ("metrics", &["config", "audit", "auth", "connection"]),
    // Event hooks and upload gates: an audit sink, the VFS's upload seam, the users' hooks.
    (
        "hooks",
        &["config", "auth", "audit", "metrics", "vfs", "key_material"],
    ),
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
            "hooks",
        ],
    ),
    // The session core both front ends share: admission, login bookkeeping, the end.
    (
        "session_core",
        &[
            "config",
            "auth",
            "vfs",
            "limits",
            "audit",
            "connection",
            "services",
            "hooks",
        ],
    ),
    (
        "ftp",
        &[
            "ftp::proto",
            "proxy_protocol",
            "vfs",
            "auth",
            "config",
            "audit",
            "connection",
            "limits",
            "services",
            "metrics",
            "session_core",
            "key_material",
        ],
    ),
    (
        "sftp",
        &[
            "sftp::proto",
            "proxy_protocol",
            "vfs",
            "auth",
            "config",
            "audit",
            "connection",
            "limits",
            "services",
            "metrics",
            "session_core",
            "key_material",
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
            "key_material",
            "hooks",
        ],
    ),
    // `auth` for the pure users-file format only (`auth::users_file`).
    (
        "fuzzing",
        &[
            "ftp::proto",
            "sftp::proto",
            "vfs",
            "config",
            "auth",
            "proxy_protocol",
        ],
    ),
    // `vfs` for its plain types only (`Permissions` for `user add --read-only`).
    (
        "cli",
        &[
            "server",
            "config",
            "auth",
            "logging",
            "services",
            "vfs",
            "key_material",
            "hooks",
        ],
    ),
    ("lib", &[]),
];

/// Modules that may read or write files with `std::fs` / `tokio::fs` (user data goes only
/// through `vfs`; the rest are config, keys, certificates and the users file).
const DISK_ALLOWED: &[&str] = &[
    "src/vfs/",
    "src/config/",
    "src/auth/user_db.rs",
    "src/key_material/",
    "src/logging.rs",
    "src/audit/",
    "src/server/",
    "src/cli/",
];

/// The map of modules in `docs/ARCHITECTURE.md` starts at this heading.
const MODULE_MAP_HEADING: &str = "## Module map";

/// A file's path from the repository root and its whole text.
type SourceFile = (String, String);

fn read_all(paths: Vec<std::path::PathBuf>) -> Vec<SourceFile> {
    paths
        .iter()
        .map(|path| (relative(path), fs::read_to_string(path).unwrap()))
        .collect()
}

fn check(files: &[SourceFile], rule: fn(&str, &str) -> Vec<String>, what: &str) {
    let violations: Vec<String> = files
        .iter()
        .flat_map(|(relative, text)| rule(relative, text))
        .collect();
    assert!(violations.is_empty(), "{what}:\n{}", violations.join("\n"));
}

fn doc_violations(relative: &str, text: &str) -> Vec<String> {
    if text.trim_start().starts_with("//!") {
        Vec::new()
    } else {
        vec![format!("{relative}: no //! module doc")]
    }
}

fn length_violations(relative: &str, text: &str) -> Vec<String> {
    let limit = if FRONT_ENDS.iter().any(|dir| relative.starts_with(dir)) {
        FRONT_END_MAX_LINES
    } else {
        MAX_LINES
    };
    let lines = text.lines().count();
    if lines > limit {
        vec![format!("{relative}: {lines} lines (at most {limit})")]
    } else {
        Vec::new()
    }
}

fn dependency_violations(relative: &str, text: &str) -> Vec<String> {
    if relative == "src/main.rs" {
        return Vec::new();
    }
    let module = module_of(relative);
    let Some((_, allowed)) = ALLOWED.iter().find(|(name, _)| *name == module) else {
        return vec![format!(
            "{relative}: module `{module}` is not in the tidy table"
        )];
    };
    let code = production_code(text);
    let mut used_modules = crate_references(&code);
    used_modules.extend(super_references(&code, relative));
    used_modules
        .into_iter()
        .filter(|used| {
            let same_module = *used == module || module.starts_with(&format!("{used}::"));
            let own_proto = used.ends_with("::proto") && used.starts_with(&module);
            !same_module && !own_proto && !allowed.contains(&used.as_str())
        })
        .map(|used| format!("{relative}: `{module}` must not use `crate::{used}`"))
        .collect()
}

fn disk_violations(relative: &str, text: &str) -> Vec<String> {
    if DISK_ALLOWED
        .iter()
        .any(|prefix| relative.starts_with(prefix))
    {
        return Vec::new();
    }
    let code = expanded_paths(&production_code(text));
    ["std::fs", "tokio::fs", "File::open", "File::create"]
        .into_iter()
        .filter(|needle| code.contains(needle))
        .map(|needle| format!("{relative}: uses {needle}"))
        .collect()
}

fn proto_io_violations(relative: &str, text: &str) -> Vec<String> {
    if !relative.contains("/proto/") {
        return Vec::new();
    }
    let code = expanded_paths(&production_code(text));
    [
        "tokio",
        "std::net::TcpStream",
        "std::io::Read",
        "std::io::Write",
        "std::fs",
    ]
    .into_iter()
    .filter(|needle| code.contains(needle))
    .map(|needle| format!("{relative}: mentions {needle}"))
    .collect()
}

fn re_export_violations(relative: &str, text: &str) -> Vec<String> {
    if relative == "src/lib.rs" || relative == "src/main.rs" {
        return Vec::new();
    }
    let module = module_of(relative);
    let mut violations = Vec::new();
    for statement in re_exports(&production_code(text)) {
        let mut named = crate_references(&statement);
        named.extend(super_references(&statement, relative));
        for other in named {
            let own = other == module
                || module.starts_with(&format!("{other}::"))
                || other.starts_with(&format!("{module}::"));
            let line = format!("{relative}: `{module}` re-exports `crate::{other}`");
            if !own && !violations.contains(&line) {
                violations.push(line);
            }
        }
    }
    violations
}

fn stub_violations(relative: &str, text: &str) -> Vec<String> {
    ["todo!(", "unimplemented!(", "dbg!("]
        .into_iter()
        .filter(|needle| text.contains(needle))
        .map(|needle| format!("{relative}: {needle}"))
        .collect()
}

/// The circles in the import graph of `files` (production files only).
fn circle_violations(files: &[SourceFile]) -> Vec<String> {
    let modules: Vec<(graph::Module, String)> = files
        .iter()
        .map(|(relative, text)| (module_path(relative), production_code(text)))
        .collect();
    graph::circles(&graph::graph(&modules))
        .into_iter()
        .map(|circle| circle.join(" <-> "))
        .collect()
}

/// The front ends' handler modules and what they must not import: the session that dispatches
/// to them, and the front end's root. A handler gets a narrow context instead.
const HANDLERS: &[(&str, &[&str])] = &[
    ("ftp::commands", &["ftp::session", "ftp"]),
    ("sftp::requests", &["sftp::session", "sftp"]),
];

/// Handler modules that import their session or their front end's root.
fn handler_violations(files: &[SourceFile]) -> Vec<String> {
    let modules: Vec<(graph::Module, String)> = files
        .iter()
        .map(|(relative, text)| (module_path(relative), production_code(text)))
        .collect();
    let mut violations = Vec::new();
    for (module, named) in graph::graph(&modules) {
        let module = graph::display(&module);
        for (handlers, forbidden) in HANDLERS {
            let is_handler = module == *handlers || module.starts_with(&format!("{handlers}::"));
            for target in named.iter().map(|target| graph::display(target)) {
                if is_handler && forbidden.contains(&target.as_str()) {
                    violations.push(format!("{module} imports {target}"));
                }
            }
        }
    }
    violations
}

/// Modules `doc` does not name as `` `a::b` ``, and names in its module map that are no module.
fn architecture_violations(modules: &[String], doc: &str) -> Vec<String> {
    let mut violations: Vec<String> = modules
        .iter()
        .filter(|module| !doc.contains(&format!("`{module}`")))
        .map(|module| format!("docs/ARCHITECTURE.md does not name `{module}`"))
        .collect();
    let Some(start) = doc.find(MODULE_MAP_HEADING) else {
        violations.push(format!(
            "docs/ARCHITECTURE.md has no {MODULE_MAP_HEADING:?}"
        ));
        return violations;
    };
    let map = &doc[start + MODULE_MAP_HEADING.len()..];
    let map = &map[..map.find("\n## ").unwrap_or(map.len())];
    for line in map.lines() {
        let Some(name) = line
            .trim_start()
            .strip_prefix("- `")
            .and_then(|rest| rest.split('`').next())
        else {
            continue;
        };
        if !modules.iter().any(|module| module == name) {
            violations.push(format!(
                "docs/ARCHITECTURE.md's module map names `{name}`, which is not a module"
            ));
        }
    }
    violations
}

#[test]
fn every_source_file_has_a_module_doc() {
    check(
        &read_all(source_files()),
        doc_violations,
        "files without a //! doc",
    );
}

#[test]
fn no_source_file_is_too_long() {
    check(
        &read_all(source_files()),
        length_violations,
        "files too long",
    );
}

#[test]
fn modules_depend_only_on_allowed_modules() {
    check(
        &read_all(production_files()),
        dependency_violations,
        "dependency rule violations",
    );
}

#[test]
fn the_import_graph_has_no_circle() {
    let circles = circle_violations(&read_all(production_files()));
    assert!(
        circles.is_empty(),
        "modules that import one another (directly or through others):\n{}",
        circles.join("\n")
    );
}

#[test]
fn no_handler_imports_its_session() {
    let violations = handler_violations(&read_all(production_files()));
    assert!(
        violations.is_empty(),
        "handlers must take a context, not the session:\n{}",
        violations.join("\n")
    );
}

#[test]
fn only_allowed_modules_touch_the_disk() {
    check(
        &read_all(production_files()),
        disk_violations,
        "disk access outside allowed modules",
    );
}

#[test]
fn proto_modules_do_no_io() {
    check(
        &read_all(source_files()),
        proto_io_violations,
        "I/O in pure protocol code",
    );
}

#[test]
fn modules_do_not_re_export_other_modules() {
    check(
        &read_all(production_files()),
        re_export_violations,
        "re-exports across modules (callers must name the owner)",
    );
}

#[test]
fn no_stubs_in_source() {
    check(
        &read_all(source_files()),
        stub_violations,
        "stubs left in src",
    );
}

#[test]
fn the_architecture_document_maps_every_module() {
    let modules: Vec<String> = production_files()
        .iter()
        .map(|path| module_path(&relative(path)))
        .filter(|module| !module.is_empty())
        .map(|module| graph::display(&module))
        .collect();
    let doc = fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/ARCHITECTURE.md"),
    )
    .unwrap();
    let violations = architecture_violations(&modules, &doc);
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}
