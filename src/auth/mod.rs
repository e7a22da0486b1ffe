//! Authentication: who a client is, from a password, a public key or a TLS client certificate.
//!
//! [`Authenticator`] turns a login attempt (user name, protocol, peer address, credential) into an
//! [`Identity`] or an [`AuthError`], using the current [`UserDb`] (the users file, see
//! [`users_file`] for its format). Every outcome is reported to one [`AuthObserver`].
//!
//! Rules the front ends rely on:
//!
//! - **Clients learn nothing from failures.** `InvalidCredentials`, `ProtocolNotAllowed`,
//!   `NetworkNotAllowed`, `CertificateRequired` and `PartialSuccess` on FTPS must all get the
//!   same reply (FTP `530`, SSH
//!   "failure"); the variants exist for logs and the observer. Only SSH shows partial success,
//!   as the protocol requires.
//! - **Timing is flat.** A password attempt always costs exactly one argon2 verification: against
//!   the user's hash, or a dummy hash for unknown users, key-only users, and empty or over-long
//!   passwords. Disabled users, wrong protocols and disallowed networks are checked *after* the
//!   credential, so neither the reply nor its timing reveals the policy to someone without the
//!   password, and the observer sees `wrong_password` (a guess) rather than a policy failure.
//! - **Key and password.** A user with `require_key_and_password` needs both, in either order.
//!   The first step returns `PartialSuccess { next }`; the SSH front end then retries with
//!   [`LoginAttempt::method_already_passed`] set. The front end must only set it after this
//!   authenticator returned `PartialSuccess` for the same user on the same connection. On FTPS
//!   (no keys) such a user can never log in: treat `PartialSuccess` as a failure there.
//! - **Client certificates** (FTPS only) are pinned by SHA-256 fingerprint per user
//!   ([`client_certificate`]). The front end asks [`Authenticator::accepts_client_certificate`]
//!   whether the certificate on the connection is one of the user's (no event: a client cannot
//!   choose to fail that probe), and only then authenticates with
//!   [`Credential::ClientCertificate`], which applies the same policy checks and reports to the
//!   observer like any other method. With `certificate_and_password` the certificate step returns
//!   `PartialSuccess { next: Password }` and the password follows with
//!   `method_already_passed = Some(ClientCertificate)`. For a user whose mode requires a
//!   certificate, an FTPS password attempt without that first step fails with
//!   `CertificateRequired`, whatever the password (after the usual argon2 work, so timing stays
//!   flat), which the client sees as any other failure and a defender counts as a failed login.
//! - **Keyboard-interactive** is a password check: pass [`Credential::Password`].
//! - **Reload** swaps the database atomically; sessions keep the `Identity` they got at login.

pub mod client_certificate;
pub mod events;
pub mod identity;
pub mod password;
pub mod public_key;
pub mod user_db;
pub mod user_record;
pub mod users_file;
pub mod users_file_render;

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;
use russh::keys::PublicKey;
use zeroize::Zeroizing;

pub use client_certificate::{CertificateFingerprint, CertificateLogin, FingerprintError};
pub use events::{AuthEvent, AuthMethod, AuthObserver, AuthOutcome, FailureReason, LogObserver};
pub use identity::Identity;
pub use password::{HashedPassword, PasswordError};
pub use public_key::KeyError;
pub use user_db::{UserDb, UserDbError};
pub use user_record::{
    Folder, FolderSource, ObjectLocation, PathRule, RecordError, UserName, UserRecord,
};
pub use users_file::{UserProblem, UsersFileError};

use crate::config::Protocol;
use password::VerifiedAgainst;

/// One login attempt: who claims to log in, over what, from where.
#[derive(Debug, Clone, Copy)]
pub struct LoginAttempt<'a> {
    /// The user name as the client sent it.
    pub user: &'a str,
    /// The protocol of the connection.
    pub protocol: Protocol,
    /// The client's address.
    pub peer: IpAddr,
    /// Key-and-password: the method that already returned `PartialSuccess` on this connection.
    pub method_already_passed: Option<AuthMethod>,
}

