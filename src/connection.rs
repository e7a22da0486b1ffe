//! Who is on the other end of a connection: its id, protocol and addresses, and its log span.
//!
//! Every log line a session writes is inside the span made here, so `conn`, `protocol`, `peer`
//! and (once known) `user` appear on all of them without each call site repeating them.
//!
//! The client's address is made canonical here, once for both protocols: on a dual-stack
//! listener (`[::]`) an IPv4 client arrives as `::ffff:a.b.c.d`, and per-address limits,
//! defender scores, allow lists and logs must see the same `a.b.c.d` whichever protocol it
//! uses.
//!
//! Behind a trusted load balancer the client is the address its PROXY protocol header names
//! (`proxy_protocol`); `ConnectionInfo::proxy` then keeps the balancer's own address, which is
//! logged as `via`.

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::config::Protocol;

/// A process-unique connection number, shown in logs as `c` + number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(u64);

impl ConnectionId {
    /// The next unused id.
    pub fn next() -> ConnectionId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        ConnectionId(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// The number behind the id.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "c{}", self.0)
    }
}

/// What is known about a connection when it is accepted.
#[derive(Clone, Debug)]
pub struct ConnectionInfo {
    /// Its id.
    pub id: ConnectionId,
    /// The protocol served on the listener that accepted it.
    pub protocol: Protocol,
    /// The client's address, canonical (see [`canonical_peer`]).
    pub peer: SocketAddr,
    /// Our address the client connected to.
    pub local: SocketAddr,
    /// The load balancer the connection came through, when its PROXY protocol header named
    /// `peer` (canonical too); `None` for a direct connection.
    pub proxy: Option<SocketAddr>,
}

impl ConnectionInfo {
    /// Describes a newly accepted connection, giving it a fresh id and making `peer`
    /// canonical.
    pub fn new(protocol: Protocol, peer: SocketAddr, local: SocketAddr) -> ConnectionInfo {
        ConnectionInfo {
            id: ConnectionId::next(),
            protocol,
            peer: canonical_peer(peer),
            local,
            proxy: None,
        }
    }

    /// The same connection, noted as relayed by the proxy at `proxy`.
    pub fn via(self, proxy: Option<SocketAddr>) -> ConnectionInfo {
        ConnectionInfo {
            proxy: proxy.map(canonical_peer),
            ..self
        }
    }

    /// The span every line of this connection is logged in; `user` is recorded at login with
    /// `span.record("user", name)`.
    pub fn span(&self) -> tracing::Span {
        let span = tracing::info_span!(
            "conn",
            id = %self.id,
            protocol = %self.protocol,
            peer = %self.peer,
            via = tracing::field::Empty,
            user = tracing::field::Empty,
        );
        if let Some(proxy) = self.proxy {
            span.record("via", tracing::field::display(proxy));
        }
        span
    }
}

/// `peer` with an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) turned into the IPv4 address it
/// stands for; every other address as it is.
pub fn canonical_peer(peer: SocketAddr) -> SocketAddr {
    SocketAddr::new(peer.ip().to_canonical(), peer.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_ipv4_peers_become_ipv4_and_others_stay() {
        let mapped: SocketAddr = "[::ffff:192.0.2.7]:4000".parse().unwrap();
        let local: SocketAddr = "[::]:22".parse().unwrap();
        let info = ConnectionInfo::new(Protocol::Sftp, mapped, local);
        assert_eq!(info.peer, "192.0.2.7:4000".parse().unwrap());
        assert_eq!(info.local, local, "only the peer is rewritten");
        for plain in ["192.0.2.7:1", "[2001:db8::1]:2", "[::1]:3"] {
            let plain: SocketAddr = plain.parse().unwrap();
            assert_eq!(canonical_peer(plain), plain);
        }
    }

    #[test]
    fn a_proxied_connection_keeps_the_proxy_canonical_beside_the_client() {
        let client: SocketAddr = "203.0.113.7:4000".parse().unwrap();
        let local: SocketAddr = "127.0.0.2:21".parse().unwrap();
        let info = ConnectionInfo::new(Protocol::Ftps, client, local)
            .via(Some("[::ffff:127.0.0.9]:5000".parse().unwrap()));
        assert_eq!(info.peer, client);
        assert_eq!(info.proxy, Some("127.0.0.9:5000".parse().unwrap()));
        assert_eq!(
            ConnectionInfo::new(Protocol::Ftps, client, local).proxy,
            None
        );
    }

    #[test]
    fn ids_are_unique_and_displayed_with_prefix() {
        let first = ConnectionId::next();
        let second = ConnectionId::next();
        assert!(second > first);
        assert_eq!(first.to_string(), format!("c{}", first.as_u64()));
    }
}
