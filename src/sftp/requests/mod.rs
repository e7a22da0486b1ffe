//! Request handlers, grouped by concern, and the dispatch table that routes to them.
//!
//! Each handler turns one decoded request into one encoded reply: a success body or a
//! [`Failure`] that [`execute`] encodes as `SSH_FXP_STATUS`. Handlers name files only through
//! `UserFs` and `VirtualPath`; client paths are resolved against the user's root (`/`), which
//! is also the home directory. Which task runs a handler, and in what order, is decided by
//! `session`; the handlers themselves hold no session state besides the handle table.

mod extensions;
mod files;
mod paths;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;

use super::errors::Failure;
use super::handles::{Handle, OpenDir, OpenFile};
use super::proto::{encode_status, EncodeError, Request, RequestKind, StatusCode};
use super::session::Shared;
use crate::audit::{Action, Audit, Event, Outcome};
use crate::config::Protocol;
use crate::limits::Registration;
use crate::vfs::{UserFs, VirtualPath};

pub(crate) use files::discard_handles;

/// What request handlers know about the session: who, from where, and their files.
#[derive(Clone, Debug)]
pub(crate) struct SessionContext {
    /// The user's confined file system.
    pub fs: UserFs,
    /// The user name, for audit events and listings.
    pub user: String,
    /// The client's address, for audit events.
    pub peer: IpAddr,
    /// Where audit events go.
    pub audit: Audit,
    /// Refused attribute changes fail instead of being ignored (`sftp.strict_attributes`).
    pub strict_attributes: bool,
    /// The session's entry in the daemon's session list (`ferryd session list`).
    pub registration: Arc<Registration>,
}

impl SessionContext {
    /// Records an audit event for this session.
    pub fn audit(&self, action: Action, path: &str, detail: AuditDetail) {
        self.audit.record(&Event {
            action,
            protocol: Protocol::Sftp,
            user: self.user.clone(),
            peer: self.peer,
            path: path.to_owned(),
            target: detail.target,
            bytes: detail.bytes,
            duration: detail.duration,
            outcome: detail.outcome,
        });
    }

    /// Records the outcome of a file change that has no byte count.
    pub fn audit_result<T>(
        &self,
        action: Action,
        path: &VirtualPath,
        target: Option<&VirtualPath>,
        started: Instant,
        result: &Result<T, Failure>,
    ) {
        let outcome = match result {
            Ok(_) => Outcome::Ok,
            Err(failure) => Outcome::failed(failure.reason, failure.message.clone()),
        };
        self.audit(
            action,
            path.as_str(),
            AuditDetail {
                target: target.map(|target| target.as_str().to_owned()),
                bytes: 0,
                duration: started.elapsed(),
                outcome,
            },
        );
    }
}

/// The optional fields of an audit event.
pub(crate) struct AuditDetail {
    /// Second path (rename, link).
    pub target: Option<String>,
    /// Bytes transferred.
    pub bytes: u64,
    /// Time taken.
    pub duration: Duration,
    /// Result.
    pub outcome: Outcome,
}

/// The handles a request names, looked up by the reader before the request is queued.
#[derive(Debug)]
pub(crate) enum Resolved {
    /// The request names no handle.
    Path,
    /// One handle.
    One(Handle),
    /// Two handles (copy-data: read, then write).
    Two(Handle, Handle),
}

/// What a handler returns: the encoded success reply, or the failure to report.
type HandlerResult = Result<BytesMut, Failure>;

/// Runs one request and returns its encoded reply (a STATUS on failure).
pub(crate) async fn execute(shared: &Shared, request: Request, resolved: Resolved) -> BytesMut {
    let id = request.id;
    let name = request.kind.name();
    match route(shared, id, request.kind, resolved).await {
        Ok(out) => out,
        Err(failure) => {
            tracing::debug!(id, request = name, code = ?failure.code, message = %failure.message, "request failed");
            status(id, failure.code, &failure.message)
        }
    }
}

