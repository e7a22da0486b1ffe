//! Leftover uploads: temporary files of uploads cut off by `kill -9`, and what happens to them
//! after a restart (swept and logged, outside every quota, no obstacle to RMD/rmdir), while a
//! live upload's temporary file is never touched.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ferryd::auth::{password, UserDb, UserRecord};
use ferryd::config::LeftoverUploads;
use ferryd::vfs::Quota;
use tokio::io::AsyncWriteExt;

use crate::harness::daemon::Daemon;
use crate::harness::ftp_client::FtpClient;
use crate::harness::sftp_client::{sftp, SftpTestServer};
use crate::harness::{TestServer, PASSWORD, USER};

const MIB: usize = 1024 * 1024;

/// The temporary upload files in `dir` (name, size).
fn temp_files(dir: &Path) -> Vec<(String, u64)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .map(|entry| entry.unwrap())
        .filter_map(|entry| {
            let name = entry.file_name().into_string().unwrap();
            name.starts_with(".ferryd-upload-")
                .then(|| (name, entry.metadata().unwrap().len()))
        })
        .collect()
}

/// Waits until `dir` holds a temporary upload file of at least `bytes` (the server writes
/// behind the network, so what the client sent reaches the disk a little later).
async fn wait_for_temp_file(dir: &Path, bytes: u64) -> (String, u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(found) = temp_files(dir).into_iter().find(|(_, size)| *size >= bytes) {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "no temporary file of {bytes} bytes in {}: {:?}",
            dir.display(),
            temp_files(dir)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A temporary file as a crash leaves it: the generated shape, owned by nobody.
fn plant_leftover(dir: &Path, index: u8, bytes: usize) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(format!(".ferryd-upload-00000000000000{index:02x}.part"));
    std::fs::write(&path, vec![0u8; bytes]).unwrap();
    path
}

fn daemon_config(dir: &Path, quota_bytes: u64) -> PathBuf {
    daemon_config_with(dir, quota_bytes, "")
}

fn daemon_config_with(dir: &Path, quota_bytes: u64, server_keys: &str) -> PathBuf {
    let path = dir.join("ferryd.toml");
    std::fs::write(
        &path,
        format!(
            "[server]\ndata_dir = \"{d}/data\"\nstate_dir = \"{d}/state\"\nshutdown_grace_secs = 5\n{server_keys}\n\
             [ftps]\nlisten = \"127.0.0.1:0\"\nimplicit_listen = \"\"\npassive_ports = \"{ports}\"\n\
             [sftp]\nlisten = \"\"\n[defender]\nenabled = false\n",
            d = dir.display(), ports = crate::harness::passive_ports()
        ),
    )
    .unwrap();
    let mut users = UserDb::new();
    let mut alice = UserRecord::named(USER).unwrap();
    alice.password = Some(password::hash_password(PASSWORD).unwrap());
    alice.quota = Quota {
        max_bytes: Some(quota_bytes),
        max_files: None,
    };
    users.add(alice).unwrap();
    std::fs::create_dir_all(dir.join("state")).unwrap();
    users.save(&dir.join("state/users.toml")).unwrap();
    path
}

async fn ftp_login(daemon: &Daemon) -> FtpClient {
    let address = daemon.listening_addresses(1)[0];
    let mut client = FtpClient::explicit(address).await;
    client.login_as(USER, PASSWORD).await;
    client
}

#[test]
fn after_kill_9_the_restarted_daemon_sweeps_the_upload_it_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let quota = 64 * MIB as u64;
    let config = daemon_config(dir.path(), quota);
    let inbox = dir.path().join("data").join(USER).join("inbox");
    let runtime = tokio::runtime::Runtime::new().unwrap();

    let daemon = Daemon::start(&config);
    let (leftover, _client, _stream) = runtime.block_on(async {
        let mut client = ftp_login(&daemon).await;
        assert_eq!(client.cmd("MKD /inbox").await.code, 257);
        let mut stream = client.open_transfer("STOR /inbox/big.bin").await.unwrap();
        // Half of a 48 MiB file, then nothing: the upload is in flight when the daemon dies.
        for _ in 0..24 {
            stream.write_all(&vec![0x5a; MIB]).await.unwrap();
        }
        let found = wait_for_temp_file(&inbox, 16 * MIB as u64).await;
        daemon.signal("KILL");
        (found, client, stream)
    });
    let exit = daemon.wait(Duration::from_secs(30));
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&exit.status),
        Some(9)
    );
    // What kill -9 leaves behind, measured after the process is gone.
    let (name, size) = leftover;
    let size = std::fs::metadata(inbox.join(&name))
        .map(|metadata| metadata.len())
        .unwrap_or(size);
    assert!(size >= 16 * MIB as u64);

    let daemon = Daemon::start(&config);
    let line = daemon.wait_for_log("swept leftover uploads", Duration::from_secs(60));
    assert!(line.contains("found=1"), "{line}");
    assert!(line.contains(&format!("bytes={size}")), "{line}");
    assert!(line.contains("action=\"remove\""), "{line}");
    assert!(!inbox.join(&name).exists(), "{line}");
    assert!(temp_files(&inbox).is_empty());

    runtime.block_on(async {
        let mut client = ftp_login(&daemon).await;
        // The directory that held it looked empty to its owner, and now is.
        assert_eq!(client.cmd("RMD /inbox").await.code, 250);
        // The whole quota is the user's again: 64 MiB fit, one byte more does not.
        client
            .upload("STOR /full.bin", &vec![0xa5; quota as usize])
            .await;
        let refused = client.try_upload("STOR /one-more", b"x").await.unwrap_err();
        assert_eq!(refused.code, 552, "{refused:?}");
        assert_eq!(client.cmd("QUIT").await.code, 221);
    });
    daemon.signal("TERM");
    assert_eq!(daemon.wait(Duration::from_secs(30)).status.code(), Some(0));
    assert_eq!(
        std::fs::metadata(dir.path().join("data").join(USER).join("full.bin"))
            .unwrap()
            .len(),
        quota
    );
}

