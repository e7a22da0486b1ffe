//! How a mount's relative paths become object keys: `prefix/a/b`, `/` between the parts, and
//! the hidden marker object that makes an empty directory exist.
//!
//! `object_store`'s `Path` cannot end in `/` (it strips a trailing delimiter), so the usual
//! `dir/` marker key cannot be written through it; an empty directory is instead the object
//! `dir/` + [`DIR_MARKER`], a name under the VFS's reserved prefix that no client can create,
//! open or list. A `dir/` key written by another tool still makes a directory (listings see
//! its prefix) and is hidden like ours, but it cannot be deleted through this backend.

use std::path::{Component, Path};

use object_store::path::{Path as Key, PathPart};

use crate::vfs::error::{VfsError, VfsErrorKind};

/// The marker object's name inside a directory's prefix (reserved: see `names::is_reserved`).
pub(crate) const DIR_MARKER: &str = ".ferryd-upload-dir-marker";

/// The key space of one mount: everything under `prefix/`.
#[derive(Clone, Debug)]
pub(crate) struct Keys {
    /// The prefix without leading or trailing `/` (empty: the bucket's root); `None` when the
    /// configured prefix is not a valid key, so every request fails instead of landing elsewhere.
    prefix: Option<String>,
}

fn leaves_root() -> VfsError {
    VfsError::with_detail(
        VfsErrorKind::PermissionDenied,
        "path leaves the storage root",
    )
}

impl Keys {
    /// The key space under `prefix` (`/` at either end ignored). A prefix with an empty, `.`,
    /// `..` or control-character part is kept as invalid, and fails every request.
    pub(crate) fn new(prefix: &str) -> Keys {
        let trimmed = prefix.trim_matches('/');
        let valid = trimmed.is_empty() || trimmed.split('/').all(valid_part);
        Keys {
            prefix: valid.then(|| trimmed.to_owned()),
        }
    }

    /// True when `prefix` can name a key space.
    #[cfg(test)]
    pub(crate) fn valid_prefix(prefix: &str) -> bool {
        Keys::new(prefix).prefix.is_some()
    }

    fn prefix(&self) -> Result<&str, VfsError> {
        self.prefix.as_deref().ok_or_else(|| {
            VfsError::with_detail(VfsErrorKind::InvalidPath, "invalid object storage prefix")
        })
    }

    /// The names of `rel` below the root; empty for the root. Refuses `..`, absolute and empty
    /// paths and names no key can hold before any request is made.
    pub(crate) fn parts<'a>(&self, rel: &'a Path) -> Result<Vec<&'a str>, VfsError> {
        if rel.as_os_str().is_empty() {
            return Err(leaves_root());
        }
        let mut parts = Vec::new();
        for component in rel.components() {
            match component {
                Component::CurDir => {}
                Component::Normal(name) => {
                    let name = name.to_str().ok_or_else(|| {
                        VfsError::with_detail(VfsErrorKind::InvalidPath, "path is not UTF-8")
                    })?;
                    if !valid_part(name) || name == DIR_MARKER {
                        return Err(VfsError::with_detail(
                            VfsErrorKind::InvalidPath,
                            "name cannot be an object key",
                        ));
                    }
                    parts.push(name);
                }
                _ => return Err(leaves_root()),
            }
        }
        Ok(parts)
    }

    /// The object key of `rel` (the prefix itself for the root).
    pub(crate) fn key(&self, rel: &Path) -> Result<Key, VfsError> {
        let parts = self.parts(rel)?;
        self.join(&parts)
    }

    fn join(&self, parts: &[&str]) -> Result<Key, VfsError> {
        let mut raw = self.prefix()?.to_owned();
        for part in parts {
            if !raw.is_empty() {
                raw.push('/');
            }
            raw.push_str(part);
        }
        Key::parse(raw).map_err(|_| {
            VfsError::with_detail(VfsErrorKind::InvalidPath, "name cannot be an object key")
        })
    }

    /// The listing prefix of directory `rel`: its key and `/` (empty for the root of a bucket
    /// mounted without prefix).
    pub(crate) fn dir_prefix(&self, rel: &Path) -> Result<String, VfsError> {
        Ok(dir_prefix_of(&self.key(rel)?))
    }

    /// The key of directory `rel`'s marker object.
    pub(crate) fn marker(&self, rel: &Path) -> Result<Key, VfsError> {
        let mut parts = self.parts(rel)?;
        parts.push(DIR_MARKER);
        self.join(&parts)
    }

    /// The key of `name` in directory `parent`.
    pub(crate) fn child(&self, parent: &Path, name: &str) -> Result<Key, VfsError> {
        let mut parts = self.parts(parent)?;
        let single = self.parts(Path::new(name))?;
        if single.len() != 1 {
            return Err(VfsError::new(VfsErrorKind::InvalidPath));
        }
        parts.extend(single);
        self.join(&parts)
    }

    /// The listing prefix of the whole key space (what `usage` walks).
    pub(crate) fn root_prefix(&self) -> Result<Option<Key>, VfsError> {
        let prefix = self.prefix()?;
        if prefix.is_empty() {
            return Ok(None);
        }
        Key::parse(prefix).map(Some).map_err(|_| {
            VfsError::with_detail(VfsErrorKind::InvalidPath, "invalid object storage prefix")
        })
    }
}

