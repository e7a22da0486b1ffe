//! S3 engines for tests: a moto server, and Garage when it is installed, each started once per
//! test process on ephemeral ports of 127.0.0.1 with one bucket; tests work under prefixes
//! of their own, so they share one server. Included by path (std and `tempfile` only) by the
//! S3 backend's unit tests and by the end-to-end tests in `tests/it`.
//!
//! A server lives as long as the test process: a watchdog shell started beside it kills it by
//! its PID once the test process is gone (a `static` is never dropped). A missing engine is a
//! loud `SKIPPED` line locally and a failure under CI (moto is required there; Garage only
//! when its binary is installed, which `.ci/run` arranges).
#![allow(dead_code)]

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Which S3 implementation a store is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// The `moto` mock server (honours `If-None-Match`).
    Moto,
    /// Garage (overwrites despite `If-None-Match`).
    Garage,
}

/// A running store and how to reach its bucket.
#[derive(Debug)]
pub struct TestStore {
    pub engine: Engine,
    pub endpoint: String,
    pub bucket: String,
    pub access_key: String,
    pub secret_key: String,
    pub region: String,
    /// Kept so the data directories live as long as the server.
    _dir: Option<tempfile::TempDir>,
}

/// Says loudly that a test did not run against an engine, or fails under CI.
fn skip(missing: &str, required_in_ci: bool) {
    if required_in_ci {
        assert!(
            std::env::var_os("CI").is_none(),
            "{missing}, and CI must run this test"
        );
    }
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("a test");
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {missing}");
}

/// A free port of 127.0.0.1 (free when asked; the server binds it right after).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("no free port on 127.0.0.1")
}

/// Kills `child` by its PID once this test process has exited, then removes `dir` (the
/// server's data, which the never-dropped `static` cannot clean up).
fn watch(child: &Child, dir: Option<&std::path::Path>) {
    let cleanup = dir
        .map(|dir| format!("; sleep 1; rm -rf '{}'", dir.display()))
        .unwrap_or_default();
    let script = format!(
        "while kill -0 {parent} 2>/dev/null; do sleep 1; done; kill {child}{cleanup}",
        parent = std::process::id(),
        child = child.id()
    );
    let _ = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
}

fn wait_for_port(port: u16, child: &mut Child, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited during start-up: {status}");
        }
        assert!(Instant::now() < deadline, "{what} did not start listening");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A raw, unsigned HTTP request (moto accepts them); returns the status code and the response.
fn raw_request(port: u16, method: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the test store");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).expect("send request");
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    (status, response)
}

fn which(binary: &str) -> Option<PathBuf> {
    let mut places: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect())
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("HOME") {
        places.push(PathBuf::from(home).join(".cargo/bin"));
    }
    places
        .into_iter()
        .map(|dir| dir.join(binary))
        .find(|candidate| candidate.is_file())
}

fn start_moto() -> Option<TestStore> {
    let binary = which("moto_server")?;
    let port = free_port();
    let mut child = Command::new(binary)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto_server");
    watch(&child, None);
    wait_for_port(port, &mut child, "moto_server");
    let bucket = "ferryd-tests";
    let (status, _) = raw_request(port, "PUT", &format!("/{bucket}"));
    assert_eq!(status, 200, "moto did not create the bucket");
    // The child is killed by the watchdog; forgetting the handle does not stop it.
    drop(child);
    Some(TestStore {
        engine: Engine::Moto,
        endpoint: format!("http://127.0.0.1:{port}"),
        bucket: bucket.to_owned(),
        access_key: "testing".to_owned(),
        secret_key: "testing".to_owned(),
        region: "us-east-1".to_owned(),
        _dir: None,
    })
}

fn start_garage() -> Option<TestStore> {
    let binary = which("garage")?;
    let dir = tempfile::tempdir().expect("temporary directory");
    let (s3_port, rpc_port) = (free_port(), free_port());
    let config = format!(
        r#"metadata_dir = "{root}/meta"
data_dir = "{root}/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:{rpc_port}"
rpc_public_addr = "127.0.0.1:{rpc_port}"
rpc_secret = "{secret}"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:{s3_port}"
root_domain = ".s3.garage.localhost"
"#,
        root = dir.path().display(),
        secret = "7e1c0ffee0ddba11f00dfacecafebeef7e1c0ffee0ddba11f00dfacecafebeef",
    );
    let config_path = dir.path().join("garage.toml");
    std::fs::write(&config_path, config).expect("write garage.toml");
    let access_key = "GK0123456789abcdef01234567";
    let secret_key = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let bucket = "ferryd-tests";
    let log = std::fs::File::create(dir.path().join("garage.log")).expect("garage log");
    let mut child = Command::new(binary)
        .args(["-c"])
        .arg(&config_path)
        .args(["server", "--single-node", "--default-bucket"])
        .env("GARAGE_DEFAULT_ACCESS_KEY", access_key)
        .env("GARAGE_DEFAULT_SECRET_KEY", secret_key)
        .env("GARAGE_DEFAULT_BUCKET", bucket)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start garage");
    watch(&child, Some(dir.path()));
    wait_for_port(s3_port, &mut child, "garage");
    drop(child);
    Some(TestStore {
        engine: Engine::Garage,
        endpoint: format!("http://127.0.0.1:{s3_port}"),
        bucket: bucket.to_owned(),
        access_key: access_key.to_owned(),
        secret_key: secret_key.to_owned(),
        region: "garage".to_owned(),
        _dir: Some(dir),
    })
}

/// The stores available here: moto (a failure under CI when missing) and Garage when its
/// binary is installed.
pub fn stores() -> Vec<&'static TestStore> {
    static MOTO: OnceLock<Option<TestStore>> = OnceLock::new();
    static GARAGE: OnceLock<Option<TestStore>> = OnceLock::new();
    let mut stores = Vec::new();
    match MOTO.get_or_init(start_moto) {
        Some(moto) => stores.push(moto),
        None => skip(
            "moto_server is not installed (pip install 'moto[server]')",
            true,
        ),
    }
    match GARAGE.get_or_init(start_garage) {
        Some(garage) => stores.push(garage),
        None => skip("garage is not installed (no Garage run)", false),
    }
    stores
}

impl TestStore {
    /// The port of the store's S3 endpoint.
    pub fn port(&self) -> u16 {
        self.endpoint
            .rsplit(':')
            .next()
            .and_then(|port| port.parse().ok())
            .expect("the endpoint has a port")
    }

    /// Multipart uploads begun and neither completed nor aborted under `prefix`; `None` where
    /// that cannot be asked without signing (Garage).
    pub fn pending_uploads(&self, prefix: &str) -> Option<usize> {
        if self.engine != Engine::Moto {
            return None;
        }
        let (status, response) = raw_request(
            self.port(),
            "GET",
            &format!("/{}?uploads&prefix={prefix}/", self.bucket),
        );
        assert_eq!(status, 200, "{response}");
        Some(response.matches("<UploadId>").count())
    }
}
