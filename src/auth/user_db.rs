//! `UserDb`: the users file in memory; load, atomic save, and the edits the CLI makes.
//!
//! The file format is documented in [`super::users_file`]. A missing file loads as an empty
//! database, so a fresh install can start and `ferryd user add` can create the file. Saving
//! writes a temporary file in the same directory with mode 0600, fsyncs it, renames it over the
//! target and fsyncs the directory, so a crash leaves either the old or the new file, never a
//! torn one, and password hashes are never world-readable, not even briefly. The private file
//! itself is written, and its mode judged, by `key_material`, as every other secret is.
//!
//! This is the only `auth` module that touches the file system.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use rand::Rng;
use russh::keys::PublicKey;

use crate::key_material::{self, Audience, FileMode};

use super::client_certificate::{CertificateFingerprint, CertificateLogin};
use super::password::{self, HashedPassword, PasswordError};
use super::public_key::{self, KeyError, KeySelector};
use super::user_record::UserRecord;
use super::users_file::{self, UserProblem, UsersFileError};
use super::users_file_render;

/// Why an edit to the database was refused.
#[derive(Debug, thiserror::Error)]
pub enum UserDbError {
    /// No user has this name.
    #[error("no user named {0:?}")]
    UnknownUser(String),
    /// A user with this name already exists.
    #[error("user {0:?} already exists")]
    DuplicateUser(String),
    /// The record breaks a rule of the users file.
    #[error("invalid user: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    InvalidUser(Vec<UserProblem>),
    /// The password was refused or could not be hashed.
    #[error(transparent)]
    Password(#[from] PasswordError),
    /// The key or fingerprint could not be parsed.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The user already has this key.
    #[error("user {user:?} already has key {fingerprint}")]
    KeyExists {
        /// The user.
        user: String,
        /// The key's SHA-256 fingerprint.
        fingerprint: String,
    },
    /// The user has no key matching the selector.
    #[error("user {0:?} has no such key")]
    KeyNotFound(String),
    /// The certificate is already pinned for the user.
    #[error("user {user:?} already has client certificate {fingerprint}")]
    CertificateExists {
        /// The user.
        user: String,
        /// The pinned fingerprint.
        fingerprint: CertificateFingerprint,
    },
    /// The certificate is not pinned for the user.
    #[error("user {user:?} has no client certificate {fingerprint}")]
    CertificateNotFound {
        /// The user.
        user: String,
        /// The fingerprint asked for.
        fingerprint: CertificateFingerprint,
    },
}

/// All users, in file order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UserDb {
    /// A `Vec`, not a map, so `get_mut` may change anything (even the name) without breaking an
    /// index; lookups are linear, which is negligible next to one argon2 verification.
    users: Vec<UserRecord>,
}

impl UserDb {
    /// An empty database.
    pub fn new() -> UserDb {
        UserDb::default()
    }

