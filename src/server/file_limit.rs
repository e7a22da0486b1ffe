//! The open-file limit: raised to what the system allows before the daemon starts serving.
//!
//! Every session holds descriptors (its socket, a passive listener, open files), and a
//! daemon started from a shell inherits a soft limit of 1,024 that a busy server passes long
//! before its connection limit. The hard limit is what the administrator granted
//! (`LimitNOFILE=` in the systemd unit); taking all of it is what Go's runtime and nginx do.

use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

/// Descriptors the daemon needs besides its sessions: listeners, the log, the runtime.
const BASE_DESCRIPTORS: u64 = 64;

/// Descriptors a session may hold at once (control socket, passive listener, data socket,
/// file being transferred).
const DESCRIPTORS_PER_SESSION: u64 = 4;

/// What was done about the limit, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileLimit {
    /// The soft limit before.
    pub was: Option<u64>,
    /// The soft limit now (`None`: unlimited).
    pub now: Option<u64>,
    /// Set when even the hard limit may not carry `max_connections` busy sessions.
    pub short_for: Option<usize>,
}

/// Raises the soft open-file limit to the hard limit. Failing to read or set it is reported,
/// never fatal: the daemon still works, within the old limit.
pub fn raise(max_connections: usize) -> Result<FileLimit, rustix::io::Errno> {
    let limit = getrlimit(Resource::Nofile);
    let plan = plan(limit.current, limit.maximum, max_connections);
    if plan.now != limit.current {
        setrlimit(
            Resource::Nofile,
            Rlimit {
                current: plan.now,
                maximum: limit.maximum,
            },
        )?;
    }
    Ok(plan)
}

/// The decision, apart from the system calls.
fn plan(current: Option<u64>, maximum: Option<u64>, max_connections: usize) -> FileLimit {
    let now = match (current, maximum) {
        (Some(current), Some(maximum)) => Some(current.max(maximum)),
        // An unlimited hard limit: the kernel still caps descriptors at fs.nr_open, and
        // asking for infinity fails, so keep what we have.
        (current, None) => current,
        (None, Some(_)) => None,
    };
    let needed = BASE_DESCRIPTORS
        .saturating_add(DESCRIPTORS_PER_SESSION.saturating_mul(max_connections as u64));
    let short_for = match now {
        Some(now) if now < needed => Some(max_connections),
        _ => None,
    };
    FileLimit {
        was: current,
        now,
        short_for,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_goes_up_to_the_hard_limit() {
        let raised = plan(Some(1024), Some(524_288), 1000);
        assert_eq!(raised.now, Some(524_288));
        assert_eq!(raised.was, Some(1024));
        assert_eq!(raised.short_for, None);
    }

    #[test]
    fn a_limit_already_at_the_top_or_unlimited_stays() {
        assert_eq!(plan(Some(65_536), Some(65_536), 1000).now, Some(65_536));
        assert_eq!(plan(Some(4096), None, 1000).now, Some(4096));
        assert_eq!(plan(None, None, 1000).now, None);
    }

    #[test]
    fn a_hard_limit_too_low_for_the_connection_limit_is_reported() {
        let short = plan(Some(1024), Some(1024), 1000);
        assert_eq!(short.now, Some(1024));
        assert_eq!(short.short_for, Some(1000));
        assert_eq!(plan(Some(1024), Some(1024), 200).short_for, None);
    }
}
