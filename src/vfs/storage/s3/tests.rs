//! The S3 backend's semantics against real S3 servers (moto, and Garage when installed; see
//! `test_store.rs`), each storage method called directly, plus what needs no server.

use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt as _;
use object_store::{ObjectStoreExt as _, PutPayload};

use super::keys::DIR_MARKER;
use super::reader::{BLOCK, SEGMENT_BLOCKS};
use super::staged::PART_SIZE;
use super::test_store::{stores, CountingProxy, Engine};
use super::*;
use crate::vfs::storage::{Backend, Lister as _, RangeReader as _, StagedFile as _};

fn path(text: &str) -> &Path {
    Path::new(text)
}

/// Deterministic content that differs at every offset of interest.
fn content(length: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(2) + 1;
    (0..length)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// Stages `data` as `name` in `parent`, written in order in blocks of `block` bytes.
async fn stage(
    storage: &S3Storage,
    parent: &str,
    name: &str,
    data: &[u8],
    block: usize,
) -> S3Staged {
    let mode = StageMode::Temporary { mode: 0o640 };
    let (staged, stat) = storage
        .begin_upload(path(parent), name, mode)
        .await
        .unwrap();
    assert_eq!(stat.size, 0);
    for (index, chunk) in data.chunks(block).enumerate() {
        let offset = (index * block) as u64;
        staged
            .write_at(offset, Bytes::copy_from_slice(chunk))
            .await
            .unwrap();
    }
    assert_eq!(staged.stat().await.unwrap().size, data.len() as u64);
    staged
}

async fn put(storage: &S3Storage, rel: &str, data: &[u8]) {
    let staged = stage(storage, ".", rel, data, 64 * 1024).await;
    staged.publish(Publish::Replace).await.unwrap();
}

async fn read_all(storage: &S3Storage, rel: &str) -> Vec<u8> {
    let (reader, stat) = storage.open_read(path(rel)).await.unwrap();
    let mut data = Vec::new();
    loop {
        let block = reader.read_at(data.len() as u64, 256 * 1024).await.unwrap();
        if block.is_empty() {
            break;
        }
        data.extend_from_slice(&block);
    }
    assert_eq!(data.len() as u64, stat.size);
    data
}

async fn names(storage: &S3Storage, rel: &str, page: usize) -> Vec<String> {
    let mut lister = storage.list(path(rel)).await.unwrap();
    let mut names = Vec::new();
    loop {
        let entries = lister.next_page(page).await.unwrap();
        if entries.is_empty() {
            break;
        }
        assert!(
            entries.len() <= page,
            "a page of {} > {page}",
            entries.len()
        );
        names.extend(entries.into_iter().map(|entry| entry.name));
    }
    names.sort();
    names
}

#[tokio::test]
async fn the_probe_finds_create_only_honoured_on_moto_and_not_on_garage() {
    for store in stores() {
        let honoured = store.probe(&store.bucket()).await;
        assert_eq!(honoured, store.engine == Engine::Moto, "{:?}", store.engine);
        let (storage, _) = store.storage().await;
        assert_eq!(storage.capabilities().exclusive_publish, honoured);
    }
}

#[tokio::test]
async fn a_small_upload_is_one_put_read_back_at_any_offset() {
    for store in stores() {
        let (storage, _) = store.storage().await;
        let data = content(300_000, 1);
        let staged = stage(&storage, ".", "small.bin", &data, 32 * 1024).await;
        // Nothing is visible before the publish.
        assert!(storage.metadata(path("small.bin")).await.unwrap().is_none());
        assert_eq!(staged.publish(Publish::Replace).await.unwrap(), None);
        let stat = storage.metadata(path("small.bin")).await.unwrap().unwrap();
        assert!(stat.is_file());
        assert_eq!((stat.size, stat.mode), (300_000, 0o644));
        assert_eq!(read_all(&storage, "small.bin").await, data);
        let (reader, _) = storage.open_read(path("small.bin")).await.unwrap();
        for (offset, length) in [(299_990usize, 100usize), (7, 5), (150_000, 70_000), (0, 1)] {
            let got = reader.read_at(offset as u64, length).await.unwrap();
            let end = data.len().min(offset + length);
            assert_eq!(&got[..], &data[offset..end], "{offset}+{length}");
        }
        assert!(reader.read_at(300_000, 10).await.unwrap().is_empty());
        assert!(reader.read_at(400_000, 10).await.unwrap().is_empty());
        // An empty upload is an empty object.
        let empty = stage(&storage, ".", "empty", b"", 1).await;
        empty.publish(Publish::Replace).await.unwrap();
        assert_eq!(
            storage.metadata(path("empty")).await.unwrap().unwrap().size,
            0
        );
    }
}

#[tokio::test]
async fn a_multipart_upload_of_three_parts_reads_back_at_random_offsets() {
    for store in stores() {
        let (storage, _) = store.storage().await;
        put(&storage, "big.bin", b"old content").await;
        let data = content(2 * PART_SIZE + 3 * BLOCK + 123, 2);
        let staged = stage(&storage, ".", "big.bin", &data, 256 * 1024).await;
        // The parts went up, but the old object is what readers see until the publish.
        assert_eq!(read_all(&storage, "big.bin").await, b"old content");
        let replaced = staged.publish(Publish::Replace).await.unwrap();
        assert_eq!(replaced, Some(11), "the quota learns the replaced size");
        assert_eq!(read_all(&storage, "big.bin").await, data);
        let (reader, stat) = storage.open_read(path("big.bin")).await.unwrap();
        assert_eq!(stat.size, data.len() as u64);
        let mut seed = 7u64;
        for _ in 0..40 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let offset = (seed >> 20) as usize % data.len();
            let length = 1 + (seed >> 5) as usize % (3 * BLOCK);
            let got = reader.read_at(offset as u64, length).await.unwrap();
            let end = data.len().min(offset + length);
            assert_eq!(got.len(), end - offset);
            assert!(got[..] == data[offset..end], "{offset}+{length}");
        }
    }
}

