//! FTPS transfers under stress and interruption: concurrent clients, ABOR during a transfer, a
//! client that disappears mid-upload, and the server's shutdown.

use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::ftp_client::{self, FtpClient};
use crate::harness::{TestServer, USER};

fn random_bytes(len: usize) -> Vec<u8> {
    let mut data = vec![0u8; len];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut data);
    data
}

/// Names in the user's home, hidden temporary upload files included.
fn home_entries(server: &TestServer) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(server.home(USER))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn twenty_concurrent_clients_upload_and_download_intact_files() {
    let server = TestServer::start().await;
    let address = server.addresses.ftps_explicit.unwrap();
    let mut tasks = Vec::new();
    for index in 0..20 {
        tasks.push(tokio::spawn(async move {
            let tls = match index % 2 {
                0 => ftp_client::tls13(),
                _ => ftp_client::tls12(),
            };
            let mut client = FtpClient::explicit_with(address, tls).await;
            client.login().await;
            let data = random_bytes(1024 * 1024 + index * 1000);
            let name = format!("client-{index}.bin");
            client.upload(&format!("STOR {name}"), &data).await;
            let back = client.download(&format!("RETR {name}")).await;
            assert_eq!(Sha256::digest(&back), Sha256::digest(&data), "{name}");
            assert_eq!(client.cmd("QUIT").await.code, 221);
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(home_entries(&server).len(), 20);
    server.stop().await;
}

#[tokio::test]
async fn abor_during_a_download_answers_426_then_226_and_the_session_goes_on() {
    let server = TestServer::start().await;
    std::fs::create_dir_all(server.home(USER)).unwrap();
    std::fs::write(
        server.home(USER).join("big.bin"),
        random_bytes(32 * 1024 * 1024),
    )
    .unwrap();
    let mut client = FtpClient::explicit(server.addresses.ftps_explicit.unwrap()).await;
    client.login().await;
    let mut stream = client.open_transfer("RETR big.bin").await.unwrap();
    let mut some = vec![0u8; 64 * 1024];
    stream.read_exact(&mut some).await.unwrap();
    // STAT and NOOP are answered while the transfer runs.
    assert_eq!(client.cmd("NOOP").await.code, 200);
    let status = client.cmd("STAT").await;
    assert_eq!(status.code, 211);
    assert!(status.text.contains("bytes transferred"), "{status:?}");
    assert_eq!(client.cmd("ABOR").await.code, 426);
    assert_eq!(client.reply().await.code, 226);
    drop(stream);
    assert_eq!(
        client.download("RETR big.bin").await.len(),
        32 * 1024 * 1024
    );
    server.stop().await;
}

#[tokio::test]
async fn abor_during_an_upload_discards_it() {
    let server = TestServer::start().await;
    let mut client = FtpClient::explicit(server.addresses.ftps_explicit.unwrap()).await;
    client.login().await;
    client.upload("STOR keep.txt", b"old content").await;
    let mut stream = client.open_transfer("STOR keep.txt").await.unwrap();
    stream.write_all(&random_bytes(1024 * 1024)).await.unwrap();
    stream.flush().await.unwrap();
    assert_eq!(client.cmd("ABOR").await.code, 426);
    assert_eq!(client.reply().await.code, 226);
    drop(stream);
    assert_eq!(
        std::fs::read(server.home(USER).join("keep.txt")).unwrap(),
        b"old content"
    );
    assert_eq!(home_entries(&server), ["keep.txt"]);
    server.stop().await;
}

#[tokio::test]
async fn a_client_killed_mid_upload_leaves_no_partial_file() {
    let server = TestServer::start().await;
    let mut client = FtpClient::explicit(server.addresses.ftps_explicit.unwrap()).await;
    client.login().await;
    let mut stream = client.open_transfer("STOR partial.bin").await.unwrap();
    stream
        .write_all(&random_bytes(3 * 1024 * 1024))
        .await
        .unwrap();
    stream.flush().await.unwrap();
    // A killed process closes its sockets without a TLS close_notify.
    drop(stream);
    let reply = client.reply().await;
    assert_eq!(reply.code, 426, "{reply:?}");
    assert!(
        home_entries(&server).is_empty(),
        "{:?}",
        home_entries(&server)
    );
    // The same with the control connection gone too: nothing appears, ever.
    let mut client = FtpClient::explicit(server.addresses.ftps_explicit.unwrap()).await;
    client.login().await;
    let mut stream = client.open_transfer("STOR partial.bin").await.unwrap();
    stream.write_all(&random_bytes(1024 * 1024)).await.unwrap();
    drop(stream);
    drop(client);
    let mut observer = FtpClient::explicit(server.addresses.ftps_explicit.unwrap()).await;
    observer.login().await;
    let listing = String::from_utf8(observer.download("NLST").await).unwrap();
    assert!(!listing.contains("partial.bin"), "{listing}");
    server.stop().await;
}

#[tokio::test]
async fn shutdown_closes_idle_sessions_with_421() {
    let server = TestServer::start().await;
    let mut client = FtpClient::explicit(server.addresses.ftps_explicit.unwrap()).await;
    client.login().await;
    let stopping = tokio::spawn(server.stop());
    let reply = client.reply().await;
    assert_eq!(reply.code, 421, "{reply:?}");
    stopping.await.unwrap();
}
