//! The PROXY protocol (HAProxy's `send-proxy` / `send-proxy-v2`): who the client of a
//! connection is when a trusted load balancer stands between it and ferryd.
//!
//! A listener asks [`Origin::resolve`] right after accept, in the connection's own task.
//! When `proxy_protocol` expects a header from the peer on that listener (the peer is in
//! `trusted_networks` and the listener's switch is on), the header is read with a deadline
//! ([`HEADER_TIMEOUT`]) and within its size limits, exactly up to its last byte, and its source
//! address becomes the client for everything after (admission, logs, xferlog, the data
//! connection check); a connection without a valid header is closed by the caller. From any
//! other peer nothing is read: the peer is the client, and header bytes it sends are treated as
//! the protocol's input, which fails (an FTP command `PROXY`, a broken TLS or SSH greeting), so
//! a client cannot claim someone else's address.
//!
//! The parsing is `header.rs` (pure, fuzzed); this file only reads and decides.

pub mod header;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

use crate::config::{ProxyListener, ProxyProtocolConfig};
use header::{parse, Header, HeaderError, Parsed, MAX_HEADER_BYTES};

/// How long a trusted proxy has to send the whole header after connecting.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// Who is on the other end of a connection, once the header (if any) is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    /// The client: the header's source, or the TCP peer.
    pub client: SocketAddr,
    /// The TCP peer when it is a proxy that named another client; `None` for a direct
    /// connection and for a v2 `LOCAL` header (the proxy is the client).
    pub proxy: Option<SocketAddr>,
}

/// Why a connection that had to start with a header is closed.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The bytes are not an acceptable header.
    #[error(transparent)]
    Header(#[from] HeaderError),
    /// The proxy closed or the socket failed before the header was complete.
    #[error("reading the PROXY protocol header failed: {0}")]
    Io(#[from] std::io::Error),
    /// The header did not arrive within [`HEADER_TIMEOUT`].
    #[error("no complete PROXY protocol header within {0:?}")]
    Timeout(Duration),
}

impl Origin {
    /// A direct connection: the TCP peer is the client.
    pub fn direct(peer: SocketAddr) -> Origin {
        Origin {
            client: peer,
            proxy: None,
        }
    }

    /// The origin of a connection from `peer` accepted on `listener`: a header is read from
    /// `stream` when the config expects one from that peer there, otherwise nothing is read.
    pub async fn resolve<S: AsyncRead + Unpin>(
        config: &ProxyProtocolConfig,
        listener: ProxyListener,
        peer: SocketAddr,
        stream: &mut S,
    ) -> Result<Origin, ProxyError> {
        if !config.expects_header(listener, peer.ip()) {
            return Ok(Origin::direct(peer));
        }
        let header = tokio::time::timeout(HEADER_TIMEOUT, read_header(stream))
            .await
            .map_err(|_| ProxyError::Timeout(HEADER_TIMEOUT))??;
        Ok(match header {
            Header::Proxied { source, .. } => Origin {
                client: source,
                proxy: Some(peer),
            },
            Header::Local => Origin::direct(peer),
        })
    }
}

/// Reads one header from the start of `stream`, never a byte past its end.
pub async fn read_header<S: AsyncRead + Unpin>(stream: &mut S) -> Result<Header, ProxyError> {
    let mut bytes = Vec::with_capacity(64);
    loop {
        match parse(&bytes)? {
            Parsed::Complete { header, .. } => return Ok(header),
            Parsed::NeedMore(more) => {
                // `parse` checked the announced length against the limit; this keeps the
                // buffer bounded even if it did not.
                let wanted = (bytes.len() + more).min(MAX_HEADER_BYTES);
                if wanted <= bytes.len() {
                    return Err(HeaderError::TooLong(MAX_HEADER_BYTES).into());
                }
                let start = bytes.len();
                bytes.resize(wanted, 0);
                stream.read_exact(&mut bytes[start..]).await?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn config(trusted: &str) -> ProxyProtocolConfig {
        let text = format!("[proxy_protocol]\ntrusted_networks = [\"{trusted}\"]\n");
        Config::parse(&text, std::path::Path::new("test.toml"))
            .unwrap()
            .proxy_protocol
    }

    const V2_TCP4: &[u8] =
        b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c\xcb\x00\x71\x07\x7f\x00\x00\x01\x9c\x40\x00\x15";

    #[tokio::test]
    async fn a_trusted_peer_names_the_client_and_the_rest_stays_unread() {
        let mut stream = V2_TCP4.to_vec();
        stream.extend_from_slice(b"SSH-2.0-x\r\n");
        let mut reader = &stream[..];
        let peer = "127.0.0.9:5000".parse().unwrap();
        let origin = Origin::resolve(
            &config("127.0.0.9/32"),
            ProxyListener::Sftp,
            peer,
            &mut reader,
        )
        .await
        .unwrap();
        assert_eq!(origin.client, "203.0.113.7:40000".parse().unwrap());
        assert_eq!(origin.proxy, Some(peer));
        assert_eq!(reader, b"SSH-2.0-x\r\n");
    }

    #[tokio::test]
    async fn an_untrusted_peer_is_its_own_client_and_nothing_is_read() {
        let mut reader = V2_TCP4;
        let peer = "127.0.0.1:5000".parse().unwrap();
        let origin = Origin::resolve(
            &config("10.0.0.0/8"),
            ProxyListener::Ftps,
            peer,
            &mut reader,
        )
        .await
        .unwrap();
        assert_eq!(origin, Origin::direct(peer));
        assert_eq!(
            reader, V2_TCP4,
            "an untrusted peer's bytes are the protocol's"
        );
    }

    #[tokio::test]
    async fn a_trusted_peer_without_a_header_is_refused() {
        let peer = "127.0.0.9:5000".parse().unwrap();
        let mut reader = &b"USER x\r\n"[..];
        let result =
            Origin::resolve(&config("127.0.0.9"), ProxyListener::Ftps, peer, &mut reader).await;
        assert!(matches!(
            result,
            Err(ProxyError::Header(HeaderError::Missing))
        ));
        let mut truncated = &V2_TCP4[..20];
        let result = Origin::resolve(
            &config("127.0.0.9"),
            ProxyListener::Ftps,
            peer,
            &mut truncated,
        )
        .await;
        assert!(matches!(result, Err(ProxyError::Io(_))));
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_trusted_peer_times_out() {
        let (_client, mut server) = tokio::io::duplex(64);
        let peer = "127.0.0.9:5000".parse().unwrap();
        let result =
            Origin::resolve(&config("127.0.0.9"), ProxyListener::Sftp, peer, &mut server).await;
        assert!(matches!(result, Err(ProxyError::Timeout(_))));
    }

    #[tokio::test]
    async fn a_local_header_leaves_the_proxy_as_the_client() {
        let mut reader = &b"\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00"[..];
        let peer = "127.0.0.9:5000".parse().unwrap();
        let origin = Origin::resolve(&config("127.0.0.9"), ProxyListener::Ftps, peer, &mut reader)
            .await
            .unwrap();
        assert_eq!(origin, Origin::direct(peer));
    }
}
