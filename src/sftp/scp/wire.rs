//! The channel as SCP uses it ([`Wire`]: records, acknowledgements and file bytes), and what
//! the sink and source share: how a transfer stops, client paths, audit events.

use bytes::{Bytes, BytesMut};
use russh::server::Msg;
use russh::{ChannelMsg, ChannelReadHalf, ChannelWriteHalf};
use tokio_util::sync::CancellationToken;

use crate::audit::{Action, Outcome};
use crate::sftp::context::{AuditDetail, SessionContext};
use crate::sftp::proto::scp::{self as proto, Ack, Record};
use crate::vfs::VirtualPath;

/// Deepest directory nesting sent or received with `-r` (a symlink loop ends here too).
pub(super) const MAX_DEPTH: usize = 64;

/// How many files or directories failed (each already reported with an `0x01` line).
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Errors(pub(super) usize);

/// Why a transfer ends early.
#[derive(Debug)]
pub(super) enum Stop {
    /// The peer broke the protocol (or its input ended inside a record or a file's bytes):
    /// say so with `0x02` and this text.
    Protocol(String),
    /// The peer gave up (`0x02`) or the channel is gone: nothing more to say.
    Ended,
    /// The server is shutting down: say so with `0x02`.
    Shutdown,
}

/// The channel as SCP uses it: records, acknowledgements and file bytes in, the same out.
pub(super) struct Wire {
    read: ChannelReadHalf,
    pub(super) write: ChannelWriteHalf<Msg>,
    /// Received and not yet consumed; grows by at most one SSH data message past a line.
    input: BytesMut,
    closed: bool,
    shutdown: CancellationToken,
    /// Cancelled at the end of the shutdown grace time: waiting for input stops at once.
    abort: CancellationToken,
}

impl Wire {
    pub(super) fn new(
        read: ChannelReadHalf,
        write: ChannelWriteHalf<Msg>,
        (shutdown, abort): (CancellationToken, CancellationToken),
    ) -> Wire {
        Wire {
            read,
            write,
            input: BytesMut::new(),
            closed: false,
            shutdown,
            abort,
        }
    }

    /// Ends the transfer between two files once the server is shutting down.
    pub(super) fn check_shutdown(&self) -> Result<(), Stop> {
        if self.shutdown.is_cancelled() {
            return Err(Stop::Shutdown);
        }
        Ok(())
    }

    /// Reads the next data message into `input`; false once the client sent EOF or closed.
    async fn fill(&mut self) -> Result<bool, Stop> {
        let abort = self.abort.clone();
        while !self.closed {
            let message = tokio::select! {
                message = self.read.wait() => message,
                () = abort.cancelled() => return Err(Stop::Shutdown),
            };
            match message {
                Some(ChannelMsg::Data { data }) => {
                    self.input.extend_from_slice(&data);
                    return Ok(true);
                }
                Some(ChannelMsg::Eof | ChannelMsg::Close) | None => self.closed = true,
                Some(_) => {}
            }
        }
        Ok(false)
    }

    /// [`Wire::fill`], or a stop when the server begins to shut down first.
    async fn fill_unless_shutdown(&mut self) -> Result<bool, Stop> {
        let shutdown = self.shutdown.clone();
        tokio::select! {
            filled = self.fill() => filled,
            () = shutdown.cancelled() => Err(Stop::Shutdown),
        }
    }

    /// The next record; `None` when the input ended cleanly between records. Waiting for it
    /// ends when the server shuts down.
    pub(super) async fn record(&mut self) -> Result<Option<Record>, Stop> {
        self.check_shutdown()?;
        loop {
            match proto::line_length(&self.input) {
                Err(error) => return Err(Stop::Protocol(error.to_string())),
                Ok(Some(len)) => {
                    let line = self.input.split_to(len);
                    return proto::parse_record(&line)
                        .map(Some)
                        .map_err(|error| Stop::Protocol(error.to_string()));
                }
                Ok(None) if self.fill_unless_shutdown().await? => {}
                Ok(None) if self.input.is_empty() => return Ok(None),
                Ok(None) => return Err(unexpected_end()),
            }
        }
    }

    /// The peer's next acknowledgement.
    pub(super) async fn ack(&mut self) -> Result<Ack, Stop> {
        loop {
            match proto::parse_ack(&self.input) {
                Err(error) => return Err(Stop::Protocol(error.to_string())),
                Ok(Some((ack, len))) => {
                    let _ = self.input.split_to(len);
                    return Ok(ack);
                }
                Ok(None) if self.fill().await? => {}
                Ok(None) => return Err(Stop::Ended),
            }
        }
    }

    /// Up to `max` (at least one) bytes of a file's contents.
    pub(super) async fn data(&mut self, max: u64) -> Result<Bytes, Stop> {
        if self.input.is_empty() && !self.fill().await? {
            return Err(unexpected_end());
        }
        let len = usize::try_from(max)
            .unwrap_or(usize::MAX)
            .min(self.input.len());
        Ok(self.input.split_to(len).freeze())
    }

    pub(super) async fn send(&self, bytes: impl Into<Bytes>) -> Result<(), Stop> {
        self.write.data_bytes(bytes).await.map_err(|_| Stop::Ended)
    }

    /// Reports a failure about one file (`0x01`), counting it in `errors`.
    pub(super) async fn warn(&self, errors: &mut Errors, message: &str) -> Result<(), Stop> {
        tracing::info!(%message, "scp file refused");
        errors.0 += 1;
        self.send(proto::encode_error(false, message)).await
    }
}

fn unexpected_end() -> Stop {
    Stop::Protocol("unexpected end of input".to_owned())
}

/// A client path as a virtual path; `~` and `~/…` are the home (the view's root), as the
/// shell that OpenSSH's `scp` expects would expand them.
pub(super) fn resolve(raw: &str) -> Result<VirtualPath, String> {
    let relative = match raw.strip_prefix('~') {
        Some("") => ".",
        Some(rest) if rest.starts_with('/') => rest.trim_start_matches('/'),
        _ => raw,
    };
    let relative = if relative.is_empty() { "." } else { relative };
    VirtualPath::root()
        .resolve(relative)
        .map_err(|error| format!("{raw}: {error}"))
}

/// Records one file moved (or not) in the audit stream.
pub(super) fn audit(
    context: &SessionContext,
    action: Action,
    path: &VirtualPath,
    (bytes, started): (u64, std::time::Instant),
    outcome: Outcome,
) {
    let detail = AuditDetail {
        target: None,
        bytes,
        duration: started.elapsed(),
        outcome,
    };
    context.audit(action, path.as_str(), detail);
}

/// Seconds since the epoch (0 before it).
pub(super) fn epoch_seconds(time: std::time::SystemTime) -> u64 {
    time.duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_paths_start_at_the_home() {
        for (raw, expected) in [
            ("", "/"),
            (".", "/"),
            ("~", "/"),
            ("~/", "/"),
            ("~/a/b", "/a/b"),
            ("a", "/a"),
            ("/a/../b", "/b"),
            ("../../etc", "/etc"),
        ] {
            assert_eq!(resolve(raw).unwrap().as_str(), expected, "{raw}");
        }
        assert!(resolve("a\0b").is_err());
    }
}
