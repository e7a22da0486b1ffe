//! The receiving half of SCP (`scp -t TARGET`): the client uploads.
//!
//! Follows OpenSSH's `sink()`: a `C` record names a file inside TARGET when TARGET is a
//! directory, or TARGET itself when it is not; `D` (with `-r`) creates a directory the same
//! way and the records up to its `E` go inside it; `T` gives the next file or directory its
//! times, applied only with `-p`. Every file is an atomic upload: it appears under its name
//! when all of its bytes arrived and the sender acknowledged them, and a refused, short or
//! failed file leaves nothing behind (an existing file of that name stays as it was).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::wire::{audit, resolve, Errors, Stop, Wire, MAX_DEPTH};
use crate::audit::{reason, Action, Outcome};
use crate::sftp::context::SessionContext;
use crate::sftp::errors::Failure;
use crate::sftp::proto::scp::{self as proto, Ack, Invocation, Record};
use crate::vfs::{CommitAttributes, FileWriter, UserFs, VfsError, VirtualPath, WriteMode};

/// A directory entered with `D`, left with `E`.
struct Entered {
    path: VirtualPath,
    /// Its `T` record, applied at `E` with `-p` (entries written inside change its mtime).
    times: Option<(u64, u64)>,
}

/// Receives into `target` until the client ends the transfer.
pub(super) async fn receive(
    wire: &mut Wire,
    context: &SessionContext,
    invocation: &Invocation,
    target: &str,
) -> Result<Errors, Stop> {
    let fs = &context.fs;
    let target = match resolve(target) {
        Ok(target) => target,
        Err(message) => return Err(Stop::Protocol(message)),
    };
    let target_is_dir = fs.stat(&target).await.is_ok_and(|stat| stat.is_dir());
    if invocation.target_is_dir && !target_is_dir {
        let message = format!("{target}: not a directory");
        wire.send(proto::encode_error(true, &message)).await?;
        return Ok(Errors(1));
    }
    wire.send(proto::OK).await?;
    let mut errors = Errors::default();
    let mut entered: Vec<Entered> = Vec::new();
    let mut times = None;
    while let Some(record) = wire.record().await? {
        let (here, here_is_dir) = match entered.last() {
            Some(dir) => (dir.path.clone(), true),
            None => (target.clone(), target_is_dir),
        };
        let destination = |name: &str| -> Result<VirtualPath, Stop> {
            if !here_is_dir {
                return Ok(here.clone());
            }
            here.join_name(name)
                .map_err(|error| Stop::Protocol(format!("{name}: {error}")))
        };
        match record {
            Record::Times { mtime, atime } => {
                times = Some((mtime, atime));
                wire.send(proto::OK).await?;
            }
            Record::File { mode, size, name } => {
                let path = destination(&name)?;
                let file = Incoming {
                    path,
                    mode,
                    size,
                    times: times.take().filter(|_| invocation.preserve),
                };
                receive_file(wire, context, file, &mut errors).await?;
            }
            Record::Dir { mode, name } => {
                if !invocation.recursive {
                    return Err(Stop::Protocol("received directory without -r".to_owned()));
                }
                if entered.len() >= MAX_DEPTH {
                    return Err(Stop::Protocol("directories nested too deep".to_owned()));
                }
                let path = destination(&name)?;
                let dir_times = times.take().filter(|_| invocation.preserve);
                match enter_dir(fs, &path, mode).await {
                    Ok(()) => {
                        wire.send(proto::OK).await?;
                        entered.push(Entered {
                            path,
                            times: dir_times,
                        });
                    }
                    // The sender skips the directory's contents after this refusal.
                    Err(error) => {
                        let failure = Failure::from(error);
                        wire.warn(&mut errors, &format!("{path}: {}", failure.message))
                            .await?;
                    }
                }
            }
            Record::End => {
                wire.send(proto::OK).await?;
                let Some(dir) = entered.pop() else { break };
                if let Some((mtime, atime)) = dir.times {
                    let result = fs.set_times(&dir.path, time(mtime), Some(time(atime)));
                    if let Err(error) = result.await {
                        tracing::debug!(%error, path = %dir.path, "scp -p: times not set");
                    }
                }
            }
            Record::Warning(message) => {
                tracing::info!(%message, "scp sender reported an error");
                errors.0 += 1;
            }
            Record::Fatal(message) => {
                tracing::info!(%message, "scp sender gave up");
                return Err(Stop::Ended);
            }
        }
    }
    Ok(errors)
}

/// A `C` record's file, where it goes.
struct Incoming {
    path: VirtualPath,
    mode: u32,
    size: u64,
    /// With `-p`: its `T` record.
    times: Option<(u64, u64)>,
}

