//! Real FTPS clients against ferryd: curl (OpenSSL), lftp (GnuTLS) and Python ftplib, explicit
//! and implicit, with the default policy (TLS required, data connections must resume the
//! control session).
//!
//! A missing tool fails the test when `CI` is set and is skipped loudly otherwise.

use std::path::Path;
use std::process::Output;

use sha2::{Digest, Sha256};
use tokio::process::Command;

use crate::harness::{TestServer, PASSWORD, USER};

/// True when `tool` can run here; otherwise fails under CI or prints a skip notice.
pub(crate) fn have(tool: &str) -> bool {
    let found = std::process::Command::new(tool)
        .arg("--version")
        .output()
        .is_ok();
    crate::harness::needs(found, &format!("{tool} is not installed"))
}

/// Fails with the tool's output unless it succeeded.
pub(crate) fn check(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} failed: {}\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn curl(args: &[&str]) -> Command {
    let mut command = Command::new("curl");
    command
        .args(["--silent", "--show-error", "--insecure", "--max-time", "60"])
        .args(["--user", &format!("{USER}:{PASSWORD}")])
        .args(args);
    command
}

fn write_files(dir: &Path, count: usize) -> Vec<String> {
    std::fs::create_dir_all(dir).unwrap();
    (0..count)
        .map(|index| {
            let name = format!("small-{index:02}.txt");
            std::fs::write(dir.join(&name), format!("small file number {index}\n")).unwrap();
            name
        })
        .collect()
}

#[tokio::test]
async fn curl_uploads_fifty_small_files_in_one_run_and_lists_and_downloads() {
    if !have("curl") {
        return;
    }
    let server = TestServer::start().await;
    let explicit = server.addresses.ftps_explicit.unwrap();
    let local = server.dir.path().join("local");
    let names = write_files(&local, 50);
    let pattern = format!("{}/{{{}}}", local.display(), names.join(","));
    let url = format!("ftp://{explicit}/up/");
    let output = curl(&["--ssl-reqd", "--ftp-create-dirs", "-T", &pattern, &url])
        .output()
        .await
        .unwrap();
    check(&output, "curl upload of 50 files");
    for name in &names {
        let stored = std::fs::read(server.home(USER).join("up").join(name)).unwrap();
        assert_eq!(stored, std::fs::read(local.join(name)).unwrap(), "{name}");
    }
    let listing = curl(&["--ssl-reqd", &url]).output().await.unwrap();
    check(&listing, "curl LIST");
    assert_eq!(String::from_utf8_lossy(&listing.stdout).lines().count(), 50);
    let implicit = server.addresses.ftps_implicit.unwrap();
    let download = curl(&[&format!("ftps://{implicit}/up/small-07.txt")])
        .output()
        .await
        .unwrap();
    check(&download, "curl implicit download");
    assert_eq!(download.stdout, b"small file number 7\n");
    server.stop().await;
}

#[tokio::test]
async fn sixteen_concurrent_curl_uploads_over_tls13_all_arrive_intact() {
    if !have("curl") {
        return;
    }
    let server = TestServer::start().await;
    let explicit = server.addresses.ftps_explicit.unwrap();
    let local = server.dir.path().join("local");
    std::fs::create_dir_all(&local).unwrap();
    let mut runs = Vec::new();
    let mut digests = Vec::new();
    for index in 0..16 {
        let mut data = vec![0u8; 4 * 1024 * 1024];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut data);
        let path = local.join(format!("c{index}.bin"));
        std::fs::write(&path, &data).unwrap();
        digests.push(Sha256::digest(&data));
        let url = format!("ftp://{explicit}/c{index}.bin");
        let path = path.display().to_string();
        runs.push(tokio::spawn(async move {
            curl(&["--ssl-reqd", "--tlsv1.3", "-T", &path, &url])
                .output()
                .await
                .unwrap()
        }));
    }
    for run in runs {
        check(&run.await.unwrap(), "concurrent curl upload");
    }
    for (index, digest) in digests.iter().enumerate() {
        let stored = std::fs::read(server.home(USER).join(format!("c{index}.bin"))).unwrap();
        assert_eq!(&Sha256::digest(&stored), digest, "c{index}.bin");
    }
    server.stop().await;
}

#[tokio::test]
async fn curl_resumes_a_download_and_an_upload() {
    if !have("curl") {
        return;
    }
    let server = TestServer::start().await;
    let explicit = server.addresses.ftps_explicit.unwrap();
    let local = server.dir.path().join("local");
    std::fs::create_dir_all(&local).unwrap();
    let full: Vec<u8> = (0..200_000u32).flat_map(|n| n.to_le_bytes()).collect();
    std::fs::create_dir_all(server.home(USER)).unwrap();
    std::fs::write(server.home(USER).join("r.bin"), &full).unwrap();
    let partial = local.join("r.bin");
    std::fs::write(&partial, &full[..300_000]).unwrap();
    let url = format!("ftp://{explicit}/r.bin");
    let partial_text = partial.display().to_string();
    let output = curl(&["--ssl-reqd", "-C", "-", "-o", &partial_text, &url])
        .output()
        .await
        .unwrap();
    check(&output, "curl resumed download");
    assert_eq!(std::fs::read(&partial).unwrap(), full);

    std::fs::write(server.home(USER).join("u.bin"), &full[..100_000]).unwrap();
    let upload_url = format!("ftp://{explicit}/u.bin");
    let output = curl(&["--ssl-reqd", "-C", "-", "-T", &partial_text, &upload_url])
        .output()
        .await
        .unwrap();
    check(&output, "curl resumed upload");
    assert_eq!(
        std::fs::read(server.home(USER).join("u.bin")).unwrap(),
        full
    );
    server.stop().await;
}

