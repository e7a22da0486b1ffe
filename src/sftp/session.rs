//! The SFTP request loop of one channel: read, decode, run concurrently, write in one place.
//!
//! Three kinds of task serve a channel:
//!
//! - **The reader** (this function's own task) drains the channel without pause, splits the
//!   bytes into packets (`proto::PacketDecoder`, 256 KiB limit checked before allocation) and
//!   dispatches each request. It stops taking new requests only while the session's budget
//!   ([`MAX_IN_FLIGHT_REQUESTS`], [`MAX_IN_FLIGHT_BYTES`]) is spent; replies return budget as
//!   they reach the channel, whatever else is blocked, so this backpressure cannot deadlock the
//!   russh session loop (which must keep reading WINDOW_ADJUST: the russh-sftp stall).
//! - **Data tasks**: every READ and WRITE runs as its own task on positional file I/O, so a
//!   client's 64 pipelined requests hit the disk together instead of one at a time. Their
//!   replies still leave in request order per handle: OpenSSH's client stops advancing its
//!   "high water" mark when WRITE acks arrive out of order and then truncates the upload to it
//!   (`scp` does, found by `clients_sftp.rs`), so ordered acks are part of the protocol.
//!   WRITEs on a handle also take their place in request order: each starts once the previous
//!   one holds its place in line (`SharedFileWriter::write_at_in_turn`: at once on a disk, at
//!   the upload's sequencer on object storage), so storage that takes writes only in order
//!   receives them in order however many a client pipelines.
//! - **The lane**: every other request runs in arrival order on one task, as OpenSSH's
//!   sftp-server runs everything, so `mkdir a; open a/f` pipelined without waiting still works.
//!   A request on a handle (CLOSE, FSTAT, FSETSTAT, READDIR, fsync, …) first waits for the
//!   READs and WRITEs sent before it on that handle, and READs and WRITEs sent after it wait
//!   for it: per-handle ordering where it matters (data before CLOSE commits an upload).
//! - **The writer** sends every reply through the channel's write half, coalescing small ones.
//!
//! The handle table is shared by these tasks behind a mutex held only for a lookup or insert,
//! never across an await. A malformed packet ends the session (logged); the daemon and other
//! sessions are untouched. At the end, uploads still open are discarded: a killed client never
//! leaves a partial file under the final name.

use std::collections::HashMap;
use std::future::Future;
use std::mem;

use std::pin::Pin;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use russh::server::Msg;
use russh::{Channel, ChannelMsg, ChannelWriteHalf};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::{CancellationToken, DropGuard};
use tokio_util::task::TaskTracker;

use super::context::{Context, SessionContext};
use super::handles::{parse_id, HandleId, Resolved};
use super::proto::{
    decode_request, encode_status, encode_version, parse_init, DecodeError, PacketDecoder, Request,
    RequestKind, StatusCode, MAX_READ_LENGTH, OPENSSH_EXTENSIONS, SFTP_VERSION,
};
use super::reply_batch;
use super::requests::{self, reply};
use crate::audit::reason;
use crate::limits::{Defender, Offence};
use tracing::Instrument as _;

/// Most requests of one session being worked on or waiting for their reply to be sent.
/// OpenSSH's client keeps 64 outstanding; more is allowed so bursts of small requests flow.
pub(crate) const MAX_IN_FLIGHT_REQUESTS: usize = 256;

/// Most bytes one session may hold for requests in flight (WRITE payloads, READ replies).
/// Twice what OpenSSH pipelines (64 × 255 KiB), and the bound on a session's buffer memory.
pub(crate) const MAX_IN_FLIGHT_BYTES: usize = 32 * 1024 * 1024;

/// Replies smaller than this are gathered into one channel write.
const COALESCE_BYTES: usize = 64 * 1024;

/// Budget charged for a reply whose size is not known in advance.
const SMALL_REPLY_BYTES: usize = 1024;

/// Budget charged for a READDIR reply.
const READDIR_REPLY_BYTES: usize = 64 * 1024;

/// Extensions advertised besides OpenSSH's: `check-file` (draft-ietf-secsh-filexfer-extensions-00)
/// with the hash algorithms `check-file-name`/`check-file-handle` accept.
const EXTRA_EXTENSIONS: &[(&str, &str)] = &[("check-file", "md5,sha1,sha256")];

