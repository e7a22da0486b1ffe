//! FTPS end to end: logins on both listeners, the TLS policy, and every command of the issue's
//! list against a real server, with suppaftp and the raw client.

use sha2::{Digest, Sha256};

use crate::harness::ftp_client::{self, FtpClient};
use crate::harness::{TestServer, PASSWORD, USER};

fn random_bytes(len: usize) -> Vec<u8> {
    let mut data = vec![0u8; len];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut data);
    data
}

#[tokio::test]
async fn explicit_login_and_a_64_mib_round_trip_keep_the_sha256() {
    let server = TestServer::start().await;
    let mut ftp = ftp_client::suppaftp_login(server.addresses.ftps_explicit.unwrap()).await;
    let data = random_bytes(64 * 1024 * 1024);
    let digest = hex::encode(Sha256::digest(&data));
    ftp.put_file("big.bin", &mut data.as_slice()).await.unwrap();
    assert_eq!(
        std::fs::read(server.home(USER).join("big.bin"))
            .unwrap()
            .len(),
        data.len()
    );
    let reply = ftp
        .custom_command("XSHA256 big.bin", &[suppaftp::Status::File])
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&reply.body).contains(&digest));

    let mut stream = ftp.retr_as_stream("big.bin").await.unwrap();
    let mut back = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut back)
        .await
        .unwrap();
    stream.finish().await.unwrap();
    assert_eq!(hex::encode(Sha256::digest(&back)), digest);
    ftp.quit().await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn implicit_login_works_with_tls_from_the_first_byte() {
    let server = TestServer::start().await;
    let address = server.addresses.ftps_implicit.unwrap();
    let mut client = FtpClient::implicit_with(address, ftp_client::tls_config(None)).await;
    client.login().await;
    client
        .upload("STOR implicit.txt", b"over implicit TLS")
        .await;
    assert_eq!(
        client.download("RETR implicit.txt").await,
        b"over implicit TLS"
    );
    assert_eq!(client.cmd("QUIT").await.code, 221);
    server.stop().await;
}

#[tokio::test]
async fn tls_is_required_before_login_and_for_data() {
    let server = TestServer::start().await;
    let address = server.addresses.ftps_explicit.unwrap();
    let mut plain = FtpClient::plain(address).await;
    let reply = plain.cmd(&format!("USER {USER}")).await;
    assert_eq!(reply.code, 530);
    assert!(reply.text.contains("AUTH TLS"), "{reply:?}");
    assert_eq!(plain.cmd("PASS x").await.code, 530);
    assert_eq!(plain.cmd("PROT P").await.code, 503);

    let mut client = FtpClient::explicit(address).await;
    assert_eq!(client.cmd("PROT P").await.code, 503, "PBSZ must come first");
    assert_eq!(client.cmd("PBSZ 0").await.code, 200);
    assert_eq!(client.cmd("PROT C").await.code, 534);
    assert_eq!(client.cmd("PROT S").await.code, 536);
    assert_eq!(client.cmd("CCC").await.code, 534);
    assert_eq!(client.cmd(&format!("USER {USER}")).await.code, 331);
    assert_eq!(client.cmd(&format!("PASS {PASSWORD}")).await.code, 230);
    // No PROT P yet: a data command is refused by policy.
    client.epsv().await;
    assert_eq!(client.cmd("LIST").await.code, 521);
    server.stop().await;
}

#[tokio::test]
async fn plain_ftp_works_when_tls_is_not_required() {
    let server = TestServer::start_with(|config, _| config.ftps.require_tls = false).await;
    let mut client = FtpClient::plain(server.addresses.ftps_explicit.unwrap()).await;
    client.login().await;
    client.upload("STOR plain.txt", b"clear text").await;
    assert_eq!(client.download("RETR plain.txt").await, b"clear text");
    server.stop().await;
}

