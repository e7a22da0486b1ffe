//! Confinement: no path, symlink or name leads a `UserFs` outside the user's root.
//!
//! The fixture plants the symlinks an attacker (or a careless administrator) could leave in a
//! root: absolute, relative `../`, deep `../../..`, chains, loops, links to directories and to
//! files outside. Every operation is tried through each of them and must be refused, while the
//! directory outside stays byte-for-byte, mode-for-mode unchanged. Links that stay inside work.

use std::os::unix::fs::PermissionsExt as _;
use std::time::{Duration, SystemTime};

use bytes::Bytes;

use super::*;

/// Root-relative names of symlinks that lead outside (to the `outside` dir or its `secret`).
const ESCAPES: [&str; 9] = [
    "abs_dir",
    "abs_file",
    "rel_dir",
    "rel_file",
    "deep",
    "chain_start",
    "sub/up_file",
    "loop_a",
    "sub/via_inside",
];

fn plant_escapes(fixture: &Fixture) {
    fixture.write("data/file.txt", b"inside");
    fixture.write("sub/keep", b"");
    fixture.symlink(fixture.outside(), "abs_dir");
    fixture.symlink(fixture.outside().join("secret"), "abs_file");
    fixture.symlink("../outside", "rel_dir");
    fixture.symlink("../outside/secret", "rel_file");
    fixture.symlink("../../../../../../../../../../etc", "deep");
    fixture.symlink("chain_middle", "chain_start");
    fixture.symlink("sub/../chain_end", "chain_middle");
    fixture.symlink("./../outside", "chain_end");
    fixture.symlink("../../outside/secret", "sub/up_file");
    fixture.symlink("loop_b", "loop_a");
    fixture.symlink("loop_a", "loop_b");
    // Goes inside first, then climbs out through a second link.
    fixture.symlink("../rel_dir", "sub/via_inside");
}

/// The outside directory as (name, content, mode, mtime), to prove nothing changed.
fn snapshot(fixture: &Fixture) -> Vec<(String, Vec<u8>, u32, SystemTime)> {
    let mut entries: Vec<_> = std::fs::read_dir(fixture.outside())
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            let metadata = entry.metadata().unwrap();
            (
                entry.file_name().into_string().unwrap(),
                std::fs::read(entry.path()).unwrap_or_default(),
                metadata.permissions().mode(),
                metadata.modified().unwrap(),
            )
        })
        .collect();
    entries.sort();
    entries
}

#[track_caller]
fn refused<T: std::fmt::Debug>(result: Result<T, VfsError>, what: &str) {
    match result {
        Ok(value) => panic!("{what}: escaped the root, got Ok({value:?})"),
        Err(error) => assert_eq!(
            error.kind,
            VfsErrorKind::PermissionDenied,
            "{what}: {error} ({:?})",
            error.source
        ),
    }
}

#[tokio::test]
async fn every_operation_refuses_symlinks_that_leave_the_root() {
    let fixture = Fixture::new();
    plant_escapes(&fixture);
    let before = snapshot(&fixture);
    let user_fs = fixture.open().await;
    let past = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    for link in ESCAPES {
        let as_is = vpath(&format!("/{link}"));
        let below = vpath(&format!("/{link}/secret"));
        // The link itself is an ordinary entry of the root.
        assert!(user_fs.lstat(&as_is).await.unwrap().is_symlink(), "{link}");
        refused(user_fs.stat(&as_is).await, &format!("stat {link}"));
        refused(user_fs.stat(&below).await, &format!("stat {link}/secret"));
        refused(user_fs.open_read(&as_is, 0).await, &format!("read {link}"));
        refused(
            user_fs.open_read(&below, 0).await,
            &format!("read {link}/secret"),
        );
        refused(user_fs.list_dir(&as_is).await, &format!("list {link}"));
        // A link's own text may point inside (the chain escapes later); either way the
        // answer is a relative text inside the view or a refusal, never a server path.
        match user_fs.read_link(&as_is).await {
            Ok(target) => assert!(
                !target.starts_with('/') && !target.contains(fixture.temp.path().to_str().unwrap()),
                "readlink {link}: {target}"
            ),
            Err(error) => assert_eq!(error.kind, VfsErrorKind::PermissionDenied, "{link}"),
        }
        refused(
            user_fs.hash(&as_is, HashAlgorithm::Sha256, None).await,
            &format!("hash {link}"),
        );
        for mode in [WriteMode::Replace, WriteMode::Append, WriteMode::InPlace] {
            refused(
                user_fs.open_write(&as_is, mode).await,
                &format!("write {link} {mode:?}"),
            );
            refused(
                user_fs.open_write(&below, mode).await,
                &format!("write {link}/secret {mode:?}"),
            );
        }
        let new_file = vpath(&format!("/{link}/planted"));
        refused(
            user_fs.open_write(&new_file, WriteMode::CreateNew).await,
            &format!("create under {link}"),
        );
        refused(
            user_fs.create_dir(&vpath(&format!("/{link}/newdir"))).await,
            &format!("mkdir under {link}"),
        );
        refused(
            user_fs.remove_file(&below).await,
            &format!("remove {link}/secret"),
        );
        refused(
            user_fs.remove_dir(&vpath(&format!("/{link}/x"))).await,
            &format!("rmdir under {link}"),
        );
        refused(
            user_fs.rename(&below, &vpath("/stolen"), true).await,
            &format!("rename from {link}/secret"),
        );
        refused(
            user_fs
                .rename(&vpath("/data/file.txt"), &new_file, true)
                .await,
            &format!("rename into {link}"),
        );
        refused(
            user_fs.set_times(&as_is, past, Some(past)).await,
            &format!("set times {link}"),
        );
        refused(
            user_fs.set_mode(&as_is, 0o777).await,
            &format!("chmod {link}"),
        );
        refused(
            user_fs.set_len(&as_is, 0).await,
            &format!("truncate {link}"),
        );
        refused(
            user_fs.hard_link(&below, &vpath("/hard")).await,
            &format!("hard link from {link}/secret"),
        );
        refused(
            user_fs
                .symlink("/data/file.txt", &vpath(&format!("/{link}/l")))
                .await,
            &format!("symlink under {link}"),
        );
    }
    assert_eq!(snapshot(&fixture), before, "the outside directory changed");
    assert!(!fixture.exists("stolen") && !fixture.exists("hard"));
    // Removing an escaping link removes only the link.
    user_fs.remove_file(&vpath("/abs_file")).await.unwrap();
    user_fs.remove_file(&vpath("/rel_dir")).await.unwrap();
    assert!(!fixture.exists("abs_file"));
    assert_eq!(snapshot(&fixture), before);
}

