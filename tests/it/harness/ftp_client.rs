//! FTPS test clients: a raw tokio-rustls client that controls exactly what a real client would
//! (TLS version, which session cache the data connection uses, the data connection's source
//! address, the order of handshake and command), and a suppaftp client for the explicit mode.
//!
//! The test certificate is self-signed, so every client here accepts any certificate. Clients
//! may present a client certificate of their own ([`ClientIdentity`]).

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use ferryd::auth::CertificateFingerprint;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::ResolvesClientCert;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::SupportedProtocolVersion;
use rustls::{ClientConfig, DigitallySignedStruct, HandshakeKind, SignatureScheme};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use super::{PASSWORD, USER};

/// Accepts any server certificate (tests only).
#[derive(Debug)]
pub struct AnyCertificate;

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        rustls::crypto::aws_lc_rs::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A client config with its own session cache; `None` allows TLS 1.2 and 1.3.
pub fn tls_config(version: Option<&'static SupportedProtocolVersion>) -> Arc<ClientConfig> {
    tls_config_presenting(version, None)
}

/// Like [`tls_config`], presenting `identity` when the server asks for a client certificate.
pub fn tls_config_presenting(
    version: Option<&'static SupportedProtocolVersion>,
    identity: Option<&ClientIdentity>,
) -> Arc<ClientConfig> {
    tls_config_counting(version, identity).0
}

/// Like [`tls_config_presenting`]; also counts the handshakes in which the server asked for a
/// client certificate (whether or not there was one to give).
pub fn tls_config_counting(
    version: Option<&'static SupportedProtocolVersion>,
    identity: Option<&ClientIdentity>,
) -> (Arc<ClientConfig>, Arc<AtomicUsize>) {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let versions: Vec<&'static SupportedProtocolVersion> = match version {
        Some(version) => vec![version],
        None => vec![&rustls::version::TLS13, &rustls::version::TLS12],
    };
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate));
    let presenter = Arc::new(Presenter {
        key: identity.map(|identity| {
            let key = provider
                .key_provider
                .load_private_key(identity.key.clone_key())
                .unwrap();
            Arc::new(rustls::sign::CertifiedKey::new(
                vec![identity.certificate.clone()],
                key,
            ))
        }),
        requests: Arc::new(AtomicUsize::new(0)),
    });
    let requests = presenter.requests.clone();
    let config = builder.with_client_cert_resolver(presenter);
    (Arc::new(config), requests)
}

/// Answers a server's certificate request with the client certificate, if any, and counts.
#[derive(Debug)]
struct Presenter {
    key: Option<Arc<rustls::sign::CertifiedKey>>,
    requests: Arc<AtomicUsize>,
}

impl ResolvesClientCert for Presenter {
    fn resolve(
        &self,
        _: &[&[u8]],
        _: &[SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.key.clone()
    }

    fn has_certs(&self) -> bool {
        self.key.is_some()
    }
}

/// A self-signed client certificate with its key, generated per test.
pub struct ClientIdentity {
    /// The certificate (DER).
    pub certificate: CertificateDer<'static>,
    /// Its private key.
    pub key: PrivateKeyDer<'static>,
    /// The certificate as PEM, for command-line clients.
    pub certificate_pem: String,
    /// The key as PEM.
    pub key_pem: String,
    /// What the users file pins.
    pub fingerprint: CertificateFingerprint,
}

impl ClientIdentity {
    /// A new certificate for `name`.
    pub fn generate(name: &str) -> ClientIdentity {
        let generated = rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap();
        let certificate = generated.cert.der().clone();
        ClientIdentity {
            fingerprint: CertificateFingerprint::of_der(certificate.as_ref()),
            key: PrivateKeyDer::Pkcs8(generated.signing_key.serialize_der().into()),
            certificate_pem: generated.cert.pem(),
            key_pem: generated.signing_key.serialize_pem(),
            certificate,
        }
    }
}

/// TLS 1.3 only.
pub fn tls13() -> Arc<ClientConfig> {
    tls_config(Some(&rustls::version::TLS13))
}

/// TLS 1.2 only.
pub fn tls12() -> Arc<ClientConfig> {
    tls_config(Some(&rustls::version::TLS12))
}

/// A suppaftp connector for `config`.
pub fn suppaftp_connector(config: Arc<ClientConfig>) -> suppaftp::tokio::AsyncRustlsConnector {
    suppaftp::tokio::AsyncRustlsConnector::from(TlsConnector::from(config))
}

/// Logs in over explicit FTPS with suppaftp (PBSZ 0 and PROT P included).
pub async fn suppaftp_login(address: SocketAddr) -> suppaftp::tokio::AsyncRustlsFtpStream {
    let plain = suppaftp::tokio::AsyncRustlsFtpStream::connect(address)
        .await
        .unwrap();
    let mut ftp = plain
        .into_secure(suppaftp_connector(tls_config(None)), "localhost")
        .await
        .unwrap();
    ftp.login(USER, PASSWORD).await.unwrap();
    ftp.transfer_type(suppaftp::types::FileType::Binary)
        .await
        .unwrap();
    ftp
}

/// One server reply.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The three-digit code.
    pub code: u16,
    /// Every line, CRLF-joined.
    pub text: String,
}

