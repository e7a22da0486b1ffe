//! `UserFs` behaviour tests over temporary directories, grouped by concern.
//!
//! Each test builds its own root (and outside directory, for escape attempts) with `tempfile`,
//! plants whatever the scenario needs with plain `std::fs` (the test is the administrator
//! here), and then drives only the public `UserFs` API.

use std::path::{Path, PathBuf};

use super::*;

/// A user's root inside a temp dir, next to an `outside` directory holding a secret.
pub(super) struct Fixture {
    pub(super) temp: tempfile::TempDir,
    pub(super) quotas: QuotaRegistry,
}

impl Fixture {
    pub(super) fn new() -> Fixture {
        let temp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(temp.path().join("root")).unwrap();
        std::fs::create_dir_all(temp.path().join("outside")).unwrap();
        std::fs::write(temp.path().join("outside/secret"), b"top secret").unwrap();
        Fixture {
            temp,
            quotas: QuotaRegistry::new(),
        }
    }

    pub(super) fn root(&self) -> PathBuf {
        self.temp.path().join("root")
    }

    pub(super) fn outside(&self) -> PathBuf {
        self.temp.path().join("outside")
    }

    pub(super) fn spec(&self) -> FsSpec {
        FsSpec {
            user: "alice".to_owned(),
            root: self.root().into(),
            mounts: Vec::new(),
            permissions: PermissionRules::default(),
            quota: Quota::default(),
            denied_upload_patterns: Vec::new(),
            bandwidth: Default::default(),
            umask: None,
        }
    }

    pub(super) async fn open(&self) -> UserFs {
        self.open_with(self.spec()).await
    }

    pub(super) async fn open_with(&self, spec: FsSpec) -> UserFs {
        UserFs::open(spec, &self.quotas).await.unwrap()
    }

    pub(super) fn write(&self, rel: &str, data: &[u8]) {
        let path = self.root().join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(path, data).unwrap();
    }

    pub(super) fn read(&self, rel: &str) -> Vec<u8> {
        std::fs::read(self.root().join(rel)).unwrap()
    }

    pub(super) fn exists(&self, rel: &str) -> bool {
        std::fs::symlink_metadata(self.root().join(rel)).is_ok()
    }

    pub(super) fn symlink(&self, target: impl AsRef<Path>, rel: &str) {
        std::os::unix::fs::symlink(target, self.root().join(rel)).unwrap();
    }

    /// Names in a root-relative directory on disk, sorted (temp files included).
    pub(super) fn disk_names(&self, rel: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.root().join(rel))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }
}

pub(super) fn vpath(text: &str) -> VirtualPath {
    VirtualPath::parse_absolute(text).unwrap()
}

/// Every entry of a listing, sorted by name.
pub(super) async fn list_names(user_fs: &UserFs, path: &str) -> Vec<String> {
    let mut lister = user_fs.list_dir(&vpath(path)).await.unwrap();
    let mut names = Vec::new();
    loop {
        let batch = lister.next_batch(100).await.unwrap();
        if batch.is_empty() {
            break;
        }
        names.extend(batch.into_iter().map(|entry| entry.name));
    }
    names.sort();
    names
}

pub(super) async fn read_all(user_fs: &UserFs, path: &str) -> Result<Vec<u8>, VfsError> {
    let mut reader = user_fs.open_read(&vpath(path), 0).await?;
    let mut data = Vec::new();
    while let Some(block) = reader.read_block().await? {
        data.extend_from_slice(&block);
    }
    Ok(data)
}

pub(super) async fn upload(user_fs: &UserFs, path: &str, data: &[u8]) -> Result<u64, VfsError> {
    let mut writer = user_fs.open_write(&vpath(path), WriteMode::Replace).await?;
    writer
        .write_all(bytes::Bytes::copy_from_slice(data))
        .await?;
    writer.commit().await
}

#[track_caller]
pub(super) fn assert_kind<T: std::fmt::Debug>(result: Result<T, VfsError>, kind: VfsErrorKind) {
    match result {
        Ok(value) => panic!("expected {kind:?}, got Ok({value:?})"),
        Err(error) => assert_eq!(error.kind, kind, "{error}"),
    }
}

mod access;
mod capabilities;
mod confinement;
mod modes;
mod mounts;
mod namespace;
mod nonblocking;
mod quotas;
mod reorder;
mod uploads;

/// Front ends keep these in tasks and share them; that must stay possible.
#[test]
fn public_types_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<UserFs>();
    check::<FileReader>();
    check::<FileWriter>();
    check::<SharedFileWriter>();
    check::<DirLister>();
    check::<QuotaRegistry>();
    check::<VfsError>();
}
