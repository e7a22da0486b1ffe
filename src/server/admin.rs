//! The admin socket: a Unix domain socket in `state_dir` through which `ferryd reload`,
//! `status`, `session` and `ban` talk to the running daemon (protocol in `admin_protocol.rs`).
//!
//! Rules: never a TCP port; the socket file is 0600 in the daemon's private state directory,
//! and each connection's peer uid (SO_PEERCRED) must be the daemon's own or root's, so file
//! modes are not the only guard. One request per connection, read with a size limit and a
//! timeout; at most a few connections at once. The socket is bound by `serve` before the
//! sandbox is applied (Landlock does not let the daemon create sockets later), and its file is
//! removed on a clean stop.
//!
//! Reloads are not run here: they are handed to the loop that also handles SIGHUP, so both
//! paths apply the same code one at a time, and the answer waits for the result.

use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot, Semaphore};

use super::addresses::BoundAddresses;
use super::admin_protocol::{
    encode_response, parse_request, BanRow, Request, Response, SessionRow, Status,
    MAX_REQUEST_BYTES,
};
use crate::config::Protocol;
use crate::services::Services;

/// The socket's file name inside `state_dir`.
pub const SOCKET_NAME: &str = "ferryd.sock";
/// How long a client may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a reload may take before the client is told it did not finish.
pub const RELOAD_TIMEOUT: Duration = Duration::from_secs(60);
/// Admin connections served at once; more are closed at once.
const MAX_CONNECTIONS: usize = 4;
/// The longest path `sockaddr_un` holds, terminating NUL excluded.
const MAX_SOCKET_PATH: usize = 107;

/// The admin socket of the daemon using `state_dir`.
pub fn socket_path(state_dir: &Path) -> PathBuf {
    state_dir.join(SOCKET_NAME)
}

