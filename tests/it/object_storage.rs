//! Homes on S3 object storage, through the daemon: FTPS and SFTP against a moto server, and
//! against Garage when it is installed (`tests/support/s3_engines.rs`). Each test's user lives
//! under a key prefix of its own in the engine's one bucket.
//!
//! What objects cannot do is refused with the reason (APPE, REST+STOR, an SFTP write out of
//! order or into an existing object), what they can do works as on a disk (uploads, ranged
//! reads, listings, directories, renames, hashes, quotas), a failed upload never shows and
//! never harms the object it would have replaced, and a store that does not answer refuses
//! the login with a reason while the daemon serves everyone else.

use std::os::unix::fs::PermissionsExt as _;
use std::time::{Duration, Instant};

use ferryd::auth::PathRule;
use ferryd::auth::{password, ObjectLocation, UserDb, UserRecord};
use ferryd::config::{Config, S3Credentials};
use ferryd::vfs::{Permissions, Quota, VirtualPath};
use sha2::{Digest as _, Sha256};

use crate::harness::ftp_client::{FtpClient, Reply};
use crate::harness::openssh;
use crate::harness::s3_engines::{stores, Engine, TestStore};
use crate::harness::sftp_client::wire::{handle, request, status_code, string};
use crate::harness::sftp_client::{self, RawSftp, SftpTestServer};
use crate::harness::{TestServer, PASSWORD, USER};

const MIB: usize = 1024 * 1024;

/// A key prefix no other test uses.
fn unique_prefix() -> String {
    format!("it-{:016x}", rand::random::<u64>())
}

/// Bytes that differ at every offset that matters (a shifted range read shows).
fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|index| (index % 251) as u8 ^ (index / 4096) as u8)
        .collect()
}

/// Puts `USER`'s home under `prefix` of `store`'s bucket, with the credentials in a file of
/// the state directory (mode 0600, as the daemon demands).
fn home_on(store: &TestStore, prefix: &str, config: &mut Config, users: &mut UserDb) {
    let state = &config.server.state_dir;
    std::fs::create_dir_all(state).unwrap();
    let credentials = state.join("s3-credentials");
    std::fs::write(
        &credentials,
        format!(
            "[default]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            store.access_key, store.secret_key
        ),
    )
    .unwrap();
    std::fs::set_permissions(&credentials, std::fs::Permissions::from_mode(0o600)).unwrap();
    config.s3.endpoint = Some(store.endpoint.clone());
    config.s3.region = store.region.clone();
    config.s3.bucket = Some(store.bucket.clone());
    config.s3.path_style = true;
    config.s3.credentials = S3Credentials::File {
        path: credentials,
        profile: "default".to_owned(),
    };
    config.s3.request_timeout = Duration::from_secs(20);
    config.s3.connect_timeout = Duration::from_secs(2);
    config.s3.max_retries = 2;
    users.get_mut(USER).unwrap().home_object = Some(ObjectLocation {
        bucket: None,
        prefix: Some(prefix.to_owned()),
    });
}

