//! The `[metrics] listen` endpoint: `GET /metrics` in the Prometheus text format.
//!
//! Deliberately tiny: one request per connection, a bounded request head, a read timeout, and
//! nothing but `/metrics` (and `/` pointing to it). A scraper is the only expected client;
//! anything else gets a short error and the connection closes.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::limits::Defender;
use crate::metrics::Metrics;

const MAX_REQUEST_HEAD_BYTES: usize = 8 * 1024;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves `metrics` on `listener` until `shutdown` is cancelled.
pub(super) fn spawn(
    listener: TcpListener,
    metrics: Metrics,
    defender: Defender,
    shutdown: CancellationToken,
    tasks: &TaskTracker,
) {
    let connections = tasks.clone();
    tasks.spawn(async move {
        loop {
            let accepted = tokio::select! {
                () = shutdown.cancelled() => break,
                accepted = listener.accept() => accepted,
            };
            match accepted {
                Ok((stream, _)) => {
                    let metrics = metrics.clone();
                    metrics.set_bans(defender.banned_count());
                    connections.spawn(async move {
                        let _ =
                            tokio::time::timeout(REQUEST_TIMEOUT, respond(stream, &metrics)).await;
                    });
                }
                Err(error) => {
                    tracing::warn!(%error, "metrics endpoint: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    });
}

async fn respond(mut stream: TcpStream, metrics: &Metrics) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(1024);
    let mut buffer = [0u8; 1024];
    while !head.windows(4).any(|window| window == b"\r\n\r\n") {
        let read = stream.read(&mut buffer).await?;
        if read == 0 || head.len() + read > MAX_REQUEST_HEAD_BYTES {
            return Ok(());
        }
        head.extend_from_slice(&buffer[..read]);
    }
    let request_line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let mut parts = request_line.split(|&b| b == b' ');
    let (method, target) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let response = match (method, target) {
        (b"GET", b"/metrics") => http_response(
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            &metrics.encode(),
        ),
        (b"GET", b"/") => http_response("200 OK", "text/plain", "ferryd: see /metrics\n"),
        (b"GET", _) => http_response("404 Not Found", "text/plain", "not found\n"),
        _ => http_response("405 Method Not Allowed", "text/plain", "only GET\n"),
    };
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

fn http_response(status: &str, content_type: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}
