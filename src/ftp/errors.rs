//! The one mapping from core errors to FTP replies (RFC 959 §4.2, RFC 3659 §5.4): `VfsError`,
//! `PathError`, `AuthError`, `LimitError` and data-connection failures become a `Reply` with a
//! short client-safe text.
//!
//! Client-visible text names only virtual paths and fixed phrases, never a server path or an OS
//! error string; the detail goes to the log here, once, inside the connection's span.

use crate::auth::AuthError;
use crate::limits::LimitError;
use crate::vfs::{PathError, VfsError, VfsErrorKind};

use super::proto::{Reply, ReplyCode};

/// The reply for a failed file system operation.
pub fn vfs_reply(error: &VfsError) -> Reply {
    let code = match error.kind {
        VfsErrorKind::NotFound
        | VfsErrorKind::PermissionDenied
        | VfsErrorKind::AlreadyExists
        | VfsErrorKind::NotADirectory
        | VfsErrorKind::IsADirectory
        | VfsErrorKind::DirectoryNotEmpty
        | VfsErrorKind::CrossDevice
        | VfsErrorKind::Unsupported
        | VfsErrorKind::Refused => ReplyCode::FileUnavailable,
        VfsErrorKind::InvalidPath => ReplyCode::FileNameNotAllowed,
        VfsErrorKind::QuotaExceeded => ReplyCode::ExceededStorage,
        VfsErrorKind::StorageFull => ReplyCode::InsufficientStorage,
        VfsErrorKind::Exhausted | VfsErrorKind::Io => ReplyCode::LocalError,
    };
    if matches!(error.kind, VfsErrorKind::Io | VfsErrorKind::Exhausted) {
        tracing::error!(%error, source = ?error.source, "file system error");
    } else {
        tracing::debug!(%error, source = ?error.source, "file operation refused");
    }
    Reply::new(code, client_text(error))
}

/// The final reply of an upload that the file refused part-way. A full disk is `552` here, not
/// `452`: clients take a 4xx as passing and retry, and lftp retries by resuming (`SIZE`, then
/// `REST` + `STOR`) against a file that is not its partial upload (an atomic upload that failed
/// left none), writing its tail into the old file. A permanent reply makes them stop.
pub fn upload_failed_reply(error: &VfsError) -> Reply {
    let reply = vfs_reply(error);
    if error.kind == VfsErrorKind::StorageFull {
        return Reply::new(ReplyCode::ExceededStorage, reply.lines().join(" "));
    }
    reply
}

/// The reply for a path the client sent that cannot name anything (too long, NUL, …).
pub fn path_reply(error: PathError) -> Reply {
    vfs_reply(&VfsError::from(error))
}

/// The reply for a failed login. Every refusal looks the same to the client (see `auth`).
pub fn auth_reply(error: &AuthError) -> Reply {
    match error {
        AuthError::Internal(detail) => {
            tracing::error!(%detail, "login could not be checked");
            Reply::new(
                ReplyCode::LocalError,
                "Login failed because of a server problem",
            )
        }
        other => {
            tracing::info!(reason = %other, "login refused");
            Reply::new(ReplyCode::NotLoggedIn, "Login incorrect")
        }
    }
}

/// The reply when a connection or session limit refuses a client (the connection closes).
pub fn limit_reply(error: LimitError) -> Reply {
    if error == LimitError::Banned {
        // The ban was logged once when it started; a line per refused connection would let a
        // banned client flood the log.
        tracing::debug!(%error, "connection refused by a limit");
    } else {
        tracing::info!(%error, "connection refused by a limit");
    }
    let text = match error {
        LimitError::TooManyConnections => "Too many connections to this server, try later",
        LimitError::TooManyFromAddress => "Too many connections from your address",
        LimitError::TooManySessionsForUser => "Too many sessions for this user",
        LimitError::Banned => "Your address is temporarily banned",
    };
    Reply::new(ReplyCode::ServiceNotAvailable, text)
}

