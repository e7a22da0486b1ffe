//! One walk of a directory tree for the VFS's own bookkeeping (quota usage, leftover sweeps).
//!
//! Breadth-first with a queue of relative paths, so depth costs memory, not stack or
//! descriptors; symlinks are never followed; a directory that vanished or cannot be opened
//! mid-walk is skipped, not fatal (files come and go under a running server, and both users
//! of the walk are estimates that later accounting or the next walk corrects).

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use cap_fs_ext::DirExt as _;
use cap_std::fs::{Dir, DirEntry, FileType};

/// Calls `visit` with every entry under `root` (its directory, the directory's path relative
/// to `root`, the entry and its type) until `visit` breaks; false when it did.
pub(crate) fn walk(
    root: &Dir,
    mut visit: impl FnMut(&Dir, &Path, &DirEntry, FileType) -> ControlFlow<()>,
) -> bool {
    let mut queue: Vec<PathBuf> = vec![PathBuf::new()];
    while let Some(rel) = queue.pop() {
        let dir = if rel.as_os_str().is_empty() {
            root.try_clone()
        } else {
            root.open_dir_nofollow(&rel)
        };
        let Ok(dir) = dir else { continue };
        let Ok(entries) = dir.entries() else { continue };
        for entry in entries {
            let Ok(entry) = entry else { continue };
            let Ok(file_type) = entry.file_type() else {
                continue;
            };
            if visit(&dir, &rel, &entry, file_type).is_break() {
                return false;
            }
            if file_type.is_dir() {
                queue.push(rel.join(entry.file_name()));
            }
        }
    }
    true
}
