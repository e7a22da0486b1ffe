//! FTPS logins with pinned TLS client certificates (`tls_client_certificates` and
//! `tls_client_certificate_login` in the users file): certificate alone (232 at USER),
//! certificate and password, and everything that must not change for anyone else.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use ferryd::auth::{password, CertificateFingerprint, CertificateLogin, UserDb, UserRecord};
use rustls::HandshakeKind;
use tokio::process::Command;

use crate::clients_ftps::{check, have};
use crate::harness::ftp_client::{self, ClientIdentity, FtpClient};
use crate::harness::{TestServer, PASSWORD, USER};

const PARTNER: &str = "partner";
const PARTNER_PASSWORD: &str = "partner pass phrase 7";

/// Adds `name` with a password, logging in over FTPS as `mode` says with `pinned`.
fn add_certificate_user(
    users: &mut UserDb,
    name: &str,
    mode: CertificateLogin,
    pinned: CertificateFingerprint,
) {
    let mut user = UserRecord::named(name).unwrap();
    user.password = Some(password::hash_password(PARTNER_PASSWORD).unwrap());
    user.tls_client_certificates = vec![pinned];
    user.tls_client_certificate_login = mode;
    users.add(user).unwrap();
}

async fn start(mode: CertificateLogin, pinned: CertificateFingerprint) -> TestServer {
    TestServer::start_with(move |_, users| add_certificate_user(users, PARTNER, mode, pinned)).await
}

/// PBSZ, PROT P and TYPE I, as after a login.
async fn protect_data(client: &mut FtpClient) {
    assert_eq!(client.cmd("PBSZ 0").await.code, 200);
    assert_eq!(client.cmd("PROT P").await.code, 200);
    assert_eq!(client.cmd("TYPE I").await.code, 200);
    client.protected = true;
}

/// What a wrong password gets, for comparison.
async fn wrong_password_replies(address: SocketAddr) -> (String, String) {
    let mut client = FtpClient::explicit(address).await;
    let user = client.cmd(&format!("USER {USER}")).await.text;
    let pass = client.cmd("PASS not the password").await.text;
    (user.replace(USER, "NAME"), pass)
}

#[tokio::test]
async fn a_pinned_certificate_alone_logs_in_with_232_and_transfers_work() {
    let identity = ClientIdentity::generate("partner.example");
    let server = start(CertificateLogin::Certificate, identity.fingerprint).await;
    let explicit = server.addresses.ftps_explicit.unwrap();
    for (round, version) in [None, Some(&rustls::version::TLS12)]
        .into_iter()
        .enumerate()
    {
        let tls = ftp_client::tls_config_presenting(version, Some(&identity));
        let mut client = FtpClient::explicit_with(explicit, tls).await;
        let reply = client.cmd(&format!("USER {PARTNER}")).await;
        assert_eq!(
            reply.text,
            "232 User partner logged in, authorized by security data exchange"
        );
        protect_data(&mut client).await;
        let name = format!("from-partner-{round}.bin");
        let data: Vec<u8> = (0..300_000u32).map(|n| (n % 251) as u8).collect();
        client.upload(&format!("STOR {name}"), &data).await;
        // The data connections resume the control session that carried the certificate.
        assert_eq!(client.last_data_handshake, Some(HandshakeKind::Resumed));
        assert_eq!(client.download(&format!("RETR {name}")).await, data);
        let listing = String::from_utf8(client.download("NLST").await).unwrap();
        assert!(listing.contains(&name), "{listing}");
        assert_eq!(
            std::fs::read(server.home(PARTNER).join(&name)).unwrap(),
            data
        );
    }

    let tls = ftp_client::tls_config_presenting(None, Some(&identity));
    let implicit = server.addresses.ftps_implicit.unwrap();
    let mut client = FtpClient::implicit_with(implicit, tls).await;
    assert_eq!(client.cmd(&format!("USER {PARTNER}")).await.code, 232);
    assert_eq!(client.cmd("PWD").await.code, 257);
    server.stop().await;
}

