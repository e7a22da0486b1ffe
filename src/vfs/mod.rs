//! The virtual file system: one user's confined view of the disk.
//!
//! `UserFs` is the only way front ends touch user data. Every operation takes a `VirtualPath`,
//! resolves it inside the user's root (following symlinks in virtual space, see `resolve`),
//! checks the user's permissions on both the path as asked and the canonical path it resolves
//! to (so a symlink never grants more than either end allows), then acts through the mount's
//! storage backend (`storage`: bytes and entries only; for a local directory a
//! `cap_std::fs::Dir` handle, which the OS keeps from leaving that directory).
//! Ambient authority (opening a host path) is used only in [`UserFs::open`] and in the
//! server's sweep for leftover uploads ([`sweep_leftovers`]), which opens configured homes.
//!
//! Mount points and the directories leading to them belong to the configuration: they can be
//! listed and stat'ed, never renamed, removed or changed. All blocking work runs on tokio's
//! blocking pool, and a backend that really waits is awaited on the runtime (`operation`); the
//! API is async. Nothing here knows FTP or SFTP.

pub mod path;
pub mod permissions;
pub mod spec;

mod bandwidth;
mod discarded;
mod error;
mod hash;
mod links;
mod listing;
mod metadata;
mod modes;
mod names;
mod object_stores;
mod open;
mod operation;
mod quota;
mod reader;
mod resolve;
mod space;
mod storage;
mod upload;
mod upload_hooks;
mod upload_order;
mod upload_quota;
mod write_mode;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::SystemTime;

pub use error::{kind_of_io_error, VfsError, VfsErrorKind};
pub use hash::HashAlgorithm;
pub use listing::{DirLister, MAX_LIST_BATCH};
pub use metadata::{DirEntry, FileKind, FileStat};
pub use modes::CommitAttributes;
pub use object_stores::{ObjectStorageSettings, ObjectStores};
pub use path::{PathError, VirtualPath};
pub use permissions::{PermissionRules, Permissions};
pub use quota::{QuotaRegistry, MAX_QUOTA_SCAN_ENTRIES};
pub use reader::{FileReader, MAX_READ_AT_BYTES, READ_BLOCK_BYTES};
pub use space::SpaceInfo;
pub use spec::{check_prefix, Bandwidth, FsSpec, Mount, ObjectPlace, Place, Quota, FALLBACK_UMASK};
pub use storage::leftovers::{sweep as sweep_leftovers, LeftoverAction, SweepError, SweepReport};
pub use upload::{FileWriter, SharedFileWriter, WriteMode, WRITE_BLOCK_BYTES};
pub use upload_hooks::{FinishedUpload, GateFuture, UploadHooks, UploadPlan};
pub use upload_order::{REORDER_WINDOW_BYTES, REORDER_WINDOW_WRITES};

use bandwidth::Throttles;
use modes::{changed_mode, created_mode, NEW_DIR_MODE};
use names::{is_reserved, DeniedPatterns};
use open::{open_dirs, open_object};
use quota::QuotaAccount;
use reader::joined;
use resolve::{Follow, MountDir, MountTable, Node, Resolved};
use storage::{Backend, Need, Publish, Reader, Storage as _};
use upload::WriteTarget;

/// The in-memory test backend, for the front ends' tests too.
#[cfg(test)]
pub(crate) use storage::memory::MemoryStorage;

/// One user's confined file system view; cheap to clone, shareable between tasks.
#[derive(Clone, Debug)]
pub struct UserFs {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    user: String,
    mounts: MountTable,
    permissions: PermissionRules,
    denied: DeniedPatterns,
    /// Present when the user has a quota; it applies to the root mount only.
    quota: Option<QuotaAccount>,
    /// The user's shared upload and download rate limits.
    throttles: Throttles,
    /// Uploads discarded over existing files (shared by all sessions).
    discarded: Arc<discarded::DiscardedUploads>,
    /// Bits taken from the modes of what the user creates.
    umask: u32,
    /// What follows this session's uploads (hooks), set once at login.
    upload_hooks: std::sync::OnceLock<Arc<dyn UploadHooks>>,
}

impl UserFs {
    /// Opens the user's root (creating it, mode 0750, if missing) and mounts, and joins the
    /// user's shared quota accounting.
    pub async fn open(spec: FsSpec, quotas: &QuotaRegistry) -> Result<UserFs, VfsError> {
        UserFs::open_with_backends(spec, quotas, Vec::new()).await
    }

