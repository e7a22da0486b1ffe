//! Unit tests of `LocalStorage`, each method called directly (no VFS above it).

use std::time::{Duration, UNIX_EPOCH};

use super::super::{wait, wait_io, RangeReader as _};
use super::*;
use crate::vfs::metadata::FileKind;
use crate::vfs::names::is_reserved;

struct Fixture {
    /// Holds the outside directory and the storage root `root/` inside it.
    temp: tempfile::TempDir,
    storage: LocalStorage,
}

impl Fixture {
    fn new() -> Fixture {
        let temp = tempfile::tempdir().unwrap();
        std::fs::create_dir(temp.path().join("root")).unwrap();
        std::fs::write(temp.path().join("secret"), b"outside").unwrap();
        let dir =
            Dir::open_ambient_dir(temp.path().join("root"), cap_std::ambient_authority()).unwrap();
        Fixture {
            temp,
            storage: LocalStorage::new(Arc::new(dir)),
        }
    }

    fn host(&self, rel: &str) -> PathBuf {
        self.temp.path().join("root").join(rel)
    }

    fn write(&self, rel: &str, data: &[u8]) {
        std::fs::write(self.host(rel), data).unwrap();
    }

    fn names(&self, rel: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.host(rel))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }
}

fn path(text: &str) -> &Path {
    Path::new(text)
}

#[test]
fn dotdot_absolute_and_empty_paths_are_refused_before_any_system_call() {
    let fixture = Fixture::new();
    let storage = &fixture.storage;
    for bad in ["../secret", "a/../../secret", "/etc/passwd", ""] {
        let error = wait(storage.metadata(path(bad))).unwrap_err();
        assert_eq!(error.kind, VfsErrorKind::PermissionDenied, "{bad}");
        assert!(wait(storage.open_read(path(bad))).is_err(), "{bad}");
        assert!(wait(storage.remove_file(path(bad))).is_err(), "{bad}");
    }
    let error = wait(storage.rename(path("x"), path("../y"), Publish::Replace)).unwrap_err();
    assert_eq!(error.kind, VfsErrorKind::PermissionDenied);
    let error = wait(storage.hard_link(path("../secret"), path("copy"))).unwrap_err();
    assert_eq!(error.kind, VfsErrorKind::PermissionDenied);
    let mode = StageMode::Temporary { mode: 0o600 };
    assert!(wait(storage.begin_upload(path(".."), "f", mode)).is_err());
    assert!(wait(storage.begin_upload(path("."), "../f", mode)).is_err());
    assert_eq!(
        std::fs::read(fixture.temp.path().join("secret")).unwrap(),
        b"outside"
    );
}

#[test]
fn a_symlink_out_of_the_root_is_refused_by_the_backend() {
    let fixture = Fixture::new();
    std::os::unix::fs::symlink("../secret", fixture.host("up")).unwrap();
    std::os::unix::fs::symlink(fixture.temp.path(), fixture.host("abs")).unwrap();
    let storage = &fixture.storage;
    // The link itself is an entry of the root; following it is what must fail.
    let stat = wait(storage.metadata(path("up"))).unwrap().unwrap();
    assert_eq!(stat.kind, FileKind::Symlink);
    assert!(wait(storage.open_read(path("up"))).is_err());
    assert!(wait(storage.metadata(path("abs/secret"))).is_err());
    assert!(wait(storage.open_read(path("abs/secret"))).is_err());
    assert!(wait(storage.list(path("abs"))).is_err());
    assert!(wait(storage.set_mode(path("up"), 0o777)).is_err());
    assert!(
        wait(storage.begin_upload(path("abs"), "new", StageMode::Temporary { mode: 0o600 }))
            .is_err()
    );
    assert!(!fixture.temp.path().join("new").exists());
    assert_eq!(
        std::fs::read(fixture.temp.path().join("secret")).unwrap(),
        b"outside"
    );
}