/// Receives one file's bytes into an atomic upload, then commits it or discards it.
async fn receive_file(
    wire: &mut Wire,
    context: &SessionContext,
    file: Incoming,
    errors: &mut Errors,
) -> Result<(), Stop> {
    let started = Instant::now();
    let path = &file.path;
    let mut writer = match context.fs.open_write(path, WriteMode::Replace).await {
        Ok(writer) => writer,
        // Refused before the first byte: the sender skips the file's bytes.
        Err(error) => {
            let failure = Failure::from(error);
            let outcome = Outcome::failed(failure.reason, failure.message.clone());
            audit(context, Action::Upload, path, (0, started), outcome);
            return wire
                .warn(errors, &format!("{path}: {}", failure.message))
                .await;
        }
    };
    wire.send(proto::OK).await?;
    let bytes = Arc::new(AtomicU64::new(0));
    let registration = &context.registration;
    registration.transfer_started(format!("upload {path}"), bytes.clone());
    let received = copy_in(wire, &mut writer, file.size, &bytes).await;
    registration.transfer_ended_for(&bytes);
    let n_bytes = bytes.load(Ordering::Relaxed);
    let failed = |reason: &'static str, message: String| Outcome::failed(reason, message);
    let write_error = match received {
        Err(stop) => {
            writer.abort().await;
            let outcome = match stop {
                Stop::Shutdown => Outcome::aborted(reason::SHUTDOWN, "upload discarded"),
                _ => Outcome::aborted(
                    reason::CONNECTION_LOST,
                    "the client's input ended; upload discarded",
                ),
            };
            audit(context, Action::Upload, path, (n_bytes, started), outcome);
            return Err(match stop {
                Stop::Protocol(message) => Stop::Protocol(format!("{path}: {message}")),
                other => other,
            });
        }
        Ok(write_error) => write_error,
    };
    // After the bytes the sender says whether it could read them all.
    let ack = match wire.ack().await {
        Ok(ack) => ack,
        Err(stop) => {
            writer.abort().await;
            let outcome = Outcome::aborted(reason::CONNECTION_LOST, "no acknowledgement");
            audit(context, Action::Upload, path, (n_bytes, started), outcome);
            return Err(stop);
        }
    };
    match (ack, write_error) {
        (Ack::Fatal(message), _) => {
            writer.abort().await;
            let outcome = Outcome::aborted(reason::REFUSED, message);
            audit(context, Action::Upload, path, (n_bytes, started), outcome);
            Err(Stop::Ended)
        }
        (Ack::Warning(message), _) => {
            // The sender could not read its file and padded it: nothing of it is kept.
            writer.abort().await;
            errors.0 += 1;
            let outcome = failed(reason::REFUSED, message);
            audit(context, Action::Upload, path, (n_bytes, started), outcome);
            wire.send(proto::OK).await
        }
        (Ack::Ok, Some(error)) => {
            writer.abort().await;
            let failure = Failure::from(error);
            let outcome = failed(failure.reason, failure.message.clone());
            audit(context, Action::Upload, path, (n_bytes, started), outcome);
            let message = format!("{path}: {}; upload discarded", failure.message);
            wire.warn(errors, &message).await
        }
        (Ack::Ok, None) => {
            let result = commit(&context.fs, writer, &file).await;
            match result {
                Ok(_) => {
                    audit(
                        context,
                        Action::Upload,
                        path,
                        (n_bytes, started),
                        Outcome::Ok,
                    );
                    wire.send(proto::OK).await
                }
                Err(error) => {
                    let failure = Failure::from(error);
                    let outcome = failed(failure.reason, failure.message.clone());
                    audit(context, Action::Upload, path, (n_bytes, started), outcome);
                    wire.warn(errors, &format!("{path}: {}", failure.message))
                        .await
                }
            }
        }
    }
}

/// Copies exactly `size` bytes from the wire into `writer`. A write error does not stop the
/// copy (the bytes must still be read to stay in step with the sender); it is returned.
async fn copy_in(
    wire: &mut Wire,
    writer: &mut FileWriter,
    size: u64,
    counted: &AtomicU64,
) -> Result<Option<VfsError>, Stop> {
    let mut remaining = size;
    let mut write_error = None;
    while remaining > 0 {
        let data = wire.data(remaining).await?;
        remaining -= data.len() as u64;
        if write_error.is_none() {
            let len = data.len() as u64;
            match writer.write_all(data).await {
                Ok(()) => {
                    counted.fetch_add(len, Ordering::Relaxed);
                }
                Err(error) => write_error = Some(error),
            }
        }
    }
    Ok(write_error)
}

/// Commits an upload with the record's mode (less the umask, as `open(2)` would create it)
/// and, with `-p`, its times. A user who may not set attributes gets the defaults.
async fn commit(fs: &UserFs, writer: FileWriter, file: &Incoming) -> Result<u64, VfsError> {
    let attributes = match fs.check_set_attributes(&file.path) {
        Ok(()) => CommitAttributes {
            mode: Some(file.mode),
            times: file
                .times
                .map(|(mtime, atime)| (time(mtime), Some(time(atime)))),
        },
        Err(_) => CommitAttributes::default(),
    };
    let writer = writer.into_shared().await?;
    match writer.commit_with(attributes).await {
        Ok(size) => Ok(size),
        Err(error) => {
            writer.abort().await;
            Err(error)
        }
    }
}

/// Creates directory `path` (with `mode` less the umask, and always usable by its owner, as
/// OpenSSH's `scp` creates it), or accepts an existing one.
async fn enter_dir(fs: &UserFs, path: &VirtualPath, mode: u32) -> Result<(), VfsError> {
    match fs.stat(path).await {
        Ok(stat) if stat.is_dir() => Ok(()),
        Ok(_) => Err(VfsError::new(crate::vfs::VfsErrorKind::NotADirectory)),
        Err(_) => fs.create_dir_with_mode(path, mode | 0o700).await,
    }
}

/// Seconds since the epoch as a time (clamped far in the future instead of overflowing).
fn time(seconds: u64) -> SystemTime {
    const LATEST: u64 = 1 << 40;
    UNIX_EPOCH + Duration::from_secs(seconds.min(LATEST))
}