    /// [`UserFs::open`] with some mounts on the in-memory backend (`/` for the root; a mount
    /// the spec lacks is added), which really waits: tests of the non-blocking branch.
    #[cfg(test)]
    pub(crate) async fn open_with_memory(
        spec: FsSpec,
        quotas: &QuotaRegistry,
        memory: Vec<(VirtualPath, MemoryStorage)>,
    ) -> Result<UserFs, VfsError> {
        let backends = memory
            .into_iter()
            .map(|(path, storage)| (path, Backend::Memory(storage)))
            .collect();
        UserFs::open_with_backends(spec, quotas, backends).await
    }

    /// [`UserFs::open`], with the storage of some mounts given rather than opened from the
    /// spec; the spec's directories are opened all the same.
    async fn open_with_backends(
        spec: FsSpec,
        quotas: &QuotaRegistry,
        backends: Vec<(VirtualPath, Backend)>,
    ) -> Result<UserFs, VfsError> {
        let FsSpec {
            user,
            root,
            mounts,
            permissions,
            quota,
            denied_upload_patterns,
            bandwidth,
            umask,
        } = spec;
        for (index, mount) in mounts.iter().enumerate() {
            let duplicate = mounts[..index]
                .iter()
                .any(|other| other.virtual_path == mount.virtual_path);
            if mount.virtual_path.is_root() || duplicate {
                return Err(VfsError::with_detail(
                    VfsErrorKind::InvalidPath,
                    "invalid mount point",
                )
                .at(&mount.virtual_path));
            }
        }
        let objects = quotas.object_stores();
        let mut given = Vec::new();
        let root_dir = match root {
            Place::Local(dir) => Some(dir),
            Place::Object(place) => {
                let root_path = VirtualPath::root();
                let storage = open_object(objects, &place, &root_path).await?;
                given.push((root_path, storage));
                None
            }
        };
        let mut local_mounts = Vec::with_capacity(mounts.len());
        for mount in mounts {
            match mount.place {
                Place::Local(dir) => local_mounts.push((mount.virtual_path, dir)),
                Place::Object(place) => {
                    let storage = open_object(objects, &place, &mount.virtual_path).await?;
                    given.push((mount.virtual_path, storage));
                }
            }
        }
        given.extend(backends);
        let dirs = quotas.dirs();
        let (root_local, mut mount_dirs) =
            tokio::task::spawn_blocking(move || open_dirs(&dirs, root_dir, local_mounts))
                .await
                .map_err(|_| joined())??;
        let mut root_storage = root_local.map(Backend::Local);
        for (virtual_path, storage) in given {
            match mount_dirs
                .iter_mut()
                .find(|mount| mount.virtual_path == virtual_path)
            {
                _ if virtual_path.is_root() => root_storage = Some(storage),
                Some(mount) => mount.storage = storage,
                None => mount_dirs.push(MountDir {
                    virtual_path,
                    storage,
                }),
            }
        }
        let root_storage = root_storage.ok_or_else(|| {
            VfsError::with_detail(VfsErrorKind::NotFound, "no storage for the home")
                .at(&VirtualPath::root())
        })?;
        let quota = if quota.is_unlimited() {
            None
        } else {
            Some(quotas.account(&user, quota, &root_storage).await?)
        };
        let user_name = user.clone();
        Ok(UserFs {
            inner: Arc::new(Inner {
                user,
                mounts: MountTable::new(root_storage, mount_dirs),
                permissions,
                denied: DeniedPatterns::new(&denied_upload_patterns),
                quota,
                throttles: quotas.bandwidth().throttles(&user_name, bandwidth),
                discarded: quotas.discarded(),
                umask: umask.unwrap_or(FALLBACK_UMASK) & 0o777,
                upload_hooks: std::sync::OnceLock::new(),
            }),
        })
    }

    /// Has every upload of this view ask `hooks` what follows it; only the first call counts.
    pub fn set_upload_hooks(&self, hooks: Arc<dyn UploadHooks>) {
        let _ = self.inner.upload_hooks.set(hooks);
    }

    /// The user this view belongs to.
    pub fn user(&self) -> &str {
        &self.inner.user
    }

