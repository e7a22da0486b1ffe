//! Quotas through `UserFs`: limits hold before data is written, every operation keeps the
//! shared usage exact, and all sessions of a user see the same numbers.

use bytes::Bytes;

use super::*;

async fn with_quota(fixture: &Fixture, max_bytes: Option<u64>, max_files: Option<u64>) -> UserFs {
    let mut spec = fixture.spec();
    spec.quota = Quota {
        max_bytes,
        max_files,
    };
    fixture.open_with(spec).await
}

fn usage(fixture: &Fixture) -> (u64, u64) {
    fixture.quotas.usage("alice").unwrap()
}

#[tokio::test]
async fn existing_files_are_counted_at_first_login() {
    let fixture = Fixture::new();
    fixture.write("a", &[0; 30]);
    fixture.write("dir/b", &[0; 12]);
    let _user_fs = with_quota(&fixture, Some(1000), None).await;
    assert_eq!(usage(&fixture), (42, 2));
}

#[tokio::test]
async fn byte_limit_refuses_before_writing_and_deletes_give_room_back() {
    let fixture = Fixture::new();
    let user_fs = with_quota(&fixture, Some(100), None).await;
    upload(&user_fs, "/sixty", &[1; 60]).await.unwrap();
    assert_eq!(usage(&fixture), (60, 1));

    let mut writer = user_fs
        .open_write(&vpath("/fifty"), WriteMode::Replace)
        .await
        .unwrap();
    writer.write_all(Bytes::from(vec![2; 30])).await.unwrap();
    assert_kind(
        writer.write_all(Bytes::from(vec![2; 20])).await,
        VfsErrorKind::QuotaExceeded,
    );
    // Nothing of the refused write reached the disk.
    assert_eq!(writer.position(), 30);
    drop(writer);
    assert!(!fixture.exists("fifty"));
    assert_eq!(usage(&fixture), (60, 1));

    user_fs.remove_file(&vpath("/sixty")).await.unwrap();
    assert_eq!(usage(&fixture), (0, 0));
    upload(&user_fs, "/ninety", &[3; 90]).await.unwrap();
    assert_eq!(usage(&fixture), (90, 1));
}

#[tokio::test]
async fn file_limit_refuses_new_names_only() {
    let fixture = Fixture::new();
    let user_fs = with_quota(&fixture, None, Some(2)).await;
    upload(&user_fs, "/one", b"1").await.unwrap();
    upload(&user_fs, "/two", b"2").await.unwrap();
    assert_kind(
        user_fs
            .open_write(&vpath("/three"), WriteMode::Replace)
            .await,
        VfsErrorKind::QuotaExceeded,
    );
    assert_kind(
        user_fs
            .open_write(&vpath("/three"), WriteMode::Append)
            .await,
        VfsErrorKind::QuotaExceeded,
    );
    assert_kind(
        user_fs.hard_link(&vpath("/one"), &vpath("/three")).await,
        VfsErrorKind::QuotaExceeded,
    );
    // Replacing an existing file keeps the count.
    upload(&user_fs, "/two", b"22").await.unwrap();
    assert_eq!(usage(&fixture), (3, 2));
    user_fs.remove_file(&vpath("/one")).await.unwrap();
    upload(&user_fs, "/three", b"3").await.unwrap();
    assert_eq!(usage(&fixture), (3, 2));
}

#[tokio::test]
async fn overwriting_at_the_limit_is_allowed_and_counted_once() {
    let fixture = Fixture::new();
    fixture.write("full", &[0; 100]);
    let user_fs = with_quota(&fixture, Some(100), None).await;
    assert_eq!(usage(&fixture), (100, 1));
    upload(&user_fs, "/full", &[1; 80]).await.unwrap();
    assert_eq!(usage(&fixture), (80, 1));
    // An aborted overwrite gives back what its temporary file held.
    let mut writer = user_fs
        .open_write(&vpath("/full"), WriteMode::Replace)
        .await
        .unwrap();
    writer.write_all(Bytes::from(vec![2; 90])).await.unwrap();
    writer.abort().await;
    assert_eq!(usage(&fixture), (80, 1));
    assert_eq!(fixture.read("full"), vec![1; 80]);
}