#[tokio::test]
async fn symlinks_that_stay_inside_work() {
    let fixture = Fixture::new();
    fixture.write("data/file.txt", b"inside");
    fixture.write("data/sub/deeper.txt", b"deeper");
    fixture.symlink("data/file.txt", "to_file");
    fixture.symlink("data", "to_dir");
    fixture.symlink("../file.txt", "data/sub/up");
    fixture.symlink("to_dir", "chain");
    fixture.symlink("./data/./sub/../file.txt", "winding");
    let user_fs = fixture.open().await;
    assert_eq!(read_all(&user_fs, "/to_file").await.unwrap(), b"inside");
    assert_eq!(read_all(&user_fs, "/data/sub/up").await.unwrap(), b"inside");
    assert_eq!(
        read_all(&user_fs, "/chain/file.txt").await.unwrap(),
        b"inside"
    );
    assert_eq!(read_all(&user_fs, "/winding").await.unwrap(), b"inside");
    assert_eq!(
        read_all(&user_fs, "/to_dir/sub/deeper.txt").await.unwrap(),
        b"deeper"
    );
    assert!(user_fs.stat(&vpath("/to_dir")).await.unwrap().is_dir());
    assert_eq!(list_names(&user_fs, "/chain").await, ["file.txt", "sub"]);
    assert_eq!(
        user_fs.read_link(&vpath("/data/sub/up")).await.unwrap(),
        "../file.txt"
    );
    assert_eq!(
        user_fs.read_link(&vpath("/winding")).await.unwrap(),
        "./data/./sub/../file.txt",
        "the text as stored"
    );
    // Writing through a link replaces the target's content and keeps the link.
    upload(&user_fs, "/to_file", b"new").await.unwrap();
    assert_eq!(fixture.read("data/file.txt"), b"new");
    assert!(user_fs
        .lstat(&vpath("/to_file"))
        .await
        .unwrap()
        .is_symlink());
}

#[tokio::test]
async fn dangling_links_lstat_but_do_not_stat() {
    let fixture = Fixture::new();
    fixture.symlink("missing", "dangling");
    let user_fs = fixture.open().await;
    assert!(user_fs
        .lstat(&vpath("/dangling"))
        .await
        .unwrap()
        .is_symlink());
    assert_kind(
        user_fs.stat(&vpath("/dangling")).await,
        VfsErrorKind::NotFound,
    );
    assert_kind(
        user_fs.open_read(&vpath("/dangling"), 0).await,
        VfsErrorKind::NotFound,
    );
}

#[tokio::test]
async fn dotdot_and_absolute_client_paths_stay_inside() {
    let fixture = Fixture::new();
    fixture.write("f", b"mine");
    let user_fs = fixture.open().await;
    let cwd = vpath("/a/b");
    for attack in [
        "../../../../outside/secret",
        "/../outside/secret",
        "../../..",
    ] {
        let path = cwd.resolve(attack).unwrap();
        assert!(
            user_fs
                .stat(&path)
                .await
                .map(|stat| stat.is_dir())
                .unwrap_or(true),
            "{attack} reached a file"
        );
    }
    let path = cwd.resolve("../../../f").unwrap();
    assert_eq!(read_all(&user_fs, path.as_str()).await.unwrap(), b"mine");
    assert_kind(
        VirtualPath::root().resolve("a\0b").map_err(VfsError::from),
        VfsErrorKind::InvalidPath,
    );
}

