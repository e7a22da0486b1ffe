//! Tests for [`Authenticator`](super::Authenticator): outcomes, policy order, the dummy-hash path,
//! key-and-password, reload, and the observer.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::password::cheap_hash_for_tests;
use super::public_key::parse_authorized_key;
use super::public_key::tests::{KEY_A, KEY_B};
use super::user_db::tests::{remove, write_text};
use super::user_record::parse_network;
use super::*;

#[derive(Default)]
struct Recorder(Mutex<Vec<AuthEvent>>);

impl AuthObserver for Recorder {
    fn on_auth(&self, event: &AuthEvent) {
        self.0.lock().unwrap().push(event.clone());
    }
}

impl Recorder {
    fn outcomes(&self) -> Vec<AuthOutcome> {
        self.0.lock().unwrap().iter().map(|e| e.outcome).collect()
    }

    fn last(&self) -> AuthEvent {
        self.0.lock().unwrap().last().cloned().unwrap()
    }
}

const LAN: &str = "10.1.2.3";
const INTERNET: &str = "198.51.100.9";

fn user(name: &str, password: Option<&str>) -> UserRecord {
    let mut record = UserRecord::named(name).unwrap();
    record.password = password.map(cheap_hash_for_tests);
    record
}

fn setup(users: Vec<UserRecord>) -> (Authenticator, Arc<Recorder>) {
    let mut db = UserDb::new();
    for record in users {
        db.add(record).unwrap();
    }
    let recorder = Arc::new(Recorder::default());
    let authenticator = Authenticator::new(db, PathBuf::from("/data"), recorder.clone());
    (authenticator, recorder)
}

fn attempt<'a>(user: &'a str, protocol: Protocol, peer: &str) -> LoginAttempt<'a> {
    LoginAttempt {
        user,
        protocol,
        peer: peer.parse::<IpAddr>().unwrap(),
        method_already_passed: None,
    }
}

fn key(line: &str) -> PublicKey {
    parse_authorized_key(line).unwrap()
}

fn failure(reason: FailureReason) -> AuthOutcome {
    AuthOutcome::Failure(reason)
}

/// The second step of a two-step login: after `passed`, a wrong password fails and the right
/// one ("pw") logs in.
async fn the_password_completes_after(
    auth: &Authenticator,
    first: LoginAttempt<'_>,
    passed: AuthMethod,
) {
    let mut second = first;
    second.method_already_passed = Some(passed);
    assert_eq!(
        auth.authenticate(&second, Credential::Password("wrong"))
            .await,
        Err(AuthError::InvalidCredentials)
    );
    let identity = auth
        .authenticate(&second, Credential::Password("pw"))
        .await
        .unwrap();
    assert_eq!(identity.method, AuthMethod::Password);
}

#[tokio::test]
async fn right_password_yields_identity_with_resolved_home() {
    let mut alice = user("alice", Some("pw"));
    alice.tls_session_reuse_exempt = true;
    let (auth, events) = setup(vec![alice]);
    let identity = auth
        .authenticate(
            &attempt("alice", Protocol::Ftps, LAN),
            Credential::Password("pw"),
        )
        .await
        .unwrap();
    assert_eq!(identity.user, "alice");
    assert_eq!(
        identity.fs.root,
        crate::vfs::Place::Local(PathBuf::from("/data/alice"))
    );
    assert!(identity.tls_session_reuse_exempt);
    assert_eq!(identity.method, AuthMethod::Password);
    let event = events.last();
    assert_eq!(event.outcome, AuthOutcome::Success);
    assert_eq!(event.user, "alice");
    assert_eq!(event.protocol, Protocol::Ftps);
    assert_eq!(event.method, AuthMethod::Password);
    assert_eq!(auth.dummy_verifications(), 0);
}