    /// The umask applied to what this user creates.
    pub fn umask(&self) -> u32 {
        self.inner.umask
    }

    /// What the user may do at `path` by the rules alone (symlinks not considered).
    pub fn permissions_at(&self, path: &VirtualPath) -> Permissions {
        self.inner.permissions.for_path(path)
    }

    /// Whether the user may change the mode and times of `path` (no I/O): an upload asks
    /// before it gives the new file its attributes as part of the commit
    /// ([`SharedFileWriter::commit_with`]).
    pub fn check_set_attributes(&self, path: &VirtualPath) -> Result<(), VfsError> {
        self.inner.require(path, Permissions::SET_ATTRIBUTES)
    }

    /// Metadata, following symlinks (inside the view only). Needs `LIST`.
    pub async fn stat(&self, path: &VirtualPath) -> Result<FileStat, VfsError> {
        self.run(path, async move |inner: &Inner, path: &VirtualPath| {
            let resolved = inner.resolve(path, Follow::Yes, Permissions::LIST).await?;
            inner.mounts.stat(&resolved).await
        })
        .await
    }

    /// Metadata of the path itself (a symlink is reported as one). Needs `LIST`.
    pub async fn lstat(&self, path: &VirtualPath) -> Result<FileStat, VfsError> {
        self.run(path, async move |inner: &Inner, path: &VirtualPath| {
            let resolved = inner.resolve(path, Follow::No, Permissions::LIST).await?;
            inner.mounts.stat(&resolved).await
        })
        .await
    }

    /// Starts a streamed listing of directory `path`. Needs `LIST`.
    pub async fn list_dir(&self, path: &VirtualPath) -> Result<DirLister, VfsError> {
        self.run(path, async move |inner: &Inner, path: &VirtualPath| {
            inner.list_dir(path).await
        })
        .await
    }

    /// Opens a regular file for reading, positioned at `offset`. Needs `DOWNLOAD`.
    pub async fn open_read(&self, path: &VirtualPath, offset: u64) -> Result<FileReader, VfsError> {
        self.run(path, async move |inner: &Inner, path: &VirtualPath| {
            let resolved = inner
                .resolve(path, Follow::Yes, Permissions::DOWNLOAD)
                .await?;
            let reader = inner.open_regular_file(&resolved).await?;
            let blocking = inner.mounts.storage(resolved.mount).capabilities().blocking;
            Ok(FileReader::new(
                reader,
                blocking,
                path.clone(),
                offset,
                inner.throttles.download.clone(),
            ))
        })
        .await
    }

    /// Opens a file for writing (see [`WriteMode`]). Needs `UPLOAD`, plus `OVERWRITE` when the
    /// file exists; refuses names matching the denied upload patterns.
    pub async fn open_write(
        &self,
        path: &VirtualPath,
        mode: WriteMode,
    ) -> Result<FileWriter, VfsError> {
        self.run(path, async move |inner: &Inner, path: &VirtualPath| {
            inner.open_write(path, mode).await
        })
        .await
    }

    /// Renames `from` to `to`. With `overwrite`, an existing `to` is replaced atomically
    /// (POSIX `rename`); without, an existing `to` fails with `AlreadyExists`. Needs `RENAME`
    /// at `from` and `UPLOAD` (+ `OVERWRITE` when replacing) at `to`; both must lie in the
    /// same mount (`CrossDevice` otherwise).
    pub async fn rename(
        &self,
        from: &VirtualPath,
        to: &VirtualPath,
        overwrite: bool,
    ) -> Result<(), VfsError> {
        let to = to.clone();
        self.run(from, async move |inner: &Inner, from: &VirtualPath| {
            inner.rename(from, &to, overwrite).await
        })
        .await
    }

    /// Removes a file or symlink. Needs `DELETE`.
    pub async fn remove_file(&self, path: &VirtualPath) -> Result<(), VfsError> {
        self.run(path, async move |inner: &Inner, path: &VirtualPath| {
            inner.remove_file(path).await
        })
        .await
    }

    /// Creates a directory, mode 0777 less the umask. Needs `MKDIR`.
    pub async fn create_dir(&self, path: &VirtualPath) -> Result<(), VfsError> {
        self.create_dir_with_mode(path, NEW_DIR_MODE).await
    }

