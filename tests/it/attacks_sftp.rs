//! Attacks on the SFTP front end over a raw channel: every path-taking request and extension
//! against every escape trick (the canaries of `attacks_ftps`), a symlink swap race, packets
//! that lie about their lengths, handles from another session and handles of the wrong kind.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::attacks_ftps::{assert_nothing_leaked, attack_paths, plant_links, Canaries};
use crate::harness::sftp_client::wire::{extended, handle, reply_id, request, status_code, string};
use crate::harness::sftp_client::{self, RawSftp, SftpTestServer};
use crate::harness::USER;

pub const OPEN: u8 = 3;
pub const CLOSE: u8 = 4;
pub const READ: u8 = 5;
pub const WRITE: u8 = 6;
const LSTAT: u8 = 7;
const SETSTAT: u8 = 9;
pub const OPENDIR: u8 = 11;
pub const READDIR: u8 = 12;
const REMOVE: u8 = 13;
const MKDIR: u8 = 14;
const RMDIR: u8 = 15;
const REALPATH: u8 = 16;
const STAT: u8 = 17;
const RENAME: u8 = 18;
const READLINK: u8 = 19;
const SYMLINK: u8 = 20;

pub const FX_OK: u32 = 0;
pub const F_READ: u32 = 0x01;
pub const F_WRITE: u32 = 0x02;
pub const F_CREAT: u32 = 0x08;
pub const F_TRUNC: u32 = 0x10;

pub fn u32b(value: u32) -> Vec<u8> {
    value.to_be_bytes().to_vec()
}

pub fn u64b(value: u64) -> Vec<u8> {
    value.to_be_bytes().to_vec()
}

/// A logged-in raw SFTP channel with numbered requests.
pub struct Raw {
    pub raw: RawSftp,
    next_id: u32,
    /// Keeps the SSH connection open as long as the channel.
    _connection: sftp_client::Connection,
}

impl Raw {
    pub async fn start(server: &SftpTestServer) -> Raw {
        let connection = sftp_client::login(server.addr).await;
        let (raw, _) = RawSftp::init(&connection).await;
        Raw {
            raw,
            next_id: 1,
            _connection: connection,
        }
    }

    /// Wraps a channel already past INIT.
    pub fn from_raw(raw: RawSftp, connection: sftp_client::Connection) -> Raw {
        Raw {
            raw,
            next_id: 1,
            _connection: connection,
        }
    }

    /// Sends a request and returns its reply; panics if the session died.
    pub async fn call(&mut self, packet_type: u8, fields: &[Vec<u8>]) -> Vec<u8> {
        self.next_id += 1;
        let reply = self
            .raw
            .request(&request(packet_type, self.next_id, fields))
            .await;
        assert_eq!(reply_id(&reply), self.next_id);
        reply
    }

    pub async fn ext(&mut self, name: &str, fields: &[Vec<u8>]) -> Vec<u8> {
        self.next_id += 1;
        let reply = self
            .raw
            .request(&extended(self.next_id, name, fields))
            .await;
        assert_eq!(reply_id(&reply), self.next_id);
        reply
    }

    /// OPEN; the handle or the status code.
    pub async fn open(&mut self, path: &[u8], flags: u32) -> Result<Vec<u8>, u32> {
        let reply = self.call(OPEN, &[string(path), u32b(flags), u32b(0)]).await;
        match status_code(&reply) {
            Some(code) => Err(code),
            None => Ok(handle(&reply)),
        }
    }

    pub async fn close(&mut self, handle: &[u8]) -> Option<u32> {
        status_code(&self.call(CLOSE, &[string(handle)]).await)
    }
}

