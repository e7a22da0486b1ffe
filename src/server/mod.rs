//! The daemon: start every listener from a `Config`, reload, and shut down gracefully.
//!
//! `Server::start` is the seam shared by `ferryd serve` and the integration tests: it prepares
//! the state (directories, users, certificates, host keys), binds every configured listener
//! (failing fast with the address in the error), spawns the accept loops and returns the bound
//! addresses, so tests can ask for port 0.

mod addresses;
pub mod admin;
pub mod admin_protocol;
mod bootstrap;
mod error;
mod file_limit;
mod key_plan;
mod leftovers;
pub mod lifecycle;
mod metrics_http;
mod object_storage;
pub mod pid_file;
mod preflight;
pub mod sandbox;
mod signals;
mod systemd;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::audit::{Audit, AuditSink, XferLog};
use crate::auth::{AuthEvent, AuthObserver, Authenticator, LogObserver, UserDb};
use crate::config::{Config, Protocol};
use crate::ftp;
use crate::hooks::{HookTable, Hooks};
use crate::key_material::{certificate, check_private_file};
use crate::limits::ConnectionLimits;
use crate::metrics::Metrics;
use crate::services::Services;
use crate::sftp;
use crate::vfs::{ObjectStores, QuotaRegistry};

pub use addresses::BoundAddresses;
pub use bootstrap::BootstrapUser;
pub use error::{one_line_chain, ReloadError, StartError};
pub use preflight::{preflight, Preflight};
pub use sandbox::SandboxError;

/// A started server.
pub struct RunningServer {
    addresses: BoundAddresses,
    services: Services,
    ftp: Option<ftp::FtpServer>,
    metrics: Metrics,
    transfer_log: Option<Arc<XferLog>>,
    bootstrap_user: Option<BootstrapUser>,
    admin_reloads: Option<mpsc::Receiver<admin::ReloadRequest>>,
    _admin_file: Option<admin::SocketFile>,
}

/// Entry point for starting the daemon.
pub struct Server;

impl Server {
    /// Prepares state, binds every listener and starts serving.
    pub async fn start(config: Config) -> Result<RunningServer, StartError> {
        Server::prepare(config)?.start().await
    }

    /// Everything `start` does that touches files other than logs and user data: directories,
    /// the users file, the bootstrap user, the certificate and host keys (generated when
    /// missing, refused when others may read them). Synchronous and thread-free, so `serve`
    /// can confine the process with Landlock before any thread exists (see `sandbox`).
    pub fn prepare(config: Config) -> Result<PreparedServer, StartError> {
        bootstrap::prepare_directories(&config)?;
        let mut users = bootstrap::load_users(&config)?;
        let bootstrap_user = bootstrap::ensure_bootstrap_user(&config, &mut users)?;
        let tls = key_plan::prepare_tls(&config)?;
        let keys = key_plan::prepare_host_keys(&config)?;
        let objects = object_storage::prepare(&config, &users)?;
        let hooks = HookTable::build(&config.hooks, &users).map_err(StartError::Hooks)?;
        Ok(PreparedServer {
            config,
            users,
            objects,
            hooks,
            hook_runner: None,
            bootstrap_user,
            tls,
            keys,
            admin: None,
        })
    }
}

/// A server whose files are loaded but which listens on nothing yet (see [`Server::prepare`]).
pub struct PreparedServer {
    config: Config,
    users: UserDb,
    bootstrap_user: Option<BootstrapUser>,
    tls: Option<certificate::CertifiedKey>,
    keys: Option<Vec<russh::keys::PrivateKey>>,
    /// The S3 buckets of object-storage homes and folders, clients built.
    objects: ObjectStores,
    admin: Option<admin::AdminSocket>,
    /// The hooks, their secrets read.
    hooks: HookTable,
    /// The socket to the hook runner, when `serve` started one.
    hook_runner: Option<std::os::unix::net::UnixStream>,
}

impl PreparedServer {
    /// Binds the admin socket (`state_dir/ferryd.sock`); `ferryd serve` does this before the
    /// sandbox, which forbids creating sockets. `check-config` and in-process tests skip it.
    pub fn bind_admin_socket(&mut self) -> Result<(), StartError> {
        self.admin = Some(admin::bind(&self.config.server.state_dir)?);
        Ok(())
    }

    /// Has hook commands run by the runner behind `socket` (`serve` under the sandbox).
    pub fn set_hook_runner(&mut self, socket: std::os::unix::net::UnixStream) {
        self.hook_runner = Some(socket);
    }

    /// The configuration it was prepared from.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The user directories known at start (homes and folders), for the sandbox's rules.
    pub fn user_dirs(&self) -> Vec<std::path::PathBuf> {
        leftovers::user_dirs(&self.users, &self.config.server.data_dir)
    }

