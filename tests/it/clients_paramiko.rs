//! paramiko (Python) logging in to ferryd: every way its `Transport` and `SSHClient` combine
//! methods on one connection, and the `sftp.max_auth_attempts` cut-off.
//!
//! paramiko sends a new `ssh-userauth` service request before each attempt and gives up on a
//! method the server stops listing, so a second attempt on a connection is where servers
//! differ (`vendor/README.md`). The cases live in `tests/clients/paramiko_login.py`.
//! Without paramiko the tests fail when `CI` is set and are skipped loudly otherwise.

use std::process::Output;
use std::time::Duration;

use tokio::process::Command;

use crate::harness::sftp_client::{self, SftpTestServer};
use crate::harness::{PASSWORD, USER};

const DRIVER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/clients/paramiko_login.py"
);

/// Every method ferryd offers, as paramiko lists them (sorted).
const ALL_METHODS: &str = "keyboard-interactive,password,publickey";

/// True when python3 can import paramiko; otherwise fails under CI or prints a skip notice.
fn have_paramiko() -> bool {
    let found = std::process::Command::new("python3")
        .args(["-c", "import paramiko"])
        .output()
        .is_ok_and(|output| output.status.success());
    crate::harness::needs(
        found,
        "python3 -c 'import paramiko' failed (pip install paramiko)",
    )
}

/// Runs one case of the driver against `server` as the test user.
async fn driver(server: &SftpTestServer, case: &str, extra: &[&str]) -> Output {
    let mut command = Command::new("python3");
    command
        .arg(DRIVER)
        .arg(case)
        .arg(server.addr.ip().to_string())
        .arg(server.addr.port().to_string())
        .args([USER, PASSWORD])
        .args(extra);
    // paramiko's own timeouts are 10 s; this only guards against a driver that never ends.
    tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .expect("paramiko driver hung")
        .unwrap()
}

/// The driver's "ok ..." line, or a failure with everything it printed.
fn ok_line(output: &Output, case: &str) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "paramiko {case} failed: {}\nstdout: {stdout}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout.lines().last().unwrap_or_default().to_owned();
    assert!(line.starts_with("ok"), "paramiko {case}: {stdout}");
    line
}

/// A file in the test user's home, so a listing shows the login reached the right tree.
fn put_marker(server: &SftpTestServer) {
    let home = server.home(USER);
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(home.join("here.txt"), b"x").unwrap();
}

#[tokio::test]
async fn paramiko_client_falls_back_from_a_refused_key_to_the_password() {
    if !have_paramiko() {
        return;
    }
    // The user has a key, just not the one paramiko offers.
    let authorized = sftp_client::new_key().public_key().clone();
    let server = SftpTestServer::start_with(|_, users| {
        users.get_mut(USER).unwrap().keys.push(authorized);
    })
    .await;
    let stranger = sftp_client::write_key(&server.dir, &sftp_client::new_key());
    let upload = server.dir.join("upload.txt");
    std::fs::write(&upload, b"sent by paramiko after its key was refused\n").unwrap();
    let output = driver(
        &server,
        "key-then-password",
        &[stranger.to_str().unwrap(), upload.to_str().unwrap()],
    )
    .await;
    assert_eq!(
        ok_line(&output, "key-then-password"),
        "ok from-paramiko.txt"
    );
    assert_eq!(
        std::fs::read(server.home(USER).join("from-paramiko.txt")).unwrap(),
        std::fs::read(&upload).unwrap()
    );
    server.stop().await;
}

#[tokio::test]
async fn paramiko_password_after_auth_none() {
    if !have_paramiko() {
        return;
    }
    let server = SftpTestServer::start().await;
    put_marker(&server);
    let output = driver(&server, "none-then-password", &[]).await;
    assert_eq!(
        ok_line(&output, "none-then-password"),
        format!("ok {ALL_METHODS} | here.txt")
    );
    server.stop().await;
}

#[tokio::test]
async fn paramiko_right_password_after_a_wrong_one_and_password_stays_offered() {
    if !have_paramiko() {
        return;
    }
    let server = SftpTestServer::start().await;
    put_marker(&server);
    // The driver fails the case if the wrong password's refusal stops listing `password`
    // (paramiko's BadAuthenticationType); the auth_none probe after it lists the methods.
    let output = driver(&server, "wrong-then-right", &[]).await;
    assert_eq!(
        ok_line(&output, "wrong-then-right"),
        format!("ok {ALL_METHODS} | here.txt")
    );
    server.stop().await;
}

#[tokio::test]
async fn paramiko_keyboard_interactive_after_auth_none() {
    if !have_paramiko() {
        return;
    }
    let server = SftpTestServer::start().await;
    put_marker(&server);
    let output = driver(&server, "keyboard-interactive", &[]).await;
    assert_eq!(
        ok_line(&output, "keyboard-interactive"),
        format!("ok {ALL_METHODS} | Password:  | here.txt")
    );
    server.stop().await;
}

#[tokio::test]
async fn paramiko_key_and_password_user_logs_in_after_a_wrong_second_factor() {
    if !have_paramiko() {
        return;
    }
    let key = sftp_client::new_key();
    let public = key.public_key().clone();
    let server = SftpTestServer::start_with(|_, users| {
        let alice = users.get_mut(USER).unwrap();
        alice.keys.push(public);
        alice.require_key_and_password = true;
    })
    .await;
    put_marker(&server);
    let key_path = sftp_client::write_key(&server.dir, &key);
    let output = driver(&server, "key-and-password", &[key_path.to_str().unwrap()]).await;
    // After the key, and again after the wrong password: the methods that prove a password.
    assert_eq!(
        ok_line(&output, "key-and-password"),
        "ok keyboard-interactive,password | here.txt"
    );
    server.stop().await;
}

#[tokio::test]
async fn paramiko_is_cut_off_after_max_auth_attempts_wrong_passwords() {
    if !have_paramiko() {
        return;
    }
    const ATTEMPTS: u32 = 3;
    let server = SftpTestServer::start_with(|config, _| {
        config.sftp.max_auth_attempts = ATTEMPTS;
    })
    .await;
    // ATTEMPTS refusals that each keep `password` on offer, then the right password is too
    // late: the server disconnects instead of answering it.
    let output = driver(&server, "max-attempts", &[&ATTEMPTS.to_string()]).await;
    assert_eq!(ok_line(&output, "max-attempts"), "ok disconnected");
    // One attempt fewer than the limit still leaves room for the right password.
    let output = driver(&server, "max-attempts", &[&(ATTEMPTS - 1).to_string()]).await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("logged in after"), "{stderr}");
    server.stop().await;
}
