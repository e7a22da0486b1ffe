//! The sandbox of the real daemon (Landlock, seccomp) and the refusal of exposed secret files.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use assert_cmd::Command;
use ferryd::server::{Server, StartError};
use tokio::io::AsyncWriteExt;

use crate::harness::daemon::{binary, daemon_config, Daemon};
use crate::harness::ftp_client::FtpClient;
use crate::harness::{sftp_client, test_config, test_users, PASSWORD, USER};

const SECRET: &[u8] = b"outside every allowed directory\n";

/// Replaces `USER`'s home (inside `data_dir`) by a symlink to a directory holding a secret
/// file, outside every directory the sandbox allows. Returns that directory.
fn swap_home_for_symlink(dir: &Path) -> tempfile::TempDir {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), SECRET).unwrap();
    let home = dir.join("data").join(USER);
    let _ = std::fs::remove_dir_all(&home);
    std::os::unix::fs::symlink(outside.path(), &home).unwrap();
    outside
}

/// What a client of a daemon with a symlinked home gets for `/secret.txt`: over FTPS and
/// over SFTP, `Some(contents)` when it could read it.
async fn read_secret(daemon: &Daemon) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
    let addresses = daemon.listening_addresses(2);
    let (ftps, sftp) = (addresses[0], addresses[1]);

    // `login` asserts success, so learn first whether the login itself is refused.
    let mut probe = FtpClient::explicit(ftps).await;
    assert_eq!(probe.cmd(&format!("USER {USER}")).await.code, 331);
    let ftp_read = if probe.cmd(&format!("PASS {PASSWORD}")).await.code == 230 {
        let mut client = FtpClient::explicit(ftps).await;
        client.login().await;
        client.try_download("RETR secret.txt").await.ok()
    } else {
        None
    };

    let sftp_read = match sftp_client::login_password(sftp, USER, PASSWORD).await {
        Ok(handle) => match handle.channel_open_session().await {
            Ok(channel) => {
                let _ = channel.request_subsystem(true, "sftp").await;
                match russh_sftp::client::SftpSession::new(channel.into_stream()).await {
                    Ok(session) => session.read("/secret.txt").await.ok(),
                    Err(_) => None,
                }
            }
            Err(_) => None,
        },
        Err(_) => None,
    };
    (ftp_read, sftp_read)
}

/// The proof that Landlock confines the running daemon, worker threads included.
///
/// The VFS already refuses symlinks that lead out of a user's root, because it resolves every
/// client path relative to a directory handle opened at the root. But the root itself is
/// opened by path at login, so a home directory replaced by a symlink (an admin's mistake, or
/// someone with write access to `data_dir`) takes the user wherever it points: nothing in the
/// VFS can tell a legitimate home from a redirected one. Only the sandbox stands between that
/// login and the rest of the disk, which makes it a clean test of the sandbox alone.
///
/// The home is opened on a `spawn_blocking` thread, created long after Landlock was applied,
/// so this also shows that threads started later inherit the confinement. The twin test below
/// runs the same steps with the sandbox off and reads the file, so the refusal here is the
/// sandbox's doing and not some other check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn landlock_keeps_a_symlinked_home_from_reaching_outside_files() {
    let dir = tempfile::tempdir().unwrap();
    let config = daemon_config(dir.path(), "");
    let daemon = Daemon::start(&config);
    let outside = swap_home_for_symlink(dir.path());

    let (ftp_read, sftp_read) = read_secret(&daemon).await;
    assert_eq!(ftp_read, None, "FTPS read a file outside the sandbox");
    assert_eq!(sftp_read, None, "SFTP read a file outside the sandbox");
    assert_eq!(
        std::fs::read(outside.path().join("secret.txt")).unwrap(),
        SECRET
    );
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 1);

    daemon.signal("TERM");
    let exit = daemon.wait(Duration::from_secs(30));
    assert_eq!(exit.status.code(), Some(0), "stderr:\n{}", exit.stderr);
    assert!(
        exit.stderr.contains("Permission denied") || exit.stderr.contains("permission denied"),
        "the refusal should be logged; stderr:\n{}",
        exit.stderr
    );
}