#[tokio::test]
async fn wrong_password_and_unknown_user_are_indistinguishable_to_the_client() {
    let (auth, events) = setup(vec![user("alice", Some("pw"))]);
    let wrong = auth
        .authenticate(
            &attempt("alice", Protocol::Sftp, LAN),
            Credential::Password("nope"),
        )
        .await;
    assert_eq!(wrong, Err(AuthError::InvalidCredentials));
    assert_eq!(auth.dummy_verifications(), 0);
    let unknown = auth
        .authenticate(
            &attempt("mallory", Protocol::Sftp, LAN),
            Credential::Password("pw"),
        )
        .await;
    assert_eq!(unknown, Err(AuthError::InvalidCredentials));
    // The unknown user cost one argon2 verification against the dummy hash.
    assert_eq!(auth.dummy_verifications(), 1);
    assert_eq!(
        events.outcomes(),
        vec![
            failure(FailureReason::WrongPassword),
            failure(FailureReason::UnknownUser)
        ]
    );
}

#[tokio::test]
async fn key_only_user_and_refused_passwords_take_the_dummy_path() {
    let mut keyed = user("keyed", None);
    keyed.keys.push(key(KEY_A));
    let (auth, events) = setup(vec![keyed, user("alice", Some("pw"))]);
    let result = auth
        .authenticate(
            &attempt("keyed", Protocol::Sftp, LAN),
            Credential::Password("x"),
        )
        .await;
    assert_eq!(result, Err(AuthError::InvalidCredentials));
    let empty = auth
        .authenticate(
            &attempt("alice", Protocol::Sftp, LAN),
            Credential::Password(""),
        )
        .await;
    assert_eq!(empty, Err(AuthError::InvalidCredentials));
    let long = "x".repeat(password::MAX_PASSWORD_BYTES + 1);
    let too_long = auth
        .authenticate(
            &attempt("alice", Protocol::Sftp, LAN),
            Credential::Password(&long),
        )
        .await;
    assert_eq!(too_long, Err(AuthError::InvalidCredentials));
    assert_eq!(auth.dummy_verifications(), 3);
    assert_eq!(
        events.outcomes(),
        vec![
            failure(FailureReason::NoPasswordSet),
            failure(FailureReason::PasswordRejected),
            failure(FailureReason::PasswordRejected)
        ]
    );
}

#[tokio::test]
async fn public_key_match_and_mismatch() {
    let mut bob = user("bob", None);
    bob.keys.push(key(KEY_A));
    let (auth, events) = setup(vec![bob]);
    let peer: IpAddr = LAN.parse().unwrap();
    assert!(auth.accepts_public_key("bob", &key(KEY_A), Protocol::Sftp, peer));
    assert!(!auth.accepts_public_key("bob", &key(KEY_B), Protocol::Sftp, peer));
    assert!(!auth.accepts_public_key("nobody", &key(KEY_A), Protocol::Sftp, peer));
    let identity = auth
        .authenticate(
            &attempt("bob", Protocol::Sftp, LAN),
            Credential::PublicKey(&key(KEY_A)),
        )
        .await
        .unwrap();
    assert_eq!(identity.method, AuthMethod::PublicKey);
    let wrong = auth
        .authenticate(
            &attempt("bob", Protocol::Sftp, LAN),
            Credential::PublicKey(&key(KEY_B)),
        )
        .await;
    assert_eq!(wrong, Err(AuthError::InvalidCredentials));
    let unknown = auth
        .authenticate(
            &attempt("eve", Protocol::Sftp, LAN),
            Credential::PublicKey(&key(KEY_A)),
        )
        .await;
    assert_eq!(unknown, Err(AuthError::InvalidCredentials));
    // Probes are not attempts: only the three `authenticate` calls were reported.
    assert_eq!(
        events.outcomes(),
        vec![
            AuthOutcome::Success,
            failure(FailureReason::WrongKey),
            failure(FailureReason::UnknownUser)
        ]
    );
    assert_eq!(events.last().method, AuthMethod::PublicKey);
}

#[tokio::test]
async fn disabled_user_is_refused_after_the_password_check() {
    let mut carol = user("carol", Some("pw"));
    carol.enabled = false;
    carol.keys.push(key(KEY_A));
    let (auth, events) = setup(vec![carol]);
    for candidate in ["pw", "wrong"] {
        let result = auth
            .authenticate(
                &attempt("carol", Protocol::Ftps, LAN),
                Credential::Password(candidate),
            )
            .await;
        assert_eq!(result, Err(AuthError::InvalidCredentials));
    }
    let peer = LAN.parse().unwrap();
    assert!(!auth.accepts_public_key("carol", &key(KEY_A), Protocol::Sftp, peer));
    // The real hash was verified both times (a wrong password is reported as such), so a
    // disabled account answers exactly as slowly as an enabled one.
    assert_eq!(auth.dummy_verifications(), 0);
    assert_eq!(
        events.outcomes(),
        vec![
            failure(FailureReason::Disabled),
            failure(FailureReason::WrongPassword)
        ]
    );
}

