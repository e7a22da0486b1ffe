//! Pinned TLS client certificates for FTPS logins: the SHA-256 fingerprints listed in the users
//! file, and how a certificate combines with the password.
//!
//! Trust comes from the pin alone. No certificate authority is consulted and neither the issuer,
//! the names nor the validity dates matter: a partner hands over the fingerprint of the
//! certificate they will present (out of band, like an SSH public key), and removing the
//! fingerprint is how access is revoked. The TLS layer has already proved that the client holds
//! the certificate's private key before a fingerprint reaches [`super::Authenticator`].
//!
//! Fingerprints are accepted as 64 hex digits, with or without a `:` between bytes, in either
//! case, optionally prefixed with `sha256:` (or `SHA256 Fingerprint=` as `openssl x509
//! -fingerprint -sha256` prints it). They are stored and shown in one form,
//! `sha256:AB:CD:…` (upper case), so a file written back compares equal to what was read.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Bytes in a SHA-256 fingerprint.
pub const FINGERPRINT_BYTES: usize = 32;

/// The prefix of the canonical text form.
const CANONICAL_PREFIX: &str = "sha256:";

/// Prefixes an admin may paste in front of the hex digits (compared case-insensitively).
const ACCEPTED_PREFIXES: &[&str] = &["sha256 fingerprint=", "sha256:", "sha256="];

/// The SHA-256 digest of a DER-encoded X.509 certificate.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CertificateFingerprint([u8; FINGERPRINT_BYTES]);

impl CertificateFingerprint {
    /// The fingerprint of a certificate in DER form (what TLS sends on the wire).
    pub fn of_der(der: &[u8]) -> CertificateFingerprint {
        CertificateFingerprint(Sha256::digest(der).into())
    }

    /// Parses the text forms listed in the module documentation.
    pub fn parse(text: &str) -> Result<CertificateFingerprint, FingerprintError> {
        let text = text.trim();
        let digits = ACCEPTED_PREFIXES
            .iter()
            .find_map(|prefix| strip_prefix_ignoring_case(text, prefix))
            .unwrap_or(text);
        if let Some((label, _)) = digits.split_once([':', '=']) {
            // "sha1:…" or "md5=…": a digest we do not accept, rather than bad hex.
            if label.len() > 2 && !label.bytes().all(|byte| byte.is_ascii_hexdigit()) {
                return Err(FingerprintError::UnsupportedDigest(label.to_owned()));
            }
        }
        let hex = if digits.contains(':') {
            let groups: Vec<&str> = digits.split(':').collect();
            if groups.iter().any(|group| group.len() != 2) {
                return Err(FingerprintError::BadGrouping);
            }
            groups.concat()
        } else {
            digits.to_owned()
        };
        if let Some(bad) = hex.chars().find(|c| !c.is_ascii_hexdigit()) {
            return Err(FingerprintError::NotHex(bad));
        }
        let mut bytes = [0u8; FINGERPRINT_BYTES];
        hex::decode_to_slice(&hex, &mut bytes)
            .map_err(|_| FingerprintError::WrongLength { digits: hex.len() })?;
        Ok(CertificateFingerprint(bytes))
    }

    /// The raw digest.
    pub fn as_bytes(&self) -> &[u8; FINGERPRINT_BYTES] {
        &self.0
    }
}

impl fmt::Display for CertificateFingerprint {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(CANONICAL_PREFIX)?;
        for (index, byte) in self.0.iter().enumerate() {
            if index > 0 {
                formatter.write_str(":")?;
            }
            write!(formatter, "{byte:02X}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for CertificateFingerprint {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, formatter)
    }
}

impl FromStr for CertificateFingerprint {
    type Err = FingerprintError;

    fn from_str(text: &str) -> Result<CertificateFingerprint, FingerprintError> {
        CertificateFingerprint::parse(text)
    }
}

/// Why a fingerprint could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FingerprintError {
    /// A digest other than SHA-256 was named.
    #[error("{0:?} fingerprints are not accepted; give the SHA-256 fingerprint")]
    UnsupportedDigest(String),
    /// Colons that do not separate single bytes.
    #[error("separate every byte (two hex digits) with ':', or use no separators at all")]
    BadGrouping,
    /// A character that is not a hex digit.
    #[error("{0:?} is not a hex digit")]
    NotHex(char),
    /// Not 32 bytes.
    #[error("a SHA-256 fingerprint has 64 hex digits, not {digits}")]
    WrongLength {
        /// How many hex digits were given.
        digits: usize,
    },
}