/// Runs the SFTP protocol on `channel` until the client leaves, the server shuts down
/// (`shutdown`: a session with no open file ends after the requests already received; one
/// with open files keeps being served until the client has closed them, so running transfers
/// finish within the grace time) or aborts (`abort`: cut now; uploads are discarded).
pub(crate) async fn run(
    channel: Channel<Msg>,
    context: SessionContext,
    tasks: TaskTracker,
    shutdown: CancellationToken,
    abort: CancellationToken,
    defender: Defender,
) {
    let (mut read, write) = channel.split();
    let (reply_tx, reply_rx) = mpsc::unbounded_channel();
    // Every task of the session logs in the connection's span (session id, user, peer).
    let writer = tasks.spawn(write_replies(write, reply_rx).in_current_span());
    let (lane_tx, lane_rx) = mpsc::unbounded_channel();
    let lane = tasks.spawn(run_lane(lane_rx).in_current_span());
    let shared = Arc::new(Context::new(context));
    let mut loop_state = Reader {
        shared: shared.clone(),
        decoder: PacketDecoder::new(),
        initialized: false,
        replies: reply_tx,
        lane: lane_tx,
        requests: Arc::new(Semaphore::new(MAX_IN_FLIGHT_REQUESTS)),
        bytes: Arc::new(Semaphore::new(MAX_IN_FLIGHT_BYTES)),
        orders: HashMap::new(),
        data_tasks: TaskTracker::new(),
        tasks,
    };
    let end = tokio::select! {
        end = loop_state.read_all(&mut read, &shutdown) => end,
        () = abort.cancelled() => End::Abort,
    };
    match &end {
        End::Client => tracing::debug!("sftp session closed by the client"),
        End::Shutdown => tracing::info!("server shutting down; closing the sftp session"),
        End::Abort => tracing::info!("server stopping; cutting the sftp session"),
        End::Protocol(reason) => {
            tracing::warn!(reason, "ending the sftp session");
            defender.report(shared.session.peer, Offence::ProtocolAbuse);
        }
    }
    let Reader {
        replies,
        lane: lane_tx,
        data_tasks,
        ..
    } = loop_state;
    drop(lane_tx);
    data_tasks.close();
    let drained = async {
        let _ = lane.await;
        data_tasks.wait().await;
        drop(replies);
        writer.await.ok()
    };
    let write_half = if matches!(end, End::Abort) {
        None
    } else {
        tokio::select! {
            write_half = drained => write_half.flatten(),
            () = abort.cancelled() => None,
        }
    };
    let open_handles = shared.lock_table().drain();
    let why = match &end {
        End::Client => (
            reason::SESSION_ENDED,
            "the client closed the session before CLOSE",
        ),
        End::Shutdown | End::Abort => (reason::SHUTDOWN, "the server stopped"),
        End::Protocol(_) => (
            reason::SESSION_ENDED,
            "the session ended on a protocol error",
        ),
    };
    requests::discard_handles(&shared.session, open_handles, why).await;
    if let Some(write_half) = write_half {
        // Subsystems end like OpenSSH's: exit status, EOF, close. Errors mean it is gone.
        let _ = write_half.exit_status(0).await;
        let _ = write_half.eof().await;
        let _ = write_half.close().await;
    }
}

/// An encoded reply on its way to the channel, holding the budget of its request.
struct Reply {
    bytes: BytesMut,
    _budget: Option<Budget>,
}

/// One request's share of the session budget; returned on drop.
struct Budget {
    _request: OwnedSemaphorePermit,
    _bytes: OwnedSemaphorePermit,
}

