//! Every SFTP v3 request and every advertised extension, byte-exact over a raw channel.
//!
//! The russh-sftp client hides flags and status codes; these tests build request bodies by
//! hand so each case states exactly what a client sends and what ferryd must answer.

use crate::harness::sftp_client::wire::{extended, handle, reply_id, request, status_code, string};
use crate::harness::sftp_client::{self, RawSftp, SftpTestServer};
use crate::harness::USER;

const OPEN: u8 = 3;
const CLOSE: u8 = 4;
const READ: u8 = 5;
const WRITE: u8 = 6;
const LSTAT: u8 = 7;
const FSTAT: u8 = 8;
const SETSTAT: u8 = 9;
const FSETSTAT: u8 = 10;
const OPENDIR: u8 = 11;
const READDIR: u8 = 12;
const REMOVE: u8 = 13;
const MKDIR: u8 = 14;
const RMDIR: u8 = 15;
const REALPATH: u8 = 16;
const STAT: u8 = 17;
const RENAME: u8 = 18;
const READLINK: u8 = 19;
const SYMLINK: u8 = 20;

const FX_OK: u32 = 0;
const FX_EOF: u32 = 1;
const FX_NO_SUCH_FILE: u32 = 2;
const FX_PERMISSION_DENIED: u32 = 3;
const FX_FAILURE: u32 = 4;
const FX_OP_UNSUPPORTED: u32 = 8;

const F_READ: u32 = 0x01;
const F_WRITE: u32 = 0x02;
const F_APPEND: u32 = 0x04;
const F_CREAT: u32 = 0x08;
const F_TRUNC: u32 = 0x10;
const F_EXCL: u32 = 0x20;

fn u32b(value: u32) -> Vec<u8> {
    value.to_be_bytes().to_vec()
}

fn u64b(value: u64) -> Vec<u8> {
    value.to_be_bytes().to_vec()
}

/// Empty ATTRS.
fn no_attrs() -> Vec<u8> {
    u32b(0)
}

struct Raw {
    raw: RawSftp,
    next_id: u32,
    _connection: sftp_client::Connection,
}

impl Raw {
    async fn start(server: &SftpTestServer) -> Raw {
        let connection = sftp_client::login(server.addr).await;
        let (raw, _) = RawSftp::init(&connection).await;
        Raw {
            raw,
            next_id: 1,
            _connection: connection,
        }
    }

    async fn call(&mut self, packet_type: u8, fields: &[Vec<u8>]) -> Vec<u8> {
        self.next_id += 1;
        let id = self.next_id;
        let reply = self.raw.request(&request(packet_type, id, fields)).await;
        assert_eq!(reply_id(&reply), id);
        reply
    }

    async fn ext(&mut self, name: &str, fields: &[Vec<u8>]) -> Vec<u8> {
        self.next_id += 1;
        let id = self.next_id;
        let reply = self.raw.request(&extended(id, name, fields)).await;
        assert_eq!(reply_id(&reply), id);
        reply
    }

    async fn status(&mut self, packet_type: u8, fields: &[Vec<u8>]) -> u32 {
        let reply = self.call(packet_type, fields).await;
        status_code(&reply).unwrap_or_else(|| panic!("not a status: {reply:?}"))
    }

    async fn open(&mut self, path: &str, flags: u32) -> Result<Vec<u8>, u32> {
        let reply = self
            .call(OPEN, &[string(path.as_bytes()), u32b(flags), no_attrs()])
            .await;
        match status_code(&reply) {
            Some(code) => Err(code),
            None => Ok(handle(&reply)),
        }
    }

    async fn write(&mut self, handle: &[u8], offset: u64, data: &[u8]) -> u32 {
        self.status(WRITE, &[string(handle), u64b(offset), string(data)])
            .await
    }

    /// DATA payload, or the status code.
    async fn read(&mut self, handle: &[u8], offset: u64, len: u32) -> Result<Vec<u8>, u32> {
        let reply = self
            .call(READ, &[string(handle), u64b(offset), u32b(len)])
            .await;
        match status_code(&reply) {
            Some(code) => Err(code),
            None => {
                assert_eq!(reply[0], 103);
                Ok(reply[9..].to_vec())
            }
        }
    }

