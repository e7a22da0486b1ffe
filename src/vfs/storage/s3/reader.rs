//! `S3Reader`: positional reads of one object through ranged `GET`s with read-ahead.
//!
//! Reads near the previous ones (a download, a hash, an SFTP client's pipelined `READ`s that
//! arrive a little out of order) are served from a read-ahead that a background task fills:
//! it fetches the object in segments of [`SEGMENT_BLOCKS`] blocks of [`BLOCK`] bytes, one
//! ranged `GET` per segment, and starts a segment only when the channel has room for all of
//! it, so a `GET`'s body is never left half-read while the client is slow (the request
//! timeout covers the whole body) and at most [`AHEAD_BLOCKS`] blocks (8 MiB) wait per
//! reader. Blocks received are kept in a [`ReadWindow`] until reads have moved 2 MiB past
//! them. A read outside the window drops the read-ahead and starts a new one at its offset. A failed segment is retried from the byte
//! where it stopped, [`SEGMENT_RETRIES`] times with backoff, on top of `object_store`'s own
//! retries of the request; every `GET` carries the `ETag` seen at open (`If-Match`), so a
//! replaced object fails the read instead of mixing two versions.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt as _;
use object_store::aws::AmazonS3;
use object_store::path::Path as Key;
use object_store::{GetOptions, GetRange, ObjectStore as _};
use tokio::sync::{mpsc, Mutex};
use tokio::task::JoinHandle;

use super::super::contract::RangeReader;
use super::errors::io_error;
use super::read_window::{Placement, ReadWindow};
use crate::vfs::metadata::FileStat;

/// What the read-ahead hands over at a time.
pub(crate) const BLOCK: usize = 1 << 20;
/// Blocks fetched by one `GET`.
pub(crate) const SEGMENT_BLOCKS: usize = 4;
/// Blocks that may wait unread: the read-ahead's memory bound (8 MiB).
pub(crate) const AHEAD_BLOCKS: usize = 8;
// A segment waits for room for all its blocks at once: more than the channel holds never comes
// (the first segment, a lead-in and a block, is at most 2 blocks).
const _: () = assert!(SEGMENT_BLOCKS <= AHEAD_BLOCKS && 2 <= AHEAD_BLOCKS);
/// How far before a jump's offset its read-ahead starts.
const LEAD_IN: u64 = BLOCK as u64;
/// Retries of one segment after its `GET` failed.
const SEGMENT_RETRIES: u32 = 3;

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
        let fetch = Fetch {
            store: Arc::clone(&self.store),
            key: self.key.clone(),
            etag: self.etag.clone(),
            size: self.stat.size,
        };
        let first_segment = offset - from + BLOCK as u64;
        let task = tokio::spawn(fetch.run(from, first_segment, sender));
        ReadAhead {
            window: ReadWindow::at(from),
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

/// The read-ahead task's inputs.
struct Fetch {
    store: Arc<AmazonS3>,
    key: Key,
    etag: Option<String>,
    size: u64,
}

impl Fetch {
    /// Delivers the object from `delivered` to its end in blocks, segment by segment. The
    /// first segment is `first_segment` bytes (a lead-in and one block): a single random read
    /// should not fetch a whole segment.
    async fn run(
        self,
        mut delivered: u64,
        first_segment: u64,
        sender: mpsc::Sender<io::Result<Bytes>>,
    ) {
        let mut length = first_segment;
        let mut block = BytesMut::new();
        while delivered < self.size {
            let end = self.size.min(delivered + length);
            let count = usize::try_from((end - delivered).div_ceil(BLOCK as u64)).unwrap_or(1);
            // Room for the whole segment first, so its body is read without pause.
            let Ok(mut permits) = sender.reserve_many(count).await else {
                return;
            };
            let mut failures = 0;
            while delivered + (block.len() as u64) < end {
                let from = delivered + block.len() as u64;
                let outcome = self
                    .segment(from, end, &mut block, &mut delivered, &mut permits)
                    .await;
                let reached = delivered + block.len() as u64;
                let error = match outcome {
                    Ok(()) if reached >= end => break,
                    Ok(()) => io::Error::other("object storage sent less than asked"),
                    Err(error) => error,
                };
                failures += 1;
                if failures > SEGMENT_RETRIES {
                    if let Some(permit) = permits.next() {
                        permit.send(Err(error));
                    }
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100 << failures)).await;
            }
            if !block.is_empty() {
                delivered += block.len() as u64;
                if let Some(permit) = permits.next() {
                    permit.send(Ok(std::mem::take(&mut block).freeze()));
                }
            }
            length = (SEGMENT_BLOCKS * BLOCK) as u64;
        }
    }

    /// One `GET` of `[from, end)` into `block`, sending each full block (and moving
    /// `delivered` past it); what it got before an error is kept.
    async fn segment(
        &self,
        from: u64,
        end: u64,
        block: &mut BytesMut,
        delivered: &mut u64,
        permits: &mut mpsc::PermitIterator<'_, io::Result<Bytes>>,
    ) -> io::Result<()> {
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
        let mut stream = result.into_stream();
        while let Some(chunk) = stream.next().await {
            let mut chunk = chunk.map_err(read_error)?;
            while !chunk.is_empty() {
                if block.capacity() == 0 {
                    block.reserve(BLOCK);
                }
                let part = chunk.split_to((BLOCK - block.len()).min(chunk.len()));
                block.extend_from_slice(&part);
                if block.len() == BLOCK {
                    *delivered += BLOCK as u64;
                    if let Some(permit) = permits.next() {
                        permit.send(Ok(std::mem::take(block).freeze()));
                    }
                }
            }
        }
        Ok(())
    }
}