/// How a user's FTPS login combines a pinned client certificate with the password
/// (`tls_client_certificate_login` in the users file). SFTP logins ignore it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CertificateLogin {
    /// The password alone, as without certificates; a presented certificate is ignored.
    #[default]
    Password,
    /// A pinned certificate alone: `USER` is answered with 232 and no password is asked for.
    Certificate,
    /// A pinned certificate and then the password.
    CertificateAndPassword,
}

impl CertificateLogin {
    /// Every mode, for help texts.
    pub const ALL: [CertificateLogin; 3] = [
        CertificateLogin::Password,
        CertificateLogin::Certificate,
        CertificateLogin::CertificateAndPassword,
    ];

    /// The users-file spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            CertificateLogin::Password => "password",
            CertificateLogin::Certificate => "certificate",
            CertificateLogin::CertificateAndPassword => "certificate_and_password",
        }
    }

    /// True when an FTPS login must present one of the user's pinned certificates.
    pub fn requires_certificate(self) -> bool {
        self != CertificateLogin::Password
    }

    /// True for the default, which the users file leaves out.
    pub fn is_password(&self) -> bool {
        *self == CertificateLogin::Password
    }
}

impl fmt::Display for CertificateLogin {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

impl FromStr for CertificateLogin {
    type Err = UnknownCertificateLogin;

    fn from_str(text: &str) -> Result<CertificateLogin, UnknownCertificateLogin> {
        CertificateLogin::ALL
            .into_iter()
            .find(|mode| mode.as_str() == text)
            .ok_or_else(|| UnknownCertificateLogin(text.to_owned()))
    }
}

/// A certificate login mode with an unknown name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown certificate login {0:?} (known: password, certificate, certificate_and_password)")]
pub struct UnknownCertificateLogin(String);

fn strip_prefix_ignoring_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90112233445566778899aabbccddeeff00";
    const CANONICAL: &str = "sha256:A1:B2:C3:D4:E5:F6:07:18:29:3A:4B:5C:6D:7E:8F:90:\
                             11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00";

    fn check(text: &str, expected: Result<&str, FingerprintError>) {
        let parsed = CertificateFingerprint::parse(text).map(|fp| fp.to_string());
        assert_eq!(parsed, expected.map(str::to_owned), "{text:?}");
    }

    #[test]
    fn every_accepted_spelling_has_one_canonical_form() {
        let colons = CANONICAL.trim_start_matches("sha256:");
        for text in [
            HEX,
            &HEX.to_uppercase(),
            colons,
            &colons.to_lowercase(),
            CANONICAL,
            &CANONICAL.to_uppercase(),
            &format!("sha256={HEX}"),
            &format!("SHA256 Fingerprint={colons}"),
            &format!("  {CANONICAL}\n"),
        ] {
            check(text, Ok(CANONICAL));
        }
    }

    #[test]
    fn the_canonical_form_parses_back_to_the_same_fingerprint() {
        let fingerprint = CertificateFingerprint::of_der(b"not really a certificate");
        let text = fingerprint.to_string();
        assert!(text.starts_with("sha256:"));
        assert_eq!(text.len(), "sha256:".len() + 32 * 3 - 1);
        assert_eq!(text.parse::<CertificateFingerprint>(), Ok(fingerprint));
    }

    #[test]
    fn malformed_fingerprints_say_what_is_wrong() {
        check(
            &HEX[..62],
            Err(FingerprintError::WrongLength { digits: 62 }),
        );
        check(
            &format!("{HEX}00"),
            Err(FingerprintError::WrongLength { digits: 66 }),
        );
        check("", Err(FingerprintError::WrongLength { digits: 0 }));
        check(&HEX.replace('a', "g"), Err(FingerprintError::NotHex('g')));
        check("A1B:2C", Err(FingerprintError::BadGrouping));
        check(
            &format!("{}:", CANONICAL),
            Err(FingerprintError::BadGrouping),
        );
        check(
            "sha1:AB:CD",
            Err(FingerprintError::UnsupportedDigest("sha1".to_owned())),
        );
        check(
            "md5=abcd",
            Err(FingerprintError::UnsupportedDigest("md5".to_owned())),
        );
        check("sha256:", Err(FingerprintError::WrongLength { digits: 0 }));
    }

    #[test]
    fn of_der_is_the_sha256_of_the_bytes() {
        // SHA-256 of the empty string.
        assert_eq!(
            hex::encode(CertificateFingerprint::of_der(b"").as_bytes()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn login_modes_parse_and_print_their_file_names() {
        for mode in CertificateLogin::ALL {
            assert_eq!(mode.as_str().parse::<CertificateLogin>(), Ok(mode));
        }
        assert!("certificate-and-password"
            .parse::<CertificateLogin>()
            .is_err());
        assert!(!CertificateLogin::default().requires_certificate());
        assert!(CertificateLogin::CertificateAndPassword.requires_certificate());
    }
}
