//! `S3Reader`: positional reads of one object through ranged `GET`s with read-ahead.
//!
//! Reads near the previous ones (a download, a hash, an SFTP client's pipelined `READ`s that
//! arrive a little out of order) are served from a read-ahead that a [`Fetch`] task fills with
//! ranged `GET`s, several at once once a second read shows a stream; at most [`AHEAD_BLOCKS`] blocks (12 MiB) wait or are in flight per reader. Blocks received are
//! kept in a [`ReadWindow`] until reads have moved 2 MiB past them. A read outside the window
//! drops the read-ahead and starts a new one at its offset. Every `GET` carries the `ETag` seen
//! at open (`If-Match`), so a replaced object fails the read instead of mixing two versions.

use std::io;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::StreamExt as _;
use object_store::aws::AmazonS3;
use object_store::path::Path as Key;
use object_store::{GetOptions, GetRange, ObjectStore as _};
use tokio::sync::{mpsc, Mutex};
use tokio::task::JoinHandle;

use super::super::contract::RangeReader;
use super::errors::io_error;
use super::fetch::{Fetch, Ramp, SegmentSource, PIPELINE};
use super::read_window::{Placement, ReadWindow};
use crate::vfs::metadata::FileStat;

pub(crate) use super::fetch::{BLOCK, SEGMENT_BLOCKS};

/// Blocks that may wait unread or be in flight: the read-ahead's memory bound (12 MiB).
pub(crate) const AHEAD_BLOCKS: usize = PIPELINE * SEGMENT_BLOCKS;
// A segment waits for room for all its blocks at once: more than the channel holds never comes
// (the first segment, a lead-in and a block, is at most 2 blocks).
const _: () = assert!(SEGMENT_BLOCKS <= AHEAD_BLOCKS && 2 <= AHEAD_BLOCKS);
/// How far before a jump's offset its read-ahead starts.
const LEAD_IN: u64 = BLOCK as u64;

/// An object open for reading.
#[derive(Debug)]
pub(crate) struct S3Reader {
    store: Arc<AmazonS3>,
    key: Key,
    etag: Option<String>,
    stat: FileStat,
    ahead: Mutex<Option<ReadAhead>>,
}

/// A running read-ahead and the blocks it delivered that reads may still want.
#[derive(Debug)]
struct ReadAhead {
    window: ReadWindow,
    /// The read it started for; any other read served from it opens the ramp.
    first: u64,
    ramp: Arc<Ramp>,
    blocks: mpsc::Receiver<io::Result<Bytes>>,
    task: JoinHandle<()>,
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl S3Reader {
    pub(super) fn new(
        store: Arc<AmazonS3>,
        key: Key,
        etag: Option<String>,
        stat: FileStat,
    ) -> S3Reader {
        S3Reader {
            store,
            key,
            etag,
            stat,
            ahead: Mutex::new(None),
        }
    }

    /// A read-ahead for a read at `offset`. It starts up to [`LEAD_IN`] bytes earlier, so the
    /// pipelined reads just behind the one that got here first are served too.
    fn start(&self, offset: u64) -> ReadAhead {
        let from = offset.saturating_sub(LEAD_IN);
        let (sender, blocks) = mpsc::channel(AHEAD_BLOCKS);
        let ramp = Arc::new(Ramp::default());
        let fetch = Fetch {
            source: ObjectRanges {
                store: Arc::clone(&self.store),
                key: self.key.clone(),
                etag: self.etag.clone(),
            },
            size: self.stat.size,
            ramp: Arc::clone(&ramp),
        };
        let first_segment = offset - from + BLOCK as u64;
        let task = tokio::spawn(fetch.run(from, first_segment, sender));
        ReadAhead {
            window: ReadWindow::at(from),
            first: offset,
            ramp,
            blocks,
            task,
        }
    }
}

impl RangeReader for S3Reader {
    async fn read_at(&self, offset: u64, length: usize) -> io::Result<Bytes> {
        let size = self.stat.size;
        if offset >= size || length == 0 {
            return Ok(Bytes::new());
        }
        let wanted = usize::try_from(size - offset).map_or(length, |left| left.min(length));
        let mut guard = self.ahead.lock().await;
        if guard
            .as_ref()
            .is_none_or(|ahead| ahead.window.place(offset) == Placement::Jump)
        {
            *guard = Some(self.start(offset));
        }
        let Some(ahead) = guard.as_mut() else {
            return Err(io::Error::other("read-ahead missing"));
        };
        ahead.window.reading_at(offset);
        // A second read is a stream, and so is one longer than the first segment reaches
        // (a block past its offset): before the ramp opens, nothing past that is fetched.
        if offset != ahead.first || wanted > BLOCK {
            ahead.ramp.open();
        }
        let result = take(ahead, offset, wanted).await;
        if result.is_err() {
            // The next read starts afresh (and retries) rather than reading a broken stream.
            *guard = None;
        }
        result
    }

    async fn stat(&self) -> io::Result<FileStat> {
        Ok(self.stat.clone())
    }
}

/// `[offset, offset + wanted)` from the window, after receiving the blocks that reach its end.
async fn take(ahead: &mut ReadAhead, offset: u64, wanted: usize) -> io::Result<Bytes> {
    let last = offset + wanted as u64;
    while ahead.window.end() < last {
        match ahead.blocks.recv().await {
            Some(block) => ahead.window.push(block?),
            None => return Err(io::Error::other("object storage read ended early")),
        }
    }
    ahead
        .window
        .slice(offset, wanted)
        .ok_or_else(|| io::Error::other("read-ahead window lost the bytes of a read"))
}

/// A failed `GET` as an I/O error; a failed `If-Match` means the object was replaced (not
/// that something "already exists", which is what a precondition means for writes).
fn read_error(error: object_store::Error) -> io::Error {
    match error {
        object_store::Error::Precondition { .. } => io::Error::other(format!(
            "the object was replaced while it was read: {error}"
        )),
        error => io_error(error),
    }
}

/// The ranged `GET`s of one version of an object.
struct ObjectRanges {
    store: Arc<AmazonS3>,
    key: Key,
    etag: Option<String>,
}

impl SegmentSource for ObjectRanges {
    async fn get(&self, from: u64, end: u64) -> io::Result<BoxStream<'static, io::Result<Bytes>>> {
        let options = GetOptions {
            range: Some(GetRange::Bounded(from..end)),
            if_match: self.etag.clone(),
            ..GetOptions::default()
        };
        let result = self
            .store
            .get_opts(&self.key, options)
            .await
            .map_err(read_error)?;
        Ok(result
            .into_stream()
            .map(|chunk| chunk.map_err(read_error))
            .boxed())
    }
}