/// When the data connection's TLS handshake happens relative to the transfer command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeOrder {
    /// Connect and handshake, then send the command (curl).
    BeforeCommand,
    /// Connect, send the command, read 150, then handshake (Python ftplib, lftp).
    AfterPreliminary,
}

/// A raw FTP client.
pub struct FtpClient {
    control: Control,
    buffer: Vec<u8>,
    /// Used for the control connection and, unless `data_tls` is set, data connections.
    pub tls: Arc<ClientConfig>,
    /// Another config (another session cache) for data connections.
    pub data_tls: Option<Arc<ClientConfig>>,
    /// Source address for data connections.
    pub data_source: Option<IpAddr>,
    /// Bytes written on each data connection before anything else (a PROXY protocol header).
    pub data_preamble: Option<Vec<u8>>,
    /// Whether data connections use TLS (PROT P).
    pub protected: bool,
    /// Handshake order for data connections.
    pub order: HandshakeOrder,
    /// How the last data connection's handshake went.
    pub last_data_handshake: Option<HandshakeKind>,
}

enum Control {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    Closed,
}

/// A data connection.
pub type DataStream = Box<dyn DataIo>;

/// What a data connection can do.
pub trait DataIo: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> DataIo for T {}

impl FtpClient {
    /// Connects without TLS and reads the greeting.
    pub async fn plain(address: SocketAddr) -> FtpClient {
        FtpClient::plain_over(TcpStream::connect(address).await.unwrap()).await
    }

    /// Reads the greeting on a connected `stream` (e.g. after a PROXY protocol header).
    pub async fn plain_over(stream: TcpStream) -> FtpClient {
        let mut client = FtpClient::new(Control::Plain(stream), tls_config(None));
        assert_eq!(client.reply().await.code, 220);
        client
    }

    /// Connects, sends AUTH TLS and runs the handshake with `tls`.
    pub async fn explicit_with(address: SocketAddr, tls: Arc<ClientConfig>) -> FtpClient {
        let mut client = FtpClient::plain(address).await;
        client.tls = tls;
        assert_eq!(client.cmd("AUTH TLS").await.code, 234);
        client.start_tls().await;
        client
    }

    /// `explicit_with` a fresh TLS 1.2/1.3 config.
    pub async fn explicit(address: SocketAddr) -> FtpClient {
        FtpClient::explicit_with(address, tls_config(None)).await
    }

    /// Implicit FTPS: TLS from the first byte.
    pub async fn implicit_with(address: SocketAddr, tls: Arc<ClientConfig>) -> FtpClient {
        let stream = TcpStream::connect(address).await.unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let stream = TlsConnector::from(tls.clone())
            .connect(name, stream)
            .await
            .unwrap();
        let mut client = FtpClient::new(Control::Tls(Box::new(stream)), tls);
        assert_eq!(client.reply().await.code, 220);
        client
    }