    /// Reads and validates the users file; a missing file is an empty database.
    pub fn load(path: &Path) -> Result<UserDb, UsersFileError> {
        match fs::read_to_string(path) {
            Ok(text) => {
                warn_if_readable_by_others(path);
                UserDb::parse(&text, path)
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(UserDb::new()),
            Err(source) => Err(UsersFileError::Read {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// Like [`UserDb::load`], but a missing file is an error.
    ///
    /// Used on reload: a file that vanished is more likely a mistake than a wish to lock
    /// everyone out, so the running database is kept.
    pub fn load_existing(path: &Path) -> Result<UserDb, UsersFileError> {
        let text = fs::read_to_string(path).map_err(|source| UsersFileError::Read {
            path: path.to_owned(),
            source,
        })?;
        warn_if_readable_by_others(path);
        UserDb::parse(&text, path)
    }

    /// Parses users-file text; `path` is only used in errors.
    pub fn parse(text: &str, path: &Path) -> Result<UserDb, UsersFileError> {
        Ok(UserDb {
            users: users_file::parse(text, path)?,
        })
    }

    /// Writes the database atomically with mode 0600 (see the module doc).
    pub fn save(&self, path: &Path) -> Result<(), UsersFileError> {
        let text = users_file_render::render(&self.users, path)?;
        write_atomically(path, text.as_bytes()).map_err(|source| UsersFileError::Write {
            path: path.to_owned(),
            source,
        })
    }

    /// Adds a user after checking the record and that the name is free.
    pub fn add(&mut self, user: UserRecord) -> Result<(), UserDbError> {
        if self.get(user.name.as_str()).is_some() {
            return Err(UserDbError::DuplicateUser(user.name.to_string()));
        }
        let problems = users_file::check_records(std::slice::from_ref(&user));
        if !problems.is_empty() {
            return Err(UserDbError::InvalidUser(problems));
        }
        self.users.push(user);
        Ok(())
    }

    /// Removes a user and returns the record.
    pub fn remove(&mut self, name: &str) -> Result<UserRecord, UserDbError> {
        let index = self
            .users
            .iter()
            .position(|user| user.name.as_str() == name)
            .ok_or_else(|| UserDbError::UnknownUser(name.to_owned()))?;
        Ok(self.users.remove(index))
    }

    /// The user with this exact name.
    pub fn get(&self, name: &str) -> Option<&UserRecord> {
        self.users.iter().find(|user| user.name.as_str() == name)
    }

    /// The user with this exact name, for editing; [`UserDb::save`] re-checks every record.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut UserRecord> {
        self.users
            .iter_mut()
            .find(|user| user.name.as_str() == name)
    }

    /// All users in file order.
    pub fn iter(&self) -> impl Iterator<Item = &UserRecord> {
        self.users.iter()
    }

    /// The number of users.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// True when there are no users.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// True when some enabled user has a password (the bootstrap flow creates one otherwise).
    pub fn has_user_with_password(&self) -> bool {
        self.users
            .iter()
            .any(|user| user.enabled && user.password.is_some())
    }

    /// Hashes `password` (argon2id, slow on purpose) and stores it for `name`.
    pub fn set_password(&mut self, name: &str, password: &str) -> Result<(), UserDbError> {
        let user = self.existing_mut(name)?;
        user.password = Some(password::hash_password(password)?);
        Ok(())
    }

    /// Stores an already computed hash for `name` (`None` removes the password).
    pub fn set_password_hash(
        &mut self,
        name: &str,
        hash: Option<HashedPassword>,
    ) -> Result<(), UserDbError> {
        self.existing_mut(name)?.password = hash;
        Ok(())
    }

    /// Adds an OpenSSH public key line to `name`; returns its `SHA256:` fingerprint.
    pub fn add_key(&mut self, name: &str, key_line: &str) -> Result<String, UserDbError> {
        let key = public_key::parse_authorized_key(key_line)?;
        let fingerprint = public_key::fingerprint(&key);
        let user = self.existing_mut(name)?;
        if user.has_key(&key) {
            return Err(UserDbError::KeyExists {
                user: name.to_owned(),
                fingerprint,
            });
        }
        user.keys.push(key);
        Ok(fingerprint)
    }

    /// Removes the key of `name` selected by a fingerprint as `ssh-keygen -lf` prints it
    /// (`SHA256:…`) or by the full key line; returns the removed key.
    pub fn remove_key(&mut self, name: &str, selector: &str) -> Result<PublicKey, UserDbError> {
        let selector = KeySelector::parse(selector)?;
        let user = self.existing_mut(name)?;
        let index = user
            .keys
            .iter()
            .position(|key| selector.matches(key))
            .ok_or_else(|| UserDbError::KeyNotFound(name.to_owned()))?;
        Ok(user.keys.remove(index))
    }

    /// Pins a TLS client certificate for `name` (FTPS).
    pub fn add_client_certificate(
        &mut self,
        name: &str,
        fingerprint: CertificateFingerprint,
    ) -> Result<(), UserDbError> {
        self.edit(name, |user| {
            if user.has_client_certificate(&fingerprint) {
                return Err(UserDbError::CertificateExists {
                    user: name.to_owned(),
                    fingerprint,
                });
            }
            user.tls_client_certificates.push(fingerprint);
            Ok(())
        })
    }

    /// Removes a pinned certificate; refused when it is the last one and the user's login mode
    /// needs a certificate (change the mode first), so an edit never locks a user out silently.
    pub fn remove_client_certificate(
        &mut self,
        name: &str,
        fingerprint: &CertificateFingerprint,
    ) -> Result<(), UserDbError> {
        self.edit(name, |user| {
            let before = user.tls_client_certificates.len();
            user.tls_client_certificates
                .retain(|pinned| pinned != fingerprint);
            if user.tls_client_certificates.len() == before {
                return Err(UserDbError::CertificateNotFound {
                    user: name.to_owned(),
                    fingerprint: *fingerprint,
                });
            }
            Ok(())
        })
    }

    /// Sets how `name`'s FTPS login uses certificates; a mode that needs one is refused until a
    /// certificate is pinned.
    pub fn set_certificate_login(
        &mut self,
        name: &str,
        mode: CertificateLogin,
    ) -> Result<(), UserDbError> {
        self.edit(name, |user| {
            user.tls_client_certificate_login = mode;
            Ok(())
        })
    }

    /// Applies `change` to a copy of `name`'s record and keeps it only if the result is valid.
    fn edit(
        &mut self,
        name: &str,
        change: impl FnOnce(&mut UserRecord) -> Result<(), UserDbError>,
    ) -> Result<(), UserDbError> {
        let user = self.existing_mut(name)?;
        let mut candidate = user.clone();
        change(&mut candidate)?;
        let problems = users_file::check_records(std::slice::from_ref(&candidate));
        if !problems.is_empty() {
            return Err(UserDbError::InvalidUser(problems));
        }
        *user = candidate;
        Ok(())
    }

    fn existing_mut(&mut self, name: &str) -> Result<&mut UserRecord, UserDbError> {
        self.get_mut(name)
            .ok_or_else(|| UserDbError::UnknownUser(name.to_owned()))
    }
}

/// Temp file beside `path`, fsync, rename over `path`, fsync the directory.
fn write_atomically(path: &Path, contents: &[u8]) -> io::Result<()> {
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(file_name);
    temp_name.push(format!(".{:016x}.tmp", rand::thread_rng().gen::<u64>()));
    let temp_path = directory.join(temp_name);

    // `write_new` refuses to follow a symlink an attacker might have planted at the temp name.
    let result = key_material::write_new(&temp_path, contents, Audience::Owner)
        .and_then(|()| fs::rename(&temp_path, path))
        .and_then(|()| sync_directory(&directory));
    if result.is_err() {
        // Best effort: the temp file is useless now, and its failure to vanish is not the error
        // worth reporting.
        let _ = fs::remove_file(&temp_path);
    }
    result
}

fn sync_directory(directory: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        fs::File::open(directory)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = directory;
        Ok(())
    }
}

/// Password hashes in a world-readable file invite offline cracking; say so, but still load.
fn warn_if_readable_by_others(path: &Path) {
    if let Ok(mode) = FileMode::of(path) {
        if mode.is_open_beyond_owner() {
            tracing::warn!(
                path = %path.display(),
                mode = format_args!("{:o}", mode.bits() & 0o777),
                "users file is readable by group or others; chmod 600 it"
            );
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::auth::password::cheap_hash_for_tests;
    use crate::auth::public_key::tests::{KEY_A, KEY_B};

    /// Writes raw users-file text, for tests elsewhere in `auth` (only this module touches disk).
    pub(crate) fn write_text(path: &Path, text: &str) {
        fs::write(path, text).unwrap();
    }

    /// Deletes a file, for tests elsewhere in `auth`.
    pub(crate) fn remove(path: &Path) {
        fs::remove_file(path).unwrap();
    }

    fn sample_db() -> UserDb {
        let mut db = UserDb::new();
        let mut alice = UserRecord::named("alice").unwrap();
        alice.password = Some(cheap_hash_for_tests("pw"));
        db.add(alice).unwrap();
        db.add(UserRecord::named("bob").unwrap()).unwrap();
        db.add_key("bob", KEY_A).unwrap();
        db
    }

    #[test]
    fn missing_file_loads_as_empty_but_not_for_reload() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.toml");
        assert!(UserDb::load(&path).unwrap().is_empty());
        assert!(matches!(
            UserDb::load_existing(&path),
            Err(UsersFileError::Read { .. })
        ));
    }

    #[test]
    fn save_then_load_round_trips_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.toml");
        let db = sample_db();
        db.save(&path).unwrap();
        assert_eq!(UserDb::load(&path).unwrap(), db);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Saving again replaces the file and leaves no temporary files behind.
        db.save(&path).unwrap();
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("users.toml")]);
    }

    #[test]
    fn save_refuses_records_broken_through_get_mut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.toml");
        let mut db = sample_db();
        db.get_mut("bob").unwrap().name = crate::auth::UserName::parse("alice").unwrap();
        assert!(matches!(
            db.save(&path),
            Err(UsersFileError::Invalid { .. })
        ));
        assert!(!path.exists());
    }

