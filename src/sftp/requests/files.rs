//! Open files: OPEN, CLOSE, READ, WRITE, FSTAT, FSETSTAT, `fsync@openssh.com`, `copy-data`.
//!
//! OPEN maps `pflags` onto the VFS write modes: `CREAT|TRUNC` (what every client sends for an
//! upload) is the atomic `Replace` mode, `CREAT|EXCL` is `CreateNew`, `APPEND` appends, anything
//! else writes in place. Atomic uploads appear under their name only when CLOSE commits them;
//! a session that ends first discards them ([`discard_handles`]). READ and WRITE are positional,
//! so the session can run many of them on one handle at once.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio_util::sync::DropGuard;

use super::paths;
use super::reply::{encode, ok, status};
use crate::audit::{Action, Outcome};
use crate::sftp::context::{resolve, AuditDetail, Context, SessionContext};
use crate::sftp::errors::Failure;
use crate::sftp::handles::{Handle, OpenFile, Resolved};
use crate::sftp::listing::attributes;
use crate::sftp::proto::{
    data_header, encode_attrs, encode_handle, FileAttributes, OpenFlags, StatusCode,
    DATA_REPLY_HEADER_BYTES, MAX_READ_LENGTH,
};
use crate::vfs::{CommitAttributes, VirtualPath, WriteMode};

/// Bytes moved per step of `copy-data`.
const COPY_CHUNK_BYTES: usize = 256 * 1024;

/// `SSH_FXP_OPEN`.
pub(super) async fn open(
    channel: &Context,
    id: u32,
    filename: &[u8],
    pflags: OpenFlags,
    attrs: &FileAttributes,
) -> Result<BytesMut, Failure> {
    let context = &channel.session;
    let path = resolve(filename)?;
    if pflags.unknown_bits() != 0 {
        tracing::debug!(bits = pflags.unknown_bits(), "ignoring unknown open flags");
    }
    let writes = pflags.contains(OpenFlags::WRITE) || pflags.contains(OpenFlags::APPEND);
    let file = if writes {
        open_for_writing(context, path, pflags, attrs).await?
    } else {
        let reader = context.fs.open_read(&path, 0).await?;
        OpenFile::new(path, Some(reader), None)
    };
    // The session list shows the file opened last, with its running byte count.
    let (direction, bytes) = match &file.writer {
        Some(_) => ("upload", file.bytes_written.clone()),
        None => ("download", file.bytes_read.clone()),
    };
    let shown = format!("{direction} {}", file.path);
    // If the table is full the file is dropped here, which discards an upload just begun.
    let handle = channel.lock_table().insert(Handle::File(Arc::new(file)))?;
    context.registration.transfer_started(shown, bytes);
    encode(|out| encode_handle(out, id, &handle))
}

async fn open_for_writing(
    context: &SessionContext,
    path: VirtualPath,
    pflags: OpenFlags,
    attrs: &FileAttributes,
) -> Result<OpenFile, Failure> {
    let creat = pflags.contains(OpenFlags::CREAT);
    let trunc = pflags.contains(OpenFlags::TRUNC);
    let read = pflags.contains(OpenFlags::READ);
    if !creat {
        // open(2) without O_CREAT: the file must already exist.
        context.fs.stat(&path).await?;
    }
    let mode = if creat && pflags.contains(OpenFlags::EXCL) {
        WriteMode::CreateNew
    } else if trunc && !read {
        WriteMode::Replace
    } else if pflags.contains(OpenFlags::APPEND) {
        WriteMode::Append
    } else {
        WriteMode::InPlace
    };
    let writer = context.fs.open_write(&path, mode).await?;
    if trunc && mode == WriteMode::InPlace {
        // READ|WRITE|TRUNC must read back what it writes, so it cannot use a temporary file.
        writer.set_len(0).await?;
    }
    let writer = writer.into_shared().await?;
    let reader = if read && !mode.is_atomic() {
        Some(context.fs.open_read(&path, 0).await?)
    } else {
        None
    };
    let creates = writer.creates_file();
    let file = OpenFile::new(path, reader, Some(writer));
    // The mode is the new file's (less the umask), as open(2) would give it; an existing file
    // written in place keeps its own.
    if creates && attrs.permissions.is_some() {
        file.defer(&FileAttributes {
            permissions: attrs.permissions,
            ..FileAttributes::default()
        });
    }
    Ok(file)
}

