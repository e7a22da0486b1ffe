//! The registry of logged-in sessions, for `ferryd session list` and `ferryd session kick`.
//!
//! Both front ends register a session at login and keep the returned [`Registration`] for the
//! session's life; dropping it unregisters, so no ending (error, panic, timeout) leaves a ghost.
//! Each registration carries a cancellation token: `kick` cancels it and the front end, which
//! watches the token in its session loop, says goodbye and closes. The registry owns nothing
//! else of the session: the front ends stay the only owners of their session state.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use tokio_util::sync::CancellationToken;

use crate::config::Protocol;

/// The transfer a session runs now: what and how far.
#[derive(Debug, Clone)]
struct Transfer {
    description: String,
    bytes: Arc<AtomicU64>,
}

#[derive(Debug)]
struct Entry {
    protocol: Protocol,
    user: String,
    peer: SocketAddr,
    since: SystemTime,
    kick: CancellationToken,
    transfer: Option<Transfer>,
}

/// A snapshot of one session, as `ferryd session list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSummary {
    /// The connection id (the `c` number in the logs).
    pub id: u64,
    /// The protocol.
    pub protocol: Protocol,
    /// The logged-in user.
    pub user: String,
    /// The client's address.
    pub peer: SocketAddr,
    /// When the user logged in.
    pub since: SystemTime,
    /// The running transfer (`RETR /a.txt`), if any.
    pub transfer: Option<String>,
    /// Bytes moved by the running transfer so far.
    pub bytes: u64,
}

/// Every logged-in session. Cheap to clone; clones share the registry.
#[derive(Clone, Debug, Default)]
pub struct SessionRegistry {
    inner: Arc<Mutex<BTreeMap<u64, Entry>>>,
}

impl SessionRegistry {
    /// Records a session that just logged in under connection id `id`.
    pub fn register(
        &self,
        id: u64,
        protocol: Protocol,
        user: &str,
        peer: SocketAddr,
    ) -> Registration {
        let kick = CancellationToken::new();
        self.lock().insert(
            id,
            Entry {
                protocol,
                user: user.to_owned(),
                peer,
                since: SystemTime::now(),
                kick: kick.clone(),
                transfer: None,
            },
        );
        Registration {
            registry: self.clone(),
            id,
            kick,
        }
    }

    /// Every session, oldest connection first.
    pub fn list(&self) -> Vec<SessionSummary> {
        self.lock()
            .iter()
            .map(|(id, entry)| SessionSummary {
                id: *id,
                protocol: entry.protocol,
                user: entry.user.clone(),
                peer: entry.peer,
                since: entry.since,
                transfer: entry.transfer.as_ref().map(|t| t.description.clone()),
                bytes: entry
                    .transfer
                    .as_ref()
                    .map_or(0, |t| t.bytes.load(Ordering::Relaxed)),
            })
            .collect()
    }

    /// Sessions per protocol.
    pub fn count(&self, protocol: Protocol) -> usize {
        self.lock()
            .values()
            .filter(|entry| entry.protocol == protocol)
            .count()
    }

    /// Asks the session with connection id `id` to end; returns whether there was one.
    pub fn kick_id(&self, id: u64) -> bool {
        match self.lock().get(&id) {
            Some(entry) => {
                entry.kick.cancel();
                true
            }
            None => false,
        }
    }

    /// Asks every session of `user` to end; returns how many there were.
    pub fn kick_user(&self, user: &str) -> usize {
        let sessions = self.lock();
        let mut count = 0;
        for entry in sessions.values().filter(|entry| entry.user == user) {
            entry.kick.cancel();
            count += 1;
        }
        count
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<u64, Entry>> {
        // Plain records; after a panic elsewhere they are still right.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One session's place in the registry; unregisters on drop.
#[derive(Debug)]
pub struct Registration {
    registry: SessionRegistry,
    id: u64,
    kick: CancellationToken,
}

impl Registration {
    /// Cancelled when an administrator kicks the session.
    pub fn kicked(&self) -> &CancellationToken {
        &self.kick
    }

    /// Shows `description` as the running transfer, counting `bytes`.
    pub fn transfer_started(&self, description: String, bytes: Arc<AtomicU64>) {
        if let Some(entry) = self.registry.lock().get_mut(&self.id) {
            entry.transfer = Some(Transfer { description, bytes });
        }
    }

    /// The transfer counting `bytes` ended; another one shown meanwhile stays (an SFTP session
    /// may have several files open and shows the one opened last).
    pub fn transfer_ended_for(&self, bytes: &Arc<AtomicU64>) {
        if let Some(entry) = self.registry.lock().get_mut(&self.id) {
            if entry
                .transfer
                .as_ref()
                .is_some_and(|transfer| Arc::ptr_eq(&transfer.bytes, bytes))
            {
                entry.transfer = None;
            }
        }
    }

    /// The running transfer ended.
    pub fn transfer_ended(&self) {
        if let Some(entry) = self.registry.lock().get_mut(&self.id) {
            entry.transfer = None;
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> SocketAddr {
        "192.0.2.7:50000".parse().unwrap()
    }

    #[test]
    fn sessions_are_listed_until_dropped_and_kicks_reach_only_their_targets() {
        let registry = SessionRegistry::default();
        let alice = registry.register(1, Protocol::Ftps, "alice", peer());
        let alice2 = registry.register(2, Protocol::Sftp, "alice", peer());
        let bob = registry.register(3, Protocol::Sftp, "bob", peer());
        assert_eq!(registry.list().len(), 3);
        assert_eq!(registry.count(Protocol::Sftp), 2);

        let bytes = Arc::new(AtomicU64::new(0));
        alice.transfer_started("RETR /big".into(), bytes.clone());
        bytes.store(42, Ordering::Relaxed);
        let listed = registry.list();
        assert_eq!(listed[0].transfer.as_deref(), Some("RETR /big"));
        assert_eq!(listed[0].bytes, 42);
        alice.transfer_ended();
        assert_eq!(registry.list()[0].transfer, None);

        assert!(registry.kick_id(3));
        assert!(bob.kicked().is_cancelled());
        assert!(!alice.kicked().is_cancelled());
        assert_eq!(registry.kick_user("alice"), 2);
        assert!(alice.kicked().is_cancelled() && alice2.kicked().is_cancelled());
        assert!(!registry.kick_id(99));

        drop((alice, alice2, bob));
        assert!(registry.list().is_empty());
    }
}
