//! What a request handler may touch: the [`Context`] of one SFTP channel (the logged-in
//! user's [`SessionContext`] and the channel's handle table).
//!
//! `session` owns the request loop and dispatch: it decodes a request, looks up the handles it
//! names ([`super::handles::Resolved`]), picks the task that runs it and hands a `&Context` to
//! the handlers in `requests`, which never import `session` or the `sftp` root. The calls into
//! audit (`SessionContext::audit*`) are kept together here, for the shared session core that
//! will take them over.

use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::errors::Failure;
use super::handles::HandleTable;
use crate::audit::{Action, Audit, Event, Outcome};
use crate::config::Protocol;
use crate::limits::Registration;
use crate::vfs::{UserFs, VirtualPath};

/// What request handlers know about the login: who, from where, and their files. Cloned into
/// every SFTP channel of the connection.
#[derive(Clone, Debug)]
pub(crate) struct SessionContext {
    /// The user's confined file system.
    pub fs: UserFs,
    /// The user name, for audit events and listings.
    pub user: String,
    /// The client's address, for audit events.
    pub peer: IpAddr,
    /// Where audit events go.
    pub audit: Audit,
    /// Refused attribute changes fail instead of being ignored (`sftp.strict_attributes`).
    pub strict_attributes: bool,
    /// The session's entry in the daemon's session list (`ferryd session list`).
    pub registration: Arc<Registration>,
}

impl SessionContext {
    /// Records an audit event for this session.
    pub fn audit(&self, action: Action, path: &str, detail: AuditDetail) {
        self.audit.record(&Event {
            action,
            protocol: Protocol::Sftp,
            user: self.user.clone(),
            peer: self.peer,
            path: path.to_owned(),
            target: detail.target,
            bytes: detail.bytes,
            duration: detail.duration,
            outcome: detail.outcome,
        });
    }

    /// Records the outcome of a file change that has no byte count.
    pub fn audit_result<T>(
        &self,
        action: Action,
        path: &VirtualPath,
        target: Option<&VirtualPath>,
        started: Instant,
        result: &Result<T, Failure>,
    ) {
        let outcome = match result {
            Ok(_) => Outcome::Ok,
            Err(failure) => Outcome::failed(failure.reason, failure.message.clone()),
        };
        self.audit(
            action,
            path.as_str(),
            AuditDetail {
                target: target.map(|target| target.as_str().to_owned()),
                bytes: 0,
                duration: started.elapsed(),
                outcome,
            },
        );
    }
}

/// The optional fields of an audit event.
pub(crate) struct AuditDetail {
    /// Second path (rename, link).
    pub target: Option<String>,
    /// Bytes transferred.
    pub bytes: u64,
    /// Time taken.
    pub duration: Duration,
    /// Result.
    pub outcome: Outcome,
}

/// One SFTP channel's state as handlers see it, shared by the reader, the lane and data tasks.
pub(crate) struct Context {
    /// The logged-in user's file system and audit context.
    pub session: SessionContext,
    table: Mutex<HandleTable>,
}

impl Context {
    /// A channel of `session` with no open handles.
    pub fn new(session: SessionContext) -> Context {
        Context {
            session,
            table: Mutex::new(HandleTable::default()),
        }
    }

    /// The handle table; held only for one lookup or insert, never across an await.
    pub fn lock_table(&self) -> MutexGuard<'_, HandleTable> {
        // The table is consistent after any panic: each operation is a single map call.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A client path (bytes) as a virtual path; relative paths start at the root (the home).
pub(crate) fn resolve(raw: &[u8]) -> Result<VirtualPath, Failure> {
    Ok(VirtualPath::root().resolve_bytes(raw)?)
}
