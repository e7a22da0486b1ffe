//! Login and security commands: USER, PASS (RFC 959 §4.1.1), AUTH, PBSZ, CCC (RFC 2228 §3,
//! RFC 4217 §6-11), HOST (RFC 7151) and QUIT.

use crate::auth::{
    AuthError, AuthMethod, CertificateFingerprint, Credential, Identity, LoginAttempt,
};
use crate::config::Protocol;
use crate::session_core::LoginRefused;
use crate::vfs::VirtualPath;

use super::super::context::{
    grants_write, Context, DataProtection, Login, Response, TlsState, User, MAX_FAILED_LOGINS,
};
use super::super::errors;
use super::super::proto::{AuthMechanism, ProtectionLevel, Reply, ReplyCode};

/// USER: remember the name and ask for the password, or log in right away (232) when the TLS
/// client certificate on this connection is pinned for a user who logs in with it alone.
///
/// Anything but a pinned certificate gets exactly the reply of a password login, whether the
/// user exists or not; a user whose mode needs a certificate then fails at PASS.
pub async fn user(session: &mut Context, name: String) -> Response {
    if session.user().is_some() {
        return Reply::new(ReplyCode::BadSequence, "Already logged in").into();
    }
    let pinned = session
        .tls
        .client_certificate()
        .copied()
        .filter(|fingerprint| {
            session.shared.services.auth.accepts_client_certificate(
                &name,
                fingerprint,
                Protocol::Ftps,
            )
        });
    if let Some(fingerprint) = pinned {
        return certificate_login(session, name, &fingerprint).await;
    }
    ask_for_password(session, name, None).into()
}

/// PASS: authenticate, take the user's session slot, open their file system.
pub async fn pass(session: &mut Context, password: &str) -> Response {
    let (user, method_already_passed) =
        match std::mem::replace(&mut session.login, Login::AwaitingUser) {
            Login::AwaitingPassword {
                user,
                method_already_passed,
            } => (user, method_already_passed),
            Login::LoggedIn(user) => {
                session.login = Login::LoggedIn(user);
                return Reply::new(ReplyCode::BadSequence, "Already logged in").into();
            }
            Login::AwaitingUser => {
                return Reply::new(ReplyCode::BadSequence, "Send USER first").into();
            }
        };
    let services = session.shared.services.clone();
    let attempt = LoginAttempt {
        user: &user,
        protocol: Protocol::Ftps,
        peer: session.peer_ip(),
        method_already_passed,
    };
    match services
        .auth
        .authenticate(&attempt, Credential::Password(password))
        .await
    {
        Ok(identity) => log_in(session, identity, ReplyCode::LoggedIn).await,
        Err(error) => refuse(session, &user, &error),
    }
}

/// The certificate step: a complete login (`certificate`), or the password still to come
/// (`certificate_and_password`), answered with the same 331 as any other USER.
async fn certificate_login(
    session: &mut Context,
    name: String,
    fingerprint: &CertificateFingerprint,
) -> Response {
    let services = session.shared.services.clone();
    let attempt = LoginAttempt {
        user: &name,
        protocol: Protocol::Ftps,
        peer: session.peer_ip(),
        method_already_passed: None,
    };
    match services
        .auth
        .authenticate(&attempt, Credential::ClientCertificate(fingerprint))
        .await
    {
        Ok(identity) => log_in(session, identity, ReplyCode::LoggedInBySecurityExchange).await,
        Err(AuthError::PartialSuccess {
            next: AuthMethod::Password,
        }) => ask_for_password(session, name, Some(AuthMethod::ClientCertificate)).into(),
        Err(error) => {
            session.login = Login::AwaitingUser;
            refuse(session, &name, &error)
        }
    }
}

fn ask_for_password(
    session: &mut Context,
    name: String,
    method_already_passed: Option<AuthMethod>,
) -> Reply {
    let reply = Reply::new(
        ReplyCode::NeedPassword,
        format!("Password required for {name}"),
    );
    session.login = Login::AwaitingPassword {
        user: name,
        method_already_passed,
    };
    reply
}

/// A failed login, whichever step failed: reported to the session core (audit, defender),
/// counted, and after too many the end.
fn refuse(session: &mut Context, user: &str, error: &AuthError) -> Response {
    session.failed_logins += 1;
    session.connection.login_failed(user, error);
    let reply = errors::auth_reply(error);
    if session.failed_logins >= MAX_FAILED_LOGINS {
        Response::Close(reply)
    } else {
        reply.into()
    }
}

