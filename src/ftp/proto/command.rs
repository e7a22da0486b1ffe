//! FTP commands: RFC 959 §4.1 and §5.3 (syntax), with RFC 2228 §3 (AUTH, PBSZ, PROT, CCC),
//! RFC 2389 (FEAT, OPTS), RFC 2428 (EPRT, EPSV), RFC 2640 §3.1 (OPTS UTF8), RFC 3659 (SIZE, MDTM,
//! REST, MLST, MLSD), RFC 4217 §6-9 (FTP over TLS), RFC 7151 (HOST), draft-somers-ftp-mfxx (MFMT),
//! draft-bryan-ftpext-hash (HASH), draft-peterson-streamlined-ftp-command-extensions (AVBL) and
//! the de-facto XCRC/XMD5/XSHA1/XSHA256 checksum commands.
//!
//! [`parse`] turns one line (as returned by `LineDecoder`) into a typed [`Command`]; it does no
//! I/O and refuses lines longer than `MAX_COMMAND_LINE_BYTES`, so its allocations are bounded.

use std::fmt;
use std::net::{SocketAddr, SocketAddrV4};

use super::address::{self, AddressError};
use super::line::MAX_COMMAND_LINE_BYTES;
use super::timestamp::Timestamp;

/// Why a line is not a usable command. Suggested replies are in each variant's doc.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The line is not UTF-8 (reply 501).
    #[error("command line is not valid UTF-8")]
    InvalidUtf8,
    /// The line contains a NUL byte (reply 501).
    #[error("command line contains a NUL byte")]
    NulByte,
    /// The verb is unknown (reply 502). Holds at most 8 upper-cased ASCII letters and digits of
    /// it, so a mistyped `PASS` cannot carry a password into the logs.
    #[error("command not implemented: {0}")]
    UnknownCommand(String),
    /// An argument is missing or malformed (reply 501).
    #[error("{0}")]
    Syntax(&'static str),
    /// A well-formed parameter this server does not support, e.g. `TYPE E` (reply 504).
    #[error("{0}")]
    UnsupportedParameter(&'static str),
    /// EPRT with a network protocol other than 1 or 2 (reply 522, RFC 2428 §2).
    #[error("network protocol not supported, use (1,2)")]
    UnsupportedNetworkProtocol,
}

/// A PASS argument. Its `Debug` output is redacted so a logged command never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// The password as sent by the client.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// AUTH mechanisms (RFC 4217 §6): both mean "start TLS on the control connection now".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMechanism {
    /// `TLS` or `TLS-C`.
    Tls,
    /// `SSL` or `TLS-P`; historically implies PROT P (RFC 4217 §13).
    Ssl,
}

/// PROT levels (RFC 2228 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtectionLevel {
    /// `C`: no protection.
    Clear,
    /// `S`: integrity only.
    Safe,
    /// `E`: confidentiality only.
    Confidential,
    /// `P`: integrity and confidentiality (TLS on the data connection).
    Private,
}

/// Supported TYPE values (RFC 959 §3.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferType {
    /// `A` or `A N`.
    Ascii,
    /// `I` or `L 8`.
    Image,
}

/// OPTS arguments (RFC 2389 §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opts {
    /// `OPTS UTF8 ON|OFF` (also spelled `UTF-8`).
    Utf8(bool),
    /// `OPTS MLST fact;fact;` (RFC 3659 §7.9): the facts, lower-cased, empty entries dropped.
    Mlst(Vec<String>),
    /// `OPTS HASH` queries the algorithm, `OPTS HASH <name>` selects one.
    Hash(Option<String>),
    /// Any other option: the whole argument, verbatim.
    Other(String),
}

/// SITE sub-commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Site {
    /// `SITE HELP`.
    Help,
    /// `SITE CHMOD <octal mode> <path>`, mode at most `0o7777`.
    Chmod {
        /// Permission bits.
        mode: u32,
        /// Target path, verbatim.
        path: String,
    },
    /// Any other sub-command: the whole argument, verbatim.
    Other(String),
}

/// EPSV argument (RFC 2428 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpsvArg {
    /// No argument: use the control connection's protocol.
    Any,
    /// `EPSV ALL`: from now on only EPSV is allowed.
    All,
    /// `EPSV <n>`; the caller replies 522 for anything but 1 and 2.
    Protocol(u8),
}

/// Algorithms of the X* checksum commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumAlgorithm {
    /// `XSHA256`.
    Sha256,
    /// `XSHA1`.
    Sha1,
    /// `XMD5`.
    Md5,
    /// `XCRC` (CRC-32).
    Crc32,
}