#[tokio::test]
async fn protocol_restriction_applies_only_after_a_valid_credential() {
    let mut dave = user("dave", Some("pw"));
    dave.protocols = [Protocol::Sftp].into_iter().collect();
    let (auth, events) = setup(vec![dave]);
    let ftps = attempt("dave", Protocol::Ftps, LAN);
    assert_eq!(
        auth.authenticate(&ftps, Credential::Password("pw")).await,
        Err(AuthError::ProtocolNotAllowed)
    );
    assert_eq!(
        auth.authenticate(&ftps, Credential::Password("guess"))
            .await,
        Err(AuthError::InvalidCredentials)
    );
    assert!(auth
        .authenticate(
            &attempt("dave", Protocol::Sftp, LAN),
            Credential::Password("pw")
        )
        .await
        .is_ok());
    assert_eq!(
        events.outcomes(),
        vec![
            failure(FailureReason::ProtocolNotAllowed),
            failure(FailureReason::WrongPassword),
            AuthOutcome::Success
        ]
    );
}

#[tokio::test]
async fn network_restriction_applies_only_after_a_valid_credential() {
    let mut erin = user("erin", Some("pw"));
    erin.allowed_networks = vec![parse_network("10.0.0.0/8").unwrap()];
    erin.keys.push(key(KEY_A));
    let (auth, events) = setup(vec![erin]);
    let outside = attempt("erin", Protocol::Sftp, INTERNET);
    assert_eq!(
        auth.authenticate(&outside, Credential::Password("pw"))
            .await,
        Err(AuthError::NetworkNotAllowed)
    );
    assert_eq!(
        auth.authenticate(&outside, Credential::Password("guess"))
            .await,
        Err(AuthError::InvalidCredentials)
    );
    let mapped = attempt("erin", Protocol::Sftp, "::ffff:10.1.2.3");
    assert!(auth
        .authenticate(&mapped, Credential::Password("pw"))
        .await
        .is_ok());
    assert_eq!(events.last().peer, LAN.parse::<IpAddr>().unwrap());
    let internet: IpAddr = INTERNET.parse().unwrap();
    assert!(!auth.accepts_public_key("erin", &key(KEY_A), Protocol::Sftp, internet));
    assert!(auth.accepts_public_key("erin", &key(KEY_A), Protocol::Sftp, LAN.parse().unwrap()));
    assert_eq!(
        events.outcomes(),
        vec![
            failure(FailureReason::NetworkNotAllowed),
            failure(FailureReason::WrongPassword),
            AuthOutcome::Success
        ]
    );
}

fn two_factor_user() -> UserRecord {
    let mut frank = user("frank", Some("pw"));
    frank.keys.push(key(KEY_A));
    frank.require_key_and_password = true;
    frank
}

#[tokio::test]
async fn key_then_password_is_partial_then_success() {
    let (auth, events) = setup(vec![two_factor_user()]);
    let first = attempt("frank", Protocol::Sftp, LAN);
    let key_a = key(KEY_A);
    assert_eq!(
        auth.authenticate(&first, Credential::PublicKey(&key_a))
            .await,
        Err(AuthError::PartialSuccess {
            next: AuthMethod::Password
        })
    );
    the_password_completes_after(&auth, first, AuthMethod::PublicKey).await;
    assert_eq!(
        events.outcomes(),
        vec![
            AuthOutcome::Partial {
                next: AuthMethod::Password
            },
            failure(FailureReason::WrongPassword),
            AuthOutcome::Success
        ]
    );
}