/// Logs in over explicit FTPS; retried for a while, since Garage creates its bucket after it
/// starts listening (a failed login tries the store again).
async fn ftps_login(server: &TestServer) -> FtpClient {
    let address = server.addresses.ftps_explicit.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut ftp = FtpClient::explicit(address).await;
        assert_eq!(ftp.cmd(&format!("USER {USER}")).await.code, 331);
        let reply = ftp.cmd(&format!("PASS {PASSWORD}")).await;
        if reply.code == 230 {
            assert_eq!(ftp.cmd("PBSZ 0").await.code, 200);
            assert_eq!(ftp.cmd("PROT P").await.code, 200);
            ftp.protected = true;
            assert_eq!(ftp.cmd("TYPE I").await.code, 200);
            return ftp;
        }
        assert!(Instant::now() < deadline, "login kept failing: {reply:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// A daemon whose `USER` lives under a fresh prefix of `store`, adjusted by `customize`, and
/// ready: an FTPS login has reached the store. The server, that session and the prefix.
async fn daemon_on(
    store: &TestStore,
    customize: impl FnOnce(&mut UserRecord),
) -> (SftpTestServer, FtpClient, String) {
    let prefix = unique_prefix();
    let server = SftpTestServer::start_with(|config, users| {
        home_on(store, &prefix, config, users);
        customize(users.get_mut(USER).unwrap());
    })
    .await;
    let ftp = ftps_login(&server.server).await;
    (server, ftp, prefix)
}

fn either(result: Result<Reply, Reply>) -> Reply {
    match result {
        Ok(reply) | Err(reply) => reply,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ftps_on_object_storage_serves_what_objects_can_do_and_refuses_the_rest_with_reasons() {
    for store in stores() {
        let (server, mut ftp, _) = daemon_on(store, |_| {}).await;
        let engine = store.engine;

        // 20 MiB: a multipart upload of three parts, completed at the end of the transfer.
        let data = pattern(20 * MIB);
        ftp.upload("STOR big.bin", &data).await;
        assert_eq!(ftp.download("RETR big.bin").await, data, "{engine:?}");
        assert_eq!(ftp.cmd("REST 12345678").await.code, 350);
        assert_eq!(
            ftp.download("RETR big.bin").await,
            &data[12_345_678..],
            "{engine:?}"
        );
        let size = ftp.cmd("SIZE big.bin").await;
        assert_eq!((size.code, size.text.trim()), (213, "213 20971520"));
        let listing = String::from_utf8(ftp.download("MLSD").await).unwrap();
        assert!(
            listing.contains("size=20971520;") && listing.contains("; big.bin"),
            "{listing}"
        );
        let hash = ftp.cmd("XSHA256 big.bin").await;
        let expected = hex::encode(Sha256::digest(&data));
        assert!(
            hash.code == 213 && hash.text.to_lowercase().contains(&expected),
            "{hash:?}"
        );

        // Objects are immutable: appending and resuming are refused with the reason, and the
        // object stays as it was.
        let appended = either(ftp.try_upload("APPE big.bin", b"tail").await);
        assert_eq!(appended.code, 550, "{appended:?}");
        assert!(appended.text.contains("in place"), "{appended:?}");
        assert_eq!(ftp.cmd("REST 10").await.code, 350);
        let resumed = either(ftp.try_upload("STOR big.bin", b"tail").await);
        assert_eq!(resumed.code, 550, "{resumed:?}");
        assert_eq!(ftp.cmd("SIZE big.bin").await.text.trim(), "213 20971520");

        // Directories are prefixes with a marker; only an empty one goes.
        assert_eq!(ftp.cmd("MKD dir").await.code, 257);
        ftp.upload("STOR dir/inner.txt", b"inner").await;
        let listing = String::from_utf8(ftp.download("MLSD").await).unwrap();
        assert!(
            listing.contains("type=dir;") && listing.contains("; dir"),
            "{listing}"
        );
        assert_eq!(ftp.cmd("RMD dir").await.code, 550);
        let moved = ftp.cmd("RNFR dir").await;
        assert_eq!(moved.code, 350);
        let refused = ftp.cmd("RNTO elsewhere").await;
        assert_eq!(refused.code, 550, "{refused:?}");
        assert!(refused.text.contains("non-empty directory"), "{refused:?}");
        assert_eq!(ftp.cmd("DELE dir/inner.txt").await.code, 250);
        assert_eq!(ftp.cmd("RMD dir").await.code, 250);

        // A rename is a copy and a delete, and the old name is gone.
        assert_eq!(ftp.cmd("RNFR big.bin").await.code, 350);
        assert_eq!(ftp.cmd("RNTO moved.bin").await.code, 250);
        assert_eq!(ftp.cmd("SIZE big.bin").await.code, 550);
        assert_eq!(ftp.download("RETR moved.bin").await, data);

        // STOU never replaces: it picks a free name.
        ftp.upload("STOR unique.txt", b"first").await;
        let stou = either(ftp.try_upload("STOU unique.txt", b"second").await);
        assert!(stou.code == 226 || stou.code == 250, "{stou:?}");
        assert_eq!(ftp.download("RETR unique.txt").await, b"first");
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_over_quota_on_object_storage_leaves_the_old_object_and_no_parts() {
    for store in stores() {
        let (server, mut ftp, prefix) = daemon_on(store, |user| {
            user.quota = Quota {
                max_bytes: Some(12 * MIB as u64),
                max_files: None,
            };
        })
        .await;
        let old = pattern(MIB);
        ftp.upload("STOR keep.bin", &old).await;
        let reply = either(ftp.try_upload("STOR keep.bin", &pattern(30 * MIB)).await);
        assert_eq!(reply.code, 552, "{:?}: {reply:?}", store.engine);
        assert_eq!(ftp.download("RETR keep.bin").await, old);
        let listing = String::from_utf8(ftp.download("NLST").await).unwrap();
        assert_eq!(listing.trim(), "keep.bin");
        if let Some(pending) = store.pending_uploads(&prefix) {
            assert_eq!(pending, 0, "the failed upload's parts were not aborted");
        }
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aborted_ftps_upload_on_object_storage_never_shows_and_leaves_no_parts() {
    use tokio::io::AsyncWriteExt as _;
    for store in stores() {
        let (server, mut ftp, prefix) = daemon_on(store, |_| {}).await;
        let old = pattern(100_000);
        ftp.upload("STOR keep.bin", &old).await;
        // Past the first 8 MiB part, so a multipart upload is under way when ABOR comes.
        let mut stream = ftp.open_transfer("STOR keep.bin").await.unwrap();
        stream.write_all(&pattern(12 * MIB)).await.unwrap();
        stream.flush().await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        ftp.send("ABOR").await;
        let first = ftp.reply().await;
        assert!(first.code == 426 || first.code == 226, "{first:?}");
        if first.code == 426 {
            assert_eq!(ftp.reply().await.code, 226);
        }
        drop(stream);
        assert_eq!(
            ftp.download("RETR keep.bin").await,
            old,
            "{:?}",
            store.engine
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while let Some(pending) = store.pending_uploads(&prefix) {
            if pending == 0 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{pending} multipart uploads left"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denied_patterns_and_per_path_rules_hold_on_object_storage() {
    for store in stores() {
        let (server, mut ftp, _) = daemon_on(store, |user| {
            user.denied_upload_patterns = vec!["*.exe".to_owned()];
            user.rules.push(PathRule {
                path: VirtualPath::parse_absolute("/published").unwrap(),
                permissions: Permissions::READ_ONLY,
            });
        })
        .await;
        let denied = either(ftp.try_upload("STOR tool.exe", b"MZ").await);
        assert_eq!(denied.code, 550, "{:?}: {denied:?}", store.engine);
        assert!(denied.text.contains("file name not allowed"), "{denied:?}");
        let refused = either(ftp.try_upload("STOR published/new.txt", b"no").await);
        assert_eq!(refused.code, 550, "{refused:?}");
        assert!(refused.text.contains("permission denied"), "{refused:?}");
        assert_eq!(ftp.cmd("MKD published").await.code, 550);
        let listing = String::from_utf8(ftp.download("NLST").await).unwrap();
        assert!(!listing.contains("tool.exe"), "{listing}");
        assert_eq!(ftp.cmd("SIZE published/new.txt").await.code, 550);
        server.stop().await;
    }
}

const SSH_FXP_OPEN: u8 = 3;
const SSH_FXP_CLOSE: u8 = 4;
const SSH_FXP_WRITE: u8 = 6;
const SSH_FXP_STAT: u8 = 17;
const SSH_FX_NO_SUCH_FILE: u32 = 2;
const SSH_FX_OP_UNSUPPORTED: u32 = 8;
const WRITE: u32 = 0x02;
const CREAT: u32 = 0x08;
const TRUNC: u32 = 0x10;

fn open(id: u32, path: &str, flags: u32) -> Vec<u8> {
    request(
        SSH_FXP_OPEN,
        id,
        &[
            string(path.as_bytes()),
            flags.to_be_bytes().to_vec(),
            0u32.to_be_bytes().to_vec(),
        ],
    )
}

fn write(id: u32, handle: &[u8], offset: u64, data: &[u8]) -> Vec<u8> {
    request(
        SSH_FXP_WRITE,
        id,
        &[string(handle), offset.to_be_bytes().to_vec(), string(data)],
    )
}

/// The message of a STATUS reply.
fn status_message(reply: &[u8]) -> String {
    let length = u32::from_be_bytes(reply[9..13].try_into().unwrap()) as usize;
    String::from_utf8_lossy(&reply[13..13 + length]).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sftp_on_object_storage_reads_anywhere_and_refuses_writes_objects_cannot_take() {
    for store in stores() {
        // Ready through FTPS (retried), then SFTP on the same daemon.
        let (server, _, _) = daemon_on(store, |_| {}).await;
        let (connection, sftp) = sftp_client::sftp(server.addr).await;
        let data = pattern(9 * MIB + 123);
        sftp_client::put(&sftp, "file.bin", &data).await;
        let read = sftp.read("file.bin").await.unwrap();
        assert!(
            read == data,
            "{:?}: the object read back differs",
            store.engine
        );
        {
            use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};
            let mut file = sftp.open("file.bin").await.unwrap();
            file.seek(std::io::SeekFrom::Start(5 * MIB as u64 + 7))
                .await
                .unwrap();
            let mut window = vec![0u8; 4096];
            file.read_exact(&mut window).await.unwrap();
            assert_eq!(window, &data[5 * MIB + 7..5 * MIB + 7 + 4096]);
        }

        let (digest, _, status) = sftp_client::exec(&connection, "sha256sum file.bin").await;
        assert_eq!(status, Some(0));
        assert!(
            String::from_utf8_lossy(&digest).starts_with(&hex::encode(Sha256::digest(&data))),
            "{}",
            String::from_utf8_lossy(&digest)
        );

        let (mut raw, _) = RawSftp::init(&connection).await;
        // A write far beyond the reorder window: refused by its own reply, with the reason;
        // the upload then fails and nothing appears.
        let opened = raw
            .request(&open(1, "gappy.bin", WRITE | CREAT | TRUNC))
            .await;
        let gappy = handle(&opened);
        assert_eq!(
            status_code(&raw.request(&write(2, &gappy, 0, b"head")).await),
            Some(0)
        );
        let far = raw.request(&write(3, &gappy, 1 << 30, b"far")).await;
        assert_eq!(status_code(&far), Some(SSH_FX_OP_UNSUPPORTED));
        assert!(
            status_message(&far).contains("order"),
            "{}",
            status_message(&far)
        );
        let closed = raw
            .request(&request(SSH_FXP_CLOSE, 4, &[string(&gappy)]))
            .await;
        assert_ne!(
            status_code(&closed),
            Some(0),
            "a failed upload was committed"
        );
        let stat = raw
            .request(&request(SSH_FXP_STAT, 5, &[string(b"gappy.bin")]))
            .await;
        assert_eq!(status_code(&stat), Some(SSH_FX_NO_SUCH_FILE));

        // Writing into the existing object (no TRUNC): refused with the reason, the object
        // unchanged.
        let opened = raw.request(&open(6, "file.bin", WRITE)).await;
        let refusal = if status_code(&opened).is_some() {
            opened
        } else {
            let existing = handle(&opened);
            let reply = raw.request(&write(7, &existing, 0, b"XXXX")).await;
            raw.request(&request(SSH_FXP_CLOSE, 8, &[string(&existing)]))
                .await;
            reply
        };
        assert_eq!(status_code(&refusal), Some(SSH_FX_OP_UNSUPPORTED));
        assert!(!status_message(&refusal).is_empty());
        assert!(sftp.read("file.bin").await.unwrap() == data);
        drop(sftp);
        drop(connection);
        server.stop().await;
    }
}

/// OpenSSH `sftp` keeps 64 WRITEs of up to 255 KiB in flight, which the server runs as
/// concurrent tasks; on object storage they must still reach the multipart upload in order,
/// within the reorder window. Found by the scale-out test: a 64 MiB `put` failed after 40 MiB
/// when the writes' tasks began out of order, and a 1 GiB benchmark put again while writes
/// could overtake one another between starting and reaching the upload's sequencer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openssh_sftp_pipelined_puts_reach_object_storage_in_order() {
    if !crate::clients_ftps::have("sftp") {
        return;
    }
    for store in stores() {
        let key = sftp_client::new_key();
        let public = key.public_key().clone();
        let (server, _, _) = daemon_on(store, |user| user.keys.push(public)).await;
        let key_path = sftp_client::write_key(&server.dir, &key);
        let data = pattern(64 * MIB);
        let local = server.dir.join("upload.bin");
        std::fs::write(&local, &data).unwrap();
        let back = server.dir.join("back.bin");
        let batch = server.dir.join("batch");
        std::fs::write(
            &batch,
            format!(
                "put {} big.bin\nget big.bin {}\n",
                local.display(),
                back.display()
            ),
        )
        .unwrap();
        let output = openssh::command("sftp", server.addr.port(), &key_path)
            .arg("-b")
            .arg(&batch)
            .arg(format!("{USER}@127.0.0.1"))
            .output();
        let output = tokio::time::timeout(Duration::from_secs(120), output)
            .await
            .expect("sftp hung")
            .unwrap();
        assert!(
            output.status.success(),
            "{:?}: {}",
            store.engine,
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(std::fs::read(&back).unwrap() == data, "{:?}", store.engine);
        server.stop().await;
    }
}

/// A folder of 100,000 objects lists completely over FTPS (MLSD) and SFTP (READDIR), page by
/// page. On Garage only: writing 100,000 objects through moto takes minutes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_of_100000_objects_lists_over_ftps_and_sftp() {
    use futures_util::StreamExt as _;
    use object_store::ObjectStoreExt as _;
    const OBJECTS: usize = 100_000;
    let Some(store) = stores()
        .into_iter()
        .find(|store| store.engine == Engine::Garage)
    else {
        crate::harness::skip("garage is not installed (the 100,000-object listing needs it)");
        return;
    };
    let (server, mut ftp, prefix) = daemon_on(store, |_| {}).await;
    let client = object_store::aws::AmazonS3Builder::new()
        .with_endpoint(&store.endpoint)
        .with_allow_http(true)
        .with_region(&store.region)
        .with_bucket_name(&store.bucket)
        .with_access_key_id(&store.access_key)
        .with_secret_access_key(&store.secret_key)
        .build()
        .unwrap();
    let started = Instant::now();
    futures_util::stream::iter(0..OBJECTS)
        .map(|index| {
            let key = object_store::path::Path::from(format!("{prefix}/many/f{index:06}"));
            let client = &client;
            async move { client.put(&key, b"x".to_vec().into()).await.unwrap() }
        })
        .buffer_unordered(128)
        .for_each(|_| async {})
        .await;
    eprintln!("put {OBJECTS} objects in {:?}", started.elapsed());
    let listing = String::from_utf8(ftp.download("MLSD many").await).unwrap();
    let files = listing
        .lines()
        .filter(|line| line.contains("type=file;"))
        .count();
    assert_eq!(files, OBJECTS);
    let (_connection, sftp) = sftp_client::sftp(server.addr).await;
    let entries = sftp.read_dir("many").await.unwrap().count();
    assert_eq!(entries, OBJECTS);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_does_not_answer_refuses_the_login_and_the_daemon_serves_others() {
    let Some(store) = stores()
        .into_iter()
        .find(|store| store.engine == Engine::Moto)
    else {
        return;
    };
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = TestServer::start_with(|config, users| {
        home_on(store, "unreachable", config, users);
        config.s3.endpoint = Some(format!("http://127.0.0.1:{closed_port}"));
        config.s3.request_timeout = Duration::from_secs(2);
        config.s3.connect_timeout = Duration::from_secs(1);
        config.s3.max_retries = 0;
        let mut bob = UserRecord::named("bob").unwrap();
        bob.password = Some(password::hash_password(PASSWORD).unwrap());
        users.add(bob).unwrap();
    })
    .await;
    let address = server.addresses.ftps_explicit.unwrap();
    let started = Instant::now();
    let mut ftp = FtpClient::explicit(address).await;
    assert_eq!(ftp.cmd(&format!("USER {USER}")).await.code, 331);
    let refused = ftp.cmd(&format!("PASS {PASSWORD}")).await;
    assert!(
        (400..600).contains(&refused.code) && refused.code != 230,
        "{refused:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the login waited {:?} on a dead store",
        started.elapsed()
    );
    let mut other = FtpClient::explicit(address).await;
    other.login_as("bob", PASSWORD).await;
    other.upload("STOR local.txt", b"on disk").await;
    assert_eq!(
        std::fs::read(server.home("bob").join("local.txt")).unwrap(),
        b"on disk"
    );
    server.stop().await;
}
