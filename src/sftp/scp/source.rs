//! The sending half of SCP (`scp -f PATH…`): the client downloads.
//!
//! Follows OpenSSH's `source()` and `rsource()`: each path is sent as a `C` record and its
//! bytes (a directory, with `-r`, as `D`, its entries, `E`), preceded by a `T` record with
//! `-p`; after each record the receiver acknowledges, and a refusal (`0x01`) skips that file
//! or directory. Paths are not globbed: there is no shell to expand them. Inside a directory
//! sent with `-r`, symbolic links to files are followed and links to directories are not
//! (each is reported): the tree sent is never larger than the tree on disk.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use super::wire::{audit, epoch_seconds, resolve, Errors, Stop, Wire, MAX_DEPTH};
use crate::audit::{reason, Action, Outcome};
use crate::sftp::context::SessionContext;
use crate::sftp::errors::Failure;
use crate::sftp::proto::scp::{self as proto, Ack, Invocation};
use crate::vfs::{FileStat, VfsError, VirtualPath, MAX_LIST_BATCH};

/// Sends `paths` once the receiver is ready.
pub(super) async fn send(
    wire: &mut Wire,
    context: &SessionContext,
    invocation: &Invocation,
    paths: &[String],
) -> Result<Errors, Stop> {
    let mut sender = Sender {
        context,
        invocation,
        errors: Errors::default(),
    };
    if !sender.accepted(wire).await? {
        return Ok(sender.errors);
    }
    for raw in paths {
        let path = match resolve(raw) {
            Ok(path) => path,
            Err(message) => {
                wire.warn(&mut sender.errors, &message).await?;
                continue;
            }
        };
        let stat = match context.fs.stat(&path).await {
            Ok(stat) => stat,
            Err(error) => {
                sender.refuse(wire, &path, error).await?;
                continue;
            }
        };
        // The home has no name of its own in the view; the user's name stands in for it.
        let name = path.file_name().unwrap_or(context.fs.user()).to_owned();
        sender.send_entry(wire, &path, &name, &stat, 0).await?;
    }
    Ok(sender.errors)
}

struct Sender<'a> {
    context: &'a SessionContext,
    invocation: &'a Invocation,
    errors: Errors,
}

