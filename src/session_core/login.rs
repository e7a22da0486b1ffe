//! Login bookkeeping on an admitted [`Connection`], and the logged-in [`UserSession`] it yields.
//!
//! The authenticator decides whether the credential is right; everything that follows its
//! verdict is here, once for both protocols: a refused login scores against the address in
//! the defender and is audited; an accepted one takes the user's session slot, opens their
//! files, is audited (the audit's metrics sink counts the session) and enters the registry
//! that `ferryd session list/kick` reads. The session's end undoes it in the reverse order.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::audit::{reason, Action, Audit, Event, Outcome};
use crate::auth::{AuthError, Identity};
use crate::config::Protocol;
use crate::hooks::SessionHooks;
use crate::limits::{LimitError, Offence, Registration, SessionPermit};
use crate::vfs::{UserFs, VfsError};

use super::admission::Connection;

/// Why an accepted credential still did not log the user in.
#[derive(Debug, thiserror::Error)]
pub enum LoginRefused {
    /// The user holds `server.max_sessions_per_user` sessions already.
    #[error(transparent)]
    Limit(LimitError),
    /// The user's home or a mount could not be opened.
    #[error("home unavailable: {0}")]
    HomeUnavailable(VfsError),
}

/// What a successful login hands the front end.
pub struct LoggedIn {
    /// The session's bookkeeping; ending or dropping it logs the user out.
    pub session: UserSession,
    /// The user's confined view of their files.
    pub fs: UserFs,
}

impl Connection {
    /// Reports a login attempt the authenticator refused (`error`) for the name `user`: the
    /// address scores a failed login with the defender, and the attempt is audited.
    ///
    /// A partial success (the first of two factors) is not a failure and scores nothing; a
    /// front end that still ends the attempt there reports it here all the same, for the
    /// audit.
    pub fn login_failed(&self, user: &str, error: &AuthError) {
        if !matches!(error, AuthError::PartialSuccess { .. }) {
            self.core
                .limits
                .defender()
                .report(self.info.peer.ip(), Offence::FailedLogin);
        }
        let outcome = Outcome::failed(reason::CREDENTIALS, error.to_string());
        self.record_login(user, outcome);
    }

    /// Logs in `identity`, whom the authenticator accepted: takes the user's session slot,
    /// opens their files (with the server's umask unless the user has their own), audits the
    /// login and registers the session. A refusal is audited too; the front end says why in
    /// its own protocol.
    pub async fn log_in(&self, identity: &Identity) -> Result<LoggedIn, LoginRefused> {
        let user = identity.user.as_str();
        // From here on every line of the connection names the user, refusals included.
        self.span.record("user", user);
        let permit = match self.core.limits.try_acquire_user(user) {
            Ok(permit) => permit,
            Err(error) => {
                self.record_login(user, Outcome::failed(reason::LIMIT, error.to_string()));
                return Err(LoginRefused::Limit(error));
            }
        };
        let umask = self.core.config.load().server.umask;
        let spec = identity.fs.clone().with_default_umask(umask);
        let fs = match UserFs::open(spec, &self.core.quotas).await {
            Ok(fs) => fs,
            Err(error) => {
                let outcome = Outcome::failed(reason::HOME_UNAVAILABLE, error.to_string());
                self.record_login(user, outcome);
                return Err(LoginRefused::HomeUnavailable(error));
            }
        };
        if let Some(hooks) = &self.core.hooks {
            let peer = self.info.peer.ip();
            fs.set_upload_hooks(SessionHooks::new(
                hooks.clone(),
                user,
                self.info.protocol,
                peer,
            ));
        }
        self.record_login(user, Outcome::Ok);
        tracing::info!(parent: &self.span, method = identity.method.as_str(), "logged in");
        let registration = self.core.limits.sessions().register(
            self.info.id.as_u64(),
            self.info.protocol,
            user,
            self.info.peer,
        );
        let session = UserSession {
            audit: self.core.audit.clone(),
            span: self.span.clone(),
            protocol: self.info.protocol,
            user: user.to_owned(),
            peer: self.info.peer.ip(),
            since: Instant::now(),
            registration: Arc::new(registration),
            _permit: permit,
        };
        Ok(LoggedIn { session, fs })
    }

    fn record_login(&self, user: &str, outcome: Outcome) {
        self.core.audit.record(&Event {
            action: Action::Login,
            protocol: self.info.protocol,
            user: user.to_owned(),
            peer: self.info.peer.ip(),
            path: String::new(),
            target: None,
            bytes: 0,
            duration: Duration::ZERO,
            outcome,
        });
    }
}

/// A logged-in session's bookkeeping: its registry entry and per-user slot. Ending it (by
/// [`UserSession::end`] or by dropping it, so no ending can skip it) audits the logout; the
/// registry entry goes with the last clone of [`UserSession::registration`], the slot at once.
pub struct UserSession {
    audit: Audit,
    span: tracing::Span,
    protocol: Protocol,
    user: String,
    peer: IpAddr,
    since: Instant,
    registration: Arc<Registration>,
    _permit: SessionPermit,
}

impl UserSession {
    /// The logged-in user's name.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The session's registry entry, for showing its running transfers; tasks that outlive
    /// a request keep a clone, so the entry stays until the last of them ends.
    pub fn registration(&self) -> &Arc<Registration> {
        &self.registration
    }

    /// Cancelled when an administrator kicks the session (`ferryd session kick`).
    pub fn kicked(&self) -> &CancellationToken {
        self.registration.kicked()
    }

    /// Ends the session now: the user is logged out.
    pub fn end(self) {
        drop(self);
    }
}

impl Drop for UserSession {
    fn drop(&mut self) {
        tracing::info!(parent: &self.span, user = %self.user, "logged out");
        self.audit.record(&Event {
            action: Action::Logout,
            protocol: self.protocol,
            user: std::mem::take(&mut self.user),
            peer: self.peer,
            path: String::new(),
            target: None,
            bytes: 0,
            duration: self.since.elapsed(),
            outcome: Outcome::Ok,
        });
    }
}