    fn new(control: Control, tls: Arc<ClientConfig>) -> FtpClient {
        FtpClient {
            control,
            buffer: Vec::new(),
            tls,
            data_tls: None,
            data_source: None,
            data_preamble: None,
            protected: false,
            order: HandshakeOrder::BeforeCommand,
            last_data_handshake: None,
        }
    }

    /// Runs the TLS handshake on the control connection (after a 234).
    pub async fn start_tls(&mut self) {
        let Control::Plain(stream) = std::mem::replace(&mut self.control, Control::Closed) else {
            panic!("already TLS");
        };
        let name = ServerName::try_from("localhost").unwrap();
        let tls = TlsConnector::from(self.tls.clone());
        self.control = Control::Tls(Box::new(tls.connect(name, stream).await.unwrap()));
    }

    /// USER, PASS and, on TLS, PBSZ 0 and PROT P.
    pub async fn login(&mut self) {
        self.login_as(USER, PASSWORD).await;
    }

    /// Logs in as `user`.
    pub async fn login_as(&mut self, user: &str, password: &str) {
        assert_eq!(self.cmd(&format!("USER {user}")).await.code, 331);
        let reply = self.cmd(&format!("PASS {password}")).await;
        assert_eq!(reply.code, 230, "{reply:?}");
        if matches!(self.control, Control::Tls(_)) {
            assert_eq!(self.cmd("PBSZ 0").await.code, 200);
            assert_eq!(self.cmd("PROT P").await.code, 200);
            self.protected = true;
        }
        assert_eq!(self.cmd("TYPE I").await.code, 200);
    }

