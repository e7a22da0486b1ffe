//! The S3 buckets behind `storage = "s3"` homes and folders: one client per bucket, shared by
//! every session of every user on it, and the create-only probe made once per bucket.
//!
//! The server builds [`ObjectStores`] once from `[s3]` and the credentials, before the
//! sandbox (a client reads the system's root certificates when it is built, so the buckets
//! the users file names are built then; one named later by a reloaded users file is built on
//! first use). Which create-only mode a bucket gets is learnt from the store itself on first
//! use (`S3Bucket::probe_create_only`) and logged, since engines differ (Garage 2.5 ignores
//! `If-None-Match`; moto and AWS honour it).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::OnceCell;

use super::error::{VfsError, VfsErrorKind};
use super::spec::ObjectPlace;
use super::storage::s3::{S3Bucket, S3Settings, S3Storage};

/// Where the probe writes its short-lived object: a name no client can reach (the reserved
/// `.ferryd-` prefix) at the bucket's root, outside every user's prefix.
const PROBE_PREFIX: &str = "";

/// How to reach the object store, with the credentials already read (plain data; the server
/// fills it in from `[s3]` and `key_material`).
#[derive(Clone)]
pub struct ObjectStorageSettings {
    /// `http(s)://host[:port]`; `None`: AWS for `region`.
    pub endpoint: Option<String>,
    /// The region requests are signed for.
    pub region: String,
    /// The bucket of homes and folders that name none.
    pub default_bucket: Option<String>,
    /// Path-style addressing.
    pub path_style: bool,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key (never in `Debug`).
    pub secret_access_key: String,
    /// Session token of temporary credentials.
    pub session_token: Option<String>,
    /// Bound of one request.
    pub request_timeout: Duration,
    /// Bound of opening a connection.
    pub connect_timeout: Duration,
    /// Retries of a request that is safe to retry.
    pub max_retries: u32,
}

impl fmt::Debug for ObjectStorageSettings {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("ObjectStorageSettings")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("default_bucket", &self.default_bucket)
            .field("path_style", &self.path_style)
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// One bucket: its client, and whether it honours create-only puts once the probe has run.
struct Bucket {
    client: S3Bucket,
    create_only: OnceCell<bool>,
}

/// The buckets of this daemon; cheap to clone.
#[derive(Clone)]
pub struct ObjectStores {
    inner: Arc<Inner>,
}

struct Inner {
    /// The settings, or why object storage cannot be used (told to a user whose home is on
    /// it, and logged).
    settings: Result<ObjectStorageSettings, String>,
    buckets: Mutex<HashMap<String, Arc<Bucket>>>,
}

impl fmt::Debug for ObjectStores {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("ObjectStores")
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

impl Default for ObjectStores {
    fn default() -> ObjectStores {
        ObjectStores::unavailable("object storage is not configured ([s3] in ferryd.toml)")
    }
}

impl ObjectStores {
    /// Buckets reached with `settings`.
    pub fn new(settings: ObjectStorageSettings) -> ObjectStores {
        ObjectStores::with(Ok(settings))
    }

    /// No object storage: every S3 home or folder fails to open with `reason`.
    pub fn unavailable(reason: impl Into<String>) -> ObjectStores {
        ObjectStores::with(Err(reason.into()))
    }

    fn with(settings: Result<ObjectStorageSettings, String>) -> ObjectStores {
        ObjectStores {
            inner: Arc::new(Inner {
                settings,
                buckets: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The bucket a place names, or the default one; `None` when neither exists.
    pub fn bucket_name<'a>(&'a self, named: Option<&'a str>) -> Option<&'a str> {
        named.or_else(|| {
            self.inner
                .settings
                .as_ref()
                .ok()
                .and_then(|settings| settings.default_bucket.as_deref())
        })
    }

    /// Builds the client of `name` now (no request is made), so it exists before the sandbox.
    pub fn prepare_bucket(&self, name: &str) -> Result<(), VfsError> {
        self.bucket(name).map(drop)
    }

    fn bucket(&self, name: &str) -> Result<Arc<Bucket>, VfsError> {
        let settings =
            self.inner.settings.as_ref().map_err(|reason| {
                VfsError::with_message(VfsErrorKind::Unsupported, reason.clone())
            })?;
        let mut buckets = self
            .inner
            .buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(bucket) = buckets.get(name) {
            return Ok(bucket.clone());
        }
        let client = S3Bucket::connect(&S3Settings {
            endpoint: settings.endpoint.clone(),
            region: settings.region.clone(),
            bucket: name.to_owned(),
            path_style: settings.path_style,
            access_key_id: settings.access_key_id.clone(),
            secret_access_key: settings.secret_access_key.clone(),
            session_token: settings.session_token.clone(),
            request_timeout: settings.request_timeout,
            connect_timeout: settings.connect_timeout,
            max_retries: usize::try_from(settings.max_retries).unwrap_or(usize::MAX),
        })?;
        let bucket = Arc::new(Bucket {
            client,
            create_only: OnceCell::new(),
        });
        buckets.insert(name.to_owned(), bucket.clone());
        Ok(bucket)
    }

    /// Whether bucket `name` honours create-only puts: probed on first call (and logged), then
    /// remembered. A failed probe (the store is down) is not remembered: the next call tries
    /// again.
    pub async fn create_only_mode(&self, name: &str) -> Result<bool, VfsError> {
        let bucket = self.bucket(name)?;
        let honoured = bucket
            .create_only
            .get_or_try_init(|| async {
                let honoured = bucket.client.probe_create_only(PROBE_PREFIX).await?;
                if honoured {
                    tracing::info!(
                        bucket = bucket.client.name(),
                        "object storage: the store honours If-None-Match; create-only uploads \
                         (STOU, SFTP EXCL) are conditional puts"
                    );
                } else {
                    tracing::warn!(
                        bucket = bucket.client.name(),
                        "object storage: the store ignores If-None-Match (it overwrites); \
                         create-only uploads check for the name just before completing, \
                         which another node can race"
                    );
                }
                Ok::<bool, VfsError>(honoured)
            })
            .await?;
        Ok(*honoured)
    }

    /// The backend of an object-storage place: its bucket's shared client, probed once.
    pub(crate) async fn storage(&self, place: &ObjectPlace) -> Result<S3Storage, VfsError> {
        let Some(name) = self.bucket_name(place.bucket.as_deref()) else {
            return Err(VfsError::with_detail(
                VfsErrorKind::Unsupported,
                "no bucket: set s3.bucket in ferryd.toml or the user's bucket",
            ));
        };
        let name = name.to_owned();
        let honoured = self.create_only_mode(&name).await?;
        let bucket = self.bucket(&name)?;
        Ok(S3Storage::new(
            bucket.client.clone(),
            place.prefix.clone(),
            honoured,
        ))
    }
}
