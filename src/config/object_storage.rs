//! `[s3]` of `ferryd.toml`: how to reach the S3-compatible store behind the users whose home
//! or folders say `storage = "s3"` (the users file names only bucket and prefix, so moving
//! the store is one edit here, and no secret ever sits in the users file).

use std::path::PathBuf;
use std::time::Duration;

/// Where the credentials come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum S3Credentials {
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and optionally `AWS_SESSION_TOKEN` of the
    /// daemon's environment (a systemd `EnvironmentFile=` or `LoadCredential=`).
    Environment,
    /// An AWS-style credentials file (`[profile]` sections with `aws_access_key_id`,
    /// `aws_secret_access_key`, `aws_session_token`), which must not be world-readable.
    File {
        /// The file (absolute, or relative to the state directory).
        path: PathBuf,
        /// The section to read.
        profile: String,
    },
}

/// The validated `[s3]` table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Config {
    /// `http(s)://host[:port]` of the store; `None`: AWS for the region.
    pub endpoint: Option<String>,
    /// The region requests are signed for (Garage: its `s3_region`).
    pub region: String,
    /// The bucket of users and folders that name none.
    pub bucket: Option<String>,
    /// `https://endpoint/bucket/key` rather than `https://bucket.endpoint/key`.
    pub path_style: bool,
    /// Where the credentials come from.
    pub credentials: S3Credentials,
    /// Bound on one request to the store (a dead store fails a request, never hangs it).
    pub request_timeout: Duration,
    /// Bound on opening a connection to the store.
    pub connect_timeout: Duration,
    /// Retries of a request that failed in a way that is safe to retry, with backoff.
    pub max_retries: u32,
}

/// Refuses a bucket name that S3 would refuse (3 to 63 lowercase letters, digits, `.` and `-`,
/// starting and ending with a letter or digit), so the mistake shows at load, not at login.
pub fn check_bucket(bucket: &str) -> Result<(), &'static str> {
    let valid_chars = bucket.bytes().all(|byte| {
        byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'.' || byte == b'-'
    });
    let valid_ends = bucket
        .bytes()
        .next()
        .zip(bucket.bytes().last())
        .is_some_and(|(first, last)| first.is_ascii_alphanumeric() && last.is_ascii_alphanumeric());
    if (3..=63).contains(&bucket.len()) && valid_chars && valid_ends {
        Ok(())
    } else {
        Err("must be 3 to 63 lowercase letters, digits, '.' or '-', starting and ending with a letter or digit")
    }
}

/// `s3.endpoint` as written: `http(s)://host[:port]`, without a trailing slash.
pub(super) fn check_endpoint(text: &str) -> Result<String, String> {
    let rest = text
        .strip_prefix("http://")
        .or_else(|| text.strip_prefix("https://"));
    match rest {
        Some(host) if !host.is_empty() && !host.contains(['?', '#', ' ']) => {
            Ok(text.trim_end_matches('/').to_owned())
        }
        _ => Err(format!(
            "{text:?} is not a URL such as \"http://127.0.0.1:3900\""
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::Config;

    #[test]
    fn defaults_use_the_environment_and_path_style() {
        let config = Config::default();
        assert_eq!(config.s3.credentials, S3Credentials::Environment);
        assert!(config.s3.path_style);
        assert_eq!(config.s3.endpoint, None);
        assert_eq!(config.s3.request_timeout, Duration::from_secs(30));
    }

    #[test]
    fn a_complete_section_is_read() {
        let text = r#"
[server]
state_dir = "/var/lib/ferryd/state"

[s3]
endpoint = "http://127.0.0.1:3900/"
region = "garage"
bucket = "ferryd"
path_style = true
credentials_file = "s3-credentials"
profile = "ferryd"
request_timeout_secs = 10
max_retries = 2
"#;
        let config = Config::parse(text, Path::new("ferryd.toml")).unwrap();
        assert_eq!(config.s3.endpoint.as_deref(), Some("http://127.0.0.1:3900"));
        assert_eq!(config.s3.bucket.as_deref(), Some("ferryd"));
        assert_eq!(
            config.s3.credentials,
            S3Credentials::File {
                path: PathBuf::from("/var/lib/ferryd/state/s3-credentials"),
                profile: "ferryd".to_owned()
            }
        );
        assert_eq!(config.s3.max_retries, 2);
        assert_eq!(config.s3.request_timeout, Duration::from_secs(10));
    }

    #[test]
    fn mistakes_name_their_keys() {
        let text = "[s3]\nendpoint = \"ftp://x\"\nbucket = \"No_Good\"\nregion = \"\"\nrequest_timeout_secs = 0\n";
        let error = Config::parse(text, Path::new("ferryd.toml")).unwrap_err();
        let keys: Vec<&str> = error.problems().iter().map(|p| p.key.as_str()).collect();
        for key in [
            "s3.endpoint",
            "s3.bucket",
            "s3.region",
            "s3.request_timeout_secs",
        ] {
            assert!(keys.contains(&key), "{key} missing in {keys:?}");
        }
        let unknown = Config::parse("[s3]\nsecret = \"x\"\n", Path::new("ferryd.toml"));
        assert!(unknown.unwrap_err().to_string().contains("secret"));
    }

    #[test]
    fn bucket_names_follow_the_s3_rules() {
        for good in ["ferryd", "my-bucket.1", "abc"] {
            assert_eq!(check_bucket(good), Ok(()), "{good}");
        }
        for bad in [
            "ab",
            "Upper",
            "-lead",
            "trail.",
            "under_score",
            &"a".repeat(64),
        ] {
            assert!(check_bucket(bad).is_err(), "{bad}");
        }
    }
}
