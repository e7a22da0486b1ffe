//! The FTPS server certificate: load it from PEM files, or generate a self-signed one.
//!
//! PEM parsing uses `rustls-pki-types` (rustls-pemfile is unmaintained). Generated keys are
//! written 0600 and never overwrite an existing file.

use std::path::{Path, PathBuf};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

use super::Audience;

/// The certificate or key could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not the PEM we need.
    #[error("{path}: {message}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// rcgen refused to build the certificate.
    #[error("cannot generate a certificate: {0}")]
    Generate(#[from] rcgen::Error),
}

/// A loaded certificate chain and its private key.
#[derive(Debug)]
pub struct CertifiedKey {
    /// Leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    /// The leaf's private key.
    pub key: PrivateKeyDer<'static>,
}

impl CertifiedKey {
    /// SHA-256 of the leaf certificate, as colon-separated hex (what browsers and FileZilla show).
    pub fn fingerprint(&self) -> String {
        self.chain
            .first()
            .map_or_else(String::new, |leaf| fingerprint(leaf))
    }
}

/// Loads the chain and key from PEM files.
pub fn load(cert_path: &Path, key_path: &Path) -> Result<CertifiedKey, CertificateError> {
    let cert_pem = read(cert_path)?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| pem_error(cert_path, format!("invalid certificate PEM: {error}")))?;
    if chain.is_empty() {
        return Err(pem_error(cert_path, "no CERTIFICATE block found".into()));
    }
    let key_pem = read(key_path)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|error| pem_error(key_path, format!("no usable private key: {error}")))?;
    Ok(CertifiedKey { chain, key })
}

/// Writes a new self-signed certificate (SAN = `names`) and its key; refuses to overwrite.
pub fn generate(
    cert_path: &Path,
    key_path: &Path,
    names: &[String],
) -> Result<(), CertificateError> {
    let certified = rcgen::generate_simple_self_signed(names.to_vec())?;
    write_new(
        key_path,
        certified.signing_key.serialize_pem().as_bytes(),
        Audience::Owner,
    )?;
    write_new(
        cert_path,
        certified.cert.pem().as_bytes(),
        Audience::Everyone,
    )
}

/// The names a generated certificate is issued for: this host's name, `localhost`, and
/// whatever the admin adds.
pub fn default_names(extra: &[String]) -> Vec<String> {
    let mut names = Vec::new();
    if let Ok(host) = gethostname::gethostname().into_string() {
        if !host.is_empty() {
            names.push(host);
        }
    }
    for name in ["localhost".to_owned(), "127.0.0.1".to_owned()]
        .iter()
        .chain(extra)
    {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    names
}

/// SHA-256 fingerprint of a DER certificate, as `AB:CD:…`.
pub fn fingerprint(certificate: &CertificateDer<'_>) -> String {
    let digest = Sha256::digest(certificate.as_ref());
    digest
        .iter()
        .map(|byte| format!("{byte:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn read(path: &Path) -> Result<Vec<u8>, CertificateError> {
    std::fs::read(path).map_err(|source| CertificateError::Io {
        path: path.to_owned(),
        source,
    })
}

fn pem_error(path: &Path, message: String) -> CertificateError {
    CertificateError::Pem {
        path: path.to_owned(),
        message,
    }
}

fn write_new(path: &Path, contents: &[u8], audience: Audience) -> Result<(), CertificateError> {
    super::create_parent_dirs(path)
        .and_then(|()| super::write_new(path, contents, audience))
        .map_err(|source| CertificateError::Io {
            path: path.to_owned(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_certificate_loads_and_is_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("sub/cert.pem");
        let key = dir.path().join("sub/key.pem");
        generate(&cert, &key, &default_names(&["ftp.example.com".into()])).unwrap();
        let loaded = load(&cert, &key).unwrap();
        assert_eq!(loaded.chain.len(), 1);
        assert_eq!(loaded.fingerprint().len(), 32 * 3 - 1);
        let before = std::fs::read(&cert).unwrap();
        assert!(generate(&cert, &key, &["x".into()]).is_err());
        assert_eq!(std::fs::read(&cert).unwrap(), before);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn garbage_is_a_clear_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        std::fs::write(&cert, "not pem").unwrap();
        std::fs::write(&key, "not pem").unwrap();
        let error = load(&cert, &key).unwrap_err();
        assert!(error.to_string().contains("cert.pem"), "{error}");
    }
}
