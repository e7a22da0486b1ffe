//! Data connections (RFC 959 §3.2-3.3, RFC 4217 §8-9): open the connection, run the PROT P
//! handshake with the TLS-session-reuse check, move the bytes, close with `close_notify`.
//!
//! A transfer runs in its own task (spawned by `control.rs`) that owns its socket and its file
//! reader or writer, and reports an [`Outcome`]; the control connection keeps answering
//! meanwhile. Cancelling the task's token (ABOR, server abort) drops the writer, which discards
//! an atomic upload, so a cut upload is never visible under its final name.
//!
//! Throughput: socket reads go through a 256 KiB buffer (rustls itself reads 4 KiB per call),
//! downloads write 256 KiB blocks while the reader fetches the next one, and uploads hand the
//! writer full 256 KiB blocks that it writes behind, so disk and network overlap both ways.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, ReadBuf};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::audit::reason;
use crate::vfs::{DirLister, FileKind, FileReader, FileWriter, UserFs, VfsError, VirtualPath};

use super::errors::DataError;
use super::handshake_order::{within, TlsOrder, TlsOrderCell};
use super::listing::{self, Facts, Role};
use super::passive::PassiveListener;
use super::proto::ascii::ToNetwork;
use super::receive;
use super::tls::{DataAcceptor, Resumed, Tickets};

/// Bytes a socket read may pull in at once.
const SOCKET_READ_BYTES: usize = 256 * 1024;
/// Directory entries formatted per batch.
const LIST_BATCH: usize = 512;
/// How long a refused data connection may take to close cleanly.
const REFUSAL_CLOSE: Duration = Duration::from_millis(200);
/// How long a closed data connection waits for the client's own close before being dropped.
const LINGER: Duration = Duration::from_secs(2);

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
    /// [`super::handshake_order`]).
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

/// What a transfer does once connected.
#[derive(Debug)]
pub enum Job {
    /// RETR: send a file.
    Download {
        /// The open file, positioned at the REST offset.
        reader: FileReader,
        /// TYPE A: convert LF to CRLF.
        ascii: bool,
    },
    /// STOR, STOU, APPE: receive a file.
    Upload {
        /// The writer; committed only after a clean end of data.
        writer: FileWriter,
        /// TYPE A: convert CRLF to LF.
        ascii: bool,
    },
    /// LIST, NLST, MLSD: send a directory listing.
    Listing(Listing),
    /// A listing already formatted (LIST or NLST of a single file).
    Text(Vec<u8>),
}

/// A listing job.
#[derive(Debug)]
pub struct Listing {
    /// For following symlinks and per-entry permissions.
    pub fs: UserFs,
    /// The listed directory.
    pub dir: VirtualPath,
    /// Its entries.
    pub lister: DirLister,
    /// The line format.
    pub format: ListFormat,
}

/// Listing line formats.
#[derive(Debug, Clone, Copy)]
pub enum ListFormat {
    /// `ls -l` lines.
    List,
    /// Names only.
    Nlst,
    /// MLSD facts with this selection.
    Mlsd(Facts),
}

/// How a transfer ended.
#[derive(Debug)]
pub enum Outcome {
    /// Everything was moved (and an upload committed).
    Complete {
        /// Payload bytes (before TYPE A conversion).
        bytes: u64,
    },
    /// ABOR, the session's end or the server's shutdown cut it (the control connection
    /// knows which, since it cancelled).
    Aborted {
        /// Bytes moved before.
        bytes: u64,
    },
    /// The client went away, stalled, or ended a TLS upload without `close_notify`.
    ConnectionLost {
        /// Bytes moved before.
        bytes: u64,
        /// The audit reason (`no_close_notify`, `timeout`, `connection_lost`).
        reason: &'static str,
        /// For the log.
        detail: String,
    },
    /// The data connection could not be opened or was refused.
    Data(DataError),
    /// Reading or writing the file failed. An upload is discarded; its data connection was
    /// drained and closed cleanly when the client finished sending within the drain budget
    /// (see [`super::receive`]), so the client reads the error reply instead of a broken pipe.
    File {
        /// What went wrong.
        error: VfsError,
        /// Bytes moved before.
        bytes: u64,
    },
}

