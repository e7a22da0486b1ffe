//! First start: create the data and state directories and, when asked, a bootstrap user.
//!
//! The quick-start config asks for a bootstrap user so a fresh clone is usable at once; its
//! random password is shown exactly once, on the terminal that started the server.

use std::path::Path;

use crate::auth::{password, UserDb, UserRecord};
use crate::config::{Config, LeftoverUploads};

use super::{ExposedFileError, StartError};

/// A user created at start-up because the users file had none.
#[derive(Debug, Clone)]
pub struct BootstrapUser {
    /// The user name from `server.bootstrap_user`.
    pub name: String,
    /// The generated password (shown once, never logged).
    pub password: String,
}

pub(super) fn prepare_directories(config: &Config) -> Result<(), StartError> {
    create_directory("server.data_dir", &config.server.data_dir, 0o750)?;
    create_directory("server.state_dir", &config.server.state_dir, 0o700)?;
    // Now, before the sandbox: it allows only directories that exist.
    if config.server.leftover_uploads == LeftoverUploads::Move {
        create_directory(
            "server.leftover_uploads_dir",
            &config.server.leftover_uploads_dir,
            0o700,
        )?;
    }
    Ok(())
}

fn create_directory(key: &'static str, path: &Path, mode: u32) -> Result<(), StartError> {
    use std::os::unix::fs::DirBuilderExt;
    let error = |source| StartError::Directory {
        key,
        path: path.to_owned(),
        source,
    };
    if !path.is_dir() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(mode)
            .create(path)
            .map_err(error)?;
    }
    // Fail here, with the key name, rather than at the first upload.
    std::fs::read_dir(path).map(drop).map_err(error)
}

/// Refuses a secret file (private key, users file with password hashes) that users other than
/// its owner and group may read or change: a world-readable key is as good as published, and a
/// world-writable one can be swapped for an attacker's. A missing file passes; whoever reads
/// it reports that. Group access is allowed because sharing a TLS key through a group
/// (`ssl-cert`, a deploy hook's `chgrp`) is the usual way to hand it to a service user.
pub(super) fn check_private_file(key: &'static str, path: &Path) -> Result<(), ExposedFileError> {
    use std::os::unix::fs::PermissionsExt;
    let Ok(metadata) = std::fs::metadata(path) else {
        return Ok(());
    };
    let mode = metadata.permissions().mode() & 0o7777;
    if mode & 0o006 != 0 {
        return Err(ExposedFileError {
            key,
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

pub(super) fn ensure_bootstrap_user(
    config: &Config,
    users: &mut UserDb,
) -> Result<Option<BootstrapUser>, StartError> {
    let Some(name) = &config.server.bootstrap_user else {
        return Ok(None);
    };
    if !users.is_empty() {
        return Ok(None);
    }
    let password = password::generate_password();
    let hash = password::hash_password(&password)
        .map_err(|error| StartError::Bootstrap(error.to_string()))?;
    let mut record =
        UserRecord::named(name).map_err(|error| StartError::Bootstrap(error.to_string()))?;
    record.password = Some(hash);
    users
        .add(record)
        .map_err(|error| StartError::Bootstrap(error.to_string()))?;
    users.save(&config.auth.users_file)?;
    tracing::info!(user = %name, "created the bootstrap user (password shown once on stdout)");
    Ok(Some(BootstrapUser {
        name: name.clone(),
        password,
    }))
}