#[tokio::test]
async fn discard_leaves_nothing_and_the_existing_object_untouched() {
    for store in stores() {
        let (storage, prefix) = store.storage().await;
        put(&storage, "keep", b"original").await;
        // Past one part, so a multipart upload exists and is aborted.
        let staged = stage(&storage, ".", "keep", &content(PART_SIZE + 10, 3), BLOCK).await;
        // Past one part, the multipart upload exists (and the helper sees it).
        assert_eq!(store.pending_uploads(&prefix).unwrap_or(1), 1);
        staged.discard().await;
        assert_eq!(store.pending_uploads(&prefix).unwrap_or(0), 0, "aborted");
        assert_eq!(read_all(&storage, "keep").await, b"original");
        assert!(staged.publish(Publish::Replace).await.is_err());
        let staged = stage(&storage, ".", "never", &content(1000, 4), 100).await;
        staged.discard().await;
        assert!(storage.metadata(path("never")).await.unwrap().is_none());
        assert_eq!(names(&storage, ".", 10).await, ["keep"]);
    }
}

#[tokio::test]
async fn an_upload_dropped_without_publish_leaves_nothing() {
    for store in stores() {
        let (storage, prefix) = store.storage().await;
        put(&storage, "kept", b"before").await;
        drop(stage(&storage, ".", "kept", &content(PART_SIZE + 1, 5), BLOCK).await);
        drop(stage(&storage, ".", "dropped", &content(PART_SIZE + 1, 6), BLOCK).await);
        drop(stage(&storage, ".", "tiny", b"abc", 3).await);
        // The aborts run in spawned tasks.
        let deadline = Instant::now() + Duration::from_secs(10);
        while store.pending_uploads(&prefix).unwrap_or(0) > 0 {
            assert!(
                Instant::now() < deadline,
                "the dropped uploads were not aborted"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(storage.metadata(path("dropped")).await.unwrap().is_none());
        assert!(storage.metadata(path("tiny")).await.unwrap().is_none());
        assert_eq!(read_all(&storage, "kept").await, b"before");
    }
}

#[tokio::test]
async fn writes_out_of_order_and_length_changes_are_refused() {
    for store in stores() {
        let (storage, _) = store.storage().await;
        let mode = StageMode::Temporary { mode: 0o600 };
        let (staged, _) = storage.begin_upload(path("."), "f", mode).await.unwrap();
        staged
            .write_at(0, Bytes::from_static(b"0123"))
            .await
            .unwrap();
        for offset in [0, 2, 10] {
            let error = staged
                .write_at(offset, Bytes::from_static(b"x"))
                .await
                .unwrap_err();
            assert_eq!(error.kind(), std::io::ErrorKind::Unsupported);
            assert!(error.to_string().contains("only in order"), "{error}");
        }
        staged.set_len(4).await.unwrap();
        let error = staged.set_len(2).await.unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::Unsupported);
        staged.write_at(4, Bytes::from_static(b"45")).await.unwrap();
        staged.publish(Publish::Replace).await.unwrap();
        assert_eq!(read_all(&storage, "f").await, b"012345");
    }
}

#[tokio::test]
async fn an_exclusive_publish_never_replaces_an_existing_object() {
    for store in stores() {
        let (storage, _) = store.storage().await;
        put(&storage, "taken", b"first").await;
        for size in [10, PART_SIZE + 5] {
            let staged = stage(&storage, ".", "taken", &content(size, 8), BLOCK).await;
            let error = staged.publish(Publish::Exclusive).await.unwrap_err();
            assert_eq!(error.kind, VfsErrorKind::AlreadyExists, "{size}");
            assert_eq!(read_all(&storage, "taken").await, b"first");
        }
        let staged = stage(&storage, ".", "free", b"new", 3).await;
        assert_eq!(staged.publish(Publish::Exclusive).await.unwrap(), None);
        assert_eq!(read_all(&storage, "free").await, b"new");
    }
}

#[tokio::test]
async fn directories_are_markers_hidden_from_listings() {
    for store in stores() {
        let (storage, prefix) = store.storage().await;
        storage.create_dir(path("d"), 0o700).await.unwrap();
        let stat = storage.metadata(path("d")).await.unwrap().unwrap();
        assert!(stat.is_dir());
        assert_eq!(stat.mode, 0o755);
        let again = storage.create_dir(path("d"), 0o700).await.unwrap_err();
        assert_eq!(again.kind, VfsErrorKind::AlreadyExists);
        let orphan = storage
            .create_dir(path("missing/e"), 0o700)
            .await
            .unwrap_err();
        assert_eq!(orphan.kind, VfsErrorKind::NotFound);
        assert!(names(&storage, "d", 5).await.is_empty());
        let staged = stage(&storage, "d", "f", b"data", 4).await;
        staged.publish(Publish::Replace).await.unwrap();
        put(&storage, "file", b"x").await;
        let on_file = storage.create_dir(path("file"), 0o700).await.unwrap_err();
        assert_eq!(on_file.kind, VfsErrorKind::AlreadyExists);
        assert_eq!(names(&storage, "d", 5).await, ["f"]);
        assert_eq!(names(&storage, ".", 5).await, ["d", "file"]);
        let full = storage.remove_dir(path("d")).await.unwrap_err();
        assert_eq!(full.kind, VfsErrorKind::DirectoryNotEmpty);
        let error = storage.open_read(path("d")).await.unwrap_err();
        assert_eq!(error.kind, VfsErrorKind::IsADirectory);
        let error = storage.list(path("file")).await.unwrap_err();
        assert_eq!(error.kind, VfsErrorKind::NotADirectory);
        storage.remove_file(path("d/f")).await.unwrap();
        let error = storage.remove_file(path("d/f")).await.unwrap_err();
        assert_eq!(error.kind, VfsErrorKind::NotFound);
        let error = storage.remove_file(path("d")).await.unwrap_err();
        assert_eq!(error.kind, VfsErrorKind::IsADirectory);
        storage.remove_dir(path("d")).await.unwrap();
        assert!(storage.metadata(path("d")).await.unwrap().is_none());
        let error = storage.remove_dir(path("d")).await.unwrap_err();
        assert_eq!(error.kind, VfsErrorKind::NotFound);
        let error = storage.remove_dir(path("file")).await.unwrap_err();
        assert_eq!(error.kind, VfsErrorKind::NotADirectory);
        // The marker is an object of the bucket, under the reserved name.
        storage.create_dir(path("m"), 0o700).await.unwrap();
        let marker = object_store::path::Path::parse(format!("{prefix}/m/{DIR_MARKER}")).unwrap();
        assert_eq!(storage.store().head(&marker).await.unwrap().size, 0);
        assert!(storage.metadata(path(".")).await.unwrap().unwrap().is_dir());
    }
}

#[tokio::test]
async fn a_large_directory_lists_in_pages_of_the_size_asked() {
    for store in stores() {
        let (storage, prefix) = store.storage().await;
        storage.create_dir(path("big"), 0o755).await.unwrap();
        const FILES: usize = 2000;
        let keys: Vec<_> = (0..FILES)
            .map(|index| {
                object_store::path::Path::parse(format!("{prefix}/big/f{index:05}")).unwrap()
            })
            .collect();
        let store_handle = storage.bucket.store.clone();
        futures_util::stream::iter(keys)
            .map(|key| {
                let store_handle = store_handle.clone();
                async move {
                    store_handle
                        .put(&key, PutPayload::from_static(b"1"))
                        .await
                        .unwrap()
                }
            })
            .buffer_unordered(32)
            .collect::<Vec<_>>()
            .await;
        for sub in ["big/s1", "big/s2", "big/s2/inner"] {
            storage.create_dir(path(sub), 0o755).await.unwrap();
        }
        let listed = names(&storage, "big", 100).await;
        assert_eq!(listed.len(), FILES + 2);
        assert!(listed.iter().all(|name| !name.starts_with(".ferryd")));
        let mut unique = listed.clone();
        unique.dedup();
        assert_eq!(unique.len(), listed.len());
        assert_eq!(&listed[FILES..], ["s1", "s2"]);
        let mut lister = storage.list(path("big")).await.unwrap();
        let page = lister.next_page(7).await.unwrap();
        assert!(!page.is_empty() && page.len() <= 7);
        assert!(page
            .iter()
            .all(|entry| entry.stat.is_file() && entry.stat.size == 1));
    }
}

#[tokio::test]
async fn renames_copy_files_and_move_only_empty_directories() {
    for store in stores() {
        let (storage, _) = store.storage().await;
        put(&storage, "a", b"alpha").await;
        put(&storage, "b", b"beta").await;
        storage
            .rename(path("a"), path("c"), Publish::Replace)
            .await
            .unwrap();
        assert!(storage.metadata(path("a")).await.unwrap().is_none());
        assert_eq!(read_all(&storage, "c").await, b"alpha");
        let error = storage
            .rename(path("c"), path("b"), Publish::Exclusive)
            .await
            .unwrap_err();
        assert_eq!(error.kind, VfsErrorKind::AlreadyExists);
        storage
            .rename(path("c"), path("b"), Publish::Replace)
            .await
            .unwrap();
        assert_eq!(read_all(&storage, "b").await, b"alpha");
        storage
            .rename(path("b"), path("e"), Publish::Exclusive)
            .await
            .unwrap();
        assert_eq!(read_all(&storage, "e").await, b"alpha");
        // The copy itself refuses an existing target where the store honours conditions.
        put(&storage, "x1", b"one").await;
        put(&storage, "x2", b"two").await;
        let one = storage.keys.key(path("x1")).unwrap();
        let two = storage.keys.key(path("x2")).unwrap();
        let copied = storage.copy_object(&one, &two, Publish::Exclusive).await;
        if store.engine == Engine::Moto {
            assert_eq!(copied.unwrap_err().kind, VfsErrorKind::AlreadyExists);
            assert_eq!(read_all(&storage, "x2").await, b"two");
        }
        let error = storage
            .rename(path("gone"), path("x"), Publish::Replace)
            .await
            .unwrap_err();
        assert_eq!(error.kind, VfsErrorKind::NotFound);
        storage.create_dir(path("empty"), 0o755).await.unwrap();
        storage
            .rename(path("empty"), path("moved"), Publish::Replace)
            .await
            .unwrap();
        assert!(storage.metadata(path("empty")).await.unwrap().is_none());
        assert!(storage
            .metadata(path("moved"))
            .await
            .unwrap()
            .unwrap()
            .is_dir());
        storage.create_dir(path("full"), 0o755).await.unwrap();
        let staged = stage(&storage, "full", "inside", b"i", 1).await;
        staged.publish(Publish::Replace).await.unwrap();
        let error = storage
            .rename(path("full"), path("other"), Publish::Replace)
            .await
            .unwrap_err();
        assert_eq!(error.kind, VfsErrorKind::Unsupported);
        assert_eq!(
            error.detail.as_deref(),
            Some("renaming a non-empty directory is not supported on object storage")
        );
        assert_eq!(names(&storage, "full", 10).await, ["inside"]);
    }
}

#[tokio::test]
async fn usage_counts_objects_but_not_markers() {
    for store in stores() {
        let (storage, _) = store.storage().await;
        storage.create_dir(path("d"), 0o755).await.unwrap();
        put(&storage, "one", &[1; 10]).await;
        let staged = stage(&storage, "d", "two", &[2; 32], 32).await;
        staged.publish(Publish::Replace).await.unwrap();
        assert_eq!(storage.usage(1000).await.unwrap(), (42, 2));
        let (_, files) = storage.usage(1).await.unwrap();
        assert!(files <= 1);
    }
}

fn offline(port: u16) -> S3Storage {
    let settings = S3Settings {
        endpoint: Some(format!("http://127.0.0.1:{port}")),
        region: "us-east-1".to_owned(),
        bucket: "nowhere".to_owned(),
        path_style: true,
        access_key_id: "AKIDEXAMPLE".to_owned(),
        secret_access_key: "very-secret-key".to_owned(),
        session_token: None,
        request_timeout: Duration::from_secs(1),
        connect_timeout: Duration::from_millis(500),
        max_retries: 1,
    };
    S3Storage::new(S3Bucket::connect(&settings).unwrap(), "p".to_owned(), false)
}

#[tokio::test]
async fn a_store_that_is_down_fails_within_the_timeout_with_an_io_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let storage = offline(port);
    let started = Instant::now();
    let error = storage.metadata(path("f")).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(error.kind, VfsErrorKind::Io);
    assert_eq!(
        error.detail.as_deref(),
        Some("object storage request failed")
    );
    let logged = format!("{error:?} {}", error.source.as_ref().unwrap());
    assert!(!logged.contains("very-secret-key"), "{logged}");
    assert!(!format!("{storage:?}").contains("very-secret-key"));
}

