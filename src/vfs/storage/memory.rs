//! `MemoryStorage`: a test-only backend that keeps files and directories in memory and really
//! waits, so the VFS's non-blocking branch (decision 0008, issue 16) is exercised without a
//! network.
//!
//! Every future yields to the runtime once before it completes, so [`super::wait`] (one poll)
//! cannot drive it: whatever reaches this backend must be awaited on the runtime, or driven by
//! `wait`'s fallback on a blocking-pool thread. Its capabilities are an object store's: staged
//! uploads only, written strictly in order (a write anywhere but at the end of what was written
//! is an error, as a multipart upload would make it), no links, no modes, no in-place writes,
//! renames of files only. A staged upload is invisible until published; the counters in
//! [`MemoryStats`] let tests see that discards happen.

use std::collections::BTreeMap;
use std::io;
use std::path::{Component, Path};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use bytes::{Bytes, BytesMut};

use super::contract::{Capabilities, Lister, Publish, RangeReader, StageMode, StagedFile, Storage};
use crate::vfs::error::{VfsError, VfsErrorKind};
use crate::vfs::metadata::{DirEntry, FileKind, FileStat};
use crate::vfs::space::SpaceInfo;

/// What an object store offers (with a conditional put that works).
const MEMORY_CAPABILITIES: Capabilities = Capabilities {
    blocking: false,
    random_writes: false,
    in_place_writes: false,
    atomic_rename: false,
    exclusive_publish: true,
    symlinks: false,
    hard_links: false,
    modes: false,
};

/// An in-memory tree; clones share it.
#[derive(Clone, Debug, Default)]
pub(crate) struct MemoryStorage {
    tree: Arc<Mutex<Tree>>,
}

/// What happened to staged uploads, for tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct MemoryStats {
    /// Uploads begun.
    pub(crate) begun: u64,
    /// Uploads published.
    pub(crate) published: u64,
    /// Uploads discarded.
    pub(crate) discarded: u64,
}

#[derive(Debug, Default)]
struct Tree {
    /// Keys are `/`-joined relative paths; the root (`""`) is implicit.
    nodes: BTreeMap<String, Entry>,
    next_id: u64,
    stats: MemoryStats,
}

#[derive(Clone, Debug)]
struct Entry {
    data: Option<Bytes>,
    mtime: SystemTime,
    id: u64,
}

/// A snapshot of a file, read at any offset.
#[derive(Debug)]
pub(crate) struct MemoryReader {
    data: Bytes,
    stat: FileStat,
}

/// A snapshot of a directory's entries, handed out in pages.
#[derive(Debug)]
pub(crate) struct MemoryLister {
    entries: std::vec::IntoIter<DirEntry>,
}

/// An upload: bytes accepted in order, invisible until published.
#[derive(Debug)]
pub(crate) struct MemoryStaged {
    tree: Arc<Mutex<Tree>>,
    key: String,
    data: Mutex<BytesMut>,
}

impl MemoryStorage {
    /// An empty tree.
    pub(crate) fn new() -> MemoryStorage {
        MemoryStorage::default()
    }

    /// The counters of staged uploads.
    pub(crate) fn stats(&self) -> MemoryStats {
        self.lock().stats
    }

    /// The content of file `rel`, if there is one (for assertions).
    pub(crate) fn file(&self, rel: &str) -> Option<Bytes> {
        self.lock()
            .nodes
            .get(rel)
            .and_then(|entry| entry.data.clone())
    }

    /// Puts a file at `rel` directly, as an administrator would (its directories must exist).
    pub(crate) fn put(&self, rel: &str, data: &[u8]) {
        let mut tree = self.lock();
        let entry = tree.entry(Some(Bytes::copy_from_slice(data)));
        tree.nodes.insert(rel.to_owned(), entry);
    }

    fn lock(&self) -> MutexGuard<'_, Tree> {
        lock(&self.tree)
    }
}

