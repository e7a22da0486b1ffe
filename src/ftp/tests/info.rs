//! NOOP, SYST, FEAT, OPTS, HELP, STAT, TYPE, MODE, STRU, ALLO, REST and ABOR.

use super::fixture::Fixture;
use crate::ftp::proto::TransferType;

#[tokio::test]
async fn noop_and_syst() {
    let mut ftp = Fixture::new();
    assert_eq!(ftp.code("NOOP").await, 200);
    let outcome = ftp.send("SYST").await;
    assert_eq!((outcome.code(), outcome.text()), (215, "UNIX Type: L8"));
}

#[tokio::test]
async fn feat_lists_eprt_only_with_active_mode() {
    let mut ftp = Fixture::new();
    let outcome = ftp.send("FEAT").await;
    assert_eq!(outcome.code(), 211);
    assert!(outcome.text().contains(" AUTH TLS"));
    assert!(outcome.text().contains(" HASH SHA-256*;"));
    assert!(!outcome.text().contains("EPRT"));
    let mut ftp = Fixture::with(|config| config.ftps.active_mode = true);
    assert!(ftp.send("FEAT").await.text().contains(" EPRT"));
}

#[tokio::test]
async fn opts_utf8_mlst_and_unknown() {
    let mut ftp = Fixture::new();
    assert_eq!(ftp.code("OPTS UTF8 ON").await, 200);
    let outcome = ftp.send("OPTS MLST size;type;").await;
    assert_eq!(
        (outcome.code(), outcome.text()),
        (200, "MLST OPTS type;size;")
    );
    assert_eq!(ftp.code("OPTS HASH NOPE").await, 501);
    assert_eq!(ftp.code("OPTS FOO").await, 501);
}

#[tokio::test]
async fn help_lists_the_commands() {
    let mut ftp = Fixture::new();
    let outcome = ftp.send("HELP").await;
    assert_eq!(outcome.code(), 214);
    assert!(outcome.text().contains("XSHA256"));
}

#[tokio::test]
async fn stat_without_a_path_tells_the_session_state() {
    let mut ftp = Fixture::logged_in().await;
    let outcome = ftp.send("STAT").await;
    assert_eq!(outcome.code(), 211);
    assert!(
        outcome.text().contains("Logged in as alice"),
        "{}",
        outcome.text()
    );
    assert!(outcome.text().contains("TLS on control connection: no"));
}

#[tokio::test]
async fn type_switches_between_ascii_and_image() {
    let mut ftp = Fixture::logged_in().await;
    assert_eq!(ftp.code("TYPE I").await, 200);
    assert_eq!(ftp.session.transfer_type, TransferType::Image);
    assert_eq!(ftp.code("TYPE A").await, 200);
    assert_eq!(ftp.session.transfer_type, TransferType::Ascii);
}

#[tokio::test]
async fn mode_stru_and_allo_are_accepted() {
    let mut ftp = Fixture::logged_in().await;
    assert_eq!(ftp.code("MODE S").await, 200);
    assert_eq!(ftp.code("STRU F").await, 200);
    assert_eq!(ftp.code("ALLO 100").await, 202);
}

#[tokio::test]
async fn rest_sets_the_next_offset() {
    let mut ftp = Fixture::logged_in().await;
    assert_eq!(ftp.code("REST 10").await, 350);
    assert_eq!(ftp.session.restart_offset, Some(10));
}

#[tokio::test]
async fn abor_without_a_transfer() {
    let mut ftp = Fixture::logged_in().await;
    assert_eq!(ftp.code("ABOR").await, 225);
}
