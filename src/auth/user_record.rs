//! `UserRecord`: one account as the users file describes it, in typed form.
//!
//! Field-level validity is in the types (`UserName`, `HashedPassword`, `PublicKey`, `IpNet`,
//! `CertificateFingerprint`, `VirtualPath`, `Permissions`); the cross-field rules that types
//! cannot express (no duplicate keys, certificates, rules or folders, at least one protocol, a
//! certificate for a login mode that needs one, UTF-8 paths so the file can be written back)
//! are listed by [`UserRecord::problems`], which both loading and the CLI's edits go through.

use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use russh::keys::PublicKey;

use super::client_certificate::{CertificateFingerprint, CertificateLogin, FingerprintError};
use super::password::{HashedPassword, PasswordError};
use super::public_key::{self, KeyError};
use crate::config::{check_bucket, Protocol};
use crate::vfs::{
    check_prefix, Bandwidth, FsSpec, Mount, ObjectPlace, PathError, PermissionRules, Permissions,
    Place, Quota, VirtualPath,
};

/// Longest user name, in bytes.
pub const MAX_USER_NAME_BYTES: usize = 64;

/// A valid user name: `[A-Za-z0-9._-]`, 1 to 64 bytes, not starting with `-` or `.`.
///
/// The leading-character rule keeps names from looking like command-line options or hidden
/// directories, since the default home directory is named after the user.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserName(String);

