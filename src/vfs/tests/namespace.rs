//! Namespace operations: rename, remove, directories, attributes, links, hashes, listings.

use std::time::{Duration, SystemTime};

use super::*;

#[tokio::test]
async fn rename_overwrites_only_when_asked() {
    let fixture = Fixture::new();
    fixture.write("a", b"A");
    fixture.write("b", b"B");
    let user_fs = fixture.open().await;
    assert_kind(
        user_fs.rename(&vpath("/a"), &vpath("/b"), false).await,
        VfsErrorKind::AlreadyExists,
    );
    assert_eq!(fixture.read("b"), b"B");
    user_fs
        .rename(&vpath("/a"), &vpath("/b"), true)
        .await
        .unwrap();
    assert_eq!(fixture.read("b"), b"A");
    assert!(!fixture.exists("a"));
    user_fs
        .rename(&vpath("/b"), &vpath("/c"), false)
        .await
        .unwrap();
    assert_eq!(fixture.read("c"), b"A");
    // Same name: a no-op, as POSIX says.
    user_fs
        .rename(&vpath("/c"), &vpath("/c"), false)
        .await
        .unwrap();
    assert_kind(
        user_fs
            .rename(&vpath("/missing"), &vpath("/d"), false)
            .await,
        VfsErrorKind::NotFound,
    );
}

#[tokio::test]
async fn rename_moves_directories_but_not_into_themselves() {
    let fixture = Fixture::new();
    fixture.write("d/inner", b"x");
    fixture.write("e/.keep", b"");
    let user_fs = fixture.open().await;
    user_fs
        .rename(&vpath("/d"), &vpath("/e/d2"), false)
        .await
        .unwrap();
    assert_eq!(fixture.read("e/d2/inner"), b"x");
    assert_kind(
        user_fs.rename(&vpath("/e"), &vpath("/e/d2/e"), false).await,
        VfsErrorKind::InvalidPath,
    );
    assert_kind(
        user_fs
            .rename(&VirtualPath::root(), &vpath("/x"), false)
            .await,
        VfsErrorKind::PermissionDenied,
    );
    // A directory cannot replace a non-empty one.
    fixture.write("full/f", b"");
    assert_kind(
        user_fs.rename(&vpath("/e/d2"), &vpath("/full"), true).await,
        VfsErrorKind::DirectoryNotEmpty,
    );
}

#[tokio::test]
async fn remove_and_directory_operations_report_precise_kinds() {
    let fixture = Fixture::new();
    fixture.write("dir/file", b"x");
    fixture.write("f", b"");
    let user_fs = fixture.open().await;
    assert_kind(
        user_fs.remove_file(&vpath("/dir")).await,
        VfsErrorKind::IsADirectory,
    );
    assert_kind(
        user_fs.remove_dir(&vpath("/dir")).await,
        VfsErrorKind::DirectoryNotEmpty,
    );
    assert_kind(
        user_fs.remove_dir(&vpath("/f")).await,
        VfsErrorKind::NotADirectory,
    );
    assert_kind(
        user_fs.remove_file(&vpath("/nope")).await,
        VfsErrorKind::NotFound,
    );
    assert_kind(
        user_fs.create_dir(&vpath("/dir")).await,
        VfsErrorKind::AlreadyExists,
    );
    assert_kind(
        user_fs.create_dir(&vpath("/no/such")).await,
        VfsErrorKind::NotFound,
    );
    assert_kind(
        user_fs.list_dir(&vpath("/f")).await,
        VfsErrorKind::NotADirectory,
    );
    assert_kind(
        user_fs.stat(&vpath("/f/below")).await,
        VfsErrorKind::NotADirectory,
    );
    assert_kind(
        user_fs.remove_dir(&VirtualPath::root()).await,
        VfsErrorKind::PermissionDenied,
    );
    user_fs.remove_file(&vpath("/dir/file")).await.unwrap();
    user_fs.remove_dir(&vpath("/dir")).await.unwrap();
    user_fs.create_dir(&vpath("/made")).await.unwrap();
    assert!(user_fs.stat(&vpath("/made")).await.unwrap().is_dir());
}