#[tokio::test]
async fn wrong_passwords_get_530_and_the_third_closes_the_connection() {
    let server = TestServer::start().await;
    let mut client = FtpClient::explicit(server.addresses.ftps_explicit.unwrap()).await;
    for attempt in 1..=3 {
        assert_eq!(client.cmd(&format!("USER {USER}")).await.code, 331);
        let reply = client.cmd("PASS wrong password").await;
        assert_eq!(reply.code, 530, "attempt {attempt}");
    }
    assert!(
        client.try_reply().await.is_none(),
        "closed after three failures"
    );
    server.stop().await;
}

#[tokio::test]
async fn pasv_and_epsv_both_carry_transfers() {
    let server = TestServer::start().await;
    let mut client = FtpClient::explicit(server.addresses.ftps_explicit.unwrap()).await;
    client.login().await;
    client.upload("STOR a.txt", b"via epsv").await;
    let address = client.pasv().await;
    assert_eq!(address.ip().to_string(), "127.0.0.1");
    let tcp = client.connect_data(address).await.unwrap();
    drop(tcp);
    // A fresh PASV replaces the old listener; the transfer uses the new one.
    assert_eq!(client.download("RETR a.txt").await, b"via epsv");
    assert_eq!(client.cmd("EPSV ALL").await.code, 200);
    assert_eq!(client.cmd("PASV").await.code, 503);
    assert_eq!(client.cmd("EPSV 2").await.code, 522);
    assert_eq!(client.download("RETR a.txt").await, b"via epsv");
    server.stop().await;
}

#[tokio::test]
async fn downloads_and_uploads_resume_with_rest_and_appe() {
    let server = TestServer::start().await;
    let mut client = FtpClient::explicit(server.addresses.ftps_explicit.unwrap()).await;
    client.login().await;
    let data = random_bytes(300_000);
    client.upload("STOR r.bin", &data[..100_000]).await;
    assert_eq!(client.cmd("REST 100000").await.code, 350);
    client.upload("STOR r.bin", &data[100_000..200_000]).await;
    client.upload("APPE r.bin", &data[200_000..]).await;
    assert_eq!(
        std::fs::read(server.home(USER).join("r.bin")).unwrap(),
        data
    );
    assert_eq!(client.cmd("REST 123456").await.code, 350);
    assert_eq!(client.download("RETR r.bin").await, &data[123_456..]);
    assert_eq!(client.cmd("REST 300001").await.code, 350);
    let error = client.try_download("RETR r.bin").await.unwrap_err();
    assert_eq!(error.code, 554, "REST beyond the end: {error:?}");
    assert_eq!(client.cmd("NOOP").await.code, 200);
    server.stop().await;
}

#[tokio::test]
async fn utf8_names_with_spaces_and_leading_dashes_work() {
    let server = TestServer::start().await;
    let mut client = FtpClient::explicit(server.addresses.ftps_explicit.unwrap()).await;
    client.login().await;
    let names = ["ünïcødé 名前.txt", "-dash file.txt", " leading space", "--"];
    for name in names {
        client
            .upload(&format!("STOR {name}"), name.as_bytes())
            .await;
        assert_eq!(
            client.download(&format!("RETR {name}")).await,
            name.as_bytes()
        );
    }
    let listing = String::from_utf8(client.download("NLST").await).unwrap();
    for name in names {
        assert!(
            listing.lines().any(|line| line == name),
            "{name:?} in {listing:?}"
        );
        assert!(server.home(USER).join(name).exists());
    }
    assert_eq!(client.cmd("MKD dir with spaces").await.code, 257);
    assert_eq!(client.cmd("CWD dir with spaces").await.code, 250);
    assert_eq!(
        client.cmd("PWD").await.text,
        "257 \"/dir with spaces\" is the current directory"
    );
    server.stop().await;
}

