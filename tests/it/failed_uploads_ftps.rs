//! FTPS uploads refused part-way (a quota, a full disk): the client finishes sending, then
//! reads the `552`/`452` that says why, instead of a broken pipe or a reset; a quota that is
//! already used up is refused before `150`; the old file stays; the failure is counted with
//! its reason. With curl and lftp, as CI pipelines run them.

use std::path::Path;
use std::time::Duration;

use ferryd::vfs::Quota;
use tokio::process::Command;

use crate::clients_ftps::have;
use crate::harness::ftp_client::FtpClient;
use crate::harness::tmpfs::{patterned_file, temp_uploads, Tmpfs};
use crate::harness::{TestServer, PASSWORD, USER};

const MIB: usize = 1024 * 1024;

async fn server(quota: Quota) -> TestServer {
    TestServer::start_with(|_, users| users.get_mut(USER).unwrap().quota = quota).await
}

fn byte_quota(bytes: usize) -> Quota {
    Quota {
        max_bytes: Some(bytes as u64),
        max_files: None,
    }
}

async fn curl_upload(server: &TestServer, source: &Path, name: &str) -> std::process::Output {
    let url = format!("ftp://{}/{name}", server.addresses.ftps_explicit.unwrap());
    Command::new("curl")
        .args(["--silent", "--show-error", "--insecure", "--ssl-reqd"])
        .args(["--max-time", "60", "--user", &format!("{USER}:{PASSWORD}")])
        .arg("-T")
        .arg(source)
        .arg(url)
        .output()
        .await
        .unwrap()
}

