//! What a client gets wrong or tries on: unknown and stale handles, paths that try to leave the
//! root, reads far past the end, writes on a handle opened for reading, and the routing that
//! makes a CLOSE end a handle for the requests after it.

use std::os::unix::fs::symlink;

use crate::sftp::handles::Resolved;
use crate::sftp::proto::{FileAttributes, OpenFlags, RequestKind, StatusCode};
use crate::sftp::session::{lookup, route, Route};

use super::fixture::{bytes, close, flags, open, read, write, Fixture, Reply};

#[tokio::test]
async fn requests_on_an_unknown_handle_fail_with_invalid_handle() {
    let mut fixture = Fixture::new().await;
    for handle in [bytes("999"), bytes("not-a-number"), bytes("")] {
        for request in [
            read(&handle, 0, 10),
            write(&handle, 0, b"x"),
            close(&handle),
            RequestKind::Fstat {
                handle: handle.clone(),
            },
            RequestKind::Readdir {
                handle: handle.clone(),
            },
        ] {
            let reply = fixture.send(request).await;
            assert_eq!(reply, Reply::Status(4, "invalid handle".to_owned()));
        }
    }
}

#[tokio::test]
async fn a_closed_handle_is_gone_and_never_names_a_newer_file() {
    let mut fixture = Fixture::new().await;
    fixture.write("one", b"1");
    fixture.write("two", b"2");
    let first = fixture.open("one", OpenFlags::READ).await;
    assert_eq!(fixture.status(close(&first)).await, StatusCode::Ok);
    let second = fixture.open("two", OpenFlags::READ).await;
    assert_ne!(first, second);
    assert_eq!(
        fixture.status(read(&first, 0, 1)).await,
        StatusCode::Failure
    );
    assert_eq!(fixture.status(close(&first)).await, StatusCode::Failure);
}

#[tokio::test]
async fn a_file_handle_is_not_a_directory_handle_and_back() {
    let mut fixture = Fixture::new().await;
    fixture.write("dir/file", b"x");
    let file = fixture.open("dir/file", OpenFlags::READ).await;
    let dir = fixture
        .send(RequestKind::Opendir { path: bytes("dir") })
        .await
        .handle();
    let status = fixture.status(RequestKind::Readdir { handle: file }).await;
    assert_eq!(status, StatusCode::Failure);
    assert_eq!(fixture.status(read(&dir, 0, 1)).await, StatusCode::Failure);
}

#[tokio::test]
async fn dot_dot_cannot_climb_out_of_the_root() {
    let mut fixture = Fixture::new().await;
    let escape = "../outside/secret";
    let status = fixture
        .status(open(escape, OpenFlags::READ, FileAttributes::default()))
        .await;
    assert_eq!(status, StatusCode::NoSuchFile, "`..` stops at the root");
    let names = fixture
        .send(RequestKind::Realpath {
            path: bytes("/../../.."),
        })
        .await
        .names();
    assert_eq!(names, ["/"]);
    let upload = flags(&[OpenFlags::WRITE, OpenFlags::CREAT, OpenFlags::TRUNC]);
    let handle = fixture.open("../../escaped", upload).await;
    assert_eq!(fixture.status(close(&handle)).await, StatusCode::Ok);
    assert!(fixture.exists("escaped"), "written inside the root");
    assert!(!fixture.temp.path().join("escaped").exists());
}

#[tokio::test]
async fn an_absolute_path_names_a_file_under_the_root() {
    let mut fixture = Fixture::new().await;
    let host_file = fixture.temp.path().join("outside/secret");
    let absolute = host_file.to_str().unwrap().to_owned();
    let status = fixture
        .status(RequestKind::Stat {
            path: bytes(&absolute),
        })
        .await;
    assert_eq!(status, StatusCode::NoSuchFile);
    let status = fixture
        .status(RequestKind::Stat {
            path: bytes("/etc/passwd"),
        })
        .await;
    assert_eq!(status, StatusCode::NoSuchFile);
}

#[tokio::test]
async fn a_symlink_planted_to_the_outside_is_not_followed() {
    let mut fixture = Fixture::new().await;
    symlink("../outside/secret", fixture.home().join("door")).unwrap();
    symlink(
        fixture.temp.path().join("outside"),
        fixture.home().join("hall"),
    )
    .unwrap();
    let via_link = fixture
        .send(open("door", OpenFlags::READ, FileAttributes::default()))
        .await;
    let refused = [StatusCode::PermissionDenied, StatusCode::NoSuchFile];
    assert!(refused.contains(&via_link.code().unwrap()), "{via_link:?}");
    let via_dir = fixture
        .send(open(
            "hall/secret",
            OpenFlags::READ,
            FileAttributes::default(),
        ))
        .await;
    assert!(refused.contains(&via_dir.code().unwrap()), "{via_dir:?}");
    let readlink = fixture
        .send(RequestKind::Readlink {
            path: bytes("hall"),
        })
        .await;
    assert_eq!(readlink.code(), Some(StatusCode::PermissionDenied));
}