#[test]
fn metadata_and_read_link() {
    let fixture = Fixture::new();
    fixture.write("f", b"hello");
    std::os::unix::fs::symlink("f", fixture.host("l")).unwrap();
    let storage = &fixture.storage;
    let root = wait(storage.metadata(path("."))).unwrap().unwrap();
    assert_eq!(root.kind, FileKind::Dir);
    let file = wait(storage.metadata(path("f"))).unwrap().unwrap();
    assert_eq!((file.kind, file.size), (FileKind::File, 5));
    assert!(wait(storage.metadata(path("missing"))).unwrap().is_none());
    assert_eq!(wait(storage.read_link(path("l"))).unwrap(), "f");
    assert!(wait(storage.read_link(path("f"))).is_err());
    assert!(storage.capabilities().blocking);
    assert!(storage.capabilities().random_writes && storage.capabilities().in_place_writes);
}

#[test]
fn listing_pages_are_bounded_and_cover_the_directory() {
    let fixture = Fixture::new();
    for index in 0..5 {
        fixture.write(&format!("f{index}"), b"x");
    }
    let mut lister = wait(fixture.storage.list(path("."))).unwrap();
    let mut names = Vec::new();
    loop {
        let page = wait(lister.next_page(2)).unwrap();
        assert!(page.len() <= 2);
        if page.is_empty() {
            break;
        }
        names.extend(page.into_iter().map(|entry| entry.name));
    }
    names.sort();
    assert_eq!(names, ["f0", "f1", "f2", "f3", "f4"]);
    assert!(wait(lister.next_page(2)).unwrap().is_empty());
    assert!(wait(fixture.storage.list(path("f0"))).is_err());
}

#[test]
fn ranged_reads() {
    let fixture = Fixture::new();
    fixture.write("f", b"0123456789");
    std::fs::create_dir(fixture.host("d")).unwrap();
    let (reader, stat) = wait(fixture.storage.open_read(path("f"))).unwrap();
    assert_eq!(stat.size, 10);
    assert_eq!(wait_io(reader.read_at(3, 4)).unwrap(), &b"3456"[..]);
    assert_eq!(wait_io(reader.read_at(8, 100)).unwrap(), &b"89"[..]);
    assert!(wait_io(reader.read_at(10, 4)).unwrap().is_empty());
    assert_eq!(wait_io(reader.stat()).unwrap().size, 10);
    let error = wait(fixture.storage.open_read(path("d"))).unwrap_err();
    assert_eq!(error.kind, VfsErrorKind::IsADirectory);
}

#[test]
fn directories_are_created_with_the_exact_mode_and_removed_only_when_empty() {
    let fixture = Fixture::new();
    let storage = &fixture.storage;
    wait(storage.create_dir(path("d"), 0o751)).unwrap();
    let stat = wait(storage.metadata(path("d"))).unwrap().unwrap();
    assert_eq!((stat.kind, stat.mode), (FileKind::Dir, 0o751));
    let error = wait(storage.create_dir(path("d"), 0o755)).unwrap_err();
    assert_eq!(error.kind, VfsErrorKind::AlreadyExists);
    fixture.write("d/f", b"x");
    let error = wait(storage.remove_dir(path("d"))).unwrap_err();
    assert_eq!(error.kind, VfsErrorKind::DirectoryNotEmpty);
    wait(storage.remove_file(path("d/f"))).unwrap();
    // A leftover of a dead upload does not keep the directory.
    fixture.write(&format!("d/{}", leftover_name()), b"partial");
    wait(storage.remove_dir(path("d"))).unwrap();
    assert!(!fixture.host("d").exists());
}

/// A temporary-upload name nobody owns (as after a crash).
fn leftover_name() -> String {
    let name = temp_name();
    let text = name.as_str().to_owned();
    drop(name);
    assert!(is_reserved(&text));
    text
}

