//! A control session without sockets: a [`Context`] over a temporary home, driven through
//! `session::dispatch` as the control task would, with the replies it returns; [`server`] and
//! [`admit`] give the same server state to tests that run the control task itself.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::audit::Audit;
use crate::auth::{AuthMethod, Authenticator, Identity, LogObserver, UserDb, UserRecord};
use crate::config::{Config, Protocol};
use crate::key_material::certificate;
use crate::limits::{ConnectionLimits, ConnectionPermit};
use crate::metrics::Metrics;
use crate::services::Services;
use crate::session_core::{Admission, Admitted, SessionCore};
use crate::vfs::QuotaRegistry;

use super::super::context::{grants_write, Context, DataProtection, Login, Response, User};
use super::super::proto::{self};
use super::super::shared::Shared;
use super::super::tls::SessionTls;
use super::super::{session, FtpServer};

/// The password of the fixture's user `alice`.
pub const PASSWORD: &str = "correct horse";

pub struct Fixture {
    pub temp: tempfile::TempDir,
    pub session: Context,
    /// The connection slot the session core admitted the fixture's client with.
    _permit: ConnectionPermit,
}

/// What a command returned, flattened for assertions.
#[derive(Debug)]
pub enum Outcome {
    Reply(u16, String),
    Close(u16, String),
    StartTls(u16, DataProtection),
    Transfer(String),
}

impl Outcome {
    pub fn code(&self) -> u16 {
        match self {
            Outcome::Reply(code, _) | Outcome::Close(code, _) | Outcome::StartTls(code, _) => *code,
            Outcome::Transfer(_) => 150,
        }
    }

    pub fn text(&self) -> &str {
        match self {
            Outcome::Reply(_, text) | Outcome::Close(_, text) | Outcome::Transfer(text) => text,
            Outcome::StartTls(..) => "",
        }
    }
}

fn services(config: Config, temp: &tempfile::TempDir, users: UserDb) -> Services {
    let auth = Authenticator::new(users, temp.path().to_owned(), Arc::new(LogObserver));
    Services {
        limits: ConnectionLimits::new(&config.server, &config.defender),
        config: Arc::new(ArcSwap::from_pointee(config)),
        auth,
        quotas: QuotaRegistry::new(),
        audit: Audit::new(Vec::new()),
        hooks: crate::hooks::Hooks::none(),
        metrics: Metrics::new(),
        shutdown: CancellationToken::new(),
        abort: CancellationToken::new(),
        tasks: TaskTracker::new(),
    }
}

/// The shared state of an FTP server over a temporary data directory, in which `alice` may
/// log in with [`PASSWORD`]; TLS is not required unless `configure` says so.
pub fn server(configure: impl FnOnce(&mut Config)) -> (tempfile::TempDir, Arc<Shared>) {
    let temp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(temp.path().join("alice")).unwrap();
    let mut config = Config::default();
    config.ftps.require_tls = false;
    config.server.data_dir = temp.path().to_owned();
    configure(&mut config);
    let mut users = UserDb::new();
    let mut alice = UserRecord::named("alice").unwrap();
    alice.password = Some(crate::auth::password::cheap_hash_for_tests(PASSWORD));
    alice.home = Some(temp.path().join("alice"));
    users.add(alice).unwrap();
    let cert = temp.path().join("cert.pem");
    let key = temp.path().join("key.pem");
    certificate::generate(&cert, &key, &["localhost".to_owned()]).unwrap();
    let tls = certificate::load(&cert, &key).unwrap();
    let server = FtpServer::new(services(config, &temp, users), tls).unwrap();
    (temp, server.shared)
}

/// A connection of a client at `peer` to `local`, admitted by the session core.
pub fn admit(shared: &Shared, peer: SocketAddr, local: SocketAddr) -> Admitted {
    let core = SessionCore::from_services(&shared.services);
    let Admission::Admitted(admitted) = core.admit(Protocol::Ftps, peer, local) else {
        panic!("the fixture's client was refused");
    };
    admitted
}