/// What the client offers as proof.
#[derive(Clone, Copy)]
pub enum Credential<'a> {
    /// A password (also SSH keyboard-interactive).
    Password(&'a str),
    /// A public key whose signature russh has already verified.
    PublicKey(&'a PublicKey),
    /// The fingerprint of the TLS client certificate on the FTPS control connection; rustls has
    /// already verified the handshake signature made with its key.
    ClientCertificate(&'a CertificateFingerprint),
}

impl Credential<'_> {
    /// The method this credential belongs to.
    pub fn method(&self) -> AuthMethod {
        match self {
            Credential::Password(_) => AuthMethod::Password,
            Credential::PublicKey(_) => AuthMethod::PublicKey,
            Credential::ClientCertificate(_) => AuthMethod::ClientCertificate,
        }
    }
}

impl fmt::Debug for Credential<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the password, even in debug output.
        match self {
            Credential::Password(_) => formatter.write_str("Password(<redacted>)"),
            Credential::PublicKey(key) => {
                write!(formatter, "PublicKey({})", public_key::fingerprint(key))
            }
            Credential::ClientCertificate(fingerprint) => {
                write!(formatter, "ClientCertificate({fingerprint})")
            }
        }
    }
}

/// Why a login was refused. Front ends reply the same to the client for every variant except
/// `PartialSuccess` on SSH (see the module doc); the distinction is for logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Unknown user, wrong password or key, key-only user, or disabled user.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// The credential was valid but the user may not use this protocol.
    #[error("protocol not allowed for this user")]
    ProtocolNotAllowed,
    /// The credential was valid but the peer is outside the user's allowed networks.
    #[error("source address not allowed for this user")]
    NetworkNotAllowed,
    /// FTPS: the user's login mode needs a pinned client certificate and none was presented.
    #[error("a pinned TLS client certificate is required")]
    CertificateRequired,
    /// Key-and-password: this step passed; `next` is still required.
    #[error("partial success; {next} authentication still required")]
    PartialSuccess {
        /// The method still missing.
        next: AuthMethod,
    },
    /// Our fault: the verification task failed. Log it as an error.
    #[error("internal authentication error: {0}")]
    Internal(String),
}

/// Decides logins against the current users database. Cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct Authenticator {
    inner: Arc<Inner>,
}

struct Inner {
    users: ArcSwap<UserDb>,
    data_dir: PathBuf,
    observer: Arc<dyn AuthObserver>,
    /// Password checks run against the dummy hash; lets tests prove the dummy path is taken.
    dummy_verifications: AtomicU64,
    /// Whether some user logs in with a client certificate: asked on every FTPS handshake, so
    /// kept up to date with `users` instead of scanning every user each time.
    certificates_in_use: AtomicBool,
    /// Bounds concurrent argon2 checks (CPU and 19 MiB of working memory each): a login flood
    /// queues here instead of growing blocking threads and memory without limit.
    hashing: tokio::sync::Semaphore,
}

impl Authenticator {
    /// An authenticator over `db`; home and folder paths resolve against `data_dir`.
    ///
    /// The first call in a process computes the dummy hash (one argon2 hash, ~20 ms) so the first
    /// unknown-user attempt is not slower than later ones.
    pub fn new(db: UserDb, data_dir: PathBuf, observer: Arc<dyn AuthObserver>) -> Authenticator {
        password::prepare_dummy();
        Authenticator {
            inner: Arc::new(Inner {
                certificates_in_use: AtomicBool::new(uses_client_certificates(&db)),
                users: ArcSwap::from_pointee(db),
                data_dir,
                observer,
                dummy_verifications: AtomicU64::new(0),
                hashing: tokio::sync::Semaphore::new(password::max_concurrent_checks()),
            }),
        }
    }

    /// Replaces the users database; attempts already running finish against the old one.
    pub fn replace_users(&self, db: UserDb) {
        let in_use = uses_client_certificates(&db);
        self.inner.users.store(Arc::new(db));
        self.inner
            .certificates_in_use
            .store(in_use, Ordering::Relaxed);
    }

    /// Re-reads the users file and swaps it in; returns the number of users.
    ///
    /// On any error (including a missing file) the current database stays in place and the error
    /// is logged here (so callers need not log it again) and returned.
    pub fn reload_from(&self, path: &Path) -> Result<usize, UsersFileError> {
        match UserDb::load_existing(path) {
            Ok(db) => {
                let n_users = db.len();
                self.replace_users(db);
                tracing::info!(path = %path.display(), users = n_users, "users file reloaded");
                Ok(n_users)
            }
            Err(error) => {
                tracing::error!(
                    path = %path.display(),
                    %error,
                    "users file reload failed; keeping the previous users"
                );
                Err(error)
            }
        }
    }