/// A parsed command. Paths are the client's text verbatim; the caller resolves them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// USER name.
    User(String),
    /// PASS password (may be empty).
    Pass(Password),
    /// QUIT.
    Quit,
    /// NOOP.
    Noop,
    /// SYST.
    Syst,
    /// FEAT.
    Feat,
    /// OPTS.
    Opts(Opts),
    /// `HELP [topic]`.
    Help(Option<String>),
    /// `STAT [path]`: server status, or with a path a listing over the control connection.
    Stat(Option<String>),
    /// SITE.
    Site(Site),
    /// HOST (virtual host name).
    Host(String),
    /// AUTH.
    Auth(AuthMechanism),
    /// PBSZ (protection buffer size; 0 for TLS).
    Pbsz(u64),
    /// PROT.
    Prot(ProtectionLevel),
    /// CCC (clear command channel).
    Ccc,
    /// TYPE.
    Type(TransferType),
    /// MODE S (stream, the only mode accepted).
    Mode,
    /// STRU F (file, the only structure accepted).
    Stru,
    /// ALLO (arguments ignored).
    Allo,
    /// PWD or XPWD.
    Pwd,
    /// CWD or XCWD.
    Cwd(String),
    /// CDUP or XCUP.
    Cdup,
    /// MKD or XMKD.
    Mkd(String),
    /// RMD or XRMD.
    Rmd(String),
    /// DELE.
    Dele(String),
    /// RNFR.
    Rnfr(String),
    /// RNTO.
    Rnto(String),
    /// SIZE.
    Size(String),
    /// MDTM path (query). The two-argument form parses as [`Command::Mfmt`].
    Mdtm(String),
    /// MFMT time path, or `MDTM time path` as older clients send it.
    Mfmt {
        /// New modification time (UTC).
        time: Timestamp,
        /// Target path, verbatim.
        path: String,
    },
    /// `LIST [-flags] [path]`.
    List {
        /// ls-style option letters without dashes (`-la -R` gives `"laR"`); possibly empty.
        flags: String,
        /// The path after the flags, if any.
        path: Option<String>,
    },
    /// `NLST [-flags] [path]`.
    Nlst {
        /// As for [`Command::List`].
        flags: String,
        /// As for [`Command::List`].
        path: Option<String>,
    },
    /// `MLSD [path]`.
    Mlsd(Option<String>),
    /// `MLST [path]`.
    Mlst(Option<String>),
    /// RETR.
    Retr(String),
    /// STOR.
    Stor(String),
    /// `STOU [name hint]`.
    Stou(Option<String>),
    /// APPE.
    Appe(String),
    /// REST offset.
    Rest(u64),
    /// ABOR.
    Abor,
    /// PASV.
    Pasv,
    /// EPSV.
    Epsv(EpsvArg),
    /// PORT.
    Port(SocketAddrV4),
    /// EPRT.
    Eprt(SocketAddr),
    /// `AVBL [path]` (available space).
    Avbl(Option<String>),
    /// HASH path.
    Hash(String),
    /// XSHA256, XSHA1, XMD5 or XCRC.
    Checksum {
        /// Which digest.
        algorithm: ChecksumAlgorithm,
        /// Target path, unquoted.
        path: String,
        /// `(start, end)` byte offsets as sent; only accepted after a quoted path.
        range: Option<(u64, u64)>,
    },
}

const AUTH_MECHANISMS: [(&str, AuthMechanism); 4] = [
    ("TLS", AuthMechanism::Tls),
    ("TLS-C", AuthMechanism::Tls),
    ("SSL", AuthMechanism::Ssl),
    ("TLS-P", AuthMechanism::Ssl),
];

const PROTECTION_LEVELS: [(&str, ProtectionLevel); 4] = [
    ("C", ProtectionLevel::Clear),
    ("S", ProtectionLevel::Safe),
    ("E", ProtectionLevel::Confidential),
    ("P", ProtectionLevel::Private),
];

/// Longest verb we know (`XSHA256`) plus one; longer words are unknown before any allocation.
const MAX_VERB_BYTES: usize = 8;

