//! An upload's hooks (`upload_hooks`): the digest fed as bytes go to the storage, the gate
//! between the last byte and the publish, and the notice once published.

use std::sync::PoisonError;

use super::{Core, VfsError};
use crate::vfs::error::VfsErrorKind;
use crate::vfs::upload_hooks::{hash_file, FinishedUpload};

impl Core {
    /// Feeds bytes on their way to the storage at `offset` to the digest, if one is kept.
    pub(super) fn digest(&self, offset: u64, data: &[u8]) {
        if let Some(follow) = &self.follow {
            let mut digest = follow.digest.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(digest) = digest.as_mut() {
                digest.feed(offset, data);
            }
        }
    }

    /// The finished upload as hooks see it: `staged` says whether the file is still under
    /// its temporary name. The SHA-256 comes from the stream, or from reading the local file
    /// back when the stream was out of order (a blocking read: this runs where the backend's
    /// calls run, see `Core::offload`).
    pub(super) fn finished_upload(&self, size: u64, staged: bool) -> Option<FinishedUpload> {
        let follow = self.follow.as_ref()?;
        let paths = self.staged.host_paths();
        let file = paths.map(|(temporary, final_path)| if staged { temporary } else { final_path });
        let streamed = follow
            .digest
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .and_then(|digest| digest.finish(size));
        let sha256 = streamed.or_else(|| file.as_deref().and_then(|path| hash_file(path).ok()));
        Some(FinishedUpload {
            path: self.path.clone(),
            file,
            size,
            sha256,
        })
    }

    /// Runs the gates on `upload`; a refusal is an error carrying the hook's reason.
    pub(super) async fn pass_gate(&self, upload: &FinishedUpload) -> Result<(), VfsError> {
        let Some(follow) = self.follow.as_ref().filter(|follow| follow.gated()) else {
            return Ok(());
        };
        follow.hooks.gate(upload).await.map_err(|reason| {
            tracing::info!(path = %self.path, %reason, "upload refused by its gate hook");
            VfsError::with_message(VfsErrorKind::Refused, reason).at(&self.path)
        })
    }

    /// Tells the hooks the upload is published.
    pub(super) fn announce(&self, mut upload: FinishedUpload) {
        if let Some(follow) = &self.follow {
            if let Some((_, final_path)) = self.staged.host_paths() {
                upload.file = Some(final_path);
            }
            follow.hooks.published(upload);
        }
    }
}
