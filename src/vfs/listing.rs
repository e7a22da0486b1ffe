//! `DirLister`: a directory listing streamed in batches.
//!
//! A directory can hold millions of entries; the lister keeps the backend's paged listing open
//! (`storage::Lister`: the OS directory stream for a local directory) and reads up to `max`
//! entries per blocking call, so memory is bounded by the batch, not the directory. A backend
//! whose futures really wait (object storage: one `list_with_delimiter` page per call) is
//! awaited on the runtime instead.
//! Mount points below the directory are listed first (they may not exist on disk at all), and
//! real entries they shadow, temporary upload files, `.`/`..` and names that are not UTF-8
//! (which no client could address) are skipped.

use std::collections::HashSet;

use super::error::VfsError;
use super::metadata::DirEntry;
use super::names::is_reserved;
use super::path::VirtualPath;
use super::reader::joined;
use super::storage::{wait, DirPages, Lister as _};

/// A batch read on the blocking pool: the stream (unless exhausted) and the shadowed names
/// come back with it.
type Batch = (
    Option<DirPages>,
    HashSet<String>,
    Result<Vec<DirEntry>, VfsError>,
);

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
    /// The backend's listing; `None` once exhausted (or when no real directory exists).
    stream: Option<DirPages>,
    /// The backend blocks (`Capabilities::blocking`): pages are read on the blocking pool.
    blocking: bool,
}

impl DirLister {
    pub(crate) fn new(
        path: VirtualPath,
        mounts: Vec<DirEntry>,
        stream: Option<DirPages>,
        blocking: bool,
    ) -> DirLister {
        let shadowed = mounts.iter().map(|entry| entry.name.clone()).collect();
        DirLister {
            path,
            mounts,
            shadowed,
            stream,
            blocking,
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
        let Some(mut stream) = self.stream.take() else {
            return Ok(Vec::new());
        };
        if !self.blocking {
            let batch = read_batch(&mut stream, &self.shadowed, max).await;
            return match batch {
                Ok((batch, more)) => {
                    self.stream = more.then_some(stream);
                    Ok(batch)
                }
                Err(error) => Err(error.or_path(&self.path)),
            };
        }
        let shadowed = std::mem::take(&mut self.shadowed);
        let (stream, shadowed, batch): Batch = tokio::task::spawn_blocking(move || {
            match wait(read_batch(&mut stream, &shadowed, max)) {
                Ok((batch, more)) => (more.then_some(stream), shadowed, Ok(batch)),
                Err(error) => (None, shadowed, Err(error)),
            }
        })
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

    /// Whether pages are read on the blocking pool.
    #[cfg(test)]
    pub(crate) fn is_blocking(&self) -> bool {
        self.blocking
    }
}

/// Reads until `max` visible entries or the end; `true` with the batch when more may follow.
/// Pages are asked for only what is still missing, so hidden entries never make a batch
/// larger than `max`, and a page of only hidden entries does not end the listing. A blocking
/// backend's pages complete at once, so `wait` drives this whole function in one poll.
async fn read_batch(
    stream: &mut DirPages,
    shadowed: &HashSet<String>,
    max: usize,
) -> Result<(Vec<DirEntry>, bool), VfsError> {
    let mut batch = Vec::with_capacity(max.min(256));
    while batch.len() < max {
        let page = stream.next_page(max - batch.len()).await?;
        if page.is_empty() {
            return Ok((batch, false));
        }
        batch.extend(
            page.into_iter()
                .filter(|entry| !is_reserved(&entry.name) && !shadowed.contains(&entry.name)),
        );
    }
    Ok((batch, true))
}
