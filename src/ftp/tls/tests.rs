//! Tests of the TLS session binding: which data-connection handshakes count as resuming the
//! control connection's session, under TLS 1.2 (tickets and session IDs) and TLS 1.3; and of
//! client certificates on the control connection.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{
    ClientSessionMemoryCache, ClientSessionStore, ResolvesClientCert, Tls12ClientSessionValue,
    Tls12Resumption, Tls13ClientSessionValue,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, DigitallySignedStruct, NamedGroup, SignatureScheme, SupportedProtocolVersion,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsConnector;

use super::*;
use crate::auth::{CertificateLogin, LogObserver, UserDb, UserRecord};

const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

/// The client's ticket cache, counting the TLS 1.3 tickets it receives.
#[derive(Debug)]
struct CountingTickets {
    inner: ClientSessionMemoryCache,
    received: AtomicUsize,
}

impl CountingTickets {
    fn new() -> CountingTickets {
        CountingTickets {
            inner: ClientSessionMemoryCache::new(64),
            received: AtomicUsize::new(0),
        }
    }

    fn received(&self) -> usize {
        self.received.load(Ordering::SeqCst)
    }
}

impl ClientSessionStore for CountingTickets {
    fn set_kx_hint(&self, server_name: ServerName<'static>, group: NamedGroup) {
        self.inner.set_kx_hint(server_name, group);
    }

    fn kx_hint(&self, server_name: &ServerName<'_>) -> Option<NamedGroup> {
        self.inner.kx_hint(server_name)
    }

    fn set_tls12_session(&self, server_name: ServerName<'static>, value: Tls12ClientSessionValue) {
        self.inner.set_tls12_session(server_name, value);
    }

    fn tls12_session(&self, server_name: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        self.inner.tls12_session(server_name)
    }

    fn remove_tls12_session(&self, server_name: &ServerName<'static>) {
        self.inner.remove_tls12_session(server_name);
    }

    fn insert_tls13_ticket(
        &self,
        server_name: ServerName<'static>,
        value: Tls13ClientSessionValue,
    ) {
        self.received.fetch_add(1, Ordering::SeqCst);
        self.inner.insert_tls13_ticket(server_name, value);
    }

    fn take_tls13_ticket(
        &self,
        server_name: &ServerName<'static>,
    ) -> Option<Tls13ClientSessionValue> {
        self.inner.take_tls13_ticket(server_name)
    }
}

#[derive(Debug)]
struct AnyCertificate;

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

/// A base config whose users include none with a client certificate.
fn base() -> Arc<ServerConfig> {
    base_with(authenticator(None))
}

fn base_with(auth: Authenticator) -> Arc<ServerConfig> {
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let key = CertifiedKey {
        chain: vec![generated.cert.der().clone()],
        key: PrivateKeyDer::Pkcs8(generated.signing_key.serialize_der().into()),
    };
    server_config(key, auth).unwrap()
}

/// Users: one certificate-only user pinning `pinned`, or nobody.
fn authenticator(pinned: Option<CertificateFingerprint>) -> Authenticator {
    let mut users = UserDb::new();
    if let Some(fingerprint) = pinned {
        let mut partner = UserRecord::named("partner").unwrap();
        partner.tls_client_certificates = vec![fingerprint];
        partner.tls_client_certificate_login = CertificateLogin::Certificate;
        users.add(partner).unwrap();
    }
    Authenticator::new(users, PathBuf::from("/nonexistent"), Arc::new(LogObserver))
}

/// A fresh self-signed client certificate and its key.
fn client_identity() -> rustls::sign::CertifiedKey {
    let generated = rcgen::generate_simple_self_signed(vec!["partner".to_owned()]).unwrap();
    identity(
        vec![generated.cert.der().clone()],
        generated.signing_key.serialize_der(),
    )
}

fn identity(chain: Vec<CertificateDer<'static>>, pkcs8: Vec<u8>) -> rustls::sign::CertifiedKey {
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let key = provider
        .key_provider
        .load_private_key(PrivateKeyDer::Pkcs8(pkcs8.into()))
        .unwrap();
    // `new` does not check that the key belongs to the certificate, which lets a test present
    // someone else's certificate.
    rustls::sign::CertifiedKey::new(chain, key)
}

/// Always presents one certificate, whatever the server asks for.
#[derive(Debug)]
struct Presents(Arc<rustls::sign::CertifiedKey>);

