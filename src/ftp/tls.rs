//! TLS for FTPS (RFC 4217): the server's rustls configuration, and the per-control-session
//! configuration that binds every data connection to its own control connection's TLS session.
//!
//! Why per session: RFC 4217 leaves data connections unauthenticated beyond the TLS handshake,
//! so a server that accepts *any* cached session lets one client steal or inject another
//! client's data connection. With one shared rustls config, a TLS 1.2 resumption cannot be
//! traced to the connection that created the session (rustls reports resumption data for
//! TLS 1.3 only). So each control connection gets a clone of the base config with its **own**
//! ticketer and its **own** session-ID store: only tickets and session IDs minted on this
//! control connection (or its own data connections) can resume. The ticketer is the server's
//! one key (rotated) bound to the session by a random per-session token sealed inside every
//! ticket ([`TokenTicketer`]): a ticket whose token is not the session's is refused, exactly as
//! a ticket under another key would be, for a sixth of the memory of a key per session. The
//! token is also embedded as resumption data, which TLS 1.3 reports back, as a second check.
//!
//! Tickets are stateless and stay valid for hours (the ticketer rotates keys every 6 h and keeps
//! the previous one), lookups never consume a stored session, and each handshake sends
//! [`TLS13_TICKETS_PER_HANDSHAKE`] TLS 1.3 tickets, so clients that use one ticket per data
//! connection (curl, lftp, Java, .NET) never run out: every resumed data connection brings new
//! tickets.
//!
//! The sibling exception: clients that share one session cache between their control
//! connections (rclone, anything on Go's `crypto/tls`) offer whichever ticket came last, often
//! one from a sibling connection. That is accepted only when the sibling is a control session
//! of the same user from the same client IP, live or ended less than half an hour ago (the
//! client keeps offering a closed connection's ticket); a sibling still logging in is waited
//! for. See [`SessionTls::data_acceptor`] and [`DataAcceptor::check`].
//!
//! Data connections of clients that start TLS only after the 150 reply get no new TLS 1.3
//! tickets unless the client shows it needs them: see [`DataAcceptor::tickets`].
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
use std::time::{Duration, Instant};

use rustls::server::{ProducesTickets, StoresServerSessions};
use rustls::{HandshakeKind, ProtocolVersion, ServerConfig, ServerConnection};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::auth::{Authenticator, CertificateFingerprint};
use crate::key_material::certificate::CertifiedKey;

use super::client_auth::PinnedClientCertificates;

/// TLS 1.3 tickets sent after each full or resumed handshake (rustls sends 2 by default).
pub const TLS13_TICKETS_PER_HANDSHAKE: usize = 4;

/// TLS 1.2 session IDs remembered per control session; the oldest is forgotten first. Only
/// full handshakes add one, and a well-behaved client makes one per control connection.
const MAX_SESSION_IDS_PER_SESSION: usize = 64;

/// How long the tickets of a control session that ended after logging in stay usable for
/// its siblings' data connections.
const RETIRED_SESSION_TICKETS_FOR: Duration = Duration::from_secs(30 * 60);

/// Ended sessions remembered for the sibling rule, daemon-wide; the oldest go first.
const MAX_RETIRED_SESSIONS: usize = 4096;

/// How long a data connection that resumed a sibling's ticket waits for that sibling's login.
const SIBLING_LOGIN_WAIT: Duration = Duration::from_secs(10);

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
    // The key every session's tickets are sealed with; sessions bind them with their token.
    config.ticketer = rustls::crypto::aws_lc_rs::Ticketer::new()?;
    Ok(Arc::new(config))
}

/// The control sessions of one server, for the sibling rule: the live ones by client address,
/// and recently ended ones that had logged in. Cheap to clone.
#[derive(Clone, Default, Debug)]
pub struct SessionRegistry {
    inner: Arc<Mutex<Registered>>,
}

#[derive(Default, Debug)]
struct Registered {
    live: HashMap<IpAddr, Vec<Weak<SessionKeys>>>,
    /// Oldest first. A client that shares one ticket cache between connections keeps offering
    /// the last ticket it received, which may come from a connection it has since closed.
    retired: VecDeque<(Instant, Arc<SessionKeys>)>,
}

impl SessionRegistry {
    /// Control sessions currently registered (those whose `SessionTls` is alive).
    pub fn len(&self) -> usize {
        lock(&self.inner).live.values().map(Vec::len).sum()
    }

    fn register(&self, keys: &Arc<SessionKeys>) {
        lock(&self.inner)
            .live
            .entry(keys.peer)
            .or_default()
            .push(Arc::downgrade(keys));
    }

    /// Forgets a live session; keeps its keys for a while if it had logged in.
    fn retire(&self, keys: &Arc<SessionKeys>) {
        let mut registered = lock(&self.inner);
        if let Some(sessions) = registered.live.get_mut(&keys.peer) {
            sessions
                .retain(|other| other.strong_count() > 0 && other.as_ptr() != Arc::as_ptr(keys));
            if sessions.is_empty() {
                registered.live.remove(&keys.peer);
            }
        }
        if keys.login().is_some() {
            registered.retired.push_back((Instant::now(), keys.clone()));
        }
        registered.prune(Instant::now());
    }