type LaneJob = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Why the reader stopped.
enum End {
    Client,
    Shutdown,
    Abort,
    Protocol(&'static str),
}

/// Per-handle ordering: READ/WRITE tasks since the last ordered request, that request, and
/// the reply of the newest READ/WRITE (the next one queues its reply only after it).
#[derive(Default)]
struct HandleOrder {
    running: Vec<CancellationToken>,
    barrier: Option<CancellationToken>,
    last_reply: Option<CancellationToken>,
    /// Cancelled when the newest WRITE has begun: the next WRITE begins only after it.
    last_write_start: Option<CancellationToken>,
}

struct Reader {
    shared: Arc<Context>,
    decoder: PacketDecoder,
    initialized: bool,
    replies: mpsc::UnboundedSender<Reply>,
    lane: mpsc::UnboundedSender<LaneJob>,
    requests: Arc<Semaphore>,
    bytes: Arc<Semaphore>,
    orders: HashMap<HandleId, HandleOrder>,
    data_tasks: TaskTracker,
    tasks: TaskTracker,
}

impl Reader {
    async fn read_all(
        &mut self,
        read: &mut russh::ChannelReadHalf,
        shutdown: &CancellationToken,
    ) -> End {
        let mut stopping = false;
        loop {
            let message = tokio::select! {
                message = read.wait() => message,
                () = shutdown.cancelled(), if !stopping => {
                    stopping = true;
                    if !self.shared.lock_table().has_open_files() {
                        return End::Shutdown;
                    }
                    tracing::info!("server shutting down; waiting for open files to be closed");
                    continue;
                }
            };
            match message {
                Some(ChannelMsg::Data { data }) => {
                    self.decoder.push(&data);
                    if let Err(end) = self.drain_packets().await {
                        return end;
                    }
                }
                Some(ChannelMsg::Eof | ChannelMsg::Close) | None => return End::Client,
                Some(other) => tracing::debug!(?other, "ignoring channel message"),
            }
            if stopping && !self.shared.lock_table().has_open_files() {
                return End::Shutdown;
            }
        }
    }

    async fn drain_packets(&mut self) -> Result<(), End> {
        loop {
            let body = match self.decoder.next_packet() {
                Ok(Some(body)) => body,
                Ok(None) => return Ok(()),
                Err(error) => {
                    tracing::warn!(%error, "bad sftp framing");
                    return Err(End::Protocol("bad packet framing"));
                }
            };
            if self.initialized {
                self.dispatch(body).await?;
            } else {
                self.initialize(&body)?;
            }
        }
    }

    fn initialize(&mut self, body: &Bytes) -> Result<(), End> {
        let version = parse_init(body).map_err(|_| End::Protocol("first packet is not INIT"))?;
        tracing::debug!(client_version = version, "sftp session started");
        let mut extensions = OPENSSH_EXTENSIONS.to_vec();
        extensions.extend_from_slice(EXTRA_EXTENSIONS);
        let mut out = BytesMut::new();
        encode_version(&mut out, SFTP_VERSION, &extensions)
            .map_err(|_| End::Protocol("VERSION does not fit a packet"))?;
        self.initialized = true;
        self.send(out, None);
        Ok(())
    }

    async fn dispatch(&mut self, body: Bytes) -> Result<(), End> {
        let cost = body.len();
        let request = match decode_request(body) {
            Ok(request) => request,
            Err(DecodeError::UnknownType { id: Some(id) }) => {
                let mut out = BytesMut::new();
                let message = "unknown request type";
                let _ = encode_status(&mut out, id, StatusCode::OpUnsupported, message);
                self.send(out, None);
                return Ok(());
            }
            Err(error) => {
                tracing::warn!(%error, id = ?error.id(), "undecodable sftp request");
                return Err(End::Protocol("malformed request"));
            }
        };
        tracing::trace!(id = request.id, request = request.kind.name(), "request");
        let Some(budget) = self.acquire(cost + reply_estimate(&request.kind)).await else {
            return Err(End::Protocol("budget closed"));
        };
        let route = route(&request.kind);
        let Some(resolved) = lookup(&self.shared, &route) else {
            self.send(reply::invalid_handle(request.id), Some(budget));
            return Ok(());
        };
        match route {
            Route::Data(raw) => self.spawn_data(request, &raw, resolved, budget),
            Route::Ordered { handles, closing } => {
                self.spawn_ordered(request, &handles, resolved, budget, closing);
            }
            Route::Lane => self.spawn_lane(request, resolved, Vec::new(), None, budget),
        }
        Ok(())
    }

