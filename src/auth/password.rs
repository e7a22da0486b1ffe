//! Password hashing and verification with argon2id.
//!
//! Stored hashes are PHC strings (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`), created with
//! the OWASP Password Storage Cheat Sheet parameters (19 MiB, 2 passes, 1 lane). Verification
//! recomputes the hash with the parameters stored in the PHC string and compares in constant time
//! (argon2's `Output` comparison).
//!
//! Timing must not tell an attacker whether a user exists, has a password, or sent an over-long
//! password: every path through [`check`] runs exactly one argon2 computation, either against the
//! user's hash or against a dummy hash made once per process with the same parameters.
//!
//! Hashing is CPU-heavy (~20 ms optimised); async callers run it on `spawn_blocking`, at most
//! [`max_concurrent_checks`] at a time.
//!
//! Memory: each verification needs `m` KiB of working memory (19 MiB with OWASP parameters).
//! Allocated per login, glibc keeps such blocks in the arena of whichever blocking thread ran
//! the hash, so after a burst of logins the daemon held ~19 MiB per thread that ever hashed
//! (measured: 19.5 MiB of RSS per idle FTPS session after 20 concurrent logins). Verification
//! therefore reuses working memory from a small pool, one buffer per concurrent check: memory
//! for hashing is bounded by [`max_concurrent_checks`] × 19 MiB and does not grow with logins.

use std::fmt;
use std::sync::{Mutex, OnceLock, PoisonError};

use argon2::password_hash::SaltString;
use argon2::{Algorithm, Argon2, Block, Params, PasswordHasher, Version};
use rand::rngs::OsRng;
use rand::Rng;
use subtle::ConstantTimeEq;

/// Longest password accepted, in bytes; longer candidates are refused (after a dummy verify).
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// Length of passwords made by [`generate_password`].
pub const GENERATED_PASSWORD_CHARS: usize = 24;

/// OWASP parameters for argon2id: memory in KiB, passes, lanes.
const M_COST_KIB: u32 = 19 * 1024;
const T_COST: u32 = 2;
const P_COST: u32 = 1;

/// Upper bounds for parameters read from the users file, so a typo (an extra zero in `m=`) cannot
/// make every login allocate gigabytes.
const MAX_M_COST_KIB: u32 = 1024 * 1024;
const MAX_T_COST: u32 = 64;
const MAX_P_COST: u32 = 64;

/// Working-memory buffers larger than this (KiB) are freed after use instead of pooled: only a
/// hash imported with unusual parameters needs one, and it should not stay resident.
const MAX_POOLED_M_COST_KIB: u32 = 64 * 1024;

/// No `0 O o 1 l I` so a password read aloud or from a screenshot is typed right first time.
const UNAMBIGUOUS_ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// Why a password or a stored hash was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// The password is empty.
    #[error("password is empty")]
    Empty,
    /// The password is longer than [`MAX_PASSWORD_BYTES`].
    #[error("password is longer than {MAX_PASSWORD_BYTES} bytes")]
    TooLong,
    /// The stored hash is not an argon2id PHC string ferryd can verify.
    #[error("invalid password hash: {0}")]
    InvalidHash(String),
    /// argon2 itself failed (parameters rejected, allocation).
    #[error("password hashing failed: {0}")]
    Hashing(String),
}

/// An argon2id PHC string, checked to be verifiable.
///
/// `Debug` redacts the value: hashes are offline-crackable secrets and must not reach logs.
#[derive(Clone, PartialEq, Eq)]
pub struct HashedPassword(String);

impl HashedPassword {
    /// Checks that `phc` is an argon2id PHC string with a salt, a hash and sane parameters.
    pub fn parse(phc: &str) -> Result<HashedPassword, PasswordError> {
        let parsed = argon2::PasswordHash::new(phc)
            .map_err(|error| PasswordError::InvalidHash(error.to_string()))?;
        if parsed.algorithm != Algorithm::Argon2id.ident() {
            return Err(PasswordError::InvalidHash(format!(
                "algorithm is {:?}, expected \"argon2id\"",
                parsed.algorithm.as_str()
            )));
        }
        if parsed.salt.is_none() || parsed.hash.is_none() {
            return Err(PasswordError::InvalidHash(
                "salt or hash missing".to_owned(),
            ));
        }
        let params = Params::try_from(&parsed)
            .map_err(|error| PasswordError::InvalidHash(error.to_string()))?;
        if params.m_cost() > MAX_M_COST_KIB
            || params.t_cost() > MAX_T_COST
            || params.p_cost() > MAX_P_COST
        {
            return Err(PasswordError::InvalidHash(format!(
                "parameters above the limits m={MAX_M_COST_KIB},t={MAX_T_COST},p={MAX_P_COST}"
            )));
        }
        Ok(HashedPassword(phc.to_owned()))
    }