/// The control for the test above, and the `enabled = false` switch: without the sandbox, the
/// same symlinked home hands out the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_sandbox_a_symlinked_home_leaks_and_the_daemon_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let config = daemon_config(dir.path(), "[sandbox]\nenabled = false\n");
    let daemon = Daemon::start(&config);
    daemon.wait_for_log("sandbox off", Duration::from_secs(10));
    let _outside = swap_home_for_symlink(dir.path());

    let (ftp_read, sftp_read) = read_secret(&daemon).await;
    assert_eq!(ftp_read.as_deref(), Some(SECRET));
    assert_eq!(sftp_read.as_deref(), Some(SECRET));

    daemon.signal("TERM");
    assert_eq!(daemon.wait(Duration::from_secs(30)).status.code(), Some(0));
}

/// The seccomp filter and Landlock rules allow everything a normal day needs: FTPS and SFTP
/// logins, uploads, downloads, listings, renames, links, modes, the transfer log (in its own
/// directory), a reload, and a clean stop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sandboxed_daemon_serves_a_full_workload_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let xferlog = logs.join("xferlog");
    let config = daemon_config(
        dir.path(),
        &format!("[log]\ntransfer_log = \"{}\"\n", xferlog.display()),
    );
    let mut daemon = Daemon::start(&config);
    let active = daemon.wait_for_log("sandbox active", Duration::from_secs(10));
    assert!(active.contains("seccomp=\"") && active.contains("system calls allowed"));
    assert!(
        active.contains("Landlock ABI") || active.contains("not enforced"),
        "{active}"
    );
    let addresses = daemon.listening_addresses(2);
    let (ftps, sftp) = (addresses[0], addresses[1]);

    let mut ftp = FtpClient::explicit(ftps).await;
    ftp.login().await;
    assert_eq!(ftp.cmd("MKD /in").await.code, 257);
    ftp.upload("STOR /in/a.txt", b"hello from ftps").await;
    assert_eq!(ftp.cmd("RNFR /in/a.txt").await.code, 350);
    assert_eq!(ftp.cmd("RNTO /b.txt").await.code, 250);
    let listing = ftp.download("MLSD /").await;
    assert!(String::from_utf8_lossy(&listing).contains("b.txt"));
    assert_eq!(ftp.download("RETR /b.txt").await, b"hello from ftps");
    assert_eq!(ftp.cmd("SIZE /b.txt").await.code, 213);
    assert_eq!(ftp.cmd("DELE /b.txt").await.code, 250);
    assert_eq!(ftp.cmd("QUIT").await.code, 221);

    let (_handle, session) = sftp_client::sftp(sftp).await;
    session.create_dir("/s").await.unwrap();
    let mut file = session.create("/s/c.bin").await.unwrap();
    file.write_all(&vec![7u8; 300_000]).await.unwrap();
    file.shutdown().await.unwrap();
    session.rename("/s/c.bin", "/d.bin").await.unwrap();
    assert_eq!(session.read("/d.bin").await.unwrap().len(), 300_000);
    let mut attributes = russh_sftp::protocol::FileAttributes::empty();
    attributes.permissions = Some(0o600);
    session.set_metadata("/d.bin", attributes).await.unwrap();
    session.symlink("/d.bin", "/link").await.unwrap();
    let names: Vec<String> = session
        .read_dir("/")
        .await
        .unwrap()
        .map(|entry| entry.file_name())
        .collect();
    assert!(names.contains(&"d.bin".to_owned()) && names.contains(&"link".to_owned()));
    session.remove_file("/link").await.unwrap();
    session.close().await.unwrap();

    daemon.signal("HUP");
    daemon.wait_for_notification("READY=1", Duration::from_secs(10));
    daemon.wait_for_log("configuration reloaded", Duration::from_secs(10));

    daemon.signal("TERM");
    let exit = daemon.wait(Duration::from_secs(30));
    assert_eq!(exit.status.code(), Some(0), "stderr:\n{}", exit.stderr);
    assert!(
        !exit.stderr.contains("Operation not permitted"),
        "{}",
        exit.stderr
    );
    let transfers = std::fs::read_to_string(&xferlog).unwrap();
    assert!(
        transfers.contains("/in/a.txt") || transfers.contains("a.txt"),
        "{transfers}"
    );
}

