//! Links: creating and reading symbolic links, creating hard links.
//!
//! Symlinks are where confinement is easiest to get wrong, so their rules live together here.
//! A client's target (absolute virtual path or relative text) is normalised in virtual space,
//! refused if it climbs above the root or lands in another mount, and stored as relative text,
//! so it resolves to the same object on disk as in the view. Reading a link returns its text as
//! stored (as OpenSSH does, so mirroring clients recreate relative links as they were), but
//! only a relative text that stays inside the view: an absolute text (which only someone with
//! shell access can plant) or one that climbs out of the root or mount is refused, so no server
//! path is ever shown. A hard link shares data between two names, so it may not give write
//! access that the existing name does not have.

use super::error::{VfsError, VfsErrorKind};
use super::path::{self, PathError, VirtualPath};
use super::permissions::Permissions;
use super::resolve::{self, Follow, MountTable, Node};
use super::storage::{Need, Storage as _};
use super::Inner;

impl Inner {
    pub(super) async fn symlink(&self, target: &str, link: &VirtualPath) -> Result<(), VfsError> {
        if target.len() > path::MAX_PATH_BYTES {
            return Err(VfsError::from(PathError::TooLong));
        }
        self.check_upload_name(link.file_name())?;
        let resolved = self.resolve(link, Follow::No, Permissions::LINK).await?;
        if !matches!(resolved.node, Node::Missing) {
            return Err(VfsError::new(VfsErrorKind::AlreadyExists));
        }
        self.check_upload_name(resolved.name())?;
        let link_dir = resolved.path.parent().unwrap_or_else(VirtualPath::root);
        let target_path = MountTable::lexical_target(&link_dir, target, 0)?;
        if self.mounts.locate(&target_path).0 != resolved.mount {
            return Err(VfsError::new(VfsErrorKind::CrossDevice));
        }
        let text = resolve::relative_link_text(&link_dir, &target_path);
        let storage = self.mounts.storage(resolved.mount);
        storage.capabilities().require(Need::Symlinks)?;
        storage.symlink(&text, &resolved.rel).await
    }

    pub(super) async fn read_link(&self, path: &VirtualPath) -> Result<String, VfsError> {
        let resolved = self.resolve(path, Follow::No, Permissions::LIST).await?;
        match resolved.entry() {
            None if matches!(resolved.node, Node::Missing) => {
                return Err(VfsError::new(VfsErrorKind::NotFound))
            }
            Some(stat) if stat.is_symlink() => {}
            _ => {
                return Err(VfsError::with_detail(
                    VfsErrorKind::InvalidPath,
                    "not a symbolic link",
                ))
            }
        }
        let text = self.mounts.link_text(resolved.mount, &resolved.rel).await?;
        if text.starts_with('/') {
            return Err(VfsError::with_detail(
                VfsErrorKind::PermissionDenied,
                "symlink leads outside the root",
            ));
        }
        // Only checks that the text stays inside; what the client gets is the text itself.
        let link_dir = resolved.path.parent().unwrap_or_else(VirtualPath::root);
        let floor = self.mounts.link_floor(resolved.mount);
        MountTable::lexical_target(&link_dir, &text, floor)?;
        Ok(text)
    }

    pub(super) async fn hard_link(
        &self,
        existing: &VirtualPath,
        new: &VirtualPath,
    ) -> Result<(), VfsError> {
        self.check_names(new).map_err(|error| error.at(new))?;
        self.require(new, Permissions::LINK)?;
        let source = self
            .resolve_existing(existing, Follow::No, Permissions::DOWNLOAD)
            .await?;
        let target = self
            .mounts
            .resolve(new, Follow::No)
            .await
            .map_err(|error| error.or_path(new))?;
        self.require(&target.path, Permissions::LINK)
            .map_err(|error| error.at(new))?;
        if !matches!(target.node, Node::Missing) {
            return Err(VfsError::new(VfsErrorKind::AlreadyExists).at(new));
        }
        let Some(source_stat) = source.entry() else {
            return Err(VfsError::new(VfsErrorKind::NotFound));
        };
        if source_stat.is_dir() {
            return Err(VfsError::with_detail(
                VfsErrorKind::PermissionDenied,
                "cannot hard-link a directory",
            ));
        }
        if source.mount != target.mount {
            return Err(VfsError::new(VfsErrorKind::CrossDevice));
        }
        // A second name shares the data: it must not open a write path the first one lacks.
        let writable = |path: &VirtualPath| {
            self.permissions
                .for_path(path)
                .contains(Permissions::OVERWRITE)
        };
        if (writable(new) || writable(&target.path))
            && !(writable(existing) && writable(&source.path))
        {
            return Err(VfsError::new(VfsErrorKind::PermissionDenied).at(new));
        }
        self.check_upload_name(new.file_name())
            .and_then(|()| self.check_upload_name(target.name()))
            .map_err(|error| error.at(new))?;
        let storage = self.mounts.storage(source.mount);
        storage.capabilities().require(Need::HardLinks)?;
        let quota = self
            .quota_for(source.mount)
            .filter(|_| source_stat.is_file());
        if let Some(quota) = quota {
            quota.reserve_files(1)?;
            if let Err(error) = quota.reserve_bytes(source_stat.size, 0) {
                quota.release_files(1);
                return Err(error);
            }
        }
        let linked = storage.hard_link(&source.rel, &target.rel).await;
        if let (Err(_), Some(quota)) = (&linked, quota) {
            quota.release_files(1);
            quota.release_bytes(source_stat.size);
        }
        linked.map_err(|error| error.at(new))
    }
}