impl ResolvesClientCert for Presents {
    fn resolve(
        &self,
        _: &[&[u8]],
        _: &[SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

fn client(version: &'static SupportedProtocolVersion, tls12: Tls12Resumption) -> TlsConnector {
    client_presenting(version, tls12, None)
}

/// A TLS 1.3 client keeping its tickets in `store`.
fn client_with_store(store: Arc<CountingTickets>) -> TlsConnector {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate))
        .with_no_client_auth();
    config.resumption = rustls::client::Resumption::store(store);
    TlsConnector::from(Arc::new(config))
}

fn client_presenting(
    version: &'static SupportedProtocolVersion,
    tls12: Tls12Resumption,
    identity: Option<rustls::sign::CertifiedKey>,
) -> TlsConnector {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[version])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate));
    let mut config = match identity {
        Some(identity) => builder.with_client_cert_resolver(Arc::new(Presents(Arc::new(identity)))),
        None => builder.with_no_client_auth(),
    };
    config.resumption = config.resumption.tls12_resumption(tls12);
    TlsConnector::from(Arc::new(config))
}

/// Runs a control handshake that must fail on the server side.
async fn refused_control(session: &SessionTls, connector: &TlsConnector) {
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let server = session.accept_control(server_io);
    let client = async {
        let name = ServerName::try_from("localhost").unwrap();
        let _ = connector.connect(name, client_io).await;
    };
    let (accepted, ()) = tokio::join!(server, client);
    assert!(accepted.is_err(), "the server accepted the handshake");
}

/// Connects `connector` to the control acceptor of `session`; reads one byte so the client
/// processes the TLS 1.3 tickets that follow the handshake.
async fn control(session: &SessionTls, connector: &TlsConnector) {
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let server = async {
        let mut stream = session.accept_control(server_io).await.unwrap();
        stream.write_all(b"x").await.unwrap();
        stream.flush().await.unwrap();
        stream
    };
    let client = async {
        let name = ServerName::try_from("localhost").unwrap();
        let mut stream = connector.connect(name, client_io).await.unwrap();
        stream.read_exact(&mut [0u8; 1]).await.unwrap();
        stream
    };
    let _streams = tokio::join!(server, client);
}

/// A data connection from `connector` checked by `acceptor`, sending tickets.
async fn data(acceptor: &DataAcceptor, connector: &TlsConnector) -> Result<Resumed, ReuseError> {
    data_with(acceptor, connector, Tickets::Send).await
}

/// A data connection from `connector` checked by `acceptor`; the client reads one byte, so it
/// has processed any TLS 1.3 tickets sent before it.
async fn data_with(
    acceptor: &DataAcceptor,
    connector: &TlsConnector,
    tickets: Tickets,
) -> Result<Resumed, ReuseError> {
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let server = async {
        let mut stream = acceptor.accept(server_io, tickets).await.unwrap();
        let verdict = acceptor.check(stream.get_ref().1).await;
        stream.write_all(b"x").await.unwrap();
        stream.flush().await.unwrap();
        (verdict, stream)
    };
    let client = async {
        let name = ServerName::try_from("localhost").unwrap();
        let mut stream = connector.connect(name, client_io).await.unwrap();
        stream.read_exact(&mut [0u8; 1]).await.unwrap();
        stream
    };
    let ((verdict, _server), _client) = tokio::join!(server, client);
    verdict
}

const VARIANTS: [(&SupportedProtocolVersion, Tls12Resumption); 3] = [
    (&rustls::version::TLS13, Tls12Resumption::SessionIdOrTickets),
    (&rustls::version::TLS12, Tls12Resumption::SessionIdOrTickets),
    (&rustls::version::TLS12, Tls12Resumption::SessionIdOnly),
];

#[tokio::test]
async fn data_connections_resume_their_own_control_session_many_times() {
    let base = base();
    let registry = SessionRegistry::default();
    for (version, tls12) in VARIANTS {
        let session = SessionTls::new(&base, &registry, LOCAL).unwrap();
        let connector = client(version, tls12);
        control(&session, &connector).await;
        // More data connections than tickets per handshake: resumed ones bring new tickets.
        for _ in 0..TLS13_TICKETS_PER_HANDSHAKE * 3 {
            let verdict = data(&session.data_acceptor(&base), &connector).await;
            assert_eq!(verdict, Ok(Resumed::Own), "{version:?} {tls12:?}");
        }
        let fresh = client(version, tls12);
        let verdict = data(&session.data_acceptor(&base), &fresh).await;
        assert_eq!(
            verdict,
            Err(ReuseError::NotResumed),
            "{version:?} {tls12:?}"
        );
    }
}