    async fn close(&mut self, handle: &[u8]) -> u32 {
        self.status(CLOSE, &[string(handle)]).await
    }

    async fn put(&mut self, path: &str, data: &[u8]) {
        let file = self.open(path, F_WRITE | F_CREAT | F_TRUNC).await.unwrap();
        assert_eq!(self.write(&file, 0, data).await, FX_OK);
        assert_eq!(self.close(&file).await, FX_OK);
    }

    /// The filenames of a NAME reply.
    async fn names(&mut self, packet_type: u8, fields: &[Vec<u8>]) -> Vec<(String, String)> {
        let reply = self.call(packet_type, fields).await;
        parse_names(&reply)
    }
}

/// (filename, longname) pairs of a NAME reply.
fn parse_names(reply: &[u8]) -> Vec<(String, String)> {
    assert_eq!(reply[0], 104, "not a NAME reply: {reply:?}");
    let count = u32::from_be_bytes(reply[5..9].try_into().unwrap());
    let mut rest = &reply[9..];
    fn take(rest: &mut &[u8]) -> String {
        let len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
        let value = String::from_utf8_lossy(&rest[4..4 + len]).into_owned();
        *rest = &rest[4 + len..];
        value
    }
    let mut names = Vec::new();
    for _ in 0..count {
        let name = take(&mut rest);
        let long = take(&mut rest);
        names.push((name, long));
        // Skip ATTRS: flags, then the fields they announce.
        let flags = u32::from_be_bytes(rest[..4].try_into().unwrap());
        let mut skip = 4;
        skip += if flags & 1 != 0 { 8 } else { 0 };
        skip += if flags & 2 != 0 { 8 } else { 0 };
        skip += if flags & 4 != 0 { 4 } else { 0 };
        skip += if flags & 8 != 0 { 8 } else { 0 };
        rest = &rest[skip..];
    }
    names
}

/// (size, permissions, mtime) from an ATTRS reply.
fn attrs_of(reply: &[u8]) -> (u64, u32, u32) {
    assert_eq!(reply[0], 105, "not an ATTRS reply: {reply:?}");
    let flags = u32::from_be_bytes(reply[5..9].try_into().unwrap());
    assert_eq!(flags & 0xf, 0xf, "attributes missing: {flags:#x}");
    let size = u64::from_be_bytes(reply[9..17].try_into().unwrap());
    let permissions = u32::from_be_bytes(reply[25..29].try_into().unwrap());
    let mtime = u32::from_be_bytes(reply[33..37].try_into().unwrap());
    (size, permissions, mtime)
}

#[tokio::test]
async fn open_flags_follow_openssh_semantics() {
    let server = SftpTestServer::start().await;
    let mut c = Raw::start(&server).await;
    assert_eq!(c.open("/missing", F_WRITE).await, Err(FX_NO_SUCH_FILE));
    assert_eq!(c.open("/missing", F_READ).await, Err(FX_NO_SUCH_FILE));
    c.put("/f", b"hello").await;
    assert_eq!(
        c.open("/f", F_WRITE | F_CREAT | F_EXCL).await,
        Err(FX_FAILURE)
    );

    let appending = c.open("/f", F_WRITE | F_APPEND).await.unwrap();
    assert_eq!(c.write(&appending, 0, b" world").await, FX_OK);
    assert_eq!(c.close(&appending).await, FX_OK);
    assert_eq!(
        std::fs::read(server.home(USER).join("f")).unwrap(),
        b"hello world"
    );

    let in_place = c.open("/f", F_WRITE).await.unwrap();
    assert_eq!(c.write(&in_place, 6, b"WORLD").await, FX_OK);
    assert_eq!(c.close(&in_place).await, FX_OK);
    assert_eq!(
        std::fs::read(server.home(USER).join("f")).unwrap(),
        b"hello WORLD"
    );

    let both = c.open("/f", F_READ | F_WRITE).await.unwrap();
    assert_eq!(c.write(&both, 0, b"J").await, FX_OK);
    assert_eq!(c.read(&both, 0, 5).await.unwrap(), b"Jello");
    assert_eq!(c.close(&both).await, FX_OK);

    let read_only = c.open("/f", F_READ).await.unwrap();
    assert_eq!(c.write(&read_only, 0, b"x").await, FX_PERMISSION_DENIED);
    assert_eq!(c.close(&read_only).await, FX_OK);
    assert_eq!(c.close(&read_only).await, FX_FAILURE, "closed twice");
}

