//! Requests on paths: STAT, LSTAT, SETSTAT, lsetstat, OPENDIR/READDIR, REMOVE, MKDIR, RMDIR,
//! REALPATH, RENAME, posix-rename, READLINK, SYMLINK, hardlink.

use std::os::unix::fs::{symlink, MetadataExt as _};

use crate::audit::Action;
use crate::sftp::proto::{FileAttributes, OpenFlags, RequestKind, StatusCode};

use super::fixture::{bytes, close, mode, Fixture, Reply};

fn path(kind: fn(bytes::Bytes) -> RequestKind, text: &str) -> RequestKind {
    kind(bytes(text))
}

fn stat(text: &str) -> RequestKind {
    path(|path| RequestKind::Stat { path }, text)
}

fn lstat(text: &str) -> RequestKind {
    path(|path| RequestKind::Lstat { path }, text)
}

fn rename(from: &str, to: &str, posix: bool) -> RequestKind {
    let (old_path, new_path) = (bytes(from), bytes(to));
    if posix {
        RequestKind::PosixRename { old_path, new_path }
    } else {
        RequestKind::Rename { old_path, new_path }
    }
}

#[tokio::test]
async fn stat_follows_a_symlink_and_lstat_does_not() {
    let mut fixture = Fixture::new().await;
    fixture.write("target.txt", b"12345");
    symlink("target.txt", fixture.home().join("link")).unwrap();
    let followed = fixture.send(stat("/link")).await.attrs();
    assert_eq!(followed.size, Some(5));
    assert_eq!(followed.permissions.unwrap() & 0o170_000, 0o100_000);
    let own = fixture.send(lstat("link")).await.attrs();
    assert_eq!(own.permissions.unwrap() & 0o170_000, 0o120_000);
}

#[tokio::test]
async fn stat_of_a_missing_path_is_no_such_file() {
    let mut fixture = Fixture::new().await;
    assert_eq!(
        fixture.status(stat("nothing")).await,
        StatusCode::NoSuchFile
    );
}

#[tokio::test]
async fn setstat_changes_the_mode_and_is_audited() {
    let mut fixture = Fixture::new().await;
    fixture.write("script", b"#!/bin/sh\n");
    let status = fixture
        .status(RequestKind::Setstat {
            path: bytes("script"),
            attrs: mode(0o700),
        })
        .await;
    assert_eq!(status, StatusCode::Ok);
    assert_eq!(fixture.mode("script"), 0o700);
    assert!(fixture
        .audited()
        .contains(&(Action::SetAttributes, "/script".to_owned(), 0, "ok")));
}

#[tokio::test]
async fn setstat_of_the_owner_is_ignored_unless_attributes_are_strict() {
    let owner = FileAttributes {
        uid_gid: Some((0, 0)),
        ..FileAttributes::default()
    };
    let mut lenient = Fixture::new().await;
    lenient.write("file", b"x");
    let request = RequestKind::Setstat {
        path: bytes("file"),
        attrs: owner.clone(),
    };
    assert_eq!(lenient.status(request.clone()).await, StatusCode::Ok);
    let mut strict = Fixture::with(|_, strict| *strict = true).await;
    strict.write("file", b"x");
    assert_eq!(strict.status(request).await, StatusCode::PermissionDenied);
}

