//! Where the listeners ended up: the addresses `start` bound, with ports resolved when the
//! config asked for port 0 (tests, the quick start's first-start help, `ferryd status`).

use std::net::SocketAddr;

/// Where the listeners ended up (ports resolved when the config asked for port 0).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BoundAddresses {
    /// Explicit FTPS (AUTH TLS).
    pub ftps_explicit: Option<SocketAddr>,
    /// Implicit FTPS.
    pub ftps_implicit: Option<SocketAddr>,
    /// SFTP over SSH.
    pub sftp: Option<SocketAddr>,
    /// The Prometheus endpoint.
    pub metrics: Option<SocketAddr>,
}
