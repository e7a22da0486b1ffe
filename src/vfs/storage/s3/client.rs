//! `S3Bucket`: one `object_store` client per bucket, built from plain settings, shared by
//! every mount on that bucket; and the start-up probe of conditional puts.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3, AmazonS3Builder, S3CopyIfNotExists};
use object_store::path::Path as Key;
use object_store::{
    BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt as _, PutMode, PutOptions,
    PutPayload, RetryConfig,
};

use super::errors::vfs_error;
use crate::vfs::error::{VfsError, VfsErrorKind};

/// Where a bucket is and how to reach it (plain data; the config step fills it in).
#[derive(Clone)]
pub(crate) struct S3Settings {
    /// `http(s)://host:port` of an S3-compatible store; `None`: AWS for `region`.
    pub(crate) endpoint: Option<String>,
    /// The region (Garage: `garage`, moto: any).
    pub(crate) region: String,
    /// The bucket's name.
    pub(crate) bucket: String,
    /// `endpoint/bucket/key` addressing instead of `bucket.endpoint/key`.
    pub(crate) path_style: bool,
    /// Access key id.
    pub(crate) access_key_id: String,
    /// Secret access key (never logged, never in `Debug`).
    pub(crate) secret_access_key: String,
    /// Session token of temporary credentials.
    pub(crate) session_token: Option<String>,
    /// Bound of one request, from connecting to the end of its body.
    pub(crate) request_timeout: Duration,
    /// Bound of establishing a connection.
    pub(crate) connect_timeout: Duration,
    /// Retries of a failed request (`object_store` retries idempotent requests, with backoff).
    pub(crate) max_retries: usize,
}

impl fmt::Debug for S3Settings {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("bucket", &self.bucket)
            .field("path_style", &self.path_style)
            .field("request_timeout", &self.request_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("max_retries", &self.max_retries)
            .finish_non_exhaustive()
    }
}

/// A connected bucket: cheap to clone, one HTTP connection pool for all its users.
#[derive(Clone)]
pub(crate) struct S3Bucket {
    pub(super) store: Arc<AmazonS3>,
    /// `bucket@endpoint`, for `Debug` and logs.
    name: Arc<str>,
}

impl fmt::Debug for S3Bucket {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("S3Bucket")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl S3Bucket {
    /// Builds the client (no request is made). Every request has `request_timeout` and
    /// `connect_timeout`, and failed requests are retried at most `max_retries` times within
    /// twice the request timeout, so a dead store fails an operation instead of hanging it.
    pub(crate) fn connect(settings: &S3Settings) -> Result<S3Bucket, VfsError> {
        let options = ClientOptions::new()
            .with_timeout(settings.request_timeout)
            .with_connect_timeout(settings.connect_timeout);
        let retry = RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(2),
                base: 2.0,
            },
            max_retries: settings.max_retries,
            retry_timeout: settings.request_timeout.saturating_mul(2),
        };
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&settings.bucket)
            .with_region(&settings.region)
            .with_access_key_id(&settings.access_key_id)
            .with_secret_access_key(&settings.secret_access_key)
            .with_virtual_hosted_style_request(!settings.path_style)
            .with_client_options(options)
            .with_retry(retry)
            // A copy that must not replace: one part copied server-side into a multipart
            // upload completed with `If-None-Match: *` (used only where the probe says the
            // store honours it).
            .with_copy_if_not_exists(S3CopyIfNotExists::Multipart);
        if let Some(token) = &settings.session_token {
            builder = builder.with_token(token);
        }
        if let Some(endpoint) = &settings.endpoint {
            builder = builder
                .with_allow_http(endpoint.starts_with("http://"))
                .with_endpoint(endpoint);
        }
        let store = builder.build().map_err(|error| VfsError {
            source: Some(std::io::Error::other(error)),
            ..VfsError::with_detail(VfsErrorKind::InvalidPath, "invalid object storage settings")
        })?;
        let endpoint = settings.endpoint.as_deref().unwrap_or("aws");
        Ok(S3Bucket {
            store: Arc::new(store),
            name: format!("{}@{endpoint}", settings.bucket).into(),
        })
    }

    /// Whether the store honours `If-None-Match: *` on a put (`PutMode::Create`): puts a probe
    /// object under `scratch_prefix` twice, true when the second put is refused, false when
    /// the store overwrote (Garage); the probe is deleted either way. Callers log the mode.
    pub(crate) async fn probe_create_only(&self, scratch_prefix: &str) -> Result<bool, VfsError> {
        let name = format!(".ferryd-probe-{:016x}", rand::random::<u64>());
        let scratch = scratch_prefix.trim_matches('/');
        let raw = if scratch.is_empty() {
            name
        } else {
            format!("{scratch}/{name}")
        };
        let key = Key::parse(raw).map_err(|_| {
            VfsError::with_detail(VfsErrorKind::InvalidPath, "invalid object storage prefix")
        })?;
        let create = || PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        let payload = || PutPayload::from_static(b"ferryd create-only probe");
        self.store
            .put_opts(&key, payload(), create())
            .await
            .map_err(vfs_error)?;
        let second = self.store.put_opts(&key, payload(), create()).await;
        let deleted = self.store.delete(&key).await;
        let honoured = match second {
            Ok(_) => false,
            Err(object_store::Error::AlreadyExists { .. })
            | Err(object_store::Error::Precondition { .. }) => true,
            Err(error) => return Err(vfs_error(error)),
        };
        deleted.map_err(vfs_error)?;
        Ok(honoured)
    }

    /// The bucket's name and endpoint, for logs.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }
}
