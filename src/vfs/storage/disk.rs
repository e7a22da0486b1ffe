//! Blocking disk primitives that cap-std lacks or that need extra care.
//!
//! Everything here acts relative to an already-confined `cap_std::fs::Dir`, and the rustix calls
//! take single file names (never paths), so they inherit the handle's confinement: the last
//! component of a `renameat2` is never followed.

use std::fs::File;
use std::io;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use cap_fs_ext::{FollowSymlinks, OpenOptionsFollowExt as _};
use cap_std::fs::{Dir, OpenOptions, OpenOptionsExt as _};
use rustix::fs::{OFlags, RenameFlags};
use rustix::io::Errno;

use crate::vfs::error::{VfsError, VfsErrorKind};
use crate::vfs::metadata::{FileKind, FileStat};

/// How to open a regular file.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Access {
    /// Read only.
    Read,
    /// Write an existing file in place.
    Write,
    /// Write an existing file, every write at its end (`O_APPEND`).
    Append,
    /// Create a new file; fails if the name exists (`O_EXCL`).
    CreateNew {
        /// Open with `O_APPEND`.
        append: bool,
        /// The new file's permission bits, set exactly: the process umask is overridden.
        mode: u32,
    },
}

/// Opens `rel` in `dir` as a regular file without following a final symlink.
///
/// `O_NONBLOCK` keeps a FIFO planted in the tree from hanging the open; the `fstat` check then
/// refuses anything that is not a regular file before a single byte moves.
pub(crate) fn open_regular(
    dir: &Dir,
    rel: &Path,
    access: Access,
) -> Result<(File, FileStat), VfsError> {
    let mut options = OpenOptions::new();
    let mut flags = OFlags::NONBLOCK;
    match access {
        Access::Read => {
            options.read(true);
        }
        Access::Write => {
            options.write(true);
        }
        Access::Append => {
            options.write(true);
            flags |= OFlags::APPEND;
        }
        Access::CreateNew { append, mode } => {
            // The process umask can only take bits away from `mode`, so the file is never
            // more open than asked, even for the instant before the exact mode is set below.
            options.write(true).create_new(true).mode(mode & 0o777);
            if append {
                flags |= OFlags::APPEND;
            }
        }
    }
    options
        .follow(FollowSymlinks::No)
        .custom_flags(i32::try_from(flags.bits()).unwrap_or(0));
    let file = dir
        .open_with(rel, &options)
        .map_err(VfsError::from_io)?
        .into_std();
    let mut stat = FileStat::of_file(&file).map_err(VfsError::from_io)?;
    if let (Access::CreateNew { mode, .. }, FileKind::File) = (access, stat.kind) {
        let mode = mode & 0o777;
        if stat.mode != mode {
            file.set_permissions(std::fs::Permissions::from_mode(mode))
                .map_err(VfsError::from_io)?;
            stat.mode = mode;
        }
    }
    match stat.kind {
        FileKind::File => Ok((file, stat)),
        FileKind::Dir => Err(VfsError::new(VfsErrorKind::IsADirectory)),
        _ => Err(VfsError::with_detail(
            VfsErrorKind::PermissionDenied,
            "not a regular file",
        )),
    }
}

/// Renames `from` in `from_dir` to `to` in `to_dir`, failing with `AlreadyExists` if `to`
/// exists. Both names are single components.
///
/// Uses `renameat2(RENAME_NOREPLACE)`; file systems without it get a hard link plus unlink for
/// files (also atomic against a concurrent creator), and a check-then-rename for directories.
pub(crate) fn rename_no_replace(
    from_dir: &Dir,
    from: &Path,
    to_dir: &Dir,
    to: &Path,
) -> Result<(), VfsError> {
    match rustix::fs::renameat_with(from_dir, from, to_dir, to, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(()),
        Err(Errno::INVAL | Errno::NOSYS | Errno::NOTSUP) => {
            match from_dir.hard_link(from, to_dir, to) {
                Ok(()) => from_dir.remove_file(from).map_err(VfsError::from_io),
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
                    Err(VfsError::from_io(error))
                }
                Err(_) => match to_dir.symlink_metadata(to) {
                    Ok(_) => Err(VfsError::new(VfsErrorKind::AlreadyExists)),
                    Err(error) if error.kind() == io::ErrorKind::NotFound => {
                        from_dir.rename(from, to_dir, to).map_err(VfsError::from_io)
                    }
                    Err(error) => Err(VfsError::from_io(error)),
                },
            }
        }
        Err(errno) => Err(VfsError::from_io(io::Error::from(errno))),
    }
}

/// Opens the directory `rel` in `dir` without following a final symlink (`.` is `dir` itself).
pub(crate) fn open_dir(dir: &Dir, rel: &Path) -> Result<Dir, VfsError> {
    use cap_fs_ext::DirExt as _;
    let opened = if rel == Path::new(".") {
        dir.try_clone()
    } else {
        dir.open_dir_nofollow(rel)
    };
    opened.map_err(VfsError::from_io)
}

/// File-system capacity of the file system holding `dir` (`fstatvfs`).
pub(crate) fn statvfs(dir: &Dir) -> Result<rustix::fs::StatVfs, VfsError> {
    rustix::fs::fstatvfs(dir).map_err(|errno| VfsError::from_io(io::Error::from(errno)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(path: &Path) -> Dir {
        Dir::open_ambient_dir(path, cap_std::ambient_authority()).unwrap()
    }

    #[test]
    fn no_replace_rename_refuses_an_existing_target() {
        let temp = tempfile::tempdir().unwrap();
        std::fs::write(temp.path().join("a"), b"a").unwrap();
        std::fs::write(temp.path().join("b"), b"b").unwrap();
        let dir = open(temp.path());
        let error = rename_no_replace(&dir, Path::new("a"), &dir, Path::new("b")).unwrap_err();
        assert_eq!(error.kind, VfsErrorKind::AlreadyExists);
        rename_no_replace(&dir, Path::new("a"), &dir, Path::new("c")).unwrap();
        assert_eq!(std::fs::read(temp.path().join("c")).unwrap(), b"a");
        assert_eq!(std::fs::read(temp.path().join("b")).unwrap(), b"b");
    }

    #[test]
    fn open_regular_refuses_fifos_symlinks_and_directories() {
        let temp = tempfile::tempdir().unwrap();
        std::fs::create_dir(temp.path().join("d")).unwrap();
        std::fs::write(temp.path().join("f"), b"x").unwrap();
        std::os::unix::fs::symlink("f", temp.path().join("l")).unwrap();
        let status = std::process::Command::new("mkfifo")
            .arg(temp.path().join("p"))
            .status();
        let dir = open(temp.path());
        assert!(open_regular(&dir, Path::new("f"), Access::Read).is_ok());
        let error = open_regular(&dir, Path::new("d"), Access::Read).unwrap_err();
        assert_eq!(error.kind, VfsErrorKind::IsADirectory);
        let error = open_regular(&dir, Path::new("l"), Access::Read).unwrap_err();
        assert_eq!(error.kind, VfsErrorKind::PermissionDenied);
        if status.map(|status| status.success()).unwrap_or(false) {
            let error = open_regular(&dir, Path::new("p"), Access::Read).unwrap_err();
            assert_eq!(error.kind, VfsErrorKind::PermissionDenied);
        }
    }
}
