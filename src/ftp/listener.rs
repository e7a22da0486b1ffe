//! The accept loop of one FTPS listener: admission by the session core at accept (a refusal
//! becomes a `421`), one control task per connection on the server's task tracker, and a
//! clean stop on shutdown.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tracing::Instrument;

use crate::config::Protocol;
use crate::session_core::{Admission, Refusal, SessionCore};

use super::control;
use super::errors;
use super::shared::{Shared, TlsMode};

/// Accepts until `services.shutdown` is cancelled.
pub async fn accept_loop(shared: Arc<Shared>, listener: TcpListener, mode: TlsMode) {
    let shutdown = shared.services.shutdown.clone();
    let core = SessionCore::from_services(&shared.services);
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // EMFILE and friends: back off so the loop does not spin.
                tracing::warn!(%error, "accepting an FTPS connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let local = match stream.local_addr() {
            Ok(local) => local,
            Err(error) => {
                tracing::debug!(%error, "connection closed before it was set up");
                continue;
            }
        };
        match core.admit(Protocol::Ftps, peer, local) {
            Admission::Admitted(admitted) => {
                let span = admitted.connection.span().clone();
                let task = control::serve(shared.clone(), stream, admitted, mode);
                shared.services.tasks.spawn(task.instrument(span));
            }
            Admission::Refused(refused) => {
                shared
                    .services
                    .tasks
                    .spawn(refuse(stream, refused.reason, mode).instrument(refused.span));
            }
        }
    }
    tracing::debug!("FTPS listener stopped accepting");
}

/// Says why and closes. Implicit-TLS clients expect a handshake, not text: just close.
async fn refuse(mut stream: TcpStream, refusal: Refusal, mode: TlsMode) {
    let reply = errors::limit_reply(refusal.into());
    if mode == TlsMode::Explicit {
        let bytes = reply.to_bytes();
        let _ = tokio::time::timeout(Duration::from_secs(5), stream.write_all(&bytes)).await;
    }
    let _ = stream.shutdown().await;
}
