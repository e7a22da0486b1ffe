//! The PROT P side of a data connection (RFC 4217 §8-9): the TLS handshake with the session's
//! acceptor, the check that it resumed this control connection's TLS session (or an allowed
//! sibling's), and the [`DataStream`] every transfer reads and writes, plain or TLS, with its
//! per-operation time bound.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

use super::super::errors::DataError;
use super::super::handshake_order::TlsOrderCell;
use super::super::quick_ack::QuickAck;
use super::super::tls::{DataAcceptor, Resumed, Tickets};

/// Bytes a socket read may pull in at once.
const SOCKET_READ_BYTES: usize = 256 * 1024;
/// How long a refused data connection may take to close cleanly.
const REFUSAL_CLOSE: Duration = Duration::from_millis(200);

/// The PROT P side of a data connection.
#[derive(Debug)]
pub struct DataTls {
    /// The session's acceptor.
    pub acceptor: DataAcceptor,
    /// False for exempt users and networks, or when reuse is not required.
    pub require_reuse: bool,
    /// Incremented for each data connection refused by the reuse check.
    pub refused: Arc<AtomicU64>,
    /// The daemon's metrics, which count the same refusals.
    pub metrics: crate::metrics::Metrics,
    /// When this session's client starts TLS on its data connections, as learned so far.
    pub order: TlsOrderCell,
}

/// Buffers the socket and, under PROT P, runs the handshake and the session-reuse check.
pub async fn secure(
    tcp: TcpStream,
    tls: Option<DataTls>,
    tickets: Tickets,
    timeout: Duration,
) -> Result<DataStream, DataError> {
    // Small listing writes and the last block must not wait for delayed ACKs.
    tcp.set_nodelay(true).map_err(DataError::Connect)?;
    let inner = match tls {
        None => Inner::Plain(BufReader::with_capacity(SOCKET_READ_BYTES, tcp)),
        Some(tls) => {
            // A client that splits its last handshake flight would otherwise wait for a
            // delayed ACK on every data connection (see `quick_ack`).
            let socket = BufReader::with_capacity(SOCKET_READ_BYTES, QuickAck::arm(tcp));
            let mut stream = tokio::time::timeout(timeout, tls.acceptor.accept(socket, tickets))
                .await
                .map_err(|_| DataError::Timeout)?
                .map_err(DataError::Handshake)?;
            stream.get_mut().0.get_mut().disarm();
            // The TLS 1.3 tickets for the next data connection are queued now; send them at
            // once. Left queued, an upload would carry them out only with its close_notify,
            // after the client (curl with OpenSSL, whose used tickets are single-use) has
            // closed and lost its only resumable session.
            tokio::time::timeout(timeout, stream.flush())
                .await
                .map_err(|_| DataError::Timeout)?
                .map_err(DataError::Handshake)?;
            // Sending the handshake flight and the tickets put the kernel in its interactive
            // (delayed-ACK) mode. A client with Nagle on (ftplib, most libraries) then holds
            // its close_notify after a small upload until the server ACKs the data: a 40 ms
            // stall per file. Leaving that mode makes the data's ACK go out at once.
            if let Err(error) = stream.get_ref().0.get_ref().get_ref().set_quickack(true) {
                tracing::debug!(%error, "cannot set TCP_QUICKACK on a data connection");
            }
            match tls.acceptor.check(stream.get_ref().1).await {
                Ok(Resumed::Own) => {}
                // Routine for clients with one ticket cache for all their connections (rclone).
                Ok(Resumed::Sibling) => tracing::debug!(
                    "data connection resumed a sibling control connection's TLS session \
                     (same user and address); accepted"
                ),
                Err(error) if !tls.require_reuse => {
                    tracing::debug!(%error, "TLS session reuse not required here");
                }
                Err(error) => {
                    tls.refused.fetch_add(1, Ordering::Relaxed);
                    tls.metrics.tls_session_reuse_refused();
                    // Close cleanly: the tickets just sent let the client resume next time.
                    let _ = tokio::time::timeout(REFUSAL_CLOSE, stream.shutdown()).await;
                    return Err(DataError::SessionReuse(error));
                }
            }
            Inner::Tls(Box::new(stream))
        }
    };
    Ok(DataStream { inner, timeout })
}

/// Bounds one read or write of a data connection; a stall becomes `TimedOut`.
pub async fn with_timeout<T>(
    limit: Duration,
    operation: impl std::future::Future<Output = io::Result<T>>,
) -> io::Result<T> {
    tokio::time::timeout(limit, operation)
        .await
        .unwrap_or_else(|_| {
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "data connection stalled",
            ))
        })
}

/// An open data connection, plain or TLS.
pub struct DataStream {
    inner: Inner,
    timeout: Duration,
}

impl DataStream {
    /// The bound for each read or write.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

impl std::fmt::Debug for DataStream {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.inner {
            Inner::Plain(_) => "plain",
            Inner::Tls(_) => "tls",
        };
        formatter
            .debug_struct("DataStream")
            .field("kind", &kind)
            .finish()
    }
}

enum Inner {
    Plain(BufReader<TcpStream>),
    Tls(Box<TlsStream<BufReader<QuickAck>>>),
}

impl AsyncRead for DataStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.inner {
            Inner::Plain(stream) => Pin::new(stream).poll_read(cx, buf),
            Inner::Tls(stream) => Pin::new(stream.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for DataStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.inner {
            Inner::Plain(stream) => Pin::new(stream).poll_write(cx, buf),
            Inner::Tls(stream) => Pin::new(stream.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.inner {
            Inner::Plain(stream) => Pin::new(stream).poll_flush(cx),
            Inner::Tls(stream) => Pin::new(stream.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.inner {
            Inner::Plain(stream) => Pin::new(stream).poll_shutdown(cx),
            Inner::Tls(stream) => Pin::new(stream.as_mut()).poll_shutdown(cx),
        }
    }
}
