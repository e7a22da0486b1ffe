//! Requests on paths: STAT, LSTAT, SETSTAT, `lsetstat@openssh.com`, OPENDIR, READDIR, REMOVE,
//! MKDIR, RMDIR, REALPATH, RENAME (both variants), READLINK, SYMLINK, `hardlink@openssh.com`.
//!
//! Attribute changes the VFS refuses by policy (owner and group always, permissions and times
//! when the user lacks `SET_ATTRIBUTES`) are logged and ignored rather than failed: WinSCP and
//! `sftp -p` set them after every upload and treat a failure as a failed transfer. With
//! `sftp.strict_attributes` they fail with PERMISSION_DENIED instead. A size change is
//! content, so its refusal is always reported.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;

use super::reply::{encode, ok, status};
use crate::audit::Action;
use crate::sftp::context::{resolve, Context, SessionContext};
use crate::sftp::errors::Failure;
use crate::sftp::handles::{Handle, OpenDir};
use crate::sftp::listing::{attributes, name_entry, path_entry};
use crate::sftp::proto::{encode_attrs, encode_handle, encode_name, FileAttributes, StatusCode};
use crate::vfs::{VfsError, VfsErrorKind, VirtualPath};

/// Entries per READDIR reply; 100 names of the longest kind still fit one packet.
const READDIR_BATCH: usize = 100;

/// `SSH_FXP_STAT` (`follow`) and `SSH_FXP_LSTAT`.
pub(super) async fn stat(
    context: &SessionContext,
    id: u32,
    raw: &[u8],
    follow: bool,
) -> Result<BytesMut, Failure> {
    let path = resolve(raw)?;
    let stat = if follow {
        context.fs.stat(&path).await?
    } else {
        context.fs.lstat(&path).await?
    };
    encode(|out| encode_attrs(out, id, &attributes(&stat)))
}

/// `SSH_FXP_SETSTAT` (`follow`) and `lsetstat@openssh.com`.
pub(super) async fn setstat(
    context: &SessionContext,
    id: u32,
    raw: &[u8],
    attrs: &FileAttributes,
    follow: bool,
) -> Result<BytesMut, Failure> {
    let path = resolve(raw)?;
    let started = Instant::now();
    let result = apply_attributes(context, &path, attrs, follow).await;
    context.audit_result(Action::SetAttributes, &path, None, started, &result);
    result.map(|()| ok(id))
}

/// Applies size, permissions and times to `path`; see the module docs for what is ignored.
pub(super) async fn apply_attributes(
    context: &SessionContext,
    path: &VirtualPath,
    attrs: &FileAttributes,
    follow: bool,
) -> Result<(), Failure> {
    if attrs.uid_gid.is_some() {
        if context.strict_attributes {
            return Err(Failure::new(
                StatusCode::PermissionDenied,
                "owner and group cannot be changed",
            ));
        }
        tracing::info!(path = %path, "ignoring a request to change owner or group");
    }
    if let Some(size) = attrs.size {
        context.fs.set_len(path, size).await?;
    }
    if attrs.permissions.is_none() && attrs.atime_mtime.is_none() {
        return Ok(());
    }
    if !follow && context.fs.lstat(path).await?.is_symlink() {
        // Linux cannot change a symlink's mode, and its times are never looked at.
        tracing::info!(path = %path, "ignoring attribute change on a symbolic link");
        return Ok(());
    }
    if let Some(mode) = attrs.permissions {
        let result = context.fs.set_mode(path, mode & 0o7777).await;
        ignore_refusal(context, result, path, "permissions")?;
    }
    if let Some((atime, mtime)) = attrs.atime_mtime {
        let time = |secs: u32| UNIX_EPOCH + Duration::from_secs(secs.into());
        let result = context
            .fs
            .set_times(path, time(mtime), Some(time(atime)))
            .await;
        ignore_refusal(context, result, path, "times")?;
    }
    Ok(())
}

pub(super) fn ignore_refusal(
    context: &SessionContext,
    result: Result<(), VfsError>,
    path: &VirtualPath,
    what: &str,
) -> Result<(), Failure> {
    match result {
        Err(error)
            if error.kind == VfsErrorKind::PermissionDenied && !context.strict_attributes =>
        {
            tracing::info!(path = %path, what, "attribute change not allowed; ignored");
            Ok(())
        }
        other => Ok(other?),
    }
}

/// `SSH_FXP_OPENDIR`.
pub(super) async fn opendir(channel: &Context, id: u32, raw: &[u8]) -> Result<BytesMut, Failure> {
    let path = resolve(raw)?;
    let lister = channel.session.fs.list_dir(&path).await?;
    let dir = OpenDir {
        path,
        lister: tokio::sync::Mutex::new(lister),
    };
    let handle = channel
        .lock_table()
        .insert(Handle::Dir(std::sync::Arc::new(dir)))?;
    encode(|out| encode_handle(out, id, &handle))
}

