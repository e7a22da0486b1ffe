//! SFTP READLINK answers with the link's text as stored (as OpenSSH does), so mirroring clients
//! recreate relative links as they were; a text that is absolute or leads out of the user's
//! view is refused, never shown.

use std::path::Path;

use crate::harness::sftp_client::{self, wire, RawSftp, SftpTestServer};
use crate::harness::USER;

const SYMLINK: u8 = 20;
const READLINK: u8 = 19;
const FX_OK: u32 = 0;
const FX_PERMISSION_DENIED: u32 = 3;

/// The first name of a NAME reply.
fn first_name(reply: &[u8]) -> String {
    assert_eq!(reply[0], 104, "not a NAME reply: {reply:?}");
    let count = u32::from_be_bytes(reply[5..9].try_into().unwrap());
    assert_eq!(count, 1);
    let len = u32::from_be_bytes(reply[9..13].try_into().unwrap()) as usize;
    String::from_utf8(reply[13..13 + len].to_vec()).unwrap()
}

struct Session {
    raw: RawSftp,
    id: u32,
    _connection: sftp_client::Connection,
}

impl Session {
    async fn start(server: &SftpTestServer) -> Session {
        let connection = sftp_client::login(server.addr).await;
        let (raw, _) = RawSftp::init(&connection).await;
        Session {
            raw,
            id: 0,
            _connection: connection,
        }
    }

    async fn call(&mut self, packet_type: u8, fields: &[Vec<u8>]) -> Vec<u8> {
        self.id += 1;
        self.raw
            .request(&wire::request(packet_type, self.id, fields))
            .await
    }

    /// OpenSSH's argument order: the target, then the link.
    async fn symlink(&mut self, target: &str, link: &str) -> Option<u32> {
        let fields = [
            wire::string(target.as_bytes()),
            wire::string(link.as_bytes()),
        ];
        wire::status_code(&self.call(SYMLINK, &fields).await)
    }

    async fn readlink(&mut self, link: &str) -> Result<String, u32> {
        let reply = self.call(READLINK, &[wire::string(link.as_bytes())]).await;
        match wire::status_code(&reply) {
            Some(code) => Err(code),
            None => Ok(first_name(&reply)),
        }
    }
}

fn disk_text(home: &Path, link: &str) -> String {
    std::fs::read_link(home.join(link))
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn readlink_returns_the_relative_text_as_stored() {
    let server = SftpTestServer::start().await;
    let home = server.home(USER);
    let mut session = Session::start(&server).await;
    std::fs::write(home.join("release-1.2.txt"), b"1.2").unwrap();
    std::fs::create_dir(home.join("d")).unwrap();
    assert_eq!(
        session.symlink("release-1.2.txt", "/latest").await,
        Some(FX_OK)
    );
    assert_eq!(
        session.symlink("../release-1.2.txt", "/d/up").await,
        Some(FX_OK)
    );
    assert_eq!(disk_text(&home, "latest"), "release-1.2.txt");
    assert_eq!(disk_text(&home, "d/up"), "../release-1.2.txt");
    assert_eq!(
        session.readlink("/latest").await,
        Ok("release-1.2.txt".to_owned())
    );
    assert_eq!(
        session.readlink("/d/up").await,
        Ok("../release-1.2.txt".to_owned())
    );
    // A link an administrator made by hand is shown as written too, while it stays inside.
    std::os::unix::fs::symlink("./d/../release-1.2.txt", home.join("winding")).unwrap();
    assert_eq!(
        session.readlink("/winding").await,
        Ok("./d/../release-1.2.txt".to_owned())
    );
}

#[tokio::test]
async fn readlink_refuses_texts_that_would_show_the_servers_paths() {
    let server = SftpTestServer::start().await;
    let home = server.home(USER);
    let mut session = Session::start(&server).await;
    // Absolute texts name server paths even when they lead back inside; relative ones may
    // climb out of the home. Neither is shown.
    std::os::unix::fs::symlink("/etc/passwd", home.join("absolute")).unwrap();
    std::os::unix::fs::symlink(home.join("inside.txt"), home.join("absolute_inside")).unwrap();
    std::os::unix::fs::symlink("../../outside", home.join("climbing")).unwrap();
    for link in ["/absolute", "/absolute_inside", "/climbing"] {
        assert_eq!(
            session.readlink(link).await,
            Err(FX_PERMISSION_DENIED),
            "{link}"
        );
    }
}

/// True when lftp runs here; otherwise fails under CI or says it skipped.
fn have_lftp() -> bool {
    let found = std::process::Command::new("lftp")
        .arg("--version")
        .output()
        .is_ok();
    crate::harness::needs(found, "lftp is not installed")
}

#[tokio::test]
async fn lftp_mirror_recreates_relative_links_as_they_were() {
    if !have_lftp() {
        return;
    }
    let key = sftp_client::new_key();
    let public = key.public_key().clone();
    let server = SftpTestServer::start_with(|_, users| {
        users.get_mut(USER).unwrap().keys.push(public);
    })
    .await;
    let key_path = sftp_client::write_key(server.dir.as_path(), &key);
    let home = server.home(USER);
    let mut session = Session::start(&server).await;
    std::fs::write(home.join("release-1.2.txt"), b"1.2").unwrap();
    std::fs::create_dir(home.join("d")).unwrap();
    assert_eq!(
        session.symlink("release-1.2.txt", "/latest").await,
        Some(FX_OK)
    );
    assert_eq!(
        session.symlink("../release-1.2.txt", "/d/up").await,
        Some(FX_OK)
    );

    let local = server.dir.join("mirror");
    let connect = format!(
        "ssh -a -x -i {} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
         -o BatchMode=yes -o LogLevel=ERROR",
        key_path.display()
    );
    let script = format!(
        "set sftp:connect-program \"{connect}\"; set net:max-retries 1; \
         set net:timeout 20; mirror / {}; quit",
        local.display()
    );
    let output = tokio::process::Command::new("lftp")
        .args(["-u", &format!("{USER},")])
        .args(["-p", &server.addr.port().to_string()])
        .args(["-e", &script])
        .arg("sftp://127.0.0.1")
        .output();
    let output = tokio::time::timeout(std::time::Duration::from_secs(120), output)
        .await
        .expect("lftp hung")
        .unwrap();
    assert!(
        output.status.success(),
        "lftp failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(disk_text(&local, "latest"), "release-1.2.txt");
    assert_eq!(disk_text(&local, "d/up"), "../release-1.2.txt");
    assert_eq!(std::fs::read(local.join("d/up")).unwrap(), b"1.2");
}
