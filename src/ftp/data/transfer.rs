//! A transfer task: open the data connection (`accept`, `secure`), move the bytes (downloads
//! and listings here, with TYPE A conversion; uploads in `receive`), close with `close_notify`.
//!
//! Bandwidth limits are the user's buckets inside the `vfs` reader and writer, so every
//! protocol shares them; this loop only moves blocks.
//!
//! Throughput: socket reads go through a 256 KiB buffer (rustls itself reads 4 KiB per call),
//! downloads write 256 KiB blocks while the reader fetches the next one, and uploads hand the
//! writer full 256 KiB blocks that it writes behind, so disk and network overlap both ways.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::vfs::{DirLister, FileKind, FileReader, FileWriter, UserFs, VirtualPath};

use super::super::listing::{self, Facts, Role};
use super::super::proto::ascii::ToNetwork;
use super::accept::{open, DataSetup};
use super::outcome::{Failure, Outcome};
use super::receive;
use super::secure::{with_timeout, DataStream};

/// Directory entries formatted per batch.
const LIST_BATCH: usize = 512;
/// How long a closed data connection waits for the client's own close before being dropped.
const LINGER: Duration = Duration::from_secs(2);

/// What a transfer does once connected.
#[derive(Debug)]
pub enum Job {
    /// RETR: send a file.
    Download {
        /// The open file, positioned at the REST offset.
        reader: FileReader,
        /// TYPE A: convert LF to CRLF.
        ascii: bool,
    },
    /// STOR, STOU, APPE: receive a file.
    Upload {
        /// The writer; committed only after a clean end of data.
        writer: FileWriter,
        /// TYPE A: convert CRLF to LF.
        ascii: bool,
    },
    /// LIST, NLST, MLSD: send a directory listing.
    Listing(Listing),
    /// A listing already formatted (LIST or NLST of a single file).
    Text(Vec<u8>),
}

/// A listing job.
#[derive(Debug)]
pub struct Listing {
    /// For following symlinks and per-entry permissions.
    pub fs: UserFs,
    /// The listed directory.
    pub dir: VirtualPath,
    /// Its entries.
    pub lister: DirLister,
    /// The line format.
    pub format: ListFormat,
}

/// Listing line formats.
#[derive(Debug, Clone, Copy)]
pub enum ListFormat {
    /// `ls -l` lines.
    List,
    /// Names only.
    Nlst,
    /// MLSD facts with this selection.
    Mlsd(Facts),
}

/// Opens the data connection and runs `job`; `progress` counts payload bytes for STAT.
pub async fn run(
    setup: DataSetup,
    job: Job,
    progress: Arc<AtomicU64>,
    cancel: CancellationToken,
    tasks: TaskTracker,
) -> Outcome {
    let bytes = || progress.load(Ordering::Relaxed);
    let stream = tokio::select! {
        () = cancel.cancelled() => return Outcome::Aborted { bytes: 0 },
        stream = open(setup) => stream,
    };
    let mut stream = match stream {
        Ok(stream) => stream,
        Err(error) => return Outcome::Data(error),
    };
    let result = copy(&mut stream, job, &progress, &cancel).await;
    match result {
        Ok(()) => {
            close(stream, &tasks).await;
            Outcome::Complete { bytes: bytes() }
        }
        Err(Failure::Cancelled) => Outcome::Aborted { bytes: bytes() },
        Err(Failure::File { error, drained }) => {
            if drained {
                close(stream, &tasks).await;
            }
            Outcome::File {
                error,
                bytes: bytes(),
            }
        }
        Err(Failure::Connection { reason, detail }) => Outcome::ConnectionLost {
            bytes: bytes(),
            reason,
            detail,
        },
    }
}

/// Ends a data connection that carried its data: after an upload the client waits for our
/// close; after a download it needs our close_notify to know the file is complete (FileZilla
/// reports truncation otherwise).
async fn close(mut stream: DataStream, tasks: &TaskTracker) {
    if let Err(error) = with_timeout(stream.timeout(), stream.shutdown()).await {
        tracing::debug!(%error, "closing the data connection failed");
    }
    tasks.spawn(linger(stream));
}