    /// Binds every listener and starts serving.
    pub async fn start(self) -> Result<RunningServer, StartError> {
        let PreparedServer {
            config,
            users,
            bootstrap_user,
            tls,
            keys,
            objects,
            admin: admin_socket,
            hooks,
            hook_runner,
        } = self;
        let started = std::time::Instant::now();
        object_storage::probe_in_background(&objects, &config, &users);
        let metrics = Metrics::new();
        let transfer_log = match &config.log.transfer_log {
            Some(path) => Some(Arc::new(XferLog::open(path).map_err(|source| {
                StartError::Directory {
                    key: "log.transfer_log",
                    path: path.clone(),
                    source,
                }
            })?)),
            None => None,
        };
        let hooks = Hooks::new(hooks, &config.hooks, hook_runner, metrics.clone())
            .map_err(StartError::Hooks)?;
        if hooks.count() > 0 {
            tracing::info!(hooks = hooks.count(), "event hooks configured");
        }
        let mut sinks: Vec<Arc<dyn AuditSink>> =
            vec![Arc::new(metrics.clone()), Arc::new(hooks.clone())];
        if let Some(log) = &transfer_log {
            sinks.push(log.clone());
        }
        let limits = ConnectionLimits::new(&config.server, &config.defender);
        let observer = Arc::new(AuthObservers(vec![
            Arc::new(LogObserver),
            Arc::new(metrics.clone()),
        ]));
        let services = Services {
            auth: Authenticator::new(users, config.server.data_dir.clone(), observer),
            quotas: QuotaRegistry::with_object_stores(objects),
            limits,
            audit: Audit::new(sinks),
            hooks,
            metrics: metrics.clone(),
            shutdown: CancellationToken::new(),
            abort: CancellationToken::new(),
            tasks: TaskTracker::new(),
            config: Arc::new(ArcSwap::from_pointee(config.clone())),
        };

        let ftps = &config.ftps;
        let explicit = bind_if(ftps.enabled, ftps.listen, "ftps.listen").await?;
        let implicit = bind_if(ftps.enabled, ftps.implicit_listen, "ftps.implicit_listen").await?;
        let ssh = bind_if(config.sftp.enabled, config.sftp.listen, "sftp.listen").await?;
        let metrics_listener = bind_if(true, config.metrics.listen, "metrics.listen").await?;

        let mut addresses = BoundAddresses::default();
        let mut ftp_server = None;
        if let Some(tls) = tls {
            let server = ftp::FtpServer::new(services.clone(), tls).map_err(StartError::Ftp)?;
            if let Some(listener) = explicit {
                addresses.ftps_explicit = Some(local_address(&listener, "ftps.listen")?);
                server.spawn(listener, ftp::TlsMode::Explicit);
            }
            if let Some(listener) = implicit {
                addresses.ftps_implicit = Some(local_address(&listener, "ftps.implicit_listen")?);
                server.spawn(listener, ftp::TlsMode::Implicit);
            }
            ftp_server = Some(server);
        }
        if let (Some(keys), Some(listener)) = (keys, ssh) {
            addresses.sftp = Some(local_address(&listener, "sftp.listen")?);
            let server = sftp::SftpServer::new(services.clone(), keys).map_err(StartError::Sftp)?;
            server.spawn(listener);
        }
        if let Some(listener) = metrics_listener {
            let address = local_address(&listener, "metrics.listen")?;
            addresses.metrics = Some(address);
            tracing::info!(%address, "serving metrics at /metrics");
            metrics_http::spawn(
                listener,
                metrics.clone(),
                services.limits.defender().clone(),
                services.shutdown.clone(),
                &services.tasks,
            );
        }
        for (protocol, address) in [
            (Protocol::Ftps, addresses.ftps_explicit),
            (Protocol::Ftps, addresses.ftps_implicit),
            (Protocol::Sftp, addresses.sftp),
        ] {
            if let Some(address) = address {
                tracing::info!(%protocol, %address, "listening");
            }
        }
        let (mut admin_reloads, mut admin_file) = (None, None);
        if let Some(socket) = admin_socket {
            let (sender, receiver) = mpsc::channel(1);
            let context = admin::Context {
                services: services.clone(),
                addresses,
                started,
                reloads: sender,
            };
            let path = admin::socket_path(&config.server.state_dir);
            let file = admin::spawn(socket, context)
                .map_err(|source| StartError::Admin(admin::AdminError::Io { path, source }))?;
            admin_file = Some(file);
            admin_reloads = Some(receiver);
        }
        // After the listeners serve, so a big tree never delays READY.
        leftovers::spawn(&services);
        Ok(RunningServer {
            admin_reloads,
            _admin_file: admin_file,
            addresses,
            services,
            bootstrap_user,
            ftp: ftp_server,
            metrics,
            transfer_log,
        })
    }
}

impl RunningServer {
    /// The bound listener addresses.
    pub fn addresses(&self) -> BoundAddresses {
        self.addresses
    }

    /// The user created on this start because the users file was empty, with its password.
    pub fn bootstrap_user(&self) -> Option<&BootstrapUser> {
        self.bootstrap_user.as_ref()
    }

    /// The shared handles (for status reporting and tests).
    pub fn services(&self) -> &Services {
        &self.services
    }