#[tokio::test]
async fn password_then_key_is_partial_then_success() {
    let (auth, events) = setup(vec![two_factor_user()]);
    let first = attempt("frank", Protocol::Sftp, LAN);
    assert_eq!(
        auth.authenticate(&first, Credential::Password("pw")).await,
        Err(AuthError::PartialSuccess {
            next: AuthMethod::PublicKey
        })
    );
    // Repeating the same method does not complete the login.
    let mut repeated = first;
    repeated.method_already_passed = Some(AuthMethod::Password);
    assert_eq!(
        auth.authenticate(&repeated, Credential::Password("pw"))
            .await,
        Err(AuthError::PartialSuccess {
            next: AuthMethod::PublicKey
        })
    );
    let identity = auth
        .authenticate(&repeated, Credential::PublicKey(&key(KEY_A)))
        .await
        .unwrap();
    assert_eq!(identity.method, AuthMethod::PublicKey);
    assert_eq!(events.outcomes().len(), 3);
    assert_eq!(events.last().outcome, AuthOutcome::Success);
}

#[tokio::test]
async fn key_and_password_user_cannot_log_in_over_ftps_with_password_alone() {
    let (auth, _events) = setup(vec![two_factor_user()]);
    let result = auth
        .authenticate(
            &attempt("frank", Protocol::Ftps, LAN),
            Credential::Password("pw"),
        )
        .await;
    assert!(matches!(result, Err(AuthError::PartialSuccess { .. })));
}

#[tokio::test]
async fn reload_swaps_users_and_keeps_the_old_ones_on_a_broken_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.toml");
    let (auth, _events) = setup(vec![user("alice", Some("pw"))]);
    let session = auth
        .authenticate(
            &attempt("alice", Protocol::Sftp, LAN),
            Credential::Password("pw"),
        )
        .await
        .unwrap();

    write_text(&path, "[[user]]\nname = \"alice\"\nbogus = 1\n");
    assert!(matches!(
        auth.reload_from(&path),
        Err(UsersFileError::Syntax { .. })
    ));
    assert_eq!(auth.user_count(), 1);
    assert!(auth.has_user_with_password());

    remove(&path);
    assert!(matches!(
        auth.reload_from(&path),
        Err(UsersFileError::Read { .. })
    ));
    assert_eq!(auth.user_count(), 1);

    let bob_hash = cheap_hash_for_tests("bobpw");
    let text = format!(
        "[[user]]\nname = \"bob\"\npassword = \"{}\"\n[[user]]\nname = \"carol\"\n",
        bob_hash.as_str()
    );
    write_text(&path, &text);
    assert_eq!(auth.reload_from(&path).unwrap(), 2);
    assert!(auth.users().get("alice").is_none());
    assert_eq!(
        auth.authenticate(
            &attempt("alice", Protocol::Sftp, LAN),
            Credential::Password("pw")
        )
        .await,
        Err(AuthError::InvalidCredentials)
    );
    assert!(auth
        .authenticate(
            &attempt("bob", Protocol::Sftp, LAN),
            Credential::Password("bobpw")
        )
        .await
        .is_ok());
    // The session that logged in before the reload keeps its identity.
    assert_eq!(session.user, "alice");
}

#[tokio::test]
async fn observer_sees_every_attempt_exactly_once() {
    let mut grace = user("grace", Some("pw"));
    grace.keys.push(key(KEY_A));
    let (auth, events) = setup(vec![grace]);
    let here = attempt("grace", Protocol::Sftp, LAN);
    let _ = auth.authenticate(&here, Credential::Password("pw")).await;
    let _ = auth.authenticate(&here, Credential::Password("no")).await;
    let _ = auth
        .authenticate(&here, Credential::PublicKey(&key(KEY_A)))
        .await;
    let _ = auth
        .authenticate(&here, Credential::PublicKey(&key(KEY_B)))
        .await;
    assert_eq!(
        events.outcomes(),
        vec![
            AuthOutcome::Success,
            failure(FailureReason::WrongPassword),
            AuthOutcome::Success,
            failure(FailureReason::WrongKey)
        ]
    );
}

#[test]
fn debug_output_never_contains_the_password() {
    let credential = Credential::Password("hunter2");
    assert!(!format!("{credential:?}").contains("hunter2"));
    let key_a = key(KEY_A);
    assert!(format!("{:?}", Credential::PublicKey(&key_a)).contains("SHA256:"));
}

