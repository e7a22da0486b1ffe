//! Opening a user's storage at login: local directories on the blocking pool (the only use
//! of ambient authority), object-storage places through the shared bucket clients.

use std::path::PathBuf;

use super::error::VfsError;
use super::object_stores::ObjectStores;
use super::path::VirtualPath;
use super::resolve::MountDir;
use super::spec::ObjectPlace;
use super::storage::shared_dirs::SharedDirs;
use super::storage::{Backend, LocalStorage};

/// Creates and opens a local root, then opens each local mount (the only use of ambient
/// authority), sharing handles with other sessions of the same directories.
pub(super) fn open_dirs(
    dirs: &SharedDirs,
    root: Option<PathBuf>,
    mounts: Vec<(VirtualPath, PathBuf)>,
) -> Result<(Option<LocalStorage>, Vec<MountDir>), VfsError> {
    let root_storage = match root {
        Some(dir) => Some(
            LocalStorage::open_home(dirs, &dir)
                .map_err(|error| VfsError::from_io(error).at(&VirtualPath::root()))?,
        ),
        None => None,
    };
    let mut mount_dirs = Vec::with_capacity(mounts.len());
    for (virtual_path, dir) in mounts {
        let storage = LocalStorage::open(dirs, &dir)
            .map_err(|error| VfsError::from_io(error).at(&virtual_path))?;
        mount_dirs.push(MountDir {
            virtual_path,
            storage: Backend::Local(storage),
        });
    }
    Ok((root_storage, mount_dirs))
}

/// The backend of a home or folder in object storage (its bucket's client is shared).
pub(super) async fn open_object(
    objects: &ObjectStores,
    place: &ObjectPlace,
    at: &VirtualPath,
) -> Result<Backend, VfsError> {
    match objects.storage(place).await {
        Ok(storage) => Ok(Backend::S3(storage)),
        Err(error) => Err(error.at(at)),
    }
}
