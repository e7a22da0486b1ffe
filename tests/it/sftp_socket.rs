//! The SFTP listener's TCP sockets: the options russh's `run_stream` leaves to us.
//!
//! With Nagle's algorithm on, the server held every SFTP reply that followed russh's
//! WINDOW_ADJUST until the client's delayed ACK (~40 ms), and curl's sftp:// uploads crawled
//! at ~2 MB/s. Timing a transfer would make a flaky test, so the option itself is read: the
//! accepted socket is copied out of the server process's descriptor table with `pidfd_getfd`
//! (no unsafe code), from this process for the in-process server and from the child for the
//! real, sandboxed daemon (seccomp must let the option through).

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use rustix::process::{getpid, pidfd_getfd, pidfd_open, Pid, PidfdFlags, PidfdGetfdFlags};
use tokio::io::{AsyncBufReadExt as _, BufReader};

use crate::harness::daemon::{binary, Daemon};
use crate::harness::sftp_client::SftpTestServer;
use crate::harness::{PASSWORD, USER};

/// A copy of the server's end of the connection `client` → `server`, found in the descriptor
/// table of process `pid` by its addresses.
fn server_end(pid: Pid, server: SocketAddr, client: SocketAddr) -> Option<TcpStream> {
    let this_process = pidfd_open(pid, PidfdFlags::empty()).unwrap();
    let fd_dir = format!("/proc/{}/fd", pid.as_raw_nonzero());
    for entry in std::fs::read_dir(fd_dir).unwrap() {
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

/// Connects to `server` and returns the client's address once the SSH identification line
/// has arrived: it comes from `run_stream`, so the accept loop is done with the socket.
async fn connect_and_read_banner(server: SocketAddr) -> (tokio::net::TcpStream, SocketAddr) {
    let client = tokio::net::TcpStream::connect(server).await.unwrap();
    let client_addr = client.local_addr().unwrap();
    let mut lines = BufReader::new(client);
    let mut banner = String::new();
    tokio::time::timeout(Duration::from_secs(10), lines.read_line(&mut banner))
        .await
        .expect("no SSH identification")
        .unwrap();
    assert!(banner.starts_with("SSH-2.0-ferryd"), "{banner:?}");
    (lines.into_inner(), client_addr)
}

#[tokio::test]
async fn sftp_connections_have_nagle_off() {
    let server = SftpTestServer::start().await;
    let (_client, client_addr) = connect_and_read_banner(server.addr).await;
    let accepted =
        server_end(getpid(), server.addr, client_addr).expect("accepted socket not found");
    assert!(
        accepted.nodelay().unwrap(),
        "TCP_NODELAY is off on the server's end of an SFTP connection"
    );
}

#[tokio::test]
async fn sandboxed_daemon_sets_nagle_off_too() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ferryd.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\ndata_dir = \"{d}/data\"\nstate_dir = \"{d}/state\"\n\
             [ftps]\nlisten = \"127.0.0.1:0\"\nimplicit_listen = \"\"\n\
             passive_ports = \"{ports}\"\n[sftp]\nlisten = \"127.0.0.1:0\"\n",
            d = dir.path().display(),
            ports = crate::harness::passive_ports()
        ),
    )
    .unwrap();
    assert_cmd::Command::new(binary())
        .arg("--config")
        .arg(&config)
        .args(["user", "add", USER, "--password-stdin"])
        .write_stdin(format!("{PASSWORD}\n"))
        .assert()
        .success();
    let daemon = Daemon::start(&config);
    let sandbox = daemon.wait_for_log("sandbox active", Duration::from_secs(10));
    assert!(
        sandbox.contains("system calls allowed"),
        "seccomp is off: {sandbox}"
    );
    let sftp = daemon.listening_addresses(2)[1];
    let (_client, client_addr) = connect_and_read_banner(sftp).await;
    let pid = Pid::from_raw(i32::try_from(daemon.pid()).unwrap()).unwrap();
    let accepted = server_end(pid, sftp, client_addr).expect("accepted socket not found");
    assert!(
        accepted.nodelay().unwrap(),
        "TCP_NODELAY is off on the daemon's end of an SFTP connection"
    );
}
