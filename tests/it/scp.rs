//! Legacy SCP (`scp -O`, the `exec scp -t` / `scp -f` protocol) against ferryd: the real
//! OpenSSH client for files, `-r` trees both ways, `-p` times, refusals and quotas; and a raw
//! russh exec channel for malformed records and sizes that lie, which must leave nothing.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ferryd::auth::{PathRule, UserDb};
use ferryd::config::Config;
use ferryd::vfs::{Permissions, Quota, VirtualPath};
use russh::ChannelMsg;
use tokio::process::Command;

use crate::clients_ftps::have;
use crate::harness::openssh;
use crate::harness::sftp_client::{self, SftpTestServer};
use crate::harness::tmpfs::{patterned_file, temp_uploads};
use crate::harness::USER;

/// A server where the test user has a key (and what `customize` adds), writing an xferlog.
async fn server(customize: impl FnOnce(&mut Config, &mut UserDb)) -> (SftpTestServer, PathBuf) {
    let key = sftp_client::new_key();
    let public = key.public_key().clone();
    let server = SftpTestServer::start_with(|config, users| {
        config.log.transfer_log = Some(config.server.state_dir.join("xferlog"));
        users.get_mut(USER).unwrap().keys.push(public);
        customize(config, users);
    })
    .await;
    let key_path = sftp_client::write_key(server.dir.as_path(), &key);
    std::fs::create_dir_all(server.home(USER)).unwrap();
    (server, key_path)
}

/// Runs `scp -O` (the legacy protocol) with `args`.
async fn scp(server: &SftpTestServer, key: &Path, args: &[&str]) -> Output {
    let mut command = openssh::command("scp", server.addr.port(), key);
    command.arg("-O").args(args);
    tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .expect("scp hung")
        .unwrap()
}

fn remote(path: &str) -> String {
    format!("{USER}@127.0.0.1:{path}")
}

