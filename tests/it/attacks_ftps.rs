//! Attacks on the FTPS front end, end to end: every path-taking command against every escape
//! trick (with canaries outside the root that must stay unread and untouched), a symlink swap
//! race, TLS downgrade attempts, absurd numbers and binary garbage.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use crate::harness::ftp_client::FtpClient;
use crate::harness::{TestServer, PASSWORD, USER};

/// What the canary file holds; no reply or download may ever contain it.
const SECRET: &str = "CANARY-7f3a-outside-the-root";

/// Files outside the root that must stay unread and untouched.
pub struct Canaries {
    file: PathBuf,
    dir: PathBuf,
    modified: SystemTime,
}

impl Canaries {
    /// Plants the canaries next to the data dir and the attacker's symlinks in `home`.
    pub fn plant(outside: &Path, home: &Path) -> Canaries {
        let file = outside.join("canary.txt");
        let dir = outside.join("canary_dir");
        std::fs::write(&file, SECRET).unwrap();
        std::fs::create_dir_all(&dir).unwrap();
        plant_links(outside, home);
        let modified = std::fs::metadata(&file).unwrap().modified().unwrap();
        Canaries {
            file,
            dir,
            modified,
        }
    }

    /// The canary file is unchanged and the canary dir is still empty.
    pub fn check(&self, context: &str) {
        assert_eq!(
            std::fs::read_to_string(&self.file).unwrap(),
            SECRET,
            "{context}"
        );
        let modified = std::fs::metadata(&self.file).unwrap().modified().unwrap();
        assert_eq!(modified, self.modified, "{context}: canary file modified");
        let entries: Vec<_> = std::fs::read_dir(&self.dir).unwrap().collect();
        assert!(entries.is_empty(), "{context}: canary dir written");
    }
}

/// Links as another local user (or an older version of the data) could have left them; a
/// client may delete or rename a link itself (it is an entry of its home), so tests re-plant.
pub fn plant_links(outside: &Path, home: &Path) {
    std::fs::create_dir_all(home).unwrap();
    let links = [
        ("link_file", outside.join("canary.txt")),
        ("link_dir", outside.join("canary_dir")),
        ("link_up", outside.to_owned()),
        ("rel_link", PathBuf::from("../../canary.txt")),
    ];
    for (name, target) in links {
        let link = home.join(name);
        if std::fs::read_link(&link).ok() != Some(target.clone()) {
            let _ = std::fs::remove_file(&link);
            let _ = std::fs::remove_dir_all(&link);
            std::os::unix::fs::symlink(&target, &link).unwrap();
        }
    }
}

/// No leaked canary content and no listing of the directory outside the root (which holds
/// `ferryd.toml`, a name no attack path contains).
pub fn assert_nothing_leaked(bytes: &[u8], context: &str) {
    let text = String::from_utf8_lossy(bytes);
    assert!(!text.contains(SECRET), "{context}: canary read: {text}");
    assert!(!text.contains("ferryd.toml"), "{context}: outside listed");
}

/// Every escape trick as a path argument; `{out}` is replaced by the absolute outside dir.
pub fn attack_paths(outside: &Path) -> Vec<String> {
    let out = outside.display().to_string();
    let long_name = "n".repeat(300);
    let long_path = "d/".repeat(2100);
    vec![
        "../../canary.txt".into(),
        "../../canary_dir/new".into(),
        "/../../../canary.txt".into(),
        format!("{out}/canary.txt"),
        format!("{out}/canary_dir/new"),
        "..\\..\\canary.txt".into(),
        "..\\..\\canary_dir\\new".into(),
        "%2e%2e/%2e%2e/canary.txt".into(),
        "..%2f..%2fcanary.txt".into(),
        "link_file".into(),
        "link_dir".into(),
        "link_dir/new".into(),
        "link_up".into(),
        "link_up/canary.txt".into(),
        "link_up/canary_dir/new".into(),
        "rel_link".into(),
        "./link_dir/../link_up/canary.txt".into(),
        long_name,
        long_path,
    ]
}

async fn plain_server() -> TestServer {
    TestServer::start_with(|config, _| config.ftps.require_tls = false).await
}

/// One command that sends `path` and drains whatever it caused; returns the bytes seen.
async fn attack(client: &mut FtpClient, command: &str, path: &str) -> Vec<u8> {
    let line = command.replace("{p}", path);
    let verb = command.split(' ').next().unwrap();
    let mut seen = Vec::new();
    match verb {
        "LIST" | "NLST" | "MLSD" | "RETR" => match client.try_download(&line).await {
            Ok(data) => seen.extend_from_slice(&data),
            Err(reply) => seen.extend_from_slice(reply.text.as_bytes()),
        },
        "STOR" | "APPE" | "STOU" => match client.try_upload(&line, b"attacker data").await {
            Ok(reply) | Err(reply) => seen.extend_from_slice(reply.text.as_bytes()),
        },
        "RNTO" => {
            std::mem::drop(client.cmd("RNFR victim.txt").await);
            seen.extend_from_slice(client.cmd(&line).await.text.as_bytes());
        }
        "RNFR" => {
            seen.extend_from_slice(client.cmd(&line).await.text.as_bytes());
            seen.extend_from_slice(client.cmd("RNTO moved_here").await.text.as_bytes());
        }
        _ => seen.extend_from_slice(client.cmd(&line).await.text.as_bytes()),
    }
    seen
}

