//! The control socket before and after `AUTH TLS`: one type for plain and TLS, with writes
//! that flush so a TLS reply leaves as one record.

use std::io;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

use super::quick_ack::QuickAck;

/// The control socket before and after `AUTH TLS`.
pub enum ControlStream {
    Plain(TcpStream),
    Tls(Box<TlsStream<QuickAck>>),
    /// Only during the swap from plain to TLS, or after a failed handshake.
    Closed,
}

impl ControlStream {
    pub async fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        match self {
            ControlStream::Plain(stream) => stream.read(buffer).await,
            ControlStream::Tls(stream) => stream.read(buffer).await,
            ControlStream::Closed => Ok(0),
        }
    }

    /// Writes and flushes, so a TLS reply leaves as one record.
    pub async fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            ControlStream::Plain(stream) => stream.write_all(bytes).await,
            ControlStream::Tls(stream) => {
                stream.write_all(bytes).await?;
                stream.flush().await
            }
            ControlStream::Closed => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    pub async fn close(&mut self) -> io::Result<()> {
        match self {
            ControlStream::Plain(stream) => stream.shutdown().await,
            ControlStream::Tls(stream) => stream.shutdown().await,
            ControlStream::Closed => Ok(()),
        }
    }
}
