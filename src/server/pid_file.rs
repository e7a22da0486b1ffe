//! `state_dir/ferryd.pid`: lets scripts (and `kill -HUP`) find the running daemon
//! without systemd. Removed on a clean stop; a stale file is detected by checking that the
//! process exists and is a ferryd.

use std::path::{Path, PathBuf};

use rustix::process::{Pid, Signal};

/// The pid file of the daemon using `state_dir`.
pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join("ferryd.pid")
}

/// Records this process; removes the file again on drop.
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
}

impl PidFile {
    /// Writes the current pid to `state_dir/ferryd.pid`.
    pub fn create(state_dir: &Path) -> std::io::Result<PidFile> {
        let path = path(state_dir);
        std::fs::write(&path, format!("{}\n", std::process::id()))?;
        Ok(PidFile { path })
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Why the running daemon could not be signalled.
#[derive(Debug, thiserror::Error)]
pub enum SignalError {
    /// No pid file: the daemon is not running with this state directory.
    #[error("no running ferryd found ({0} is missing)")]
    NotRunning(PathBuf),
    /// The pid file names a process that is gone or is not ferryd.
    #[error("stale pid file {path}: process {pid} is not a running ferryd")]
    Stale {
        /// The pid file.
        path: PathBuf,
        /// The pid it names.
        pid: i32,
    },
    /// The pid file is unreadable or garbled.
    #[error("cannot use pid file {path}: {message}")]
    Invalid {
        /// The pid file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// kill(2) failed (permissions).
    #[error("cannot signal process {pid}: {source}")]
    Kill {
        /// The process.
        pid: i32,
        /// Why.
        source: std::io::Error,
    },
}

/// The pid of the daemon using `state_dir`, checked to be a live ferryd process.
pub fn running_pid(state_dir: &Path) -> Result<i32, SignalError> {
    let path = path(state_dir);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(SignalError::NotRunning(path))
        }
        Err(error) => {
            return Err(SignalError::Invalid {
                path,
                message: error.to_string(),
            })
        }
    };
    let pid: i32 = text.trim().parse().map_err(|_| SignalError::Invalid {
        path: path.clone(),
        message: format!("{:?} is not a process id", text.trim()),
    })?;
    let command = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    if !command.trim().starts_with("ferryd") {
        return Err(SignalError::Stale { path, pid });
    }
    Ok(pid)
}

/// Sends SIGHUP (reload) to the daemon using `state_dir`; returns its pid.
pub fn send_reload(state_dir: &Path) -> Result<i32, SignalError> {
    let pid = running_pid(state_dir)?;
    let target = Pid::from_raw(pid).ok_or_else(|| SignalError::Invalid {
        path: path(state_dir),
        message: format!("{pid} is not a process id"),
    })?;
    rustix::process::kill_process(target, Signal::HUP).map_err(|error| SignalError::Kill {
        pid,
        source: error.into(),
    })?;
    Ok(pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_file_lifecycle_and_stale_detection() {
        let dir = tempfile::tempdir().unwrap();
        let not_running = running_pid(dir.path());
        assert!(matches!(not_running, Err(SignalError::NotRunning(_))));
        let file = PidFile::create(dir.path()).unwrap();
        // The unit-test binary is named ferryd-<hash>, so it passes the name check.
        assert_eq!(running_pid(dir.path()).unwrap(), std::process::id() as i32);
        drop(file);
        assert!(!path(dir.path()).exists());
        let mut other = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        std::fs::write(path(dir.path()), format!("{}\n", other.id())).unwrap();
        let stale = running_pid(dir.path());
        other.kill().unwrap();
        other.wait().unwrap();
        assert!(matches!(stale, Err(SignalError::Stale { .. })), "{stale:?}");
        std::fs::write(path(dir.path()), "garbage").unwrap();
        let invalid = running_pid(dir.path());
        assert!(matches!(invalid, Err(SignalError::Invalid { .. })));
    }
}
