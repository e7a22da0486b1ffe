//! Directory handles shared by all sessions that open the same home or mount.
//!
//! Every operation of a session is relative to a directory handle (cap-std `Dir`), so each
//! session used to hold one descriptor per root and mount next to its socket: 10,000 idle
//! sessions needed 20,000 descriptors. Sessions of the same user (and users sharing a folder)
//! now share one handle per directory, kept alive by its sessions and dropped with the last.
//!
//! A handle is reused only while it still names the directory at that path (same device and
//! inode): a home that was moved aside and recreated gets a fresh handle for new sessions,
//! while sessions already open keep the one they started with, as before.

use std::collections::HashMap;
use std::io;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use cap_std::fs::{Dir, MetadataExt as _};

/// The open directory handles, by the path they were opened with.
#[derive(Debug, Default)]
pub(crate) struct SharedDirs {
    open: Mutex<HashMap<PathBuf, Weak<Dir>>>,
}

impl SharedDirs {
    /// The handle for `path`, shared with other live sessions when it still names the same
    /// directory. Blocking (stats and opens).
    pub(crate) fn open(&self, path: &Path) -> io::Result<Arc<Dir>> {
        let current = std::fs::metadata(path)?;
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(dir) = open.get(path).and_then(Weak::upgrade) {
            if let Ok(held) = dir.dir_metadata() {
                if held.dev() == current.dev() && held.ino() == current.ino() {
                    return Ok(dir);
                }
            }
        }
        let dir = Arc::new(Dir::open_ambient_dir(path, cap_std::ambient_authority())?);
        open.retain(|_, held| held.strong_count() > 0);
        open.insert(path.to_owned(), Arc::downgrade(&dir));
        Ok(dir)
    }

    /// Paths with a live handle (for tests and diagnostics).
    #[cfg(test)]
    pub(crate) fn live(&self) -> usize {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .filter(|held| held.strong_count() > 0)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_of_one_directory_share_a_handle_until_the_last_is_gone() {
        let temp = tempfile::tempdir().unwrap();
        let home = temp.path().join("home");
        std::fs::create_dir(&home).unwrap();
        let dirs = SharedDirs::default();
        let first = dirs.open(&home).unwrap();
        let second = dirs.open(&home).unwrap();
        assert!(Arc::ptr_eq(&first, &second));
        assert_eq!(dirs.live(), 1);
        drop((first, second));
        assert_eq!(dirs.live(), 0);
        let other = temp.path().join("other");
        std::fs::create_dir(&other).unwrap();
        let a = dirs.open(&home).unwrap();
        let b = dirs.open(&other).unwrap();
        assert!(!Arc::ptr_eq(&a, &b));
        assert_eq!(dirs.live(), 2);
    }

    #[test]
    fn a_replaced_directory_gets_a_fresh_handle() {
        let temp = tempfile::tempdir().unwrap();
        let home = temp.path().join("home");
        std::fs::create_dir(&home).unwrap();
        let dirs = SharedDirs::default();
        let old = dirs.open(&home).unwrap();
        std::fs::rename(&home, temp.path().join("moved")).unwrap();
        std::fs::create_dir(&home).unwrap();
        std::fs::write(home.join("new-file"), b"x").unwrap();
        let new = dirs.open(&home).unwrap();
        assert!(!Arc::ptr_eq(&old, &new));
        assert!(new.exists("new-file"));
        assert!(!old.exists("new-file"));
        assert!(Arc::ptr_eq(&new, &dirs.open(&home).unwrap()));
    }

    #[test]
    fn a_missing_directory_is_an_error() {
        let temp = tempfile::tempdir().unwrap();
        let dirs = SharedDirs::default();
        assert!(dirs.open(&temp.path().join("absent")).is_err());
    }
}
