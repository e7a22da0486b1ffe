//! The idle timer's clock: when the client last sent us a byte.
//!
//! russh's own `inactivity_timeout` ends the session loop with an error and drops the socket
//! without an SSH_MSG_DISCONNECT, so OpenSSH reports a bare "Connection closed"; it also
//! restarts on what the server sends. Instead the listener wraps the socket in [`Watched`],
//! which notes every read that brings bytes from the client (requests, data, keepalives and
//! window adjustments all mean the client is there), and disconnects through the session
//! handle with the reason "idle timeout" once `server.idle_timeout` passes without one
//! ([`idle_for`]). Both run on tokio's clock, so tests pause it instead of sleeping.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// When the client was last heard from, shared between the socket and the listener.
#[derive(Debug)]
pub(crate) struct ClientActivity {
    start: Instant,
    /// Milliseconds after `start` of the last read that brought bytes.
    last_millis: AtomicU64,
}

impl ClientActivity {
    /// A clock that counts the connection's start as activity.
    pub(crate) fn new() -> Arc<ClientActivity> {
        Arc::new(ClientActivity {
            start: Instant::now(),
            last_millis: AtomicU64::new(0),
        })
    }

    fn touch(&self) {
        let millis = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_millis.fetch_max(millis, Ordering::Relaxed);
    }

    /// When the client last sent something.
    pub(crate) fn last(&self) -> Instant {
        self.start + Duration::from_millis(self.last_millis.load(Ordering::Relaxed))
    }
}

/// Completes once the client has sent nothing for `timeout`. Activity meanwhile moves the
/// deadline: the timer sleeps to the old deadline, then on to the new one if the client spoke.
pub(crate) async fn idle_for(activity: &ClientActivity, timeout: Duration) {
    loop {
        let due = activity.last() + timeout;
        if Instant::now() >= due {
            return;
        }
        tokio::time::sleep_until(due).await;
    }
}

/// A socket that records client activity on every read that returns bytes.
#[derive(Debug)]
pub(crate) struct Watched<S> {
    inner: S,
    activity: Arc<ClientActivity>,
}

impl<S> Watched<S> {
    /// Wraps `inner`, recording into `activity`.
    pub(crate) fn new(inner: S, activity: Arc<ClientActivity>) -> Watched<S> {
        Watched { inner, activity }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    const TIMEOUT: Duration = Duration::from_secs(10);

    #[tokio::test(start_paused = true)]
    async fn a_silent_client_is_idle_after_exactly_the_timeout() {
        let activity = ClientActivity::new();
        let start = Instant::now();
        idle_for(&activity, TIMEOUT).await;
        assert_eq!(start.elapsed(), TIMEOUT);
    }

    #[tokio::test(start_paused = true)]
    async fn activity_pushes_the_deadline_back() {
        let activity = ClientActivity::new();
        let start = Instant::now();
        let idle = idle_for(&activity, TIMEOUT);
        tokio::pin!(idle);
        for _ in 0..3 {
            tokio::select! {
                () = &mut idle => panic!("timed out while the client was talking"),
                () = tokio::time::sleep(Duration::from_secs(7)) => activity.touch(),
            }
        }
        idle.await;
        assert_eq!(start.elapsed(), Duration::from_secs(21) + TIMEOUT);
    }

    #[tokio::test(start_paused = true)]
    async fn reads_that_bring_bytes_count_as_activity_and_writes_do_not() {
        let activity = ClientActivity::new();
        let (ours, mut client) = tokio::io::duplex(64);
        let mut watched = Watched::new(ours, activity.clone());
        let opened = activity.last();
        tokio::time::advance(Duration::from_secs(5)).await;
        watched.write_all(b"server talks").await.unwrap();
        assert_eq!(
            activity.last(),
            opened,
            "our own sends are not client activity"
        );
        client.write_all(b"client talks").await.unwrap();
        let mut buffer = [0u8; 64];
        assert!(watched.read(&mut buffer).await.unwrap() > 0);
        assert_eq!(activity.last(), opened + Duration::from_secs(5));
    }
}
