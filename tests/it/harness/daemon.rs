//! The real `ferryd` binary as systemd would run it: `NOTIFY_SOCKET` points at a datagram
//! socket this harness owns, so tests learn readiness the way systemd does, never by polling.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Path of the built binary.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_ferryd")
}

/// Writes `dir/ferryd.toml` for the real binary (sandbox on: the default) and returns its
/// path: explicit FTPS and SFTP on 127.0.0.1 port 0, no implicit FTPS, the defender off (tests
/// that fail logins on purpose must not ban the next client), then `extra`.
pub fn write_daemon_config(dir: &Path, extra: &str) -> PathBuf {
    let path = dir.join("ferryd.toml");
    std::fs::write(
        &path,
        format!(
            "[server]\ndata_dir = \"{d}/data\"\nstate_dir = \"{d}/state\"\nshutdown_grace_secs = 5\n\
             [ftps]\nlisten = \"127.0.0.1:0\"\nimplicit_listen = \"\"\npassive_ports = \"{ports}\"\n\
             [sftp]\nlisten = \"127.0.0.1:0\"\n[defender]\nenabled = false\n{extra}",
            d = dir.display(),
            ports = super::passive_ports()
        ),
    )
    .unwrap();
    path
}

/// `write_daemon_config`, then `USER` with `PASSWORD` added by `ferryd user add`, as an admin
/// would before the first start.
pub fn daemon_config(dir: &Path, extra: &str) -> PathBuf {
    let path = write_daemon_config(dir, extra);
    assert_cmd::Command::new(binary())
        .arg("--config")
        .arg(&path)
        .args(["user", "add", super::USER, "--password-stdin"])
        .write_stdin(format!("{}\n", super::PASSWORD))
        .assert()
        .success();
    path
}

/// A running `ferryd serve`.
pub struct Daemon {
    child: Child,
    notify: UnixDatagram,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    _socket_dir: tempfile::TempDir,
}

/// How a daemon ended.
pub struct Exit {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Daemon {
    /// Spawns `ferryd --config CONFIG serve` and waits for `READY=1`.
    pub fn start(config: &Path) -> Daemon {
        let mut daemon = Daemon::spawn(config);
        daemon.wait_for_notification("READY=1", Duration::from_secs(60));
        daemon
    }

    /// Spawns without waiting for readiness.
    pub fn spawn(config: &Path) -> Daemon {
        Daemon::spawn_with_env(config, &[])
    }

    /// Spawns with extra environment variables (e.g. `WATCHDOG_USEC`).
    pub fn spawn_with_env(config: &Path, env: &[(&str, &str)]) -> Daemon {
        Daemon::spawn_from(Command::new(binary()), config, env)
    }

    /// Spawns in `working_dir` (where a quick-start config's relative paths resolve) with
    /// extra environment variables, without waiting for readiness.
    pub fn spawn_in(working_dir: &Path, config: &Path, env: &[(&str, &str)]) -> Daemon {
        let mut command = Command::new(binary());
        command.current_dir(working_dir);
        Daemon::spawn_from(command, config, env)
    }

    /// Spawns under a soft open-file limit of `soft` (set by `sh`, which then execs the
    /// daemon) and waits for `READY=1`.
    pub fn start_with_soft_file_limit(config: &Path, soft: u64) -> Daemon {
        let mut shell = Command::new("sh");
        shell
            .arg("-c")
            .arg(format!("ulimit -S -n {soft} && exec \"$0\" \"$@\""))
            .arg(binary());
        let mut daemon = Daemon::spawn_from(shell, config, &[]);
        daemon.wait_for_notification("READY=1", Duration::from_secs(60));
        daemon
    }

    fn spawn_from(mut command: Command, config: &Path, env: &[(&str, &str)]) -> Daemon {
        let socket_dir = tempfile::tempdir().unwrap();
        let socket_path: PathBuf = socket_dir.path().join("notify.sock");
        let notify = UnixDatagram::bind(&socket_path).unwrap();
        let mut child = command
            .arg("--config")
            .arg(config)
            .arg("serve")
            .env("NOTIFY_SOCKET", &socket_path)
            .env_remove("JOURNAL_STREAM")
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = collect(child.stdout.take().unwrap());
        let stderr = collect(child.stderr.take().unwrap());
        Daemon {
            child,
            notify,
            stdout,
            stderr,
            _socket_dir: socket_dir,
        }
    }

    /// Waits for a notification datagram containing `needle`; returns the whole datagram.
    /// Fails at once, with the daemon's stderr, if the daemon exits first.
    pub fn wait_for_notification(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        let mut buffer = [0u8; 4096];
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            assert!(
                !remaining.is_zero(),
                "no {needle:?} notification within {timeout:?}; stderr:\n{}",
                self.stderr()
            );
            let slice = remaining.min(Duration::from_millis(200));
            self.notify.set_read_timeout(Some(slice)).unwrap();
            if let Ok(length) = self.notify.recv(&mut buffer) {
                let message = String::from_utf8_lossy(&buffer[..length]).into_owned();
                if message.lines().any(|line| line.contains(needle)) {
                    return message;
                }
                continue;
            }
            // Only once no datagram is waiting: one sent just before exiting (STOPPING=1)
            // must still be seen.
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "daemon exited with {status} before {needle:?}; stderr:\n{}",
                    self.stderr()
                );
            }
        }
    }

    /// Waits until the daemon has logged a line containing `needle` (the log pipe is read by
    /// a thread, so a line can trail the notification that follows it).
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> String {
        wait_for_line(&self.stderr, needle, timeout)
    }

    /// Like `wait_for_log`, for stdout.
    pub fn wait_for_stdout(&self, needle: &str, timeout: Duration) -> String {
        wait_for_line(&self.stdout, needle, timeout)
    }

    /// The addresses of the `listening` log lines (explicit FTPS, implicit FTPS, SFTP for a
    /// config with all three), once `count` of them have been logged.
    pub fn listening_addresses(&self, count: usize) -> Vec<std::net::SocketAddr> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let addresses: Vec<std::net::SocketAddr> = self
                .stderr()
                .lines()
                .filter(|line| line.contains("ferryd::server") && line.contains(" listening "))
                .filter_map(|line| {
                    let value = line.split("address=").nth(1)?;
                    value.split_whitespace().next()?.parse().ok()
                })
                .collect();
            if addresses.len() >= count || Instant::now() > deadline {
                return addresses;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything the daemon printed on stdout so far.
    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    /// Everything the daemon logged on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal by name (`TERM`, `HUP`, `INT`) with kill(1).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args(["-s", name, &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -s {name} failed");
    }

    /// Waits for the process to exit (killing it after `timeout`).
    pub fn wait(mut self, timeout: Duration) -> Exit {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "daemon did not exit within {timeout:?}; stderr:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // The reader threads finish once the pipes close with the process.
        std::thread::sleep(Duration::from_millis(50));
        Exit {
            status,
            stdout: self.stdout(),
            stderr: self.stderr(),
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn collect(stream: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let buffer = Arc::new(Mutex::new(String::new()));
    let sink = buffer.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            let mut text = sink.lock().unwrap();
            text.push_str(&line);
            text.push('\n');
        }
    });
    buffer
}

fn wait_for_line(buffer: &Mutex<String>, needle: &str, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let text = buffer.lock().unwrap().clone();
        if let Some(line) = text.lines().find(|line| line.contains(needle)) {
            return line.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "no line with {needle:?} within {timeout:?}; output:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
