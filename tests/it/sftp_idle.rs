//! The SFTP idle timeout says why: SSH_MSG_DISCONNECT "idle timeout", which OpenSSH prints as
//! "Received disconnect … idle timeout", instead of a silently closed socket.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt as _;

use crate::harness::openssh;
use crate::harness::sftp_client::{self, SftpTestServer};
use crate::harness::{PASSWORD, USER};

/// Far more than the 1 s timeout; only bounds a hang.
const PATIENCE: Duration = Duration::from_secs(30);

#[tokio::test]
async fn an_idle_session_is_told_idle_timeout() {
    let server = SftpTestServer::start_with(|config, _| {
        config.server.idle_timeout = Duration::from_secs(1);
    })
    .await;
    let (mut connection, client) = sftp_client::connect(server.addr).await;
    assert!(connection
        .authenticate_password(USER, PASSWORD)
        .await
        .unwrap()
        .success());
    let sftp = sftp_client::open_sftp(&connection).await;
    // That activity moves the deadline is proven on a paused clock (`sftp/idle.rs`); here the
    // session serves, then goes quiet until the server says why it ends it.
    assert_eq!(sftp.canonicalize(".").await.unwrap(), "/");
    let reason = sftp_client::disconnect_reason(
        connection,
        &client,
        PATIENCE,
        "an idle SFTP session stayed open",
    )
    .await;
    assert!(reason.contains("idle timeout"), "{reason:?}");
}

#[tokio::test]
async fn openssh_prints_the_idle_timeout() {
    let found = std::process::Command::new("sftp")
        .arg("-V")
        .output()
        .is_ok();
    if !crate::harness::needs(found, "sftp (OpenSSH) is not installed") {
        return;
    }
    let key = sftp_client::new_key();
    let public = key.public_key().clone();
    let server = SftpTestServer::start_with(|config, users| {
        config.server.idle_timeout = Duration::from_secs(1);
        users.get_mut(USER).unwrap().keys.push(public);
    })
    .await;
    let key_path = sftp_client::write_key(server.dir.as_path(), &key);
    // Interactive sftp waiting on a stdin that never sends a command: an idle user.
    let mut child = openssh::command_at_log_level("sftp", server.addr.port(), &key_path, "INFO")
        .arg(format!("{USER}@127.0.0.1"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdin = child.stdin.take();
    let mut stderr = child.stderr.take().unwrap();
    // The ssh child prints the reason as it exits; sftp itself notices only at its next
    // command, so read until the message rather than to the end.
    let mut text = String::new();
    let read_reason = async {
        let mut chunk = [0u8; 1024];
        while !text.contains("idle timeout") {
            match stderr.read(&mut chunk).await.unwrap() {
                0 => break,
                read => text.push_str(&String::from_utf8_lossy(&chunk[..read])),
            }
        }
    };
    tokio::time::timeout(PATIENCE, read_reason)
        .await
        .expect("sftp stayed connected");
    drop(stdin);
    let _ = tokio::time::timeout(PATIENCE, child.wait()).await;
    assert!(
        text.contains("Received disconnect") && text.contains("idle timeout"),
        "{text}"
    );
}