/// A label, the packet type, the extension name (for type 200) and the fields.
type AttackRequest = (String, u8, Option<&'static str>, Vec<Vec<u8>>);

/// Every request and extension that takes a path, with the attack path `p`; the second path
/// of two-path requests is an innocent in-root name, and vice versa in the second variant.
fn requests(p: &[u8]) -> Vec<AttackRequest> {
    let s = string(p);
    let inside = string(b"victim.txt");
    let attrs = || [u32b(4), u32b(0o777)].concat();
    let check = || vec![string(b"sha256"), u64b(0), u64b(0), u32b(0)];
    let mut all = vec![
        (
            "OPEN read".into(),
            OPEN,
            None,
            vec![s.clone(), u32b(F_READ), u32b(0)],
        ),
        (
            "OPEN write".into(),
            OPEN,
            None,
            vec![s.clone(), u32b(F_WRITE | F_CREAT | F_TRUNC), u32b(0)],
        ),
        ("OPENDIR".into(), OPENDIR, None, vec![s.clone()]),
        ("REMOVE".into(), REMOVE, None, vec![s.clone()]),
        ("MKDIR".into(), MKDIR, None, vec![s.clone(), u32b(0)]),
        ("RMDIR".into(), RMDIR, None, vec![s.clone()]),
        ("REALPATH".into(), REALPATH, None, vec![s.clone()]),
        ("STAT".into(), STAT, None, vec![s.clone()]),
        ("LSTAT".into(), LSTAT, None, vec![s.clone()]),
        ("SETSTAT".into(), SETSTAT, None, vec![s.clone(), attrs()]),
        (
            "RENAME from".into(),
            RENAME,
            None,
            vec![s.clone(), string(b"moved")],
        ),
        (
            "RENAME to".into(),
            RENAME,
            None,
            vec![inside.clone(), s.clone()],
        ),
        ("READLINK".into(), READLINK, None, vec![s.clone()]),
        // OpenSSH order: target, then link path.
        (
            "SYMLINK target".into(),
            SYMLINK,
            None,
            vec![s.clone(), string(b"newlink")],
        ),
        (
            "SYMLINK link".into(),
            SYMLINK,
            None,
            vec![inside.clone(), s.clone()],
        ),
    ];
    let extensions: [(&str, &'static str, Vec<Vec<u8>>); 9] = [
        (
            "posix-rename from",
            "posix-rename@openssh.com",
            vec![s.clone(), string(b"moved")],
        ),
        (
            "posix-rename to",
            "posix-rename@openssh.com",
            vec![inside.clone(), s.clone()],
        ),
        (
            "hardlink from",
            "hardlink@openssh.com",
            vec![s.clone(), string(b"hard")],
        ),
        (
            "hardlink to",
            "hardlink@openssh.com",
            vec![inside.clone(), s.clone()],
        ),
        ("statvfs", "statvfs@openssh.com", vec![s.clone()]),
        ("expand-path", "expand-path@openssh.com", vec![s.clone()]),
        ("lsetstat", "lsetstat@openssh.com", vec![s.clone(), attrs()]),
        (
            "check-file-name",
            "check-file-name",
            [vec![s.clone()], check()].concat(),
        ),
        (
            "expand-path home",
            "expand-path@openssh.com",
            vec![string(&[b"~/", p].concat())],
        ),
    ];
    for (label, name, fields) in extensions {
        all.push((label.into(), 200, Some(name), fields));
    }
    all
}

/// Follows up a successful OPEN/OPENDIR so the handle is really used: reads the file, writes
/// through a write handle, lists a directory. Returns everything read.
async fn use_handle(c: &mut Raw, label: &str, reply: &[u8]) -> Vec<u8> {
    let mut seen = Vec::new();
    if reply[0] != 102 {
        return seen;
    }
    let handle = handle(reply);
    if label == "OPENDIR" {
        for _ in 0..8 {
            let listed = c.call(READDIR, &[string(&handle)]).await;
            seen.extend_from_slice(&listed);
            if listed[0] != 104 {
                break;
            }
        }
    } else if label == "OPEN read" {
        seen.extend(c.call(READ, &[string(&handle), u64b(0), u32b(4096)]).await);
    } else {
        let wrote = c
            .call(WRITE, &[string(&handle), u64b(0), string(b"attacker")])
            .await;
        seen.extend(wrote);
    }
    c.close(&handle).await;
    seen
}

#[tokio::test]
async fn no_path_taking_request_reaches_outside_the_root() {
    let server = SftpTestServer::start().await;
    let outside = server.dir.clone();
    let home = server.home(USER);
    let canaries = Canaries::plant(&outside, &home);
    let mut c = Raw::start(&server).await;
    let mut paths: Vec<Vec<u8>> = attack_paths(&outside)
        .into_iter()
        .map(String::into_bytes)
        .collect();
    paths.push(b"link_file\0../../canary.txt".to_vec());
    paths.push(b"../../canary.txt\0".to_vec());
    paths.push(vec![b'x'; 5000]);
    for path in &paths {
        for (label, packet_type, extension, fields) in requests(path) {
            std::fs::write(home.join("victim.txt"), "victim").unwrap();
            let shown = String::from_utf8_lossy(&path[..path.len().min(60)]).into_owned();
            let context = format!("{label} with {shown:?}");
            let reply = match extension {
                Some(name) => c.ext(name, &fields).await,
                None => c.call(packet_type, &fields).await,
            };
            let used = use_handle(&mut c, &label, &reply).await;
            assert_nothing_leaked(&reply, &context);
            assert_nothing_leaked(&used, &context);
            // A link the attacker managed to create must not lead out either.
            if label.starts_with("SYMLINK") {
                if let Ok(file) = c.open(b"newlink", F_READ).await {
                    let read = c.call(READ, &[string(&file), u64b(0), u32b(4096)]).await;
                    assert_nothing_leaked(&read, &context);
                    c.close(&file).await;
                }
                let _ = std::fs::remove_file(home.join("newlink"));
            }
            canaries.check(&context);
            plant_links(&outside, &home);
        }
    }
    // Encoded dots are a literal name.
    let made = c.call(MKDIR, &[string(b"%2e%2e"), u32b(0)]).await;
    assert_eq!(status_code(&made), Some(FX_OK));
    assert!(home.join("%2e%2e").is_dir());
    // copy-data between handles can only use handles of this session's own files.
    let source = c.open(b"victim.txt", F_READ).await.unwrap();
    let target = c
        .open(b"copy.txt", F_WRITE | F_CREAT | F_TRUNC)
        .await
        .unwrap();
    let copied = c
        .ext(
            "copy-data",
            &[
                string(&source),
                u64b(0),
                u64b(0),
                string(b"999999"),
                u64b(0),
            ],
        )
        .await;
    assert_ne!(status_code(&copied), Some(FX_OK));
    c.close(&source).await;
    c.close(&target).await;
    canaries.check("after all");
}

#[tokio::test]
async fn swapping_a_directory_for_a_symlink_never_leaks() {
    let server = SftpTestServer::start().await;
    let outside = server.dir.clone();
    let home = server.home(USER);
    let canaries = Canaries::plant(&outside, &home);
    let work = home.join("work");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(work.join("canary.txt"), "inside").unwrap();
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
    let mut c = Raw::start(&server).await;
    for round in 0..300 {
        let context = format!("round {round}");
        if let Ok(file) = c.open(b"work/canary.txt", F_READ).await {
            let read = c.call(READ, &[string(&file), u64b(0), u32b(4096)]).await;
            assert_nothing_leaked(&read, &context);
            c.close(&file).await;
        }
        if let Ok(file) = c.open(b"work/upload.bin", F_WRITE | F_CREAT).await {
            c.call(WRITE, &[string(&file), u64b(0), string(b"attacker")])
                .await;
            c.close(&file).await;
        }
        let stat = c.call(STAT, &[string(b"work/canary.txt")]).await;
        if stat[0] == 105 {
            let size = u64::from_be_bytes(stat[9..17].try_into().unwrap());
            assert_eq!(size, 6, "{context}: the outside canary was stat'ed");
        }
        let listed = c.call(OPENDIR, &[string(b"work")]).await;
        let used = use_handle(&mut c, "OPENDIR", &listed).await;
        assert_nothing_leaked(&used, &context);
        c.call(MKDIR, &[string(b"work/sub"), u32b(0)]).await;
        c.call(RMDIR, &[string(b"work/sub")]).await;
        canaries.check(&context);
        for name in ["upload.bin", "sub"] {
            assert!(
                !outside.join(name).exists(),
                "{context}: {name} created outside"
            );
        }
    }
    stop.store(true, Ordering::SeqCst);
    assert!(swapper.join().unwrap() >= 300);
    canaries.check("after the race");
}

#[tokio::test]
async fn packets_that_lie_about_lengths_close_only_their_session() {
    let server = SftpTestServer::start().await;
    // A string length beyond the packet, a count beyond the packet, a packet shorter than its
    // fixed fields: each ends this session (or gets an error), never the daemon.
    let lies: [(&str, Vec<u8>); 4] = [
        (
            "string longer than the packet",
            request(OPEN, 7, &[u32b(1000), b"abc".to_vec()]),
        ),
        (
            "string length 4 GiB",
            request(STAT, 7, &[u32b(u32::MAX), b"abc".to_vec()]),
        ),
        ("READ without its fields", request(READ, 7, &[string(b"1")])),
        (
            "WRITE data longer than the packet",
            request(
                WRITE,
                7,
                &[string(b"1"), u64b(0), u32b(200_000), vec![0; 10]],
            ),
        ),
    ];
    for (name, body) in lies {
        let connection = sftp_client::login(server.addr).await;
        let (mut raw, _) = RawSftp::init(&connection).await;
        raw.send_packet(&body).await;
        if let Some(reply) = raw.recv().await {
            assert_eq!(reply[0], 101, "{name}: not a status: {reply:?}");
            assert_ne!(status_code(&reply), Some(FX_OK), "{name}");
        }
        // The daemon still serves other sessions.
        let (_fresh, sftp) = sftp_client::sftp(server.addr).await;
        assert_eq!(sftp.canonicalize(".").await.unwrap(), "/", "{name}");
    }
    // A READ asking for 4 GiB is clamped, not allocated.
    std::fs::create_dir_all(server.home(USER)).unwrap();
    std::fs::write(server.home(USER).join("small"), b"0123456789").unwrap();
    let mut c = Raw::start(&server).await;
    let file = c.open(b"small", F_READ).await.unwrap();
    let data = c
        .call(READ, &[string(&file), u64b(0), u32b(u32::MAX)])
        .await;
    assert_eq!(&data[9..], b"0123456789");
}

#[tokio::test]
async fn handles_are_per_session_and_per_kind() {
    let server = SftpTestServer::start().await;
    std::fs::create_dir_all(server.home(USER)).unwrap();
    std::fs::write(server.home(USER).join("data.txt"), b"original").unwrap();
    let mut a = Raw::start(&server).await;
    let mut b = Raw::start(&server).await;
    let from_a = a.open(b"data.txt", F_READ).await.unwrap();
    let dir_a = handle(&a.call(OPENDIR, &[string(b"/")]).await);
    // Session B has nothing open: A's handle strings mean nothing there.
    for stolen in [&from_a, &dir_a] {
        let read = b.call(READ, &[string(stolen), u64b(0), u32b(100)]).await;
        assert!(
            status_code(&read).is_some_and(|code| code != FX_OK),
            "{read:?}"
        );
        let listed = b.call(READDIR, &[string(stolen)]).await;
        assert!(status_code(&listed).is_some_and(|code| code != FX_OK));
        assert!(b.close(stolen).await.is_some_and(|code| code != FX_OK));
    }
    // A's handles still work: B's attempts did not close them.
    let read = a.call(READ, &[string(&from_a), u64b(0), u32b(100)]).await;
    assert_eq!(&read[9..], b"original");
    // A directory handle is not a file, and a file handle is not a directory.
    let read_dir = a.call(READ, &[string(&dir_a), u64b(0), u32b(100)]).await;
    assert!(status_code(&read_dir).is_some_and(|code| code != FX_OK));
    let list_file = a.call(READDIR, &[string(&from_a)]).await;
    assert!(status_code(&list_file).is_some_and(|code| code != FX_OK));
    // Writing through a read-only handle fails and leaves the file alone.
    let wrote = a
        .call(WRITE, &[string(&from_a), u64b(0), string(b"overwritten")])
        .await;
    assert!(status_code(&wrote).is_some_and(|code| code != FX_OK));
    assert_eq!(
        std::fs::read(server.home(USER).join("data.txt")).unwrap(),
        b"original"
    );
    assert_eq!(a.close(&from_a).await, Some(FX_OK));
    assert_eq!(a.close(&dir_a).await, Some(FX_OK));
    // A closed handle stays dead.
    let stale = a.call(READ, &[string(&from_a), u64b(0), u32b(100)]).await;
    assert!(status_code(&stale).is_some_and(|code| code != FX_OK));
}
