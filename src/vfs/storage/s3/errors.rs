//! `object_store` errors in the VFS's terms: the kind a front end turns into a reply, a fixed
//! phrase that names the object store, and the store's own message (endpoint, key, status:
//! never the credentials, which `object_store` does not print) kept as the source for logs.

use std::io;

use object_store::Error as StoreError;

use crate::vfs::error::{VfsError, VfsErrorKind};

/// The kind of a store error: missing -> `NotFound`, a failed precondition (`If-None-Match`)
/// -> `AlreadyExists`, refused credentials -> `PermissionDenied`, an unsupported request ->
/// `Unsupported`, anything else (timeouts, refused connections, 5xx) -> `Io`.
pub(crate) fn kind_of(error: &StoreError) -> VfsErrorKind {
    match error {
        StoreError::NotFound { .. } => VfsErrorKind::NotFound,
        StoreError::AlreadyExists { .. } | StoreError::Precondition { .. } => {
            VfsErrorKind::AlreadyExists
        }
        StoreError::PermissionDenied { .. } | StoreError::Unauthenticated { .. } => {
            VfsErrorKind::PermissionDenied
        }
        StoreError::NotSupported { .. } | StoreError::NotImplemented { .. } => {
            VfsErrorKind::Unsupported
        }
        _ => VfsErrorKind::Io,
    }
}

fn io_kind(kind: VfsErrorKind) -> io::ErrorKind {
    match kind {
        VfsErrorKind::NotFound => io::ErrorKind::NotFound,
        VfsErrorKind::AlreadyExists => io::ErrorKind::AlreadyExists,
        VfsErrorKind::PermissionDenied => io::ErrorKind::PermissionDenied,
        VfsErrorKind::Unsupported => io::ErrorKind::Unsupported,
        _ => io::ErrorKind::Other,
    }
}

/// A store error as a `VfsError`, for the storage methods.
pub(crate) fn vfs_error(error: StoreError) -> VfsError {
    let kind = kind_of(&error);
    let detail = match kind {
        VfsErrorKind::Io => "object storage request failed",
        VfsErrorKind::PermissionDenied => "object storage refused the credentials",
        _ => "object storage",
    };
    VfsError {
        source: Some(io_error(error)),
        ..VfsError::with_detail(kind, detail)
    }
}

/// A store error as an `io::Error`, for readers and staged uploads.
pub(crate) fn io_error(error: StoreError) -> io::Error {
    io::Error::new(io_kind(kind_of(&error)), error)
}

/// An operation this backend refuses, with the reason a client is shown.
pub(crate) fn unsupported(detail: &'static str) -> VfsError {
    VfsError::with_detail(VfsErrorKind::Unsupported, detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generic(message: &str) -> StoreError {
        StoreError::Generic {
            store: "S3",
            source: message.into(),
        }
    }

    #[test]
    fn store_errors_map_to_vfs_kinds() {
        let not_found = StoreError::NotFound {
            path: "k".into(),
            source: "gone".into(),
        };
        assert_eq!(vfs_error(not_found).kind, VfsErrorKind::NotFound);
        let exists = StoreError::AlreadyExists {
            path: "k".into(),
            source: "there".into(),
        };
        assert_eq!(vfs_error(exists).kind, VfsErrorKind::AlreadyExists);
        let precondition = StoreError::Precondition {
            path: "k".into(),
            source: "412".into(),
        };
        assert_eq!(io_error(precondition).kind(), io::ErrorKind::AlreadyExists);
        let down = vfs_error(generic("connection refused"));
        assert_eq!(down.kind, VfsErrorKind::Io);
        assert_eq!(
            down.detail.as_deref(),
            Some("object storage request failed")
        );
        assert!(down
            .source
            .is_some_and(|source| source.to_string().contains("refused")));
    }
}
