//! Test harness: temp-dir configs, an in-process `TestServer`, and the real binary.
#![allow(dead_code)]

pub mod daemon;
pub mod ftp_client;
pub mod openssh;
#[path = "../../support/s3_engines.rs"]
pub mod s3_engines;
pub mod sftp_client;
pub mod tmpfs;

use std::path::{Path, PathBuf};

use ferryd::auth::{password, UserDb, UserRecord};
use ferryd::config::Config;
use ferryd::server::{BoundAddresses, RunningServer, Server};
use tempfile::TempDir;

/// Says, where a plain `cargo test` shows it, that the running test skipped a check and why.
///
/// libtest captures what the print macros write and shows it only for failing tests, so an
/// `eprintln!` notice of a passing test is never seen; a write to the process's stderr is not
/// captured. The thread carries the test's name (libtest names it so).
pub fn skip(reason: &str) {
    use std::io::Write as _;
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("a test");
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {reason}");
}

/// For a check that needs what a developer's machine may lack (a client, root): returns
/// `available`, and when it is false fails under CI (where `.ci/run` provides everything)
/// or skips loudly elsewhere.
#[track_caller]
pub fn needs(available: bool, missing: &str) -> bool {
    if !available {
        assert!(
            std::env::var_os("CI").is_none(),
            "{missing}, and CI must run this test"
        );
        skip(missing);
    }
    available
}

/// Ports handed out for passive data connections: below Linux's ephemeral range
/// (`net.ipv4.ip_local_port_range`, 32768-60999), so no client's outgoing port sits in them.
const PASSIVE_PORTS: std::ops::Range<u16> = 20000..32760;
/// Ports per test server: passive ports are shared by clients, so a few are plenty.
const PASSIVE_BLOCK: u16 = 20;

/// A passive port range (`"LOW-HIGH"`) no other server of this test run uses.
///
/// Each call takes the next block, so servers in one test process never share a port; the
/// first block depends on the process id, so two test runs at once (two checkouts) most likely
/// do not overlap either, and if they do the server moves on to a free port of its range.
pub fn passive_ports() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let blocks = u32::from((PASSIVE_PORTS.end - PASSIVE_PORTS.start) / PASSIVE_BLOCK);
    let _ = NEXT.compare_exchange(
        u32::MAX,
        std::process::id().wrapping_mul(97) % blocks,
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    let block = NEXT.fetch_add(1, Ordering::Relaxed) % blocks;
    let low = PASSIVE_PORTS.start + u16::try_from(block).unwrap() * PASSIVE_BLOCK;
    format!("{low}-{}", low + PASSIVE_BLOCK - 1)
}

/// The user every test server has, with `PASSWORD`.
pub const USER: &str = "alice";
/// `USER`'s password.
pub const PASSWORD: &str = "correct horse battery staple";

/// A config whose every path is under `dir` and every listener on 127.0.0.1 port 0.
pub fn test_config(dir: &Path) -> Config {
    let text = format!(
        r#"
[server]
data_dir = "{dir}/data"
state_dir = "{dir}/state"
shutdown_grace_secs = 5

[ftps]
listen = "127.0.0.1:0"
implicit_listen = "127.0.0.1:0"
passive_ports = "{ports}"

[sftp]
listen = "127.0.0.1:0"

# Every test client comes from 127.0.0.1; tests that fail logins on purpose must not ban the
# next test's client. tests/it/defender.rs turns it on.
[defender]
enabled = false
"#,
        dir = dir.display(),
        ports = passive_ports()
    );
    let path = dir.join("ferryd.toml");
    std::fs::write(&path, text).unwrap();
    Config::load(&path).unwrap()
}

/// A users database with `USER`/`PASSWORD`.
pub fn test_users() -> UserDb {
    let mut users = UserDb::new();
    let mut alice = UserRecord::named(USER).unwrap();
    alice.password = Some(password::hash_password(PASSWORD).unwrap());
    users.add(alice).unwrap();
    users
}

/// A server running in this process, in its own temp dir.
pub struct TestServer {
    pub dir: TempDir,
    pub config: Config,
    pub addresses: BoundAddresses,
    running: Option<RunningServer>,
}

impl TestServer {
    /// Starts a server with the test config and users.
    pub async fn start() -> TestServer {
        TestServer::start_with(|_, _| {}).await
    }

    /// Starts a server after `customize` has adjusted the config and users.
    pub async fn start_with(customize: impl FnOnce(&mut Config, &mut UserDb)) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let mut config = test_config(dir.path());
        let mut users = test_users();
        customize(&mut config, &mut users);
        std::fs::create_dir_all(&config.server.state_dir).unwrap();
        users.save(&config.auth.users_file).unwrap();
        let running = Server::start(config.clone()).await.unwrap();
        TestServer {
            dir,
            config,
            addresses: running.addresses(),
            running: Some(running),
        }
    }

    /// The running server.
    pub fn running(&self) -> &RunningServer {
        self.running.as_ref().unwrap()
    }

    /// The home directory of `user` on disk.
    pub fn home(&self, user: &str) -> PathBuf {
        self.config.server.data_dir.join(user)
    }

    /// Takes the running server out (to shut it down while the temp dir stays).
    pub fn take_running(&mut self) -> RunningServer {
        self.running.take().unwrap()
    }

    /// Shuts the server down and waits for its sessions.
    pub async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await;
        }
    }
}

#[test]
fn passive_port_ranges_of_one_run_never_overlap() {
    let ranges: Vec<(u16, u16)> = (0..200)
        .map(|_| {
            let text = passive_ports();
            let (low, high) = text.split_once('-').unwrap();
            (low.parse().unwrap(), high.parse().unwrap())
        })
        .collect();
    for (index, (low, high)) in ranges.iter().enumerate() {
        assert!(PASSIVE_PORTS.contains(low) && PASSIVE_PORTS.contains(high));
        for (other_low, other_high) in &ranges[index + 1..] {
            assert!(high < other_low || other_high < low, "{ranges:?}");
        }
    }
}