#[tokio::test]
async fn offset_writes_and_reads_and_eof() {
    let server = SftpTestServer::start().await;
    let mut c = Raw::start(&server).await;
    let file = c
        .open("/sparse", F_WRITE | F_CREAT | F_TRUNC)
        .await
        .unwrap();
    assert_eq!(c.write(&file, 10, b"tail").await, FX_OK);
    assert_eq!(c.write(&file, 0, b"head").await, FX_OK);
    assert_eq!(c.close(&file).await, FX_OK);
    let file = c.open("/sparse", F_READ).await.unwrap();
    assert_eq!(c.read(&file, 10, 100).await.unwrap(), b"tail");
    assert_eq!(c.read(&file, 2, 4).await.unwrap(), b"ad\0\0");
    assert_eq!(c.read(&file, 14, 10).await, Err(FX_EOF));
    // Oversized READs are clamped, not refused.
    assert_eq!(c.read(&file, 0, u32::MAX).await.unwrap().len(), 14);
    assert_eq!(c.close(&file).await, FX_OK);
}

#[tokio::test]
async fn upload_is_invisible_until_close() {
    let server = SftpTestServer::start().await;
    let mut c = Raw::start(&server).await;
    c.put("/doc.txt", b"old").await;
    let file = c
        .open("/doc.txt", F_WRITE | F_CREAT | F_TRUNC)
        .await
        .unwrap();
    assert_eq!(c.write(&file, 0, b"new content").await, FX_OK);
    let on_disk = server.home(USER).join("doc.txt");
    assert_eq!(std::fs::read(&on_disk).unwrap(), b"old");
    assert_eq!(c.close(&file).await, FX_OK);
    assert_eq!(std::fs::read(&on_disk).unwrap(), b"new content");
}

#[tokio::test]
async fn stat_setstat_and_handle_attributes() {
    let server = SftpTestServer::start().await;
    let mut c = Raw::start(&server).await;
    c.put("/a", b"12345").await;
    let (size, permissions, _) = attrs_of(&c.call(STAT, &[string(b"/a")]).await);
    assert_eq!(size, 5);
    assert_eq!(permissions & 0o170000, 0o100000);
    // Size, ids (uid/gid flag 2 is absent), permissions and times in one SETSTAT.
    let mut attrs = u32b(1 | 4 | 8);
    attrs.extend(u64b(3));
    attrs.extend(u32b(0o600));
    attrs.extend(u32b(1_000_000_000));
    attrs.extend(u32b(1_000_000_000));
    assert_eq!(c.status(SETSTAT, &[string(b"/a"), attrs]).await, FX_OK);
    let (size, permissions, mtime) = attrs_of(&c.call(LSTAT, &[string(b"/a")]).await);
    assert_eq!(
        (size, permissions & 0o777, mtime),
        (3, 0o600, 1_000_000_000)
    );

    // Owner changes are ignored, not failed (WinSCP sends them).
    let mut owner = u32b(2);
    owner.extend(u32b(0));
    owner.extend(u32b(0));
    assert_eq!(c.status(SETSTAT, &[string(b"/a"), owner]).await, FX_OK);

    let file = c.open("/a", F_READ | F_WRITE).await.unwrap();
    let mut truncate = u32b(1);
    truncate.extend(u64b(1));
    assert_eq!(c.status(FSETSTAT, &[string(&file), truncate]).await, FX_OK);
    let (size, _, _) = attrs_of(&c.call(FSTAT, &[string(&file)]).await);
    assert_eq!(size, 1);
    assert_eq!(c.ext("fsync@openssh.com", &[string(&file)]).await[0], 101);
    assert_eq!(c.close(&file).await, FX_OK);
    assert_eq!(c.status(STAT, &[string(b"/nope")]).await, FX_NO_SUCH_FILE);
}

