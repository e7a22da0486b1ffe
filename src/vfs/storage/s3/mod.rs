//! `S3Storage`: a mount's bytes and entries as objects under a key prefix of an S3 bucket,
//! through `object_store` (docs/storage.md compares it with the local backend).
//!
//! Files are objects at `prefix/rel` (`keys.rs`); a directory is a key prefix, made to exist
//! while empty by a hidden marker object; reads are ranged `GET`s with read-ahead
//! (`reader.rs`), listings pages of `ListObjectsV2` (`lister.rs`), uploads multipart uploads
//! to the final key completed at publish (`staged.rs`). The futures really wait on the
//! network (`Capabilities::blocking` is false): the VFS awaits them on the runtime. Every
//! request has the client's timeouts (`client.rs`), so a dead store fails an operation
//! instead of hanging a session.

mod client;
mod errors;
mod fetch;
mod keys;
mod lister;
mod read_window;
mod reader;
mod staged;
mod stat;

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use futures_util::StreamExt as _;
use object_store::path::Path as Key;
use object_store::{
    ObjectMeta, ObjectStore as _, ObjectStoreExt as _, PutMode, PutOptions, PutPayload,
};

pub(crate) use client::{S3Bucket, S3Settings};
pub(crate) use lister::S3Lister;
pub(crate) use reader::S3Reader;
pub(crate) use staged::S3Staged;

use super::contract::{Capabilities, Publish, StageMode, Storage};
use crate::vfs::error::{VfsError, VfsErrorKind};
use crate::vfs::metadata::{FileKind, FileStat};
use crate::vfs::space::SpaceInfo;
use errors::{unsupported, vfs_error};
use keys::{is_marker, listed_name, Keys};
use stat::{dir_stat, file_stat, synthetic_stat};

/// A mount on object storage: the keys under `prefix/` of one bucket.
#[derive(Clone, Debug)]
pub(crate) struct S3Storage {
    bucket: S3Bucket,
    keys: Keys,
    create_only_honoured: bool,
}

impl S3Storage {
    /// The mount of `bucket`'s keys under `prefix` (`/` at either end ignored; an invalid
    /// prefix fails every operation; the users file refuses one before it gets here, with
    /// `vfs::check_prefix`).
    /// `create_only_honoured` is what `S3Bucket::probe_create_only` found: it decides
    /// whether exclusive publishes are conditional puts.
    pub(crate) fn new(bucket: S3Bucket, prefix: String, create_only_honoured: bool) -> S3Storage {
        S3Storage {
            bucket,
            keys: Keys::new(&prefix),
            create_only_honoured,
        }
    }

    fn store(&self) -> &object_store::aws::AmazonS3 {
        &self.bucket.store
    }