#[tokio::test]
async fn in_place_growth_truncation_and_renames_are_tracked() {
    let fixture = Fixture::new();
    fixture.write("log", &[0; 10]);
    fixture.write("other", &[0; 5]);
    let user_fs = with_quota(&fixture, Some(50), None).await;

    let mut writer = user_fs
        .open_write(&vpath("/log"), WriteMode::Append)
        .await
        .unwrap();
    writer.write_all(Bytes::from(vec![1; 20])).await.unwrap();
    writer.commit().await.unwrap();
    assert_eq!(usage(&fixture), (35, 2));

    // Rewriting existing bytes costs nothing.
    let mut writer = user_fs
        .open_write(&vpath("/log"), WriteMode::At(0))
        .await
        .unwrap();
    writer.write_all(Bytes::from(vec![2; 30])).await.unwrap();
    writer.commit().await.unwrap();
    assert_eq!(usage(&fixture), (35, 2));

    assert_kind(
        user_fs.set_len(&vpath("/log"), 100).await,
        VfsErrorKind::QuotaExceeded,
    );
    user_fs.set_len(&vpath("/log"), 5).await.unwrap();
    assert_eq!(usage(&fixture), (10, 2));

    user_fs
        .rename(&vpath("/other"), &vpath("/log"), true)
        .await
        .unwrap();
    assert_eq!(usage(&fixture), (5, 1));

    user_fs
        .hard_link(&vpath("/log"), &vpath("/log2"))
        .await
        .unwrap();
    assert_eq!(usage(&fixture), (10, 2));
}

#[tokio::test]
async fn sessions_of_one_user_share_usage() {
    let fixture = Fixture::new();
    let first = with_quota(&fixture, Some(100), None).await;
    let second = with_quota(&fixture, Some(100), None).await;
    upload(&first, "/a", &[0; 70]).await.unwrap();
    assert_kind(
        upload(&second, "/b", &[0; 40]).await,
        VfsErrorKind::QuotaExceeded,
    );
    let space = second.space(&VirtualPath::root()).await.unwrap();
    assert_eq!((space.total_bytes, space.available_bytes), (100, 30));
    upload(&second, "/b", &[0; 30]).await.unwrap();
    assert_eq!(usage(&fixture), (100, 2));
}

#[tokio::test]
async fn a_write_refused_by_the_quota_poisons_the_upload() {
    let fixture = Fixture::new();
    fixture.write("f", b"the good old file");
    let user_fs = with_quota(&fixture, Some(1000), None).await;
    let before = usage(&fixture);
    let writer = user_fs
        .open_write(&vpath("/f"), WriteMode::Replace)
        .await
        .unwrap()
        .into_shared()
        .await
        .unwrap();
    writer.write_at(0, Bytes::from(vec![1; 500])).await.unwrap();
    writer
        .write_at(100, Bytes::from(vec![1; 100]))
        .await
        .unwrap();
    let refused = writer.write_at(900, Bytes::from(vec![1; 200])).await;
    assert_kind(refused, VfsErrorKind::QuotaExceeded);
    // A client that carries on (OpenSSH sftp fails only the one WRITE) gets nothing more
    // written, whether the next write would fit or not, and no commit.
    let later = writer.write_at(500, Bytes::from(vec![1; 10])).await;
    assert_kind(later, VfsErrorKind::QuotaExceeded);
    let error = writer.commit().await.unwrap_err();
    assert_eq!(error.kind, VfsErrorKind::QuotaExceeded);
    assert!(error.to_string().contains("quota exceeded"), "{error}");
    assert_eq!(fixture.read("f"), b"the good old file");
    assert_eq!(usage(&fixture), before);
    let names = fixture.disk_names("");
    assert_eq!(names, vec!["f".to_owned()], "only the old file is left");
}

#[tokio::test]
async fn a_sequential_upload_refused_by_the_quota_cannot_be_committed() {
    let fixture = Fixture::new();
    let user_fs = with_quota(&fixture, Some(100), None).await;
    let mut writer = user_fs
        .open_write(&vpath("/new"), WriteMode::Replace)
        .await
        .unwrap();
    writer.write_all(Bytes::from(vec![1; 80])).await.unwrap();
    assert_kind(
        writer.write_all(Bytes::from(vec![1; 80])).await,
        VfsErrorKind::QuotaExceeded,
    );
    assert_kind(
        writer.write_all(Bytes::from(vec![1; 1])).await,
        VfsErrorKind::QuotaExceeded,
    );
    assert_kind(writer.commit().await, VfsErrorKind::QuotaExceeded);
    assert!(!fixture.exists("new"));
    assert_eq!(usage(&fixture), (0, 0));
}

#[tokio::test]
async fn an_upload_into_a_used_up_quota_is_refused_at_open() {
    let fixture = Fixture::new();
    fixture.write("full", &[0; 100]);
    let user_fs = with_quota(&fixture, Some(100), None).await;
    for mode in [WriteMode::Replace, WriteMode::Append, WriteMode::At(0)] {
        let refused = user_fs.open_write(&vpath("/new"), mode).await;
        assert_kind(refused, VfsErrorKind::QuotaExceeded);
    }
    assert_eq!(usage(&fixture), (100, 1));
    // Replacing the file that fills the quota is still allowed: the old bytes are credit.
    upload(&user_fs, "/full", &[1; 60]).await.unwrap();
    assert_eq!(usage(&fixture), (60, 1));
}
