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

mod event;
mod xferlog;

use std::sync::Arc;

pub use event::{reason, Action, AuditSink, Cause, Event, Outcome};
pub use xferlog::XferLog;

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
    use crate::config::Protocol;
    use std::sync::Mutex;
    use std::time::Duration;

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