    /// `HEAD` of `key`: `None` when there is no such object.
    async fn head(&self, key: &Key) -> Result<Option<ObjectMeta>, VfsError> {
        match self.store().head(key).await {
            Ok(meta) => Ok(Some(meta)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(error) => Err(vfs_error(error)),
        }
    }

    /// Whether directory `rel` exists (something under its prefix), and when its marker was
    /// written if the first entry is the marker.
    async fn probe_dir(&self, rel: &Path) -> Result<Option<Option<SystemTime>>, VfsError> {
        let prefix = self.keys.dir_prefix(rel)?;
        let listed = lister::page(self.store(), &prefix, 1, None).await?.result;
        let marker_time = listed
            .objects
            .iter()
            .find(|object| is_marker(&object.location))
            .map(|object| SystemTime::from(object.last_modified));
        if listed.objects.is_empty() && listed.common_prefixes.is_empty() {
            Ok(None)
        } else {
            Ok(Some(marker_time))
        }
    }

    /// What is under directory `rel` besides its markers: `(anything, exists)`.
    async fn dir_contents(&self, rel: &Path) -> Result<(bool, bool), VfsError> {
        let prefix = self.keys.dir_prefix(rel)?;
        let listed = lister::page(self.store(), &prefix, 3, None).await?.result;
        let exists = !listed.objects.is_empty() || !listed.common_prefixes.is_empty();
        let anything = listed
            .objects
            .iter()
            .map(|object| &object.location)
            .chain(&listed.common_prefixes)
            .any(|location| listed_name(&prefix, location).is_some());
        Ok((anything, exists))
    }

    /// A server-side copy of `from` to `to`; exclusive where the store honours conditional
    /// requests (a copy completed with `If-None-Match: *`), else the caller's `HEAD` was the
    /// only check. Copies are limited to 5 GiB by S3's `CopyObject`/`UploadPartCopy`.
    async fn copy_object(&self, from: &Key, to: &Key, publish: Publish) -> Result<(), VfsError> {
        let copied = if publish == Publish::Exclusive && self.create_only_honoured {
            self.store().copy_if_not_exists(from, to).await
        } else {
            self.store().copy(from, to).await
        };
        copied.map_err(vfs_error)
    }

    /// The kind of what is at `rel`, or `None`.
    async fn kind(&self, rel: &Path) -> Result<Option<FileKind>, VfsError> {
        Ok(self.metadata(rel).await?.map(|stat| stat.kind))
    }

    /// Refuses unless `rel`'s parent is an existing directory (S3 would create keys under a
    /// prefix that does not exist).
    async fn require_parent_dir(&self, rel: &Path) -> Result<(), VfsError> {
        let parent = match rel.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        require_dir(self.kind(&parent).await?)
    }
}

fn require_dir(kind: Option<FileKind>) -> Result<(), VfsError> {
    match kind {
        Some(FileKind::Dir) => Ok(()),
        Some(_) => Err(VfsError::new(VfsErrorKind::NotADirectory)),
        None => Err(VfsError::new(VfsErrorKind::NotFound)),
    }
}

fn is_root(rel: &Path) -> bool {
    !rel.as_os_str().is_empty()
        && rel
            .components()
            .all(|part| part == std::path::Component::CurDir)
}

const S3_CAPABILITIES: Capabilities = Capabilities {
    blocking: false,
    random_writes: false,
    in_place_writes: false,
    atomic_rename: false,
    exclusive_publish: false,
    symlinks: false,
    hard_links: false,
    modes: false,
};

impl Storage for S3Storage {
    type Reader = S3Reader;
    type Lister = S3Lister;
    type Staged = S3Staged;

