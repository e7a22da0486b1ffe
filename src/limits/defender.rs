//! The defender: temporary bans for client addresses that keep failing to log in or abuse the
//! protocols.
//!
//! Every failed login (both protocols, every method: the session core reports each one the
//! front ends hand it) and every protocol abuse a front end reports adds to the score of the
//! client's address; offences older than the observation time are forgotten. At the threshold the address is banned: the
//! listeners close its connections at accept. A repeat offender's ban doubles each time, up to a
//! day. Allow-listed networks are never banned. IPv6 clients are scored per /64, since one host
//! usually owns a whole /64 and could otherwise rotate addresses.
//!
//! Bans live in memory, in the one `Defender` the server keeps for its lifetime, so they survive
//! a reload (which only changes the thresholds) but not a restart. The number of tracked
//! addresses is bounded; under a flood the oldest entries without a ban are dropped first.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::config::DefenderConfig;

/// Most addresses tracked at once; beyond this, the oldest unbanned entries are dropped.
pub const MAX_TRACKED_ADDRESSES: usize = 100_000;
/// The longest ban, however often an address offends.
pub const MAX_BAN: Duration = Duration::from_secs(24 * 3600);

/// What a client did wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offence {
    /// A login attempt failed.
    FailedLogin,
    /// Malformed or hostile protocol input: garbage packets, oversized lines, a data connection
    /// from the wrong address, a bounce attempt.
    ProtocolAbuse,
}

/// Why an address is banned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BanReason {
    /// Failed logins reached the threshold.
    FailedLogins,
    /// Protocol abuse reached the threshold.
    ProtocolAbuse,
    /// An administrator banned it (`ferryd ban add`).
    Admin,
}

impl BanReason {
    /// The word shown by `ferryd ban list`.
    pub fn as_str(self) -> &'static str {
        match self {
            BanReason::FailedLogins => "failed-logins",
            BanReason::ProtocolAbuse => "protocol-abuse",
            BanReason::Admin => "admin",
        }
    }
}

/// One live ban, as `ferryd ban list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BanInfo {
    /// The banned address (for IPv6, the /64 it was scored under).
    pub address: IpAddr,
    /// Why.
    pub reason: BanReason,
    /// The score that reached the threshold (0 for an administrator's ban).
    pub score: u32,
    /// How much longer the ban lasts.
    pub remaining: Duration,
}

/// Why an administrator's ban was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BanError {
    /// The address is in `defender.allow_list`, which the defender never bans.
    #[error("{0} is in defender.allow_list; remove it there first")]
    AllowListed(IpAddr),
    /// The duration is zero or too long to represent.
    #[error("ban duration must be between 1 s and {} days", MAX_ADMIN_BAN.as_secs() / 86_400)]
    Duration,
}

/// The longest ban an administrator can set.
pub const MAX_ADMIN_BAN: Duration = Duration::from_secs(365 * 86_400);

/// The address is banned until the given instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("address banned for another {} s", remaining.as_secs())]
pub struct Banned {
    /// How much longer the ban lasts.
    pub remaining: Duration,
}

/// Tracks offences and bans. Cheap to clone; clones share state.
#[derive(Clone, Debug)]
pub struct Defender {
    inner: Arc<Mutex<State>>,
}

#[derive(Debug)]
struct State {
    config: DefenderConfig,
    entries: HashMap<IpAddr, Entry>,
}

#[derive(Debug, Clone)]
struct Entry {
    /// Offences inside the observation window, oldest first: (when, score).
    offences: Vec<(Instant, u32)>,
    banned_until: Option<Instant>,
    reason: BanReason,
    ban_score: u32,
    bans: u32,
    last_seen: Instant,
}

impl Defender {
    /// A defender with `config`'s thresholds.
    pub fn new(config: &DefenderConfig) -> Defender {
        Defender {
            inner: Arc::new(Mutex::new(State {
                config: config.clone(),
                entries: HashMap::new(),
            })),
        }
    }

    /// Applies new thresholds (reload); existing scores and bans stay, except for addresses
    /// now in the allow list: the admin listed them to let them in, so their bans are lifted.
    pub fn update(&self, config: &DefenderConfig) {
        let mut state = self.lock();
        state.config = config.clone();
        state.entries.retain(|address, entry| {
            let allowed = is_allowed(config, *address);
            if allowed && entry.banned_until.is_some() {
                tracing::info!(
                    target: "ferryd::audit",
                    event = "unban",
                    peer = %address,
                    "ban lifted: address is in defender.allow_list"
                );
            }
            !allowed
        });
    }