#[test]
fn files_are_renamed_with_and_without_replacing() {
    let fixture = Fixture::new();
    fixture.write("a", b"a");
    fixture.write("b", b"b");
    let storage = &fixture.storage;
    let error = wait(storage.rename(path("a"), path("b"), Publish::Exclusive)).unwrap_err();
    assert_eq!(error.kind, VfsErrorKind::AlreadyExists);
    wait(storage.rename(path("a"), path("c"), Publish::Exclusive)).unwrap();
    wait(storage.rename(path("c"), path("b"), Publish::Replace)).unwrap();
    assert_eq!(fixture.names("."), ["b"]);
    assert_eq!(std::fs::read(fixture.host("b")).unwrap(), b"a");
    assert_eq!(
        wait(storage.remove_file(path("a"))).unwrap_err().kind,
        VfsErrorKind::NotFound
    );
}

#[test]
fn times_mode_and_length() {
    let fixture = Fixture::new();
    fixture.write("f", b"0123456789");
    let storage = &fixture.storage;
    let mtime = UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    let atime = UNIX_EPOCH + Duration::from_secs(900_000_000);
    // Truncation moves the mtime, so it goes first.
    wait(storage.set_len(path("f"), 4)).unwrap();
    wait(storage.set_times(path("f"), mtime, Some(atime))).unwrap();
    wait(storage.set_mode(path("f"), 0o640)).unwrap();
    let stat = wait(storage.metadata(path("f"))).unwrap().unwrap();
    assert_eq!((stat.mtime, stat.atime), (mtime, atime));
    assert_eq!((stat.mode, stat.size), (0o640, 4));
    std::fs::create_dir(fixture.host("d")).unwrap();
    assert!(wait(storage.set_len(path("d"), 0)).is_err());
}

#[test]
fn symlinks_and_hard_links() {
    let fixture = Fixture::new();
    fixture.write("f", b"data");
    let storage = &fixture.storage;
    wait(storage.symlink("f", path("l"))).unwrap();
    assert_eq!(
        std::fs::read_link(fixture.host("l")).unwrap(),
        Path::new("f")
    );
    wait(storage.hard_link(path("f"), path("h"))).unwrap();
    let stat = wait(storage.metadata(path("h"))).unwrap().unwrap();
    assert_eq!(stat.nlink, 2);
    let error = wait(storage.hard_link(path("f"), path("h"))).unwrap_err();
    assert_eq!(error.kind, VfsErrorKind::AlreadyExists);
}

#[test]
fn capacity_and_usage_leave_staging_files_out() {
    let fixture = Fixture::new();
    fixture.write("a", b"12345");
    std::fs::create_dir(fixture.host("d")).unwrap();
    fixture.write("d/b", b"123");
    fixture.write(&format!("d/{}", leftover_name()), b"not counted");
    let storage = &fixture.storage;
    assert_eq!(wait(storage.usage(u64::MAX)).unwrap(), (8, 2));
    let (bytes, files) = wait(storage.usage(1)).unwrap();
    assert!(bytes <= 8 && files <= 1);
    let space = wait(storage.capacity()).unwrap();
    assert!(space.total_bytes >= space.available_bytes && space.block_size > 0);
}

#[test]
fn a_published_temporary_upload_replaces_the_target_atomically() {
    let fixture = Fixture::new();
    fixture.write("f", b"old content");
    let storage = &fixture.storage;
    let mode = StageMode::Temporary { mode: 0o600 };
    let (staged, stat) = wait(storage.begin_upload(path("."), "f", mode)).unwrap();
    assert_eq!((stat.size, stat.mode), (0, 0o600));
    wait_io(staged.write_at(0, Bytes::from_static(b"new"))).unwrap();
    wait_io(staged.write_at(3, Bytes::from_static(b" data!"))).unwrap();
    wait_io(staged.set_len(8)).unwrap();
    wait_io(staged.sync()).unwrap();
    wait_io(staged.set_mode(0o640)).unwrap();
    assert_eq!(wait_io(staged.stat()).unwrap().size, 8);
    // Nothing visible yet: the old file is intact next to a hidden name.
    assert_eq!(std::fs::read(fixture.host("f")).unwrap(), b"old content");
    assert_eq!(fixture.names(".").len(), 2);
    assert_eq!(wait(staged.publish(Publish::Replace)).unwrap(), Some(11));
    drop(staged);
    assert_eq!(fixture.names("."), ["f"]);
    assert_eq!(std::fs::read(fixture.host("f")).unwrap(), b"new data");
    let stat = wait(storage.metadata(path("f"))).unwrap().unwrap();
    assert_eq!(stat.mode, 0o640);
}