/// Writes `USER` and generates the certificate and host keys, as a first start would.
fn prepared_config(dir: &Path) -> ferryd::config::Config {
    let config = test_config(dir);
    std::fs::create_dir_all(&config.server.state_dir).unwrap();
    test_users().save(&config.auth.users_file).unwrap();
    Server::prepare(config.clone()).unwrap();
    config
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[tokio::test]
async fn generated_keys_and_the_users_file_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let config = prepared_config(dir.path());
    let mut files = vec![config.ftps.key.clone(), config.auth.users_file.clone()];
    files.extend(config.sftp.host_keys.iter().cloned());
    for file in files {
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", file.display());
    }
}

#[tokio::test]
async fn a_world_readable_key_or_users_file_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = prepared_config(dir.path());
    let secrets = [
        ("ftps.key", config.ftps.key.clone()),
        ("sftp.host_keys", config.sftp.host_keys[0].clone()),
        ("auth.users_file", config.auth.users_file.clone()),
    ];
    for (key, path) in &secrets {
        for mode in [0o644, 0o602] {
            chmod(path, mode);
            let error = match Server::start(config.clone()).await {
                Ok(_) => panic!("{key} with mode {mode:o} was accepted"),
                Err(error) => error,
            };
            assert!(
                matches!(&error, StartError::ExposedFile(exposed) if exposed.key == *key),
                "{error:?}"
            );
            assert!(error.is_configuration());
            let message = error.to_string();
            assert!(
                message.contains(&format!("chmod 600 {}", path.display())),
                "{message}"
            );
        }
        // Sharing with a group (ssl-cert, a deploy hook's chgrp) is allowed.
        chmod(path, 0o640);
    }
    Server::prepare(config).unwrap();
}

#[test]
fn the_daemon_exits_78_naming_a_world_readable_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = daemon_config(dir.path(), "");
    let first = Daemon::start(&config);
    first.signal("TERM");
    assert_eq!(first.wait(Duration::from_secs(30)).status.code(), Some(0));
    let key = dir.path().join("state/ssh_host_ed25519_key");
    chmod(&key, 0o644);

    Command::new(binary())
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .env_remove("NOTIFY_SOCKET")
        .timeout(Duration::from_secs(30))
        .assert()
        .code(78)
        .stderr(predicates::str::contains(format!(
            "chmod 600 {}",
            key.display()
        )));
}

#[tokio::test]
async fn a_reload_refuses_a_users_file_or_key_that_became_world_readable() {
    let server = crate::harness::TestServer::start().await;
    for path in [&server.config.auth.users_file, &server.config.ftps.key] {
        chmod(path, 0o644);
        let error = server.running().reload().unwrap_err();
        assert!(
            matches!(&error, ferryd::server::ReloadError::ExposedFile(exposed) if exposed.path == *path),
            "{error:?}"
        );
        chmod(path, 0o600);
    }
    server.running().reload().unwrap();
    server.stop().await;
}

/// Folders outside `data_dir` are legitimate data: the rules built at start include them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_outside_data_dir_stays_usable_under_the_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let shared = tempfile::tempdir().unwrap();
    std::fs::write(shared.path().join("in.txt"), b"shared").unwrap();
    let config = daemon_config(dir.path(), "");
    let users = dir.path().join("state/users.toml");
    let mut text = std::fs::read_to_string(&users).unwrap();
    text.push_str(&format!(
        "\n[[user.folder]]\npath = \"/shared\"\ndir = \"{}\"\n",
        shared.path().display()
    ));
    std::fs::write(&users, text).unwrap();
    let daemon = Daemon::start(&config);
    let sftp = daemon.listening_addresses(2)[1];

    let (_handle, session) = sftp_client::sftp(sftp).await;
    assert_eq!(session.read("/shared/in.txt").await.unwrap(), b"shared");
    let mut file = session.create("/shared/out.txt").await.unwrap();
    file.write_all(b"written").await.unwrap();
    file.shutdown().await.unwrap();
    drop(session);
    assert_eq!(
        std::fs::read(shared.path().join("out.txt")).unwrap(),
        b"written"
    );

    daemon.signal("TERM");
    assert_eq!(daemon.wait(Duration::from_secs(30)).status.code(), Some(0));
}