#[tokio::test]
async fn lsetstat_leaves_the_target_of_a_symlink_alone() {
    let mut fixture = Fixture::new().await;
    fixture.write("real", b"x");
    std::fs::set_permissions(
        fixture.home().join("real"),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    symlink("real", fixture.home().join("alias")).unwrap();
    let status = fixture
        .status(RequestKind::Lsetstat {
            path: bytes("alias"),
            attrs: mode(0o600),
        })
        .await;
    assert_eq!(status, StatusCode::Ok);
    assert_eq!(fixture.mode("real"), 0o644);
}

#[tokio::test]
async fn readdir_pages_through_a_large_directory_then_says_eof() {
    let mut fixture = Fixture::new().await;
    for n in 0..150 {
        fixture.write(&format!("dir/file{n:03}"), b"");
    }
    let handle = fixture
        .send(RequestKind::Opendir { path: bytes("dir") })
        .await
        .handle();
    let mut names = Vec::new();
    let mut pages = 0;
    loop {
        let reply = fixture
            .send(RequestKind::Readdir {
                handle: handle.clone(),
            })
            .await;
        if reply.code() == Some(StatusCode::Eof) {
            break;
        }
        pages += 1;
        names.extend(reply.names());
    }
    assert!(pages >= 2, "150 entries take more than one page");
    names.retain(|name| name != "." && name != "..");
    names.sort();
    let expected: Vec<_> = (0..150).map(|n| format!("file{n:03}")).collect();
    assert_eq!(names, expected);
    assert_eq!(fixture.status(close(&handle)).await, StatusCode::Ok);
}

#[tokio::test]
async fn readdir_entries_carry_a_longname_with_the_user() {
    let mut fixture = Fixture::new().await;
    fixture.write("pics/cat.jpg", b"meow");
    let handle = fixture
        .send(RequestKind::Opendir {
            path: bytes("/pics"),
        })
        .await
        .handle();
    let Reply::Name(entries) = fixture.send(RequestKind::Readdir { handle }).await else {
        panic!("expected names");
    };
    let cat = entries.iter().find(|entry| entry.0 == "cat.jpg").unwrap();
    assert!(cat.1.starts_with("-rw"), "{}", cat.1);
    assert!(
        cat.1.contains("alice") && cat.1.ends_with("cat.jpg"),
        "{}",
        cat.1
    );
    assert_eq!(cat.2.size, Some(4));
}

#[tokio::test]
async fn opendir_of_a_file_fails() {
    let mut fixture = Fixture::new().await;
    fixture.write("plain", b"x");
    let reply = fixture
        .send(RequestKind::Opendir {
            path: bytes("plain"),
        })
        .await;
    assert!(
        reply.code().is_some_and(|code| code != StatusCode::Ok),
        "{reply:?}"
    );
}

#[tokio::test]
async fn remove_deletes_a_file_but_not_a_directory() {
    let mut fixture = Fixture::new().await;
    fixture.write("junk", b"x");
    std::fs::create_dir(fixture.home().join("keep")).unwrap();
    let remove = |text: &str| RequestKind::Remove { path: bytes(text) };
    assert_eq!(fixture.status(remove("junk")).await, StatusCode::Ok);
    assert!(!fixture.exists("junk"));
    assert_ne!(fixture.status(remove("keep")).await, StatusCode::Ok);
    assert!(fixture.exists("keep"));
    assert_eq!(fixture.status(remove("junk")).await, StatusCode::NoSuchFile);
    assert!(fixture
        .audited()
        .contains(&(Action::Delete, "/junk".to_owned(), 0, "ok")));
}

#[tokio::test]
async fn mkdir_applies_the_umask_to_the_mode_asked_for() {
    let mut fixture = Fixture::with(|spec, _| spec.umask = Some(0o027)).await;
    let status = fixture
        .status(RequestKind::Mkdir {
            path: bytes("shared"),
            attrs: mode(0o777),
        })
        .await;
    assert_eq!(status, StatusCode::Ok);
    assert_eq!(fixture.mode("shared"), 0o750);
    let status = fixture
        .status(RequestKind::Mkdir {
            path: bytes("plain"),
            attrs: FileAttributes::default(),
        })
        .await;
    assert_eq!(status, StatusCode::Ok);
    assert_eq!(
        fixture.mode("plain"),
        0o750,
        "the default mode, less the umask"
    );
}

#[tokio::test]
async fn mkdir_of_an_existing_name_fails() {
    let mut fixture = Fixture::new().await;
    fixture.write("exists", b"x");
    let status = fixture
        .status(RequestKind::Mkdir {
            path: bytes("exists"),
            attrs: FileAttributes::default(),
        })
        .await;
    assert_eq!(status, StatusCode::Failure);
}

#[tokio::test]
async fn rmdir_removes_only_an_empty_directory() {
    let mut fixture = Fixture::new().await;
    std::fs::create_dir(fixture.home().join("empty")).unwrap();
    fixture.write("full/item", b"x");
    let rmdir = |text: &str| RequestKind::Rmdir { path: bytes(text) };
    assert_eq!(fixture.status(rmdir("empty")).await, StatusCode::Ok);
    assert!(!fixture.exists("empty"));
    assert_ne!(fixture.status(rmdir("full")).await, StatusCode::Ok);
    assert!(fixture.exists("full/item"));
}

#[tokio::test]
async fn realpath_normalises_without_needing_the_path_to_exist() {
    let mut fixture = Fixture::new().await;
    let realpath = |text: &str| RequestKind::Realpath { path: bytes(text) };
    assert_eq!(fixture.send(realpath("")).await.names(), ["/"]);
    assert_eq!(fixture.send(realpath(".")).await.names(), ["/"]);
    let names = fixture.send(realpath("a/./b/../c")).await.names();
    assert_eq!(names, ["/a/c"]);
}

#[tokio::test]
async fn rename_refuses_to_replace_and_posix_rename_replaces() {
    let mut fixture = Fixture::new().await;
    fixture.write("a", b"first");
    fixture.write("b", b"second");
    assert_eq!(
        fixture.status(rename("a", "b", false)).await,
        StatusCode::Failure
    );
    assert_eq!(fixture.read("b").unwrap(), b"second");
    assert_eq!(
        fixture.status(rename("a", "c", false)).await,
        StatusCode::Ok
    );
    assert_eq!(fixture.read("c").unwrap(), b"first");
    assert_eq!(fixture.status(rename("c", "b", true)).await, StatusCode::Ok);
    assert_eq!(fixture.read("b").unwrap(), b"first");
    assert!(!fixture.exists("a") && !fixture.exists("c"));
    assert!(fixture
        .audited()
        .contains(&(Action::Rename, "/a".to_owned(), 0, "ok")));
}

#[tokio::test]
async fn readlink_returns_the_link_text_as_stored() {
    let mut fixture = Fixture::new().await;
    fixture.write("docs/guide.txt", b"x");
    symlink("docs/guide.txt", fixture.home().join("guide")).unwrap();
    let reply = fixture
        .send(RequestKind::Readlink {
            path: bytes("/guide"),
        })
        .await;
    assert_eq!(reply.names(), ["docs/guide.txt"]);
}

#[tokio::test]
async fn symlink_creates_a_link_inside_the_root() {
    let mut fixture = Fixture::new().await;
    fixture.write("data/file", b"contents");
    let status = fixture
        .status(RequestKind::Symlink {
            target: bytes("/data/file"),
            link_path: bytes("/shortcut"),
        })
        .await;
    assert_eq!(status, StatusCode::Ok);
    assert_eq!(fixture.read("shortcut").unwrap(), b"contents");
    let handle = fixture.open("shortcut", OpenFlags::READ).await;
    let reply = fixture.send(super::fixture::read(&handle, 0, 64)).await;
    assert_eq!(reply, Reply::Data(bytes("contents")));
}

#[tokio::test]
async fn hardlink_gives_a_file_a_second_name() {
    let mut fixture = Fixture::new().await;
    fixture.write("original", b"shared bytes");
    let status = fixture
        .status(RequestKind::Hardlink {
            old_path: bytes("original"),
            new_path: bytes("copy"),
        })
        .await;
    assert_eq!(status, StatusCode::Ok);
    let inode = |name: &str| std::fs::metadata(fixture.home().join(name)).unwrap().ino();
    assert_eq!(inode("original"), inode("copy"));
}
