//! USER, PASS, QUIT, HOST, AUTH, PBSZ, PROT, CCC and the policy that guards every command.

use super::fixture::{Fixture, Outcome, PASSWORD};
use crate::ftp::context::{DataProtection, TlsState};

#[tokio::test]
async fn user_then_pass_logs_in() {
    let mut ftp = Fixture::new();
    assert_eq!(ftp.code("USER alice").await, 331);
    assert_eq!(ftp.code(&format!("PASS {PASSWORD}")).await, 230);
    assert!(ftp.session.user().is_some());
    assert_eq!(ftp.code("PWD").await, 257);
}

#[tokio::test]
async fn a_wrong_password_is_refused_and_the_third_closes() {
    let mut ftp = Fixture::new();
    for attempt in 1..=3 {
        assert_eq!(ftp.code("USER alice").await, 331);
        let outcome = ftp.send("PASS wrong").await;
        assert_eq!(outcome.code(), 530);
        assert_eq!(matches!(outcome, Outcome::Close(..)), attempt == 3);
    }
    assert!(ftp.session.user().is_none());
}

#[tokio::test]
async fn logins_reach_the_session_core_registry_defender_and_logout() {
    let mut ftp = Fixture::with(|config| {
        config.defender.threshold = 2;
        config.defender.score_failed_login = 1;
    });
    let limits = ftp.session.shared.services.limits.clone();
    assert_eq!(ftp.code("USER alice").await, 331);
    assert_eq!(ftp.code("PASS wrong").await, 530);
    assert_eq!(ftp.code("USER alice").await, 331);
    assert_eq!(ftp.code(&format!("PASS {PASSWORD}")).await, 230);
    assert!(
        limits.defender().list().is_empty(),
        "one failure, below the threshold"
    );
    let listed = limits.sessions().list();
    assert_eq!(listed.len(), 1, "registered at login");
    assert_eq!(listed[0].user, "alice");
    assert_eq!(listed[0].id, ftp.session.info().id.as_u64());
    assert_eq!(limits.sessions_of("alice"), 1);
    let crate::ftp::context::Login::LoggedIn(user) = std::mem::replace(
        &mut ftp.session.login,
        crate::ftp::context::Login::AwaitingUser,
    ) else {
        panic!("not logged in");
    };
    user.session.end();
    assert!(limits.sessions().list().is_empty());
    assert_eq!(limits.sessions_of("alice"), 0);

    assert_eq!(ftp.code("USER alice").await, 331);
    assert_eq!(ftp.code("PASS wrong").await, 530);
    let bans = limits.defender().list();
    assert_eq!(bans.len(), 1, "the second failure reaches the threshold");
    assert_eq!(bans[0].address, ftp.session.peer_ip());
}

#[tokio::test]
async fn pass_without_user_is_out_of_sequence() {
    let mut ftp = Fixture::new();
    assert_eq!(ftp.code("PASS x").await, 503);
}

#[tokio::test]
async fn commands_before_login_are_refused() {
    let mut ftp = Fixture::new();
    for line in [
        "PWD", "CWD /", "RETR a", "STOR a", "MKD a", "LIST", "PASV", "SIZE a",
    ] {
        assert_eq!(ftp.code(line).await, 530, "{line}");
    }
}

#[tokio::test]
async fn credentials_need_tls_when_it_is_required() {
    let mut ftp = Fixture::with(|config| config.ftps.require_tls = true);
    assert_eq!(ftp.code("USER alice").await, 530);
    assert_eq!(ftp.code("FEAT").await, 211);
    ftp.session.tls_state = TlsState::Secure(DataProtection::NoBufferSize);
    assert_eq!(ftp.code("USER alice").await, 331);
}

#[tokio::test]
async fn quit_closes() {
    let mut ftp = Fixture::new();
    assert!(matches!(ftp.send("QUIT").await, Outcome::Close(221, _)));
}

