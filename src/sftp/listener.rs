//! The accept loop and the life of one SSH connection around russh's `run_stream`.
//!
//! russh has no pre-auth deadline, per-IP limit or graceful drain, so they live here:
//!
//! - from a trusted proxy the PROXY protocol header is read first (`proxy_protocol`; without
//!   a valid one the connection is closed), and its client is the connection's client;
//! - the session core admits the connection (defender, total and per-address limits) before
//!   any cryptography; a refused client gets a cleartext SSH_MSG_DISCONNECT with the reason,
//!   which OpenSSH shows to the user;
//! - a login timer disconnects clients not authenticated within `server.login_timeout`;
//! - on shutdown, unauthenticated connections are closed at once and logged-in ones once their
//!   SFTP sessions have finished the requests they had received; on abort everything is cut.
//!
//! - an idle timer disconnects, with the reason "idle timeout", a client that sent nothing for
//!   `server.idle_timeout` (`idle`: russh's own timer would close the socket without a word).
//!
//! `Config::nodelay` is applied here too: russh only honours it in its own accept loop
//! (`run_on_socket`), never in `run_stream`, which takes any stream.

use std::sync::Arc;
use std::time::Duration;

use russh::Disconnect;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument as _;

use super::idle::{self, ClientActivity, Watched};
use super::ssh::SshHandler;
use crate::config::{Protocol, ProxyListener};
use crate::proxy_protocol::Origin;
use crate::services::Services;
use crate::session_core::{Admission, Admitted, Refusal, SessionCore};

/// Pause after a failed accept (usually EMFILE), so a full descriptor table is not a busy loop.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// How long a closing connection may take to say goodbye before it is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// `SSH_DISCONNECT_TOO_MANY_CONNECTIONS` (RFC 4253 §11.1).
const TOO_MANY_CONNECTIONS: u32 = 12;

