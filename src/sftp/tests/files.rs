//! Open files: OPEN in each mode, READ, WRITE, CLOSE, FSTAT, FSETSTAT, fsync, copy-data.

use crate::audit::Action;
use crate::sftp::proto::{FileAttributes, OpenFlags, RequestKind, StatusCode, MAX_READ_LENGTH};

use super::fixture::{bytes, close, flags, mode, open, read, write, Fixture, Reply};

const UPLOAD: &[OpenFlags] = &[OpenFlags::WRITE, OpenFlags::CREAT, OpenFlags::TRUNC];

#[tokio::test]
async fn open_for_reading_then_read_returns_the_bytes_and_then_eof() {
    let mut fixture = Fixture::new().await;
    fixture.write("notes.txt", b"hello world");
    let handle = fixture.open("notes.txt", OpenFlags::READ).await;
    let reply = fixture.send(read(&handle, 6, 100)).await;
    assert_eq!(reply, Reply::Data(bytes("world")));
    assert_eq!(
        fixture.status(read(&handle, 11, 100)).await,
        StatusCode::Eof
    );
    assert_eq!(fixture.status(close(&handle)).await, StatusCode::Ok);
    let audited = fixture.audited();
    assert_eq!(
        audited,
        [(Action::Download, "/notes.txt".to_owned(), 5, "ok")]
    );
}

#[tokio::test]
async fn open_for_reading_a_missing_file_is_no_such_file() {
    let mut fixture = Fixture::new().await;
    let status = fixture
        .status(open("missing", OpenFlags::READ, FileAttributes::default()))
        .await;
    assert_eq!(status, StatusCode::NoSuchFile);
}

#[tokio::test]
async fn an_upload_appears_only_when_close_commits_it() {
    let mut fixture = Fixture::new().await;
    fixture.write("report.csv", b"old");
    let handle = fixture.open("report.csv", flags(UPLOAD)).await;
    assert_eq!(
        fixture.status(write(&handle, 0, b"new ")).await,
        StatusCode::Ok
    );
    assert_eq!(
        fixture.status(write(&handle, 4, b"data")).await,
        StatusCode::Ok
    );
    assert_eq!(
        fixture.read("report.csv").unwrap(),
        b"old",
        "not yet committed"
    );
    assert_eq!(fixture.status(close(&handle)).await, StatusCode::Ok);
    assert_eq!(fixture.read("report.csv").unwrap(), b"new data");
    let uploads: Vec<_> = fixture
        .audited()
        .into_iter()
        .filter(|event| event.0 == Action::Upload)
        .collect();
    assert_eq!(
        uploads,
        [(Action::Upload, "/report.csv".to_owned(), 8, "ok")]
    );
}

#[tokio::test]
async fn an_upload_cut_off_before_close_leaves_the_old_file() {
    let mut fixture = Fixture::new().await;
    fixture.write("report.csv", b"old");
    let handle = fixture.open("report.csv", flags(UPLOAD)).await;
    assert_eq!(
        fixture.status(write(&handle, 0, b"partial")).await,
        StatusCode::Ok
    );
    fixture.disconnect().await;
    assert_eq!(fixture.read("report.csv").unwrap(), b"old");
    let entries = std::fs::read_dir(fixture.home()).unwrap().count();
    assert_eq!(entries, 1, "no temporary file is left behind");
    assert!(fixture
        .audited()
        .contains(&(Action::Upload, "/report.csv".to_owned(), 7, "aborted")));
}

#[tokio::test]
async fn an_upload_refused_by_the_quota_fails_at_close_and_leaves_the_old_file() {
    let mut fixture = Fixture::with(|spec, _| spec.quota.max_bytes = Some(10)).await;
    fixture.write("data.bin", b"old");
    let handle = fixture.open("data.bin", flags(UPLOAD)).await;
    let refused = fixture.status(write(&handle, 0, &[7u8; 64])).await;
    assert_ne!(refused, StatusCode::Ok);
    assert_ne!(fixture.status(close(&handle)).await, StatusCode::Ok);
    assert_eq!(fixture.read("data.bin").unwrap(), b"old");
    assert!(fixture
        .audited()
        .iter()
        .any(|event| event.0 == Action::Upload && event.3 == "failed"));
}

