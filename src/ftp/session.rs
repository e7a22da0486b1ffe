//! Dispatch and the command policy: the one place that decides, before any handler runs,
//! whether a command may run now (RFC 959 §5.4 sequencing, RFC 4217 §6-9 protection rules),
//! and then hands the handler in `commands` the session's [`Context`].
//!
//! The control task (`control.rs`) owns the `Context`; handlers return the `Response` they
//! cause and never write to a socket.

use super::commands;
use super::context::{Context, Protection, Response};
use super::data::DataChannel;
use super::proto::{Command, Reply, ReplyCode};

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

/// Checks the command's policy row, then runs its handler.
pub async fn dispatch(session: &mut Context, command: Command) -> Response {
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

fn refusal(session: &Context, policy: &Policy) -> Option<Reply> {
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
