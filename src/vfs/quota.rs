//! Storage quotas: per-user usage shared by all of that user's sessions.
//!
//! The server creates one [`QuotaRegistry`] and hands it to every `UserFs::open`. The first
//! session of a user with a quota walks the user's root once (bounded; on the blocking pool for
//! a local disk, awaited for object storage) to learn the current usage; from then on every
//! write, commit, truncation and removal adjusts two atomics, so concurrent sessions see each
//! other's uploads immediately and a write that would exceed the limit is refused *before* it
//! touches the disk.
//!
//! Accounting model: bytes are the sum of regular files' sizes (each hard-link name counts, as
//! the walk counts names), files are the number of regular-file names. Mounts are not counted.
//! Temporary upload files are never counted by the walk: a live upload counts its own bytes
//! through its writer (reserved as they arrive, given back on abort), and one left by a crash
//! belongs to nobody's quota (`leftovers` removes it, or moves it aside).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use super::bandwidth::BandwidthRegistry;
use super::discarded::DiscardedUploads;
use super::error::{VfsError, VfsErrorKind};
use super::object_stores::ObjectStores;
use super::space::SpaceInfo;
use super::spec::Quota;
use super::storage::shared_dirs::SharedDirs;
use super::storage::{wait, Backend, Storage as _};

/// Most directory entries the initial usage walk visits; beyond it the usage is a lower bound
/// (a pathological tree must not stall logins for minutes).
pub const MAX_QUOTA_SCAN_ENTRIES: u64 = 10_000_000;

/// Usage of every user with a quota, shared by all sessions; cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct QuotaRegistry {
    users: Arc<Mutex<HashMap<String, Arc<Usage>>>>,
    /// Bandwidth is a rate quota with the same sharing rule (per user, across sessions), so it
    /// travels with this registry rather than through a second argument to `UserFs::open`.
    bandwidth: BandwidthRegistry,
    /// Directory handles shared by sessions, for the same reason.
    dirs: Arc<SharedDirs>,
    /// Uploads discarded over existing files, which a resume must not continue.
    discarded: Arc<DiscardedUploads>,
    /// The S3 buckets of object-storage homes and folders (one client each, for every session).
    objects: ObjectStores,
}

/// What one user's home currently holds.
#[derive(Debug, Default)]
pub(crate) struct Usage {
    bytes: AtomicU64,
    files: AtomicU64,
    /// Set once the initial walk has filled the counters.
    scanned: OnceCell<()>,
}

/// One session's handle on its user's usage, with that session's limits.
#[derive(Clone, Debug)]
pub(crate) struct QuotaAccount {
    usage: Arc<Usage>,
    limits: Quota,
}

impl QuotaRegistry {
    /// An empty registry.
    pub fn new() -> QuotaRegistry {
        QuotaRegistry::default()
    }

    /// A registry whose object-storage homes and folders live in `objects`.
    pub fn with_object_stores(objects: ObjectStores) -> QuotaRegistry {
        QuotaRegistry {
            objects,
            ..QuotaRegistry::default()
        }
    }

    /// The S3 buckets behind object-storage homes and folders.
    pub fn object_stores(&self) -> &ObjectStores {
        &self.objects
    }

    /// The tracked usage of `user` as `(bytes, files)`, if any session has counted it yet.
    pub fn usage(&self, user: &str) -> Option<(u64, u64)> {
        let usage = self.users.lock().ok()?.get(user).cloned()?;
        usage.scanned.get()?;
        Some((
            usage.bytes.load(Ordering::SeqCst),
            usage.files.load(Ordering::SeqCst),
        ))
    }

    /// The user's bandwidth buckets.
    pub(crate) fn bandwidth(&self) -> &BandwidthRegistry {
        &self.bandwidth
    }

    /// The record of uploads discarded over existing files.
    pub(crate) fn discarded(&self) -> Arc<DiscardedUploads> {
        self.discarded.clone()
    }

    /// The directory handles shared between sessions.
    pub(crate) fn dirs(&self) -> Arc<SharedDirs> {
        self.dirs.clone()
    }