    /// Creates a directory with the mode a client asked for, less the umask (and never
    /// setuid, setgid or sticky). Needs `MKDIR`; the caller decides whether the user may
    /// choose the mode (`check_set_attributes`).
    pub async fn create_dir_with_mode(
        &self,
        path: &VirtualPath,
        mode: u32,
    ) -> Result<(), VfsError> {
        self.run(path, async move |inner: &Inner, path: &VirtualPath| {
            let resolved = inner.resolve(path, Follow::No, Permissions::MKDIR).await?;
            if !matches!(resolved.node, Node::Missing) {
                return Err(VfsError::new(VfsErrorKind::AlreadyExists));
            }
            let mode = created_mode(mode, inner.umask);
            let storage = inner.mounts.storage(resolved.mount);
            storage.create_dir(&resolved.rel, mode).await
        })
        .await
    }

    /// Removes an empty directory. Needs `RMDIR`.
    pub async fn remove_dir(&self, path: &VirtualPath) -> Result<(), VfsError> {
        self.run(path, async move |inner: &Inner, path: &VirtualPath| {
            let resolved = inner.resolve(path, Follow::No, Permissions::RMDIR).await?;
            inner.refuse_structural(&resolved)?;
            match resolved.entry() {
                None => return Err(VfsError::new(VfsErrorKind::NotFound)),
                Some(stat) if !stat.is_dir() => {
                    return Err(VfsError::new(VfsErrorKind::NotADirectory))
                }
                Some(_) => {}
            }
            // The backend leaves out what only it put there (uploads a crash left behind).
            let storage = inner.mounts.storage(resolved.mount);
            storage.remove_dir(&resolved.rel).await
        })
        .await
    }

    /// Sets the modification time (and the access time when given; it is left alone
    /// otherwise), following symlinks. Needs `SET_ATTRIBUTES`.
    pub async fn set_times(
        &self,
        path: &VirtualPath,
        mtime: SystemTime,
        atime: Option<SystemTime>,
    ) -> Result<(), VfsError> {
        self.run(path, async move |inner: &Inner, path: &VirtualPath| {
            let resolved = inner
                .resolve_existing(path, Follow::Yes, Permissions::SET_ATTRIBUTES)
                .await?;
            let storage = inner.mounts.storage(resolved.mount);
            storage.set_times(&resolved.rel, mtime, atime).await
        })
        .await
    }

    /// Sets permission bits as asked (an explicit request: no umask), following symlinks;
    /// masked to `0o777` (never setuid, setgid or sticky). Needs `SET_ATTRIBUTES`.
    pub async fn set_mode(&self, path: &VirtualPath, mode: u32) -> Result<(), VfsError> {
        self.run(path, async move |inner: &Inner, path: &VirtualPath| {
            let resolved = inner
                .resolve_existing(path, Follow::Yes, Permissions::SET_ATTRIBUTES)
                .await?;
            let storage = inner.mounts.storage(resolved.mount);
            storage.capabilities().require(Need::Modes)?;
            storage.set_mode(&resolved.rel, changed_mode(mode)).await
        })
        .await
    }

    /// Truncates or extends a regular file; growth counts toward the quota. Needs
    /// `SET_ATTRIBUTES` and `OVERWRITE` (it changes content).
    pub async fn set_len(&self, path: &VirtualPath, length: u64) -> Result<(), VfsError> {
        self.run(path, async move |inner: &Inner, path: &VirtualPath| {
            inner.set_len(path, length).await
        })
        .await
    }

    /// Creates symlink `link` pointing at `target`: client text, absolute (a virtual path) or
    /// relative to the link's directory. It is stored relative, so it resolves to the same
    /// place on disk as in the view; targets above the root fail with `PermissionDenied`,
    /// targets in another mount with `CrossDevice`. Needs `LINK`.
    pub async fn symlink(&self, target: &str, link: &VirtualPath) -> Result<(), VfsError> {
        let target = target.to_owned();
        self.run(link, async move |inner: &Inner, link: &VirtualPath| {
            inner.symlink(&target, link).await
        })
        .await
    }

    /// The text of symlink `path` as stored (relative: links made through the view are stored
    /// relative to their directory). A link whose text is absolute or leads outside the view
    /// fails with `PermissionDenied` (its text is never shown). Needs `LIST`.
    pub async fn read_link(&self, path: &VirtualPath) -> Result<String, VfsError> {
        self.run(path, async move |inner: &Inner, path: &VirtualPath| {
            inner.read_link(path).await
        })
        .await
    }

