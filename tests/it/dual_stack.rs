//! One canonical client address for both protocols: on an IPv6 listener an IPv4 client arrives
//! as `::ffff:127.0.0.1`, and the per-address connection limit must count it as `127.0.0.1`
//! on FTPS and SFTP alike.
//!
//! The listeners are bound to `[::ffff:127.0.0.1]` rather than `[::]`: the same IPv6 socket and
//! the same IPv4-mapped peers as a dual-stack `[::]` listener, reachable from this host only.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, BufReader};
use tokio::net::TcpStream;

use crate::harness::TestServer;

const PATIENCE: Duration = Duration::from_secs(10);

/// Whether an IPv6 socket can be bound to an IPv4-mapped address here and reached over IPv4.
fn mapped_listeners_work() -> bool {
    let listener = match std::net::TcpListener::bind("[::ffff:127.0.0.1]:0") {
        Ok(listener) => listener,
        Err(error) => {
            crate::harness::skip(&format!("no IPv6 dual-stack sockets here ({error})"));
            return false;
        }
    };
    let port = listener.local_addr().unwrap().port();
    match std::net::TcpStream::connect(("127.0.0.1", port)) {
        Ok(_) => true,
        Err(error) => {
            crate::harness::skip(&format!(
                "IPv4 cannot reach an IPv4-mapped IPv6 listener ({error})"
            ));
            false
        }
    }
}

/// The first line the server sends on `stream`.
async fn first_line(stream: TcpStream) -> (String, BufReader<TcpStream>) {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    tokio::time::timeout(PATIENCE, reader.read_line(&mut line))
        .await
        .expect("no greeting")
        .unwrap();
    (line, reader)
}

fn via_ipv4(listener: SocketAddr) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], listener.port()))
}

#[tokio::test]
async fn the_per_address_limit_counts_one_client_across_both_protocols() {
    if !mapped_listeners_work() {
        return;
    }
    let server = TestServer::start_with(|config, _| {
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:0".parse().unwrap();
        config.ftps.listen = Some(mapped);
        config.ftps.implicit_listen = None;
        config.sftp.listen = Some(mapped);
        config.server.max_connections_per_ip = 1;
    })
    .await;
    let ftp = via_ipv4(server.addresses.ftps_explicit.unwrap());
    let sftp = via_ipv4(server.addresses.sftp.unwrap());

    // The SFTP connection takes the address's only permit...
    let (banner, _sftp_connection) = first_line(TcpStream::connect(sftp).await.unwrap()).await;
    assert!(banner.starts_with("SSH-2.0-ferryd"), "{banner:?}");
    // ...so an FTPS connection from the same client is refused.
    let (greeting, _) = first_line(TcpStream::connect(ftp).await.unwrap()).await;
    assert!(
        greeting.starts_with("421") && greeting.to_lowercase().contains("too many connections"),
        "{greeting:?}"
    );

    drop(_sftp_connection);
    // And the other way round, once the SFTP permit is back (released as its task ends).
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let _ftp_connection = loop {
        let (greeting, reader) = first_line(TcpStream::connect(ftp).await.unwrap()).await;
        if greeting.starts_with("220") {
            break reader;
        }
        assert!(tokio::time::Instant::now() < deadline, "{greeting:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut refused = TcpStream::connect(sftp).await.unwrap();
    let mut received = Vec::new();
    tokio::time::timeout(PATIENCE, refused.read_to_end(&mut received))
        .await
        .expect("the SFTP refusal did not end the connection")
        .unwrap();
    let text = String::from_utf8_lossy(&received);
    assert!(text.contains("too many connections"), "{text}");
    server.stop().await;
}
