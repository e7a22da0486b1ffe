//! What every listener and session of one FTPS server shares, and how a listener starts TLS.
//!
//! Its own file (not `ftp/mod.rs`) so the files under `ftp` can use it without importing the
//! module root, which imports them: the import graph inside `ftp` stays acyclic.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::ServerConfig;

use crate::services::Services;

use super::passive::PassivePorts;
use super::tls::SessionRegistry;

/// How a listener starts TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain until the client sends `AUTH TLS` (RFC 4217), usually port 21.
    Explicit,
    /// TLS from the first byte, usually port 990.
    Implicit,
}

/// What every listener and session of one server shares.
pub(crate) struct Shared {
    /// The daemon's handles.
    pub(crate) services: Services,
    /// The base TLS configuration; replaced on certificate reload.
    pub(crate) tls: ArcSwap<ServerConfig>,
    /// Live control sessions, for the TLS sibling rule.
    pub(crate) registry: SessionRegistry,
    /// Passive listeners.
    pub(crate) passive: PassivePorts,
    /// Data connections refused by the TLS session reuse check.
    pub(crate) reuse_refused: Arc<AtomicU64>,
}

impl Shared {
    /// The TLS configuration new sessions start from.
    pub(crate) fn tls_base(&self) -> Arc<ServerConfig> {
        self.tls.load_full()
    }
}