    /// Sessions other than `own` whose tickets a data connection of `own` may try: live ones
    /// from the same client address (logged in or not yet: the check after the handshake
    /// decides), and recently ended ones from that address.
    fn candidates(&self, own: &SessionKeys) -> Vec<Arc<SessionKeys>> {
        let mut registered = lock(&self.inner);
        registered.prune(Instant::now());
        let live = registered
            .live
            .get(&own.peer)
            .into_iter()
            .flatten()
            .filter_map(Weak::upgrade);
        let retired = registered
            .retired
            .iter()
            .filter(|(_, keys)| keys.peer == own.peer)
            .map(|(_, keys)| keys.clone());
        live.chain(retired)
            .filter(|keys| keys.token != own.token)
            .collect()
    }
}

impl Registered {
    fn prune(&mut self, now: Instant) {
        while let Some((ended, _)) = self.retired.front() {
            let expired = now.saturating_duration_since(*ended) > RETIRED_SESSION_TICKETS_FOR;
            if !expired && self.retired.len() <= MAX_RETIRED_SESSIONS {
                break;
            }
            self.retired.pop_front();
        }
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
    /// Derives a session config from `base` for a client at `peer`, and registers the
    /// session in `registry`.
    pub fn new(
        base: &ServerConfig,
        registry: &SessionRegistry,
        peer: IpAddr,
    ) -> Result<SessionTls, rustls::Error> {
        let token: Token = rand::random();
        let keys = Arc::new(SessionKeys {
            token,
            ticketer: Arc::new(TokenTicketer {
                shared: base.ticketer.clone(),
                token,
            }),
            store: SessionStore::default(),
            peer: peer.to_canonical(),
            login: watch::Sender::new(Login::Pending),
            habit: Mutex::default(),
        });
        // The control connection resumes nothing but its own (earlier) sessions.
        let lookup = Arc::new(Lookup::new(keys.clone(), None));
        let control = TlsAcceptor::from(config_with(base, &lookup));
        registry.register(&keys);
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
    pub fn set_owner(&self, user: &str) {
        self.keys.login.send_replace(Login::As(user.to_owned()));
    }

    /// An acceptor for one data connection. It resumes sessions of this control connection and
    /// of siblings: sessions of the same user from the same client address, live or ended
    /// within [`RETIRED_SESSION_TICKETS_FOR`].
    pub fn data_acceptor(&self, base: &ServerConfig) -> DataAcceptor {
        let lookup = Arc::new(Lookup::new(self.keys.clone(), Some(self.registry.clone())));
        DataAcceptor {
            config: config_with(base, &lookup),
            lookup,
        }
    }
}

impl Drop for SessionTls {
    fn drop(&mut self) {
        self.keys.login.send_if_modified(|login| {
            let pending = *login == Login::Pending;
            if pending {
                *login = Login::Never;
            }
            pending
        });
        self.registry.retire(&self.keys);
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
    /// A sibling control session of the same user from the same IP.
    Sibling,
}

/// Whether a data connection's handshake sends TLS 1.3 tickets for the next one (see
/// [`DataAcceptor::tickets`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tickets {
    /// Send them: the client needs fresh ones (it uses each ticket once) and reads them.
    Send,
    /// Send none: tickets left unread on an upload connection make the client's kernel answer
    /// its close with a reset, which throws away the part of the upload it had not sent yet.
    Withhold,
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
    config: Arc<ServerConfig>,
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
    /// Whether this data connection's handshake should send TLS 1.3 tickets.
    ///
    /// A client that starts TLS before the transfer command (curl) gets them: the 150 reply
    /// waits for its handshake, so it reads them, and OpenSSL uses each ticket once. A client
    /// that starts TLS only after the 150 reply gets none until it shows it uses each ticket
    /// once (a data connection resumes with another of this session's tickets than the one
    /// before it: rustls, OpenSSL session caches), because most such clients resume one
    /// session over and over and never read an upload connection (Go's crypto/tls: rclone
    /// lost the tails of its uploads over 768 KiB to the reset; lftp, ftplib, FileZilla).
    /// Four tickets from the control connection cover the connections it takes to tell.
    pub fn tickets(&self, starts_tls_after_reply: bool) -> Tickets {
        if !starts_tls_after_reply || lock(&self.lookup.own.habit).single_use {
            Tickets::Send
        } else {
            Tickets::Withhold
        }
    }

    /// Runs the TLS handshake; tickets issued on it (see [`Tickets`]) belong to this control
    /// session.
    pub async fn accept<IO>(&self, io: IO, tickets: Tickets) -> std::io::Result<TlsStream<IO>>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let config = match tickets {
            Tickets::Send => self.config.clone(),
            Tickets::Withhold => {
                let mut config = (*self.config).clone();
                config.send_tls13_tickets = 0;
                Arc::new(config)
            }
        };
        let token = self.lookup.own.token;
        TlsAcceptor::from(config)
            .accept_with(io, |connection| connection.set_resumption_data(&token))
            .await
    }

    /// Decides whether the finished handshake resumed this control session or a sibling's.
    /// A sibling still logging in is waited for (up to [`SIBLING_LOGIN_WAIT`]): a client
    /// with one ticket cache for all its connections may offer the ticket of a connection it
    /// has only just opened.
    pub async fn check(&self, connection: &ServerConnection) -> Result<Resumed, ReuseError> {
        if connection.handshake_kind() != Some(HandshakeKind::Resumed) {
            return Err(ReuseError::NotResumed);
        }
        let matched = lock(&self.lookup.matched)
            .clone()
            .ok_or(ReuseError::ForeignSession)?;
        // TLS 1.3 reports the token sealed into the ticket: it must name the keys that opened
        // it. rustls does not report anything for TLS 1.2; the lookup's record stands alone.
        if connection.protocol_version() == Some(ProtocolVersion::TLSv1_3) {
            let sealed = connection
                .received_resumption_data()
                .and_then(|data| Token::try_from(data).ok());
            if sealed != Some(matched.token) {
                return Err(ReuseError::ForeignSession);
            }
        }
        if Arc::ptr_eq(&matched, &self.lookup.own) {
            if let Some(ticket) = lock(&self.lookup.presented).take() {
                lock(&self.lookup.own.habit).resumed_with(ticket);
            }
            return Ok(Resumed::Own);
        }
        let Some(own_user) = self.lookup.own.login() else {
            return Err(ReuseError::ForeignSession);
        };
        let mut login = matched.login.subscribe();
        let settled = tokio::time::timeout(
            SIBLING_LOGIN_WAIT,
            login.wait_for(|login| *login != Login::Pending),
        )
        .await;
        match settled {
            Ok(Ok(login)) if *login == Login::As(own_user) => Ok(Resumed::Sibling),
            _ => Err(ReuseError::ForeignSession),
        }
    }
}

/// Where a control session stands with its login, for the sibling rule.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Login {
    /// Not logged in yet.
    Pending,
    /// Logged in as this user.
    As(String),
    /// Ended without logging in.
    Never,
}

