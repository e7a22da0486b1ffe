//! `FileReader`: an open file for downloads, sequential (FTP `RETR`) or positional (SFTP `READ`).
//!
//! Every read is a `pread` in a blocking task, so the sequential cursor and positional reads
//! never disturb each other and one handle can serve concurrent SFTP requests. Sequential reads
//! move 256 KiB per blocking call and keep one block of read-ahead in flight, so the disk works
//! while the network sends the previous block. On a backend whose futures really wait (object
//! storage: a ranged `GET` per read) the reads are awaited on the runtime instead, positional
//! ones in the caller's task and the read-ahead in a task of its own. A user's download rate limit is applied per
//! block handed out (the read-ahead may run ahead of it by one block, which costs no bandwidth).

use std::sync::Arc;

use bytes::Bytes;
use tokio::task::JoinHandle;

use super::bandwidth::{throttle, TokenBucket};
use super::error::{VfsError, VfsErrorKind};
use super::metadata::FileStat;
use super::path::VirtualPath;
use super::storage::{wait_io, RangeReader as _, ReadNow, Reader};

/// Bytes per sequential block.
pub const READ_BLOCK_BYTES: usize = 256 * 1024;
/// Largest positional read served at once; larger requests return a short read.
pub const MAX_READ_AT_BYTES: usize = 4 * 1024 * 1024;

/// An open regular file, readable from any offset.
#[derive(Debug)]
pub struct FileReader {
    shared: Arc<Shared>,
    position: u64,
    read_ahead: Option<(u64, JoinHandle<Result<Bytes, VfsError>>)>,
}

#[derive(Debug)]
struct Shared {
    reader: Reader,
    /// The backend blocks (`Capabilities::blocking`): reads go to the blocking pool.
    blocking: bool,
    path: VirtualPath,
    /// The user's download bucket; `None` when unlimited.
    throttle: Option<Arc<TokenBucket>>,
}

impl FileReader {
    pub(crate) fn new(
        reader: Reader,
        blocking: bool,
        path: VirtualPath,
        offset: u64,
        throttle: Option<Arc<TokenBucket>>,
    ) -> FileReader {
        FileReader {
            shared: Arc::new(Shared {
                reader,
                blocking,
                path,
                throttle,
            }),
            position: offset,
            read_ahead: None,
        }
    }

    /// The next block from the sequential position (at most 256 KiB); `None` at end of file.
    pub async fn read_block(&mut self) -> Result<Option<Bytes>, VfsError> {
        let block = match self.read_ahead.take() {
            Some((offset, task)) if offset == self.position => join(task).await?,
            _ => read_task(&self.shared, self.position, READ_BLOCK_BYTES)
                .await
                .map_err(|_| joined())??,
        };
        if block.is_empty() {
            return Ok(None);
        }
        throttle(self.shared.throttle.as_ref(), block.len()).await;
        self.position += block.len() as u64;
        // A full block suggests more follows; a short one is (almost always) the end, and the
        // next call confirms it without a wasted read-ahead.
        if block.len() == READ_BLOCK_BYTES {
            let task = read_task(&self.shared, self.position, READ_BLOCK_BYTES);
            self.read_ahead = Some((self.position, task));
        }
        Ok(Some(block))
    }

    /// Reads up to `length` bytes at `offset` without moving the sequential position; an empty
    /// result means end of file. Usable concurrently through `&self`.
    pub async fn read_at(&self, offset: u64, length: usize) -> Result<Bytes, VfsError> {
        let length = length.min(MAX_READ_AT_BYTES);
        let data = if self.shared.blocking {
            join(read_task(&self.shared, offset, length)).await?
        } else {
            self.shared.read_now(offset, length).await?
        };
        throttle(self.shared.throttle.as_ref(), data.len()).await;
        Ok(data)
    }

    /// `read_at` with the bytes appended to `buffer`, which comes back with them: a reply's
    /// header can go in front without the bytes being copied again (SFTP `READ`).
    pub async fn read_at_into(
        &self,
        offset: u64,
        length: usize,
        mut buffer: Vec<u8>,
    ) -> Result<Vec<u8>, VfsError> {
        let length = length.min(MAX_READ_AT_BYTES);
        let start = buffer.len();
        let buffer = if self.shared.blocking {
            // What needs no device is read here; the rest (all of it, mostly, on a cold
            // cache) in the blocking pool.
            let now = match self.shared.reader.read_at_now(offset, length, &mut buffer) {
                Some(read) => read.map_err(|error| io_error(error, &self.shared.path))?,
                None => ReadNow {
                    appended: 0,
                    complete: false,
                },
            };
            if now.complete {
                buffer
            } else {
                let shared = self.shared.clone();
                let (offset, length) = (
                    offset.saturating_add(now.appended as u64),
                    length.saturating_sub(now.appended),
                );
                tokio::task::spawn_blocking(move || {
                    wait_io(shared.reader.read_at_into(offset, length, &mut buffer))
                        .map(|_| buffer)
                        .map_err(|error| io_error(error, &shared.path))
                })
                .await
                .map_err(|_| joined())??
            }
        } else {
            let read = self
                .shared
                .reader
                .read_at_into(offset, length, &mut buffer)
                .await;
            read.map_err(|error| io_error(error, &self.shared.path))?;
            buffer
        };
        throttle(self.shared.throttle.as_ref(), buffer.len() - start).await;
        Ok(buffer)
    }