#[tokio::test]
async fn attributes_can_be_set() {
    let fixture = Fixture::new();
    fixture.write("f", b"0123456789");
    fixture.write("d/.keep", b"");
    let user_fs = fixture.open().await;
    let path = vpath("/f");
    let mtime = SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000);
    let atime = SystemTime::UNIX_EPOCH + Duration::from_secs(1_500_000_000);
    user_fs.set_times(&path, mtime, Some(atime)).await.unwrap();
    let stat = user_fs.stat(&path).await.unwrap();
    assert_eq!((stat.mtime, stat.atime), (mtime, atime));
    let later = mtime + Duration::from_secs(60);
    user_fs.set_times(&path, later, None).await.unwrap();
    let stat = user_fs.stat(&path).await.unwrap();
    assert_eq!((stat.mtime, stat.atime), (later, atime), "atime left alone");

    user_fs.set_mode(&path, 0o4755).await.unwrap();
    assert_eq!(
        user_fs.stat(&path).await.unwrap().mode,
        0o755,
        "setuid stripped"
    );
    user_fs.set_mode(&path, 0o2640).await.unwrap();
    assert_eq!(
        user_fs.stat(&path).await.unwrap().mode,
        0o640,
        "setgid stripped"
    );
    user_fs.set_mode(&vpath("/d"), 0o1777).await.unwrap();
    assert_eq!(
        user_fs.stat(&vpath("/d")).await.unwrap().mode,
        0o777,
        "sticky stripped, and no umask on an explicit change"
    );

    user_fs.set_len(&path, 4).await.unwrap();
    assert_eq!(fixture.read("f"), b"0123");
    user_fs.set_len(&path, 6).await.unwrap();
    assert_eq!(fixture.read("f"), b"0123\0\0");
    assert_kind(
        user_fs.set_len(&vpath("/d"), 0).await,
        VfsErrorKind::IsADirectory,
    );
    assert_kind(
        user_fs.set_times(&vpath("/nope"), mtime, None).await,
        VfsErrorKind::NotFound,
    );
}

#[tokio::test]
async fn symlinks_are_stored_relative_and_read_back_as_stored() {
    let fixture = Fixture::new();
    fixture.write("docs/a.txt", b"A");
    fixture.write("links/.keep", b"");
    let user_fs = fixture.open().await;
    user_fs
        .symlink("/docs/a.txt", &vpath("/links/abs"))
        .await
        .unwrap();
    user_fs
        .symlink("../docs/a.txt", &vpath("/links/rel"))
        .await
        .unwrap();
    user_fs.symlink("/docs", &vpath("/to_docs")).await.unwrap();
    for (link, disk_text) in [
        ("links/abs", "../docs/a.txt"),
        ("links/rel", "../docs/a.txt"),
        ("to_docs", "docs"),
    ] {
        let text = std::fs::read_link(fixture.root().join(link)).unwrap();
        assert_eq!(text.to_str().unwrap(), disk_text, "{link}");
    }
    for link in ["/links/abs", "/links/rel"] {
        assert_eq!(
            user_fs.read_link(&vpath(link)).await.unwrap(),
            "../docs/a.txt"
        );
        assert_eq!(read_all(&user_fs, link).await.unwrap(), b"A");
    }
    assert_eq!(user_fs.read_link(&vpath("/to_docs")).await.unwrap(), "docs");
    assert_eq!(list_names(&user_fs, "/to_docs").await, ["a.txt"]);
    let lstat = user_fs.lstat(&vpath("/links/abs")).await.unwrap();
    assert_eq!(lstat.kind, FileKind::Symlink);
    // Targets above the root are refused, not clamped.
    assert_kind(
        user_fs
            .symlink("../../etc/passwd", &vpath("/links/bad"))
            .await,
        VfsErrorKind::PermissionDenied,
    );
    assert_kind(
        user_fs.symlink("a\0b", &vpath("/links/nul")).await,
        VfsErrorKind::InvalidPath,
    );
    assert_kind(
        user_fs.symlink("/docs", &vpath("/to_docs")).await,
        VfsErrorKind::AlreadyExists,
    );
    // Dangling links are allowed, as POSIX allows them.
    user_fs
        .symlink("/later", &vpath("/dangling"))
        .await
        .unwrap();
    assert_kind(
        user_fs.stat(&vpath("/dangling")).await,
        VfsErrorKind::NotFound,
    );
    assert_kind(
        user_fs.read_link(&vpath("/docs/a.txt")).await,
        VfsErrorKind::InvalidPath,
    );
}

