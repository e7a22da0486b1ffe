//! Server replies: RFC 959 §4.2 (reply codes and the multi-line format) with the codes added by
//! RFC 2228 §4 (security), RFC 2428 §2-3 (EPRT/EPSV) and RFC 4217 (FTP over TLS).
//!
//! [`Reply::encode`] writes the whole reply into one buffer so the control task can send it with a
//! single write, and neutralises CR and LF inside texts so a file name can never forge a reply.

/// Reply codes, named after the RFC text that defines them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum ReplyCode {
    /// 110 Restart marker reply.
    RestartMarker = 110,
    /// 120 Service ready in nnn minutes.
    ServiceReadyInMinutes = 120,
    /// 125 Data connection already open; transfer starting.
    DataConnectionAlreadyOpen = 125,
    /// 150 File status okay; about to open data connection.
    FileStatusOkay = 150,
    /// 200 Command okay.
    CommandOkay = 200,
    /// 202 Command not implemented, superfluous at this site (e.g. ALLO).
    CommandSuperfluous = 202,
    /// 211 System status, or system help reply (also FEAT, RFC 2389).
    SystemStatus = 211,
    /// 212 Directory status.
    DirectoryStatus = 212,
    /// 213 File status (also SIZE, MDTM, checksums).
    FileStatus = 213,
    /// 214 Help message.
    HelpMessage = 214,
    /// 215 NAME system type.
    SystemType = 215,
    /// 220 Service ready for new user.
    ServiceReady = 220,
    /// 221 Service closing control connection.
    ClosingControl = 221,
    /// 225 Data connection open; no transfer in progress.
    DataConnectionOpen = 225,
    /// 226 Closing data connection; requested file action successful.
    ClosingDataConnection = 226,
    /// 227 Entering Passive Mode (h1,h2,h3,h4,p1,p2).
    EnteringPassiveMode = 227,
    /// 229 Entering Extended Passive Mode (|||port|) (RFC 2428 §3).
    EnteringExtendedPassiveMode = 229,
    /// 230 User logged in, proceed.
    LoggedIn = 230,
    /// 232 User logged in, authorized by security data exchange (RFC 2228): a TLS client
    /// certificate logged the user in at USER, without a password.
    LoggedInBySecurityExchange = 232,
    /// 234 Security data exchange complete: AUTH accepted, TLS handshake follows (RFC 2228).
    AuthOkay = 234,
    /// 250 Requested file action okay, completed.
    FileActionOkay = 250,
    /// 257 "PATHNAME" created (also PWD).
    PathCreated = 257,
    /// 331 User name okay, need password.
    NeedPassword = 331,
    /// 332 Need account for login.
    NeedAccount = 332,
    /// 350 Requested file action pending further information (RNFR, REST).
    FileActionPending = 350,
    /// 421 Service not available, closing control connection.
    ServiceNotAvailable = 421,
    /// 425 Can't open data connection.
    CantOpenDataConnection = 425,
    /// 426 Connection closed; transfer aborted.
    ConnectionClosed = 426,
    /// 431 Need some unavailable resource to process security (RFC 2228).
    NeedSecurityResource = 431,
    /// 450 Requested file action not taken; file unavailable (e.g. busy).
    FileUnavailableBusy = 450,
    /// 451 Requested action aborted: local error in processing.
    LocalError = 451,
    /// 452 Requested action not taken; insufficient storage space in system.
    InsufficientStorage = 452,
    /// 500 Syntax error, command unrecognized (also: line too long).
    SyntaxError = 500,
    /// 501 Syntax error in parameters or arguments.
    SyntaxErrorInParameters = 501,
    /// 502 Command not implemented.
    NotImplemented = 502,
    /// 503 Bad sequence of commands.
    BadSequence = 503,
    /// 504 Command not implemented for that parameter.
    NotImplementedForParameter = 504,
    /// 521 Data connection cannot be opened with this PROT setting (RFC 4217).
    ProtectionLevelRequired = 521,
    /// 522 Network protocol not supported (RFC 2428 §2); servers also send it when a PROT P data
    /// connection fails to resume the control connection's TLS session.
    NetworkProtocolNotSupported = 522,
    /// 530 Not logged in.
    NotLoggedIn = 530,
    /// 532 Need account for storing files.
    NeedAccountForStoring = 532,
    /// 533 Command protection level denied for policy reasons (RFC 2228).
    CommandProtectionDenied = 533,
    /// 534 Request denied for policy reasons (RFC 2228; e.g. CCC or PROT C refused, RFC 4217).
    DataProtectionDenied = 534,
    /// 535 Failed security check (RFC 2228).
    FailedSecurityCheck = 535,
    /// 536 Requested PROT level not supported by mechanism (RFC 2228).
    ProtectionLevelNotSupported = 536,
    /// 550 Requested action not taken; file unavailable (not found, no access).
    FileUnavailable = 550,
    /// 551 Requested action aborted: page type unknown.
    PageTypeUnknown = 551,
    /// 552 Requested file action aborted; exceeded storage allocation.
    ExceededStorage = 552,
    /// 553 Requested action not taken; file name not allowed.
    FileNameNotAllowed = 553,
    /// 554 Requested action not taken: invalid REST parameter (RFC 3659 §5.4).
    InvalidRestParameter = 554,
}