    /// Moves the sequential position (discarding any read-ahead).
    pub fn seek(&mut self, position: u64) {
        self.position = position;
        self.read_ahead = None;
    }

    /// The sequential position: the offset the next `read_block` starts at.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Current metadata of the open file (`fstat`).
    pub async fn stat(&self) -> Result<FileStat, VfsError> {
        if !self.shared.blocking {
            let stat = self.shared.reader.stat().await;
            return stat.map_err(|error| io_error(error, &self.shared.path));
        }
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || {
            wait_io(shared.reader.stat()).map_err(|error| io_error(error, &shared.path))
        })
        .await
        .map_err(|_| joined())?
    }

    /// The virtual path the file was opened as.
    pub fn path(&self) -> &VirtualPath {
        &self.shared.path
    }

    /// Whether reads go to the blocking pool.
    #[cfg(test)]
    pub(crate) fn is_blocking(&self) -> bool {
        self.shared.blocking
    }
}

fn read_task(
    shared: &Arc<Shared>,
    offset: u64,
    length: usize,
) -> JoinHandle<Result<Bytes, VfsError>> {
    let shared = shared.clone();
    if !shared.blocking {
        return tokio::spawn(async move { shared.read_now(offset, length).await });
    }
    // Per block: one hand-off to the blocking pool, one `RangeReader::read_at` (a `pread`
    // loop for a local file), as before the storage seam.
    tokio::task::spawn_blocking(move || {
        wait_io(shared.reader.read_at(offset, length))
            .map_err(|error| io_error(error, &shared.path))
    })
}

impl Shared {
    /// A read awaited on the runtime (non-blocking backends only).
    async fn read_now(&self, offset: u64, length: usize) -> Result<Bytes, VfsError> {
        let data = self.reader.read_at(offset, length).await;
        data.map_err(|error| io_error(error, &self.path))
    }
}

async fn join(task: JoinHandle<Result<Bytes, VfsError>>) -> Result<Bytes, VfsError> {
    task.await.map_err(|_| joined())?
}

fn io_error(error: std::io::Error, path: &VirtualPath) -> VfsError {
    VfsError::from_io(error).at(path)
}

/// The blocking task panicked or was cancelled at shutdown.
pub(crate) fn joined() -> VfsError {
    VfsError::with_detail(VfsErrorKind::Io, "background task failed")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader_over(data: &[u8], offset: u64) -> FileReader {
        let mut file = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut file, data).unwrap();
        FileReader::new(Reader::local(file), true, VirtualPath::root(), offset, None)
    }

    /// A reader of `data` in a file in `dir`.
    fn reader_in(dir: &str, data: &[u8]) -> Option<FileReader> {
        let mut file = tempfile::tempfile_in(dir).ok()?;
        std::io::Write::write_all(&mut file, data).unwrap();
        let reader = Reader::local(file);
        Some(FileReader::new(reader, true, VirtualPath::root(), 0, None))
    }

    #[tokio::test]
    async fn positional_reads_land_after_the_room_left_for_a_header() {
        let data: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
        // On disk (read inline when cached, else in the blocking pool) and in memory.
        for dir in [".", "/dev/shm"] {
            let Some(reader) = reader_in(dir, &data) else {
                continue;
            };
            let read = reader
                .read_at_into(1000, 40_000, vec![7; 13])
                .await
                .unwrap();
            assert_eq!(read[..13], [7; 13], "{dir}");
            assert_eq!(read[13..], data[1000..41_000], "{dir}");
            let tail = reader.read_at_into(99_990, 40_000, vec![1]).await.unwrap();
            assert_eq!(tail[1..], data[99_990..], "{dir}");
            let end = reader.read_at_into(100_000, 10, vec![1]).await.unwrap();
            assert_eq!(end, [1], "{dir}");
            // A request past the largest positional read is served short, not refused.
            let long = reader
                .read_at_into(0, usize::MAX, Vec::new())
                .await
                .unwrap();
            assert_eq!(long, data, "{dir}");
        }
    }

    #[tokio::test]
    async fn sequential_blocks_cover_the_file() {
        let data: Vec<u8> = (0..READ_BLOCK_BYTES * 2 + 17).map(|i| i as u8).collect();
        let mut reader = reader_over(&data, 0);
        let mut out = Vec::new();
        while let Some(block) = reader.read_block().await.unwrap() {
            assert!(block.len() <= READ_BLOCK_BYTES);
            out.extend_from_slice(&block);
        }
        assert_eq!(out, data);
        assert_eq!(reader.position(), data.len() as u64);
        assert!(reader.read_block().await.unwrap().is_none());
    }

    #[tokio::test]
    async fn offset_seek_and_positional_reads() {
        let data = b"0123456789";
        let mut reader = reader_over(data, 4);
        assert_eq!(reader.read_block().await.unwrap().unwrap(), &b"456789"[..]);
        reader.seek(8);
        assert_eq!(reader.read_block().await.unwrap().unwrap(), &b"89"[..]);
        assert_eq!(reader.read_at(2, 3).await.unwrap(), &b"234"[..]);
        assert!(reader.read_at(10, 3).await.unwrap().is_empty());
        assert_eq!(reader.stat().await.unwrap().size, 10);
    }
}
