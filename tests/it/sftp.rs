//! SFTP front end, end to end with the russh/russh-sftp client: logins, wrong credentials,
//! connection limits and timers, what SSH requests are refused, malformed input, and sessions
//! that end badly.

use std::sync::Arc;
use std::time::Duration;

use russh::keys::PrivateKeyWithHashAlg;
use russh::{ChannelMsg, MethodKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::sftp_client::{self, wire, RawSftp, SftpTestServer};
use crate::harness::{PASSWORD, USER};

#[tokio::test]
async fn password_login_then_write_and_read_back() {
    let server = SftpTestServer::start().await;
    let (_connection, sftp) = sftp_client::sftp(server.addr).await;
    assert_eq!(sftp.canonicalize(".").await.unwrap(), "/");
    sftp_client::put(&sftp, "/hello.txt", b"hello world").await;
    assert_eq!(sftp.read("/hello.txt").await.unwrap(), b"hello world");
    let on_disk = std::fs::read(server.home(USER).join("hello.txt")).unwrap();
    assert_eq!(on_disk, b"hello world");
}

#[tokio::test]
async fn public_key_login_and_unknown_key_refused() {
    let key = sftp_client::new_key();
    let public = key.public_key().clone();
    let server = SftpTestServer::start_with(|_, users| {
        users.get_mut(USER).unwrap().keys.push(public);
    })
    .await;
    let connection = sftp_client::login_key(server.addr, USER, &key)
        .await
        .unwrap();
    let sftp = sftp_client::open_sftp(&connection).await;
    sftp_client::put(&sftp, "/by-key", b"k").await;

    let stranger = sftp_client::new_key();
    assert!(sftp_client::login_key(server.addr, USER, &stranger)
        .await
        .is_err());
    assert!(sftp_client::login_key(server.addr, "nobody", &key)
        .await
        .is_err());
}

#[tokio::test]
async fn keyboard_interactive_login_asks_for_the_password() {
    let server = SftpTestServer::start().await;
    let (mut connection, _) = sftp_client::connect(server.addr).await;
    let start = connection
        .authenticate_keyboard_interactive_start(USER, None)
        .await
        .unwrap();
    let russh::client::KeyboardInteractiveAuthResponse::InfoRequest { prompts, .. } = start else {
        panic!("expected a prompt, got {start:?}");
    };
    assert_eq!(prompts.len(), 1);
    assert!(!prompts[0].echo);
    let answer = connection
        .authenticate_keyboard_interactive_respond(vec![PASSWORD.to_owned()])
        .await
        .unwrap();
    assert!(matches!(
        answer,
        russh::client::KeyboardInteractiveAuthResponse::Success
    ));
    let sftp = sftp_client::open_sftp(&connection).await;
    assert_eq!(sftp.canonicalize("").await.unwrap(), "/");
}

#[tokio::test]
async fn wrong_credentials_are_refused_alike() {
    let server = SftpTestServer::start().await;
    for (user, password) in [(USER, "wrong"), ("nobody", PASSWORD), (USER, "")] {
        let refused = sftp_client::login_password(server.addr, user, password).await;
        assert!(refused.is_err(), "{user}/{password} logged in");
    }
    let (mut connection, _) = sftp_client::connect(server.addr).await;
    let none = connection.authenticate_none(USER).await.unwrap();
    let russh::client::AuthResult::Failure {
        remaining_methods, ..
    } = none
    else {
        panic!("none auth accepted");
    };
    for method in [
        MethodKind::Password,
        MethodKind::PublicKey,
        MethodKind::KeyboardInteractive,
    ] {
        assert!(
            remaining_methods.contains(&method),
            "{method:?} not offered"
        );
    }
}

#[tokio::test]
async fn key_and_password_user_needs_both() {
    let key = sftp_client::new_key();
    let public = key.public_key().clone();
    let server = SftpTestServer::start_with(|_, users| {
        let alice = users.get_mut(USER).unwrap();
        alice.keys.push(public);
        alice.require_key_and_password = true;
    })
    .await;
    let (mut connection, _) = sftp_client::connect(server.addr).await;
    let first = connection
        .authenticate_password(USER, PASSWORD)
        .await
        .unwrap();
    let russh::client::AuthResult::Failure {
        partial_success,
        remaining_methods,
    } = first
    else {
        panic!("password alone was enough");
    };
    assert!(partial_success);
    assert_eq!(&*remaining_methods, &[MethodKind::PublicKey]);
    let signed = PrivateKeyWithHashAlg::new(Arc::new(key), None);
    let second = connection
        .authenticate_publickey(USER, signed)
        .await
        .unwrap();
    assert!(second.success());

    let stranger = sftp_client::new_key();
    assert!(sftp_client::login_key(server.addr, USER, &stranger)
        .await
        .is_err());
}

#[tokio::test]
async fn user_without_sftp_is_refused() {
    let server = SftpTestServer::start_with(|_, users| {
        let alice = users.get_mut(USER).unwrap();
        alice.protocols = [ferryd::config::Protocol::Ftps].into_iter().collect();
    })
    .await;
    assert!(sftp_client::login_password(server.addr, USER, PASSWORD)
        .await
        .is_err());
}

#[tokio::test]
async fn per_ip_limit_refuses_with_a_reason() {
    let server = SftpTestServer::start_with(|config, _| {
        config.server.max_connections_per_ip = 1;
    })
    .await;
    let _first = sftp_client::login(server.addr).await;
    let mut second = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    second.write_all(b"SSH-2.0-test\r\n").await.unwrap();
    let mut received = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), second.read_to_end(&mut received))
        .await
        .unwrap()
        .unwrap();
    assert!(received.starts_with(b"SSH-2.0-ferryd\r\n"));
    let text = String::from_utf8_lossy(&received);
    assert!(
        text.contains("too many connections from your address"),
        "{text}"
    );
}

