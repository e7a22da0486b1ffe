//! Key material and other secret files: the one place ferryd writes a private file and judges
//! whether a secret file's permission bits expose it.
//!
//! It sits below `auth` and both front ends (it names no other ferryd module), so the users
//! file (`auth::UserDb`), the FTPS certificate ([`certificate`]), the SSH host keys
//! ([`host_keys`]), `server`'s start-up checks and `ferryd init` all write and check their
//! secrets the same way.

pub mod certificate;
pub mod host_keys;
pub mod s3_credentials;

use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Who may read a file ferryd writes (the process umask still applies on top).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Only the owner: private keys, password hashes (mode 0600).
    Owner,
    /// Anyone: a certificate, which every client sees anyway (mode 0644).
    Everyone,
}

impl Audience {
    fn mode(self) -> u32 {
        match self {
            Audience::Owner => 0o600,
            Audience::Everyone => 0o644,
        }
    }
}

/// Writes `contents` to a file that must not exist yet, with `audience`'s mode from the moment
/// it exists, and fsyncs it. `create_new` also refuses to follow a symlink planted at `path`,
/// so nothing already there is ever replaced or written through.
pub fn write_new(path: &Path, contents: &[u8], audience: Audience) -> io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(audience.mode())
        .open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// Creates the directories above `path` that are missing (generated keys may live in a
/// directory nobody made yet).
pub fn create_parent_dirs(path: &Path) -> io::Result<()> {
    match path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        Some(parent) => std::fs::create_dir_all(parent),
        None => Ok(()),
    }
}

/// A file's permission bits, read once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileMode(u32);

impl FileMode {
    /// The mode of the file at `path` (following symlinks, as a later read would).
    pub fn of(path: &Path) -> io::Result<FileMode> {
        Ok(FileMode(
            std::fs::metadata(path)?.permissions().mode() & 0o7777,
        ))
    }

    /// The permission bits (`0o640`, …).
    pub fn bits(self) -> u32 {
        self.0
    }

    /// Users outside the owner and the group may read or change it.
    pub fn is_open_to_others(self) -> bool {
        self.0 & 0o006 != 0
    }

    /// Anyone but the owner has any access (the group included).
    pub fn is_open_beyond_owner(self) -> bool {
        self.0 & 0o077 != 0
    }
}

/// A secret file is readable or writable by users other than the owner and group.
#[derive(Debug, thiserror::Error)]
#[error(
    "{key} = {path}: mode {mode:o} lets other users read or change it; \
     run `chmod 600 {path}` (or 640 to share it with a group)"
)]
pub struct ExposedFileError {
    /// The config key naming the file.
    pub key: &'static str,
    /// The file.
    pub path: PathBuf,
    /// Its permission bits.
    pub mode: u32,
}

/// Refuses a secret file (private key, users file with password hashes) that users other than
/// its owner and group may read or change: a world-readable key is as good as published, and a
/// world-writable one can be swapped for an attacker's. A missing file passes; whoever reads
/// it reports that. Group access is allowed because sharing a TLS key through a group
/// (`ssl-cert`, a deploy hook's `chgrp`) is the usual way to hand it to a service user.
pub fn check_private_file(key: &'static str, path: &Path) -> Result<(), ExposedFileError> {
    match FileMode::of(path) {
        Ok(mode) if mode.is_open_to_others() => Err(ExposedFileError {
            key,
            path: path.to_owned(),
            mode: mode.bits(),
        }),
        _ => Ok(()),
    }
}

/// Why a secret file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// Others may read or change it.
    #[error(transparent)]
    Exposed(#[from] ExposedFileError),
    /// It cannot be read.
    #[error("{0}")]
    Read(#[from] std::io::Error),
    /// It holds nothing (after the trailing newline).
    #[error("the file is empty")]
    Empty,
}

/// A shared secret (a webhook's HMAC key) in `path` (named `key` in messages); the caller keeps it zeroized.
pub fn read_secret(key: &'static str, path: &Path) -> Result<Vec<u8>, SecretError> {
    check_private_file(key, path)?;
    let mut bytes = std::fs::read(path)?;
    while bytes.last().is_some_and(|b| matches!(b, b'\n' | b'\r')) {
        bytes.pop();
    }
    if bytes.is_empty() {
        return Err(SecretError::Empty);
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chmod(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn a_private_file_is_created_0600_and_a_public_one_0644() {
        let dir = tempfile::tempdir().unwrap();
        let private = dir.path().join("key");
        let public = dir.path().join("cert");
        write_new(&private, b"secret", Audience::Owner).unwrap();
        write_new(&public, b"cert", Audience::Everyone).unwrap();
        assert_eq!(FileMode::of(&private).unwrap().bits(), 0o600);
        // The umask may take bits away from 0644, never add any.
        assert_eq!(FileMode::of(&public).unwrap().bits() & !0o644, 0);
        assert_eq!(std::fs::read(&private).unwrap(), b"secret");
    }

    #[test]
    fn an_existing_file_is_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "old").unwrap();
        let error = write_new(&path, b"new", Audience::Owner).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
    }

    #[test]
    fn a_symlink_at_the_path_is_not_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        let link = dir.path().join("key");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(write_new(&link, b"secret", Audience::Owner).is_err());
        assert!(!target.exists());
    }

    #[test]
    fn missing_parent_directories_are_created() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/key");
        create_parent_dirs(&path).unwrap();
        write_new(&path, b"k", Audience::Owner).unwrap();
        create_parent_dirs(Path::new("relative-without-parent")).unwrap();
    }

    #[test]
    fn a_world_readable_or_writable_secret_is_refused_naming_key_and_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ftps-key.pem");
        std::fs::write(&path, "k").unwrap();
        for mode in [0o604, 0o602, 0o644, 0o666] {
            chmod(&path, mode);
            let error = check_private_file("ftps.key", &path).unwrap_err();
            assert_eq!(error.mode, mode);
            assert_eq!(error.path, path);
            let text = error.to_string();
            assert!(text.contains("ftps.key = "), "{text}");
            assert!(text.contains("ftps-key.pem"), "{text}");
            assert!(text.contains(&format!("mode {mode:o}")), "{text}");
        }
    }

    #[test]
    fn owner_and_group_access_pass_as_does_a_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "k").unwrap();
        for mode in [0o600, 0o400, 0o640, 0o660, 0o601] {
            chmod(&path, mode);
            assert!(check_private_file("ftps.key", &path).is_ok(), "{mode:o}");
        }
        assert!(check_private_file("ftps.key", &dir.path().join("missing")).is_ok());
    }

    #[test]
    fn group_access_counts_as_beyond_the_owner_but_not_as_open_to_others() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.toml");
        std::fs::write(&path, "").unwrap();
        chmod(&path, 0o640);
        let mode = FileMode::of(&path).unwrap();
        assert!(mode.is_open_beyond_owner());
        assert!(!mode.is_open_to_others());
        chmod(&path, 0o600);
        assert!(!FileMode::of(&path).unwrap().is_open_beyond_owner());
    }

    #[test]
    fn a_private_secret_is_read_without_its_newline_and_an_exposed_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hook.secret");
        std::fs::write(&path, b"s3cret\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_secret("k", &path).unwrap(), b"s3cret");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            read_secret("k", &path),
            Err(SecretError::Exposed(_))
        ));
        std::fs::write(&path, b"\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(matches!(read_secret("k", &path), Err(SecretError::Empty)));
    }
}