    /// Creates hard link `new` to the file `existing` (same mount only). Needs `LINK` at `new`
    /// and `DOWNLOAD` at `existing`; when `new` would be writable, `existing` must be too.
    pub async fn hard_link(
        &self,
        existing: &VirtualPath,
        new: &VirtualPath,
    ) -> Result<(), VfsError> {
        let new = new.clone();
        self.run(
            existing,
            async move |inner: &Inner, existing: &VirtualPath| {
                inner.hard_link(existing, &new).await
            },
        )
        .await
    }

    /// Capacity and free space where `path` lives (the quota when the user has one).
    pub async fn space(&self, path: &VirtualPath) -> Result<SpaceInfo, VfsError> {
        self.run(path, async move |inner: &Inner, path: &VirtualPath| {
            inner.check_names(path)?;
            let (mount, _) = inner.mounts.locate(path);
            let capacity = inner.mounts.storage(mount).capacity().await?;
            Ok(quota::narrow(capacity, inner.quota_for(mount)))
        })
        .await
    }

    /// Checksum of a regular file, or of `range = (offset, length)` of it (clipped at the end
    /// of the file; `u64::MAX` length means "to the end"). Needs `DOWNLOAD`.
    pub async fn hash(
        &self,
        path: &VirtualPath,
        algorithm: HashAlgorithm,
        range: Option<(u64, u64)>,
    ) -> Result<Vec<u8>, VfsError> {
        self.run(path, async move |inner: &Inner, path: &VirtualPath| {
            let resolved = inner
                .resolve(path, Follow::Yes, Permissions::DOWNLOAD)
                .await?;
            let reader = inner.open_regular_file(&resolved).await?;
            let (offset, length) = range.unwrap_or((0, u64::MAX));
            hash::hash_file(&reader, algorithm, offset, length)
                .await
                .map_err(VfsError::from_io)
        })
        .await
    }
}

impl Inner {
    /// Refuses reserved names, checks `needed` on the path as asked, resolves it, and checks
    /// `needed` again on the canonical path.
    async fn resolve(
        &self,
        path: &VirtualPath,
        follow: Follow,
        needed: Permissions,
    ) -> Result<Resolved, VfsError> {
        self.check_names(path)?;
        self.require(path, needed)?;
        let resolved = self.mounts.resolve(path, follow).await?;
        self.require(&resolved.path, needed)
            .map_err(|error| error.at(path))?;
        Ok(resolved)
    }

    /// Like `resolve`, for operations that change an existing, non-structural object.
    async fn resolve_existing(
        &self,
        path: &VirtualPath,
        follow: Follow,
        needed: Permissions,
    ) -> Result<Resolved, VfsError> {
        let resolved = self.resolve(path, follow, needed).await?;
        self.refuse_structural(&resolved)?;
        if matches!(resolved.node, Node::Missing) {
            return Err(VfsError::new(VfsErrorKind::NotFound));
        }
        Ok(resolved)
    }

    fn require(&self, path: &VirtualPath, needed: Permissions) -> Result<(), VfsError> {
        if self.permissions.for_path(path).contains(needed) {
            Ok(())
        } else {
            Err(VfsError::new(VfsErrorKind::PermissionDenied).at(path))
        }
    }

    fn check_names(&self, path: &VirtualPath) -> Result<(), VfsError> {
        if path.components().any(is_reserved) {
            return Err(resolve::reserved().at(path));
        }
        Ok(())
    }

    fn check_upload_name(&self, name: Option<&str>) -> Result<(), VfsError> {
        match name {
            Some(name) if self.denied.is_denied(name) => Err(VfsError::with_detail(
                VfsErrorKind::PermissionDenied,
                "file name not allowed",
            )),
            _ => Ok(()),
        }
    }

    fn refuse_structural(&self, resolved: &Resolved) -> Result<(), VfsError> {
        if resolved.is_structural() {
            return Err(VfsError::with_detail(
                VfsErrorKind::PermissionDenied,
                "mount point",
            ));
        }
        Ok(())
    }

    fn quota_for(&self, mount: usize) -> Option<&QuotaAccount> {
        if mount == 0 {
            self.quota.as_ref()
        } else {
            None
        }
    }

