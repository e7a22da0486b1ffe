//! How an upload ends: `commit` publishes it, `abort` and `Drop` discard it, each where the
//! backend's calls belong (the blocking pool for the local disk, the runtime for object
//! storage; see `Core::offload`).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{Core, VfsError};
use crate::vfs::modes::{created_mode, CommitAttributes};
use crate::vfs::storage::{wait, Publish, StagedFile as _};

impl Core {
    pub(super) async fn commit(
        self: &Arc<Self>,
        attributes: CommitAttributes,
    ) -> Result<u64, VfsError> {
        let _gate = self.gate.write().await;
        if self.is_settled() {
            return Err(self.finished());
        }
        self.offload(move |core| async move { core.commit_now(attributes).await })
            .await
    }

    pub(super) async fn abort(self: &Arc<Self>) {
        let _gate = self.gate.write().await;
        if self.is_settled() {
            return;
        }
        let discarded = self.offload(|core| async move {
            core.discard_now().await;
            Ok(())
        });
        let _ = discarded.await;
    }

    async fn commit_now(self: &Arc<Self>, attributes: CommitAttributes) -> Result<u64, VfsError> {
        let written = match self.flush_gathered().await {
            Ok(()) => self.ensure_healthy(),
            Err(error) => Err(error),
        };
        let complete = match (&self.order, written) {
            (Some(order), Ok(())) => order.lock().await.ensure_complete(),
            (_, written) => written,
        };
        if let Err(error) = complete {
            self.discard_now().await;
            return Err(error.at(&self.path));
        }
        if self.atomic {
            if let Err(error) = self.apply(attributes).await {
                self.discard_now().await;
                return Err(error);
            }
        } else if self.created_in_place {
            // The data is in place already; a failure here fails the commit, nothing more.
            self.apply(attributes).await?;
        }
        let size = match self.reconcile().await {
            Ok(size) => size,
            Err(error) => {
                self.discard_now().await;
                return Err(error);
            }
        };
        let finished = self.finished_upload(size, self.atomic);
        if let Some(upload) = &finished {
            if let Err(error) = self.pass_gate(upload).await {
                self.discard_now().await;
                return Err(error);
            }
        }
        if !self.atomic {
            self.settled.store(true, Ordering::SeqCst);
            if let Some(upload) = finished {
                self.announce(upload);
            }
            return Ok(size);
        }
        let publish = if self.exclusive {
            Publish::Exclusive
        } else {
            Publish::Replace
        };
        // What the publish replaced leaves the quota.
        let replaced = match self.staged.publish(publish).await {
            Ok(replaced) => replaced,
            Err(error) => {
                self.discard_now().await;
                return Err(error.at(&self.path));
            }
        };
        self.settled.store(true, Ordering::SeqCst);
        if let Some(note) = &self.discard_note {
            note.committed();
        }
        if let Some(upload) = finished {
            self.announce(upload);
        }
        if let (Some(quota), Some(replaced)) = (&self.quota, replaced) {
            if !self.exclusive {
                quota.release_bytes(replaced);
                quota.release_files(1);
            }
        }
        Ok(size)
    }

    /// Gives the new file its attributes (a temporary file: before the rename). The mode is
    /// what the client created the file with, so the umask applies.
    async fn apply(&self, attributes: CommitAttributes) -> Result<(), VfsError> {
        let failed = |error| VfsError::from_io(error).at(&self.path);
        if let Some(mode) = attributes.mode {
            let mode = created_mode(mode, self.umask);
            self.staged.set_mode(mode).await.map_err(failed)?;
        }
        if let Some((modified, accessed)) = attributes.times {
            self.staged
                .set_times(modified, accessed)
                .await
                .map_err(failed)?;
        }
        Ok(())
    }

    /// Drops the temporary file and its quota; for in-place writers, only corrects the quota.
    pub(super) async fn discard_now(&self) {
        if self.settled.swap(true, Ordering::SeqCst) {
            return;
        }
        if self.atomic {
            self.staged.discard().await;
            self.discarded();
        } else {
            let _ = self.reconcile().await;
        }
    }

    /// The bookkeeping of a discarded temporary file: the note and the quota.
    fn discarded(&self) {
        if let Some(note) = &self.discard_note {
            // Whatever the client sent, it may now "resume" against the old file.
            note.discarded();
        }
        if let Some(quota) = &self.quota {
            let mut accounting = self.lock_accounting();
            quota.release_bytes(accounting.tracked);
            accounting.tracked = 0;
            if accounting.counts_file {
                quota.release_files(1);
                accounting.counts_file = false;
            }
        }
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        // A writer dropped without commit or abort (cancelled transfer, lost connection) is an
        // abort.
        if self.is_settled() {
            return;
        }
        if self.blocking {
            // A couple of quick syscalls on whatever thread drops the last clone.
            let _ = wait(async {
                self.discard_now().await;
                Ok(())
            });
            return;
        }
        // A non-blocking backend's discard waits on the network (S3: aborting the multipart
        // upload), so it must not run here: the bookkeeping is done now, the backend's part
        // is spawned. Without a runtime (at shutdown) it is left to the backend's own cleanup
        // of abandoned uploads (S3: the bucket's lifecycle rule).
        self.settled.store(true, Ordering::SeqCst);
        if !self.atomic {
            // Nothing was staged; the quota keeps what the writes reserved.
            return;
        }
        self.discarded();
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let staged = self.staged.clone();
                runtime.spawn(async move { staged.discard().await });
            }
            Err(_) => tracing::warn!(
                path = %self.path,
                "upload dropped without a runtime; its staged data is left to the storage's cleanup"
            ),
        }
    }
}
