//! `S3Staged`: an upload streamed in order into a multipart upload to the final key, visible
//! only once completed by `publish`.
//!
//! Writes are buffered (without copying: the `Bytes` the VFS hands over are kept and cut at
//! part boundaries) into parts of [`PART_SIZE`]; the multipart upload is created when the
//! first part is full, so a small file is one `PUT` at publish. Parts upload in background
//! tasks, at most [`PARTS_IN_FLIGHT`] at a time: a write that would start another waits for
//! the oldest. Memory per upload is therefore bounded by `PARTS_IN_FLIGHT` parts uploading,
//! one part filling and the block being written: about 24 MiB with 8 MiB parts.
//!
//! Only in-order writes are accepted (`Capabilities::random_writes` is false; the VFS keeps
//! the reorder window for pipelined SFTP writes). `discard` aborts the multipart upload; a
//! staged upload dropped without `publish` or `discard` aborts it from a spawned task when a
//! runtime is there. Parts of a node killed mid-upload stay invisible but stored until the
//! bucket's lifecycle rule `AbortIncompleteMultipartUpload` removes them (docs/storage.md).

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use object_store::aws::AmazonS3;
use object_store::path::Path as Key;
use object_store::{
    MultipartUpload, ObjectStore as _, ObjectStoreExt as _, PutMode, PutMultipartOptions,
    PutOptions, PutPayload,
};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use super::super::contract::{Publish, StagedFile};
use super::errors::{io_error, vfs_error};
use super::stat::synthetic_stat;
use crate::vfs::error::{VfsError, VfsErrorKind};
use crate::vfs::metadata::{FileKind, FileStat};

/// Size of every part but the last (S3's minimum is 5 MiB).
pub(crate) const PART_SIZE: usize = 8 << 20;
/// Parts uploading at once per upload.
pub(crate) const PARTS_IN_FLIGHT: usize = 2;

/// An upload to `key`, not yet published.
#[derive(Debug)]
pub(crate) struct S3Staged {
    store: Arc<AmazonS3>,
    key: Key,
    mode: u32,
    /// The store honours `If-None-Match: *` on a put (see `S3Bucket::probe_create_only`).
    create_only_honoured: bool,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Bytes accepted so far: the only offset the next write may have.
    written: u64,
    /// Accepted bytes not yet in a part.
    filling: Vec<Bytes>,
    filled: usize,
    /// Created when the first part is full.
    multipart: Option<Box<dyn MultipartUpload>>,
    in_flight: VecDeque<JoinHandle<object_store::Result<()>>>,
    /// A part failed: every later write and the publish fail.
    failed: bool,
    /// Published or discarded.
    finished: bool,
}

fn refused(message: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::Unsupported, message)
}

impl S3Staged {
    pub(super) fn new(
        store: Arc<AmazonS3>,
        key: Key,
        mode: u32,
        create_only_honoured: bool,
    ) -> S3Staged {
        S3Staged {
            store,
            key,
            mode,
            create_only_honoured,
            state: Mutex::new(State::default()),
        }
    }

    /// Uploads `part` as the next part, waiting first for the oldest part in flight when
    /// [`PARTS_IN_FLIGHT`] are.
    async fn send_part(&self, state: &mut State, part: Vec<Bytes>) -> io::Result<()> {
        if state.multipart.is_none() {
            let upload = self
                .store
                .put_multipart_opts(&self.key, PutMultipartOptions::default())
                .await
                .map_err(io_error)?;
            state.multipart = Some(upload);
        }
        while state.in_flight.len() >= PARTS_IN_FLIGHT {
            if let Some(oldest) = state.in_flight.pop_front() {
                joined(oldest).await?;
            }
        }
        let Some(upload) = state.multipart.as_mut() else {
            return Err(io::Error::other("multipart upload missing"));
        };
        let pending = upload.put_part(part.into_iter().collect::<PutPayload>());
        state.in_flight.push_back(tokio::spawn(pending));
        Ok(())
    }

    /// Waits for every part in flight.
    async fn drain(state: &mut State) -> io::Result<()> {
        while let Some(oldest) = state.in_flight.pop_front() {
            joined(oldest).await?;
        }
        Ok(())
    }

    /// Aborts the multipart upload, if any, and forgets the buffered bytes.
    async fn abort(state: &mut State) {
        state.finished = true;
        state.filling.clear();
        for task in state.in_flight.drain(..) {
            task.abort();
        }
        if let Some(mut upload) = state.multipart.take() {
            if let Err(error) = upload.abort().await {
                tracing::warn!(%error, "could not abort a multipart upload (the bucket's lifecycle rule removes its parts)");
            }
        }
    }