    /// Live bans, longest remaining first.
    pub fn list(&self) -> Vec<BanInfo> {
        let now = Instant::now();
        let state = self.lock();
        let mut bans: Vec<BanInfo> = state
            .entries
            .iter()
            .filter_map(|(address, entry)| {
                let until = entry.banned_until.filter(|until| *until > now)?;
                Some(BanInfo {
                    address: *address,
                    reason: entry.reason,
                    score: entry.ban_score,
                    remaining: until - now,
                })
            })
            .collect();
        bans.sort_by_key(|ban| std::cmp::Reverse(ban.remaining));
        bans
    }

    /// Bans `ip` for `duration` on an administrator's request, whatever its score and even
    /// with the defender disabled; logged once.
    pub fn ban(&self, ip: IpAddr, duration: Duration) -> Result<(), BanError> {
        if duration.is_zero() || duration > MAX_ADMIN_BAN {
            return Err(BanError::Duration);
        }
        let now = Instant::now();
        let mut state = self.lock();
        if is_allowed(&state.config, ip) {
            return Err(BanError::AllowListed(ip));
        }
        let entry = state
            .entries
            .entry(bucket(ip))
            .or_insert_with(|| Entry::new(now));
        entry.banned_until = Some(now + duration);
        entry.reason = BanReason::Admin;
        entry.ban_score = 0;
        entry.offences.clear();
        entry.last_seen = now;
        tracing::warn!(
            target: "ferryd::audit",
            event = "ban",
            peer = %bucket(ip),
            ban_secs = duration.as_secs(),
            reason = BanReason::Admin.as_str(),
            "banning client address"
        );
        Ok(())
    }

    /// Lifts the ban of `ip` (and forgets its score); returns whether it was banned.
    pub fn unban(&self, ip: IpAddr) -> bool {
        let now = Instant::now();
        let removed = self.lock().entries.remove(&bucket(ip));
        let was_banned = removed
            .and_then(|entry| entry.banned_until)
            .is_some_and(|until| until > now);
        if was_banned {
            tracing::info!(
                target: "ferryd::audit",
                event = "unban",
                peer = %bucket(ip),
                "ban lifted by the administrator"
            );
        }
        was_banned
    }

    /// Whether a connection from `ip` may proceed.
    pub fn check(&self, ip: IpAddr) -> Result<(), Banned> {
        self.check_at(ip, Instant::now())
    }

    /// Adds `offence` to `ip`'s score; returns true when this offence started a ban.
    pub fn report(&self, ip: IpAddr, offence: Offence) -> bool {
        self.report_at(ip, offence, Instant::now())
    }

    /// Addresses banned now.
    pub fn banned_count(&self) -> usize {
        let now = Instant::now();
        self.lock()
            .entries
            .values()
            .filter(|entry| entry.banned_until.is_some_and(|until| until > now))
            .count()
    }

    fn check_at(&self, ip: IpAddr, now: Instant) -> Result<(), Banned> {
        let state = self.lock();
        let Some(entry) = state.entries.get(&bucket(ip)) else {
            return Ok(());
        };
        // An administrator's ban holds even with the automatic defender switched off.
        if !state.config.enabled && entry.reason != BanReason::Admin {
            return Ok(());
        }
        match entry.banned_until {
            Some(until) if until > now => Err(Banned {
                remaining: until - now,
            }),
            _ => Ok(()),
        }
    }

