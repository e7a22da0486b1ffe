//! The whole `UserFs` API over a backend whose futures really wait (the in-memory test
//! backend, an object store's capabilities), alone and mixed with the local disk.

use std::path::Path;

use bytes::Bytes;
use sha2::{Digest as _, Sha256};

use super::*;
use crate::vfs::storage::{wait, Storage as _};

/// A view whose root is in memory.
pub(super) async fn on_memory(fixture: &Fixture, spec: FsSpec) -> (UserFs, MemoryStorage) {
    let memory = MemoryStorage::new();
    let mounts = vec![(VirtualPath::root(), memory.clone())];
    let user_fs = UserFs::open_with_memory(spec, &fixture.quotas, mounts)
        .await
        .unwrap();
    (user_fs, memory)
}

/// Yields until the spawned work of a dropped writer is done (bounded).
pub(super) async fn settle(memory: &MemoryStorage, discarded: u64) {
    for _ in 0..100 {
        if memory.stats().discarded >= discarded {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("no discard: {:?}", memory.stats());
}

#[test]
fn the_memory_backend_really_waits() {
    let memory = MemoryStorage::new();
    let error = wait(memory.metadata(Path::new("."))).unwrap_err();
    assert_eq!(error.kind, VfsErrorKind::Io);
}

#[tokio::test]
async fn directories_files_and_names_work_on_a_waiting_backend() {
    let fixture = Fixture::new();
    let (user_fs, memory) = on_memory(&fixture, fixture.spec()).await;
    user_fs.create_dir(&vpath("/d")).await.unwrap();
    assert_kind(
        user_fs.create_dir(&vpath("/d")).await,
        VfsErrorKind::AlreadyExists,
    );
    assert!(user_fs.stat(&vpath("/d")).await.unwrap().is_dir());
    assert_eq!(upload(&user_fs, "/d/f", b"0123456789").await.unwrap(), 10);
    assert_eq!(memory.file("d/f").unwrap(), &b"0123456789"[..]);
    assert_eq!(user_fs.lstat(&vpath("/d/f")).await.unwrap().size, 10);
    assert_eq!(list_names(&user_fs, "/").await, ["d"]);
    assert_eq!(list_names(&user_fs, "/d").await, ["f"]);
    assert_kind(
        user_fs.remove_dir(&vpath("/d")).await,
        VfsErrorKind::DirectoryNotEmpty,
    );

    assert_eq!(read_all(&user_fs, "/d/f").await.unwrap(), b"0123456789");
    let mut reader = user_fs.open_read(&vpath("/d/f"), 6).await.unwrap();
    assert!(!reader.is_blocking());
    assert_eq!(reader.read_block().await.unwrap().unwrap(), &b"6789"[..]);
    assert_eq!(reader.read_at(2, 3).await.unwrap(), &b"234"[..]);
    assert!(reader.read_at(10, 3).await.unwrap().is_empty());
    assert_eq!(reader.stat().await.unwrap().size, 10);
    let hash = user_fs
        .hash(&vpath("/d/f"), HashAlgorithm::Sha256, None)
        .await
        .unwrap();
    assert_eq!(hash, Sha256::digest(b"0123456789").to_vec());

    user_fs
        .rename(&vpath("/d/f"), &vpath("/g"), false)
        .await
        .unwrap();
    assert!(memory.file("d/f").is_none());
    assert_eq!(memory.file("g").unwrap(), &b"0123456789"[..]);
    user_fs.remove_dir(&vpath("/d")).await.unwrap();
    user_fs.remove_file(&vpath("/g")).await.unwrap();
    assert!(list_names(&user_fs, "/").await.is_empty());
    assert_kind(user_fs.stat(&vpath("/g")).await, VfsErrorKind::NotFound);
    assert_eq!(
        user_fs.space(&vpath("/")).await.unwrap().total_bytes,
        u64::MAX
    );
}

#[tokio::test]
async fn what_the_backend_lacks_is_refused_as_unsupported() {
    let fixture = Fixture::new();
    let (user_fs, memory) = on_memory(&fixture, fixture.spec()).await;
    memory.put("f", b"x");
    assert_kind(
        user_fs.symlink("f", &vpath("/l")).await,
        VfsErrorKind::Unsupported,
    );
    assert_kind(
        user_fs.hard_link(&vpath("/f"), &vpath("/h")).await,
        VfsErrorKind::Unsupported,
    );
    assert_kind(
        user_fs.set_mode(&vpath("/f"), 0o600).await,
        VfsErrorKind::Unsupported,
    );
    assert_kind(
        user_fs.set_len(&vpath("/f"), 0).await,
        VfsErrorKind::Unsupported,
    );
    for mode in [WriteMode::Append, WriteMode::At(1), WriteMode::InPlace] {
        let refused = user_fs.open_write(&vpath("/f"), mode).await;
        assert_kind(refused, VfsErrorKind::Unsupported);
    }
    assert_eq!(memory.stats().begun, 0);
}

#[tokio::test]
async fn aborted_and_dropped_uploads_are_discarded_and_give_their_quota_back() {
    let fixture = Fixture::new();
    let spec = FsSpec {
        quota: Quota {
            max_bytes: Some(150),
            max_files: Some(10),
        },
        ..fixture.spec()
    };
    let memory = MemoryStorage::new();
    memory.put("old", &[1; 100]);
    let mounts = vec![(VirtualPath::root(), memory.clone())];
    let user_fs = UserFs::open_with_memory(spec, &fixture.quotas, mounts)
        .await
        .unwrap();
    // The usage scan ran on the waiting backend.
    assert_eq!(fixture.quotas.usage("alice"), Some((100, 1)));
    assert_kind(
        upload(&user_fs, "/big", &[2; 60]).await,
        VfsErrorKind::QuotaExceeded,
    );
    settle(&memory, 1).await;

    let mut writer = user_fs
        .open_write(&vpath("/f"), WriteMode::Replace)
        .await
        .unwrap();
    writer.write_all(Bytes::from_static(b"abc")).await.unwrap();
    writer.abort().await;
    assert_eq!(memory.stats().discarded, 2);

    let mut writer = user_fs
        .open_write(&vpath("/f"), WriteMode::Replace)
        .await
        .unwrap();
    writer.write_all(Bytes::from(vec![3; 40])).await.unwrap();
    writer.flush().await.unwrap();
    assert_eq!(fixture.quotas.usage("alice"), Some((140, 2)));
    // Dropped uncommitted: the bookkeeping is at once, the backend's discard a task.
    drop(writer);
    assert_eq!(fixture.quotas.usage("alice"), Some((100, 1)));
    settle(&memory, 3).await;
    assert!(memory.file("f").is_none());

    upload(&user_fs, "/f", &[4; 40]).await.unwrap();
    assert_eq!(fixture.quotas.usage("alice"), Some((140, 2)));
    user_fs.remove_file(&vpath("/old")).await.unwrap();
    assert_eq!(fixture.quotas.usage("alice"), Some((40, 1)));
    let space = user_fs.space(&vpath("/")).await.unwrap();
    assert_eq!(space.available_bytes, 110);
    assert_eq!(memory.stats().published, 1);
}

#[tokio::test]
async fn sequential_uploads_stream_through_the_runtime() {
    let fixture = Fixture::new();
    let (user_fs, memory) = on_memory(&fixture, fixture.spec()).await;
    let data: Vec<u8> = (0..WRITE_BLOCK_BYTES * 3 + 1234).map(|i| i as u8).collect();
    let mut writer = user_fs
        .open_write(&vpath("/f"), WriteMode::CreateNew)
        .await
        .unwrap();
    assert!(!writer.is_blocking());
    for chunk in data.chunks(70_000) {
        writer
            .write_all(Bytes::copy_from_slice(chunk))
            .await
            .unwrap();
    }
    assert_eq!(writer.commit().await.unwrap(), data.len() as u64);
    assert_eq!(memory.file("f").unwrap(), &data[..]);
    assert_eq!(read_all(&user_fs, "/f").await.unwrap(), data);
    assert_kind(
        upload_new(&user_fs, "/f").await,
        VfsErrorKind::AlreadyExists,
    );
}

async fn upload_new(user_fs: &UserFs, path: &str) -> Result<u64, VfsError> {
    let writer = user_fs
        .open_write(&vpath(path), WriteMode::CreateNew)
        .await?;
    writer.commit().await
}

#[tokio::test]
async fn a_local_home_with_a_folder_in_memory() {
    let fixture = Fixture::new();
    fixture.write("here", b"local");
    fixture.symlink("s3", "l");
    let memory = MemoryStorage::new();
    let mounts = vec![(vpath("/s3"), memory.clone())];
    let user_fs = UserFs::open_with_memory(fixture.spec(), &fixture.quotas, mounts)
        .await
        .unwrap();
    // Each operation runs where the mount of its path needs it.
    assert!(user_fs.inner.blocking_at(&vpath("/here")));
    assert!(!user_fs.inner.blocking_at(&vpath("/s3/f")));
    let reader = user_fs.open_read(&vpath("/here"), 0).await.unwrap();
    assert!(reader.is_blocking());
    let writer = user_fs
        .open_write(&vpath("/new"), WriteMode::Replace)
        .await
        .unwrap();
    assert!(writer.is_blocking());
    writer.abort().await;
    assert!(user_fs.list_dir(&vpath("/")).await.unwrap().is_blocking());
    assert!(!user_fs.list_dir(&vpath("/s3")).await.unwrap().is_blocking());

    upload(&user_fs, "/s3/f", b"remote").await.unwrap();
    assert_eq!(memory.file("f").unwrap(), &b"remote"[..]);
    // Listing the local root stats the memory mount's root from the blocking pool.
    assert_eq!(list_names(&user_fs, "/").await, ["here", "l", "s3"]);
    assert!(user_fs.stat(&vpath("/s3")).await.unwrap().is_dir());
    // A local symlink into the memory mount: resolved on the blocking pool, where the
    // memory backend's futures are driven to their end; what it opens is awaited after.
    assert_eq!(read_all(&user_fs, "/l/f").await.unwrap(), b"remote");
    let writer = user_fs
        .open_write(&vpath("/l/g"), WriteMode::Replace)
        .await
        .unwrap();
    assert!(!writer.is_blocking());
    writer.commit().await.unwrap();
    assert!(memory.file("g").is_some());
    assert_eq!(list_names(&user_fs, "/l").await, ["f", "g"]);
    // The other way: a rename from memory to the local disk resolves the local target
    // inline, then refuses.
    let error = user_fs
        .rename(&vpath("/s3/f"), &vpath("/moved"), false)
        .await;
    assert_kind(error, VfsErrorKind::CrossDevice);
    assert_eq!(read_all(&user_fs, "/here").await.unwrap(), b"local");
}
