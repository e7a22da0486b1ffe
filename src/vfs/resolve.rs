//! Path resolution: virtual path → (mount, path relative to the mount's directory handle).
//!
//! Confinement has two layers. This module is the first: it walks a `VirtualPath` component by
//! component, follows symlinks *in virtual space* (a link's target is interpreted relative to the
//! link's virtual directory and may never climb above its mount's root; absolute targets on disk
//! name server paths and are refused), and yields the canonical virtual path. Permissions are
//! then checked on that canonical path, so a symlink can never grant more than its target's
//! rules allow, and mount points shadow whatever lies under them on disk.
//!
//! The second layer is the mount's storage backend (`storage`): every operation is relative to
//! the mount's root, and the local backend's `cap_std::fs::Dir` handle opened there refuses to leave that directory whatever the path or a concurrently
//! planted symlink says (openat2 `RESOLVE_BENEATH`, or cap-std's checked walk). A race that swaps
//! a directory for a symlink after this walk can at worst reach another path inside the same
//! mount, never outside it.

use std::collections::VecDeque;
use std::path::PathBuf;

use super::error::{VfsError, VfsErrorKind};
use super::metadata::{FileKind, FileStat};
use super::names::is_reserved;
use super::path::VirtualPath;
use super::storage::{Backend, Storage as _};

/// Linux's `MAXSYMLINKS`: more links than this in one resolution is a loop.
const MAX_SYMLINK_HOPS: usize = 40;

/// Whether the last component is followed when it is a symlink.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Follow {
    /// `stat` semantics.
    Yes,
    /// `lstat` semantics: the link itself is the object.
    No,
}

/// What a resolved path names.
#[derive(Clone, Debug)]
pub(crate) enum Node {
    /// Nothing (the parent exists): a possible creation target.
    Missing,
    /// A real object, with its `lstat` metadata (not a symlink when following).
    Entry(FileStat),
    /// The root directory of mount `index` (index 0 is the user's root).
    MountRoot(usize),
    /// A directory that exists only because a mount lies below it.
    Synthetic,
}

/// A path after resolution.
#[derive(Clone, Debug)]
pub(crate) struct Resolved {
    /// The canonical virtual path (symlinks along the way replaced by their targets).
    pub(crate) path: VirtualPath,
    /// The mount holding it.
    pub(crate) mount: usize,
    /// The path relative to that mount's directory handle (`.` for the mount root).
    pub(crate) rel: PathBuf,
    /// What is there.
    pub(crate) node: Node,
}

impl Resolved {
    /// True for mount roots and the synthetic directories above them: they belong to the
    /// configuration, so clients may look at them but never change them.
    pub(crate) fn is_structural(&self) -> bool {
        matches!(self.node, Node::MountRoot(_) | Node::Synthetic)
    }

    /// The metadata when an ordinary entry exists.
    pub(crate) fn entry(&self) -> Option<&FileStat> {
        match &self.node {
            Node::Entry(stat) => Some(stat),
            _ => None,
        }
    }

    /// The final file name; `None` only for the root.
    pub(crate) fn name(&self) -> Option<&str> {
        self.path.file_name()
    }

    /// The parent directory relative to the mount handle, for operations that open the parent
    /// once and then act on a single name.
    pub(crate) fn parent_rel(&self) -> PathBuf {
        match self.rel.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }
}

/// One mounted directory.
#[derive(Debug)]
pub(crate) struct MountDir {
    /// Where it appears; `/` for the user's root.
    pub(crate) virtual_path: VirtualPath,
    /// The backend holding its bytes and entries.
    pub(crate) storage: Backend,
}

/// The user's root plus mounts; index 0 is always the root.
#[derive(Debug)]
pub(crate) struct MountTable {
    mounts: Vec<MountDir>,
}

impl MountTable {
    /// Builds the table; `mounts` must not contain `/` (the caller validates).
    pub(crate) fn new(root: Backend, mounts: Vec<MountDir>) -> MountTable {
        let mut table = vec![MountDir {
            virtual_path: VirtualPath::root(),
            storage: root,
        }];
        table.extend(mounts);
        MountTable { mounts: table }
    }

    /// Every mount's storage, to change in tests.
    #[cfg(test)]
    pub(crate) fn storages_mut(&mut self) -> impl Iterator<Item = &mut Backend> {
        self.mounts.iter_mut().map(|mount| &mut mount.storage)
    }

