//! The file transfer protocols ferryd serves, as named in the config and the users file.

use std::fmt;
use std::str::FromStr;

/// A protocol a user may be allowed to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// FTP over TLS (explicit or implicit), or plain FTP where the config allows it.
    Ftps,
    /// SFTP over SSH.
    Sftp,
}

impl Protocol {
    /// Every protocol.
    pub const ALL: [Protocol; 2] = [Protocol::Ftps, Protocol::Sftp];

    /// The lower-case name used in config files and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Ftps => "ftps",
            Protocol::Sftp => "sftp",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// The name was not a known protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown protocol {0:?} (expected \"ftps\" or \"sftp\")")]
pub struct UnknownProtocol(pub String);

impl FromStr for Protocol {
    type Err = UnknownProtocol;
    fn from_str(text: &str) -> Result<Protocol, UnknownProtocol> {
        match text {
            "ftps" | "ftp" => Ok(Protocol::Ftps),
            "sftp" => Ok(Protocol::Sftp),
            other => Err(UnknownProtocol(other.to_owned())),
        }
    }
}
