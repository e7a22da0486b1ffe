//! `VfsError`: what went wrong in the virtual file system, in protocol-neutral terms.
//!
//! Front ends branch on [`VfsErrorKind`] to choose a reply (`ftp/errors.rs`,
//! `sftp/errors.rs`); the kinds say what happened, never which reply to send. The `Display`
//! text names only virtual paths and fixed phrases, so it is safe to show a client; the OS error
//! with its detail travels in `source` for logs.

use std::borrow::Cow;
use std::fmt;
use std::io;

use rustix::io::Errno;

use super::path::{PathError, VirtualPath};

/// The protocol-neutral cause of a [`VfsError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VfsErrorKind {
    /// Nothing exists at the path (or a dangling symlink was followed).
    NotFound,
    /// The user's permissions, the confinement rules or the OS refused the operation.
    PermissionDenied,
    /// The target already exists and the operation may not replace it.
    AlreadyExists,
    /// A directory was required but something else was found.
    NotADirectory,
    /// A file operation was attempted on a directory.
    IsADirectory,
    /// A directory to be removed still has entries.
    DirectoryNotEmpty,
    /// The user's storage quota (bytes or files) does not allow the operation.
    QuotaExceeded,
    /// The underlying storage is full.
    StorageFull,
    /// The path (or a symlink target) is malformed or names something unaddressable.
    InvalidPath,
    /// The operation would cross between mounts or file systems.
    CrossDevice,
    /// The operation is not supported for this object or file system.
    Unsupported,
    /// The server ran out of open files or memory; the same request may work later.
    Exhausted,
    /// A check the server runs on finished uploads (a gate hook) refused this one; the
    /// detail is the check's reason.
    Refused,
    /// Any other I/O failure; `source` has the detail.
    Io,
}

impl VfsErrorKind {
    /// A short fixed description, safe to show to a client.
    pub fn description(self) -> &'static str {
        match self {
            VfsErrorKind::NotFound => "no such file or directory",
            VfsErrorKind::PermissionDenied => "permission denied",
            VfsErrorKind::AlreadyExists => "already exists",
            VfsErrorKind::NotADirectory => "not a directory",
            VfsErrorKind::IsADirectory => "is a directory",
            VfsErrorKind::DirectoryNotEmpty => "directory not empty",
            VfsErrorKind::QuotaExceeded => "quota exceeded",
            VfsErrorKind::StorageFull => "no space left on storage",
            VfsErrorKind::InvalidPath => "invalid path",
            VfsErrorKind::CrossDevice => "cannot move between mounts",
            VfsErrorKind::Unsupported => "operation not supported",
            VfsErrorKind::Exhausted => "server resources exhausted, try again later",
            VfsErrorKind::Refused => "refused by the server's upload check",
            VfsErrorKind::Io => "input/output error",
        }
    }
}

impl VfsErrorKind {
    /// A stable snake_case word for logs and metric labels (the audit `reason` field).
    pub fn code(self) -> &'static str {
        match self {
            VfsErrorKind::NotFound => "not_found",
            VfsErrorKind::PermissionDenied => "denied",
            VfsErrorKind::AlreadyExists => "exists",
            VfsErrorKind::NotADirectory => "not_a_directory",
            VfsErrorKind::IsADirectory => "is_a_directory",
            VfsErrorKind::DirectoryNotEmpty => "not_empty",
            VfsErrorKind::QuotaExceeded => "quota",
            VfsErrorKind::StorageFull => "storage_full",
            VfsErrorKind::InvalidPath => "invalid_path",
            VfsErrorKind::CrossDevice => "cross_device",
            VfsErrorKind::Unsupported => "unsupported",
            VfsErrorKind::Exhausted => "exhausted",
            VfsErrorKind::Refused => "hook_refused",
            VfsErrorKind::Io => "io",
        }
    }
}

impl fmt::Display for VfsErrorKind {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.description())
    }
}

