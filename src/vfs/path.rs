//! `VirtualPath`: a client-visible path, normalised and absolute within the user's root.
//!
//! Every path a client sends becomes a `VirtualPath` before anything else looks at it. A
//! `VirtualPath` is always absolute (`/` is the user's root), has no empty, `.` or `..`
//! components, no NUL bytes, and bounded lengths. `..` at the root stays at the root, the way a
//! chrooted server behaves, so no sequence of components can name anything above the root.
//! This is the string half of confinement; the other half is that `vfs` opens every path
//! relative to an OS directory handle (see `vfs::mod`), so symlinks cannot escape either.

use std::fmt;
use std::path::PathBuf;

/// Longest path a client may name, in bytes (Linux `PATH_MAX`).
pub const MAX_PATH_BYTES: usize = 4096;
/// Longest single path component, in bytes (Linux `NAME_MAX`).
pub const MAX_COMPONENT_BYTES: usize = 255;

/// Why a client-supplied path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The path contains a NUL byte, which no file system call could carry faithfully.
    #[error("path contains a NUL byte")]
    NulByte,
    /// The path is longer than [`MAX_PATH_BYTES`].
    #[error("path is longer than {MAX_PATH_BYTES} bytes")]
    TooLong,
    /// One component is longer than [`MAX_COMPONENT_BYTES`].
    #[error("a path component is longer than {MAX_COMPONENT_BYTES} bytes")]
    ComponentTooLong,
    /// The path is not valid UTF-8.
    #[error("path is not valid UTF-8")]
    InvalidUtf8,
    /// A path that must be absolute (configuration) was relative.
    #[error("path must start with '/'")]
    NotAbsolute,
    /// A single file name was expected but the input was empty, `.`, `..` or contained `/`.
    #[error("not a valid file name")]
    InvalidName,
}

/// A normalised absolute path inside a user's virtual file system.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VirtualPath(String);

impl VirtualPath {
    /// The user's root, `/`.
    pub fn root() -> VirtualPath {
        VirtualPath("/".to_owned())
    }

    /// Parses an absolute path from trusted-but-checked configuration (a mount point, a rule).
    pub fn parse_absolute(input: &str) -> Result<VirtualPath, PathError> {
        if !input.starts_with('/') {
            return Err(PathError::NotAbsolute);
        }
        VirtualPath::root().resolve(input)
    }

    /// Resolves client input against `self` (the current directory).
    ///
    /// Absolute input starts again from the root; `.` and empty components are dropped; `..`
    /// removes the previous component and is a no-op at the root.
    pub fn resolve(&self, input: &str) -> Result<VirtualPath, PathError> {
        if input.len() > MAX_PATH_BYTES {
            return Err(PathError::TooLong);
        }
        if input.contains('\0') {
            return Err(PathError::NulByte);
        }
        let mut components: Vec<&str> = if input.starts_with('/') {
            Vec::new()
        } else {
            self.components().collect()
        };
        for component in input.split('/') {
            match component {
                "" | "." => {}
                ".." => {
                    components.pop();
                }
                name if name.len() > MAX_COMPONENT_BYTES => {
                    return Err(PathError::ComponentTooLong)
                }
                name => components.push(name),
            }
        }
        let mut path = String::with_capacity(input.len() + self.0.len() + 1);
        for component in &components {
            path.push('/');
            path.push_str(component);
        }
        if path.is_empty() {
            path.push('/');
        }
        if path.len() > MAX_PATH_BYTES {
            return Err(PathError::TooLong);
        }
        Ok(VirtualPath(path))
    }

    /// Resolves raw client bytes (SFTP names are byte strings); non-UTF-8 is refused.
    pub fn resolve_bytes(&self, input: &[u8]) -> Result<VirtualPath, PathError> {
        let text = std::str::from_utf8(input).map_err(|_| PathError::InvalidUtf8)?;
        self.resolve(text)
    }

    /// Appends one file name (no `/`, not `.` or `..`).
    pub fn join_name(&self, name: &str) -> Result<VirtualPath, PathError> {
        if name.is_empty() || name == "." || name == ".." || name.contains('/') {
            return Err(PathError::InvalidName);
        }
        self.resolve(name)
    }

    /// The path as text, always starting with `/`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for `/`.
    pub fn is_root(&self) -> bool {
        self.0 == "/"
    }