    async fn open_regular_file(&self, resolved: &Resolved) -> Result<Reader, VfsError> {
        match &resolved.node {
            Node::Missing => Err(VfsError::new(VfsErrorKind::NotFound)),
            Node::MountRoot(_) | Node::Synthetic => Err(VfsError::new(VfsErrorKind::IsADirectory)),
            Node::Entry(_) => {
                let storage = self.mounts.storage(resolved.mount);
                storage
                    .open_read(&resolved.rel)
                    .await
                    .map(|(reader, _)| reader)
            }
        }
    }

    async fn list_dir(&self, path: &VirtualPath) -> Result<DirLister, VfsError> {
        let resolved = self.resolve(path, Follow::Yes, Permissions::LIST).await?;
        let storage = self.mounts.storage(resolved.mount);
        let stream = match &resolved.node {
            Node::Missing => return Err(VfsError::new(VfsErrorKind::NotFound)),
            Node::Entry(stat) if !stat.is_dir() => {
                return Err(VfsError::new(VfsErrorKind::NotADirectory))
            }
            Node::Entry(_) | Node::MountRoot(_) => Some(storage.list(&resolved.rel).await?),
            // A directory that exists only for a mount below may or may not exist on disk.
            Node::Synthetic => storage.list(&resolved.rel).await.ok(),
        };
        let mut mount_entries = Vec::new();
        for (name, node) in self.mounts.children(&resolved.path) {
            let child = resolved.path.join_name(&name)?;
            let stat = self.mounts.node_stat(&child, &node).await?;
            mount_entries.push(DirEntry { name, stat });
        }
        let blocking = storage.capabilities().blocking;
        Ok(DirLister::new(
            path.clone(),
            mount_entries,
            stream,
            blocking,
        ))
    }

    async fn open_write(
        &self,
        path: &VirtualPath,
        mode: WriteMode,
    ) -> Result<FileWriter, VfsError> {
        self.check_upload_name(path.file_name())?;
        let resolved = self.resolve(path, Follow::Yes, Permissions::UPLOAD).await?;
        self.check_upload_name(resolved.name())?;
        let existing = match &resolved.node {
            Node::Missing => None,
            Node::MountRoot(_) | Node::Synthetic => {
                return Err(VfsError::new(VfsErrorKind::IsADirectory))
            }
            Node::Entry(stat) if stat.is_dir() => {
                return Err(VfsError::new(VfsErrorKind::IsADirectory))
            }
            Node::Entry(stat) if !stat.is_file() => {
                return Err(VfsError::with_detail(
                    VfsErrorKind::PermissionDenied,
                    "not a regular file",
                ))
            }
            Node::Entry(stat) => Some(stat.clone()),
        };
        if existing.is_some() {
            if mode == WriteMode::CreateNew {
                return Err(VfsError::new(VfsErrorKind::AlreadyExists));
            }
            self.require(path, Permissions::OVERWRITE)?;
            self.require(&resolved.path, Permissions::OVERWRITE)
                .map_err(|error| error.at(path))?;
        }
        let Some(name) = resolved.name() else {
            return Err(VfsError::new(VfsErrorKind::IsADirectory));
        };
        let storage = self.mounts.storage(resolved.mount);
        if !mode.is_atomic() {
            storage.capabilities().require(Need::InPlaceWrites)?;
        }
        let resumes = matches!(
            mode,
            WriteMode::Append | WriteMode::At(_) | WriteMode::InPlace
        );
        let discard_note = match &existing {
            Some(stat) if resumes => {
                self.discarded
                    .check_resume(&self.user, &resolved.path, stat)?;
                None
            }
            Some(stat) if mode == WriteMode::Replace => {
                Some(self.discarded.note(&self.user, &resolved.path, stat))
            }
            _ => None,
        };
        let target = WriteTarget {
            storage,
            parent: resolved.parent_rel(),
            name: name.to_owned(),
            path: resolved.path.clone(),
            existing,
            quota: self.quota_for(resolved.mount).cloned(),
            throttle: self.throttles.upload.clone(),
            discard_note,
            umask: self.umask,
            hooks: self.upload_hooks.get().cloned(),
        };
        FileWriter::open(target, mode).await
    }