    /// The storage of mount `index`.
    pub(crate) fn storage(&self, index: usize) -> &Backend {
        &self.mounts[index].storage
    }

    /// The mount whose virtual path is the longest prefix of `path`, and the rest of `path`.
    pub(crate) fn locate(&self, path: &VirtualPath) -> (usize, PathBuf) {
        let mount = self.mount_of(path);
        let rest = path
            .strip_prefix(&self.mounts[mount].virtual_path)
            .unwrap_or("");
        let rel = if rest.is_empty() {
            PathBuf::from(".")
        } else {
            PathBuf::from(rest)
        };
        (mount, rel)
    }

    /// The mount whose virtual path is the longest prefix of `path` (without allocating: it
    /// is asked once per operation, to choose where the operation runs).
    pub(crate) fn mount_of(&self, path: &VirtualPath) -> usize {
        let mut best = (0, 0);
        for (index, mount) in self.mounts.iter().enumerate() {
            let depth = mount.virtual_path.depth();
            if depth >= best.1 && path.starts_with(&mount.virtual_path) {
                best = (index, depth);
            }
        }
        best.0
    }

    /// The depth of mount `index`'s virtual path: `..` in its symlinks may not go above it.
    fn floor(&self, index: usize) -> usize {
        self.mounts[index].virtual_path.depth()
    }

    /// `Some` when `path` is a mount root or a directory that leads to one.
    pub(crate) fn structural(&self, path: &VirtualPath) -> Option<Node> {
        let mut synthetic = false;
        for (index, mount) in self.mounts.iter().enumerate() {
            if mount.virtual_path == *path {
                return Some(Node::MountRoot(index));
            }
            synthetic |= mount.virtual_path.starts_with(path);
        }
        synthetic.then_some(Node::Synthetic)
    }

    /// The entries that mounts add to directory `dir`: one per first component below it.
    pub(crate) fn children(&self, dir: &VirtualPath) -> Vec<(String, Node)> {
        let mut children: Vec<(String, Node)> = Vec::new();
        for (index, mount) in self.mounts.iter().enumerate().skip(1) {
            let Some(rest) = mount.virtual_path.strip_prefix(dir) else {
                continue;
            };
            let Some(first) = rest.split('/').find(|part| !part.is_empty()) else {
                continue;
            };
            let node = if rest.contains('/') {
                Node::Synthetic
            } else {
                Node::MountRoot(index)
            };
            match children.iter_mut().find(|(name, _)| name == first) {
                Some(existing) if matches!(node, Node::MountRoot(_)) => existing.1 = node,
                Some(_) => {}
                None => children.push((first.to_owned(), node)),
            }
        }
        children
    }

    /// Resolves `path`, following symlinks in virtual space (see the module docs).
    pub(crate) async fn resolve(
        &self,
        path: &VirtualPath,
        follow: Follow,
    ) -> Result<Resolved, VfsError> {
        let mut current = VirtualPath::root();
        let mut pending: VecDeque<(String, usize)> =
            path.components().map(|name| (name.to_owned(), 0)).collect();
        let mut hops = 0;
        // The lookup of `current`, when the last thing the loop did was look it up.
        let mut looked_up: Option<Node> = None;
        while let Some((name, floor)) = pending.pop_front() {
            match name.as_str() {
                "" | "." => continue,
                ".." => {
                    if current.depth() <= floor {
                        return Err(escape());
                    }
                    current = current.parent().unwrap_or_else(VirtualPath::root);
                    looked_up = None;
                    continue;
                }
                _ => {}
            }
            if is_reserved(&name) {
                return Err(reserved());
            }
            current = current.join_name(&name)?;
            looked_up = None;
            let is_last = pending.is_empty();
            if is_last && follow == Follow::No {
                break;
            }
            if let Some(node) = self.structural(&current) {
                looked_up = Some(node);
                continue;
            }
            let (mount, rel) = self.locate(&current);
            let stat = match self.storage(mount).metadata(&rel).await? {
                Some(stat) => stat,
                None if is_last => {
                    looked_up = Some(Node::Missing);
                    continue;
                }
                None => return Err(VfsError::new(VfsErrorKind::NotFound)),
            };
            match stat.kind {
                FileKind::Symlink => {
                    hops += 1;
                    if hops > MAX_SYMLINK_HOPS {
                        return Err(VfsError::with_detail(
                            VfsErrorKind::PermissionDenied,
                            "too many levels of symbolic links",
                        ));
                    }
                    let target = self.link_text(mount, &rel).await?;
                    if target.starts_with('/') {
                        return Err(escape());
                    }
                    current = current.parent().unwrap_or_else(VirtualPath::root);
                    let floor = self.floor(mount);
                    for part in target.split('/').rev() {
                        pending.push_front((part.to_owned(), floor));
                    }
                }
                FileKind::Dir => looked_up = Some(Node::Entry(stat)),
                _ if is_last => looked_up = Some(Node::Entry(stat)),
                _ => return Err(VfsError::new(VfsErrorKind::NotADirectory)),
            }
        }
        let node = match looked_up {
            Some(node) => node,
            None => self.lookup_no_follow(&current).await?,
        };
        let (mount, rel) = self.locate(&current);
        Ok(Resolved {
            path: current,
            mount,
            rel,
            node,
        })
    }