#[test]
fn a_discarded_temporary_upload_leaves_nothing_and_the_old_file_alone() {
    let fixture = Fixture::new();
    fixture.write("f", b"old");
    let mode = StageMode::Temporary { mode: 0o600 };
    let (staged, _) = wait(fixture.storage.begin_upload(path("."), "f", mode)).unwrap();
    wait_io(staged.write_at(0, Bytes::from_static(b"half"))).unwrap();
    wait(async {
        staged.discard().await;
        Ok(())
    })
    .unwrap();
    drop(staged);
    assert_eq!(fixture.names("."), ["f"]);
    assert_eq!(std::fs::read(fixture.host("f")).unwrap(), b"old");
}

#[test]
fn an_exclusive_publish_refuses_a_name_created_meanwhile() {
    let fixture = Fixture::new();
    let mode = StageMode::Temporary { mode: 0o600 };
    let (staged, _) = wait(fixture.storage.begin_upload(path("."), "f", mode)).unwrap();
    wait_io(staged.write_at(0, Bytes::from_static(b"mine"))).unwrap();
    fixture.write("f", b"theirs");
    let error = wait(staged.publish(Publish::Exclusive)).unwrap_err();
    assert_eq!(error.kind, VfsErrorKind::AlreadyExists);
    assert_eq!(std::fs::read(fixture.host("f")).unwrap(), b"theirs");
    let (staged, _) = wait(fixture.storage.begin_upload(path("."), "g", mode)).unwrap();
    assert_eq!(wait(staged.publish(Publish::Exclusive)).unwrap(), None);
    assert!(fixture.host("g").exists());
}

#[test]
fn in_place_uploads_write_the_file_itself() {
    let fixture = Fixture::new();
    fixture.write("f", b"0123456789");
    let storage = &fixture.storage;
    let (staged, stat) =
        wait(storage.begin_upload(path("."), "f", StageMode::InPlace { append: false })).unwrap();
    assert_eq!(stat.size, 10);
    wait_io(staged.write_at(2, Bytes::from_static(b"ab"))).unwrap();
    assert_eq!(std::fs::read(fixture.host("f")).unwrap(), b"01ab456789");
    assert_eq!(wait(staged.publish(Publish::Replace)).unwrap(), None);
    let (staged, _) =
        wait(storage.begin_upload(path("."), "f", StageMode::InPlace { append: true })).unwrap();
    wait_io(staged.write_at(0, Bytes::from_static(b"!"))).unwrap();
    assert_eq!(std::fs::read(fixture.host("f")).unwrap(), b"01ab456789!");
    let create = StageMode::CreateInPlace {
        append: false,
        mode: 0o604,
    };
    let error = wait(storage.begin_upload(path("."), "f", create)).unwrap_err();
    assert_eq!(error.kind, VfsErrorKind::AlreadyExists);
    let (staged, stat) = wait(storage.begin_upload(path("."), "new", create)).unwrap();
    assert_eq!(stat.mode, 0o604);
    wait_io(staged.write_at(0, Bytes::from_static(b"n"))).unwrap();
    assert_eq!(std::fs::read(fixture.host("new")).unwrap(), b"n");
}

#[test]
fn a_missing_home_is_created_private_and_its_handle_shared() {
    use std::os::unix::fs::PermissionsExt as _;
    let temp = tempfile::tempdir().unwrap();
    let home = temp.path().join("homes/alice");
    let dirs = SharedDirs::default();
    let first = LocalStorage::open_home(&dirs, &home).unwrap();
    let mode = std::fs::metadata(&home).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode & !0o750, 0, "{mode:o}");
    let second = LocalStorage::open(&dirs, &home).unwrap();
    assert!(Arc::ptr_eq(&first.dir, &second.dir));
    assert!(LocalStorage::open(&dirs, &temp.path().join("absent")).is_err());
}
