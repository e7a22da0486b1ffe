//! `LocalStorage`: a directory on the server's disk, confined by its `cap_std::fs::Dir` handle.
//!
//! Every call acts relative to the handle, so the OS keeps it inside the directory whatever a
//! path or a concurrently planted symlink says (openat2 `RESOLVE_BENEATH`, or cap-std's checked
//! walk); on top of that a path with `..` or a root is refused before any system call. The
//! futures do their system calls inline and complete on their first poll
//! (`Capabilities::blocking`): the VFS runs them on tokio's blocking pool.
//!
//! Staged uploads in `Temporary` mode are hidden files in the target's directory, named and
//! owned through `names` (so `leftovers` can tell a crash's leftover from a live upload), and
//! renamed into place at publish.

use std::fs::File;
use std::io::{self, Write as _};
use std::ops::ControlFlow;
use std::os::unix::fs::{DirBuilderExt as _, FileExt as _, PermissionsExt as _};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use cap_fs_ext::{DirExt as _, SystemTimeSpec};
use cap_std::fs::{Dir, DirBuilderExt as _, PermissionsExt as _, ReadDir};

use super::contract::{Capabilities, Lister, Publish, StageMode, StagedFile, Storage};
use super::disk::{self, Access};
use super::leftovers;
pub(crate) use super::local_reader::LocalReader;
use super::shared_dirs::SharedDirs;
use super::walk::walk;
use crate::vfs::error::{VfsError, VfsErrorKind};
use crate::vfs::metadata::{DirEntry, FileStat};
use crate::vfs::names::{is_temp_name, temp_name, TempName};
use crate::vfs::space::SpaceInfo;

/// A confined local directory; cheap to clone (the handle is shared, see `shared_dirs`).
#[derive(Clone, Debug)]
pub(crate) struct LocalStorage {
    dir: Arc<Dir>,
    capabilities: Capabilities,
    /// The directory's path on the host, when it was opened by one: hooks are told where an
    /// upload's file is (`FERRYD_FILE`). Never used to reach a file from here.
    host_root: Option<PathBuf>,
}

/// Everything: a local directory is a POSIX file system.
const LOCAL_CAPABILITIES: Capabilities = Capabilities {
    blocking: true,
    random_writes: true,
    in_place_writes: true,
    atomic_rename: true,
    exclusive_publish: true,
    symlinks: true,
    hard_links: true,
    modes: true,
};

/// An open local directory stream; `None` once exhausted.
#[derive(Debug)]
pub(crate) struct LocalLister {
    stream: Option<ReadDir>,
}

/// A local upload: the open file, and for `Temporary` mode its hidden name.
#[derive(Debug)]
pub(crate) struct LocalStaged {
    file: File,
    /// The target's directory.
    parent: Dir,
    /// The final name in `parent`.
    name: String,
    /// The hidden name, for `Temporary` mode; owned until this is dropped, after the file was
    /// renamed or removed.
    temp: Option<TempName>,
    append: bool,
    /// The target's directory on the host, when known (see `LocalStorage::host_root`).
    host_parent: Option<PathBuf>,
}

impl LocalStorage {
    /// Storage over the directory `dir`.
    pub(crate) fn new(dir: Arc<Dir>) -> LocalStorage {
        LocalStorage {
            dir,
            capabilities: LOCAL_CAPABILITIES,
            host_root: None,
        }
    }

    /// Pretends to lack capabilities, so the VFS's refusals can be tested without a second
    /// backend.
    #[cfg(test)]
    pub(crate) fn restrict(&mut self, capabilities: Capabilities) {
        self.capabilities = capabilities;
    }

    /// Storage over the host directory `path` (ambient authority: only for configured homes
    /// and folders), sharing the handle with other sessions of it. Blocking.
    pub(crate) fn open(dirs: &SharedDirs, path: &Path) -> io::Result<LocalStorage> {
        let mut storage = dirs.open(path).map(LocalStorage::new)?;
        storage.host_root = Some(path.to_owned());
        Ok(storage)
    }

    /// Like [`LocalStorage::open`] for a user's home, created first (mode 0750, with its
    /// parents) when missing. Blocking.
    pub(crate) fn open_home(dirs: &SharedDirs, path: &Path) -> io::Result<LocalStorage> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o750)
            .create(path)?;
        LocalStorage::open(dirs, path)
    }
}

