//! The reorder window of uploads to a backend without random writes (`upload_order`), driven
//! through `SharedFileWriter` as the SFTP front end drives it.

use bytes::Bytes;

use super::nonblocking::{on_memory, settle};
use super::*;

/// 64 KiB: not gathered, so each write reaches the reorder window as it is.
const BLOCK: usize = 64 * 1024;

fn block(index: usize) -> Bytes {
    Bytes::from(vec![index as u8 + 1; BLOCK])
}

fn blocks(count: usize) -> Vec<u8> {
    (0..count).flat_map(|index| block(index).to_vec()).collect()
}

async fn shared_writer(user_fs: &UserFs, path: &str) -> SharedFileWriter {
    let writer = user_fs
        .open_write(&vpath(path), WriteMode::Replace)
        .await
        .unwrap();
    writer.into_shared().await.unwrap()
}

async fn write(writer: &SharedFileWriter, index: usize) -> Result<(), VfsError> {
    writer.write_at((index * BLOCK) as u64, block(index)).await
}

fn detail(error: VfsError) -> String {
    assert_eq!(error.kind, VfsErrorKind::Unsupported, "{error}");
    error.detail.unwrap().into_owned()
}

#[tokio::test]
async fn writes_in_order_and_out_of_order_within_the_window_make_the_file() {
    let fixture = Fixture::new();
    let (user_fs, memory) = on_memory(&fixture, fixture.spec()).await;
    let writer = shared_writer(&user_fs, "/in-order").await;
    for index in 0..3 {
        write(&writer, index).await.unwrap();
    }
    writer.commit().await.unwrap();
    assert_eq!(memory.file("in-order").unwrap(), &blocks(3)[..]);

    let writer = shared_writer(&user_fs, "/reordered").await;
    for index in [2, 1, 4, 0, 3] {
        write(&writer, index).await.unwrap();
    }
    writer.commit().await.unwrap();
    assert_eq!(memory.file("reordered").unwrap(), &blocks(5)[..]);
}

#[tokio::test]
async fn concurrent_writes_reach_the_backend_in_order() {
    let fixture = Fixture::new();
    let (user_fs, memory) = on_memory(&fixture, fixture.spec()).await;
    let writer = shared_writer(&user_fs, "/f").await;
    let tasks: Vec<_> = [5, 3, 0, 7, 1, 6, 2, 4]
        .into_iter()
        .map(|index| {
            let writer = writer.clone();
            tokio::spawn(async move { write(&writer, index).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    writer.commit().await.unwrap();
    assert_eq!(memory.file("f").unwrap(), &blocks(8)[..]);
}

#[tokio::test]
async fn small_writes_out_of_order_are_gathered_and_put_in_order() {
    let fixture = Fixture::new();
    let (user_fs, memory) = on_memory(&fixture, fixture.spec()).await;
    let writer = shared_writer(&user_fs, "/f").await;
    let data: Vec<u8> = (0..32 * 1024 * 6).map(|i| (i / 7) as u8).collect();
    let chunks: Vec<&[u8]> = data.chunks(32 * 1024).collect();
    for index in [1, 0, 2, 4, 3, 5] {
        let offset = (index * 32 * 1024) as u64;
        let chunk = Bytes::copy_from_slice(chunks[index]);
        writer.write_at(offset, chunk).await.unwrap();
    }
    writer.commit().await.unwrap();
    assert_eq!(memory.file("f").unwrap(), &data[..]);
}

#[tokio::test]
async fn a_write_beyond_the_window_is_refused_and_the_upload_discarded() {
    let fixture = Fixture::new();
    let (user_fs, memory) = on_memory(&fixture, fixture.spec()).await;
    memory.put("f", b"old");
    let writer = shared_writer(&user_fs, "/f").await;
    write(&writer, 0).await.unwrap();
    let far = BLOCK as u64 + REORDER_WINDOW_BYTES;
    let message = detail(writer.write_at(far, block(0)).await.unwrap_err());
    assert!(
        message.contains(&format!(
            "{} bytes ahead of the next expected offset {BLOCK}",
            REORDER_WINDOW_BYTES + BLOCK as u64
        )),
        "{message}"
    );
    assert!(message.contains(&format!("reorder window of {REORDER_WINDOW_BYTES}")));
    // The upload lost data: nothing more is taken, and the commit discards it.
    assert_kind(write(&writer, 1).await, VfsErrorKind::Unsupported);
    assert_kind(writer.commit().await, VfsErrorKind::Unsupported);
    assert_eq!(memory.file("f").unwrap(), &b"old"[..]);
    assert_eq!(memory.stats().discarded, 1);
}

#[tokio::test]
async fn a_rewrite_is_refused() {
    let fixture = Fixture::new();
    let (user_fs, memory) = on_memory(&fixture, fixture.spec()).await;
    let writer = shared_writer(&user_fs, "/f").await;
    write(&writer, 0).await.unwrap();
    write(&writer, 1).await.unwrap();
    let message = detail(write(&writer, 0).await.unwrap_err());
    assert!(message.contains("goes back before the"), "{message}");
    assert!(writer.commit().await.is_err());
    assert!(memory.file("f").is_none());
}

#[tokio::test]
async fn too_many_held_writes_are_refused() {
    let fixture = Fixture::new();
    let (user_fs, _memory) = on_memory(&fixture, fixture.spec()).await;
    let writer = shared_writer(&user_fs, "/f").await;
    for index in 1..=REORDER_WINDOW_WRITES {
        write(&writer, index).await.unwrap();
    }
    let message = detail(write(&writer, REORDER_WINDOW_WRITES + 1).await.unwrap_err());
    assert!(message.contains("already wait"), "{message}");
}

#[tokio::test]
async fn a_gap_at_commit_discards_the_upload() {
    let fixture = Fixture::new();
    let (user_fs, memory) = on_memory(&fixture, fixture.spec()).await;
    let writer = shared_writer(&user_fs, "/f").await;
    write(&writer, 0).await.unwrap();
    write(&writer, 2).await.unwrap();
    let message = detail(writer.commit().await.unwrap_err());
    assert!(message.contains("gap"), "{message}");
    assert!(memory.file("f").is_none());
    assert_eq!(memory.stats().discarded, 1);

    // A writer dropped with data held: discarded too.
    let writer = shared_writer(&user_fs, "/g").await;
    write(&writer, 1).await.unwrap();
    drop(writer);
    settle(&memory, 2).await;
    assert!(memory.file("g").is_none());
}

#[tokio::test]
async fn a_small_write_beyond_the_window_is_refused_by_its_own_call() {
    let fixture = Fixture::new();
    let (user_fs, memory) = on_memory(&fixture, fixture.spec()).await;
    let writer = shared_writer(&user_fs, "/f").await;
    writer
        .write_at(0, Bytes::from_static(b"first"))
        .await
        .unwrap();
    // Small writes are gathered before they reach the window; the check is not deferred.
    let far = writer
        .write_at(REORDER_WINDOW_BYTES + 5, Bytes::from_static(b"x"))
        .await;
    assert!(detail(far.unwrap_err()).contains("reorder window"));
    let rewrite = writer.write_at(0, Bytes::from_static(b"again")).await;
    assert_kind(rewrite, VfsErrorKind::Unsupported);
    assert!(writer.commit().await.is_err());
    assert!(memory.file("f").is_none());
}
