//! The storage seam: bytes and directory entries below the VFS, and nothing else.
//!
//! `UserFs` keeps everything that is policy — names, per-path permissions, symlink resolution
//! in virtual space, mounts, quotas, the atomic-upload rules, hashes — and asks a [`Storage`]
//! backend for the bytes and entries of one mount. Paths given to a backend are relative to
//! the mount's root (`.` is the root itself), already normalised by the VFS; a backend still
//! refuses anything that would leave its root (`..`, an absolute path, a symlink leading out),
//! so a bug above cannot become an escape below.
//!
//! Backends: [`local::LocalStorage`] (a confined `cap_std` directory) today; object storage
//! (S3 through `object_store`) is the planned second one, and every item here says how it
//! would meet the contract. The VFS holds a [`Backend`] enum rather than a `dyn Storage`: the
//! trait uses native `async fn`s with associated types, which `dyn` cannot carry without
//! boxing a future per call, and the data path (`RangeReader::read_at`,
//! `StagedFile::write_at`) must not allocate per block (docs/decisions/0007).
//!
//! Execution model: a backend whose [`Capabilities::blocking`] is true does its blocking
//! system calls inside its futures and never waits on anything else, so every future
//! completes on its first poll; the VFS drives such futures with [`wait`] inside the one
//! blocking-pool hand-off it makes per operation (as it did before the seam existed). A
//! non-blocking backend (S3) must be awaited on the runtime instead.

mod disk;
pub(crate) mod leftovers;
pub(crate) mod local;
pub(crate) mod shared_dirs;
mod walk;

use std::future::Future;
use std::path::Path;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::SystemTime;

use bytes::Bytes;

use super::error::{VfsError, VfsErrorKind};
use super::metadata::{DirEntry, FileStat};
use super::space::SpaceInfo;

pub(crate) use local::LocalStorage;

/// What a backend can do; the VFS decides from these what to offer a client, so the policy
/// stays above the seam.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Capabilities {
    /// Futures do blocking work inline and complete on their first poll (see the module docs).
    pub(crate) blocking: bool,
    /// A staged file accepts writes at any offset (S3: only in order, into a multipart upload).
    pub(crate) random_writes: bool,
    /// [`StageMode::InPlace`] and [`StageMode::CreateInPlace`]: writing a visible file in
    /// place, appending, resuming (S3: objects are immutable, so no).
    pub(crate) in_place_writes: bool,
    /// `rename` is atomic, for files and directories (S3: copy + delete, files only).
    pub(crate) atomic_rename: bool,
    /// `publish(Publish::Exclusive)` cannot replace a file created meanwhile (S3: only where
    /// the store honours `If-None-Match: *`, which must be probed).
    pub(crate) exclusive_publish: bool,
    /// `symlink` and `read_link` (S3: no).
    pub(crate) symlinks: bool,
    /// `hard_link` (S3: no).
    pub(crate) hard_links: bool,
    /// `set_mode` keeps permission bits (S3: no modes; `FileStat::mode` is synthesised).
    pub(crate) modes: bool,
}

/// A capability an operation needs (see [`Capabilities::require`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Need {
    /// Writing a visible file in place: resumes, appends, truncation.
    InPlaceWrites,
    /// Creating symlinks.
    Symlinks,
    /// Creating hard links.
    HardLinks,
    /// Changing permission bits.
    Modes,
}

impl Capabilities {
    /// Refuses, with `Unsupported` and a client-safe reason, what this backend cannot do.
    pub(crate) fn require(&self, need: Need) -> Result<(), VfsError> {
        let (supported, detail) = match need {
            Need::InPlaceWrites => (
                self.in_place_writes,
                "this storage cannot change a file in place",
            ),
            Need::Symlinks => (self.symlinks, "this storage has no symbolic links"),
            Need::HardLinks => (self.hard_links, "this storage has no hard links"),
            Need::Modes => (self.modes, "this storage has no permission bits"),
        };
        if supported {
            Ok(())
        } else {
            Err(VfsError::with_detail(VfsErrorKind::Unsupported, detail))
        }
    }
}