#[tokio::test]
async fn lftp_mirrors_a_tree_up_and_down_over_explicit_and_implicit_ftps() {
    if !have("lftp") {
        return;
    }
    let server = TestServer::start().await;
    let local = server.dir.path().join("tree");
    write_files(&local.join("sub dir"), 5);
    write_files(&local, 3);
    let back = server.dir.path().join("back");
    for (index, url) in [
        format!("ftp://{}", server.addresses.ftps_explicit.unwrap()),
        format!("ftps://{}", server.addresses.ftps_implicit.unwrap()),
    ]
    .iter()
    .enumerate()
    {
        let script = format!(
            "set ssl:verify-certificate no; set ftp:ssl-force true; set ftp:ssl-protect-data true; \
             set net:max-retries 1; open -u '{USER},{PASSWORD}' {url}; \
             mirror -R {local} remote{index}; mirror remote{index} {back}{index}; \
             cls -1 remote{index}; bye",
            local = local.display(),
            back = back.display(),
        );
        let output = Command::new("lftp")
            .args(["-c", &script])
            .output()
            .await
            .unwrap();
        check(&output, &format!("lftp mirror over {url}"));
        let listing = String::from_utf8_lossy(&output.stdout);
        assert!(listing.contains("small-00.txt"), "{listing}");
        let copied = back.display().to_string() + &index.to_string();
        for name in ["sub dir/small-04.txt", "small-02.txt"] {
            let original = std::fs::read(local.join(name)).unwrap();
            assert_eq!(
                std::fs::read(Path::new(&copied).join(name)).unwrap(),
                original,
                "{name}"
            );
            let stored = server.home(USER).join(format!("remote{index}")).join(name);
            assert_eq!(std::fs::read(stored).unwrap(), original, "{name}");
        }
    }
    server.stop().await;
}

/// Python's ftplib the way scripts use it: Nagle left on, TLS started on each data connection
/// only after the 150 reply, data connections resuming the control session (the subclass from
/// docs/ftps.md). Halfway through, the same session switches to curl's order (TLS first, then
/// the command), which the server must still serve after it learned ftplib's order.
const FTPLIB_SCRIPT: &str = r#"
import ftplib, io, socket, ssl, sys

class Resuming(ftplib.FTP_TLS):
    tls_first = False
    def ntransfercmd(self, cmd, rest=None):
        if not self.tls_first:
            conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
            return self.context.wrap_socket(conn, server_hostname=self.host,
                                            session=self.sock.session), size
        host, port = self.makepasv()
        conn = socket.create_connection((host, port), self.timeout)
        conn = self.context.wrap_socket(conn, server_hostname=self.host,
                                        session=self.sock.session)
        resp = self.sendcmd(cmd)
        if not resp.startswith("150"):
            raise ftplib.error_reply(resp)
        return conn, None

host, port, user, password, count = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ftp = Resuming(context=ctx, timeout=30)
ftp.connect(host, port)
ftp.auth()
ftp.login(user, password)
ftp.prot_p()
ftp.mkd("py")
for i in range(count):
    ftp.tls_first = i >= count // 2
    ftp.storbinary(f"STOR py/f{i:03}.bin", io.BytesIO(bytes([i % 251]) * (8192 + i)))
for i in range(count):
    ftp.tls_first = i < count // 2
    got = io.BytesIO()
    ftp.retrbinary(f"RETR py/f{i:03}.bin", got.write)
    assert got.getvalue() == bytes([i % 251]) * (8192 + i), f"f{i:03}.bin differs"
ftp.quit()
print("ok", count)
"#;

#[tokio::test]
async fn python_ftplib_uploads_and_downloads_in_both_handshake_orders() {
    if !have("python3") {
        return;
    }
    let server = TestServer::start().await;
    let explicit = server.addresses.ftps_explicit.unwrap();
    let output = Command::new("python3")
        .args(["-c", FTPLIB_SCRIPT])
        .args([&explicit.ip().to_string(), &explicit.port().to_string()])
        .args([USER, PASSWORD, "30"])
        .output()
        .await
        .unwrap();
    check(&output, "python ftplib");
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "ok 30");
    for index in [0usize, 14, 15, 29] {
        let stored = std::fs::read(server.home(USER).join(format!("py/f{index:03}.bin"))).unwrap();
        assert_eq!(stored, vec![(index % 251) as u8; 8192 + index]);
    }
    server.stop().await;
}
