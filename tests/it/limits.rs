//! Abuse resistance on both protocols: per-user session limits, idle timeouts, Slowloris
//! clients, handle exhaustion, sparse-file bombs against a quota, and authentication that gives
//! nothing away (identical failures for every reason, absurd passwords).

use std::time::Duration;

use ferryd::auth::{password, UserDb, UserRecord};
use ferryd::config::Protocol;
use ferryd::vfs::Quota;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::attacks_sftp::{
    u64b, Raw, CLOSE, FX_OK, F_CREAT, F_READ, F_TRUNC, F_WRITE, OPENDIR, WRITE,
};
use crate::harness::ftp_client::FtpClient;
use crate::harness::sftp_client::wire::{status_code, string};
use crate::harness::sftp_client::{self, SftpTestServer};
use crate::harness::{TestServer, PASSWORD, USER};

/// Long enough for any honest test step, short enough that a hang fails the test quickly.
const PATIENCE: Duration = Duration::from_secs(15);

#[tokio::test]
async fn sessions_per_user_are_limited_on_both_protocols_together() {
    let server = TestServer::start_with(|config, _| {
        config.ftps.require_tls = false;
        config.server.max_sessions_per_user = 1;
    })
    .await;
    let ftp_address = server.addresses.ftps_explicit.unwrap();
    let mut first = FtpClient::plain(ftp_address).await;
    first.login().await;
    // A second FTP login of the same user is refused and closed.
    let mut second = FtpClient::plain(ftp_address).await;
    assert_eq!(second.cmd(&format!("USER {USER}")).await.code, 331);
    let reply = second.cmd(&format!("PASS {PASSWORD}")).await;
    assert_eq!(reply.code, 421, "{reply:?}");
    // An SFTP session of the same user counts against the same limit.
    let refused = async {
        let connection =
            sftp_client::login_password(server.addresses.sftp.unwrap(), USER, PASSWORD)
                .await
                .ok()?;
        let channel = connection.channel_open_session().await.ok()?;
        channel.request_subsystem(true, "sftp").await.ok()
    };
    assert!(
        tokio::time::timeout(PATIENCE, refused)
            .await
            .unwrap()
            .is_none(),
        "a second session over SFTP was allowed"
    );
    // Once the first session ends, the user may log in again.
    first.cmd("QUIT").await;
    assert!(first.try_reply().await.is_none());
    let mut third = FtpClient::plain(ftp_address).await;
    let login = async {
        loop {
            assert_eq!(third.cmd(&format!("USER {USER}")).await.code, 331);
            // The first session's permit is released when its task ends, just after QUIT.
            if third.cmd(&format!("PASS {PASSWORD}")).await.code == 230 {
                break;
            }
            third = FtpClient::plain(ftp_address).await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(PATIENCE, login).await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn idle_sessions_are_closed_on_both_protocols() {
    let server = TestServer::start_with(|config, _| {
        config.ftps.require_tls = false;
        config.server.idle_timeout = Duration::from_secs(1);
    })
    .await;
    // The FTP timer's rule is tested on a paused clock (src/ftp/tests/timeouts.rs); this is
    // the 421 reaching a real client. Both sessions idle at once, so the test waits only once.
    let ftp = async {
        let mut ftp = FtpClient::plain(server.addresses.ftps_explicit.unwrap()).await;
        ftp.login().await;
        let reply = tokio::time::timeout(PATIENCE, ftp.reply()).await.unwrap();
        assert_eq!(reply.code, 421, "{reply:?}");
        assert!(ftp.try_reply().await.is_none());
    };
    let sftp = async {
        let (mut connection, client) = sftp_client::connect(server.addresses.sftp.unwrap()).await;
        assert!(connection
            .authenticate_password(USER, PASSWORD)
            .await
            .unwrap()
            .success());
        let _sftp = sftp_client::open_sftp(&connection).await;
        // ferryd's own idle timer says why (sftp/idle.rs), so the reason is the client's to show.
        let reason = sftp_client::disconnect_reason(
            connection,
            &client,
            PATIENCE,
            "an idle SFTP session stayed open",
        )
        .await;
        assert!(reason.contains("idle timeout"), "{reason:?}");
    };
    tokio::join!(ftp, sftp);
    server.stop().await;
}

/// Sends `bytes` one per 100 ms; returns true if the server closed the connection meanwhile.
async fn trickle(stream: &mut TcpStream, bytes: &[u8]) -> bool {
    for byte in bytes.iter().cycle().take(200) {
        if stream.write_all(&[*byte]).await.is_err() {
            return true;
        }
        let mut sink = [0u8; 512];
        match tokio::time::timeout(Duration::from_millis(100), stream.read(&mut sink)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            _ => {}
        }
    }
    false
}

#[tokio::test]
async fn slowloris_clients_are_dropped_at_the_login_timeout_and_block_nobody() {
    let server = TestServer::start_with(|config, _| {
        config.ftps.require_tls = false;
        config.server.login_timeout = Duration::from_secs(2);
    })
    .await;
    let ftp_address = server.addresses.ftps_explicit.unwrap();
    let sftp_address = server.addresses.sftp.unwrap();
    let slow_ftp = async {
        let mut stream = TcpStream::connect(ftp_address).await.unwrap();
        // Each byte is activity, but a command line never completes: the login deadline
        // must still apply.
        trickle(&mut stream, b"USER aliceeeeeeeeeeeeeeeeeeeeeeeeeee").await
    };
    let slow_ssh = async {
        let mut stream = TcpStream::connect(sftp_address).await.unwrap();
        trickle(&mut stream, b"SSH-2.0-slooooooooooooooooooooooooooow").await
    };
    let honest = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut ftp = FtpClient::plain(ftp_address).await;
        ftp.login().await;
        let (_connection, sftp) = sftp_client::sftp(sftp_address).await;
        assert_eq!(sftp.canonicalize(".").await.unwrap(), "/");
    };
    let started = tokio::time::Instant::now();
    let (ftp_dropped, ssh_dropped, ()) = tokio::join!(slow_ftp, slow_ssh, honest);
    assert!(ftp_dropped, "the trickling FTP client was never dropped");
    assert!(ssh_dropped, "the trickling SSH client was never dropped");
    // 200 bytes at 100 ms would take 20 s; the login timeout must cut well before.
    assert!(started.elapsed() < Duration::from_secs(15));
    server.stop().await;
}

#[tokio::test]
async fn handle_exhaustion_is_refused_and_recoverable() {
    let server = SftpTestServer::start().await;
    std::fs::create_dir_all(server.home(USER)).unwrap();
    std::fs::write(server.home(USER).join("f"), b"x").unwrap();
    let mut greedy = Raw::start(&server).await;
    let mut handles = Vec::new();
    let refused = loop {
        match greedy.open(b"f", F_READ).await {
            Ok(handle) => handles.push(handle),
            Err(code) => break code,
        }
        assert!(handles.len() <= 10_000, "handles are unbounded");
    };
    assert_ne!(refused, FX_OK);
    assert_eq!(handles.len(), 256, "the advertised limit");
    // Directories count too.
    let dir = greedy.call(OPENDIR, &[string(b"/")]).await;
    assert!(status_code(&dir).is_some_and(|code| code != FX_OK));
    // Another session of the same user is unaffected.
    let mut other = Raw::start(&server).await;
    let mine = other.open(b"f", F_READ).await.unwrap();
    assert_eq!(other.close(&mine).await, Some(FX_OK));
    // Closing some makes room again.
    for handle in handles.drain(..3) {
        assert_eq!(
            status_code(&greedy.call(CLOSE, &[string(&handle)]).await),
            Some(FX_OK)
        );
    }
    let again = greedy.open(b"f", F_READ).await.unwrap();
    assert_eq!(greedy.close(&again).await, Some(FX_OK));
}

#[tokio::test]
async fn sparse_writes_cannot_beat_the_quota_or_allocate_disk() {
    let server = SftpTestServer::start_with(|_, users| {
        let mut bob = UserRecord::named("bob").unwrap();
        bob.password = Some(password::hash_password(PASSWORD).unwrap());
        users.add(bob).unwrap();
        users.get_mut(USER).unwrap().quota = Quota {
            max_bytes: Some(1024 * 1024),
            max_files: None,
        };
    })
    .await;
    const FAR: u64 = 1 << 40;
    // With a 1 MiB quota: the quota counts apparent size, so a write at 1 TiB is refused.
    let mut alice = Raw::start(&server).await;
    let file = alice
        .open(b"bomb", F_WRITE | F_CREAT | F_TRUNC)
        .await
        .unwrap();
    let wrote = alice
        .call(WRITE, &[string(&file), u64b(FAR), string(b"boom")])
        .await;
    assert!(status_code(&wrote).is_some_and(|code| code != FX_OK));
    alice.close(&file).await;
    let size = std::fs::metadata(server.home(USER).join("bomb")).map_or(0, |m| m.len());
    assert!(size < 1024 * 1024, "the bomb reached {size} bytes");

    // Without a quota: a hole is allowed (sparse is fine) but costs no real disk.
    let connection = sftp_client::login_password(server.addr, "bob", PASSWORD)
        .await
        .unwrap();
    let (raw, _) = sftp_client::RawSftp::init(&connection).await;
    let mut bob = Raw::from_raw(raw, connection);
    let file = bob
        .open(b"sparse", F_WRITE | F_CREAT | F_TRUNC)
        .await
        .unwrap();
    let wrote = bob
        .call(WRITE, &[string(&file), u64b(FAR), string(b"boom")])
        .await;
    let closed = bob.close(&file).await;
    if status_code(&wrote) == Some(FX_OK) && closed == Some(FX_OK) {
        use std::os::unix::fs::MetadataExt as _;
        let meta = std::fs::metadata(server.home("bob").join("sparse")).unwrap();
        assert_eq!(meta.len(), FAR + 4);
        assert!(
            meta.blocks() * 512 <= 1024 * 1024,
            "{} bytes allocated",
            meta.blocks() * 512
        );
    }
}

/// A FTPS client's `USER name` and `PASS password` replies, as text.
async fn ftp_login_replies(server: &TestServer, user: &str, password: &str) -> (String, String) {
    let mut client = FtpClient::explicit(server.addresses.ftps_explicit.unwrap()).await;
    // The 331 echoes the name the client sent; that tells the client nothing new.
    let user_reply = client
        .cmd(&format!("USER {user}"))
        .await
        .text
        .replace(user, "NAME");
    let pass_reply = client.cmd(&format!("PASS {password}")).await.text;
    (user_reply, pass_reply)
}

/// An SSH password attempt's outcome, as text (success or the failure with its methods).
async fn ssh_login_outcome(server: &TestServer, user: &str, password: &str) -> String {
    let (mut connection, _) = sftp_client::connect(server.addresses.sftp.unwrap()).await;
    match connection.authenticate_password(user, password).await {
        Ok(result) => format!("{result:?}"),
        Err(error) => format!("error: {error}"),
    }
}

fn enumeration_users(users: &mut UserDb) {
    let mut add = |name: &str| {
        let mut user = UserRecord::named(name).unwrap();
        user.password = Some(password::hash_password(PASSWORD).unwrap());
        users.add(user).unwrap();
    };
    add("disabled");
    add("ftpsonly");
    add("sftponly");
    users.get_mut("disabled").unwrap().enabled = false;
    users.get_mut("ftpsonly").unwrap().protocols = [Protocol::Ftps].into_iter().collect();
    users.get_mut("sftponly").unwrap().protocols = [Protocol::Sftp].into_iter().collect();
}

#[tokio::test]
async fn every_login_failure_looks_the_same() {
    let server = TestServer::start_with(|_, users| enumeration_users(users)).await;
    let ftps_cases = [
        (USER, "wrong password"),
        ("nobody", PASSWORD),
        ("disabled", PASSWORD),
        ("sftponly", PASSWORD),
    ];
    let expected = ftp_login_replies(&server, USER, "wrong password").await;
    assert!(expected.1.starts_with("530"), "{expected:?}");
    for (user, password) in ftps_cases {
        let got = ftp_login_replies(&server, user, password).await;
        assert_eq!(got, expected, "FTPS {user}");
    }
    let ssh_cases = [
        (USER, "wrong password"),
        ("nobody", PASSWORD),
        ("disabled", PASSWORD),
        ("ftpsonly", PASSWORD),
        (USER, ""),
        ("nobody", ""),
    ];
    let expected = ssh_login_outcome(&server, USER, "wrong password").await;
    assert!(expected.contains("Failure"), "{expected}");
    for (user, password) in ssh_cases {
        let got = ssh_login_outcome(&server, user, password).await;
        assert_eq!(got, expected, "SFTP {user}/{password:?}");
    }
    server.stop().await;
}

#[tokio::test]
async fn empty_and_absurd_passwords_are_refused_safely() {
    let server = TestServer::start_with(|config, _| config.ftps.require_tls = false).await;
    let address = server.addresses.ftps_explicit.unwrap();
    let mut client = FtpClient::plain(address).await;
    assert_eq!(client.cmd(&format!("USER {USER}")).await.code, 331);
    assert_eq!(client.cmd("PASS").await.code, 530);
    // A 1 MiB PASS line: 500 for the line, and the session survives.
    assert_eq!(client.cmd(&format!("USER {USER}")).await.code, 331);
    let huge = format!("PASS {}", "p".repeat(1024 * 1024));
    let reply = client.cmd(&huge).await;
    assert_eq!(reply.code, 500, "{reply:?}");
    assert_eq!(client.cmd("NOOP").await.code, 200);
    // A 100 KiB SSH password is refused (or the connection dropped), never accepted, and
    // the daemon keeps serving.
    let outcome = ssh_login_outcome(&server, USER, &"p".repeat(100 * 1024)).await;
    assert!(!outcome.contains("Success"), "{outcome}");
    let outcome = ssh_login_outcome(&server, USER, "").await;
    assert!(outcome.contains("Failure"), "{outcome}");
    let (_connection, sftp) = sftp_client::sftp(server.addresses.sftp.unwrap()).await;
    assert_eq!(sftp.canonicalize(".").await.unwrap(), "/");
    let mut fresh = FtpClient::plain(address).await;
    fresh.login().await;
    server.stop().await;
}

/// Descriptors of this process that are open on `dir`.
fn descriptors_on(dir: &std::path::Path) -> usize {
    let dir = std::fs::canonicalize(dir).unwrap();
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter(|target| *target == dir)
        .count()
}

#[tokio::test]
async fn sessions_of_one_user_share_one_descriptor_for_the_home() {
    let server = TestServer::start_with(|config, _| config.ftps.require_tls = false).await;
    let home = server.home(USER);
    let mut ftp = Vec::new();
    for _ in 0..4 {
        let mut client = FtpClient::plain(server.addresses.ftps_explicit.unwrap()).await;
        client.login().await;
        ftp.push(client);
    }
    let mut sftp = Vec::new();
    for _ in 0..3 {
        let connection =
            sftp_client::login_password(server.addresses.sftp.unwrap(), USER, PASSWORD)
                .await
                .unwrap();
        let channel = connection.channel_open_session().await.unwrap();
        channel.request_subsystem(true, "sftp").await.unwrap();
        sftp.push((connection, channel));
    }
    // Every session works inside the home, through the one shared handle.
    assert_eq!(ftp[3].cmd("MKD made-by-the-fourth").await.code, 257);
    assert!(home.join("made-by-the-fourth").is_dir());
    let open = async {
        loop {
            if descriptors_on(&home) == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(PATIENCE, open)
        .await
        .unwrap_or_else(|_| panic!("{} descriptors on the home", descriptors_on(&home)));
    for mut client in ftp {
        client.cmd("QUIT").await;
    }
    drop(sftp);
    let closed = async {
        while descriptors_on(&home) != 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(PATIENCE, closed).await.unwrap();
    server.stop().await;
}