#[tokio::test]
async fn winscp_filepart_upload_rename_and_setstat() {
    let server = SftpTestServer::start().await;
    let mut c = Raw::start(&server).await;
    c.put("/report.pdf", b"old version").await;
    c.put("/report.pdf.filepart", b"new version").await;
    let renamed = c
        .ext(
            "posix-rename@openssh.com",
            &[string(b"/report.pdf.filepart"), string(b"/report.pdf")],
        )
        .await;
    assert_eq!(status_code(&renamed), Some(FX_OK));
    let mut attrs = u32b(4 | 8);
    attrs.extend(u32b(0o640));
    attrs.extend(u32b(1_600_000_000));
    attrs.extend(u32b(1_600_000_000));
    assert_eq!(
        c.status(SETSTAT, &[string(b"/report.pdf"), attrs]).await,
        FX_OK
    );
    let path = server.home(USER).join("report.pdf");
    assert_eq!(std::fs::read(&path).unwrap(), b"new version");
    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
    let secs = modified
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert_eq!(secs, 1_600_000_000);
}

#[tokio::test]
async fn rename_refuses_existing_target_posix_rename_replaces() {
    let server = SftpTestServer::start().await;
    let mut c = Raw::start(&server).await;
    c.put("/one", b"1").await;
    c.put("/two", b"2").await;
    let plain = c.status(RENAME, &[string(b"/one"), string(b"/two")]).await;
    assert_eq!(plain, FX_FAILURE);
    assert_eq!(
        c.status(RENAME, &[string(b"/one"), string(b"/three")])
            .await,
        FX_OK
    );
    let posix = c
        .ext(
            "posix-rename@openssh.com",
            &[string(b"/three"), string(b"/two")],
        )
        .await;
    assert_eq!(status_code(&posix), Some(FX_OK));
    assert_eq!(std::fs::read(server.home(USER).join("two")).unwrap(), b"1");
    assert!(!server.home(USER).join("three").exists());
}

#[tokio::test]
async fn directories_listing_and_removal() {
    let server = SftpTestServer::start().await;
    let mut c = Raw::start(&server).await;
    assert_eq!(c.status(MKDIR, &[string(b"/dir"), no_attrs()]).await, FX_OK);
    assert_eq!(
        c.status(MKDIR, &[string(b"/dir"), no_attrs()]).await,
        FX_FAILURE
    );
    for index in 0..250 {
        c.put(&format!("/dir/file-{index:03}"), b"x").await;
    }
    let dir = {
        let reply = c.call(OPENDIR, &[string(b"/dir")]).await;
        handle(&reply)
    };
    let mut seen = Vec::new();
    loop {
        let reply = c.call(READDIR, &[string(&dir)]).await;
        if status_code(&reply) == Some(FX_EOF) {
            break;
        }
        seen.extend(parse_names(&reply));
    }
    assert_eq!(c.close(&dir).await, FX_OK);
    assert_eq!(seen.len(), 250);
    let (name, long) = seen.iter().find(|(name, _)| name == "file-007").unwrap();
    assert!(long.starts_with("-rw"), "{long}");
    assert!(long.ends_with(name.as_str()), "{long}");
    assert!(long.contains(USER), "{long}");

    assert_eq!(c.status(RMDIR, &[string(b"/dir")]).await, FX_FAILURE);
    for index in 0..250 {
        let path = format!("/dir/file-{index:03}");
        assert_eq!(c.status(REMOVE, &[string(path.as_bytes())]).await, FX_OK);
    }
    assert_eq!(
        c.status(REMOVE, &[string(b"/dir/file-000")]).await,
        FX_NO_SUCH_FILE
    );
    assert_eq!(c.status(RMDIR, &[string(b"/dir")]).await, FX_OK);
    assert_eq!(c.status(OPENDIR, &[string(b"/dir")]).await, FX_NO_SUCH_FILE);
}