#[tokio::test]
async fn creat_excl_refuses_an_existing_file_and_creates_a_new_one() {
    let mut fixture = Fixture::new().await;
    fixture.write("taken", b"mine");
    let exclusive = flags(&[OpenFlags::WRITE, OpenFlags::CREAT, OpenFlags::EXCL]);
    let status = fixture
        .status(open("taken", exclusive, FileAttributes::default()))
        .await;
    assert_eq!(status, StatusCode::Failure, "already exists");
    assert_eq!(fixture.read("taken").unwrap(), b"mine");
    let handle = fixture.open("fresh", exclusive).await;
    fixture.send(write(&handle, 0, b"new")).await;
    assert_eq!(fixture.status(close(&handle)).await, StatusCode::Ok);
    assert_eq!(fixture.read("fresh").unwrap(), b"new");
}

#[tokio::test]
async fn trunc_with_read_truncates_in_place_and_reads_back_what_it_wrote() {
    let mut fixture = Fixture::new().await;
    fixture.write("scratch", b"a long old text");
    let both = flags(&[OpenFlags::READ, OpenFlags::WRITE, OpenFlags::TRUNC]);
    let handle = fixture.open("scratch", both).await;
    assert_eq!(fixture.read("scratch").unwrap(), b"", "truncated at open");
    fixture.send(write(&handle, 0, b"short")).await;
    assert_eq!(
        fixture.send(read(&handle, 0, 64)).await,
        Reply::Data(bytes("short"))
    );
    assert_eq!(fixture.status(close(&handle)).await, StatusCode::Ok);
    assert_eq!(fixture.read("scratch").unwrap(), b"short");
}

#[tokio::test]
async fn write_without_trunc_changes_the_file_in_place() {
    let mut fixture = Fixture::new().await;
    fixture.write("patch.me", b"0123456789");
    let handle = fixture.open("patch.me", OpenFlags::WRITE).await;
    assert_eq!(
        fixture.status(write(&handle, 2, b"ab")).await,
        StatusCode::Ok
    );
    assert_eq!(
        fixture.read("patch.me").unwrap(),
        b"01ab456789",
        "no temporary file"
    );
    assert_eq!(fixture.status(close(&handle)).await, StatusCode::Ok);
    assert_eq!(fixture.read("patch.me").unwrap(), b"01ab456789");
}

#[tokio::test]
async fn the_session_list_shows_the_open_transfer_until_close() {
    let mut fixture = Fixture::new().await;
    assert_eq!(fixture.shown_transfer(), (None, 0));
    let handle = fixture.open("incoming.iso", flags(UPLOAD)).await;
    fixture.send(write(&handle, 0, b"12345")).await;
    let (shown, bytes) = fixture.shown_transfer();
    assert_eq!(shown.as_deref(), Some("upload /incoming.iso"));
    assert_eq!(bytes, 5);
    assert_eq!(fixture.status(close(&handle)).await, StatusCode::Ok);
    assert_eq!(fixture.shown_transfer().0, None);
}

#[tokio::test]
async fn append_adds_to_the_end_of_the_file() {
    let mut fixture = Fixture::new().await;
    fixture.write("log", b"one\n");
    let handle = fixture
        .open("log", flags(&[OpenFlags::WRITE, OpenFlags::APPEND]))
        .await;
    fixture.send(write(&handle, 0, b"two\n")).await;
    assert_eq!(fixture.status(close(&handle)).await, StatusCode::Ok);
    assert_eq!(fixture.read("log").unwrap(), b"one\ntwo\n");
}

#[tokio::test]
async fn write_without_creat_needs_an_existing_file() {
    let mut fixture = Fixture::new().await;
    let status = fixture
        .status(open("absent", OpenFlags::WRITE, FileAttributes::default()))
        .await;
    assert_eq!(status, StatusCode::NoSuchFile);
    assert!(!fixture.exists("absent"));
}

#[tokio::test]
async fn the_mode_sent_with_open_is_given_at_commit_less_the_umask() {
    let mut fixture = Fixture::new().await;
    let reply = fixture
        .send(open("run.sh", flags(UPLOAD), mode(0o777)))
        .await;
    let handle = reply.handle();
    assert_eq!(fixture.status(close(&handle)).await, StatusCode::Ok);
    assert_eq!(fixture.mode("run.sh"), 0o755);
}