/// Parses one command line. A trailing LF or CRLF is ignored; any other CR or LF is refused.
///
/// The verb is case-insensitive and ends at the first space; the argument is everything after
/// that space, verbatim (leading dashes, inner and trailing spaces kept). Optional arguments that
/// are empty or only whitespace count as absent; verbs without arguments ignore stray whitespace.
pub fn parse(line: &[u8]) -> Result<Command, ParseError> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.len() > MAX_COMMAND_LINE_BYTES {
        return Err(ParseError::Syntax("command line too long"));
    }
    if line.contains(&0) {
        return Err(ParseError::NulByte);
    }
    let line = std::str::from_utf8(line).map_err(|_| ParseError::InvalidUtf8)?;
    if line.contains(['\r', '\n']) {
        return Err(ParseError::Syntax("CR or LF inside a command line"));
    }
    let (verb, arg) = match line.split_once(' ') {
        Some((verb, arg)) => (verb, Some(arg)),
        None => (line, None),
    };
    if verb.is_empty() {
        return Err(ParseError::Syntax("empty command line"));
    }
    if verb.len() > MAX_VERB_BYTES || !verb.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(unknown(verb));
    }
    let upper = verb.to_ascii_uppercase();
    use Command as C;
    let command = match upper.as_str() {
        "USER" => C::User(required(arg)?.to_owned()),
        "PASS" => C::Pass(Password(arg.unwrap_or_default().to_owned())),
        "QUIT" => no_argument(arg, C::Quit)?,
        "NOOP" => no_argument(arg, C::Noop)?,
        "SYST" => no_argument(arg, C::Syst)?,
        "FEAT" => no_argument(arg, C::Feat)?,
        "OPTS" => C::Opts(parse_opts(required(arg)?)?),
        "HELP" => C::Help(optional(arg)),
        "STAT" => C::Stat(optional(arg)),
        "SITE" => C::Site(parse_site(required(arg)?)?),
        "HOST" => C::Host(word(arg)?.to_owned()),
        "AUTH" => C::Auth(keyword(arg, &AUTH_MECHANISMS, "unsupported mechanism")?),
        "PBSZ" => C::Pbsz(parse_u64(word(arg)?, "PBSZ needs a decimal size")?),
        "PROT" => C::Prot(keyword(arg, &PROTECTION_LEVELS, "unsupported level")?),
        "CCC" => no_argument(arg, C::Ccc)?,
        "TYPE" => C::Type(parse_type(word(arg)?)?),
        "MODE" => keyword(arg, &[("S", C::Mode)], "only MODE S is supported")?,
        "STRU" => keyword(arg, &[("F", C::Stru)], "only STRU F is supported")?,
        "ALLO" => C::Allo,
        "PWD" | "XPWD" => no_argument(arg, C::Pwd)?,
        "CWD" | "XCWD" => C::Cwd(required(arg)?.to_owned()),
        "CDUP" | "XCUP" => no_argument(arg, C::Cdup)?,
        "MKD" | "XMKD" => C::Mkd(required(arg)?.to_owned()),
        "RMD" | "XRMD" => C::Rmd(required(arg)?.to_owned()),
        "DELE" => C::Dele(required(arg)?.to_owned()),
        "RNFR" => C::Rnfr(required(arg)?.to_owned()),
        "RNTO" => C::Rnto(required(arg)?.to_owned()),
        "SIZE" => C::Size(required(arg)?.to_owned()),
        // A first word that is a valid time makes it a set; anything else stays a query.
        "MDTM" => match parse_time_and_path(required(arg)?) {
            Ok((time, path)) => C::Mfmt { time, path },
            Err(_) => C::Mdtm(required(arg)?.to_owned()),
        },
        "MFMT" => {
            let (time, path) = parse_time_and_path(required(arg)?)?;
            C::Mfmt { time, path }
        }
        "LIST" => {
            let (flags, path) = parse_listing(arg);
            C::List { flags, path }
        }
        "NLST" => {
            let (flags, path) = parse_listing(arg);
            C::Nlst { flags, path }
        }
        "MLSD" => C::Mlsd(optional(arg)),
        "MLST" => C::Mlst(optional(arg)),
        "RETR" => C::Retr(required(arg)?.to_owned()),
        "STOR" => C::Stor(required(arg)?.to_owned()),
        "STOU" => C::Stou(optional(arg)),
        "APPE" => C::Appe(required(arg)?.to_owned()),
        "REST" => C::Rest(parse_u64(word(arg)?, "REST needs a decimal offset")?),
        "ABOR" => no_argument(arg, C::Abor)?,
        "PASV" => no_argument(arg, C::Pasv)?,
        "EPSV" => C::Epsv(parse_epsv(arg.unwrap_or_default().trim())?),
        "PORT" => C::Port(address::parse_port(required(arg)?).map_err(address_error)?),
        "EPRT" => C::Eprt(address::parse_eprt(required(arg)?).map_err(address_error)?),
        "AVBL" => C::Avbl(optional(arg)),
        "HASH" => C::Hash(required(arg)?.to_owned()),
        "XSHA256" => parse_checksum(ChecksumAlgorithm::Sha256, required(arg)?)?,
        "XSHA1" => parse_checksum(ChecksumAlgorithm::Sha1, required(arg)?)?,
        "XMD5" => parse_checksum(ChecksumAlgorithm::Md5, required(arg)?)?,
        "XCRC" => parse_checksum(ChecksumAlgorithm::Crc32, required(arg)?)?,
        _ => return Err(unknown(verb)),
    };
    Ok(command)
}

