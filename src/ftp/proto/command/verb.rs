//! The canonical verb of each command, for logs and for matching a command to its policy.

use super::{ChecksumAlgorithm, Command};

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