#[tokio::test]
async fn another_clients_session_does_not_resume_here() {
    let base = base();
    let registry = SessionRegistry::default();
    for (version, tls12) in VARIANTS {
        let victim = SessionTls::new(&base, &registry, LOCAL).unwrap();
        let attacker = SessionTls::new(&base, &registry, LOCAL).unwrap();
        victim.set_owner("alice");
        attacker.set_owner("mallory");
        let connector = client(version, tls12);
        control(&attacker, &connector).await;
        let verdict = data(&victim.data_acceptor(&base), &connector).await;
        assert_eq!(
            verdict,
            Err(ReuseError::ForeignSession),
            "{version:?} {tls12:?}"
        );
        // From another address, the ticket is not even tried.
        let elsewhere = SessionTls::new(&base, &registry, "192.0.2.7".parse().unwrap()).unwrap();
        elsewhere.set_owner("mallory");
        let connector = client(version, tls12);
        control(&elsewhere, &connector).await;
        let verdict = data(&victim.data_acceptor(&base), &connector).await;
        assert_eq!(
            verdict,
            Err(ReuseError::NotResumed),
            "{version:?} {tls12:?}"
        );
    }
}

#[tokio::test]
async fn a_sibling_of_the_same_user_and_address_may_be_resumed() {
    let base = base();
    let registry = SessionRegistry::default();
    for (version, tls12) in VARIANTS {
        let first = SessionTls::new(&base, &registry, LOCAL).unwrap();
        let second = SessionTls::new(&base, &registry, LOCAL).unwrap();
        let other_ip = SessionTls::new(&base, &registry, "127.0.0.2".parse().unwrap()).unwrap();
        first.set_owner("alice");
        second.set_owner("alice");
        other_ip.set_owner("alice");
        let connector = client(version, tls12);
        control(&first, &connector).await;
        let verdict = data(&second.data_acceptor(&base), &connector).await;
        assert_eq!(verdict, Ok(Resumed::Sibling), "{version:?} {tls12:?}");
        let verdict = data(&other_ip.data_acceptor(&base), &connector).await;
        assert_eq!(
            verdict,
            Err(ReuseError::NotResumed),
            "{version:?} {tls12:?}"
        );
        // The client keeps offering the ticket of a connection it has closed.
        let connector = client(version, tls12);
        control(&first, &connector).await;
        drop(first);
        let verdict = data(&second.data_acceptor(&base), &connector).await;
        assert_eq!(verdict, Ok(Resumed::Sibling), "ended sibling {version:?}");
    }
    assert_eq!(registry.len(), 0);
}

#[tokio::test]
async fn a_sibling_that_never_logged_in_is_not_kept_after_it_ends() {
    let base = base();
    let registry = SessionRegistry::default();
    for (version, tls12) in VARIANTS {
        let unauthenticated = SessionTls::new(&base, &registry, LOCAL).unwrap();
        let session = SessionTls::new(&base, &registry, LOCAL).unwrap();
        session.set_owner("alice");
        let connector = client(version, tls12);
        control(&unauthenticated, &connector).await;
        drop(unauthenticated);
        let verdict = data(&session.data_acceptor(&base), &connector).await;
        assert_eq!(
            verdict,
            Err(ReuseError::NotResumed),
            "{version:?} {tls12:?}"
        );
    }
}

#[tokio::test]
async fn a_sibling_still_logging_in_is_waited_for_and_must_become_the_same_user() {
    let base = base();
    let registry = SessionRegistry::default();
    for (version, tls12) in VARIANTS {
        for (later, expected) in [
            (Some("alice"), Ok(Resumed::Sibling)),
            (Some("mallory"), Err(ReuseError::ForeignSession)),
            (None, Err(ReuseError::ForeignSession)),
        ] {
            let session = SessionTls::new(&base, &registry, LOCAL).unwrap();
            session.set_owner("alice");
            let newcomer = SessionTls::new(&base, &registry, LOCAL).unwrap();
            let connector = client(version, tls12);
            control(&newcomer, &connector).await;
            let acceptor = session.data_acceptor(&base);
            let sibling_logs_in = async move {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                match later {
                    Some(user) => newcomer.set_owner(user),
                    // Ends without a login.
                    None => drop(newcomer),
                }
            };
            let (verdict, ()) = tokio::join!(data(&acceptor, &connector), sibling_logs_in);
            assert_eq!(verdict, expected, "{version:?} {tls12:?} {later:?}");
        }
    }
}