    /// Sends raw bytes on the control connection.
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        match &mut self.control {
            Control::Plain(stream) => stream.write_all(bytes).await.unwrap(),
            Control::Tls(stream) => {
                stream.write_all(bytes).await.unwrap();
                stream.flush().await.unwrap();
            }
            Control::Closed => panic!("control connection closed"),
        }
    }

    /// Sends one command line.
    pub async fn send(&mut self, line: &str) {
        self.send_raw(format!("{line}\r\n").as_bytes()).await;
    }

    /// Sends `line` and reads its reply.
    pub async fn cmd(&mut self, line: &str) -> Reply {
        self.send(line).await;
        self.reply().await
    }

    /// Reads one (possibly multi-line) reply; panics if the connection closes first.
    pub async fn reply(&mut self) -> Reply {
        self.try_reply()
            .await
            .expect("connection closed before a reply")
    }

    /// Reads one reply, or `None` at end of stream.
    pub async fn try_reply(&mut self) -> Option<Reply> {
        let mut lines: Vec<String> = Vec::new();
        loop {
            let line = self.read_line().await?;
            let done = match lines.first() {
                None => line.len() >= 4 && line.as_bytes()[3] == b' ',
                Some(first) => {
                    line.starts_with(&first[..3]) && line.as_bytes().get(3) == Some(&b' ')
                }
            };
            lines.push(line);
            if done {
                let code = lines[0][..3].parse().unwrap();
                return Some(Reply {
                    code,
                    text: lines.join("\r\n"),
                });
            }
        }
    }

    async fn read_line(&mut self) -> Option<String> {
        loop {
            if let Some(end) = self.buffer.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8(self.buffer[..end].to_vec()).unwrap();
                self.buffer.drain(..end + 2);
                return Some(line);
            }
            let mut chunk = [0u8; 4096];
            let read = match &mut self.control {
                Control::Plain(stream) => stream.read(&mut chunk).await,
                Control::Tls(stream) => stream.read(&mut chunk).await,
                Control::Closed => return None,
            };
            match read {
                Ok(0) | Err(_) => return None,
                Ok(count) => self.buffer.extend_from_slice(&chunk[..count]),
            }
        }
    }

    /// EPSV; the data address.
    pub async fn epsv(&mut self) -> SocketAddr {
        let reply = self.cmd("EPSV").await;
        assert_eq!(reply.code, 229, "{reply:?}");
        let port: u16 = reply.text.split('|').nth(3).unwrap().parse().unwrap();
        SocketAddr::new("127.0.0.1".parse().unwrap(), port)
    }

    /// PASV; the data address.
    pub async fn pasv(&mut self) -> SocketAddr {
        let reply = self.cmd("PASV").await;
        assert_eq!(reply.code, 227, "{reply:?}");
        let inner = reply.text.split(['(', ')']).nth(1).unwrap();
        let n: Vec<u16> = inner
            .split(',')
            .map(|x| x.trim().parse().unwrap())
            .collect();
        let ip = format!("{}.{}.{}.{}", n[0], n[1], n[2], n[3]);
        SocketAddr::new(ip.parse().unwrap(), n[4] * 256 + n[5])
    }

    /// Opens a TCP connection to `address` from `data_source`.
    pub async fn connect_data(&self, address: SocketAddr) -> std::io::Result<TcpStream> {
        let socket = TcpSocket::new_v4()?;
        if let Some(source) = self.data_source {
            socket.bind(SocketAddr::new(source, 0))?;
        }
        let mut stream = socket.connect(address).await?;
        if let Some(preamble) = &self.data_preamble {
            stream.write_all(preamble).await?;
        }
        Ok(stream)
    }

    /// Opens a TCP connection to `address` from `source`.
    pub async fn connect_data_from(&self, source: IpAddr, address: SocketAddr) -> TcpStream {
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::new(source, 0)).unwrap();
        socket.connect(address).await.unwrap()
    }

    async fn handshake(&mut self, tcp: TcpStream) -> std::io::Result<DataStream> {
        let config = self.data_tls.clone().unwrap_or_else(|| self.tls.clone());
        let name = ServerName::try_from("localhost").unwrap();
        let stream = TlsConnector::from(config).connect(name, tcp).await?;
        self.last_data_handshake = stream.get_ref().1.handshake_kind();
        Ok(Box::new(stream))
    }

    /// EPSV, connect, send `command`: the reply after 150 is left for the caller. Returns the
    /// data stream, or the refusal reply.
    pub async fn open_transfer(&mut self, command: &str) -> Result<DataStream, Reply> {
        let address = self.epsv().await;
        let tcp = self.connect_data(address).await.unwrap();
        let stream: Option<DataStream> = match (self.protected, self.order) {
            (false, _) => Some(Box::new(tcp)),
            (true, HandshakeOrder::BeforeCommand) => self.handshake(tcp).await.ok(),
            (true, HandshakeOrder::AfterPreliminary) => {
                let reply = self.cmd(command).await;
                if reply.code != 150 {
                    return Err(reply);
                }
                return match self.handshake(tcp).await {
                    Ok(stream) => Ok(stream),
                    Err(_) => Err(self.reply().await),
                };
            }
        };
        let reply = self.cmd(command).await;
        if reply.code != 150 {
            return Err(reply);
        }
        match stream {
            Some(stream) => Ok(stream),
            None => Err(self.reply().await),
        }
    }

    /// Downloads with `command` (RETR, LIST, …); expects 150 and 226.
    pub async fn download(&mut self, command: &str) -> Vec<u8> {
        self.try_download(command).await.unwrap()
    }

    /// Like `download`, returning the failing reply instead of panicking.
    pub async fn try_download(&mut self, command: &str) -> Result<Vec<u8>, Reply> {
        let mut stream = self.open_transfer(command).await?;
        let mut data = Vec::new();
        let read = stream.read_to_end(&mut data).await;
        let reply = self.reply().await;
        if reply.code != 226 {
            return Err(reply);
        }
        read.unwrap();
        Ok(data)
    }

    /// Uploads `data` with `command` (STOR, APPE, …); expects 150 and 226.
    pub async fn upload(&mut self, command: &str, data: &[u8]) {
        self.try_upload(command, data).await.unwrap();
    }

    /// Like `upload`, returning the final reply when it is not 226.
    pub async fn try_upload(&mut self, command: &str, data: &[u8]) -> Result<Reply, Reply> {
        let mut stream = self.open_transfer(command).await?;
        let written = stream.write_all(data).await;
        let shut = stream.shutdown().await;
        let reply = self.reply().await;
        if reply.code != 226 {
            return Err(reply);
        }
        written.unwrap();
        shut.unwrap();
        Ok(reply)
    }
}
