//! Permissions: each permission gates its operations, per path prefix, and symlinks or hard
//! links cannot be used to reach a path with rights its rules do not grant.

use std::time::SystemTime;

use bytes::Bytes;

use super::*;

/// A root with a file, a directory and a symlink, opened with everything but `missing`.
async fn without(fixture: &Fixture, missing: Permissions) -> UserFs {
    fixture.write("file", b"content");
    fixture.write("dir/inner", b"");
    std::fs::create_dir_all(fixture.root().join("empty")).unwrap();
    if !fixture.exists("link") {
        fixture.symlink("file", "link");
    }
    let all_but = Permissions::from_names_except(missing);
    let mut spec = fixture.spec();
    spec.permissions = PermissionRules::new(all_but);
    fixture.open_with(spec).await
}

/// `Permissions::ALL` minus one, built from the public names (the type has no subtraction).
trait Except {
    fn from_names_except(missing: Permissions) -> Permissions;
}

impl Except for Permissions {
    fn from_names_except(missing: Permissions) -> Permissions {
        Permissions::known_names()
            .filter_map(Permissions::from_name)
            .filter(|permission| !missing.contains(*permission))
            .fold(Permissions::NONE, |all, permission| all | permission)
    }
}

#[track_caller]
fn denied<T: std::fmt::Debug>(result: Result<T, VfsError>) {
    assert_kind(result, VfsErrorKind::PermissionDenied);
}

#[tokio::test]
async fn each_permission_denies_its_operation() {
    let fixture = Fixture::new();
    let file = vpath("/file");

    let user_fs = without(&fixture, Permissions::LIST).await;
    denied(user_fs.stat(&file).await);
    denied(user_fs.lstat(&file).await);
    denied(user_fs.list_dir(&vpath("/")).await);
    denied(user_fs.read_link(&vpath("/link")).await);
    assert!(read_all(&user_fs, "/file").await.is_ok());

    let user_fs = without(&fixture, Permissions::DOWNLOAD).await;
    denied(user_fs.open_read(&file, 0).await);
    denied(user_fs.hash(&file, HashAlgorithm::Md5, None).await);
    assert!(user_fs.stat(&file).await.is_ok());

    let user_fs = without(&fixture, Permissions::UPLOAD).await;
    denied(user_fs.open_write(&vpath("/new"), WriteMode::Replace).await);
    denied(user_fs.open_write(&file, WriteMode::Append).await);
    denied(user_fs.rename(&file, &vpath("/moved"), false).await);

    let user_fs = without(&fixture, Permissions::OVERWRITE).await;
    for mode in [
        WriteMode::Replace,
        WriteMode::Append,
        WriteMode::At(1),
        WriteMode::InPlace,
    ] {
        denied(user_fs.open_write(&file, mode).await);
    }
    denied(user_fs.rename(&vpath("/dir/inner"), &file, true).await);
    denied(user_fs.set_len(&file, 0).await);
    upload(&user_fs, "/fresh", b"new files are fine")
        .await
        .unwrap();

    let user_fs = without(&fixture, Permissions::DELETE).await;
    denied(user_fs.remove_file(&file).await);

    let user_fs = without(&fixture, Permissions::RENAME).await;
    denied(user_fs.rename(&file, &vpath("/moved"), false).await);

    let user_fs = without(&fixture, Permissions::MKDIR).await;
    denied(user_fs.create_dir(&vpath("/newdir")).await);

    let user_fs = without(&fixture, Permissions::RMDIR).await;
    denied(user_fs.remove_dir(&vpath("/empty")).await);

    let user_fs = without(&fixture, Permissions::SET_ATTRIBUTES).await;
    denied(user_fs.set_times(&file, SystemTime::now(), None).await);
    denied(user_fs.set_mode(&file, 0o600).await);
    denied(user_fs.set_len(&file, 0).await);

    let user_fs = without(&fixture, Permissions::LINK).await;
    denied(user_fs.symlink("file", &vpath("/l2")).await);
    denied(user_fs.hard_link(&file, &vpath("/h2")).await);

    // Nothing above touched the disk.
    assert_eq!(fixture.read("file"), b"content");
    assert!(fixture.exists("empty") && fixture.exists("dir/inner"));
    assert!(!fixture.exists("new") && !fixture.exists("moved") && !fixture.exists("newdir"));
}

#[tokio::test]
async fn full_permissions_allow_every_operation() {
    let fixture = Fixture::new();
    let user_fs = without(&fixture, Permissions::NONE).await;
    let file = vpath("/file");
    user_fs.set_mode(&file, 0o640).await.unwrap();
    user_fs.set_len(&file, 3).await.unwrap();
    user_fs.symlink("/file", &vpath("/l2")).await.unwrap();
    user_fs.hard_link(&file, &vpath("/h2")).await.unwrap();
    user_fs
        .rename(&vpath("/h2"), &vpath("/h3"), false)
        .await
        .unwrap();
    user_fs.remove_file(&vpath("/h3")).await.unwrap();
    user_fs.create_dir(&vpath("/newdir")).await.unwrap();
    user_fs.remove_dir(&vpath("/newdir")).await.unwrap();
    assert_eq!(read_all(&user_fs, "/l2").await.unwrap(), b"con");
}

fn rules(entries: &[(&str, Permissions)]) -> PermissionRules {
    let mut rules = PermissionRules::new(Permissions::ALL);
    for (prefix, permissions) in entries {
        rules.set(vpath(prefix), *permissions);
    }
    rules
}

