//! Informational commands: FEAT and OPTS (RFC 2389), HELP and STAT without a path (RFC 959
//! §4.1.3), SITE HELP, and the `OPTS MLST` (RFC 3659 §7.9) and `OPTS HASH`
//! (draft-bryan-ftpext-hash) selections.

use crate::vfs::VirtualPath;

use super::super::context::{Context, Login};
use super::super::listing::Facts;
use super::super::proto::{Opts, Reply, ReplyCode, TransferType};
use super::files::{hash_by_name, hash_name};

/// FEAT: exactly the extensions this server implements (RFC 2389 §3.2).
pub fn feat(session: &Context) -> Reply {
    let hash_line = {
        let selected = hash_name(session.hash_algorithm);
        let names = ["SHA-256", "SHA-1", "MD5", "CRC32"]
            .map(|name| match name == selected {
                true => format!("{name}*"),
                false => name.to_owned(),
            })
            .join(";");
        format!(" HASH {names}")
    };
    let mut lines = vec!["Extensions supported:".to_owned()];
    let mut add = |line: &str| lines.push(format!(" {line}"));
    add("AUTH TLS");
    add("AUTH SSL");
    add("PBSZ");
    add("PROT");
    add("EPSV");
    if session.config.ftps.active_mode {
        add("EPRT");
    }
    add("HOST");
    add("MDTM");
    add("MFMT");
    add("SIZE");
    add("REST STREAM");
    add("TVFS");
    add("UTF8");
    add("AVBL");
    add("XCRC");
    add("XMD5");
    add("XSHA1");
    add("XSHA256");
    lines.push(session.facts.feat_line());
    lines.push(hash_line);
    lines.push("End".to_owned());
    Reply::multiline(ReplyCode::SystemStatus, lines)
}

/// OPTS: UTF8 (always on), MLST fact selection, HASH algorithm.
pub fn opts(session: &mut Context, options: Opts) -> Reply {
    match options {
        Opts::Utf8(_) => Reply::new(ReplyCode::CommandOkay, "UTF8 mode is always on"),
        Opts::Mlst(names) => {
            session.facts = Facts::select(&names);
            Reply::new(
                ReplyCode::CommandOkay,
                format!("MLST OPTS {}", session.facts.names()),
            )
        }
        Opts::Hash(None) => Reply::new(ReplyCode::CommandOkay, hash_name(session.hash_algorithm)),
        Opts::Hash(Some(name)) => match hash_by_name(&name) {
            Some(algorithm) => {
                session.hash_algorithm = algorithm;
                Reply::new(ReplyCode::CommandOkay, hash_name(algorithm))
            }
            None => Reply::new(
                ReplyCode::SyntaxErrorInParameters,
                "Unknown algorithm; use SHA-256, SHA-1, MD5 or CRC32",
            ),
        },
        Opts::Other(_) => Reply::new(ReplyCode::SyntaxErrorInParameters, "Option not understood"),
    }
}

/// HELP: the command list.
pub fn help(_topic: Option<&str>) -> Reply {
    Reply::multiline(
        ReplyCode::HelpMessage,
        [
            "The following commands are recognized:",
            " USER PASS QUIT NOOP SYST FEAT OPTS HELP STAT SITE HOST AUTH PBSZ PROT",
            " TYPE MODE STRU ALLO PWD XPWD CWD XCWD CDUP XCUP MKD XMKD RMD XRMD DELE",
            " RNFR RNTO SIZE MDTM MFMT LIST NLST MLSD MLST RETR STOR STOU APPE REST",
            " ABOR PASV EPSV PORT EPRT AVBL HASH XSHA256 XSHA1 XMD5 XCRC",
            "Help OK",
        ],
    )
}

/// SITE HELP.
pub fn site_help() -> Reply {
    Reply::multiline(
        ReplyCode::HelpMessage,
        [
            "SITE commands:",
            " CHMOD <octal mode> <path>",
            " HELP",
            "End",
        ],
    )
}

/// STAT without a path and without a transfer: the session's state (RFC 959 §4.1.3).
pub fn status(session: &Context) -> Reply {
    let user = match &session.login {
        Login::LoggedIn(user) => format!("Logged in as {}", user.identity.user),
        _ => "Not logged in".to_owned(),
    };
    let kind = match session.transfer_type {
        TransferType::Ascii => "ASCII",
        TransferType::Image => "BINARY",
    };
    let protection = match session.tls_state.private_data() {
        true => "Private",
        false => "Clear",
    };
    let cwd: &VirtualPath = &session.cwd;
    Reply::multiline(
        ReplyCode::SystemStatus,
        [
            "ferryd FTPS server status:".to_owned(),
            format!(" Connected from {}", session.info().peer.ip()),
            format!(" {user}, in {}", cwd.as_str()),
            format!(
                " TLS on control connection: {}",
                if session.tls_state.is_secure() {
                    "yes"
                } else {
                    "no"
                }
            ),
            format!(" TYPE: {kind}, PROT: {protection}"),
            " No data transfer in progress".to_owned(),
            "End of status".to_owned(),
        ],
    )
}