fn succeeded(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn mtime(path: &Path) -> u64 {
    let modified = std::fs::metadata(path).unwrap().modified().unwrap();
    modified.duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn set_mtime(path: &Path, seconds: u64) {
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(UNIX_EPOCH + Duration::from_secs(seconds))
        .unwrap();
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The xferlog, once it has `expected` lines containing `needle` (or after a short wait).
async fn xferlog_lines(server: &SftpTestServer, needle: &str, expected: usize) -> usize {
    let path = server.config.server.state_dir.join("xferlog");
    let count = || {
        std::fs::read_to_string(&path)
            .unwrap_or_default()
            .lines()
            .filter(|line| line.contains(needle))
            .count()
    };
    for _ in 0..50 {
        if count() >= expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openssh_legacy_scp_uploads_and_downloads_a_file() {
    if !have("scp") {
        return;
    }
    let (server, key) = server(|_, _| {}).await;
    let home = server.home(USER);
    let source = server.dir.as_path().join("source.bin");
    let data = patterned_file(&source, 3 * 1024 * 1024 + 17, 5);
    let output = scp(
        &server,
        &key,
        &[source.to_str().unwrap(), &remote("up.bin")],
    )
    .await;
    succeeded(&output, "upload");
    assert_eq!(std::fs::read(home.join("up.bin")).unwrap(), data);
    assert_eq!(temp_uploads(&home), Vec::<String>::new());

    let back = server.dir.as_path().join("back.bin");
    let output = scp(
        &server,
        &key,
        &[&remote("~/up.bin"), back.to_str().unwrap()],
    )
    .await;
    succeeded(&output, "download");
    assert_eq!(std::fs::read(&back).unwrap(), data);

    // Two files into a directory: the client asks for `-d`.
    std::fs::create_dir(home.join("into")).unwrap();
    let output = scp(
        &server,
        &key,
        &[
            source.to_str().unwrap(),
            back.to_str().unwrap(),
            &remote("into"),
        ],
    )
    .await;
    succeeded(&output, "upload into a directory");
    assert_eq!(std::fs::read(home.join("into/back.bin")).unwrap(), data);
    assert_eq!(std::fs::read(home.join("into/source.bin")).unwrap(), data);

    // Both directions are transfers in the xferlog, as over SFTP.
    assert_eq!(
        xferlog_lines(&server, "/up.bin b _ i r alice sftp 0 * c", 1).await,
        1
    );
    assert_eq!(
        xferlog_lines(&server, "/up.bin b _ o r alice sftp 0 * c", 1).await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openssh_legacy_scp_copies_trees_both_ways_and_keeps_times_with_p() {
    if !have("scp") {
        return;
    }
    let (server, key) = server(|_, _| {}).await;
    let home = server.home(USER);
    let tree = server.dir.as_path().join("tree");
    std::fs::create_dir_all(tree.join("sub/deeper")).unwrap();
    std::fs::create_dir_all(tree.join("empty")).unwrap();
    let files = [
        ("a.txt", patterned_file(&tree.join("a.txt"), 10, 1)),
        (
            "sub/b.bin",
            patterned_file(&tree.join("sub/b.bin"), 300_000, 2),
        ),
        (
            "sub/deeper/c",
            patterned_file(&tree.join("sub/deeper/c"), 0, 3),
        ),
    ];
    set_mtime(&tree.join("a.txt"), 1_000_000_000);
    // Modes travel with the files and lose the user's umask (022 by default).
    set_mode(&tree.join("a.txt"), 0o600);
    set_mode(&tree.join("sub/b.bin"), 0o666);
    set_mtime(&tree.join("sub/b.bin"), 1_100_000_000);

    let output = scp(
        &server,
        &key,
        &["-r", "-p", tree.to_str().unwrap(), &remote("")],
    )
    .await;
    succeeded(&output, "scp -r -p upload");
    for (name, data) in &files {
        assert_eq!(
            &std::fs::read(home.join("tree").join(name)).unwrap(),
            data,
            "{name}"
        );
    }
    assert!(home.join("tree/empty").is_dir());
    assert_eq!(mtime(&home.join("tree/a.txt")), 1_000_000_000);
    assert_eq!(mtime(&home.join("tree/sub/b.bin")), 1_100_000_000);
    assert_eq!(mode(&home.join("tree/a.txt")), 0o600);
    assert_eq!(mode(&home.join("tree/sub/b.bin")), 0o644);

    // Without -p the upload gets the time of its arrival.
    let output = scp(
        &server,
        &key,
        &["-r", tree.to_str().unwrap(), &remote("plain")],
    )
    .await;
    succeeded(&output, "scp -r upload");
    assert_eq!(std::fs::read(home.join("plain/a.txt")).unwrap(), files[0].1);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(mtime(&home.join("plain/a.txt")) + 3600 > now);

    let back = server.dir.as_path().join("back");
    std::fs::create_dir(&back).unwrap();
    let output = scp(
        &server,
        &key,
        &["-r", "-p", &remote("tree"), back.to_str().unwrap()],
    )
    .await;
    succeeded(&output, "scp -r -p download");
    for (name, data) in &files {
        assert_eq!(
            &std::fs::read(back.join("tree").join(name)).unwrap(),
            data,
            "{name}"
        );
    }
    assert!(back.join("tree/empty").is_dir());
    assert_eq!(mtime(&back.join("tree/a.txt")), 1_000_000_000);
    assert_eq!(mtime(&back.join("tree/sub/b.bin")), 1_100_000_000);

    // Links to directories are not followed (two links to `.` would never end); links to
    // files are.
    std::os::unix::fs::symlink(".", home.join("tree/sub/loop1")).unwrap();
    std::os::unix::fs::symlink("..", home.join("tree/sub/loop2")).unwrap();
    std::os::unix::fs::symlink("../a.txt", home.join("tree/sub/a-link")).unwrap();
    let linked = server.dir.as_path().join("linked");
    std::fs::create_dir(&linked).unwrap();
    let output = scp(
        &server,
        &key,
        &["-r", &remote("tree"), linked.to_str().unwrap()],
    )
    .await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("/tree/sub/loop1: link to a directory, not followed"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(linked.join("tree/sub/a-link")).unwrap(),
        files[0].1
    );
    assert_eq!(
        std::fs::read(linked.join("tree/sub/b.bin")).unwrap(),
        files[1].1
    );
    assert!(!linked.join("tree/sub/loop1").exists());

    // A directory without -r is refused, as OpenSSH's scp refuses it.
    let output = scp(&server, &key, &[&remote("tree"), back.to_str().unwrap()]).await;
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("not a regular file"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_scp_upload_onto_a_read_only_path_is_refused_and_leaves_nothing() {
    if !have("scp") {
        return;
    }
    let (server, key) = server(|_, users| {
        users.get_mut(USER).unwrap().rules.push(PathRule {
            path: VirtualPath::parse_absolute("/published").unwrap(),
            permissions: Permissions::READ_ONLY,
        });
    })
    .await;
    let home = server.home(USER);
    std::fs::create_dir(home.join("published")).unwrap();
    let source = server.dir.as_path().join("x.txt");
    patterned_file(&source, 1000, 9);
    let output = scp(
        &server,
        &key,
        &[source.to_str().unwrap(), &remote("published/x.txt")],
    )
    .await;
    assert!(
        !output.status.success(),
        "upload into a read-only folder succeeded"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("scp: /published/x.txt: permission denied"),
        "{stderr}"
    );
    assert!(!home.join("published/x.txt").exists());
    assert_eq!(temp_uploads(&home.join("published")), Vec::<String>::new());
    // A tree sent into it is refused at its first directory.
    let tree = server.dir.as_path().join("tree");
    std::fs::create_dir(&tree).unwrap();
    patterned_file(&tree.join("y.txt"), 10, 3);
    let output = scp(
        &server,
        &key,
        &["-r", tree.to_str().unwrap(), &remote("published")],
    )
    .await;
    assert!(!output.status.success());
    assert_eq!(
        std::fs::read_dir(home.join("published")).unwrap().count(),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_scp_over_quota_keeps_the_old_file() {
    if !have("scp") {
        return;
    }
    let (server, key) = server(|_, users| {
        users.get_mut(USER).unwrap().quota = Quota {
            max_bytes: Some(1024 * 1024),
            max_files: None,
        };
    })
    .await;
    let home = server.home(USER);
    let old = patterned_file(&home.join("keep.bin"), 512 * 1024, 4);
    let source = server.dir.as_path().join("big.bin");
    patterned_file(&source, 3 * 1024 * 1024, 8);
    for target in ["keep.bin", "new.bin"] {
        let output = scp(&server, &key, &[source.to_str().unwrap(), &remote(target)]).await;
        assert!(
            !output.status.success(),
            "an upload over the quota succeeded"
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("quota exceeded"), "{stderr}");
        assert_eq!(std::fs::read(home.join("keep.bin")).unwrap(), old);
        assert!(!home.join("new.bin").exists());
        assert_eq!(temp_uploads(&home), Vec::<String>::new());
    }
    assert_eq!(
        xferlog_lines(&server, " b _ i r alice sftp 0 * i", 2).await,
        2
    );
}

/// Runs `command` on an exec channel, sends `input` and EOF; returns stdout and exit status.
async fn raw_exec(
    connection: &sftp_client::Connection,
    command: &str,
    input: &[u8],
) -> (Vec<u8>, Option<u32>) {
    let mut channel = connection.channel_open_session().await.unwrap();
    channel.exec(true, command).await.unwrap();
    channel.data_bytes(input.to_vec()).await.unwrap();
    channel.eof().await.unwrap();
    let (mut stdout, mut status) = (Vec::new(), None);
    let collect = async {
        while let Some(message) = channel.wait().await {
            match message {
                ChannelMsg::Data { data } => stdout.extend_from_slice(&data),
                ChannelMsg::ExitStatus { exit_status } => status = Some(exit_status),
                ChannelMsg::Close => break,
                _ => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), collect)
        .await
        .expect("scp channel not closed");
    (stdout, status)
}

#[tokio::test]
async fn malformed_scp_records_get_an_error_line_and_leave_nothing() {
    let (server, _) = server(|_, _| {}).await;
    let home = server.home(USER);
    let connection = sftp_client::login(server.addr).await;
    for (input, expected) in [
        // A size that lies: ten bytes, then EOF.
        (
            &b"C0644 100 short.txt\nonly ten b"[..],
            &b"\0\0\x02scp: protocol error: /short.txt: unexpected end of input\n"[..],
        ),
        (
            b"C0644 1x bad.txt\nx\0",
            b"\0\x02scp: protocol error: bad size\n",
        ),
        (
            b"C0644 18446744073709551616 big\n",
            b"\0\x02scp: protocol error: bad size\n",
        ),
        (
            b"C06x4 1 bad.txt\nx\0",
            b"\0\x02scp: protocol error: bad mode\n",
        ),
        (
            b"C0644 3 ../up.txt\nabc\0",
            b"\0\x02scp: protocol error: bad file name\n",
        ),
        (
            b"C0644 3 a/b\nabc\0",
            b"\0\x02scp: protocol error: bad file name\n",
        ),
        (
            b"C0644 3 ..\nabc\0",
            b"\0\x02scp: protocol error: bad file name\n",
        ),
        (
            b"D0755 0 dir\nE\n",
            b"\0\x02scp: protocol error: received directory without -r\n",
        ),
        (
            b"Xjunk\n",
            b"\0\x02scp: protocol error: unexpected record type\n",
        ),
    ] {
        let (stdout, status) = raw_exec(&connection, "scp -t /", input).await;
        assert_eq!(
            String::from_utf8_lossy(&stdout),
            String::from_utf8_lossy(expected),
            "{}",
            String::from_utf8_lossy(input)
        );
        assert_eq!(status, Some(1));
        let left: Vec<_> = std::fs::read_dir(&home).unwrap().collect();
        assert!(
            left.is_empty(),
            "{left:?} after {}",
            String::from_utf8_lossy(input)
        );
    }
    // A line without end is bounded.
    let long = vec![b'C'; 64 * 1024];
    let (stdout, status) = raw_exec(&connection, "scp -t /", &long).await;
    assert_eq!(stdout, b"\0\x02scp: protocol error: line too long\n");
    assert_eq!(status, Some(1));

    // The same connection still uploads a well-formed file.
    let (stdout, status) = raw_exec(&connection, "scp -t /", b"C0600 3 ok.txt\nabc\0").await;
    assert_eq!(stdout, b"\0\0\0");
    assert_eq!(status, Some(0));
    assert_eq!(std::fs::read(home.join("ok.txt")).unwrap(), b"abc");
}

#[tokio::test]
async fn scp_uploads_of_denied_names_are_refused_and_the_transfer_goes_on() {
    let (server, _) = server(|_, users| {
        let user = users.get_mut(USER).unwrap();
        user.denied_upload_patterns = vec!["*.exe".to_owned()];
    })
    .await;
    let home = server.home(USER);
    let connection = sftp_client::login(server.addr).await;
    // The sender skips a refused file's bytes and goes on with the next record.
    let input = b"C0644 2 tool.exe\nC0644 2 ok.txt\nok\0";
    let (stdout, status) = raw_exec(&connection, "scp -t /", input).await;
    let stdout = String::from_utf8_lossy(&stdout);
    assert!(
        stdout.starts_with("\0\x01scp: /tool.exe: permission denied"),
        "{stdout:?}"
    );
    assert!(stdout.ends_with("\n\0\0"), "{stdout:?}");
    assert_eq!(status, Some(1));
    assert!(!home.join("tool.exe").exists());
    assert_eq!(std::fs::read(home.join("ok.txt")).unwrap(), b"ok");
}

#[tokio::test]
async fn shutdown_ends_a_waiting_scp_upload_with_an_error_line() {
    let (server, _) = server(|_, _| {}).await;
    let connection = sftp_client::login(server.addr).await;
    let mut channel = connection.channel_open_session().await.unwrap();
    channel.exec(true, "scp -t /").await.unwrap();
    channel
        .data_bytes(b"C0644 3 first.txt\nabc\0".to_vec())
        .await
        .unwrap();
    let mut stdout = Vec::new();
    while stdout.len() < 3 {
        let message = channel.wait().await.expect("channel closed early");
        if let ChannelMsg::Data { data } = message {
            stdout.extend_from_slice(&data);
        }
    }
    // The client now sends nothing: the session waits for the next record when the server
    // begins to shut down.
    let read_rest = async {
        while let Some(message) = channel.wait().await {
            match message {
                ChannelMsg::Data { data } => stdout.extend_from_slice(&data),
                ChannelMsg::Close => break,
                _ => {}
            }
        }
    };
    tokio::join!(server.stop(), read_rest);
    assert_eq!(
        String::from_utf8_lossy(&stdout),
        "\0\0\0\x02scp: server shutting down\n"
    );
    assert_eq!(
        std::fs::read(server.home(USER).join("first.txt")).unwrap(),
        b"abc"
    );
}

/// Runs PuTTY's `pscp -scp` (the SCP protocol, never SFTP) with a key converted by `puttygen`.
async fn pscp(server: &SftpTestServer, key: &Path, args: &[&str]) -> Output {
    let ppk = key.with_extension("ppk");
    if !ppk.exists() {
        let converted = std::process::Command::new("puttygen")
            .arg(key)
            .args(["-O", "private", "-o"])
            .arg(&ppk)
            .output()
            .unwrap();
        assert!(converted.status.success(), "{converted:?}");
    }
    let mut command = Command::new("pscp");
    command.args(["-scp", "-batch", "-P", &server.addr.port().to_string()]);
    command.arg("-i").arg(&ppk);
    for path in &server.config.sftp.host_keys {
        let host_key = ferryd::key_material::host_keys::load(path).unwrap();
        command.args([
            "-hostkey",
            &ferryd::key_material::host_keys::fingerprint(&host_key),
        ]);
    }
    command.args(args);
    tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .expect("pscp hung")
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn putty_pscp_scp_uploads_downloads_and_copies_trees() {
    if !have("pscp") || !have("puttygen") {
        return;
    }
    let (server, key) = server(|_, _| {}).await;
    let home = server.home(USER);
    let source = server.dir.as_path().join("source.bin");
    let data = patterned_file(&source, 1024 * 1024 + 3, 21);
    let output = pscp(
        &server,
        &key,
        &[source.to_str().unwrap(), &remote("up.bin")],
    )
    .await;
    succeeded(&output, "pscp upload");
    assert_eq!(std::fs::read(home.join("up.bin")).unwrap(), data);
    let back = server.dir.as_path().join("back.bin");
    let output = pscp(&server, &key, &[&remote("up.bin"), back.to_str().unwrap()]).await;
    succeeded(&output, "pscp download");
    assert_eq!(std::fs::read(&back).unwrap(), data);

    let tree = server.dir.as_path().join("tree");
    std::fs::create_dir_all(tree.join("sub")).unwrap();
    let inner = patterned_file(&tree.join("sub/x.txt"), 100, 22);
    set_mtime(&tree.join("sub/x.txt"), 1_200_000_000);
    let output = pscp(
        &server,
        &key,
        &["-r", "-p", tree.to_str().unwrap(), &remote("")],
    )
    .await;
    succeeded(&output, "pscp -r -p upload");
    assert_eq!(std::fs::read(home.join("tree/sub/x.txt")).unwrap(), inner);
    assert_eq!(mtime(&home.join("tree/sub/x.txt")), 1_200_000_000);
    let down = server.dir.as_path().join("down");
    std::fs::create_dir(&down).unwrap();
    let output = pscp(
        &server,
        &key,
        &["-r", &remote("tree"), down.to_str().unwrap()],
    )
    .await;
    succeeded(&output, "pscp -r download");
    assert_eq!(std::fs::read(down.join("tree/sub/x.txt")).unwrap(), inner);
}

#[tokio::test]
async fn the_end_of_the_grace_time_cuts_an_scp_upload_and_discards_it() {
    let (server, _) = server(|_, _| {}).await;
    let home = server.home(USER);
    let connection = sftp_client::login(server.addr).await;
    let mut channel = connection.channel_open_session().await.unwrap();
    channel.exec(true, "scp -t /").await.unwrap();
    channel
        .data_bytes(b"C0644 100 cut.txt\nten bytes.".to_vec())
        .await
        .unwrap();
    let mut stdout = Vec::new();
    while stdout.len() < 2 {
        let message = channel.wait().await.expect("channel closed early");
        if let ChannelMsg::Data { data } = message {
            stdout.extend_from_slice(&data);
        }
    }
    // Mid-file, shutdown lets the file finish; the end of the grace time does not.
    let services = server.server.running().services();
    services.shutdown.cancel();
    services.abort.cancel();
    while let Some(message) = channel.wait().await {
        match message {
            ChannelMsg::Data { data } => stdout.extend_from_slice(&data),
            ChannelMsg::Close => break,
            _ => {}
        }
    }
    // The connection may be cut before the error line gets out.
    assert!(stdout.starts_with(b"\0\0"), "{stdout:?}");
    server.stop().await;
    assert!(!home.join("cut.txt").exists());
    assert_eq!(temp_uploads(&home), Vec::<String>::new());
    assert_eq!(
        xferlog_lines(&server, "/cut.txt b _ i r alice sftp 0 * i", 1).await,
        1
    );
}
