//! SFTP test clients: russh + russh-sftp sessions, raw SFTP channels for byte-level tests,
//! client keys for the CLI tools, and `SftpTestServer` (the `TestServer` plus SFTP helpers).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{TestServer, PASSWORD, USER};
use ferryd::auth::UserDb;
use ferryd::config::Config;
use russh::client::{self, DisconnectReason};
use russh::keys::{Algorithm, PrivateKey, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh::ChannelMsg;
use russh_sftp::client::SftpSession;

/// The daemon (`harness::TestServer`, every listener) with SFTP helpers on top.
pub struct SftpTestServer {
    pub server: TestServer,
    pub dir: PathBuf,
    pub config: Config,
    pub addr: SocketAddr,
}

impl SftpTestServer {
    /// The test config and users.
    pub async fn start() -> SftpTestServer {
        SftpTestServer::start_with(|_, _| {}).await
    }

    /// After `customize` has adjusted the config and users.
    pub async fn start_with(customize: impl FnOnce(&mut Config, &mut UserDb)) -> SftpTestServer {
        let server = TestServer::start_with(customize).await;
        SftpTestServer {
            dir: server.dir.path().to_owned(),
            config: server.config.clone(),
            addr: server.addresses.sftp.expect("sftp listener not started"),
            server,
        }
    }

    /// `user`'s home on disk.
    pub fn home(&self, user: &str) -> PathBuf {
        self.server.home(user)
    }

    /// Graceful shutdown; returns once every session task has ended. The temp dir stays.
    pub async fn stop(&self) {
        let services = self.server.running().services();
        services.shutdown.cancel();
        services.tasks.close();
        tokio::time::timeout(Duration::from_secs(20), services.tasks.wait())
            .await
            .expect("server did not stop");
    }
}

/// A russh client handler that trusts any host key and remembers why it was disconnected.
#[derive(Clone, Default)]
pub struct Client {
    pub host_key: Arc<Mutex<Option<russh::keys::PublicKey>>>,
    pub disconnect: Arc<Mutex<Option<String>>>,
}

impl client::Handler for Client {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        if let PublicKeyOrCertificate::PublicKey { key, .. } = key {
            *self.host_key.lock().unwrap() = Some(key.clone());
        }
        Ok(true)
    }

    async fn disconnected(
        &mut self,
        reason: DisconnectReason<Self::Error>,
    ) -> Result<(), Self::Error> {
        let text = match reason {
            DisconnectReason::ReceivedDisconnect(info) => info.message,
            DisconnectReason::Error(error) => error.to_string(),
        };
        *self.disconnect.lock().unwrap() = Some(text);
        Ok(())
    }
}

pub type Connection = client::Handle<Client>;

/// Waits up to `patience` for the server to end `connection` and returns the reason it sent
/// (empty when it sent none); panics with `what` if the connection is still open then.
pub async fn disconnect_reason(
    connection: Connection,
    client: &Client,
    patience: std::time::Duration,
    what: &str,
) -> String {
    tokio::time::timeout(patience, connection)
        .await
        .unwrap_or_else(|_| panic!("{what}"))
        .ok();
    client
        .disconnect
        .lock()
        .unwrap()
        .clone()
        .unwrap_or_default()
}

/// Connects without authenticating.
pub async fn connect(addr: SocketAddr) -> (Connection, Client) {
    let client = Client::default();
    let config = Arc::new(client::Config::default());
    let handle = client::connect(config, addr, client.clone()).await.unwrap();
    (handle, client)
}

/// Connects and logs in as the test user with a password.
pub async fn login(addr: SocketAddr) -> Connection {
    login_password(addr, USER, PASSWORD).await.unwrap()
}

/// Password login; `Err` carries the auth result when refused.
pub async fn login_password(
    addr: SocketAddr,
    user: &str,
    password: &str,
) -> Result<Connection, client::AuthResult> {
    let (mut handle, _) = connect(addr).await;
    let result = handle.authenticate_password(user, password).await.unwrap();
    if result.success() {
        Ok(handle)
    } else {
        Err(result)
    }
}

/// Public key login.
pub async fn login_key(
    addr: SocketAddr,
    user: &str,
    key: &PrivateKey,
) -> Result<Connection, client::AuthResult> {
    let (mut handle, _) = connect(addr).await;
    let key = PrivateKeyWithHashAlg::new(Arc::new(key.clone()), None);
    let result = handle.authenticate_publickey(user, key).await.unwrap();
    if result.success() {
        Ok(handle)
    } else {
        Err(result)
    }
}

/// Opens the SFTP subsystem on a logged-in connection.
pub async fn open_sftp(handle: &Connection) -> SftpSession {
    let channel = handle.channel_open_session().await.unwrap();
    channel.request_subsystem(true, "sftp").await.unwrap();
    SftpSession::new(channel.into_stream()).await.unwrap()
}

/// Logs in as the test user and opens SFTP.
pub async fn sftp(addr: SocketAddr) -> (Connection, SftpSession) {
    let handle = login(addr).await;
    let session = open_sftp(&handle).await;
    (handle, session)
}

/// A fresh ed25519 key.
pub fn new_key() -> PrivateKey {
    PrivateKey::random(&mut russh::keys::key::safe_rng(), Algorithm::Ed25519).unwrap()
}

/// Writes `key` in OpenSSH format with mode 0600 (as `ssh -i` demands) and returns the path.
pub fn write_key(dir: &Path, key: &PrivateKey) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("id_ed25519");
    let text = key
        .to_openssh(russh::keys::ssh_key::LineEnding::LF)
        .unwrap();
    std::fs::write(&path, text.as_bytes()).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// Runs a command on a fresh session channel; returns (stdout, stderr, exit status).
