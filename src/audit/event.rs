//! The audit event: what happened, over which protocol, by whom, and how it ended; and the
//! trait of the sinks that receive each one (xferlog, metrics).

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use crate::config::Protocol;

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// A successful or failed login.
    Login,
    /// A session of a logged-in user ended.
    Logout,
    /// File contents were written.
    Upload,
    /// File contents were read.
    Download,
    /// A file was removed.
    Delete,
    /// An entry was renamed or moved.
    Rename,
    /// A directory was created.
    Mkdir,
    /// A directory was removed.
    Rmdir,
    /// Times, mode or size were changed.
    SetAttributes,
    /// A symbolic or hard link was created.
    Link,
}

impl Action {
    /// The stable name used in logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Login => "login",
            Action::Logout => "logout",
            Action::Upload => "upload",
            Action::Download => "download",
            Action::Delete => "delete",
            Action::Rename => "rename",
            Action::Mkdir => "mkdir",
            Action::Rmdir => "rmdir",
            Action::SetAttributes => "set_attributes",
            Action::Link => "link",
        }
    }

    /// True for the actions that move file contents.
    pub fn is_transfer(self) -> bool {
        matches!(self, Action::Upload | Action::Download)
    }
}

/// How it ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It worked.
    Ok,
    /// It failed (a refusal, a full disk, a quota).
    Failed(Cause),
    /// The client or the server stopped it (ABOR, disconnect, shutdown).
    Aborted(Cause),
}

/// Why an event did not end well.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cause {
    /// A stable word (see [`reason`]); metrics use it as a label, so the set stays small.
    pub reason: &'static str,
    /// Client-safe text for the log line.
    pub detail: String,
}

/// The reasons that are not file system errors (those use `VfsErrorKind::code`).
pub mod reason {
    /// The credentials were refused.
    pub const CREDENTIALS: &str = "credentials";
    /// A connection or session limit refused the login.
    pub const LIMIT: &str = "limit";
    /// The user's files could not be opened.
    pub const HOME_UNAVAILABLE: &str = "home_unavailable";
    /// The client sent ABOR.
    pub const ABOR: &str = "abor";
    /// The client closed a TLS data connection without `close_notify` (a truncation).
    pub const NO_CLOSE_NOTIFY: &str = "no_close_notify";
    /// The connection broke (reset, closed early, or stopped reading).
    pub const CONNECTION_LOST: &str = "connection_lost";
    /// The peer stalled past a timeout.
    pub const TIMEOUT: &str = "timeout";
    /// The session ended (logout, disconnect, idle timeout) with the transfer unfinished.
    pub const SESSION_ENDED: &str = "session_ended";
    /// The server shut down.
    pub const SHUTDOWN: &str = "shutdown";
    /// The data connection could not be opened or was refused.
    pub const DATA_CONNECTION: &str = "data_connection";
    /// The request was refused before anything happened (a protocol-level refusal).
    pub const REFUSED: &str = "refused";
}

impl Outcome {
    /// A failure for `reason`, with client-safe `detail`.
    pub fn failed(reason: &'static str, detail: impl Into<String>) -> Outcome {
        Outcome::Failed(Cause {
            reason,
            detail: detail.into(),
        })
    }

    /// An abort for `reason`, with client-safe `detail`.
    pub fn aborted(reason: &'static str, detail: impl Into<String>) -> Outcome {
        Outcome::Aborted(Cause {
            reason,
            detail: detail.into(),
        })
    }

    /// `ok`, `failed` or `aborted`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Failed(_) => "failed",
            Outcome::Aborted(_) => "aborted",
        }
    }

    /// Why it did not end well; `None` for `Ok`.
    pub fn cause(&self) -> Option<&Cause> {
        match self {
            Outcome::Ok => None,
            Outcome::Failed(cause) | Outcome::Aborted(cause) => Some(cause),
        }
    }
}

/// One audited event.
#[derive(Clone, Debug)]
pub struct Event {
    /// What happened.
    pub action: Action,
    /// Over which protocol.
    pub protocol: Protocol,
    /// By whom (as they logged in or tried to).
    pub user: String,
    /// From where.
    pub peer: IpAddr,
    /// The virtual path acted on (empty for login/logout).
    pub path: String,
    /// The second path of a rename or link.
    pub target: Option<String>,
    /// Bytes moved (transfers) or 0.
    pub bytes: u64,
    /// How long it took.
    pub duration: Duration,
    /// How it ended.
    pub outcome: Outcome,
}

/// Receives every audit event, after it is logged.
pub trait AuditSink: Send + Sync + fmt::Debug {
    /// Called once per event; must not block for long (it runs on a session task).
    fn record(&self, event: &Event);
}
