//! Prometheus metrics: sessions, logins, bytes, transfers, TLS failures, bans.
//!
//! `Metrics` is fed from the two places every protocol already reports to — the audit trail
//! (`AuditSink`: sessions, transfers, bytes) and the auth layer (`AuthObserver`: every login
//! attempt) — plus a few direct calls for events only a front end sees (TLS handshake
//! failures, refused data connections). The server serves `encode()` on `[metrics] listen`.

use std::fmt;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::audit::{Action, AuditSink, Event, Outcome};
use crate::auth::{AuthEvent, AuthObserver, AuthOutcome};
use crate::config::Protocol;

/// All metrics of one server. Cheap to clone; clones share values.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    sessions: Family<ProtocolLabels, Gauge>,
    logins: Family<LoginLabels, Counter>,
    bytes: Family<DirectionLabels, Counter>,
    transfers: Family<TransferLabels, Counter>,
    transfer_seconds: Family<DirectionLabels, Histogram, fn() -> Histogram>,
    tls_handshake_failures: Family<ProtocolLabels, Counter>,
    tls_session_reuse_refusals: Counter,
    bans: Gauge<i64, std::sync::atomic::AtomicI64>,
    operations: Family<OperationLabels, Counter>,
    hooks: Family<HookLabels, Counter>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HookLabels {
    /// `command`, `webhook` or `gate`.
    kind: &'static str,
    /// `ok`, `failed`, `timeout`, `unreachable`, `not_started`, `retried` or `dropped`.
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProtocolLabels {
    protocol: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LoginLabels {
    protocol: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DirectionLabels {
    protocol: &'static str,
    direction: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TransferLabels {
    protocol: &'static str,
    direction: &'static str,
    result: &'static str,
    /// Why a transfer failed or was aborted (the audit reason); empty when it completed.
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    protocol: &'static str,
    operation: &'static str,
    result: &'static str,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    /// A fresh registry with every ferryd metric registered.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("ferryd");
        let sessions = Family::<ProtocolLabels, Gauge>::default();
        registry.register("sessions", "Logged-in sessions now", sessions.clone());
        let logins = Family::<LoginLabels, Counter>::default();
        registry.register("logins", "Login attempts by result", logins.clone());
        let bytes = Family::<DirectionLabels, Counter>::default();
        registry.register("transfer_bytes", "File bytes moved", bytes.clone());
        let transfers = Family::<TransferLabels, Counter>::default();
        registry.register("transfers", "File transfers by result", transfers.clone());
        let transfer_seconds =
            Family::<DirectionLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                transfer_seconds_histogram,
            );
        registry.register(
            "transfer_duration_seconds",
            "Duration of file transfers",
            transfer_seconds.clone(),
        );
        let tls_handshake_failures = Family::<ProtocolLabels, Counter>::default();
        registry.register(
            "tls_handshake_failures",
            "TLS handshakes that failed",
            tls_handshake_failures.clone(),
        );
        let tls_session_reuse_refusals = Counter::<u64, AtomicU64>::default();
        registry.register(
            "tls_session_reuse_refusals",
            "FTPS data connections refused for not resuming their control session",
            tls_session_reuse_refusals.clone(),
        );
        let bans = Gauge::<i64, std::sync::atomic::AtomicI64>::default();
        registry.register("bans", "Client addresses banned now", bans.clone());
        let operations = Family::<OperationLabels, Counter>::default();
        registry.register(
            "file_operations",
            "Deletes, renames, directory and attribute changes",
            operations.clone(),
        );
        let hooks = Family::<HookLabels, Counter>::default();
        registry.register(
            "hook_runs",
            "Hook runs by kind and result (retried: a failed attempt that is tried again)",
            hooks.clone(),
        );
        Metrics {
            inner: Arc::new(Inner {
                registry,
                sessions,
                logins,
                bytes,
                transfers,
                transfer_seconds,
                tls_handshake_failures,
                tls_session_reuse_refusals,
                bans,
                operations,
                hooks,
            }),
        }
    }

    /// Counts one hook run (or drop) of `kind` ending in `result`.
    pub fn hook_finished(&self, kind: &'static str, result: &'static str) {
        self.inner
            .hooks
            .get_or_create(&HookLabels { kind, result })
            .inc();
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.inner.registry);
        text
    }

    /// Logged-in sessions of `protocol` now.
    pub fn sessions(&self, protocol: Protocol) -> i64 {
        self.inner
            .sessions
            .get_or_create(&ProtocolLabels {
                protocol: protocol.as_str(),
            })
            .get()
    }

    /// A TLS handshake failed (bad client, scanner, protocol mismatch).
    pub fn tls_handshake_failed(&self, protocol: Protocol) {
        self.inner
            .tls_handshake_failures
            .get_or_create(&ProtocolLabels {
                protocol: protocol.as_str(),
            })
            .inc();
    }

    /// An FTPS data connection was refused because it did not resume its control session.
    pub fn tls_session_reuse_refused(&self) {
        self.inner.tls_session_reuse_refusals.inc();
    }

    /// The number of currently banned addresses.
    pub fn set_bans(&self, count: usize) {
        self.inner
            .bans
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }
}

fn transfer_seconds_histogram() -> Histogram {
    // 1 ms to ~4.4 hours in factors of 4.
    Histogram::new(exponential_buckets(0.001, 4.0, 12))
}

impl AuditSink for Metrics {
    fn record(&self, event: &Event) {
        let protocol = event.protocol.as_str();
        let inner = &self.inner;
        match event.action {
            Action::Login => {
                if event.outcome == Outcome::Ok {
                    inner
                        .sessions
                        .get_or_create(&ProtocolLabels { protocol })
                        .inc();
                }
            }
            Action::Logout => {
                inner
                    .sessions
                    .get_or_create(&ProtocolLabels { protocol })
                    .dec();
            }
            Action::Upload | Action::Download => {
                let direction = if event.action == Action::Upload {
                    "upload"
                } else {
                    "download"
                };
                let labels = DirectionLabels {
                    protocol,
                    direction,
                };
                inner.bytes.get_or_create(&labels).inc_by(event.bytes);
                inner
                    .transfer_seconds
                    .get_or_create(&labels)
                    .observe(event.duration.as_secs_f64());
                inner
                    .transfers
                    .get_or_create(&TransferLabels {
                        protocol,
                        direction,
                        result: event.outcome.as_str(),
                        reason: event.outcome.cause().map_or("", |cause| cause.reason),
                    })
                    .inc();
            }
            action => {
                inner
                    .operations
                    .get_or_create(&OperationLabels {
                        protocol,
                        operation: action.as_str(),
                        result: event.outcome.as_str(),
                    })
                    .inc();
            }
        }
    }
}

impl AuthObserver for Metrics {
    fn on_auth(&self, event: &AuthEvent) {
        let result = match event.outcome {
            AuthOutcome::Success => "ok",
            AuthOutcome::Partial { .. } => "partial",
            AuthOutcome::Failure(_) => "failed",
        };
        self.inner
            .logins
            .get_or_create(&LoginLabels {
                protocol: event.protocol.as_str(),
                result,
            })
            .inc();
    }
}

impl fmt::Debug for Metrics {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("Metrics")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn event(action: Action, bytes: u64, outcome: Outcome) -> Event {
        Event {
            action,
            protocol: Protocol::Sftp,
            user: "alice".into(),
            peer: "127.0.0.1".parse().unwrap(),
            path: "/f".into(),
            target: None,
            bytes,
            duration: Duration::from_millis(20),
            outcome,
        }
    }

    #[test]
    fn audit_events_move_the_counters() {
        let metrics = Metrics::new();
        metrics.record(&event(Action::Login, 0, Outcome::Ok));
        metrics.record(&event(Action::Upload, 1000, Outcome::Ok));
        metrics.record(&event(
            Action::Download,
            10,
            Outcome::aborted("abor", "ABOR"),
        ));
        metrics.record(&event(
            Action::Upload,
            0,
            Outcome::failed("quota", "quota exceeded"),
        ));
        metrics.record(&event(Action::Delete, 0, Outcome::Ok));
        metrics.tls_handshake_failed(Protocol::Ftps);
        metrics.tls_session_reuse_refused();
        metrics.set_bans(3);
        let text = metrics.encode();
        for line in [
            "ferryd_sessions{protocol=\"sftp\"} 1",
            "ferryd_transfer_bytes_total{protocol=\"sftp\",direction=\"upload\"} 1000",
            "ferryd_transfers_total{protocol=\"sftp\",direction=\"download\",result=\"aborted\",reason=\"abor\"} 1",
            "ferryd_transfers_total{protocol=\"sftp\",direction=\"upload\",result=\"failed\",reason=\"quota\"} 1",
            "ferryd_transfers_total{protocol=\"sftp\",direction=\"upload\",result=\"ok\",reason=\"\"} 1",
            "ferryd_file_operations_total{protocol=\"sftp\",operation=\"delete\",result=\"ok\"} 1",
            "ferryd_tls_handshake_failures_total{protocol=\"ftps\"} 1",
            "ferryd_tls_session_reuse_refusals_total 1",
            "ferryd_bans 3",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        assert_eq!(metrics.sessions(Protocol::Sftp), 1);
        assert_eq!(metrics.sessions(Protocol::Ftps), 0);
        metrics.record(&event(Action::Logout, 0, Outcome::Ok));
        assert!(metrics
            .encode()
            .contains("ferryd_sessions{protocol=\"sftp\"} 0"));
    }
}