fn unknown(verb: &str) -> ParseError {
    let shown = verb
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .take(MAX_VERB_BYTES);
    ParseError::UnknownCommand(shown.map(|c| c.to_ascii_uppercase()).collect())
}

fn required(arg: Option<&str>) -> Result<&str, ParseError> {
    arg.filter(|a| !a.is_empty())
        .ok_or(ParseError::Syntax("missing argument"))
}

/// A single token argument, surrounding whitespace ignored.
fn word(arg: Option<&str>) -> Result<&str, ParseError> {
    required(arg.map(str::trim))
}

fn optional(arg: Option<&str>) -> Option<String> {
    arg.filter(|a| !a.trim().is_empty()).map(str::to_owned)
}

fn no_argument(arg: Option<&str>, command: Command) -> Result<Command, ParseError> {
    match arg {
        Some(a) if !a.trim().is_empty() => Err(ParseError::Syntax("command takes no argument")),
        _ => Ok(command),
    }
}

/// A case-insensitive keyword argument looked up in `table`.
fn keyword<T: Clone>(
    arg: Option<&str>,
    table: &[(&str, T)],
    refusal: &'static str,
) -> Result<T, ParseError> {
    let value = word(arg)?;
    match table
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(value))
    {
        Some((_, item)) => Ok(item.clone()),
        None => Err(ParseError::UnsupportedParameter(refusal)),
    }
}

fn address_error(error: AddressError) -> ParseError {
    match error {
        AddressError::UnsupportedProtocol => ParseError::UnsupportedNetworkProtocol,
        other => ParseError::Syntax(other.reason()),
    }
}

/// Decimal digits only: no sign, no spaces, no overflow.
fn parse_u64(text: &str, error: &'static str) -> Result<u64, ParseError> {
    // Checked first because `str::parse` also takes a leading `+`.
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::Syntax(error));
    }
    text.parse().map_err(|_| ParseError::Syntax(error))
}

fn parse_type(arg: &str) -> Result<TransferType, ParseError> {
    let upper = arg.to_ascii_uppercase();
    match upper.split_whitespace().take(3).collect::<Vec<_>>()[..] {
        ["A"] | ["A", "N"] => Ok(TransferType::Ascii),
        ["I"] | ["L", "8"] => Ok(TransferType::Image),
        _ => Err(ParseError::UnsupportedParameter("only TYPE A, I and L 8")),
    }
}

fn parse_opts(arg: &str) -> Result<Opts, ParseError> {
    let (name, value) = arg.split_once(' ').unwrap_or((arg, ""));
    let value = value.trim();
    if name.eq_ignore_ascii_case("UTF8") || name.eq_ignore_ascii_case("UTF-8") {
        match value.to_ascii_uppercase().as_str() {
            "ON" => Ok(Opts::Utf8(true)),
            "OFF" => Ok(Opts::Utf8(false)),
            _ => Err(ParseError::Syntax("OPTS UTF8 takes ON or OFF")),
        }
    } else if name.eq_ignore_ascii_case("MLST") {
        let facts = value.split(';').map(str::trim).filter(|f| !f.is_empty());
        Ok(Opts::Mlst(facts.map(str::to_ascii_lowercase).collect()))
    } else if name.eq_ignore_ascii_case("HASH") {
        Ok(Opts::Hash(optional(Some(value))))
    } else {
        Ok(Opts::Other(arg.to_owned()))
    }
}