    /// Nothing but in-order staged uploads and copy + delete renames; exclusive publishes
    /// only where the store honours `If-None-Match` (probed).
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            exclusive_publish: self.create_only_honoured,
            ..S3_CAPABILITIES
        }
    }

    /// `HEAD` of the key; else a one-key listing of `rel/` (a prefix or a marker makes a
    /// directory). Sizes and times from the object; modes 0o644 / 0o755; the root always
    /// exists.
    async fn metadata(&self, rel: &Path) -> Result<Option<FileStat>, VfsError> {
        let key = self.keys.key(rel)?;
        if is_root(rel) {
            return Ok(Some(dir_stat(key.as_ref(), None)));
        }
        if let Some(meta) = self.head(&key).await? {
            return Ok(Some(file_stat(&meta)));
        }
        Ok(self
            .probe_dir(rel)
            .await?
            .map(|mtime| dir_stat(key.as_ref(), mtime)))
    }

    async fn read_link(&self, rel: &Path) -> Result<String, VfsError> {
        self.keys.key(rel)?;
        Err(unsupported("object storage has no symbolic links"))
    }

    /// Pages of `list_with_delimiter` (see `lister.rs`); `rel` must be a directory.
    async fn list(&self, rel: &Path) -> Result<S3Lister, VfsError> {
        let prefix = self.keys.dir_prefix(rel)?;
        if !is_root(rel) {
            require_dir(self.kind(rel).await?)?;
        }
        Ok(S3Lister::new(self.bucket.store.clone(), prefix))
    }

    /// `HEAD` now (a directory is `IsADirectory`); the reader's `GET`s are ranged.
    async fn open_read(&self, rel: &Path) -> Result<(S3Reader, FileStat), VfsError> {
        let key = self.keys.key(rel)?;
        if is_root(rel) {
            return Err(VfsError::new(VfsErrorKind::IsADirectory));
        }
        let Some(meta) = self.head(&key).await? else {
            return Err(match self.probe_dir(rel).await? {
                Some(_) => VfsError::new(VfsErrorKind::IsADirectory),
                None => VfsError::new(VfsErrorKind::NotFound),
            });
        };
        let stat = file_stat(&meta);
        let reader = S3Reader::new(self.bucket.store.clone(), key, meta.e_tag, stat.clone());
        Ok((reader, stat))
    }

    /// A zero-length marker object in the new prefix; `AlreadyExists` when a file or a
    /// directory is there, `NotFound` without a parent directory. The mode is not kept.
    async fn create_dir(&self, rel: &Path, _mode: u32) -> Result<(), VfsError> {
        let marker = self.keys.marker(rel)?;
        if is_root(rel) || self.kind(rel).await?.is_some() {
            return Err(VfsError::new(VfsErrorKind::AlreadyExists));
        }
        self.require_parent_dir(rel).await?;
        self.store()
            .put_opts(&marker, PutPayload::new(), PutOptions::default())
            .await
            .map_err(vfs_error)?;
        Ok(())
    }

    /// Deletes the marker when nothing else is under `rel/` (`DirectoryNotEmpty` otherwise).
    async fn remove_dir(&self, rel: &Path) -> Result<(), VfsError> {
        let marker = self.keys.marker(rel)?;
        if is_root(rel) {
            return Err(VfsError::new(VfsErrorKind::PermissionDenied));
        }
        let (anything, exists) = self.dir_contents(rel).await?;
        if !exists {
            return Err(match self.head(&self.keys.key(rel)?).await? {
                Some(_) => VfsError::new(VfsErrorKind::NotADirectory),
                None => VfsError::new(VfsErrorKind::NotFound),
            });
        }
        if anything {
            return Err(VfsError::new(VfsErrorKind::DirectoryNotEmpty));
        }
        self.store().delete(&marker).await.map_err(vfs_error)
    }

    /// `DELETE` of the key, after a `HEAD` (S3 deletes a missing key without complaint).
    async fn remove_file(&self, rel: &Path) -> Result<(), VfsError> {
        let key = self.keys.key(rel)?;
        if is_root(rel) {
            return Err(VfsError::new(VfsErrorKind::IsADirectory));
        }
        if self.head(&key).await?.is_none() {
            return Err(match self.probe_dir(rel).await? {
                Some(_) => VfsError::new(VfsErrorKind::IsADirectory),
                None => VfsError::new(VfsErrorKind::NotFound),
            });
        }
        self.store().delete(&key).await.map_err(vfs_error)
    }

    /// A file: server-side copy, then delete of the source; not atomic (a reader may see
    /// both names for a moment, and a failure between the two leaves both). `Exclusive`
    /// checks the target with a `HEAD` first, and copies conditionally where the store
    /// honours it (elsewhere another writer can still race the check). An empty
    /// directory: its marker moves. A non-empty directory: `Unsupported`.
    async fn rename(&self, from: &Path, to: &Path, publish: Publish) -> Result<(), VfsError> {
        let (from_key, to_key) = (self.keys.key(from)?, self.keys.key(to)?);
        if is_root(from) || is_root(to) {
            return Err(VfsError::new(VfsErrorKind::PermissionDenied));
        }
        let target = self.kind(to).await?;
        if self.head(&from_key).await?.is_some() {
            match target {
                Some(FileKind::Dir) => return Err(VfsError::new(VfsErrorKind::IsADirectory)),
                Some(_) if publish == Publish::Exclusive => {
                    return Err(VfsError::new(VfsErrorKind::AlreadyExists))
                }
                _ => {}
            }
            self.require_parent_dir(to).await?;
            self.copy_object(&from_key, &to_key, publish).await?;
            return self.store().delete(&from_key).await.map_err(vfs_error);
        }
        let (anything, exists) = self.dir_contents(from).await?;
        if !exists {
            return Err(VfsError::new(VfsErrorKind::NotFound));
        }
        if anything {
            return Err(unsupported(
                "renaming a non-empty directory is not supported on object storage",
            ));
        }
        match target {
            Some(FileKind::Dir) if publish == Publish::Exclusive => {
                return Err(VfsError::new(VfsErrorKind::AlreadyExists))
            }
            Some(FileKind::Dir) => {
                if self.dir_contents(to).await?.0 {
                    return Err(VfsError::new(VfsErrorKind::DirectoryNotEmpty));
                }
            }
            Some(_) => return Err(VfsError::new(VfsErrorKind::NotADirectory)),
            None => self.require_parent_dir(to).await?,
        }
        let options = PutOptions {
            mode: PutMode::Overwrite,
            ..PutOptions::default()
        };
        self.store()
            .put_opts(&self.keys.marker(to)?, PutPayload::new(), options)
            .await
            .map_err(vfs_error)?;
        self.store()
            .delete(&self.keys.marker(from)?)
            .await
            .map_err(vfs_error)
    }

    async fn set_times(
        &self,
        rel: &Path,
        _mtime: SystemTime,
        _atime: Option<SystemTime>,
    ) -> Result<(), VfsError> {
        self.keys.key(rel)?;
        Err(unsupported("object storage keeps an object's upload time"))
    }

    async fn set_mode(&self, rel: &Path, _mode: u32) -> Result<(), VfsError> {
        self.keys.key(rel)?;
        Err(unsupported("object storage has no permission bits"))
    }

    async fn set_len(&self, rel: &Path, _length: u64) -> Result<(), VfsError> {
        self.keys.key(rel)?;
        Err(unsupported(
            "object storage cannot change an object's length",
        ))
    }

    async fn symlink(&self, _target: &str, rel: &Path) -> Result<(), VfsError> {
        self.keys.key(rel)?;
        Err(unsupported("object storage has no symbolic links"))
    }

    async fn hard_link(&self, existing: &Path, new: &Path) -> Result<(), VfsError> {
        self.keys.key(existing)?;
        self.keys.key(new)?;
        Err(unsupported("object storage has no hard links"))
    }

    /// No limit is known: every field is `u64::MAX` but the block size (the part size).
    async fn capacity(&self) -> Result<SpaceInfo, VfsError> {
        Ok(SpaceInfo {
            total_bytes: u64::MAX,
            free_bytes: u64::MAX,
            available_bytes: u64::MAX,
            total_files: u64::MAX,
            free_files: u64::MAX,
            block_size: staged::PART_SIZE as u64,
        })
    }

    /// A recursive paged listing of the prefix (markers left out), stopped after
    /// `max_entries` keys.
    async fn usage(&self, max_entries: u64) -> Result<(u64, u64), VfsError> {
        let prefix = self.keys.root_prefix()?;
        let mut listing = self.store().list(prefix.as_ref());
        let (mut bytes, mut files, mut visited) = (0u64, 0u64, 0u64);
        while let Some(object) = listing.next().await {
            let object = object.map_err(vfs_error)?;
            visited += 1;
            if visited > max_entries {
                break;
            }
            if !is_marker(&object.location) {
                bytes = bytes.saturating_add(object.size);
                files += 1;
            }
        }
        Ok((bytes, files))
    }

    /// `Temporary`: a multipart upload to the final key, started lazily (`staged.rs`); the
    /// parent must be a directory. In-place modes: `Unsupported`.
    async fn begin_upload(
        &self,
        parent: &Path,
        name: &str,
        mode: StageMode,
    ) -> Result<(S3Staged, FileStat), VfsError> {
        let key = self.keys.child(parent, name)?;
        let StageMode::Temporary { mode } = mode else {
            return Err(unsupported(
                "object storage cannot write into an existing object (no appends or resumes)",
            ));
        };
        if !is_root(parent) {
            require_dir(self.kind(parent).await?)?;
        }
        let stat = synthetic_stat(FileKind::File, 0, mode, SystemTime::now(), key.as_ref());
        let staged = S3Staged::new(
            self.bucket.store.clone(),
            key,
            mode,
            self.create_only_honoured,
        );
        Ok((staged, stat))
    }
}

#[cfg(test)]
mod test_store;
#[cfg(test)]
mod tests;