#[tokio::test]
async fn mlsd_mlst_and_list_describe_files_as_clients_parse_them() {
    let server = TestServer::start().await;
    let mut ftp = ftp_client::suppaftp_login(server.addresses.ftps_explicit.unwrap()).await;
    ftp.put_file("report.pdf", &mut &b"0123456789"[..])
        .await
        .unwrap();
    ftp.mkdir("folder").await.unwrap();
    let entries = ftp.mlsd(None).await.unwrap();
    let files: Vec<suppaftp::list::File> = entries
        .iter()
        .filter(|line| !line.contains("type=cdir"))
        .map(|line| suppaftp::list::ListParser::parse_mlsd(line).unwrap())
        .collect();
    let report = files.iter().find(|f| f.name() == "report.pdf").unwrap();
    assert_eq!(report.size(), 10);
    assert!(report.is_file());
    assert!(files
        .iter()
        .any(|f| f.name() == "folder" && f.is_directory()));
    let mlst = ftp.mlst(Some("report.pdf")).await.unwrap();
    assert!(mlst.contains("type=file;size=10;"), "{mlst}");
    let list = ftp.list(Some("-la")).await.unwrap();
    let parsed: Vec<suppaftp::list::File> = list
        .iter()
        .map(|line| suppaftp::list::ListParser::parse_posix(line).unwrap())
        .collect();
    assert!(parsed
        .iter()
        .any(|f| f.name() == "report.pdf" && f.size() == 10));
    server.stop().await;
}

#[tokio::test]
async fn paths_cannot_escape_the_user_root() {
    let server = TestServer::start().await;
    std::fs::write(server.dir.path().join("secret.txt"), "outside").unwrap();
    let mut client = FtpClient::explicit(server.addresses.ftps_explicit.unwrap()).await;
    client.login().await;
    assert_eq!(client.cmd("CWD ../../..").await.code, 250);
    assert_eq!(
        client.cmd("PWD").await.text,
        "257 \"/\" is the current directory"
    );
    for path in [
        "../../secret.txt",
        "/../../../secret.txt",
        "..\\..\\secret.txt",
    ] {
        let reply = client
            .try_download(&format!("RETR {path}"))
            .await
            .unwrap_err();
        assert_eq!(reply.code, 550, "{path}: {reply:?}");
        assert!(!reply
            .text
            .contains(&server.dir.path().display().to_string()));
    }
    assert_eq!(client.cmd("SIZE ../../secret.txt").await.code, 550);
    server.stop().await;
}