impl UserName {
    /// Checks `name` against the naming rules.
    pub fn parse(name: &str) -> Result<UserName, RecordError> {
        if name.is_empty() {
            return Err(RecordError::BadName("empty"));
        }
        if name.len() > MAX_USER_NAME_BYTES {
            return Err(RecordError::BadName("longer than 64 characters"));
        }
        if name.starts_with('-') || name.starts_with('.') {
            return Err(RecordError::BadName("starts with '-' or '.'"));
        }
        if !name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-'))
        {
            return Err(RecordError::BadName("only A-Z a-z 0-9 . _ - are allowed"));
        }
        Ok(UserName(name.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserName {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl fmt::Debug for UserName {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{:?}", self.0)
    }
}

/// What is wrong with one user entry (the user name and line are added by the caller).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The name breaks the naming rules.
    #[error("invalid user name: {0}")]
    BadName(&'static str),
    /// Another entry already uses this name.
    #[error("duplicate user name")]
    DuplicateName,
    /// `password` is not an argon2id PHC string.
    #[error("password: {0}")]
    BadPasswordHash(PasswordError),
    /// An entry of `keys` is not an OpenSSH public key.
    #[error("keys[{index}]: {error}")]
    BadKey {
        /// Position in the `keys` array, from 0.
        index: usize,
        /// What the parser said.
        error: KeyError,
    },
    /// The same key is listed twice.
    #[error("key {fingerprint} is listed twice")]
    DuplicateKey {
        /// The key's SHA-256 fingerprint.
        fingerprint: String,
    },
    /// A `[[user.hook]]` is invalid.
    #[error("hook[{}].{field}: {message}", index + 1)]
    BadHook {
        /// Position among the user's hooks, from 0.
        index: usize,
        /// The hook's field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// An entry of `tls_client_certificates` is not a SHA-256 fingerprint.
    #[error("tls_client_certificates[{index}]: {error}")]
    BadClientCertificate {
        /// Position in the `tls_client_certificates` array, from 0.
        index: usize,
        /// What the parser said.
        error: FingerprintError,
    },
    /// The same certificate fingerprint is listed twice.
    #[error("client certificate {0} is listed twice")]
    DuplicateClientCertificate(CertificateFingerprint),
    /// The login mode needs a certificate, but none is pinned, which would lock the user out.
    #[error(
        "tls_client_certificate_login = \"{0}\" needs at least one fingerprint in \
         tls_client_certificates"
    )]
    CertificateLoginWithoutCertificates(CertificateLogin),
    /// An entry of `allowed_networks` is not an address or CIDR network.
    #[error("allowed_networks: {value:?} is not a CIDR network ({reason})")]
    BadNetwork {
        /// The text as written.
        value: String,
        /// What the parser said.
        reason: String,
    },
    /// An entry of `protocols` is unknown.
    #[error("protocols: {0}")]
    UnknownProtocol(String),
    /// `umask` is not octal digits up to 777.
    #[error("umask: {0}")]
    BadUmask(String),
    /// `protocols` is empty, which would lock the user out silently.
    #[error("protocols is empty (use enabled = false to lock a user out)")]
    NoProtocols,
    /// A permission name is unknown.
    #[error("unknown permission {name:?} (known: *, all, read_only, {known})")]
    UnknownPermission {
        /// The name as written.
        name: String,
        /// The valid names, comma-separated.
        known: String,
    },
    /// A `rule` or `folder` path is not an absolute virtual path.
    #[error("{field}: {path:?}: {error}")]
    BadVirtualPath {
        /// `rule.path` or `folder.path`.
        field: &'static str,
        /// The path as written.
        path: String,
        /// Why it was refused.
        error: PathError,
    },
    /// A `rule` for `/`, which `permissions` already sets.
    #[error("rule for \"/\": set the user's `permissions` instead")]
    RootRule,
    /// Two rules for the same path.
    #[error("two rules for {0}")]
    DuplicateRule(VirtualPath),
    /// A folder mounted at `/`, which is the home directory.
    #[error("folder at \"/\": that is the home directory")]
    RootFolder,
    /// Two folders at the same path.
    #[error("two folders at {0}")]
    DuplicateFolder(VirtualPath),
    /// A directory field is empty or not UTF-8 (the users file could not be written back).
    #[error("{0} must be a non-empty UTF-8 path")]
    BadDirectory(&'static str),
    /// `storage` is neither `local` nor `s3`.
    #[error("unknown storage {0:?} (use \"local\" or \"s3\")")]
    UnknownStorage(String),
    /// A bucket or prefix S3 would refuse, or one that could reach another user's objects.
    #[error("{field} {value:?}: {reason}")]
    BadObjectLocation {
        /// `bucket`, `prefix`, `folder.bucket` or `folder.prefix`.
        field: &'static str,
        /// The value as written.
        value: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A field that belongs to the other kind of storage (`home` with `storage = "s3"`,
    /// `bucket` without it, …): refused rather than ignored, so nobody believes it applies.
    #[error("{field} does not apply to storage = {storage:?}")]
    StorageFieldMismatch {
        /// The field.
        field: &'static str,
        /// The storage the entry uses.
        storage: &'static str,
    },
    /// An S3 folder without `prefix` (a home defaults to the user name; a folder, usually
    /// shared, must say which objects it shows).
    #[error("folder.prefix is required for an s3 folder")]
    FolderWithoutPrefix,
    /// A local folder without `dir`.
    #[error("folder.dir is required for a local folder")]
    FolderWithoutDir,
}

/// A home or folder in object storage, as the users file names it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjectLocation {
    /// The bucket; `None`: `[s3].bucket` of `ferryd.toml`.
    pub bucket: Option<String>,
    /// Key prefix; `None` for a home means the user name (folders must name one).
    pub prefix: Option<String>,
}

impl ObjectLocation {
    /// `s3://BUCKET/PREFIX` for people, `(s3.bucket)` standing for the configured default
    /// bucket and `default_prefix` for a missing prefix.
    pub fn describe(&self, default_prefix: &str) -> String {
        format!(
            "s3://{}/{}",
            self.bucket.as_deref().unwrap_or("(s3.bucket)"),
            self.prefix.as_deref().unwrap_or(default_prefix)
        )
    }
}

/// What is behind a virtual folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FolderSource {
    /// A directory: absolute, or relative to `data_dir`.
    Dir(PathBuf),
    /// A prefix in an S3 bucket.
    Object(ObjectLocation),
}

/// Permissions for a subtree, overriding the user's root permissions (longest prefix wins).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathRule {
    /// Where the rule applies (and below); never `/`.
    pub path: VirtualPath,
    /// What the user may do there.
    pub permissions: Permissions,
}

/// Another directory shown inside the user's view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Folder {
    /// Where it appears; never `/`.
    pub path: VirtualPath,
    /// What it shows.
    pub source: FolderSource,
    /// Adds a read-only rule at `path` unless a [`PathRule`] names that path.
    pub read_only: bool,
}

/// One user account.
#[derive(Clone, Debug, PartialEq)]
pub struct UserRecord {
    /// The login name.
    pub name: UserName,
    /// The argon2id hash; `None` for key-only users.
    pub password: Option<HashedPassword>,
    /// Home directory, absolute or relative to `data_dir`; `None` means `data_dir/<name>`
    /// (unless `home_object` puts the home in object storage).
    pub home: Option<PathBuf>,
    /// The home is a prefix in an S3 bucket instead of a directory.
    pub home_object: Option<ObjectLocation>,
    /// A disabled user cannot log in; sessions already open are not affected.
    pub enabled: bool,
    /// Protocols the user may log in with; never empty.
    pub protocols: BTreeSet<Protocol>,
    /// Source networks the user may log in from; empty means any.
    pub allowed_networks: Vec<IpNet>,
    /// Authorized SSH public keys.
    pub keys: Vec<PublicKey>,
    /// SSH only: a key and the password are both required (partial success after the first).
    pub require_key_and_password: bool,
    /// FTPS only: do not require data connections to resume the control TLS session.
    pub tls_session_reuse_exempt: bool,
    /// FTPS only: SHA-256 fingerprints of the TLS client certificates this user may present.
    pub tls_client_certificates: Vec<CertificateFingerprint>,
    /// FTPS only: whether a pinned certificate replaces, adds to, or plays no part in the
    /// password.
    pub tls_client_certificate_login: CertificateLogin,
    /// Storage limits for the home directory.
    pub quota: Quota,
    /// File name globs the user may not upload.
    pub denied_upload_patterns: Vec<String>,
    /// Upload and download rate limits over all of the user's sessions.
    pub bandwidth: Bandwidth,
    /// Bits taken from the modes of what the user creates; `None`: `server.umask`.
    pub umask: Option<u32>,
    /// Permissions at `/`.
    pub permissions: Permissions,
    /// Per-path overrides.
    pub rules: Vec<PathRule>,
    /// Virtual folders.
    pub folders: Vec<Folder>,
    /// The user's own hooks, run besides the global ones.
    pub hooks: Vec<crate::config::HookSpec>,
}

impl UserRecord {
    /// A new enabled user with defaults: both protocols, any network, all permissions, no
    /// password and no keys (so no way to log in until one is set).
    pub fn new(name: UserName) -> UserRecord {
        UserRecord {
            name,
            password: None,
            home: None,
            home_object: None,
            enabled: true,
            protocols: Protocol::ALL.into_iter().collect(),
            allowed_networks: Vec::new(),
            keys: Vec::new(),
            require_key_and_password: false,
            tls_session_reuse_exempt: false,
            tls_client_certificates: Vec::new(),
            tls_client_certificate_login: CertificateLogin::Password,
            quota: Quota::default(),
            denied_upload_patterns: Vec::new(),
            bandwidth: Bandwidth::default(),
            umask: None,
            permissions: Permissions::ALL,
            rules: Vec::new(),
            folders: Vec::new(),
            hooks: Vec::new(),
        }
    }

    /// Like [`UserRecord::new`], checking the name first (for the CLI).
    pub fn named(name: &str) -> Result<UserRecord, RecordError> {
        UserName::parse(name).map(UserRecord::new)
    }

    /// Cross-field problems; empty when the record can be stored and used.
    pub fn problems(&self) -> Vec<RecordError> {
        let mut problems = Vec::new();
        if self.protocols.is_empty() {
            problems.push(RecordError::NoProtocols);
        }
        if let Some(home) = &self.home {
            if !is_usable_dir(home) {
                problems.push(RecordError::BadDirectory("home"));
            }
            if self.home_object.is_some() {
                problems.push(RecordError::StorageFieldMismatch {
                    field: "home",
                    storage: "s3",
                });
            }
        }
        if let Some(location) = &self.home_object {
            location_problems(location, "bucket", "prefix", &mut problems);
        }
        let mut fingerprints = HashSet::new();
        for key in &self.keys {
            let fingerprint = public_key::fingerprint(key);
            if !fingerprints.insert(fingerprint.clone()) {
                problems.push(RecordError::DuplicateKey { fingerprint });
            }
        }
        let mut certificates = HashSet::new();
        for certificate in &self.tls_client_certificates {
            if !certificates.insert(certificate) {
                problems.push(RecordError::DuplicateClientCertificate(*certificate));
            }
        }
        if self.tls_client_certificate_login.requires_certificate()
            && self.tls_client_certificates.is_empty()
        {
            problems.push(RecordError::CertificateLoginWithoutCertificates(
                self.tls_client_certificate_login,
            ));
        }
        let mut rule_paths = HashSet::new();
        for rule in &self.rules {
            if rule.path.is_root() {
                problems.push(RecordError::RootRule);
            } else if !rule_paths.insert(&rule.path) {
                problems.push(RecordError::DuplicateRule(rule.path.clone()));
            }
        }
        let mut folder_paths = HashSet::new();
        for folder in &self.folders {
            if folder.path.is_root() {
                problems.push(RecordError::RootFolder);
            } else if !folder_paths.insert(&folder.path) {
                problems.push(RecordError::DuplicateFolder(folder.path.clone()));
            }
            match &folder.source {
                FolderSource::Dir(dir) if !is_usable_dir(dir) => {
                    problems.push(RecordError::BadDirectory("folder.dir"));
                }
                FolderSource::Dir(_) => {}
                FolderSource::Object(location) => {
                    if location.prefix.is_none() {
                        problems.push(RecordError::FolderWithoutPrefix);
                    }
                    location_problems(location, "folder.bucket", "folder.prefix", &mut problems);
                }
            }
        }
        problems
    }

    /// The home directory resolved against `data_dir`.
    pub fn home_dir(&self, data_dir: &Path) -> PathBuf {
        match &self.home {
            Some(home) => data_dir.join(home),
            None => data_dir.join(self.name.as_str()),
        }
    }

    /// Where the home is, for people: the directory, or `s3://BUCKET/PREFIX`.
    pub fn home_description(&self, data_dir: &Path) -> String {
        match &self.home_object {
            Some(location) => location.describe(self.name.as_str()),
            None => self.home_dir(data_dir).display().to_string(),
        }
    }

    /// True when the user may log in with `protocol`.
    pub fn allows_protocol(&self, protocol: Protocol) -> bool {
        self.protocols.contains(&protocol)
    }

    /// True when `peer` is inside one of the allowed networks (or no restriction is set).
    ///
    /// IPv4-mapped IPv6 peers (`::ffff:10.0.0.1`, seen on dual-stack listeners) are compared as
    /// IPv4, so `10.0.0.0/8` matches them.
    pub fn allows_peer(&self, peer: IpAddr) -> bool {
        let peer = peer.to_canonical();
        self.allowed_networks.is_empty()
            || self
                .allowed_networks
                .iter()
                .any(|network| network.contains(&peer))
    }

    /// True when `key` is one of the user's authorized keys.
    pub fn has_key(&self, key: &PublicKey) -> bool {
        self.keys
            .iter()
            .any(|authorized| public_key::same_key(authorized, key))
    }

    /// True when `fingerprint` is one of the user's pinned client certificates.
    pub fn has_client_certificate(&self, fingerprint: &CertificateFingerprint) -> bool {
        self.tls_client_certificates.contains(fingerprint)
    }

    /// The user's file system description, with every directory resolved against `data_dir`.
    pub fn fs_spec(&self, data_dir: &Path) -> FsSpec {
        let mut permissions = PermissionRules::new(self.permissions);
        for folder in &self.folders {
            if folder.read_only {
                permissions.set(folder.path.clone(), Permissions::READ_ONLY);
            }
        }
        // Explicit rules come last so they override a folder's implicit read-only rule.
        for rule in &self.rules {
            permissions.set(rule.path.clone(), rule.permissions);
        }
        let root = match &self.home_object {
            Some(location) => Place::Object(ObjectPlace {
                bucket: location.bucket.clone(),
                prefix: location
                    .prefix
                    .clone()
                    .unwrap_or_else(|| self.name.as_str().to_owned()),
            }),
            None => Place::Local(self.home_dir(data_dir)),
        };
        FsSpec {
            user: self.name.as_str().to_owned(),
            root,
            mounts: self
                .folders
                .iter()
                .map(|folder| Mount {
                    virtual_path: folder.path.clone(),
                    place: match &folder.source {
                        FolderSource::Dir(dir) => Place::Local(data_dir.join(dir)),
                        // `problems()` refuses an object folder without a prefix; an empty
                        // one here would be refused again when the folder is opened.
                        FolderSource::Object(location) => Place::Object(ObjectPlace {
                            bucket: location.bucket.clone(),
                            prefix: location.prefix.clone().unwrap_or_default(),
                        }),
                    },
                })
                .collect(),
            permissions,
            quota: self.quota,
            denied_upload_patterns: self.denied_upload_patterns.clone(),
            bandwidth: self.bandwidth,
            umask: self.umask,
        }
    }
}

/// Parses a list of permission names into one set; unknown names are returned as errors.
pub fn parse_permissions<'a>(
    names: impl IntoIterator<Item = &'a str>,
) -> Result<Permissions, RecordError> {
    let mut permissions = Permissions::NONE;
    for name in names {
        permissions |= Permissions::from_name(name).ok_or_else(|| unknown_permission(name))?;
    }
    Ok(permissions)
}

/// The error for an unknown permission name, listing the valid ones.
pub fn unknown_permission(name: &str) -> RecordError {
    RecordError::UnknownPermission {
        name: name.to_owned(),
        known: Permissions::known_names().collect::<Vec<_>>().join(", "),
    }
}

/// The names to write for a permission set: `["*"]` for all, canonical names otherwise.
pub fn permission_names(permissions: Permissions) -> Vec<&'static str> {
    if permissions == Permissions::ALL {
        vec!["*"]
    } else {
        permissions.names().collect()
    }
}