/// Opens the data connection and runs `job`; `progress` counts payload bytes for STAT.
pub async fn run(
    setup: DataSetup,
    job: Job,
    progress: Arc<AtomicU64>,
    cancel: CancellationToken,
    tasks: TaskTracker,
) -> Outcome {
    let bytes = || progress.load(Ordering::Relaxed);
    let stream = tokio::select! {
        () = cancel.cancelled() => return Outcome::Aborted { bytes: 0 },
        stream = open(setup) => stream,
    };
    let mut stream = match stream {
        Ok(stream) => stream,
        Err(error) => return Outcome::Data(error),
    };
    let result = copy(&mut stream, job, &progress, &cancel).await;
    match result {
        Ok(()) => {
            close(stream, &tasks).await;
            Outcome::Complete { bytes: bytes() }
        }
        Err(Failure::Cancelled) => Outcome::Aborted { bytes: bytes() },
        Err(Failure::File { error, drained }) => {
            if drained {
                close(stream, &tasks).await;
            }
            Outcome::File {
                error,
                bytes: bytes(),
            }
        }
        Err(Failure::Connection { reason, detail }) => Outcome::ConnectionLost {
            bytes: bytes(),
            reason,
            detail,
        },
    }
}

/// Ends a data connection that carried its data: after an upload the client waits for our
/// close; after a download it needs our close_notify to know the file is complete (FileZilla
/// reports truncation otherwise).
async fn close(mut stream: DataStream, tasks: &TaskTracker) {
    if let Err(error) = with_timeout(stream.timeout, stream.shutdown()).await {
        tracing::debug!(%error, "closing the data connection failed");
    }
    tasks.spawn(linger(stream));
}

/// Why copying stopped early.
pub(super) enum Failure {
    /// ABOR, the session's end or the server's shutdown.
    Cancelled,
    /// The file could not be read or written.
    File {
        error: VfsError,
        /// The client's remaining data was read to its clean end, so the connection can be
        /// closed cleanly.
        drained: bool,
    },
    /// The data connection failed.
    Connection {
        /// The audit reason.
        reason: &'static str,
        detail: String,
    },
}

impl Failure {
    /// A file error on a connection that cannot be closed cleanly.
    pub(super) fn file(error: VfsError) -> Failure {
        Failure::File {
            error,
            drained: false,
        }
    }
}

impl From<io::Error> for Failure {
    fn from(error: io::Error) -> Failure {
        let reason = match error.kind() {
            // A TLS stream that ends without close_notify may be truncated (a killed client,
            // a forged FIN).
            io::ErrorKind::UnexpectedEof => reason::NO_CLOSE_NOTIFY,
            io::ErrorKind::TimedOut => reason::TIMEOUT,
            _ => reason::CONNECTION_LOST,
        };
        let detail = if reason == reason::NO_CLOSE_NOTIFY {
            "data connection closed without TLS close_notify".to_owned()
        } else {
            error.to_string()
        };
        Failure::Connection { reason, detail }
    }
}

