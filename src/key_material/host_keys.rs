//! SSH host keys: load them, or generate missing ones on first start.
//!
//! The key type comes from the file name (`…ed25519…`, `…ecdsa…`, `…rsa…`), else ed25519.
//! RSA is generated only when a file name asks for it: the `rsa` crate's timing advisory
//! (RUSTSEC-2023-0071) is unpatched, and ed25519 plus ECDSA P-256 cover every current client.
//! Keys are written in OpenSSH format with mode 0600, so `ssh-keygen -lf` shows the same
//! fingerprint ferryd logs.

use std::path::{Path, PathBuf};

use russh::keys::{Algorithm, EcdsaCurve, HashAlg, PrivateKey};

use super::Audience;

/// A host key could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum HostKeyError {
    /// Reading or writing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not an unencrypted OpenSSH/PKCS#8 private key.
    #[error("{path}: not a usable private key: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The parser's words.
        message: String,
    },
    /// Key generation failed.
    #[error("{path}: cannot generate key: {message}")]
    Generate {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

/// The kinds of host key ferryd generates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKeyKind {
    /// Ed25519 (the default).
    Ed25519,
    /// ECDSA on NIST P-256, for older libssh2-based clients.
    EcdsaP256,
    /// RSA 3072, only on request.
    Rsa,
}

impl HostKeyKind {
    /// The kind a file name asks for.
    pub fn for_path(path: &Path) -> HostKeyKind {
        let name = path
            .file_name()
            .map(|name| name.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        if name.contains("ecdsa") {
            HostKeyKind::EcdsaP256
        } else if name.contains("rsa") {
            HostKeyKind::Rsa
        } else {
            HostKeyKind::Ed25519
        }
    }

    fn algorithm(self) -> Algorithm {
        match self {
            HostKeyKind::Ed25519 => Algorithm::Ed25519,
            HostKeyKind::EcdsaP256 => Algorithm::Ecdsa {
                curve: EcdsaCurve::NistP256,
            },
            HostKeyKind::Rsa => Algorithm::Rsa { hash: None },
        }
    }
}

/// Writes a new key of `kind` to `path`; refuses to overwrite.
pub fn generate(path: &Path, kind: HostKeyKind) -> Result<(), HostKeyError> {
    let generate_error = |message: String| HostKeyError::Generate {
        path: path.to_owned(),
        message,
    };
    let key = if kind == HostKeyKind::Rsa {
        let mut rng = russh::keys::key::safe_rng();
        let private = russh::keys::ssh_key::private::RsaKeypair::random(&mut rng, 3072)
            .map_err(|error| generate_error(error.to_string()))?;
        PrivateKey::from(private)
    } else {
        PrivateKey::random(&mut russh::keys::key::safe_rng(), kind.algorithm())
            .map_err(|error| generate_error(error.to_string()))?
    };
    let text = key
        .to_openssh(russh::keys::ssh_key::LineEnding::LF)
        .map_err(|error| generate_error(error.to_string()))?;
    write_new(path, text.as_bytes())
}

/// Loads an unencrypted private key.
pub fn load(path: &Path) -> Result<PrivateKey, HostKeyError> {
    let text = std::fs::read_to_string(path).map_err(|source| HostKeyError::Io {
        path: path.to_owned(),
        source,
    })?;
    russh::keys::decode_secret_key(&text, None).map_err(|error| HostKeyError::Invalid {
        path: path.to_owned(),
        message: error.to_string(),
    })
}

/// The key's SHA-256 fingerprint as `ssh-keygen -lf` prints it (`SHA256:…`).
pub fn fingerprint(key: &PrivateKey) -> String {
    key.public_key().fingerprint(HashAlg::Sha256).to_string()
}

fn write_new(path: &Path, contents: &[u8]) -> Result<(), HostKeyError> {
    super::create_parent_dirs(path)
        .and_then(|()| super::write_new(path, contents, Audience::Owner))
        .map_err(|source| HostKeyError::Io {
            path: path.to_owned(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn kind_follows_file_name() {
        assert_eq!(
            HostKeyKind::for_path(Path::new("ssh_host_ecdsa_key")),
            HostKeyKind::EcdsaP256
        );
        assert_eq!(
            HostKeyKind::for_path(Path::new("/x/ssh_host_rsa_key")),
            HostKeyKind::Rsa
        );
        assert_eq!(
            HostKeyKind::for_path(Path::new("hostkey")),
            HostKeyKind::Ed25519
        );
    }

    #[test]
    fn generated_keys_load_with_0600_and_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["ssh_host_ed25519_key", "ssh_host_ecdsa_key"] {
            let path = dir.path().join(name);
            generate(&path, HostKeyKind::for_path(&path)).unwrap();
            let key = load(&path).unwrap();
            assert!(fingerprint(&key).starts_with("SHA256:"));
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            assert!(generate(&path, HostKeyKind::Ed25519).is_err());
            assert_eq!(fingerprint(&load(&path).unwrap()), fingerprint(&key));
        }
    }

    #[test]
    fn garbage_key_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad_key");
        std::fs::write(&path, "nope").unwrap();
        let error = load(&path).unwrap_err();
        assert!(error.to_string().contains("bad_key"), "{error}");
    }
}