    /// The PHC string, for writing the users file.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for HashedPassword {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("HashedPassword(<redacted>)")
    }
}

/// Which hash a [`check`] ran against; tests use it to prove the dummy path is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifiedAgainst {
    /// The user's own stored hash.
    Stored,
    /// The process-wide dummy hash (unknown user, no password set, refused candidate).
    Dummy,
}

/// The result of one password check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordCheck {
    /// True only when the candidate matches the stored hash.
    pub matched: bool,
    /// Which hash was computed.
    pub against: VerifiedAgainst,
}

/// Hashes `password` with argon2id, OWASP parameters and a random salt.
pub fn hash_password(password: &str) -> Result<HashedPassword, PasswordError> {
    validate_candidate(password)?;
    hash_with(password, &owasp_hasher()?)
}

/// True when `candidate` matches the PHC string `phc`, compared in constant time.
///
/// An unparsable `phc` costs a dummy verification and returns false, so even a corrupt entry
/// does not answer faster than a good one.
pub fn verify_password(phc: &str, candidate: &str) -> bool {
    match HashedPassword::parse(phc) {
        Ok(hashed) => check(Some(&hashed), candidate).matched,
        Err(_) => {
            dummy_verify(candidate);
            false
        }
    }
}

/// Runs one verification against the dummy hash and discards the result.
pub fn dummy_verify(candidate: &str) {
    // Clamp so an attacker's megabyte "password" costs what a normal one does.
    let bounded = &candidate.as_bytes()[..candidate.len().min(MAX_PASSWORD_BYTES)];
    if let Some(dummy) = dummy_hash() {
        let _ = verify_bytes(dummy.as_str(), bounded);
    }
}

/// Checks a login candidate against the user's hash, or the dummy hash when there is none.
///
/// Exactly one argon2 computation happens on every path. Empty and over-long candidates are
/// verified against the dummy hash and refused.
pub fn check(stored: Option<&HashedPassword>, candidate: &str) -> PasswordCheck {
    match stored {
        Some(hashed) if validate_candidate(candidate).is_ok() => PasswordCheck {
            matched: verify_bytes(hashed.as_str(), candidate.as_bytes()),
            against: VerifiedAgainst::Stored,
        },
        _ => {
            dummy_verify(candidate);
            PasswordCheck {
                matched: false,
                against: VerifiedAgainst::Dummy,
            }
        }
    }
}

/// Makes sure the dummy hash exists, so the first unknown-user login is not slower than later
/// ones. Call once at startup (it costs one hash).
pub fn prepare_dummy() {
    let _ = dummy_hash();
}

/// A random password of [`GENERATED_PASSWORD_CHARS`] characters from an unambiguous alphabet.
pub fn generate_password() -> String {
    let mut rng = OsRng;
    (0..GENERATED_PASSWORD_CHARS)
        .map(|_| {
            let index = rng.gen_range(0..UNAMBIGUOUS_ALPHABET.len());
            char::from(UNAMBIGUOUS_ALPHABET[index])
        })
        .collect()
}

/// Refuses empty and over-long passwords.
pub fn validate_candidate(password: &str) -> Result<(), PasswordError> {
    if password.is_empty() {
        Err(PasswordError::Empty)
    } else if password.len() > MAX_PASSWORD_BYTES {
        Err(PasswordError::TooLong)
    } else {
        Ok(())
    }
}