    #[test]
    fn add_remove_get() {
        let mut db = sample_db();
        assert!(matches!(
            db.add(UserRecord::named("alice").unwrap()),
            Err(UserDbError::DuplicateUser(_))
        ));
        let mut broken = UserRecord::named("carol").unwrap();
        broken.protocols.clear();
        assert!(matches!(db.add(broken), Err(UserDbError::InvalidUser(_))));
        assert!(UserRecord::named("no way").is_err());
        assert_eq!(db.remove("alice").unwrap().name.as_str(), "alice");
        assert!(db.get("alice").is_none());
        assert!(matches!(
            db.remove("alice"),
            Err(UserDbError::UnknownUser(_))
        ));
        assert_eq!(db.iter().count(), 1);
    }

    #[test]
    fn set_password_hashes_and_refuses_empty() {
        let mut db = sample_db();
        assert!(matches!(
            db.set_password("bob", ""),
            Err(UserDbError::Password(PasswordError::Empty))
        ));
        assert!(db.get("bob").unwrap().password.is_none());
        db.set_password("bob", "s3cret").unwrap();
        let hash = db.get("bob").unwrap().password.clone().unwrap();
        assert!(password::verify_password(hash.as_str(), "s3cret"));
        assert!(matches!(
            db.set_password("nobody", "x"),
            Err(UserDbError::UnknownUser(_))
        ));
    }