    /// The text of the symlink at `rel` in mount `mount` (UTF-8 only: other targets cannot be
    /// expressed as virtual paths).
    pub(crate) async fn link_text(
        &self,
        mount: usize,
        rel: &std::path::Path,
    ) -> Result<String, VfsError> {
        self.storage(mount).read_link(rel).await
    }

    /// What is at `path` itself, without following a final symlink.
    async fn lookup_no_follow(&self, path: &VirtualPath) -> Result<Node, VfsError> {
        if let Some(node) = self.structural(path) {
            return Ok(node);
        }
        let (mount, rel) = self.locate(path);
        match self.storage(mount).metadata(&rel).await? {
            Some(stat) => Ok(Node::Entry(stat)),
            None => Ok(Node::Missing),
        }
    }

    /// The metadata of a resolved node; structural directories report their mount's root (or
    /// the real directory behind a synthetic one, when there is one).
    pub(crate) async fn stat(&self, resolved: &Resolved) -> Result<FileStat, VfsError> {
        self.node_stat(&resolved.path, &resolved.node).await
    }

    /// The metadata of `node` found at `path` (see [`MountTable::stat`]).
    pub(crate) async fn node_stat(
        &self,
        path: &VirtualPath,
        node: &Node,
    ) -> Result<FileStat, VfsError> {
        match node {
            Node::Missing => Err(VfsError::new(VfsErrorKind::NotFound)),
            Node::Entry(stat) => Ok(stat.clone()),
            Node::MountRoot(index) => self.dir_stat(*index).await,
            Node::Synthetic => {
                let (mount, rel) = self.locate(path);
                match self.storage(mount).metadata(&rel).await {
                    Ok(Some(stat)) if stat.is_dir() => Ok(stat),
                    _ => self.dir_stat(mount).await,
                }
            }
        }
    }

    async fn dir_stat(&self, index: usize) -> Result<FileStat, VfsError> {
        self.storage(index)
            .metadata(std::path::Path::new("."))
            .await?
            .ok_or_else(|| VfsError::new(VfsErrorKind::NotFound))
    }

    /// Interprets the symlink text `target` found at (or given for) a link in `link_dir`.
    ///
    /// `..` may not climb above depth `floor`. The result is lexical (no symlinks followed).
    pub(crate) fn lexical_target(
        link_dir: &VirtualPath,
        target: &str,
        floor: usize,
    ) -> Result<VirtualPath, VfsError> {
        if target.is_empty() {
            return Err(VfsError::with_detail(
                VfsErrorKind::InvalidPath,
                "empty symlink target",
            ));
        }
        if target.contains('\0') {
            return Err(VfsError::from(super::path::PathError::NulByte));
        }
        let mut current = if target.starts_with('/') {
            VirtualPath::root()
        } else {
            link_dir.clone()
        };
        for part in target.split('/') {
            match part {
                "" | "." => {}
                ".." if current.depth() <= floor => return Err(escape()),
                ".." => current = current.parent().unwrap_or_else(VirtualPath::root),
                name if is_reserved(name) => return Err(reserved()),
                name => current = current.join_name(name)?,
            }
        }
        Ok(current)
    }

    /// The floor for symlinks stored in mount `index` (see [`MountTable::lexical_target`]).
    pub(crate) fn link_floor(&self, index: usize) -> usize {
        self.floor(index)
    }
}

