//! The umask end to end: OpenSSH `sftp` (put of a 0666 file, mkdir, chmod), the raw SFTP client
//! (a mode with setuid sent at OPEN and MKDIR), and the FTP client (STOR, APPE, MKD, SITE CHMOD),
//! with the server default and a per-user override.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use crate::harness::ftp_client::FtpClient;
use crate::harness::openssh;
use crate::harness::sftp_client::{self, wire, RawSftp, SftpTestServer};
use crate::harness::{TestServer, USER};

fn mode_of(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

/// True when OpenSSH `sftp` runs here; otherwise fails under CI or says it skipped.
fn have_sftp() -> bool {
    let found = std::process::Command::new("sftp")
        .arg("-V")
        .output()
        .is_ok();
    crate::harness::needs(found, "sftp (OpenSSH) is not installed")
}

/// A server whose test user logs in with a new key, the key's file, and `umask` for the user.
async fn sftp_server(user_umask: Option<u32>) -> (SftpTestServer, std::path::PathBuf) {
    let key = sftp_client::new_key();
    let public = key.public_key().clone();
    let server = SftpTestServer::start_with(|_, users| {
        let user = users.get_mut(USER).unwrap();
        user.keys.push(public);
        user.umask = user_umask;
    })
    .await;
    let key_path = sftp_client::write_key(server.dir.as_path(), &key);
    (server, key_path)
}

async fn openssh_batch(server: &SftpTestServer, key: &Path, batch: &str) {
    let batch_path = server.dir.join("batch");
    std::fs::write(&batch_path, batch).unwrap();
    let output = openssh::command("sftp", server.addr.port(), key)
        .arg("-b")
        .arg(&batch_path)
        .arg(format!("{USER}@127.0.0.1"))
        .current_dir(&server.dir)
        .output();
    let output = tokio::time::timeout(std::time::Duration::from_secs(120), output)
        .await
        .expect("sftp hung")
        .unwrap();
    assert!(
        output.status.success(),
        "sftp failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A local file with mode 0666 in the server's temp dir, as a user with umask 0 would have.
fn local_0666_file(server: &SftpTestServer) {
    let local = server.dir.join("open.txt");
    std::fs::write(&local, b"shared").unwrap();
    std::fs::set_permissions(&local, std::fs::Permissions::from_mode(0o666)).unwrap();
}

#[tokio::test]
async fn openssh_put_and_mkdir_get_the_default_umask_and_chmod_is_explicit() {
    if !have_sftp() {
        return;
    }
    let (server, key) = sftp_server(None).await;
    local_0666_file(&server);
    // put sends the local mode (0666) with OPEN; put -p sends it again with FSETSTAT.
    openssh_batch(
        &server,
        &key,
        "put open.txt plain.txt\nput -p open.txt kept.txt\nmkdir d\n\
         put open.txt chmodded.txt\nchmod 666 chmodded.txt\nput open.txt suid.txt\n\
         chmod 4755 suid.txt\n",
    )
    .await;
    let home = server.home(USER);
    assert_eq!(mode_of(&home.join("plain.txt")), 0o644);
    assert_eq!(mode_of(&home.join("kept.txt")), 0o644);
    assert_eq!(mode_of(&home.join("d")), 0o755);
    assert_eq!(
        mode_of(&home.join("chmodded.txt")),
        0o666,
        "chmod is not masked"
    );
    assert_eq!(mode_of(&home.join("suid.txt")), 0o755, "setuid never set");
    server.stop().await;
}

#[tokio::test]
async fn openssh_put_and_mkdir_follow_a_per_user_umask() {
    if !have_sftp() {
        return;
    }
    let (server, key) = sftp_server(Some(0o027)).await;
    local_0666_file(&server);
    openssh_batch(&server, &key, "put open.txt f.txt\nmkdir d\n").await;
    let home = server.home(USER);
    assert_eq!(mode_of(&home.join("f.txt")), 0o640);
    assert_eq!(mode_of(&home.join("d")), 0o750);
    server.stop().await;
}

/// Raw ATTRS carrying only permissions.
fn permissions_attrs(mode: u32) -> Vec<u8> {
    [4u32.to_be_bytes(), mode.to_be_bytes()].concat()
}

#[tokio::test]
async fn sftp_modes_with_setuid_setgid_or_sticky_lose_them() {
    let server = SftpTestServer::start().await;
    let connection = sftp_client::login(server.addr).await;
    let (mut raw, _) = RawSftp::init(&connection).await;
    // OPEN with CREAT|TRUNC|WRITE and mode 04755, then CLOSE.
    let flags = (0x02u32 | 0x08 | 0x10).to_be_bytes().to_vec();
    let open = wire::request(
        3,
        1,
        &[wire::string(b"/tool"), flags, permissions_attrs(0o4755)],
    );
    let handle = wire::handle(&raw.request(&open).await);
    let close = wire::request(4, 2, &[wire::string(&handle)]);
    assert_eq!(wire::status_code(&raw.request(&close).await), Some(0));
    // MKDIR with 03777 (setgid + sticky).
    let mkdir = wire::request(
        14,
        3,
        &[wire::string(b"/shared"), permissions_attrs(0o3777)],
    );
    assert_eq!(wire::status_code(&raw.request(&mkdir).await), Some(0));
    // SETSTAT to 01777 on the directory: explicit, so no umask, but still no sticky bit.
    let setstat = wire::request(9, 4, &[wire::string(b"/shared"), permissions_attrs(0o1777)]);
    assert_eq!(wire::status_code(&raw.request(&setstat).await), Some(0));
    let home = server.home(USER);
    assert_eq!(mode_of(&home.join("tool")), 0o755);
    assert_eq!(mode_of(&home.join("shared")), 0o777);
    server.stop().await;
}

#[tokio::test]
async fn ftp_uploads_and_directories_get_the_umask_and_site_chmod_is_explicit() {
    let server = TestServer::start_with(|config, _| config.server.umask = 0o027).await;
    let mut client = FtpClient::explicit(server.addresses.ftps_explicit.unwrap()).await;
    client.login().await;
    client.upload("STOR stored.txt", b"data").await;
    client.upload("APPE appended.txt", b"data").await;
    let reply = client.cmd("MKD made").await;
    assert_eq!(reply.code, 257, "{reply:?}");
    let home = server.home(USER);
    assert_eq!(mode_of(&home.join("stored.txt")), 0o640);
    assert_eq!(mode_of(&home.join("appended.txt")), 0o640);
    assert_eq!(mode_of(&home.join("made")), 0o750);

    let reply = client.cmd("SITE CHMOD 666 stored.txt").await;
    assert_eq!(reply.code, 200, "{reply:?}");
    assert_eq!(mode_of(&home.join("stored.txt")), 0o666, "not masked");
    let reply = client.cmd("SITE CHMOD 4755 stored.txt").await;
    assert_eq!(reply.code, 200, "{reply:?}");
    assert_eq!(mode_of(&home.join("stored.txt")), 0o755, "setuid never set");
    // Replacing a file keeps its mode: FTP sends none.
    client.upload("STOR stored.txt", b"new data").await;
    assert_eq!(mode_of(&home.join("stored.txt")), 0o755);
    server.stop().await;
}

#[tokio::test]
async fn ftp_follows_a_per_user_umask_over_the_server_default() {
    let server = TestServer::start_with(|_, users| {
        users.get_mut(USER).unwrap().umask = Some(0o077);
    })
    .await;
    let mut client = FtpClient::explicit(server.addresses.ftps_explicit.unwrap()).await;
    client.login().await;
    client.upload("STOU", b"unique").await;
    client.upload("STOR private.txt", b"data").await;
    assert_eq!(client.cmd("MKD private").await.code, 257);
    let home = server.home(USER);
    assert_eq!(mode_of(&home.join("private.txt")), 0o600);
    assert_eq!(mode_of(&home.join("private")), 0o700);
    for entry in std::fs::read_dir(&home).unwrap() {
        let entry = entry.unwrap();
        assert_eq!(mode_of(&entry.path()) & 0o077, 0, "{entry:?}");
    }
    server.stop().await;
}
