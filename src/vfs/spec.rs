//! `FsSpec`: everything needed to open one user's confined file system view.
//!
//! The auth layer builds an `FsSpec` from the users file; `UserFs::open` turns it into live
//! directory handles. Keeping the spec plain data lets `auth` describe a user's file system
//! without touching the disk.

use std::path::PathBuf;

pub use super::bandwidth::Bandwidth;
use super::path::VirtualPath;
use super::permissions::PermissionRules;

/// Another directory shown at a virtual path (e.g. a shared read-only `/shared`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    /// Where the folder appears in the user's view; never `/`.
    pub virtual_path: VirtualPath,
    /// The real directory behind it (absolute).
    pub dir: PathBuf,
}

/// Storage limits for one user; `None` means unlimited.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Quota {
    /// Most bytes the user's home may hold.
    pub max_bytes: Option<u64>,
    /// Most files the user's home may hold.
    pub max_files: Option<u64>,
}

impl Quota {
    /// True when neither limit is set.
    pub fn is_unlimited(&self) -> bool {
        self.max_bytes.is_none() && self.max_files.is_none()
    }
}

/// One user's file system, as data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FsSpec {
    /// The user name, for quota accounting and logs.
    pub user: String,
    /// The user's home directory (absolute); it is the virtual `/`.
    pub root: PathBuf,
    /// Extra folders mounted into the view.
    pub mounts: Vec<Mount>,
    /// What the user may do where.
    pub permissions: PermissionRules,
    /// Storage limits for the home directory (mounts are not counted).
    pub quota: Quota,
    /// Glob patterns (`*.exe`) of file names the user may not upload, checked by the VFS.
    pub denied_upload_patterns: Vec<String>,
    /// Transfer rate limits, shared by all of the user's sessions.
    pub bandwidth: Bandwidth,
    /// Permission bits taken from what clients create (files, directories, the mode sent with
    /// an upload); `None` until the front end fills in the server's default
    /// ([`FsSpec::with_default_umask`]), and [`FALLBACK_UMASK`] if it never does.
    pub umask: Option<u32>,
}

/// The umask of a spec that names none (the server's built-in default is the same).
pub const FALLBACK_UMASK: u32 = 0o022;

impl FsSpec {
    /// This spec with `default` as its umask unless the user has their own.
    pub fn with_default_umask(mut self, default: u32) -> FsSpec {
        self.umask.get_or_insert(default & 0o777);
        self
    }
}