impl ReplyCode {
    /// The three-digit number sent on the wire.
    pub const fn as_u16(self) -> u16 {
        self as u16
    }
}

/// One reply: a code and one or more lines of text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    code: ReplyCode,
    lines: Vec<String>,
}

impl Reply {
    /// A single-line reply `CCC text`.
    pub fn new(code: ReplyCode, text: impl Into<String>) -> Self {
        Self {
            code,
            lines: vec![text.into()],
        }
    }

    /// A multi-line reply. The first line follows `CCC-`, the last `CCC `; lines in between are
    /// sent with one leading space unless they already start with one, so text such as FEAT's
    /// ` UTF8` goes out exactly as given and no body line can look like a final `CCC ` line.
    pub fn multiline<I, S>(code: ReplyCode, lines: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            code,
            lines: lines.into_iter().map(Into::into).collect(),
        }
    }

    /// The reply code.
    pub fn code(&self) -> ReplyCode {
        self.code
    }

    /// The text lines as given (before encoding).
    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    /// Appends the whole reply, CRLF-terminated, to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let code = self.code.as_u16().to_string();
        let (last, first_and_middle) = match self.lines.split_last() {
            Some(split) => split,
            None => {
                push_line(out, &code, " ", "");
                return;
            }
        };
        for (index, line) in first_and_middle.iter().enumerate() {
            if index == 0 {
                push_line(out, &code, "-", line);
            } else if line.starts_with(' ') {
                push_line(out, "", "", line);
            } else {
                push_line(out, "", " ", line);
            }
        }
        push_line(out, &code, " ", last);
    }

    /// The encoded reply as a new buffer.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

fn push_line(out: &mut Vec<u8>, code: &str, separator: &str, text: &str) {
    out.extend_from_slice(code.as_bytes());
    out.extend_from_slice(separator.as_bytes());
    // A CR or LF would end the line early and let the rest pose as another reply.
    out.extend(
        text.bytes()
            .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
    );
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(reply: Reply, expected: &str) {
        assert_eq!(String::from_utf8(reply.to_bytes()).unwrap(), expected);
    }

    #[test]
    fn encoding_is_byte_exact() {
        let cases = [
            (Reply::new(ReplyCode::CommandOkay, "OK"), "200 OK\r\n"),
            (Reply::new(ReplyCode::ServiceReady, ""), "220 \r\n"),
            (
                Reply::multiline(ReplyCode::SystemStatus, Vec::<String>::new()),
                "211 \r\n",
            ),
            (
                Reply::multiline(ReplyCode::FileStatus, ["only"]),
                "213 only\r\n",
            ),
            (
                Reply::multiline(
                    ReplyCode::SystemStatus,
                    ["Features:", " UTF8", "MDTM", "End"],
                ),
                "211-Features:\r\n UTF8\r\n MDTM\r\n211 End\r\n",
            ),
            (
                Reply::multiline(ReplyCode::HelpMessage, ["Help", "214 fake end", "", "Done"]),
                "214-Help\r\n 214 fake end\r\n \r\n214 Done\r\n",
            ),
            (
                Reply::new(ReplyCode::FileUnavailable, "evil\r\n230 Logged in\nx\r"),
                "550 evil  230 Logged in x \r\n",
            ),
            (
                Reply::multiline(ReplyCode::SystemStatus, ["a\rb", " c\nd", "e\r\n"]),
                "211-a b\r\n c d\r\n211 e  \r\n",
            ),
            (
                Reply::new(
                    ReplyCode::PathCreated,
                    "\"/ünï 名\" is the current directory",
                ),
                "257 \"/ünï 名\" is the current directory\r\n",
            ),
        ];
        for (reply, expected) in cases {
            check(reply, expected);
        }
    }

    #[test]
    fn codes_match_the_rfc_numbers() {
        let cases = [
            (ReplyCode::RestartMarker, 110),
            (ReplyCode::FileStatusOkay, 150),
            (ReplyCode::EnteringExtendedPassiveMode, 229),
            (ReplyCode::LoggedInBySecurityExchange, 232),
            (ReplyCode::AuthOkay, 234),
            (ReplyCode::FileActionPending, 350),
            (ReplyCode::NetworkProtocolNotSupported, 522),
            (ReplyCode::DataProtectionDenied, 534),
            (ReplyCode::ProtectionLevelNotSupported, 536),
            (ReplyCode::FileNameNotAllowed, 553),
        ];
        for (code, number) in cases {
            assert_eq!(code.as_u16(), number, "{code:?}");
        }
    }
}
