//! The daemon's life as `ferryd serve` runs it: confine, start, serve until asked to stop,
//! reload on request, drain on the way out.
//!
//! The order is the point of this module. Before any thread exists ([`confine`]): raise the
//! open-file limit, prepare the server's files, bind the admin socket and apply Landlock (which
//! only confines a single-threaded process, see `sandbox`). Then, on the runtime
//! ([`Confined::start`]): install the signal handlers before anything can be announced, apply
//! seccomp to every worker before the first listener is bound, start the server and write the
//! pid file. [`Daemon::run`] tells systemd the service is ready and waits: SIGTERM or SIGINT
//! stop it, SIGHUP and the admin socket's `reload` reload it, one at a time, through the same
//! code. A refused reload keeps the running configuration; a stop drains the sessions within
//! `server.shutdown_grace` and removes the pid file.

use std::time::Duration;

use tokio::sync::mpsc;

use crate::config::{Config, Protocol};
use crate::hooks::RunnerProcess;

use super::admin::ReloadRequest;
use super::pid_file::PidFile;
use super::signals::{Request, Signals};
use super::{
    file_limit, one_line_chain, sandbox, systemd, PreparedServer, RunningServer, SandboxError,
    Server, StartError,
};

/// How often `systemctl status` learns the connection count.
const STATUS_INTERVAL: Duration = Duration::from_secs(10);