#[test]
fn authenticator_and_its_future_can_cross_tasks() {
    fn assert_send<T: Send>(_: &T) {}
    fn assert_sync<T: Send + Sync>() {}
    assert_sync::<Authenticator>();
    let (auth, _events) = setup(Vec::new());
    let login = attempt("x", Protocol::Sftp, LAN);
    let future = auth.authenticate(&login, Credential::Password("x"));
    assert_send(&future);
}

fn pinned(seed: &[u8]) -> CertificateFingerprint {
    CertificateFingerprint::of_der(seed)
}

/// A certificate login that must fail like a wrong password, recorded as a wrong certificate.
async fn refused_as_wrong_certificate(
    auth: &Authenticator,
    events: &Recorder,
    attempt: &LoginAttempt<'_>,
    certificate: &CertificateFingerprint,
) {
    assert_eq!(
        auth.authenticate(attempt, Credential::ClientCertificate(certificate))
            .await,
        Err(AuthError::InvalidCredentials)
    );
    assert_eq!(
        events.last().outcome,
        failure(FailureReason::WrongCertificate)
    );
}

fn certificate_user(name: &str, mode: CertificateLogin, password: Option<&str>) -> UserRecord {
    let mut record = user(name, password);
    record.tls_client_certificates = vec![pinned(b"other"), pinned(name.as_bytes())];
    record.tls_client_certificate_login = mode;
    record
}

#[tokio::test]
async fn a_pinned_certificate_alone_logs_a_certificate_user_in_over_ftps_only() {
    let partner = certificate_user("partner", CertificateLogin::Certificate, Some("pw"));
    let (auth, events) = setup(vec![partner]);
    let certificate = pinned(b"partner");
    assert!(auth.accepts_client_certificate("partner", &certificate, Protocol::Ftps));
    assert!(!auth.accepts_client_certificate("partner", &certificate, Protocol::Sftp));
    assert!(!auth.accepts_client_certificate("nobody", &certificate, Protocol::Ftps));
    assert!(auth.has_user_with_client_certificate());

    let identity = auth
        .authenticate(
            &attempt("partner", Protocol::Ftps, LAN),
            Credential::ClientCertificate(&certificate),
        )
        .await
        .unwrap();
    assert_eq!(identity.user, "partner");
    assert_eq!(identity.method, AuthMethod::ClientCertificate);
    assert_eq!(events.last().method, AuthMethod::ClientCertificate);
    assert_eq!(events.last().outcome, AuthOutcome::Success);

    // SFTP knows no client certificates, even pinned ones.
    refused_as_wrong_certificate(
        &auth,
        &events,
        &attempt("partner", Protocol::Sftp, LAN),
        &certificate,
    )
    .await;
}