#[tokio::test]
async fn what_objects_cannot_do_is_refused_before_any_request() {
    // Nothing listens on port 9: a request would fail with `Io`, not `Unsupported`.
    let storage = offline(9);
    assert!(storage
        .bucket
        .name()
        .starts_with("nowhere@http://127.0.0.1:9"));
    // Through the backend enum the VFS holds, as the VFS calls it.
    let backend = Backend::S3(storage.clone());
    assert_eq!(backend.capabilities(), storage.capabilities());
    let error = backend.set_mode(path("f"), 0o600).await.unwrap_err();
    assert_eq!(error.kind, VfsErrorKind::Unsupported);
    let capabilities = storage.capabilities();
    assert!(!capabilities.blocking && !capabilities.random_writes && !capabilities.atomic_rename);
    assert!(!capabilities.in_place_writes && !capabilities.exclusive_publish);
    assert!(!capabilities.symlinks && !capabilities.hard_links && !capabilities.modes);
    let now = std::time::SystemTime::now();
    let refusals = [
        storage.set_times(path("f"), now, None).await.unwrap_err(),
        storage.set_mode(path("f"), 0o600).await.unwrap_err(),
        storage.set_len(path("f"), 0).await.unwrap_err(),
        storage.symlink("t", path("l")).await.unwrap_err(),
        storage.hard_link(path("f"), path("g")).await.unwrap_err(),
        storage.read_link(path("l")).await.unwrap_err(),
    ];
    for error in refusals {
        assert_eq!(error.kind, VfsErrorKind::Unsupported, "{error}");
        assert!(error.detail.is_some());
    }
    for mode in [
        StageMode::InPlace { append: true },
        StageMode::CreateInPlace {
            append: false,
            mode: 0o600,
        },
    ] {
        let error = storage
            .begin_upload(path("."), "f", mode)
            .await
            .unwrap_err();
        assert_eq!(error.kind, VfsErrorKind::Unsupported);
    }
    for bad in ["../x", "/etc/passwd", ""] {
        let error = storage.metadata(path(bad)).await.unwrap_err();
        assert_eq!(error.kind, VfsErrorKind::PermissionDenied, "{bad}");
        assert!(storage.open_read(path(bad)).await.is_err());
    }
    assert!(storage
        .begin_upload(path("."), "../f", StageMode::Temporary { mode: 0o600 })
        .await
        .is_err());
    let space = storage.capacity().await.unwrap();
    assert_eq!(
        (space.total_bytes, space.available_bytes),
        (u64::MAX, u64::MAX)
    );
    let root = storage.metadata(path(".")).await.unwrap().unwrap();
    assert!(root.is_dir());
}