/// Why a data connection could not be used. Built by `data.rs`, turned into a reply here.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The client did not connect (or could not be reached) within `ftps.data_timeout`.
    #[error("timed out waiting for the data connection")]
    Timeout,
    /// Connecting to or accepting from the client failed.
    #[error("data connection failed: {0}")]
    Connect(std::io::Error),
    /// The TLS handshake on the data connection failed.
    #[error("TLS handshake on the data connection failed: {0}")]
    Handshake(std::io::Error),
    /// A PROT P data connection did not resume this control connection's TLS session.
    #[error("{0}")]
    SessionReuse(#[from] super::tls::ReuseError),
}

/// The reply for a data connection that never carried the transfer.
pub fn data_reply(error: &DataError) -> Reply {
    tracing::warn!(%error, "data connection refused or failed");
    match error {
        DataError::Timeout => Reply::new(
            ReplyCode::CantOpenDataConnection,
            "Can't open data connection: timed out",
        ),
        DataError::Connect(_) => Reply::new(
            ReplyCode::CantOpenDataConnection,
            "Can't open data connection",
        ),
        DataError::Handshake(_) => Reply::new(
            ReplyCode::CantOpenDataConnection,
            "TLS handshake on the data connection failed",
        ),
        DataError::SessionReuse(_) => Reply::new(
            ReplyCode::NetworkProtocolNotSupported,
            "Data connection must resume the TLS session of the control connection; \
             enable TLS session reuse in your client (see docs/ftps.md)",
        ),
    }
}

fn client_text(error: &VfsError) -> String {
    let mut text = match &error.path {
        Some(path) => format!("{path}: {}", error.kind.description()),
        None => capitalized(error.kind.description()),
    };
    if let Some(detail) = &error.detail {
        text.push_str(" (");
        text.push_str(detail);
        text.push(')');
    }
    text
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vfs::VirtualPath;

    #[test]
    fn a_full_disk_ends_an_upload_with_a_permanent_reply() {
        let full = VfsError::new(VfsErrorKind::StorageFull);
        assert_eq!(vfs_reply(&full).code(), ReplyCode::InsufficientStorage);
        let reply = upload_failed_reply(&full);
        assert_eq!(reply.code(), ReplyCode::ExceededStorage);
        assert!(reply.lines().join(" ").contains("space left on storage"));
        let quota = VfsError::new(VfsErrorKind::QuotaExceeded);
        assert_eq!(
            upload_failed_reply(&quota).code(),
            ReplyCode::ExceededStorage
        );
    }

    #[test]
    fn replies_name_the_virtual_path_and_never_the_os_error() {
        let path = VirtualPath::root().resolve("/a b.txt").unwrap();
        let os = std::io::Error::other("/srv/secret/data/alice/a b.txt: EIO");
        let mut error = VfsError::from_io(os).at(&path);
        error.kind = VfsErrorKind::Io;
        let reply = vfs_reply(&error);
        assert_eq!(reply.code(), ReplyCode::LocalError);
        assert_eq!(reply.lines(), ["/a b.txt: input/output error"]);

        let quota = VfsError::with_detail(VfsErrorKind::QuotaExceeded, "bytes");
        let reply = vfs_reply(&quota);
        assert_eq!(reply.code(), ReplyCode::ExceededStorage);
        assert_eq!(reply.lines(), ["Quota exceeded (bytes)"]);
        assert_eq!(
            path_reply(PathError::TooLong).code(),
            ReplyCode::FileNameNotAllowed
        );
        // Out of descriptors (at login, too): a temporary local error that says so.
        let exhausted = VfsError::from_io(std::io::Error::from_raw_os_error(24));
        let reply = vfs_reply(&exhausted);
        assert_eq!(reply.code(), ReplyCode::LocalError);
        assert_eq!(
            reply.lines(),
            ["Server resources exhausted, try again later"]
        );
    }

    #[test]
    fn every_login_refusal_looks_the_same() {
        for error in [AuthError::InvalidCredentials, AuthError::NetworkNotAllowed] {
            assert_eq!(auth_reply(&error).to_bytes(), b"530 Login incorrect\r\n");
        }
    }
}
