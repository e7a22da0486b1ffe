//! Leftovers: temporary upload files that no running upload owns.
//!
//! An upload that dies with the process (`kill -9`, a crash, a power cut) leaves its hidden
//! temporary file behind: nobody will ever rename or remove it, clients cannot see it, and a
//! directory holding one cannot be removed. Every temporary name a live writer uses is
//! recorded in `names` before its file exists and released only after the file is gone, so a
//! temporary file whose name nobody owns is a leftover, with no guessing by age.
//!
//! [`sweep`] walks directories (the server passes every user's home and folder) and removes
//! such files, moves them aside, or only reports them; it claims each name in the record
//! first, so a concurrent upload can never pick it up halfway. The walk is blocking, bounded
//! in entries, never follows symlinks (directories are opened relative to their parent's
//! handle with `O_NOFOLLOW`) and stops early when asked to.
//!
//! [`clear_for_rmdir`] serves `rmdir` of a directory that looks empty to its client because
//! only leftovers remain in it.

use std::collections::HashSet;
use std::io;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use cap_std::fs::{Dir, MetadataExt as _};

use super::disk::{self, Access};
use super::walk::walk;
use crate::vfs::error::{VfsError, VfsErrorKind};
use crate::vfs::names::{claim, is_temp_name};

/// What a sweep does with each leftover it finds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeftoverAction {
    /// Delete it.
    Remove,
    /// Leave it where it is and only report it.
    Keep,
    /// Move it into this directory (created if missing), under a visible name; across file
    /// systems it is copied, synced, and only then removed.
    MoveTo(PathBuf),
}

/// What one sweep saw and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Distinct directories walked (homes and folders that exist).
    pub roots: usize,
    /// Directory entries looked at.
    pub entries: u64,
    /// False when the walk stopped at the entry limit or was cancelled.
    pub complete: bool,
    /// Leftovers found.
    pub found: u64,
    /// Their total size in bytes.
    pub bytes: u64,
    /// Leftovers removed or moved (none with [`LeftoverAction::Keep`]).
    pub handled: u64,
    /// Leftovers or directories that could not be handled (each logged at warn).
    pub failed: u64,
}

/// A sweep that could not start at all.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// The directory leftovers are moved into cannot be created or opened.
    #[error("cannot open {} to move leftover uploads into: {source}", path.display())]
    MoveDir {
        /// The configured directory.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}

/// Most entries `clear_for_rmdir` looks at: a directory the client sees as empty holds only
/// leftovers, and thousands of them are not worth a scan inside one command.
const MAX_RMDIR_ENTRIES: usize = 10_000;

/// Walks each of `roots` (host paths; missing ones are skipped) and applies `action` to every
/// temporary upload file no live writer owns, looking at no more than `max_entries` entries
/// in total and stopping early once `stop` is set. Blocking.
pub fn sweep(
    roots: &[PathBuf],
    action: &LeftoverAction,
    max_entries: u64,
    stop: &AtomicBool,
) -> Result<SweepReport, SweepError> {
    let target = match action {
        LeftoverAction::MoveTo(path) => Some(open_move_dir(path)?),
        _ => None,
    };
    let mut walk = Walk {
        action,
        target: target.as_ref(),
        max_entries,
        stop,
        report: SweepReport {
            complete: true,
            ..SweepReport::default()
        },
    };
    let mut seen = HashSet::new();
    for root in roots {
        let dir = match Dir::open_ambient_dir(root, cap_std::ambient_authority()) {
            Ok(dir) => dir,
            // A user who never logged in has no home yet.
            Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
            Err(error) => {
                tracing::warn!(dir = %root.display(), %error, "cannot walk for leftover uploads");
                walk.report.failed += 1;
                continue;
            }
        };
        // Users sharing a home, or a folder mounted for many users, are walked once.
        let identity = dir
            .dir_metadata()
            .map(|metadata| (metadata.dev(), metadata.ino()));
        if let Ok(identity) = identity {
            if !seen.insert(identity) {
                continue;
            }
        }
        walk.report.roots += 1;
        if !walk.tree(root, &dir) {
            walk.report.complete = false;
            break;
        }
    }
    Ok(walk.report)
}

/// Creates (0700) and opens the directory leftovers are moved into.
fn open_move_dir(path: &Path) -> Result<Dir, SweepError> {
    use std::os::unix::fs::DirBuilderExt as _;
    let failed = |source| SweepError::MoveDir {
        path: path.to_owned(),
        source,
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(failed)?;
    Dir::open_ambient_dir(path, cap_std::ambient_authority()).map_err(failed)
}

struct Walk<'a> {
    action: &'a LeftoverAction,
    target: Option<&'a Dir>,
    max_entries: u64,
    stop: &'a AtomicBool,
    report: SweepReport,
}

impl Walk<'_> {
    /// Walks one tree (see `walk`). False when the entry limit or `stop` cut it short.
    fn tree(&mut self, root_path: &Path, root: &Dir) -> bool {
        walk(root, |dir, rel, entry, file_type| {
            if self.stop.load(Ordering::Relaxed) || self.report.entries >= self.max_entries {
                return ControlFlow::Break(());
            }
            self.report.entries += 1;
            let name = entry.file_name();
            if let Some(name) = name.to_str().filter(|name| is_temp_name(name)) {
                if file_type.is_file() {
                    self.leftover(dir, name, &root_path.join(rel).join(name));
                }
            }
            ControlFlow::Continue(())
        })
    }

    /// Handles the temporary file `name` in `dir` unless a live upload owns it.
    fn leftover(&mut self, dir: &Dir, name: &str, shown: &Path) {
        let Some(_claimed) = claim(name) else { return };
        // Looked at again now that nobody else can have it: it may have been committed or
        // removed between the listing and the claim.
        let size = match dir.symlink_metadata(name) {
            Ok(metadata) if metadata.is_file() => metadata.len(),
            _ => return,
        };
        self.report.found += 1;
        self.report.bytes = self.report.bytes.saturating_add(size);
        let result = match (self.action, self.target) {
            (LeftoverAction::Keep, _) => {
                tracing::debug!(file = %shown.display(), bytes = size, "leftover upload kept");
                return;
            }
            (LeftoverAction::MoveTo(target_path), Some(target)) => move_aside(dir, name, target)
                .map(|moved| {
                    tracing::debug!(
                        file = %shown.display(),
                        bytes = size,
                        to = %target_path.join(moved).display(),
                        "leftover upload moved"
                    );
                }),
            _ => dir.remove_file(name).map_err(VfsError::from_io).map(|()| {
                tracing::debug!(file = %shown.display(), bytes = size, "leftover upload removed");
            }),
        };
        match result {
            Ok(()) => self.report.handled += 1,
            // Gone meanwhile (an rmdir of its directory, a first login's cleanup): nothing left.
            Err(error) if error.kind == VfsErrorKind::NotFound => {}
            Err(error) => {
                tracing::warn!(file = %shown.display(), %error, "cannot handle leftover upload");
                self.report.failed += 1;
            }
        }
    }
}

