//! What the real binary logs about failed and aborted uploads: which quota refused a write and
//! by how much, and a reason on every failed or aborted transfer line.

use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;

use crate::harness::daemon::{binary, Daemon};
use crate::harness::ftp_client::FtpClient;
use crate::harness::sftp_client::wire::{handle, request, status_code, string};
use crate::harness::sftp_client::{self, RawSftp};
use crate::harness::{PASSWORD, USER};

const QUOTA: u64 = 1024 * 1024;

/// A config for the real binary and the test user with a 1 MiB quota.
fn config_with_quota(dir: &Path) -> PathBuf {
    let path = dir.join("ferryd.toml");
    std::fs::write(
        &path,
        format!(
            "[server]\ndata_dir = \"{d}/data\"\nstate_dir = \"{d}/state\"\n\
             [ftps]\nlisten = \"127.0.0.1:0\"\nimplicit_listen = \"127.0.0.1:0\"\n\
             passive_ports = \"{ports}\"\n[sftp]\nlisten = \"127.0.0.1:0\"\n\
             [defender]\nenabled = false\n",
            d = dir.display(),
            ports = crate::harness::passive_ports()
        ),
    )
    .unwrap();
    Command::new(binary())
        .arg("--config")
        .arg(&path)
        .args(["user", "add", USER, "--password-stdin"])
        .write_stdin(format!("{PASSWORD}\n"))
        .assert()
        .success();
    // The user's table is the last one in the file.
    let users = dir.join("state/users.toml");
    let mut text = std::fs::read_to_string(&users).unwrap();
    text.push_str(&format!("quota_bytes = {QUOTA}\n"));
    std::fs::write(&users, text).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_refusals_and_aborts_are_logged_with_their_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(&config_with_quota(dir.path()));
    let addresses = daemon.listening_addresses(3);
    // Logged in this order: explicit FTPS, implicit FTPS, SFTP.
    let (explicit, sftp) = (addresses[0], addresses[2]);

    let mut client = FtpClient::explicit(explicit).await;
    client.login().await;
    let data = vec![1u8; 2 * QUOTA as usize];
    let refused = client.try_upload("STOR over.bin", &data).await;
    assert_eq!(refused.unwrap_err().code, 552);
    // An ABOR mid-upload.
    let stream = client.open_transfer("STOR cut.bin").await.unwrap();
    client.send("ABOR").await;
    let first = client.reply().await;
    assert!(first.code == 426 || first.code == 226, "{first:?}");
    drop(stream);

    let connection = sftp_client::login(sftp).await;
    let (mut raw, _) = RawSftp::init(&connection).await;
    let open = [
        string(b"/sftp-over.bin"),
        0x1au32.to_be_bytes().to_vec(), // WRITE | CREAT | TRUNC
        0u32.to_be_bytes().to_vec(),
    ];
    let file = handle(&raw.request(&request(3, 1, &open)).await);
    let write = [
        string(&file),
        0u64.to_be_bytes().to_vec(),
        string(&data[..200_000]),
    ];
    assert_eq!(
        status_code(&raw.request(&request(6, 2, &write)).await),
        Some(0)
    );
    let write = [
        string(&file),
        QUOTA.to_be_bytes().to_vec(),
        string(&data[..200_000]),
    ];
    assert_eq!(
        status_code(&raw.request(&request(6, 3, &write)).await),
        Some(4)
    );
    let closed = raw.request(&request(4, 4, &[string(&file)])).await;
    assert_eq!(status_code(&closed), Some(4), "CLOSE after a refused WRITE");
    drop(raw);
    drop(connection);

    // Lines trail the replies a little (the log pipe is read by a thread).
    let mut log = daemon.stderr();
    for _ in 0..100 {
        if log.matches("upload failed").count() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        log = daemon.stderr();
    }
    let quota_lines: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("byte quota would be exceeded"))
        .collect();
    assert!(quota_lines.len() >= 2, "no quota lines in\n{log}");
    for line in &quota_lines {
        for field in [
            "quota=\"bytes\"",
            "limit=1048576",
            "used=",
            "exceeded_by=",
            "path=",
        ] {
            let field = field.replace('"', "");
            assert!(
                line.replace('"', "").contains(&field),
                "{field} missing: {line}"
            );
        }
    }
    let failed: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("upload failed"))
        .collect();
    assert!(
        failed.iter().any(|line| line.contains("protocol=ftps")),
        "{log}"
    );
    assert!(
        failed.iter().any(|line| line.contains("protocol=sftp")),
        "{log}"
    );
    for line in failed {
        assert!(line.replace('"', "").contains("reason=quota"), "{line}");
    }
    let aborted = daemon.wait_for_log("upload aborted", Duration::from_secs(10));
    for line in aborted
        .lines()
        .filter(|line| line.contains("upload aborted"))
    {
        let plain = line.replace('"', "");
        assert!(plain.contains("reason=abor"), "{line}");
        assert!(!plain.contains("reason= "), "{line}");
    }
    daemon.signal("TERM");
    daemon.wait(Duration::from_secs(30));
}