fn lock(tree: &Mutex<Tree>) -> MutexGuard<'_, Tree> {
    tree.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Tree {
    fn entry(&mut self, data: Option<Bytes>) -> Entry {
        self.next_id += 1;
        Entry {
            data,
            mtime: SystemTime::now(),
            id: self.next_id,
        }
    }

    fn get(&self, key: &str) -> Option<Entry> {
        if key.is_empty() {
            return Some(Entry {
                data: None,
                mtime: SystemTime::UNIX_EPOCH,
                id: 0,
            });
        }
        self.nodes.get(key).cloned()
    }

    fn is_dir(&self, key: &str) -> bool {
        self.get(key).is_some_and(|entry| entry.data.is_none())
    }

    fn children(&self, key: &str) -> Vec<(String, Entry)> {
        let prefix = if key.is_empty() {
            String::new()
        } else {
            format!("{key}/")
        };
        self.nodes
            .range(prefix.clone()..)
            .take_while(|(name, _)| name.starts_with(&prefix))
            .filter(|(name, _)| !name[prefix.len()..].contains('/'))
            .map(|(name, entry)| (name[prefix.len()..].to_owned(), entry.clone()))
            .collect()
    }

    fn parent_is_dir(&self, key: &str) -> bool {
        self.is_dir(key.rsplit_once('/').map_or("", |(parent, _)| parent))
    }
}

/// The tree key of a relative path; `..`, roots and prefixes are refused as the local backend
/// refuses them.
fn key(rel: &Path) -> Result<String, VfsError> {
    let mut parts = Vec::new();
    for component in rel.components() {
        match component {
            Component::CurDir => {}
            Component::Normal(name) => match name.to_str() {
                Some(name) => parts.push(name),
                None => return Err(VfsError::new(VfsErrorKind::InvalidPath)),
            },
            _ => return Err(VfsError::new(VfsErrorKind::PermissionDenied)),
        }
    }
    Ok(parts.join("/"))
}

fn stat_of(entry: &Entry) -> FileStat {
    let (kind, size, mode) = match &entry.data {
        Some(data) => (FileKind::File, data.len() as u64, 0o644),
        None => (FileKind::Dir, 0, 0o755),
    };
    FileStat {
        kind,
        size,
        mode,
        mtime: entry.mtime,
        atime: entry.mtime,
        uid: 0,
        gid: 0,
        nlink: 1,
        unique_id: entry.id,
    }
}

fn unsupported(what: &'static str) -> VfsError {
    VfsError::with_detail(VfsErrorKind::Unsupported, what)
}

/// A store's round trip: the future is not ready on its first poll.
async fn round_trip() {
    tokio::task::yield_now().await;
}

impl Storage for MemoryStorage {
    type Reader = MemoryReader;
    type Lister = MemoryLister;
    type Staged = MemoryStaged;

    fn capabilities(&self) -> Capabilities {
        MEMORY_CAPABILITIES
    }

    async fn metadata(&self, rel: &Path) -> Result<Option<FileStat>, VfsError> {
        round_trip().await;
        let key = key(rel)?;
        Ok(self.lock().get(&key).as_ref().map(stat_of))
    }

    async fn read_link(&self, _rel: &Path) -> Result<String, VfsError> {
        round_trip().await;
        Err(unsupported("this storage has no symbolic links"))
    }

    async fn list(&self, rel: &Path) -> Result<MemoryLister, VfsError> {
        round_trip().await;
        let key = key(rel)?;
        let tree = self.lock();
        match tree.get(&key) {
            None => return Err(VfsError::new(VfsErrorKind::NotFound)),
            Some(entry) if entry.data.is_some() => {
                return Err(VfsError::new(VfsErrorKind::NotADirectory))
            }
            Some(_) => {}
        }
        let entries: Vec<DirEntry> = tree
            .children(&key)
            .into_iter()
            .map(|(name, entry)| DirEntry {
                name,
                stat: stat_of(&entry),
            })
            .collect();
        Ok(MemoryLister {
            entries: entries.into_iter(),
        })
    }

    async fn open_read(&self, rel: &Path) -> Result<(MemoryReader, FileStat), VfsError> {
        round_trip().await;
        let key = key(rel)?;
        let entry = self
            .lock()
            .get(&key)
            .ok_or_else(|| VfsError::new(VfsErrorKind::NotFound))?;
        let Some(data) = entry.data.clone() else {
            return Err(VfsError::new(VfsErrorKind::IsADirectory));
        };
        let stat = stat_of(&entry);
        Ok((
            MemoryReader {
                data,
                stat: stat.clone(),
            },
            stat,
        ))
    }

