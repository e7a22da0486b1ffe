//! Authorized SSH public keys: parsing the users file's `keys` entries, matching, fingerprints.
//!
//! Entries use the OpenSSH one-line format (`ssh-ed25519 AAAA… comment`), the same as
//! `~/.ssh/authorized_keys` lines without options. Matching compares only the key material, never
//! the comment. Fingerprints are printed as `ssh-keygen -lf` does (`SHA256:<base64>`), so an
//! admin can paste its output into `ferryd user key del`.

use russh::keys::ssh_key::Fingerprint;
use russh::keys::{HashAlg, PublicKey};

/// Why a key or a key selector could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The text is not an OpenSSH public key line.
    #[error("not an OpenSSH public key ({0})")]
    Unparsable(String),
    /// The text is neither a `SHA256:`/`SHA512:` fingerprint nor a public key line.
    #[error("expected a fingerprint like \"SHA256:…\" or an OpenSSH public key line")]
    BadSelector,
}

/// Parses one OpenSSH public key line (`<algorithm> <base64> [comment]`).
pub fn parse_authorized_key(line: &str) -> Result<PublicKey, KeyError> {
    PublicKey::from_openssh(line.trim()).map_err(|error| KeyError::Unparsable(error.to_string()))
}

/// The key as an OpenSSH line (with its comment) for the users file.
pub fn to_openssh_line(key: &PublicKey) -> Result<String, KeyError> {
    key.to_openssh()
        .map_err(|error| KeyError::Unparsable(error.to_string()))
}

/// The SHA-256 fingerprint as `ssh-keygen -l` prints it, e.g. `SHA256:uNiVzt…`.
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// True when both are the same key; comments are ignored.
pub fn same_key(a: &PublicKey, b: &PublicKey) -> bool {
    a.key_data() == b.key_data()
}

/// Which key to remove: a fingerprint or the key itself.
#[derive(Debug, Clone)]
pub enum KeySelector {
    /// A `SHA256:` or `SHA512:` fingerprint.
    Fingerprint(Fingerprint),
    /// A full public key line.
    Key(PublicKey),
}

impl KeySelector {
    /// Parses a fingerprint (`SHA256:…`) or, failing that, an OpenSSH public key line.
    pub fn parse(text: &str) -> Result<KeySelector, KeyError> {
        let text = text.trim();
        if let Ok(fingerprint) = text.parse::<Fingerprint>() {
            return Ok(KeySelector::Fingerprint(fingerprint));
        }
        PublicKey::from_openssh(text)
            .map(KeySelector::Key)
            .map_err(|_| KeyError::BadSelector)
    }

    /// True when `key` is the selected key.
    pub fn matches(&self, key: &PublicKey) -> bool {
        match self {
            KeySelector::Fingerprint(fingerprint) => {
                key.fingerprint(fingerprint.algorithm()) == *fingerprint
            }
            KeySelector::Key(selected) => same_key(selected, key),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Two fixed ed25519 public keys (test material only, no private halves kept anywhere).
    pub(crate) const KEY_A: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ9NukgHM+WEyFi+vVy37vfmBBJPvgqQHHAuWkJZGN8c a@test";
    pub(crate) const KEY_B: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJfzX2JAZcl5BYuiayJ9w3nxF6OurnXpVqq0HLpIDlUL b@test";

    #[test]
    fn parses_and_matches_ignoring_comment() {
        let a = parse_authorized_key(KEY_A).unwrap();
        let a_renamed = parse_authorized_key(&KEY_A.replace("a@test", "other")).unwrap();
        let b = parse_authorized_key(KEY_B).unwrap();
        assert!(same_key(&a, &a_renamed));
        assert!(!same_key(&a, &b));
        assert_eq!(to_openssh_line(&a).unwrap(), KEY_A);
    }

    #[test]
    fn unparsable_keys_are_errors() {
        assert!(matches!(
            parse_authorized_key("ssh-ed25519 notbase64"),
            Err(KeyError::Unparsable(_))
        ));
        assert!(parse_authorized_key("").is_err());
    }

    #[test]
    fn selector_accepts_ssh_keygen_fingerprints_and_key_lines() {
        let a = parse_authorized_key(KEY_A).unwrap();
        let b = parse_authorized_key(KEY_B).unwrap();
        let printed = fingerprint(&a);
        // What `ssh-keygen -lf` printed for KEY_A.
        assert_eq!(
            printed,
            "SHA256:wTpe5L+t32GmxCIhzeXkEsPZV5/ydWkutI47rFGBwzo"
        );
        let by_fingerprint = KeySelector::parse(&printed).unwrap();
        assert!(by_fingerprint.matches(&a));
        assert!(!by_fingerprint.matches(&b));
        let by_sha512 = KeySelector::parse(&a.fingerprint(HashAlg::Sha512).to_string()).unwrap();
        assert!(by_sha512.matches(&a));
        let by_key = KeySelector::parse(KEY_B).unwrap();
        assert!(by_key.matches(&b));
        assert!(matches!(
            KeySelector::parse("MD5:aa:bb"),
            Err(KeyError::BadSelector)
        ));
    }
}