/// Refuses paths that could leave the root before the OS sees them: only plain names and `.`.
fn confined(rel: &Path) -> Result<&Path, VfsError> {
    let inside = rel
        .components()
        .all(|part| matches!(part, Component::Normal(_) | Component::CurDir));
    if inside && !rel.as_os_str().is_empty() {
        Ok(rel)
    } else {
        Err(VfsError::with_detail(
            VfsErrorKind::PermissionDenied,
            "path leaves the storage root",
        ))
    }
}

/// `rel` split into its parent (`.` at the top) and its final name.
fn split(rel: &Path) -> Result<(PathBuf, &Path), VfsError> {
    let Some(name) = rel.file_name() else {
        return Err(VfsError::new(VfsErrorKind::PermissionDenied));
    };
    let parent = match rel.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok((parent, Path::new(name)))
}

fn is_root(rel: &Path) -> bool {
    rel.components().all(|part| part == Component::CurDir)
}

impl Storage for LocalStorage {
    type Reader = LocalReader;
    type Lister = LocalLister;
    type Staged = LocalStaged;

    fn capabilities(&self) -> Capabilities {
        self.capabilities
    }

    async fn metadata(&self, rel: &Path) -> Result<Option<FileStat>, VfsError> {
        let rel = confined(rel)?;
        let metadata = if is_root(rel) {
            self.dir.dir_metadata()
        } else {
            self.dir.symlink_metadata(rel)
        };
        match metadata {
            Ok(metadata) => Ok(Some(FileStat::from_cap(&metadata))),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(VfsError::from_io(error)),
        }
    }

    async fn read_link(&self, rel: &Path) -> Result<String, VfsError> {
        let target = self
            .dir
            .read_link_contents(confined(rel)?)
            .map_err(VfsError::from_io)?;
        // Non-UTF-8 targets cannot be expressed as virtual paths.
        target.into_os_string().into_string().map_err(|_| {
            VfsError::with_detail(
                VfsErrorKind::PermissionDenied,
                "symlink target is not UTF-8",
            )
        })
    }

    async fn list(&self, rel: &Path) -> Result<LocalLister, VfsError> {
        let dir = disk::open_dir(&self.dir, confined(rel)?)?;
        let stream = dir.entries().map_err(VfsError::from_io)?;
        Ok(LocalLister {
            stream: Some(stream),
        })
    }

    async fn open_read(&self, rel: &Path) -> Result<(LocalReader, FileStat), VfsError> {
        let (file, stat) = disk::open_regular(&self.dir, confined(rel)?, Access::Read)?;
        Ok((LocalReader::new(file), stat))
    }

    async fn create_dir(&self, rel: &Path, mode: u32) -> Result<(), VfsError> {
        let rel = confined(rel)?;
        let mut builder = cap_std::fs::DirBuilder::new();
        builder.mode(mode);
        self.dir
            .create_dir_with(rel, &builder)
            .map_err(VfsError::from_io)?;
        // The process umask may have taken more bits than asked; the mode is exactly `mode`.
        let created = disk::open_dir(&self.dir, rel)?;
        let metadata = created.dir_metadata().map_err(VfsError::from_io)?;
        if metadata.permissions().mode() & 0o7777 != mode {
            created
                .set_permissions(".", cap_std::fs::Permissions::from_mode(mode))
                .map_err(VfsError::from_io)?;
        }
        Ok(())
    }

    async fn remove_dir(&self, rel: &Path) -> Result<(), VfsError> {
        let rel = confined(rel)?;
        let error = match self.dir.remove_dir(rel) {
            Ok(()) => return Ok(()),
            Err(error) => VfsError::from_io(error),
        };
        // Some file systems report a non-empty directory as EEXIST.
        if !matches!(
            error.kind,
            VfsErrorKind::DirectoryNotEmpty | VfsErrorKind::AlreadyExists
        ) {
            return Err(error);
        }
        // What remains may be uploads a crash left behind, which go unless one of them belongs
        // to a running upload.
        let emptied = disk::open_dir(&self.dir, rel)
            .map(|opened| leftovers::clear_for_rmdir(&opened))
            .unwrap_or(false);
        if emptied {
            return self.dir.remove_dir(rel).map_err(VfsError::from_io);
        }
        Err(VfsError {
            kind: VfsErrorKind::DirectoryNotEmpty,
            ..error
        })
    }

