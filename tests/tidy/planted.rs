//! Each tidy rule fails on a planted violation and passes the clean version of the same code;
//! and the source reader sees through the forms that once hid a violation.

use super::*;

#[test]
fn a_file_without_a_module_doc_is_caught() {
    assert_eq!(doc_violations("src/x.rs", "use std::fs;\n").len(), 1);
    assert!(doc_violations("src/x.rs", "//! Why x exists.\nuse std::fs;\n").is_empty());
}

#[test]
fn a_long_file_is_caught_and_front_ends_have_the_lower_limit() {
    let lines = |count: usize| "fn f() {}\n".repeat(count);
    assert_eq!(length_violations("src/vfs/x.rs", &lines(801)).len(), 1);
    assert!(length_violations("src/vfs/x.rs", &lines(800)).is_empty());
    assert_eq!(length_violations("src/ftp/x.rs", &lines(601)).len(), 1);
    assert_eq!(
        length_violations("src/sftp/requests/x.rs", &lines(601)).len(),
        1
    );
    assert!(length_violations("src/sftp/x.rs", &lines(600)).is_empty());
}

#[test]
fn an_upward_dependency_is_caught_in_every_path_form() {
    for code in [
        "use crate::server::Server;",
        "use crate::{config::Config, server};",
        "fn f() { crate::server::start(); }",
        "use super::super::super::server::x;",
        "#[cfg(test)]\nmod tests {}\nuse crate::server::x;",
    ] {
        let found = dependency_violations("src/vfs/upload/x.rs", code);
        assert!(
            found.iter().any(|line| line.contains("crate::server")),
            "{code:?}: {found:?}"
        );
    }
    assert!(dependency_violations("src/auth/x.rs", "use crate::config::Config;").is_empty());
    // Test code may reach anywhere.
    let test_only = "#[cfg(test)]\nmod tests {\n use crate::server::x;\n}\n";
    assert!(dependency_violations("src/vfs/x.rs", test_only).is_empty());
    // A module missing from the table is itself a violation.
    assert_eq!(dependency_violations("src/brand_new/x.rs", "").len(), 1);
}

#[test]
fn disk_access_outside_the_allowed_modules_is_caught_in_every_form() {
    for code in [
        "fn f() { std::fs::metadata(\"x\").ok(); }",
        "use std::{fs, io};\nfn f() { fs::read(\"x\").ok(); }",
        "use tokio::fs::File;",
        "fn f() { let _ = File::open(\"x\"); }",
    ] {
        assert!(
            !disk_violations("src/ftp/listing.rs", code).is_empty(),
            "{code:?}"
        );
    }
    let code = "fn f() { std::fs::metadata(\"x\").ok(); }";
    assert!(disk_violations("src/vfs/x.rs", code).is_empty());
    assert!(disk_violations("src/ftp/x.rs", "// std::fs is not used here\n").is_empty());
}

#[test]
fn io_in_a_proto_module_is_caught() {
    let code = "use tokio::io::AsyncReadExt;";
    assert_eq!(proto_io_violations("src/ftp/proto/x.rs", code).len(), 1);
    assert!(proto_io_violations("src/ftp/x.rs", code).is_empty());
    assert!(proto_io_violations("src/ftp/proto/x.rs", "use std::fmt;").is_empty());
}

#[test]
fn a_re_export_of_another_module_is_caught() {
    for code in [
        "pub use crate::ftp::certificate;",
        "pub(crate) use crate::sftp::host_keys;",
        "pub use super::ftp::x;",
        "pub use crate::{ftp::x, sftp::y};",
    ] {
        assert!(
            !re_export_violations("src/vfs/mod.rs", code).is_empty(),
            "{code:?}"
        );
    }
    // A module may re-export its own children, and import others privately.
    let own = "pub use upload::Upload;\npub use crate::vfs::x;\nuse crate::config::Config;";
    assert!(re_export_violations("src/vfs/mod.rs", own).is_empty());
}

#[test]
fn a_stub_is_caught() {
    assert_eq!(stub_violations("src/x.rs", "fn f() { todo!() }").len(), 1);
    assert_eq!(stub_violations("src/x.rs", "fn f() { dbg!(1); }").len(), 1);
    assert!(stub_violations("src/x.rs", "fn f() {}").is_empty());
}

fn file(relative: &str, code: &str) -> SourceFile {
    (relative.to_owned(), code.to_owned())
}

