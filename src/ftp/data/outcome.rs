//! How a transfer ended ([`Outcome`], reported to the control connection) and why its copy
//! loop stopped early ([`Failure`], inside the transfer task).

use std::io;

use crate::audit::reason;
use crate::vfs::VfsError;

use super::super::errors::DataError;

/// How a transfer ended.
#[derive(Debug)]
pub enum Outcome {
    /// Everything was moved (and an upload committed).
    Complete {
        /// Payload bytes (before TYPE A conversion).
        bytes: u64,
    },
    /// ABOR, the session's end or the server's shutdown cut it (the control connection
    /// knows which, since it cancelled).
    Aborted {
        /// Bytes moved before.
        bytes: u64,
    },
    /// The client went away, stalled, or ended a TLS upload without `close_notify`.
    ConnectionLost {
        /// Bytes moved before.
        bytes: u64,
        /// The audit reason (`no_close_notify`, `timeout`, `connection_lost`).
        reason: &'static str,
        /// For the log.
        detail: String,
    },
    /// The data connection could not be opened or was refused.
    Data(DataError),
    /// Reading or writing the file failed. An upload is discarded; its data connection was
    /// drained and closed cleanly when the client finished sending within the drain budget
    /// (see `receive`), so the client reads the error reply instead of a broken pipe.
    File {
        /// What went wrong.
        error: VfsError,
        /// Bytes moved before.
        bytes: u64,
    },
}

/// Why copying stopped early.
pub enum Failure {
    /// ABOR, the session's end or the server's shutdown.
    Cancelled,
    /// The file could not be read or written.
    File {
        error: VfsError,
        /// The client's remaining data was read to its clean end, so the connection can be
        /// closed cleanly.
        drained: bool,
    },
    /// The data connection failed.
    Connection {
        /// The audit reason.
        reason: &'static str,
        detail: String,
    },
}

impl Failure {
    /// A file error on a connection that cannot be closed cleanly.
    pub fn file(error: VfsError) -> Failure {
        Failure::File {
            error,
            drained: false,
        }
    }
}

impl From<io::Error> for Failure {
    fn from(error: io::Error) -> Failure {
        let reason = match error.kind() {
            // A TLS stream that ends without close_notify may be truncated (a killed client,
            // a forged FIN).
            io::ErrorKind::UnexpectedEof => reason::NO_CLOSE_NOTIFY,
            io::ErrorKind::TimedOut => reason::TIMEOUT,
            _ => reason::CONNECTION_LOST,
        };
        let detail = if reason == reason::NO_CLOSE_NOTIFY {
            "data connection closed without TLS close_notify".to_owned()
        } else {
            error.to_string()
        };
        Failure::Connection { reason, detail }
    }
}