#[tokio::test]
async fn fstat_reports_the_open_files_size() {
    let mut fixture = Fixture::new().await;
    fixture.write("sized", b"0123456789");
    let handle = fixture.open("sized", OpenFlags::READ).await;
    let attrs = fixture
        .send(RequestKind::Fstat {
            handle: handle.clone(),
        })
        .await
        .attrs();
    assert_eq!(attrs.size, Some(10));
    assert_eq!(
        attrs.permissions.map(|mode| mode & 0o170_000),
        Some(0o100_000)
    );
}

#[tokio::test]
async fn fsetstat_sets_the_size_now_and_the_times_of_an_upload_at_commit() {
    let mut fixture = Fixture::new().await;
    let handle = fixture.open("stamped", flags(UPLOAD)).await;
    fixture.send(write(&handle, 0, b"0123456789")).await;
    let attrs = FileAttributes {
        size: Some(4),
        atime_mtime: Some((1_000_000_000, 1_000_000_000)),
        ..FileAttributes::default()
    };
    let status = fixture
        .status(RequestKind::Fsetstat {
            handle: handle.clone(),
            attrs,
        })
        .await;
    assert_eq!(status, StatusCode::Ok);
    assert_eq!(fixture.status(close(&handle)).await, StatusCode::Ok);
    assert_eq!(fixture.read("stamped").unwrap(), b"0123");
    let mtime = std::fs::metadata(fixture.home().join("stamped"))
        .unwrap()
        .modified()
        .unwrap();
    let secs = mtime
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert_eq!(secs, 1_000_000_000);
}

#[tokio::test]
async fn fsync_of_an_upload_succeeds() {
    let mut fixture = Fixture::new().await;
    let handle = fixture.open("synced", flags(UPLOAD)).await;
    fixture.send(write(&handle, 0, b"durable")).await;
    let status = fixture
        .status(RequestKind::Fsync {
            handle: handle.clone(),
        })
        .await;
    assert_eq!(status, StatusCode::Ok);
    assert_eq!(fixture.status(close(&handle)).await, StatusCode::Ok);
    assert_eq!(fixture.read("synced").unwrap(), b"durable");
}

#[tokio::test]
async fn copy_data_copies_between_two_handles_on_the_server() {
    let mut fixture = Fixture::new().await;
    fixture.write("source", b"abcdefghij");
    let source = fixture.open("source", OpenFlags::READ).await;
    let target = fixture.open("target", flags(UPLOAD)).await;
    let status = fixture
        .status(RequestKind::CopyData {
            read_handle: source.clone(),
            read_offset: 2,
            read_length: 5,
            write_handle: target.clone(),
            write_offset: 0,
        })
        .await;
    assert_eq!(status, StatusCode::Ok);
    assert_eq!(fixture.status(close(&target)).await, StatusCode::Ok);
    assert_eq!(fixture.read("target").unwrap(), b"cdefg");
}

#[tokio::test]
async fn copy_data_refuses_overlapping_ranges_of_one_handle() {
    let mut fixture = Fixture::new().await;
    fixture.write("same", b"abcdefghij");
    let both = flags(&[OpenFlags::READ, OpenFlags::WRITE]);
    let handle = fixture.open("same", both).await;
    let status = fixture
        .status(RequestKind::CopyData {
            read_handle: handle.clone(),
            read_offset: 0,
            read_length: 6,
            write_handle: handle.clone(),
            write_offset: 3,
        })
        .await;
    assert_eq!(status, StatusCode::Failure);
    assert_eq!(fixture.read("same").unwrap(), b"abcdefghij");
}

#[tokio::test]
async fn a_read_asks_at_most_the_read_limit() {
    let mut fixture = Fixture::new().await;
    let big = vec![b'x'; MAX_READ_LENGTH as usize + 1000];
    fixture.write("big", &big);
    let handle = fixture.open("big", OpenFlags::READ).await;
    let Reply::Data(data) = fixture.send(read(&handle, 0, u32::MAX)).await else {
        panic!("expected data");
    };
    assert_eq!(data.len(), MAX_READ_LENGTH as usize);
}
