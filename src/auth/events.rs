//! Authentication events: every outcome of every attempt, reported to one observer.
//!
//! The [`Authenticator`](super::Authenticator) calls [`AuthObserver::on_auth`] exactly once per
//! `authenticate` call, so a brute-force defender (per-IP and per-user throttling) needs to hook
//! in here and nowhere else. The event carries the precise reason, which clients never see.

use std::fmt;
use std::net::IpAddr;

use crate::config::Protocol;

/// How the client tried to authenticate.
///
/// SSH keyboard-interactive is reported as `Password`: it asks one question, the password, and
/// runs the same check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    /// A password (FTP `PASS`, SSH `password` or `keyboard-interactive`).
    Password,
    /// An SSH public key whose signature russh has verified.
    PublicKey,
    /// A pinned TLS client certificate on the FTPS control connection.
    ClientCertificate,
}

impl AuthMethod {
    /// The stable name used in logs: `password`, `publickey` (the SSH method names) or
    /// `client_certificate`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Password => "password",
            AuthMethod::PublicKey => "publickey",
            AuthMethod::ClientCertificate => "client_certificate",
        }
    }
}

impl fmt::Display for AuthMethod {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// Why an attempt failed: for logs and the brute-force defender, never for the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureReason {
    /// No user has this name.
    UnknownUser,
    /// The password did not match.
    WrongPassword,
    /// The user has no password (key-only) but one was offered.
    NoPasswordSet,
    /// The password was empty or longer than the limit.
    PasswordRejected,
    /// The key is not one of the user's keys.
    WrongKey,
    /// The TLS client certificate is not pinned for this user, or the user does not log in
    /// with certificates.
    WrongCertificate,
    /// FTPS: the user's login mode requires a pinned client certificate, and the attempt came
    /// without one (no certificate, an unpinned one, or a plaintext session).
    CertificateRequired,
    /// The credential was right but the user is disabled.
    Disabled,
    /// The credential was right but the user may not use this protocol.
    ProtocolNotAllowed,
    /// The credential was right but the peer is outside the user's allowed networks.
    NetworkNotAllowed,
    /// Our fault (a hashing task panicked); the client was refused.
    Internal,
}

impl FailureReason {
    /// The stable snake_case name used in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::UnknownUser => "unknown_user",
            FailureReason::WrongPassword => "wrong_password",
            FailureReason::NoPasswordSet => "no_password_set",
            FailureReason::PasswordRejected => "password_rejected",
            FailureReason::WrongKey => "wrong_key",
            FailureReason::WrongCertificate => "wrong_certificate",
            FailureReason::CertificateRequired => "certificate_required",
            FailureReason::Disabled => "disabled",
            FailureReason::ProtocolNotAllowed => "protocol_not_allowed",
            FailureReason::NetworkNotAllowed => "network_not_allowed",
            FailureReason::Internal => "internal",
        }
    }

    /// True when the client proved knowledge of a valid credential (the failure is policy, not
    /// guessing); a brute-force defender may choose not to count these.
    pub fn credential_was_valid(self) -> bool {
        matches!(
            self,
            FailureReason::Disabled
                | FailureReason::ProtocolNotAllowed
                | FailureReason::NetworkNotAllowed
        )
    }
}

impl fmt::Display for FailureReason {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// The result of one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthOutcome {
    /// The user is logged in.
    Success,
    /// Key-and-password: this step passed, `next` is still required.
    Partial {
        /// The method still missing.
        next: AuthMethod,
    },
    /// The attempt was refused.
    Failure(FailureReason),
}

impl AuthOutcome {
    /// `success`, `partial` or `failure`, for the log field `outcome`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthOutcome::Success => "success",
            AuthOutcome::Partial { .. } => "partial",
            AuthOutcome::Failure(_) => "failure",
        }
    }
}

/// One authentication attempt and its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthEvent {
    /// The user name as the client sent it (unvalidated; may not exist).
    pub user: String,
    /// The protocol of the connection.
    pub protocol: Protocol,
    /// The client address, IPv4-mapped IPv6 folded to IPv4.
    pub peer: IpAddr,
    /// The method tried.
    pub method: AuthMethod,
    /// What happened.
    pub outcome: AuthOutcome,
}

/// Receives every authentication outcome.
///
/// Called inline on the login path: implementations must be quick and must not block (hand work
/// to a channel if needed).
pub trait AuthObserver: Send + Sync {
    /// Called once per attempt.
    fn on_auth(&self, event: &AuthEvent);
}

/// The default observer: one tracing event per outcome, `info` for success and partial success,
/// `warn` for failure, with fields `user`, `protocol`, `peer`, `method`, `outcome` and (on
/// failure) `reason`.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogObserver;

impl AuthObserver for LogObserver {
    fn on_auth(&self, event: &AuthEvent) {
        // `?user` (Debug) escapes control characters in the client-chosen name, so it cannot
        // forge log lines.
        match event.outcome {
            AuthOutcome::Success => tracing::info!(
                user = ?event.user,
                protocol = %event.protocol,
                peer = %event.peer,
                method = %event.method,
                outcome = event.outcome.as_str(),
                "login succeeded"
            ),
            AuthOutcome::Partial { next } => tracing::info!(
                user = ?event.user,
                protocol = %event.protocol,
                peer = %event.peer,
                method = %event.method,
                outcome = event.outcome.as_str(),
                next = %next,
                "login step passed; another method is required"
            ),
            AuthOutcome::Failure(reason) => tracing::warn!(
                user = ?event.user,
                protocol = %event.protocol,
                peer = %event.peer,
                method = %event.method,
                outcome = event.outcome.as_str(),
                reason = reason.as_str(),
                "login failed"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_stable() {
        assert_eq!(AuthMethod::PublicKey.to_string(), "publickey");
        assert_eq!(
            AuthMethod::ClientCertificate.to_string(),
            "client_certificate"
        );
        assert!(!FailureReason::CertificateRequired.credential_was_valid());
        assert_eq!(
            FailureReason::NetworkNotAllowed.as_str(),
            "network_not_allowed"
        );
        assert!(FailureReason::Disabled.credential_was_valid());
        assert!(!FailureReason::WrongPassword.credential_was_valid());
        assert_eq!(
            AuthOutcome::Partial {
                next: AuthMethod::Password
            }
            .as_str(),
            "partial"
        );
    }

    #[test]
    fn log_observer_handles_every_outcome() {
        let mut event = AuthEvent {
            user: "a\nb".to_owned(),
            protocol: Protocol::Sftp,
            peer: "192.0.2.1".parse().unwrap(),
            method: AuthMethod::Password,
            outcome: AuthOutcome::Success,
        };
        LogObserver.on_auth(&event);
        event.outcome = AuthOutcome::Partial {
            next: AuthMethod::PublicKey,
        };
        LogObserver.on_auth(&event);
        event.outcome = AuthOutcome::Failure(FailureReason::WrongPassword);
        LogObserver.on_auth(&event);
    }
}
