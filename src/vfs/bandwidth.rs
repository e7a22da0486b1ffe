//! Per-user bandwidth limits: one token bucket per user and direction, shared by every session
//! of that user (both protocols), so opening more connections does not buy more bandwidth.
//!
//! The registry lives inside the server's [`QuotaRegistry`](super::QuotaRegistry) (bandwidth is
//! a rate quota), so front ends reach it through the same `UserFs::open` call. `FileReader` and
//! `FileWriter` await tokens for each block before handing it out or writing it; blocks are
//! never split. A block larger than the bucket simply puts the bucket into debt, and the caller
//! sleeps (a timer, no polling) until the debt is paid, so the long-run rate is exact whatever
//! the block size, and concurrent sessions queue behind each other's debt.

use std::collections::HashMap;
use std::num::NonZeroU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// Most bytes a bucket holds: a transfer after an idle period may burst this much (or a
/// quarter second of the rate, whichever is smaller) before the limit bites.
const MAX_BURST_BYTES: f64 = 256.0 * 1024.0;

/// Rates in bytes per second for one user; `None` means unlimited.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bandwidth {
    /// Bytes per second the user may upload, over all sessions.
    pub upload: Option<NonZeroU64>,
    /// Bytes per second the user may download, over all sessions.
    pub download: Option<NonZeroU64>,
}

impl Bandwidth {
    /// True when neither direction is limited.
    pub fn is_unlimited(&self) -> bool {
        self.upload.is_none() && self.download.is_none()
    }
}

/// Every user's buckets; cheap to clone.
#[derive(Clone, Debug, Default)]
pub(crate) struct BandwidthRegistry {
    users: Arc<Mutex<HashMap<String, Arc<UserBuckets>>>>,
}

/// One user's two buckets, created at the first session's rates.
#[derive(Debug, Default)]
struct UserBuckets {
    upload: Mutex<Option<Arc<TokenBucket>>>,
    download: Mutex<Option<Arc<TokenBucket>>>,
}

/// One session's throttles (absent directions are unlimited).
#[derive(Clone, Debug, Default)]
pub(crate) struct Throttles {
    pub(crate) upload: Option<Arc<TokenBucket>>,
    pub(crate) download: Option<Arc<TokenBucket>>,
}

impl BandwidthRegistry {
    /// The throttles for a session of `user`; sessions of one user share buckets. When the
    /// rate changed (a reload edited the users file), the bucket is replaced for new sessions
    /// while running ones keep what they started with, as with every other user setting.
    pub(crate) fn throttles(&self, user: &str, limits: Bandwidth) -> Throttles {
        if limits.is_unlimited() {
            return Throttles::default();
        }
        let buckets = {
            let mut users = self
                .users
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            users.entry(user.to_owned()).or_default().clone()
        };
        Throttles {
            upload: limits.upload.map(|rate| shared(&buckets.upload, rate)),
            download: limits.download.map(|rate| shared(&buckets.download, rate)),
        }
    }
}

fn shared(slot: &Mutex<Option<Arc<TokenBucket>>>, rate: NonZeroU64) -> Arc<TokenBucket> {
    // The map and the slots hold plain data that stays consistent if a holder panicked.
    let mut slot = slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    match slot.as_ref() {
        Some(bucket) if bucket.rate == rate => bucket.clone(),
        _ => {
            let bucket = Arc::new(TokenBucket::new(rate));
            *slot = Some(bucket.clone());
            bucket
        }
    }
}

/// A token bucket that may go into debt.
#[derive(Debug)]
pub(crate) struct TokenBucket {
    rate: NonZeroU64,
    capacity: f64,
    state: Mutex<BucketState>,
}

#[derive(Debug)]
struct BucketState {
    /// Available bytes; negative while in debt.
    tokens: f64,
    refilled: Instant,
}

impl TokenBucket {
    pub(crate) fn new(rate: NonZeroU64) -> TokenBucket {
        let capacity = (rate.get() as f64 / 4.0).min(MAX_BURST_BYTES);
        TokenBucket {
            rate,
            capacity,
            state: Mutex::new(BucketState {
                tokens: capacity,
                refilled: Instant::now(),
            }),
        }
    }

    /// Takes `bytes` tokens, sleeping until the bucket is out of debt. The lock is held only
    /// to do the arithmetic, never across the sleep.
    pub(crate) async fn take(&self, bytes: usize) {
        let wait = self.charge(bytes, Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// Refills for the time since the last call, subtracts `bytes`, and returns how long the
    /// caller must wait for the balance to reach zero.
    fn charge(&self, bytes: usize, now: Instant) -> Duration {
        let rate = self.rate.get() as f64;
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let elapsed = now.saturating_duration_since(state.refilled).as_secs_f64();
        state.tokens = (state.tokens + elapsed * rate).min(self.capacity);
        state.refilled = now;
        state.tokens -= bytes as f64;
        if state.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-state.tokens / rate)
        }
    }
}

/// Awaits tokens from `bucket`, if there is one.
pub(crate) async fn throttle(bucket: Option<&Arc<TokenBucket>>, bytes: usize) {
    if let Some(bucket) = bucket {
        bucket.take(bytes).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(value: u64) -> NonZeroU64 {
        NonZeroU64::new(value).unwrap()
    }

    #[test]
    fn debt_is_paid_at_the_rate_and_the_burst_is_bounded() {
        let bucket = TokenBucket::new(rate(1024 * 1024));
        let start = Instant::now();
        // The first quarter second is free, the next megabyte costs one second.
        assert_eq!(bucket.charge(256 * 1024, start), Duration::ZERO);
        let wait = bucket.charge(1024 * 1024, start);
        assert!((wait.as_secs_f64() - 1.0).abs() < 1e-6, "{wait:?}");
        // A long idle period refills only up to the capacity.
        let later = start + Duration::from_secs(100);
        assert_eq!(bucket.charge(256 * 1024, later), Duration::ZERO);
        assert!(!bucket.charge(1, later).is_zero());
    }

    #[test]
    fn sessions_of_one_user_share_buckets_and_other_users_do_not() {
        let registry = BandwidthRegistry::default();
        let limits = Bandwidth {
            upload: Some(rate(1000)),
            download: None,
        };
        let first = registry.throttles("alice", limits);
        let second = registry.throttles("alice", limits);
        let other = registry.throttles("bob", limits);
        let (a, b, c) = (
            first.upload.unwrap(),
            second.upload.unwrap(),
            other.upload.unwrap(),
        );
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
        assert!(first.download.is_none());
        assert!(registry
            .throttles("alice", Bandwidth::default())
            .upload
            .is_none());
    }

    #[tokio::test]
    async fn take_sleeps_for_the_debt() {
        let bucket = TokenBucket::new(rate(10_000));
        let start = Instant::now();
        bucket.take(2500).await;
        bucket.take(2000).await;
        assert!(Instant::now() - start >= Duration::from_millis(190));
    }
}
