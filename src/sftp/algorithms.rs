//! The russh server configuration: algorithms, flow-control sizes, auth pacing, banner.
//!
//! Defaults follow OpenSSH 9.x's preference order minus anything SHA-1, CBC or unauthenticated.
//! `ecdh-sha2-nistp256` and the non-ETM SHA-2 MACs are kept because libssh2 before 1.11 (curl
//! and PHP in Debian 12 and many CI images) knows neither curve25519 everywhere nor ETM MACs.
//! Strict key exchange (the Terrapin mitigation, `kex-strict-s-v00@openssh.com`) and `ext-info-s`
//! are always appended: they are markers, not algorithms, and configuring them away would only
//! weaken the server.

use std::borrow::Cow;
use std::time::Duration;

use russh::keys::{Algorithm, EcdsaCurve, HashAlg, PrivateKey};
use russh::{cipher, kex, mac, MethodKind, MethodSet, Preferred, SshId};

use crate::config::Config;

/// Why the SFTP front end cannot start (re-exported as `sftp::StartError`). It lives here
/// because every refusal comes from building the russh configuration.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// `sftp.host_keys` produced no key.
    #[error("no SSH host key is configured")]
    NoHostKey,
    /// A name in `sftp.kex_algorithms`, `sftp.ciphers` or `sftp.macs` is unknown to russh.
    #[error("sftp.{list}: unknown or unsupported algorithm {name:?}")]
    UnknownAlgorithm {
        /// The config key (`kex_algorithms`, `ciphers`, `macs`).
        list: &'static str,
        /// The offending name.
        name: String,
    },
    /// An algorithm that ferryd refuses on principle (SHA-1 key exchange, `none`, CBC).
    #[error("sftp.{list}: {name:?} is refused (weak or unauthenticated)")]
    RefusedAlgorithm {
        /// The config key.
        list: &'static str,
        /// The offending name.
        name: String,
    },
}

/// Key exchange methods offered when `sftp.kex_algorithms` is empty, most preferred first.
pub const DEFAULT_KEX: &[&str] = &[
    "mlkem768x25519-sha256",
    "curve25519-sha256",
    "curve25519-sha256@libssh.org",
    "ecdh-sha2-nistp256",
    "ecdh-sha2-nistp384",
    "ecdh-sha2-nistp521",
    "diffie-hellman-group-exchange-sha256",
    "diffie-hellman-group16-sha512",
    "diffie-hellman-group18-sha512",
    "diffie-hellman-group14-sha256",
];

/// Ciphers offered when `sftp.ciphers` is empty.
pub const DEFAULT_CIPHERS: &[&str] = &[
    "chacha20-poly1305@openssh.com",
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "aes128-ctr",
    "aes192-ctr",
    "aes256-ctr",
];

/// MACs offered when `sftp.macs` is empty (AEAD ciphers above need none).
pub const DEFAULT_MACS: &[&str] = &[
    "hmac-sha2-256-etm@openssh.com",
    "hmac-sha2-512-etm@openssh.com",
    "hmac-sha2-256",
    "hmac-sha2-512",
];

/// The version string: no library name or version for scanners to match advisories against.
const SERVER_ID: &str = "SSH-2.0-ferryd";

/// SSH channel window. Large enough that one window covers OpenSSH's 64 pipelined 255 KiB
/// requests, so a client never waits for a WINDOW_ADJUST in the middle of a burst.
const WINDOW_BYTES: u32 = 16 * 1024 * 1024;

/// Largest SSH packet we accept; the largest russh supports (one TCP segment's worth of length).
const MAX_PACKET_BYTES: u32 = 65535;

/// Messages russh may queue per channel before its session loop waits for our reader. Our
/// reader drains continuously, so this only absorbs bursts while it holds back on the budget.
const CHANNEL_BUFFER_MESSAGES: usize = 1024;

/// Messages our writers may queue towards the session loop.
const EVENT_BUFFER_MESSAGES: usize = 256;

/// Delay for a rejected attempt. russh sleeps this long inside its session loop; password checks
/// already cost one argon2 verification whatever the outcome, so this only slows guessing.
const AUTH_REJECTION_TIME: Duration = Duration::from_millis(250);

const KEX_MARKERS: &[kex::Name] = &[
    kex::EXTENSION_SUPPORT_AS_SERVER,
    kex::EXTENSION_OPENSSH_STRICT_KEX_AS_SERVER,
];

/// Builds russh's server configuration for `config` with `keys` as host keys.
pub(crate) fn ssh_config(
    config: &Config,
    keys: Vec<PrivateKey>,
) -> Result<russh::server::Config, StartError> {
    if keys.is_empty() {
        return Err(StartError::NoHostKey);
    }
    let preferred = preferred(config)?;
    Ok(russh::server::Config {
        server_id: SshId::Standard(Cow::Borrowed(SERVER_ID)),
        methods: auth_methods(),
        auth_rejection_time: AUTH_REJECTION_TIME,
        // OpenSSH clients open with a "none" probe to learn the methods: answer it at once.
        auth_rejection_time_initial: Some(Duration::ZERO),
        keys,
        window_size: WINDOW_BYTES,
        maximum_packet_size: MAX_PACKET_BYTES,
        channel_buffer_size: CHANNEL_BUFFER_MESSAGES,
        event_buffer_size: EVENT_BUFFER_MESSAGES,
        preferred,
        max_auth_attempts: usize::try_from(config.sftp.max_auth_attempts).unwrap_or(usize::MAX),
        // `listener` runs the idle timer, so the client is told why it is disconnected.
        inactivity_timeout: None,
        keepalive_interval: None,
        // `run_stream` ignores this; `listener` applies it to every accepted socket.
        nodelay: true,
        ..russh::server::Config::default()
    })
}

