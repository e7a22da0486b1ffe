//! `FsSpec`: everything needed to open one user's confined file system view.
//!
//! The auth layer builds an `FsSpec` from the users file; `UserFs::open` turns it into live
//! directory handles. Keeping the spec plain data lets `auth` describe a user's file system
//! without touching the disk.

use std::path::PathBuf;

pub use super::bandwidth::Bandwidth;
use super::path::VirtualPath;
use super::permissions::PermissionRules;

/// Where a home or a folder keeps its files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Place {
    /// A directory on a local file system (absolute).
    Local(PathBuf),
    /// A prefix in an S3 bucket (see `docs/storage.md`).
    Object(ObjectPlace),
}

impl From<PathBuf> for Place {
    fn from(dir: PathBuf) -> Place {
        Place::Local(dir)
    }
}

impl Place {
    /// The local directory, if this place is one.
    pub fn local_dir(&self) -> Option<&std::path::Path> {
        match self {
            Place::Local(dir) => Some(dir),
            Place::Object(_) => None,
        }
    }
}

/// A prefix in an S3 bucket: the objects under `prefix/` are the files of a home or folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectPlace {
    /// The bucket; `None` is `[s3].bucket` of `ferryd.toml`.
    pub bucket: Option<String>,
    /// Key prefix without leading or trailing `/` (checked by [`check_prefix`]).
    pub prefix: String,
}

/// Another directory shown at a virtual path (e.g. a shared read-only `/shared`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    /// Where the folder appears in the user's view; never `/`.
    pub virtual_path: VirtualPath,
    /// What is behind it.
    pub place: Place,
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
    /// The user's home (a local directory, absolute, or an object prefix); the virtual `/`.
    pub root: Place,
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

/// Refuses an S3 key prefix that is empty, starts or ends with `/`, has an empty, `.` or
/// `..` component, or a control character: a prefix is a directory of the bucket, and one that
/// could climb or alias another (`a//b` vs `a/b`) would break the isolation between users.
pub fn check_prefix(prefix: &str) -> Result<(), &'static str> {
    if prefix.is_empty() {
        return Err("must not be empty");
    }
    if prefix.len() > 512 {
        return Err("must be at most 512 bytes");
    }
    if prefix.chars().any(char::is_control) {
        return Err("must not contain control characters");
    }
    if prefix
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..")
    {
        return Err(
            "must be names separated by single '/', without '.', '..' or a '/' at either end",
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_that_climb_alias_or_are_empty_are_refused() {
        for good in ["alice", "tenants/alice", "a.b/c-d", "ünïcode"] {
            assert_eq!(check_prefix(good), Ok(()), "{good}");
        }
        for bad in [
            "", "/alice", "alice/", "a//b", "a/../b", "..", ".", "a/./b", "a\nb",
        ] {
            assert!(check_prefix(bad).is_err(), "{bad:?}");
        }
        assert!(check_prefix(&"x".repeat(513)).is_err());
    }
}