#[tokio::test]
async fn planted_absolute_links_never_reveal_server_paths() {
    let fixture = Fixture::new();
    fixture.symlink(fixture.outside().join("secret"), "abs");
    fixture.symlink(fixture.root().join("inside"), "abs_to_inside");
    let user_fs = fixture.open().await;
    for link in ["/abs", "/abs_to_inside"] {
        let error = user_fs.read_link(&vpath(link)).await.unwrap_err();
        assert_eq!(error.kind, VfsErrorKind::PermissionDenied);
        let server = fixture.temp.path().to_str().unwrap();
        assert!(!error.to_string().contains(server), "{error}");
    }
}

#[tokio::test]
async fn hard_links_share_the_file() {
    let fixture = Fixture::new();
    fixture.write("orig", b"data");
    fixture.write("dir/.keep", b"");
    let user_fs = fixture.open().await;
    user_fs
        .hard_link(&vpath("/orig"), &vpath("/dir/copy"))
        .await
        .unwrap();
    let original = user_fs.stat(&vpath("/orig")).await.unwrap();
    let copy = user_fs.stat(&vpath("/dir/copy")).await.unwrap();
    assert_eq!(original.nlink, 2);
    assert_eq!(original.unique_id, copy.unique_id);
    assert_kind(
        user_fs.hard_link(&vpath("/dir"), &vpath("/dir2")).await,
        VfsErrorKind::PermissionDenied,
    );
    assert_kind(
        user_fs
            .hard_link(&vpath("/orig"), &vpath("/dir/copy"))
            .await,
        VfsErrorKind::AlreadyExists,
    );
}

#[tokio::test]
async fn hashes_match_known_digests() {
    let fixture = Fixture::new();
    fixture.write("abc", b"abc");
    let user_fs = fixture.open().await;
    let path = vpath("/abc");
    let hex = |bytes: Vec<u8>| hex::encode(bytes);
    let table = [
        (
            HashAlgorithm::Sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        ),
        (
            HashAlgorithm::Sha1,
            "a9993e364706816aba3e25717850c26c9cd0d89d",
        ),
        (HashAlgorithm::Md5, "900150983cd24fb0d6963f7d28e17f72"),
        (HashAlgorithm::Crc32, "352441c2"),
    ];
    for (algorithm, expected) in table {
        let digest = user_fs.hash(&path, algorithm, None).await.unwrap();
        assert_eq!(hex(digest), expected, "{algorithm:?}");
    }
    fixture.write("padded", b"xxabcyy");
    let digest = user_fs
        .hash(&vpath("/padded"), HashAlgorithm::Md5, Some((2, 3)))
        .await
        .unwrap();
    assert_eq!(hex(digest), "900150983cd24fb0d6963f7d28e17f72");
    assert_kind(
        user_fs
            .hash(&VirtualPath::root(), HashAlgorithm::Md5, None)
            .await,
        VfsErrorKind::IsADirectory,
    );
}

#[tokio::test]
async fn huge_directories_stream_in_batches() {
    let fixture = Fixture::new();
    let dir = fixture.root().join("many");
    std::fs::create_dir(&dir).unwrap();
    for index in 0..10_000 {
        std::fs::write(dir.join(format!("f{index:05}")), b"").unwrap();
    }
    std::fs::write(dir.join(".ferryd-upload-abc.part"), b"").unwrap();
    let user_fs = fixture.open().await;
    let mut lister = user_fs.list_dir(&vpath("/many")).await.unwrap();
    let mut names = Vec::new();
    let mut batches = 0;
    loop {
        let batch = lister.next_batch(1000).await.unwrap();
        if batch.is_empty() {
            break;
        }
        assert!(batch.len() <= 1000);
        batches += 1;
        for entry in batch {
            assert!(entry.stat.is_file());
            names.push(entry.name);
        }
    }
    assert!(batches >= 10, "{batches} batches");
    assert!(lister.next_batch(10).await.unwrap().is_empty());
    names.sort();
    let expected: Vec<String> = (0..10_000).map(|index| format!("f{index:05}")).collect();
    assert_eq!(names, expected);
}