    async fn remove_file(&self, rel: &Path) -> Result<(), VfsError> {
        self.dir
            .remove_file(confined(rel)?)
            .map_err(VfsError::from_io)
    }

    async fn rename(&self, from: &Path, to: &Path, publish: Publish) -> Result<(), VfsError> {
        let (from, to) = (confined(from)?, confined(to)?);
        match publish {
            Publish::Replace => self
                .dir
                .rename(from, &self.dir, to)
                .map_err(VfsError::from_io),
            Publish::Exclusive => {
                let (from_parent, from_name) = split(from)?;
                let (to_parent, to_name) = split(to)?;
                disk::rename_no_replace(
                    &disk::open_dir(&self.dir, &from_parent)?,
                    from_name,
                    &disk::open_dir(&self.dir, &to_parent)?,
                    to_name,
                )
            }
        }
    }

    async fn set_times(
        &self,
        rel: &Path,
        mtime: SystemTime,
        atime: Option<SystemTime>,
    ) -> Result<(), VfsError> {
        let spec = |time| SystemTimeSpec::Absolute(cap_std::time::SystemTime::from_std(time));
        self.dir
            .set_times(confined(rel)?, atime.map(spec), Some(spec(mtime)))
            .map_err(VfsError::from_io)
    }

    async fn set_mode(&self, rel: &Path, mode: u32) -> Result<(), VfsError> {
        self.dir
            .set_permissions(confined(rel)?, cap_std::fs::Permissions::from_mode(mode))
            .map_err(VfsError::from_io)
    }

    async fn set_len(&self, rel: &Path, length: u64) -> Result<(), VfsError> {
        let (file, _) = disk::open_regular(&self.dir, confined(rel)?, Access::Write)?;
        file.set_len(length).map_err(VfsError::from_io)
    }

    async fn symlink(&self, target: &str, rel: &Path) -> Result<(), VfsError> {
        self.dir
            .symlink(target, confined(rel)?)
            .map_err(VfsError::from_io)
    }

    async fn hard_link(&self, existing: &Path, new: &Path) -> Result<(), VfsError> {
        self.dir
            .hard_link(confined(existing)?, &self.dir, confined(new)?)
            .map_err(VfsError::from_io)
    }

    async fn capacity(&self) -> Result<SpaceInfo, VfsError> {
        let vfs = disk::statvfs(&self.dir)?;
        let fragment = if vfs.f_frsize > 0 {
            vfs.f_frsize
        } else {
            vfs.f_bsize
        };
        Ok(SpaceInfo {
            total_bytes: vfs.f_blocks.saturating_mul(fragment),
            free_bytes: vfs.f_bfree.saturating_mul(fragment),
            available_bytes: vfs.f_bavail.saturating_mul(fragment),
            total_files: vfs.f_files,
            free_files: vfs.f_favail,
            block_size: vfs.f_bsize,
        })
    }

    async fn usage(&self, max_entries: u64) -> Result<(u64, u64), VfsError> {
        let (mut bytes, mut files, mut visited) = (0u64, 0u64, 0u64);
        walk(&self.dir, |_, _, entry, file_type| {
            visited += 1;
            if visited > max_entries {
                return ControlFlow::Break(());
            }
            let temporary = entry.file_name().to_str().is_some_and(is_temp_name);
            if file_type.is_file() && !temporary {
                if let Ok(metadata) = entry.metadata() {
                    bytes = bytes.saturating_add(metadata.len());
                    files += 1;
                }
            }
            ControlFlow::Continue(())
        });
        Ok((bytes, files))
    }

