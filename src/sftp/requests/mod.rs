//! Request handlers, grouped by concern, and the table that routes each request to one.
//!
//! Each handler turns one decoded request into one encoded reply: a success body or a
//! [`Failure`] that the session encodes as `SSH_FXP_STATUS`. Handlers name files only through
//! `UserFs` and `VirtualPath`; client paths are resolved against the user's root (`/`), which
//! is also the home directory. Which task runs a handler, and in what order, is decided by
//! `session`, which calls [`run`]; handlers see only the [`Context`] (the user's files, audit,
//! the session-list registration, the handle table) and never import `session`.

mod extensions;
mod files;
mod paths;
pub(crate) mod reply;

use bytes::BytesMut;

use super::context::{resolve, Context};
use super::errors::Failure;
use super::handles::{Handle, OpenDir, OpenFile, Resolved};
use super::proto::RequestKind;
use reply::ok;

pub(crate) use files::discard_handles;

/// What a handler returns: the encoded success reply, or the failure to report.
pub(crate) type HandlerResult = Result<BytesMut, Failure>;

/// A WRITE whose `turn` is released once it holds its place in line on its file (the session
/// starts the next WRITE on the handle only then).
pub(crate) async fn write_in_turn(
    id: u32,
    resolved: &Resolved,
    offset: u64,
    data: bytes::Bytes,
    turn: tokio_util::sync::DropGuard,
) -> HandlerResult {
    files::write(id, one_file(resolved)?, offset, data, Some(turn)).await
}

/// The handler table: every v3 request and extension, and the handler that serves it.
pub(crate) async fn run(
    channel: &Context,
    id: u32,
    kind: RequestKind,
    resolved: Resolved,
) -> HandlerResult {
    let context = &channel.session;
    match kind {
        RequestKind::Open {
            filename,
            pflags,
            attrs,
        } => files::open(channel, id, &filename, pflags, &attrs).await,
        RequestKind::Close { .. } => match resolved {
            Resolved::One(Handle::File(file)) => files::close(context, id, file).await,
            Resolved::One(Handle::Dir(_)) => Ok(ok(id)),
            _ => Err(Failure::invalid_handle()),
        },
        RequestKind::Read { offset, len, .. } => {
            files::read(id, one_file(&resolved)?, offset, len).await
        }
        RequestKind::Write { offset, data, .. } => {
            files::write(id, one_file(&resolved)?, offset, data, None).await
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
        RequestKind::Opendir { path } => paths::opendir(channel, id, &path).await,
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
