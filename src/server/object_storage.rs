//! `[s3]` at start: which buckets the users file puts homes and folders in, the credentials
//! (read before the sandbox, like every other secret), and a client per bucket; once serving,
//! each bucket's create-only mode is probed and logged.

use std::collections::BTreeSet;

use crate::auth::{FolderSource, UserDb};
use crate::config::{Config, S3Credentials};
use crate::key_material::s3_credentials::{self, S3Keys};
use crate::vfs::{ObjectStorageSettings, ObjectStores};

use super::error::StartError;

/// The buckets of every `storage = "s3"` home and folder, each named or `s3.bucket`.
pub(super) fn buckets_in_use(config: &Config, users: &UserDb) -> Result<Vec<String>, StartError> {
    let mut buckets = BTreeSet::new();
    let mut homeless = Vec::new();
    for user in users.iter() {
        let folders = user
            .folders
            .iter()
            .filter_map(|folder| match &folder.source {
                FolderSource::Object(location) => {
                    Some((format!("folder {}", folder.path), location))
                }
                FolderSource::Dir(_) => None,
            });
        let home = user
            .home_object
            .as_ref()
            .map(|location| ("home".to_owned(), location));
        for (what, location) in home.into_iter().chain(folders) {
            match location.bucket.as_ref().or(config.s3.bucket.as_ref()) {
                Some(bucket) => {
                    buckets.insert(bucket.clone());
                }
                None => homeless.push(format!("user {}: {what}", user.name)),
            }
        }
    }
    if !homeless.is_empty() {
        return Err(StartError::ObjectStorage(format!(
            "{} on object storage without a bucket: set s3.bucket in ferryd.toml, or bucket = \
             \"…\" in the users file",
            homeless.join(", ")
        )));
    }
    Ok(buckets.into_iter().collect())
}

/// Reads the credentials and builds a client for each bucket in use. Without `[s3]` and
/// without object-storage users there is nothing to read.
pub(super) fn prepare(config: &Config, users: &UserDb) -> Result<ObjectStores, StartError> {
    let buckets = buckets_in_use(config, users)?;
    let configured = config.s3.endpoint.is_some() || config.s3.bucket.is_some();
    if buckets.is_empty() && !configured {
        return Ok(ObjectStores::default());
    }
    let keys = read_keys(&config.s3.credentials)?;
    let s3 = &config.s3;
    let stores = ObjectStores::new(ObjectStorageSettings {
        endpoint: s3.endpoint.clone(),
        region: s3.region.clone(),
        default_bucket: s3.bucket.clone(),
        path_style: s3.path_style,
        access_key_id: keys.access_key_id,
        secret_access_key: keys.secret_access_key,
        session_token: keys.session_token,
        request_timeout: s3.request_timeout,
        connect_timeout: s3.connect_timeout,
        max_retries: s3.max_retries,
    });
    for bucket in s3.bucket.iter().chain(&buckets) {
        stores
            .prepare_bucket(bucket)
            .map_err(|error| StartError::ObjectStorage(format!("bucket {bucket}: {error}")))?;
    }
    Ok(stores)
}

/// The credentials `[s3]` names (`check-config` reads them the same way).
pub(super) fn read_keys(credentials: &S3Credentials) -> Result<S3Keys, StartError> {
    let keys = match credentials {
        S3Credentials::Environment => {
            s3_credentials::from_environment(|name| std::env::var(name).ok())
        }
        S3Credentials::File { path, profile } => s3_credentials::from_file(path, profile),
    };
    keys.map_err(|error| StartError::ObjectStorage(error.to_string()))
}

/// Probes every bucket in use (and the default one) on the runtime and logs the create-only
/// mode each gets, or why the store could not be reached (logins to it then fail until it
/// answers; each login tries again).
pub(super) fn probe_in_background(stores: &ObjectStores, config: &Config, users: &UserDb) {
    let Ok(mut buckets) = buckets_in_use(config, users) else {
        return;
    };
    if let Some(default) = &config.s3.bucket {
        if !buckets.contains(default) {
            buckets.push(default.clone());
        }
    }
    for bucket in buckets {
        let stores = stores.clone();
        tokio::spawn(async move {
            if let Err(error) = stores.create_only_mode(&bucket).await {
                tracing::warn!(
                    %bucket,
                    error = %error,
                    "object storage: the bucket did not answer the start-up probe; logins to \
                     homes and folders on it fail until it does"
                );
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn users(text: &str) -> UserDb {
        UserDb::parse(text, Path::new("users.toml")).unwrap()
    }

    const S3_USERS: &str = r#"
[[user]]
name = "alice"
storage = "s3"
permissions = ["list", "download"]

[[user]]
name = "bob"
permissions = ["list", "download"]
[[user.folder]]
path = "/shared"
storage = "s3"
bucket = "shared-bucket"
prefix = "shared"
"#;

    #[test]
    fn every_object_home_needs_a_bucket() {
        let config = Config::default();
        let error = buckets_in_use(&config, &users(S3_USERS)).unwrap_err();
        let text = error.to_string();
        assert!(text.contains("user alice: home"), "{text}");
        assert!(text.contains("s3.bucket"), "{text}");
        assert!(!text.contains("bob"), "{text}");
    }

    #[test]
    fn buckets_are_named_or_the_default() {
        let mut config = Config::default();
        config.s3.bucket = Some("ferryd".to_owned());
        let buckets = buckets_in_use(&config, &users(S3_USERS)).unwrap();
        assert_eq!(buckets, ["ferryd", "shared-bucket"]);
    }

    #[test]
    fn without_s3_nothing_is_read() {
        let config = Config::default();
        let local = users("[[user]]\nname = \"carol\"\npermissions = [\"list\"]\n");
        assert!(prepare(&config, &local).is_ok());
    }

    #[test]
    fn missing_credentials_stop_the_start() {
        let mut config = Config::default();
        config.s3.bucket = Some("ferryd".to_owned());
        config.s3.credentials = S3Credentials::File {
            path: "/nonexistent/ferryd-s3-credentials".into(),
            profile: "default".to_owned(),
        };
        let error = prepare(&config, &users(S3_USERS)).unwrap_err();
        assert!(error.to_string().contains("s3.credentials_file"), "{error}");
    }
}