/// Moves `name` out of `dir` into `target` under a visible name (the temporary name without
/// its leading dot, numbered when taken), returning that name. Never replaces a file.
pub(crate) fn move_aside(dir: &Dir, name: &str, target: &Dir) -> Result<String, VfsError> {
    let visible = name.trim_start_matches('.');
    let stem = visible.strip_suffix(".part").unwrap_or(visible);
    for attempt in 0..1000u32 {
        let candidate = match attempt {
            0 => visible.to_owned(),
            n => format!("{stem}-{n}.part"),
        };
        let moved =
            match disk::rename_no_replace(dir, Path::new(name), target, Path::new(&candidate)) {
                Err(error) if error.kind == VfsErrorKind::CrossDevice => {
                    copy_then_remove(dir, name, target, &candidate)
                }
                other => other,
            };
        match moved {
            Ok(()) => return Ok(candidate),
            Err(error) if error.kind == VfsErrorKind::AlreadyExists => continue,
            Err(error) => return Err(error),
        }
    }
    Err(VfsError::with_detail(
        VfsErrorKind::AlreadyExists,
        "no free name for a moved leftover upload",
    ))
}

/// The cross-file-system move: copy, `fsync`, and remove the original only once the copy is
/// durable; a failed copy is deleted and the original stays.
fn copy_then_remove(dir: &Dir, name: &str, target: &Dir, to: &str) -> Result<(), VfsError> {
    let (source, _) = disk::open_regular(dir, Path::new(name), Access::Read)?;
    let mode = dir
        .symlink_metadata(name)
        .map_or(0o600, |metadata| metadata.mode() & 0o777);
    let create = Access::CreateNew {
        append: false,
        mode,
    };
    let (mut copy, _) = disk::open_regular(target, Path::new(to), create)?;
    let copied = io::copy(&mut &source, &mut copy).and_then(|_| copy.sync_all());
    if let Err(error) = copied {
        let _ = target.remove_file(to);
        return Err(VfsError::from_io(error));
    }
    dir.remove_file(name).map_err(VfsError::from_io)
}

