//! What a command handler may touch: the [`Context`] of one control connection (login, TLS
//! state, current directory, pending REST/RNFR, the prepared data channel) and the
//! [`Response`] a handler returns for the control task to carry out.
//!
//! `session.rs` owns dispatch and the command policy and hands a `&mut Context` to the
//! handlers in `commands`; handlers never import `session` and never write to a socket. Login
//! bookkeeping goes through the admitted `session_core::Connection`; the calls into audit for
//! file events (`Context::audit*`) are kept together here.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;

use crate::audit::{Action, Event, Outcome as AuditOutcome};
use crate::auth::{AuthMethod, Identity};
use crate::config::{Config, Protocol};
use crate::connection::ConnectionInfo;
use crate::session_core::{Connection, UserSession};
use crate::vfs::{HashAlgorithm, Permissions, UserFs, VirtualPath};

use super::data::{DataChannel, DataSetup, DataTls, Job};
use super::errors;
use super::handshake_order::TlsOrderCell;
use super::listing::Facts;
use super::proto::{Reply, TransferType};
use super::shared::Shared;
use super::tls::SessionTls;

/// Failed PASS attempts before the connection is closed.
pub const MAX_FAILED_LOGINS: u32 = 3;

/// Where the login stands (RFC 959 §4.1.1: USER then PASS).
pub enum Login {
    /// Nothing sent yet (or after a failed PASS).
    AwaitingUser,
    /// USER accepted; PASS must follow.
    AwaitingPassword {
        /// The name USER gave.
        user: String,
        /// `Some(ClientCertificate)` when USER already passed the certificate step of a
        /// certificate-and-password login (`auth::LoginAttempt::method_already_passed`).
        method_already_passed: Option<AuthMethod>,
    },
    /// Logged in.
    LoggedIn(Box<User>),
}

/// A logged-in user's session state.
pub struct User {
    /// Who, fixed at login.
    pub identity: Identity,
    /// Their file system view.
    pub fs: UserFs,
    /// True when some path grants a write permission (else writes are refused up front).
    pub can_write: bool,
    /// The session core's bookkeeping (per-user slot, registry entry); ending it logs out.
    pub session: UserSession,
}

/// Where TLS stands on this connection (RFC 4217). PBSZ or PROT P without TLS on the control
/// connection, or PROT P without PBSZ, cannot be written down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsState {
    /// The control connection is clear text (explicit mode before `AUTH TLS`); so are data
    /// connections.
    Plain,
    /// The control connection runs over TLS; data connections as negotiated so far.
    Secure(DataProtection),
}

/// Data-connection protection under a TLS control connection (RFC 2228 PBSZ and PROT, as
/// profiled by RFC 4217 §8-9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataProtection {
    /// No PBSZ yet: data connections are clear (the RFC default) and PROT is refused.
    NoBufferSize,
    /// PBSZ sent, PROT C.
    Clear,
    /// PBSZ sent, PROT P: TLS on every data connection.
    Private,
}

impl TlsState {
    /// True once the control connection runs over TLS.
    pub fn is_secure(self) -> bool {
        matches!(self, TlsState::Secure(_))
    }

    /// True under PROT P.
    pub fn private_data(self) -> bool {
        self == TlsState::Secure(DataProtection::Private)
    }
}

/// What a command caused, for the control task to carry out.
pub enum Response {
    /// Send this reply.
    Reply(Reply),
    /// Send this reply, then close the connection.
    Close(Reply),
    /// Send this reply (234), then run the TLS handshake on the control connection; once it
    /// succeeds data connections are protected as given.
    StartTls(Reply, DataProtection),
    /// Send the preliminary reply, then run the transfer in its own task.
    Transfer(Box<Transfer>),
}

impl From<Reply> for Response {
    fn from(reply: Reply) -> Response {
        Response::Reply(reply)
    }
}