    /// The components from the root down; empty for the root.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').filter(|component| !component.is_empty())
    }

    /// The number of components (0 for the root).
    pub fn depth(&self) -> usize {
        self.components().count()
    }

    /// The containing directory; `None` for the root.
    pub fn parent(&self) -> Option<VirtualPath> {
        if self.is_root() {
            return None;
        }
        match self.0.rfind('/') {
            Some(0) | None => Some(VirtualPath::root()),
            Some(index) => Some(VirtualPath(self.0[..index].to_owned())),
        }
    }

    /// The last component; `None` for the root.
    pub fn file_name(&self) -> Option<&str> {
        self.components().last()
    }

    /// Component-wise prefix test: `/a` is a prefix of `/a/b` but not of `/ab`.
    pub fn starts_with(&self, prefix: &VirtualPath) -> bool {
        self.strip_prefix(prefix).is_some()
    }

    /// The part of `self` below `prefix`, as a relative path (`""` when equal).
    pub fn strip_prefix(&self, prefix: &VirtualPath) -> Option<&str> {
        if prefix.is_root() {
            return Some(self.0.trim_start_matches('/'));
        }
        let rest = self.0.strip_prefix(prefix.as_str())?;
        if rest.is_empty() {
            Some("")
        } else {
            rest.strip_prefix('/')
        }
    }

    /// A relative OS path for handle-relative lookups (`.` for the root).
    pub fn to_relative_path(&self) -> PathBuf {
        relative_os_path(self.0.trim_start_matches('/'))
    }
}

/// Turns a `/`-separated relative path (no `..`, as produced by `VirtualPath`) into a `PathBuf`.
pub(crate) fn relative_os_path(relative: &str) -> PathBuf {
    if relative.is_empty() {
        PathBuf::from(".")
    } else {
        PathBuf::from(relative)
    }
}

impl fmt::Display for VirtualPath {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl fmt::Debug for VirtualPath {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{:?}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(cwd: &str, input: &str, expected: Result<&str, PathError>) {
        let cwd = VirtualPath::parse_absolute(cwd).unwrap();
        let actual = cwd.resolve(input);
        assert_eq!(
            actual.as_ref().map(VirtualPath::as_str),
            expected.as_ref().map(|s| *s),
            "resolving {input:?} in {cwd}"
        );
    }

    #[test]
    fn resolution_table() {
        check("/", "", Ok("/"));
        check("/", "a", Ok("/a"));
        check("/a", "b/c", Ok("/a/b/c"));
        check("/a", "/x", Ok("/x"));
        check("/a/b", "..", Ok("/a"));
        check("/a/b", "../../..", Ok("/"));
        check("/", "../../etc/passwd", Ok("/etc/passwd"));
        check("/a", "./././b/./", Ok("/a/b"));
        check("/a", "//b///c//", Ok("/b/c"));
        check("/a", "b/../../../c", Ok("/c"));
        check("/", "..\\..\\x", Ok("/..\\..\\x"));
        check("/", "-dash name", Ok("/-dash name"));
        check("/", "名前/ünï cødé.txt", Ok("/名前/ünï cødé.txt"));
        check("/", "a\0b", Err(PathError::NulByte));
        check("/", &"x".repeat(256), Err(PathError::ComponentTooLong));
        check("/", &"x/".repeat(2049), Err(PathError::TooLong));
    }

    #[test]
    fn dotdot_cannot_escape_user_root() {
        let root = VirtualPath::root();
        for attack in [
            "..",
            "../..",
            "/..",
            "a/../../b",
            "./../",
            "/../../../../etc",
        ] {
            let resolved = root.resolve(attack).unwrap();
            assert!(resolved.components().all(|c| c != ".." && c != "."));
            assert!(resolved.as_str().starts_with('/'));
        }
    }

    #[test]
    fn resolve_bytes_refuses_invalid_utf8() {
        let root = VirtualPath::root();
        assert_eq!(root.resolve_bytes(b"\xff\xfe"), Err(PathError::InvalidUtf8));
        assert_eq!(root.resolve_bytes(b"ok").unwrap().as_str(), "/ok");
    }

    #[test]
    fn parent_name_and_prefixes() {
        let path = VirtualPath::parse_absolute("/a/b/c").unwrap();
        assert_eq!(path.parent().unwrap().as_str(), "/a/b");
        assert_eq!(path.file_name(), Some("c"));
        assert_eq!(VirtualPath::root().parent(), None);
        let a = VirtualPath::parse_absolute("/a").unwrap();
        let ab = VirtualPath::parse_absolute("/ab").unwrap();
        assert!(path.starts_with(&a));
        assert!(!ab.starts_with(&a));
        assert_eq!(path.strip_prefix(&a), Some("b/c"));
        assert_eq!(a.strip_prefix(&a), Some(""));
        assert_eq!(path.strip_prefix(&VirtualPath::root()), Some("a/b/c"));
        assert_eq!(VirtualPath::root().to_relative_path(), PathBuf::from("."));
        assert_eq!(path.to_relative_path(), PathBuf::from("a/b/c"));
    }

    #[test]
    fn join_name_accepts_only_single_names() {
        let root = VirtualPath::root();
        assert_eq!(root.join_name("x").unwrap().as_str(), "/x");
        for bad in ["", ".", "..", "a/b"] {
            assert_eq!(root.join_name(bad), Err(PathError::InvalidName));
        }
        assert!(VirtualPath::parse_absolute("relative").is_err());
    }
}