/// Parses an `allowed_networks` entry; a bare address means that single host.
pub fn parse_network(text: &str) -> Result<IpNet, RecordError> {
    text.parse::<IpNet>()
        .or_else(|error| text.parse::<IpAddr>().map(IpNet::from).map_err(|_| error))
        .map_err(|error| RecordError::BadNetwork {
            value: text.to_owned(),
            reason: error.to_string(),
        })
}

fn location_problems(
    location: &ObjectLocation,
    bucket_field: &'static str,
    prefix_field: &'static str,
    problems: &mut Vec<RecordError>,
) {
    if let Some(bucket) = &location.bucket {
        if let Err(reason) = check_bucket(bucket) {
            problems.push(RecordError::BadObjectLocation {
                field: bucket_field,
                value: bucket.clone(),
                reason,
            });
        }
    }
    if let Some(prefix) = &location.prefix {
        if let Err(reason) = check_prefix(prefix) {
            problems.push(RecordError::BadObjectLocation {
                field: prefix_field,
                value: prefix.clone(),
                reason,
            });
        }
    }
}

fn is_usable_dir(path: &Path) -> bool {
    path.to_str().is_some_and(|text| !text.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(text: &str) -> VirtualPath {
        VirtualPath::parse_absolute(text).unwrap()
    }

    #[test]
    fn user_name_rules() {
        for good in ["alice", "a", "A.b_c-d", "0", &"x".repeat(64)] {
            assert!(UserName::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "-a", ".a", "a b", "a/b", "ä", "a:b", &"x".repeat(65)] {
            assert!(UserName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn networks_accept_cidr_and_bare_addresses() {
        assert_eq!(
            parse_network("10.0.0.0/8").unwrap().to_string(),
            "10.0.0.0/8"
        );
        assert_eq!(
            parse_network("10.1.2.3").unwrap().to_string(),
            "10.1.2.3/32"
        );
        assert_eq!(parse_network("::1").unwrap().to_string(), "::1/128");
        assert!(parse_network("10.0.0.0/33").is_err());
        assert!(parse_network("example.com").is_err());
    }

    #[test]
    fn mapped_ipv6_peers_match_ipv4_networks() {
        let mut user = UserRecord::new(UserName::parse("u").unwrap());
        assert!(user.allows_peer("192.0.2.1".parse().unwrap()));
        user.allowed_networks = vec![parse_network("10.0.0.0/8").unwrap()];
        assert!(user.allows_peer("10.9.9.9".parse().unwrap()));
        assert!(user.allows_peer("::ffff:10.9.9.9".parse().unwrap()));
        assert!(!user.allows_peer("11.0.0.1".parse().unwrap()));
    }

    #[test]
    fn permissions_parse_and_print() {
        assert_eq!(parse_permissions(["*"]).unwrap(), Permissions::ALL);
        assert_eq!(
            parse_permissions(["list", "upload"]).unwrap(),
            Permissions::LIST | Permissions::UPLOAD
        );
        assert!(matches!(
            parse_permissions(["list", "fly"]),
            Err(RecordError::UnknownPermission { name, .. }) if name == "fly"
        ));
        assert_eq!(permission_names(Permissions::ALL), vec!["*"]);
        assert_eq!(
            permission_names(Permissions::READ_ONLY),
            vec!["list", "download"]
        );
    }

    #[test]
    fn fs_spec_resolves_dirs_and_layers_rules() {
        let mut user = UserRecord::new(UserName::parse("alice").unwrap());
        user.folders = vec![
            Folder {
                path: path("/shared"),
                source: FolderSource::Dir(PathBuf::from("/srv/shared")),
                read_only: true,
            },
            Folder {
                path: path("/team"),
                source: FolderSource::Dir(PathBuf::from("team")),
                read_only: true,
            },
        ];
        user.rules = vec![PathRule {
            path: path("/team"),
            permissions: Permissions::LIST | Permissions::UPLOAD,
        }];
        let spec = user.fs_spec(Path::new("/data"));
        assert_eq!(spec.root, Place::Local(PathBuf::from("/data/alice")));
        assert_eq!(
            spec.mounts[0].place,
            Place::Local(PathBuf::from("/srv/shared"))
        );
        assert_eq!(
            spec.mounts[1].place,
            Place::Local(PathBuf::from("/data/team"))
        );
        assert_eq!(
            spec.permissions.for_path(&path("/shared/x")),
            Permissions::READ_ONLY
        );
        assert_eq!(
            spec.permissions.for_path(&path("/team")),
            Permissions::LIST | Permissions::UPLOAD
        );
        assert_eq!(spec.permissions.for_path(&path("/x")), Permissions::ALL);
        user.home = Some(PathBuf::from("/elsewhere"));
        assert_eq!(
            user.fs_spec(Path::new("/data")).root,
            Place::Local(PathBuf::from("/elsewhere"))
        );
    }

    #[test]
    fn problems_lists_cross_field_mistakes() {
        let mut user = UserRecord::new(UserName::parse("u").unwrap());
        assert!(user.problems().is_empty());
        user.protocols.clear();
        user.rules = vec![
            PathRule {
                path: VirtualPath::root(),
                permissions: Permissions::ALL,
            },
            PathRule {
                path: path("/a"),
                permissions: Permissions::ALL,
            },
            PathRule {
                path: path("/a"),
                permissions: Permissions::NONE,
            },
        ];
        user.home = Some(PathBuf::new());
        let pinned = CertificateFingerprint::of_der(b"partner");
        user.tls_client_certificates = vec![pinned, pinned];
        let problems = user.problems();
        assert!(problems.contains(&RecordError::DuplicateClientCertificate(pinned)));
        assert!(problems.contains(&RecordError::NoProtocols));
        assert!(problems.contains(&RecordError::RootRule));
        assert!(problems.contains(&RecordError::DuplicateRule(path("/a"))));
        assert!(problems.contains(&RecordError::BadDirectory("home")));
    }

    #[test]
    fn a_certificate_login_mode_needs_a_pinned_certificate() {
        let mut user = UserRecord::new(UserName::parse("partner").unwrap());
        for mode in [
            CertificateLogin::Certificate,
            CertificateLogin::CertificateAndPassword,
        ] {
            user.tls_client_certificate_login = mode;
            user.tls_client_certificates.clear();
            assert_eq!(
                user.problems(),
                [RecordError::CertificateLoginWithoutCertificates(mode)]
            );
            let pinned = CertificateFingerprint::of_der(b"partner");
            user.tls_client_certificates.push(pinned);
            assert!(user.problems().is_empty());
            assert!(user.has_client_certificate(&pinned));
            assert!(!user.has_client_certificate(&CertificateFingerprint::of_der(b"other")));
        }
    }
}
