//! The one mapping from core errors to SFTP status codes and client-safe messages.
//!
//! Codes follow OpenSSH's `errno_to_portable()` (sftp-server.c) so clients react as they do
//! against OpenSSH: "not found" and "not a directory" are `NO_SUCH_FILE`, refusals are
//! `PERMISSION_DENIED`, malformed names are `BAD_MESSAGE`, everything else is `FAILURE` with a
//! reason. Messages are the fixed phrases of `VfsErrorKind`, never OS error text or host paths.

use super::proto::StatusCode;
use crate::vfs::{PathError, VfsError, VfsErrorKind};

/// A failed request: the status to send back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    /// The SFTP status code.
    pub code: StatusCode,
    /// Text for the client.
    pub message: String,
    /// The audit reason (`VfsErrorKind::code` for file system errors).
    pub reason: &'static str,
}

impl Failure {
    /// A failure with a fixed message.
    pub fn new(code: StatusCode, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
            reason: crate::audit::reason::REFUSED,
        }
    }

    /// The handle is unknown, closed, or of the wrong kind.
    pub fn invalid_handle() -> Failure {
        Failure::new(StatusCode::Failure, "invalid handle")
    }

    /// Operation not offered.
    pub fn unsupported(what: &str) -> Failure {
        Failure::new(
            StatusCode::OpUnsupported,
            format!("{what} is not supported"),
        )
    }
}

/// Maps a VFS error, logging its OS detail when it is our side's problem.
impl From<VfsError> for Failure {
    fn from(error: VfsError) -> Failure {
        let code = status_for(error.kind);
        if matches!(error.kind, VfsErrorKind::Io | VfsErrorKind::Exhausted) {
            tracing::warn!(%error, source = ?error.source, "file system error");
        } else {
            tracing::debug!(%error, "request refused");
        }
        let mut message = error.kind.description().to_owned();
        if let Some(detail) = error.detail {
            message.push_str(": ");
            message.push_str(&detail);
        }
        Failure {
            code,
            message,
            reason: error.kind.code(),
        }
    }
}

impl From<PathError> for Failure {
    fn from(error: PathError) -> Failure {
        let code = match error {
            PathError::TooLong | PathError::ComponentTooLong => StatusCode::BadMessage,
            _ => StatusCode::NoSuchFile,
        };
        Failure::new(code, error.to_string())
    }
}

/// The status code for a VFS error kind.
pub(crate) fn status_for(kind: VfsErrorKind) -> StatusCode {
    match kind {
        VfsErrorKind::NotFound | VfsErrorKind::NotADirectory => StatusCode::NoSuchFile,
        VfsErrorKind::PermissionDenied => StatusCode::PermissionDenied,
        VfsErrorKind::InvalidPath => StatusCode::BadMessage,
        VfsErrorKind::Unsupported => StatusCode::OpUnsupported,
        VfsErrorKind::AlreadyExists
        | VfsErrorKind::IsADirectory
        | VfsErrorKind::DirectoryNotEmpty
        | VfsErrorKind::QuotaExceeded
        | VfsErrorKind::StorageFull
        | VfsErrorKind::CrossDevice
        | VfsErrorKind::Exhausted
        | VfsErrorKind::Refused
        | VfsErrorKind::Io => StatusCode::Failure,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_like_openssh() {
        let cases = [
            (VfsErrorKind::NotFound, StatusCode::NoSuchFile),
            (VfsErrorKind::NotADirectory, StatusCode::NoSuchFile),
            (VfsErrorKind::PermissionDenied, StatusCode::PermissionDenied),
            (VfsErrorKind::AlreadyExists, StatusCode::Failure),
            (VfsErrorKind::QuotaExceeded, StatusCode::Failure),
            (VfsErrorKind::Unsupported, StatusCode::OpUnsupported),
            (VfsErrorKind::InvalidPath, StatusCode::BadMessage),
            (VfsErrorKind::Exhausted, StatusCode::Failure),
        ];
        for (kind, code) in cases {
            assert_eq!(status_for(kind), code, "{kind:?}");
        }
    }

    #[test]
    fn messages_are_fixed_phrases_with_detail() {
        let error = VfsError::with_detail(VfsErrorKind::PermissionDenied, "mount point");
        let failure = Failure::from(error);
        assert_eq!(failure.message, "permission denied: mount point");
        let io = VfsError::from_io(std::io::Error::other("/srv/secret/path exploded"));
        assert!(!Failure::from(io).message.contains("/srv"));
    }
}