#[tokio::test]
async fn sequential_reads_share_a_few_gets_and_a_jump_starts_a_new_one() {
    for store in stores() {
        let (storage, prefix) = store.storage().await;
        let data = content(5 * SEGMENT_BLOCKS * BLOCK + 17, 9);
        let staged = stage(&storage, ".", "stream", &data, BLOCK).await;
        staged.publish(Publish::Replace).await.unwrap();
        let proxy = CountingProxy::start(store.port()).await;
        let mut settings = store.settings();
        settings.endpoint = Some(format!("http://127.0.0.1:{}", proxy.port));
        let counted = S3Storage::new(S3Bucket::connect(&settings).unwrap(), prefix.clone(), false);
        let (reader, _) = counted.open_read(path("stream")).await.unwrap();
        assert_eq!(proxy.gets(), 0, "the open is a HEAD");
        let mut read = Vec::new();
        loop {
            let block = reader.read_at(read.len() as u64, 64 * 1024).await.unwrap();
            if block.is_empty() {
                break;
            }
            read.extend_from_slice(&block);
        }
        assert!(read == data);
        // One block first, then segments of SEGMENT_BLOCKS blocks: 7 GETs for 321 reads.
        let sequential = proxy.gets();
        assert!((2..=8).contains(&sequential), "{sequential} GETs");
        let offset = 3 * BLOCK + 5;
        let got = reader.read_at(offset as u64, 100).await.unwrap();
        assert_eq!(&got[..], &data[offset..offset + 100]);
        // The jump's GET, and perhaps already the next segment's.
        let jumped = proxy.gets() - sequential;
        assert!((1..=2).contains(&jumped), "{jumped} GETs for a jump");
        drop(reader);

        // An SFTP client's pipelined READs arrive roughly in order: within each run of 16
        // reads of 64 KiB, the order is scrambled. They must cost no more GETs than in order.
        let proxy = CountingProxy::start(store.port()).await;
        settings.endpoint = Some(format!("http://127.0.0.1:{}", proxy.port));
        let counted = S3Storage::new(S3Bucket::connect(&settings).unwrap(), prefix, false);
        let (reader, _) = counted.open_read(path("stream")).await.unwrap();
        let chunk = 64 * 1024;
        let mut read = vec![0; data.len()];
        for run in (0..data.len().div_ceil(chunk))
            .collect::<Vec<_>>()
            .chunks(16)
        {
            for &index in run.iter().rev().step_by(2).chain(run.iter().step_by(2)) {
                let offset = index * chunk;
                let got = reader.read_at(offset as u64, chunk).await.unwrap();
                read[offset..offset + got.len()].copy_from_slice(&got);
            }
        }
        assert!(read == data);
        let scrambled = proxy.gets();
        assert!(
            scrambled <= sequential,
            "{scrambled} GETs against {sequential} in order"
        );
    }
}