#[tokio::test]
async fn unauthenticated_clients_are_cut_at_the_login_timeout() {
    let server = SftpTestServer::start_with(|config, _| {
        config.server.login_timeout = Duration::from_millis(500);
    })
    .await;
    let (connection, client) = sftp_client::connect(server.addr).await;
    let reason = sftp_client::disconnect_reason(
        connection,
        &client,
        Duration::from_secs(10),
        "still connected after the login timeout",
    )
    .await;
    assert!(reason.contains("login timeout"), "{reason}");
    // A client that logs in in time is not affected.
    let (_connection, sftp) = sftp_client::sftp(server.addr).await;
    assert_eq!(sftp.canonicalize(".").await.unwrap(), "/");
}

#[tokio::test]
async fn banner_has_no_library_version_and_host_key_matches_file() {
    let server = SftpTestServer::start().await;
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let mut banner = vec![0u8; 64];
    let read = stream.read(&mut banner).await.unwrap();
    let banner = String::from_utf8_lossy(&banner[..read]).into_owned();
    assert!(banner.starts_with("SSH-2.0-ferryd\r\n"), "{banner:?}");
    assert!(!banner.contains("russh"));

    let (_connection, client) = sftp_client::connect(server.addr).await;
    let offered = client.host_key.lock().unwrap().clone().unwrap();
    let fingerprints: Vec<String> = server
        .config
        .sftp
        .host_keys
        .iter()
        .map(|path| {
            ferryd::key_material::host_keys::fingerprint(
                &ferryd::key_material::host_keys::load(path).unwrap(),
            )
        })
        .collect();
    let shown = offered
        .fingerprint(russh::keys::HashAlg::Sha256)
        .to_string();
    assert!(
        fingerprints.contains(&shown),
        "{shown} not in {fingerprints:?}"
    );
}