#[tokio::test]
async fn realpath_and_escapes_stay_inside_the_root() {
    let server = SftpTestServer::start().await;
    let mut c = Raw::start(&server).await;
    let cases: [(&[u8], &str); 5] = [
        (b".", "/"),
        (b"", "/"),
        (b"a/b/../c", "/a/c"),
        (b"../../../etc/passwd", "/etc/passwd"),
        (b"/../..", "/"),
    ];
    for (input, expected) in cases {
        let names = c.names(REALPATH, &[string(input)]).await;
        assert_eq!(names[0].0, expected, "{input:?}");
    }
    // `/etc/passwd` names a file in the user's tree, which does not exist.
    assert_eq!(
        c.status(STAT, &[string(b"../../etc/passwd")]).await,
        FX_NO_SUCH_FILE
    );
    assert_eq!(
        c.open("/../../../../etc/passwd", F_READ).await,
        Err(FX_NO_SUCH_FILE)
    );
    c.put("/../../outside.txt", b"x").await;
    assert!(server.home(USER).join("outside.txt").exists());
    assert!(!server.config.server.data_dir.join("outside.txt").exists());
}

#[tokio::test]
async fn symlinks_are_confined() {
    let server = SftpTestServer::start().await;
    let mut c = Raw::start(&server).await;
    c.put("/target.txt", b"data").await;
    // OpenSSH order: target path first, then the link.
    let link = c
        .status(SYMLINK, &[string(b"/target.txt"), string(b"/link")])
        .await;
    assert_eq!(link, FX_OK);
    // Stored relative to the link (so it resolves the same on disk), and read back as stored.
    assert_eq!(
        c.names(READLINK, &[string(b"/link")]).await[0].0,
        "target.txt"
    );
    let (_, permissions, _) = attrs_of(&c.call(LSTAT, &[string(b"/link")]).await);
    assert_eq!(permissions & 0o170000, 0o120000);
    let file = c.open("/link", F_READ).await.unwrap();
    assert_eq!(c.read(&file, 0, 10).await.unwrap(), b"data");
    assert_eq!(c.close(&file).await, FX_OK);

    let escape = c
        .status(
            SYMLINK,
            &[string(b"../../../../etc/passwd"), string(b"/evil")],
        )
        .await;
    assert_ne!(escape, FX_OK, "a link out of the root was created");
    // A link planted on disk that points outside is not followed.
    std::os::unix::fs::symlink("/etc/passwd", server.home(USER).join("planted")).unwrap();
    assert_ne!(c.open("/planted", F_READ).await.map(|_| ()), Ok(()));
    let readlink = c.call(READLINK, &[string(b"/planted")]).await;
    assert_eq!(status_code(&readlink), Some(FX_PERMISSION_DENIED));
}

