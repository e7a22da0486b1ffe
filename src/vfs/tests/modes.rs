//! The umask: what clients create loses its bits, explicit mode changes do not, and no client
//! ever sets setuid, setgid or sticky.

use super::*;

fn disk_mode(fixture: &Fixture, rel: &str) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::symlink_metadata(fixture.root().join(rel))
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

async fn open_with_umask(fixture: &Fixture, umask: Option<u32>) -> UserFs {
    let mut spec = fixture.spec();
    spec.umask = umask;
    fixture.open_with(spec).await
}

async fn write_new(user_fs: &UserFs, path: &str, mode: WriteMode, attributes: CommitAttributes) {
    let mut writer = user_fs.open_write(&vpath(path), mode).await.unwrap();
    writer
        .write_all(bytes::Bytes::from_static(b"data"))
        .await
        .unwrap();
    writer
        .into_shared()
        .await
        .unwrap()
        .commit_with(attributes)
        .await
        .unwrap();
}

fn with_mode(mode: u32) -> CommitAttributes {
    CommitAttributes {
        mode: Some(mode),
        times: None,
    }
}

#[tokio::test]
async fn new_files_and_directories_lose_the_umask_bits() {
    let fixture = Fixture::new();
    let user_fs = open_with_umask(&fixture, None).await;
    assert_eq!(user_fs.umask(), FALLBACK_UMASK);
    for (name, mode) in [
        ("replace", WriteMode::Replace),
        ("new", WriteMode::CreateNew),
        ("append", WriteMode::Append),
        ("in-place", WriteMode::InPlace),
    ] {
        write_new(
            &user_fs,
            &format!("/{name}"),
            mode,
            CommitAttributes::default(),
        )
        .await;
        assert_eq!(disk_mode(&fixture, name), 0o644, "{name}");
    }
    user_fs.create_dir(&vpath("/d")).await.unwrap();
    assert_eq!(disk_mode(&fixture, "d"), 0o755);

    let strict = open_with_umask(&fixture, Some(0o027)).await;
    upload(&strict, "/strict", b"x").await.unwrap();
    assert_eq!(disk_mode(&fixture, "strict"), 0o640);
    strict.create_dir(&vpath("/strict-dir")).await.unwrap();
    assert_eq!(disk_mode(&fixture, "strict-dir"), 0o750);
}

#[tokio::test]
async fn the_umask_is_exact_whatever_the_process_umask() {
    let fixture = Fixture::new();
    // Umask 0 asks for more than a typical process umask (022) lets open(2) give.
    let open = open_with_umask(&fixture, Some(0)).await;
    upload(&open, "/f", b"x").await.unwrap();
    assert_eq!(disk_mode(&fixture, "f"), 0o666);
    open.create_dir(&vpath("/d")).await.unwrap();
    assert_eq!(disk_mode(&fixture, "d"), 0o777);
}

#[tokio::test]
async fn a_mode_sent_with_an_upload_or_mkdir_loses_the_umask_and_special_bits() {
    let fixture = Fixture::new();
    let user_fs = open_with_umask(&fixture, Some(0o022)).await;
    write_new(&user_fs, "/a", WriteMode::Replace, with_mode(0o666)).await;
    assert_eq!(disk_mode(&fixture, "a"), 0o644);
    write_new(&user_fs, "/b", WriteMode::Replace, with_mode(0o4755)).await;
    assert_eq!(disk_mode(&fixture, "b"), 0o755, "setuid never set");
    write_new(&user_fs, "/c", WriteMode::InPlace, with_mode(0o600)).await;
    assert_eq!(
        disk_mode(&fixture, "c"),
        0o600,
        "a new in-place file takes the mode"
    );
    user_fs
        .create_dir_with_mode(&vpath("/d"), 0o3777)
        .await
        .unwrap();
    assert_eq!(
        disk_mode(&fixture, "d"),
        0o755,
        "setgid and sticky never set"
    );
    user_fs
        .create_dir_with_mode(&vpath("/e"), 0o700)
        .await
        .unwrap();
    assert_eq!(disk_mode(&fixture, "e"), 0o700);
}

#[tokio::test]
async fn a_replaced_file_keeps_its_mode_unless_the_client_sends_one() {
    let fixture = Fixture::new();
    fixture.write("kept", b"old");
    fixture.write("sent", b"old");
    fixture.write("in-place", b"old");
    for name in ["kept", "sent", "in-place"] {
        std::fs::set_permissions(
            fixture.root().join(name),
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .unwrap();
    }
    let user_fs = open_with_umask(&fixture, Some(0o022)).await;
    write_new(
        &user_fs,
        "/kept",
        WriteMode::Replace,
        CommitAttributes::default(),
    )
    .await;
    assert_eq!(disk_mode(&fixture, "kept"), 0o600);
    write_new(&user_fs, "/sent", WriteMode::Replace, with_mode(0o666)).await;
    assert_eq!(disk_mode(&fixture, "sent"), 0o644);
    // An existing file written in place is not an upload of a new file: attributes at
    // commit leave it alone.
    write_new(&user_fs, "/in-place", WriteMode::InPlace, with_mode(0o666)).await;
    assert_eq!(disk_mode(&fixture, "in-place"), 0o600);
}

#[tokio::test]
async fn an_explicit_mode_change_is_not_masked_but_special_bits_are() {
    let fixture = Fixture::new();
    fixture.write("f", b"x");
    let user_fs = open_with_umask(&fixture, Some(0o077)).await;
    user_fs.set_mode(&vpath("/f"), 0o666).await.unwrap();
    assert_eq!(disk_mode(&fixture, "f"), 0o666);
    user_fs.set_mode(&vpath("/f"), 0o7755).await.unwrap();
    assert_eq!(disk_mode(&fixture, "f"), 0o755);
}

#[test]
fn a_spec_takes_the_default_umask_only_without_its_own() {
    let fixture = Fixture::new();
    let spec = fixture.spec();
    assert_eq!(spec.clone().with_default_umask(0o027).umask, Some(0o027));
    let own = FsSpec {
        umask: Some(0o077),
        ..spec
    };
    assert_eq!(own.with_default_umask(0o027).umask, Some(0o077));
}