/// The session core logs the user in (slot, files, audit, registry); this adds the FTP state.
async fn log_in(session: &mut Context, identity: Identity, code: ReplyCode) -> Response {
    let logged_in = match session.connection.log_in(&identity).await {
        Ok(logged_in) => logged_in,
        Err(LoginRefused::Limit(error)) => return Response::Close(errors::limit_reply(error)),
        Err(LoginRefused::HomeUnavailable(error)) => return errors::vfs_reply(&error).into(),
    };
    let name = identity.user.clone();
    let text = match code {
        ReplyCode::LoggedInBySecurityExchange => {
            format!("User {name} logged in, authorized by security data exchange")
        }
        _ => format!("User {name} logged in"),
    };
    session.tls.set_owner(&name);
    session.cwd = VirtualPath::root();
    session.login = Login::LoggedIn(Box::new(User {
        can_write: grants_write(&identity),
        identity,
        fs: logged_in.fs,
        session: logged_in.session,
    }));
    Reply::new(code, text).into()
}

/// AUTH TLS / AUTH SSL: answer 234, then the control task runs the handshake.
pub fn auth(session: &mut Context, mechanism: AuthMechanism) -> Response {
    if session.tls_state.is_secure() {
        return Reply::new(ReplyCode::BadSequence, "Already using TLS").into();
    }
    let protection = match mechanism {
        // RFC 4217 §13: AUTH SSL historically implies protected data connections.
        AuthMechanism::Ssl => DataProtection::Private,
        AuthMechanism::Tls => DataProtection::NoBufferSize,
    };
    let text = match mechanism {
        AuthMechanism::Tls => "AUTH TLS successful",
        AuthMechanism::Ssl => "AUTH SSL successful",
    };
    Response::StartTls(Reply::new(ReplyCode::AuthOkay, text), protection)
}

/// PBSZ: TLS has no buffer size; any value is answered with `PBSZ=0` (RFC 4217 §8).
pub fn pbsz(session: &mut Context, _size: u64) -> Reply {
    match session.tls_state {
        TlsState::Plain => {
            return Reply::new(ReplyCode::BadSequence, "PBSZ needs AUTH TLS first");
        }
        TlsState::Secure(DataProtection::NoBufferSize) => {
            session.tls_state = TlsState::Secure(DataProtection::Clear);
        }
        TlsState::Secure(DataProtection::Clear | DataProtection::Private) => {}
    }
    Reply::new(ReplyCode::CommandOkay, "PBSZ=0")
}

/// CCC: never; a clear control channel would expose every later command.
pub fn ccc() -> Reply {
    Reply::new(
        ReplyCode::DataProtectionDenied,
        "CCC refused: the control connection stays encrypted",
    )
}

/// HOST: accepted before USER (RFC 7151 §3); ferryd serves one host.
pub fn host(session: &Context, _name: &str) -> Reply {
    match session.login {
        Login::AwaitingUser => Reply::new(ReplyCode::ServiceReady, "Host accepted"),
        _ => Reply::new(ReplyCode::BadSequence, "HOST must come before USER"),
    }
}

/// QUIT.
pub fn quit(_session: &Context) -> Response {
    Response::Close(Reply::new(ReplyCode::ClosingControl, "Goodbye"))
}

/// Handles PROT (RFC 4217 §9): P needs TLS and PBSZ; C is refused when TLS is required.
pub fn set_protection(session: &mut Context, level: ProtectionLevel) -> Reply {
    match session.tls_state {
        TlsState::Plain => {
            return Reply::new(ReplyCode::BadSequence, "PROT needs AUTH TLS first");
        }
        TlsState::Secure(DataProtection::NoBufferSize) => {
            return Reply::new(ReplyCode::BadSequence, "PROT needs PBSZ 0 first");
        }
        TlsState::Secure(DataProtection::Clear | DataProtection::Private) => {}
    }
    match level {
        ProtectionLevel::Private => {
            session.tls_state = TlsState::Secure(DataProtection::Private);
            Reply::new(ReplyCode::CommandOkay, "Protection level set to Private")
        }
        ProtectionLevel::Clear if session.tls_required() => Reply::new(
            ReplyCode::DataProtectionDenied,
            "PROT C refused: this server requires encrypted data connections",
        ),
        ProtectionLevel::Clear => {
            session.tls_state = TlsState::Secure(DataProtection::Clear);
            Reply::new(ReplyCode::CommandOkay, "Protection level set to Clear")
        }
        ProtectionLevel::Safe | ProtectionLevel::Confidential => Reply::new(
            ReplyCode::ProtectionLevelNotSupported,
            "Only PROT P and PROT C are supported",
        ),
    }
}