/// The relative symlink text that leads from directory `from_dir` to `target`; both lie in the
/// same mount, so the text resolves identically on disk and in virtual space.
pub(crate) fn relative_link_text(from_dir: &VirtualPath, target: &VirtualPath) -> String {
    let from: Vec<&str> = from_dir.components().collect();
    let to: Vec<&str> = target.components().collect();
    let common = from
        .iter()
        .zip(&to)
        .take_while(|(left, right)| left == right)
        .count();
    let mut parts: Vec<&str> = vec![".."; from.len() - common];
    parts.extend(&to[common..]);
    if parts.is_empty() {
        ".".to_owned()
    } else {
        parts.join("/")
    }
}

fn escape() -> VfsError {
    VfsError::with_detail(
        VfsErrorKind::PermissionDenied,
        "symlink leads outside the root",
    )
}

pub(crate) fn reserved() -> VfsError {
    VfsError::with_detail(VfsErrorKind::PermissionDenied, "reserved name")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(text: &str) -> VirtualPath {
        VirtualPath::parse_absolute(text).unwrap()
    }

    #[test]
    fn relative_link_text_table() {
        assert_eq!(relative_link_text(&path("/a/b"), &path("/a/b/c")), "c");
        assert_eq!(relative_link_text(&path("/a/b"), &path("/a/x")), "../x");
        assert_eq!(relative_link_text(&path("/a/b"), &path("/")), "../..");
        assert_eq!(relative_link_text(&path("/"), &path("/x/y")), "x/y");
        assert_eq!(relative_link_text(&path("/a"), &path("/a")), ".");
    }

    #[test]
    fn lexical_target_refuses_climbing_above_the_floor() {
        let dir = path("/a");
        assert_eq!(
            MountTable::lexical_target(&dir, "../b", 0).unwrap(),
            path("/b")
        );
        assert_eq!(
            MountTable::lexical_target(&dir, "/x/./y", 0).unwrap(),
            path("/x/y")
        );
        for bad in ["../..", "../../etc/passwd", "x/../../.."] {
            let error = MountTable::lexical_target(&dir, bad, 0).unwrap_err();
            assert_eq!(error.kind, VfsErrorKind::PermissionDenied, "{bad}");
        }
        let error = MountTable::lexical_target(&dir, "..", 1).unwrap_err();
        assert_eq!(error.kind, VfsErrorKind::PermissionDenied);
        let error = MountTable::lexical_target(&dir, "", 0).unwrap_err();
        assert_eq!(error.kind, VfsErrorKind::InvalidPath);
        let error = MountTable::lexical_target(&dir, ".ferryd-upload-1", 0).unwrap_err();
        assert_eq!(error.kind, VfsErrorKind::PermissionDenied);
    }

    fn table_with(mounts: &[&str]) -> (tempfile::TempDir, MountTable) {
        let temp = tempfile::tempdir().unwrap();
        let open = || {
            let dir = cap_std::fs::Dir::open_ambient_dir(temp.path(), cap_std::ambient_authority())
                .unwrap();
            Backend::Local(super::super::storage::LocalStorage::new(
                std::sync::Arc::new(dir),
            ))
        };
        let mounts = mounts
            .iter()
            .map(|mount| MountDir {
                virtual_path: path(mount),
                storage: open(),
            })
            .collect();
        let table = MountTable::new(open(), mounts);
        (temp, table)
    }

    #[test]
    fn longest_mount_prefix_wins() {
        let (_temp, table) = table_with(&["/shared", "/shared/deep", "/x/y"]);
        assert_eq!(table.locate(&path("/a")), (0, PathBuf::from("a")));
        assert_eq!(table.locate(&path("/shared")), (1, PathBuf::from(".")));
        assert_eq!(table.locate(&path("/shared/f")), (1, PathBuf::from("f")));
        assert_eq!(
            table.locate(&path("/shared/deep/f")),
            (2, PathBuf::from("f"))
        );
        assert_eq!(
            table.locate(&path("/sharedx")),
            (0, PathBuf::from("sharedx"))
        );
        assert!(matches!(
            table.structural(&path("/x")),
            Some(Node::Synthetic)
        ));
        assert!(matches!(
            table.structural(&path("/")),
            Some(Node::MountRoot(0))
        ));
        assert!(table.structural(&path("/a")).is_none());
        let names: Vec<String> = table
            .children(&VirtualPath::root())
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        assert_eq!(names, ["shared", "x"]);
    }
}