const COMMANDS: &[&str] = &[
    "CWD {p}",
    "MKD {p}",
    "RMD {p}",
    "DELE {p}",
    "RNFR {p}",
    "RNTO {p}",
    "SIZE {p}",
    "MDTM {p}",
    "MFMT 20200101000000 {p}",
    "LIST {p}",
    "NLST {p}",
    "MLSD {p}",
    "MLST {p}",
    "RETR {p}",
    "STOR {p}",
    "STOU {p}",
    "APPE {p}",
    "SITE CHMOD 777 {p}",
    "HASH {p}",
    "XSHA256 {p}",
    "XSHA1 {p}",
    "XMD5 {p}",
    "XCRC {p}",
    "AVBL {p}",
    "STAT {p}",
];

#[tokio::test]
async fn no_path_taking_command_reaches_outside_the_root() {
    let server = plain_server().await;
    let outside = server.dir.path().to_owned();
    let home = server.home(USER);
    let canaries = Canaries::plant(&outside, &home);
    let mut client = FtpClient::plain(server.addresses.ftps_explicit.unwrap()).await;
    client.login().await;
    for command in COMMANDS {
        for path in attack_paths(&outside) {
            std::fs::write(home.join("victim.txt"), "victim").unwrap();
            let context = format!("{command} with {}", &path[..path.len().min(60)]);
            let seen = attack(&mut client, command, &path).await;
            assert_nothing_leaked(&seen, &context);
            canaries.check(&context);
            plant_links(&outside, &home);
            let reply = client.cmd("CWD /").await;
            assert_eq!(reply.code, 250, "{context}: session lost: {reply:?}");
        }
    }
    // Encoded dots are a literal name, never decoded into `..`.
    assert_eq!(client.cmd("MKD %2e%2e").await.code, 257);
    assert!(home.join("%2e%2e").is_dir());
    // A NUL byte is refused on every path-taking command; the session survives.
    for command in COMMANDS {
        let line = command.replace("{p}", "link_file\0../../canary.txt");
        client.send_raw(format!("{line}\r\n").as_bytes()).await;
        let reply = client.reply().await;
        assert!(reply.code >= 500, "{command}: {reply:?}");
    }
    assert_eq!(client.cmd("NOOP").await.code, 200);
    canaries.check("after all");
    server.stop().await;
}

#[tokio::test]
async fn swapping_a_directory_for_a_symlink_never_leaks() {
    let server = plain_server().await;
    let outside = server.dir.path().to_owned();
    let home = server.home(USER);
    let canaries = Canaries::plant(&outside, &home);
    let work = home.join("work");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(work.join("canary.txt"), "inside").unwrap();
    // The swapper alternates `work` between a real directory and a link to the outside dir
    // (which holds its own canary.txt), as fast as it can, on a plain thread. Whatever a
    // request resolves mid-swap, it must never read that canary or create anything outside.
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let (stop, work, outside) = (stop.clone(), work.clone(), outside.clone());
        std::thread::spawn(move || {
            let parked = work.with_extension("parked");
            let link = work.with_extension("link");
            let mut swaps = 0u32;
            while !stop.load(Ordering::SeqCst) || swaps < 300 {
                let _ = std::fs::rename(&work, &parked);
                let _ = std::os::unix::fs::symlink(&outside, &link);
                let _ = std::fs::rename(&link, &work);
                let _ = std::fs::remove_file(&work);
                let _ = std::fs::rename(&parked, &work);
                swaps += 1;
            }
            swaps
        })
    };
    let mut client = FtpClient::plain(server.addresses.ftps_explicit.unwrap()).await;
    client.login().await;
    for round in 0..150 {
        let context = format!("round {round}");
        if let Ok(data) = client.try_download("RETR work/canary.txt").await {
            assert_eq!(data, b"inside", "{context}");
        }
        let reply = client.try_upload("STOR work/upload.bin", b"attacker").await;
        if let Err(reply) = reply {
            assert_nothing_leaked(reply.text.as_bytes(), &context);
        }
        let reply = client.cmd("MKD work/sub").await;
        assert_nothing_leaked(reply.text.as_bytes(), &context);
        std::mem::drop(client.cmd("RMD work/sub").await);
        let size = client.cmd("SIZE work/canary.txt").await;
        if size.code == 213 {
            assert_eq!(
                size.text, "213 6",
                "{context}: the outside canary was stat'ed"
            );
        }
        canaries.check(&context);
        for name in ["upload.bin", "sub"] {
            assert!(
                !outside.join(name).exists(),
                "{context}: {name} created outside"
            );
        }
    }
    stop.store(true, Ordering::SeqCst);
    let swaps = swapper.join().unwrap();
    assert!(swaps >= 300);
    canaries.check("after the race");
    assert_eq!(client.cmd("NOOP").await.code, 200);
    server.stop().await;
}