    /// The account for `user`, walking `root` first if this is the user's first session.
    pub(crate) async fn account(
        &self,
        user: &str,
        limits: Quota,
        root: &Backend,
    ) -> Result<QuotaAccount, VfsError> {
        let usage = {
            let mut users = self
                .users
                .lock()
                .map_err(|_| VfsError::with_detail(VfsErrorKind::Io, "quota registry poisoned"))?;
            users.entry(user.to_owned()).or_default().clone()
        };
        usage
            .scanned
            .get_or_try_init(|| async {
                let (bytes, files) = if root.capabilities().blocking {
                    let root = root.clone();
                    let scan = move || wait(root.usage(MAX_QUOTA_SCAN_ENTRIES));
                    tokio::task::spawn_blocking(scan).await.map_err(|_| {
                        VfsError::with_detail(VfsErrorKind::Io, "quota scan failed")
                    })??
                } else {
                    // A paged listing of the whole prefix, awaited on the runtime.
                    root.usage(MAX_QUOTA_SCAN_ENTRIES).await?
                };
                usage.bytes.store(bytes, Ordering::SeqCst);
                usage.files.store(files, Ordering::SeqCst);
                Ok::<(), VfsError>(())
            })
            .await?;
        Ok(QuotaAccount { usage, limits })
    }
}

impl QuotaAccount {
    /// Reserves `bytes` more, refusing when the total would pass the limit by more than
    /// `credit` (the size of a file an atomic upload is about to replace, which the disk holds
    /// twice only until the commit).
    pub(crate) fn reserve_bytes(&self, bytes: u64, credit: u64) -> Result<(), VfsError> {
        if bytes == 0 {
            return Ok(());
        }
        let limit = self.limits.max_bytes.map(|max| max.saturating_add(credit));
        reserve(&self.usage.bytes, bytes, limit)
    }

    /// Reserves `files` more regular files.
    pub(crate) fn reserve_files(&self, files: u64) -> Result<(), VfsError> {
        reserve(&self.usage.files, files, self.limits.max_files)
    }

    /// Counts `bytes` without checking (the disk already holds them).
    pub(crate) fn add_bytes(&self, bytes: u64) {
        self.usage.bytes.fetch_add(bytes, Ordering::SeqCst);
    }

    /// Counts `files` without checking.
    pub(crate) fn add_files(&self, files: u64) {
        self.usage.files.fetch_add(files, Ordering::SeqCst);
    }

    /// Gives `bytes` back.
    pub(crate) fn release_bytes(&self, bytes: u64) {
        release(&self.usage.bytes, bytes);
    }

    /// Gives `files` back.
    pub(crate) fn release_files(&self, files: u64) {
        release(&self.usage.files, files);
    }

    /// Moves the byte count from `tracked` to `actual` without checking (a correction after
    /// the fact, e.g. a failed write that had reserved its bytes).
    pub(crate) fn correct_bytes(&self, tracked: u64, actual: u64) {
        if actual > tracked {
            self.add_bytes(actual - tracked);
        } else {
            self.release_bytes(tracked - actual);
        }
    }

    /// The session's limits.
    pub(crate) fn limits(&self) -> Quota {
        self.limits
    }

    /// Current `(bytes, files)`.
    pub(crate) fn used(&self) -> (u64, u64) {
        (
            self.usage.bytes.load(Ordering::SeqCst),
            self.usage.files.load(Ordering::SeqCst),
        )
    }
}

fn reserve(counter: &AtomicU64, amount: u64, limit: Option<u64>) -> Result<(), VfsError> {
    counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |current| {
            let next = current.checked_add(amount)?;
            match limit {
                Some(limit) if next > limit => None,
                _ => Some(next),
            }
        })
        .map(|_| ())
        .map_err(|_| VfsError::new(VfsErrorKind::QuotaExceeded))
}

fn release(counter: &AtomicU64, amount: u64) {
    // `fetch_update` cannot fail with a closure that always returns `Some`.
    let _ = counter.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |current| {
        Some(current.saturating_sub(amount))
    });
}

