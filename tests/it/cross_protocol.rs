//! One file system behind both protocols: what one protocol writes, the other reads back
//! byte for byte, and a rename over one is seen by the other.

use crate::harness::ftp_client::FtpClient;
use crate::harness::sftp_client::{self, put};
use crate::harness::TestServer;

fn payload(seed: u8, length: usize) -> Vec<u8> {
    // Not compressible and not periodic on any block boundary.
    let mut state = u32::from(seed) | 1;
    (0..length)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        })
        .collect()
}

#[tokio::test]
async fn files_cross_between_ftps_and_sftp_unchanged() {
    let server = TestServer::start().await;
    let mut ftps = FtpClient::explicit(server.addresses.ftps_explicit.unwrap()).await;
    ftps.login().await;
    let (_connection, sftp) = sftp_client::sftp(server.addresses.sftp.unwrap()).await;

    let over_ftps = payload(1, 3 * 1024 * 1024 + 17);
    ftps.upload("STOR from ftps.bin", &over_ftps).await;
    assert_eq!(sftp.read("from ftps.bin").await.unwrap(), over_ftps);

    let over_sftp = payload(2, 2 * 1024 * 1024 + 5);
    put(&sftp, "from-sftp ünï.bin", &over_sftp).await;
    assert_eq!(ftps.download("RETR from-sftp ünï.bin").await, over_sftp);

    sftp.rename("from ftps.bin", "renamed.bin").await.unwrap();
    assert_eq!(ftps.cmd("SIZE renamed.bin").await.code, 213);
    assert_eq!(ftps.cmd("SIZE from ftps.bin").await.code, 550);
    server.stop().await;
}
