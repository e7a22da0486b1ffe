//! Where a `UserFs` operation runs: on tokio's blocking pool for a blocking backend (the local
//! disk), on the runtime for one whose futures really wait (object storage).
//!
//! The branch is chosen per operation from the mount its (lexical) virtual path lies in, so a
//! user with a local home and an object-storage folder, or the other way round, gets each
//! operation run where its backend needs it. Resolution can cross from one kind to the other:
//! - a blocking operation that reaches a non-blocking backend (a local symlink leading into an
//!   object-storage mount, a local directory listing that stats the root of an object-storage
//!   mount below it) works: `storage::drive` finishes its futures on the blocking-pool thread
//!   it already holds, bounded by the store's request timeouts, never on a runtime worker;
//! - a non-blocking operation that reaches a local backend (object storage has no symlinks, so
//!   only: the root of a local mount listed inside an object-storage directory, or the target
//!   of a rename or hard link in another mount, resolved before the operation is refused as
//!   crossing mounts) makes those few metadata calls inline on the runtime thread, each a
//!   single `statx`/`readlink`.
//!
//! Either way an operation runs to its end even if the caller stops waiting (a client that
//! hangs up does not leave a rename half done), as the blocking pool always made it.

use std::future::Future;

use super::error::VfsError;
use super::path::VirtualPath;
use super::reader::joined;
use super::storage::{drive, Storage as _};
use super::{Inner, UserFs};

/// An operation over the user's view: an async closure `async move |inner: &Inner, path:
/// &VirtualPath| { … }` whose future is `Send` (so it can be awaited on the runtime). Closures
/// name their argument types, which the compiler cannot infer through this trait.
pub(crate) trait Operation<'a, T>:
    FnOnce(&'a Inner, &'a VirtualPath) -> <Self as Operation<'a, T>>::Future
{
    /// The operation's future, borrowing the view and the path.
    type Future: Future<Output = Result<T, VfsError>> + Send + 'a;
}

impl<'a, T, F, Fut> Operation<'a, T> for F
where
    F: FnOnce(&'a Inner, &'a VirtualPath) -> Fut,
    Fut: Future<Output = Result<T, VfsError>> + Send + 'a,
{
    type Future = Fut;
}

impl UserFs {
    /// Runs `operation` (see the module docs); errors without a path get `path`.
    pub(super) async fn run<T, F>(&self, path: &VirtualPath, operation: F) -> Result<T, VfsError>
    where
        T: Send + 'static,
        F: for<'a> Operation<'a, T> + Send + 'static,
    {
        let inner = self.inner.clone();
        let path = path.clone();
        if inner.blocking_at(&path) {
            // The whole operation (a path resolution is several system calls) in one hand-off.
            return tokio::task::spawn_blocking(move || {
                drive(operation(&inner, &path)).map_err(|error| error.or_path(&path))
            })
            .await
            .map_err(|_| joined())?;
        }
        tokio::spawn(async move {
            let result = operation(&inner, &path).await;
            result.map_err(|error| error.or_path(&path))
        })
        .await
        .map_err(|_| joined())?
    }
}

impl Inner {
    /// Whether operations on `path` go to the blocking pool: its mount's backend blocks.
    pub(super) fn blocking_at(&self, path: &VirtualPath) -> bool {
        let mount = self.mounts.mount_of(path);
        self.mounts.storage(mount).capabilities().blocking
    }
}
