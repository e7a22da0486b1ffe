//! `DirLister`: a directory listing streamed in batches.
//!
//! A directory can hold millions of entries; the lister keeps the OS directory stream open and
//! reads `max` entries per blocking call, so memory is bounded by the batch, not the directory.
//! Mount points below the directory are listed first (they may not exist on disk at all), and
//! real entries they shadow, temporary upload files, `.`/`..` and names that are not UTF-8
//! (which no client could address) are skipped.

use std::collections::HashSet;

use cap_std::fs::ReadDir;

use super::error::VfsError;
use super::metadata::{DirEntry, FileStat};
use super::names::is_reserved;
use super::path::VirtualPath;
use super::reader::joined;

/// Largest batch one `next_batch` call returns, whatever the caller asks for.
pub const MAX_LIST_BATCH: usize = 4096;

/// An open directory listing. See the module docs.
#[derive(Debug)]
pub struct DirLister {
    path: VirtualPath,
    /// Mount entries not yet returned.
    mounts: Vec<DirEntry>,
    /// Names the mount entries shadow.
    shadowed: HashSet<String>,
    /// The OS stream; `None` once exhausted (or when no real directory exists).
    stream: Option<ReadDir>,
}

impl DirLister {
    pub(crate) fn new(
        path: VirtualPath,
        mounts: Vec<DirEntry>,
        stream: Option<ReadDir>,
    ) -> DirLister {
        let shadowed = mounts.iter().map(|entry| entry.name.clone()).collect();
        DirLister {
            path,
            mounts,
            shadowed,
            stream,
        }
    }

    /// The next entries, at most `max` (at least one is asked for, at most
    /// [`MAX_LIST_BATCH`]); an empty batch means the listing is complete.
    pub async fn next_batch(&mut self, max: usize) -> Result<Vec<DirEntry>, VfsError> {
        let max = max.clamp(1, MAX_LIST_BATCH);
        if !self.mounts.is_empty() {
            let take = max.min(self.mounts.len());
            return Ok(self.mounts.drain(..take).collect());
        }
        let Some(stream) = self.stream.take() else {
            return Ok(Vec::new());
        };
        let shadowed = std::mem::take(&mut self.shadowed);
        let (stream, shadowed, batch) =
            tokio::task::spawn_blocking(move || read_batch(stream, shadowed, max))
                .await
                .map_err(|_| joined())?;
        self.shadowed = shadowed;
        self.stream = stream;
        batch.map_err(|error| error.or_path(&self.path))
    }

    /// The directory being listed.
    pub fn path(&self) -> &VirtualPath {
        &self.path
    }
}

type Batch = (
    Option<ReadDir>,
    HashSet<String>,
    Result<Vec<DirEntry>, VfsError>,
);

/// Reads until `max` visible entries or the end; the stream comes back unless exhausted.
fn read_batch(mut stream: ReadDir, shadowed: HashSet<String>, max: usize) -> Batch {
    let mut batch = Vec::with_capacity(max.min(256));
    while batch.len() < max {
        let entry = match stream.next() {
            None => return (None, shadowed, Ok(batch)),
            Some(Ok(entry)) => entry,
            Some(Err(error)) => return (None, shadowed, Err(VfsError::from_io(error))),
        };
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if name == "." || name == ".." || is_reserved(&name) || shadowed.contains(&name) {
            continue;
        }
        // `lstat` semantics; an entry removed since `readdir` saw it is simply not listed.
        let Ok(metadata) = entry.metadata() else {
            continue;
        };
        batch.push(DirEntry {
            name,
            stat: FileStat::from_cap(&metadata),
        });
    }
    (Some(stream), shadowed, Ok(batch))
}
