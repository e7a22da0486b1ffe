//! `ferryd serve`: run the daemon until a stop signal.

use std::path::Path;

use anyhow::Context;

use crate::config::{Config, Protocol};
use crate::logging;
use crate::server::signals::{Request, Signals};
use crate::server::{
    admin, file_limit, pid_file, sandbox, systemd, PreparedServer, RunningServer, SandboxError,
    Server, StartError,
};

use super::failure::Failure;
use super::first_start;
use super::invocation::Invocation;

/// How often `systemctl status` learns the connection count.
const STATUS_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

pub(super) fn run(config_path: &Path, log_level: Option<&str>) -> Result<(), Failure> {
    let config = Config::load(config_path).map_err(Failure::config)?;
    // Before the sandbox, which may hide the PATH's directories.
    let invocation = Invocation::new(config_path, &config);
    logging::init(&config.log, log_level).map_err(Failure::config)?;
    report_file_limit(file_limit::raise(config.server.max_connections));
    // Sized now: once Landlock is on, the runtime could not read the cgroup CPU quota.
    let workers = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let mut prepared = Server::prepare(config).map_err(start_failure)?;
    prepared.bind_admin_socket().map_err(start_failure)?;
    // Before the runtime: see `server::sandbox` for why Landlock needs a single thread.
    let landlock = sandbox::restrict_files(prepared.config(), &prepared.user_dirs())
        .map_err(sandbox_failure)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .worker_threads(workers)
        .thread_name("ferryd")
        .build()
        .context("cannot start the async runtime")
        .map_err(|error| Failure::new(Failure::SOFTWARE, error))?;
    runtime.block_on(serve(prepared, landlock, invocation))
}

fn report_file_limit(outcome: Result<file_limit::FileLimit, rustix::io::Errno>) {
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

fn start_failure(error: StartError) -> Failure {
    let code = if error.is_configuration() {
        Failure::CONFIG
    } else {
        Failure::UNAVAILABLE
    };
    Failure::new(code, error)
}

fn sandbox_failure(error: SandboxError) -> Failure {
    let code = if error.is_configuration() {
        Failure::CONFIG
    } else {
        Failure::SOFTWARE
    };
    Failure::new(code, error)
}

async fn serve(
    prepared: PreparedServer,
    landlock: Option<String>,
    invocation: Invocation,
) -> Result<(), Failure> {
    let mut signals = Signals::install()
        .context("cannot install signal handlers")
        .map_err(|error| Failure::new(Failure::SOFTWARE, error))?;
    // The runtime's workers already exist, so the filter goes on every thread at once; before
    // `start`, so no connection is ever served unfiltered.
    let seccomp = sandbox::restrict_syscalls(prepared.config()).map_err(sandbox_failure)?;
    let mut server = prepared.start().await.map_err(start_failure)?;
    let mut admin_reloads = server.take_admin_reloads();
    match (&landlock, &seccomp) {
        (None, None) => tracing::warn!("sandbox off ([sandbox] in the config)"),
        _ => tracing::info!(
            landlock = landlock.as_deref().unwrap_or("off"),
            seccomp = seccomp.as_deref().unwrap_or("off"),
            "sandbox active"
        ),
    }
    let pid_file = pid_file::PidFile::create(&server.services().config().server.state_dir)
        .context("writing the pid file")
        .map_err(|error| Failure::new(Failure::CANT_CREATE, error))?;
    if let Some(user) = server.bootstrap_user() {
        first_start::print_help(user, server.addresses(), &invocation);
    }
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
    let status = {
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
    };
    loop {
        // SIGHUP and the admin socket's `reload` run the same code, one at a time; only the
        // socket has someone waiting for the result.
        let (request, waiting) = tokio::select! {
            request = signals.next() => (request, None),
            Some(reply) = next_admin_reload(&mut admin_reloads) => (Request::Reload, Some(reply)),
        };
        match request {
            Request::Stop => break,
            Request::Reload => {
                systemd::reloading();
                let result = server
                    .reload()
                    .map_err(|error| super::failure::error_chain(&error));
                if let Err(reasons) = &result {
                    tracing::error!("reload refused, keeping the running configuration: {reasons}");
                }
                systemd::reloaded(&status_line(&server));
                if let Some(reply) = waiting {
                    let _ = reply.send(result);
                }
            }
        }
    }
    tracing::info!("stopping: no new connections; waiting for running transfers");
    systemd::stopping();
    if let Some(watchdog) = watchdog {
        watchdog.abort();
    }
    status.abort();
    server.shutdown().await;
    drop(pid_file);
    Ok(())
}

/// The next reload asked for on the admin socket; pending forever without one.
async fn next_admin_reload(
    reloads: &mut Option<tokio::sync::mpsc::Receiver<admin::ReloadRequest>>,
) -> Option<admin::ReloadRequest> {
    match reloads {
        Some(receiver) => receiver.recv().await,
        None => std::future::pending().await,
    }
}

fn status_line(server: &RunningServer) -> String {
    format!(
        "serving; {} connection(s)",
        server.services().limits.active_connections()
    )
}
