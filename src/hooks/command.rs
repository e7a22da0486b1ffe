//! Running one hook command: argv without a shell, a clean environment plus the event's
//! `FERRYD_*` variables, a timeout that kills the command's whole process group, and the
//! first line of what it wrote to stderr (a gate's reason to refuse an upload).
//!
//! Both the in-process executor (no sandbox) and the hook runner process use it.

use std::process::Stdio;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt as _;
use tokio::process::Command;

/// The environment a hook starts with besides the event's variables: a PATH for the programs
/// it calls, and nothing of the daemon's own (which may hold object-storage credentials).
const BASE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// stderr kept per run: enough for a first line, bounded whatever the hook prints.
const STDERR_KEPT: usize = 4096;

/// One command to run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandRequest {
    /// The program (absolute) and its arguments.
    pub argv: Vec<String>,
    /// The event's variables.
    pub env: Vec<(String, String)>,
    /// How long it may run.
    pub timeout_ms: u64,
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandOutcome {
    /// It exited with this status (or was killed by a signal: `None`).
    Exited {
        /// The exit code.
        code: Option<i32>,
        /// The first line it wrote to stderr, trimmed; empty if none.
        stderr: String,
    },
    /// It ran past its timeout and was killed.
    TimedOut,
    /// It could not be started (missing program, not executable) or was refused.
    NotStarted(String),
}

impl CommandOutcome {
    /// Exit status 0.
    pub fn succeeded(&self) -> bool {
        matches!(self, CommandOutcome::Exited { code: Some(0), .. })
    }

    /// Words for the log and, for a gate, for the client: the hook's first stderr line when
    /// it wrote one.
    pub fn describe(&self) -> String {
        match self {
            CommandOutcome::Exited { stderr, .. } if !stderr.is_empty() => stderr.clone(),
            CommandOutcome::Exited {
                code: Some(code), ..
            } => format!("exit status {code}"),
            CommandOutcome::Exited { code: None, .. } => "killed by a signal".to_owned(),
            CommandOutcome::TimedOut => "timed out".to_owned(),
            CommandOutcome::NotStarted(reason) => format!("could not start: {reason}"),
        }
    }

    /// A stable word for metrics and log fields.
    pub fn result(&self) -> &'static str {
        match self {
            CommandOutcome::Exited { code: Some(0), .. } => "ok",
            CommandOutcome::Exited { .. } => "failed",
            CommandOutcome::TimedOut => "timeout",
            CommandOutcome::NotStarted(_) => "not_started",
        }
    }
}

/// Runs `request` to its end or its timeout.
pub async fn run(request: &CommandRequest) -> CommandOutcome {
    let Some((program, args)) = request.argv.split_first() else {
        return CommandOutcome::NotStarted("empty command".to_owned());
    };
    let mut command = Command::new(program);
    command
        .args(args)
        .env_clear()
        .env("PATH", BASE_PATH)
        .envs(request.env.iter().map(|(name, value)| (name, value)))
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        // Its own process group, so a timeout kills what it started too.
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(error) => return CommandOutcome::NotStarted(error.to_string()),
    };
    let group = child.id();
    let stderr = child.stderr.take();
    let collect = async move {
        let mut kept = Vec::new();
        if let Some(mut stderr) = stderr {
            let mut chunk = [0_u8; 1024];
            // Read to the end (a hook blocked on a full pipe would never exit), keep the start.
            while let Ok(read) = stderr.read(&mut chunk).await {
                if read == 0 {
                    break;
                }
                let room = STDERR_KEPT.saturating_sub(kept.len());
                kept.extend_from_slice(&chunk[..read.min(room)]);
            }
        }
        kept
    };
    let timeout = Duration::from_millis(request.timeout_ms);
    let finished = tokio::time::timeout(timeout, async {
        let (status, kept) = tokio::join!(child.wait(), collect);
        (status, kept)
    })
    .await;
    match finished {
        Ok((Ok(status), kept)) => CommandOutcome::Exited {
            code: status.code(),
            stderr: first_line(&kept),
        },
        Ok((Err(error), _)) => CommandOutcome::NotStarted(error.to_string()),
        Err(_) => {
            if let Some(group) = group.and_then(|pid| rustix::process::Pid::from_raw(pid as i32)) {
                let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
            }
            let _ = child.kill().await;
            CommandOutcome::TimedOut
        }
    }
}

/// The first non-empty line, without control characters, at most 200 characters.
fn first_line(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    text.lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(script: &str, timeout_ms: u64) -> CommandRequest {
        CommandRequest {
            argv: vec!["/bin/sh".into(), "-c".into(), script.into()],
            env: vec![("FERRYD_PATH".into(), "/a b".into())],
            timeout_ms,
        }
    }

    #[tokio::test]
    async fn a_command_gets_the_event_and_a_clean_environment() {
        // The test process has HOME (and CARGO_* variables); the hook must not see them.
        assert!(std::env::var_os("CARGO").is_some());
        let outcome = run(&request(
            "test \"$FERRYD_PATH\" = '/a b' && test -z \"$CARGO\" && test -n \"$PATH\"",
            10_000,
        ))
        .await;
        assert!(outcome.succeeded(), "{outcome:?}");
    }

    #[tokio::test]
    async fn the_first_stderr_line_and_the_status_come_back() {
        let outcome = run(&request(
            "echo; echo '  virus found: EICAR  ' >&2; echo second >&2; exit 3",
            10_000,
        ))
        .await;
        assert_eq!(
            outcome,
            CommandOutcome::Exited {
                code: Some(3),
                stderr: "virus found: EICAR".into()
            }
        );
        assert_eq!(outcome.describe(), "virus found: EICAR");
        assert_eq!(outcome.result(), "failed");
    }

    #[tokio::test]
    async fn a_timeout_kills_the_command_and_what_it_started() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("late");
        let script = format!("(sleep 2; touch {}) & sleep 30", marker.display());
        let started = std::time::Instant::now();
        let outcome = run(&request(&script, 300)).await;
        assert_eq!(outcome, CommandOutcome::TimedOut);
        assert!(started.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert!(
            !marker.exists(),
            "the background child was killed with the group"
        );
    }

    #[tokio::test]
    async fn a_missing_program_is_reported() {
        let outcome = run(&CommandRequest {
            argv: vec!["/nonexistent/hook".into()],
            env: Vec::new(),
            timeout_ms: 1000,
        })
        .await;
        assert!(
            matches!(outcome, CommandOutcome::NotStarted(_)),
            "{outcome:?}"
        );
        assert!(!outcome.succeeded());
    }

    #[tokio::test]
    async fn a_flood_on_stderr_neither_blocks_nor_grows_memory() {
        let outcome = run(&request(
            "head -c 1000000 /dev/zero | tr '\\0' x >&2",
            10_000,
        ))
        .await;
        assert!(outcome.succeeded(), "{outcome:?}");
    }
}
