//! The storage seam: bytes and directory entries below the VFS, and nothing else.
//!
//! `UserFs` keeps everything that is policy — names, per-path permissions, symlink resolution
//! in virtual space, mounts, quotas, the atomic-upload rules, hashes — and asks a [`Storage`]
//! backend for the bytes and entries of one mount. Paths given to a backend are relative to
//! the mount's root (`.` is the root itself), already normalised by the VFS; a backend still
//! refuses anything that would leave its root (`..`, an absolute path, a symlink leading out),
//! so a bug above cannot become an escape below.
//!
//! Backends: [`local::LocalStorage`] (a confined `cap_std` directory) and [`s3::S3Storage`]
//! (keys under a prefix of an S3 bucket, through `object_store`); every item of the contract
//! says how each meets it. The VFS holds a [`Backend`] enum rather than a `dyn Storage`: the
//! trait uses native `async fn`s with associated types, which `dyn` cannot carry without
//! boxing a future per call, and the data path (`RangeReader::read_at`,
//! `StagedFile::write_at`) must not allocate per block (docs/decisions/0008).
//!
//! Execution model: a backend whose [`Capabilities::blocking`] is true does its blocking
//! system calls inside its futures and never waits on anything else, so every future
//! completes on its first poll; the VFS drives such futures with [`wait`] inside the one
//! blocking-pool hand-off it makes per operation (as it did before the seam existed). A
//! non-blocking backend (S3) is awaited on the runtime instead; the VFS chooses per operation
//! from the backend it reaches (`vfs::operation`), and [`drive`] covers an operation on the
//! blocking pool whose resolution crosses into a non-blocking mount.

mod contract;
mod disk;
pub(crate) mod leftovers;
pub(crate) mod local;
mod local_reader;
#[cfg(test)]
pub(crate) mod memory;
pub(crate) mod s3;
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

pub(crate) use contract::{
    Capabilities, Lister, Need, Publish, RangeReader, ReadNow, StageMode, StagedFile, Storage,
};
pub(crate) use local::LocalStorage;

/// The backends the VFS can hold.
#[derive(Clone, Debug)]
pub(crate) enum Backend {
    /// A confined local directory.
    Local(LocalStorage),
    /// In memory, really waiting: the non-blocking branch's tests (see [`memory`]).
    #[cfg(test)]
    Memory(memory::MemoryStorage),
    /// Objects under a prefix of an S3 bucket.
    S3(s3::S3Storage),
}

/// A [`Backend`]'s reader.
#[derive(Debug)]
pub(crate) enum Reader {
    /// See [`local::LocalReader`].
    Local(local::LocalReader),
    /// See [`memory::MemoryReader`].
    #[cfg(test)]
    Memory(memory::MemoryReader),
    /// See [`s3::S3Reader`] (boxed: it is larger than a file descriptor; one box per open).
    S3(Box<s3::S3Reader>),
}

#[cfg(test)]
impl Reader {
    /// A reader over an already open local file (unit tests of the code above the seam).
    pub(crate) fn local(file: std::fs::File) -> Reader {
        Reader::Local(local::LocalReader::new(file))
    }
}

/// A [`Backend`]'s lister.
#[derive(Debug)]
pub(crate) enum DirPages {
    /// See [`local::LocalLister`].
    Local(local::LocalLister),
    /// See [`memory::MemoryLister`].
    #[cfg(test)]
    Memory(memory::MemoryLister),
    /// See [`s3::S3Lister`].
    S3(s3::S3Lister),
}

/// A [`Backend`]'s staged upload.
#[derive(Debug)]
pub(crate) enum Staged {
    /// See [`local::LocalStaged`].
    Local(local::LocalStaged),
    /// See [`memory::MemoryStaged`].
    #[cfg(test)]
    Memory(memory::MemoryStaged),
    /// See [`s3::S3Staged`].
    S3(s3::S3Staged),
}