    async fn finish(&self, state: &mut State, publish: Publish) -> Result<Option<u64>, VfsError> {
        let conditional = publish == Publish::Exclusive && self.create_only_honoured;
        let filling: Vec<Bytes> = std::mem::take(&mut state.filling);
        state.filled = 0;
        if state.multipart.is_none() {
            let replaced = if conditional {
                None
            } else {
                self.existing(publish).await?
            };
            let options = PutOptions {
                mode: if conditional {
                    PutMode::Create
                } else {
                    PutMode::Overwrite
                },
                ..PutOptions::default()
            };
            let payload = filling.into_iter().collect::<PutPayload>();
            self.store
                .put_opts(&self.key, payload, options)
                .await
                .map_err(vfs_error)?;
            return Ok(replaced);
        }
        if !filling.is_empty() {
            self.send_part(state, filling).await?;
        }
        Self::drain(state).await?;
        // `object_store` has no conditional completion: an exclusive publish checks just
        // before completing, and another node can still create the key in between.
        let replaced = self.existing(publish).await?;
        let Some(upload) = state.multipart.as_mut() else {
            return Err(VfsError::with_detail(
                VfsErrorKind::Io,
                "multipart upload missing",
            ));
        };
        upload.complete().await.map_err(vfs_error)?;
        state.multipart = None;
        Ok(replaced)
    }

    /// The size of the object a publish would replace (for the quota); `AlreadyExists` when
    /// there is one and the publish is exclusive.
    async fn existing(&self, publish: Publish) -> Result<Option<u64>, VfsError> {
        let size = match self.store.head(&self.key).await {
            Ok(meta) => Some(meta.size),
            Err(object_store::Error::NotFound { .. }) => None,
            Err(error) => return Err(vfs_error(error)),
        };
        match (publish, size) {
            (Publish::Exclusive, Some(_)) => Err(VfsError::new(VfsErrorKind::AlreadyExists)),
            _ => Ok(size),
        }
    }
}

async fn joined(task: JoinHandle<object_store::Result<()>>) -> io::Result<()> {
    match task.await {
        Ok(result) => result.map_err(io_error),
        Err(error) => Err(io::Error::other(error)),
    }
}

impl StagedFile for S3Staged {
    async fn write_at(&self, offset: u64, data: Bytes) -> io::Result<()> {
        let mut state = self.state.lock().await;
        if state.finished {
            return Err(io::Error::other("the upload is already finished"));
        }
        if state.failed {
            return Err(io::Error::other("an earlier part of this upload failed"));
        }
        if offset != state.written {
            return Err(refused("object storage accepts writes only in order"));
        }
        state.written += data.len() as u64;
        state.filled += data.len();
        state.filling.push(data);
        while state.filled >= PART_SIZE {
            let part = cut_part(&mut state.filling, PART_SIZE);
            state.filled -= PART_SIZE;
            if let Err(error) = self.send_part(&mut state, part).await {
                state.failed = true;
                return Err(error);
            }
        }
        Ok(())
    }

    async fn set_len(&self, length: u64) -> io::Result<()> {
        if self.state.lock().await.written == length {
            Ok(())
        } else {
            Err(refused(
                "object storage can only keep an upload at the length written",
            ))
        }
    }

    async fn sync(&self) -> io::Result<()> {
        Ok(())
    }

    async fn stat(&self) -> io::Result<FileStat> {
        let written = self.state.lock().await.written;
        Ok(synthetic_stat(
            FileKind::File,
            written,
            self.mode,
            SystemTime::now(),
            self.key.as_ref(),
        ))
    }

    async fn set_mode(&self, _mode: u32) -> io::Result<()> {
        Ok(())
    }

    async fn set_times(&self, _mtime: SystemTime, _atime: Option<SystemTime>) -> io::Result<()> {
        Ok(())
    }

    async fn publish(&self, publish: Publish) -> Result<Option<u64>, VfsError> {
        let mut state = self.state.lock().await;
        if state.finished || state.failed {
            return Err(VfsError::with_detail(
                VfsErrorKind::Io,
                "the upload failed or is finished",
            ));
        }
        let result = self.finish(&mut state, publish).await;
        // Whatever happened, nothing of a failed publish may become visible later.
        Self::abort(&mut state).await;
        result
    }

    async fn discard(&self) {
        Self::abort(&mut *self.state.lock().await).await;
    }
}

/// The first `size` bytes of `filling`, cutting the block that crosses the boundary (no copy).
fn cut_part(filling: &mut Vec<Bytes>, size: usize) -> Vec<Bytes> {
    let mut part = Vec::new();
    let mut taken = 0;
    let mut rest = filling.drain(..).collect::<VecDeque<Bytes>>();
    while taken < size {
        let Some(mut block) = rest.pop_front() else {
            break;
        };
        if taken + block.len() > size {
            let head = block.split_to(size - taken);
            rest.push_front(block);
            block = head;
        }
        taken += block.len();
        part.push(block);
    }
    filling.extend(rest);
    part
}

impl Drop for S3Staged {
    fn drop(&mut self) {
        let state = self.state.get_mut();
        for task in state.in_flight.drain(..) {
            task.abort();
        }
        let Some(mut upload) = state.multipart.take() else {
            return;
        };
        // Not completed, so nothing is visible; the abort frees the parts now rather than at
        // the lifecycle rule's deadline.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = upload.abort().await;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_cut_at_the_boundary_without_losing_bytes() {
        let mut filling = vec![
            Bytes::from_static(b"abc"),
            Bytes::from_static(b"defgh"),
            Bytes::from_static(b"ij"),
        ];
        let part = cut_part(&mut filling, 5);
        assert_eq!(part.concat(), b"abcde");
        assert_eq!(filling.concat(), b"fghij");
        let part = cut_part(&mut filling, 5);
        assert_eq!(part.concat(), b"fghij");
        assert!(filling.is_empty());
    }
}