#[tokio::test]
async fn hash_commands_run_in_process_and_other_commands_are_refused() {
    let server = SftpTestServer::start().await;
    let (connection, sftp) = sftp_client::sftp(server.addr).await;
    sftp.create_dir("/d").await.unwrap();
    sftp_client::put(&sftp, "/d/f.txt", b"abc").await;

    let (stdout, stderr, status) = sftp_client::exec(&connection, "sha256sum d/f.txt").await;
    assert_eq!(
        String::from_utf8_lossy(&stdout),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  d/f.txt\n"
    );
    assert!(stderr.is_empty());
    assert_eq!(status, Some(0));
    let (stdout, _, _) = sftp_client::exec(&connection, "md5sum '/d/f.txt'").await;
    assert!(String::from_utf8_lossy(&stdout).starts_with("900150983cd24fb0d6963f7d28e17f72  "));
    let (stdout, _, status) = sftp_client::exec(&connection, "md5sum").await;
    assert_eq!(
        String::from_utf8_lossy(&stdout),
        "d41d8cd98f00b204e9800998ecf8427e  -\n"
    );
    assert_eq!(status, Some(0));
    let (_, stderr, status) = sftp_client::exec(&connection, "sha1sum /nope").await;
    assert_eq!(status, Some(1));
    assert!(String::from_utf8_lossy(&stderr).contains("/nope"));

    for command in [
        "ls -la",
        "md5sum /d/f.txt; cat /etc/passwd",
        "scp -S /bin/sh -t /",
        "sh",
    ] {
        let (stdout, stderr, status) = sftp_client::exec(&connection, command).await;
        assert!(stdout.is_empty(), "{command}");
        assert!(
            String::from_utf8_lossy(&stderr).contains("only md5sum"),
            "{command}"
        );
        assert_eq!(status, Some(1), "{command}");
    }
}

#[tokio::test]
async fn shell_pty_and_forwarding_are_refused() {
    let server = SftpTestServer::start().await;
    let connection = sftp_client::login(server.addr).await;

    let mut channel = connection.channel_open_session().await.unwrap();
    channel.request_shell(true).await.unwrap();
    let (mut stderr, mut failed) = (Vec::new(), false);
    while let Some(message) = channel.wait().await {
        match message {
            ChannelMsg::ExtendedData { data, .. } => stderr.extend_from_slice(&data),
            ChannelMsg::Failure => failed = true,
            ChannelMsg::Close => break,
            _ => {}
        }
    }
    assert!(failed, "shell request not refused");
    assert!(String::from_utf8_lossy(&stderr).contains("shell access is not available"));

    let mut channel = connection.channel_open_session().await.unwrap();
    channel
        .request_pty(true, "xterm", 80, 24, 0, 0, &[])
        .await
        .unwrap();
    let reply = channel.wait().await;
    assert!(matches!(reply, Some(ChannelMsg::Failure)), "{reply:?}");

    let forwarded = connection
        .channel_open_direct_tcpip(
            "127.0.0.1",
            u32::from(server.addr.port()),
            "127.0.0.1",
            5000,
        )
        .await;
    assert!(forwarded.is_err(), "local forwarding was allowed");
    assert!(connection.tcpip_forward("127.0.0.1", 0).await.is_err());
    let unknown = connection.channel_open_session().await.unwrap();
    unknown.request_subsystem(true, "netconf").await.unwrap();

    // The connection still serves SFTP afterwards.
    let sftp = sftp_client::open_sftp(&connection).await;
    assert_eq!(sftp.canonicalize(".").await.unwrap(), "/");
}