#[tokio::test]
async fn without_the_pinned_certificate_a_certificate_user_fails_like_a_wrong_password() {
    let identity = ClientIdentity::generate("partner");
    let stranger = ClientIdentity::generate("stranger");
    let server = TestServer::start_with(|config, users| {
        config.ftps.require_tls = false;
        add_certificate_user(
            users,
            PARTNER,
            CertificateLogin::Certificate,
            identity.fingerprint,
        );
        add_certificate_user(
            users,
            "retired",
            CertificateLogin::Certificate,
            identity.fingerprint,
        );
        users.get_mut("retired").unwrap().enabled = false;
    })
    .await;
    let address = server.addresses.ftps_explicit.unwrap();
    let (user_reply, refusal) = wrong_password_replies(address).await;
    assert_eq!(refusal, "530 Login incorrect");

    let clients = [
        ("no certificate", FtpClient::explicit(address).await),
        (
            "an unpinned certificate",
            FtpClient::explicit_with(
                address,
                ftp_client::tls_config_presenting(None, Some(&stranger)),
            )
            .await,
        ),
        ("plain text", FtpClient::plain(address).await),
    ];
    for (label, mut client) in clients {
        // USER answers as for any name, existing or not; the right password then fails.
        for name in [PARTNER, "ghost"] {
            let reply = client.cmd(&format!("USER {name}")).await;
            assert_eq!(reply.text.replace(name, "NAME"), user_reply, "{label}");
            let reply = client.cmd(&format!("PASS {PARTNER_PASSWORD}")).await;
            assert_eq!(reply.text, refusal, "{label}: {name}");
        }
    }

    // The right certificate for a disabled user: refused at once, with the same text.
    let tls = ftp_client::tls_config_presenting(None, Some(&identity));
    let mut client = FtpClient::explicit_with(address, tls).await;
    assert_eq!(client.cmd("USER retired").await.text, refusal);
    assert_eq!(client.cmd(&format!("USER {PARTNER}")).await.code, 232);
    server.stop().await;
}

