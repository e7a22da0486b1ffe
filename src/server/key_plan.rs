//! The FTPS certificate and SSH host keys at start: load them, generate the missing ones where
//! the config leaves them at their defaults, refuse everything else.
//!
//! `serve` and `check-config` share the decision ([`tls_plan`], [`host_key_plan`]) and the
//! loading, so check-config refuses exactly the key material serve would refuse, and never
//! writes anything itself. Reading, generating and mode checks belong to `crate::key_material`;
//! this module only decides, from the config, which of them start does.

use std::path::Path;

use crate::config::Config;
use crate::key_material::certificate::{self, CertificateError};
use crate::key_material::{check_private_file, host_keys};

use super::error::StartError;

/// What start does with a key file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FilePlan {
    /// It exists: load it.
    Load,
    /// It is missing at its default path in `state_dir`: generate it.
    Generate,
}

/// Whether FTPS listens at all, and so needs a certificate.
pub(super) fn ftps_listens(config: &Config) -> bool {
    let ftps = &config.ftps;
    ftps.enabled && (ftps.listen.is_some() || ftps.implicit_listen.is_some())
}

/// Whether SFTP listens at all, and so needs host keys.
pub(super) fn sftp_listens(config: &Config) -> bool {
    config.sftp.enabled && config.sftp.listen.is_some()
}

/// The certificate and key go together: both are loaded, or both generated.
pub(super) fn tls_plan(config: &Config) -> Result<FilePlan, StartError> {
    let ftps = &config.ftps;
    match (ftps.cert.exists(), ftps.key.exists()) {
        (true, true) => Ok(FilePlan::Load),
        (true, false) => Err(missing_partner(
            &ftps.key,
            "certificate exists but its key is missing",
        )),
        (false, true) => Err(missing_partner(
            &ftps.cert,
            "key exists but its certificate is missing",
        )),
        (false, false) => {
            for (key, path, name) in [
                ("ftps.cert", &ftps.cert, "ftps-cert.pem"),
                ("ftps.key", &ftps.key, "ftps-key.pem"),
            ] {
                if !config.generated_when_missing(path) {
                    return Err(missing_file(config, key, path, name));
                }
            }
            Ok(FilePlan::Generate)
        }
    }
}

/// A host key is loaded when it exists and generated only at a default path.
pub(super) fn host_key_plan(config: &Config, path: &Path) -> Result<FilePlan, StartError> {
    if path.exists() {
        Ok(FilePlan::Load)
    } else if config.generated_when_missing(path) {
        Ok(FilePlan::Generate)
    } else {
        Err(missing_file(
            config,
            "sftp.host_keys",
            path,
            "ssh_host_ed25519_key",
        ))
    }
}

fn missing_partner(path: &Path, message: &str) -> StartError {
    StartError::Certificate(CertificateError::Pem {
        path: path.to_owned(),
        message: message.to_owned(),
    })
}

fn missing_file(config: &Config, key: &'static str, path: &Path, default: &str) -> StartError {
    StartError::MissingFile {
        key,
        path: path.to_owned(),
        default: config.server.state_dir.join(default),
    }
}

/// Loads the certificate the plan found (refusing a key others may read).
pub(super) fn load_tls(config: &Config) -> Result<certificate::CertifiedKey, StartError> {
    let ftps = &config.ftps;
    let tls = certificate::load(&ftps.cert, &ftps.key)?;
    check_private_file("ftps.key", &ftps.key)?;
    Ok(tls)
}

/// Loads one host key (refusing one others may read).
pub(super) fn load_host_key(path: &Path) -> Result<russh::keys::PrivateKey, StartError> {
    let key = host_keys::load(path)?;
    check_private_file("sftp.host_keys", path)?;
    Ok(key)
}

/// `serve`: the certificate, generated first when the plan says so.
pub(super) fn prepare_tls(
    config: &Config,
) -> Result<Option<certificate::CertifiedKey>, StartError> {
    if !ftps_listens(config) {
        return Ok(None);
    }
    let ftps = &config.ftps;
    if tls_plan(config)? == FilePlan::Generate {
        certificate::generate(&ftps.cert, &ftps.key, &certificate::default_names(&[]))?;
        tracing::info!(cert = %ftps.cert.display(), "generated a self-signed TLS certificate");
    }
    let tls = load_tls(config)?;
    tracing::info!(fingerprint = %tls.fingerprint(), "TLS certificate (SHA-256)");
    if !ftps.require_tls {
        tracing::warn!(
            "ftps.require_tls = false: passwords and files may cross the network unencrypted"
        );
    }
    Ok(Some(tls))
}

/// `serve`: every host key, generated first where the plan says so.
pub(super) fn prepare_host_keys(
    config: &Config,
) -> Result<Option<Vec<russh::keys::PrivateKey>>, StartError> {
    if !sftp_listens(config) {
        return Ok(None);
    }
    let mut keys = Vec::with_capacity(config.sftp.host_keys.len());
    for path in &config.sftp.host_keys {
        if host_key_plan(config, path)? == FilePlan::Generate {
            host_keys::generate(path, host_keys::HostKeyKind::for_path(path))?;
            tracing::info!(path = %path.display(), "generated an SSH host key");
        }
        let key = load_host_key(path)?;
        tracing::info!(
            algorithm = %key.algorithm(),
            fingerprint = %host_keys::fingerprint(&key),
            "SSH host key"
        );
        keys.push(key);
    }
    Ok(Some(keys))
}