/// The dispatch table: every v3 request and extension, and the handler that serves it.
async fn route(shared: &Shared, id: u32, kind: RequestKind, resolved: Resolved) -> HandlerResult {
    let context = &shared.context;
    match kind {
        RequestKind::Open {
            filename,
            pflags,
            attrs,
        } => files::open(shared, id, &filename, pflags, &attrs).await,
        RequestKind::Close { .. } => match resolved {
            Resolved::One(Handle::File(file)) => files::close(context, id, file).await,
            Resolved::One(Handle::Dir(_)) => Ok(ok(id)),
            _ => Err(Failure::invalid_handle()),
        },
        RequestKind::Read { offset, len, .. } => {
            files::read(id, one_file(&resolved)?, offset, len).await
        }
        RequestKind::Write { offset, data, .. } => {
            files::write(id, one_file(&resolved)?, offset, data).await
        }
        RequestKind::Fstat { .. } => files::fstat(context, id, &resolved).await,
        RequestKind::Fsetstat { attrs, .. } => {
            files::fsetstat(context, id, one_file(&resolved)?, &attrs).await
        }
        RequestKind::Fsync { .. } => files::fsync(id, one_file(&resolved)?).await,
        RequestKind::CopyData {
            read_offset,
            read_length,
            write_offset,
            ..
        } => {
            let Resolved::Two(Handle::File(source), Handle::File(target)) = &resolved else {
                return Err(Failure::invalid_handle());
            };
            let range = (read_offset, read_length);
            files::copy_data(id, source, target, range, write_offset).await
        }
        RequestKind::Stat { path } => paths::stat(context, id, &path, true).await,
        RequestKind::Lstat { path } => paths::stat(context, id, &path, false).await,
        RequestKind::Setstat { path, attrs } => {
            paths::setstat(context, id, &path, &attrs, true).await
        }
        RequestKind::Lsetstat { path, attrs } => {
            paths::setstat(context, id, &path, &attrs, false).await
        }
        RequestKind::Opendir { path } => paths::opendir(shared, id, &path).await,
        RequestKind::Readdir { .. } => paths::readdir(context, id, one_dir(&resolved)?).await,
        RequestKind::Remove { path } => paths::remove(context, id, &path).await,
        RequestKind::Mkdir { path, attrs } => paths::mkdir(context, id, &path, &attrs).await,
        RequestKind::Rmdir { path } => paths::rmdir(context, id, &path).await,
        RequestKind::Realpath { path } => paths::realpath(id, &path),
        RequestKind::Rename { old_path, new_path } => {
            paths::rename(context, id, &old_path, &new_path, false).await
        }
        RequestKind::PosixRename { old_path, new_path } => {
            paths::rename(context, id, &old_path, &new_path, true).await
        }
        RequestKind::Readlink { path } => paths::readlink(context, id, &path).await,
        RequestKind::Symlink { target, link_path } => {
            paths::symlink(context, id, &target, &link_path).await
        }
        RequestKind::Hardlink { old_path, new_path } => {
            paths::hardlink(context, id, &old_path, &new_path).await
        }
        RequestKind::Statvfs { path } => extensions::statvfs(context, id, &path).await,
        RequestKind::Fstatvfs { .. } => {
            let path = match &resolved {
                Resolved::One(Handle::File(file)) => file.path.clone(),
                Resolved::One(Handle::Dir(dir)) => dir.path.clone(),
                _ => return Err(Failure::invalid_handle()),
            };
            extensions::statvfs_at(context, id, &path).await
        }
        RequestKind::Limits => extensions::limits(id),
        RequestKind::ExpandPath { path } => extensions::expand_path(context, id, &path),
        RequestKind::HomeDirectory { username } => {
            extensions::home_directory(context, id, &username)
        }
        RequestKind::UsersGroupsById { uids, gids } => {
            extensions::users_groups(context, id, &uids, &gids)
        }
        RequestKind::CheckFileName {
            path,
            algorithms,
            start_offset,
            length,
            block_size,
        } => {
            let path = resolve(&path)?;
            let request = extensions::CheckFile {
                algorithms: &algorithms,
                start_offset,
                length,
                block_size,
            };
            extensions::check_file(context, id, &path, request).await
        }
        RequestKind::CheckFileHandle {
            algorithms,
            start_offset,
            length,
            block_size,
            ..
        } => {
            let file = one_file(&resolved)?;
            // Hashing reads the file by name: only handles that can read it qualify.
            file.reader()?;
            let request = extensions::CheckFile {
                algorithms: &algorithms,
                start_offset,
                length,
                block_size,
            };
            extensions::check_file(context, id, &file.path, request).await
        }
        RequestKind::UnknownExtended { name } => {
            let name = String::from_utf8_lossy(&name).into_owned();
            tracing::debug!(extension = %name, "unknown extension");
            Err(Failure::unsupported(&format!("extension {name}")))
        }
    }
}

/// The STATUS reply for a handle the reader could not find.
pub(crate) fn invalid_handle(id: u32) -> BytesMut {
    let failure = Failure::invalid_handle();
    status(id, failure.code, &failure.message)
}

/// A STATUS reply.
pub(crate) fn status(id: u32, code: StatusCode, message: &str) -> BytesMut {
    let mut out = BytesMut::with_capacity(64);
    // A status with a short fixed message always fits; if a message were ever too long, send
    // the code with the generic text rather than nothing.
    if encode_status(&mut out, id, code, message).is_err() {
        let _ = encode_status(&mut out, id, code, code.message());
    }
    out
}

/// `SSH_FX_OK`.
pub(crate) fn ok(id: u32) -> BytesMut {
    status(id, StatusCode::Ok, StatusCode::Ok.message())
}

/// Encodes a success reply; a reply too large for a packet becomes a failure.
pub(crate) fn encode(
    write: impl FnOnce(&mut BytesMut) -> Result<(), EncodeError>,
) -> Result<BytesMut, Failure> {
    let mut out = BytesMut::new();
    write(&mut out).map_err(|error| Failure::new(StatusCode::Failure, error.to_string()))?;
    Ok(out)
}

/// A client path (bytes) as a virtual path; relative paths start at the root (the home).
pub(crate) fn resolve(raw: &[u8]) -> Result<VirtualPath, Failure> {
    Ok(VirtualPath::root().resolve_bytes(raw)?)
}

fn one_file(resolved: &Resolved) -> Result<&OpenFile, Failure> {
    match resolved {
        Resolved::One(Handle::File(file)) => Ok(file.as_ref()),
        _ => Err(Failure::invalid_handle()),
    }
}

fn one_dir(resolved: &Resolved) -> Result<&OpenDir, Failure> {
    match resolved {
        Resolved::One(Handle::Dir(dir)) => Ok(dir.as_ref()),
        _ => Err(Failure::invalid_handle()),
    }
}
