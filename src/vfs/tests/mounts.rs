//! Virtual folders: mounts appear in listings, resolve by longest prefix, keep their own
//! permissions and confinement, and cannot be renamed across or removed.

use bytes::Bytes;

use super::*;

/// A fixture with `shared` (read-only) and `drop` (read-write) directories outside the root.
fn mounted(fixture: &Fixture) -> FsSpec {
    let shared = fixture.temp.path().join("shared");
    let drop_dir = fixture.temp.path().join("drop");
    let deep = fixture.temp.path().join("deep");
    for dir in [&shared, &drop_dir, &deep] {
        std::fs::create_dir_all(dir).unwrap();
    }
    std::fs::write(shared.join("manual.pdf"), b"manual").unwrap();
    std::fs::write(deep.join("z.txt"), b"zzz").unwrap();
    let mut spec = fixture.spec();
    spec.mounts = vec![
        Mount {
            virtual_path: vpath("/shared"),
            place: shared.into(),
        },
        Mount {
            virtual_path: vpath("/drop"),
            place: drop_dir.into(),
        },
        Mount {
            virtual_path: vpath("/x/y/deep"),
            place: deep.into(),
        },
    ];
    let mut rules = PermissionRules::new(Permissions::ALL);
    rules.set(vpath("/shared"), Permissions::READ_ONLY);
    spec.permissions = rules;
    spec
}

#[tokio::test]
async fn mount_points_appear_in_listings_and_stat() {
    let fixture = Fixture::new();
    fixture.write("home.txt", b"home");
    let user_fs = fixture.open_with(mounted(&fixture)).await;
    assert_eq!(
        list_names(&user_fs, "/").await,
        ["drop", "home.txt", "shared", "x"]
    );
    assert_eq!(list_names(&user_fs, "/x").await, ["y"]);
    assert_eq!(list_names(&user_fs, "/x/y").await, ["deep"]);
    assert_eq!(list_names(&user_fs, "/x/y/deep").await, ["z.txt"]);
    assert_eq!(list_names(&user_fs, "/shared").await, ["manual.pdf"]);
    for dir in ["/shared", "/drop", "/x", "/x/y", "/x/y/deep"] {
        assert!(user_fs.stat(&vpath(dir)).await.unwrap().is_dir(), "{dir}");
        assert!(user_fs.lstat(&vpath(dir)).await.unwrap().is_dir(), "{dir}");
    }
    assert_eq!(read_all(&user_fs, "/x/y/deep/z.txt").await.unwrap(), b"zzz");
    assert_eq!(
        read_all(&user_fs, "/shared/manual.pdf").await.unwrap(),
        b"manual"
    );
    // Nothing was created in the root to make this work.
    assert_eq!(fixture.disk_names("."), ["home.txt"]);
}

#[tokio::test]
async fn a_mount_shadows_what_lies_under_it_on_disk() {
    let fixture = Fixture::new();
    fixture.write("shared/hidden.txt", b"root copy");
    fixture.write("x/real.txt", b"real");
    let user_fs = fixture.open_with(mounted(&fixture)).await;
    assert_eq!(list_names(&user_fs, "/shared").await, ["manual.pdf"]);
    assert_kind(
        user_fs.stat(&vpath("/shared/hidden.txt")).await,
        VfsErrorKind::NotFound,
    );
    // A real directory on the way to a mount keeps its own entries too.
    assert_eq!(list_names(&user_fs, "/x").await, ["real.txt", "y"]);
    // Listed once, as the mount.
    assert_eq!(list_names(&user_fs, "/").await, ["drop", "shared", "x"]);
}

#[tokio::test]
async fn read_only_mount_refuses_uploads() {
    let fixture = Fixture::new();
    let user_fs = fixture.open_with(mounted(&fixture)).await;
    assert_kind(
        upload(&user_fs, "/shared/new.txt", b"x").await,
        VfsErrorKind::PermissionDenied,
    );
    assert_kind(
        user_fs.remove_file(&vpath("/shared/manual.pdf")).await,
        VfsErrorKind::PermissionDenied,
    );
    upload(&user_fs, "/drop/in.txt", b"dropped").await.unwrap();
    assert_eq!(
        std::fs::read(fixture.temp.path().join("drop/in.txt")).unwrap(),
        b"dropped"
    );
    assert!(!fixture.temp.path().join("shared/new.txt").exists());
}

#[tokio::test]
async fn renames_across_mounts_are_cross_device() {
    let fixture = Fixture::new();
    fixture.write("home.txt", b"home");
    let user_fs = fixture.open_with(mounted(&fixture)).await;
    assert_kind(
        user_fs
            .rename(&vpath("/home.txt"), &vpath("/drop/home.txt"), false)
            .await,
        VfsErrorKind::CrossDevice,
    );
    upload(&user_fs, "/drop/d.txt", b"d").await.unwrap();
    assert_kind(
        user_fs
            .rename(&vpath("/drop/d.txt"), &vpath("/d.txt"), true)
            .await,
        VfsErrorKind::CrossDevice,
    );
    assert_kind(
        user_fs
            .hard_link(&vpath("/home.txt"), &vpath("/drop/h.txt"))
            .await,
        VfsErrorKind::CrossDevice,
    );
    assert_kind(
        user_fs.symlink("/drop/d.txt", &vpath("/to_drop")).await,
        VfsErrorKind::CrossDevice,
    );
    user_fs
        .rename(&vpath("/drop/d.txt"), &vpath("/drop/e.txt"), false)
        .await
        .unwrap();
}

