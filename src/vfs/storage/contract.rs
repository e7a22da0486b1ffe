//! What a storage backend promises the VFS: the [`Storage`] trait for one mount's bytes and
//! entries, the readers, listers and staged uploads it hands out, and the [`Capabilities`] the
//! VFS consults so that policy stays above the seam. `mod.rs` holds the enum of backends.

use std::future::Future;
use std::path::Path;
use std::time::SystemTime;

use bytes::Bytes;

use crate::vfs::error::{VfsError, VfsErrorKind};
use crate::vfs::metadata::{DirEntry, FileStat};
use crate::vfs::space::SpaceInfo;

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

    /// `read_at`, with the bytes appended to `out` rather than returned: the SFTP `DATA`
    /// reply is built around them, header first, without copying them again. Returns how
    /// many were appended. The default copies `read_at`'s result (S3 and the in-memory test
    /// backend hold their bytes already); a local file is read straight into `out`.
    fn read_at_into(
        &self,
        offset: u64,
        length: usize,
        out: &mut Vec<u8>,
    ) -> impl Future<Output = std::io::Result<usize>> + Send {
        async move {
            let data = self.read_at(offset, length).await?;
            out.extend_from_slice(&data);
            Ok(data.len())
        }
    }

    /// What of `read_at_into` can be done without waiting on a device, done inline: `None`
    /// when nothing could (the caller then reads in the blocking pool). Only blocking
    /// backends answer; on the others every read is awaited anyway.
    fn read_at_now(
        &self,
        _offset: u64,
        _length: usize,
        _out: &mut Vec<u8>,
    ) -> Option<std::io::Result<ReadNow>> {
        None
    }

    /// Current metadata of the open file. S3: the metadata seen at open (objects do not change
    /// under a reader; a replaced object is a new one).
    fn stat(&self) -> impl Future<Output = std::io::Result<FileStat>> + Send;
}

/// What [`RangeReader::read_at_now`] appended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ReadNow {
    pub(crate) appended: usize,
    /// The read is done: all asked for, or all up to the end of the file. Otherwise the rest
    /// (from `offset + appended`) needs a read that may wait.
    pub(crate) complete: bool,
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