#[tokio::test]
async fn the_informational_and_file_commands_answer_per_rfc() {
    let server = TestServer::start().await;
    let mut c = FtpClient::explicit(server.addresses.ftps_explicit.unwrap()).await;
    assert_eq!(c.cmd("HOST ftp.example.com").await.code, 220);
    assert_eq!(c.cmd("SYST").await.code, 215);
    let feat = c.cmd("FEAT").await;
    assert_eq!(feat.code, 211);
    assert!(
        feat.text.lines().any(|line| line == " UTF8"),
        "{}",
        feat.text
    );
    for feature in [
        " EPSV",
        " MLST type*;",
        " REST STREAM",
        " SIZE",
        " MDTM",
        " HASH SHA-256*",
    ] {
        assert!(
            feat.text.contains(feature),
            "{feature} missing in {}",
            feat.text
        );
    }
    assert!(!feat.text.contains(" EPRT"), "active mode is off");
    assert_eq!(c.cmd("STAT").await.code, 530);
    c.login().await;
    assert_eq!(c.cmd("HOST late.example.com").await.code, 503);
    assert_eq!(c.cmd("OPTS UTF8 ON").await.code, 200);
    assert_eq!(c.cmd("HELP").await.code, 214);
    assert_eq!(c.cmd("STAT").await.code, 211);
    assert_eq!(c.cmd("NOOP").await.code, 200);
    assert_eq!(c.cmd("MODE S").await.code, 200);
    assert_eq!(c.cmd("MODE B").await.code, 504);
    assert_eq!(c.cmd("STRU F").await.code, 200);
    assert_eq!(c.cmd("TYPE L 8").await.code, 200);
    assert_eq!(c.cmd("ALLO 100").await.code, 202);
    assert_eq!(c.cmd("FOO bar").await.code, 502);
    assert_eq!(c.cmd("RNTO x").await.code, 503);
    assert_eq!(c.cmd("PORT 127,0,0,1,4,1").await.code, 502);
    assert_eq!(c.cmd("XMKD d").await.code, 257);
    assert_eq!(c.cmd("XCWD d").await.code, 250);
    assert_eq!(c.cmd("XPWD").await.code, 257);
    assert_eq!(c.cmd("XCUP").await.code, 250);
    assert_eq!(c.cmd("CDUP").await.code, 250);
    c.upload("STOR f.txt", b"hello\n").await;
    assert_eq!(c.cmd("SIZE f.txt").await.text, "213 6");
    assert_eq!(c.cmd("SIZE d").await.code, 550);
    assert_eq!(c.cmd("MFMT 20200102030405 f.txt").await.code, 213);
    assert_eq!(c.cmd("MDTM f.txt").await.text, "213 20200102030405");
    assert_eq!(c.cmd("MDTM 20210102030405 f.txt").await.code, 213);
    assert_eq!(c.cmd("MDTM f.txt").await.text, "213 20210102030405");
    let stat = c.cmd("STAT f.txt").await;
    assert_eq!(stat.code, 213);
    assert!(stat.text.contains("f.txt"), "{stat:?}");
    let mlst = c.cmd("MLST f.txt").await;
    assert_eq!(mlst.code, 250);
    assert!(
        mlst.text
            .contains(" type=file;size=6;modify=20210102030405;"),
        "{mlst:?}"
    );
    assert_eq!(
        c.cmd("OPTS MLST size;type;").await.text,
        "200 MLST OPTS type;size;"
    );
    assert!(c
        .cmd("MLST f.txt")
        .await
        .text
        .contains(" type=file;size=6; /f.txt"));
    let sha256 = hex::encode(Sha256::digest(b"hello\n"));
    assert_eq!(c.cmd("XSHA256 f.txt").await.text, format!("213 {sha256}"));
    assert_eq!(c.cmd("XSHA1 \"f.txt\"").await.code, 213);
    assert_eq!(
        c.cmd("XMD5 f.txt").await.text,
        "213 b1946ac92492d2347c6235b4d2611184"
    );
    assert_eq!(c.cmd("XCRC \"f.txt\" 0 5").await.code, 213);
    assert_eq!(
        c.cmd("HASH f.txt").await.text,
        format!("213 SHA-256 0-5 {sha256} /f.txt")
    );
    assert_eq!(c.cmd("OPTS HASH MD5").await.text, "200 MD5");
    assert!(c
        .cmd("HASH f.txt")
        .await
        .text
        .starts_with("213 MD5 0-5 b1946ac9"));
    assert_eq!(c.cmd("OPTS HASH SHA-512").await.code, 501);
    assert_eq!(c.cmd("AVBL").await.code, 213);
    assert_eq!(c.cmd("SITE CHMOD 600 f.txt").await.code, 200);
    assert_eq!(c.cmd("SITE HELP").await.code, 214);
    assert_eq!(c.cmd("SITE EXEC ls").await.code, 502);
    assert_eq!(c.cmd("RNFR f.txt").await.code, 350);
    assert_eq!(c.cmd("RNTO d/g.txt").await.code, 250);
    assert!(server.home(USER).join("d/g.txt").exists());
    assert_eq!(c.cmd("RNFR missing").await.code, 550);
    let stored = c.try_upload("STOU g.txt", b"unique").await.unwrap();
    assert!(stored.text.contains("stored as g.txt"), "{stored:?}");
    c.upload("STOU g.txt", b"unique").await;
    assert!(server.home(USER).join("g.txt.1").exists());
    assert_eq!(c.cmd("DELE d/g.txt").await.code, 250);
    assert_eq!(c.cmd("RMD d").await.code, 250);
    assert_eq!(c.cmd("RMD d").await.code, 550);
    assert_eq!(c.cmd("DELE nothing").await.code, 550);
    assert_eq!(c.cmd("ABOR").await.code, 225);
    assert_eq!(c.cmd("QUIT").await.code, 221);
    server.stop().await;
}

