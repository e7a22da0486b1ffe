//! The FTP session: its state as data (login, TLS, PROT, REST, RNFR, data channel) and the one
//! dispatch table whose policy columns are checked before any handler runs (RFC 959 §5.4
//! sequencing, RFC 4217 §6-9 protection rules).
//!
//! The control task (`control.rs`) owns the `Session` and hands it to handlers by `&mut`;
//! handlers return the `Response` they cause and never write to a socket.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;

use crate::audit::{Action, Event, Outcome as AuditOutcome};
use crate::auth::{AuthMethod, Identity};
use crate::config::{Config, Protocol};
use crate::connection::ConnectionInfo;
use crate::limits::SessionPermit;
use crate::vfs::{HashAlgorithm, Permissions, UserFs, VirtualPath};

use super::commands;
use super::data::{DataChannel, DataSetup, DataTls, Job};
use super::errors;
use super::handshake_order::TlsOrderCell;
use super::listing::Facts;
use super::proto::{Command, ProtectionLevel, Reply, ReplyCode, TransferType};
use super::tls::SessionTls;
use super::Shared;

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
    /// Holds the per-user session slot until the session ends.
    pub _permit: SessionPermit,
}

/// Data-connection protection (RFC 2228 PROT, as profiled by RFC 4217 §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protection {
    /// PROT C (the RFC default).
    Clear,
    /// PROT P: TLS on every data connection.
    Private,
}

/// What a command caused, for the control task to carry out.
pub enum Response {
    /// Send this reply.
    Reply(Reply),
    /// Send this reply, then close the connection.
    Close(Reply),
    /// Send this reply (234), then run the TLS handshake on the control connection.
    StartTls(Reply),
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

/// One control connection's state.
pub struct Session {
    /// Server-wide handles.
    pub shared: Arc<Shared>,
    /// The configuration as it was when the client connected.
    pub config: Arc<Config>,
    /// Who is connected.
    pub info: ConnectionInfo,
    /// The connection's log span (gets `user` at login).
    pub span: tracing::Span,
    /// This session's TLS identity.
    pub tls: SessionTls,
    /// The base TLS config when the client connected (data connections use it too).
    pub tls_base: Arc<ServerConfig>,
    /// True once the control connection runs over TLS.
    pub secure: bool,
    /// Login state.
    pub login: Login,
    /// Failed PASS attempts so far.
    pub failed_logins: u32,
    /// Current directory.
    pub cwd: VirtualPath,
    /// PBSZ was sent (RFC 4217 requires it before PROT).
    pub pbsz: bool,
    /// Data connection protection.
    pub protection: Protection,
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

/// One row of the dispatch table.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// The canonical verb (`Command::verb`).
    pub verb: &'static str,
    /// Refused with 530 before login.
    pub needs_login: bool,
    /// Refused with 530 on a plain control connection when `require_tls` is set.
    pub needs_tls: bool,
    /// Changes the file system: refused up front for users without any write permission.
    pub writes: bool,
    /// Uses the data channel: needs PASV/EPSV/PORT/EPRT first, and PROT P under `require_tls`.
    pub data: bool,
}

const fn row(verb: &'static str, needs_login: bool, writes: bool, data: bool) -> Policy {
    Policy {
        verb,
        needs_login,
        needs_tls: false,
        writes,
        data,
    }
}

const fn credentials(verb: &'static str) -> Policy {
    Policy {
        verb,
        needs_login: false,
        needs_tls: true,
        writes: false,
        data: false,
    }
}

/// Every command and its policy. `dispatch` matches the same verbs; a test keeps them in step.
#[rustfmt::skip]
pub const TABLE: &[Policy] = &[
    //   verb         login  writes data
    credentials("USER"),
    credentials("PASS"),
    row("QUIT",      false, false, false),
    row("NOOP",      false, false, false),
    row("SYST",      false, false, false),
    row("FEAT",      false, false, false),
    row("OPTS",      false, false, false),
    row("HELP",      false, false, false),
    row("STAT",      true,  false, false),
    row("SITE",      true,  false, false),
    row("HOST",      false, false, false),
    row("AUTH",      false, false, false),
    row("PBSZ",      false, false, false),
    row("PROT",      false, false, false),
    row("CCC",       false, false, false),
    row("TYPE",      true,  false, false),
    row("MODE",      true,  false, false),
    row("STRU",      true,  false, false),
    row("ALLO",      true,  false, false),
    row("PWD",       true,  false, false),
    row("CWD",       true,  false, false),
    row("CDUP",      true,  false, false),
    row("MKD",       true,  true,  false),
    row("RMD",       true,  true,  false),
    row("DELE",      true,  true,  false),
    row("RNFR",      true,  true,  false),
    row("RNTO",      true,  true,  false),
    row("SIZE",      true,  false, false),
    row("MDTM",      true,  false, false),
    row("MFMT",      true,  true,  false),
    row("LIST",      true,  false, true),
    row("NLST",      true,  false, true),
    row("MLSD",      true,  false, true),
    row("MLST",      true,  false, false),
    row("RETR",      true,  false, true),
    row("STOR",      true,  true,  true),
    row("STOU",      true,  true,  true),
    row("APPE",      true,  true,  true),
    row("REST",      true,  false, false),
    row("ABOR",      true,  false, false),
    row("PASV",      true,  false, false),
    row("EPSV",      true,  false, false),
    row("PORT",      true,  false, false),
    row("EPRT",      true,  false, false),
    row("AVBL",      true,  false, false),
    row("HASH",      true,  false, false),
    row("XSHA256",   true,  false, false),
    row("XSHA1",     true,  false, false),
    row("XMD5",      true,  false, false),
    row("XCRC",      true,  false, false),
];

/// The policy row of `verb`.
pub fn policy(verb: &str) -> Option<&'static Policy> {
    TABLE.iter().find(|row| row.verb == verb)
}

