//! The S3 backend's test stores (`tests/support/s3_engines.rs`: moto, and Garage when
//! installed) as clients and storages of this backend, and a relay that counts `GET`s.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{S3Bucket, S3Settings, S3Storage};

#[path = "../../../../tests/support/s3_engines.rs"]
mod engines;

pub(super) use engines::{stores, Engine, TestStore};

impl TestStore {
    /// Settings of this store's bucket with short timeouts.
    pub(super) fn settings(&self) -> S3Settings {
        S3Settings {
            endpoint: Some(self.endpoint.clone()),
            region: self.region.clone(),
            bucket: self.bucket.clone(),
            path_style: true,
            access_key_id: self.access_key.clone(),
            secret_access_key: self.secret_key.clone(),
            session_token: None,
            request_timeout: Duration::from_secs(20),
            connect_timeout: Duration::from_secs(2),
            max_retries: 2,
        }
    }

    /// A client of the bucket, for this test's runtime (a client's connections belong to the
    /// runtime that made them).
    pub(super) fn bucket(&self) -> S3Bucket {
        S3Bucket::connect(&self.settings()).expect("client of the test store")
    }

    /// The probe of conditional puts; retried for a while, because a store may accept
    /// connections before its bucket is ready (Garage creates its default bucket at start).
    pub(super) async fn probe(&self, bucket: &S3Bucket) -> bool {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match bucket.probe_create_only("probes").await {
                Ok(honoured) => return honoured,
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(error) => panic!("the {:?} test store is not ready: {error}", self.engine),
            }
        }
    }

    /// A storage under a prefix nobody else uses, with exclusive publishes as probed.
    pub(super) async fn storage(&self) -> (S3Storage, String) {
        let bucket = self.bucket();
        let honoured = self.probe(&bucket).await;
        let prefix = format!("t{:016x}/home", rand::random::<u64>());
        (S3Storage::new(bucket, prefix.clone(), honoured), prefix)
    }
}

/// A TCP relay in front of a store that counts the `GET` requests passing through it (the
/// read-ahead's requests), listening on 127.0.0.1.
pub(super) struct CountingProxy {
    pub(super) port: u16,
    gets: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl CountingProxy {
    pub(super) async fn start(upstream: u16) -> CountingProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let gets = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&gets);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let counter = Arc::clone(&counter);
                tokio::spawn(relay(client, upstream, counter));
            }
        });
        CountingProxy { port, gets, task }
    }

    pub(super) fn gets(&self) -> usize {
        self.gets.load(Ordering::SeqCst)
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn relay(client: tokio::net::TcpStream, upstream: u16, gets: Arc<AtomicUsize>) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await else {
        return;
    };
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    tokio::spawn(async move {
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
    });
    // Requests carry no body when they are GETs, so a request line is at a chunk's start or
    // after a CRLF; the last bytes of a chunk are kept to see a line split across two.
    let mut buffer = vec![0u8; 64 * 1024];
    let mut tail: Vec<u8> = Vec::new();
    loop {
        let read = match client_read.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => read,
        };
        let mut seen = std::mem::take(&mut tail);
        let start = seen.len();
        seen.extend_from_slice(&buffer[..read]);
        let count = seen
            .windows(5)
            .enumerate()
            .filter(|(index, window)| {
                *window == b"GET /"
                    && index + 5 > start
                    && (*index == 0 || seen[index - 1] == b'\n')
            })
            .count();
        gets.fetch_add(count, Ordering::SeqCst);
        tail = seen[seen.len().saturating_sub(5)..].to_vec();
        if server_write.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}