#[test]
fn the_sandboxed_daemon_moves_leftovers_into_a_directory_outside_its_state() {
    let dir = tempfile::tempdir().unwrap();
    let moved = dir.path().join("elsewhere/leftovers");
    let config = daemon_config_with(
        dir.path(),
        MIB as u64,
        &format!(
            "leftover_uploads = \"move\"\nleftover_uploads_dir = \"{}\"",
            moved.display()
        ),
    );
    let home = dir.path().join("data").join(USER);
    let leftover = plant_leftover(&home.join("a/b"), 5, 1234);
    std::fs::write(home.join("a/keep.txt"), b"mine").unwrap();
    let daemon = Daemon::start(&config);
    let line = daemon.wait_for_log("swept leftover uploads", Duration::from_secs(60));
    assert!(
        line.contains("found=1") && line.contains("bytes=1234"),
        "{line}"
    );
    assert!(
        line.contains("action=\"move\"") && line.contains("handled=1"),
        "{line}"
    );
    assert!(!leftover.exists());
    assert_eq!(
        std::fs::read(moved.join("ferryd-upload-0000000000000005.part")).unwrap(),
        vec![0u8; 1234]
    );
    assert!(home.join("a/keep.txt").exists());
    daemon.signal("TERM");
    assert_eq!(daemon.wait(Duration::from_secs(30)).status.code(), Some(0));
}

/// A server whose sweeps only report, so what RMD and the quota do is all that changes files.
async fn keeping_server(quota: Option<u64>) -> TestServer {
    TestServer::start_with(|config, users| {
        config.server.leftover_uploads = LeftoverUploads::Keep;
        if let Some(max_bytes) = quota {
            users.get_mut(USER).unwrap().quota = Quota {
                max_bytes: Some(max_bytes),
                max_files: None,
            };
        }
    })
    .await
}

#[tokio::test]
async fn ftp_rmd_removes_leftovers_but_not_a_live_upload() {
    let server = keeping_server(None).await;
    let home = server.home(USER);
    let debris = [
        plant_leftover(&home.join("crashed"), 1, 10),
        plant_leftover(&home.join("crashed"), 2, 20),
    ];
    let mut client = FtpClient::explicit(server.addresses.ftps_explicit.unwrap()).await;
    client.login().await;
    assert_eq!(client.download("NLST /crashed").await, b"");
    assert_eq!(client.cmd("RMD /crashed").await.code, 250);
    assert!(debris.iter().all(|path| !path.exists()));
    assert!(!home.join("crashed").exists());

    assert_eq!(client.cmd("MKD /busy").await.code, 257);
    let mut uploader = FtpClient::explicit(server.addresses.ftps_explicit.unwrap()).await;
    uploader.login().await;
    let mut stream = uploader.open_transfer("STOR /busy/file").await.unwrap();
    stream.write_all(b"first half").await.unwrap();
    wait_for_temp_file(&home.join("busy"), 0).await;
    let reply = client.cmd("RMD /busy").await;
    assert_eq!(reply.code, 550, "{reply:?}");
    assert!(reply.text.contains("not empty"), "{reply:?}");
    stream.write_all(b", second half").await.unwrap();
    stream.shutdown().await.unwrap();
    assert_eq!(uploader.reply().await.code, 226);
    assert_eq!(
        std::fs::read(home.join("busy/file")).unwrap(),
        b"first half, second half"
    );
    server.stop().await;
}

#[tokio::test]
async fn sftp_rmdir_removes_leftovers_but_not_a_live_upload() {
    let server = SftpTestServer::start_with(|config, _| {
        config.server.leftover_uploads = LeftoverUploads::Keep;
    })
    .await;
    let home = server.home(USER);
    let debris = plant_leftover(&home.join("crashed"), 3, 5);
    let (_connection, session) = sftp(server.addr).await;
    session.remove_dir("/crashed").await.unwrap();
    assert!(!debris.exists() && !home.join("crashed").exists());

    session.create_dir("/busy").await.unwrap();
    // OPEN with TRUNC and a WRITE, no CLOSE: the upload is in flight.
    let mut file = session.create("/busy/file").await.unwrap();
    file.write_all(b"partial").await.unwrap();
    file.flush().await.unwrap();
    wait_for_temp_file(&home.join("busy"), 0).await;
    assert!(session.remove_dir("/busy").await.is_err());
    assert_eq!(temp_files(&home.join("busy")).len(), 1);
    file.shutdown().await.unwrap();
    assert_eq!(std::fs::read(home.join("busy/file")).unwrap(), b"partial");
    server.stop().await;
}

#[tokio::test]
async fn leftovers_do_not_count_against_the_quota() {
    let quota = 4 * MIB;
    let server = keeping_server(Some(quota as u64)).await;
    let home = server.home(USER);
    // A crash left most of a quota's worth behind before the user's first session.
    let leftover = plant_leftover(&home.join("inbox"), 4, 3 * MIB);
    let mut client = FtpClient::explicit(server.addresses.ftps_explicit.unwrap()).await;
    client.login().await;
    client.upload("STOR /inbox/file", &vec![1u8; quota]).await;
    assert_eq!(
        client
            .try_upload("STOR /more", b"x")
            .await
            .unwrap_err()
            .code,
        552
    );
    // Kept, as configured: only the quota ignores it.
    assert!(leftover.exists());
    server.stop().await;
}