/// The resumption secrets of one control session, and who it belongs to.
#[derive(Debug)]
struct SessionKeys {
    token: Token,
    ticketer: Arc<dyn ProducesTickets>,
    store: SessionStore,
    /// The client's address (canonical: an IPv4-mapped address counts as IPv4).
    peer: IpAddr,
    login: watch::Sender<Login>,
    habit: Mutex<TicketHabit>,
}

/// How the client uses this session's TLS 1.3 tickets on its data connections.
#[derive(Debug, Default)]
struct TicketHabit {
    /// The ticket the latest resumed data connection presented.
    last: Option<Vec<u8>>,
    /// A data connection presented another ticket than the one before it.
    single_use: bool,
}

impl TicketHabit {
    fn resumed_with(&mut self, ticket: Vec<u8>) {
        if self.last.as_ref().is_some_and(|last| *last != ticket) {
            self.single_use = true;
        }
        self.last = Some(ticket);
    }
}

impl SessionKeys {
    fn login(&self) -> Option<String> {
        match &*self.login.borrow() {
            Login::As(user) => Some(user.clone()),
            Login::Pending | Login::Never => None,
        }
    }
}

/// The sessions one handshake may resume: its own first, then (data connections only) the
/// candidates from the registry. Records which keys opened the ticket or session ID, because
/// rustls does not report it for TLS 1.2 and the check needs their owner.
#[derive(Debug)]
struct Lookup {
    own: Arc<SessionKeys>,
    registry: Option<SessionRegistry>,
    matched: Mutex<Option<Arc<SessionKeys>>>,
    /// The ticket this handshake resumed with, when the session's own keys opened it.
    presented: Mutex<Option<Vec<u8>>>,
}

impl Lookup {
    fn new(own: Arc<SessionKeys>, registry: Option<SessionRegistry>) -> Lookup {
        Lookup {
            own,
            registry,
            matched: Mutex::new(None),
            presented: Mutex::new(None),
        }
    }

    fn find<T>(&self, mut probe: impl FnMut(&SessionKeys) -> Option<T>) -> Option<T> {
        if let Some(found) = probe(&self.own) {
            *lock(&self.matched) = Some(self.own.clone());
            return Some(found);
        }
        // Looked up now, not when the data connection was prepared: siblings may have
        // connected or logged in since.
        let candidates = self
            .registry
            .as_ref()
            .map(|registry| registry.candidates(&self.own))
            .unwrap_or_default();
        for keys in candidates {
            if let Some(found) = probe(&keys) {
                *lock(&self.matched) = Some(keys);
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
        let plain = self.0.find(|keys| keys.ticketer.decrypt(cipher))?;
        let own = lock(&self.0.matched)
            .as_ref()
            .is_some_and(|keys| Arc::ptr_eq(keys, &self.0.own));
        if own {
            *lock(&self.0.presented) = Some(cipher.to_vec());
        }
        Some(plain)
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
mod token_ticketer;

use token_ticketer::{Token, TokenTicketer};