/// A transfer ready to start.
pub struct Transfer {
    /// The 150 reply.
    pub preliminary: Reply,
    /// Where the data connection comes from.
    pub setup: DataSetup,
    /// What to move.
    pub job: Job,
    /// Audit action and path, for file transfers.
    pub audit: Option<(Action, VirtualPath)>,
    /// The text of the 226 reply.
    pub done_text: String,
}

/// One control connection's state, owned by its control task.
pub struct Context {
    /// Server-wide handles.
    pub shared: Arc<Shared>,
    /// The configuration as it was when the client connected.
    pub config: Arc<Config>,
    /// Who is connected, and where logins are reported (`session_core`).
    pub connection: Connection,
    /// This session's TLS identity.
    pub tls: SessionTls,
    /// The base TLS config when the client connected (data connections use it too).
    pub tls_base: Arc<ServerConfig>,
    /// TLS on the control connection and, under it, PBSZ and PROT.
    pub tls_state: TlsState,
    /// Login state.
    pub login: Login,
    /// Failed PASS attempts so far.
    pub failed_logins: u32,
    /// Current directory.
    pub cwd: VirtualPath,
    /// TYPE.
    pub transfer_type: TransferType,
    /// The prepared data channel, taken by the next transfer.
    pub data: DataChannel,
    /// After `EPSV ALL` only EPSV may set up data connections (RFC 2428 §3).
    pub epsv_all: bool,
    /// REST offset for the next transfer.
    pub restart_offset: Option<u64>,
    /// RNFR source waiting for RNTO.
    pub pending_rename: Option<VirtualPath>,
    /// OPTS MLST selection.
    pub facts: Facts,
    /// OPTS HASH selection.
    pub hash_algorithm: HashAlgorithm,
    /// When the client starts TLS on its data connections (see `handshake_order`).
    pub data_tls_order: TlsOrderCell,
}

impl Context {
    /// A new control connection's context: not logged in, no TLS yet, at the root, with the
    /// config snapshot of this moment (a reload changes later connections only).
    pub fn new(
        shared: Arc<Shared>,
        connection: Connection,
        tls: SessionTls,
        tls_base: Arc<ServerConfig>,
    ) -> Context {
        Context {
            config: shared.services.config(),
            shared,
            connection,
            tls,
            tls_base,
            tls_state: TlsState::Plain,
            login: Login::AwaitingUser,
            failed_logins: 0,
            cwd: VirtualPath::root(),
            transfer_type: TransferType::Ascii,
            data: DataChannel::None,
            epsv_all: false,
            restart_offset: None,
            pending_rename: None,
            facts: Facts::ALL,
            hash_algorithm: HashAlgorithm::Sha256,
            data_tls_order: Default::default(),
        }
    }

    /// The logged-in user, if any.
    pub fn user(&self) -> Option<&User> {
        match &self.login {
            Login::LoggedIn(user) => Some(user),
            _ => None,
        }
    }

    /// Who is connected.
    pub fn info(&self) -> &ConnectionInfo {
        self.connection.info()
    }

    /// The client's IP address (canonical, as `ConnectionInfo` makes it).
    pub fn peer_ip(&self) -> IpAddr {
        self.info().peer.ip()
    }

    /// The address a passive data connection of this session comes from. Behind a proxy that
    /// sends no PROXY protocol header on data connections (`proxy_protocol.ftps_data` off),
    /// that is the proxy the control connection came through; otherwise the client.
    pub fn data_source_ip(&self) -> IpAddr {
        match self.info().proxy {
            Some(proxy) if !self.config.proxy_protocol.ftps_data => proxy.ip(),
            _ => self.peer_ip(),
        }
    }

    /// Resolves a client path against the current directory.
    pub fn resolve(&self, text: &str) -> Result<VirtualPath, Reply> {
        self.cwd.resolve(text).map_err(errors::path_reply)
    }