/// Why the daemon could not get to serving.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// Preparing, binding or starting the server failed.
    #[error(transparent)]
    Start(#[from] StartError),
    /// The sandbox could not be applied.
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    /// The async runtime could not be built.
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),
    /// The signal handlers could not be installed.
    #[error("cannot install signal handlers")]
    Signals(#[source] std::io::Error),
    /// The pid file could not be written.
    #[error("writing the pid file")]
    PidFile(#[source] std::io::Error),
    /// The hook runner could not be started.
    #[error("cannot start the hook runner")]
    HookRunner(#[source] std::io::Error),
}

/// A prepared server in a process Landlock already confines, waiting for its runtime.
pub struct Confined {
    prepared: PreparedServer,
    landlock: Option<String>,
    workers: usize,
}

/// Everything `serve` does before the runtime's threads exist; call it from the main thread.
pub fn confine(config: Config) -> Result<Confined, DaemonError> {
    log_file_limit(file_limit::raise(config.server.max_connections));
    // Sized now: once Landlock is on, the runtime could not read the cgroup CPU quota.
    let workers = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let mut prepared = Server::prepare(config)?;
    prepared.bind_admin_socket()?;
    start_hook_runner(&mut prepared)?;
    let landlock = sandbox::restrict_files(prepared.config(), &prepared.user_dirs())?;
    Ok(Confined {
        prepared,
        landlock,
        workers,
    })
}

/// Under the sandbox, hook commands are run by a runner process started now, before the
/// process confines itself (see `hooks::runner`); without it they run in-process.
fn start_hook_runner(prepared: &mut PreparedServer) -> Result<(), DaemonError> {
    let config = prepared.config();
    let Some(source) = config.source.clone().filter(|_| config.sandbox.enabled) else {
        return Ok(());
    };
    let (runner, socket) = RunnerProcess::spawn(&source).map_err(DaemonError::HookRunner)?;
    tracing::info!(
        pid = runner.id(),
        "hook runner started (hook commands run outside the sandbox)"
    );
    prepared.set_hook_runner(socket);
    Ok(())
}

impl Confined {
    /// The multi-threaded runtime the daemon runs on, sized before Landlock was applied.
    pub fn runtime(&self) -> Result<tokio::runtime::Runtime, DaemonError> {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .worker_threads(self.workers)
            .thread_name("ferryd")
            .build()
            .map_err(DaemonError::Runtime)
    }

    /// Starts serving (on the runtime from [`Confined::runtime`]); readiness is announced by
    /// [`Daemon::run`], so the caller may print first-start help in between.
    pub async fn start(self) -> Result<Daemon, DaemonError> {
        let Confined {
            prepared, landlock, ..
        } = self;
        let signals = Signals::install().map_err(DaemonError::Signals)?;
        // The runtime's workers already exist, so the filter goes on every thread at once;
        // before `start`, so no connection is ever served unfiltered.
        let seccomp = sandbox::restrict_syscalls(prepared.config())?;
        let mut server = prepared.start().await?;
        let admin_reloads = server.take_admin_reloads();
        match (&landlock, &seccomp) {
            (None, None) => tracing::warn!("sandbox off ([sandbox] in the config)"),
            _ => tracing::info!(
                landlock = landlock.as_deref().unwrap_or("off"),
                seccomp = seccomp.as_deref().unwrap_or("off"),
                "sandbox active"
            ),
        }
        let pid_file = PidFile::create(&server.services().config().server.state_dir)
            .map_err(DaemonError::PidFile)?;
        Ok(Daemon {
            server,
            signals,
            admin_reloads,
            pid_file,
        })
    }
}

/// A serving daemon that has not announced readiness yet.
pub struct Daemon {
    server: RunningServer,
    signals: Signals,
    admin_reloads: Option<mpsc::Receiver<ReloadRequest>>,
    pid_file: PidFile,
}

impl Daemon {
    /// The running server (bound addresses, the bootstrap user).
    pub fn server(&self) -> &RunningServer {
        &self.server
    }

    /// Announces readiness, serves until SIGTERM or SIGINT, then drains and stops.
    pub async fn run(self) {
        let Daemon {
            server,
            mut signals,
            mut admin_reloads,
            pid_file,
        } = self;
        systemd::ready(&status_line(&server));
        let watchdog = systemd::watchdog_interval().map(|interval| {
            tokio::spawn(async move {
                let mut ticker = tokio::time::interval(interval);
                loop {
                    ticker.tick().await;
                    systemd::watchdog();
                }
            })
        });
        let status = spawn_status_reports(&server);
        serve_requests(&server, &mut signals, &mut admin_reloads).await;
        tracing::info!("stopping: no new connections; waiting for running transfers");
        systemd::stopping();
        if let Some(watchdog) = watchdog {
            watchdog.abort();
        }
        status.abort();
        server.shutdown().await;
        drop(pid_file);
    }
}

/// Where stop and reload requests come from: the process's signals, or a test.
trait Requests {
    /// The next request; pending until there is one.
    async fn next_request(&mut self) -> Request;
}

impl Requests for Signals {
    async fn next_request(&mut self) -> Request {
        self.next().await
    }
}

/// Handles reloads until a stop is asked for. SIGHUP and the admin socket's `reload` run the
/// same code, one at a time; only the socket has someone waiting for the result.
async fn serve_requests(
    server: &RunningServer,
    requests: &mut impl Requests,
    admin_reloads: &mut Option<mpsc::Receiver<ReloadRequest>>,
) {
    loop {
        let (request, waiting) = tokio::select! {
            request = requests.next_request() => (request, None),
            Some(reply) = next_admin_reload(admin_reloads) => (Request::Reload, Some(reply)),
        };
        match request {
            Request::Stop => return,
            Request::Reload => {
                let result = reload(server);
                if let Some(reply) = waiting {
                    // The admin client may have given up waiting; the reload stands anyway.
                    let _ = reply.send(result);
                }
            }
        }
    }
}

/// One reload, told to systemd; the reasons of a refusal as one line for the admin client.
fn reload(server: &RunningServer) -> Result<(), String> {
    systemd::reloading();
    let result = server.reload().map_err(|error| one_line_chain(&error));
    if let Err(reasons) = &result {
        tracing::error!("reload refused, keeping the running configuration: {reasons}");
    }
    systemd::reloaded(&status_line(server));
    result
}

/// The next reload asked for on the admin socket; pending forever without one.
async fn next_admin_reload(
    reloads: &mut Option<mpsc::Receiver<ReloadRequest>>,
) -> Option<ReloadRequest> {
    match reloads {
        Some(receiver) => receiver.recv().await,
        None => std::future::pending().await,
    }
}

fn spawn_status_reports(server: &RunningServer) -> tokio::task::JoinHandle<()> {
    let limits = server.services().limits.clone();
    let metrics = server.metrics().clone();
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(STATUS_INTERVAL);
        loop {
            ticker.tick().await;
            systemd::status(&format!(
                "serving; {} connection(s), {} FTPS and {} SFTP session(s)",
                limits.active_connections(),
                metrics.sessions(Protocol::Ftps),
                metrics.sessions(Protocol::Sftp),
            ));
        }
    })
}

fn status_line(server: &RunningServer) -> String {
    format!(
        "serving; {} connection(s)",
        server.services().limits.active_connections()
    )
}