/// Runs `job` on `stream`. Sending stops as soon as `cancel` fires; an upload watches `cancel`
/// itself, because once its data is complete the commit must not be cut: the rename may
/// already be done, and the log must say what became of the file.
async fn copy(
    stream: &mut DataStream,
    job: Job,
    progress: &AtomicU64,
    cancel: &CancellationToken,
) -> Result<(), Failure> {
    match job {
        Job::Upload { writer, ascii } => {
            let upload = receive::Upload {
                writer,
                ascii,
                progress,
                cancel,
            };
            receive::receive_file(stream, upload).await
        }
        Job::Download { reader, ascii } => {
            cancellable(cancel, send_file(stream, reader, ascii, progress)).await
        }
        Job::Listing(listing) => cancellable(cancel, send_listing(stream, listing, progress)).await,
        Job::Text(text) => cancellable(cancel, send_text(stream, &text, progress)).await,
    }
}

async fn cancellable(
    cancel: &CancellationToken,
    sending: impl std::future::Future<Output = Result<(), Failure>>,
) -> Result<(), Failure> {
    tokio::select! {
        () = cancel.cancelled() => Err(Failure::Cancelled),
        result = sending => result,
    }
}

async fn send_text(
    stream: &mut DataStream,
    text: &[u8],
    progress: &AtomicU64,
) -> Result<(), Failure> {
    with_timeout(stream.timeout(), stream.write_all(text)).await?;
    progress.fetch_add(text.len() as u64, Ordering::Relaxed);
    Ok(())
}

async fn send_file(
    stream: &mut DataStream,
    mut reader: FileReader,
    ascii: bool,
    progress: &AtomicU64,
) -> Result<(), Failure> {
    let mut converter = ascii.then(ToNetwork::new);
    let mut converted = Vec::new();
    while let Some(block) = reader.read_block().await.map_err(Failure::file)? {
        let bytes: &[u8] = match &mut converter {
            Some(converter) => {
                converted.clear();
                converter.convert(&block, &mut converted);
                &converted
            }
            None => &block,
        };
        with_timeout(stream.timeout(), stream.write_all(bytes)).await?;
        progress.fetch_add(block.len() as u64, Ordering::Relaxed);
    }
    Ok(())
}

async fn send_listing(
    stream: &mut DataStream,
    mut listing: Listing,
    progress: &AtomicU64,
) -> Result<(), Failure> {
    let now = SystemTime::now();
    let mut out = Vec::with_capacity(64 * 1024);
    if let ListFormat::Mlsd(facts) = listing.format {
        let stat = listing.fs.stat(&listing.dir).await.map_err(Failure::file)?;
        let permissions = listing.fs.permissions_at(&listing.dir);
        let line = listing::facts(&stat, Role::Current, permissions, facts);
        listing::mlsd_line(".", &line, &mut out);
    }
    loop {
        let batch = listing
            .lister
            .next_batch(LIST_BATCH)
            .await
            .map_err(Failure::file)?;
        if batch.is_empty() {
            break;
        }
        for entry in batch {
            let Ok(path) = listing.dir.join_name(&entry.name) else {
                continue;
            };
            let mut stat = entry.stat;
            if stat.kind == FileKind::Symlink {
                // Show what the link leads to, so clients can open it; a dangling link or one
                // leaving the view stays a link.
                if let Ok(target) = listing.fs.stat(&path).await {
                    stat = target;
                }
            }
            match listing.format {
                ListFormat::List => listing::list_line(&entry.name, &stat, now, &mut out),
                ListFormat::Nlst => listing::nlst_line(&entry.name, &mut out),
                ListFormat::Mlsd(facts) => {
                    let permissions = listing.fs.permissions_at(&path);
                    let line = listing::facts(&stat, Role::Entry, permissions, facts);
                    listing::mlsd_line(&entry.name, &line, &mut out);
                }
            }
        }
        with_timeout(stream.timeout(), stream.write_all(&out)).await?;
        progress.fetch_add(out.len() as u64, Ordering::Relaxed);
        out.clear();
    }
    if !out.is_empty() {
        with_timeout(stream.timeout(), stream.write_all(&out)).await?;
        progress.fetch_add(out.len() as u64, Ordering::Relaxed);
    }
    Ok(())
}

/// Reads until the client closes too, briefly, so its late close_notify meets an open socket
/// instead of provoking a reset.
async fn linger(mut stream: DataStream) {
    let mut sink = [0u8; 1024];
    let drain = async { while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {} };
    let _ = tokio::time::timeout(LINGER, drain).await;
}