async fn open(setup: DataSetup) -> Result<DataStream, DataError> {
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

/// Buffers the socket and, under PROT P, runs the handshake and the session-reuse check.
async fn secure(
    tcp: TcpStream,
    tls: Option<DataTls>,
    tickets: Tickets,
    timeout: Duration,
) -> Result<DataStream, DataError> {
    // Small listing writes and the last block must not wait for delayed ACKs.
    tcp.set_nodelay(true).map_err(DataError::Connect)?;
    let socket = BufReader::with_capacity(SOCKET_READ_BYTES, tcp);
    let inner = match tls {
        None => Inner::Plain(socket),
        Some(tls) => {
            let mut stream = tokio::time::timeout(timeout, tls.acceptor.accept(socket, tickets))
                .await
                .map_err(|_| DataError::Timeout)?
                .map_err(DataError::Handshake)?;
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
            if let Err(error) = stream.get_ref().0.get_ref().set_quickack(true) {
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

async fn copy(
    stream: &mut DataStream,
    job: Job,
    progress: &AtomicU64,
    cancel: &CancellationToken,
) -> Result<(), Failure> {
    let sending = match job {
        // An upload watches `cancel` itself: once its data is complete the commit must not be
        // cut, since the rename may already be done and the log must say what became of it.
        Job::Upload { writer, ascii } => {
            let upload = receive::Upload {
                writer,
                ascii,
                progress,
                cancel,
            };
            return receive::receive_file(stream, upload).await;
        }
        job => send(stream, job, progress),
    };
    tokio::select! {
        () = cancel.cancelled() => Err(Failure::Cancelled),
        result = sending => result,
    }
}

async fn send(stream: &mut DataStream, job: Job, progress: &AtomicU64) -> Result<(), Failure> {
    match job {
        Job::Download { reader, ascii } => send_file(stream, reader, ascii, progress).await,
        Job::Listing(listing) => send_listing(stream, listing, progress).await,
        Job::Text(text) => {
            with_timeout(stream.timeout, stream.write_all(&text)).await?;
            progress.fetch_add(text.len() as u64, Ordering::Relaxed);
            Ok(())
        }
        Job::Upload { .. } => Ok(()),
    }
}

async fn send_file(
    stream: &mut DataStream,
    mut reader: FileReader,
    ascii: bool,
    progress: &AtomicU64,
) -> Result<(), Failure> {
    let mut converter = ascii.then(ToNetwork::new);
    let mut converted = Vec::new();
    while let Some(block) = reader.read_block().await.map_err(Failure::file)? {
        let bytes: &[u8] = match &mut converter {
            Some(converter) => {
                converted.clear();
                converter.convert(&block, &mut converted);
                &converted
            }
            None => &block,
        };
        with_timeout(stream.timeout, stream.write_all(bytes)).await?;
        progress.fetch_add(block.len() as u64, Ordering::Relaxed);
    }
    Ok(())
}

async fn send_listing(
    stream: &mut DataStream,
    mut listing: Listing,
    progress: &AtomicU64,
) -> Result<(), Failure> {
    let now = SystemTime::now();
    let mut out = Vec::with_capacity(64 * 1024);
    if let ListFormat::Mlsd(facts) = listing.format {
        let stat = listing.fs.stat(&listing.dir).await.map_err(Failure::file)?;
        let permissions = listing.fs.permissions_at(&listing.dir);
        let line = listing::facts(&stat, Role::Current, permissions, facts);
        listing::mlsd_line(".", &line, &mut out);
    }
    loop {
        let batch = listing
            .lister
            .next_batch(LIST_BATCH)
            .await
            .map_err(Failure::file)?;
        if batch.is_empty() {
            break;
        }
        for entry in batch {
            let Ok(path) = listing.dir.join_name(&entry.name) else {
                continue;
            };
            let mut stat = entry.stat;
            if stat.kind == FileKind::Symlink {
                // Show what the link leads to, so clients can open it; a dangling link or one
                // leaving the view stays a link.
                if let Ok(target) = listing.fs.stat(&path).await {
                    stat = target;
                }
            }
            match listing.format {
                ListFormat::List => listing::list_line(&entry.name, &stat, now, &mut out),
                ListFormat::Nlst => listing::nlst_line(&entry.name, &mut out),
                ListFormat::Mlsd(facts) => {
                    let permissions = listing.fs.permissions_at(&path);
                    let line = listing::facts(&stat, Role::Entry, permissions, facts);
                    listing::mlsd_line(&entry.name, &line, &mut out);
                }
            }
        }
        with_timeout(stream.timeout, stream.write_all(&out)).await?;
        progress.fetch_add(out.len() as u64, Ordering::Relaxed);
        out.clear();
    }
    if !out.is_empty() {
        with_timeout(stream.timeout, stream.write_all(&out)).await?;
        progress.fetch_add(out.len() as u64, Ordering::Relaxed);
    }
    Ok(())
}

pub(super) async fn with_timeout<T>(
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

/// Reads until the client closes too, briefly, so its late close_notify meets an open socket
/// instead of provoking a reset.
async fn linger(mut stream: DataStream) {
    let mut sink = [0u8; 1024];
    let drain = async { while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {} };
    let _ = tokio::time::timeout(LINGER, drain).await;
}

/// An open data connection, plain or TLS.
pub struct DataStream {
    inner: Inner,
    timeout: Duration,
}

impl DataStream {
    /// The bound for each read or write.
    pub(super) fn timeout(&self) -> Duration {
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
    Tls(Box<TlsStream<BufReader<TcpStream>>>),
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