    /// Checks one credential and reports the outcome to the observer (exactly once).
    pub async fn authenticate(
        &self,
        attempt: &LoginAttempt<'_>,
        credential: Credential<'_>,
    ) -> Result<Identity, AuthError> {
        let users = self.inner.users.load_full();
        let peer = attempt.peer.to_canonical();
        let method = credential.method();
        let user = users.get(attempt.user);

        let verified = match credential {
            Credential::Password(candidate) => self.check_password(user, candidate).await,
            Credential::PublicKey(key) => match user {
                None => Err(FailureReason::UnknownUser),
                Some(record) if record.has_key(key) => Ok(()),
                Some(_) => Err(FailureReason::WrongKey),
            },
            Credential::ClientCertificate(fingerprint) => match user {
                None => Err(FailureReason::UnknownUser),
                Some(record) if accepts_certificate(record, attempt.protocol, fingerprint) => {
                    Ok(())
                }
                Some(_) => Err(FailureReason::WrongCertificate),
            },
        };
        let decision = match user.map(|record| check_certificate_step(record, attempt, method)) {
            Some(Err(reason)) => Err(reason),
            _ => verified.and_then(|()| {
                let record = user.ok_or(FailureReason::UnknownUser)?;
                check_policy(record, attempt.protocol, peer)?;
                Ok(record)
            }),
        };

        let (outcome, result) = match decision {
            Err(reason) => (AuthOutcome::Failure(reason), Err(error_for(reason))),
            Ok(record) => match missing_step(record, attempt, method) {
                Some(next) => (
                    AuthOutcome::Partial { next },
                    Err(AuthError::PartialSuccess { next }),
                ),
                None => (
                    AuthOutcome::Success,
                    Ok(Identity::from_record(record, &self.inner.data_dir, method)),
                ),
            },
        };
        self.inner.observer.on_auth(&AuthEvent {
            user: attempt.user.to_owned(),
            protocol: attempt.protocol,
            peer,
            method,
            outcome,
        });
        result
    }

    /// The SSH "would you accept this key?" probe (no signature yet).
    ///
    /// True only for an enabled user who may use `protocol` from `peer` and has `key`. Not
    /// reported to the observer: probing proves nothing, and the signed attempt that follows goes
    /// through [`Authenticator::authenticate`].
    pub fn accepts_public_key(
        &self,
        user: &str,
        key: &PublicKey,
        protocol: Protocol,
        peer: IpAddr,
    ) -> bool {
        let users = self.inner.users.load();
        users.get(user).is_some_and(|record| {
            record.has_key(key) && check_policy(record, protocol, peer.to_canonical()).is_ok()
        })
    }

    /// True when `fingerprint` is a pinned client certificate of `user` and that user's FTPS
    /// login uses certificates (`protocol` must be FTPS).
    ///
    /// Only the credential is checked: the front end calls [`Authenticator::authenticate`] with
    /// [`Credential::ClientCertificate`] next, which applies the policy and reports the outcome.
    /// Not reported itself, so a certificate that is not for this user (or a user who logs in
    /// with a password) costs the client nothing and the login goes on as a password login.
    pub fn accepts_client_certificate(
        &self,
        user: &str,
        fingerprint: &CertificateFingerprint,
        protocol: Protocol,
    ) -> bool {
        let users = self.inner.users.load();
        users
            .get(user)
            .is_some_and(|record| accepts_certificate(record, protocol, fingerprint))
    }

    /// True when some enabled FTPS user logs in with a client certificate, so FTPS handshakes
    /// should ask clients for one.
    pub fn has_user_with_client_certificate(&self) -> bool {
        self.inner.certificates_in_use.load(Ordering::Relaxed)
    }

    /// A snapshot of the current users database.
    pub fn users(&self) -> Arc<UserDb> {
        self.inner.users.load_full()
    }

    /// The number of users in the current database.
    pub fn user_count(&self) -> usize {
        self.inner.users.load().len()
    }

    /// True when some enabled user has a password.
    pub fn has_user_with_password(&self) -> bool {
        self.inner.users.load().has_user_with_password()
    }

    /// The directory relative home and folder paths resolve against.
    pub fn data_dir(&self) -> &Path {
        &self.inner.data_dir
    }

    /// One argon2 verification on a blocking thread; the reason names the precise failure.
    async fn check_password(
        &self,
        user: Option<&UserRecord>,
        candidate: &str,
    ) -> Result<(), FailureReason> {
        let stored = user.and_then(|record| record.password.clone());
        let has_password = stored.is_some();
        let owned_candidate = Zeroizing::new(candidate.to_owned());
        // Never closed, so acquiring cannot fail; held until the hash is done.
        let _permit = self.inner.hashing.acquire().await.map_err(|error| {
            tracing::error!(%error, "password check limiter closed");
            FailureReason::Internal
        })?;
        let check =
            tokio::task::spawn_blocking(move || password::check(stored.as_ref(), &owned_candidate))
                .await
                .map_err(|error| {
                    tracing::error!(%error, "password verification task failed");
                    FailureReason::Internal
                })?;
        if check.against == VerifiedAgainst::Dummy {
            self.inner
                .dummy_verifications
                .fetch_add(1, Ordering::Relaxed);
        }
        match user {
            None => Err(FailureReason::UnknownUser),
            Some(_) if check.matched => Ok(()),
            Some(_) if !has_password => Err(FailureReason::NoPasswordSet),
            Some(_) if password::validate_candidate(candidate).is_err() => {
                Err(FailureReason::PasswordRejected)
            }
            Some(_) => Err(FailureReason::WrongPassword),
        }
    }

