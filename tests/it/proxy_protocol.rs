//! The PROXY protocol end to end (issue 16): a raw client on 127.0.0.1, configured as a
//! trusted proxy, writes a header naming 203.0.113.7, then speaks FTPS or SSH; the session,
//! the xferlog and the defender see 203.0.113.7. Passive data connections with and without
//! their own header; a trusted peer without a header is closed; an untrusted peer's header is
//! never adopted.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ferryd::config::Protocol;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::ftp_client::FtpClient;
use crate::harness::sftp_client::Client;
use crate::harness::{TestServer, PASSWORD, USER};

const CLIENT: &str = "203.0.113.7";

/// A v2 PROXY header for a TCP client at `CLIENT`:40000 connecting to 192.0.2.1:`port`.
fn v2_header(port: u16) -> Vec<u8> {
    let mut bytes = b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c".to_vec();
    bytes.extend_from_slice(&[203, 0, 113, 7, 192, 0, 2, 1]);
    bytes.extend_from_slice(&40000u16.to_be_bytes());
    bytes.extend_from_slice(&port.to_be_bytes());
    bytes
}

fn v1_header() -> Vec<u8> {
    format!("PROXY TCP4 {CLIENT} 192.0.2.1 40000 21\r\n").into_bytes()
}

async fn server(trusted: &str, ftps_data: bool) -> TestServer {
    let trusted: ipnet::IpNet = trusted.parse().unwrap();
    TestServer::start_with(move |config, _| {
        config.proxy_protocol.trusted_networks = vec![trusted];
        config.proxy_protocol.ftps_data = ftps_data;
        config.log.transfer_log = Some(config.server.state_dir.join("xferlog"));
        // Refused data connections end in the data timeout; keep the tests quick.
        config.ftps.data_timeout = Duration::from_secs(2);
    })
    .await
}

async fn connect_with(address: SocketAddr, preamble: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(preamble).await.unwrap();
    stream
}

/// Explicit FTPS through a "proxy" that sent `header`, logged in with PROT P.
async fn proxied_ftps(server: &TestServer, header: &[u8]) -> FtpClient {
    let address = server.addresses.ftps_explicit.unwrap();
    let mut client = FtpClient::plain_over(connect_with(address, header).await).await;
    assert_eq!(client.cmd("AUTH TLS").await.code, 234);
    client.start_tls().await;
    client.login().await;
    client
}

/// The peers of the server's logged-in sessions over `protocol`.
fn session_peers(server: &TestServer, protocol: Protocol) -> Vec<IpAddr> {
    server
        .running()
        .services()
        .limits
        .sessions()
        .list()
        .into_iter()
        .filter(|session| session.protocol == protocol)
        .map(|session| session.peer.ip())
        .collect()
}