#[tokio::test]
async fn absolute_root_symlink_to_slash_is_refused() {
    let fixture = Fixture::new();
    fixture.symlink("/", "slash");
    let user_fs = fixture.open().await;
    refused(user_fs.list_dir(&vpath("/slash")).await, "list /");
    refused(
        user_fs.stat(&vpath("/slash/etc/passwd")).await,
        "stat passwd",
    );
    refused(
        user_fs.open_read(&vpath("/slash/etc/passwd"), 0).await,
        "read passwd",
    );
}

#[tokio::test]
async fn the_os_layer_confines_even_without_the_virtual_walk() {
    // The second layer: handle-relative opens refuse to leave the root however the path is
    // spelled or whatever a symlink planted after our walk says.
    let fixture = Fixture::new();
    plant_escapes(&fixture);
    let root =
        cap_std::fs::Dir::open_ambient_dir(fixture.root(), cap_std::ambient_authority()).unwrap();
    for path in [
        "abs_file",
        "abs_dir/secret",
        "rel_file",
        "rel_dir/secret",
        "sub/up_file",
        "chain_start/secret",
        "../outside/secret",
        "sub/../../outside/secret",
    ] {
        let error = root.open(path).unwrap_err();
        assert_eq!(
            kind_of_io_error(&error),
            VfsErrorKind::PermissionDenied,
            "{path}: {error}"
        );
    }
    assert!(root.create_dir("rel_dir/x").is_err());
    assert!(root.remove_file("rel_dir/secret").is_err());
    assert!(root.open_dir("deep").is_err());
    assert!(std::fs::metadata(fixture.outside().join("secret")).is_ok());
}

#[tokio::test]
async fn unicode_names_round_trip() {
    let fixture = Fixture::new();
    let user_fs = fixture.open().await;
    let names = [
        "名前",
        "ünï cødé.txt",
        "emoji 🚀.bin",
        "back\\slash",
        "new\nline",
    ];
    user_fs.create_dir(&vpath("/名前")).await.unwrap();
    for name in &names[1..] {
        let path = format!("/名前/{name}");
        upload(&user_fs, &path, name.as_bytes()).await.unwrap();
        assert_eq!(read_all(&user_fs, &path).await.unwrap(), name.as_bytes());
    }
    let mut expected: Vec<String> = names[1..].iter().map(|n| n.to_string()).collect();
    expected.sort();
    assert_eq!(list_names(&user_fs, "/名前").await, expected);
    assert_eq!(fixture.read("名前/ünï cødé.txt"), "ünï cødé.txt".as_bytes());
}

#[tokio::test]
async fn non_utf8_names_on_disk_are_not_listed() {
    use std::os::unix::ffi::OsStrExt as _;
    let fixture = Fixture::new();
    fixture.write("ok", b"");
    let bad = std::ffi::OsStr::from_bytes(b"bad\xff");
    std::fs::write(fixture.root().join(bad), b"").unwrap();
    let user_fs = fixture.open().await;
    assert_eq!(list_names(&user_fs, "/").await, ["ok"]);
}

#[tokio::test]
async fn reserved_temp_names_are_hidden_and_untouchable() {
    let fixture = Fixture::new();
    fixture.write(".ferryd-upload-0123.part", b"someone's upload");
    fixture.write("visible", b"");
    let user_fs = fixture.open().await;
    assert_eq!(list_names(&user_fs, "/").await, ["visible"]);
    let temp = vpath("/.ferryd-upload-0123.part");
    refused(user_fs.stat(&temp).await, "stat temp");
    refused(user_fs.open_read(&temp, 0).await, "read temp");
    refused(
        user_fs.open_write(&temp, WriteMode::Replace).await,
        "write temp",
    );
    refused(user_fs.remove_file(&temp).await, "remove temp");
    refused(
        user_fs.rename(&vpath("/visible"), &temp, true).await,
        "rename onto temp",
    );
    refused(
        user_fs
            .symlink(".ferryd-upload-0123.part", &vpath("/l"))
            .await,
        "link to temp",
    );
    refused(
        user_fs.create_dir(&vpath("/.FERRYD-UPLOAD-x")).await,
        "mkdir temp",
    );
    assert_eq!(
        fixture.read(".ferryd-upload-0123.part"),
        b"someone's upload"
    );
}

#[tokio::test]
async fn writes_through_planted_links_never_create_outside() {
    let fixture = Fixture::new();
    fixture.symlink(fixture.outside().join("created"), "abs_new");
    fixture.symlink("../outside/created", "rel_new");
    let user_fs = fixture.open().await;
    for link in ["/abs_new", "/rel_new"] {
        for mode in [WriteMode::Replace, WriteMode::CreateNew, WriteMode::At(0)] {
            let result = user_fs.open_write(&vpath(link), mode).await;
            refused(result, link);
        }
        let mut writer = user_fs
            .open_write(&vpath("/inside"), WriteMode::Replace)
            .await
            .unwrap();
        writer.write_all(Bytes::from_static(b"x")).await.unwrap();
        writer.commit().await.unwrap();
    }
    assert!(!fixture.outside().join("created").exists());
}
