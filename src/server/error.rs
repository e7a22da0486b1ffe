//! Why the server could not start or reload.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::auth::UsersFileError;
use crate::config::ConfigError;
use crate::key_material::certificate::CertificateError;
use crate::key_material::host_keys::HostKeyError;
use crate::key_material::ExposedFileError;

/// The server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A directory from `[server]` could not be created or used.
    #[error("{key} = {path}: {source}")]
    Directory {
        /// The config key naming it.
        key: &'static str,
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The users file is invalid or unreadable.
    #[error(transparent)]
    Users(#[from] UsersFileError),
    /// The bootstrap user could not be created.
    #[error("cannot create the bootstrap user: {0}")]
    Bootstrap(String),
    /// The TLS certificate or key is unusable.
    #[error("TLS certificate: {0}")]
    Certificate(#[from] CertificateError),
    /// An SSH host key is unusable.
    #[error("SSH host key: {0}")]
    HostKey(#[from] HostKeyError),
    /// A listener could not be bound (port in use, no permission for a port below 1024, …).
    #[error(
        "cannot listen on {address} ({key}): {source}; to see what holds the port: \
         ss -ltnp 'sport = :{}'",
        address.port()
    )]
    Bind {
        /// The config key naming the address.
        key: &'static str,
        /// The address.
        address: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The FTPS front end refused its settings.
    #[error("FTPS: {0}")]
    Ftp(crate::ftp::StartError),
    /// The SFTP front end refused its settings.
    #[error("SFTP: {0}")]
    Sftp(crate::sftp::StartError),
    /// A private key or the users file may be read or changed by other users.
    #[error(transparent)]
    ExposedFile(#[from] ExposedFileError),
    /// The admin socket could not be set up (or another daemon holds it).
    #[error(transparent)]
    Admin(#[from] super::admin::AdminError),
    /// A certificate or host key path the admin wrote does not exist. Only the default paths
    /// in `state_dir` are generated, so a typo never turns into a new self-signed certificate.
    #[error(
        "{key} = {path}: no such file (ferryd generates missing key material only at its \
         default path in server.state_dir, such as {default}; fix the path, or remove the \
         setting to use the default)"
    )]
    MissingFile {
        /// The config key naming the file.
        key: &'static str,
        /// The configured path.
        path: PathBuf,
        /// Where the default would be.
        default: PathBuf,
    },
    /// A path the sandbox must allow is unusable (reported by `check-config`; `serve` meets it
    /// as a [`SandboxError`](super::sandbox::SandboxError) while confining itself).
    #[error(transparent)]
    Sandbox(#[from] super::sandbox::SandboxError),
    /// Object storage is named but cannot be used: no credentials, or a home or folder on
    /// it with no bucket.
    #[error("object storage: {0}")]
    ObjectStorage(String),
    /// A hook cannot be set up (its secret file, the hook runner).
    #[error("hooks: {0}")]
    Hooks(crate::hooks::HooksError),
}

impl StartError {
    /// True for problems the admin fixes in configuration or files (exit code 78), as opposed
    /// to the environment refusing a resource (69).
    pub fn is_configuration(&self) -> bool {
        match self {
            StartError::Bind { .. } | StartError::Admin(super::admin::AdminError::InUse { .. }) => {
                false
            }
            StartError::Sandbox(error) => error.is_configuration(),
            _ => true,
        }
    }
}

/// A reload was refused; the running configuration is unchanged.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The new config file is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The new users file is invalid.
    #[error(transparent)]
    Users(#[from] UsersFileError),
    /// The new certificate is unusable.
    #[error("TLS certificate: {0}")]
    Certificate(#[from] CertificateError),
    /// The FTPS front end refused the new certificate.
    #[error("FTPS: {0}")]
    Ftp(crate::ftp::StartError),
    /// The new key or users file may be read or changed by other users.
    #[error(transparent)]
    ExposedFile(#[from] ExposedFileError),
    /// The new users file puts a home or folder on object storage without a bucket.
    #[error("{0}")]
    ObjectStorage(String),
    /// A hook's secret cannot be read.
    #[error("hooks: {0}")]
    Hooks(#[from] crate::hooks::HooksError),
}

/// An error and its causes on one line, each cause once (thiserror's `"…: {0}"` messages
/// already show their source, which `source()` yields again).
pub fn one_line_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_port_names_the_listener_the_address_and_how_to_find_the_holder() {
        let error = StartError::Bind {
            key: "sftp.listen",
            address: SocketAddr::from(([127, 0, 0, 1], 2222)),
            source: std::io::ErrorKind::AddrInUse.into(),
        };
        let text = error.to_string();
        assert!(text.contains("127.0.0.1:2222 (sftp.listen)"), "{text}");
        assert!(text.contains("ss -ltnp 'sport = :2222'"), "{text}");
    }

    #[test]
    fn the_one_line_chain_shows_each_cause_once() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer")]
        struct Outer(#[source] std::io::Error);
        #[derive(Debug, thiserror::Error)]
        #[error("wrapped: {0}")]
        struct Wrapped(#[source] std::io::Error);
        let io = || std::io::Error::other("disk on fire");
        assert_eq!(one_line_chain(&Outer(io())), "outer: disk on fire");
        assert_eq!(one_line_chain(&Wrapped(io())), "wrapped: disk on fire");
    }
}
