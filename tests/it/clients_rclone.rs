//! rclone (Go's crypto/tls and x/crypto/ssh) against ferryd: FTPS explicit and implicit, TLS
//! 1.3 and 1.2, several parallel connections; SFTP with key login and MD5 checks.
//!
//! rclone shares one TLS ticket cache between all its FTPS connections, so its data connections
//! resume whichever connection's ticket came last (the sibling rule, docs/ftps.md), and it
//! never reads an upload's data connection (tickets left there cost it the tail of the file).
//! Retries are off: a retried transfer would hide exactly these failures.
//!
//! A missing rclone fails the test when `CI` is set and is skipped loudly otherwise.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tokio::process::Command;

use crate::clients_ftps::{check, have};
use crate::clients_sftp::server_with_key;
use crate::harness::{TestServer, PASSWORD, USER};

/// A tree of files: sizes from empty to several MiB (past where a reset upload lost its tail),
/// a nested directory and a UTF-8 name.
fn write_tree(root: &Path) -> Vec<PathBuf> {
    let sizes = [0, 1, 4096, 300_000, 900_000, 1_500_000, 3 * 1024 * 1024 + 7];
    let mut files = Vec::new();
    for (index, size) in sizes.into_iter().enumerate() {
        let path = root.join(format!("file-{index}.bin"));
        let data: Vec<u8> = (0..size)
            .map(|at: usize| (at.wrapping_mul(31) ^ index) as u8)
            .collect();
        std::fs::create_dir_all(root).unwrap();
        std::fs::write(&path, data).unwrap();
        files.push(path);
    }
    let nested = root.join("nested").join("grüße ü");
    std::fs::create_dir_all(&nested).unwrap();
    let path = nested.join("naïve résumé.txt");
    std::fs::write(&path, "héllo wörld\n").unwrap();
    files.push(path);
    files
}

/// rclone with its own empty config file, no retries, and a hard time limit.
async fn rclone(dir: &Path, args: &[&str]) -> std::process::Output {
    let mut command = Command::new("rclone");
    command
        .arg("--config")
        .arg(dir.join("rclone.conf"))
        .args([
            "--retries",
            "1",
            "--low-level-retries",
            "1",
            "--contimeout",
            "20s",
        ])
        .args(args);
    tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .expect("rclone hung")
        .unwrap()
}

async fn obscured(dir: &Path, secret: &str) -> String {
    let output = rclone(dir, &["obscure", secret]).await;
    check(&output, "rclone obscure");
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// Every file under `root`, relative, with its bytes.
fn contents(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let relative = path.strip_prefix(root).unwrap().to_owned();
                found.push((relative, std::fs::read(&path).unwrap()));
            }
        }
    }
    found.sort();
    found
}

fn modified(path: &Path) -> u64 {
    std::fs::metadata(path)
        .unwrap()
        .modified()
        .unwrap()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Uploads the tree to `remote`, checks it on the server's disk (bytes and times, which rclone
/// sets with MFMT), compares with `rclone check`, and downloads it again.
async fn round_trip(server_dir: &Path, home: &Path, local: &Path, remote: &str, extra: &[&str]) {
    let up = rclone(
        server_dir,
        &[&["copy", local.to_str().unwrap(), remote], extra].concat(),
    )
    .await;
    check(&up, &format!("rclone copy up {extra:?}"));
    let stored = home.join(remote.rsplit(':').next().unwrap());
    assert_eq!(contents(&stored), contents(local), "uploaded {extra:?}");
    for (relative, _) in contents(local) {
        assert_eq!(
            modified(&stored.join(&relative)),
            modified(&local.join(&relative)),
            "time of {relative:?} {extra:?}"
        );
    }
    let compared = rclone(server_dir, &["check", local.to_str().unwrap(), remote]).await;
    check(&compared, &format!("rclone check {extra:?}"));
    let back = server_dir.join(format!("back-{}", extra.join("").replace('-', "")));
    let down = rclone(
        server_dir,
        &[&["copy", remote, back.to_str().unwrap()], extra].concat(),
    )
    .await;
    check(&down, &format!("rclone copy down {extra:?}"));
    assert_eq!(contents(&back), contents(local), "downloaded {extra:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rclone_copies_a_tree_over_explicit_and_implicit_ftps_with_parallel_connections() {
    if !have("rclone") {
        return;
    }
    let server = TestServer::start().await;
    let dir = server.dir.path();
    let local = dir.join("local");
    write_tree(&local);
    let pass = obscured(dir, PASSWORD).await;
    let explicit = server.addresses.ftps_explicit.unwrap();
    let implicit = server.addresses.ftps_implicit.unwrap();
    let remote = |address: std::net::SocketAddr, mode: &str, path: &str| {
        format!(
            ":ftp,host=127.0.0.1,port={},user={USER},pass={pass},{mode}=true,\
             no_check_certificate=true:{path}",
            address.port()
        )
    };
    let home = server.home(USER);
    let cases: [(String, &[&str]); 4] = [
        // Eight transfers at once: eight control connections sharing one ticket cache.
        (
            remote(explicit, "explicit_tls", "explicit"),
            &["--transfers", "8"],
        ),
        (
            remote(explicit, "explicit_tls", "one-by-one"),
            &["--transfers", "1"],
        ),
        (
            remote(explicit, "explicit_tls", "tls12"),
            &["--ftp-disable-tls13", "--transfers", "4"],
        ),
        (remote(implicit, "tls", "implicit"), &["--transfers", "4"]),
    ];
    for (remote, extra) in &cases {
        round_trip(dir, &home, &local, remote, extra).await;
    }
    // Each data connection resumed a session of its own client, none was refused.
    assert_eq!(
        server.running().ftp_stats().unwrap().session_reuse_refused,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rclone_copies_and_md5_checks_a_tree_over_sftp_with_a_key() {
    if !have("rclone") {
        return;
    }
    let (server, key_path) = server_with_key().await;
    let dir = server.dir.as_path();
    let local = dir.join("local");
    write_tree(&local);
    // rclone finds no shell to ask; the hash commands are the ones ferryd answers itself.
    let remote = format!(
        ":sftp,host=127.0.0.1,port={},user={USER},key_file={},known_hosts_file=,\
         shell_type=unix,md5sum_command=md5sum,sha1sum_command=sha1sum:up",
        server.addr.port(),
        key_path.display()
    );
    round_trip(
        dir,
        &server.home(USER),
        &local,
        &remote,
        &["--transfers", "4"],
    )
    .await;
    // The MD5 sums come from the server, computed in place, and match the local files.
    let compared = rclone(
        dir,
        &["check", "--checksum", local.to_str().unwrap(), &remote],
    )
    .await;
    check(&compared, "rclone check --checksum");
    let stderr = String::from_utf8_lossy(&compared.stderr);
    assert!(
        stderr.contains("0 differences found") && !stderr.contains("hashes could not be checked"),
        "{stderr}"
    );
}