    /// READ and WRITE: run now, after the last ordered request on the handle.
    fn spawn_data(
        &mut self,
        request: Request,
        raw_handle: &Bytes,
        resolved: Resolved,
        budget: Budget,
    ) {
        let Some(id) = parse_id(raw_handle) else {
            // `lookup` found the handle, so its id parses; a reply still goes back if not.
            self.send(reply::invalid_handle(request.id), Some(budget));
            return;
        };
        let order = self.orders.entry(id).or_default();
        order.running.retain(|token| !token.is_cancelled());
        let done = CancellationToken::new();
        order.running.push(done.clone());
        let barrier = order.barrier.clone();
        let queued = CancellationToken::new();
        let previous_reply = order.last_reply.replace(queued.clone());
        // WRITEs begin in the order they came (they still run concurrently): storage that
        // takes writes only in order (object storage) then sees at most a few overtake one
        // another before its reorder window, however many a client pipelines.
        let (started, previous_start) = match request.kind {
            RequestKind::Write { .. } => {
                let started = CancellationToken::new();
                let previous = order.last_write_start.replace(started.clone());
                (Some(started), previous)
            }
            _ => (None, None),
        };
        let shared = self.shared.clone();
        let replies = self.replies.clone();
        let job = async move {
            let _done = done.drop_guard();
            let queued = queued.drop_guard();
            let started = started.map(CancellationToken::drop_guard);
            if let Some(barrier) = barrier {
                barrier.cancelled().await;
            }
            if let Some(previous) = previous_start {
                previous.cancelled().await;
            }
            let out = match started {
                Some(turn) => execute_write(request, resolved, turn).await,
                None => execute(&shared, request, resolved).await,
            };
            if let Some(previous) = previous_reply {
                previous.cancelled().await;
            }
            let _ = replies.send(Reply {
                bytes: out,
                _budget: Some(budget),
            });
            drop(queued);
        };
        self.tasks
            .spawn(self.data_tasks.track_future(job.in_current_span()));
    }

    /// A request on handles: in the lane, after earlier READ/WRITEs on them; later READ/WRITEs
    /// wait for it. `closing` forgets the handle's ordering state (it is gone).
    fn spawn_ordered(
        &mut self,
        request: Request,
        handles: &[Bytes],
        resolved: Resolved,
        budget: Budget,
        closing: bool,
    ) {
        let done = CancellationToken::new();
        let mut wait_for = Vec::new();
        for raw in handles {
            let Some(id) = parse_id(raw) else { continue };
            let order = self.orders.entry(id).or_default();
            wait_for.append(&mut order.running);
            wait_for.extend(order.barrier.replace(done.clone()));
            if closing {
                self.orders.remove(&id);
            }
        }
        self.spawn_lane(request, resolved, wait_for, Some(done), budget);
    }

    fn spawn_lane(
        &mut self,
        request: Request,
        resolved: Resolved,
        wait_for: Vec<CancellationToken>,
        done: Option<CancellationToken>,
        budget: Budget,
    ) {
        let shared = self.shared.clone();
        let replies = self.replies.clone();
        let job = async move {
            let _done = done.map(CancellationToken::drop_guard);
            for token in wait_for {
                token.cancelled().await;
            }
            let out = execute(&shared, request, resolved).await;
            let _ = replies.send(Reply {
                bytes: out,
                _budget: Some(budget),
            });
        };
        // The lane lives until this reader drops its sender, so the send cannot fail while we
        // are here; if it somehow did, the request's budget is returned by the drop.
        let _ = self.lane.send(Box::pin(job));
    }

    /// Waits for budget; `None` only if the semaphores were closed, which nothing does.
    async fn acquire(&self, cost: usize) -> Option<Budget> {
        let cost = u32::try_from(cost.min(MAX_IN_FLIGHT_BYTES)).unwrap_or(u32::MAX);
        let request = self.requests.clone().acquire_owned().await.ok()?;
        let bytes = self.bytes.clone().acquire_many_owned(cost).await.ok()?;
        Some(Budget {
            _request: request,
            _bytes: bytes,
        })
    }

    fn send(&self, bytes: BytesMut, budget: Option<Budget>) {
        let _ = self.replies.send(Reply {
            bytes,
            _budget: budget,
        });
    }
}

/// How the reader schedules a request, with the handles it names.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// READ or WRITE: a data task of its own, ordered per handle.
    Data(Bytes),
    /// A request on handles (CLOSE, FSTAT, READDIR, copy-data, …): in the lane, after the
    /// READs and WRITEs sent before it on them. `closing`: CLOSE takes the handle out of the
    /// table at once, so requests sent after it no longer find it.
    Ordered { handles: Vec<Bytes>, closing: bool },
    /// Everything else: in the lane, in arrival order.
    Lane,
}

