//! The users file format: TOML text ↔ [`UserRecord`]s, with errors that point at lines.
//!
//! This module is pure (no file I/O); `user_db` reads and writes the file. The format:
//!
//! ```toml
//! [[user]]
//! name = "alice"                   # required; [A-Za-z0-9._-], 1..=64 chars, not starting with '-' or '.'
//! password = "$argon2id$v=19$m=19456,t=2,p=1$…"   # argon2id PHC string; omit for key-only users
//! home = "alice"                   # relative to data_dir, or absolute; default: the user name
//! storage = "local"                # or "s3": the home is a prefix in a bucket ([s3] in ferryd.toml)
//! bucket = "ferryd"                # s3 only; default: s3.bucket of ferryd.toml
//! prefix = "alice"                 # s3 only; default: the user name
//! enabled = true                   # default true; false refuses new logins
//! protocols = ["ftps", "sftp"]     # default both; "ftp" is accepted as a synonym for "ftps"
//! allowed_networks = ["10.0.0.0/8", "192.0.2.7"]  # CIDR or single address; default: any
//! keys = ["ssh-ed25519 AAAA… ci@example"]         # OpenSSH public key lines (no options)
//! require_key_and_password = false # SFTP: a key AND the password (partial success in between)
//! tls_session_reuse_exempt = false # FTPS: skip the data-channel TLS-resumption check
//! tls_client_certificates = ["sha256:AB:CD:…"]  # FTPS: pinned client certificates (SHA-256)
//! tls_client_certificate_login = "password"      # FTPS: or "certificate",
//!                                  # "certificate_and_password"; the others need a pin above
//! quota_bytes = 1073741824         # optional, home directory only
//! quota_files = 10000              # optional, home directory only
//! bandwidth_upload_bytes_per_sec = 1048576    # optional, over all sessions; > 0
//! bandwidth_download_bytes_per_sec = 1048576  # optional, over all sessions; > 0
//! denied_upload_patterns = ["*.exe"]   # optional file-name globs
//! umask = "027"                    # optional octal; default: server.umask
//! permissions = ["*"]              # at "/"; default ["*"]; see below
//!
//! [[user.rule]]                    # per-path override; the longest matching prefix wins
//! path = "/incoming"               # absolute virtual path, not "/"
//! permissions = ["list", "upload"] # required
//!
//! [[user.folder]]                  # a virtual folder
//! path = "/shared"                 # absolute virtual path, not "/"
//! dir = "/srv/shared"              # absolute, or relative to data_dir (local folders)
//! # storage = "s3"                 # instead of dir: objects under bucket/prefix
//! # bucket = "ferryd"              # default: s3.bucket of ferryd.toml
//! # prefix = "shared"              # required for an s3 folder
//! read_only = true                 # default false; adds a read_only rule at `path`
//!                                  # unless a [[user.rule]] names the same path
//!
//! [[user.hook]]                    # the user's own hook, besides ferryd.toml's [[hook]]s
//! on = ["upload"]                  # same keys as [[hook]] (docs/hooks.md), without `users`
//! run = ["/usr/local/bin/publish"]
//! ```
//!
//! Permission names: `list`, `download`, `upload`, `overwrite`, `delete`, `rename`, `mkdir`,
//! `rmdir`, `set_attributes`, `link`, plus `read_only` (list + download) and `*`/`all`.
//!
//! Fingerprints may be written with or without colons, in either case, with or without the
//! `sha256:` prefix; they are written back as `sha256:AB:CD:…`.
//!
//! Unknown keys are errors (a typo must not silently drop a restriction). Syntax and type errors
//! stop at the first one (that is all the TOML parser reports) and name the user and key; semantic errors are collected for
//! every user, each with the user name and line. Writing the file back loses comments and
//! normalises values (sorted protocols, canonical permission names, normalised virtual paths,
//! canonical fingerprints),
//! but loading what was written gives equal records.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::num::NonZeroU64;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::client_certificate::{CertificateFingerprint, CertificateLogin};
use super::password::HashedPassword;
use super::public_key;
use super::user_record::{
    parse_network, unknown_permission, Folder, FolderSource, ObjectLocation, PathRule, RecordError,
    UserName, UserRecord,
};
use crate::config::toml_error::{self, line_column, TomlError};
use crate::config::{HookScope, Protocol, RawHook};
use crate::vfs::{Bandwidth, Permissions, Quota, VirtualPath};

