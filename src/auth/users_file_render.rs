//! Writing the users file: [`UserRecord`]s → TOML text, the inverse of
//! [`users_file::parse`](super::users_file::parse) (pure, like it; `user_db` does the I/O).

use std::io;
use std::num::NonZeroU64;
use std::path::Path;

use serde::Serialize;

use super::client_certificate::CertificateLogin;
use super::password::HashedPassword;
use super::public_key;
use super::user_record::{permission_names, FolderSource, ObjectLocation, UserRecord};
use super::users_file::{check_records, UsersFileError};
use crate::config::RawHook;

/// Written at the top of every saved file, since saving drops hand-written comments.
pub(crate) const HEADER: &str =
    "# ferryd users file. Managed by `ferryd user …`; comments are not kept.\n\
                      # Format: see docs/configuration.md, section \"The users file\".\n\n";

/// Renders records as users-file text. `path` is only used in errors.
pub fn render(users: &[UserRecord], path: &Path) -> Result<String, UsersFileError> {
    let problems = check_records(users);
    if !problems.is_empty() {
        return Err(UsersFileError::Invalid {
            path: path.to_owned(),
            problems,
        });
    }
    let mut saved = Vec::with_capacity(users.len());
    for user in users {
        let keys = user
            .keys
            .iter()
            .map(public_key::to_openssh_line)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| encode_error(path, error.to_string()))?;
        saved.push(SavedUser {
            name: user.name.as_str(),
            password: user.password.as_ref().map(HashedPassword::as_str),
            // `problems()` above guarantees these paths are UTF-8.
            home: user.home.as_deref().and_then(Path::to_str),
            object: SavedObject::of(user.home_object.as_ref()),
            enabled: user.enabled,
            protocols: user.protocols.iter().map(|p| p.as_str()).collect(),
            allowed_networks: user
                .allowed_networks
                .iter()
                .map(|n| n.to_string())
                .collect(),
            keys,
            require_key_and_password: user.require_key_and_password,
            tls_session_reuse_exempt: user.tls_session_reuse_exempt,
            tls_client_certificates: user
                .tls_client_certificates
                .iter()
                .map(ToString::to_string)
                .collect(),
            tls_client_certificate_login: user.tls_client_certificate_login,
            quota_bytes: user.quota.max_bytes,
            quota_files: user.quota.max_files,
            bandwidth_upload_bytes_per_sec: user.bandwidth.upload,
            bandwidth_download_bytes_per_sec: user.bandwidth.download,
            denied_upload_patterns: &user.denied_upload_patterns,
            umask: user.umask.map(|umask| format!("{umask:03o}")),
            permissions: permission_names(user.permissions),
            rule: user
                .rules
                .iter()
                .map(|rule| SavedRule {
                    path: rule.path.as_str(),
                    permissions: permission_names(rule.permissions),
                })
                .collect(),
            folder: user
                .folders
                .iter()
                .map(|folder| {
                    let (dir, object) = match &folder.source {
                        FolderSource::Dir(dir) => (dir.to_str(), None),
                        FolderSource::Object(location) => (None, Some(location)),
                    };
                    SavedFolder {
                        path: folder.path.as_str(),
                        dir,
                        object: SavedObject::of(object),
                        read_only: folder.read_only,
                    }
                })
                .collect(),
            hook: user.hooks.iter().map(RawHook::from_spec).collect(),
        });
    }
    let body = toml::to_string_pretty(&SavedDocument { user: saved })
        .map_err(|error| encode_error(path, error.to_string()))?;
    Ok(format!("{HEADER}{body}"))
}

/// What `render` writes; defaults are omitted so saved files stay short.
#[derive(Serialize)]
struct SavedDocument<'a> {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    user: Vec<SavedUser<'a>>,
}

#[derive(Serialize)]
struct SavedUser<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    password: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    home: Option<&'a str>,
    #[serde(flatten)]
    object: SavedObject<'a>,
    enabled: bool,
    protocols: Vec<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    allowed_networks: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    keys: Vec<String>,
    #[serde(skip_serializing_if = "is_false")]
    require_key_and_password: bool,
    #[serde(skip_serializing_if = "is_false")]
    tls_session_reuse_exempt: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tls_client_certificates: Vec<String>,
    #[serde(skip_serializing_if = "CertificateLogin::is_password")]
    tls_client_certificate_login: CertificateLogin,
    #[serde(skip_serializing_if = "Option::is_none")]
    quota_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    quota_files: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bandwidth_upload_bytes_per_sec: Option<NonZeroU64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bandwidth_download_bytes_per_sec: Option<NonZeroU64>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    denied_upload_patterns: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    umask: Option<String>,
    permissions: Vec<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    rule: Vec<SavedRule<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    folder: Vec<SavedFolder<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    hook: Vec<RawHook>,
}

#[derive(Serialize)]
struct SavedRule<'a> {
    path: &'a str,
    permissions: Vec<&'static str>,
}

/// `storage`, `bucket` and `prefix` of a home or folder on object storage (all absent for a
/// local one).
#[derive(Serialize)]
struct SavedObject<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    storage: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bucket: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prefix: Option<&'a str>,
}

impl<'a> SavedObject<'a> {
    fn of(location: Option<&'a ObjectLocation>) -> SavedObject<'a> {
        SavedObject {
            storage: location.map(|_| "s3"),
            bucket: location.and_then(|location| location.bucket.as_deref()),
            prefix: location.and_then(|location| location.prefix.as_deref()),
        }
    }
}

#[derive(Serialize)]
struct SavedFolder<'a> {
    path: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    dir: Option<&'a str>,
    #[serde(flatten)]
    object: SavedObject<'a>,
    #[serde(skip_serializing_if = "is_false")]
    read_only: bool,
}

fn is_false(value: &bool) -> bool {
    !*value
}

fn encode_error(path: &Path, message: String) -> UsersFileError {
    UsersFileError::Write {
        path: path.to_owned(),
        source: io::Error::new(io::ErrorKind::InvalidData, message),
    }
}
