//! Login and security commands: USER, PASS (RFC 959 §4.1.1), AUTH, PBSZ, CCC (RFC 2228 §3,
//! RFC 4217 §6-11), HOST (RFC 7151) and QUIT.

use crate::audit::{Action, Event, Outcome};
use crate::auth::{Credential, Identity, LoginAttempt};
use crate::config::Protocol;
use crate::vfs::{UserFs, VirtualPath};

use super::super::errors;
use super::super::proto::{AuthMechanism, Reply, ReplyCode};
use super::super::session::{
    grants_write, Login, Protection, Response, Session, User, MAX_FAILED_LOGINS,
};

/// USER: remember the name and ask for the password.
pub fn user(session: &mut Session, name: String) -> Reply {
    if session.user().is_some() {
        return Reply::new(ReplyCode::BadSequence, "Already logged in");
    }
    let reply = Reply::new(
        ReplyCode::NeedPassword,
        format!("Password required for {name}"),
    );
    session.login = Login::AwaitingPassword { user: name };
    reply
}

/// PASS: authenticate, take the user's session slot, open their file system.
pub async fn pass(session: &mut Session, password: &str) -> Response {
    let user = match std::mem::replace(&mut session.login, Login::AwaitingUser) {
        Login::AwaitingPassword { user } => user,
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
        method_already_passed: None,
    };
    match services
        .auth
        .authenticate(&attempt, Credential::Password(password))
        .await
    {
        Ok(identity) => log_in(session, identity).await,
        Err(error) => {
            session.failed_logins += 1;
            record_login(session, &user, Outcome::Failed(error.to_string()));
            let reply = errors::auth_reply(&error);
            if session.failed_logins >= MAX_FAILED_LOGINS {
                Response::Close(reply)
            } else {
                reply.into()
            }
        }
    }
}

async fn log_in(session: &mut Session, identity: Identity) -> Response {
    let services = session.shared.services.clone();
    let permit = match services.limits.try_acquire_user(&identity.user) {
        Ok(permit) => permit,
        Err(error) => {
            record_login(session, &identity.user, Outcome::Failed(error.to_string()));
            return Response::Close(errors::limit_reply(error));
        }
    };
    let fs = match UserFs::open(identity.fs.clone(), &services.quotas).await {
        Ok(fs) => fs,
        Err(error) => {
            record_login(session, &identity.user, Outcome::Failed(error.to_string()));
            return errors::vfs_reply(&error).into();
        }
    };
    let name = identity.user.clone();
    session.span.record("user", name.as_str());
    session.tls.set_owner(&name, session.peer_ip());
    session.cwd = VirtualPath::root();
    session.login = Login::LoggedIn(Box::new(User {
        can_write: grants_write(&identity),
        identity,
        fs,
        _permit: permit,
    }));
    record_login(session, &name, Outcome::Ok);
    tracing::info!("logged in");
    Reply::new(ReplyCode::LoggedIn, format!("User {name} logged in")).into()
}

fn record_login(session: &Session, user: &str, outcome: Outcome) {
    session.shared.services.audit.record(&Event {
        action: Action::Login,
        protocol: Protocol::Ftps,
        user: user.to_owned(),
        peer: session.peer_ip(),
        path: String::new(),
        target: None,
        bytes: 0,
        duration: std::time::Duration::ZERO,
        outcome,
    });
}

/// AUTH TLS / AUTH SSL: answer 234, then the control task runs the handshake.
pub fn auth(session: &mut Session, mechanism: AuthMechanism) -> Response {
    if session.secure {
        return Reply::new(ReplyCode::BadSequence, "Already using TLS").into();
    }
    if mechanism == AuthMechanism::Ssl {
        // RFC 4217 §13: AUTH SSL historically implies protected data connections.
        session.pbsz = true;
        session.protection = Protection::Private;
    }
    let text = match mechanism {
        AuthMechanism::Tls => "AUTH TLS successful",
        AuthMechanism::Ssl => "AUTH SSL successful",
    };
    Response::StartTls(Reply::new(ReplyCode::AuthOkay, text))
}

/// PBSZ: TLS has no buffer size; any value is answered with `PBSZ=0` (RFC 4217 §8).
pub fn pbsz(session: &mut Session, _size: u64) -> Reply {
    if !session.secure {
        return Reply::new(ReplyCode::BadSequence, "PBSZ needs AUTH TLS first");
    }
    session.pbsz = true;
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
pub fn host(session: &Session, _name: &str) -> Reply {
    match session.login {
        Login::AwaitingUser => Reply::new(ReplyCode::ServiceReady, "Host accepted"),
        _ => Reply::new(ReplyCode::BadSequence, "HOST must come before USER"),
    }
}

/// QUIT.
pub fn quit(_session: &Session) -> Response {
    Response::Close(Reply::new(ReplyCode::ClosingControl, "Goodbye"))
}
