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

impl Command {
    /// The canonical upper-case verb (aliases map to their standard name), for logs and the
    /// dispatch table. Never contains arguments.
    pub fn verb(&self) -> &'static str {
        match self {
            Self::User(_) => "USER",
            Self::Pass(_) => "PASS",
            Self::Quit => "QUIT",
            Self::Noop => "NOOP",
            Self::Syst => "SYST",
            Self::Feat => "FEAT",
            Self::Opts(_) => "OPTS",
            Self::Help(_) => "HELP",
            Self::Stat(_) => "STAT",
            Self::Site(_) => "SITE",
            Self::Host(_) => "HOST",
            Self::Auth(_) => "AUTH",
            Self::Pbsz(_) => "PBSZ",
            Self::Prot(_) => "PROT",
            Self::Ccc => "CCC",
            Self::Type(_) => "TYPE",
            Self::Mode => "MODE",
            Self::Stru => "STRU",
            Self::Allo => "ALLO",
            Self::Pwd => "PWD",
            Self::Cwd(_) => "CWD",
            Self::Cdup => "CDUP",
            Self::Mkd(_) => "MKD",
            Self::Rmd(_) => "RMD",
            Self::Dele(_) => "DELE",
            Self::Rnfr(_) => "RNFR",
            Self::Rnto(_) => "RNTO",
            Self::Size(_) => "SIZE",
            Self::Mdtm(_) => "MDTM",
            Self::Mfmt { .. } => "MFMT",
            Self::List { .. } => "LIST",
            Self::Nlst { .. } => "NLST",
            Self::Mlsd(_) => "MLSD",
            Self::Mlst(_) => "MLST",
            Self::Retr(_) => "RETR",
            Self::Stor(_) => "STOR",
            Self::Stou(_) => "STOU",
            Self::Appe(_) => "APPE",
            Self::Rest(_) => "REST",
            Self::Abor => "ABOR",
            Self::Pasv => "PASV",
            Self::Epsv(_) => "EPSV",
            Self::Port(_) => "PORT",
            Self::Eprt(_) => "EPRT",
            Self::Avbl(_) => "AVBL",
            Self::Hash(_) => "HASH",
            Self::Checksum { algorithm, .. } => match algorithm {
                ChecksumAlgorithm::Sha256 => "XSHA256",
                ChecksumAlgorithm::Sha1 => "XSHA1",
                ChecksumAlgorithm::Md5 => "XMD5",
                ChecksumAlgorithm::Crc32 => "XCRC",
            },
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// One case per line: `input => VERB Debug` for commands, `input => Err(Debug)` for errors.
    /// Inputs take `\r`, `\n`, `\t` and `\0` escapes; spaces before ` => ` belong to the input.
    const CASES: &str = r#"
USER alice => USER User("alice")
user alice\r\n => USER User("alice")
UsEr  two spaces  => USER User(" two spaces ")
USER => Err(Syntax("missing argument"))
USER  => Err(Syntax("missing argument"))
PASS => PASS Pass(Password(<redacted>))
PASS hunter2 => PASS Pass(Password(<redacted>))
QUIT => QUIT Quit
quit   => QUIT Quit
QUIT now => Err(Syntax("command takes no argument"))
NOOP\n => NOOP Noop
SYST => SYST Syst
FEAT => FEAT Feat
OPTS UTF8 ON => OPTS Opts(Utf8(true))
opts utf-8 off => OPTS Opts(Utf8(false))
OPTS UTF8 MAYBE => Err(Syntax("OPTS UTF8 takes ON or OFF"))
OPTS MLST Type;Size; modify;; => OPTS Opts(Mlst(["type", "size", "modify"]))
OPTS MLST => OPTS Opts(Mlst([]))
OPTS HASH => OPTS Opts(Hash(None))
OPTS HASH SHA-256 => OPTS Opts(Hash(Some("SHA-256")))
OPTS MODE Z => OPTS Opts(Other("MODE Z"))
HELP => HELP Help(None)
HELP SITE => HELP Help(Some("SITE"))
STAT   => STAT Stat(None)
STAT dir name => STAT Stat(Some("dir name"))
SITE HELP => SITE Site(Help)
site chmod 0755 a b => SITE Site(Chmod { mode: 493, path: "a b" })
SITE CHMOD 17777 x => Err(Syntax("mode must be at most 7777"))
SITE CHMOD 8 x => Err(Syntax("SITE CHMOD needs an octal mode and a path"))
SITE CHMOD 755 => Err(Syntax("SITE CHMOD needs an octal mode and a path"))
SITE IDLE 60 => SITE Site(Other("IDLE 60"))
HOST ftp.example.com  => HOST Host("ftp.example.com")
AUTH TLS => AUTH Auth(Tls)
auth tls-c => AUTH Auth(Tls)
AUTH SSL => AUTH Auth(Ssl)
AUTH TLS-P => AUTH Auth(Ssl)
AUTH GSSAPI => Err(UnsupportedParameter("unsupported mechanism"))
PBSZ 0 => PBSZ Pbsz(0)
PBSZ x => Err(Syntax("PBSZ needs a decimal size"))
PROT P => PROT Prot(Private)
prot c => PROT Prot(Clear)
PROT S => PROT Prot(Safe)
PROT E => PROT Prot(Confidential)
PROT X => Err(UnsupportedParameter("unsupported level"))
CCC => CCC Ccc
TYPE I => TYPE Type(Image)
type a => TYPE Type(Ascii)
TYPE A N => TYPE Type(Ascii)
TYPE l 8 => TYPE Type(Image)
TYPE A T => Err(UnsupportedParameter("only TYPE A, I and L 8"))
TYPE L 7 => Err(UnsupportedParameter("only TYPE A, I and L 8"))
MODE S => MODE Mode
MODE B => Err(UnsupportedParameter("only MODE S is supported"))
STRU f => STRU Stru
STRU R => Err(UnsupportedParameter("only STRU F is supported"))
ALLO 1024 R 512 => ALLO Allo
PWD => PWD Pwd
XPWD => PWD Pwd
CWD /a dir/ sub  => CWD Cwd("/a dir/ sub ")
XCWD x => CWD Cwd("x")
CDUP => CDUP Cdup
XCUP => CDUP Cdup
MKD new => MKD Mkd("new")
XMKD new => MKD Mkd("new")
RMD old => RMD Rmd("old")
XRMD old => RMD Rmd("old")
DELE -rf => DELE Dele("-rf")
RNFR a => RNFR Rnfr("a")
RNTO b c => RNTO Rnto("b c")
SIZE f => SIZE Size("f")
MDTM file.txt => MDTM Mdtm("file.txt")
MDTM 2024 report.pdf => MDTM Mdtm("2024 report.pdf")
MDTM 20240102030405 my f => MFMT Mfmt { time: 20240102030405.000, path: "my f" }
MFMT 20240102030405.5 f => MFMT Mfmt { time: 20240102030405.500, path: "f" }
MFMT 20241302030405 f => Err(Syntax("invalid time value"))
MFMT 20240102030405 => Err(Syntax("MFMT needs a time and a path"))
LIST => LIST List { flags: "", path: None }
LIST -la => LIST List { flags: "la", path: None }
LIST -l -a  /pub dir => LIST List { flags: "la", path: Some("/pub dir") }
LIST -1 x => LIST List { flags: "1", path: Some("x") }
LIST --x => LIST List { flags: "", path: Some("--x") }
LIST - => LIST List { flags: "", path: Some("-") }
LIST  dir => LIST List { flags: "", path: Some(" dir") }
NLST -a sub => NLST Nlst { flags: "a", path: Some("sub") }
MLSD => MLSD Mlsd(None)
MLST f => MLST Mlst(Some("f"))
RETR ünïcødé 名前.txt => RETR Retr("ünïcødé 名前.txt")
STOR -dash file.txt => STOR Stor("-dash file.txt")
STOU => STOU Stou(None)
STOU hint => STOU Stou(Some("hint"))
APPE log => APPE Appe("log")
REST 0 => REST Rest(0)
REST 18446744073709551615 => REST Rest(18446744073709551615)
REST 18446744073709551616 => Err(Syntax("REST needs a decimal offset"))
REST -1 => Err(Syntax("REST needs a decimal offset"))
REST +1 => Err(Syntax("REST needs a decimal offset"))
EPSV +2 => Err(Syntax("EPSV takes ALL or a protocol number"))
SITE CHMOD +755 x => Err(Syntax("SITE CHMOD needs an octal mode and a path"))
REST 1k => Err(Syntax("REST needs a decimal offset"))
ABOR => ABOR Abor
PASV => PASV Pasv
EPSV => EPSV Epsv(Any)
EPSV all => EPSV Epsv(All)
EPSV 2 => EPSV Epsv(Protocol(2))
EPSV 300 => Err(Syntax("EPSV takes ALL or a protocol number"))
PORT 127,0,0,1,4,1 => PORT Port(127.0.0.1:1025)
PORT 127,0,0,1,0,0 => Err(Syntax("port must be 1-65535"))
PORT 127,0,0,1,4 => Err(Syntax("malformed address argument"))
EPRT |2|::1|6275| => EPRT Eprt([::1]:6275)
EPRT |3|x|1| => Err(UnsupportedNetworkProtocol)
AVBL => AVBL Avbl(None)
AVBL /up => AVBL Avbl(Some("/up"))
HASH a b => HASH Hash("a b")
XSHA256 a b => XSHA256 Checksum { algorithm: Sha256, path: "a b", range: None }
XSHA1 "a b" => XSHA1 Checksum { algorithm: Sha1, path: "a b", range: None }
XMD5 "say ""hi""" 0 9 => XMD5 Checksum { algorithm: Md5, path: "say \"hi\"", range: Some((0, 9)) }
XCRC "f" 10 5 => Err(Syntax("checksum range must be: start end"))
XCRC "f" 10 => Err(Syntax("checksum range must be: start end"))
XCRC "f"x => Err(Syntax("unexpected text after quoted path"))
XCRC "f => Err(Syntax("unterminated quoted path"))
XCRC "" => Err(Syntax("empty path"))
FOO bar => Err(UnknownCommand("FOO"))
PASS\tsecret => Err(UnknownCommand("PASS"))
XSHA2567 x => Err(UnknownCommand("XSHA2567"))
 => Err(Syntax("empty command line"))
 USER a => Err(Syntax("empty command line"))
USER a\0b => Err(NulByte)
RETR a\rb => Err(Syntax("CR or LF inside a command line"))
"#;

    fn check(input: &[u8], expected: &str) {
        let got = match parse(input) {
            Ok(command) => format!("{} {command:?}", command.verb()),
            Err(error) => format!("Err({error:?})"),
        };
        assert_eq!(got, expected, "input {:?}", String::from_utf8_lossy(input));
    }

    #[test]
    fn parse_cases() {
        for case in CASES.lines().filter(|line| !line.is_empty()) {
            let (input, expected) = case.split_once(" => ").unwrap();
            let input = input.replace(r"\r", "\r").replace(r"\n", "\n");
            let input = input.replace(r"\t", "\t").replace(r"\0", "\0");
            check(input.as_bytes(), expected);
        }
        check(b"USER \xff\xfe", "Err(InvalidUtf8)");
        let mut long = b"STOR ".to_vec();
        long.resize(MAX_COMMAND_LINE_BYTES + 1, b'a');
        check(&long, r#"Err(Syntax("command line too long"))"#);
    }

    #[test]
    fn debug_of_pass_hides_the_password() {
        let command = parse(b"PASS  hunter2 ").unwrap();
        assert!(!format!("{command:?} {command:#?}").contains("hunter2"));
        assert!(matches!(command, Command::Pass(p) if p.as_str() == " hunter2 "));
    }
}
