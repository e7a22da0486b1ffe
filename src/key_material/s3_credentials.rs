//! S3 access keys: read from the daemon's environment or from an AWS-style credentials file,
//! never from the users file. The file gets the same exposure check as a private key.

use std::fmt;
use std::path::{Path, PathBuf};

use super::{check_private_file, ExposedFileError};

/// An access key pair (and session token) for an S3-compatible store.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Keys {
    /// `aws_access_key_id` / `AWS_ACCESS_KEY_ID`.
    pub access_key_id: String,
    /// `aws_secret_access_key` / `AWS_SECRET_ACCESS_KEY`.
    pub secret_access_key: String,
    /// `aws_session_token` / `AWS_SESSION_TOKEN`, for temporary credentials.
    pub session_token: Option<String>,
}

impl fmt::Debug for S3Keys {
    // Logs and error chains may print a config; the secret must never reach them.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("S3Keys")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// Why no keys could be read.
#[derive(Debug, thiserror::Error)]
pub enum S3CredentialsError {
    /// The credentials file could not be read.
    #[error("s3.credentials_file = {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Other users may read the credentials file.
    #[error(transparent)]
    Exposed(#[from] ExposedFileError),
    /// The profile or one of its keys is missing from the file.
    #[error("s3.credentials_file = {path}: {problem}")]
    Incomplete {
        /// The file.
        path: PathBuf,
        /// What is missing, e.g. "no `[ferryd]` section".
        problem: String,
    },
    /// `credentials_file` is not set and the environment lacks a variable.
    #[error(
        "{name} is not set: give the daemon AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY \
         (systemd: EnvironmentFile=), or set s3.credentials_file"
    )]
    MissingEnvironment {
        /// The variable.
        name: &'static str,
    },
}

/// Reads `profile` of the credentials file at `path`, refusing a file others may read.
pub fn from_file(path: &Path, profile: &str) -> Result<S3Keys, S3CredentialsError> {
    check_private_file("s3.credentials_file", path)?;
    let text = std::fs::read_to_string(path).map_err(|source| S3CredentialsError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(&text, profile).map_err(|problem| S3CredentialsError::Incomplete {
        path: path.to_owned(),
        problem,
    })
}

/// Reads the keys from `lookup` (the process environment in production).
pub fn from_environment(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<S3Keys, S3CredentialsError> {
    let required = |name: &'static str| {
        lookup(name)
            .filter(|value| !value.is_empty())
            .ok_or(S3CredentialsError::MissingEnvironment { name })
    };
    Ok(S3Keys {
        access_key_id: required("AWS_ACCESS_KEY_ID")?,
        secret_access_key: required("AWS_SECRET_ACCESS_KEY")?,
        session_token: lookup("AWS_SESSION_TOKEN").filter(|token| !token.is_empty()),
    })
}

/// The keys of `[profile]` in AWS credentials-file syntax (`key = value` lines under
/// `[section]` headers, `#`/`;` comments). Pure, so the format is tested without files.
pub fn parse(text: &str, profile: &str) -> Result<S3Keys, String> {
    let mut in_profile = false;
    let mut seen_profile = false;
    let (mut id, mut secret, mut token) = (None, None, None);
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(section) = line.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            in_profile = section.trim() == profile;
            seen_profile |= in_profile;
            continue;
        }
        if !in_profile {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = Some(value.trim().to_owned()).filter(|value| !value.is_empty());
        match key.trim() {
            "aws_access_key_id" => id = value,
            "aws_secret_access_key" => secret = value,
            "aws_session_token" => token = value,
            _ => {}
        }
    }
    if !seen_profile {
        return Err(format!("no [{profile}] section"));
    }
    Ok(S3Keys {
        access_key_id: id.ok_or_else(|| format!("[{profile}] has no aws_access_key_id"))?,
        secret_access_key: secret
            .ok_or_else(|| format!("[{profile}] has no aws_secret_access_key"))?,
        session_token: token,
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    const FILE: &str = "# keys for ferryd\n[default]\naws_access_key_id = AKDEFAULT\naws_secret_access_key = s1\n\n[ferryd]\naws_access_key_id=GKferryd\naws_secret_access_key = s2 \naws_session_token = t\n";

    #[test]
    fn the_named_profile_is_read() {
        let keys = parse(FILE, "ferryd").unwrap();
        assert_eq!(keys.access_key_id, "GKferryd");
        assert_eq!(keys.secret_access_key, "s2");
        assert_eq!(keys.session_token.as_deref(), Some("t"));
        assert_eq!(parse(FILE, "default").unwrap().access_key_id, "AKDEFAULT");
        assert_eq!(parse(FILE, "nope").unwrap_err(), "no [nope] section");
        let partial = parse("[p]\naws_access_key_id = x\n", "p").unwrap_err();
        assert!(partial.contains("aws_secret_access_key"), "{partial}");
    }

    #[test]
    fn the_secret_never_shows_in_debug_output() {
        let keys = parse(FILE, "ferryd").unwrap();
        let shown = format!("{keys:?}");
        assert!(
            shown.contains("GKferryd") && !shown.contains("s2"),
            "{shown}"
        );
    }

    #[test]
    fn the_environment_needs_both_keys() {
        fn env(id: Option<&'static str>) -> impl Fn(&str) -> Option<String> {
            move |name| match name {
                "AWS_ACCESS_KEY_ID" => id.map(str::to_owned),
                "AWS_SECRET_ACCESS_KEY" => Some("secret".to_owned()),
                _ => None,
            }
        }
        let keys = from_environment(env(Some("AK"))).unwrap();
        assert_eq!(
            (keys.access_key_id.as_str(), keys.session_token),
            ("AK", None)
        );
        let missing = from_environment(env(None)).unwrap_err().to_string();
        assert!(
            missing.contains("AWS_ACCESS_KEY_ID is not set"),
            "{missing}"
        );
    }

    #[test]
    fn a_world_readable_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s3");
        std::fs::write(&path, FILE).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let error = from_file(&path, "ferryd").unwrap_err().to_string();
        assert!(error.contains("chmod 600"), "{error}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(
            from_file(&path, "ferryd").unwrap().access_key_id,
            "GKferryd"
        );
        let missing = from_file(&dir.path().join("none"), "ferryd").unwrap_err();
        assert!(matches!(missing, S3CredentialsError::Read { .. }));
    }
}