#[tokio::test]
async fn listings_report_lstat_metadata() {
    let fixture = Fixture::new();
    fixture.write("f", b"12345");
    fixture.write("d/.keep", b"");
    fixture.symlink("d", "l");
    let user_fs = fixture.open().await;
    let mut lister = user_fs.list_dir(&VirtualPath::root()).await.unwrap();
    let mut entries = lister.next_batch(0).await.unwrap();
    while let Ok(more) = lister.next_batch(10).await {
        if more.is_empty() {
            break;
        }
        entries.extend(more);
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    let kinds: Vec<(&str, FileKind)> = entries
        .iter()
        .map(|entry| (entry.name.as_str(), entry.stat.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            ("d", FileKind::Dir),
            ("f", FileKind::File),
            ("l", FileKind::Symlink)
        ]
    );
    assert_eq!(entries[1].stat.size, 5);
}

#[tokio::test]
async fn space_reports_the_file_system() {
    let fixture = Fixture::new();
    let user_fs = fixture.open().await;
    let space = user_fs.space(&VirtualPath::root()).await.unwrap();
    assert!(space.total_bytes > 0 && space.block_size > 0);
    assert!(space.available_bytes <= space.total_bytes);
}

#[tokio::test]
async fn open_creates_a_missing_root() {
    let fixture = Fixture::new();
    let mut spec = fixture.spec();
    spec.root = fixture.temp.path().join("new/home").into();
    let user_fs = fixture.open_with(spec).await;
    assert_eq!(user_fs.user(), "alice");
    assert!(list_names(&user_fs, "/").await.is_empty());
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(fixture.temp.path().join("new/home"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(
        mode & 0o027,
        0,
        "created 0750 (less under a stricter umask)"
    );
}

#[tokio::test]
async fn rmdir_clears_crash_debris_but_not_live_uploads() {
    let fixture = Fixture::new();
    // A leftover is one no running upload owns, however fresh.
    fixture.write("d/.ferryd-upload-00000000000000aa.part", b"crashed");
    let user_fs = fixture.open().await;
    assert!(list_names(&user_fs, "/d").await.is_empty());
    user_fs.remove_dir(&vpath("/d")).await.unwrap();
    assert!(!fixture.exists("d"));

    user_fs.create_dir(&vpath("/e")).await.unwrap();
    let mut writer = user_fs
        .open_write(&vpath("/e/f"), WriteMode::Replace)
        .await
        .unwrap();
    assert_kind(
        user_fs.remove_dir(&vpath("/e")).await,
        VfsErrorKind::DirectoryNotEmpty,
    );
    writer
        .write_all(bytes::Bytes::from_static(b"x"))
        .await
        .unwrap();
    writer.commit().await.unwrap();
    assert_eq!(fixture.read("e/f"), b"x");
}

#[tokio::test]
async fn a_backend_page_of_only_hidden_entries_does_not_end_a_listing() {
    let fixture = Fixture::new();
    for index in 0..20 {
        fixture.write(&format!("d/.ferryd-upload-{index:016x}.part"), b"crashed");
    }
    fixture.write("d/visible", b"x");
    let user_fs = fixture.open().await;
    let mut lister = user_fs.list_dir(&vpath("/d")).await.unwrap();
    // One entry per batch: most backend pages hold only hidden names.
    let first = lister.next_batch(1).await.unwrap();
    let names: Vec<&str> = first.iter().map(|entry| entry.name.as_str()).collect();
    assert_eq!(names, ["visible"]);
    assert!(lister.next_batch(1).await.unwrap().is_empty());
}