impl Sender<'_> {
    /// Sends one file or directory found at `path` as `name`.
    async fn send_entry(
        &mut self,
        wire: &mut Wire,
        path: &VirtualPath,
        name: &str,
        stat: &FileStat,
        depth: usize,
    ) -> Result<(), Stop> {
        wire.check_shutdown()?;
        if !proto::is_sendable_name(name) {
            let message = format!("{path}: name cannot be sent over scp");
            return wire.warn(&mut self.errors, &message).await;
        }
        if stat.is_dir() {
            if !self.invocation.recursive {
                let message = format!("{path}: not a regular file");
                return wire.warn(&mut self.errors, &message).await;
            }
            return Box::pin(self.send_dir(wire, path, name, stat, depth)).await;
        }
        if !stat.is_file() {
            let message = format!("{path}: not a regular file");
            return wire.warn(&mut self.errors, &message).await;
        }
        self.send_file(wire, path, name).await
    }

    async fn send_file(
        &mut self,
        wire: &mut Wire,
        path: &VirtualPath,
        name: &str,
    ) -> Result<(), Stop> {
        let started = Instant::now();
        let context = self.context;
        let opened = match context.fs.open_read(path, 0).await {
            Ok(reader) => reader.stat().await.map(|stat| (reader, stat)),
            Err(error) => Err(error),
        };
        let (mut reader, stat) = match opened {
            Ok(opened) => opened,
            Err(error) => return self.refuse(wire, path, error).await,
        };
        let record = proto::encode_file(stat.mode, stat.size, name);
        if !self.announce(wire, &stat, record).await? {
            return Ok(());
        }
        let bytes = Arc::new(AtomicU64::new(0));
        let registration = &context.registration;
        registration.transfer_started(format!("download {path}"), bytes.clone());
        let sent = copy_out(wire, &mut reader, stat.size, &bytes).await;
        registration.transfer_ended_for(&bytes);
        let n_bytes = bytes.load(Ordering::Relaxed);
        let read_error = match sent {
            Ok(read_error) => read_error,
            Err(stop) => {
                let outcome = Outcome::aborted(reason::CONNECTION_LOST, "the client went away");
                audit(context, Action::Download, path, (n_bytes, started), outcome);
                return Err(stop);
            }
        };
        let read_failure = read_error.map(Failure::from);
        match &read_failure {
            None => wire.send(proto::OK).await?,
            Some(failure) => {
                self.errors.0 += 1;
                let message = format!("{path}: {}", failure.message);
                wire.send(proto::encode_error(false, &message)).await?;
            }
        }
        let outcome = match (read_failure, wire.ack().await?) {
            (_, Ack::Fatal(message)) => {
                let outcome = Outcome::aborted(reason::REFUSED, message);
                audit(context, Action::Download, path, (n_bytes, started), outcome);
                return Err(Stop::Ended);
            }
            (Some(failure), _) => Outcome::failed(failure.reason, failure.message),
            (None, Ack::Warning(message)) => {
                self.errors.0 += 1;
                Outcome::failed(reason::REFUSED, message)
            }
            (None, Ack::Ok) => Outcome::Ok,
        };
        audit(context, Action::Download, path, (n_bytes, started), outcome);
        Ok(())
    }

    async fn send_dir(
        &mut self,
        wire: &mut Wire,
        path: &VirtualPath,
        name: &str,
        stat: &FileStat,
        depth: usize,
    ) -> Result<(), Stop> {
        if depth >= MAX_DEPTH {
            let message = format!("{path}: directories nested too deep");
            return wire.warn(&mut self.errors, &message).await;
        }
        let fs = &self.context.fs;
        let mut lister = match fs.list_dir(path).await {
            Ok(lister) => lister,
            Err(error) => return self.refuse(wire, path, error).await,
        };
        let record = proto::encode_dir(stat.mode, name);
        if !self.announce(wire, stat, record).await? {
            return Ok(());
        }
        loop {
            let batch = match lister.next_batch(MAX_LIST_BATCH).await {
                Ok(batch) => batch,
                Err(error) => {
                    self.refuse(wire, path, error).await?;
                    break;
                }
            };
            if batch.is_empty() {
                break;
            }
            for entry in batch {
                let child = match path.join_name(&entry.name) {
                    Ok(child) => child,
                    Err(error) => {
                        let message = format!("{path}/{}: {error}", entry.name);
                        wire.warn(&mut self.errors, &message).await?;
                        continue;
                    }
                };
                let child_stat = match fs.stat(&child).await {
                    Ok(stat) => stat,
                    Err(error) => {
                        self.refuse(wire, &child, error).await?;
                        continue;
                    }
                };
                // Links to files are followed, as `scp -r` follows them; links to directories
                // are not: two links to `.` would make the tree grow without end.
                if entry.stat.is_symlink() && child_stat.is_dir() {
                    let message = format!("{child}: link to a directory, not followed");
                    wire.warn(&mut self.errors, &message).await?;
                    continue;
                }
                self.send_entry(wire, &child, &entry.name, &child_stat, depth + 1)
                    .await?;
            }
        }
        wire.send(proto::END).await?;
        self.accepted(wire).await.map(drop)
    }

    /// Sends the `C` or `D` `record` of an entry, preceded with `-p` by its `T` record; false
    /// if the receiver refused either, which skips the entry (it then expects the next one).
    async fn announce(
        &mut self,
        wire: &mut Wire,
        stat: &FileStat,
        record: Vec<u8>,
    ) -> Result<bool, Stop> {
        if self.invocation.preserve {
            let times = proto::encode_times(epoch_seconds(stat.mtime), epoch_seconds(stat.atime));
            wire.send(times).await?;
            if !self.accepted(wire).await? {
                return Ok(false);
            }
        }
        wire.send(record).await?;
        self.accepted(wire).await
    }

    /// Waits for the receiver's acknowledgement: true for `0x00`, false for a refusal of
    /// this entry (counted as an error), a stop when it gives up.
    async fn accepted(&mut self, wire: &mut Wire) -> Result<bool, Stop> {
        match wire.ack().await? {
            Ack::Ok => Ok(true),
            Ack::Warning(message) => {
                tracing::info!(%message, "scp receiver refused an entry");
                self.errors.0 += 1;
                Ok(false)
            }
            Ack::Fatal(message) => {
                tracing::info!(%message, "scp receiver gave up");
                Err(Stop::Ended)
            }
        }
    }

    /// Reports that `path` cannot be sent, and records a failed download.
    async fn refuse(
        &mut self,
        wire: &mut Wire,
        path: &VirtualPath,
        error: VfsError,
    ) -> Result<(), Stop> {
        let failure = Failure::from(error);
        let outcome = Outcome::failed(failure.reason, failure.message.clone());
        audit(
            self.context,
            Action::Download,
            path,
            (0, Instant::now()),
            outcome,
        );
        let message = format!("{path}: {}", failure.message);
        wire.warn(&mut self.errors, &message).await
    }
}

/// Sends exactly `size` bytes of `reader`. A file that shrank meanwhile is padded with zeros
/// (the receiver counts on `size` bytes) and its read error returned; one that grew is cut.
async fn copy_out(
    wire: &mut Wire,
    reader: &mut crate::vfs::FileReader,
    size: u64,
    counted: &AtomicU64,
) -> Result<Option<VfsError>, Stop> {
    let mut remaining = size;
    let mut read_error = None;
    while remaining > 0 {
        let block = match reader.read_block().await {
            Ok(Some(block)) => block,
            Ok(None) => {
                read_error = Some(VfsError::with_detail(
                    crate::vfs::VfsErrorKind::Io,
                    "file shrank while being sent",
                ));
                break;
            }
            Err(error) => {
                read_error = Some(error);
                break;
            }
        };
        let len = (block.len() as u64).min(remaining);
        let block = block.slice(..usize::try_from(len).unwrap_or(block.len()));
        wire.send(block).await?;
        remaining -= len;
        counted.fetch_add(len, Ordering::Relaxed);
    }
    const PAD_BYTES: u64 = 64 * 1024;
    while remaining > 0 {
        let len = remaining.min(PAD_BYTES);
        wire.send(vec![0u8; len as usize]).await?;
        remaining -= len;
    }
    Ok(read_error)
}
