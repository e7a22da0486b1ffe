//! Where a data connection comes from (RFC 959 §3.2): the passive listener accepted ahead of
//! the transfer command (its peer checked by `passive`), or the active connection to the
//! client's port; either way handed to `secure` for PROT P before any byte moves.
//!
//! The setup flows one way: a PASV/EPSV/PORT/EPRT handler prepares a [`DataChannel`], the
//! transfer command takes it into a [`DataSetup`], and the transfer task calls [`open`]. Nothing
//! here calls back into the session or the control connection.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::super::errors::DataError;
use super::super::handshake_order::{within, TlsOrder};
use super::super::passive::PassiveListener;
use super::super::tls::Tickets;
use super::secure::{secure, DataStream, DataTls};

/// Where the next data connection comes from (RFC 959 §3.2); each transfer takes it.
#[derive(Debug, Default)]
pub enum DataChannel {
    /// No PASV/EPSV/PORT/EPRT since the last transfer.
    #[default]
    None,
    /// The client connects to a passive port; accepted (and its TLS handshake run) as soon as
    /// it arrives, see [`PendingConnection`].
    Passive(PendingConnection),
    /// The server connects to the client here (already checked: same IP, port >= 1024).
    Active(SocketAddr),
}

/// A passive data connection being accepted ahead of the transfer command.
///
/// Clients differ in when they start the data connection's TLS handshake. curl runs it right
/// after connecting, before it sends STOR or RETR; Python's ftplib only after the 150 reply. So
/// the connection is accepted, and its handshake run, as soon as the client starts it, and the
/// 150 reply waits for a handshake already under way ([`PendingConnection::until_reply_allowed`]):
/// the new TLS 1.3 tickets then reach the client before it can finish an upload and close.
/// OpenSSL clients use a ticket once, so a client that closes before reading them has nothing
/// left to resume the next data connection with. Dropping this (a new PASV, ABOR, session end)
/// stops the task and releases the port at once.
#[derive(Debug)]
pub struct PendingConnection {
    task: JoinHandle<Result<DataStream, DataError>>,
    gate: Option<oneshot::Sender<oneshot::Sender<()>>>,
}

impl PendingConnection {
    /// Starts accepting on `listener`; under PROT P the handshake runs with `tls`, and the 150
    /// reply waits up to `hello_grace` for a client hello not seen yet (see
    /// `handshake_order`).
    pub fn start(
        listener: PassiveListener,
        tls: Option<DataTls>,
        timeout: Duration,
        hello_grace: Duration,
        tasks: &TaskTracker,
    ) -> PendingConnection {
        let (gate, requests) = oneshot::channel();
        let accepting = accept_ahead(listener, tls, timeout, hello_grace, requests);
        let task = tasks.spawn(accepting.in_current_span());
        PendingConnection {
            task,
            gate: Some(gate),
        }
    }

    /// Resolves when the transfer's 150 reply may be sent: at once unless the client is in
    /// the middle of the TLS handshake, then when that handshake is over.
    pub async fn until_reply_allowed(&mut self) {
        let Some(gate) = self.gate.take() else {
            return;
        };
        let (allow, allowed) = oneshot::channel();
        if gate.send(allow).is_ok() {
            // An error means the task ended (done or failed): nothing to wait for.
            let _ = allowed.await;
        }
    }
}