    #[cfg(test)]
    fn dummy_verifications(&self) -> u64 {
        self.inner.dummy_verifications.load(Ordering::Relaxed)
    }
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Authenticator")
            .field("users", &self.user_count())
            .field("data_dir", &self.inner.data_dir)
            .finish_non_exhaustive()
    }
}

/// The checks that apply once the credential is known to be valid.
fn check_policy(user: &UserRecord, protocol: Protocol, peer: IpAddr) -> Result<(), FailureReason> {
    if !user.enabled {
        Err(FailureReason::Disabled)
    } else if !user.allows_protocol(protocol) {
        Err(FailureReason::ProtocolNotAllowed)
    } else if !user.allows_peer(peer) {
        Err(FailureReason::NetworkNotAllowed)
    } else {
        Ok(())
    }
}

/// True when the certificate logs `user` in over `protocol`: FTPS, a certificate login mode, and
/// one of the user's pins.
fn accepts_certificate(
    user: &UserRecord,
    protocol: Protocol,
    fingerprint: &CertificateFingerprint,
) -> bool {
    protocol == Protocol::Ftps
        && user.tls_client_certificate_login.requires_certificate()
        && user.has_client_certificate(fingerprint)
}

/// FTPS users whose mode requires a certificate cannot get in with anything else first.
///
/// This reason wins over the credential's own result (right or wrong password alike): the
/// missing certificate is what the admin needs to read in the log, and the argon2 work has been
/// done by then, so timing stays flat. It also comes before the policy, so the failure counts as
/// a failed login, never as a valid credential refused by policy.
fn check_certificate_step(
    user: &UserRecord,
    attempt: &LoginAttempt<'_>,
    method: AuthMethod,
) -> Result<(), FailureReason> {
    let certificate_passed = method == AuthMethod::ClientCertificate
        || attempt.method_already_passed == Some(AuthMethod::ClientCertificate);
    if attempt.protocol == Protocol::Ftps
        && user.tls_client_certificate_login.requires_certificate()
        && !certificate_passed
    {
        Err(FailureReason::CertificateRequired)
    } else {
        Ok(())
    }
}

/// The method still required after `method` passed, for users who need two.
///
/// Over FTPS a certificate login mode decides alone (`certificate_and_password`: certificate
/// then password; `certificate`: nothing more). Otherwise `require_key_and_password` asks for a
/// key and the password, in either order; FTPS has no keys, so such a user cannot log in there.
fn missing_step(
    user: &UserRecord,
    attempt: &LoginAttempt<'_>,
    method: AuthMethod,
) -> Option<AuthMethod> {
    let (first, second) = match user.tls_client_certificate_login {
        CertificateLogin::CertificateAndPassword if attempt.protocol == Protocol::Ftps => {
            (AuthMethod::ClientCertificate, AuthMethod::Password)
        }
        CertificateLogin::Certificate if attempt.protocol == Protocol::Ftps => return None,
        _ if user.require_key_and_password => (AuthMethod::PublicKey, AuthMethod::Password),
        _ => return None,
    };
    let other = if method == first { second } else { first };
    (attempt.method_already_passed != Some(other)).then_some(other)
}

fn error_for(reason: FailureReason) -> AuthError {
    match reason {
        FailureReason::ProtocolNotAllowed => AuthError::ProtocolNotAllowed,
        FailureReason::NetworkNotAllowed => AuthError::NetworkNotAllowed,
        FailureReason::CertificateRequired => AuthError::CertificateRequired,
        FailureReason::Internal => AuthError::Internal("password verification failed".to_owned()),
        FailureReason::UnknownUser
        | FailureReason::WrongPassword
        | FailureReason::NoPasswordSet
        | FailureReason::PasswordRejected
        | FailureReason::WrongKey
        | FailureReason::WrongCertificate
        | FailureReason::Disabled => AuthError::InvalidCredentials,
    }
}

/// Whether some enabled FTPS user of `db` logs in with a client certificate.
fn uses_client_certificates(db: &UserDb) -> bool {
    db.iter().any(|user| {
        user.enabled
            && user.allows_protocol(Protocol::Ftps)
            && user.tls_client_certificate_login.requires_certificate()
    })
}

#[cfg(test)]
mod tests;
