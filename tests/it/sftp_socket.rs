//! The SFTP listener's TCP sockets: the options russh's `run_stream` leaves to us.
//!
//! With Nagle's algorithm on, the server held every SFTP reply that followed russh's
//! WINDOW_ADJUST until the client's delayed ACK (~40 ms), and curl's sftp:// uploads crawled
//! at ~2 MB/s. Timing a transfer would make a flaky test, so the option itself is read: the
//! test process hosts the server, so the accepted socket is one of this process's descriptors
//! and `pidfd_getfd` can copy it out without unsafe code.

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use rustix::process::{getpid, pidfd_getfd, pidfd_open, PidfdFlags, PidfdGetfdFlags};
use tokio::io::{AsyncBufReadExt as _, BufReader};

use crate::harness::sftp_client::SftpTestServer;

/// A copy of the server's end of the connection `client` → `server`, found in this process's
/// descriptor table by its addresses.
fn server_end(server: SocketAddr, client: SocketAddr) -> Option<TcpStream> {
    let this_process = pidfd_open(getpid(), PidfdFlags::empty()).unwrap();
    for entry in std::fs::read_dir("/proc/self/fd").unwrap() {
        let Ok(entry) = entry else { continue };
        let Some(fd) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        let is_socket = std::fs::read_link(entry.path())
            .is_ok_and(|target| target.to_string_lossy().starts_with("socket:"));
        if !is_socket {
            continue;
        }
        // Other tests open and close descriptors meanwhile: a vanished one is skipped, and a
        // reused number is told apart by the addresses below.
        let Ok(copy) = pidfd_getfd(&this_process, fd, PidfdGetfdFlags::empty()) else {
            continue;
        };
        let stream = TcpStream::from(copy);
        if stream.local_addr().ok() == Some(server) && stream.peer_addr().ok() == Some(client) {
            return Some(stream);
        }
    }
    None
}

#[tokio::test]
async fn sftp_connections_have_nagle_off() {
    let server = SftpTestServer::start().await;
    let client = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let client_addr = client.local_addr().unwrap();
    // The identification line comes from `run_stream`: by then the accept loop is done with
    // the socket's options.
    let mut lines = BufReader::new(client);
    let mut banner = String::new();
    tokio::time::timeout(Duration::from_secs(10), lines.read_line(&mut banner))
        .await
        .expect("no SSH identification")
        .unwrap();
    assert!(banner.starts_with("SSH-2.0-ferryd"), "{banner:?}");
    let accepted = server_end(server.addr, client_addr).expect("accepted socket not found");
    assert!(
        accepted.nodelay().unwrap(),
        "TCP_NODELAY is off on the server's end of an SFTP connection"
    );
}