#[tokio::test]
async fn a_certificate_user_without_the_certificate_fails_like_a_wrong_password() {
    let partner = certificate_user("partner", CertificateLogin::Certificate, Some("pw"));
    let mut keyless = certificate_user("keyless", CertificateLogin::Certificate, None);
    keyless.protocols = [Protocol::Ftps].into();
    let (auth, events) = setup(vec![partner, keyless]);
    let ftps = attempt("partner", Protocol::Ftps, LAN);
    // The right password is not enough over FTPS; the failure counts as a failed login.
    assert_eq!(
        auth.authenticate(&ftps, Credential::Password("pw")).await,
        Err(AuthError::CertificateRequired)
    );
    assert_eq!(
        events.last().outcome,
        failure(FailureReason::CertificateRequired)
    );
    assert!(!FailureReason::CertificateRequired.credential_was_valid());
    // A wrong password still does the full argon2 work, so timing does not tell the mode.
    let before = auth.dummy_verifications();
    assert_eq!(
        auth.authenticate(
            &attempt("keyless", Protocol::Ftps, LAN),
            Credential::Password("guess"),
        )
        .await,
        Err(AuthError::CertificateRequired)
    );
    assert_eq!(auth.dummy_verifications(), before + 1);
    // An unpinned certificate is refused with the same reply text as everything else.
    let stranger = pinned(b"stranger");
    assert!(!auth.accepts_client_certificate("partner", &stranger, Protocol::Ftps));
    refused_as_wrong_certificate(&auth, &events, &ftps, &stranger).await;
    // The mode governs FTPS only: SFTP logins with the password are unaffected.
    auth.authenticate(
        &attempt("partner", Protocol::Sftp, LAN),
        Credential::Password("pw"),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn certificate_and_password_needs_the_certificate_first_then_the_password() {
    let partner = certificate_user(
        "partner",
        CertificateLogin::CertificateAndPassword,
        Some("pw"),
    );
    let (auth, events) = setup(vec![partner]);
    let certificate = pinned(b"partner");
    let first = attempt("partner", Protocol::Ftps, LAN);
    assert_eq!(
        auth.authenticate(&first, Credential::ClientCertificate(&certificate))
            .await,
        Err(AuthError::PartialSuccess {
            next: AuthMethod::Password
        })
    );
    assert_eq!(
        auth.authenticate(&first, Credential::Password("pw")).await,
        Err(AuthError::CertificateRequired),
        "the password without the certificate step"
    );
    the_password_completes_after(&auth, first, AuthMethod::ClientCertificate).await;
    assert_eq!(
        events.outcomes(),
        vec![
            AuthOutcome::Partial {
                next: AuthMethod::Password
            },
            failure(FailureReason::CertificateRequired),
            failure(FailureReason::WrongPassword),
            AuthOutcome::Success,
        ]
    );
}

#[tokio::test]
async fn password_users_ignore_certificates_even_pinned_ones() {
    let alice = certificate_user("alice", CertificateLogin::Password, Some("pw"));
    let (auth, events) = setup(vec![alice]);
    let certificate = pinned(b"alice");
    assert!(!auth.accepts_client_certificate("alice", &certificate, Protocol::Ftps));
    assert!(!auth.has_user_with_client_certificate());
    refused_as_wrong_certificate(
        &auth,
        &events,
        &attempt("alice", Protocol::Ftps, LAN),
        &certificate,
    )
    .await;
    auth.authenticate(
        &attempt("alice", Protocol::Ftps, LAN),
        Credential::Password("pw"),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn certificate_logins_obey_the_same_policy_as_passwords() {
    let mut disabled = certificate_user("disabled", CertificateLogin::Certificate, None);
    disabled.enabled = false;
    let mut fenced = certificate_user("fenced", CertificateLogin::Certificate, None);
    fenced.allowed_networks = vec![parse_network("10.0.0.0/8").unwrap()];
    let mut sftp_only = certificate_user("sftponly", CertificateLogin::Certificate, None);
    sftp_only.protocols = [Protocol::Sftp].into();
    let (auth, events) = setup(vec![disabled, fenced, sftp_only]);
    let cases = [
        (
            "disabled",
            LAN,
            AuthError::InvalidCredentials,
            FailureReason::Disabled,
        ),
        (
            "fenced",
            INTERNET,
            AuthError::NetworkNotAllowed,
            FailureReason::NetworkNotAllowed,
        ),
        (
            "sftponly",
            LAN,
            AuthError::ProtocolNotAllowed,
            FailureReason::ProtocolNotAllowed,
        ),
    ];
    for (name, peer, error, reason) in cases {
        let certificate = pinned(name.as_bytes());
        assert_eq!(
            auth.authenticate(
                &attempt(name, Protocol::Ftps, peer),
                Credential::ClientCertificate(&certificate),
            )
            .await,
            Err(error),
            "{name}"
        );
        assert_eq!(events.last().outcome, failure(reason), "{name}");
    }
    // Neither the disabled nor the SFTP-only user makes FTPS handshakes ask for certificates.
    assert!(auth.has_user_with_client_certificate(), "fenced counts");
}

#[tokio::test]
async fn a_users_reload_switches_whether_certificates_are_asked_for() {
    let (auth, _) = setup(vec![certificate_user(
        "alice",
        CertificateLogin::Password,
        Some("pw"),
    )]);
    assert!(!auth.has_user_with_client_certificate());
    let mut db = UserDb::new();
    db.add(certificate_user(
        "partner",
        CertificateLogin::Certificate,
        None,
    ))
    .unwrap();
    auth.replace_users(db);
    assert!(auth.has_user_with_client_certificate());
    auth.replace_users(UserDb::new());
    assert!(!auth.has_user_with_client_certificate());
}