#[tokio::test]
async fn a_first_read_longer_than_a_segment_is_served_whole() {
    for store in stores() {
        let (storage, _) = store.storage().await;
        let data = content(4 * SEGMENT_BLOCKS * BLOCK, 13);
        put(&storage, "long", &data).await;
        let (reader, _) = storage.open_read(path("long")).await.unwrap();
        // More than the two segments fetched before a second read shows a stream.
        let (offset, length) = (BLOCK + 5, 3 * SEGMENT_BLOCKS * BLOCK);
        let read = tokio::time::timeout(
            std::time::Duration::from_secs(30),
            reader.read_at(offset as u64, length),
        )
        .await
        .expect("a long first read must not wait for a second one");
        assert!(read.unwrap() == data[offset..offset + length]);
    }
}

#[tokio::test]
async fn a_reader_fails_rather_than_mix_an_object_with_its_replacement() {
    for store in stores() {
        let (storage, _) = store.storage().await;
        let old = content(12 * BLOCK, 10);
        put(&storage, "swap", &old).await;
        let (reader, _) = storage.open_read(path("swap")).await.unwrap();
        let first = reader.read_at(0, 1000).await.unwrap();
        assert_eq!(&first[..], &old[..1000]);
        put(&storage, "swap", &content(12 * BLOCK, 12)).await;
        // A jump past the read-ahead's reach starts a new GET, which carries the old ETag.
        let error = reader.read_at(11 * BLOCK as u64, 1000).await.unwrap_err();
        assert!(error.to_string().contains("replaced"), "{error}");
        assert_eq!(error.kind(), std::io::ErrorKind::Other);
    }
}
