//! Connection and session limits shared by both front ends, and the defender's bans.
//!
//! A permit is taken at accept (total and per client IP) and at login (per user); dropping the
//! permit gives the slot back, so a session that ends in any way — error, panic, timeout —
//! cannot leak a slot.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

pub mod defender;
pub mod sessions;

use crate::config::{DefenderConfig, ServerConfig};

pub use defender::{BanInfo, BanReason, Banned, Defender, Offence};
pub use sessions::{Registration, SessionRegistry, SessionSummary};

/// Why a connection or session was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    /// The server holds `max_connections` already.
    #[error("too many connections to this server")]
    TooManyConnections,
    /// This client IP holds `max_connections_per_ip` already.
    #[error("too many connections from your address")]
    TooManyFromAddress,
    /// This user holds `max_sessions_per_user` already.
    #[error("too many sessions for this user")]
    TooManySessionsForUser,
    /// The defender banned this address for failed logins or protocol abuse.
    #[error("your address is temporarily banned")]
    Banned,
}

/// The live counts and their limits. Cheap to clone; clones share counts.
#[derive(Clone, Debug)]
pub struct ConnectionLimits {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    max_total: AtomicUsize,
    max_per_ip: AtomicUsize,
    max_per_user: AtomicUsize,
    total: AtomicUsize,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    per_user: Mutex<HashMap<String, usize>>,
    defender: Defender,
    sessions: SessionRegistry,
}

impl ConnectionLimits {
    /// Limits from `[server]` and bans by `[defender]`.
    pub fn new(config: &ServerConfig, defender: &DefenderConfig) -> ConnectionLimits {
        let limits = ConnectionLimits {
            inner: Arc::new(Inner {
                max_total: AtomicUsize::new(0),
                max_per_ip: AtomicUsize::new(0),
                max_per_user: AtomicUsize::new(0),
                total: AtomicUsize::new(0),
                per_ip: Mutex::new(HashMap::new()),
                per_user: Mutex::new(HashMap::new()),
                defender: Defender::new(defender),
                sessions: SessionRegistry::default(),
            }),
        };
        limits.update(config);
        limits
    }

    /// Applies new limits (reload); existing connections are never cut.
    pub fn update(&self, config: &ServerConfig) {
        let inner = &self.inner;
        inner
            .max_total
            .store(config.max_connections, Ordering::Relaxed);
        inner
            .max_per_ip
            .store(config.max_connections_per_ip, Ordering::Relaxed);
        inner
            .max_per_user
            .store(config.max_sessions_per_user, Ordering::Relaxed);
    }

    /// The defender, to report offences and apply new thresholds.
    pub fn defender(&self) -> &Defender {
        &self.inner.defender
    }

    /// The logged-in sessions, for the admin socket and for the front ends to register with.
    pub fn sessions(&self) -> &SessionRegistry {
        &self.inner.sessions
    }

    /// Takes a connection slot for `ip`, or says which limit (or ban) refuses it.
    pub fn try_acquire(&self, ip: IpAddr) -> Result<ConnectionPermit, LimitError> {
        let inner = &self.inner;
        if let Err(banned) = inner.defender.check(ip) {
            // The ban itself was logged once when it started; a line per refused connection
            // would let a banned client flood the log.
            tracing::debug!(peer = %ip, remaining_secs = banned.remaining.as_secs(), "banned address refused");
            return Err(LimitError::Banned);
        }
        let mut per_ip = lock(&inner.per_ip);
        if inner.total.load(Ordering::Relaxed) >= inner.max_total.load(Ordering::Relaxed) {
            return Err(LimitError::TooManyConnections);
        }
        let count = per_ip.entry(ip).or_insert(0);
        if *count >= inner.max_per_ip.load(Ordering::Relaxed) {
            return Err(LimitError::TooManyFromAddress);
        }
        *count += 1;
        inner.total.fetch_add(1, Ordering::Relaxed);
        Ok(ConnectionPermit {
            limits: self.clone(),
            ip,
        })
    }