    async fn create_dir(&self, rel: &Path, _mode: u32) -> Result<(), VfsError> {
        round_trip().await;
        let key = key(rel)?;
        let mut tree = self.lock();
        if tree.get(&key).is_some() {
            return Err(VfsError::new(VfsErrorKind::AlreadyExists));
        }
        if !tree.parent_is_dir(&key) {
            return Err(VfsError::new(VfsErrorKind::NotFound));
        }
        let entry = tree.entry(None);
        tree.nodes.insert(key, entry);
        Ok(())
    }

    async fn remove_dir(&self, rel: &Path) -> Result<(), VfsError> {
        round_trip().await;
        let key = key(rel)?;
        let mut tree = self.lock();
        if !tree.is_dir(&key) || key.is_empty() {
            return Err(VfsError::new(VfsErrorKind::NotADirectory));
        }
        if !tree.children(&key).is_empty() {
            return Err(VfsError::new(VfsErrorKind::DirectoryNotEmpty));
        }
        tree.nodes.remove(&key);
        Ok(())
    }

    async fn remove_file(&self, rel: &Path) -> Result<(), VfsError> {
        round_trip().await;
        let key = key(rel)?;
        let mut tree = self.lock();
        match tree.get(&key) {
            None => Err(VfsError::new(VfsErrorKind::NotFound)),
            Some(entry) if entry.data.is_none() => Err(VfsError::new(VfsErrorKind::IsADirectory)),
            Some(_) => {
                tree.nodes.remove(&key);
                Ok(())
            }
        }
    }

    async fn rename(&self, from: &Path, to: &Path, publish: Publish) -> Result<(), VfsError> {
        round_trip().await;
        let (from, to) = (key(from)?, key(to)?);
        let mut tree = self.lock();
        let entry = tree
            .get(&from)
            .ok_or_else(|| VfsError::new(VfsErrorKind::NotFound))?;
        if entry.data.is_none() && !tree.children(&from).is_empty() {
            return Err(unsupported(
                "this storage cannot rename a non-empty directory",
            ));
        }
        match tree.get(&to) {
            Some(_) if publish == Publish::Exclusive => {
                return Err(VfsError::new(VfsErrorKind::AlreadyExists))
            }
            Some(existing) if existing.data.is_none() => {
                return Err(VfsError::new(VfsErrorKind::IsADirectory))
            }
            _ => {}
        }
        if !tree.parent_is_dir(&to) {
            return Err(VfsError::new(VfsErrorKind::NotFound));
        }
        tree.nodes.remove(&from);
        tree.nodes.insert(to, entry);
        Ok(())
    }

    async fn set_times(
        &self,
        _rel: &Path,
        _mtime: SystemTime,
        _atime: Option<SystemTime>,
    ) -> Result<(), VfsError> {
        round_trip().await;
        Err(unsupported("this storage keeps no times"))
    }

    async fn set_mode(&self, _rel: &Path, _mode: u32) -> Result<(), VfsError> {
        round_trip().await;
        Err(unsupported("this storage has no permission bits"))
    }

    async fn set_len(&self, _rel: &Path, _length: u64) -> Result<(), VfsError> {
        round_trip().await;
        Err(unsupported("this storage cannot change a file in place"))
    }

    async fn symlink(&self, _target: &str, _rel: &Path) -> Result<(), VfsError> {
        round_trip().await;
        Err(unsupported("this storage has no symbolic links"))
    }

    async fn hard_link(&self, _existing: &Path, _new: &Path) -> Result<(), VfsError> {
        round_trip().await;
        Err(unsupported("this storage has no hard links"))
    }

    async fn capacity(&self) -> Result<SpaceInfo, VfsError> {
        round_trip().await;
        Ok(SpaceInfo {
            total_bytes: u64::MAX,
            free_bytes: u64::MAX,
            available_bytes: u64::MAX,
            total_files: u64::MAX,
            free_files: u64::MAX,
            block_size: 4096,
        })
    }