/// Why the users file could not be read, parsed or written.
#[derive(Debug, thiserror::Error)]
pub enum UsersFileError {
    /// The file exists but could not be read.
    #[error("cannot read users file {}: {source}", path.display())]
    Read {
        /// The users file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The text is not valid TOML or does not fit the format (unknown key, wrong type).
    #[error("{}:{line}:{column}: {}{message}", path.display(), syntax_subject(key.as_deref(), user.as_deref()))]
    Syntax {
        /// The users file.
        path: PathBuf,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column (in characters) of the error.
        column: usize,
        /// Dotted path of the offending key (`user[1].enabled`), when known.
        key: Option<String>,
        /// Name of the user whose entry holds the key, when the file is valid TOML and names it.
        user: Option<String>,
        /// What is wrong: expected and found for a wrong type, a suggestion for an unknown key.
        message: String,
    },
    /// The file parsed but some users are invalid; every problem is listed.
    #[error("{}", display_problems(path, problems))]
    Invalid {
        /// The users file.
        path: PathBuf,
        /// One entry per problem, in file order.
        problems: Vec<UserProblem>,
    },
    /// Writing the file (or its temporary sibling) failed.
    #[error("cannot write users file {}: {source}", path.display())]
    Write {
        /// The users file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

/// One semantic problem, located by user and (when known) line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserProblem {
    /// The user's name as written (it may itself be the problem).
    pub user: String,
    /// 1-based line in the users file; `None` for records that did not come from a file.
    pub line: Option<usize>,
    /// What is wrong.
    pub error: RecordError,
}

impl fmt::Display for UserProblem {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "user {:?}: {}", self.user, self.error)
    }
}

/// Parses the users file text. `path` is only used in errors.
pub fn parse(text: &str, path: &Path) -> Result<Vec<UserRecord>, UsersFileError> {
    let document: FileDocument =
        toml_error::from_str(text).map_err(|error| syntax_error(text, path, error))?;
    let mut problems = Vec::new();
    let mut records = Vec::with_capacity(document.user.len());
    let mut seen_names = HashMap::new();
    for entry in &document.user {
        let entry_ref = entry.get_ref();
        let name = entry_ref.name.get_ref();
        if seen_names.insert(name.clone(), ()).is_some() {
            problems.push(UserProblem {
                user: name.clone(),
                line: Some(line_of(text, entry_ref.name.span())),
                error: RecordError::DuplicateName,
            });
        }
        match convert_user(entry_ref) {
            Ok(record) => {
                for error in record.problems() {
                    let span = locate(&error, entry_ref, &record).unwrap_or(entry.span());
                    problems.push(UserProblem {
                        user: name.clone(),
                        line: Some(line_of(text, span)),
                        error,
                    });
                }
                records.push(record);
            }
            Err(errors) => problems.extend(errors.into_iter().map(|(span, error)| UserProblem {
                user: name.clone(),
                line: Some(line_of(text, span)),
                error,
            })),
        }
    }
    if problems.is_empty() {
        Ok(records)
    } else {
        Err(UsersFileError::Invalid {
            path: path.to_owned(),
            problems,
        })
    }
}

/// Problems across records that did not come from a file (before saving, after CLI edits).
pub fn check_records(users: &[UserRecord]) -> Vec<UserProblem> {
    let mut problems = Vec::new();
    let mut seen_names = HashMap::new();
    for user in users {
        if seen_names.insert(user.name.as_str(), ()).is_some() {
            problems.push(UserProblem {
                user: user.name.to_string(),
                line: None,
                error: RecordError::DuplicateName,
            });
        }
        problems.extend(user.problems().into_iter().map(|error| UserProblem {
            user: user.name.to_string(),
            line: None,
            error,
        }));
    }
    problems
}