    async fn begin_upload(
        &self,
        parent: &Path,
        name: &str,
        mode: StageMode,
    ) -> Result<(LocalStaged, FileStat), VfsError> {
        confined(Path::new(name))?;
        if Path::new(name).components().count() != 1 {
            return Err(VfsError::new(VfsErrorKind::InvalidPath));
        }
        let rel_parent = parent;
        let parent = disk::open_dir(&self.dir, confined(parent)?)?;
        let (access, temp) = match mode {
            StageMode::Temporary { mode } => (
                Access::CreateNew {
                    append: false,
                    mode,
                },
                Some(temp_name()),
            ),
            StageMode::InPlace { append: false } => (Access::Write, None),
            StageMode::InPlace { append: true } => (Access::Append, None),
            StageMode::CreateInPlace { append, mode } => (Access::CreateNew { append, mode }, None),
        };
        let opened = match &temp {
            Some(temp) => Path::new(temp.as_str()),
            None => Path::new(name),
        };
        let (file, stat) = disk::open_regular(&parent, opened, access)?;
        let append = matches!(
            mode,
            StageMode::InPlace { append: true } | StageMode::CreateInPlace { append: true, .. }
        );
        let host_parent = self.host_root.as_ref().map(|root| root.join(rel_parent));
        let staged = LocalStaged {
            file,
            parent,
            name: name.to_owned(),
            temp,
            append,
            host_parent,
        };
        Ok((staged, stat))
    }
}

impl Lister for LocalLister {
    async fn next_page(&mut self, max: usize) -> Result<Vec<DirEntry>, VfsError> {
        let Some(stream) = self.stream.as_mut() else {
            return Ok(Vec::new());
        };
        let mut page = Vec::with_capacity(max.min(256));
        while page.len() < max {
            let entry = match stream.next() {
                None => {
                    self.stream = None;
                    break;
                }
                Some(Ok(entry)) => entry,
                Some(Err(error)) => {
                    self.stream = None;
                    return Err(VfsError::from_io(error));
                }
            };
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if name == "." || name == ".." {
                continue;
            }
            // `lstat` semantics; an entry removed since `readdir` saw it is simply not listed.
            let Ok(metadata) = entry.metadata() else {
                continue;
            };
            page.push(DirEntry {
                name,
                stat: FileStat::from_cap(&metadata),
            });
        }
        Ok(page)
    }
}

impl LocalStaged {
    /// Where the staged bytes are on the host (the temporary file until published), and
    /// where they are once published; `None` when the storage was not opened by path.
    pub(crate) fn host_paths(&self) -> Option<(PathBuf, PathBuf)> {
        let parent = self.host_parent.as_ref()?;
        let final_path = parent.join(&self.name);
        let staged = match &self.temp {
            Some(temp) => parent.join(temp.as_str()),
            None => final_path.clone(),
        };
        Some((staged, final_path))
    }
}

impl StagedFile for LocalStaged {
    async fn write_at(&self, offset: u64, data: Bytes) -> io::Result<()> {
        if self.append {
            (&self.file).write_all(&data)
        } else {
            self.file.write_all_at(&data, offset)
        }
    }

    async fn set_len(&self, length: u64) -> io::Result<()> {
        self.file.set_len(length)
    }

    async fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    async fn stat(&self) -> io::Result<FileStat> {
        FileStat::of_file(&self.file)
    }

    async fn set_mode(&self, mode: u32) -> io::Result<()> {
        self.file
            .set_permissions(std::fs::Permissions::from_mode(mode))
    }

    async fn set_times(&self, mtime: SystemTime, atime: Option<SystemTime>) -> io::Result<()> {
        let mut times = std::fs::FileTimes::new().set_modified(mtime);
        if let Some(atime) = atime {
            times = times.set_accessed(atime);
        }
        self.file.set_times(times)
    }

    async fn publish(&self, publish: Publish) -> Result<Option<u64>, VfsError> {
        let Some(temp) = &self.temp else {
            return Ok(None);
        };
        let (temp, name) = (Path::new(temp.as_str()), Path::new(&self.name));
        // What the rename replaces leaves the quota; look just before renaming.
        let replaced = match self.parent.symlink_metadata(name) {
            Ok(metadata) if metadata.is_file() => Some(metadata.len()),
            _ => None,
        };
        match publish {
            Publish::Exclusive => {
                disk::rename_no_replace(&self.parent, temp, &self.parent, name)?;
                Ok(None)
            }
            Publish::Replace => {
                self.parent
                    .rename(temp, &self.parent, name)
                    .map_err(VfsError::from_io)?;
                Ok(replaced)
            }
        }
    }

    async fn discard(&self) {
        if let Some(temp) = &self.temp {
            let _ = self.parent.remove_file(temp.as_str());
        }
    }
}

#[cfg(test)]
#[path = "local_tests.rs"]
mod tests;
