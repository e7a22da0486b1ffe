//! FTP front end: explicit (RFC 4217 `AUTH TLS`) and implicit FTPS listeners, the control
//! channel (RFC 959) and passive or active data channels, over the protocol-neutral core
//! (`auth` for logins, `vfs` for files, `audit` for what users did).
//!
//! [`FtpServer`] is what `server` starts: `new` builds the TLS configuration from the
//! certificate, [`FtpServer::spawn`] runs an accept loop for one listener, and
//! [`FtpServer::reload_certificate`] swaps the certificate for new sessions (SIGHUP). Inside:
//! `listener` accepts, `control` runs one task per connection and owns its `context::Context`,
//! `session` checks each command's policy and dispatches it to the handlers in `commands` (which
//! see only the `Context`), transfers live in `data`, passive ports in
//! `passive`, TLS session binding in `tls`, the client-certificate verifier in `client_auth`, and
//! every error-to-reply mapping in `errors`.

pub mod proto;

mod client_auth;
mod commands;
mod context;
mod control;
mod control_stream;
mod data;
mod errors;
mod handshake_order;
mod listener;
mod listing;
mod passive;
mod quick_ack;
mod session;
mod shared;
mod tls;

#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::net::TcpListener;

use crate::key_material::certificate;
use crate::services::Services;

pub use passive::setup_warnings;
pub use shared::TlsMode;

use shared::Shared;

/// The FTP front end could not start or reload.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// rustls refused the certificate or key (or the protocol versions).
    #[error("invalid FTPS certificate or key: {0}")]
    Tls(#[from] rustls::Error),
}

/// Counters for status reporting and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FtpStats {
    /// Control sessions alive now.
    pub sessions: usize,
    /// PROT P data connections refused because they did not resume their control
    /// connection's TLS session.
    pub session_reuse_refused: u64,
    /// Passive data connections dropped because they came from an address with no pending
    /// transfer (another IP than the control connection's).
    pub foreign_data_connections: u64,
    /// Passive listening ports open now.
    pub passive_ports_open: usize,
}

/// Checks that rustls accepts `tls` as `FtpServer::new` will use it (key matching the
/// certificate, a supported key type): `check-config` calls it so it refuses what `serve`
/// would.
pub fn check_certificate(
    tls: certificate::CertifiedKey,
    auth: crate::auth::Authenticator,
) -> Result<(), StartError> {
    tls::server_config(tls, auth)
        .map(drop)
        .map_err(StartError::Tls)
}

/// The FTPS server: shared state of all its listeners and sessions. Cheap to clone.
#[derive(Clone)]
pub struct FtpServer {
    shared: Arc<Shared>,
}

impl FtpServer {
    /// Builds the TLS configuration from `tls` and logs warnings about the passive setup.
    pub fn new(
        services: Services,
        tls: certificate::CertifiedKey,
    ) -> Result<FtpServer, StartError> {
        let config = tls::server_config(tls, services.auth.clone())?;
        let settings = services.config();
        for warning in passive::setup_warnings(&settings.ftps) {
            tracing::warn!("{warning}");
        }
        let passive = passive::PassivePorts::new(
            services.tasks.clone(),
            services.limits.defender().clone(),
            services.config.clone(),
        );
        Ok(FtpServer {
            shared: Arc::new(Shared {
                services,
                tls: ArcSwap::new(config),
                registry: tls::SessionRegistry::default(),
                passive,
                reuse_refused: Arc::new(AtomicU64::new(0)),
            }),
        })
    }

    /// Runs the accept loop for `listener` on `services.tasks`; it stops accepting when
    /// `services.shutdown` is cancelled.
    pub fn spawn(&self, listener: TcpListener, mode: TlsMode) {
        let shared = self.shared.clone();
        self.shared
            .services
            .tasks
            .spawn(listener::accept_loop(shared, listener, mode));
    }

    /// Uses `tls` for sessions that start from now on; running sessions keep theirs.
    pub fn reload_certificate(&self, tls: certificate::CertifiedKey) -> Result<(), StartError> {
        let config = tls::server_config(tls, self.shared.services.auth.clone())?;
        self.shared.tls.store(config);
        Ok(())
    }

    /// Current counters.
    pub fn stats(&self) -> FtpStats {
        FtpStats {
            sessions: self.shared.registry.len(),
            session_reuse_refused: self.shared.reuse_refused.load(Ordering::Relaxed),
            foreign_data_connections: self.shared.passive.dropped_connections(),
            passive_ports_open: self.shared.passive.open_ports(),
        }
    }
}

impl std::fmt::Debug for FtpServer {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("FtpServer")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}