    /// True when clear (unprotected) logins and data connections are refused.
    pub fn tls_required(&self) -> bool {
        self.config.ftps.require_tls
    }

    /// The TLS side of a data connection under PROT P: the session's acceptor and the reuse
    /// policy for this user and client network.
    pub fn data_tls(&self) -> Option<DataTls> {
        self.tls_state.private_data().then(|| DataTls {
            acceptor: self.tls.data_acceptor(&self.tls_base),
            require_reuse: self.reuse_required(),
            refused: self.shared.reuse_refused.clone(),
            metrics: self.shared.services.metrics.clone(),
            order: self.data_tls_order.clone(),
        })
    }

    /// Takes the prepared data channel and builds the transfer's setup.
    pub fn take_data_setup(&mut self) -> DataSetup {
        let tls = match self.data {
            DataChannel::Active(_) => self.data_tls(),
            DataChannel::None | DataChannel::Passive(_) => None,
        };
        DataSetup {
            channel: std::mem::take(&mut self.data),
            tls,
            timeout: self.config.ftps.data_timeout,
            local_ip: self.info().local.ip().to_canonical(),
        }
    }

    /// Whether PROT P data connections must resume this session (config, user, network).
    fn reuse_required(&self) -> bool {
        let ftps = &self.config.ftps;
        let peer = self.peer_ip();
        let user_exempt = self
            .user()
            .is_some_and(|user| user.identity.tls_session_reuse_exempt);
        let network_exempt = ftps
            .tls_session_reuse_exempt_networks
            .iter()
            .any(|network| network.contains(&peer));
        ftps.require_tls_session_reuse && !user_exempt && !network_exempt
    }

    /// Writes one audit event for the logged-in (or attempting) user.
    pub fn audit(&self, action: Action, path: &str, target: Option<String>, outcome: AuditOutcome) {
        self.audit_transfer(action, path, target, 0, Duration::ZERO, outcome);
    }

    /// Writes one audit event with transfer details.
    pub fn audit_transfer(
        &self,
        action: Action,
        path: &str,
        target: Option<String>,
        bytes: u64,
        duration: Duration,
        outcome: AuditOutcome,
    ) {
        let user = match &self.login {
            Login::LoggedIn(user) => user.identity.user.clone(),
            Login::AwaitingPassword { user, .. } => user.clone(),
            Login::AwaitingUser => String::new(),
        };
        self.shared.services.audit.record(&Event {
            action,
            protocol: Protocol::Ftps,
            user,
            peer: self.peer_ip(),
            path: path.to_owned(),
            target,
            bytes,
            duration,
            outcome,
        });
    }

    /// Audits a file operation's result and turns it into a reply.
    pub fn audited<T>(
        &self,
        action: Action,
        path: &VirtualPath,
        target: Option<&VirtualPath>,
        result: Result<T, crate::vfs::VfsError>,
        success: impl FnOnce(T) -> Reply,
    ) -> Reply {
        let target_text = target.map(|t| t.as_str().to_owned());
        match result {
            Ok(value) => {
                self.audit(action, path.as_str(), target_text, AuditOutcome::Ok);
                success(value)
            }
            Err(error) => {
                let reply = errors::vfs_reply(&error);
                let outcome = AuditOutcome::failed(error.kind.code(), error.kind.description());
                self.audit(action, path.as_str(), target_text, outcome);
                reply
            }
        }
    }
}

/// True when `permissions` anywhere grant a change to the file system.
pub fn grants_write(identity: &Identity) -> bool {
    let writes = Permissions::UPLOAD
        | Permissions::OVERWRITE
        | Permissions::DELETE
        | Permissions::RENAME
        | Permissions::MKDIR
        | Permissions::RMDIR
        | Permissions::SET_ATTRIBUTES
        | Permissions::LINK;
    identity
        .fs
        .permissions
        .iter()
        .any(|(_, granted)| granted.intersection(writes) != Permissions::NONE)
}
