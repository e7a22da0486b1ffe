//! SFTP front end: the SSH server and the SFTP v3 request loop.
//!
//! [`SftpServer`] owns the accept loop (`listener`): the session core admits each connection,
//! runs russh's `run_stream` with our `ssh` handler and a login timer, and tracks every task
//! on the shared `TaskTracker`. The handler authenticates through `auth::Authenticator`, serves
//! only the `sftp` subsystem (plus a fixed allow-list of in-process hash commands, `exec`) and
//! hands each SFTP channel to `session`, our own request loop over `sftp::proto`. russh-sftp's
//! server engine is not used; see `docs/decisions/0003-own-sftp-request-loop.md` for why.

pub mod proto;

mod algorithms;
mod context;
mod errors;
mod exec;
mod handles;
mod idle;
mod listener;
mod listing;
mod reply_batch;
mod requests;
mod scp;
mod session;
mod ssh;

use std::sync::Arc;

use crate::services::Services;

pub use algorithms::{StartError, DEFAULT_CIPHERS, DEFAULT_KEX, DEFAULT_MACS};

/// Checks the `[sftp]` settings that `SftpServer::new` refuses, without host keys or a
/// runtime: `check-config` calls it so it refuses what `serve` would.
pub fn check_settings(config: &crate::config::Config) -> Result<(), StartError> {
    algorithms::preferred(config).map(drop)
}

/// The SSH/SFTP server: configured once, then given a bound listener.
pub struct SftpServer {
    services: Services,
    ssh_config: Arc<russh::server::Config>,
}

impl SftpServer {
    /// Builds the russh configuration from `services.config()` and the loaded host keys.
    pub fn new(
        services: Services,
        host_keys: Vec<russh::keys::PrivateKey>,
    ) -> Result<SftpServer, StartError> {
        let config = services.config();
        let ssh_config = algorithms::ssh_config(&config, host_keys)?;
        Ok(SftpServer {
            services,
            ssh_config: Arc::new(ssh_config),
        })
    }

    /// Spawns the accept loop on `services.tasks`; it stops accepting when `services.shutdown`
    /// is cancelled.
    pub fn spawn(&self, listener: tokio::net::TcpListener) {
        let services = self.services.clone();
        let ssh_config = self.ssh_config.clone();
        self.services
            .tasks
            .spawn(listener::accept_loop(listener, services, ssh_config));
    }
}

#[cfg(test)]
mod tests;
