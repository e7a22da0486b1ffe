//! Extended requests: statvfs, fstatvfs, limits, expand-path, home-directory,
//! users-groups-by-id, check-file-name/-handle, and an unknown extension.

use bytes::{Buf as _, Bytes};

use crate::sftp::handles::MAX_OPEN_HANDLES;
use crate::sftp::proto::{OpenFlags, RequestKind, StatusCode, SFTP_MAX_PACKET_BYTES};
use crate::vfs::{PermissionRules, Permissions};

use super::fixture::{bytes, Fixture, Reply};

/// SHA-256 of `abc` (FIPS 180-2 appendix B.1).
const SHA256_ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

fn extended(reply: Reply) -> Bytes {
    match reply {
        Reply::Extended(body) => body,
        other => panic!("expected an extended reply, got {other:?}"),
    }
}

/// The eleven u64 fields of a statvfs reply.
fn statvfs_fields(reply: Reply) -> Vec<u64> {
    let mut body = extended(reply);
    assert_eq!(body.len(), 11 * 8);
    (0..11).map(|_| body.get_u64()).collect()
}

fn hex(data: &[u8]) -> String {
    data.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// (algorithm, hashes) of a check-file reply.
fn check_file_reply(reply: Reply) -> (String, Vec<u8>) {
    let mut body = extended(reply);
    let take = |body: &mut Bytes| {
        let len = body.get_u32() as usize;
        body.split_to(len)
    };
    assert_eq!(take(&mut body), "check-file");
    let algorithm = String::from_utf8(take(&mut body).to_vec()).unwrap();
    (algorithm, body.to_vec())
}

fn check_file_name(path: &str, algorithms: &str, block_size: u32) -> RequestKind {
    RequestKind::CheckFileName {
        path: bytes(path),
        algorithms: bytes(algorithms),
        start_offset: 0,
        length: 0,
        block_size,
    }
}

#[tokio::test]
async fn statvfs_describes_the_file_system_and_flags_a_read_only_user() {
    let mut fixture = Fixture::new().await;
    let fields = statvfs_fields(
        fixture
            .send(RequestKind::Statvfs { path: bytes("/") })
            .await,
    );
    assert!(
        fields[0] > 0 && fields[2] > 0,
        "block size and blocks: {fields:?}"
    );
    assert_eq!(fields[9] & 1, 0, "writable: no ST_RDONLY");
    let mut reader = Fixture::with(|spec, _| {
        spec.permissions = PermissionRules::new(Permissions::READ_ONLY);
    })
    .await;
    let fields = statvfs_fields(reader.send(RequestKind::Statvfs { path: bytes("/") }).await);
    assert_eq!(fields[9] & 1, 1, "ST_RDONLY for a user who cannot upload");
}

#[tokio::test]
async fn statvfs_reports_the_quota_as_the_size() {
    let mut fixture = Fixture::with(|spec, _| spec.quota.max_bytes = Some(1 << 20)).await;
    let fields = statvfs_fields(
        fixture
            .send(RequestKind::Statvfs { path: bytes("/") })
            .await,
    );
    assert_eq!(
        fields[0] * fields[2],
        1 << 20,
        "block size × blocks: {fields:?}"
    );
}

#[tokio::test]
async fn fstatvfs_answers_for_an_open_handle() {
    let mut fixture = Fixture::new().await;
    fixture.write("file", b"x");
    let handle = fixture.open("file", OpenFlags::READ).await;
    let fields = statvfs_fields(fixture.send(RequestKind::Fstatvfs { handle }).await);
    assert!(fields[0] > 0);
}

#[tokio::test]
async fn limits_advertises_the_packet_and_handle_limits() {
    let mut fixture = Fixture::new().await;
    let mut body = extended(fixture.send(RequestKind::Limits).await);
    assert_eq!(body.get_u64(), u64::from(SFTP_MAX_PACKET_BYTES));
    let (read, write) = (body.get_u64(), body.get_u64());
    assert!(read > 0 && write > 0 && read < u64::from(SFTP_MAX_PACKET_BYTES));
    assert_eq!(body.get_u64(), MAX_OPEN_HANDLES as u64);
}

#[tokio::test]
async fn expand_path_treats_the_home_as_the_root() {
    let mut fixture = Fixture::new().await;
    let expand = |text: &str| RequestKind::ExpandPath { path: bytes(text) };
    assert_eq!(fixture.send(expand("~/docs")).await.names(), ["/docs"]);
    assert_eq!(fixture.send(expand("~alice/x")).await.names(), ["/x"]);
    assert_eq!(
        fixture.status(expand("~bob/x")).await,
        StatusCode::NoSuchFile
    );
}

#[tokio::test]
async fn home_directory_is_the_root_for_the_users_own_name_only() {
    let mut fixture = Fixture::new().await;
    let home = |name: &str| RequestKind::HomeDirectory {
        username: bytes(name),
    };
    assert_eq!(fixture.send(home("alice")).await.names(), ["/"]);
    assert_eq!(fixture.send(home("")).await.names(), ["/"]);
    assert_eq!(fixture.status(home("root")).await, StatusCode::NoSuchFile);
}

#[tokio::test]
async fn users_groups_by_id_names_every_id_after_the_user() {
    let mut fixture = Fixture::new().await;
    let mut body = extended(
        fixture
            .send(RequestKind::UsersGroupsById {
                uids: vec![0, 1000],
                gids: vec![5],
            })
            .await,
    );
    let list = |body: &mut Bytes| {
        let len = body.get_u32() as usize;
        let mut inner = body.split_to(len);
        let mut names = Vec::new();
        while inner.has_remaining() {
            let len = inner.get_u32() as usize;
            names.push(String::from_utf8(inner.split_to(len).to_vec()).unwrap());
        }
        names
    };
    assert_eq!(list(&mut body), ["alice", "alice"]);
    assert_eq!(list(&mut body), ["alice"]);
}

#[tokio::test]
async fn check_file_name_hashes_with_the_first_algorithm_both_sides_know() {
    let mut fixture = Fixture::new().await;
    fixture.write("abc.txt", b"abc");
    let reply = fixture
        .send(check_file_name("abc.txt", "sha512,sha256,md5", 0))
        .await;
    let (algorithm, hashes) = check_file_reply(reply);
    assert_eq!(algorithm, "sha256");
    assert_eq!(hex(&hashes), SHA256_ABC);
    let status = fixture
        .status(check_file_name("abc.txt", "sha512", 0))
        .await;
    assert_eq!(status, StatusCode::Failure);
}

#[tokio::test]
async fn check_file_hashes_each_block_and_refuses_tiny_blocks() {
    let mut fixture = Fixture::new().await;
    fixture.write("blocks", &[b'z'; 600]);
    let (_, hashes) =
        check_file_reply(fixture.send(check_file_name("blocks", "sha256", 256)).await);
    assert_eq!(hashes.len(), 3 * 32, "600 bytes are three 256-byte blocks");
    let status = fixture
        .status(check_file_name("blocks", "sha256", 16))
        .await;
    assert_eq!(status, StatusCode::Failure);
}

#[tokio::test]
async fn check_file_handle_needs_a_handle_open_for_reading() {
    let mut fixture = Fixture::new().await;
    fixture.write("abc.txt", b"abc");
    let check = |handle: &Bytes| RequestKind::CheckFileHandle {
        handle: handle.clone(),
        algorithms: bytes("sha256"),
        start_offset: 0,
        length: 0,
        block_size: 0,
    };
    let readable = fixture.open("abc.txt", OpenFlags::READ).await;
    let (_, hashes) = check_file_reply(fixture.send(check(&readable)).await);
    assert_eq!(hex(&hashes), SHA256_ABC);
    let writable = fixture.open("abc.txt", OpenFlags::WRITE).await;
    let status = fixture.status(check(&writable)).await;
    assert_eq!(status, StatusCode::PermissionDenied);
}

#[tokio::test]
async fn an_unknown_extension_is_unsupported() {
    let mut fixture = Fixture::new().await;
    let status = fixture
        .status(RequestKind::UnknownExtended {
            name: bytes("frobnicate@example.com"),
        })
        .await;
    assert_eq!(status, StatusCode::OpUnsupported);
}