/// `capacity` (what the backend reports) narrowed by `quota` when given.
pub(crate) fn narrow(capacity: SpaceInfo, quota: Option<&QuotaAccount>) -> SpaceInfo {
    let mut info = capacity;
    if let Some(quota) = quota {
        let limits = quota.limits();
        let (used_bytes, used_files) = quota.used();
        if let Some(max) = limits.max_bytes {
            let left = max.saturating_sub(used_bytes).min(info.available_bytes);
            info.total_bytes = max;
            info.free_bytes = left;
            info.available_bytes = left;
        }
        if let Some(max) = limits.max_files {
            info.total_files = max;
            // Some file systems (btrfs) report no inode counts at all; then only the quota speaks.
            let disk_free = if capacity.total_files > 0 {
                info.free_files
            } else {
                u64::MAX
            };
            info.free_files = max.saturating_sub(used_files).min(disk_free);
        }
    }
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(path: &std::path::Path) -> Backend {
        let dir = cap_std::fs::Dir::open_ambient_dir(path, cap_std::ambient_authority()).unwrap();
        Backend::Local(super::super::storage::LocalStorage::new(Arc::new(dir)))
    }

    #[tokio::test]
    async fn first_account_walks_the_tree_once() {
        let temp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(temp.path().join("a/b")).unwrap();
        std::fs::write(temp.path().join("x"), vec![0; 10]).unwrap();
        std::fs::write(temp.path().join("a/b/y"), vec![0; 5]).unwrap();
        std::os::unix::fs::symlink("/etc", temp.path().join("a/link")).unwrap();
        let registry = QuotaRegistry::new();
        assert_eq!(registry.usage("alice"), None);
        let limits = Quota {
            max_bytes: Some(100),
            max_files: Some(3),
        };
        let account = registry
            .account("alice", limits, &open(temp.path()))
            .await
            .unwrap();
        assert_eq!(account.used(), (15, 2));
        // A second session shares the counters and does not walk again.
        std::fs::write(temp.path().join("z"), vec![0; 50]).unwrap();
        let second = registry
            .account("alice", limits, &open(temp.path()))
            .await
            .unwrap();
        account.reserve_bytes(10, 0).unwrap();
        assert_eq!(second.used(), (25, 2));
        assert_eq!(registry.usage("alice"), Some((25, 2)));
    }

    #[tokio::test]
    async fn temporary_upload_files_are_not_counted() {
        let temp = tempfile::tempdir().unwrap();
        std::fs::create_dir(temp.path().join("d")).unwrap();
        std::fs::write(temp.path().join("d/real"), vec![0; 10]).unwrap();
        // One left by a crash, one of a live upload (which counts through its writer).
        let leftover = super::super::names::temp_name();
        let live = super::super::names::temp_name();
        std::fs::write(temp.path().join(leftover.as_str()), vec![0; 1000]).unwrap();
        std::fs::write(temp.path().join("d").join(live.as_str()), vec![0; 500]).unwrap();
        drop(leftover);
        let limits = Quota {
            max_bytes: Some(100),
            max_files: None,
        };
        let account = QuotaRegistry::new()
            .account("carol", limits, &open(temp.path()))
            .await
            .unwrap();
        assert_eq!(account.used(), (10, 1));
    }

    #[tokio::test]
    async fn reservations_respect_limits_and_credit() {
        let temp = tempfile::tempdir().unwrap();
        let registry = QuotaRegistry::new();
        let limits = Quota {
            max_bytes: Some(100),
            max_files: Some(1),
        };
        let account = registry
            .account("bob", limits, &open(temp.path()))
            .await
            .unwrap();
        account.reserve_bytes(100, 0).unwrap();
        let error = account.reserve_bytes(1, 0).unwrap_err();
        assert_eq!(error.kind, VfsErrorKind::QuotaExceeded);
        account.reserve_bytes(20, 20).unwrap();
        account.release_bytes(1_000);
        assert_eq!(account.used().0, 0);
        account.reserve_files(1).unwrap();
        assert_eq!(
            account.reserve_files(1).unwrap_err().kind,
            VfsErrorKind::QuotaExceeded
        );
        account.correct_bytes(0, 7);
        assert_eq!(account.used(), (7, 1));
    }
}