async fn xferlog(server: &TestServer) -> String {
    let path = server.config.server.state_dir.join("xferlog");
    for _ in 0..50 {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if !text.is_empty() {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no xferlog line");
}

/// What the server sends before it closes (bounded).
async fn read_until_closed(mut stream: TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let read = stream.read_to_end(&mut received);
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("the server kept the connection open")
        .ok();
    received
}

#[tokio::test]
async fn a_v2_header_names_the_client_for_sessions_xferlog_and_data_without_headers() {
    let server = server("127.0.0.1/32", false).await;
    let mut client = proxied_ftps(&server, &v2_header(21)).await;
    let client_ip: IpAddr = CLIENT.parse().unwrap();
    assert_eq!(session_peers(&server, Protocol::Ftps), vec![client_ip]);
    // ftps_data off: the data connection comes from the proxy (127.0.0.1) without a header.
    client
        .upload("STOR proxied.txt", b"through the proxy")
        .await;
    assert_eq!(
        client.download("RETR proxied.txt").await,
        b"through the proxy"
    );
    let log = xferlog(&server).await;
    assert!(log.contains(CLIENT), "{log}");
    assert!(!log.contains("127.0.0.1"), "{log}");
    server.stop().await;
}

#[tokio::test]
async fn passive_data_connections_carry_their_own_header_when_ftps_data_is_on() {
    let server = server("127.0.0.1/32", true).await;
    let mut client = proxied_ftps(&server, &v2_header(21)).await;
    client.data_preamble = Some(v2_header(50000));
    client.upload("STOR data.txt", b"data with a header").await;
    assert_eq!(
        client.download("RETR data.txt").await,
        b"data with a header"
    );
    // Without the header a trusted peer's data connection is closed, so the transfer fails.
    client.data_preamble = None;
    assert!(client.try_download("RETR data.txt").await.is_err());
    // A header naming another client is not this session's data connection.
    let mut other = v2_header(50000);
    other[19] = 8;
    client.data_preamble = Some(other);
    assert!(client.try_download("RETR data.txt").await.is_err());
    server.stop().await;
}

#[tokio::test]
async fn a_v1_header_works_too() {
    let server = server("127.0.0.1/32", false).await;
    let _client = proxied_ftps(&server, &v1_header()).await;
    assert_eq!(
        session_peers(&server, Protocol::Ftps),
        vec![CLIENT.parse::<IpAddr>().unwrap()]
    );
    server.stop().await;
}

#[tokio::test]
async fn a_ban_on_the_named_client_refuses_its_proxied_connections() {
    let server = server("127.0.0.1/32", false).await;
    server
        .running()
        .services()
        .limits
        .defender()
        .ban(CLIENT.parse().unwrap(), Duration::from_secs(600))
        .unwrap();
    let address = server.addresses.ftps_explicit.unwrap();
    let received = read_until_closed(connect_with(address, &v2_header(21)).await).await;
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("421"), "{text:?}");
    // The proxy itself is not banned: another client behind it is served.
    let mut other = v2_header(21);
    other[19] = 8;
    let _client = proxied_ftps(&server, &other).await;
    server.stop().await;
}

#[tokio::test]
async fn a_trusted_peer_without_a_header_is_closed_without_a_banner() {
    let server = server("127.0.0.1/32", false).await;
    let address = server.addresses.ftps_explicit.unwrap();
    let received = read_until_closed(connect_with(address, b"USER alice\r\n").await).await;
    assert!(
        received.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&received)
    );
    let implicit = server.addresses.ftps_implicit.unwrap();
    let received = read_until_closed(connect_with(implicit, b"\x16\x03\x01\x00\x05").await).await;
    assert!(received.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn an_untrusted_peer_cannot_claim_an_address_with_a_header() {
    let server = server("10.0.0.0/8", false).await;
    let address = server.addresses.ftps_explicit.unwrap();
    let mut client = FtpClient::plain_over(connect_with(address, &v1_header()).await).await;
    // The header line is just a command the server does not know.
    let reply = client.reply().await;
    assert!(reply.code >= 500, "{reply:?}");
    assert_eq!(client.cmd("AUTH TLS").await.code, 234);
    client.start_tls().await;
    client.login().await;
    assert_eq!(
        session_peers(&server, Protocol::Ftps),
        vec!["127.0.0.1".parse::<IpAddr>().unwrap()]
    );
    server.stop().await;
}

#[tokio::test]
async fn the_sftp_listener_takes_the_client_from_the_header() {
    let server = server("127.0.0.1/32", false).await;
    let stream = connect_with(server.addresses.sftp.unwrap(), &v2_header(22)).await;
    let config = Arc::new(russh::client::Config::default());
    let mut handle = russh::client::connect_stream(config, stream, Client::default())
        .await
        .unwrap();
    let result = handle.authenticate_password(USER, PASSWORD).await.unwrap();
    assert!(result.success());
    let mut peers = Vec::new();
    for _ in 0..50 {
        peers = session_peers(&server, Protocol::Sftp);
        if !peers.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(peers, vec![CLIENT.parse::<IpAddr>().unwrap()]);
    server.stop().await;
}