#[tokio::test]
async fn type_a_converts_line_endings_both_ways() {
    let server = TestServer::start().await;
    let mut client = FtpClient::explicit(server.addresses.ftps_explicit.unwrap()).await;
    client.login().await;
    assert_eq!(client.cmd("TYPE A").await.code, 200);
    client.upload("STOR text.txt", b"one\r\ntwo\r\n").await;
    assert_eq!(
        std::fs::read(server.home(USER).join("text.txt")).unwrap(),
        b"one\ntwo\n"
    );
    assert_eq!(client.download("RETR text.txt").await, b"one\r\ntwo\r\n");
    assert_eq!(client.cmd("TYPE I").await.code, 200);
    assert_eq!(client.download("RETR text.txt").await, b"one\ntwo\n");
    server.stop().await;
}

#[tokio::test]
async fn users_protocols_and_source_networks_are_enforced_at_login() {
    let server = TestServer::start_with(|_, users| {
        let add = |users: &mut ferryd::auth::UserDb, name: &str| {
            let mut user = ferryd::auth::UserRecord::named(name).unwrap();
            user.password = Some(ferryd::auth::password::hash_password("pass word 1").unwrap());
            users.add(user).unwrap();
        };
        add(users, "sftponly");
        add(users, "elsewhere");
        let sftp_only = users.get_mut("sftponly").unwrap();
        sftp_only.protocols = [ferryd::config::Protocol::Sftp].into_iter().collect();
        let elsewhere = users.get_mut("elsewhere").unwrap();
        elsewhere.allowed_networks = vec!["10.0.0.0/8".parse().unwrap()];
    })
    .await;
    for user in ["sftponly", "elsewhere"] {
        let mut client = FtpClient::explicit(server.addresses.ftps_explicit.unwrap()).await;
        assert_eq!(client.cmd(&format!("USER {user}")).await.code, 331);
        assert_eq!(
            client.cmd("PASS pass word 1").await.text,
            "530 Login incorrect",
            "{user}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn login_timeout_and_connection_limits_close_with_421() {
    // The timer's rule is tested on a paused clock (src/ftp/tests/timeouts.rs); this checks
    // that the 421 reaches a real client.
    let server = TestServer::start_with(|config, _| {
        config.server.login_timeout = std::time::Duration::from_secs(1);
        config.server.max_connections_per_ip = 1;
    })
    .await;
    let address = server.addresses.ftps_explicit.unwrap();
    let mut idle = FtpClient::plain(address).await;
    let mut second = tokio::net::TcpStream::connect(address).await.unwrap();
    let mut refusal = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut second, &mut refusal)
        .await
        .unwrap();
    assert!(
        refusal.starts_with("421 Too many connections from your address"),
        "{refusal}"
    );
    let reply = idle.reply().await;
    assert_eq!(
        reply.code, 421,
        "not logged in within the login timeout: {reply:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_data_connection_that_never_comes_gets_425_after_the_data_timeout() {
    let server = TestServer::start_with(|config, _| {
        config.ftps.data_timeout = std::time::Duration::from_secs(1);
    })
    .await;
    let mut client = FtpClient::explicit(server.addresses.ftps_explicit.unwrap()).await;
    client.login().await;
    client.epsv().await;
    assert_eq!(client.cmd("LIST").await.code, 150);
    let reply = client.reply().await;
    assert_eq!(reply.code, 425, "{reply:?}");
    assert_eq!(
        client.cmd("LIST").await.code,
        425,
        "the channel was used up"
    );
    client.download("LIST").await;
    server.stop().await;
}