/// An error from the virtual file system.
///
/// Fields are public so front ends can match on them; build values through the constructors,
/// which keep the rule that `detail` is a fixed phrase and `path` a virtual path.
#[derive(Debug, thiserror::Error)]
#[error("{kind}{}{}", path_suffix(.path), detail_suffix(.detail))]
pub struct VfsError {
    /// What happened.
    pub kind: VfsErrorKind,
    /// The virtual path the operation was about, when known.
    pub path: Option<VirtualPath>,
    /// A phrase refining the kind (e.g. "reserved name"): fixed, or composed from fixed text
    /// and numbers ([`VfsError::with_message`]); never a server path.
    pub detail: Option<Cow<'static, str>>,
    /// The OS error behind it, for logs only (it may describe the server's file system).
    pub source: Option<io::Error>,
}

impl VfsError {
    /// An error of `kind` with no further detail.
    pub fn new(kind: VfsErrorKind) -> VfsError {
        VfsError {
            kind,
            path: None,
            detail: None,
            source: None,
        }
    }

    /// An error of `kind` refined by a fixed phrase.
    pub fn with_detail(kind: VfsErrorKind, detail: &'static str) -> VfsError {
        VfsError {
            detail: Some(Cow::Borrowed(detail)),
            ..VfsError::new(kind)
        }
    }

    /// An error of `kind` refined by a composed phrase, for reasons that carry numbers (the
    /// upload reorder window). The caller keeps it client-safe: no server path, no OS text.
    pub fn with_message(kind: VfsErrorKind, detail: String) -> VfsError {
        VfsError {
            detail: Some(Cow::Owned(detail)),
            ..VfsError::new(kind)
        }
    }

    /// Classifies an OS error (see [`kind_of_io_error`]).
    pub fn from_io(error: io::Error) -> VfsError {
        VfsError {
            kind: kind_of_io_error(&error),
            source: Some(error),
            ..VfsError::new(VfsErrorKind::Io)
        }
    }

    /// The kind; the same as the `kind` field, for call chains.
    pub fn kind(&self) -> VfsErrorKind {
        self.kind
    }

    /// Attaches `path` unless the error already names one (the innermost path is the most
    /// precise, e.g. the parent that was missing).
    pub fn or_path(mut self, path: &VirtualPath) -> VfsError {
        if self.path.is_none() {
            self.path = Some(path.clone());
        }
        self
    }

    /// Sets the fixed phrase that refines the kind.
    pub fn with_phrase(mut self, detail: &'static str) -> VfsError {
        self.detail = Some(Cow::Borrowed(detail));
        self
    }

    /// Replaces the path the error names.
    pub fn at(mut self, path: &VirtualPath) -> VfsError {
        self.path = Some(path.clone());
        self
    }
}

fn path_suffix(path: &Option<VirtualPath>) -> String {
    path.as_ref()
        .map(|path| format!(": {path}"))
        .unwrap_or_default()
}

fn detail_suffix(detail: &Option<Cow<'static, str>>) -> String {
    detail
        .as_ref()
        .map(|detail| format!(" ({detail})"))
        .unwrap_or_default()
}

impl From<io::Error> for VfsError {
    fn from(error: io::Error) -> VfsError {
        VfsError::from_io(error)
    }
}

impl From<PathError> for VfsError {
    fn from(error: PathError) -> VfsError {
        let detail = path_error_detail(&error);
        VfsError {
            source: Some(io::Error::new(io::ErrorKind::InvalidInput, error)),
            ..VfsError::with_detail(VfsErrorKind::InvalidPath, detail)
        }
    }
}

fn path_error_detail(error: &PathError) -> &'static str {
    match error {
        PathError::NulByte => "NUL byte in path",
        PathError::TooLong => "path too long",
        PathError::ComponentTooLong => "file name too long",
        PathError::InvalidUtf8 => "path is not UTF-8",
        PathError::NotAbsolute => "path is not absolute",
        PathError::InvalidName => "not a valid file name",
    }
}