/// The count of FTPS uploads that failed with `reason`, from the metrics.
fn count_failed(server: &TestServer, reason: &str) -> u64 {
    let prefix = format!(
        "ferryd_transfers_total{{protocol=\"ftps\",direction=\"upload\",result=\"failed\",reason=\"{reason}\"}} "
    );
    server
        .running()
        .metrics()
        .encode()
        .lines()
        .find_map(|line| line.strip_prefix(prefix.as_str()))
        .map_or(0, |count| count.trim().parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_reports_552_for_an_upload_over_the_quota() {
    if !have("curl") {
        return;
    }
    let server = server(byte_quota(2 * MIB)).await;
    let home = server.home(USER);
    std::fs::create_dir_all(&home).unwrap();
    let old = patterned_file(&home.join("keep.bin"), MIB / 2, 1);
    // Far more than the socket buffers hold, so a server that stops reading is noticed.
    let source = server.dir.path().join("big.bin");
    patterned_file(&source, 24 * MIB, 2);
    for name in ["keep.bin", "new.bin"] {
        let output = curl_upload(&server, &source, name).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{name}: the upload succeeded");
        // curl names a 552 "(70) Exceeded storage allocation" (CURLE_REMOTE_DISK_FULL).
        assert!(stderr.contains("(70)"), "{name}: curl said {stderr:?}");
        assert!(!stderr.contains("Broken pipe"), "{name}: {stderr:?}");
    }
    assert_eq!(std::fs::read(home.join("keep.bin")).unwrap(), old);
    assert!(!home.join("new.bin").exists());
    assert_eq!(temp_uploads(&home), Vec::<String>::new());
    assert_eq!(count_failed(&server, "quota"), 2);
}

#[tokio::test]
async fn a_used_up_quota_is_refused_before_150_and_a_crossing_one_after_the_data() {
    let server = server(byte_quota(MIB)).await;
    let mut client = FtpClient::explicit(server.addresses.ftps_explicit.unwrap()).await;
    client.login().await;
    // Crossing the quota part-way: the whole upload is read (no reset while sending), then 552.
    let refused = client
        .try_upload("STOR big.bin", &vec![1u8; 24 * MIB])
        .await
        .expect_err("an upload over the quota was accepted");
    assert_eq!(refused.code, 552, "{refused:?}");
    assert!(refused.text.contains("quota exceeded"), "{refused:?}");
    assert!(!server.home(USER).join("big.bin").exists());
    client.upload("STOR fill.bin", &vec![2u8; MIB]).await;
    // Used up: refused at once, no 150, no data connection wasted.
    let Err(refused) = client.open_transfer("STOR more.bin").await else {
        panic!("a 150 for an upload into a full quota");
    };
    assert_eq!(refused.code, 552, "{refused:?}");
    // The session goes on.
    assert_eq!(client.cmd("NOOP").await.code, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_and_lftp_on_a_full_disk_get_the_reason_and_stop() {
    if !have("curl") || !have("lftp") {
        return;
    }
    let server = server(Quota::default()).await;
    let home = server.home(USER);
    let Some(_tmpfs) = Tmpfs::mount(&home, 16) else {
        return;
    };
    let old = patterned_file(&home.join("big.bin"), 8 * MIB, 3);
    let source = server.dir.path().join("twelve.bin");
    patterned_file(&source, 12 * MIB, 4);

    let output = curl_upload(&server, &source, "big.bin").await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    // 552: curl names it "(70) Exceeded storage allocation" (CURLE_REMOTE_DISK_FULL).
    assert_eq!(output.status.code(), Some(70), "curl said {stderr:?}");
    assert_eq!(std::fs::read(home.join("big.bin")).unwrap(), old);

    // lftp retries a transfer cut by a reset every 15 s for ever; a permanent reply stops it.
    let script = format!(
        "set ssl:verify-certificate no; set ftp:ssl-force true; set ftp:ssl-protect-data true; \
         open -u '{USER},{PASSWORD}' ftp://{}; put {} -o big.bin",
        server.addresses.ftps_explicit.unwrap(),
        source.display()
    );
    let run = Command::new("lftp").args(["-c", &script]).output();
    let output = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("lftp kept retrying an upload onto a full disk")
        .unwrap();
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        said.contains("552") || said.contains("storage"),
        "lftp said {said:?}"
    );
    assert_eq!(std::fs::read(home.join("big.bin")).unwrap(), old);
    assert_eq!(temp_uploads(&home), Vec::<String>::new());
    assert_eq!(count_failed(&server, "storage_full"), 2);
    server.stop().await;
}

/// The count of FTPS uploads with `result`, from the metrics.
fn count_uploads(server: &TestServer, result: &str) -> u64 {
    let prefix = format!(
        "ferryd_transfers_total{{protocol=\"ftps\",direction=\"upload\",result=\"{result}\""
    );
    server
        .running()
        .metrics()
        .encode()
        .lines()
        .filter(|line| line.starts_with(prefix.as_str()))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_leaves_after_its_last_byte_is_logged_as_what_became_of_the_file() {
    const UPLOADS: usize = 30;
    let server = server(Quota::default()).await;
    for index in 0..UPLOADS {
        let mut client = FtpClient::explicit(server.addresses.ftps_explicit.unwrap()).await;
        client.login().await;
        let mut stream = client
            .open_transfer(&format!("STOR f{index}"))
            .await
            .unwrap();
        tokio::io::AsyncWriteExt::write_all(&mut stream, &vec![9u8; 64 * 1024])
            .await
            .unwrap();
        tokio::io::AsyncWriteExt::shutdown(&mut stream)
            .await
            .unwrap();
        // Gone without reading the 226: the server cuts the transfer while it may be committing.
        drop(stream);
        drop(client);
    }
    let ended = "ferryd_sessions{protocol=\"ftps\"} 0";
    for _ in 0..100 {
        if server.running().metrics().encode().contains(ended) && {
            let (ok, aborted) = (
                count_uploads(&server, "ok"),
                count_uploads(&server, "aborted"),
            );
            ok + aborted == UPLOADS as u64
        } {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let home = server.home(USER);
    let stored = (0..UPLOADS)
        .filter(|index| home.join(format!("f{index}")).exists())
        .count() as u64;
    // Every upload is logged once, as ok exactly when its file is there.
    assert_eq!(count_uploads(&server, "ok"), stored);
    assert_eq!(count_uploads(&server, "aborted"), UPLOADS as u64 - stored);
    assert_eq!(temp_uploads(&home), Vec::<String>::new());
}

#[tokio::test]
async fn a_resume_after_a_cut_upload_is_refused_instead_of_corrupting_the_old_file() {
    let server = server(Quota::default()).await;
    let home = server.home(USER);
    std::fs::create_dir_all(&home).unwrap();
    let old = patterned_file(&home.join("report.bin"), 100_000, 5);
    let mut client = FtpClient::explicit(server.addresses.ftps_explicit.unwrap()).await;
    client.login().await;
    // A new version is cut off after 150 kB (the TLS data connection just drops: no
    // close_notify), as a network failure would.
    let mut stream = client.open_transfer("STOR report.bin").await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut stream, &vec![3u8; 150_000])
        .await
        .unwrap();
    drop(stream);
    assert_eq!(client.reply().await.code, 426);
    // What lftp does next: SIZE, then REST at that size and the rest of the new file.
    let size = client.cmd("SIZE report.bin").await;
    assert_eq!(size.text.trim_start_matches("213 "), "100000");
    assert_eq!(client.cmd("REST 100000").await.code, 350);
    let Err(refused) = client.open_transfer("STOR report.bin").await else {
        panic!("a resume of a discarded upload was accepted");
    };
    assert_eq!(refused.code, 550, "{refused:?}");
    assert!(refused.text.contains("nothing to resume"), "{refused:?}");
    assert_eq!(std::fs::read(home.join("report.bin")).unwrap(), old);
    // Sending the whole file works.
    client.upload("STOR report.bin", &[4u8; 10]).await;
    assert_eq!(std::fs::read(home.join("report.bin")).unwrap(), [4u8; 10]);
}