impl Fixture {
    /// A plain (not yet TLS) session of a client at 127.0.0.1 over [`server`], not logged in.
    pub fn with(configure: impl FnOnce(&mut Config)) -> Fixture {
        Fixture::via(None, configure)
    }

    /// [`Fixture::with`], the connection relayed by a trusted proxy at `proxy` when set.
    pub fn via(proxy: Option<SocketAddr>, configure: impl FnOnce(&mut Config)) -> Fixture {
        let (temp, shared) = server(configure);
        let peer: SocketAddr = "127.0.0.1:50000".parse().unwrap();
        let local: SocketAddr = "127.0.0.1:21".parse().unwrap();
        let core = SessionCore::from_services(&shared.services);
        let Admission::Admitted(admitted) = core.admit_via(Protocol::Ftps, peer, proxy, local)
        else {
            panic!("the fixture's client was refused");
        };
        let tls_base = shared.tls_base();
        let tls = SessionTls::new(&tls_base, &shared.registry, peer.ip()).unwrap();
        let session = Context::new(shared, admitted.connection, tls, tls_base);
        Fixture {
            temp,
            session,
            _permit: admitted.permit,
        }
    }

    pub fn new() -> Fixture {
        Fixture::with(|_| {})
    }

    /// A session already logged in as `alice` (without running PASS), with `permissions`.
    pub async fn logged_in() -> Fixture {
        Fixture::logged_in_as(None).await
    }

    /// As [`Fixture::logged_in`], with the user's permissions replaced when given.
    pub async fn logged_in_as(permissions: Option<crate::vfs::PermissionRules>) -> Fixture {
        let mut fixture = Fixture::new();
        let record = UserRecord::named("alice").unwrap();
        let mut identity =
            Identity::from_record(&record, fixture.temp.path(), AuthMethod::Password);
        identity.fs.root = fixture.home().into();
        if let Some(permissions) = permissions {
            identity.fs.permissions = permissions;
        }
        let logged_in = fixture.session.connection.log_in(&identity).await;
        let logged_in = logged_in.unwrap_or_else(|_| panic!("alice could not log in"));
        fixture.session.login = Login::LoggedIn(Box::new(User {
            can_write: grants_write(&identity),
            identity,
            fs: logged_in.fs,
            session: logged_in.session,
        }));
        fixture
    }

    pub fn home(&self) -> PathBuf {
        self.temp.path().join("alice")
    }

    pub fn write(&self, relative: &str, data: &[u8]) {
        let path = self.home().join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, data).unwrap();
    }

    pub fn read(&self, relative: &str) -> Option<Vec<u8>> {
        std::fs::read(self.home().join(relative)).ok()
    }

    pub fn exists(&self, relative: &str) -> bool {
        std::fs::symlink_metadata(self.home().join(relative)).is_ok()
    }

    /// Sends one command line through the policy and the handler.
    pub async fn send(&mut self, line: &str) -> Outcome {
        let command = proto::parse(line.as_bytes()).unwrap();
        match session::dispatch(&mut self.session, command).await {
            Response::Reply(reply) => Outcome::Reply(code(&reply), reply.lines().join("\n")),
            Response::Close(reply) => Outcome::Close(code(&reply), reply.lines().join("\n")),
            Response::StartTls(reply, protection) => Outcome::StartTls(code(&reply), protection),
            Response::Transfer(transfer) => {
                Outcome::Transfer(transfer.preliminary.lines().join("\n"))
            }
        }
    }

    /// The reply code of one command.
    pub async fn code(&mut self, line: &str) -> u16 {
        self.send(line).await.code()
    }
}

fn code(reply: &super::super::proto::Reply) -> u16 {
    let bytes = reply.to_bytes();
    std::str::from_utf8(&bytes[..3]).unwrap().parse().unwrap()
}