    #[test]
    fn keys_are_added_once_and_removed_by_fingerprint_or_line() {
        let mut db = sample_db();
        assert!(matches!(
            db.add_key("bob", KEY_A),
            Err(UserDbError::KeyExists { .. })
        ));
        let fingerprint = db.add_key("bob", KEY_B).unwrap();
        assert_eq!(
            fingerprint,
            "SHA256:vD+a6G8Gguys1awAOPMnAoNlcUyFghJutTgM9VeGT5c"
        );
        assert!(matches!(
            db.add_key("bob", "ssh-rsa nonsense"),
            Err(UserDbError::Key(_))
        ));
        let removed = db.remove_key("bob", &fingerprint).unwrap();
        assert_eq!(public_key::fingerprint(&removed), fingerprint);
        assert!(matches!(
            db.remove_key("bob", &fingerprint),
            Err(UserDbError::KeyNotFound(_))
        ));
        db.remove_key("bob", KEY_A).unwrap();
        assert!(db.get("bob").unwrap().keys.is_empty());
    }

    #[test]
    fn client_certificates_are_pinned_once_and_a_mode_never_locks_a_user_out() {
        let mut db = sample_db();
        let first = CertificateFingerprint::of_der(b"first");
        let second = CertificateFingerprint::of_der(b"second");
        assert!(matches!(
            db.set_certificate_login("alice", CertificateLogin::Certificate),
            Err(UserDbError::InvalidUser(_))
        ));
        db.add_client_certificate("alice", first).unwrap();
        assert!(matches!(
            db.add_client_certificate("alice", first),
            Err(UserDbError::CertificateExists { .. })
        ));
        db.add_client_certificate("alice", second).unwrap();
        db.set_certificate_login("alice", CertificateLogin::Certificate)
            .unwrap();
        db.remove_client_certificate("alice", &first).unwrap();
        assert!(matches!(
            db.remove_client_certificate("alice", &first),
            Err(UserDbError::CertificateNotFound { .. })
        ));
        // The last pin of a certificate-only user stays until the mode changes.
        assert!(matches!(
            db.remove_client_certificate("alice", &second),
            Err(UserDbError::InvalidUser(_))
        ));
        let alice = db.get("alice").unwrap();
        assert_eq!(alice.tls_client_certificates, [second]);
        assert_eq!(
            alice.tls_client_certificate_login,
            CertificateLogin::Certificate
        );
        db.set_certificate_login("alice", CertificateLogin::Password)
            .unwrap();
        db.remove_client_certificate("alice", &second).unwrap();
        assert!(matches!(
            db.add_client_certificate("nobody", first),
            Err(UserDbError::UnknownUser(_))
        ));
    }

    #[test]
    fn has_user_with_password_ignores_disabled_users() {
        let mut db = sample_db();
        assert!(db.has_user_with_password());
        db.get_mut("alice").unwrap().enabled = false;
        assert!(!db.has_user_with_password());
    }
}
