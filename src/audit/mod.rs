//! Protocol-neutral audit events: logins, transfers and file changes, with a stable schema.
//!
//! Both front ends report what users did through `Audit::record`, which writes one structured
//! log line per event (target `ferryd::audit`, fields below) and hands the event to every
//! registered sink (the xferlog writer, the metrics registry). Field names are part of the
//! public interface: log pipelines parse them.
//!
//! Fields: `event` (login, logout, upload, download, delete, rename, mkdir, rmdir,
//! set_attributes, link), `protocol`, `user`, `peer`, `path`, `target` (rename/link), `bytes`,
//! `duration_ms`, `result` (ok, failed, aborted), and for failed or aborted events `reason` (a
//! stable word from [`reason`] or [`crate::vfs::VfsErrorKind::code`], fit for grouping and metric
//! labels) and `detail` (client-safe text saying more).

mod xferlog;

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::config::Protocol;

pub use xferlog::XferLog;

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

/// The audit trail: a log line per event plus registered sinks. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Audit {
    sinks: Arc<Vec<Arc<dyn AuditSink>>>,
}

impl Audit {
    /// An audit trail that also feeds `sinks`.
    pub fn new(sinks: Vec<Arc<dyn AuditSink>>) -> Audit {
        Audit {
            sinks: Arc::new(sinks),
        }
    }

    /// Logs `event` and passes it to every sink.
    pub fn record(&self, event: &Event) {
        let duration_ms = u64::try_from(event.duration.as_millis()).unwrap_or(u64::MAX);
        let target = event.target.as_deref().unwrap_or("");
        match event.outcome.cause() {
            None => tracing::info!(
                target: "ferryd::audit",
                event = event.action.as_str(),
                protocol = %event.protocol,
                user = %event.user,
                peer = %event.peer,
                path = %event.path,
                target = %target,
                bytes = event.bytes,
                duration_ms,
                result = event.outcome.as_str(),
                "{}", event.action.as_str()
            ),
            Some(cause) => tracing::warn!(
                target: "ferryd::audit",
                event = event.action.as_str(),
                protocol = %event.protocol,
                user = %event.user,
                peer = %event.peer,
                path = %event.path,
                target = %target,
                bytes = event.bytes,
                duration_ms,
                result = event.outcome.as_str(),
                reason = cause.reason,
                detail = %cause.detail,
                "{} {}: {}", event.action.as_str(), event.outcome.as_str(), cause.detail
            ),
        }
        for sink in self.sinks.iter() {
            sink.record(event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Debug, Default)]
    struct Collect(Mutex<Vec<(Action, u64, &'static str)>>);

    impl AuditSink for Collect {
        fn record(&self, event: &Event) {
            self.0
                .lock()
                .unwrap()
                .push((event.action, event.bytes, event.outcome.as_str()));
        }
    }

    #[test]
    fn every_sink_sees_every_event() {
        let sink = Arc::new(Collect::default());
        let audit = Audit::new(vec![sink.clone()]);
        let mut event = Event {
            action: Action::Upload,
            protocol: Protocol::Ftps,
            user: "alice".into(),
            peer: "127.0.0.1".parse().unwrap(),
            path: "/f".into(),
            target: None,
            bytes: 42,
            duration: Duration::from_millis(5),
            outcome: Outcome::Ok,
        };
        audit.record(&event);
        event.outcome = Outcome::failed("storage_full", "no space left on storage");
        audit.record(&event);
        assert_eq!(
            *sink.0.lock().unwrap(),
            vec![(Action::Upload, 42, "ok"), (Action::Upload, 42, "failed")]
        );
        assert!(Action::Download.is_transfer() && !Action::Rename.is_transfer());
    }
}