impl Drop for PendingConnection {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The pending task: accept, then (PROT P) the handshake, answering the reply gate.
async fn accept_ahead(
    listener: PassiveListener,
    tls: Option<DataTls>,
    timeout: Duration,
    grace_period: Duration,
    requests: oneshot::Receiver<oneshot::Sender<()>>,
) -> Result<DataStream, DataError> {
    let mut requests = Some(requests);
    let mut listener = listener;
    let mut held = None;
    // Set when the reply went out while the connection stood silent. A zero grace still
    // takes a hello the runtime has already seen (see `within`).
    let mut waited_in_vain = false;
    let tcp = tokio::select! {
        tcp = listener.accept() => tcp.map_err(DataError::Connect)?,
        allow = next_request(&mut requests) => {
            // The command overtook the connection. A client that connects and starts TLS
            // before sending the command (curl) shows up within moments; give it those.
            let grace = Instant::now() + grace_period;
            match within(grace, listener.accept()).await {
                Some(tcp) => {
                    let tcp = tcp.map_err(DataError::Connect)?;
                    if tls.is_some() && within(grace, first_bytes(&tcp)).await.is_some() {
                        held = allow;
                    } else {
                        waited_in_vain = true;
                    }
                    tcp
                }
                None => {
                    // The reply goes out before the connection even arrived (a loaded server,
                    // or a client that connects after reading it): whatever TLS follows starts
                    // after the reply. Taking it for a curl-like client would send it tickets
                    // it may never read (see `DataAcceptor::tickets`).
                    drop(allow);
                    waited_in_vain = true;
                    listener.accept().await.map_err(DataError::Connect)?
                }
            }
        }
    };
    let Some(tls) = tls else {
        return secure(tcp, None, Tickets::Send, timeout).await;
    };
    if requests.is_some() {
        tokio::select! {
            () = first_bytes(&tcp) => {}
            allow = next_request(&mut requests) => {
                // A client that starts TLS before the command has sent its hello by now.
                if within(Instant::now() + grace_period, first_bytes(&tcp)).await.is_some() {
                    held = allow;
                } else {
                    waited_in_vain = true;
                }
            }
        }
    }
    let order = tls.order.clone();
    let tickets = tls.acceptor.tickets(waited_in_vain);
    let handshake = secure(tcp, Some(tls), tickets, timeout);
    tokio::pin!(handshake);
    let result = loop {
        tokio::select! {
            result = &mut handshake => break result,
            allow = next_request(&mut requests), if requests.is_some() => held = allow,
        }
    };
    drop(held);
    if result.is_ok() {
        order.set(if waited_in_vain {
            TlsOrder::AfterReply
        } else {
            TlsOrder::BeforeCommand
        });
    }
    result
}

/// Resolves once the client has sent something (its TLS hello) or closed; `readable()`
/// alone may wake without data.
async fn first_bytes(tcp: &TcpStream) {
    let mut byte = [0u8; 1];
    let _ = tcp.peek(&mut byte).await;
}

/// The next reply-gate request; pending forever once the gate was used or dropped.
async fn next_request(
    requests: &mut Option<oneshot::Receiver<oneshot::Sender<()>>>,
) -> Option<oneshot::Sender<()>> {
    let Some(receiver) = requests else {
        return std::future::pending().await;
    };
    // Awaited by reference, so a select! that drops this future keeps the receiver.
    let request = receiver.await.ok();
    *requests = None;
    request
}

/// Everything a transfer needs to obtain its data stream.
#[derive(Debug)]
pub struct DataSetup {
    /// Where the connection comes from.
    pub channel: DataChannel,
    /// Present under PROT P (used for active connections; passive ones have their own).
    pub tls: Option<DataTls>,
    /// Bound for connecting, the handshake, and each read or write.
    pub timeout: Duration,
    /// The control connection's local address (active connections leave from it).
    pub local_ip: IpAddr,
}

/// Opens the data connection of `setup`: waits for the passive one (accepted and secured
/// ahead), or connects to the client and secures that.
pub async fn open(setup: DataSetup) -> Result<DataStream, DataError> {
    let timeout = setup.timeout;
    match setup.channel {
        DataChannel::Passive(mut pending) => tokio::time::timeout(timeout, &mut pending.task)
            .await
            .map_err(|_| DataError::Timeout)?
            .map_err(|error| DataError::Connect(io::Error::other(error)))?,
        DataChannel::Active(address) => {
            let tcp = tokio::time::timeout(timeout, connect(setup.local_ip, address))
                .await
                .map_err(|_| DataError::Timeout)?
                .map_err(DataError::Connect)?;
            // The server connects: no order to learn, and OpenSSL clients may need tickets.
            secure(tcp, setup.tls, Tickets::Send, timeout).await
        }
        DataChannel::None => Err(DataError::Connect(io::Error::new(
            io::ErrorKind::NotConnected,
            "no data channel",
        ))),
    }
}

/// Active mode: connect from the control connection's local address (never port 20, which
/// would need privileges and gains nothing).
async fn connect(local_ip: IpAddr, address: SocketAddr) -> io::Result<TcpStream> {
    let socket = match address {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    if local_ip.is_ipv4() == address.is_ipv4() {
        socket.bind(SocketAddr::new(local_ip, 0))?;
    }
    socket.connect(address).await
}
