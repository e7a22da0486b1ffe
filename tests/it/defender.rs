//! The defender end to end: failed logins (password, key or client certificate) and protocol
//! abuse over either protocol ban the client's address at accept for both protocols; bans
//! survive a reload; allow-listed networks are never banned.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::AsyncReadExt;

use crate::harness::ftp_client::FtpClient;
use crate::harness::sftp_client::{self, RawSftp};
use crate::harness::{TestServer, PASSWORD, USER};

async fn start(threshold: u32, allow: &[&str]) -> TestServer {
    let allow: Vec<ipnet::IpNet> = allow.iter().map(|net| net.parse().unwrap()).collect();
    TestServer::start_with(move |config, _| {
        config.defender.enabled = true;
        config.defender.threshold = threshold;
        config.defender.allow_list = allow;
        config.metrics.listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await
}

async fn failed_ftps_login(address: SocketAddr) {
    let mut client = FtpClient::explicit(address).await;
    assert_eq!(client.cmd(&format!("USER {USER}")).await.code, 331);
    assert_eq!(client.cmd("PASS wrong password").await.code, 530);
}

/// What a fresh connection receives before the server closes it (bounded).
async fn greeting(address: SocketAddr) -> String {
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let mut bytes = vec![0u8; 4096];
    let mut text = Vec::new();
    let read = async {
        loop {
            match stream.read(&mut bytes).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    text.extend_from_slice(&bytes[..n]);
                    if text.windows(2).any(|w| w == b"\r\n") && text.starts_with(b"220") {
                        break;
                    }
                }
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(10), read).await;
    String::from_utf8_lossy(&text).into_owned()
}

async fn metrics_text(server: &TestServer) -> String {
    use tokio::io::AsyncWriteExt;
    let mut stream = tokio::net::TcpStream::connect(server.addresses.metrics.unwrap())
        .await
        .unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\n\r\n")
        .await
        .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).await.unwrap();
    text
}

#[tokio::test]
async fn failed_logins_ban_the_address_for_both_protocols_and_survive_reload() {
    let server = start(3, &[]).await;
    let ftps = server.addresses.ftps_explicit.unwrap();
    let sftp = server.addresses.sftp.unwrap();
    for _ in 0..2 {
        failed_ftps_login(ftps).await;
    }
    assert!(
        greeting(ftps).await.starts_with("220"),
        "not banned below the threshold"
    );
    // The third failure, over SFTP, reaches the threshold: scores are per address.
    assert!(sftp_client::login_password(sftp, USER, "wrong")
        .await
        .is_err());

    let refused = greeting(ftps).await;
    assert!(
        refused.starts_with("421") && refused.contains("banned"),
        "{refused}"
    );
    let refused = greeting(sftp).await;
    assert!(refused.contains("banned"), "{refused}");
    assert!(metrics_text(&server).await.contains("ferryd_bans 1"));

    // The harness config file disables the defender; reload the same settings as this test.
    let path = server.config.source.clone().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let text = text.replace(
        "[defender]\nenabled = false",
        "[defender]\nenabled = true\nthreshold = 3",
    );
    std::fs::write(&path, text).unwrap();
    server.running().reload().unwrap();
    assert!(
        greeting(ftps).await.starts_with("421"),
        "a reload must not lift bans"
    );
    server.stop().await;
}

#[tokio::test]
async fn malformed_sftp_packets_count_as_abuse() {
    // One abuse scores 3: the threshold of 3 bans on the first malformed packet.
    let server = start(3, &[]).await;
    let sftp = server.addresses.sftp.unwrap();
    let connection = sftp_client::login(sftp).await;
    let mut raw = RawSftp::init(&connection).await.0;
    raw.send(&u32::MAX.to_be_bytes()).await;
    let end = tokio::time::timeout(Duration::from_secs(10), raw.recv()).await;
    assert!(matches!(end, Ok(None)), "the session must end");
    let refused = greeting(server.addresses.ftps_explicit.unwrap()).await;
    assert!(refused.starts_with("421"), "{refused}");
    server.stop().await;
}

#[tokio::test]
async fn allow_listed_networks_are_never_banned() {
    let server = start(2, &["127.0.0.0/8"]).await;
    let ftps = server.addresses.ftps_explicit.unwrap();
    for _ in 0..4 {
        failed_ftps_login(ftps).await;
    }
    let mut client = FtpClient::explicit(ftps).await;
    assert_eq!(client.cmd(&format!("USER {USER}")).await.code, 331);
    assert_eq!(client.cmd(&format!("PASS {PASSWORD}")).await.code, 230);
    server.stop().await;
}

#[tokio::test]
async fn a_certificate_login_without_the_certificate_counts_as_a_failed_login() {
    use ferryd::auth::{password, CertificateFingerprint, CertificateLogin, UserRecord};
    let server = TestServer::start_with(|config, users| {
        config.defender.enabled = true;
        config.defender.threshold = 2;
        let mut partner = UserRecord::named("partner").unwrap();
        partner.password = Some(password::hash_password("partner password").unwrap());
        partner.tls_client_certificates = vec![CertificateFingerprint::of_der(b"partner")];
        partner.tls_client_certificate_login = CertificateLogin::Certificate;
        users.add(partner).unwrap();
    })
    .await;
    let ftps = server.addresses.ftps_explicit.unwrap();
    // The right password, but no certificate: each attempt scores like a wrong password.
    for _ in 0..2 {
        let mut client = FtpClient::explicit(ftps).await;
        assert_eq!(client.cmd("USER partner").await.code, 331);
        assert_eq!(client.cmd("PASS partner password").await.code, 530);
    }
    let refused = greeting(ftps).await;
    assert!(
        refused.starts_with("421") && refused.contains("banned"),
        "{refused}"
    );
    server.stop().await;
}