/// How a staged upload is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StageMode {
    /// New content under a name nobody sees until [`StagedFile::publish`]; `mode` is the new
    /// file's permission bits. Local: a hidden temporary file in the target's directory.
    /// S3: a multipart upload to the final key, invisible until completed.
    Temporary {
        /// Permission bits of the new file, set exactly (the process umask is overridden).
        mode: u32,
    },
    /// The existing regular file itself, written in place; with `append` every write lands
    /// at the end. S3: unsupported (objects are immutable).
    InPlace {
        /// Every write at the end (`O_APPEND`).
        append: bool,
    },
    /// A new file created under its final name (failing if the name exists), written in
    /// place. S3: unsupported.
    CreateInPlace {
        /// Every write at the end (`O_APPEND`).
        append: bool,
        /// Permission bits of the new file, set exactly.
        mode: u32,
    },
}

/// How [`StagedFile::publish`] treats a file that exists under the final name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Publish {
    /// Replace it (local: `renameat`, atomic; S3: complete the multipart upload).
    Replace,
    /// Fail with `AlreadyExists` (local: `renameat2(RENAME_NOREPLACE)`, or link + unlink; S3:
    /// a conditional complete where the store honours it, see
    /// [`Capabilities::exclusive_publish`]).
    Exclusive,
}

/// Bytes and entries of one mount. Paths are relative to the mount's root; see the module docs.
pub(crate) trait Storage: Send + Sync {
    /// A file open for positional reads.
    type Reader: RangeReader;
    /// A directory listing being paged through.
    type Lister: Lister;
    /// An upload that is not yet published.
    type Staged: StagedFile;

    /// What this backend supports.
    fn capabilities(&self) -> Capabilities;

    /// Metadata of `rel` itself (`lstat`: a symlink is reported as one); `None` when nothing
    /// is there. S3: `HEAD` of the key, else a one-entry listing of `rel/` (a directory is a
    /// prefix or a `rel/` marker); size and mtime from the object, mode synthesised.
    fn metadata(
        &self,
        rel: &Path,
    ) -> impl Future<Output = Result<Option<FileStat>, VfsError>> + Send;

    /// The text of the symlink `rel` (UTF-8 only). S3: `Unsupported`.
    fn read_link(&self, rel: &Path) -> impl Future<Output = Result<String, VfsError>> + Send;

    /// Starts a paged listing of directory `rel`. S3: `list_with_delimiter` pages.
    fn list(&self, rel: &Path) -> impl Future<Output = Result<Self::Lister, VfsError>> + Send;

    /// Opens the regular file `rel` for positional reads, without following a final symlink;
    /// anything but a regular file is refused. S3: `HEAD` now, ranged `GET`s per read.
    fn open_read(
        &self,
        rel: &Path,
    ) -> impl Future<Output = Result<(Self::Reader, FileStat), VfsError>> + Send;

    /// Creates directory `rel` with exactly `mode`. S3: a zero-length `rel/` marker.
    fn create_dir(
        &self,
        rel: &Path,
        mode: u32,
    ) -> impl Future<Output = Result<(), VfsError>> + Send;

    /// Removes directory `rel` when it is empty (`DirectoryNotEmpty` otherwise). Entries the
    /// backend itself left behind (abandoned staged uploads nobody owns) do not count. S3:
    /// list one entry under `rel/`, then delete the marker.
    fn remove_dir(&self, rel: &Path) -> impl Future<Output = Result<(), VfsError>> + Send;

    /// Removes the file or symlink `rel`. S3: `DELETE` of the key.
    fn remove_file(&self, rel: &Path) -> impl Future<Output = Result<(), VfsError>> + Send;

    /// Renames `from` to `to`; with `Publish::Exclusive` an existing `to` fails with
    /// `AlreadyExists`. Atomic only when [`Capabilities::atomic_rename`] says so. S3: copy +
    /// delete of a file (not atomic), `Unsupported` for a non-empty directory.
    fn rename(
        &self,
        from: &Path,
        to: &Path,
        publish: Publish,
    ) -> impl Future<Output = Result<(), VfsError>> + Send;

    /// Sets the modification time (and the access time when given), following symlinks.
    /// S3: `Unsupported` (an object's time is its upload time).
    fn set_times(
        &self,
        rel: &Path,
        mtime: SystemTime,
        atime: Option<SystemTime>,
    ) -> impl Future<Output = Result<(), VfsError>> + Send;

    /// Sets the permission bits of `rel`, following symlinks. S3: `Unsupported`.
    fn set_mode(&self, rel: &Path, mode: u32) -> impl Future<Output = Result<(), VfsError>> + Send;

    /// Truncates or extends the regular file `rel`. S3: `Unsupported`.
    fn set_len(&self, rel: &Path, length: u64)
        -> impl Future<Output = Result<(), VfsError>> + Send;