/// For `rmdir` of `dir`, which is not empty on disk: when every entry is a temporary upload
/// file no live writer owns, removes them all and returns true; otherwise removes nothing and
/// returns false (the directory really is not empty, or an upload into it is running).
pub(crate) fn clear_for_rmdir(dir: &Dir) -> bool {
    let Ok(entries) = dir.entries() else {
        return false;
    };
    let mut claimed = Vec::new();
    for entry in entries {
        if claimed.len() >= MAX_RMDIR_ENTRIES {
            return false;
        }
        let Ok(entry) = entry else { return false };
        let is_file = entry.file_type().is_ok_and(|kind| kind.is_file());
        let name = entry.file_name();
        let Some(name) = name.to_str().filter(|name| is_file && is_temp_name(name)) else {
            return false;
        };
        // All claimed before any is removed, so a live upload anywhere in the list leaves
        // the directory untouched.
        match claim(name) {
            Some(owned) => claimed.push(owned),
            None => return false,
        }
    }
    claimed.iter().all(|owned| match dir.remove_file(owned) {
        Ok(()) => true,
        Err(error) => error.kind() == io::ErrorKind::NotFound,
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt as _;

    use super::*;
    use crate::vfs::names::{is_owned, temp_name};

    /// A leftover: a temporary file whose name was released (its writer is gone).
    fn plant_leftover(dir: &Path, data: &[u8]) -> PathBuf {
        let name = temp_name();
        let path = dir.join(name.as_ref() as &Path);
        std::fs::write(&path, data).unwrap();
        path
    }

    fn run(roots: &[PathBuf], action: &LeftoverAction, max_entries: u64) -> SweepReport {
        sweep(roots, action, max_entries, &AtomicBool::new(false)).unwrap()
    }

    fn open(path: &Path) -> Dir {
        Dir::open_ambient_dir(path, cap_std::ambient_authority()).unwrap()
    }

    #[test]
    fn unowned_temp_files_go_and_everything_else_stays() {
        let temp = tempfile::tempdir().unwrap();
        let home = temp.path().join("home");
        let outside = temp.path().join("outside");
        std::fs::create_dir_all(home.join("a/b")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        let top = plant_leftover(&home, &[0; 100]);
        let deep = plant_leftover(&home.join("a/b"), &[0; 23]);
        // A live upload: its name stays owned while the guard lives.
        let live = temp_name();
        let live_path = home.join("a").join(live.as_ref() as &Path);
        std::fs::write(&live_path, b"uploading").unwrap();
        std::fs::write(home.join("a/keep.txt"), b"user data").unwrap();
        std::fs::write(home.join(".ferryd-upload-notes"), b"not ours").unwrap();
        // Not followed: neither the symlinked directory nor a symlink shaped like a temp file.
        let beyond = plant_leftover(&outside, b"elsewhere");
        std::os::unix::fs::symlink(&outside, home.join("link")).unwrap();
        std::os::unix::fs::symlink(&beyond, home.join(".ferryd-upload-0000000000000001.part"))
            .unwrap();

        let report = run(std::slice::from_ref(&home), &LeftoverAction::Remove, 1000);
        assert!(!top.exists() && !deep.exists());
        assert!(live_path.exists());
        assert!(beyond.exists());
        assert!(home.join("a/keep.txt").exists() && home.join(".ferryd-upload-notes").exists());
        assert_eq!(
            (report.found, report.bytes, report.handled, report.failed),
            (2, 123, 2, 0)
        );
        assert!(report.complete);
        assert_eq!(report.roots, 1);
        // The claims of the sweep are released again.
        assert!(!is_owned(top.file_name().unwrap().to_str().unwrap()));

        drop(live);
        let report = run(&[home], &LeftoverAction::Remove, 1000);
        assert_eq!((report.found, report.bytes), (1, 9));
        assert!(!live_path.exists());
    }

    #[test]
    fn keep_only_reports() {
        let temp = tempfile::tempdir().unwrap();
        let leftover = plant_leftover(temp.path(), &[0; 7]);
        let report = run(&[temp.path().to_owned()], &LeftoverAction::Keep, 1000);
        assert_eq!((report.found, report.bytes, report.handled), (1, 7, 0));
        assert!(leftover.exists());
    }

    #[test]
    fn the_walk_is_bounded_and_shared_or_missing_roots_are_handled() {
        let temp = tempfile::tempdir().unwrap();
        for index in 0..10 {
            std::fs::write(temp.path().join(format!("file{index}")), b"x").unwrap();
        }
        let leftover = plant_leftover(temp.path(), b"x");
        let root = temp.path().to_owned();
        // Keep: the leftover may be among the first three entries (readdir order is the file
        // system's), and the walk below must still find it.
        let report = run(std::slice::from_ref(&root), &LeftoverAction::Keep, 3);
        assert_eq!(report.entries, 3);
        assert!(!report.complete);

        let missing = temp.path().join("never-logged-in");
        let report = run(
            &[root.clone(), missing, root.join(".")],
            &LeftoverAction::Remove,
            1000,
        );
        assert!(report.complete);
        assert_eq!((report.roots, report.found, report.failed), (1, 1, 0));
        assert!(!leftover.exists());

        let report = sweep(
            &[root],
            &LeftoverAction::Remove,
            1000,
            &AtomicBool::new(true),
        )
        .unwrap();
        assert_eq!(report.entries, 0);
        assert!(!report.complete);
    }

    #[test]
    fn move_mode_keeps_the_data_under_a_visible_name_and_never_replaces() {
        let temp = tempfile::tempdir().unwrap();
        let home = temp.path().join("home");
        std::fs::create_dir(&home).unwrap();
        let first = plant_leftover(&home, b"first");
        let name = first.file_name().unwrap().to_str().unwrap().to_owned();
        let target = temp.path().join("state/leftovers");
        let action = LeftoverAction::MoveTo(target.clone());
        let report = run(std::slice::from_ref(&home), &action, 1000);
        assert_eq!((report.found, report.handled), (1, 1));
        let visible = target.join(&name[1..]);
        assert_eq!(std::fs::read(&visible).unwrap(), b"first");
        assert!(!first.exists());
        assert_eq!(
            std::fs::metadata(&target).unwrap().mode() & 0o777,
            0o700,
            "created private"
        );
        // The same name again (a second crash, a restored backup): numbered, not replaced.
        std::fs::write(home.join(&name), b"second").unwrap();
        run(std::slice::from_ref(&home), &action, 1000);
        assert_eq!(std::fs::read(&visible).unwrap(), b"first");
        let stem = name[1..].strip_suffix(".part").unwrap();
        assert_eq!(
            std::fs::read(target.join(format!("{stem}-1.part"))).unwrap(),
            b"second"
        );
        // Moved files are not leftovers for a later sweep of a tree that holds them.
        let report = run(&[temp.path().to_owned()], &action, 1000);
        assert_eq!(report.found, 0);
    }

    #[test]
    fn a_move_dir_that_cannot_be_made_fails_the_sweep() {
        let temp = tempfile::tempdir().unwrap();
        std::fs::write(temp.path().join("file"), b"x").unwrap();
        let action = LeftoverAction::MoveTo(temp.path().join("file/below"));
        let error = sweep(&[], &action, 10, &AtomicBool::new(false)).unwrap_err();
        assert!(error.to_string().contains("file/below"), "{error}");
    }

    #[test]
    fn moving_across_file_systems_copies_then_removes() {
        let temp = tempfile::tempdir().unwrap();
        let source = plant_leftover(temp.path(), &vec![7u8; 300_000]);
        let name = source.file_name().unwrap().to_str().unwrap().to_owned();
        let target = tempfile::tempdir().unwrap();
        copy_then_remove(&open(temp.path()), &name, &open(target.path()), "copy.part").unwrap();
        assert!(!source.exists());
        assert_eq!(
            std::fs::read(target.path().join("copy.part")).unwrap(),
            vec![7u8; 300_000]
        );
        // An existing target is never overwritten, and the original then stays.
        let again = plant_leftover(temp.path(), b"again");
        let again_name = again.file_name().unwrap().to_str().unwrap().to_owned();
        let error = copy_then_remove(
            &open(temp.path()),
            &again_name,
            &open(target.path()),
            "copy.part",
        )
        .unwrap_err();
        assert_eq!(error.kind, VfsErrorKind::AlreadyExists);
        assert!(again.exists());
        // A real second file system, when the machine has one (tmpfs in /dev/shm).
        let shm = Path::new("/dev/shm");
        let other_fs = std::fs::metadata(shm)
            .is_ok_and(|shm| shm.dev() != std::fs::metadata(temp.path()).unwrap().dev());
        if other_fs {
            let elsewhere = tempfile::tempdir_in(shm).unwrap();
            let moved =
                move_aside(&open(temp.path()), &again_name, &open(elsewhere.path())).unwrap();
            assert_eq!(
                std::fs::read(elsewhere.path().join(moved)).unwrap(),
                b"again"
            );
            assert!(!again.exists());
        }
    }

    #[test]
    fn rmdir_clears_only_a_directory_of_unowned_leftovers() {
        let temp = tempfile::tempdir().unwrap();
        let first = plant_leftover(temp.path(), b"1");
        let second = plant_leftover(temp.path(), b"2");
        let live = temp_name();
        let live_path = temp.path().join(live.as_ref() as &Path);
        std::fs::write(&live_path, b"uploading").unwrap();
        let dir = open(temp.path());
        assert!(!clear_for_rmdir(&dir));
        assert!(first.exists() && second.exists() && live_path.exists());
        drop(live);
        std::fs::write(temp.path().join("user-file"), b"x").unwrap();
        assert!(!clear_for_rmdir(&dir));
        assert!(first.exists() && second.exists() && live_path.exists());
        std::fs::remove_file(temp.path().join("user-file")).unwrap();
        assert!(clear_for_rmdir(&dir));
        assert_eq!(std::fs::read_dir(temp.path()).unwrap().count(), 0);
    }
}