/// Each case ends its session; the daemon keeps serving new clients.
#[tokio::test]
async fn malformed_packets_end_the_session_not_the_daemon() {
    let server = SftpTestServer::start().await;
    let oversized = (256 * 1024 + 1u32).to_be_bytes().to_vec();
    let four_gib = u32::MAX.to_be_bytes().to_vec();
    let empty = 0u32.to_be_bytes().to_vec();
    let truncated_open = [5u32.to_be_bytes().to_vec(), vec![3, 0, 0, 0, 7]].concat();
    let not_init = [5u32.to_be_bytes().to_vec(), vec![3, 0, 0, 0, 1]].concat();
    let second_init = [5u32.to_be_bytes().to_vec(), vec![1, 0, 0, 0, 3]].concat();
    let bad_attrs = {
        let body = wire::request(9, 1, &[wire::string(b"/x"), 0x40u32.to_be_bytes().to_vec()]);
        [(body.len() as u32).to_be_bytes().to_vec(), body].concat()
    };
    let cases: [(&str, Vec<u8>, bool); 7] = [
        ("length over 256 KiB", oversized, true),
        ("4 GiB length", four_gib, true),
        ("empty packet", empty, true),
        ("truncated OPEN", truncated_open, true),
        ("request before INIT", not_init, false),
        ("second INIT", second_init, true),
        ("unknown attribute flags", bad_attrs, true),
    ];
    for (name, bytes, after_init) in cases {
        let connection = sftp_client::login(server.addr).await;
        let mut raw = if after_init {
            RawSftp::init(&connection).await.0
        } else {
            RawSftp::open(&connection).await
        };
        raw.send(&bytes).await;
        let next = tokio::time::timeout(Duration::from_secs(10), raw.recv())
            .await
            .unwrap_or_else(|_| panic!("{name}: session still open"));
        assert!(next.is_none(), "{name}: got a reply {next:?}");
        let (_fresh, sftp) = sftp_client::sftp(server.addr).await;
        assert_eq!(sftp.canonicalize(".").await.unwrap(), "/", "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_sessions() {
    let server = SftpTestServer::start().await;
    let mut clients = Vec::new();
    for index in 0..20 {
        let addr = server.addr;
        clients.push(tokio::spawn(async move {
            let (_connection, sftp) = sftp_client::sftp(addr).await;
            let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 + index) as u8).collect();
            let path = format!("/session-{index}.bin");
            sftp_client::put(&sftp, &path, &data).await;
            assert_eq!(sftp.read(&path).await.unwrap(), data);
        }));
    }
    for client in clients {
        client.await.unwrap();
    }
    let count = std::fs::read_dir(server.home(USER)).unwrap().count();
    assert_eq!(count, 20);
}

#[tokio::test]
async fn killed_client_mid_upload_leaves_no_partial_file() {
    let server = SftpTestServer::start().await;
    let connection = sftp_client::login(server.addr).await;
    let (mut raw, _) = RawSftp::init(&connection).await;
    let open = wire::request(
        3,
        1,
        &[
            wire::string(b"/big.iso"),
            0x1au32.to_be_bytes().to_vec(),
            0u32.to_be_bytes().to_vec(),
        ],
    );
    let handle = wire::handle(&raw.request(&open).await);
    let chunk = vec![0x5a; 200 * 1024];
    for index in 0..5u64 {
        let write = wire::request(
            6,
            2 + index as u32,
            &[
                wire::string(&handle),
                (index * chunk.len() as u64).to_be_bytes().to_vec(),
                wire::string(&chunk),
            ],
        );
        assert_eq!(wire::status_code(&raw.request(&write).await), Some(0));
    }
    drop(raw);
    drop(connection);
    // Shutdown waits for every session task, including the one cleaning up after the client.
    let home = server.home(USER);
    server.stop().await;
    let names: Vec<_> = std::fs::read_dir(&home)
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert!(names.is_empty(), "left behind: {names:?}");
}

#[tokio::test]
async fn shutdown_closes_idle_sessions() {
    let server = SftpTestServer::start().await;
    let (connection, sftp) = sftp_client::sftp(server.addr).await;
    sftp_client::put(&sftp, "/kept", b"done before shutdown").await;
    let home = server.home(USER);
    server.stop().await;
    tokio::time::timeout(Duration::from_secs(10), connection)
        .await
        .expect("client still connected after shutdown")
        .ok();
    assert_eq!(
        std::fs::read(home.join("kept")).unwrap(),
        b"done before shutdown"
    );
}