    /// Creates symlink `rel` with the text `target`, stored as given (the VFS checked it).
    /// S3: `Unsupported`.
    fn symlink(
        &self,
        target: &str,
        rel: &Path,
    ) -> impl Future<Output = Result<(), VfsError>> + Send;

    /// Creates hard link `new` to the file `existing`. S3: `Unsupported`.
    fn hard_link(
        &self,
        existing: &Path,
        new: &Path,
    ) -> impl Future<Output = Result<(), VfsError>> + Send;

    /// Capacity and free space of what holds the mount. S3: no limit known, so every field is
    /// `u64::MAX` except `block_size`; a quota narrows it in the VFS.
    fn capacity(&self) -> impl Future<Output = Result<SpaceInfo, VfsError>> + Send;

    /// `(bytes, files)` of the regular files under the root, the backend's own staging
    /// artifacts left out, after at most `max_entries` entries (then a lower bound). S3: a
    /// paged recursive listing of the prefix.
    fn usage(&self, max_entries: u64) -> impl Future<Output = Result<(u64, u64), VfsError>> + Send;

    /// Begins an upload of `name` in directory `parent` (see [`StageMode`]); returns it with
    /// the staged file's metadata (size: what is there already, for in-place modes). S3:
    /// `Temporary` creates a multipart upload to the final key.
    fn begin_upload(
        &self,
        parent: &Path,
        name: &str,
        mode: StageMode,
    ) -> impl Future<Output = Result<(Self::Staged, FileStat), VfsError>> + Send;
}

/// A file open for reading at any offset; shared by concurrent requests through `&self`.
pub(crate) trait RangeReader: Send + Sync + 'static {
    /// Up to `length` bytes at `offset`, fewer only at the end of the file (empty: at or past
    /// the end). On the per-block download path: one call per block. S3: a ranged `GET`.
    fn read_at(
        &self,
        offset: u64,
        length: usize,
    ) -> impl Future<Output = std::io::Result<Bytes>> + Send;

    /// Current metadata of the open file. S3: the metadata seen at open (objects do not change
    /// under a reader; a replaced object is a new one).
    fn stat(&self) -> impl Future<Output = std::io::Result<FileStat>> + Send;
}

/// A directory listing delivered in pages, so memory is bounded by the page, not the directory.
pub(crate) trait Lister: Send + 'static {
    /// The next entries (at most `max`, `lstat` metadata, `.`/`..` and names that are not
    /// UTF-8 left out); an empty page means the listing is complete. S3: one
    /// `list_with_delimiter` page (objects are files, common prefixes directories).
    fn next_page(
        &mut self,
        max: usize,
    ) -> impl Future<Output = Result<Vec<DirEntry>, VfsError>> + Send;
}

/// An upload not yet published. The VFS serialises `publish` and `discard` against writes and
/// calls exactly one of them; dropping a staged file without either leaves cleanup to the
/// backend's leftover handling.
pub(crate) trait StagedFile: Send + Sync + 'static {
    /// Writes `data` at `offset` (at the end in append modes). On the per-block upload path:
    /// one call per block. S3: only in order (`random_writes` is false), buffered into parts.
    fn write_at(
        &self,
        offset: u64,
        data: Bytes,
    ) -> impl Future<Output = std::io::Result<()>> + Send;

    /// Truncates or extends the staged file. S3: only truncation to what was written.
    fn set_len(&self, length: u64) -> impl Future<Output = std::io::Result<()>> + Send;

    /// Makes what was written durable (`fdatasync`). S3: nothing (parts are durable once put).
    fn sync(&self) -> impl Future<Output = std::io::Result<()>> + Send;

    /// Metadata of the staged file (its size is what was written). S3: synthesised.
    fn stat(&self) -> impl Future<Output = std::io::Result<FileStat>> + Send;

    /// Sets the staged file's permission bits. S3: ignored (no modes).
    fn set_mode(&self, mode: u32) -> impl Future<Output = std::io::Result<()>> + Send;

    /// Sets the staged file's times. S3: ignored.
    fn set_times(
        &self,
        mtime: SystemTime,
        atime: Option<SystemTime>,
    ) -> impl Future<Output = std::io::Result<()>> + Send;

    /// Makes a `Temporary` upload visible under its final name; returns the size of the
    /// regular file it replaced, if any (for the quota). In-place uploads are visible already
    /// and publish nothing. S3: completes the multipart upload.
    fn publish(
        &self,
        publish: Publish,
    ) -> impl Future<Output = Result<Option<u64>, VfsError>> + Send;

    /// Drops a `Temporary` upload's content (best effort); in-place data stays. S3: aborts the
    /// multipart upload.
    fn discard(&self) -> impl Future<Output = ()> + Send;
}