impl Session {
    /// The logged-in user, if any.
    pub fn user(&self) -> Option<&User> {
        match &self.login {
            Login::LoggedIn(user) => Some(user),
            _ => None,
        }
    }

    /// The client's IP address (canonical, as `ConnectionInfo` makes it).
    pub fn peer_ip(&self) -> IpAddr {
        self.info.peer.ip()
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
        (self.protection == Protection::Private).then(|| DataTls {
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
            local_ip: self.info.local.ip().to_canonical(),
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

/// Checks the command's policy row, then runs its handler.
pub async fn dispatch(session: &mut Session, command: Command) -> Response {
    let Some(policy) = policy(command.verb()) else {
        return Reply::new(ReplyCode::NotImplemented, "Command not implemented").into();
    };
    if let Some(refusal) = refusal(session, policy) {
        return refusal.into();
    }
    if !matches!(command, Command::Rnto(_)) {
        session.pending_rename = None;
    }
    commands::run(session, command).await
}

fn refusal(session: &Session, policy: &Policy) -> Option<Reply> {
    if policy.needs_tls && session.tls_required() && !session.secure {
        return Some(Reply::new(
            ReplyCode::NotLoggedIn,
            "TLS required: send AUTH TLS before logging in (FTPS explicit mode)",
        ));
    }
    let user = session.user();
    if policy.needs_login && user.is_none() {
        return Some(Reply::new(
            ReplyCode::NotLoggedIn,
            "Please log in with USER and PASS first",
        ));
    }
    if policy.writes && user.is_some_and(|user| !user.can_write) {
        return Some(Reply::new(
            ReplyCode::FileUnavailable,
            "Permission denied (read-only account)",
        ));
    }
    if policy.data {
        if matches!(session.data, DataChannel::None) {
            return Some(Reply::new(
                ReplyCode::CantOpenDataConnection,
                "Use PASV or EPSV first",
            ));
        }
        if session.tls_required() && session.protection != Protection::Private {
            return Some(Reply::new(
                ReplyCode::ProtectionLevelRequired,
                "Data connections must be encrypted: send PBSZ 0 and PROT P first",
            ));
        }
    }
    None
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

/// Handles PROT (RFC 4217 §9): P needs TLS and PBSZ; C is refused when TLS is required.
pub fn set_protection(session: &mut Session, level: ProtectionLevel) -> Reply {
    if !session.secure {
        return Reply::new(ReplyCode::BadSequence, "PROT needs AUTH TLS first");
    }
    if !session.pbsz {
        return Reply::new(ReplyCode::BadSequence, "PROT needs PBSZ 0 first");
    }
    match level {
        ProtectionLevel::Private => {
            session.protection = Protection::Private;
            Reply::new(ReplyCode::CommandOkay, "Protection level set to Private")
        }
        ProtectionLevel::Clear if session.tls_required() => Reply::new(
            ReplyCode::DataProtectionDenied,
            "PROT C refused: this server requires encrypted data connections",
        ),
        ProtectionLevel::Clear => {
            session.protection = Protection::Clear;
            Reply::new(ReplyCode::CommandOkay, "Protection level set to Clear")
        }
        ProtectionLevel::Safe | ProtectionLevel::Confidential => Reply::new(
            ReplyCode::ProtectionLevelNotSupported,
            "Only PROT P and PROT C are supported",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_verb_the_parser_knows_has_a_policy_row() {
        let lines = [
            "USER a",
            "PASS",
            "QUIT",
            "NOOP",
            "SYST",
            "FEAT",
            "OPTS UTF8 ON",
            "HELP",
            "STAT",
            "SITE HELP",
            "HOST h",
            "AUTH TLS",
            "PBSZ 0",
            "PROT P",
            "CCC",
            "TYPE I",
            "MODE S",
            "STRU F",
            "ALLO 1",
            "PWD",
            "CWD a",
            "CDUP",
            "MKD a",
            "RMD a",
            "DELE a",
            "RNFR a",
            "RNTO a",
            "SIZE a",
            "MDTM a",
            "MFMT 20240101000000 a",
            "LIST",
            "NLST",
            "MLSD",
            "MLST",
            "RETR a",
            "STOR a",
            "STOU",
            "APPE a",
            "REST 0",
            "ABOR",
            "PASV",
            "EPSV",
            "PORT 127,0,0,1,4,1",
            "EPRT |1|127.0.0.1|1025|",
            "AVBL",
            "HASH a",
            "XSHA256 a",
            "XSHA1 a",
            "XMD5 a",
            "XCRC a",
        ];
        for line in lines {
            let command = super::super::proto::parse(line.as_bytes()).unwrap();
            assert!(policy(command.verb()).is_some(), "{line}");
        }
        assert_eq!(lines.len(), TABLE.len());
    }
}
