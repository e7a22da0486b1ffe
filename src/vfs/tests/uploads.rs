//! Uploads: atomic replace and create, resume, append, in-place and shared positional writes,
//! and large round trips.

use std::os::unix::fs::PermissionsExt as _;
use std::time::Duration;

use bytes::Bytes;

use super::*;

fn temp_files(fixture: &Fixture, rel: &str) -> Vec<String> {
    fixture
        .disk_names(rel)
        .into_iter()
        .filter(|name| name.starts_with(".ferryd-upload-"))
        .collect()
}

/// A shared (SFTP-style) writer replacing `path`.
async fn shared_replace(user_fs: &UserFs, path: &str) -> SharedFileWriter {
    user_fs
        .open_write(&vpath(path), WriteMode::Replace)
        .await
        .unwrap()
        .into_shared()
        .await
        .unwrap()
}

/// Waits (bounded) for a background write that still holds a dropped writer to finish.
async fn wait_for_no_temp_files(fixture: &Fixture) {
    for _ in 0..200 {
        if temp_files(fixture, ".").is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("temporary files left: {:?}", temp_files(fixture, "."));
}

#[tokio::test]
async fn commit_makes_a_new_upload_visible_and_not_before() {
    let fixture = Fixture::new();
    let user_fs = fixture.open().await;
    let mut writer = user_fs
        .open_write(&vpath("/new.bin"), WriteMode::Replace)
        .await
        .unwrap();
    writer
        .write_all(Bytes::from_static(b"hello "))
        .await
        .unwrap();
    writer
        .write_all(Bytes::from_static(b"world"))
        .await
        .unwrap();
    writer.flush().await.unwrap();
    assert!(
        !fixture.exists("new.bin"),
        "partial file under the final name"
    );
    assert_eq!(temp_files(&fixture, ".").len(), 1);
    assert!(
        list_names(&user_fs, "/").await.is_empty(),
        "temp file listed"
    );
    assert_kind(
        user_fs.stat(&vpath("/new.bin")).await,
        VfsErrorKind::NotFound,
    );
    assert_eq!(writer.stat().await.unwrap().size, 11);
    assert_eq!(writer.commit().await.unwrap(), 11);
    assert_eq!(fixture.read("new.bin"), b"hello world");
    assert!(temp_files(&fixture, ".").is_empty());
    assert_eq!(list_names(&user_fs, "/").await, ["new.bin"]);
}

#[tokio::test]
async fn dropping_an_overwrite_keeps_the_old_content() {
    let fixture = Fixture::new();
    fixture.write("doc.txt", b"old content");
    let user_fs = fixture.open().await;
    let mut writer = user_fs
        .open_write(&vpath("/doc.txt"), WriteMode::Replace)
        .await
        .unwrap();
    writer.write_all(Bytes::from_static(b"NEW")).await.unwrap();
    writer.flush().await.unwrap();
    // Readers see the old file during the upload.
    assert_eq!(
        read_all(&user_fs, "/doc.txt").await.unwrap(),
        b"old content"
    );
    drop(writer);
    assert_eq!(fixture.read("doc.txt"), b"old content");
    assert!(temp_files(&fixture, ".").is_empty());
}

#[tokio::test]
async fn abort_discards_and_dropping_mid_write_cleans_up() {
    let fixture = Fixture::new();
    fixture.write("doc.txt", b"old");
    let user_fs = fixture.open().await;
    let mut writer = user_fs
        .open_write(&vpath("/doc.txt"), WriteMode::Replace)
        .await
        .unwrap();
    writer
        .write_all(Bytes::from(vec![1u8; WRITE_BLOCK_BYTES * 3]))
        .await
        .unwrap();
    writer.abort().await;
    assert_eq!(fixture.read("doc.txt"), b"old");
    assert!(temp_files(&fixture, ".").is_empty());

    // A writer dropped with a block still being written: the last owner removes the file.
    let mut writer = user_fs
        .open_write(&vpath("/fresh"), WriteMode::Replace)
        .await
        .unwrap();
    writer
        .write_all(Bytes::from(vec![2u8; WRITE_BLOCK_BYTES * 2]))
        .await
        .unwrap();
    drop(writer);
    wait_for_no_temp_files(&fixture).await;
    assert!(!fixture.exists("fresh"));
}

#[tokio::test]
async fn replace_keeps_the_replaced_files_mode() {
    let fixture = Fixture::new();
    fixture.write("script", b"old");
    std::fs::set_permissions(
        fixture.root().join("script"),
        std::fs::Permissions::from_mode(0o750),
    )
    .unwrap();
    let user_fs = fixture.open().await;
    upload(&user_fs, "/script", b"new").await.unwrap();
    let mode = std::fs::metadata(fixture.root().join("script"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o750);
}

#[tokio::test]
async fn resume_append_and_in_place_writes_work_on_the_file_itself() {
    let fixture = Fixture::new();
    fixture.write("part", b"hello");
    let user_fs = fixture.open().await;

    let mut writer = user_fs
        .open_write(&vpath("/part"), WriteMode::At(5))
        .await
        .unwrap();
    assert_eq!(writer.position(), 5);
    writer
        .write_all(Bytes::from_static(b" world"))
        .await
        .unwrap();
    assert_eq!(writer.commit().await.unwrap(), 11);
    assert_eq!(fixture.read("part"), b"hello world");

    // Offsets inside the file overwrite without truncating.
    let mut writer = user_fs
        .open_write(&vpath("/part"), WriteMode::At(1))
        .await
        .unwrap();
    writer.write_all(Bytes::from_static(b"EL")).await.unwrap();
    writer.commit().await.unwrap();
    assert_eq!(fixture.read("part"), b"hELlo world");

    let mut writer = user_fs
        .open_write(&vpath("/part"), WriteMode::Append)
        .await
        .unwrap();
    assert_eq!(writer.position(), 11);
    writer.write_all(Bytes::from_static(b"!")).await.unwrap();
    writer.commit().await.unwrap();
    assert_eq!(fixture.read("part"), b"hELlo world!");

    // Data written in place survives a dropped writer: that is what resuming relies on.
    let mut writer = user_fs
        .open_write(&vpath("/part"), WriteMode::Append)
        .await
        .unwrap();
    writer.write_all(Bytes::from_static(b"?")).await.unwrap();
    writer.flush().await.unwrap();
    drop(writer);
    assert_eq!(fixture.read("part"), b"hELlo world!?");

    // Append, At and InPlace create missing files.
    for (name, mode) in [
        ("a", WriteMode::Append),
        ("b", WriteMode::At(0)),
        ("c", WriteMode::InPlace),
    ] {
        let mut writer = user_fs
            .open_write(&vpath(&format!("/{name}")), mode)
            .await
            .unwrap();
        writer.write_all(Bytes::from_static(b"x")).await.unwrap();
        writer.commit().await.unwrap();
        assert_eq!(fixture.read(name), b"x");
    }
    assert!(temp_files(&fixture, ".").is_empty());
}

#[tokio::test]
async fn exclusive_create_fails_if_the_name_exists_at_open_or_commit() {
    let fixture = Fixture::new();
    fixture.write("taken", b"first");
    let user_fs = fixture.open().await;
    assert_kind(
        user_fs
            .open_write(&vpath("/taken"), WriteMode::CreateNew)
            .await,
        VfsErrorKind::AlreadyExists,
    );
    let mut writer = user_fs
        .open_write(&vpath("/race"), WriteMode::CreateNew)
        .await
        .unwrap();
    writer.write_all(Bytes::from_static(b"mine")).await.unwrap();
    fixture.write("race", b"theirs");
    assert_kind(writer.commit().await, VfsErrorKind::AlreadyExists);
    assert_eq!(fixture.read("race"), b"theirs");
    assert!(temp_files(&fixture, ".").is_empty());

    let mut writer = user_fs
        .open_write(&vpath("/unique"), WriteMode::CreateNew)
        .await
        .unwrap();
    writer.write_all(Bytes::from_static(b"ok")).await.unwrap();
    writer.commit().await.unwrap();
    assert_eq!(fixture.read("unique"), b"ok");
}

#[tokio::test]
async fn shared_writer_takes_concurrent_positional_writes() {
    let fixture = Fixture::new();
    let user_fs = fixture.open().await;
    let writer = shared_replace(&user_fs, "/sftp.bin").await;
    const CHUNK: usize = 32 * 1024;
    let mut tasks = Vec::new();
    // Out of order, from many tasks, as pipelined SFTP WRITEs arrive.
    for index in (0..64u8).rev() {
        let writer = writer.clone();
        tasks.push(tokio::spawn(async move {
            let data = Bytes::from(vec![index; CHUNK]);
            writer.write_at(index as u64 * CHUNK as u64, data).await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(writer.commit().await.unwrap(), 64 * CHUNK as u64);
    assert_kind(
        writer.write_at(0, Bytes::from_static(b"late")).await,
        VfsErrorKind::Io,
    );
    assert_kind(writer.commit().await, VfsErrorKind::Io);
    let data = fixture.read("sftp.bin");
    for (index, chunk) in data.chunks(CHUNK).enumerate() {
        assert!(
            chunk.iter().all(|&byte| byte == index as u8),
            "chunk {index}"
        );
    }
}

#[tokio::test]
async fn shared_in_place_writer_and_set_len() {
    let fixture = Fixture::new();
    fixture.write("f", b"0123456789");
    let user_fs = fixture.open().await;
    let writer = user_fs
        .open_write(&vpath("/f"), WriteMode::InPlace)
        .await
        .unwrap()
        .into_shared()
        .await
        .unwrap();
    writer.write_at(2, Bytes::from_static(b"ab")).await.unwrap();
    writer.set_len(6).await.unwrap();
    writer.sync().await.unwrap();
    assert_eq!(writer.stat().await.unwrap().size, 6);
    drop(writer);
    assert_eq!(fixture.read("f"), b"01ab45");
}

#[tokio::test]
async fn large_file_round_trip() {
    let fixture = Fixture::new();
    let user_fs = fixture.open().await;
    let size = 5 * 1024 * 1024 + 12_345;
    let data: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
    let mut writer = user_fs
        .open_write(&vpath("/big.bin"), WriteMode::Replace)
        .await
        .unwrap();
    // Irregular chunk sizes, small and larger than a block, as a network delivers them.
    let mut offset = 0;
    let sizes = [1, 1000, 65_536, 300_000, 7, WRITE_BLOCK_BYTES + 1];
    let mut turn = 0;
    while offset < data.len() {
        let end = (offset + sizes[turn % sizes.len()]).min(data.len());
        writer
            .write_all(Bytes::copy_from_slice(&data[offset..end]))
            .await
            .unwrap();
        offset = end;
        turn += 1;
    }
    assert_eq!(writer.commit().await.unwrap(), size as u64);
    assert_eq!(read_all(&user_fs, "/big.bin").await.unwrap(), data);
    let reader = user_fs.open_read(&vpath("/big.bin"), 0).await.unwrap();
    for offset in [0usize, 1, 262_143, 262_144, 4_000_000, size - 10] {
        let block = reader.read_at(offset as u64, 100_000).await.unwrap();
        let end = (offset + 100_000).min(size);
        assert_eq!(&block[..], &data[offset..end], "read_at {offset}");
    }
    // Resuming a download from an offset.
    let mut reader = user_fs
        .open_read(&vpath("/big.bin"), 3_000_000)
        .await
        .unwrap();
    let mut tail = Vec::new();
    while let Some(block) = reader.read_block().await.unwrap() {
        tail.extend_from_slice(&block);
    }
    assert_eq!(tail, &data[3_000_000..]);
    assert_eq!(
        user_fs.stat(&vpath("/big.bin")).await.unwrap().size,
        size as u64
    );
}

#[tokio::test]
async fn writes_refuse_directories_and_the_root() {
    let fixture = Fixture::new();
    fixture.write("dir/x", b"");
    let user_fs = fixture.open().await;
    assert_kind(
        user_fs.open_write(&vpath("/dir"), WriteMode::Replace).await,
        VfsErrorKind::IsADirectory,
    );
    assert_kind(
        user_fs
            .open_write(&VirtualPath::root(), WriteMode::Replace)
            .await,
        VfsErrorKind::IsADirectory,
    );
    assert_kind(
        user_fs.open_read(&vpath("/dir"), 0).await,
        VfsErrorKind::IsADirectory,
    );
    assert_kind(
        user_fs
            .open_write(&vpath("/missing/x"), WriteMode::Replace)
            .await,
        VfsErrorKind::NotFound,
    );
}

#[tokio::test]
async fn owned_writer_flush_set_len_and_sync() {
    let fixture = Fixture::new();
    let user_fs = fixture.open().await;
    let mut writer = user_fs
        .open_write(&vpath("/t"), WriteMode::Replace)
        .await
        .unwrap();
    writer
        .write_all(Bytes::from_static(b"0123456789"))
        .await
        .unwrap();
    writer.flush().await.unwrap();
    writer.set_len(4).await.unwrap();
    writer.sync().await.unwrap();
    writer.write_at(4, Bytes::from_static(b"!")).await.unwrap();
    assert_eq!(writer.path().as_str(), "/t");
    assert_eq!(writer.commit().await.unwrap(), 5);
    assert_eq!(fixture.read("t"), b"0123!");
}

#[tokio::test]
async fn gathered_positional_writes_land_in_order_of_calls_and_are_seen_by_stat() {
    let fixture = Fixture::new();
    let user_fs = fixture.open().await;
    let writer = shared_replace(&user_fs, "/gathered.bin").await;
    // Contiguous small writes (gathered), a gap, a rewrite of gathered bytes, a large write.
    writer
        .write_at(0, Bytes::from_static(b"aaaa"))
        .await
        .unwrap();
    writer
        .write_at(4, Bytes::from_static(b"bbbb"))
        .await
        .unwrap();
    writer
        .write_at(20, Bytes::from_static(b"cc"))
        .await
        .unwrap();
    writer.write_at(2, Bytes::from_static(b"XY")).await.unwrap();
    // Nothing is visible under the name, and the temporary file already has every byte a
    // caller can ask about.
    assert!(!fixture.exists("gathered.bin"));
    assert_eq!(writer.stat().await.unwrap().size, 22);
    let large = vec![b'L'; 100 * 1024];
    writer
        .write_at(30, Bytes::from(large.clone()))
        .await
        .unwrap();
    writer.write_at(6, Bytes::from_static(b"zz")).await.unwrap();
    assert_eq!(writer.commit().await.unwrap(), 30 + large.len() as u64);
    let mut expected = vec![0u8; 30];
    expected[..8].copy_from_slice(b"aaXYbbzz");
    expected[20..22].copy_from_slice(b"cc");
    expected.extend_from_slice(&large);
    assert_eq!(fixture.read("gathered.bin"), expected);
}

#[tokio::test]
async fn a_dropped_writer_discards_gathered_writes_with_the_upload() {
    let fixture = Fixture::new();
    fixture.write("keep.bin", b"old content");
    let user_fs = fixture.open().await;
    let writer = shared_replace(&user_fs, "/keep.bin").await;
    writer
        .write_at(0, Bytes::from_static(b"new"))
        .await
        .unwrap();
    writer.abort().await;
    assert_eq!(fixture.read("keep.bin"), b"old content");
    wait_for_no_temp_files(&fixture).await;
}

#[tokio::test]
async fn commit_with_gives_the_new_file_its_mode_and_times() {
    let fixture = Fixture::new();
    let user_fs = fixture.open().await;
    let writer = shared_replace(&user_fs, "/attrs.bin").await;
    writer.write_at(0, Bytes::from_static(b"x")).await.unwrap();
    let modified = std::time::UNIX_EPOCH + Duration::from_secs(1_600_000_000);
    let accessed = std::time::UNIX_EPOCH + Duration::from_secs(1_500_000_000);
    let attributes = CommitAttributes {
        // the setuid bit is not settable and is dropped
        mode: Some(0o4640),
        times: Some((modified, Some(accessed))),
    };
    writer.commit_with(attributes).await.unwrap();
    let metadata = std::fs::metadata(fixture.root().join("attrs.bin")).unwrap();
    assert_eq!(metadata.permissions().mode() & 0o7777, 0o640);
    assert_eq!(metadata.modified().unwrap(), modified);
    assert_eq!(metadata.accessed().unwrap(), accessed);
    assert_eq!(
        std::fs::read(fixture.root().join("attrs.bin")).unwrap(),
        b"x"
    );
}

#[tokio::test]
async fn set_attributes_permission_is_checked_without_touching_the_disk() {
    let fixture = Fixture::new();
    let user_fs = fixture.open().await;
    assert!(user_fs.check_set_attributes(&vpath("/any")).is_ok());
    let mut spec = fixture.spec();
    spec.permissions = PermissionRules::new(Permissions::READ_ONLY);
    let read_only = fixture.open_with(spec).await;
    assert_kind(
        read_only.check_set_attributes(&vpath("/any")),
        VfsErrorKind::PermissionDenied,
    );
}

#[tokio::test]
async fn a_resume_of_a_file_whose_replacement_was_discarded_is_refused() {
    let fixture = Fixture::new();
    fixture.write("f", b"the old contents");
    let user_fs = fixture.open().await;
    let mut writer = user_fs
        .open_write(&vpath("/f"), WriteMode::Replace)
        .await
        .unwrap();
    writer
        .write_all(Bytes::from_static(b"new bytes"))
        .await
        .unwrap();
    writer.abort().await;
    // The client thinks 16 bytes of its new file arrived and continues from there: that would
    // append its tail to the old file.
    for mode in [WriteMode::At(16), WriteMode::Append, WriteMode::InPlace] {
        let refused = user_fs.open_write(&vpath("/f"), mode).await;
        assert_kind(refused, VfsErrorKind::Unsupported);
    }
    assert_eq!(fixture.read("f"), b"the old contents");
    // A whole new upload is fine, and ends the refusal.
    upload(&user_fs, "/f", b"whole new file").await.unwrap();
    let mut resumed = user_fs
        .open_write(&vpath("/f"), WriteMode::At(14))
        .await
        .unwrap();
    resumed.write_all(Bytes::from_static(b"!")).await.unwrap();
    resumed.commit().await.unwrap();
    assert_eq!(fixture.read("f"), b"whole new file!");
}

#[tokio::test]
async fn resuming_a_file_that_no_upload_replaced_still_works() {
    let fixture = Fixture::new();
    fixture.write("f", b"partial");
    fixture.write("g", b"other");
    let user_fs = fixture.open().await;
    // A discarded upload over another name, and one of a new name.
    for name in ["/g", "/h"] {
        let writer = user_fs.open_write(&vpath(name), WriteMode::Replace).await;
        writer.unwrap().abort().await;
    }
    let mut resumed = user_fs
        .open_write(&vpath("/f"), WriteMode::At(7))
        .await
        .unwrap();
    resumed
        .write_all(Bytes::from_static(b" and more"))
        .await
        .unwrap();
    resumed.commit().await.unwrap();
    assert_eq!(fixture.read("f"), b"partial and more");
}
