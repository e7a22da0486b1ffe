//! TLS for FTPS (RFC 4217): the server's rustls configuration, and the per-control-session
//! configuration that binds every data connection to its own control connection's TLS session.
//!
//! Why per session: RFC 4217 leaves data connections unauthenticated beyond the TLS handshake,
//! so a server that accepts *any* cached session lets one client steal or inject another
//! client's data connection. With one shared rustls config, a TLS 1.2 resumption cannot be
//! traced to the connection that created the session (rustls reports resumption data for
//! TLS 1.3 only). So each control connection gets a clone of the base config with its **own**
//! stateless ticketer and its **own** session-ID store: only tickets and session IDs minted on
//! this control connection (or its own data connections) can resume. A random per-session token
//! is also embedded as resumption data, which TLS 1.3 reports back, as a second check.
//!
//! Tickets are stateless and stay valid for hours (the ticketer rotates keys every 6 h and keeps
//! the previous one), lookups never consume a stored session, and each handshake sends
//! [`TLS13_TICKETS_PER_HANDSHAKE`] TLS 1.3 tickets, so clients that use one ticket per data
//! connection (curl, lftp, Java, .NET) never run out: every resumed data connection brings new
//! tickets.
//!
//! The sibling exception: clients that share one session cache between parallel control
//! connections (rclone before its fix) may resume a sibling connection's session. That is
//! accepted only when the sibling is a live control session of the same user from the same
//! client IP; see [`SessionTls::data_acceptor`].
//!
//! Client certificates: the base config asks for one while some user logs in with a pinned
//! certificate (`client_auth.rs`); the control handshake records the fingerprint of the one the
//! client presented, and the login commands hand it to `auth`. Data connections derive from the
//! same config, so they may be asked too, but a certificate there is never needed and never
//! looked at (a resumed handshake does not ask again).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};

use rustls::server::{ProducesTickets, StoresServerSessions};
use rustls::{HandshakeKind, ProtocolVersion, ServerConfig, ServerConnection};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::auth::{Authenticator, CertificateFingerprint};

use super::certificate::CertifiedKey;
use super::client_auth::PinnedClientCertificates;

/// TLS 1.3 tickets sent after each full or resumed handshake (rustls sends 2 by default).
pub const TLS13_TICKETS_PER_HANDSHAKE: usize = 4;

/// TLS 1.2 session IDs remembered per control session; the oldest is forgotten first. Only
/// full handshakes add one, and a well-behaved client makes one per control connection.
const MAX_SESSION_IDS_PER_SESSION: usize = 64;

/// A random value naming one control session inside its TLS tickets.
type Token = [u8; 16];

/// Builds the base server configuration: TLS 1.3 and 1.2 only, aws-lc-rs, client certificates
/// requested (not required) while `auth` has users who log in with one.
pub fn server_config(
    key: CertifiedKey,
    auth: Authenticator,
) -> Result<Arc<ServerConfig>, rustls::Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = Arc::new(PinnedClientCertificates::new(auth, &provider));
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(key.chain, key.key)?;
    config.send_tls13_tickets = TLS13_TICKETS_PER_HANDSHAKE;
    Ok(Arc::new(config))
}

/// The live control sessions of one server, for the sibling rule. Cheap to clone.
#[derive(Clone, Default, Debug)]
pub struct SessionRegistry {
    sessions: Arc<Mutex<HashMap<Token, Weak<SessionKeys>>>>,
}

impl SessionRegistry {
    /// Control sessions currently registered (those whose `SessionTls` is alive).
    pub fn len(&self) -> usize {
        lock(&self.sessions).len()
    }

    /// Live sessions other than `token` logged in as `owner`.
    fn siblings(&self, token: &Token, owner: &Owner) -> Vec<Arc<SessionKeys>> {
        lock(&self.sessions)
            .iter()
            .filter(|(other, _)| *other != token)
            .filter_map(|(_, keys)| keys.upgrade())
            .filter(|keys| lock(&keys.owner).as_ref() == Some(owner))
            .collect()
    }
}

/// One control session's TLS state: its config, token and ticket keys, and the client
/// certificate presented on the control connection.
pub struct SessionTls {
    keys: Arc<SessionKeys>,
    registry: SessionRegistry,
    control: TlsAcceptor,
    client_certificate: OnceLock<CertificateFingerprint>,
}