#[tokio::test]
async fn tls_downgrades_are_refused() {
    let server = TestServer::start().await;
    let address = server.addresses.ftps_explicit.unwrap();
    // Plaintext USER when TLS is required: refused before any password is sent.
    let mut plain = FtpClient::plain(address).await;
    let reply = plain.cmd(&format!("USER {USER}")).await;
    assert_eq!(reply.code, 530, "{reply:?}");
    let reply = plain.cmd(&format!("PASS {PASSWORD}")).await;
    assert!(reply.code >= 500, "{reply:?}");
    // After login over TLS: clear data channels and clearing the control channel are refused.
    let mut client = FtpClient::explicit(address).await;
    client.login().await;
    let reply = client.cmd("PROT C").await;
    assert!(reply.code >= 500, "PROT C: {reply:?}");
    let reply = client.cmd("CCC").await;
    assert!(reply.code >= 500, "CCC: {reply:?}");
    // Still TLS, still protected: a transfer works.
    client.upload("STOR still.txt", b"encrypted").await;
    assert_eq!(client.download("RETR still.txt").await, b"encrypted");
    server.stop().await;
}

#[tokio::test]
async fn absurd_numbers_get_errors_and_the_session_survives() {
    let server = TestServer::start().await;
    let mut client = FtpClient::explicit(server.addresses.ftps_explicit.unwrap()).await;
    client.login().await;
    client.upload("STOR small.txt", b"0123456789").await;
    for line in [
        "REST -1",
        "REST 99999999999999999999",
        "REST 18446744073709551616",
        "PBSZ 99999999999999999999",
        "SITE CHMOD 99999 small.txt",
        "SITE CHMOD -1 small.txt",
        "SITE CHMOD 7777777777777777777777 small.txt",
        "MFMT 999990101000000 small.txt",
        "MFMT 20201340256161 small.txt",
        "MFMT -2020 small.txt",
        "PORT 999,999,999,999,999,999",
        "EPRT |1|127.0.0.1|99999|",
        "EPSV 99999",
        "OPTS HASH SHA-9999",
    ] {
        let reply = client.cmd(line).await;
        assert!((500..600).contains(&reply.code), "{line}: {reply:?}");
    }
    assert!(std::fs::metadata(server.home(USER).join("small.txt"))
        .unwrap()
        .modified()
        .unwrap()
        .elapsed()
        .is_ok());
    // REST beyond the end: the download is empty or refused, never garbage or a hang.
    assert_eq!(client.cmd("REST 1000000").await.code, 350);
    match client.try_download("RETR small.txt").await {
        Ok(data) => assert!(data.is_empty()),
        Err(reply) => assert!(reply.code >= 400, "{reply:?}"),
    }
    // REST beyond the end before STOR must not create a sparse hole of a megabyte.
    assert_eq!(client.cmd("REST 1000000").await.code, 350);
    let _ = client.try_upload("STOR small.txt", b"x").await;
    let size = std::fs::metadata(server.home(USER).join("small.txt"))
        .unwrap()
        .len();
    assert!(size <= 11, "REST past the end grew the file to {size}");
    assert_eq!(client.cmd("NOOP").await.code, 200);
    server.stop().await;
}

#[tokio::test]
async fn binary_garbage_before_and_after_login_never_kills_the_daemon() {
    let server = plain_server().await;
    let address = server.addresses.ftps_explicit.unwrap();
    let mut seed = 0x2545_f491_u32;
    let mut noise = || {
        (0..512)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                seed as u8
            })
            .collect::<Vec<u8>>()
    };
    for logged_in in [false, true] {
        let mut client = FtpClient::plain(address).await;
        if logged_in {
            client.login().await;
        }
        for _ in 0..20 {
            let mut bytes = noise();
            bytes.extend_from_slice(b"\r\n");
            client.send_raw(&bytes).await;
        }
        // Whatever the garbage did to this session, a NOOP either answers or the server
        // closed the connection; a fresh client always works.
        client.send_raw(b"\r\nNOOP\r\n").await;
        while let Some(reply) = client.try_reply().await {
            if reply.code == 200 {
                break;
            }
        }
    }
    let mut fresh = FtpClient::plain(address).await;
    fresh.login().await;
    assert_eq!(fresh.cmd("NOOP").await.code, 200);
    server.stop().await;
}
