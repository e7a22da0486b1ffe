//! The control connection (RFC 959 §5, RFC 4217 §4-6): the only code that reads and writes the
//! control socket. It frames lines, parses commands, runs them through `session::dispatch`,
//! writes each reply with one write, upgrades to TLS on `AUTH TLS`, supervises the running
//! transfer (ABOR, STAT and NOOP stay answered meanwhile) and enforces login and idle timeouts
//! and the server's shutdown.

use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
// tokio's clock, not std's: the timeouts then follow a paused test clock (`ftp/tests/timeouts.rs`).
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::audit::{reason, Action, Outcome as AuditOutcome};

/// Why a transfer cancelled by the server's abort was cut.
const SHUTDOWN: (&str, &str) = (reason::SHUTDOWN, "the server stopped");
use crate::config::Protocol;
use crate::session_core::Admitted;
use crate::vfs::VirtualPath;

use super::context::{Context, DataProtection, Login, Response, TlsState, Transfer};
use super::control_stream::ControlStream;
use super::data::{self, DataChannel, Outcome};
use super::errors;
use super::proto::{Command, LineDecoder, LineError, ParseError, Reply, ReplyCode};
use super::quick_ack::QuickAck;
use super::session;
use super::shared::{Shared, TlsMode};
use super::tls::SessionTls;

/// Bytes read from the control socket at once. Commands are short (a long path arrives in a
/// few reads); the buffer lives as long as the session, idle or not, so it is kept small.
const READ_BYTES: usize = 512;
/// How long closing the control connection may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Sets up one control connection and returns the future that serves it until it ends; the
/// admission's permit holds its connection slot until then. `None` when the session's TLS
/// cannot be set up.
///
/// Not an async fn: an async fn's future keeps its arguments apart from the locals they move
/// into, so the admission and the socket would stay in every idle session's task next to the
/// `Control` made of them. The future returned holds the `Control`, the permit and the mode.
pub fn serve(
    shared: Arc<Shared>,
    tcp: TcpStream,
    admitted: Admitted,
    mode: TlsMode,
) -> Option<impl Future<Output = ()> + Send> {
    let Admitted { connection, permit } = admitted;
    // Every reply is one write; without NODELAY a reply could wait for a delayed ACK.
    if let Err(error) = tcp.set_nodelay(true) {
        tracing::debug!(%error, "cannot set TCP_NODELAY");
    }
    let tls_base = shared.tls_base();
    let tls = match SessionTls::new(&tls_base, &shared.registry, connection.info().peer.ip()) {
        Ok(tls) => tls,
        Err(error) => {
            tracing::error!(%error, "cannot set up TLS for a session");
            return None;
        }
    };
    let session = Context::new(shared, connection, tls, tls_base);
    let mut control = Control {
        stream: ControlStream::Plain(tcp),
        decoder: LineDecoder::new(),
        started: Instant::now(),
        last_command: Instant::now(),
        transfer: None,
        session,
    };
    Some(async move {
        tracing::debug!(?mode, "FTPS connection accepted");
        control.run(mode).await;
        control.finish().await;
        drop(permit);
    })
}

struct Control {
    stream: ControlStream,
    decoder: LineDecoder,
    session: Context,
    started: Instant,
    last_command: Instant,
    /// Boxed: 96 bytes that every session would carry, idle or not, for its rare transfers.
    transfer: Option<Box<Running>>,
}

/// A transfer task and what the control side needs to report its end.
struct Running {
    handle: JoinHandle<Outcome>,
    cancel: CancellationToken,
    progress: Arc<AtomicU64>,
    started: Instant,
    audit: Option<(Action, VirtualPath)>,
    done_text: String,
}

/// Whether the control loop goes on.
#[derive(Debug, PartialEq, Eq)]
enum Next {
    Continue,
    Close,
}

/// What woke the control loop.
enum Event {
    Read(io::Result<usize>),
    TransferDone(Outcome),
    Shutdown,
    Kicked,
    Timeout,
}