#[tokio::test]
async fn certificate_and_password_needs_both() {
    let identity = ClientIdentity::generate("partner");
    let server = start(
        CertificateLogin::CertificateAndPassword,
        identity.fingerprint,
    )
    .await;
    let address = server.addresses.ftps_explicit.unwrap();
    let (user_reply, refusal) = wrong_password_replies(address).await;

    let tls = ftp_client::tls_config_presenting(None, Some(&identity));
    let mut client = FtpClient::explicit_with(address, tls.clone()).await;
    let reply = client.cmd(&format!("USER {PARTNER}")).await;
    assert_eq!(reply.text.replace(PARTNER, "NAME"), user_reply);
    assert_eq!(client.cmd("PASS not the password").await.text, refusal);
    client.login_as(PARTNER, PARTNER_PASSWORD).await;
    client.upload("STOR both.txt", b"two factors").await;

    let mut client = FtpClient::explicit(address).await;
    assert_eq!(client.cmd(&format!("USER {PARTNER}")).await.code, 331);
    let reply = client.cmd(&format!("PASS {PARTNER_PASSWORD}")).await;
    assert_eq!(reply.text, refusal, "the password without the certificate");

    // A client library that expects USER, 331, PASS, 230 works unchanged with a certificate.
    let plain = suppaftp::tokio::AsyncRustlsFtpStream::connect(address)
        .await
        .unwrap();
    let mut ftp = plain
        .into_secure(ftp_client::suppaftp_connector(tls), "localhost")
        .await
        .unwrap();
    ftp.login(PARTNER, PARTNER_PASSWORD).await.unwrap();
    let names = ftp.nlst(None).await.unwrap();
    assert!(
        names.iter().any(|name| name.ends_with("both.txt")),
        "{names:?}"
    );
    ftp.quit().await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn password_users_and_clients_without_certificates_are_unaffected() {
    let partner = ClientIdentity::generate("partner");
    let random = ClientIdentity::generate("random");
    // A certificate user exists, so every handshake asks for a certificate.
    let server = start(CertificateLogin::Certificate, partner.fingerprint).await;
    let address = server.addresses.ftps_explicit.unwrap();
    for (label, presented) in [
        ("a random certificate", Some(&random)),
        ("another user's pinned certificate", Some(&partner)),
        ("no certificate", None),
    ] {
        let (tls, requests) = ftp_client::tls_config_counting(None, presented);
        let mut client = FtpClient::explicit_with(address, tls).await;
        assert!(
            requests.load(Ordering::Relaxed) > 0,
            "{label}: the server did not ask for a certificate"
        );
        client.login().await;
        client.upload("STOR mine.txt", label.as_bytes()).await;
        assert_eq!(client.download("RETR mine.txt").await, label.as_bytes());
    }

    let mut ftp = ftp_client::suppaftp_login(address).await;
    let names = ftp.nlst(None).await.unwrap();
    assert!(
        names.iter().any(|name| name.ends_with("mine.txt")),
        "{names:?}"
    );
    ftp.quit().await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn curl_and_lftp_log_in_with_and_without_a_client_certificate() {
    let identity = ClientIdentity::generate("partner");
    let server = start(CertificateLogin::Certificate, identity.fingerprint).await;
    let explicit = server.addresses.ftps_explicit.unwrap();
    let implicit = server.addresses.ftps_implicit.unwrap();
    let dir = server.dir.path().join("client");
    std::fs::create_dir_all(&dir).unwrap();
    let certificate = dir.join("partner.pem");
    let key = dir.join("partner-key.pem");
    std::fs::write(&certificate, &identity.certificate_pem).unwrap();
    std::fs::write(&key, &identity.key_pem).unwrap();
    let upload = dir.join("upload.txt");
    std::fs::write(&upload, "sent by a command-line client\n").unwrap();
    let upload = upload.display().to_string();

    if have("curl") {
        let curl = |user: &str, extra: &[&str], url: String| {
            let mut command = Command::new("curl");
            command
                .args(["--silent", "--show-error", "--insecure", "--max-time", "60"])
                .args(["--ssl-reqd", "--user", user])
                .args(extra)
                .arg(url);
            command
        };
        let password_user = format!("{USER}:{PASSWORD}");
        // Asked for a certificate, curl without one logs in with the password as always.
        let output = curl(
            &password_user,
            &["-T", &upload],
            format!("ftp://{explicit}/"),
        )
        .output()
        .await
        .unwrap();
        check(&output, "curl without a certificate");
        assert!(server.home(USER).join("upload.txt").is_file());

        let with_certificate = [
            "--cert",
            certificate.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ];
        for url in [
            format!("ftp://{explicit}/curl-explicit.txt"),
            format!("ftps://{implicit}/curl-implicit.txt"),
        ] {
            let mut args = with_certificate.to_vec();
            args.extend(["-T", &upload]);
            let output = curl(&format!("{PARTNER}:"), &args, url.clone())
                .output()
                .await
                .unwrap();
            check(&output, &format!("curl with a certificate to {url}"));
        }
        let listing = curl(
            &format!("{PARTNER}:"),
            &with_certificate,
            format!("ftp://{explicit}/"),
        )
        .output()
        .await
        .unwrap();
        check(&listing, "curl listing with a certificate");
        let listing = String::from_utf8_lossy(&listing.stdout);
        assert!(listing.contains("curl-explicit.txt"), "{listing}");
        assert!(listing.contains("curl-implicit.txt"), "{listing}");
    }

    if have("lftp") {
        let lftp = |settings: String, login: String| {
            let script = format!(
                "set ssl:verify-certificate no; set ftp:ssl-force true; \
                 set ftp:ssl-protect-data true; set net:max-retries 1; {settings} \
                 open -u '{login}' ftp://{explicit}; put {upload} -o lftp.txt; cls -1; bye"
            );
            let mut command = Command::new("lftp");
            command.args(["-c", &script]);
            command
        };
        let output = lftp(String::new(), format!("{USER},{PASSWORD}"))
            .output()
            .await
            .unwrap();
        check(&output, "lftp without a certificate");
        assert!(server.home(USER).join("lftp.txt").is_file());
        let settings = format!(
            "set ssl:cert-file {}; set ssl:key-file {};",
            certificate.display(),
            key.display()
        );
        let output = lftp(settings, format!("{PARTNER},"))
            .output()
            .await
            .unwrap();
        check(&output, "lftp with a certificate");
        assert!(server.home(PARTNER).join("lftp.txt").is_file());
    }
    server.stop().await;
}