#[tokio::test]
async fn late_starting_clients_get_tickets_only_once_they_show_they_use_each_once() {
    let base = base();
    let registry = SessionRegistry::default();
    // rustls, like OpenSSL's session cache, uses each TLS 1.3 ticket once.
    let tickets = Arc::new(CountingTickets::new());
    let connector = client_with_store(tickets.clone());
    let session = SessionTls::new(&base, &registry, LOCAL).unwrap();
    control(&session, &connector).await;
    let mut expected = TLS13_TICKETS_PER_HANDSHAKE;
    assert_eq!(tickets.received(), expected);
    // The first two connections get none: two different tickets show the habit.
    for round in 0..8 {
        let acceptor = session.data_acceptor(&base);
        let policy = acceptor.tickets(true);
        let sent = if round < 2 {
            Tickets::Withhold
        } else {
            Tickets::Send
        };
        assert_eq!(policy, sent, "round {round}");
        let verdict = data_with(&acceptor, &connector, policy).await;
        assert_eq!(verdict, Ok(Resumed::Own), "round {round}");
        if policy == Tickets::Send {
            expected += TLS13_TICKETS_PER_HANDSHAKE;
        }
        assert_eq!(tickets.received(), expected, "round {round}");
    }
    // A client that starts TLS before the command always gets them.
    let fresh = SessionTls::new(&base, &registry, LOCAL).unwrap();
    assert_eq!(fresh.data_acceptor(&base).tickets(false), Tickets::Send);
}

#[test]
fn presenting_the_same_ticket_again_is_not_single_use() {
    let mut habit = TicketHabit::default();
    for _ in 0..3 {
        habit.resumed_with(b"ticket-a".to_vec());
    }
    assert!(!habit.single_use);
    habit.resumed_with(b"ticket-b".to_vec());
    assert!(habit.single_use);
    habit.resumed_with(b"ticket-b".to_vec());
    assert!(habit.single_use, "the habit, once seen, stays");
}

#[tokio::test]
async fn a_presented_client_certificate_is_recorded_and_data_connections_still_resume() {
    let identity = client_identity();
    let pinned = CertificateFingerprint::of_der(identity.cert[0].as_ref());
    let base = base_with(authenticator(Some(pinned)));
    let registry = SessionRegistry::default();
    for (version, tls12) in VARIANTS {
        let session = SessionTls::new(&base, &registry, LOCAL).unwrap();
        let connector = client_presenting(version, tls12, Some(identity.clone()));
        control(&session, &connector).await;
        assert_eq!(session.client_certificate(), Some(&pinned), "{version:?}");
        for _ in 0..3 {
            let verdict = data(&session.data_acceptor(&base), &connector).await;
            assert_eq!(verdict, Ok(Resumed::Own), "{version:?} {tls12:?}");
        }

        // Asked for a certificate, a client without one still connects (certificates are
        // requested, never required), and its data connections resume as before.
        let anonymous = SessionTls::new(&base, &registry, LOCAL).unwrap();
        let connector = client(version, tls12);
        control(&anonymous, &connector).await;
        assert_eq!(anonymous.client_certificate(), None);
        let verdict = data(&anonymous.data_acceptor(&base), &connector).await;
        assert_eq!(verdict, Ok(Resumed::Own), "{version:?} {tls12:?}");
    }
}

#[tokio::test]
async fn no_certificate_is_asked_for_while_no_user_logs_in_with_one() {
    let base = base();
    let registry = SessionRegistry::default();
    let session = SessionTls::new(&base, &registry, LOCAL).unwrap();
    let connector = client_presenting(
        &rustls::version::TLS13,
        Tls12Resumption::SessionIdOrTickets,
        Some(client_identity()),
    );
    control(&session, &connector).await;
    assert_eq!(session.client_certificate(), None);
}

#[tokio::test]
async fn a_certificate_without_its_private_key_or_not_x509_fails_the_handshake() {
    let stolen = client_identity();
    let pinned = CertificateFingerprint::of_der(stolen.cert[0].as_ref());
    let base = base_with(authenticator(Some(pinned)));
    let registry = SessionRegistry::default();
    let other_key = rcgen::KeyPair::generate().unwrap().serialize_der();
    let impostor = identity(stolen.cert.clone(), other_key.clone());
    let garbage = identity(
        vec![CertificateDer::from(vec![0x30, 0x03, 1, 2, 3])],
        other_key,
    );
    for (version, tls12) in VARIANTS {
        for presented in [&impostor, &garbage] {
            let session = SessionTls::new(&base, &registry, LOCAL).unwrap();
            let connector = client_presenting(version, tls12, Some(presented.clone()));
            refused_control(&session, &connector).await;
            assert_eq!(session.client_certificate(), None);
        }
    }
}