impl Control {
    async fn run(&mut self, mode: TlsMode) {
        // Boxed: the handshake's future (rustls' connection in it) is the largest this loop
        // awaits, and inline it would size the task of every session for as long as it lasts.
        if mode == TlsMode::Implicit
            && Box::pin(self.start_tls(DataProtection::NoBufferSize)).await == Next::Close
        {
            return;
        }
        let banner = self.session.config.ftps.banner.clone();
        if self
            .send(&Reply::new(ReplyCode::ServiceReady, banner))
            .await
            == Next::Close
        {
            return;
        }
        // Only the token, not a clone of all `Services`: this lives in every idle session's task.
        let shutdown = self.session.shared.services.shutdown.clone();
        let mut buffer = vec![0u8; READ_BYTES];
        loop {
            let deadline = self.deadline();
            let has_transfer = self.transfer.is_some();
            let event = tokio::select! {
                biased;
                // A running transfer's token is a child of `services.abort`: the server's
                // abort cuts it without help from here.
                outcome = wait(&mut self.transfer) => Event::TransferDone(outcome),
                () = shutdown.cancelled(), if !has_transfer => Event::Shutdown,
                () = kicked(&self.session.login) => Event::Kicked,
                () = tokio::time::sleep_until(deadline), if !has_transfer => Event::Timeout,
                read = self.stream.read(&mut buffer) => Event::Read(read),
            };
            let next = match event {
                Event::TransferDone(outcome) => self.report(outcome, None, SHUTDOWN).await,
                Event::Shutdown => {
                    let reply = Reply::new(ReplyCode::ServiceNotAvailable, "Server shutting down");
                    self.send(&reply).await;
                    Next::Close
                }
                Event::Kicked => {
                    tracing::info!("session ended by the administrator");
                    let reply = Reply::new(
                        ReplyCode::ServiceNotAvailable,
                        "Session closed by the server's administrator",
                    );
                    self.send(&reply).await;
                    Next::Close
                }
                Event::Timeout => {
                    tracing::info!("control connection timed out");
                    let reply = Reply::new(
                        ReplyCode::ServiceNotAvailable,
                        "Timeout: closing control connection",
                    );
                    self.send(&reply).await;
                    Next::Close
                }
                Event::Read(Ok(0)) => Next::Close,
                // Boxed: a command's future (any handler's) is large, and kept inline it would
                // size the task of every idle session.
                Event::Read(Ok(count)) => Box::pin(self.received(&buffer[..count])).await,
                Event::Read(Err(error)) => {
                    tracing::debug!(%error, "control connection read failed");
                    Next::Close
                }
            };
            if next == Next::Close {
                return;
            }
        }
    }

    fn deadline(&self) -> Instant {
        let server = &self.session.config.server;
        let logged_in = matches!(self.session.login, Login::LoggedIn(_));
        silence_deadline(
            self.started,
            self.last_command,
            logged_in,
            server.idle_timeout,
            server.login_timeout,
        )
    }

    async fn received(&mut self, bytes: &[u8]) -> Next {
        self.decoder.push(bytes);
        while let Some(line) = self.decoder.next_line() {
            let next = match line {
                Err(LineError::TooLong) => {
                    let reply = Reply::new(ReplyCode::SyntaxError, "Command line too long");
                    self.send(&reply).await
                }
                Ok(line) => self.line(&line).await,
            };
            if next == Next::Close {
                return Next::Close;
            }
        }
        Next::Continue
    }

    async fn line(&mut self, line: &[u8]) -> Next {
        self.last_command = Instant::now();
        let command = match super::proto::parse(line) {
            Ok(command) => command,
            Err(error) => return self.send(&parse_reply(&error)).await,
        };
        tracing::debug!(command = command.verb(), "command");
        if self.transfer.is_some() {
            match command {
                Command::Abor => return self.abort_transfer().await,
                Command::Noop => {
                    return self
                        .send(&Reply::new(ReplyCode::CommandOkay, "NOOP ok"))
                        .await
                }
                Command::Stat(None) => return self.send(&self.transfer_status()).await,
                // Anything else waits for the transfer, keeping replies in order.
                _ => {
                    if self.wait_for_transfer().await == Next::Close {
                        return Next::Close;
                    }
                }
            }
        }
        let response = session::dispatch(&mut self.session, command).await;
        self.respond(response).await
    }

    async fn respond(&mut self, response: Response) -> Next {
        match response {
            Response::Reply(reply) => self.send(&reply).await,
            Response::Close(reply) => {
                self.send(&reply).await;
                Next::Close
            }
            Response::StartTls(reply, protection) => {
                if self.decoder.buffered_len() > 0 {
                    // STARTTLS command injection: plaintext sent behind AUTH must never be
                    // read as if it came over TLS.
                    tracing::warn!(
                        bytes = self.decoder.buffered_len(),
                        "discarding plaintext pipelined after AUTH"
                    );
                }
                self.decoder.discard_buffered();
                if self.send(&reply).await == Next::Close {
                    return Next::Close;
                }
                self.start_tls(protection).await
            }
            Response::Transfer(transfer) => self.start_transfer(*transfer).await,
        }
    }