    fn report_at(&self, ip: IpAddr, offence: Offence, now: Instant) -> bool {
        let mut state = self.lock();
        let config = state.config.clone();
        if !config.enabled || is_allowed(&config, ip) {
            return false;
        }
        let score = match offence {
            Offence::FailedLogin => config.score_failed_login,
            Offence::ProtocolAbuse => config.score_protocol_abuse,
        };
        if state.entries.len() >= MAX_TRACKED_ADDRESSES {
            prune(&mut state.entries, now, config.observation_time);
        }
        let entry = state
            .entries
            .entry(bucket(ip))
            .or_insert_with(|| Entry::new(now));
        entry.last_seen = now;
        if entry.banned_until.is_some_and(|until| until > now) {
            return false;
        }
        entry
            .offences
            .retain(|(when, _)| now.saturating_duration_since(*when) < config.observation_time);
        entry.offences.push((now, score));
        let total: u32 = entry.offences.iter().map(|(_, score)| *score).sum();
        if total < config.threshold {
            return false;
        }
        let doubling = 2u32.saturating_pow(entry.bans.min(16));
        let ban = config.ban_time.saturating_mul(doubling).min(MAX_BAN);
        entry.banned_until = Some(now + ban);
        entry.reason = match offence {
            Offence::FailedLogin => BanReason::FailedLogins,
            Offence::ProtocolAbuse => BanReason::ProtocolAbuse,
        };
        entry.ban_score = total;
        entry.bans += 1;
        entry.offences.clear();
        tracing::warn!(
            target: "ferryd::audit",
            event = "ban",
            peer = %ip,
            ban_secs = ban.as_secs(),
            reason = entry.reason.as_str(),
            "banning client address"
        );
        true
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Scores are plain numbers; after a panic elsewhere they are still usable.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Entry {
    fn new(now: Instant) -> Entry {
        Entry {
            offences: Vec::new(),
            banned_until: None,
            reason: BanReason::FailedLogins,
            ban_score: 0,
            bans: 0,
            last_seen: now,
        }
    }
}

/// Whether `ip` (or, for an IPv6 /64 bucket, its network address) is in the allow list.
fn is_allowed(config: &DefenderConfig, ip: IpAddr) -> bool {
    let ip = ip.to_canonical();
    config.allow_list.iter().any(|net| net.contains(&ip))
}

/// The key an address is scored under: itself for IPv4, its /64 for IPv6.
fn bucket(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let segments = v6.segments();
            IpAddr::V6(Ipv6Addr::new(
                segments[0],
                segments[1],
                segments[2],
                segments[3],
                0,
                0,
                0,
                0,
            ))
        }
    }
}

