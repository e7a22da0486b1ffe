//! Passive data connections (RFC 959 §4.1.1 PASV, RFC 2428 §3 EPSV): the port pool and the
//! address advertised to each client.
//!
//! **Ports.** A listening port is shared by every session that waits on it, one waiter per
//! client IP: the connection that arrives is handed to the session whose client has that source
//! address, so a port can serve many clients at once and a small range does not run dry. A
//! connection from an address with no waiter is dropped and logged (data-connection theft). The
//! listener closes as soon as its last waiter is gone (transfer started, ABOR, timeout, session
//! end), so ports are released promptly; sockets use `SO_REUSEADDR`, so a port whose earlier
//! connections sit in TIME_WAIT can listen again at once.
//!
//! **Behind a load balancer** (`proxy_protocol`). With `ftps_data` on, a data connection from
//! a trusted proxy must start with a PROXY protocol header, read in a task of its own, and is
//! handed over by the header's client address. With it off, the proxy's own address is the
//! source, so the session waits for a connection from its control connection's proxy (see
//! `Context::data_source_ip`). A connection from any other peer is handed over by its TCP
//! address, never by a header.
//!
//! **Address.** PASV must name an IPv4 address the client can reach. Loopback clients get the
//! control connection's local address; otherwise the first `passive_address_overrides` entry
//! whose networks contain the client wins, then `passive_address` (a DNS name is resolved
//! again for every PASV, for dynamic IPs), then the control connection's local address.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::oneshot;
use tokio::task::AbortHandle;
use tokio_util::task::TaskTracker;

use crate::config::{Config, FtpsConfig, PassiveAddress, ProxyListener, ProxyProtocolConfig};
use crate::limits::{Defender, Offence};
use crate::proxy_protocol::Origin;

/// Pending connections a passive listener queues before accepting.
const LISTEN_BACKLOG: u32 = 64;

/// Why no passive listener or address could be provided.
#[derive(Debug, thiserror::Error)]
pub enum PassiveError {
    /// Every port of the range is in use.
    #[error("no passive port free in {0:?}")]
    NoFreePort(RangeInclusive<u16>),
    /// Binding failed for a reason other than the port being in use.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address that failed.
        address: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The address to advertise is not IPv4, which PASV cannot express (EPSV can).
    #[error("PASV needs an IPv4 address; use EPSV")]
    NotIpv4,
    /// The configured passive host name did not resolve to an IPv4 address.
    #[error("passive address {0} does not resolve to an IPv4 address")]
    Resolve(String),
}

/// The shared pool of passive listeners of one FTP server. Cheap to clone.
#[derive(Clone, Debug)]
pub struct PassivePorts {
    inner: Arc<Pool>,
}

#[derive(Debug)]
struct Pool {
    ports: Mutex<HashMap<SocketAddr, Port>>,
    tasks: TaskTracker,
    next_waiter: AtomicU64,
    /// Data connections dropped because no transfer waited for their source address.
    dropped_connections: AtomicU64,
    /// Scores those connections' sources.
    defender: Defender,
    /// The live configuration, for `proxy_protocol` (read at each accept).
    config: Arc<ArcSwap<Config>>,
}

#[derive(Debug)]
struct Port {
    waiters: HashMap<IpAddr, Waiter>,
    accept_task: AbortHandle,
}

#[derive(Debug)]
struct Waiter {
    id: u64,
    sender: oneshot::Sender<TcpStream>,
}

impl PassivePorts {
    /// An empty pool whose accept tasks run on `tasks`; connections from addresses with no
    /// pending transfer are reported to `defender` as protocol abuse (data-connection theft).
    /// `config`'s `proxy_protocol` says which data connections start with a header.
    pub fn new(
        tasks: TaskTracker,
        defender: Defender,
        config: Arc<ArcSwap<Config>>,
    ) -> PassivePorts {
        PassivePorts {
            inner: Arc::new(Pool {
                defender,
                config,
                ports: Mutex::new(HashMap::new()),
                tasks,
                next_waiter: AtomicU64::new(1),
                dropped_connections: AtomicU64::new(0),
            }),
        }
    }

