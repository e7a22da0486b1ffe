//! First start: create the data and state directories and, when asked, a bootstrap user.
//!
//! The quick-start config asks for a bootstrap user so a fresh clone is usable at once; its
//! random password is shown exactly once, on the terminal that started the server.

use std::path::Path;

use crate::auth::{password, UserDb, UserRecord};
use crate::config::{Config, LeftoverUploads};
use crate::key_material::check_private_file;

use super::error::StartError;

/// A user created at start-up because the users file had none.
#[derive(Debug, Clone)]
pub struct BootstrapUser {
    /// The user name from `server.bootstrap_user`.
    pub name: String,
    /// The generated password (shown once, never logged).
    pub password: String,
}

/// The directories start creates when missing, with their config keys and modes.
pub(super) fn directories(config: &Config) -> Vec<(&'static str, &Path, u32)> {
    let server = &config.server;
    let mut list = vec![
        ("server.data_dir", server.data_dir.as_path(), 0o750),
        ("server.state_dir", server.state_dir.as_path(), 0o700),
    ];
    // Created now, before the sandbox: it allows only directories that exist.
    if server.leftover_uploads == LeftoverUploads::Move {
        list.push((
            "server.leftover_uploads_dir",
            server.leftover_uploads_dir.as_path(),
            0o700,
        ));
    }
    list
}

/// What start does with a configured directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DirectoryPlan {
    /// It exists and can be listed.
    Use,
    /// It is missing and can be created.
    Create,
}

/// Decides, without changing anything, whether `path` can be used or created: `serve` acts on
/// the answer and `check-config` reports it, so both refuse the same directories.
pub(super) fn directory_plan(key: &'static str, path: &Path) -> Result<DirectoryPlan, StartError> {
    let error = |source| StartError::Directory {
        key,
        path: path.to_owned(),
        source,
    };
    match std::fs::metadata(path) {
        Ok(metadata) if metadata.is_dir() => {
            // Fail here, with the key name, rather than at the first upload.
            std::fs::read_dir(path).map_err(error)?;
            Ok(DirectoryPlan::Use)
        }
        Ok(_) => Err(error(std::io::ErrorKind::NotADirectory.into())),
        Err(missing) if missing.kind() == std::io::ErrorKind::NotFound => {
            let ancestor = path
                .ancestors()
                .skip(1)
                .find(|dir| !dir.as_os_str().is_empty() && std::fs::metadata(dir).is_ok())
                .unwrap_or(Path::new("."));
            writable_directory(ancestor).map_err(|source| {
                error(std::io::Error::new(
                    source.kind(),
                    format!("cannot create it in {}: {source}", ancestor.display()),
                ))
            })?;
            Ok(DirectoryPlan::Create)
        }
        Err(other) => Err(error(other)),
    }
}

/// Whether this process may create entries in `dir` (root passes as the kernel would let it).
pub(super) fn writable_directory(dir: &Path) -> std::io::Result<()> {
    if !std::fs::metadata(dir)?.is_dir() {
        return Err(std::io::ErrorKind::NotADirectory.into());
    }
    rustix::fs::access(
        dir,
        rustix::fs::Access::WRITE_OK | rustix::fs::Access::EXEC_OK,
    )
    .map_err(std::io::Error::from)
}

pub(super) fn prepare_directories(config: &Config) -> Result<(), StartError> {
    use std::os::unix::fs::DirBuilderExt;
    for (key, path, mode) in directories(config) {
        if directory_plan(key, path)? == DirectoryPlan::Create {
            let error = |source| StartError::Directory {
                key,
                path: path.to_owned(),
                source,
            };
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(mode)
                .create(path)
                .map_err(error)?;
            std::fs::read_dir(path).map(drop).map_err(error)?;
        }
    }
    Ok(())
}

/// The users file, parsed and refused when others may read it.
pub(super) fn load_users(config: &Config) -> Result<UserDb, StartError> {
    // Checked after it parsed, so a broken file is reported as such.
    let users = UserDb::load(&config.auth.users_file)?;
    check_private_file("auth.users_file", &config.auth.users_file)?;
    Ok(users)
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