/// The backends the VFS can hold; the object storage issue adds a variant.
#[derive(Clone, Debug)]
pub(crate) enum Backend {
    /// A confined local directory.
    Local(LocalStorage),
}

/// A [`Backend`]'s reader.
#[derive(Debug)]
pub(crate) enum Reader {
    /// See [`local::LocalReader`].
    Local(local::LocalReader),
}

#[cfg(test)]
impl Reader {
    /// A reader over an already open local file (unit tests of the code above the seam).
    pub(crate) fn local(file: std::fs::File) -> Reader {
        Reader::Local(local::LocalReader::from_file(file))
    }
}

/// A [`Backend`]'s lister.
#[derive(Debug)]
pub(crate) enum DirPages {
    /// See [`local::LocalLister`].
    Local(local::LocalLister),
}

/// A [`Backend`]'s staged upload.
#[derive(Debug)]
pub(crate) enum Staged {
    /// See [`local::LocalStaged`].
    Local(local::LocalStaged),
}

/// Drives a future of a blocking backend to completion on the current (blocking-pool)
/// thread. Such futures complete on their first poll (see the module docs); one that does
/// not is a backend bug, reported as an I/O error rather than a hang.
pub(crate) fn wait<T>(future: impl Future<Output = Result<T, VfsError>>) -> Result<T, VfsError> {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(result) => result,
        Poll::Pending => Err(VfsError::with_detail(
            VfsErrorKind::Io,
            "storage backend waited inside a blocking call",
        )),
    }
}

/// [`wait`] for the `std::io` results of readers and staged files.
pub(crate) fn wait_io<T>(future: impl Future<Output = std::io::Result<T>>) -> std::io::Result<T> {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(result) => result,
        Poll::Pending => Err(std::io::Error::other(
            "storage backend waited inside a blocking call",
        )),
    }
}

impl Storage for Backend {
    type Reader = Reader;
    type Lister = DirPages;
    type Staged = Staged;

    fn capabilities(&self) -> Capabilities {
        match self {
            Backend::Local(local) => local.capabilities(),
        }
    }

    async fn metadata(&self, rel: &Path) -> Result<Option<FileStat>, VfsError> {
        match self {
            Backend::Local(local) => local.metadata(rel).await,
        }
    }

    async fn read_link(&self, rel: &Path) -> Result<String, VfsError> {
        match self {
            Backend::Local(local) => local.read_link(rel).await,
        }
    }

    async fn list(&self, rel: &Path) -> Result<DirPages, VfsError> {
        match self {
            Backend::Local(local) => local.list(rel).await.map(DirPages::Local),
        }
    }

    async fn open_read(&self, rel: &Path) -> Result<(Reader, FileStat), VfsError> {
        match self {
            Backend::Local(local) => {
                let (reader, stat) = local.open_read(rel).await?;
                Ok((Reader::Local(reader), stat))
            }
        }
    }

    async fn create_dir(&self, rel: &Path, mode: u32) -> Result<(), VfsError> {
        match self {
            Backend::Local(local) => local.create_dir(rel, mode).await,
        }
    }

    async fn remove_dir(&self, rel: &Path) -> Result<(), VfsError> {
        match self {
            Backend::Local(local) => local.remove_dir(rel).await,
        }
    }

    async fn remove_file(&self, rel: &Path) -> Result<(), VfsError> {
        match self {
            Backend::Local(local) => local.remove_file(rel).await,
        }
    }

    async fn rename(&self, from: &Path, to: &Path, publish: Publish) -> Result<(), VfsError> {
        match self {
            Backend::Local(local) => local.rename(from, to, publish).await,
        }
    }

    async fn set_times(
        &self,
        rel: &Path,
        mtime: SystemTime,
        atime: Option<SystemTime>,
    ) -> Result<(), VfsError> {
        match self {
            Backend::Local(local) => local.set_times(rel, mtime, atime).await,
        }
    }

    async fn set_mode(&self, rel: &Path, mode: u32) -> Result<(), VfsError> {
        match self {
            Backend::Local(local) => local.set_mode(rel, mode).await,
        }
    }

    async fn set_len(&self, rel: &Path, length: u64) -> Result<(), VfsError> {
        match self {
            Backend::Local(local) => local.set_len(rel, length).await,
        }
    }

