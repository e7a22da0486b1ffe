//! `Server::start` in process: state preparation, reload and shutdown.

use ferryd::auth::{password, UserRecord};
use ferryd::server::Server;

use crate::harness::{test_config, TestServer, USER};

#[tokio::test]
async fn reload_picks_up_a_new_user_and_keeps_the_old_users_on_a_broken_file() {
    let server = TestServer::start().await;
    let auth = &server.running().services().auth;
    assert!(auth.user_count() == 1);

    let users_file = &server.config.auth.users_file;
    let mut users = ferryd::auth::UserDb::load(users_file).unwrap();
    let mut bob = UserRecord::named("bob").unwrap();
    bob.password = Some(password::hash_password("bob password").unwrap());
    users.add(bob).unwrap();
    users.save(users_file).unwrap();
    server.running().reload().unwrap();
    assert_eq!(auth.user_count(), 2);

    std::fs::write(users_file, "[[user]]\nname = \n").unwrap();
    assert!(server.running().reload().is_err());
    assert_eq!(
        auth.user_count(),
        2,
        "a broken users file must not replace the good one"
    );
    std::fs::remove_file(users_file).unwrap();
    assert!(server.running().reload().is_err());
    assert_eq!(
        auth.user_count(),
        2,
        "a vanished users file must not lock everyone out"
    );
    server.stop().await;
}

#[tokio::test]
async fn start_fails_clearly_when_the_data_dir_cannot_be_created() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    std::fs::write(dir.path().join("file"), "x").unwrap();
    config.server.data_dir = dir.path().join("file/data");
    let error = Server::start(config).await.err().expect("start must fail");
    let text = error.to_string();
    assert!(text.contains("server.data_dir"), "{text}");
    assert!(error.is_configuration());
}

#[tokio::test]
async fn start_fails_clearly_on_a_broken_users_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(dir.path());
    std::fs::create_dir_all(&config.server.state_dir).unwrap();
    std::fs::write(
        &config.auth.users_file,
        format!("[[user]]\nname = \"{USER}\"\nbogus = 1\n"),
    )
    .unwrap();
    let error = Server::start(config).await.err().expect("start must fail");
    assert!(error.to_string().contains("bogus"), "{error}");
}

async fn http_get(address: std::net::SocketAddr, target: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

#[tokio::test]
async fn metrics_endpoint_counts_login_attempts() {
    let server = TestServer::start_with(|config, _| {
        config.metrics.listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let address = server.addresses.metrics.expect("metrics listener bound");
    let before = http_get(address, "/metrics").await;
    assert!(before.starts_with("HTTP/1.1 200 OK"), "{before}");
    assert!(
        before.contains("ferryd_tls_session_reuse_refusals_total 0"),
        "{before}"
    );

    let auth = &server.running().services().auth;
    let attempt = ferryd::auth::LoginAttempt {
        user: USER,
        protocol: ferryd::config::Protocol::Sftp,
        peer: "127.0.0.1".parse().unwrap(),
        method_already_passed: None,
    };
    let wrong = auth
        .authenticate(&attempt, ferryd::auth::Credential::Password("wrong"))
        .await;
    assert!(wrong.is_err());
    let after = http_get(address, "/metrics").await;
    assert!(
        after.contains("ferryd_logins_total{protocol=\"sftp\",result=\"failed\"} 1"),
        "{after}"
    );
    assert!(http_get(address, "/nope").await.starts_with("HTTP/1.1 404"));
    server.stop().await;
}

#[tokio::test]
async fn port_in_use_is_a_clear_bind_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.sftp.listen = Some(taken.local_addr().unwrap());
    let error = Server::start(config).await.err().expect("start must fail");
    let text = error.to_string();
    assert!(
        text.contains("sftp.listen") && text.contains("cannot listen"),
        "{text}"
    );
    assert!(
        !error.is_configuration(),
        "a taken port is an unavailable resource (69)"
    );
}

#[tokio::test]
async fn an_unusable_certificate_stops_the_start_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(dir.path());
    std::fs::create_dir_all(&config.server.state_dir).unwrap();
    std::fs::write(&config.ftps.cert, "not a certificate").unwrap();
    std::fs::write(&config.ftps.key, "not a key").unwrap();
    let error = Server::start(config).await.err().expect("start must fail");
    let text = error.to_string();
    assert!(
        text.contains("TLS certificate") && text.contains("ftps-cert.pem"),
        "{text}"
    );
    assert!(error.is_configuration());
}