#[tokio::test]
async fn hardlink_statvfs_limits_and_expand_path() {
    let server = SftpTestServer::start().await;
    let mut c = Raw::start(&server).await;
    c.put("/orig", b"same").await;
    let linked = c
        .ext(
            "hardlink@openssh.com",
            &[string(b"/orig"), string(b"/second")],
        )
        .await;
    assert_eq!(status_code(&linked), Some(FX_OK));
    assert_eq!(
        std::fs::read(server.home(USER).join("second")).unwrap(),
        b"same"
    );

    let statvfs = c.ext("statvfs@openssh.com", &[string(b"/")]).await;
    assert_eq!(statvfs[0], 201);
    assert_eq!(statvfs.len(), 5 + 11 * 8);
    let file = c.open("/orig", F_READ).await.unwrap();
    let fstatvfs = c.ext("fstatvfs@openssh.com", &[string(&file)]).await;
    assert_eq!(fstatvfs[0], 201);
    assert_eq!(c.close(&file).await, FX_OK);

    let limits = c.ext("limits@openssh.com", &[]).await;
    assert_eq!(limits[0], 201);
    let field = |index: usize| {
        u64::from_be_bytes(limits[5 + index * 8..13 + index * 8].try_into().unwrap())
    };
    assert_eq!(field(0), 256 * 1024);
    assert_eq!(field(1), 255 * 1024);
    assert_eq!(field(2), 255 * 1024);
    assert!(field(3) > 0);

    for (input, expected) in [
        ("~", "/"),
        ("~/docs", "/docs"),
        (&format!("~{USER}/x") as &str, "/x"),
    ] {
        let reply = c
            .ext("expand-path@openssh.com", &[string(input.as_bytes())])
            .await;
        assert_eq!(parse_names(&reply)[0].0, expected, "{input}");
    }
    let other = c
        .ext("expand-path@openssh.com", &[string(b"~root/x")])
        .await;
    assert_eq!(status_code(&other), Some(FX_NO_SUCH_FILE));

    let home = c.ext("home-directory", &[string(b"")]).await;
    assert_eq!(parse_names(&home)[0].0, "/");
    let names = c
        .ext(
            "users-groups-by-id@openssh.com",
            &[string(&u32b(1000)), string(&u32b(1000))],
        )
        .await;
    assert_eq!(names[0], 201);
}

#[tokio::test]
async fn lsetstat_copy_data_and_check_file() {
    let server = SftpTestServer::start().await;
    let mut c = Raw::start(&server).await;
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    c.put("/src", &data).await;

    let mut attrs = u32b(8);
    attrs.extend(u32b(1_500_000_000));
    attrs.extend(u32b(1_500_000_000));
    let lsetstat = c
        .ext("lsetstat@openssh.com", &[string(b"/src"), attrs])
        .await;
    assert_eq!(status_code(&lsetstat), Some(FX_OK));

    let source = c.open("/src", F_READ).await.unwrap();
    let target = c.open("/copy", F_WRITE | F_CREAT | F_TRUNC).await.unwrap();
    let copy = c
        .ext(
            "copy-data",
            &[string(&source), u64b(0), u64b(0), string(&target), u64b(0)],
        )
        .await;
    assert_eq!(status_code(&copy), Some(FX_OK));
    assert_eq!(c.close(&target).await, FX_OK);
    assert_eq!(std::fs::read(server.home(USER).join("copy")).unwrap(), data);

    use sha2::Digest;
    let expected = sha2::Sha256::digest(&data).to_vec();
    let by_name = c
        .ext(
            "check-file-name",
            &[
                string(b"/src"),
                string(b"sha512,sha256"),
                u64b(0),
                u64b(0),
                u32b(0),
            ],
        )
        .await;
    assert_eq!(by_name[0], 201);
    let by_handle = c
        .ext(
            "check-file-handle",
            &[
                string(&source),
                string(b"sha256"),
                u64b(0),
                u64b(0),
                u32b(0),
            ],
        )
        .await;
    for reply in [&by_name, &by_handle] {
        // id, "check-file", "sha256", then the raw hash.
        let tail = &reply[reply.len() - 32..];
        assert_eq!(tail, expected.as_slice());
        assert!(reply.windows(6).any(|w| w == b"sha256"));
    }
    let blocks = c
        .ext(
            "check-file-handle",
            &[
                string(&source),
                string(b"md5"),
                u64b(0),
                u64b(0),
                u32b(32768),
            ],
        )
        .await;
    assert_eq!(blocks[0], 201);
    assert_eq!(
        blocks.len(),
        5 + (4 + 10) + (4 + 3) + 4 * 16,
        "4 blocks of md5"
    );
    assert_eq!(c.close(&source).await, FX_OK);
}

