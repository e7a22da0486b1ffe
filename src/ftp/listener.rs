//! The accept loop of one FTPS listener: one task per connection on the server's task
//! tracker, which reads the PROXY protocol header when the peer is a trusted proxy
//! (`proxy_protocol`; no header, or a bad one, closes the connection), asks the session core to
//! admit the client (a refusal becomes a `421`) and runs the control connection; and a clean
//! stop on shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::OptionFuture;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tracing::instrument::Instrumented;
use tracing::Instrument;

use crate::config::{Protocol, ProxyListener};
use crate::proxy_protocol::Origin;
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
        let task = admit(Box::new(Accepted {
            shared: shared.clone(),
            core: core.clone(),
            stream,
            peer,
            local,
            mode,
        }));
        shared.services.tasks.spawn(task);
    }
    tracing::debug!("FTPS listener stopped accepting");
}

/// What the accept loop hands a connection's task. Boxed: the arguments of an async fn stay in
/// its future for as long as it lasts (rustc keeps them apart from the locals they are moved
/// into), and this task lasts as long as the session.
struct Accepted {
    shared: Arc<Shared>,
    core: SessionCore,
    stream: TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    mode: TlsMode,
}

/// A connection's task: admits the client, then serves it. The serving future is built only
/// once admission is over, so an idle session's task holds it and little else.
async fn admit(accepted: Box<Accepted>) {
    // Not `if let Some(serving) = ...`: rustc keeps the matched `Option` (the whole serving
    // future) next to the one moved out of it for as long as the session lasts.
    OptionFuture::from(open(accepted).await).await;
}

/// Learns who the client is (reading a trusted proxy's header here, not in the accept loop,
/// so a slow proxy holds up only its own connection), then refuses it or returns the future
/// that serves it.
async fn open(accepted: Box<Accepted>) -> Option<Instrumented<impl Future<Output = ()>>> {
    let Accepted {
        shared,
        core,
        mut stream,
        peer,
        local,
        mode,
    } = *accepted;
    let listener = match mode {
        TlsMode::Explicit => ProxyListener::Ftps,
        TlsMode::Implicit => ProxyListener::FtpsImplicit,
    };
    let proxy_config = shared.services.config().proxy_protocol.clone();
    let origin = match Origin::resolve(&proxy_config, listener, peer, &mut stream).await {
        Ok(origin) => origin,
        Err(error) => {
            tracing::warn!(%peer, %error, "connection from a trusted proxy closed");
            return None;
        }
    };
    match core.admit_via(Protocol::Ftps, origin.client, origin.proxy, local) {
        Admission::Admitted(admitted) => {
            let span = admitted.connection.span().clone();
            let serving = span.in_scope(|| control::serve(shared, stream, admitted, mode))?;
            Some(serving.instrument(span))
        }
        Admission::Refused(refused) => {
            refuse(stream, refused.reason, mode)
                .instrument(refused.span)
                .await;
            None
        }
    }
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