    async fn rename(
        &self,
        from: &VirtualPath,
        to: &VirtualPath,
        overwrite: bool,
    ) -> Result<(), VfsError> {
        self.check_names(to).map_err(|error| error.at(to))?;
        self.require(to, Permissions::UPLOAD)?;
        let source = self.resolve(from, Follow::No, Permissions::RENAME).await?;
        let target = self
            .mounts
            .resolve(to, Follow::No)
            .await
            .map_err(|error| error.or_path(to))?;
        self.require(&target.path, Permissions::UPLOAD)
            .map_err(|error| error.at(to))?;
        self.refuse_structural(&source)?;
        self.refuse_structural(&target)
            .map_err(|error| error.at(to))?;
        let Some(source_stat) = source.entry() else {
            return Err(VfsError::new(VfsErrorKind::NotFound));
        };
        if source.mount != target.mount {
            return Err(VfsError::new(VfsErrorKind::CrossDevice));
        }
        if !source_stat.is_dir() {
            self.check_upload_name(to.file_name())
                .and_then(|()| self.check_upload_name(target.name()))
                .map_err(|error| error.at(to))?;
        }
        if source.path == target.path {
            return Ok(());
        }
        let replaced = target.entry();
        if replaced.is_some() {
            if !overwrite {
                return Err(VfsError::new(VfsErrorKind::AlreadyExists).at(to));
            }
            self.require(to, Permissions::OVERWRITE)?;
            self.require(&target.path, Permissions::OVERWRITE)
                .map_err(|error| error.at(to))?;
        }
        let storage = self.mounts.storage(source.mount);
        if overwrite {
            storage
                .rename(&source.rel, &target.rel, Publish::Replace)
                .await?;
        } else {
            if source.name().is_none() || target.name().is_none() {
                return Err(VfsError::new(VfsErrorKind::PermissionDenied));
            }
            storage
                .rename(&source.rel, &target.rel, Publish::Exclusive)
                .await?;
        }
        if let (Some(quota), Some(replaced)) = (self.quota_for(source.mount), replaced) {
            // Renaming one name of a file onto another name of it changes nothing on disk.
            if replaced.is_file() && replaced.unique_id != source_stat.unique_id {
                quota.release_bytes(replaced.size);
                quota.release_files(1);
            }
        }
        Ok(())
    }

    async fn remove_file(&self, path: &VirtualPath) -> Result<(), VfsError> {
        let resolved = self
            .resolve_existing(path, Follow::No, Permissions::DELETE)
            .await?;
        let Some(stat) = resolved.entry() else {
            return Err(VfsError::new(VfsErrorKind::NotFound));
        };
        if stat.is_dir() {
            return Err(VfsError::new(VfsErrorKind::IsADirectory));
        }
        let storage = self.mounts.storage(resolved.mount);
        storage.remove_file(&resolved.rel).await?;
        if let (Some(quota), true) = (self.quota_for(resolved.mount), stat.is_file()) {
            quota.release_bytes(stat.size);
            quota.release_files(1);
        }
        Ok(())
    }

    async fn set_len(&self, path: &VirtualPath, length: u64) -> Result<(), VfsError> {
        let needed = Permissions::SET_ATTRIBUTES | Permissions::OVERWRITE;
        let resolved = self.resolve_existing(path, Follow::Yes, needed).await?;
        let Some(stat) = resolved.entry() else {
            return Err(VfsError::new(VfsErrorKind::NotFound));
        };
        if !stat.is_file() {
            return Err(match stat.kind {
                FileKind::Dir => VfsError::new(VfsErrorKind::IsADirectory),
                _ => VfsError::with_detail(VfsErrorKind::PermissionDenied, "not a regular file"),
            });
        }
        let storage = self.mounts.storage(resolved.mount);
        storage.capabilities().require(Need::InPlaceWrites)?;
        let quota = self.quota_for(resolved.mount);
        if let (Some(quota), true) = (quota, length > stat.size) {
            quota.reserve_bytes(length - stat.size, 0)?;
        }
        let result = storage.set_len(&resolved.rel, length).await;
        if let Some(quota) = quota {
            let before = if length > stat.size {
                length
            } else {
                stat.size
            };
            // After a failure the file may have changed or not: ask it.
            let after = match &result {
                Ok(()) => length,
                Err(_) => storage
                    .metadata(&resolved.rel)
                    .await
                    .ok()
                    .flatten()
                    .map_or(before, |stat| stat.size),
            };
            quota.correct_bytes(before, after);
        }
        result
    }
}