pub async fn exec(handle: &Connection, command: &str) -> (Vec<u8>, Vec<u8>, Option<u32>) {
    let mut channel = handle.channel_open_session().await.unwrap();
    channel.exec(true, command).await.unwrap();
    // No stdin: hash commands without file arguments read until EOF.
    channel.eof().await.unwrap();
    let (mut stdout, mut stderr, mut status) = (Vec::new(), Vec::new(), None);
    while let Some(message) = channel.wait().await {
        match message {
            ChannelMsg::Data { data } => stdout.extend_from_slice(&data),
            ChannelMsg::ExtendedData { data, .. } => stderr.extend_from_slice(&data),
            ChannelMsg::ExitStatus { exit_status } => status = Some(exit_status),
            ChannelMsg::Close => break,
            _ => {}
        }
    }
    (stdout, stderr, status)
}

/// An SFTP channel driven byte by byte, for malformed-input and protocol-detail tests.
pub struct RawSftp {
    channel: russh::Channel<client::Msg>,
    buffer: Vec<u8>,
}

impl RawSftp {
    /// Opens the subsystem without sending INIT.
    pub async fn open(handle: &Connection) -> RawSftp {
        let channel = handle.channel_open_session().await.unwrap();
        channel.request_subsystem(true, "sftp").await.unwrap();
        RawSftp {
            channel,
            buffer: Vec::new(),
        }
    }

    /// Opens the subsystem and completes INIT/VERSION; returns the VERSION body.
    pub async fn init(handle: &Connection) -> (RawSftp, Vec<u8>) {
        let mut raw = RawSftp::open(handle).await;
        raw.send_packet(&[vec![1], 3u32.to_be_bytes().to_vec()].concat())
            .await;
        let version = raw.recv().await.expect("no VERSION");
        assert_eq!(version[0], 2, "not a VERSION packet");
        (raw, version)
    }

    /// Sends raw bytes on the channel.
    pub async fn send(&mut self, bytes: &[u8]) {
        self.channel.data_bytes(bytes.to_vec()).await.unwrap();
    }

    /// Sends one framed packet.
    pub async fn send_packet(&mut self, body: &[u8]) {
        let mut framed = (body.len() as u32).to_be_bytes().to_vec();
        framed.extend_from_slice(body);
        self.send(&framed).await;
    }

    /// The next packet body; `None` once the server closed the channel.
    pub async fn recv(&mut self) -> Option<Vec<u8>> {
        loop {
            if self.buffer.len() >= 4 {
                let len = u32::from_be_bytes(self.buffer[..4].try_into().unwrap()) as usize;
                if self.buffer.len() >= 4 + len {
                    let body = self.buffer[4..4 + len].to_vec();
                    self.buffer.drain(..4 + len);
                    return Some(body);
                }
            }
            match self.channel.wait().await? {
                ChannelMsg::Data { data } => self.buffer.extend_from_slice(&data),
                ChannelMsg::Eof | ChannelMsg::Close => return None,
                _ => {}
            }
        }
    }

    /// Sends `body` and returns the next reply.
    pub async fn request(&mut self, body: &[u8]) -> Vec<u8> {
        self.send_packet(body).await;
        self.recv()
            .await
            .expect("channel closed instead of a reply")
    }
}

/// Wire helpers for hand-built request bodies.
pub mod wire {
    /// `string`: length-prefixed bytes.
    pub fn string(value: &[u8]) -> Vec<u8> {
        let mut out = (value.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(value);
        out
    }

    /// A request body: type, id, then fields.
    pub fn request(packet_type: u8, id: u32, fields: &[Vec<u8>]) -> Vec<u8> {
        let mut out = vec![packet_type];
        out.extend_from_slice(&id.to_be_bytes());
        for field in fields {
            out.extend_from_slice(field);
        }
        out
    }

    /// An `SSH_FXP_EXTENDED` body.
    pub fn extended(id: u32, name: &str, fields: &[Vec<u8>]) -> Vec<u8> {
        let mut all = vec![string(name.as_bytes())];
        all.extend_from_slice(fields);
        request(200, id, &all)
    }

    /// The status code of a STATUS reply (`None` if `reply` is not a STATUS).
    pub fn status_code(reply: &[u8]) -> Option<u32> {
        (reply[0] == 101).then(|| u32::from_be_bytes(reply[5..9].try_into().unwrap()))
    }

    /// The request id of any reply.
    pub fn reply_id(reply: &[u8]) -> u32 {
        u32::from_be_bytes(reply[1..5].try_into().unwrap())
    }

    /// The handle of a HANDLE reply.
    pub fn handle(reply: &[u8]) -> Vec<u8> {
        assert_eq!(reply[0], 102, "not a HANDLE reply: {reply:?}");
        let len = u32::from_be_bytes(reply[5..9].try_into().unwrap()) as usize;
        reply[9..9 + len].to_vec()
    }

    /// Extension names listed in a VERSION body.
    pub fn version_extensions(version: &[u8]) -> Vec<(String, String)> {
        let mut rest = &version[5..];
        let mut pairs = Vec::new();
        let take = |rest: &mut &[u8]| {
            let len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
            let value = String::from_utf8_lossy(&rest[4..4 + len]).into_owned();
            *rest = &rest[4 + len..];
            value
        };
        while !rest.is_empty() {
            let name = take(&mut rest);
            let data = take(&mut rest);
            pairs.push((name, data));
        }
        pairs
    }
}

/// Uploads `data` to `path` (CREAT|TRUNC|WRITE, as clients upload) and closes the file.
pub async fn put(sftp: &SftpSession, path: &str, data: &[u8]) {
    use tokio::io::AsyncWriteExt;
    let mut file = sftp.create(path).await.unwrap();
    file.write_all(data).await.unwrap();
    file.shutdown().await.unwrap();
}
