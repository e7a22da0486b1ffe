//! Event hooks and upload gates, end to end: the real daemon with its sandbox on (commands run
//! by the hook runner outside Landlock and seccomp), and in-process servers for webhooks,
//! per-user hooks, SFTP gates and a full queue.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferryd::config::RawHook;
use sha2::{Digest as _, Sha256};

use crate::harness::daemon::{daemon_config, write_daemon_config, Daemon};
use crate::harness::ftp_client::FtpClient;
use crate::harness::openssh;
use crate::harness::sftp_client::wire::{handle, request, status_code, string};
use crate::harness::sftp_client::{self, RawSftp, SftpTestServer};
use crate::harness::tmpfs::temp_uploads;
use crate::harness::{TestServer, PASSWORD, USER};

/// Waits up to 20 s for `path` to exist with content; its text.
fn wait_for_file(path: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            if !text.is_empty() {
                // The hook may still be writing: give it a moment to finish the file.
                std::thread::sleep(Duration::from_millis(100));
                return std::fs::read_to_string(path).unwrap();
            }
        }
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `NAME=value` lines as a lookup.
fn variable<'a>(env: &'a str, name: &str) -> Option<&'a str> {
    env.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix('='))
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// A hook that records its environment (and a copy of the file) in `out`, a directory no
/// rule of the daemon's sandbox allows: only a process outside the sandbox can write there.
fn recording_hook(out: &Path, on: &str) -> String {
    format!(
        "[[hook]]\non = [{on}]\nrun = [\"/bin/sh\", \"-c\", \"env | grep ^FERRYD_ | sort > {out}/$FERRYD_EVENT.env; \
         if [ -n \\\"$FERRYD_FILE\\\" ]; then cp \\\"$FERRYD_FILE\\\" {out}/copy; fi\"]\n",
        out = out.display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_sandbox_on_an_upload_hook_runs_outside_it_with_the_event() {
    let dir = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let config = daemon_config(dir.path(), &recording_hook(out.path(), "\"upload\""));
    let daemon = Daemon::start(&config);
    let ftps = daemon.listening_addresses(2)[0];

    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let mut client = FtpClient::explicit(ftps).await;
    client.login().await;
    client.upload("STOR report.csv", &data).await;

    let env = wait_for_file(&out.path().join("upload.env"));
    assert_eq!(variable(&env, "FERRYD_EVENT"), Some("upload"), "{env}");
    assert_eq!(variable(&env, "FERRYD_USER"), Some(USER));
    assert_eq!(variable(&env, "FERRYD_PROTOCOL"), Some("ftps"));
    assert_eq!(variable(&env, "FERRYD_CLIENT"), Some("127.0.0.1"));
    assert_eq!(variable(&env, "FERRYD_PATH"), Some("/report.csv"));
    assert_eq!(variable(&env, "FERRYD_SIZE"), Some("300000"));
    assert_eq!(
        variable(&env, "FERRYD_SHA256"),
        Some(sha256_hex(&data).as_str())
    );
    let home = dir.path().join("data").join(USER);
    assert_eq!(
        variable(&env, "FERRYD_FILE").map(PathBuf::from),
        Some(home.join("report.csv"))
    );
    assert_eq!(std::fs::read(out.path().join("copy")).unwrap(), data);
    assert!(daemon.stderr().contains("hook runner started"));
    assert_eq!(
        daemon.stderr().matches("hook ran").count(),
        1,
        "{}",
        daemon.stderr()
    );

    daemon.signal("TERM");
    let exit = daemon.wait(Duration::from_secs(30));
    assert_eq!(exit.status.code(), Some(0), "stderr:\n{}", exit.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_sandbox_on_a_gate_refuses_an_upload_that_then_never_appears() {
    let dir = tempfile::tempdir().unwrap();
    let gate = "[[hook]]\non = [\"upload\"]\npaths = [\"/incoming/**\"]\nbefore_commit = true\n\
        run = [\"/bin/sh\", \"-c\", \"case \\\"$FERRYD_PATH\\\" in *.bad) echo \\\"virus found in $(basename $FERRYD_FILE)\\\" >&2; exit 1;; esac; \
        test \\\"$(sha256sum < \\\"$FERRYD_FILE\\\" | cut -d' ' -f1)\\\" = \\\"$FERRYD_SHA256\\\"\"]\n";
    let config = daemon_config(dir.path(), gate);
    let incoming = dir.path().join("data").join(USER).join("incoming");
    std::fs::create_dir_all(&incoming).unwrap();
    std::fs::write(incoming.join("x.bad"), b"the good old file").unwrap();
    let daemon = Daemon::start(&config);
    let ftps = daemon.listening_addresses(2)[0];

    let mut client = FtpClient::explicit(ftps).await;
    client.login().await;
    // Passes: the gate saw the whole temporary file and its digest.
    client.upload("STOR incoming/ok.txt", b"clean").await;
    assert_eq!(std::fs::read(incoming.join("ok.txt")).unwrap(), b"clean");
    // Refused: 550 with the hook's stderr; the old file stays; no temporary file is left.
    let refused = client
        .try_upload("STOR incoming/x.bad", b"EICAR payload")
        .await
        .unwrap_err();
    assert_eq!(refused.code, 550, "{}", refused.text);
    assert!(refused.text.contains("virus found in"), "{}", refused.text);
    assert_eq!(
        std::fs::read(incoming.join("x.bad")).unwrap(),
        b"the good old file"
    );
    assert_eq!(temp_uploads(&incoming), Vec::<String>::new());
    // A gated path takes no resumes: they would make the file visible before the check.
    let resumed = client
        .try_upload("APPE incoming/ok.txt", b"more")
        .await
        .unwrap_err();
    assert_eq!(resumed.code, 550, "{}", resumed.text);
    assert!(resumed.text.contains("checked before"), "{}", resumed.text);
    // Outside the gate's paths nothing is checked.
    client.upload("STOR elsewhere.bad", b"not checked").await;

    daemon.signal("TERM");
    let exit = daemon.wait(Duration::from_secs(30));
    assert_eq!(exit.status.code(), Some(0), "stderr:\n{}", exit.stderr);
    assert!(
        exit.stderr.contains("gate refused an upload"),
        "{}",
        exit.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hook_added_by_a_reload_runs_through_the_sandboxed_daemons_runner() {
    let dir = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let config = daemon_config(dir.path(), "");
    let daemon = Daemon::start(&config);
    let ftps = daemon.listening_addresses(2)[0];

    write_daemon_config(
        dir.path(),
        &recording_hook(out.path(), "\"mkdir\", \"delete\", \"login_failed\""),
    );
    daemon.signal("HUP");
    daemon.wait_for_log("configuration reloaded", Duration::from_secs(10));

    // A refused login first (the order clients retry in), then the real one.
    let mut wrong = FtpClient::explicit(ftps).await;
    assert_eq!(wrong.cmd(&format!("USER {USER}")).await.code, 331);
    assert_eq!(wrong.cmd("PASS wrong").await.code, 530);
    let env = wait_for_file(&out.path().join("login_failed.env"));
    assert_eq!(variable(&env, "FERRYD_USER"), Some(USER), "{env}");
    assert_eq!(
        variable(&env, "FERRYD_REASON"),
        Some("credentials"),
        "{env}"
    );

    let mut client = FtpClient::explicit(ftps).await;
    client.login().await;
    assert_eq!(client.cmd("MKD builds").await.code, 257);
    let env = wait_for_file(&out.path().join("mkdir.env"));
    assert_eq!(variable(&env, "FERRYD_PATH"), Some("/builds"), "{env}");
    assert_eq!(variable(&env, "FERRYD_REASON"), None, "{env}");

    daemon.signal("TERM");
    assert_eq!(daemon.wait(Duration::from_secs(30)).status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_right_password_refused_by_the_session_limit_is_login_failed_for_limit() {
    let out = tempfile::tempdir().unwrap();
    let spec = hook(&format!(
        "on = [\"login_failed\"]\n\
         run = [\"/bin/sh\", \"-c\", \"env | grep ^FERRYD_ | sort > {}/login_failed.env\"]\n",
        out.path().display()
    ));
    let server = TestServer::start_with(|config, _| {
        config.hooks.hooks.push(spec);
        config.server.max_sessions_per_user = 1;
    })
    .await;
    let ftps = server.addresses.ftps_explicit.unwrap();
    let mut first = FtpClient::explicit(ftps).await;
    first.login().await;
    let mut second = FtpClient::explicit(ftps).await;
    assert_eq!(second.cmd(&format!("USER {USER}")).await.code, 331);
    assert_eq!(second.cmd(&format!("PASS {PASSWORD}")).await.code, 421);

    let env = wait_for_file(&out.path().join("login_failed.env"));
    assert_eq!(variable(&env, "FERRYD_USER"), Some(USER), "{env}");
    assert_eq!(variable(&env, "FERRYD_REASON"), Some("limit"), "{env}");
    server.stop().await;
}

/// One HTTP request as a tiny server saw it.
#[derive(Debug, Clone)]
struct Seen {
    headers: Vec<String>,
    body: Vec<u8>,
}

/// An HTTP server on 127.0.0.1 answering each request with the next status of `statuses`
/// (then 200), recording what it got.
fn webhook_receiver(statuses: Vec<u16>) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/ferryd", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        let mut statuses = statuses.into_iter();
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut headers = Vec::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let line = line.trim_end().to_owned();
                if line.is_empty() {
                    break;
                }
                headers.push(line);
            }
            let length = headers
                .iter()
                .find_map(|h| {
                    h.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(str::to_owned)
                })
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            record.lock().unwrap().push(Seen { headers, body });
            let status = statuses.next().unwrap_or(200);
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
        }
    });
    (url, seen)
}

fn hook(text: &str) -> ferryd::config::HookSpec {
    let raw: RawHook = toml::from_str(text).unwrap();
    raw.validate(ferryd::config::HookScope::Global).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_is_signed_and_retried_after_a_5xx() {
    let (url, seen) = webhook_receiver(vec![503]);
    let secret_dir = tempfile::tempdir().unwrap();
    let secret = secret_dir.path().join("hook.secret");
    std::fs::write(&secret, b"s3cret\n").unwrap();
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let spec = hook(&format!(
        "on = [\"delete\"]\nurl = \"{url}\"\nsecret_file = \"{}\"\ntimeout_secs = 5\n",
        secret.display()
    ));
    let server = TestServer::start_with(|config, _| config.hooks.hooks.push(spec)).await;
    std::fs::create_dir_all(server.home(USER)).unwrap();
    std::fs::write(server.home(USER).join("old.log"), b"x").unwrap();
    let mut client = FtpClient::explicit(server.addresses.ftps_explicit.unwrap()).await;
    client.login().await;
    let started = Instant::now();
    assert_eq!(client.cmd("DELE old.log").await.code, 250);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "the reply waited for the hook"
    );

    let deadline = Instant::now() + Duration::from_secs(20);
    while seen.lock().unwrap().len() < 2 {
        assert!(
            Instant::now() < deadline,
            "no retry: {:?}",
            seen.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen[0].body, seen[1].body, "the retry sends the same event");
    let body: serde_json::Value = serde_json::from_slice(&seen[1].body).unwrap();
    assert_eq!(body["event"], "delete");
    assert_eq!(body["user"], USER);
    assert_eq!(body["protocol"], "ftps");
    assert_eq!(body["client"], "127.0.0.1");
    assert_eq!(body["path"], "/old.log");
    let header = |name: &str| {
        seen[1]
            .headers
            .iter()
            .find_map(|h| {
                let (key, value) = h.split_once(':')?;
                key.eq_ignore_ascii_case(name)
                    .then(|| value.trim().to_owned())
            })
            .unwrap_or_default()
    };
    assert_eq!(header("X-Ferryd-Event"), "delete");
    assert_eq!(
        header("X-Ferryd-Signature"),
        ferryd::hooks::signature(b"s3cret", &seen[1].body)
    );
    let ok = "ferryd_hook_runs_total{kind=\"webhook\",result=\"ok\"} 1";
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.running().metrics().encode().contains(ok) {
        assert!(
            Instant::now() < deadline,
            "{}",
            server.running().metrics().encode()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let metrics = server.running().metrics().encode();
    assert!(
        metrics.contains("ferryd_hook_runs_total{kind=\"webhook\",result=\"retried\"} 1"),
        "{metrics}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_own_hook_runs_for_that_user_and_an_sftp_gate_fails_the_close() {
    let out = tempfile::tempdir().unwrap();
    let own = hook(&format!(
        "on = [\"upload\"]\nrun = [\"/bin/sh\", \"-c\", \"echo $FERRYD_SHA256 > {}/own\"]\n",
        out.path().display()
    ));
    let gate = hook(
        "on = [\"upload\"]\npaths = [\"/*.exe\"]\nbefore_commit = true\n\
         run = [\"/bin/sh\", \"-c\", \"echo 'executables are not accepted here' >&2; exit 2\"]\n",
    );
    let server = SftpTestServer::start_with(|config, users| {
        config.hooks.hooks.push(gate);
        users.get_mut(USER).unwrap().hooks.push(own);
    })
    .await;
    let (_connection, sftp) = sftp_client::sftp(server.addr).await;
    sftp_client::put(&sftp, "/notes.txt", b"pipelined bytes").await;
    let digest = wait_for_file(&out.path().join("own"));
    assert_eq!(digest.trim(), sha256_hex(b"pipelined bytes"));

    let connection = sftp_client::login(server.addr).await;
    let (mut raw, _) = RawSftp::init(&connection).await;
    let open = [
        string(b"/setup.exe"),
        0x1au32.to_be_bytes().to_vec(), // WRITE | CREAT | TRUNC
        0u32.to_be_bytes().to_vec(),
    ];
    let file = handle(&raw.request(&request(3, 1, &open)).await);
    let write = [string(&file), 0u64.to_be_bytes().to_vec(), string(b"MZ...")];
    assert_eq!(
        status_code(&raw.request(&request(6, 2, &write)).await),
        Some(0)
    );
    let closed = raw.request(&request(4, 3, &[string(&file)])).await;
    assert_eq!(status_code(&closed), Some(4), "SSH_FX_FAILURE");
    let length = u32::from_be_bytes(closed[9..13].try_into().unwrap()) as usize;
    let message = String::from_utf8_lossy(&closed[13..13 + length]).into_owned();
    assert!(
        message.contains("executables are not accepted here"),
        "{message}"
    );
    assert!(!server.home(USER).join("setup.exe").exists());
    assert_eq!(temp_uploads(&server.home(USER)), Vec::<String>::new());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_drops_events_with_a_log_line_and_never_delays_a_reply() {
    let spec = hook("on = [\"mkdir\"]\nrun = [\"/bin/sleep\", \"3\"]\n");
    let server = TestServer::start_with(|config, _| {
        config.hooks.hooks.push(spec);
        config.hooks.queue = 1;
        config.hooks.max_running = 1;
    })
    .await;
    let mut client = FtpClient::explicit(server.addresses.ftps_explicit.unwrap()).await;
    client.login().await;
    let started = Instant::now();
    for index in 0..6 {
        assert_eq!(client.cmd(&format!("MKD d{index}")).await.code, 257);
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "replies waited for hooks"
    );
    let metrics = server.running().metrics().encode();
    let dropped = metrics
        .lines()
        .find_map(|line| {
            line.strip_prefix("ferryd_hook_runs_total{kind=\"command\",result=\"dropped\"} ")
        })
        .and_then(|count| count.parse::<u32>().ok())
        .unwrap_or(0);
    // One runs, one waits, the rest are dropped (one more may have been taken off the queue).
    assert!((3..=4).contains(&dropped), "{metrics}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gate_refuses_a_legacy_scp_upload_with_an_scp_error_line() {
    if !crate::harness::needs(crate::clients_ftps::have("scp"), "scp") {
        return;
    }
    let gate = hook(
        "on = [\"upload\"]\nbefore_commit = true\n\
         run = [\"/bin/sh\", \"-c\", \"test \\\"$FERRYD_SIZE\\\" -le 10 || { echo 'larger than the 10-byte policy' >&2; exit 1; }\"]\n",
    );
    let key = sftp_client::new_key();
    let public = key.public_key().clone();
    let server = SftpTestServer::start_with(|config, users| {
        config.hooks.hooks.push(gate);
        users.get_mut(USER).unwrap().keys.push(public);
    })
    .await;
    let key_path = sftp_client::write_key(server.dir.as_path(), &key);
    std::fs::create_dir_all(server.home(USER)).unwrap();
    let local = server.dir.as_path().join("big.bin");
    std::fs::write(&local, vec![b'x'; 4096]).unwrap();
    let output = openssh::command("scp", server.addr.port(), &key_path)
        .arg("-O")
        .arg(&local)
        .arg(format!("{USER}@127.0.0.1:/big.bin"))
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("larger than the 10-byte policy"),
        "{stderr}"
    );
    assert!(!server.home(USER).join("big.bin").exists());
    assert_eq!(temp_uploads(&server.home(USER)), Vec::<String>::new());
    server.stop().await;
}