    /// Takes a session slot for `user` (0 = unlimited).
    pub fn try_acquire_user(&self, user: &str) -> Result<SessionPermit, LimitError> {
        let inner = &self.inner;
        let max = inner.max_per_user.load(Ordering::Relaxed);
        let mut per_user = lock(&inner.per_user);
        let count = per_user.entry(user.to_owned()).or_insert(0);
        if max != 0 && *count >= max {
            return Err(LimitError::TooManySessionsForUser);
        }
        *count += 1;
        Ok(SessionPermit {
            limits: self.clone(),
            user: user.to_owned(),
        })
    }

    /// Connections open now.
    pub fn active_connections(&self) -> usize {
        self.inner.total.load(Ordering::Relaxed)
    }

    /// Logged-in sessions of `user` now.
    pub fn sessions_of(&self, user: &str) -> usize {
        lock(&self.inner.per_user).get(user).copied().unwrap_or(0)
    }
}

/// A poisoned lock only means another thread panicked mid-update of plain counters; the
/// counts are still the best information there is, so keep using them.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One connection's slot; released on drop.
#[derive(Debug)]
pub struct ConnectionPermit {
    limits: ConnectionLimits,
    ip: IpAddr,
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        let inner = &self.limits.inner;
        let mut per_ip = lock(&inner.per_ip);
        if let Some(count) = per_ip.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                per_ip.remove(&self.ip);
            }
        }
        inner.total.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One logged-in session's slot; released on drop.
#[derive(Debug)]
pub struct SessionPermit {
    limits: ConnectionLimits,
    user: String,
}

impl Drop for SessionPermit {
    fn drop(&mut self) {
        let mut per_user = lock(&self.limits.inner.per_user);
        if let Some(count) = per_user.get_mut(&self.user) {
            *count -= 1;
            if *count == 0 {
                per_user.remove(&self.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn limits(total: usize, per_ip: usize, per_user: usize) -> ConnectionLimits {
        let mut config = Config::default().server;
        config.max_connections = total;
        config.max_connections_per_ip = per_ip;
        config.max_sessions_per_user = per_user;
        ConnectionLimits::new(&config, &Config::default().defender)
    }

    #[test]
    fn per_ip_and_total_limits_apply_and_release_on_drop() {
        let limits = limits(3, 2, 0);
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let first = limits.try_acquire(a).unwrap();
        let _second = limits.try_acquire(a).unwrap();
        assert_eq!(
            limits.try_acquire(a).unwrap_err(),
            LimitError::TooManyFromAddress
        );
        let _third = limits.try_acquire(b).unwrap();
        assert_eq!(
            limits.try_acquire(b).unwrap_err(),
            LimitError::TooManyConnections
        );
        drop(first);
        assert_eq!(limits.active_connections(), 2);
        limits.try_acquire(a).unwrap();
    }

    #[test]
    fn per_user_limit_zero_is_unlimited() {
        let unlimited = limits(10, 10, 0);
        let permits: Vec<_> = (0..5)
            .map(|_| unlimited.try_acquire_user("u").unwrap())
            .collect();
        assert_eq!(unlimited.sessions_of("u"), 5);
        drop(permits);
        assert_eq!(unlimited.sessions_of("u"), 0);
        let limited = limits(10, 10, 1);
        let _one = limited.try_acquire_user("u").unwrap();
        assert_eq!(
            limited.try_acquire_user("u").unwrap_err(),
            LimitError::TooManySessionsForUser
        );
        limited.try_acquire_user("v").unwrap();
    }

    #[test]
    fn banned_addresses_are_refused_at_acquire() {
        let limits = limits(10, 10, 0);
        let mut strict = Config::default().defender;
        strict.threshold = 1;
        limits.defender().update(&strict);
        let attacker: IpAddr = "192.0.2.9".parse().unwrap();
        assert!(limits.defender().report(attacker, Offence::FailedLogin));
        assert_eq!(
            limits.try_acquire(attacker).unwrap_err(),
            LimitError::Banned
        );
        limits.try_acquire("192.0.2.10".parse().unwrap()).unwrap();
    }
}