fn owasp_hasher() -> Result<Argon2<'static>, PasswordError> {
    let params = Params::new(M_COST_KIB, T_COST, P_COST, None)
        .map_err(|error| PasswordError::Hashing(error.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

fn hash_with(password: &str, hasher: &Argon2<'_>) -> Result<HashedPassword, PasswordError> {
    let salt = SaltString::generate(&mut OsRng);
    let phc = hasher
        .hash_password(password.as_bytes(), &salt)
        .map_err(|error| PasswordError::Hashing(error.to_string()))?;
    Ok(HashedPassword(phc.to_string()))
}

/// Recomputes the hash with the algorithm, version and parameters of the PHC string, in pooled
/// working memory, and compares in constant time.
fn verify_bytes(phc: &str, candidate: &[u8]) -> bool {
    let Ok(parsed) = argon2::PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from).transpose() {
        Ok(version) => version.unwrap_or_default(),
        Err(_) => return false,
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let mut salt_bytes = [0u8; argon2::password_hash::Salt::MAX_LENGTH];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let hasher = Argon2::new(algorithm, version, params.clone());
    let mut computed = vec![0u8; expected.len()];
    let hashed = with_working_memory(&params, |blocks| {
        hasher.hash_password_into_with_memory(candidate, salt, &mut computed, blocks)
    });
    hashed.is_ok() && bool::from(computed.as_slice().ct_eq(expected.as_bytes()))
}

/// How many password checks may run at once: the CPU count, at most 4 (each holds its working
/// memory, and more in parallel only queue for the same cores).
pub fn max_concurrent_checks() -> usize {
    std::thread::available_parallelism()
        .map_or(2, std::num::NonZeroUsize::get)
        .clamp(2, 4)
}

/// Idle working-memory buffers, at most [`max_concurrent_checks`] of them.
static POOL: Mutex<Vec<Vec<Block>>> = Mutex::new(Vec::new());

/// Runs `hash` with zeroed-or-reused working memory of `params.block_count()` blocks. Reused
/// buffers are not cleared: argon2 overwrites every block before reading it.
fn with_working_memory<R>(params: &Params, hash: impl FnOnce(&mut [Block]) -> R) -> R {
    let needed = params.block_count();
    let pooled = params.m_cost() <= MAX_POOLED_M_COST_KIB;
    let reused = pooled
        .then(|| {
            let mut pool = POOL.lock().unwrap_or_else(PoisonError::into_inner);
            let index = pool.iter().position(|buffer| buffer.len() >= needed)?;
            Some(pool.swap_remove(index))
        })
        .flatten();
    let mut blocks = reused.unwrap_or_else(|| vec![Block::default(); needed]);
    let result = hash(&mut blocks[..needed]);
    if pooled {
        let mut pool = POOL.lock().unwrap_or_else(PoisonError::into_inner);
        if pool.len() < max_concurrent_checks() {
            pool.push(blocks);
        }
    }
    result
}

/// The dummy hash: a random password hashed once with the production parameters. `None` only if
/// argon2 refused our own constants, which the tests rule out.
fn dummy_hash() -> Option<&'static HashedPassword> {
    static DUMMY: OnceLock<Option<HashedPassword>> = OnceLock::new();
    DUMMY
        .get_or_init(|| {
            let hasher = owasp_hasher().ok()?;
            hash_with(&generate_password(), &hasher).ok()
        })
        .as_ref()
}

/// A hash with minimal argon2 cost, so tests do not spend 400 ms (debug build) per user.
#[cfg(test)]
pub(crate) fn cheap_hash_for_tests(password: &str) -> HashedPassword {
    let params = Params::new(8, 1, 1, None).unwrap();
    hash_with(
        password,
        &Argon2::new(Algorithm::Argon2id, Version::V0x13, params),
    )
    .unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_then_verify_round_trips_with_owasp_parameters() {
        let hashed = hash_password("correct horse").unwrap();
        assert!(hashed
            .as_str()
            .starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify_password(hashed.as_str(), "correct horse"));
        assert!(!verify_password(hashed.as_str(), "correct horsf"));
    }

    #[test]
    fn pooled_working_memory_verifies_any_parameters_and_stays_bounded() {
        let owasp = hash_password("big").unwrap();
        let cheap = cheap_hash_for_tests("small");
        // A large buffer left in the pool serves a small hash, and the other way round.
        for _ in 0..2 {
            assert!(verify_password(owasp.as_str(), "big"));
            assert!(verify_password(cheap.as_str(), "small"));
            assert!(!verify_password(cheap.as_str(), "big"));
            assert!(!verify_password(owasp.as_str(), "small"));
        }
        let threads: Vec<_> = (0..3 * max_concurrent_checks())
            .map(|_| {
                let owasp = owasp.clone();
                std::thread::spawn(move || verify_password(owasp.as_str(), "big"))
            })
            .collect();
        for thread in threads {
            assert!(thread.join().unwrap());
        }
        let pooled = POOL.lock().unwrap().len();
        assert!(pooled >= 1 && pooled <= max_concurrent_checks(), "{pooled}");
    }

    #[test]
    fn a_tampered_hash_or_salt_never_verifies() {
        let hashed = cheap_hash_for_tests("pw");
        let text = hashed.as_str();
        let (head, hash) = text.rsplit_once('$').unwrap();
        let flipped = if hash.starts_with('A') { "B" } else { "A" };
        let tampered = format!("{head}${flipped}{}", &hash[1..]);
        assert!(!verify_password(&tampered, "pw"));
        let (start, salt) = head.rsplit_once('$').unwrap();
        assert_ne!(salt, "c29tZXNhbHR2YWx1ZQ");
        let other_salt = format!("{start}$c29tZXNhbHR2YWx1ZQ${hash}");
        assert!(HashedPassword::parse(&other_salt).is_ok());
        assert!(!verify_password(&other_salt, "pw"));
        assert!(verify_password(text, "pw"));
    }

    #[test]
    fn salts_differ_between_hashes() {
        assert_ne!(cheap_hash_for_tests("x"), cheap_hash_for_tests("x"));
    }

    #[test]
    fn empty_and_overlong_passwords_are_refused() {
        assert_eq!(hash_password(""), Err(PasswordError::Empty));
        let long = "a".repeat(MAX_PASSWORD_BYTES + 1);
        assert_eq!(hash_password(&long), Err(PasswordError::TooLong));
        let hashed = cheap_hash_for_tests(&"a".repeat(MAX_PASSWORD_BYTES));
        let result = check(Some(&hashed), &long);
        assert_eq!(result.against, VerifiedAgainst::Dummy);
        assert!(!result.matched);
        let empty = check(Some(&cheap_hash_for_tests("a")), "");
        assert_eq!(empty.against, VerifiedAgainst::Dummy);
    }

    #[test]
    fn missing_hash_uses_the_dummy_and_never_matches() {
        let result = check(None, "anything");
        assert_eq!(
            result,
            PasswordCheck {
                matched: false,
                against: VerifiedAgainst::Dummy
            }
        );
        let dummy = dummy_hash().unwrap();
        assert!(dummy
            .as_str()
            .starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    }

    #[test]
    fn stored_hash_is_used_when_present() {
        let hashed = cheap_hash_for_tests("pw");
        assert_eq!(
            check(Some(&hashed), "pw"),
            PasswordCheck {
                matched: true,
                against: VerifiedAgainst::Stored
            }
        );
    }

    #[test]
    fn parse_rejects_other_algorithms_and_garbage() {
        assert!(HashedPassword::parse("plaintext").is_err());
        assert!(
            HashedPassword::parse("$argon2i$v=19$m=16,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g").is_err()
        );
        assert!(
            HashedPassword::parse("$argon2id$v=19$m=99999999,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g")
                .is_err()
        );
        let good = cheap_hash_for_tests("pw");
        assert_eq!(HashedPassword::parse(good.as_str()).unwrap(), good);
        assert!(!verify_password("garbage", "pw"));
    }

    #[test]
    fn debug_redacts_the_hash() {
        let hashed = cheap_hash_for_tests("pw");
        assert!(!format!("{hashed:?}").contains("argon2"));
    }

    #[test]
    fn generated_passwords_are_long_and_unambiguous() {
        let password = generate_password();
        assert!(password.chars().count() >= 20);
        assert!(password.bytes().all(|b| UNAMBIGUOUS_ALPHABET.contains(&b)));
        assert_ne!(password, generate_password());
    }
}
