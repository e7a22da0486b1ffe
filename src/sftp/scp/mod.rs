//! Legacy SCP over `exec` (`scp -t` to upload, `scp -f` to download), served in-process.
//!
//! OpenSSH before 9.0 (and `scp -O` after), PuTTY's `pscp -scp`, Dropbear and BusyBox run
//! `scp -t TARGET` or `scp -f PATH…` on the server and speak the SCP protocol over the
//! channel's stdin and stdout. No shell and no `scp` binary run here: `ssh` routes an
//! allow-listed command line (parsed by `sftp::proto::scp`) to [`run`], which plays the
//! server's half, `sink` (receiving) or `source` (sending), through the user's `UserFs`, so
//! confinement, permissions, denied names, quotas, bandwidth limits and atomic uploads are the
//! same as over SFTP, and every file moved is an audit event (with its xferlog line) as an
//! SFTP upload or download is.
//!
//! Errors about one file are reported the way OpenSSH's `run_err` does (`0x01` and a line)
//! and the transfer goes on; a malformed record ends it with `0x02` and a line. The exit status
//! is 1 if anything failed, as `scp`'s is.

mod sink;
mod source;
mod wire;

use russh::server::Msg;
use russh::Channel;
use tokio_util::sync::CancellationToken;

use super::context::SessionContext;
use super::proto::scp::{self as proto, Direction, Invocation};
use wire::{Errors, Stop, Wire};

/// How long after the abort a transfer that has not noticed it is dropped.
const ABORT_BACKSTOP: std::time::Duration = std::time::Duration::from_secs(2);

/// The server's stop signals, as the SFTP session gets them.
pub(crate) struct Stopping {
    /// Cancelled when the server begins to shut down: the file in flight is finished, then the
    /// transfer ends at the next record with `0x02` "server shutting down".
    pub shutdown: CancellationToken,
    /// Cancelled when the grace time is over: the transfer is cut (an upload is discarded).
    pub abort: CancellationToken,
}

/// Runs the `scp` command `invocation` on `channel` and closes it with scp's exit status.
pub(crate) async fn run(
    channel: Channel<Msg>,
    invocation: Invocation,
    context: SessionContext,
    stopping: Stopping,
) {
    let (read, write) = channel.split();
    let abort = stopping.abort.clone();
    let mut wire = Wire::new(read, write, (stopping.shutdown, stopping.abort));
    let role = match &invocation.direction {
        Direction::Sink(_) => "sink",
        Direction::Source(_) => "source",
    };
    let transfer = async {
        match &invocation.direction {
            Direction::Sink(target) => {
                sink::receive(&mut wire, &context, &invocation, target).await
            }
            Direction::Source(paths) => source::send(&mut wire, &context, &invocation, paths).await,
        }
    };
    // Waiting for input ends at the abort by itself (an upload is discarded and recorded).
    // A send stuck on a client that stopped reading is cut a moment later (dropping the
    // transfer discards its upload too, unrecorded).
    let cut = async {
        abort.cancelled().await;
        tokio::time::sleep(ABORT_BACKSTOP).await;
    };
    let result = tokio::select! {
        result = transfer => result,
        () = cut => Err(Stop::Shutdown),
    };
    let status = match result {
        Ok(Errors(n_errors)) => u32::from(n_errors > 0),
        Err(Stop::Protocol(message)) => {
            tracing::info!(role, %message, "scp ended by a protocol error");
            let line = proto::encode_error(true, &format!("protocol error: {message}"));
            let _ = wire.write.data_bytes(line).await;
            1
        }
        Err(Stop::Shutdown) => {
            tracing::info!(role, "server shutting down; ending the scp transfer");
            let line = proto::encode_error(true, "server shutting down");
            let _ = wire.write.data_bytes(line).await;
            1
        }
        Err(Stop::Ended) => 1,
    };
    tracing::info!(
        role,
        recursive = invocation.recursive,
        preserve = invocation.preserve,
        status,
        "scp"
    );
    // Every send fails only when the client has gone, and then there is nobody to tell.
    let _ = wire.write.exit_status(status).await;
    let _ = wire.write.eof().await;
    let _ = wire.write.close().await;
}