impl SessionTls {
    /// Derives a session config from `base` and registers the session in `registry`.
    pub fn new(
        base: &ServerConfig,
        registry: &SessionRegistry,
    ) -> Result<SessionTls, rustls::Error> {
        let keys = Arc::new(SessionKeys {
            token: rand::random(),
            ticketer: rustls::crypto::aws_lc_rs::Ticketer::new()?,
            store: SessionStore::default(),
            owner: Mutex::new(None),
        });
        let lookup = Arc::new(Lookup::new(keys.clone(), Vec::new()));
        let control = TlsAcceptor::from(config_with(base, &lookup));
        lock(&registry.sessions).insert(keys.token, Arc::downgrade(&keys));
        Ok(SessionTls {
            keys,
            registry: registry.clone(),
            control,
            client_certificate: OnceLock::new(),
        })
    }

    /// Runs the TLS handshake of the control connection and remembers the fingerprint of the
    /// client's certificate, if it sent one (rustls has checked its handshake signature).
    pub async fn accept_control<IO>(&self, io: IO) -> std::io::Result<TlsStream<IO>>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let token = self.keys.token;
        let stream = self
            .control
            .accept_with(io, |connection| connection.set_resumption_data(&token))
            .await?;
        let presented = stream
            .get_ref()
            .1
            .peer_certificates()
            .and_then(<[_]>::first);
        if let Some(leaf) = presented {
            let fingerprint = CertificateFingerprint::of_der(leaf.as_ref());
            tracing::info!(%fingerprint, "TLS client certificate presented");
            // A control connection has one handshake (AUTH TLS is refused once secure), so
            // this is the only value it can ever get.
            let _ = self.client_certificate.set(fingerprint);
        }
        Ok(stream)
    }

    /// The fingerprint of the certificate the client presented on the control connection;
    /// `None` without TLS or without a certificate.
    pub fn client_certificate(&self) -> Option<&CertificateFingerprint> {
        self.client_certificate.get()
    }

    /// Records who logged in on this session, enabling the sibling rule for both directions.
    pub fn set_owner(&self, user: &str, ip: IpAddr) {
        *lock(&self.keys.owner) = Some(Owner {
            user: user.to_owned(),
            ip: ip.to_canonical(),
        });
    }

    /// An acceptor for one data connection. It resumes sessions of this control connection and,
    /// once logged in, of live sibling sessions of the same user from the same client IP.
    pub fn data_acceptor(&self, base: &ServerConfig) -> DataAcceptor {
        let owner = lock(&self.keys.owner).clone();
        let siblings = match &owner {
            Some(owner) => self.registry.siblings(&self.keys.token, owner),
            None => Vec::new(),
        };
        let lookup = Arc::new(Lookup::new(self.keys.clone(), siblings));
        DataAcceptor {
            acceptor: TlsAcceptor::from(config_with(base, &lookup)),
            lookup,
        }
    }
}

impl Drop for SessionTls {
    fn drop(&mut self) {
        lock(&self.registry.sessions).remove(&self.keys.token);
    }
}

impl fmt::Debug for SessionTls {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_struct("SessionTls").finish_non_exhaustive()
    }
}

/// Whose TLS session a data connection resumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resumed {
    /// The control connection's own session.
    Own,
    /// A live sibling control session of the same user from the same IP.
    Sibling,
}

/// Why a PROT P data connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReuseError {
    /// A full handshake: the client did not resume any session of this control connection.
    #[error("the data connection did not resume the control connection's TLS session")]
    NotResumed,
    /// It resumed a session that belongs to another control connection.
    #[error("the data connection resumed another connection's TLS session")]
    ForeignSession,
}

/// Accepts one data connection with the session's keys and checks what it resumed.
pub struct DataAcceptor {
    acceptor: TlsAcceptor,
    lookup: Arc<Lookup>,
}

impl fmt::Debug for DataAcceptor {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("DataAcceptor")
            .finish_non_exhaustive()
    }
}