    async fn start_tls(&mut self, protection: DataProtection) -> Next {
        let ControlStream::Plain(tcp) = std::mem::replace(&mut self.stream, ControlStream::Closed)
        else {
            return Next::Close;
        };
        let limit = self.session.config.server.login_timeout;
        // lftp splits its last flight here too: without immediate ACKs each session's
        // `AUTH TLS` waited for a delayed one (see `quick_ack`).
        let handshake = self.session.tls.accept_control(QuickAck::arm(tcp));
        match tokio::time::timeout(limit, handshake).await {
            Ok(Ok(mut stream)) => {
                stream.get_mut().0.disarm();
                tracing::debug!(
                    version = ?stream.get_ref().1.protocol_version(),
                    "TLS established on the control connection"
                );
                self.stream = ControlStream::Tls(Box::new(stream));
                self.session.tls_state = TlsState::Secure(protection);
                Next::Continue
            }
            Ok(Err(error)) => {
                tracing::info!(%error, "TLS handshake on the control connection failed");
                self.session
                    .shared
                    .services
                    .metrics
                    .tls_handshake_failed(Protocol::Ftps);
                Next::Close
            }
            Err(_) => {
                tracing::info!("TLS handshake on the control connection timed out");
                Next::Close
            }
        }
    }

    async fn start_transfer(&mut self, transfer: Transfer) -> Next {
        let Transfer {
            preliminary,
            mut setup,
            job,
            audit,
            done_text,
        } = transfer;
        if let DataChannel::Passive(pending) = &mut setup.channel {
            let limit = setup.timeout;
            let _ = tokio::time::timeout(limit, pending.until_reply_allowed()).await;
        }
        if self.send(&preliminary).await == Next::Close {
            return Next::Close;
        }
        let services = &self.session.shared.services;
        let cancel = services.abort.child_token();
        let progress = Arc::new(AtomicU64::new(0));
        let task = data::run(
            setup,
            job,
            progress.clone(),
            cancel.clone(),
            services.tasks.clone(),
        );
        let handle = services
            .tasks
            .spawn(tracing::Instrument::in_current_span(task));
        if let (Some(user), Some((action, path))) = (self.session.user(), &audit) {
            let entry = user.session.registration();
            entry.transfer_started(format!("{} {path}", action.as_str()), progress.clone());
        }
        self.transfer = Some(Box::new(Running {
            handle,
            cancel,
            progress,
            started: Instant::now(),
            audit,
            done_text,
        }));
        Next::Continue
    }

    /// ABOR during a transfer: cut it, then `426` and `226` (RFC 959 §4.1.3).
    async fn abort_transfer(&mut self) -> Next {
        if let Some(running) = &self.transfer {
            running.cancel.cancel();
        }
        let outcome = wait(&mut self.transfer).await;
        let abor = Reply::new(ReplyCode::ClosingDataConnection, "ABOR successful");
        let cut = (reason::ABOR, "the client sent ABOR");
        self.report(outcome, Some(abor), cut).await
    }

    async fn wait_for_transfer(&mut self) -> Next {
        let outcome = wait(&mut self.transfer).await;
        self.report(outcome, None, SHUTDOWN).await
    }

    fn transfer_status(&self) -> Reply {
        let bytes = self
            .transfer
            .as_ref()
            .map_or(0, |running| running.progress.load(Ordering::Relaxed));
        Reply::multiline(
            ReplyCode::SystemStatus,
            [
                "Transfer in progress:".to_owned(),
                format!(" {bytes} bytes transferred"),
                "End of status".to_owned(),
            ],
        )
    }

    /// Writes the transfer's final reply (and `extra`, in the same write) and audits it; `cut`
    /// says why, should the transfer have been cancelled.
    async fn report(
        &mut self,
        outcome: Outcome,
        extra: Option<Reply>,
        cut: (&'static str, &'static str),
    ) -> Next {
        // The reply is made before the first await, so this future holds the bytes and the
        // write, not the transfer's state.
        match self.conclude(outcome, extra, cut) {
            Some(out) => self.write(&out).await,
            None => Next::Continue,
        }
    }