/// `key` + `/`, or nothing for the bucket's root.
pub(crate) fn dir_prefix_of(key: &Key) -> String {
    let raw: &str = key.as_ref();
    if raw.is_empty() {
        String::new()
    } else {
        format!("{raw}/")
    }
}

/// The name of an entry listed under `prefix`, or `None` for what a listing must not show:
/// markers (ours, and a foreign `dir/` object, which comes back as the prefix itself).
pub(crate) fn listed_name<'a>(prefix: &str, location: &'a Key) -> Option<&'a str> {
    let raw: &str = location.as_ref();
    let name = raw.strip_prefix(prefix)?;
    let name = name.strip_suffix('/').unwrap_or(name);
    (!name.is_empty() && !name.contains('/') && name != DIR_MARKER).then_some(name)
}

/// True for a key that is a directory marker (ours) rather than a file.
pub(crate) fn is_marker(location: &Key) -> bool {
    location.filename() == Some(DIR_MARKER)
}

/// A name `object_store` keeps as given: no `/`, no control character, not `.` or `..`.
fn valid_part(name: &str) -> bool {
    !name.is_empty() && PathPart::parse(name).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vfs::names::is_reserved;

    #[test]
    fn paths_map_to_keys_under_the_prefix() {
        let keys = Keys::new("/users/alice/");
        assert_eq!(
            keys.key(Path::new("a/b.txt")).unwrap().as_ref(),
            "users/alice/a/b.txt"
        );
        assert_eq!(
            keys.key(Path::new("./a")).unwrap().as_ref(),
            "users/alice/a"
        );
        assert_eq!(keys.key(Path::new(".")).unwrap().as_ref(), "users/alice");
        assert_eq!(keys.dir_prefix(Path::new(".")).unwrap(), "users/alice/");
        assert_eq!(keys.dir_prefix(Path::new("a")).unwrap(), "users/alice/a/");
        assert_eq!(
            keys.marker(Path::new("a")).unwrap().as_ref(),
            format!("users/alice/a/{DIR_MARKER}")
        );
        assert_eq!(
            keys.child(Path::new("a"), "x y~[1]").unwrap().as_ref(),
            "users/alice/a/x y~[1]"
        );
        let bare = Keys::new("");
        assert_eq!(bare.dir_prefix(Path::new(".")).unwrap(), "");
        assert_eq!(bare.key(Path::new("f")).unwrap().as_ref(), "f");
        assert!(bare.root_prefix().unwrap().is_none());
        assert_eq!(keys.root_prefix().unwrap().unwrap().as_ref(), "users/alice");
    }

    #[test]
    fn escaping_and_unkeyable_paths_are_refused_before_any_request() {
        let keys = Keys::new("p");
        for bad in ["..", "a/../../b", "/etc/passwd", ""] {
            let error = keys.key(Path::new(bad)).unwrap_err();
            assert_eq!(error.kind, VfsErrorKind::PermissionDenied, "{bad}");
        }
        for bad in ["a\u{1}b", DIR_MARKER] {
            let error = keys.key(Path::new(bad)).unwrap_err();
            assert_eq!(error.kind, VfsErrorKind::InvalidPath, "{bad:?}");
        }
        assert!(keys.child(Path::new("."), "a/b").is_err());
        assert!(keys.child(Path::new("."), "..").is_err());
    }

    #[test]
    fn an_invalid_prefix_fails_every_request() {
        for bad in ["a//b", "a/../b", "x/./y", "c\u{7}"] {
            assert!(!Keys::valid_prefix(bad), "{bad:?}");
            let error = Keys::new(bad).key(Path::new("f")).unwrap_err();
            assert_eq!(error.kind, VfsErrorKind::InvalidPath);
        }
        assert!(Keys::valid_prefix("alice"));
        assert!(Keys::valid_prefix(""));
    }

    #[test]
    fn every_prefix_the_users_file_accepts_is_a_valid_key_space() {
        for prefix in ["alice", "tenants/alice", "a.b/c-d", "ünïcode", "x y"] {
            if crate::vfs::check_prefix(prefix).is_ok() {
                assert!(Keys::valid_prefix(prefix), "{prefix:?}");
            }
        }
        for bad in ["a//b", "a/../b", "x/./y", "c\u{7}", ".."] {
            assert!(crate::vfs::check_prefix(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn markers_are_reserved_and_hidden_from_listings() {
        assert!(is_reserved(DIR_MARKER));
        let prefix = "p/d/";
        let ours = Key::parse(format!("p/d/{DIR_MARKER}")).unwrap();
        assert!(is_marker(&ours));
        assert_eq!(listed_name(prefix, &ours), None);
        // A foreign `p/d/` marker comes back as the prefix itself, without its slash.
        assert_eq!(listed_name(prefix, &Key::parse("p/d").unwrap()), None);
        assert_eq!(
            listed_name(prefix, &Key::parse("p/d/f").unwrap()),
            Some("f")
        );
        assert_eq!(
            listed_name(prefix, &Key::parse("p/d/sub/").unwrap()),
            Some("sub")
        );
        assert!(!is_marker(&Key::parse("p/d/f").unwrap()));
    }
}