impl Staged {
    /// Where a local upload's bytes are on the host: staged and once published (for hooks).
    pub(crate) fn host_paths(&self) -> Option<(std::path::PathBuf, std::path::PathBuf)> {
        match self {
            Staged::Local(staged) => staged.host_paths(),
            _ => None,
        }
    }
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

/// [`wait`] for a whole VFS operation that runs on a blocking-pool thread and may reach a
/// non-blocking backend on its way (a local symlink that leads into an object-storage mount,
/// a local directory listing that shows an object-storage mount's root): the fast path is
/// `wait`'s single poll, so a blocking backend pays nothing more; a future that is not ready
/// is then driven to its end on this thread with the runtime's handle, which blocks a
/// blocking-pool thread (what that pool is for; object storage bounds every request with a
/// timeout) and never a runtime worker. Call it only on a blocking-pool thread.
pub(crate) fn drive<T>(future: impl Future<Output = Result<T, VfsError>>) -> Result<T, VfsError> {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(result) => result,
        Poll::Pending => match tokio::runtime::Handle::try_current() {
            Ok(runtime) => runtime.block_on(future),
            Err(_) => Err(VfsError::with_detail(
                VfsErrorKind::Io,
                "storage backend waited outside the runtime",
            )),
        },
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
            #[cfg(test)]
            Backend::Memory(memory) => memory.capabilities(),
            Backend::S3(s3) => s3.capabilities(),
        }
    }

    async fn metadata(&self, rel: &Path) -> Result<Option<FileStat>, VfsError> {
        match self {
            Backend::Local(local) => local.metadata(rel).await,
            #[cfg(test)]
            Backend::Memory(memory) => memory.metadata(rel).await,
            Backend::S3(s3) => s3.metadata(rel).await,
        }
    }

    async fn read_link(&self, rel: &Path) -> Result<String, VfsError> {
        match self {
            Backend::Local(local) => local.read_link(rel).await,
            #[cfg(test)]
            Backend::Memory(memory) => memory.read_link(rel).await,
            Backend::S3(s3) => s3.read_link(rel).await,
        }
    }

    async fn list(&self, rel: &Path) -> Result<DirPages, VfsError> {
        match self {
            Backend::Local(local) => local.list(rel).await.map(DirPages::Local),
            #[cfg(test)]
            Backend::Memory(memory) => memory.list(rel).await.map(DirPages::Memory),
            Backend::S3(s3) => s3.list(rel).await.map(DirPages::S3),
        }
    }

    async fn open_read(&self, rel: &Path) -> Result<(Reader, FileStat), VfsError> {
        match self {
            Backend::Local(local) => {
                let (reader, stat) = local.open_read(rel).await?;
                Ok((Reader::Local(reader), stat))
            }
            #[cfg(test)]
            Backend::Memory(memory) => {
                let (reader, stat) = memory.open_read(rel).await?;
                Ok((Reader::Memory(reader), stat))
            }
            Backend::S3(s3) => {
                let (reader, stat) = s3.open_read(rel).await?;
                Ok((Reader::S3(Box::new(reader)), stat))
            }
        }
    }

    async fn create_dir(&self, rel: &Path, mode: u32) -> Result<(), VfsError> {
        match self {
            Backend::Local(local) => local.create_dir(rel, mode).await,
            #[cfg(test)]
            Backend::Memory(memory) => memory.create_dir(rel, mode).await,
            Backend::S3(s3) => s3.create_dir(rel, mode).await,
        }
    }

    async fn remove_dir(&self, rel: &Path) -> Result<(), VfsError> {
        match self {
            Backend::Local(local) => local.remove_dir(rel).await,
            #[cfg(test)]
            Backend::Memory(memory) => memory.remove_dir(rel).await,
            Backend::S3(s3) => s3.remove_dir(rel).await,
        }
    }

    async fn remove_file(&self, rel: &Path) -> Result<(), VfsError> {
        match self {
            Backend::Local(local) => local.remove_file(rel).await,
            #[cfg(test)]
            Backend::Memory(memory) => memory.remove_file(rel).await,
            Backend::S3(s3) => s3.remove_file(rel).await,
        }
    }

    async fn rename(&self, from: &Path, to: &Path, publish: Publish) -> Result<(), VfsError> {
        match self {
            Backend::Local(local) => local.rename(from, to, publish).await,
            #[cfg(test)]
            Backend::Memory(memory) => memory.rename(from, to, publish).await,
            Backend::S3(s3) => s3.rename(from, to, publish).await,
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
            #[cfg(test)]
            Backend::Memory(memory) => memory.set_times(rel, mtime, atime).await,
            Backend::S3(s3) => s3.set_times(rel, mtime, atime).await,
        }
    }

    async fn set_mode(&self, rel: &Path, mode: u32) -> Result<(), VfsError> {
        match self {
            Backend::Local(local) => local.set_mode(rel, mode).await,
            #[cfg(test)]
            Backend::Memory(memory) => memory.set_mode(rel, mode).await,
            Backend::S3(s3) => s3.set_mode(rel, mode).await,
        }
    }

    async fn set_len(&self, rel: &Path, length: u64) -> Result<(), VfsError> {
        match self {
            Backend::Local(local) => local.set_len(rel, length).await,
            #[cfg(test)]
            Backend::Memory(memory) => memory.set_len(rel, length).await,
            Backend::S3(s3) => s3.set_len(rel, length).await,
        }
    }

    async fn symlink(&self, target: &str, rel: &Path) -> Result<(), VfsError> {
        match self {
            Backend::Local(local) => local.symlink(target, rel).await,
            #[cfg(test)]
            Backend::Memory(memory) => memory.symlink(target, rel).await,
            Backend::S3(s3) => s3.symlink(target, rel).await,
        }
    }

    async fn hard_link(&self, existing: &Path, new: &Path) -> Result<(), VfsError> {
        match self {
            Backend::Local(local) => local.hard_link(existing, new).await,
            #[cfg(test)]
            Backend::Memory(memory) => memory.hard_link(existing, new).await,
            Backend::S3(s3) => s3.hard_link(existing, new).await,
        }
    }

    async fn capacity(&self) -> Result<SpaceInfo, VfsError> {
        match self {
            Backend::Local(local) => local.capacity().await,
            #[cfg(test)]
            Backend::Memory(memory) => memory.capacity().await,
            Backend::S3(s3) => s3.capacity().await,
        }
    }

    async fn usage(&self, max_entries: u64) -> Result<(u64, u64), VfsError> {
        match self {
            Backend::Local(local) => local.usage(max_entries).await,
            #[cfg(test)]
            Backend::Memory(memory) => memory.usage(max_entries).await,
            Backend::S3(s3) => s3.usage(max_entries).await,
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
            #[cfg(test)]
            Backend::Memory(memory) => {
                let (staged, stat) = memory.begin_upload(parent, name, mode).await?;
                Ok((Staged::Memory(staged), stat))
            }
            Backend::S3(s3) => {
                let (staged, stat) = s3.begin_upload(parent, name, mode).await?;
                Ok((Staged::S3(staged), stat))
            }
        }
    }
}