/// The algorithm lists `config` asks for, checked (unknown and refused names are errors).
/// `check-config` runs this too, so it refuses exactly what `serve` refuses.
pub(crate) fn preferred(config: &Config) -> Result<Preferred, StartError> {
    let sftp = &config.sftp;
    let mut kex_names = parse_list(
        "kex_algorithms",
        &sftp.kex_algorithms,
        DEFAULT_KEX,
        |name| kex::Name::try_from(name).ok(),
    )?;
    kex_names.extend_from_slice(KEX_MARKERS);
    let ciphers = parse_list("ciphers", &sftp.ciphers, DEFAULT_CIPHERS, |name| {
        cipher::Name::try_from(name).ok()
    })?;
    let macs = parse_list("macs", &sftp.macs, DEFAULT_MACS, |name| {
        mac::Name::try_from(name).ok()
    })?;
    Ok(Preferred {
        kex: Cow::Owned(kex_names),
        key: Cow::Owned(host_key_algorithms()),
        cipher: Cow::Owned(ciphers),
        mac: Cow::Owned(macs),
        ..Preferred::DEFAULT
    })
}

/// The authentication methods offered, before and after every rejection: OpenSSH keeps a
/// method on offer until `MaxAuthTries`, and clients such as paramiko give up on a method the
/// server stops listing.
pub(crate) fn auth_methods() -> MethodSet {
    let mut methods = MethodSet::empty();
    for method in [
        MethodKind::PublicKey,
        MethodKind::Password,
        MethodKind::KeyboardInteractive,
    ] {
        methods.push(method);
    }
    methods
}

/// Host key (and client signature) algorithms: no `ssh-rsa`, whose signatures use SHA-1.
fn host_key_algorithms() -> Vec<Algorithm> {
    vec![
        Algorithm::Ed25519,
        Algorithm::Ecdsa {
            curve: EcdsaCurve::NistP256,
        },
        Algorithm::Ecdsa {
            curve: EcdsaCurve::NistP384,
        },
        Algorithm::Ecdsa {
            curve: EcdsaCurve::NistP521,
        },
        Algorithm::Rsa {
            hash: Some(HashAlg::Sha512),
        },
        Algorithm::Rsa {
            hash: Some(HashAlg::Sha256),
        },
    ]
}

/// Parses the configured names (or the defaults when none are configured). A configured name
/// russh does not know, or one we refuse, is an error; a default russh lacks is skipped.
fn parse_list<N>(
    list: &'static str,
    configured: &[String],
    defaults: &[&str],
    parse: impl Fn(&str) -> Option<N>,
) -> Result<Vec<N>, StartError> {
    if configured.is_empty() {
        return Ok(defaults.iter().filter_map(|name| parse(name)).collect());
    }
    let mut names = Vec::with_capacity(configured.len());
    for name in configured {
        if is_refused(name) {
            return Err(StartError::RefusedAlgorithm {
                list,
                name: name.clone(),
            });
        }
        let parsed = parse(name).ok_or_else(|| StartError::UnknownAlgorithm {
            list,
            name: name.clone(),
        })?;
        names.push(parsed);
    }
    Ok(names)
}

/// SHA-1 anything, unauthenticated or unencrypted transports, CBC ciphers and 3DES.
fn is_refused(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.contains("sha1")
        || name == "none"
        || name == "clear"
        || name.ends_with("-cbc")
        || name.contains("3des")
        || name.contains("group1-")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Vec<PrivateKey> {
        let key = PrivateKey::random(&mut russh::keys::key::safe_rng(), Algorithm::Ed25519);
        vec![key.unwrap()]
    }

    #[test]
    fn defaults_are_all_known_to_russh_and_keep_strict_kex() {
        let config = ssh_config(&Config::default(), keys()).unwrap();
        let kex: Vec<&str> = config.preferred.kex.iter().map(|n| n.as_ref()).collect();
        assert_eq!(kex.len(), DEFAULT_KEX.len() + KEX_MARKERS.len(), "{kex:?}");
        assert!(kex.contains(&"kex-strict-s-v00@openssh.com"));
        assert_eq!(config.preferred.cipher.len(), DEFAULT_CIPHERS.len());
        assert_eq!(config.preferred.mac.len(), DEFAULT_MACS.len());
        assert!(!config
            .preferred
            .key
            .contains(&Algorithm::Rsa { hash: None }));
        assert_eq!(config.maximum_packet_size, 65535);
        assert!(config.channel_buffer_size >= 1024);
    }

    #[test]
    fn configured_lists_are_checked() {
        let mut config = Config::default();
        config.sftp.ciphers = vec!["aes256-gcm@openssh.com".into()];
        let built = ssh_config(&config, keys()).unwrap();
        assert_eq!(built.preferred.cipher.len(), 1);

        config.sftp.ciphers = vec!["rot13".into()];
        let error = ssh_config(&config, keys()).err().unwrap();
        assert!(matches!(
            error,
            StartError::UnknownAlgorithm {
                list: "ciphers",
                ..
            }
        ));

        config.sftp.ciphers = Vec::new();
        config.sftp.kex_algorithms = vec!["diffie-hellman-group14-sha1".into()];
        let error = ssh_config(&config, keys()).err().unwrap();
        assert!(matches!(error, StartError::RefusedAlgorithm { .. }));
    }

    #[test]
    fn no_host_key_is_an_error() {
        let error = ssh_config(&Config::default(), Vec::new()).err().unwrap();
        assert!(matches!(error, StartError::NoHostKey));
    }
}