    /// Data connections dropped so far because their source address had no pending transfer.
    pub fn dropped_connections(&self) -> u64 {
        self.inner.dropped_connections.load(Ordering::Relaxed)
    }

    /// Listening ports currently open.
    pub fn open_ports(&self) -> usize {
        lock(&self.inner.ports).len()
    }

    /// A listener in `range` on `local_ip` for one connection from `client_ip`. Reuses a port
    /// that has no waiter for this client before opening a new one.
    pub fn open(
        &self,
        local_ip: IpAddr,
        client_ip: IpAddr,
        range: RangeInclusive<u16>,
    ) -> Result<PassiveListener, PassiveError> {
        let client_ip = client_ip.to_canonical();
        let id = self.inner.next_waiter.fetch_add(1, Ordering::Relaxed);
        let (sender, receiver) = oneshot::channel();
        let waiter = Waiter { id, sender };
        let mut ports = lock(&self.inner.ports);
        let shared = ports
            .iter_mut()
            .filter(|(address, _)| address.ip() == local_ip && range.contains(&address.port()))
            .find(|(_, port)| !port.waiters.contains_key(&client_ip));
        let address = match shared {
            Some((address, port)) => {
                port.waiters.insert(client_ip, waiter);
                *address
            }
            None => {
                let (address, listener) = bind_in_range(local_ip, &range, &ports)?;
                let accept_task = self
                    .inner
                    .tasks
                    .spawn(accept_loop(self.inner.clone(), address, listener))
                    .abort_handle();
                let waiters = HashMap::from([(client_ip, waiter)]);
                ports.insert(
                    address,
                    Port {
                        waiters,
                        accept_task,
                    },
                );
                address
            }
        };
        Ok(PassiveListener {
            pool: self.inner.clone(),
            address,
            client_ip,
            id,
            receiver,
        })
    }
}

/// A pending passive data connection: one port, one expected client address.
#[derive(Debug)]
pub struct PassiveListener {
    pool: Arc<Pool>,
    address: SocketAddr,
    client_ip: IpAddr,
    id: u64,
    receiver: oneshot::Receiver<TcpStream>,
}

impl PassiveListener {
    /// The port to advertise.
    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// Waits for the client's data connection (the caller bounds the wait). Cancel-safe.
    pub async fn accept(&mut self) -> std::io::Result<TcpStream> {
        (&mut self.receiver).await.map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::ConnectionAborted,
                "passive listener closed",
            )
        })
    }
}

impl Drop for PassiveListener {
    fn drop(&mut self) {
        let mut ports = lock(&self.pool.ports);
        let Some(port) = ports.get_mut(&self.address) else {
            return;
        };
        if port
            .waiters
            .get(&self.client_ip)
            .is_some_and(|w| w.id == self.id)
        {
            port.waiters.remove(&self.client_ip);
        }
        if port.waiters.is_empty() {
            port.accept_task.abort();
            ports.remove(&self.address);
        }
    }
}

/// Tries every port of `range` not already ours, starting at a random one.
fn bind_in_range(
    local_ip: IpAddr,
    range: &RangeInclusive<u16>,
    ours: &HashMap<SocketAddr, Port>,
) -> Result<(SocketAddr, TcpListener), PassiveError> {
    let start = *range.start();
    let count = u32::from(*range.end() - start) + 1;
    let first = rand::random::<u32>() % count;
    for step in 0..count {
        let offset = (first + step) % count;
        let Ok(port) = u16::try_from(u32::from(start) + offset) else {
            continue;
        };
        let address = SocketAddr::new(local_ip, port);
        if ours.contains_key(&address) {
            continue;
        }
        match listen(address) {
            Ok(listener) => return Ok((address, listener)),
            Err(error) if error.kind() == std::io::ErrorKind::AddrInUse => continue,
            Err(source) => return Err(PassiveError::Bind { address, source }),
        }
    }
    Err(PassiveError::NoFreePort(range.clone()))
}

