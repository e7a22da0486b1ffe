//! `Services`: the handles every front end receives from the server.
//!
//! One value, cloned into each listener and session, instead of a dozen arguments. Sessions
//! take what they need at accept (a config snapshot, the authenticator) and keep it, so a
//! reload changes new sessions only.

use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::audit::Audit;
use crate::auth::Authenticator;
use crate::config::Config;
use crate::hooks::Hooks;
use crate::limits::ConnectionLimits;
use crate::metrics::Metrics;
use crate::vfs::QuotaRegistry;

/// Shared handles for the front ends. Cheap to clone.
#[derive(Clone)]
pub struct Services {
    /// The current configuration; replaced atomically on reload.
    pub config: Arc<ArcSwap<Config>>,
    /// Verifies credentials against the current users file.
    pub auth: Authenticator,
    /// Per-user storage usage shared by all sessions.
    pub quotas: QuotaRegistry,
    /// Connection and session limits.
    pub limits: ConnectionLimits,
    /// The audit trail.
    pub audit: Audit,
    /// Event hooks and upload gates.
    pub hooks: Hooks,
    /// Counters for events only a front end sees (TLS failures, refused data connections).
    pub metrics: Metrics,
    /// Cancelled when the server shuts down: listeners stop accepting, idle sessions close.
    pub shutdown: CancellationToken,
    /// Cancelled when the shutdown grace time is over: running transfers are cut.
    pub abort: CancellationToken,
    /// Every connection task, so shutdown can wait for them.
    pub tasks: TaskTracker,
}

impl Services {
    /// A snapshot of the current configuration.
    pub fn config(&self) -> Arc<Config> {
        self.config.load_full()
    }
}