#[tokio::test]
async fn host_is_accepted_only_before_user() {
    let mut ftp = Fixture::new();
    assert_eq!(ftp.code("HOST example.org").await, 220);
    assert_eq!(ftp.code("USER alice").await, 331);
    assert_eq!(ftp.code("HOST example.org").await, 503);
}

#[tokio::test]
async fn auth_tls_starts_tls_and_auth_ssl_protects_data_too() {
    let mut ftp = Fixture::new();
    assert!(matches!(
        ftp.send("AUTH TLS").await,
        Outcome::StartTls(234, DataProtection::NoBufferSize)
    ));
    assert!(matches!(
        ftp.send("AUTH SSL").await,
        Outcome::StartTls(234, DataProtection::Private)
    ));
    ftp.session.tls_state = TlsState::Secure(DataProtection::NoBufferSize);
    assert_eq!(ftp.code("AUTH TLS").await, 503);
}

#[tokio::test]
async fn pbsz_needs_tls() {
    let mut ftp = Fixture::new();
    assert_eq!(ftp.code("PBSZ 0").await, 503);
    ftp.session.tls_state = TlsState::Secure(DataProtection::NoBufferSize);
    assert_eq!(ftp.code("PBSZ 0").await, 200);
    assert_eq!(
        ftp.session.tls_state,
        TlsState::Secure(DataProtection::Clear)
    );
}

#[tokio::test]
async fn prot_needs_pbsz_and_p_protects_data() {
    let mut ftp = Fixture::new();
    assert_eq!(ftp.code("PROT P").await, 503);
    ftp.session.tls_state = TlsState::Secure(DataProtection::NoBufferSize);
    assert_eq!(ftp.code("PROT P").await, 503);
    assert_eq!(ftp.code("PBSZ 0").await, 200);
    assert_eq!(ftp.code("PROT P").await, 200);
    assert!(ftp.session.tls_state.private_data());
    assert_eq!(ftp.code("PROT C").await, 200);
    assert!(!ftp.session.tls_state.private_data());
    assert_eq!(ftp.code("PROT S").await, 536);
}

#[tokio::test]
async fn prot_c_is_refused_when_tls_is_required() {
    let mut ftp = Fixture::with(|config| config.ftps.require_tls = true);
    ftp.session.tls_state = TlsState::Secure(DataProtection::Clear);
    assert_eq!(ftp.code("PROT C").await, 534);
}

#[tokio::test]
async fn ccc_is_refused() {
    let mut ftp = Fixture::new();
    assert_eq!(ftp.code("CCC").await, 534);
}

#[tokio::test]
async fn a_read_only_user_cannot_change_anything() {
    let rules = crate::vfs::PermissionRules::new(crate::vfs::Permissions::READ_ONLY);
    let mut ftp = Fixture::logged_in_as(Some(rules)).await;
    ftp.write("a.txt", b"a");
    for line in ["MKD d", "DELE a.txt", "RNFR a.txt", "STOR b"] {
        assert_eq!(ftp.code(line).await, 550, "{line}");
    }
    assert!(ftp.exists("a.txt"));
}

#[tokio::test]
async fn data_commands_need_a_data_channel_first() {
    let mut ftp = Fixture::logged_in().await;
    ftp.write("a.txt", b"a");
    for line in [
        "RETR a.txt",
        "LIST",
        "NLST",
        "MLSD",
        "STOR b",
        "APPE b",
        "STOU",
    ] {
        assert_eq!(ftp.code(line).await, 425, "{line}");
    }
}

#[tokio::test]
async fn data_commands_need_prot_p_when_tls_is_required() {
    let mut ftp = Fixture::logged_in().await;
    let config = crate::config::Config {
        ftps: crate::config::FtpsConfig {
            require_tls: true,
            active_mode: true,
            ..ftp.session.config.ftps.clone()
        },
        ..(*ftp.session.config).clone()
    };
    ftp.session.config = std::sync::Arc::new(config);
    ftp.session.tls_state = TlsState::Secure(DataProtection::Clear);
    assert_eq!(ftp.code("PORT 127,0,0,1,200,1").await, 200);
    assert_eq!(ftp.code("LIST").await, 521);
}