fn parse_site(arg: &str) -> Result<Site, ParseError> {
    let (name, rest) = arg.split_once(' ').unwrap_or((arg, ""));
    if name.eq_ignore_ascii_case("HELP") {
        return Ok(Site::Help);
    }
    if !name.eq_ignore_ascii_case("CHMOD") {
        return Ok(Site::Other(arg.to_owned()));
    }
    const USAGE: ParseError = ParseError::Syntax("SITE CHMOD needs an octal mode and a path");
    let (mode, path) = rest.split_once(' ').ok_or(USAGE)?;
    // Checked by hand because `from_str_radix` also takes a leading `+`.
    if path.is_empty() || mode.is_empty() || !mode.bytes().all(|b| matches!(b, b'0'..=b'7')) {
        return Err(USAGE);
    }
    let path = path.to_owned();
    match u32::from_str_radix(mode, 8) {
        Ok(mode) if mode <= 0o7777 => Ok(Site::Chmod { mode, path }),
        _ => Err(ParseError::Syntax("mode must be at most 7777")),
    }
}

/// `time path` as MFMT takes it (and MDTM from clients that set times with it).
fn parse_time_and_path(arg: &str) -> Result<(Timestamp, String), ParseError> {
    match arg.split_once(' ') {
        Some((time, path)) if !path.is_empty() => {
            let time =
                Timestamp::parse(time).map_err(|_| ParseError::Syntax("invalid time value"))?;
            Ok((time, path.to_owned()))
        }
        _ => Err(ParseError::Syntax("MFMT needs a time and a path")),
    }
}

/// Leading words made only of ls option letters are flags (`-la`, `-l -a`); the rest is the path.
/// A directory really named like `-la` can still be listed as `./-la`.
fn parse_listing(arg: Option<&str>) -> (String, Option<String>) {
    let is_flag = |b: u8| b.is_ascii_alphabetic() || b == b'1';
    let mut rest = arg.unwrap_or_default();
    let mut flags = String::new();
    while let Some(letters) = rest.strip_prefix('-') {
        let (word, after) = letters.split_once(' ').unwrap_or((letters, ""));
        if word.is_empty() || !word.bytes().all(is_flag) {
            break;
        }
        flags.push_str(word);
        rest = after.trim_start_matches(' ');
    }
    (flags, optional(Some(rest)))
}

fn parse_epsv(arg: &str) -> Result<EpsvArg, ParseError> {
    const USAGE: ParseError = ParseError::Syntax("EPSV takes ALL or a protocol number");
    match arg {
        "" => Ok(EpsvArg::Any),
        _ if arg.eq_ignore_ascii_case("ALL") => Ok(EpsvArg::All),
        _ if arg.bytes().all(|b| b.is_ascii_digit()) => {
            arg.parse().map(EpsvArg::Protocol).map_err(|_| USAGE)
        }
        _ => Err(USAGE),
    }
}

/// WinSCP quotes paths with spaces (`XSHA1 "a b.txt"`) and may add `start end` after the quote;
/// inside quotes `""` stands for one `"`, as in RFC 959's PWD replies.
fn parse_checksum(algorithm: ChecksumAlgorithm, arg: &str) -> Result<Command, ParseError> {
    let checksum = |path, range| Command::Checksum {
        algorithm,
        path,
        range,
    };
    let Some(quoted) = arg.strip_prefix('"') else {
        return Ok(checksum(arg.to_owned(), None));
    };
    let mut path = String::new();
    let mut chars = quoted.char_indices().peekable();
    let after_quote = loop {
        match chars.next() {
            None => return Err(ParseError::Syntax("unterminated quoted path")),
            Some((_, '"')) if chars.next_if(|&(_, c)| c == '"').is_some() => path.push('"'),
            Some((index, '"')) => break quoted.get(index + 1..).unwrap_or_default(),
            Some((_, c)) => path.push(c),
        }
    };
    if path.is_empty() {
        return Err(ParseError::Syntax("empty path"));
    }
    const RANGE: &str = "checksum range must be: start end";
    let mut offsets = match after_quote.strip_prefix(' ') {
        Some(rest) => rest.split_whitespace(),
        None if after_quote.is_empty() => "".split_whitespace(),
        None => return Err(ParseError::Syntax("unexpected text after quoted path")),
    };
    let range = match (offsets.next(), offsets.next(), offsets.next()) {
        (None, ..) => None,
        (Some(start), Some(end), None) => Some((parse_u64(start, RANGE)?, parse_u64(end, RANGE)?)),
        _ => return Err(ParseError::Syntax(RANGE)),
    };
    if range.is_some_and(|(start, end)| start > end) {
        return Err(ParseError::Syntax(RANGE));
    }
    Ok(checksum(path, range))
}

mod verb;

#[cfg(test)]
mod tests;
