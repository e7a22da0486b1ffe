//! The session core without sockets: admission, login bookkeeping and the end of a session,
//! observed through the limits, the defender, the registry, a recording audit sink and the
//! metrics' session gauge.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use super::*;
use crate::audit::Audit;
use crate::audit::{reason, Action, AuditSink, Event};
use crate::auth::{AuthError, AuthMethod, Identity, UserRecord};
use crate::config::{Config, Protocol};
use crate::limits::{BanReason, ConnectionLimits, LimitError};
use crate::metrics::Metrics;
use crate::vfs::QuotaRegistry;

/// Every audit event, as (action, protocol, user, result, reason, detail).
#[derive(Debug, Default)]
struct Recorded(Mutex<Vec<Event>>);

impl AuditSink for Recorded {
    fn record(&self, event: &Event) {
        self.0.lock().unwrap().push(event.clone());
    }
}

impl Recorded {
    fn take(&self) -> Vec<Event> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

struct Bench {
    core: SessionCore,
    limits: ConnectionLimits,
    events: Arc<Recorded>,
    metrics: Metrics,
    temp: tempfile::TempDir,
}

fn bench(configure: impl FnOnce(&mut Config)) -> Bench {
    let mut config = Config::default();
    config.defender.enabled = true;
    configure(&mut config);
    let limits = ConnectionLimits::new(&config.server, &config.defender);
    let events = Arc::new(Recorded::default());
    let metrics = Metrics::new();
    let audit = Audit::new(vec![events.clone(), Arc::new(metrics.clone())]);
    let config = Arc::new(ArcSwap::from_pointee(config));
    let core = SessionCore::new(limits.clone(), audit, QuotaRegistry::new(), config);
    Bench {
        core,
        limits,
        events,
        metrics,
        temp: tempfile::tempdir().unwrap(),
    }
}

fn address(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

const LOCAL: &str = "[::]:2022";

impl Bench {
    fn admit(&self, peer: &str) -> Admission {
        self.core
            .admit(Protocol::Sftp, address(peer), address(LOCAL))
    }

    fn admitted(&self, peer: &str) -> Admitted {
        match self.admit(peer) {
            Admission::Admitted(admitted) => admitted,
            Admission::Refused(refused) => panic!("refused: {}", refused.reason),
        }
    }

    fn refusal(&self, peer: &str) -> Refusal {
        match self.admit(peer) {
            Admission::Admitted(_) => panic!("{peer} was admitted"),
            Admission::Refused(refused) => refused.reason,
        }
    }

    /// `name` with a home under the bench's temporary directory.
    fn identity(&self, name: &str) -> Identity {
        let record = UserRecord::named(name).unwrap();
        let mut identity = Identity::from_record(&record, self.temp.path(), AuthMethod::Password);
        identity.fs.root = self.temp.path().join(name).into();
        identity
    }
}

fn summary(event: &Event) -> (Action, Protocol, String, &'static str, Option<&'static str>) {
    let reason = event.outcome.cause().map(|cause| cause.reason);
    (
        event.action,
        event.protocol,
        event.user.clone(),
        event.outcome.as_str(),
        reason,
    )
}

#[test]
fn admission_makes_the_peer_canonical_and_holds_a_slot_until_the_permit_drops() {
    let bench = bench(|_| {});
    let admitted = bench.admitted("[::ffff:192.0.2.7]:4000");
    let info = admitted.connection.info();
    assert_eq!(info.peer, address("192.0.2.7:4000"));
    assert_eq!(info.protocol, Protocol::Sftp);
    assert_eq!(info.local, address(LOCAL));
    assert_eq!(bench.limits.active_connections(), 1);
    let connection = admitted.connection.clone();
    drop(admitted.permit);
    assert_eq!(
        bench.limits.active_connections(),
        0,
        "the slot goes with the permit, not with the connection's clones"
    );
    drop(connection);
}

#[test]
fn admission_refuses_too_many_from_one_address_and_in_total() {
    let bench = bench(|config| {
        config.server.max_connections = 3;
        config.server.max_connections_per_ip = 2;
    });
    let _first = bench.admitted("192.0.2.1:1");
    // A mapped IPv6 peer is the same address: it counts against the same per-address limit.
    let _second = bench.admitted("[::ffff:192.0.2.1]:2");
    assert_eq!(bench.refusal("192.0.2.1:3"), Refusal::TooManyFromAddress);
    let _third = bench.admitted("192.0.2.2:1");
    assert_eq!(bench.refusal("192.0.2.3:1"), Refusal::TooManyConnections);
    assert_eq!(
        Refusal::TooManyConnections.to_string(),
        LimitError::TooManyConnections.to_string()
    );
    assert!(!Refusal::TooManyFromAddress.is_ban());
}

#[test]
fn admission_refuses_a_banned_address_before_counting_it() {
    let bench = bench(|config| config.defender.threshold = 1);
    bench.limits.defender().report(
        "192.0.2.9".parse().unwrap(),
        crate::limits::Offence::FailedLogin,
    );
    let Admission::Refused(refused) = bench.admit("[::ffff:192.0.2.9]:5") else {
        panic!("a banned address was admitted");
    };
    assert_eq!(refused.reason, Refusal::Banned);
    assert!(refused.reason.is_ban());
    assert_eq!(
        refused.reason.to_string(),
        "your address is temporarily banned"
    );
    assert_eq!(refused.info.peer, address("192.0.2.9:5"));
    assert_eq!(bench.limits.active_connections(), 0);
    bench.admitted("192.0.2.10:5");
}

#[test]
fn a_proxied_connection_is_judged_by_its_client_not_by_the_proxy() {
    let bench = bench(|config| {
        config.defender.threshold = 1;
        config.server.max_connections_per_ip = 1;
    });
    let proxy = Some(address("127.0.0.9:5000"));
    bench.limits.defender().report(
        "203.0.113.7".parse().unwrap(),
        crate::limits::Offence::FailedLogin,
    );
    let admit = |client: &str| {
        bench
            .core
            .admit_via(Protocol::Ftps, address(client), proxy, address(LOCAL))
    };
    let Admission::Refused(refused) = admit("203.0.113.7:1") else {
        panic!("a banned client was admitted through its proxy");
    };
    assert_eq!(refused.reason, Refusal::Banned);
    let Admission::Admitted(first) = admit("203.0.113.8:1") else {
        panic!("another client behind the same proxy was refused");
    };
    assert_eq!(first.connection.info().peer, address("203.0.113.8:1"));
    assert_eq!(first.connection.info().proxy, proxy);
    // The per-address limit counts the client, so a second client behind the proxy is in.
    let Admission::Admitted(_second) = admit("203.0.113.9:1") else {
        panic!("the proxy's address was counted instead of the client's");
    };
    assert!(matches!(admit("203.0.113.8:2"), Admission::Refused(_)));
}

#[test]
fn a_failed_login_is_audited_and_scored_by_the_defender() {
    let bench = bench(|config| {
        config.defender.threshold = 2;
        config.defender.score_failed_login = 1;
    });
    let admitted = bench.admitted("192.0.2.20:1");
    admitted
        .connection
        .login_failed("mallory", &AuthError::InvalidCredentials);
    let events = bench.events.take();
    assert_eq!(events.len(), 1);
    assert_eq!(
        summary(&events[0]),
        (
            Action::Login,
            Protocol::Sftp,
            "mallory".to_owned(),
            "failed",
            Some(reason::CREDENTIALS)
        )
    );
    assert_eq!(
        events[0].outcome.cause().unwrap().detail,
        "invalid credentials"
    );
    assert_eq!(events[0].peer.to_string(), "192.0.2.20");
    assert!(
        bench.limits.defender().list().is_empty(),
        "one failure is below the threshold"
    );
    admitted
        .connection
        .login_failed("mallory", &AuthError::ProtocolNotAllowed);
    let bans = bench.limits.defender().list();
    assert_eq!(bans.len(), 1);
    assert_eq!(bans[0].reason, BanReason::FailedLogins);
    assert_eq!(bans[0].score, 2);
    assert_eq!(bench.refusal("192.0.2.20:2"), Refusal::Banned);
    assert_eq!(bench.metrics.sessions(Protocol::Sftp), 0);
}

#[test]
fn a_partial_success_is_audited_but_not_scored() {
    let bench = bench(|config| config.defender.threshold = 1);
    let admitted = bench.admitted("192.0.2.21:1");
    let partial = AuthError::PartialSuccess {
        next: AuthMethod::Password,
    };
    admitted.connection.login_failed("alice", &partial);
    assert_eq!(bench.events.take().len(), 1);
    assert!(bench.limits.defender().list().is_empty());
    bench.admitted("192.0.2.21:2");
}

#[tokio::test]
async fn a_login_counts_registers_and_audits_until_the_session_ends() {
    let bench = bench(|_| {});
    let admitted = bench.admitted("[::ffff:192.0.2.30]:7");
    let identity = bench.identity("alice");
    let logged_in = admitted.connection.log_in(&identity).await.unwrap();
    let session = logged_in.session;
    assert_eq!(session.user(), "alice");
    assert_eq!(
        bench.metrics.sessions(Protocol::Sftp),
        1,
        "the gauge went up"
    );
    assert_eq!(
        bench.limits.sessions_of("alice"),
        1,
        "the per-user slot is held"
    );
    let listed = bench.limits.sessions().list();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, admitted.connection.info().id.as_u64());
    assert_eq!(listed[0].user, "alice");
    assert_eq!(listed[0].peer, address("192.0.2.30:7"));
    assert_eq!(listed[0].protocol, Protocol::Sftp);
    let events = bench.events.take();
    assert_eq!(
        events.iter().map(summary).collect::<Vec<_>>(),
        vec![(
            Action::Login,
            Protocol::Sftp,
            "alice".to_owned(),
            "ok",
            None
        )]
    );
    assert!(
        bench.temp.path().join("alice").is_dir(),
        "the user's files were opened"
    );
    assert!(bench.limits.sessions().kick_user("alice") == 1);
    assert!(session.kicked().is_cancelled());

    session.end();
    let events = bench.events.take();
    assert_eq!(
        events.iter().map(summary).collect::<Vec<_>>(),
        vec![(
            Action::Logout,
            Protocol::Sftp,
            "alice".to_owned(),
            "ok",
            None
        )]
    );
    assert_eq!(events[0].peer.to_string(), "192.0.2.30");
    assert_eq!(
        bench.metrics.sessions(Protocol::Sftp),
        0,
        "the gauge went down"
    );
    assert_eq!(bench.limits.sessions_of("alice"), 0);
    assert!(bench.limits.sessions().list().is_empty());
}

#[tokio::test]
async fn dropping_a_session_logs_out_and_the_entry_stays_while_a_task_holds_it() {
    let bench = bench(|_| {});
    let admitted = bench.admitted("192.0.2.31:1");
    let logged_in = admitted
        .connection
        .log_in(&bench.identity("bob"))
        .await
        .unwrap();
    let held_by_a_task = logged_in.session.registration().clone();
    bench.events.take();
    drop(logged_in);
    let events = bench.events.take();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].action, Action::Logout);
    assert_eq!(bench.limits.sessions_of("bob"), 0);
    assert_eq!(bench.limits.sessions().list().len(), 1);
    drop(held_by_a_task);
    assert!(bench.limits.sessions().list().is_empty());
}