impl RangeReader for Reader {
    async fn read_at(&self, offset: u64, length: usize) -> std::io::Result<Bytes> {
        match self {
            Reader::Local(reader) => reader.read_at(offset, length).await,
            #[cfg(test)]
            Reader::Memory(memory) => memory.read_at(offset, length).await,
            Reader::S3(reader) => reader.read_at(offset, length).await,
        }
    }

    async fn read_at_into(
        &self,
        offset: u64,
        length: usize,
        out: &mut Vec<u8>,
    ) -> std::io::Result<usize> {
        match self {
            Reader::Local(reader) => reader.read_at_into(offset, length, out).await,
            #[cfg(test)]
            Reader::Memory(memory) => memory.read_at_into(offset, length, out).await,
            Reader::S3(reader) => reader.read_at_into(offset, length, out).await,
        }
    }

    fn read_at_now(
        &self,
        offset: u64,
        length: usize,
        out: &mut Vec<u8>,
    ) -> Option<std::io::Result<ReadNow>> {
        match self {
            Reader::Local(reader) => reader.read_at_now(offset, length, out),
            #[cfg(test)]
            Reader::Memory(memory) => memory.read_at_now(offset, length, out),
            Reader::S3(reader) => reader.read_at_now(offset, length, out),
        }
    }

