//! `DirLister`: a directory listing streamed in batches.
//!
//! A directory can hold millions of entries; the lister keeps the backend's paged listing open
//! (`storage::Lister`: the OS directory stream for a local directory) and reads up to `max`
//! entries per blocking call, so memory is bounded by the batch, not the directory.
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
}

impl DirLister {
    pub(crate) fn new(
        path: VirtualPath,
        mounts: Vec<DirEntry>,
        stream: Option<DirPages>,
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
    Option<DirPages>,
    HashSet<String>,
    Result<Vec<DirEntry>, VfsError>,
);

/// Reads until `max` visible entries or the end; the stream comes back unless exhausted.
/// Pages are asked for only what is still missing, so hidden entries never make a batch
/// larger than `max`, and a page of only hidden entries does not end the listing.
fn read_batch(mut stream: DirPages, shadowed: HashSet<String>, max: usize) -> Batch {
    let mut batch = Vec::with_capacity(max.min(256));
    while batch.len() < max {
        let page = match wait(stream.next_page(max - batch.len())) {
            Ok(page) => page,
            Err(error) => return (None, shadowed, Err(error)),
        };
        if page.is_empty() {
            return (None, shadowed, Ok(batch));
        }
        batch.extend(
            page.into_iter()
                .filter(|entry| !is_reserved(&entry.name) && !shadowed.contains(&entry.name)),
        );
    }
    (Some(stream), shadowed, Ok(batch))
}