/// Maps an OS error to a kind: by errno first (precise), then by `io::ErrorKind`.
///
/// cap-std reports an attempted escape from the root (openat2's `EXDEV`, its own checked walk)
/// as `PermissionDenied` without an errno, so a raw `EXDEV` here is a real cross-file-system
/// rename or link. `ELOOP` means a symlink was met where none may be followed.
pub fn kind_of_io_error(error: &io::Error) -> VfsErrorKind {
    if let Some(errno) = Errno::from_io_error(error) {
        let kind = match errno {
            Errno::NOENT => Some(VfsErrorKind::NotFound),
            Errno::ACCESS | Errno::PERM | Errno::ROFS | Errno::LOOP | Errno::TXTBSY => {
                Some(VfsErrorKind::PermissionDenied)
            }
            Errno::EXIST => Some(VfsErrorKind::AlreadyExists),
            Errno::NOTDIR => Some(VfsErrorKind::NotADirectory),
            Errno::ISDIR => Some(VfsErrorKind::IsADirectory),
            Errno::NOTEMPTY => Some(VfsErrorKind::DirectoryNotEmpty),
            Errno::NOSPC | Errno::FBIG => Some(VfsErrorKind::StorageFull),
            Errno::DQUOT => Some(VfsErrorKind::QuotaExceeded),
            Errno::XDEV => Some(VfsErrorKind::CrossDevice),
            Errno::NAMETOOLONG | Errno::INVAL | Errno::ILSEQ => Some(VfsErrorKind::InvalidPath),
            Errno::NOTSUP | Errno::NOSYS => Some(VfsErrorKind::Unsupported),
            Errno::MFILE | Errno::NFILE | Errno::NOMEM | Errno::NOBUFS => {
                Some(VfsErrorKind::Exhausted)
            }
            _ => None,
        };
        if let Some(kind) = kind {
            return kind;
        }
    }
    match error.kind() {
        io::ErrorKind::NotFound => VfsErrorKind::NotFound,
        io::ErrorKind::PermissionDenied => VfsErrorKind::PermissionDenied,
        io::ErrorKind::AlreadyExists => VfsErrorKind::AlreadyExists,
        io::ErrorKind::Unsupported => VfsErrorKind::Unsupported,
        io::ErrorKind::InvalidInput => VfsErrorKind::InvalidPath,
        _ => VfsErrorKind::Io,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errno(code: Errno) -> io::Error {
        io::Error::from_raw_os_error(code.raw_os_error())
    }

    #[test]
    fn errno_table() {
        let table = [
            (Errno::NOENT, VfsErrorKind::NotFound),
            (Errno::ACCESS, VfsErrorKind::PermissionDenied),
            (Errno::LOOP, VfsErrorKind::PermissionDenied),
            (Errno::EXIST, VfsErrorKind::AlreadyExists),
            (Errno::NOTDIR, VfsErrorKind::NotADirectory),
            (Errno::ISDIR, VfsErrorKind::IsADirectory),
            (Errno::NOTEMPTY, VfsErrorKind::DirectoryNotEmpty),
            (Errno::NOSPC, VfsErrorKind::StorageFull),
            (Errno::DQUOT, VfsErrorKind::QuotaExceeded),
            (Errno::XDEV, VfsErrorKind::CrossDevice),
            (Errno::NOTSUP, VfsErrorKind::Unsupported),
            (Errno::MFILE, VfsErrorKind::Exhausted),
            (Errno::NFILE, VfsErrorKind::Exhausted),
            (Errno::NOMEM, VfsErrorKind::Exhausted),
            (Errno::IO, VfsErrorKind::Io),
        ];
        for (code, kind) in table {
            assert_eq!(kind_of_io_error(&errno(code)), kind, "{code:?}");
        }
    }

    #[test]
    fn cap_std_escape_error_is_permission_denied() {
        let escape = io::Error::new(
            io::ErrorKind::PermissionDenied,
            "a path led outside of the filesystem",
        );
        assert_eq!(kind_of_io_error(&escape), VfsErrorKind::PermissionDenied);
    }

    #[test]
    fn display_names_only_the_virtual_path() {
        let path = VirtualPath::parse_absolute("/docs/a.txt").unwrap();
        let error = VfsError::from_io(io::Error::new(
            io::ErrorKind::NotFound,
            "/srv/ferryd/alice/docs/a.txt missing",
        ))
        .or_path(&path);
        let text = error.to_string();
        assert_eq!(text, "no such file or directory: /docs/a.txt");
        assert!(!text.contains("/srv"));
        assert!(std::error::Error::source(&error).is_some());
    }

    #[test]
    fn path_errors_are_invalid_path() {
        let error = VfsError::from(PathError::NulByte);
        assert_eq!(error.kind(), VfsErrorKind::InvalidPath);
        assert_eq!(error.to_string(), "invalid path (NUL byte in path)");
    }
}
