//! Immediate ACKs while a TLS handshake runs (`TCP_QUICKACK`).
//!
//! Some clients send their last handshake flight in two writes: lftp (GnuTLS) writes its
//! ChangeCipherSpec, then its Finished. With Nagle on in the client, the Finished waits until
//! the server ACKs the ChangeCipherSpec. The server has just sent its own flight in answer to
//! the hello, so the kernel takes the connection for an interactive one and delays that ACK
//! (about 40 ms): every lftp data connection, and every control connection's `AUTH TLS`, stood
//! still that long. A handshake is short, so ACKing each of its segments at once costs next to
//! nothing.
//!
//! `TCP_QUICKACK` is not sticky: the kernel drops back to delayed ACKs whenever the server
//! sends soon after receiving, as a handshake always does. So [`QuickAck`] sets it again after
//! every read that brought bytes; setting it also sends at once an ACK the kernel was holding
//! back for the bytes just read. [`QuickAck::disarm`] stops that once the handshake is over, so
//! a bulk transfer keeps the kernel's usual ACK policy and makes no extra system call per read.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A TCP stream that ACKs at once what it reads until [`QuickAck::disarm`] is called.
#[derive(Debug)]
pub struct QuickAck {
    tcp: TcpStream,
    armed: bool,
}

impl QuickAck {
    /// Wraps `tcp`, armed: the first ACK (of the client's hello) goes out at once too.
    pub fn arm(tcp: TcpStream) -> QuickAck {
        let stream = QuickAck { tcp, armed: true };
        stream.rearm();
        stream
    }

    /// Leaves the kernel's ACK policy alone from now on (the handshake is over).
    pub fn disarm(&mut self) {
        self.armed = false;
    }

    /// The socket, for socket options.
    pub fn get_ref(&self) -> &TcpStream {
        &self.tcp
    }

    fn rearm(&self) {
        if !self.armed {
            return;
        }
        // Only a delay is at stake: a socket that refuses the option still works.
        if let Err(error) = self.tcp.set_quickack(true) {
            tracing::debug!(%error, "cannot set TCP_QUICKACK during a TLS handshake");
        }
    }
}

impl AsyncRead for QuickAck {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.tcp).poll_read(cx, buf);
        // An empty read (end of stream) or a pending one left no new ACK to hurry.
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.rearm();
        }
        polled
    }
}

impl AsyncWrite for QuickAck {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// A loopback connection: (client, server side wrapped).
    async fn pair() -> (TcpStream, QuickAck) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (client, accepted) = tokio::join!(TcpStream::connect(address), listener.accept());
        (client.unwrap(), QuickAck::arm(accepted.unwrap().0))
    }

    /// Puts the socket in the kernel's delayed-ACK (interactive) mode, as sending the server's
    /// handshake flight right after the client's hello does; the getsockopt then reads 0.
    fn delay_acks(server: &QuickAck) {
        server.get_ref().set_quickack(false).unwrap();
        assert!(!server.get_ref().quickack().unwrap());
    }

    #[tokio::test]
    async fn arming_sets_quickack_at_once() {
        let (_client, server) = pair().await;
        assert!(server.get_ref().quickack().unwrap());
    }

    #[tokio::test]
    async fn every_read_during_the_handshake_sets_quickack_again() {
        let (mut client, mut server) = pair().await;
        let mut byte = [0u8; 1];
        for round in 0..3u8 {
            delay_acks(&server);
            client.write_all(&[round]).await.unwrap();
            server.read_exact(&mut byte).await.unwrap();
            assert_eq!(byte[0], round);
            assert!(server.get_ref().quickack().unwrap(), "round {round}");
        }
    }

    #[tokio::test]
    async fn a_disarmed_stream_leaves_the_ack_policy_alone() {
        let (mut client, mut server) = pair().await;
        server.disarm();
        delay_acks(&server);
        client.write_all(b"data").await.unwrap();
        let mut bytes = [0u8; 4];
        server.read_exact(&mut bytes).await.unwrap();
        assert!(!server.get_ref().quickack().unwrap());
    }

    #[tokio::test]
    async fn writes_and_end_of_stream_pass_through() {
        let (mut client, mut server) = pair().await;
        server.write_all(b"hello").await.unwrap();
        server.shutdown().await.unwrap();
        let mut received = Vec::new();
        client.read_to_end(&mut received).await.unwrap();
        assert_eq!(received, b"hello");
        drop(client);
        let mut rest = Vec::new();
        assert_eq!(server.read_to_end(&mut rest).await.unwrap(), 0);
    }
}
