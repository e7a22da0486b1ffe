//! Quota checks of an upload as it opens and as it grows, with the log line an operator needs
//! to answer "why did this upload fail": which quota, its limit, the usage, and by how much.
//!
//! The lines are logged in the caller's span, so they carry the session, user and peer.

use super::error::{VfsError, VfsErrorKind};
use super::path::VirtualPath;
use super::quota::QuotaAccount;

/// Admits a new upload: refused when not one byte would fit (so an FTP client gets `552`
/// before any data moves, instead of a data connection cut part-way) or, for a new name, when
/// the file quota is used up. `credit` is the size of a file the upload replaces; `creates`
/// says the upload counts a file until it ends (all atomic uploads, and writes to a new name),
/// `replaces` that the file count stays the same in the end.
pub(super) fn admit(
    quota: &QuotaAccount,
    path: &VirtualPath,
    creates: bool,
    replaces: bool,
    credit: u64,
) -> Result<(), VfsError> {
    let (bytes, files) = quota.used();
    if let Some(limit) = quota.limits().max_bytes {
        if bytes >= limit.saturating_add(credit) {
            tracing::warn!(
                quota = "bytes",
                limit,
                used = bytes,
                %path,
                "upload refused: the byte quota is used up"
            );
            return Err(VfsError::with_detail(VfsErrorKind::QuotaExceeded, "byte quota").at(path));
        }
    }
    if !creates {
        return Ok(());
    }
    if replaces {
        // The temporary file counts until the commit removes the replaced one.
        quota.add_files(1);
        return Ok(());
    }
    quota.reserve_files(1).map_err(|error| {
        tracing::warn!(
            quota = "files",
            limit = quota.limits().max_files,
            used = files,
            %path,
            "upload refused: the file quota is used up"
        );
        error.with_phrase("file quota").at(path)
    })
}

/// Logs a write refused by the byte quota (`growth` more bytes, `credit` as in [`admit`]) and
/// returns the error to report.
pub(super) fn refused_growth(
    quota: &QuotaAccount,
    path: &VirtualPath,
    growth: u64,
    credit: u64,
    error: VfsError,
) -> VfsError {
    let (used, _) = quota.used();
    let limit = quota.limits().max_bytes.unwrap_or(u64::MAX);
    let allowed = limit.saturating_add(credit);
    tracing::warn!(
        quota = "bytes",
        limit,
        used,
        requested = growth,
        exceeded_by = used.saturating_add(growth).saturating_sub(allowed),
        %path,
        "write refused: the byte quota would be exceeded"
    );
    error.with_phrase("byte quota")
}