    async fn symlink(&self, target: &str, rel: &Path) -> Result<(), VfsError> {
        match self {
            Backend::Local(local) => local.symlink(target, rel).await,
        }
    }

    async fn hard_link(&self, existing: &Path, new: &Path) -> Result<(), VfsError> {
        match self {
            Backend::Local(local) => local.hard_link(existing, new).await,
        }
    }

    async fn capacity(&self) -> Result<SpaceInfo, VfsError> {
        match self {
            Backend::Local(local) => local.capacity().await,
        }
    }

    async fn usage(&self, max_entries: u64) -> Result<(u64, u64), VfsError> {
        match self {
            Backend::Local(local) => local.usage(max_entries).await,
        }
    }

    async fn begin_upload(
        &self,
        parent: &Path,
        name: &str,
        mode: StageMode,
    ) -> Result<(Staged, FileStat), VfsError> {
        match self {
            Backend::Local(local) => {
                let (staged, stat) = local.begin_upload(parent, name, mode).await?;
                Ok((Staged::Local(staged), stat))
            }
        }
    }
}

impl RangeReader for Reader {
    async fn read_at(&self, offset: u64, length: usize) -> std::io::Result<Bytes> {
        match self {
            Reader::Local(reader) => reader.read_at(offset, length).await,
        }
    }

    async fn stat(&self) -> std::io::Result<FileStat> {
        match self {
            Reader::Local(reader) => reader.stat().await,
        }
    }
}

impl Lister for DirPages {
    async fn next_page(&mut self, max: usize) -> Result<Vec<DirEntry>, VfsError> {
        match self {
            DirPages::Local(lister) => lister.next_page(max).await,
        }
    }
}

impl StagedFile for Staged {
    async fn write_at(&self, offset: u64, data: Bytes) -> std::io::Result<()> {
        match self {
            Staged::Local(staged) => staged.write_at(offset, data).await,
        }
    }

    async fn set_len(&self, length: u64) -> std::io::Result<()> {
        match self {
            Staged::Local(staged) => staged.set_len(length).await,
        }
    }

    async fn sync(&self) -> std::io::Result<()> {
        match self {
            Staged::Local(staged) => staged.sync().await,
        }
    }

    async fn stat(&self) -> std::io::Result<FileStat> {
        match self {
            Staged::Local(staged) => staged.stat().await,
        }
    }

    async fn set_mode(&self, mode: u32) -> std::io::Result<()> {
        match self {
            Staged::Local(staged) => staged.set_mode(mode).await,
        }
    }

    async fn set_times(&self, mtime: SystemTime, atime: Option<SystemTime>) -> std::io::Result<()> {
        match self {
            Staged::Local(staged) => staged.set_times(mtime, atime).await,
        }
    }

    async fn publish(&self, publish: Publish) -> Result<Option<u64>, VfsError> {
        match self {
            Staged::Local(staged) => staged.publish(publish).await,
        }
    }

    async fn discard(&self) {
        match self {
            Staged::Local(staged) => staged.discard().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_capabilities_are_refused_as_unsupported() {
        let none = Capabilities {
            blocking: false,
            random_writes: false,
            in_place_writes: false,
            atomic_rename: false,
            exclusive_publish: false,
            symlinks: false,
            hard_links: false,
            modes: false,
        };
        let all = Capabilities {
            in_place_writes: true,
            symlinks: true,
            hard_links: true,
            modes: true,
            ..none
        };
        for need in [
            Need::InPlaceWrites,
            Need::Symlinks,
            Need::HardLinks,
            Need::Modes,
        ] {
            assert_eq!(
                none.require(need).unwrap_err().kind,
                VfsErrorKind::Unsupported,
                "{need:?}"
            );
            assert!(all.require(need).is_ok(), "{need:?}");
        }
        let only_links = Capabilities {
            hard_links: true,
            ..none
        };
        assert!(only_links.require(Need::HardLinks).is_ok());
        assert!(only_links.require(Need::Symlinks).is_err());
    }

    #[test]
    fn wait_reports_a_future_that_does_not_complete_at_once() {
        let error = wait(std::future::pending::<Result<(), VfsError>>()).unwrap_err();
        assert_eq!(error.kind, VfsErrorKind::Io);
        assert!(wait_io(std::future::pending::<std::io::Result<()>>()).is_err());
        assert_eq!(wait(async { Ok::<_, VfsError>(7) }).unwrap(), 7);
    }
}