/// `SSH_FXP_CLOSE` of a file: commits an upload, then records the transfer.
pub(super) async fn close(
    context: &SessionContext,
    id: u32,
    file: Arc<OpenFile>,
) -> Result<BytesMut, Failure> {
    let duration = file.opened.elapsed();
    shown_no_more(context, &file);
    let Some(writer) = &file.writer else {
        let bytes = file.bytes_read.load(Ordering::Relaxed);
        let detail = transfer(bytes, duration, Outcome::Ok);
        context.audit(Action::Download, file.path.as_str(), detail);
        return Ok(ok(id));
    };
    let bytes = file.bytes_written.load(Ordering::Relaxed);
    // Attributes set during the upload (OpenSSH sends the mode with OPEN) are given to the
    // temporary file as it is renamed into place: one step, and the file never appears
    // without them.
    let (attributes, refused) = match file.take_deferred() {
        Some(attrs) => match context.fs.check_set_attributes(&file.path) {
            Ok(()) => (commit_attributes(&attrs), None),
            Err(error) => (CommitAttributes::default(), Some(error)),
        },
        None => (CommitAttributes::default(), None),
    };
    match writer.commit_with(attributes).await {
        Ok(_) => {
            if let Some(error) = refused {
                paths::ignore_refusal(context, Err(error), &file.path, "attributes")?;
            }
            let detail = transfer(bytes, duration, Outcome::Ok);
            context.audit(Action::Upload, file.path.as_str(), detail);
            Ok(ok(id))
        }
        Err(error) => {
            let failure = Failure::from(error);
            let outcome = Outcome::failed(failure.reason, failure.message.clone());
            context.audit(
                Action::Upload,
                file.path.as_str(),
                transfer(bytes, duration, outcome),
            );
            Err(failure)
        }
    }
}

/// Takes `file` off the session list's transfer, if it is the one shown there.
fn shown_no_more(context: &SessionContext, file: &OpenFile) {
    let bytes = match &file.writer {
        Some(_) => &file.bytes_written,
        None => &file.bytes_read,
    };
    context.registration.transfer_ended_for(bytes);
}

/// The deferred mode and times of an upload, as the VFS applies them at commit.
fn commit_attributes(attrs: &FileAttributes) -> CommitAttributes {
    let time = |secs: u32| std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs.into());
    CommitAttributes {
        mode: attrs.permissions.map(|mode| mode & 0o7777),
        times: attrs
            .atime_mtime
            .map(|(atime, mtime)| (time(mtime), Some(time(atime)))),
    }
}