/// The serde mirror of the file; spans let errors point at lines.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDocument {
    #[serde(default)]
    user: Vec<Spanned<FileUser>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileUser {
    name: Spanned<String>,
    password: Option<Spanned<String>>,
    home: Option<Spanned<String>>,
    storage: Option<Spanned<String>>,
    bucket: Option<Spanned<String>>,
    prefix: Option<Spanned<String>>,
    enabled: Option<bool>,
    protocols: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    allowed_networks: Vec<Spanned<String>>,
    #[serde(default)]
    keys: Vec<Spanned<String>>,
    #[serde(default)]
    require_key_and_password: bool,
    #[serde(default)]
    tls_session_reuse_exempt: bool,
    #[serde(default)]
    tls_client_certificates: Vec<Spanned<String>>,
    tls_client_certificate_login: Option<Spanned<CertificateLogin>>,
    quota_bytes: Option<u64>,
    quota_files: Option<u64>,
    /// Zero is refused by serde, so "unlimited" has exactly one spelling: leaving it out.
    bandwidth_upload_bytes_per_sec: Option<NonZeroU64>,
    bandwidth_download_bytes_per_sec: Option<NonZeroU64>,
    #[serde(default)]
    denied_upload_patterns: Vec<String>,
    umask: Option<Spanned<String>>,
    permissions: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    rule: Vec<Spanned<FileRule>>,
    #[serde(default)]
    folder: Vec<Spanned<FileFolder>>,
    #[serde(default)]
    hook: Vec<Spanned<RawHook>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRule {
    path: Spanned<String>,
    permissions: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileFolder {
    path: Spanned<String>,
    dir: Option<Spanned<String>>,
    storage: Option<Spanned<String>>,
    bucket: Option<Spanned<String>>,
    prefix: Option<Spanned<String>>,
    #[serde(default)]
    read_only: bool,
}

type SpannedError = (Range<usize>, RecordError);

/// Turns one entry into a record, collecting every field error with its span.
fn convert_user(entry: &FileUser) -> Result<UserRecord, Vec<SpannedError>> {
    let mut errors: Vec<SpannedError> = Vec::new();
    let mut capture = |span: Range<usize>, error: RecordError| errors.push((span, error));

    let name = UserName::parse(entry.name.get_ref())
        .map_err(|error| capture(entry.name.span(), error))
        .ok();
    let password = entry.password.as_ref().and_then(|phc| {
        HashedPassword::parse(phc.get_ref())
            .map_err(|error| capture(phc.span(), RecordError::BadPasswordHash(error)))
            .ok()
    });
    let protocols = match &entry.protocols {
        None => Protocol::ALL.into_iter().collect(),
        Some(list) => list
            .get_ref()
            .iter()
            .filter_map(|protocol| {
                protocol
                    .get_ref()
                    .parse::<Protocol>()
                    .map_err(|error| {
                        capture(
                            protocol.span(),
                            RecordError::UnknownProtocol(error.to_string()),
                        )
                    })
                    .ok()
            })
            .collect(),
    };
    let allowed_networks = entry
        .allowed_networks
        .iter()
        .filter_map(|network| {
            parse_network(network.get_ref())
                .map_err(|error| capture(network.span(), error))
                .ok()
        })
        .collect();
    let keys = entry
        .keys
        .iter()
        .enumerate()
        .filter_map(|(index, key)| {
            public_key::parse_authorized_key(key.get_ref())
                .map_err(|error| capture(key.span(), RecordError::BadKey { index, error }))
                .ok()
        })
        .collect();
    let tls_client_certificates = entry
        .tls_client_certificates
        .iter()
        .enumerate()
        .filter_map(|(index, text)| {
            CertificateFingerprint::parse(text.get_ref())
                .map_err(|error| {
                    capture(
                        text.span(),
                        RecordError::BadClientCertificate { index, error },
                    )
                })
                .ok()
        })
        .collect();
    let umask = entry.umask.as_ref().and_then(|text| {
        crate::config::parse_umask(text.get_ref())
            .map_err(|message| capture(text.span(), RecordError::BadUmask(message)))
            .ok()
    });
    let permissions = match &entry.permissions {
        None => Permissions::ALL,
        Some(names) => spanned_permissions(names, &mut capture),
    };
    let rules = entry
        .rule
        .iter()
        .filter_map(|rule| {
            let rule = rule.get_ref();
            let path = virtual_path("rule.path", &rule.path, &mut capture);
            let permissions = spanned_permissions(&rule.permissions, &mut capture);
            Some(PathRule {
                path: path?,
                permissions,
            })
        })
        .collect();
    let folders = entry
        .folder
        .iter()
        .filter_map(|folder| {
            let folder = folder.get_ref();
            let path = virtual_path("folder.path", &folder.path, &mut capture);
            let object = object_location(
                &folder.storage,
                [
                    ("folder.bucket", &folder.bucket),
                    ("folder.prefix", &folder.prefix),
                ],
                &mut capture,
            );
            let source = match (object, &folder.dir) {
                (Some(_), Some(dir)) => {
                    capture(
                        dir.span(),
                        RecordError::StorageFieldMismatch {
                            field: "folder.dir",
                            storage: "s3",
                        },
                    );
                    None
                }
                (Some(location), None) => Some(FolderSource::Object(location)),
                (None, Some(dir)) => Some(FolderSource::Dir(PathBuf::from(dir.get_ref()))),
                (None, None) => {
                    capture(folder.path.span(), RecordError::FolderWithoutDir);
                    None
                }
            };
            Some(Folder {
                path: path?,
                source: source?,
                read_only: folder.read_only,
            })
        })
        .collect();

    let hooks = entry
        .hook
        .iter()
        .enumerate()
        .filter_map(|(index, hook)| {
            hook.get_ref()
                .validate(HookScope::User)
                .map_err(|problems| {
                    for (field, message) in problems {
                        let error = RecordError::BadHook {
                            index,
                            field,
                            message,
                        };
                        capture(hook.span(), error);
                    }
                })
                .ok()
        })
        .collect();
    let home_object = object_location(
        &entry.storage,
        [("bucket", &entry.bucket), ("prefix", &entry.prefix)],
        &mut capture,
    );

    match name {
        Some(name) if errors.is_empty() => Ok(UserRecord {
            name,
            password,
            home: entry
                .home
                .as_ref()
                .map(|home| PathBuf::from(home.get_ref())),
            home_object,
            enabled: entry.enabled.unwrap_or(true),
            protocols,
            allowed_networks,
            keys,
            require_key_and_password: entry.require_key_and_password,
            tls_session_reuse_exempt: entry.tls_session_reuse_exempt,
            tls_client_certificates,
            tls_client_certificate_login: entry
                .tls_client_certificate_login
                .as_ref()
                .map_or(CertificateLogin::Password, |mode| *mode.get_ref()),
            quota: Quota {
                max_bytes: entry.quota_bytes,
                max_files: entry.quota_files,
            },
            bandwidth: Bandwidth {
                upload: entry.bandwidth_upload_bytes_per_sec,
                download: entry.bandwidth_download_bytes_per_sec,
            },
            denied_upload_patterns: entry.denied_upload_patterns.clone(),
            umask,
            permissions,
            rules,
            folders,
            hooks,
        }),
        _ => Err(errors),
    }
}

/// `Some` for `storage = "s3"` (with the bucket and prefix as written), `None` for local
/// storage; object fields given to a local entry are errors, not ignored.
fn object_location(
    storage: &Option<Spanned<String>>,
    fields: [(&'static str, &Option<Spanned<String>>); 2],
    capture: &mut impl FnMut(Range<usize>, RecordError),
) -> Option<ObjectLocation> {
    let is_object = match storage {
        None => false,
        Some(storage) => match storage.get_ref().as_str() {
            "local" => false,
            "s3" => true,
            other => {
                capture(
                    storage.span(),
                    RecordError::UnknownStorage(other.to_owned()),
                );
                return None;
            }
        },
    };
    if !is_object {
        for (field, value) in fields {
            if let Some(value) = value {
                capture(
                    value.span(),
                    RecordError::StorageFieldMismatch {
                        field,
                        storage: "local",
                    },
                );
            }
        }
        return None;
    }
    let [(_, bucket), (_, prefix)] = fields;
    Some(ObjectLocation {
        bucket: bucket.as_ref().map(|bucket| bucket.get_ref().clone()),
        prefix: prefix.as_ref().map(|prefix| prefix.get_ref().clone()),
    })
}

fn spanned_permissions(
    names: &[Spanned<String>],
    capture: &mut impl FnMut(Range<usize>, RecordError),
) -> Permissions {
    let mut permissions = Permissions::NONE;
    for name in names {
        match Permissions::from_name(name.get_ref()) {
            Some(permission) => permissions |= permission,
            None => capture(name.span(), unknown_permission(name.get_ref())),
        }
    }
    permissions
}

fn virtual_path(
    field: &'static str,
    text: &Spanned<String>,
    capture: &mut impl FnMut(Range<usize>, RecordError),
) -> Option<VirtualPath> {
    VirtualPath::parse_absolute(text.get_ref())
        .map_err(|error| {
            capture(
                text.span(),
                RecordError::BadVirtualPath {
                    field,
                    path: text.get_ref().clone(),
                    error,
                },
            )
        })
        .ok()
}

/// The most specific span for a record-level problem; `None` falls back to the user entry.
fn locate(error: &RecordError, entry: &FileUser, record: &UserRecord) -> Option<Range<usize>> {
    let rule_span = |wanted: &VirtualPath| {
        entry
            .rule
            .iter()
            .zip(&record.rules)
            .rev()
            .find(|(_, rule)| rule.path == *wanted)
            .map(|(spanned, _)| spanned.span())
    };
    let folder_span = |wanted: &VirtualPath| {
        entry
            .folder
            .iter()
            .zip(&record.folders)
            .rev()
            .find(|(_, folder)| folder.path == *wanted)
            .map(|(spanned, _)| spanned.span())
    };
    match error {
        RecordError::DuplicateKey { fingerprint } => entry
            .keys
            .iter()
            .zip(&record.keys)
            .rev()
            .find(|(_, key)| public_key::fingerprint(key) == *fingerprint)
            .map(|(spanned, _)| spanned.span()),
        RecordError::DuplicateClientCertificate(fingerprint) => entry
            .tls_client_certificates
            .iter()
            .zip(&record.tls_client_certificates)
            .rev()
            .find(|(_, pinned)| *pinned == fingerprint)
            .map(|(spanned, _)| spanned.span()),
        RecordError::CertificateLoginWithoutCertificates(_) => entry
            .tls_client_certificate_login
            .as_ref()
            .map(Spanned::span),
        RecordError::RootRule => rule_span(&VirtualPath::root()),
        RecordError::DuplicateRule(path) => rule_span(path),
        RecordError::RootFolder => folder_span(&VirtualPath::root()),
        RecordError::DuplicateFolder(path) => folder_span(path),
        RecordError::NoProtocols => entry.protocols.as_ref().map(Spanned::span),
        RecordError::BadDirectory("home") => entry.home.as_ref().map(Spanned::span),
        RecordError::BadDirectory(_) => entry
            .folder
            .iter()
            .filter_map(|folder| folder.get_ref().dir.as_ref())
            .find(|dir| dir.get_ref().is_empty())
            .map(Spanned::span),
        RecordError::StorageFieldMismatch { field: "home", .. } => {
            entry.home.as_ref().map(Spanned::span)
        }
        RecordError::BadObjectLocation { field, value, .. } => {
            let user_field = match *field {
                "bucket" => entry.bucket.as_ref(),
                "prefix" => entry.prefix.as_ref(),
                _ => None,
            };
            user_field.map(Spanned::span).or_else(|| {
                entry
                    .folder
                    .iter()
                    .flat_map(|folder| {
                        let folder = folder.get_ref();
                        [folder.bucket.as_ref(), folder.prefix.as_ref()]
                    })
                    .flatten()
                    .find(|written| written.get_ref() == value)
                    .map(Spanned::span)
            })
        }
        RecordError::FolderWithoutPrefix => entry
            .folder
            .iter()
            .find(|folder| {
                let folder = folder.get_ref();
                folder.storage.is_some() && folder.prefix.is_none()
            })
            .map(Spanned::span),
        _ => None,
    }
}

fn syntax_error(text: &str, path: &Path, error: TomlError) -> UsersFileError {
    let (line, column) = error.position.unwrap_or((1, 1));
    let user = error
        .key
        .as_deref()
        .and_then(|key| user_named_in(text, key));
    UsersFileError::Syntax {
        path: path.to_owned(),
        line,
        column,
        key: error.key,
        user,
        message: error.message,
    }
}

/// The `name` of the `[[user]]` entry that `key` (`user[1]…`) points into. A type error leaves
/// the TOML itself valid, so a plain re-parse can read the name the admin knows the entry by.
fn user_named_in(text: &str, key: &str) -> Option<String> {
    let index: usize = key.strip_prefix("user[")?.split(']').next()?.parse().ok()?;
    let document: toml::Table = toml::from_str(text).ok()?;
    let name = document.get("user")?.get(index)?.get("name")?.as_str()?;
    Some(name.to_owned())
}

/// `user "bob": enabled: ` when the entry's name is known, else the dotted key.
fn syntax_subject(key: Option<&str>, user: Option<&str>) -> String {
    let within_user = key
        .and_then(|key| key.strip_prefix("user["))
        .and_then(|rest| rest.split_once("]."))
        .map(|(_, field)| field);
    match (user, within_user, key) {
        (Some(user), Some(field), _) => format!("user {user:?}: {field}: "),
        (_, _, Some(key)) => format!("{key}: "),
        _ => String::new(),
    }
}

fn line_of(text: &str, span: Range<usize>) -> usize {
    line_column(text, span.start).0
}

fn display_problems(path: &Path, problems: &[UserProblem]) -> String {
    problems
        .iter()
        .map(|problem| match problem.line {
            Some(line) => format!("{}:{line}: {problem}", path.display()),
            None => format!("{}: {problem}", path.display()),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
#[path = "users_file_tests.rs"]
mod tests;
