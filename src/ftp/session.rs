//! Dispatch and the command policy: the one place that decides, before any handler runs,
//! whether a command may run now (RFC 959 §5.4 sequencing, RFC 4217 §6-9 protection rules),
//! and then hands the handler in `commands` the session's [`Context`].
//!
//! The control task (`control.rs`) owns the `Context`; handlers return the `Response` they
//! cause and never write to a socket.

use super::commands;
use super::context::{Context, Response};
use super::data::DataChannel;
use super::proto::{Command, Reply, ReplyCode};

/// What a command needs before its handler may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Refused with 530 before login.
    pub needs_login: bool,
    /// Refused with 530 on a plain control connection when `require_tls` is set (so these are
    /// the commands not allowed before `AUTH TLS` there).
    pub needs_tls: bool,
    /// Changes the file system: refused up front for users without any write permission.
    pub writes: bool,
    /// Uses the data channel: needs PASV/EPSV/PORT/EPRT first, and PROT P under `require_tls`.
    pub data: bool,
}

/// Commands any client may send at any time.
const OPEN: Policy = Policy {
    needs_login: false,
    needs_tls: false,
    writes: false,
    data: false,
};
/// USER and PASS: never in clear text when TLS is required.
const CREDENTIALS: Policy = Policy {
    needs_tls: true,
    ..OPEN
};
/// Needs a logged-in user.
const LOGGED_IN: Policy = Policy {
    needs_login: true,
    ..OPEN
};
/// Changes the file system.
const WRITES: Policy = Policy {
    writes: true,
    ..LOGGED_IN
};
/// Reads over the data channel.
const SENDS: Policy = Policy {
    data: true,
    ..LOGGED_IN
};
/// Writes from the data channel.
const RECEIVES: Policy = Policy {
    data: true,
    ..WRITES
};

/// The policy of `command`. The match names every command without a wildcard, so a command
/// added to the parser does not compile until it is given a policy here.
pub fn policy(command: &Command) -> Policy {
    use Command as C;
    match command {
        C::User(_) | C::Pass(_) => CREDENTIALS,
        C::Quit
        | C::Noop
        | C::Syst
        | C::Feat
        | C::Opts(_)
        | C::Help(_)
        | C::Host(_)
        | C::Auth(_)
        | C::Pbsz(_)
        | C::Prot(_)
        | C::Ccc => OPEN,
        C::Stat(_)
        | C::Site(_)
        | C::Type(_)
        | C::Mode
        | C::Stru
        | C::Allo
        | C::Pwd
        | C::Cwd(_)
        | C::Cdup
        | C::Size(_)
        | C::Mdtm(_)
        | C::Mlst(_)
        | C::Rest(_)
        | C::Abor
        | C::Pasv
        | C::Epsv(_)
        | C::Port(_)
        | C::Eprt(_)
        | C::Avbl(_)
        | C::Hash(_)
        | C::Checksum { .. } => LOGGED_IN,
        C::Mkd(_) | C::Rmd(_) | C::Dele(_) | C::Rnfr(_) | C::Rnto(_) | C::Mfmt { .. } => WRITES,
        C::List { .. } | C::Nlst { .. } | C::Mlsd(_) | C::Retr(_) => SENDS,
        C::Stor(_) | C::Stou(_) | C::Appe(_) => RECEIVES,
    }
}

/// Checks the command's policy, then runs its handler.
pub async fn dispatch(session: &mut Context, command: Command) -> Response {
    if let Some(refusal) = refusal(session, &policy(&command)) {
        return refusal.into();
    }
    if !matches!(command, Command::Rnto(_)) {
        session.pending_rename = None;
    }
    commands::run(session, command).await
}

fn refusal(session: &Context, policy: &Policy) -> Option<Reply> {
    if policy.needs_tls && session.tls_required() && !session.tls_state.is_secure() {
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
        if session.tls_required() && !session.tls_state.private_data() {
            return Some(Reply::new(
                ReplyCode::ProtectionLevelRequired,
                "Data connections must be encrypted: send PBSZ 0 and PROT P first",
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy_of(line: &str) -> Policy {
        policy(&super::super::proto::parse(line.as_bytes()).unwrap())
    }

    #[test]
    fn credentials_need_tls_and_changes_need_write_permission() {
        assert_eq!(policy_of("USER a"), CREDENTIALS);
        assert_eq!(policy_of("PASS x"), CREDENTIALS);
        for line in ["AUTH TLS", "PBSZ 0", "PROT P", "FEAT", "QUIT", "HOST h"] {
            assert_eq!(policy_of(line), OPEN, "{line}");
        }
        for line in [
            "MKD a",
            "RMD a",
            "DELE a",
            "RNFR a",
            "RNTO a",
            "MFMT 20240101000000 a",
        ] {
            assert_eq!(policy_of(line), WRITES, "{line}");
        }
        for line in ["STOR a", "APPE a", "STOU"] {
            assert_eq!(policy_of(line), RECEIVES, "{line}");
        }
        for line in ["RETR a", "LIST", "NLST", "MLSD"] {
            assert_eq!(policy_of(line), SENDS, "{line}");
        }
        for line in [
            "PWD",
            "CWD a",
            "SIZE a",
            "PASV",
            "STAT",
            "SITE HELP",
            "XCRC a",
        ] {
            assert_eq!(policy_of(line), LOGGED_IN, "{line}");
        }
    }
}