/// The route of a request.
pub(crate) fn route(kind: &RequestKind) -> Route {
    match kind {
        RequestKind::Read { handle, .. } | RequestKind::Write { handle, .. } => {
            Route::Data(handle.clone())
        }
        RequestKind::Close { handle } => Route::Ordered {
            handles: vec![handle.clone()],
            closing: true,
        },
        RequestKind::Fstat { handle }
        | RequestKind::Fsetstat { handle, .. }
        | RequestKind::Readdir { handle }
        | RequestKind::Fstatvfs { handle }
        | RequestKind::Fsync { handle }
        | RequestKind::CheckFileHandle { handle, .. } => Route::Ordered {
            handles: vec![handle.clone()],
            closing: false,
        },
        RequestKind::CopyData {
            read_handle,
            write_handle,
            ..
        } => Route::Ordered {
            handles: vec![read_handle.clone(), write_handle.clone()],
            closing: false,
        },
        _ => Route::Lane,
    }
}

/// The open objects behind the handles `route` names, taken out of the table for CLOSE;
/// `None` when one of them is unknown (the request is answered with "invalid handle").
pub(crate) fn lookup(channel: &Context, route: &Route) -> Option<Resolved> {
    let mut table = channel.lock_table();
    match route {
        Route::Lane => Some(Resolved::Path),
        Route::Data(raw) => table.get(raw).map(Resolved::One),
        Route::Ordered { handles, closing } => {
            let mut found = handles.iter().map(|raw| {
                if *closing {
                    table.remove(raw)
                } else {
                    table.get(raw)
                }
            });
            match (found.next(), found.next()) {
                (Some(Some(only)), None) => Some(Resolved::One(only)),
                (Some(Some(first)), Some(Some(second))) => Some(Resolved::Two(first, second)),
                _ => None,
            }
        }
    }
}

/// Runs one request through the handler table and returns its encoded reply (a STATUS on
/// failure).
pub(crate) async fn execute(channel: &Context, request: Request, resolved: Resolved) -> BytesMut {
    let id = request.id;
    let name = request.kind.name();
    match requests::run(channel, id, request.kind, resolved).await {
        Ok(out) => out,
        Err(failure) => {
            tracing::debug!(id, request = name, code = ?failure.code, message = %failure.message, "request failed");
            reply::status(id, failure.code, &failure.message)
        }
    }
}

/// A WRITE that releases `turn` once it holds its place in line on its file.
async fn execute_write(request: Request, resolved: Resolved, turn: DropGuard) -> BytesMut {
    let id = request.id;
    let RequestKind::Write { offset, data, .. } = request.kind else {
        return reply::status(id, StatusCode::Failure, "not a write");
    };
    match requests::write_in_turn(id, &resolved, offset, data, turn).await {
        Ok(out) => out,
        Err(failure) => {
            tracing::debug!(id, request = "write", code = ?failure.code, message = %failure.message, "request failed");
            reply::status(id, failure.code, &failure.message)
        }
    }
}

/// What a request will hold besides its own bytes: the size of its reply.
fn reply_estimate(kind: &RequestKind) -> usize {
    match kind {
        RequestKind::Read { len, .. } => (*len).min(MAX_READ_LENGTH) as usize + 16,
        RequestKind::Readdir { .. } => READDIR_REPLY_BYTES,
        _ => SMALL_REPLY_BYTES,
    }
}

/// Runs lane jobs one after another, in the order the reader queued them.
async fn run_lane(mut jobs: mpsc::UnboundedReceiver<LaneJob>) {
    while let Some(job) = jobs.recv().await {
        job.await;
    }
}

/// The one writer: sends replies in queue order, small ones gathered into one channel write.
/// Returns the write half when every sender is gone, so the caller can close the channel.
async fn write_replies(
    write: ChannelWriteHalf<Msg>,
    mut replies: mpsc::UnboundedReceiver<Reply>,
) -> Option<ChannelWriteHalf<Msg>> {
    while let Some(first) = replies.recv().await {
        let mut batch = vec![first];
        let mut size = batch[0].bytes.len();
        while size < COALESCE_BYTES {
            match replies.try_recv() {
                Ok(next) => {
                    size += next.bytes.len();
                    batch.push(next);
                }
                Err(_) => break,
            }
        }
        // The replies keep their budget until the batch is dropped, after the writes.
        let bytes = batch
            .iter_mut()
            .map(|reply| mem::take(&mut reply.bytes).freeze());
        for bytes in reply_batch::channel_writes(bytes.collect()) {
            if let Err(error) = write.data_bytes(bytes).await {
                tracing::debug!(%error, "channel gone; dropping replies");
                return None;
            }
        }
        // Dropping the batch returns its budget to the reader.
        drop(batch);
    }
    Some(write)
}
