//! PASV, EPSV, PORT, EPRT and the transfer commands up to their 150 reply: RETR, STOR, APPE,
//! STOU, LIST, NLST, MLSD (the bytes themselves move in `data`, over a socket).

use super::fixture::Fixture;
use crate::ftp::context::Login;
use crate::ftp::data::DataChannel;
use crate::vfs::{MemoryStorage, QuotaRegistry, UserFs, VirtualPath};

/// A logged-in session with active mode on and a PORT to the client's own address.
async fn with_port() -> Fixture {
    let mut ftp = Fixture::logged_in().await;
    let mut config = (*ftp.session.config).clone();
    config.ftps.active_mode = true;
    ftp.session.config = std::sync::Arc::new(config);
    assert_eq!(ftp.code("PORT 127,0,0,1,200,1").await, 200);
    ftp
}

#[tokio::test]
async fn port_is_off_unless_active_mode_is_configured() {
    let mut ftp = Fixture::logged_in().await;
    assert_eq!(ftp.code("PORT 127,0,0,1,200,1").await, 502);
    assert!(matches!(ftp.session.data, DataChannel::None));
}

#[tokio::test]
async fn port_goes_only_to_the_clients_own_address_and_high_ports() {
    let mut ftp = with_port().await;
    assert_eq!(ftp.code("PORT 10,0,0,1,200,1").await, 501);
    assert_eq!(ftp.code("PORT 127,0,0,1,0,21").await, 501);
}

#[tokio::test]
async fn eprt_sets_an_active_channel() {
    let mut ftp = with_port().await;
    assert_eq!(ftp.code("EPRT |1|127.0.0.1|51000|").await, 200);
    assert!(matches!(ftp.session.data, DataChannel::Active(address) if address.port() == 51000));
}

#[tokio::test]
async fn epsv_all_locks_out_pasv_and_port() {
    let mut ftp = with_port().await;
    assert_eq!(ftp.code("EPSV ALL").await, 200);
    assert_eq!(ftp.code("PASV").await, 503);
    assert_eq!(ftp.code("PORT 127,0,0,1,200,1").await, 503);
}

#[tokio::test]
async fn epsv_refuses_the_other_network_protocol() {
    let mut ftp = Fixture::logged_in().await;
    assert_eq!(ftp.code("EPSV 2").await, 522);
}

#[tokio::test]
async fn retr_opens_the_file_and_takes_the_channel() {
    let mut ftp = with_port().await;
    ftp.write("a.txt", b"hello");
    let outcome = ftp.send("RETR a.txt").await;
    assert_eq!(outcome.code(), 150);
    assert!(
        outcome.text().contains("/a.txt (5 bytes)"),
        "{}",
        outcome.text()
    );
    assert!(matches!(ftp.session.data, DataChannel::None));
}

#[tokio::test]
async fn retr_of_a_missing_file_drops_the_channel() {
    let mut ftp = with_port().await;
    assert_eq!(ftp.code("RETR missing").await, 550);
    assert!(matches!(ftp.session.data, DataChannel::None));
}

#[tokio::test]
async fn rest_beyond_the_end_is_refused() {
    let mut ftp = with_port().await;
    ftp.write("a.txt", b"hello");
    assert_eq!(ftp.code("REST 6").await, 350);
    assert_eq!(ftp.code("RETR a.txt").await, 554);
    assert_eq!(ftp.session.restart_offset, None);
}

#[tokio::test]
async fn stor_starts_an_upload_not_yet_visible() {
    let mut ftp = with_port().await;
    let outcome = ftp.send("STOR new.txt").await;
    assert_eq!(outcome.code(), 150);
    // Atomic upload: the final name appears only at commit, after the data arrived.
    assert!(!ftp.exists("new.txt"));
}

#[tokio::test]
async fn appe_starts_an_append() {
    let mut ftp = with_port().await;
    ftp.write("a.txt", b"hello");
    assert_eq!(ftp.code("APPE a.txt").await, 150);
    assert_eq!(ftp.read("a.txt").as_deref(), Some(&b"hello"[..]));
}

#[tokio::test]
async fn stou_picks_a_name_that_is_free() {
    let mut ftp = with_port().await;
    ftp.write("report", b"old");
    let outcome = ftp.send("STOU report").await;
    assert_eq!((outcome.code(), outcome.text()), (150, "FILE: report.1"));
    assert_eq!(ftp.read("report").as_deref(), Some(&b"old"[..]));
}

#[tokio::test]
async fn list_nlst_and_mlsd_start_a_listing() {
    for verb in ["LIST", "NLST", "MLSD"] {
        let mut ftp = with_port().await;
        ftp.write("d/a.txt", b"a");
        let outcome = ftp.send(&format!("{verb} d")).await;
        assert_eq!(outcome.code(), 150, "{verb}");
        assert!(
            outcome.text().contains(&format!("{verb} /d")),
            "{}",
            outcome.text()
        );
    }
}

#[tokio::test]
async fn mlsd_of_a_file_is_refused() {
    let mut ftp = with_port().await;
    ftp.write("a.txt", b"a");
    assert_eq!(ftp.code("MLSD a.txt").await, 550);
    assert!(matches!(ftp.session.data, DataChannel::None));
}

#[tokio::test]
async fn appe_and_rest_stor_on_object_like_storage_are_550_with_the_reason() {
    let mut ftp = with_port().await;
    let memory = MemoryStorage::new();
    memory.put("log", b"old");
    let Login::LoggedIn(user) = &mut ftp.session.login else {
        panic!("not logged in");
    };
    let folder = (
        VirtualPath::parse_absolute("/bucket").unwrap(),
        memory.clone(),
    );
    let quotas = QuotaRegistry::new();
    user.fs = UserFs::open_with_memory(user.identity.fs.clone(), &quotas, vec![folder])
        .await
        .unwrap();
    let appended = ftp.send("APPE bucket/log").await;
    assert_eq!(appended.code(), 550);
    assert!(
        appended
            .text()
            .contains("this storage cannot change a file in place"),
        "{}",
        appended.text()
    );
    assert_eq!(ftp.code("PORT 127,0,0,1,200,1").await, 200);
    assert_eq!(ftp.code("REST 2").await, 350);
    let resumed = ftp.send("STOR bucket/log").await;
    assert_eq!(resumed.code(), 550);
    assert!(resumed.text().contains("cannot change a file in place"));
    assert_eq!(memory.file("log").unwrap(), &b"old"[..]);
    // A whole new upload is what such storage does.
    assert_eq!(ftp.code("PORT 127,0,0,1,200,1").await, 200);
    assert_eq!(ftp.code("STOR bucket/new").await, 150);
}

#[test]
fn behind_a_proxy_data_comes_from_the_proxy_unless_it_sends_headers_on_data_too() {
    let proxy: std::net::SocketAddr = "127.0.0.9:40000".parse().unwrap();
    let client: std::net::IpAddr = "127.0.0.1".parse().unwrap();
    let without = Fixture::via(Some(proxy), |_| {});
    assert_eq!(without.session.peer_ip(), client);
    assert_eq!(without.session.data_source_ip(), proxy.ip());
    let with = Fixture::via(Some(proxy), |config| config.proxy_protocol.ftps_data = true);
    assert_eq!(with.session.data_source_ip(), client);
    let direct = Fixture::with(|_| {});
    assert_eq!(direct.session.data_source_ip(), client);
}