#[test]
fn a_circle_is_caught_in_every_path_form() {
    // A parent using a child while the child uses an item of the parent's file.
    let parent = file(
        "src/a/mod.rs",
        "mod child;\npub struct Shared;\nfn f() { child::g(); }",
    );
    for child in [
        "use super::Shared;",
        "use super::{Shared};",
        "fn g() { let _ = crate::a::Shared; }",
        "fn g() { let _ = super::Shared; }",
    ] {
        let found = circle_violations(&[parent.clone(), file("src/a/child.rs", child)]);
        assert_eq!(found, ["a <-> a::child"], "{child:?}");
    }
    // Through a third file, and through `super::super`.
    let found = circle_violations(&[
        file("src/a/mod.rs", "mod b;\nmod c;\nuse self::b::X;"),
        file("src/a/b.rs", "use super::c::Y;"),
        file("src/a/c/mod.rs", "mod d;\npub use d::Z;"),
        file("src/a/c/d.rs", "use super::super::X;"),
    ]);
    assert_eq!(found, ["a <-> a::b <-> a::c <-> a::c::d"]);
    // One way is fine; so is a child naming a sibling through its parent's path.
    let clean = circle_violations(&[
        file("src/a/mod.rs", "mod b;\nmod c;\npub use b::X;"),
        file("src/a/b.rs", "use super::c::Y;"),
        file("src/a/c.rs", "pub struct Y;"),
    ]);
    assert!(clean.is_empty(), "{clean:?}");
}

#[test]
fn a_handler_importing_its_session_is_caught() {
    let session = file("src/ftp/session.rs", "pub fn dispatch() {}");
    let root = file(
        "src/ftp/mod.rs",
        "mod commands;\nmod session;\npub struct Shared;",
    );
    for handler in [
        "use super::super::session::dispatch;",
        "use crate::ftp::session;",
        "fn f() { crate::ftp::session::dispatch(); }",
        "use super::super::Shared;",
    ] {
        let files = [
            root.clone(),
            session.clone(),
            file("src/ftp/commands/mod.rs", "mod files;"),
            file("src/ftp/commands/files.rs", handler),
        ];
        assert_eq!(handler_violations(&files).len(), 1, "{handler:?}");
    }
    let clean = [
        root,
        session,
        file("src/ftp/context.rs", "pub struct Context;"),
        file(
            "src/ftp/commands/files.rs",
            "use super::super::context::Context;",
        ),
    ];
    assert!(handler_violations(&clean).is_empty());
}

#[test]
fn the_architecture_map_must_name_each_module_and_only_modules() {
    let modules = vec!["ftp".to_owned(), "ftp::data".to_owned()];
    let doc = "# A\n`ftp` is…\n## Module map\n- `ftp`: front end\n- `ftp::data`: data\n";
    assert!(architecture_violations(&modules, doc).is_empty());
    let missing = "# A\n## Module map\n- `ftp`: front end\n";
    assert_eq!(architecture_violations(&modules, missing).len(), 1);
    let ghost = format!("{doc}- `ftp::gone`: removed\n");
    assert_eq!(architecture_violations(&modules, &ghost).len(), 1);
    assert!(!architecture_violations(&modules, "`ftp` `ftp::data`").is_empty());
}

#[test]
fn the_tidy_parser_sees_through_the_old_holes() {
    // Code after a test module is production code; the test module is not.
    let text = "mod a;\n#[cfg(test)]\nmod tests {\n use crate::server::x;\n fn f() { let s = \"}\"; }\n}\nuse crate::auth::y;\n";
    let code = production_code(text);
    assert!(
        code.contains("crate::auth") && !code.contains("crate::server"),
        "{code}"
    );
    // `super::` paths are resolved against the file's own module.
    let code = "use super::super::super::vfs::UserFs;\nuse super::{session::S, super::data};\n";
    let found = super_references(code, "src/ftp/commands/transfer.rs");
    assert_eq!(found.into_iter().collect::<Vec<_>>(), ["ftp", "vfs"]);
    let found = super_references("use super::vfs::x;", "src/ftp/mod.rs");
    assert_eq!(found.into_iter().collect::<Vec<_>>(), ["vfs"]);
    // Groups and inline calls cannot hide the file system.
    let grouped =
        expanded_paths("use std::{fs, io::{self, Read}};\nfn f() { fs::metadata(\"x\"); }");
    assert!(grouped.contains("std::fs") && grouped.contains("std::io::Read"));
    let inline = expanded_paths(&production_code(
        "fn f() { std::fs::metadata(\"/etc\").ok(); }",
    ));
    assert!(inline.contains("std::fs"));
    // Strings and comments name nothing.
    let quiet = production_code(
        "// crate::server\nlet s = \"crate::cli std::fs\"; let r = r#\"crate::ftp\"#;",
    );
    assert!(
        crate_references(&quiet).is_empty() && !quiet.contains("std::fs"),
        "{quiet}"
    );
    // Re-exports are seen, whatever their visibility.
    let statements = re_exports(
        "pub use crate::ftp::x;\npub(crate) use super::super::sftp::y;\nuse crate::vfs::z;",
    );
    assert_eq!(statements.len(), 2);
    let lifetimes = production_code("fn f<'a>(x: &'a str) -> char { '{' }");
    assert!(
        !lifetimes.contains('{')
            || lifetimes.matches('{').count() == lifetimes.matches('}').count()
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
