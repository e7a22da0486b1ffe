//! Per-user bandwidth limits, end to end over both protocols: a limited user's transfers take
//! at least as long as the rate allows (lower bounds only: a slow machine must not fail them),
//! the limit is shared by the user's sessions across protocols, and an unlimited user is not
//! throttled at all.

use std::num::NonZeroU64;
use std::time::{Duration, Instant};

use ferryd::auth::{password, UserDb, UserRecord};
use ferryd::vfs::Bandwidth;
use tokio::io::AsyncReadExt as _;

use crate::harness::ftp_client::FtpClient;
use crate::harness::sftp_client::{login_password, open_sftp, put};
use crate::harness::{TestServer, PASSWORD, USER};

const MIB: usize = 1024 * 1024;
/// 2 MiB at 1 MiB/s with a burst of at most 256 KiB needs 1.75 s; 1.5 s leaves slack for
/// clock granularity without letting an unthrottled transfer pass.
const LOWER_BOUND: Duration = Duration::from_millis(1500);

fn one_mib_per_sec() -> Option<NonZeroU64> {
    NonZeroU64::new(MIB as u64)
}

/// `alice` limited to 1 MiB/s both ways, `bob` unlimited.
fn limited_alice(users: &mut UserDb) {
    users.get_mut(USER).unwrap().bandwidth = Bandwidth {
        upload: one_mib_per_sec(),
        download: one_mib_per_sec(),
    };
    let mut bob = UserRecord::named("bob").unwrap();
    bob.password = Some(password::hash_password(PASSWORD).unwrap());
    users.add(bob).unwrap();
}

fn payload() -> Vec<u8> {
    (0..2 * MIB).map(|i| (i % 251) as u8).collect()
}

#[tokio::test]
async fn ftps_uploads_and_downloads_are_throttled_per_user() {
    let server = TestServer::start_with(|_, users| limited_alice(users)).await;
    let address = server.addresses.ftps_explicit.unwrap();
    let data = payload();

    let mut alice = FtpClient::explicit(address).await;
    alice.login().await;
    let start = Instant::now();
    alice.upload("STOR up.bin", &data).await;
    let upload = start.elapsed();
    assert!(upload >= LOWER_BOUND, "upload took only {upload:?}");
    assert_eq!(
        std::fs::read(server.home(USER).join("up.bin")).unwrap(),
        data
    );

    let start = Instant::now();
    assert_eq!(alice.download("RETR up.bin").await, data);
    let download = start.elapsed();
    assert!(download >= LOWER_BOUND, "download took only {download:?}");

    // Unlimited users are not throttled: the transfer simply works (no speed assertion).
    std::fs::create_dir_all(server.home("bob")).unwrap();
    std::fs::write(server.home("bob").join("big.bin"), &data).unwrap();
    let mut bob = FtpClient::explicit(address).await;
    bob.login_as("bob", PASSWORD).await;
    assert_eq!(bob.download("RETR big.bin").await, data);
    bob.upload("STOR copy.bin", &data).await;
    server.stop().await;
}

#[tokio::test]
async fn sftp_uploads_and_downloads_are_throttled_per_user() {
    let server = TestServer::start_with(|_, users| limited_alice(users)).await;
    let address = server.addresses.sftp.unwrap();
    let data = payload();

    let connection = login_password(address, USER, PASSWORD).await.unwrap();
    let sftp = open_sftp(&connection).await;
    let start = Instant::now();
    put(&sftp, "up.bin", &data).await;
    let upload = start.elapsed();
    assert!(upload >= LOWER_BOUND, "upload took only {upload:?}");
    assert_eq!(
        std::fs::read(server.home(USER).join("up.bin")).unwrap(),
        data
    );

    let start = Instant::now();
    let mut file = sftp.open("up.bin").await.unwrap();
    let mut back = Vec::new();
    file.read_to_end(&mut back).await.unwrap();
    let download = start.elapsed();
    assert_eq!(back, data);
    assert!(download >= LOWER_BOUND, "download took only {download:?}");

    let connection = login_password(address, "bob", PASSWORD).await.unwrap();
    let bob = open_sftp(&connection).await;
    put(&bob, "copy.bin", &data).await;
    let mut file = bob.open("copy.bin").await.unwrap();
    let mut back = Vec::new();
    file.read_to_end(&mut back).await.unwrap();
    assert_eq!(back, data);
    server.stop().await;
}

#[tokio::test]
async fn the_limit_is_shared_by_sessions_of_both_protocols() {
    let server = TestServer::start_with(|_, users| limited_alice(users)).await;
    let half: Vec<u8> = payload()[..MIB].to_vec();
    std::fs::create_dir_all(server.home(USER)).unwrap();
    std::fs::write(server.home(USER).join("half.bin"), &half).unwrap();

    let mut ftp = FtpClient::explicit(server.addresses.ftps_explicit.unwrap()).await;
    ftp.login().await;
    let connection = login_password(server.addresses.sftp.unwrap(), USER, PASSWORD)
        .await
        .unwrap();
    let sftp = open_sftp(&connection).await;

    // Two 1 MiB downloads at once, one per protocol: together 2 MiB from one 1 MiB/s bucket.
    let start = Instant::now();
    let over_sftp = async {
        let mut file = sftp.open("half.bin").await.unwrap();
        let mut back = Vec::new();
        file.read_to_end(&mut back).await.unwrap();
        back
    };
    let (from_ftp, from_sftp) = tokio::join!(ftp.download("RETR half.bin"), over_sftp);
    let both = start.elapsed();
    assert_eq!(from_ftp, half);
    assert_eq!(from_sftp, half);
    assert!(both >= LOWER_BOUND, "both downloads took only {both:?}");
    server.stop().await;
}
