//! Admission: what a front end asks when it accepts a socket, and the admitted connection that
//! later logs in (see `login.rs`).

use crate::audit::Audit;
use crate::config::{Config, Protocol};
use crate::connection::ConnectionInfo;
use crate::hooks::Hooks;
use crate::limits::{ConnectionLimits, ConnectionPermit, LimitError};
use crate::services::Services;
use crate::vfs::QuotaRegistry;
use arc_swap::ArcSwap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
/// The handles the session core works with. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct SessionCore {
    pub(super) limits: ConnectionLimits,
    pub(super) audit: Audit,
    pub(super) quotas: QuotaRegistry,
    pub(super) config: Arc<ArcSwap<Config>>,
    /// Upload gates and hooks, handed to each session's files at login.
    pub(super) hooks: Option<Hooks>,
}

impl SessionCore {
    /// A core over the limits (with their defender and session registry), the audit trail,
    /// the quota registry and the live configuration (read at each login, so a reload applies
    /// to the next login).
    pub fn new(
        limits: ConnectionLimits,
        audit: Audit,
        quotas: QuotaRegistry,
        config: Arc<ArcSwap<Config>>,
    ) -> SessionCore {
        SessionCore {
            limits,
            audit,
            quotas,
            config,
            hooks: None,
        }
    }

    /// The core with `hooks` following its sessions' uploads.
    pub fn with_hooks(mut self, hooks: Hooks) -> SessionCore {
        self.hooks = Some(hooks);
        self
    }

    /// The core over the server's shared handles.
    pub fn from_services(services: &Services) -> SessionCore {
        SessionCore::new(
            services.limits.clone(),
            services.audit.clone(),
            services.quotas.clone(),
            services.config.clone(),
        )
        .with_hooks(services.hooks.clone())
    }

    /// Decides whether a connection from `peer` to `local` over `protocol` is served: the
    /// defender first (a banned address is refused however many slots are free), then the
    /// total and per-address limits.
    pub fn admit(&self, protocol: Protocol, peer: SocketAddr, local: SocketAddr) -> Admission {
        self.admit_via(protocol, peer, None, local)
    }

    /// [`SessionCore::admit`] for a connection whose client `peer` was named by the PROXY
    /// protocol header of the trusted proxy at `proxy` (`None`: a direct connection). The
    /// client's address is what the defender and the per-address limit judge; the proxy's
    /// is only logged.
    pub fn admit_via(
        &self,
        protocol: Protocol,
        peer: SocketAddr,
        proxy: Option<SocketAddr>,
        local: SocketAddr,
    ) -> Admission {
        let info = ConnectionInfo::new(protocol, peer, local).via(proxy);
        let span = info.span();
        match self.limits.try_acquire(info.peer.ip()) {
            Ok(permit) => Admission::Admitted(Admitted {
                connection: Connection {
                    core: self.clone(),
                    info,
                    span,
                },
                permit,
            }),
            Err(error) => Admission::Refused(Refused {
                info,
                span,
                reason: Refusal::from_limit(error),
            }),
        }
    }
}

/// What [`SessionCore::admit`] decided.
pub enum Admission {
    /// Serve it.
    Admitted(Admitted),
    /// Tell the client why, then close.
    Refused(Refused),
}

/// A connection the core lets in, with the slot it holds.
pub struct Admitted {
    /// Who is connected, and where logins are reported.
    pub connection: Connection,
    /// The total and per-address slot; dropping it frees them, so the front end keeps it for
    /// exactly as long as the socket is served.
    pub permit: ConnectionPermit,
}

/// A connection the core turned away.
pub struct Refused {
    /// Who it was (the id and the canonical peer).
    pub info: ConnectionInfo,
    /// The span the refusal is logged in.
    pub span: tracing::Span,
    /// Why.
    pub reason: Refusal,
}

/// Why a connection was refused at accept. The text ([`fmt::Display`], the same as the
/// matching [`LimitError`]'s) is what the SSH front end sends in its disconnect; FTP has its
/// own reply texts (`ftp::errors::limit_reply`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The defender banned the address (failed logins, protocol abuse, an administrator).
    Banned,
    /// The address holds `server.max_connections_per_ip` connections already.
    TooManyFromAddress,
    /// The server holds `server.max_connections` connections already.
    TooManyConnections,
}

impl fmt::Display for Refusal {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        LimitError::from(*self).fmt(formatter)
    }
}

impl std::error::Error for Refusal {}

impl Refusal {
    /// The refusal for what `ConnectionLimits::try_acquire` said. It never answers with a
    /// per-user limit (that one is taken at login); should it, the address is treated as over
    /// its own limit, the nearest refusal.
    fn from_limit(error: LimitError) -> Refusal {
        match error {
            LimitError::Banned => Refusal::Banned,
            LimitError::TooManyConnections => Refusal::TooManyConnections,
            LimitError::TooManyFromAddress | LimitError::TooManySessionsForUser => {
                Refusal::TooManyFromAddress
            }
        }
    }

    /// True for a banned address: its ban was logged once when it started, so front ends log
    /// each refused connection at debug level only, or a banned client could flood the log.
    pub fn is_ban(self) -> bool {
        self == Refusal::Banned
    }
}

impl From<Refusal> for LimitError {
    fn from(refusal: Refusal) -> LimitError {
        match refusal {
            Refusal::Banned => LimitError::Banned,
            Refusal::TooManyFromAddress => LimitError::TooManyFromAddress,
            Refusal::TooManyConnections => LimitError::TooManyConnections,
        }
    }
}

/// An admitted connection: who is connected, the span its lines are logged in, and the desk
/// its logins are reported at. Cheap to clone (the SSH front end hands it to russh's handler
/// while the accept task keeps the permit).
#[derive(Clone)]
pub struct Connection {
    pub(super) core: SessionCore,
    pub(super) info: ConnectionInfo,
    pub(super) span: tracing::Span,
}

impl Connection {
    /// Who is connected (the peer is canonical).
    pub fn info(&self) -> &ConnectionInfo {
        &self.info
    }

    /// The connection's log span; `user` is recorded in it when a login is reported.
    pub fn span(&self) -> &tracing::Span {
        &self.span
    }
}