/// Discards what a session left open: uploads are aborted (no partial file under the final
/// name) and recorded as aborted transfers, with `reason` (an audit reason) and `detail`.
pub(crate) async fn discard_handles(
    context: &SessionContext,
    handles: Vec<Handle>,
    (reason, detail): (&'static str, &str),
) {
    for handle in handles {
        let Handle::File(file) = handle else { continue };
        shown_no_more(context, &file);
        let duration = file.opened.elapsed();
        if let Some(writer) = &file.writer {
            writer.abort().await;
            let bytes = file.bytes_written.load(Ordering::Relaxed);
            let outcome = Outcome::aborted(reason, format!("{detail}; upload discarded"));
            context.audit(
                Action::Upload,
                file.path.as_str(),
                transfer(bytes, duration, outcome),
            );
        } else {
            let bytes = file.bytes_read.load(Ordering::Relaxed);
            let outcome = Outcome::aborted(reason, detail);
            context.audit(
                Action::Download,
                file.path.as_str(),
                transfer(bytes, duration, outcome),
            );
        }
    }
}

/// `SSH_FXP_READ`: at most `MAX_READ_LENGTH` bytes (OpenSSH clamps the same way).
pub(super) async fn read(
    id: u32,
    file: &OpenFile,
    offset: u64,
    len: u32,
) -> Result<BytesMut, Failure> {
    let reader = file.reader()?;
    let len = len.min(MAX_READ_LENGTH) as usize;
    // The file is read into the reply, after room for its header: each byte is copied once
    // on its way out (here, by the kernel), not again to put a header in front of it.
    let mut buffer = Vec::with_capacity(DATA_REPLY_HEADER_BYTES + len);
    buffer.resize(DATA_REPLY_HEADER_BYTES, 0);
    let mut buffer = reader.read_at_into(offset, len, buffer).await?;
    let data_len = buffer.len().saturating_sub(DATA_REPLY_HEADER_BYTES);
    if data_len == 0 {
        return Ok(status(id, StatusCode::Eof, StatusCode::Eof.message()));
    }
    file.count_read(data_len);
    // Lossless: at most MAX_READ_LENGTH bytes were asked for.
    let data_len = u32::try_from(data_len).unwrap_or(MAX_READ_LENGTH);
    let header = data_header(id, data_len)
        .map_err(|error| Failure::new(StatusCode::Failure, error.to_string()))?;
    if let Some(room) = buffer.get_mut(..DATA_REPLY_HEADER_BYTES) {
        room.copy_from_slice(&header);
    }
    // Both conversions keep the allocation (the `Vec` is the only owner).
    Ok(BytesMut::from(Bytes::from(buffer)))
}

/// `SSH_FXP_WRITE`: the payload goes to the disk straight from the packet buffer. `turn`,
/// when given, is released once the write holds its place in line (see
/// `SharedFileWriter::write_at_in_turn`).
pub(super) async fn write(
    id: u32,
    file: &OpenFile,
    offset: u64,
    data: Bytes,
    turn: Option<DropGuard>,
) -> Result<BytesMut, Failure> {
    let writer = file.writer()?;
    let written = data.len();
    match turn {
        Some(turn) => writer.write_at_in_turn(offset, data, turn).await?,
        None => writer.write_at(offset, data).await?,
    }
    file.count_written(written);
    Ok(ok(id))
}

/// `SSH_FXP_FSTAT`.
pub(super) async fn fstat(
    context: &SessionContext,
    id: u32,
    resolved: &Resolved,
) -> Result<BytesMut, Failure> {
    let stat = match resolved {
        Resolved::One(Handle::File(file)) => match (&file.writer, &file.reader) {
            (Some(writer), _) => writer.stat().await?,
            (None, Some(reader)) => reader.stat().await?,
            (None, None) => return Err(Failure::invalid_handle()),
        },
        Resolved::One(Handle::Dir(dir)) => context.fs.stat(&dir.path).await?,
        _ => return Err(Failure::invalid_handle()),
    };
    encode(|out| encode_attrs(out, id, &attributes(&stat)))
}

/// `SSH_FXP_FSETSTAT`: size now; times and permissions of an upload's new file at its commit
/// (the mode less the umask), of anything else now (as asked).
pub(super) async fn fsetstat(
    context: &SessionContext,
    id: u32,
    file: &OpenFile,
    attrs: &FileAttributes,
) -> Result<BytesMut, Failure> {
    if let Some(size) = attrs.size {
        match &file.writer {
            Some(writer) => writer.set_len(size).await?,
            None => context.fs.set_len(&file.path, size).await?,
        }
    }
    let rest = FileAttributes {
        size: None,
        ..attrs.clone()
    };
    let creates = file
        .writer
        .as_ref()
        .is_some_and(|writer| writer.creates_file());
    if creates {
        file.defer(&rest);
    } else {
        paths::apply_attributes(context, &file.path, &rest, true).await?;
    }
    Ok(ok(id))
}

/// `fsync@openssh.com`.
pub(super) async fn fsync(id: u32, file: &OpenFile) -> Result<BytesMut, Failure> {
    if let Some(writer) = &file.writer {
        writer.sync().await?;
    }
    Ok(ok(id))
}

/// `copy-data`: copies `length` bytes (0: to end of file) from `source` at `offset` to
/// `target` at `write_offset`, in bounded chunks.
pub(super) async fn copy_data(
    id: u32,
    source: &Arc<OpenFile>,
    target: &Arc<OpenFile>,
    (offset, length): (u64, u64),
    write_offset: u64,
) -> Result<BytesMut, Failure> {
    let reader = source.reader()?;
    let writer = target.writer()?;
    let end = if length == 0 {
        u64::MAX
    } else {
        offset.saturating_add(length)
    };
    if Arc::ptr_eq(source, target)
        && write_offset < end
        && offset < write_offset.saturating_add(end - offset)
    {
        return Err(Failure::new(
            StatusCode::Failure,
            "source and destination ranges overlap",
        ));
    }
    let (mut position, mut out_position) = (offset, write_offset);
    while position < end {
        let want = usize::try_from(end - position)
            .unwrap_or(usize::MAX)
            .min(COPY_CHUNK_BYTES);
        let data = reader.read_at(position, want).await?;
        if data.is_empty() {
            break;
        }
        let copied = data.len();
        writer.write_at(out_position, data).await?;
        source.count_read(copied);
        target.count_written(copied);
        position += copied as u64;
        out_position += copied as u64;
    }
    Ok(ok(id))
}

fn transfer(bytes: u64, duration: std::time::Duration, outcome: Outcome) -> AuditDetail {
    AuditDetail {
        target: None,
        bytes,
        duration,
        outcome,
    }
}