/// Drops entries with neither a live ban nor recent offences; if that is not enough, the
/// least recently seen unbanned half.
fn prune(entries: &mut HashMap<IpAddr, Entry>, now: Instant, window: Duration) {
    entries.retain(|_, entry| {
        entry.banned_until.is_some_and(|until| until > now)
            || now.saturating_duration_since(entry.last_seen) < window
    });
    if entries.len() < MAX_TRACKED_ADDRESSES {
        return;
    }
    let mut unbanned: Vec<(IpAddr, Instant)> = entries
        .iter()
        .filter(|(_, entry)| entry.banned_until.is_none_or(|until| until <= now))
        .map(|(ip, entry)| (*ip, entry.last_seen))
        .collect();
    unbanned.sort_by_key(|(_, seen)| *seen);
    for (ip, _) in unbanned.iter().take(unbanned.len() / 2 + 1) {
        entries.remove(ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn config(threshold: u32) -> DefenderConfig {
        DefenderConfig {
            threshold,
            ..Config::default().defender
        }
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn failed_logins_up_to_the_threshold_ban_the_address_only() {
        let defender = Defender::new(&config(3));
        let now = Instant::now();
        let attacker = ip("192.0.2.1");
        assert!(!defender.report_at(attacker, Offence::FailedLogin, now));
        assert!(!defender.report_at(attacker, Offence::FailedLogin, now));
        assert!(defender.check_at(attacker, now).is_ok());
        assert!(defender.report_at(attacker, Offence::FailedLogin, now));
        let banned = defender.check_at(attacker, now).unwrap_err();
        assert_eq!(banned.remaining, Duration::from_secs(900));
        assert!(defender.check_at(ip("192.0.2.2"), now).is_ok());
        assert_eq!(defender.banned_count(), 1);
        assert!(defender
            .check_at(attacker, now + Duration::from_secs(901))
            .is_ok());
    }

    #[test]
    fn old_offences_are_forgotten() {
        let defender = Defender::new(&config(3));
        let start = Instant::now();
        let client = ip("192.0.2.1");
        defender.report_at(client, Offence::FailedLogin, start);
        defender.report_at(client, Offence::FailedLogin, start);
        let later = start + Duration::from_secs(601);
        assert!(!defender.report_at(client, Offence::FailedLogin, later));
        assert!(defender.check_at(client, later).is_ok());
    }

    #[test]
    fn repeat_offenders_get_doubled_bans_capped_at_a_day() {
        let defender = Defender::new(&config(1));
        let mut now = Instant::now();
        let client = ip("192.0.2.1");
        let mut expected = Duration::from_secs(900);
        for _ in 0..10 {
            assert!(defender.report_at(client, Offence::ProtocolAbuse, now));
            assert_eq!(
                defender.check_at(client, now).unwrap_err().remaining,
                expected
            );
            now += expected + Duration::from_secs(1);
            expected = (expected * 2).min(MAX_BAN);
        }
    }

    #[test]
    fn allow_list_and_disabled_defender_never_ban() {
        let mut allowed = config(1);
        allowed.allow_list = vec!["10.0.0.0/8".parse().unwrap()];
        let defender = Defender::new(&allowed);
        assert!(!defender.report(ip("10.1.2.3"), Offence::FailedLogin));
        assert!(!defender.report(ip("::ffff:10.1.2.3"), Offence::FailedLogin));
        assert!(defender.check(ip("10.1.2.3")).is_ok());
        let mut disabled = config(1);
        disabled.enabled = false;
        let defender = Defender::new(&disabled);
        assert!(!defender.report(ip("192.0.2.1"), Offence::FailedLogin));
        assert!(defender.check(ip("192.0.2.1")).is_ok());
    }

    #[test]
    fn admin_bans_are_listed_lifted_and_refused_for_allow_listed_addresses() {
        let mut disabled = config(3);
        disabled.enabled = false;
        disabled.allow_list = vec!["10.0.0.0/8".parse().unwrap()];
        let defender = Defender::new(&disabled);
        let client = ip("192.0.2.5");
        defender.ban(client, Duration::from_secs(60)).unwrap();
        assert!(
            defender.check(client).is_err(),
            "admin bans hold when disabled"
        );
        let listed = defender.list();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].reason, BanReason::Admin);
        assert_eq!(
            defender.ban(ip("10.0.0.1"), Duration::from_secs(60)),
            Err(BanError::AllowListed(ip("10.0.0.1")))
        );
        assert_eq!(
            defender.ban(client, Duration::ZERO),
            Err(BanError::Duration)
        );
        assert!(defender.unban(client));
        assert!(!defender.unban(client));
        assert!(defender.check(client).is_ok());
    }

    #[test]
    fn allow_listing_a_banned_address_on_reload_lifts_its_ban() {
        let defender = Defender::new(&config(1));
        let client = ip("192.0.2.8");
        assert!(defender.report(client, Offence::FailedLogin));
        assert_eq!(defender.list()[0].score, 1);
        assert_eq!(defender.list()[0].reason, BanReason::FailedLogins);
        let mut allowed = config(1);
        allowed.allow_list = vec!["192.0.2.8/32".parse().unwrap()];
        defender.update(&allowed);
        assert!(defender.check(client).is_ok());
        assert!(defender.list().is_empty());
    }

    #[test]
    fn ipv6_is_scored_per_64() {
        let defender = Defender::new(&config(2));
        defender.report(ip("2001:db8:1:2::1"), Offence::FailedLogin);
        assert!(defender.report(ip("2001:db8:1:2::ffff"), Offence::FailedLogin));
        assert!(defender.check(ip("2001:db8:1:2::77")).is_err());
        assert!(defender.check(ip("2001:db8:1:3::1")).is_ok());
    }

    #[test]
    fn tracked_addresses_stay_bounded_and_bans_survive_pruning() {
        let defender = Defender::new(&config(1000));
        let now = Instant::now();
        let banned = ip("198.51.100.1");
        {
            let mut state = defender.lock();
            state.config.threshold = 1;
        }
        defender.report_at(banned, Offence::FailedLogin, now);
        defender.update(&config(1000));
        for n in 0..(MAX_TRACKED_ADDRESSES as u32 + 10) {
            let address = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + n));
            defender.report_at(address, Offence::FailedLogin, now);
        }
        assert!(defender.lock().entries.len() <= MAX_TRACKED_ADDRESSES);
        assert!(
            defender.check_at(banned, now).is_err(),
            "a ban must survive pruning"
        );
    }
}