    async fn stat(&self) -> std::io::Result<FileStat> {
        match self {
            Reader::Local(reader) => reader.stat().await,
            #[cfg(test)]
            Reader::Memory(memory) => memory.stat().await,
            Reader::S3(reader) => reader.stat().await,
        }
    }
}

impl Lister for DirPages {
    async fn next_page(&mut self, max: usize) -> Result<Vec<DirEntry>, VfsError> {
        match self {
            DirPages::Local(lister) => lister.next_page(max).await,
            #[cfg(test)]
            DirPages::Memory(memory) => memory.next_page(max).await,
            DirPages::S3(lister) => lister.next_page(max).await,
        }
    }
}

impl StagedFile for Staged {
    async fn write_at(&self, offset: u64, data: Bytes) -> std::io::Result<()> {
        match self {
            Staged::Local(staged) => staged.write_at(offset, data).await,
            #[cfg(test)]
            Staged::Memory(memory) => memory.write_at(offset, data).await,
            Staged::S3(staged) => staged.write_at(offset, data).await,
        }
    }

    async fn set_len(&self, length: u64) -> std::io::Result<()> {
        match self {
            Staged::Local(staged) => staged.set_len(length).await,
            #[cfg(test)]
            Staged::Memory(memory) => memory.set_len(length).await,
            Staged::S3(staged) => staged.set_len(length).await,
        }
    }

    async fn sync(&self) -> std::io::Result<()> {
        match self {
            Staged::Local(staged) => staged.sync().await,
            #[cfg(test)]
            Staged::Memory(memory) => memory.sync().await,
            Staged::S3(staged) => staged.sync().await,
        }
    }

    async fn stat(&self) -> std::io::Result<FileStat> {
        match self {
            Staged::Local(staged) => staged.stat().await,
            #[cfg(test)]
            Staged::Memory(memory) => memory.stat().await,
            Staged::S3(staged) => staged.stat().await,
        }
    }

    async fn set_mode(&self, mode: u32) -> std::io::Result<()> {
        match self {
            Staged::Local(staged) => staged.set_mode(mode).await,
            #[cfg(test)]
            Staged::Memory(memory) => memory.set_mode(mode).await,
            Staged::S3(staged) => staged.set_mode(mode).await,
        }
    }

    async fn set_times(&self, mtime: SystemTime, atime: Option<SystemTime>) -> std::io::Result<()> {
        match self {
            Staged::Local(staged) => staged.set_times(mtime, atime).await,
            #[cfg(test)]
            Staged::Memory(memory) => memory.set_times(mtime, atime).await,
            Staged::S3(staged) => staged.set_times(mtime, atime).await,
        }
    }

    async fn publish(&self, publish: Publish) -> Result<Option<u64>, VfsError> {
        match self {
            Staged::Local(staged) => staged.publish(publish).await,
            #[cfg(test)]
            Staged::Memory(memory) => memory.publish(publish).await,
            Staged::S3(staged) => staged.publish(publish).await,
        }
    }

    async fn discard(&self) {
        match self {
            Staged::Local(staged) => staged.discard().await,
            #[cfg(test)]
            Staged::Memory(memory) => memory.discard().await,
            Staged::S3(staged) => staged.discard().await,
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

    #[tokio::test]
    async fn drive_finishes_a_waiting_future_on_the_blocking_pool() {
        let waiting = || async {
            tokio::task::yield_now().await;
            Ok::<_, VfsError>(7)
        };
        let driven = tokio::task::spawn_blocking(move || drive(waiting()));
        assert_eq!(driven.await.unwrap().unwrap(), 7);
        assert!(wait(waiting()).is_err());
    }

    #[test]
    fn drive_without_a_runtime_reports_the_wait() {
        let error = drive(std::future::pending::<Result<(), VfsError>>()).unwrap_err();
        assert_eq!(error.kind, VfsErrorKind::Io);
    }
}