#[tokio::test]
async fn unknown_requests_get_op_unsupported() {
    let server = SftpTestServer::start().await;
    let mut c = Raw::start(&server).await;
    let reply = c.ext("frobnicate@example.com", &[]).await;
    assert_eq!(status_code(&reply), Some(FX_OP_UNSUPPORTED));
    let reply = c.call(99, &[]).await;
    assert_eq!(status_code(&reply), Some(FX_OP_UNSUPPORTED));
    let reply = c.call(READ, &[string(b"999"), u64b(0), u32b(10)]).await;
    assert_eq!(status_code(&reply), Some(FX_FAILURE), "unknown handle");
    // The session is still usable.
    c.put("/still-alive", b"yes").await;
}

#[tokio::test]
async fn version_advertises_every_extension() {
    let server = SftpTestServer::start().await;
    let connection = sftp_client::login(server.addr).await;
    let (_raw, version) = RawSftp::init(&connection).await;
    assert_eq!(u32::from_be_bytes(version[1..5].try_into().unwrap()), 3);
    let names: Vec<String> = sftp_client::wire::version_extensions(&version)
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    for expected in [
        "posix-rename@openssh.com",
        "statvfs@openssh.com",
        "fstatvfs@openssh.com",
        "hardlink@openssh.com",
        "fsync@openssh.com",
        "lsetstat@openssh.com",
        "limits@openssh.com",
        "expand-path@openssh.com",
        "copy-data",
        "home-directory",
        "users-groups-by-id@openssh.com",
        "check-file",
    ] {
        assert!(
            names.iter().any(|name| name == expected),
            "{expected} missing: {names:?}"
        );
    }
}

/// Regression: OpenSSH's client truncates an upload to the last in-order WRITE ack ("high
/// water"), so pipelined acks on one handle must come back in request order (scp lost data).
#[tokio::test]
async fn pipelined_write_acks_come_back_in_request_order() {
    let server = SftpTestServer::start().await;
    let mut c = Raw::start(&server).await;
    let file = c
        .open("/ordered", F_WRITE | F_CREAT | F_TRUNC)
        .await
        .unwrap();
    let chunk = vec![7u8; 64 * 1024];
    for index in 0..48u32 {
        let offset = u64::from(index) * chunk.len() as u64;
        let body = request(
            WRITE,
            1000 + index,
            &[string(&file), u64b(offset), string(&chunk)],
        );
        c.raw.send_packet(&body).await;
    }
    for index in 0..48u32 {
        let reply = c.raw.recv().await.unwrap();
        assert_eq!(reply_id(&reply), 1000 + index);
        assert_eq!(status_code(&reply), Some(FX_OK));
    }
    assert_eq!(c.close(&file).await, FX_OK);
    let size = std::fs::metadata(server.home(USER).join("ordered"))
        .unwrap()
        .len();
    assert_eq!(size, 48 * 64 * 1024);
}

#[tokio::test]
async fn refused_attribute_changes_are_ignored_unless_strict() {
    for strict in [false, true] {
        let server = SftpTestServer::start_with(|config, users| {
            config.sftp.strict_attributes = strict;
            let alice = users.get_mut(USER).unwrap();
            alice.permissions = ferryd::vfs::Permissions::ALL.intersection(
                ferryd::vfs::Permissions::LIST
                    | ferryd::vfs::Permissions::DOWNLOAD
                    | ferryd::vfs::Permissions::UPLOAD
                    | ferryd::vfs::Permissions::OVERWRITE,
            );
        })
        .await;
        let mut c = Raw::start(&server).await;
        c.put("/f", b"data").await;
        let mut mode = u32b(4);
        mode.extend(u32b(0o600));
        let mut owner = u32b(2);
        owner.extend(u32b(0));
        owner.extend(u32b(0));
        let expected = if strict { FX_PERMISSION_DENIED } else { FX_OK };
        assert_eq!(
            c.status(SETSTAT, &[string(b"/f"), mode]).await,
            expected,
            "strict={strict}"
        );
        assert_eq!(
            c.status(SETSTAT, &[string(b"/f"), owner]).await,
            expected,
            "strict={strict}"
        );
    }
}