/// `SSH_FXP_READDIR`: the next batch, or EOF once the listing is complete.
pub(super) async fn readdir(
    context: &SessionContext,
    id: u32,
    dir: &OpenDir,
) -> Result<BytesMut, Failure> {
    let batch = dir.lister.lock().await.next_batch(READDIR_BATCH).await?;
    if batch.is_empty() {
        return Ok(status(id, StatusCode::Eof, StatusCode::Eof.message()));
    }
    let now = SystemTime::now();
    let entries: Vec<_> = batch
        .iter()
        .map(|entry| name_entry(&entry.name, &entry.stat, &context.user, now))
        .collect();
    encode(|out| encode_name(out, id, &entries))
}

/// `SSH_FXP_REMOVE`.
pub(super) async fn remove(
    context: &SessionContext,
    id: u32,
    raw: &[u8],
) -> Result<BytesMut, Failure> {
    let path = resolve(raw)?;
    let started = Instant::now();
    let result = context.fs.remove_file(&path).await.map_err(Failure::from);
    context.audit_result(Action::Delete, &path, None, started, &result);
    result.map(|()| ok(id))
}

/// `SSH_FXP_MKDIR`; the requested permissions, less the umask, when the user may set them.
pub(super) async fn mkdir(
    context: &SessionContext,
    id: u32,
    raw: &[u8],
    attrs: &FileAttributes,
) -> Result<BytesMut, Failure> {
    let path = resolve(raw)?;
    let started = Instant::now();
    let mode = match attrs.permissions {
        Some(mode) => match context.fs.check_set_attributes(&path) {
            Ok(()) => Some(mode),
            Err(error) => {
                // Refused or ignored like a SETSTAT after the MKDIR; ignored, the default mode.
                ignore_refusal(context, Err(error), &path, "permissions")?;
                None
            }
        },
        None => None,
    };
    let result = match mode {
        Some(mode) => context.fs.create_dir_with_mode(&path, mode).await,
        None => context.fs.create_dir(&path).await,
    }
    .map_err(Failure::from);
    context.audit_result(Action::Mkdir, &path, None, started, &result);
    result.map(|()| ok(id))
}

/// `SSH_FXP_RMDIR`.
pub(super) async fn rmdir(
    context: &SessionContext,
    id: u32,
    raw: &[u8],
) -> Result<BytesMut, Failure> {
    let path = resolve(raw)?;
    let started = Instant::now();
    let result = context.fs.remove_dir(&path).await.map_err(Failure::from);
    context.audit_result(Action::Rmdir, &path, None, started, &result);
    result.map(|()| ok(id))
}

/// `SSH_FXP_REALPATH`: the normalised absolute path. Like most servers (and unlike OpenSSH)
/// the path need not exist: clients ask for the target of an upload before creating it.
pub(super) fn realpath(id: u32, raw: &[u8]) -> Result<BytesMut, Failure> {
    let path = resolve(raw)?;
    encode(|out| encode_name(out, id, &[path_entry(path.as_str())]))
}

/// `SSH_FXP_RENAME` (fails if the target exists) and `posix-rename@openssh.com` (`overwrite`).
pub(super) async fn rename(
    context: &SessionContext,
    id: u32,
    old_raw: &[u8],
    new_raw: &[u8],
    overwrite: bool,
) -> Result<BytesMut, Failure> {
    let (from, to) = (resolve(old_raw)?, resolve(new_raw)?);
    let started = Instant::now();
    let result = context
        .fs
        .rename(&from, &to, overwrite)
        .await
        .map_err(Failure::from);
    context.audit_result(Action::Rename, &from, Some(&to), started, &result);
    result.map(|()| ok(id))
}

/// `SSH_FXP_READLINK`: the link text as stored (relative links stay relative, as OpenSSH answers).
pub(super) async fn readlink(
    context: &SessionContext,
    id: u32,
    raw: &[u8],
) -> Result<BytesMut, Failure> {
    let path = resolve(raw)?;
    let target = context.fs.read_link(&path).await?;
    encode(|out| encode_name(out, id, &[path_entry(&target)]))
}

/// `SSH_FXP_SYMLINK` (OpenSSH argument order: target, then link). The VFS refuses targets
/// outside the user's root.
pub(super) async fn symlink(
    context: &SessionContext,
    id: u32,
    target_raw: &[u8],
    link_raw: &[u8],
) -> Result<BytesMut, Failure> {
    let link = resolve(link_raw)?;
    let target = std::str::from_utf8(target_raw)
        .map_err(|_| Failure::new(StatusCode::Failure, "symlink target is not UTF-8"))?;
    let started = Instant::now();
    let result = context
        .fs
        .symlink(target, &link)
        .await
        .map_err(Failure::from);
    let outcome_target = VirtualPath::root().resolve(target).ok();
    context.audit_result(
        Action::Link,
        &link,
        outcome_target.as_ref(),
        started,
        &result,
    );
    result.map(|()| ok(id))
}

/// `hardlink@openssh.com`.
pub(super) async fn hardlink(
    context: &SessionContext,
    id: u32,
    old_raw: &[u8],
    new_raw: &[u8],
) -> Result<BytesMut, Failure> {
    let (existing, new) = (resolve(old_raw)?, resolve(new_raw)?);
    let started = Instant::now();
    let result = context
        .fs
        .hard_link(&existing, &new)
        .await
        .map_err(Failure::from);
    context.audit_result(Action::Link, &new, Some(&existing), started, &result);
    result.map(|()| ok(id))
}