    /// Reloads asked for on the admin socket, for the loop that also handles SIGHUP (taken
    /// once; `None` without an admin socket).
    pub fn take_admin_reloads(&mut self) -> Option<mpsc::Receiver<admin::ReloadRequest>> {
        self.admin_reloads.take()
    }

    /// The FTPS front end's counters (`None` when FTPS is off).
    pub fn ftp_stats(&self) -> Option<ftp::FtpStats> {
        self.ftp.as_ref().map(ftp::FtpServer::stats)
    }

    /// The server's metrics (also served on `[metrics] listen`).
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Re-reads the config file, the users file and the TLS certificate. Running sessions keep
    /// what they started with; on any error nothing changes. Listener addresses are not
    /// re-bound: changing them needs a restart, which is logged.
    pub fn reload(&self) -> Result<(), ReloadError> {
        let current = self.services.config();
        let new = match &current.source {
            Some(path) => Config::load(path)?,
            None => (*current).clone(),
        };
        // A users file that vanished is more likely a mistake than a wish to lock everyone out.
        let users = UserDb::load_existing(&new.auth.users_file)?;
        check_private_file("auth.users_file", &new.auth.users_file)?;
        object_storage::buckets_in_use(&new, &users)
            .map_err(|error| ReloadError::ObjectStorage(error.to_string()))?;
        let hooks = HookTable::build(&new.hooks, &users)?;
        let tls = match &self.ftp {
            Some(_) => {
                let tls = certificate::load(&new.ftps.cert, &new.ftps.key)?;
                check_private_file("ftps.key", &new.ftps.key)?;
                Some(tls)
            }
            None => None,
        };
        if new.ftps.listen != current.ftps.listen
            || new.ftps.implicit_listen != current.ftps.implicit_listen
            || new.sftp.listen != current.sftp.listen
        {
            tracing::warn!("listen addresses changed; they take effect after a restart");
        }
        if new.sandbox != current.sandbox {
            tracing::warn!("[sandbox] changed; it takes effect after a restart");
        }
        if new.s3 != current.s3 {
            tracing::warn!("[s3] changed; it takes effect after a restart");
        }
        let bounds =
            |hooks: &crate::config::HooksConfig| (hooks.queue, hooks.max_running, hooks.retries);
        if bounds(&new.hooks) != bounds(&current.hooks) {
            tracing::warn!("[hooks] changed; it takes effect after a restart ([[hook]]s now)");
        }
        let user_count = users.len();
        self.services.auth.replace_users(users);
        self.services.hooks.replace(hooks);
        self.services.limits.update(&new.server);
        self.services.limits.defender().update(&new.defender);
        if let (Some(ftp), Some(tls)) = (&self.ftp, tls) {
            tracing::info!(fingerprint = %tls.fingerprint(), "TLS certificate loaded");
            ftp.reload_certificate(tls).map_err(ReloadError::Ftp)?;
        }
        if let Some(log) = &self.transfer_log {
            log.reopen();
        }
        self.services.config.store(Arc::new(new));
        tracing::info!(users = user_count, "configuration reloaded");
        Ok(())
    }

    /// Stops accepting, lets running transfers finish for up to the configured grace time,
    /// then cuts what is left and waits for every session task to end.
    pub async fn shutdown(self) {
        let grace = self.services.config().server.shutdown_grace;
        self.shutdown_with_grace(grace).await;
    }

    /// `shutdown` with an explicit grace time.
    pub async fn shutdown_with_grace(self, grace: Duration) {
        let services = self.services;
        services.shutdown.cancel();
        services.tasks.close();
        if tokio::time::timeout(grace, services.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                remaining = services.tasks.len(),
                "grace time over; closing remaining sessions"
            );
            services.abort.cancel();
            // Sessions observe the abort token at their next await point; this bound only
            // guards against a task stuck in a blocking call.
            let _ = tokio::time::timeout(Duration::from_secs(5), services.tasks.wait()).await;
        }
        tracing::info!("stopped");
    }
}

async fn bind_if(
    enabled: bool,
    address: Option<SocketAddr>,
    key: &'static str,
) -> Result<Option<TcpListener>, StartError> {
    let Some(address) = address.filter(|_| enabled) else {
        return Ok(None);
    };
    match TcpListener::bind(address).await {
        Ok(listener) => Ok(Some(listener)),
        Err(source) => Err(StartError::Bind {
            key,
            address,
            source,
        }),
    }
}

fn local_address(listener: &TcpListener, key: &'static str) -> Result<SocketAddr, StartError> {
    listener.local_addr().map_err(|source| StartError::Bind {
        key,
        address: SocketAddr::from(([0, 0, 0, 0], 0)),
        source,
    })
}

/// Hands every login outcome to the log and the metrics (the defender hears of failures from
/// the session core, which the front ends report each login to).
struct AuthObservers(Vec<Arc<dyn AuthObserver>>);

impl AuthObserver for AuthObservers {
    fn on_auth(&self, event: &AuthEvent) {
        for observer in &self.0 {
            observer.on_auth(event);
        }
    }
}