impl DataAcceptor {
    /// Runs the TLS handshake; new tickets issued on it belong to this control session.
    pub async fn accept<IO>(&self, io: IO) -> std::io::Result<TlsStream<IO>>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let token = self.lookup.own.token;
        self.acceptor
            .accept_with(io, |connection| connection.set_resumption_data(&token))
            .await
    }

    /// Decides whether the finished handshake resumed this control session (or an allowed
    /// sibling). TLS 1.3 reports the token embedded in the ticket; for TLS 1.2 the lookup
    /// itself records which session's keys matched.
    pub fn check(&self, connection: &ServerConnection) -> Result<Resumed, ReuseError> {
        if connection.handshake_kind() != Some(HandshakeKind::Resumed) {
            return Err(ReuseError::NotResumed);
        }
        let token = match connection.protocol_version() {
            Some(ProtocolVersion::TLSv1_3) => connection
                .received_resumption_data()
                .and_then(|data| Token::try_from(data).ok()),
            _ => *lock(&self.lookup.matched),
        };
        match token {
            Some(token) if token == self.lookup.own.token => Ok(Resumed::Own),
            Some(token) if self.lookup.siblings.iter().any(|s| s.token == token) => {
                Ok(Resumed::Sibling)
            }
            _ => Err(ReuseError::ForeignSession),
        }
    }
}

/// Who is logged in on a control session.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Owner {
    user: String,
    ip: IpAddr,
}

/// The resumption secrets of one control session.
#[derive(Debug)]
struct SessionKeys {
    token: Token,
    ticketer: Arc<dyn ProducesTickets>,
    store: SessionStore,
    owner: Mutex<Option<Owner>>,
}

/// The sessions one handshake may resume: its own first, then allowed siblings. Records
/// which one matched, because rustls does not report it for TLS 1.2.
#[derive(Debug)]
struct Lookup {
    own: Arc<SessionKeys>,
    siblings: Vec<Arc<SessionKeys>>,
    matched: Mutex<Option<Token>>,
}

impl Lookup {
    fn new(own: Arc<SessionKeys>, siblings: Vec<Arc<SessionKeys>>) -> Lookup {
        Lookup {
            own,
            siblings,
            matched: Mutex::new(None),
        }
    }

    fn find<T>(&self, mut probe: impl FnMut(&SessionKeys) -> Option<T>) -> Option<T> {
        let candidates = std::iter::once(&self.own).chain(&self.siblings);
        for keys in candidates {
            if let Some(found) = probe(keys) {
                *lock(&self.matched) = Some(keys.token);
                return Some(found);
            }
        }
        None
    }
}

fn config_with(base: &ServerConfig, lookup: &Arc<Lookup>) -> Arc<ServerConfig> {
    let mut config = base.clone();
    config.ticketer = Arc::new(LookupTicketer(lookup.clone()));
    config.session_storage = Arc::new(LookupStore(lookup.clone()));
    Arc::new(config)
}

/// Issues tickets with the session's own keys; decrypts with its own, then siblings' keys.
#[derive(Debug)]
struct LookupTicketer(Arc<Lookup>);

impl ProducesTickets for LookupTicketer {
    fn enabled(&self) -> bool {
        self.0.own.ticketer.enabled()
    }

    fn lifetime(&self) -> u32 {
        self.0.own.ticketer.lifetime()
    }

    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        self.0.own.ticketer.encrypt(plain)
    }

    fn decrypt(&self, cipher: &[u8]) -> Option<Vec<u8>> {
        self.0.find(|keys| keys.ticketer.decrypt(cipher))
    }
}

/// TLS 1.2 session IDs: stored in the own store, looked up in own and siblings' stores.
#[derive(Debug)]
struct LookupStore(Arc<Lookup>);

impl StoresServerSessions for LookupStore {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        self.0.own.store.put(key, value);
        true
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.0.find(|keys| keys.store.get(key))
    }

    /// Never consumes: every data connection of the session may resume the same session.
    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.get(key)
    }

    fn can_cache(&self) -> bool {
        true
    }
}

/// A small bounded map of TLS 1.2 session IDs.
#[derive(Debug, Default)]
struct SessionStore {
    entries: Mutex<VecDeque<(Vec<u8>, Vec<u8>)>>,
}

impl SessionStore {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) {
        let mut entries = lock(&self.entries);
        entries.retain(|(existing, _)| *existing != key);
        if entries.len() >= MAX_SESSION_IDS_PER_SESSION {
            entries.pop_front();
        }
        entries.push_back((key, value));
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        let entries = lock(&self.entries);
        entries
            .iter()
            .find(|(existing, _)| existing == key)
            .map(|(_, value)| value.clone())
    }
}

/// A poisoned lock only means a thread panicked while holding plain data that stays usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests;