    /// Ends the running transfer's bookkeeping and audit; its final reply's bytes. `None` when
    /// no transfer runs.
    fn conclude(
        &mut self,
        outcome: Outcome,
        extra: Option<Reply>,
        cut: (&'static str, &'static str),
    ) -> Option<Vec<u8>> {
        let running = self.transfer.take()?;
        if let Some(user) = self.session.user() {
            user.session.registration().transfer_ended();
        }
        self.last_command = Instant::now();
        let (reply, audit_outcome, bytes) = match outcome {
            Outcome::Complete { bytes } => (
                Reply::new(ReplyCode::ClosingDataConnection, running.done_text),
                AuditOutcome::Ok,
                bytes,
            ),
            Outcome::Aborted { bytes } => (
                Reply::new(ReplyCode::ConnectionClosed, "Transfer aborted"),
                AuditOutcome::aborted(cut.0, cut.1),
                bytes,
            ),
            Outcome::ConnectionLost {
                bytes,
                reason,
                detail,
            } => {
                tracing::info!(reason, %detail, "data connection lost");
                let reply = Reply::new(
                    ReplyCode::ConnectionClosed,
                    "Connection closed; transfer aborted",
                );
                (reply, AuditOutcome::aborted(reason, detail), bytes)
            }
            Outcome::Data(error) => {
                let reply = errors::data_reply(&error);
                let outcome = AuditOutcome::failed(reason::DATA_CONNECTION, error.to_string());
                (reply, outcome, 0)
            }
            Outcome::File { error, bytes } => {
                let reply = match running.audit {
                    Some((Action::Upload, _)) => errors::upload_failed_reply(&error),
                    _ => errors::vfs_reply(&error),
                };
                let detail = reply.lines().join(" ");
                (
                    reply,
                    AuditOutcome::failed(error.kind.code(), detail),
                    bytes,
                )
            }
        };
        if let Some((action, path)) = &running.audit {
            let duration = running.started.elapsed();
            self.session.audit_transfer(
                *action,
                path.as_str(),
                None,
                bytes,
                duration,
                audit_outcome,
            );
        }
        let mut out = reply.to_bytes();
        if let Some(extra) = extra {
            extra.encode(&mut out);
        }
        Some(out)
    }

    async fn send(&mut self, reply: &Reply) -> Next {
        self.write(&reply.to_bytes()).await
    }

    async fn write(&mut self, bytes: &[u8]) -> Next {
        let limit = self.session.config.server.idle_timeout;
        match tokio::time::timeout(limit, self.stream.write(bytes)).await {
            Ok(Ok(())) => Next::Continue,
            Ok(Err(error)) => {
                tracing::debug!(%error, "control connection write failed");
                Next::Close
            }
            Err(_) => {
                tracing::info!("client stopped reading the control connection");
                Next::Close
            }
        }
    }

    /// Ends the session: a transfer still running is cut (its upload discarded), the user is
    /// logged out (`session_core`), and TLS is closed with close_notify.
    async fn finish(&mut self) {
        if let Some(running) = &self.transfer {
            running.cancel.cancel();
            let outcome = wait(&mut self.transfer).await;
            // The client is gone or leaving; the reply is best effort.
            let cut = if self.session.shared.services.abort.is_cancelled() {
                SHUTDOWN
            } else {
                (reason::SESSION_ENDED, "the control connection closed first")
            };
            let _ = self.report(outcome, None, cut).await;
        }
        self.session.data = DataChannel::None;
        if let Login::LoggedIn(user) =
            std::mem::replace(&mut self.session.login, Login::AwaitingUser)
        {
            user.session.end();
        }
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, self.stream.close()).await;
    }
}

/// When a control connection that sends no command is closed: `idle_timeout` after the last
/// command (or the connection's start), and until login also `login_timeout` after the start,
/// whichever is first. Only a whole command line counts as activity, so a client that
/// trickles bytes without ever ending a line is still cut at the login deadline (Slowloris).
pub(super) fn silence_deadline(
    started: Instant,
    last_command: Instant,
    logged_in: bool,
    idle_timeout: Duration,
    login_timeout: Duration,
) -> Instant {
    let idle = last_command + idle_timeout;
    if logged_in {
        idle
    } else {
        idle.min(started + login_timeout)
    }
}

/// Completes when an administrator kicks the session; pending forever before login.
async fn kicked(login: &Login) {
    match login {
        Login::LoggedIn(user) => user.session.kicked().cancelled().await,
        _ => std::future::pending().await,
    }
}

/// The running transfer's outcome; pending forever when there is none.
async fn wait(transfer: &mut Option<Box<Running>>) -> Outcome {
    match transfer {
        Some(running) => match (&mut running.handle).await {
            Ok(outcome) => outcome,
            Err(error) => {
                tracing::error!(%error, "transfer task failed");
                Outcome::File {
                    error: crate::vfs::VfsError::new(crate::vfs::VfsErrorKind::Io),
                    bytes: running.progress.load(Ordering::Relaxed),
                }
            }
        },
        None => std::future::pending().await,
    }
}

/// The reply for a line that does not parse (RFC 959 §4.2: 500, 501, 502, 504; RFC 2428: 522).
fn parse_reply(error: &ParseError) -> Reply {
    let code = match error {
        ParseError::UnknownCommand(_) => ReplyCode::NotImplemented,
        ParseError::InvalidUtf8 | ParseError::NulByte | ParseError::Syntax(_) => {
            ReplyCode::SyntaxErrorInParameters
        }
        ParseError::UnsupportedParameter(_) => ReplyCode::NotImplementedForParameter,
        ParseError::UnsupportedNetworkProtocol => ReplyCode::NetworkProtocolNotSupported,
    };
    Reply::new(code, error.to_string())
}