#[tokio::test]
async fn a_login_over_the_per_user_limit_is_refused_and_audited() {
    let bench = bench(|config| config.server.max_sessions_per_user = 1);
    let identity = bench.identity("carol");
    let first = bench.admitted("192.0.2.40:1");
    let _session = first.connection.log_in(&identity).await.unwrap();
    let second = bench.admitted("192.0.2.40:2");
    bench.events.take();
    let refused = second.connection.log_in(&identity).await.err().unwrap();
    assert!(matches!(
        refused,
        LoginRefused::Limit(LimitError::TooManySessionsForUser)
    ));
    let events = bench.events.take();
    assert_eq!(
        events.iter().map(summary).collect::<Vec<_>>(),
        vec![(
            Action::Login,
            Protocol::Sftp,
            "carol".to_owned(),
            "failed",
            Some(reason::LIMIT)
        )]
    );
    assert_eq!(bench.metrics.sessions(Protocol::Sftp), 1);
    assert_eq!(bench.limits.sessions().list().len(), 1);
    assert!(
        bench.limits.defender().list().is_empty(),
        "a limit is not the client's offence"
    );
}

#[tokio::test]
async fn a_login_whose_home_cannot_be_opened_is_refused_and_frees_the_slot() {
    let bench = bench(|_| {});
    let blocker = bench.temp.path().join("not-a-directory");
    std::fs::write(&blocker, b"x").unwrap();
    let mut identity = bench.identity("dave");
    identity.fs.root = blocker.join("home").into();
    let admitted = bench.admitted("192.0.2.50:1");
    let refused = admitted.connection.log_in(&identity).await.err().unwrap();
    assert!(matches!(refused, LoginRefused::HomeUnavailable(_)));
    let events = bench.events.take();
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].outcome.cause().map(|cause| cause.reason),
        Some(reason::HOME_UNAVAILABLE)
    );
    assert_eq!(bench.limits.sessions_of("dave"), 0);
    assert!(bench.limits.sessions().list().is_empty());
    assert_eq!(bench.metrics.sessions(Protocol::Sftp), 0);
}