fn log_file_limit(outcome: Result<file_limit::FileLimit, rustix::io::Errno>) {
    let show = |limit: Option<u64>| limit.map_or_else(|| "unlimited".to_owned(), |n| n.to_string());
    match outcome {
        Ok(limit) => {
            if limit.now != limit.was {
                tracing::info!(
                    from = %show(limit.was),
                    to = %show(limit.now),
                    "open-file limit raised to the hard limit"
                );
            }
            if let Some(connections) = limit.short_for {
                tracing::warn!(
                    limit = %show(limit.now),
                    max_connections = connections,
                    "the open-file limit may not carry max_connections busy sessions; raise \
                     LimitNOFILE= (systemd) or the hard limit (ulimit -Hn)"
                );
            }
        }
        Err(error) => tracing::warn!(%error, "cannot raise the open-file limit"),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use tokio::sync::oneshot;

    use super::*;
    use crate::auth::UserDb;

    impl Requests for mpsc::UnboundedReceiver<Request> {
        async fn next_request(&mut self) -> Request {
            match self.recv().await {
                Some(request) => request,
                None => std::future::pending().await,
            }
        }
    }

    /// Long on the paused clock, which only moves when every task waits: a loop that never
    /// ends fails the test at once instead of hanging it.
    const NEVER: Duration = Duration::from_secs(3600);

    fn write_config(dir: &Path, max_connections: u32) -> std::path::PathBuf {
        let path = dir.join("ferryd.toml");
        let text = format!(
            "[server]\ndata_dir = \"{dir}/data\"\nstate_dir = \"{dir}/state\"\n\
             max_connections = {max_connections}\n\n[ftps]\nenabled = false\n\n\
             [sftp]\nenabled = false\n",
            dir = dir.display()
        );
        std::fs::write(&path, text).unwrap();
        path
    }

    /// A server with no listeners, whose config file is `dir/ferryd.toml`.
    async fn server_in(dir: &Path) -> RunningServer {
        let config = Config::load(&write_config(dir, 50)).unwrap();
        std::fs::create_dir_all(&config.server.state_dir).unwrap();
        UserDb::new().save(&config.auth.users_file).unwrap();
        Server::start(config).await.unwrap()
    }

    fn max_connections(server: &RunningServer) -> usize {
        server.services().config().server.max_connections
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_request_ends_the_loop() {
        let dir = tempfile::tempdir().unwrap();
        let server = server_in(dir.path()).await;
        let (requests, mut receiver) = mpsc::unbounded_channel();
        requests.send(Request::Stop).unwrap();
        tokio::time::timeout(NEVER, serve_requests(&server, &mut receiver, &mut None))
            .await
            .expect("the loop ends on Stop");
        server.shutdown_with_grace(Duration::from_secs(1)).await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_admin_reload_keeps_the_running_config_and_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let server = server_in(dir.path()).await;
        let config_path = dir.path().join("ferryd.toml");
        std::fs::write(&config_path, "[server]\nmax_connections = \"many\"\n").unwrap();
        let (requests, mut receiver) = mpsc::unbounded_channel();
        let (admin, admin_receiver) = mpsc::channel(1);
        let mut admin_reloads = Some(admin_receiver);
        let client = async {
            let (reply, answer) = oneshot::channel();
            admin.send(reply).await.unwrap();
            let refused = answer.await.unwrap();
            requests.send(Request::Stop).unwrap();
            refused
        };
        let (refused, ()) = tokio::time::timeout(NEVER, async {
            tokio::join!(
                client,
                serve_requests(&server, &mut receiver, &mut admin_reloads)
            )
        })
        .await
        .expect("the reload is answered and the loop ends");
        let reasons = refused.unwrap_err();
        assert!(reasons.contains("max_connections"), "{reasons}");
        assert_eq!(max_connections(&server), 50);
        server.shutdown_with_grace(Duration::from_secs(1)).await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_signalled_reload_applies_the_new_config_and_the_loop_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let server = server_in(dir.path()).await;
        write_config(dir.path(), 70);
        let (requests, mut receiver) = mpsc::unbounded_channel();
        requests.send(Request::Reload).unwrap();
        requests.send(Request::Stop).unwrap();
        tokio::time::timeout(NEVER, serve_requests(&server, &mut receiver, &mut None))
            .await
            .expect("the loop reloads, then ends on Stop");
        assert_eq!(max_connections(&server), 70);
        server.shutdown_with_grace(Duration::from_secs(1)).await;
    }
}
