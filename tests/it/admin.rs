//! The admin socket, end to end with the real binary: `reload` with a result, `status`,
//! `session list|kick`, `ban list|add|del`, and who may use the socket.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt as _;

use crate::harness::daemon::{binary, Daemon};
use crate::harness::ftp_client::FtpClient;
use crate::harness::sftp_client;
use crate::harness::{PASSWORD, USER};

/// A config with explicit FTPS and SFTP on port 0 and the harness user.
fn admin_config(dir: &Path, extra: &str) -> PathBuf {
    let path = dir.join("ferryd.toml");
    std::fs::write(&path, config_text(dir, extra)).unwrap();
    let added = std::process::Command::new(binary())
        .arg("--config")
        .arg(&path)
        .args(["user", "add", USER, "--password-stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write as _;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(format!("{PASSWORD}\n").as_bytes())?;
            child.wait()
        })
        .unwrap();
    assert!(added.success());
    path
}

fn config_text(dir: &Path, extra: &str) -> String {
    format!(
        "[server]\ndata_dir = \"{d}/data\"\nstate_dir = \"{d}/state\"\nshutdown_grace_secs = 5\n\
         [ftps]\nlisten = \"127.0.0.1:0\"\nimplicit_listen = \"127.0.0.1:0\"\npassive_ports = \"{ports}\"\n\
         [sftp]\nlisten = \"127.0.0.1:0\"\n{extra}",
        d = dir.display(), ports = crate::harness::passive_ports()
    )
}

/// Runs `ferryd --config CONFIG ARGS…` and returns its output.
fn ferryd(config: &Path, args: &[&str]) -> Output {
    std::process::Command::new(binary())
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `ferryd ARGS` must succeed; returns stdout.
fn ok(config: &Path, args: &[&str]) -> String {
    let output = ferryd(config, args);
    assert!(
        output.status.success(),
        "ferryd {args:?} failed: {}\n{}",
        output.status,
        stderr(&output)
    );
    stdout(&output)
}

/// The daemon and its FTPS and SFTP addresses.
fn start(config: &Path) -> (Daemon, SocketAddr, SocketAddr) {
    let daemon = Daemon::start(config);
    let addresses = daemon.listening_addresses(3);
    assert_eq!(addresses.len(), 3, "stderr:\n{}", daemon.stderr());
    (daemon, addresses[0], addresses[2])
}

async fn ftps_login(address: SocketAddr) -> FtpClient {
    let mut client = FtpClient::explicit(address).await;
    client.login_as(USER, PASSWORD).await;
    client
}

/// The first reply line a fresh plain connection gets, or "" when closed without one.
async fn greeting(address: SocketAddr) -> String {
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let mut text = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut text));
    let _ = read.await.expect("the server neither answered nor closed");
    String::from_utf8_lossy(&text).into_owned()
}

fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn reload_waits_for_the_daemons_verdict_and_a_refused_one_keeps_the_old_config() {
    let dir = tempfile::tempdir().unwrap();
    let config = admin_config(dir.path(), "");
    let (daemon, ftps, _) = start(&config);

    let output = ferryd(&config, &["reload"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stdout(&output).contains("configuration reloaded"));

    // The config file itself is fine, so only the daemon can find the problem: a users file
    // that no longer parses. The CLI must say so and fail, not report success.
    let users = dir.path().join("state/users.toml");
    let good_users = std::fs::read(&users).unwrap();
    std::fs::write(&users, "[[user]\nname = \n").unwrap();
    let output = ferryd(&config, &["reload"]);
    assert_eq!(
        output.status.code(),
        Some(78),
        "stdout: {}",
        stdout(&output)
    );
    let message = stderr(&output);
    assert!(message.contains("reload refused"), "{message}");
    assert!(
        message.contains("users.toml"),
        "the daemon's reason: {message}"
    );
    daemon.wait_for_log("reload refused", Duration::from_secs(10));

    // The old configuration (and users) still serve.
    let mut client = ftps_login(ftps).await;
    assert_eq!(client.cmd("PWD").await.code, 257);
    std::fs::write(&users, good_users).unwrap();
    ok(&config, &["reload"]);

    daemon.signal("TERM");
    assert_eq!(daemon.wait(Duration::from_secs(30)).status.code(), Some(0));
    assert!(
        !dir.path().join("state/ferryd.sock").exists(),
        "socket removed on stop"
    );
    assert_eq!(ferryd(&config, &["reload"]).status.code(), Some(69));
}

#[tokio::test(flavor = "multi_thread")]
async fn status_shows_version_uptime_listeners_sessions_and_bans() {
    let dir = tempfile::tempdir().unwrap();
    let config = admin_config(dir.path(), "");
    let (daemon, ftps, sftp) = start(&config);
    let socket = dir.path().join("state/ferryd.sock");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&socket).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);

    let _client = ftps_login(ftps).await;
    ok(&config, &["ban", "add", "192.0.2.1"]);
    let text = ok(&config, &["status"]);
    for expected in [
        format!("ferryd is running (pid {})", daemon.pid()),
        format!("version {}", env!("CARGO_PKG_VERSION")),
        "uptime ".to_owned(),
        format!("listener ftps: {ftps}"),
        format!("listener sftp: {sftp}"),
        "sessions ftps: 1".to_owned(),
        "sessions sftp: 0".to_owned(),
        "bans: 1".to_owned(),
    ] {
        assert!(text.contains(&expected), "{expected:?} missing in:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_are_listed_and_kicked_by_id_and_by_user() {
    let dir = tempfile::tempdir().unwrap();
    let config = admin_config(dir.path(), "");
    let (daemon, ftps, sftp) = start(&config);

    let mut ftp = ftps_login(ftps).await;
    let (mut ssh, ssh_client) = sftp_client::connect(sftp).await;
    assert!(ssh
        .authenticate_password(USER, PASSWORD)
        .await
        .unwrap()
        .success());
    let list = ok(&config, &["session", "list"]);
    let rows: Vec<&str> = list.lines().filter(|line| line.contains(USER)).collect();
    assert_eq!(rows.len(), 2, "{list}");
    assert!(rows
        .iter()
        .any(|row| row.contains("ftps") && row.contains("127.0.0.1:")));
    assert!(rows
        .iter()
        .any(|row| row.contains("sftp") && row.contains("127.0.0.1:")));
    let ftp_id = rows
        .iter()
        .find(|row| row.contains("ftps"))
        .and_then(|row| row.split_whitespace().next())
        .unwrap()
        .to_owned();

    // A download the client does not read stays running, and the list shows it.
    let home = dir.path().join("data").join(USER);
    std::fs::write(home.join("big.bin"), vec![7u8; 32 << 20]).unwrap();
    let _data = ftp.open_transfer("RETR big.bin").await.unwrap();
    wait_until("the running transfer in the list", || {
        ok(&config, &["session", "list"]).contains("download /big.bin (")
    });

    // An SFTP upload kept open shows too, with its bytes.
    let sftp_session = sftp_client::open_sftp(&ssh).await;
    let mut upload = sftp_session.create("sftp-up.bin").await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut upload, &[5u8; 1000])
        .await
        .unwrap();
    tokio::io::AsyncWriteExt::flush(&mut upload).await.unwrap();
    wait_until("the SFTP upload in the list", || {
        let list = ok(&config, &["session", "list"]);
        list.lines()
            .any(|line| line.contains("sftp") && line.contains("upload /sftp-up.bin ("))
    });

    let kicked = ok(&config, &["session", "kick", &ftp_id]);
    assert!(kicked.contains("ended 1 session"), "{kicked}");
    let mut reply = ftp.reply().await;
    // The cut download may answer first.
    while reply.code != 421 {
        reply = ftp.try_reply().await.expect("421 before the close");
    }
    assert!(reply.text.contains("administrator"), "{reply:?}");
    while ftp.try_reply().await.is_some() {}
    daemon.wait_for_log(
        "session ended by the administrator",
        Duration::from_secs(10),
    );

    ok(&config, &["session", "kick", "--user", USER]);
    wait_until("the SSH disconnect", || {
        ssh_client.disconnect.lock().unwrap().is_some()
    });
    let reason = ssh_client.disconnect.lock().unwrap().clone().unwrap();
    assert!(reason.contains("administrator"), "{reason}");
    wait_until("an empty session list", || {
        ok(&config, &["session", "list"]).contains("no sessions")
    });
    let output = ferryd(&config, &["session", "kick", "c999999"]);
    assert_eq!(output.status.code(), Some(65));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_banned_address_gets_421_on_ftps_and_a_refusal_on_sftp_until_the_ban_is_lifted() {
    let dir = tempfile::tempdir().unwrap();
    let config = admin_config(dir.path(), "");
    let (daemon, ftps, sftp) = start(&config);

    ok(&config, &["ban", "add", "127.0.0.1", "--for", "10m"]);
    let list = ok(&config, &["ban", "list"]);
    assert!(
        list.contains("127.0.0.1") && list.contains("admin"),
        "{list}"
    );

    let reply = greeting(ftps).await;
    assert!(
        reply.starts_with("421 ") && reply.contains("banned"),
        "{reply:?}"
    );
    // curl maps every 421 to "timeout" (exit 28) but prints the server's text with -v.
    match std::process::Command::new("curl")
        .args(["-v", "--ssl-reqd", "-k", "--max-time", "20", "--user"])
        .arg(format!("{USER}:{PASSWORD}"))
        .arg(format!("ftp://{ftps}/"))
        .output()
    {
        Ok(output) => {
            let text = stderr(&output);
            assert!(
                text.contains("421 Your address is temporarily banned"),
                "{text}"
            );
        }
        Err(_) => crate::harness::skip("curl is not installed; the 421 was checked raw"),
    }
    match std::process::Command::new("lftp")
        .args(["-u", &format!("{USER},{PASSWORD}"), "-e"])
        .arg("set ssl:verify-certificate no; set net:max-retries 1; ls; quit")
        .arg(format!("ftp://{ftps}"))
        .output()
    {
        Ok(output) => {
            let text = stderr(&output);
            assert!(
                text.contains("421 Your address is temporarily banned"),
                "{text}"
            );
        }
        Err(_) => crate::harness::skip("lftp is not installed"),
    }
    let refused = tokio::time::timeout(Duration::from_secs(10), async {
        let config = std::sync::Arc::new(russh::client::Config::default());
        russh::client::connect(config, sftp, sftp_client::Client::default()).await
    })
    .await
    .unwrap();
    assert!(refused.is_err(), "SFTP must be refused while banned");
    // Logged when the ban started, not for each of the (four) connections refused since.
    let log = daemon.stderr();
    let lines: Vec<&str> = log
        .lines()
        .filter(|line| line.to_lowercase().contains("ban"))
        .collect();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(lines[0].contains("banning client address"), "{}", lines[0]);

    ok(&config, &["ban", "del", "127.0.0.1"]);
    assert!(ok(&config, &["ban", "list"]).contains("no bans"));
    let mut client = ftps_login(ftps).await;
    assert_eq!(client.cmd("PWD").await.code, 257);
    assert_eq!(
        ferryd(&config, &["ban", "del", "127.0.0.1"]).status.code(),
        Some(65)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn allow_listing_a_banned_address_and_reloading_lifts_the_ban() {
    let dir = tempfile::tempdir().unwrap();
    let config = admin_config(dir.path(), "");
    let (_daemon, ftps, _) = start(&config);
    ok(&config, &["ban", "add", "127.0.0.1"]);
    assert!(greeting(ftps).await.starts_with("421 "));

    let text = config_text(dir.path(), "[defender]\nallow_list = [\"127.0.0.0/8\"]\n");
    std::fs::write(&config, text).unwrap();
    ok(&config, &["reload"]);
    assert!(ok(&config, &["ban", "list"]).contains("no bans"));
    let mut client = ftps_login(ftps).await;
    assert_eq!(client.cmd("PWD").await.code, 257);
    // And an allow-listed address cannot be banned by hand either.
    let output = ferryd(&config, &["ban", "add", "127.0.0.1"]);
    assert_eq!(output.status.code(), Some(65));
    assert!(stderr(&output).contains("allow_list"));
}

/// The SO_PEERCRED check, not only the file mode: with the socket opened to everyone, another
/// user still gets "permission denied" from the daemon. Needs root (to switch uid) and setpriv.
#[tokio::test(flavor = "multi_thread")]
async fn another_user_is_refused_even_when_the_socket_file_lets_them_connect() {
    if !rustix::process::geteuid().is_root() || which("setpriv").is_none() {
        crate::harness::skip("needs root and setpriv to connect as another user");
        return;
    }
    let dir = tempfile::Builder::new()
        .prefix("ferryd-admin")
        .tempdir()
        .unwrap();
    let config = admin_config(dir.path(), "");
    let (_daemon, _, _) = start(&config);
    let socket = dir.path().join("state/ferryd.sock");
    use std::os::unix::fs::PermissionsExt as _;
    for path in [dir.path(), &dir.path().join("state")] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    let output = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", binary()])
        .arg("--config")
        .arg(&config)
        .arg("status")
        .output()
        .unwrap();
    assert!(!output.status.success(), "{}", stdout(&output));
    assert!(
        stderr(&output).contains("permission denied"),
        "{}",
        stderr(&output)
    );
    assert!(ok(&config, &["status"]).contains("ferryd is running"));
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|path| path.is_file())
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_daemon_on_the_same_state_dir_is_refused_and_leaves_the_first_ones_socket() {
    let dir = tempfile::tempdir().unwrap();
    let config = admin_config(dir.path(), "");
    let (_daemon, _, _) = start(&config);
    let second = ferryd(&config, &["serve"]);
    assert_eq!(second.status.code(), Some(69), "{}", stderr(&second));
    assert!(
        stderr(&second).contains("another ferryd (pid "),
        "{}",
        stderr(&second)
    );
    assert!(ok(&config, &["status"]).contains("ferryd is running"));
}
