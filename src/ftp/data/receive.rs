//! The receiving side of an upload (STOR, STOU, APPE): data connection → file writer, committed
//! only at a clean end of data.
//!
//! When the file refuses the data part-way (a quota, a full disk, any write error) the writer is
//! discarded at once, but the data connection is not cut: the rest of what the client sends is
//! read and thrown away, within [`DRAIN_MAX_BYTES`] and [`DRAIN_MAX_TIME`], and the connection is
//! then closed cleanly. A client that is still sending when its connection is torn down reports
//! its own write error ("broken pipe", "connection reset") and never reads the `552`/`452` that
//! says why; one that finishes sending reads it. Past the budget the connection is cut after
//! all: the reply is still sent, but a client that insists on sending gigabytes into a full quota
//! does not get to use the server's bandwidth for it.
//!
//! Cancellation (ABOR, the session's end, shutdown) is watched only while data is still
//! arriving: once the client's data is complete the commit runs to its end, so the log and the
//! reply say what really became of the file.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::AsyncReadExt;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::vfs::FileWriter;

use super::super::proto::ascii::FromNetwork;
use super::outcome::Failure;
use super::secure::{with_timeout, DataStream};

/// Upload bytes gathered before they go to the writer (its block size, so it writes behind).
const RECEIVE_BLOCK_BYTES: usize = crate::vfs::WRITE_BLOCK_BYTES;
/// Most bytes read and discarded after the file refused an upload.
pub(super) const DRAIN_MAX_BYTES: u64 = 128 * 1024 * 1024;
/// Longest time spent reading and discarding after the file refused an upload.
pub(super) const DRAIN_MAX_TIME: Duration = Duration::from_secs(30);
/// Read size while discarding.
const DRAIN_READ_BYTES: usize = 64 * 1024;

/// An upload job with what it reports to.
pub(super) struct Upload<'a> {
    /// The writer; committed only after a clean end of data.
    pub writer: FileWriter,
    /// TYPE A: convert CRLF to LF.
    pub ascii: bool,
    /// Payload bytes received, for STAT and the audit line.
    pub progress: &'a AtomicU64,
    /// ABOR, session end or shutdown.
    pub cancel: &'a CancellationToken,
}

/// Receives the file; see the module docs.
pub(super) async fn receive_file(
    stream: &mut DataStream,
    upload: Upload<'_>,
) -> Result<(), Failure> {
    let Upload {
        mut writer,
        ascii,
        progress,
        cancel,
    } = upload;
    let mut converter = ascii.then(FromNetwork::new);
    let mut converted = Vec::new();
    loop {
        let mut block = BytesMut::with_capacity(RECEIVE_BLOCK_BYTES);
        let filled = tokio::select! {
            () = cancel.cancelled() => Err(Failure::Cancelled),
            filled = fill(stream, &mut block) => filled.map_err(Failure::from),
        };
        let ended = match filled {
            Ok(ended) => ended,
            Err(failure) => {
                writer.abort().await;
                return Err(failure);
            }
        };
        let received = block.len() as u64;
        let data = match &mut converter {
            Some(converter) => {
                converted.clear();
                converter.convert(&block, &mut converted);
                if ended {
                    converter.finish(&mut converted);
                }
                bytes::Bytes::copy_from_slice(&converted)
            }
            None => block.freeze(),
        };
        let written = tokio::select! {
            () = cancel.cancelled() => Err(None),
            written = writer.write_all(data) => written.map_err(Some),
        };
        match written {
            Ok(()) => {}
            Err(None) => {
                writer.abort().await;
                return Err(Failure::Cancelled);
            }
            Err(Some(error)) => {
                writer.abort().await;
                let drained = ended || drain(stream, cancel).await;
                return Err(Failure::File { error, drained });
            }
        }
        progress.fetch_add(received, Ordering::Relaxed);
        if ended {
            return writer
                .commit()
                .await
                .map(drop)
                .map_err(|error| Failure::File {
                    error,
                    drained: true,
                });
        }
    }
}

/// Reads into `block` until it is full or the client's data ends; true at the end.
async fn fill(stream: &mut DataStream, block: &mut BytesMut) -> std::io::Result<bool> {
    let limit = stream.timeout();
    while block.len() < RECEIVE_BLOCK_BYTES {
        if with_timeout(limit, stream.read_buf(block)).await? == 0 {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Reads and discards the rest of the upload within the budget; true when the client's data
/// ended cleanly (so the connection can be closed cleanly too).
async fn drain(stream: &mut DataStream, cancel: &CancellationToken) -> bool {
    let deadline = Instant::now() + DRAIN_MAX_TIME;
    let limit = stream.timeout();
    let mut sink = vec![0u8; DRAIN_READ_BYTES];
    let mut discarded = 0u64;
    let outcome = loop {
        if discarded > DRAIN_MAX_BYTES {
            break "byte budget used up";
        }
        let read = tokio::select! {
            () = cancel.cancelled() => break "cancelled",
            () = tokio::time::sleep_until(deadline) => break "time budget used up",
            read = with_timeout(limit, stream.read(&mut sink)) => read,
        };
        match read {
            Ok(0) => {
                tracing::debug!(
                    discarded,
                    "the rest of a refused upload was read and discarded"
                );
                return true;
            }
            Ok(read) => discarded += read as u64,
            Err(_) => break "data connection failed",
        }
    };
    tracing::info!(
        discarded,
        outcome,
        "stopped discarding a refused upload; cutting the data connection"
    );
    false
}