#[tokio::test]
async fn prefix_rules_apply_below_their_prefix() {
    let fixture = Fixture::new();
    fixture.write("ro/doc", b"read me");
    fixture.write("drop/.keep", b"");
    let mut spec = fixture.spec();
    spec.permissions = rules(&[
        ("/ro", Permissions::READ_ONLY),
        ("/drop", Permissions::UPLOAD),
    ]);
    let user_fs = fixture.open_with(spec).await;
    assert_eq!(read_all(&user_fs, "/ro/doc").await.unwrap(), b"read me");
    denied(upload(&user_fs, "/ro/new", b"x").await);
    denied(user_fs.remove_file(&vpath("/ro/doc")).await);
    upload(&user_fs, "/drop/in", b"x").await.unwrap();
    denied(user_fs.list_dir(&vpath("/drop")).await);
    denied(read_all(&user_fs, "/drop/in").await);
    denied(upload(&user_fs, "/drop/in", b"again").await);
    assert_eq!(
        user_fs.permissions_at(&vpath("/ro/x")),
        Permissions::READ_ONLY
    );
}

#[tokio::test]
async fn symlinks_grant_nothing_beyond_their_target() {
    let fixture = Fixture::new();
    fixture.write("ro/doc", b"read me");
    fixture.write("rw/.keep", b"");
    fixture.write("secret/key", b"hidden");
    fixture.symlink("../ro/doc", "rw/doc_link");
    fixture.symlink("../ro", "rw/ro_dir");
    fixture.symlink("../secret/key", "rw/key_link");
    let mut spec = fixture.spec();
    spec.permissions = rules(&[
        ("/ro", Permissions::READ_ONLY),
        ("/secret", Permissions::NONE),
    ]);
    let user_fs = fixture.open_with(spec).await;
    // Reading through the link is what /ro allows; writing is not.
    assert_eq!(
        read_all(&user_fs, "/rw/doc_link").await.unwrap(),
        b"read me"
    );
    denied(upload(&user_fs, "/rw/doc_link", b"overwrite").await);
    denied(
        user_fs
            .open_write(&vpath("/rw/doc_link"), WriteMode::Append)
            .await,
    );
    denied(upload(&user_fs, "/rw/ro_dir/new", b"x").await);
    denied(user_fs.set_len(&vpath("/rw/doc_link"), 0).await);
    denied(user_fs.set_mode(&vpath("/rw/ro_dir"), 0o777).await);
    denied(read_all(&user_fs, "/rw/key_link").await);
    denied(user_fs.stat(&vpath("/rw/key_link")).await);
    assert_eq!(fixture.read("ro/doc"), b"read me");
    // The link itself lives in /rw, so it may be removed there.
    user_fs.remove_file(&vpath("/rw/doc_link")).await.unwrap();
    assert_eq!(fixture.read("ro/doc"), b"read me");
}

#[tokio::test]
async fn hard_links_cannot_make_read_only_data_writable() {
    let fixture = Fixture::new();
    fixture.write("ro/doc", b"read me");
    fixture.write("rw/.keep", b"");
    let mut spec = fixture.spec();
    spec.permissions = rules(&[("/ro", Permissions::READ_ONLY)]);
    let user_fs = fixture.open_with(spec).await;
    denied(
        user_fs
            .hard_link(&vpath("/ro/doc"), &vpath("/rw/doc"))
            .await,
    );
    assert!(!fixture.exists("rw/doc"));
    // Into another read-only place is harmless.
    let mut spec = fixture.spec();
    spec.permissions = rules(&[
        ("/ro", Permissions::READ_ONLY | Permissions::LINK),
        ("/ro2", Permissions::READ_ONLY | Permissions::LINK),
    ]);
    std::fs::create_dir_all(fixture.root().join("ro2")).unwrap();
    let user_fs = fixture.open_with(spec).await;
    user_fs
        .hard_link(&vpath("/ro/doc"), &vpath("/ro2/doc"))
        .await
        .unwrap();
}

#[tokio::test]
async fn denied_upload_patterns_refuse_uploads_renames_and_links() {
    let fixture = Fixture::new();
    fixture.write("ok.txt", b"x");
    let mut spec = fixture.spec();
    spec.denied_upload_patterns = vec!["*.exe".to_owned(), "?.sh".to_owned()];
    let user_fs = fixture.open_with(spec).await;
    denied(upload(&user_fs, "/setup.EXE", b"MZ").await);
    denied(upload(&user_fs, "/a.sh", b"#!").await);
    for mode in [WriteMode::CreateNew, WriteMode::Append, WriteMode::InPlace] {
        denied(user_fs.open_write(&vpath("/x.exe"), mode).await);
    }
    denied(
        user_fs
            .rename(&vpath("/ok.txt"), &vpath("/ok.exe"), false)
            .await,
    );
    denied(user_fs.symlink("ok.txt", &vpath("/ok.exe")).await);
    denied(
        user_fs
            .hard_link(&vpath("/ok.txt"), &vpath("/ok.exe"))
            .await,
    );
    upload(&user_fs, "/ab.sh", b"fine").await.unwrap();
    // A link named innocently cannot be used to write a denied name either.
    fixture.symlink("evil.exe", "innocent");
    denied(upload(&user_fs, "/innocent", b"MZ").await);
    assert!(!fixture.exists("setup.EXE") && !fixture.exists("ok.exe"));
    assert!(!fixture.exists("evil.exe"));
    let mut writer = user_fs
        .open_write(&vpath("/plain.txt"), WriteMode::Replace)
        .await
        .unwrap();
    writer.write_all(Bytes::from_static(b"x")).await.unwrap();
    writer.commit().await.unwrap();
}
