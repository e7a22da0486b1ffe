//! Requests on a folder that waits as object storage does and takes writes only in order (the
//! VFS's in-memory test backend): the reorder window's refusals reach the client as
//! `SSH_FX_OP_UNSUPPORTED` with the reason.

use crate::sftp::proto::{OpenFlags, StatusCode};
use crate::vfs::REORDER_WINDOW_BYTES;

use super::fixture::{close, flags, write, Fixture, Reply};

const UPLOAD: &[OpenFlags] = &[OpenFlags::WRITE, OpenFlags::CREAT, OpenFlags::TRUNC];

#[tokio::test]
async fn writes_out_of_order_within_the_window_upload_the_file() {
    let (mut fixture, memory) = Fixture::with_memory_folder("/bucket").await;
    let handle = fixture.open("/bucket/f", flags(UPLOAD)).await;
    for (offset, data) in [(4, &b"5678"[..]), (0, b"1234"), (8, b"9")] {
        let status = fixture.status(write(&handle, offset, data)).await;
        assert_eq!(status, StatusCode::Ok);
    }
    assert_eq!(fixture.status(close(&handle)).await, StatusCode::Ok);
    assert_eq!(memory.file("f").unwrap(), &b"123456789"[..]);
}

#[tokio::test]
async fn a_write_beyond_the_reorder_window_is_op_unsupported_with_the_reason() {
    let (mut fixture, memory) = Fixture::with_memory_folder("/bucket").await;
    let handle = fixture.open("/bucket/f", flags(UPLOAD)).await;
    let status = fixture.status(write(&handle, 0, b"start")).await;
    assert_eq!(status, StatusCode::Ok);
    let far = REORDER_WINDOW_BYTES + 100;
    let reply = fixture.send(write(&handle, far, b"far")).await;
    let Reply::Status(code, message) = &reply else {
        panic!("expected a status, got {reply:?}");
    };
    assert_eq!(*code, StatusCode::OpUnsupported.code());
    assert!(
        message.contains("object storage accepts writes in order"),
        "{message}"
    );
    assert!(
        message.contains(&format!("reorder window of {REORDER_WINDOW_BYTES}")),
        "{message}"
    );
    // The upload lost a write: CLOSE fails and nothing is published.
    assert_ne!(fixture.status(close(&handle)).await, StatusCode::Ok);
    assert!(memory.file("f").is_none());
}