#[tokio::test]
async fn a_symlink_request_pointing_outside_is_refused() {
    let mut fixture = Fixture::new().await;
    for target in ["../outside/secret", "/../../etc/passwd"] {
        let reply = fixture
            .send(RequestKind::Symlink {
                target: bytes(target),
                link_path: bytes("sneaky"),
            })
            .await;
        assert!(
            reply.code().is_some_and(|code| code != StatusCode::Ok),
            "{target}: {reply:?}"
        );
        let escaped = fixture.read("sneaky");
        assert_ne!(escaped.as_deref(), Some(&b"top secret"[..]), "{target}");
    }
}

#[tokio::test]
async fn a_read_at_a_huge_offset_is_eof_or_bad_message_and_the_handle_still_works() {
    let mut fixture = Fixture::new().await;
    fixture.write("small", b"tiny");
    let handle = fixture.open("small", OpenFlags::READ).await;
    assert_eq!(
        fixture.status(read(&handle, 1 << 62, 1)).await,
        StatusCode::Eof
    );
    // Past the largest file offset the kernel answers EINVAL, which OpenSSH's
    // errno_to_portable() also reports as BAD_MESSAGE; no OS text reaches the client.
    let reply = fixture.send(read(&handle, u64::MAX, 4096)).await;
    let Reply::Status(code, message) = &reply else {
        panic!("expected a status, got {reply:?}");
    };
    assert_eq!(*code, StatusCode::BadMessage.code());
    assert!(!message.contains("os error"), "{message}");
    assert_eq!(
        fixture.send(read(&handle, 0, 64)).await,
        Reply::Data(bytes("tiny"))
    );
}

#[tokio::test]
async fn a_write_on_a_handle_opened_for_reading_is_refused() {
    let mut fixture = Fixture::new().await;
    fixture.write("readonly", b"keep me");
    let handle = fixture.open("readonly", OpenFlags::READ).await;
    let status = fixture.status(write(&handle, 0, b"clobber")).await;
    assert_eq!(status, StatusCode::PermissionDenied);
    assert_eq!(fixture.read("readonly").unwrap(), b"keep me");
    let upload = fixture
        .open("upload", flags(&[OpenFlags::WRITE, OpenFlags::CREAT]))
        .await;
    assert_eq!(
        fixture.status(read(&upload, 0, 1)).await,
        StatusCode::PermissionDenied
    );
}

#[tokio::test]
async fn a_read_only_user_cannot_open_for_writing_or_change_anything() {
    let mut fixture = Fixture::with(|spec, _| {
        spec.permissions = crate::vfs::PermissionRules::new(crate::vfs::Permissions::READ_ONLY);
    })
    .await;
    fixture.write("precious", b"original");
    let upload = flags(&[OpenFlags::WRITE, OpenFlags::CREAT, OpenFlags::TRUNC]);
    let status = fixture
        .status(open("precious", upload, FileAttributes::default()))
        .await;
    assert_eq!(status, StatusCode::PermissionDenied);
    let remove = RequestKind::Remove {
        path: bytes("precious"),
    };
    assert_eq!(fixture.status(remove).await, StatusCode::PermissionDenied);
    assert_eq!(fixture.read("precious").unwrap(), b"original");
}

#[tokio::test]
async fn close_takes_its_handle_out_of_the_table_at_lookup() {
    let mut fixture = Fixture::new().await;
    fixture.write("file", b"x");
    let handle = fixture.open("file", OpenFlags::READ).await;
    let closing = route(&close(&handle));
    assert_eq!(
        closing,
        Route::Ordered {
            handles: vec![handle.clone()],
            closing: true
        }
    );
    assert!(matches!(
        lookup(&fixture.channel, &closing),
        Some(Resolved::One(_))
    ));
    let reading = route(&read(&handle, 0, 1));
    assert_eq!(reading, Route::Data(handle.clone()));
    assert!(lookup(&fixture.channel, &reading).is_none(), "gone at once");
}

#[test]
fn requests_without_handles_go_to_the_lane_and_copy_data_names_both() {
    let realpath = RequestKind::Realpath { path: bytes(".") };
    assert_eq!(route(&realpath), Route::Lane);
    let copy = RequestKind::CopyData {
        read_handle: bytes("1"),
        read_offset: 0,
        read_length: 0,
        write_handle: bytes("2"),
        write_offset: 0,
    };
    assert_eq!(
        route(&copy),
        Route::Ordered {
            handles: vec![bytes("1"), bytes("2")],
            closing: false
        }
    );
}
