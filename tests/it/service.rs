//! Running as a service, end to end over SFTP: reload with live sessions, graceful shutdown
//! during a transfer, and metrics that follow real logins and transfers.

use std::time::Duration;

use ferryd::auth::{password, UserDb, UserRecord};
use tokio::io::AsyncWriteExt;

use crate::harness::sftp_client::{login, login_password, open_sftp, put};
use crate::harness::TestServer;

#[tokio::test]
async fn reload_adds_a_user_while_a_running_session_keeps_working() {
    let server = TestServer::start().await;
    let address = server.addresses.sftp.unwrap();
    let alice = login(address).await;
    let alice_sftp = open_sftp(&alice).await;
    put(&alice_sftp, "before.txt", b"before reload").await;

    assert!(login_password(address, "bob", "bob's password")
        .await
        .is_err());
    let users_file = &server.config.auth.users_file;
    let mut users = UserDb::load(users_file).unwrap();
    let mut bob = UserRecord::named("bob").unwrap();
    bob.password = Some(password::hash_password("bob's password").unwrap());
    users.add(bob).unwrap();
    users.save(users_file).unwrap();
    server.running().reload().unwrap();

    let bob = login_password(address, "bob", "bob's password")
        .await
        .unwrap();
    let bob_sftp = open_sftp(&bob).await;
    put(&bob_sftp, "bob.txt", b"new user").await;
    put(&alice_sftp, "after.txt", b"after reload").await;
    assert_eq!(
        alice_sftp.read("before.txt").await.unwrap(),
        b"before reload"
    );
    assert_eq!(
        std::fs::read(server.home("alice").join("after.txt")).unwrap(),
        b"after reload"
    );
    assert_eq!(
        std::fs::read(server.home("bob").join("bob.txt")).unwrap(),
        b"new user"
    );
    server.stop().await;
}

#[tokio::test]
async fn shutdown_lets_a_running_upload_finish_and_refuses_new_connections() {
    let mut server = TestServer::start().await;
    let address = server.addresses.sftp.unwrap();
    let handle = login(address).await;
    let sftp = open_sftp(&handle).await;
    let mut file = sftp.create("big.bin").await.unwrap();
    let block = vec![7u8; 256 * 1024];
    file.write_all(&block).await.unwrap();

    let running = server.take_running();
    let shutdown = tokio::spawn(running.shutdown_with_grace(Duration::from_secs(10)));
    // The shutdown is under way: the listener closes, the transfer goes on.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let refused = tokio::time::timeout(Duration::from_secs(5), async {
        tokio::net::TcpStream::connect(address).await
    })
    .await;
    assert!(
        !matches!(refused, Ok(Ok(_))),
        "a new connection was accepted during shutdown"
    );
    for _ in 0..7 {
        file.write_all(&block).await.unwrap();
    }
    file.shutdown().await.unwrap();
    drop(sftp);
    drop(handle);
    tokio::time::timeout(Duration::from_secs(15), shutdown)
        .await
        .expect("shutdown finished within the grace time")
        .unwrap();
    let stored = std::fs::read(server.home("alice").join("big.bin")).unwrap();
    assert_eq!(stored.len(), 8 * 256 * 1024);
}

#[tokio::test]
async fn metrics_follow_a_login_and_a_transfer() {
    let server = TestServer::start_with(|config, _| {
        config.metrics.listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let handle = login(server.addresses.sftp.unwrap()).await;
    let sftp = open_sftp(&handle).await;
    put(&sftp, "m.bin", &vec![1u8; 4096]).await;
    assert_eq!(sftp.read("m.bin").await.unwrap().len(), 4096);

    let text = server.running().metrics().encode();
    for line in [
        "ferryd_sessions{protocol=\"sftp\"} 1",
        "ferryd_logins_total{protocol=\"sftp\",result=\"ok\"} 1",
        "ferryd_transfer_bytes_total{protocol=\"sftp\",direction=\"upload\"} 4096",
        "ferryd_transfers_total{protocol=\"sftp\",direction=\"upload\",result=\"ok\",reason=\"\"} 1",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    drop(sftp);
    drop(handle);
    server.stop().await;
}