#[tokio::test]
async fn mount_points_cannot_be_changed() {
    let fixture = Fixture::new();
    let user_fs = fixture.open_with(mounted(&fixture)).await;
    for point in ["/drop", "/x", "/x/y", "/x/y/deep"] {
        let path = vpath(point);
        assert_kind(
            user_fs.remove_dir(&path).await,
            VfsErrorKind::PermissionDenied,
        );
        assert_kind(
            user_fs.rename(&path, &vpath("/moved"), false).await,
            VfsErrorKind::PermissionDenied,
        );
        assert_kind(user_fs.create_dir(&path).await, VfsErrorKind::AlreadyExists);
        assert_kind(
            user_fs.open_write(&path, WriteMode::Replace).await,
            VfsErrorKind::IsADirectory,
        );
        assert_kind(
            user_fs.set_mode(&path, 0o777).await,
            VfsErrorKind::PermissionDenied,
        );
    }
    fixture.write("f", b"");
    assert_kind(
        user_fs.rename(&vpath("/f"), &vpath("/drop"), true).await,
        VfsErrorKind::PermissionDenied,
    );
}

#[tokio::test]
async fn symlinks_inside_a_mount_cannot_climb_out_of_it() {
    let fixture = Fixture::new();
    fixture.write("home.txt", b"home");
    let spec = mounted(&fixture);
    let drop_dir = fixture.temp.path().join("drop");
    std::os::unix::fs::symlink("../shared/manual.pdf", drop_dir.join("up")).unwrap();
    std::os::unix::fs::symlink("../../outside/secret", drop_dir.join("way_up")).unwrap();
    let user_fs = fixture.open_with(spec).await;
    for link in ["/drop/up", "/drop/way_up"] {
        assert_kind(
            read_all(&user_fs, link).await,
            VfsErrorKind::PermissionDenied,
        );
        assert_kind(
            user_fs.read_link(&vpath(link)).await,
            VfsErrorKind::PermissionDenied,
        );
    }
    // Links the user makes inside the mount stay inside it.
    upload(&user_fs, "/drop/a.txt", b"a").await.unwrap();
    user_fs.create_dir(&vpath("/drop/sub")).await.unwrap();
    user_fs
        .symlink("/drop/a.txt", &vpath("/drop/sub/link"))
        .await
        .unwrap();
    assert_eq!(
        std::fs::read_link(drop_dir.join("sub/link")).unwrap(),
        std::path::Path::new("../a.txt")
    );
    assert_eq!(read_all(&user_fs, "/drop/sub/link").await.unwrap(), b"a");
    assert_eq!(
        user_fs.read_link(&vpath("/drop/sub/link")).await.unwrap(),
        "../a.txt"
    );
}

#[tokio::test]
async fn invalid_mount_tables_are_refused() {
    let fixture = Fixture::new();
    let mut spec = mounted(&fixture);
    spec.mounts[1].virtual_path = vpath("/shared");
    assert_kind(
        UserFs::open(spec, &fixture.quotas).await,
        VfsErrorKind::InvalidPath,
    );
    let mut spec = mounted(&fixture);
    spec.mounts[0].place = fixture.temp.path().join("missing").into();
    assert_kind(
        UserFs::open(spec, &fixture.quotas).await,
        VfsErrorKind::NotFound,
    );
    let mut spec = mounted(&fixture);
    spec.mounts[0].virtual_path = VirtualPath::root();
    assert_kind(
        UserFs::open(spec, &fixture.quotas).await,
        VfsErrorKind::InvalidPath,
    );
}

#[tokio::test]
async fn space_of_a_mount_ignores_the_home_quota() {
    let fixture = Fixture::new();
    let mut spec = mounted(&fixture);
    spec.quota.max_bytes = Some(10);
    let user_fs = fixture.open_with(spec).await;
    let home = user_fs.space(&VirtualPath::root()).await.unwrap();
    assert_eq!(home.total_bytes, 10);
    let drop_space = user_fs.space(&vpath("/drop")).await.unwrap();
    assert!(drop_space.total_bytes > 10);
    // Mounts are not counted: a big upload there is fine.
    let mut writer = user_fs
        .open_write(&vpath("/drop/big"), WriteMode::Replace)
        .await
        .unwrap();
    writer
        .write_all(Bytes::from(vec![0u8; 1000]))
        .await
        .unwrap();
    writer.commit().await.unwrap();
}