fn listen(address: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = match address {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Hands each connection to the waiter for its source address; drops the rest.
async fn accept_loop(pool: Arc<Pool>, address: SocketAddr, listener: TcpListener) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(%address, %error, "accepting a data connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let proxy = pool.config.load().proxy_protocol.clone();
        if proxy.expects_header(ProxyListener::FtpsData, peer.ip()) {
            let task = hand_over_proxied(pool.clone(), address, stream, peer, proxy);
            pool.tasks.spawn(task);
        } else {
            hand_over(&pool, address, stream, peer, &proxy);
        }
    }
}

/// Reads a trusted proxy's header, then hands the connection over by the client it names.
async fn hand_over_proxied(
    pool: Arc<Pool>,
    address: SocketAddr,
    mut stream: TcpStream,
    peer: SocketAddr,
    proxy: ProxyProtocolConfig,
) {
    match Origin::resolve(&proxy, ProxyListener::FtpsData, peer, &mut stream).await {
        Ok(origin) => hand_over(&pool, address, stream, origin.client, &proxy),
        Err(error) => {
            tracing::warn!(%peer, port = address.port(), %error, "data connection from a trusted proxy closed");
        }
    }
}

/// Gives `stream` to the session waiting on `address` for `source`, or drops it.
fn hand_over(
    pool: &Pool,
    address: SocketAddr,
    stream: TcpStream,
    source: SocketAddr,
    proxy: &ProxyProtocolConfig,
) {
    let source_ip = source.ip().to_canonical();
    let waiter = lock(&pool.ports)
        .get_mut(&address)
        .and_then(|port| port.waiters.remove(&source_ip));
    match waiter {
        Some(waiter) => {
            // The session may have given up in the meantime; the stream is then dropped.
            let _ = waiter.sender.send(stream);
        }
        None => {
            pool.dropped_connections.fetch_add(1, Ordering::Relaxed);
            // A proxy relays many clients: one stray connection must not ban them all.
            if !proxy.is_trusted(source_ip) {
                pool.defender.report(source_ip, Offence::ProtocolAbuse);
            }
            tracing::warn!(
                peer = %source,
                port = address.port(),
                "data connection from an address without a pending transfer dropped"
            );
        }
    }
}

/// The IPv4 address a PASV reply names for `client_ip` (see the module docs).
pub async fn advertised_ipv4(
    config: &FtpsConfig,
    client_ip: IpAddr,
    local_ip: IpAddr,
) -> Result<Ipv4Addr, PassiveError> {
    let client_ip = client_ip.to_canonical();
    let configured = config
        .passive_address_overrides
        .iter()
        .find(|entry| entry.networks.iter().any(|net| net.contains(&client_ip)))
        .map(|entry| &entry.address)
        .or(config.passive_address.as_ref())
        .filter(|_| !client_ip.is_loopback());
    match configured {
        None => match local_ip.to_canonical() {
            IpAddr::V4(ip) => Ok(ip),
            IpAddr::V6(_) => Err(PassiveError::NotIpv4),
        },
        Some(PassiveAddress::Ip(IpAddr::V4(ip))) => Ok(*ip),
        Some(PassiveAddress::Ip(IpAddr::V6(_))) => Err(PassiveError::NotIpv4),
        Some(PassiveAddress::Host(name)) => {
            let resolved = tokio::net::lookup_host((name.as_str(), 0))
                .await
                .map_err(|_| PassiveError::Resolve(name.clone()))?;
            resolved
                .filter_map(|address| match address.ip() {
                    IpAddr::V4(ip) => Some(ip),
                    IpAddr::V6(_) => None,
                })
                .next()
                .ok_or_else(|| PassiveError::Resolve(name.clone()))
        }
    }
}

/// Start-up warnings about the passive setup, the most common FTP support problem.
pub fn setup_warnings(config: &FtpsConfig) -> Vec<String> {
    let mut warnings = Vec::new();
    let listeners = [config.listen, config.implicit_listen];
    match &config.passive_address {
        Some(PassiveAddress::Ip(ip)) if is_private(*ip) => warnings.push(format!(
            "ftps.passive_address {ip} is a private address: clients outside that network \
             cannot open data connections; set it to the public address (and add \
             ftps.passive_address_overrides for LAN clients)"
        )),
        Some(_) => {}
        None if listeners.iter().flatten().any(|a| is_private(a.ip())) => warnings.push(
            "ftps.passive_address is not set and FTPS listens on a private address: PASV replies \
             will advertise it, which clients from public networks cannot reach; set \
             ftps.passive_address when clients connect through NAT"
                .to_owned(),
        ),
        None if listeners.iter().flatten().any(|a| a.ip().is_unspecified()) => warnings.push(
            "ftps.passive_address is not set: PASV replies advertise the address each client \
             connected to; behind NAT or a port forward that is a private address, so set \
             ftps.passive_address to the public one"
                .to_owned(),
        ),
        None => {}
    }
    warnings
}

/// RFC 1918, carrier-grade NAT, link-local and IPv6 unique-local addresses.
fn is_private(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(ip) => {
            let [a, b, ..] = ip.octets();
            ip.is_private() || ip.is_link_local() || (a == 100 && (64..128).contains(&b))
        }
        IpAddr::V6(ip) => {
            let first = ip.segments()[0];
            (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80
        }
    }
}

/// A poisoned lock only means a thread panicked while holding plain data that stays usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, PassiveOverride};

    #[tokio::test]
    async fn a_port_serves_different_clients_and_closes_with_its_last_waiter() {
        let pool = PassivePorts::new(
            TaskTracker::new(),
            Defender::new(&crate::config::Config::default().defender),
            Arc::new(ArcSwap::from_pointee(Config::default())),
        );
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        // A one-port range: a port the OS just handed out (and that is free again).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let one = pool
            .open(local, "127.0.0.1".parse().unwrap(), port..=port)
            .unwrap();
        let two = pool
            .open(local, "127.0.0.2".parse().unwrap(), port..=port)
            .unwrap();
        assert_eq!(one.port(), two.port());
        let error = pool
            .open(local, "127.0.0.1".parse().unwrap(), port..=port)
            .unwrap_err();
        assert!(matches!(error, PassiveError::NoFreePort(_)), "{error}");

        let client = TcpSocket::new_v4().unwrap();
        client.bind("127.0.0.2:0".parse().unwrap()).unwrap();
        let _connected = client
            .connect(SocketAddr::new(local, two.port()))
            .await
            .unwrap();
        let mut two = two;
        let stream = two.accept().await.unwrap();
        assert_eq!(
            stream.peer_addr().unwrap().ip(),
            "127.0.0.2".parse::<IpAddr>().unwrap()
        );
        drop(two);
        assert_eq!(pool.open_ports(), 1);
        drop(one);
        assert_eq!(pool.open_ports(), 0);
    }

    #[tokio::test]
    async fn advertised_address_prefers_overrides_then_the_configured_address() {
        let mut config = Config::default().ftps;
        let local: IpAddr = "10.0.0.5".parse().unwrap();
        let lan: IpAddr = "10.0.0.9".parse().unwrap();
        let remote: IpAddr = "203.0.113.7".parse().unwrap();
        assert_eq!(
            advertised_ipv4(&config, remote, local).await.unwrap(),
            Ipv4Addr::new(10, 0, 0, 5)
        );
        config.passive_address = Some(PassiveAddress::Ip("198.51.100.1".parse().unwrap()));
        config.passive_address_overrides = vec![PassiveOverride {
            networks: vec!["10.0.0.0/8".parse().unwrap()],
            address: PassiveAddress::Ip(local),
        }];
        assert_eq!(
            advertised_ipv4(&config, remote, local).await.unwrap(),
            Ipv4Addr::new(198, 51, 100, 1)
        );
        assert_eq!(
            advertised_ipv4(&config, lan, local).await.unwrap(),
            Ipv4Addr::new(10, 0, 0, 5)
        );
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(
            advertised_ipv4(&config, loopback, loopback).await.unwrap(),
            Ipv4Addr::LOCALHOST
        );
    }

    #[test]
    fn a_private_passive_address_is_warned_about() {
        let mut config = Config::default().ftps;
        assert_eq!(
            setup_warnings(&config).len(),
            1,
            "0.0.0.0 without passive_address"
        );
        config.passive_address = Some(PassiveAddress::Ip("192.168.1.10".parse().unwrap()));
        assert!(setup_warnings(&config)[0].contains("private"));
        config.passive_address = Some(PassiveAddress::Ip("198.51.100.1".parse().unwrap()));
        assert!(setup_warnings(&config).is_empty());
    }
}