/// Why the admin socket could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The path does not fit in a `sockaddr_un`.
    #[error("admin socket {0}: path longer than {MAX_SOCKET_PATH} bytes; use a shorter server.state_dir")]
    PathTooLong(PathBuf),
    /// Another process answers on the socket: most likely another ferryd with this config.
    #[error(
        "admin socket {path} is in use: another ferryd{} is running with this server.state_dir",
        pid.map(|pid| format!(" (pid {pid})")).unwrap_or_default()
    )]
    InUse {
        /// The socket path.
        path: PathBuf,
        /// The running daemon, from its pid file.
        pid: Option<i32>,
    },
    /// Creating the socket failed.
    #[error("admin socket {path}: {source}")]
    Io {
        /// The socket path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// A bound admin socket, not yet served; removes its file on drop.
#[derive(Debug)]
pub struct AdminSocket {
    listener: std::os::unix::net::UnixListener,
    file: SocketFile,
}

/// The socket file; removed on drop so a clean stop leaves no stale socket.
#[derive(Debug)]
pub(super) struct SocketFile(PathBuf);

impl Drop for SocketFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Whether `bind` could take `state_dir/ferryd.sock`, without changing anything: the path
/// fits, and no daemon answers on it. Also what `check-config` asks.
pub fn check(state_dir: &Path) -> Result<(), AdminError> {
    let path = socket_path(state_dir);
    if path.as_os_str().len() > MAX_SOCKET_PATH {
        return Err(AdminError::PathTooLong(path));
    }
    if std::fs::symlink_metadata(&path).is_ok()
        && std::os::unix::net::UnixStream::connect(&path).is_ok()
    {
        let pid = super::pid_file::running_pid(state_dir).ok();
        return Err(AdminError::InUse { path, pid });
    }
    Ok(())
}

/// Binds `state_dir/ferryd.sock` with mode 0600. A stale file from a crash is replaced; a live
/// socket means another daemon, which is refused.
pub fn bind(state_dir: &Path) -> Result<AdminSocket, AdminError> {
    check(state_dir)?;
    let path = socket_path(state_dir);
    let io = |source| AdminError::Io {
        path: path.clone(),
        source,
    };
    if std::fs::symlink_metadata(&path).is_ok() {
        std::fs::remove_file(&path).map_err(io)?;
    }
    let listener = std::os::unix::net::UnixListener::bind(&path).map_err(io)?;
    let file = SocketFile(path.clone());
    // The peer check below is the real guard; the mode keeps other users from even connecting.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    listener.set_nonblocking(true).map_err(io)?;
    Ok(AdminSocket { listener, file })
}

/// Whether a peer with uid `peer` may use the socket of a daemon running as `own`: the same
/// user, or root (who could read the daemon's memory anyway).
pub fn peer_allowed(peer: u32, own: u32) -> bool {
    peer == own || peer == 0
}

/// A reload asked for on the socket, and where its result goes.
pub type ReloadRequest = oneshot::Sender<Result<(), String>>;

/// What the handler needs from the server.
pub(super) struct Context {
    pub services: Services,
    pub addresses: BoundAddresses,
    pub started: Instant,
    pub reloads: mpsc::Sender<ReloadRequest>,
}

/// Starts serving the socket; returns the file guard for the server to keep.
pub(super) fn spawn(socket: AdminSocket, context: Context) -> std::io::Result<SocketFile> {
    let AdminSocket { listener, file } = socket;
    let listener = UnixListener::from_std(listener)?;
    tracing::info!(path = %file.0.display(), "admin socket ready");
    let shutdown = context.services.shutdown.clone();
    let context = Arc::new(context);
    // Not on the task tracker: the admin socket must not hold up a graceful shutdown.
    tokio::spawn(async move {
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        loop {
            let accepted = tokio::select! {
                () = shutdown.cancelled() => break,
                accepted = listener.accept() => accepted,
            };
            let stream = match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    tracing::warn!(%error, "admin socket: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                tracing::warn!("admin socket: too many connections at once; closing one");
                continue;
            };
            let context = context.clone();
            tokio::spawn(async move {
                serve(stream, &context).await;
                drop(slot);
            });
        }
    });
    Ok(file)
}

async fn serve(stream: UnixStream, context: &Context) {
    let own = rustix::process::geteuid().as_raw();
    let peer = match stream.peer_cred() {
        Ok(credentials) => credentials.uid(),
        Err(error) => {
            tracing::warn!(%error, "admin socket: cannot read the peer's credentials");
            return;
        }
    };
    let (read, mut write) = stream.into_split();
    let mut line = Vec::new();
    let limit = (MAX_REQUEST_BYTES + 1) as u64;
    let mut reader = BufReader::new(read.take(limit));
    if !peer_allowed(peer, own) {
        tracing::warn!(
            uid = peer,
            "admin socket: refused a connection from another user"
        );
        // Taken off the socket unread (never parsed): closing on unread data would reset the
        // connection, and the caller would see ECONNRESET instead of the reason.
        let drain = reader.read_until(b'\n', &mut line);
        let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
        let refusal = Response::Error {
            message: format!("permission denied: only uid {own} or root may use this socket"),
        };
        let _ = write.write_all(&encode_response(&refusal)).await;
        return;
    }
    let response =
        match tokio::time::timeout(REQUEST_TIMEOUT, reader.read_until(b'\n', &mut line)).await {
            Err(_) => Response::Error {
                message: "no request within the time limit".into(),
            },
            Ok(Err(error)) => {
                tracing::debug!(%error, "admin socket: read failed");
                return;
            }
            Ok(Ok(_)) => match parse_request(&line) {
                Ok(request) => answer(request, context).await,
                Err(error) => Response::Error {
                    message: error.to_string(),
                },
            },
        };
    let _ = tokio::time::timeout(
        REQUEST_TIMEOUT,
        write.write_all(&encode_response(&response)),
    )
    .await;
}

async fn answer(request: Request, context: &Context) -> Response {
    let services = &context.services;
    let limits = &services.limits;
    match request {
        Request::Reload => reload(context).await,
        Request::Status => Response::Status(status(context)),
        Request::SessionList => Response::Sessions {
            sessions: limits
                .sessions()
                .list()
                .into_iter()
                .map(|session| SessionRow {
                    id: session.id,
                    user: session.user,
                    protocol: session.protocol.as_str().to_owned(),
                    client: session.peer.to_string(),
                    since_unix: unix_seconds(session.since),
                    transfer: session.transfer,
                    bytes: session.bytes,
                })
                .collect(),
        },
        Request::SessionKick { id, user } => {
            let (count, whom) = match (id, user) {
                (Some(id), None) => (usize::from(limits.sessions().kick_id(id)), format!("c{id}")),
                (None, Some(user)) => (limits.sessions().kick_user(&user), format!("user {user}")),
                _ => {
                    return Response::Error {
                        message: "give either a session id or a user".into(),
                    }
                }
            };
            if count == 0 {
                return Response::Error {
                    message: format!("no session of {whom}"),
                };
            }
            tracing::info!(target: "ferryd::audit", event = "kick", sessions = count, target_sessions = %whom, "administrator ends sessions");
            Response::Done {
                message: format!("ended {count} session(s) of {whom}"),
            }
        }
        Request::BanList => Response::Bans {
            bans: limits
                .defender()
                .list()
                .into_iter()
                .map(|ban| BanRow {
                    address: ban.address.to_string(),
                    reason: ban.reason.as_str().to_owned(),
                    score: ban.score,
                    remaining_secs: ban.remaining.as_secs(),
                })
                .collect(),
        },
        Request::BanAdd { address, seconds } => {
            let address: IpAddr = address.to_canonical();
            match limits.defender().ban(address, Duration::from_secs(seconds)) {
                Ok(()) => Response::Done {
                    message: format!("banned {address} for {seconds} s"),
                },
                Err(error) => Response::Error {
                    message: error.to_string(),
                },
            }
        }
        Request::BanDel { address } => {
            if limits.defender().unban(address.to_canonical()) {
                Response::Done {
                    message: format!("lifted the ban of {address}"),
                }
            } else {
                Response::Error {
                    message: format!("{address} is not banned"),
                }
            }
        }
    }
}

async fn reload(context: &Context) -> Response {
    let (reply, result) = oneshot::channel();
    // Bounded as a whole: a reload already running (SIGHUP, another client) delays the hand-over.
    let verdict = tokio::time::timeout(RELOAD_TIMEOUT, async {
        context.reloads.send(reply).await.ok()?;
        result.await.ok()
    })
    .await;
    match verdict {
        Ok(Some(Ok(()))) => Response::Done {
            message: "configuration reloaded".into(),
        },
        Ok(Some(Err(reasons))) => Response::Error {
            message: format!("reload refused, the old configuration stays in use: {reasons}"),
        },
        Ok(None) => Response::Error {
            message: "the daemon is stopping".into(),
        },
        Err(_) => Response::Error {
            message: format!(
                "the reload did not finish within {} s; see the daemon's log",
                RELOAD_TIMEOUT.as_secs()
            ),
        },
    }
}

fn status(context: &Context) -> Status {
    let services = &context.services;
    let addresses = context.addresses;
    let listeners = [
        ("ftps", addresses.ftps_explicit),
        ("ftps-implicit", addresses.ftps_implicit),
        ("sftp", addresses.sftp),
        ("metrics", addresses.metrics),
    ]
    .into_iter()
    .filter_map(|(name, address)| Some((name.to_owned(), address?.to_string())))
    .collect();
    let sessions = Protocol::ALL
        .into_iter()
        .map(|protocol| {
            let count = services.limits.sessions().count(protocol);
            (protocol.as_str().to_owned(), count)
        })
        .collect();
    Status {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        pid: std::process::id(),
        uptime_secs: context.started.elapsed().as_secs(),
        listeners,
        sessions,
        connections: services.limits.active_connections(),
        bans: services.limits.defender().banned_count(),
    }
}

fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_daemons_own_user_and_root_may_connect() {
        assert!(peer_allowed(1000, 1000));
        assert!(peer_allowed(0, 1000));
        assert!(!peer_allowed(1001, 1000));
        assert!(!peer_allowed(65534, 0));
    }

    #[test]
    fn binding_makes_a_0600_socket_and_refuses_a_live_one_but_replaces_a_stale_one() {
        let dir = tempfile::tempdir().unwrap();
        let socket = bind(dir.path()).unwrap();
        let path = socket_path(dir.path());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(matches!(bind(dir.path()), Err(AdminError::InUse { .. })));
        // A crash leaves the file but nobody listening.
        std::mem::forget(socket.file);
        drop(socket.listener);
        let again = bind(dir.path()).unwrap();
        drop(again);
        assert!(!path.exists(), "the file goes with the socket");
    }
}