/// Accepts connections until `services.shutdown` is cancelled.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    services: Services,
    ssh_config: Arc<russh::server::Config>,
) {
    let core = SessionCore::from_services(&services);
    loop {
        let accepted = tokio::select! {
            () = services.shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                disable_nagle(&stream, &ssh_config);
                let task = admit(
                    stream,
                    peer,
                    core.clone(),
                    services.clone(),
                    ssh_config.clone(),
                );
                services.tasks.spawn(task);
            }
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
    tracing::debug!("sftp listener stopped");
}

/// Learns who the client is (a trusted proxy's header is read here, in the connection's own
/// task, so a slow proxy holds up nobody else), then serves or turns it away.
async fn admit(
    mut stream: TcpStream,
    peer: std::net::SocketAddr,
    core: SessionCore,
    services: Services,
    ssh_config: Arc<russh::server::Config>,
) {
    let local = stream.local_addr().unwrap_or(peer);
    let proxy_config = services.config().proxy_protocol.clone();
    let origin = match Origin::resolve(&proxy_config, ProxyListener::Sftp, peer, &mut stream).await
    {
        Ok(origin) => origin,
        Err(error) => {
            tracing::warn!(%peer, %error, "connection from a trusted proxy closed");
            return;
        }
    };
    match core.admit_via(Protocol::Sftp, origin.client, origin.proxy, local) {
        Admission::Admitted(admitted) => {
            let span = admitted.connection.span().clone();
            serve(stream, admitted, services, ssh_config)
                .instrument(span)
                .await;
        }
        Admission::Refused(refused) => {
            turn_away(stream, refused.reason)
                .instrument(refused.span)
                .await;
        }
    }
}

/// Turns Nagle's algorithm off when the SSH config asks for it (it always does, see
/// `algorithms`). With Nagle on, russh's immediate WINDOW_ADJUST and our SFTP status reply
/// leave as two small segments, and the second waits for the ACK of the first; libssh2 (curl)
/// sends nothing while it waits for that reply, so the ACK comes only with the client's
/// delayed-ACK timer: ~40 ms per write round trip, an upload at ~2 MB/s instead of ~100.
fn disable_nagle(stream: &TcpStream, ssh_config: &russh::server::Config) {
    if !ssh_config.nodelay {
        return;
    }
    if let Err(error) = stream.set_nodelay(true) {
        // Only slower, never wrong: the connection is served anyway.
        tracing::warn!(%error, "could not set TCP_NODELAY");
    }
}

/// Logs why the session core refused a connection and tells the client.
async fn turn_away(stream: TcpStream, refusal: Refusal) {
    if refusal.is_ban() {
        // A banned address was logged once when its ban started; not per connection.
        tracing::debug!(error = %refusal, "connection refused");
    } else {
        tracing::info!(error = %refusal, "connection refused");
    }
    refuse(stream, &refusal.to_string()).await;
}

/// Serves an admitted connection; its permit holds the connection slot until this returns.
async fn serve(
    stream: TcpStream,
    admitted: Admitted,
    services: Services,
    ssh_config: Arc<russh::server::Config>,
) {
    let Admitted {
        connection,
        permit: _permit,
    } = admitted;
    tracing::debug!("connection accepted");
    let activity = ClientActivity::new();
    let stream = Watched::new(stream, activity.clone());
    let idle_timeout = services.config().server.idle_timeout;
    let login_deadline = Instant::now() + services.config().server.login_timeout;
    let (login_tx, mut login_rx) = oneshot::channel();
    let sessions = TaskTracker::new();
    let handler = SshHandler::new(services.clone(), connection, login_tx, sessions.clone());
    // Boxed: the handshake's future is the largest this task awaits, and inline it would size
    // the task of every connection for as long as it lasts (2.6 KiB of an idle session's).
    let handshake = Box::pin(russh::server::run_stream(ssh_config, stream, handler));
    let started = tokio::select! {
        started = tokio::time::timeout_at(login_deadline, handshake) => started,
        () = services.shutdown.cancelled() => return,
    };
    let mut running = match started {
        Ok(Ok(running)) => running,
        Ok(Err(error)) => {
            tracing::debug!(%error, "ssh handshake failed");
            return;
        }
        Err(_) => {
            tracing::info!("no SSH identification before the login timeout");
            return;
        }
    };
    let handle = running.handle();
    let deadline = tokio::time::sleep_until(login_deadline);
    tokio::pin!(deadline);
    let idle = idle::idle_for(&activity, idle_timeout);
    tokio::pin!(idle);
    let (mut logged_in, mut stopping) = (false, false);
    let mut kick: Option<CancellationToken> = None;
    let goodbye = loop {
        tokio::select! {
            result = &mut running => {
                match result {
                    Ok(()) => tracing::debug!("connection closed"),
                    Err(error) => tracing::info!(%error, "connection ended"),
                }
                return;
            }
            signal = &mut login_rx, if !logged_in => {
                // An error means the handler is gone: the session is ending anyway.
                logged_in = true;
                match signal {
                    Ok(token) => kick = Some(token),
                    Err(_) => tracing::debug!("handler dropped before login"),
                }
            }
            () = kicked(kick.as_ref()) => {
                tracing::info!("session ended by the administrator");
                break "session closed by the server's administrator";
            }
            () = &mut deadline, if !logged_in => {
                tracing::info!("login timeout");
                break "login timeout";
            }
            () = &mut idle => {
                tracing::info!("idle timeout");
                break "idle timeout";
            }
            () = services.shutdown.cancelled(), if !stopping => {
                stopping = true;
                sessions.close();
            }
            () = sessions.wait(), if stopping => break "server shutting down",
            () = services.abort.cancelled() => break "server shutting down",
        }
    };
    let description = goodbye.to_owned();
    let disconnect = handle.disconnect(Disconnect::ByApplication, description, "en".to_owned());
    let _ = tokio::time::timeout(CLOSE_GRACE, disconnect).await;
    let _ = tokio::time::timeout(CLOSE_GRACE, &mut running).await;
}

/// Completes when an administrator kicks the session; pending forever before login.
async fn kicked(kick: Option<&CancellationToken>) {
    match kick {
        Some(token) => token.cancelled().await,
        None => std::future::pending().await,
    }
}

/// Tells a client over the connection limit why, without spending a key exchange on it: our
/// identification line, then SSH_MSG_DISCONNECT in the clear (allowed before the first
/// NEWKEYS, RFC 4253 §6), then a short drain so the close does not turn into a reset.
async fn refuse(mut stream: TcpStream, reason: &str) {
    let mut bytes = b"SSH-2.0-ferryd\r\n".to_vec();
    bytes.extend_from_slice(&disconnect_packet(TOO_MANY_CONNECTIONS, reason));
    let farewell = async {
        stream.write_all(&bytes).await?;
        stream.shutdown().await?;
        // On the heap: an array here would grow every connection's task by 4 KiB, refused or not.
        let mut sink = vec![0u8; 4096];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<(), std::io::Error>(())
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), farewell).await;
}

/// An unencrypted binary packet (RFC 4253 §6) carrying SSH_MSG_DISCONNECT.
fn disconnect_packet(reason_code: u32, description: &str) -> Vec<u8> {
    const SSH_MSG_DISCONNECT: u8 = 1;
    let mut payload = vec![SSH_MSG_DISCONNECT];
    payload.extend_from_slice(&reason_code.to_be_bytes());
    payload.extend_from_slice(&(description.len() as u32).to_be_bytes());
    payload.extend_from_slice(description.as_bytes());
    payload.extend_from_slice(&0u32.to_be_bytes());
    // Padding of at least 4 bytes bringing length field + padding length + payload + padding
    // to a multiple of 8.
    let unpadded = 4 + 1 + payload.len();
    let padding = 4 + (8 - (unpadded + 4) % 8) % 8;
    let packet_length = 1 + payload.len() + padding;
    let mut packet = Vec::with_capacity(4 + packet_length);
    packet.extend_from_slice(&(packet_length as u32).to_be_bytes());
    packet.push(padding as u8);
    packet.extend_from_slice(&payload);
    packet.resize(packet.len() + padding, 0);
    packet
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disconnect_packet_is_block_aligned_with_enough_padding() {
        for reason in ["", "x", "too many connections from your address"] {
            let packet = disconnect_packet(TOO_MANY_CONNECTIONS, reason);
            assert_eq!(packet.len() % 8, 0, "{reason:?}");
            let length = u32::from_be_bytes(packet[..4].try_into().unwrap()) as usize;
            assert_eq!(length + 4, packet.len());
            assert!(packet[4] >= 4);
            assert_eq!(packet[5], 1);
        }
    }
}