    async fn usage(&self, max_entries: u64) -> Result<(u64, u64), VfsError> {
        round_trip().await;
        let tree = self.lock();
        let files = tree
            .nodes
            .values()
            .take(usize::try_from(max_entries).unwrap_or(usize::MAX));
        Ok(files
            .filter_map(|entry| entry.data.as_ref())
            .fold((0, 0), |(bytes, count), data| {
                (bytes + data.len() as u64, count + 1)
            }))
    }

    async fn begin_upload(
        &self,
        parent: &Path,
        name: &str,
        mode: StageMode,
    ) -> Result<(MemoryStaged, FileStat), VfsError> {
        round_trip().await;
        if !matches!(mode, StageMode::Temporary { .. }) {
            return Err(unsupported("this storage cannot change a file in place"));
        }
        let parent = key(parent)?;
        let mut tree = self.lock();
        if !tree.is_dir(&parent) {
            return Err(VfsError::new(VfsErrorKind::NotFound));
        }
        tree.stats.begun += 1;
        let key = if parent.is_empty() {
            name.to_owned()
        } else {
            format!("{parent}/{name}")
        };
        let stat = stat_of(&tree.entry(Some(Bytes::new())));
        Ok((
            MemoryStaged {
                tree: self.tree.clone(),
                key,
                data: Mutex::new(BytesMut::new()),
            },
            stat,
        ))
    }
}

impl RangeReader for MemoryReader {
    async fn read_at(&self, offset: u64, length: usize) -> io::Result<Bytes> {
        round_trip().await;
        let len = self.data.len();
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(len);
        let end = start.saturating_add(length).min(len);
        Ok(self.data.slice(start..end))
    }

    async fn stat(&self) -> io::Result<FileStat> {
        round_trip().await;
        Ok(self.stat.clone())
    }
}

impl Lister for MemoryLister {
    async fn next_page(&mut self, max: usize) -> Result<Vec<DirEntry>, VfsError> {
        round_trip().await;
        Ok(self.entries.by_ref().take(max).collect())
    }
}

impl MemoryStaged {
    fn data(&self) -> MutexGuard<'_, BytesMut> {
        self.data.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl StagedFile for MemoryStaged {
    async fn write_at(&self, offset: u64, data: Bytes) -> io::Result<()> {
        round_trip().await;
        let mut written = self.data();
        if offset != written.len() as u64 {
            // A multipart upload has no way to write anywhere else.
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "write out of order",
            ));
        }
        written.extend_from_slice(&data);
        Ok(())
    }

    async fn set_len(&self, length: u64) -> io::Result<()> {
        round_trip().await;
        let mut written = self.data();
        match usize::try_from(length) {
            Ok(length) if length <= written.len() => {
                written.truncate(length);
                Ok(())
            }
            _ => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "cannot extend an upload",
            )),
        }
    }

    async fn sync(&self) -> io::Result<()> {
        round_trip().await;
        Ok(())
    }

    async fn stat(&self) -> io::Result<FileStat> {
        round_trip().await;
        let size = self.data().len() as u64;
        Ok(FileStat {
            size,
            ..stat_of(&Entry {
                data: Some(Bytes::new()),
                mtime: SystemTime::now(),
                id: 0,
            })
        })
    }

    async fn set_mode(&self, _mode: u32) -> io::Result<()> {
        round_trip().await;
        Ok(())
    }

    async fn set_times(&self, _mtime: SystemTime, _atime: Option<SystemTime>) -> io::Result<()> {
        round_trip().await;
        Ok(())
    }

    async fn publish(&self, publish: Publish) -> Result<Option<u64>, VfsError> {
        round_trip().await;
        let data = self.data().split().freeze();
        let mut tree = lock(&self.tree);
        let replaced = match tree.get(&self.key) {
            Some(existing) if existing.data.is_none() => {
                return Err(VfsError::new(VfsErrorKind::IsADirectory))
            }
            Some(_) if publish == Publish::Exclusive => {
                return Err(VfsError::new(VfsErrorKind::AlreadyExists))
            }
            Some(existing) => existing.data.map(|data| data.len() as u64),
            None => None,
        };
        let entry = tree.entry(Some(data));
        tree.nodes.insert(self.key.clone(), entry);
        tree.stats.published += 1;
        Ok(replaced)
    }

    async fn discard(&self) {
        round_trip().await;
        self.data().clear();
        lock(&self.tree).stats.discarded += 1;
    }
}
