//! FTPS security properties end to end: data connections must resume their own control
//! connection's TLS session (TLS 1.2 and 1.3, explicit and implicit), must come from the
//! control connection's address, and hostile input never runs commands or kills the server.

use rustls::HandshakeKind;
use tokio::io::AsyncWriteExt;

use crate::harness::ftp_client::{self, FtpClient, HandshakeOrder};
use crate::harness::{TestServer, PASSWORD, USER};

const REUSE_REFUSAL: &str = "522 Data connection must resume the TLS session";

#[tokio::test]
async fn data_connections_resuming_the_control_session_work_on_both_listeners() {
    let server = TestServer::start().await;
    let explicit = server.addresses.ftps_explicit.unwrap();
    let implicit = server.addresses.ftps_implicit.unwrap();
    for version in ["1.3", "1.2"] {
        for mode in ["explicit", "implicit"] {
            let tls = match version {
                "1.3" => ftp_client::tls13(),
                _ => ftp_client::tls12(),
            };
            let mut client = match mode {
                "explicit" => FtpClient::explicit_with(explicit, tls).await,
                _ => FtpClient::implicit_with(implicit, tls).await,
            };
            client.login().await;
            for order in [
                HandshakeOrder::BeforeCommand,
                HandshakeOrder::AfterPreliminary,
            ] {
                client.order = order;
                // More transfers than tickets per handshake: each resumption brings new ones.
                for round in 0..6 {
                    let case = format!("TLS {version} {mode} {order:?} round {round}");
                    let stored = client.try_upload("STOR r.txt", b"resumed").await;
                    assert!(stored.is_ok(), "{case}: {stored:?}");
                    assert_eq!(
                        client.last_data_handshake,
                        Some(HandshakeKind::Resumed),
                        "{case}"
                    );
                    let back = client.try_download("RETR r.txt").await;
                    assert_eq!(
                        back.map_err(|reply| reply.text),
                        Ok(b"resumed".to_vec()),
                        "{case}"
                    );
                }
            }
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn a_data_connection_without_session_reuse_is_refused_with_522() {
    let server = TestServer::start().await;
    for tls in [ftp_client::tls13(), ftp_client::tls12()] {
        for implicit in [false, true] {
            let mut client = match implicit {
                false => {
                    FtpClient::explicit_with(server.addresses.ftps_explicit.unwrap(), tls.clone())
                        .await
                }
                true => {
                    FtpClient::implicit_with(server.addresses.ftps_implicit.unwrap(), tls.clone())
                        .await
                }
            };
            client.login().await;
            // Another session cache: a full handshake on the data connection.
            client.data_tls = Some(ftp_client::tls_config(None));
            let reply = client.try_download("LIST").await.unwrap_err();
            assert!(reply.text.starts_with(REUSE_REFUSAL), "{reply:?}");
            // The control connection goes on, and a resuming client is served again.
            client.data_tls = None;
            client.download("LIST").await;
        }
    }
    // Every refusal is counted, for the admin: in the front end's stats and in the metrics.
    let stats = server.running().ftp_stats().unwrap();
    assert_eq!(stats.session_reuse_refused, 4);
    let metrics = server.running().metrics().encode();
    assert!(
        metrics.contains("ferryd_tls_session_reuse_refusals_total 4"),
        "{metrics}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_data_connection_resuming_another_users_session_is_refused() {
    let server = TestServer::start_with(|_, users| {
        let mut bob = ferryd::auth::UserRecord::named("bob").unwrap();
        bob.password = Some(ferryd::auth::password::hash_password("bob password").unwrap());
        users.add(bob).unwrap();
    })
    .await;
    let address = server.addresses.ftps_explicit.unwrap();
    for alice_cache in [ftp_client::tls13(), ftp_client::tls12()] {
        let mut alice = FtpClient::explicit_with(address, alice_cache.clone()).await;
        alice.login().await;
        // Bob's data connection presents a ticket of Alice's live session, from her address:
        // not his session, not his sibling. It must not resume into Bob's session.
        let mut bob = FtpClient::explicit(address).await;
        bob.login_as("bob", "bob password").await;
        bob.data_tls = Some(alice_cache);
        let reply = bob.try_download("LIST").await.unwrap_err();
        assert!(reply.text.starts_with(REUSE_REFUSAL), "{reply:?}");
        drop(alice);
    }
    server.stop().await;
}

#[tokio::test]
async fn a_sibling_session_of_the_same_user_and_address_may_be_resumed() {
    let server = TestServer::start().await;
    let address = server.addresses.ftps_explicit.unwrap();
    for tls in [ftp_client::tls13(), ftp_client::tls12()] {
        // Two control connections of one client that share a session cache (rclone).
        let mut first = FtpClient::explicit_with(address, tls.clone()).await;
        first.login().await;
        let mut second = FtpClient::explicit_with(address, ftp_client::tls_config(None)).await;
        second.login().await;
        second.data_tls = Some(tls.clone());
        second.upload("STOR sibling.txt", b"sibling").await;
        assert_eq!(second.last_data_handshake, Some(HandshakeKind::Resumed));
        drop(first);
        // Once the sibling is gone, its sessions are no longer accepted. The first control
        // connection may still be closing on the server, so poll until it has ended.
        let mut refused = false;
        for _ in 0..50 {
            second.data_tls = Some(ftp_client::tls_config(None));
            if second.try_download("LIST").await.is_err() {
                refused = true;
                break;
            }
        }
        assert!(refused, "a fresh session cache must be refused");
    }
    server.stop().await;
}

#[tokio::test]
async fn exempt_users_and_networks_may_skip_session_reuse() {
    let server = TestServer::start_with(|config, users| {
        config.ftps.tls_session_reuse_exempt_networks = vec!["127.0.0.2/32".parse().unwrap()];
        let mut ftplib = ferryd::auth::UserRecord::named("ftplib").unwrap();
        ftplib.password = Some(ferryd::auth::password::hash_password("ftplib password").unwrap());
        ftplib.tls_session_reuse_exempt = true;
        users.add(ftplib).unwrap();
    })
    .await;
    let address = server.addresses.ftps_explicit.unwrap();
    let mut exempt = FtpClient::explicit(address).await;
    exempt.login_as("ftplib", "ftplib password").await;
    exempt.data_tls = Some(ftp_client::tls_config(None));
    exempt.download("LIST").await;
    assert_eq!(exempt.last_data_handshake, Some(HandshakeKind::Full));

    let mut alice = FtpClient::explicit(address).await;
    alice.login().await;
    alice.data_tls = Some(ftp_client::tls_config(None));
    assert!(
        alice.try_download("LIST").await.is_err(),
        "alice is not exempt"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_data_connection_from_another_address_is_dropped() {
    let server = TestServer::start().await;
    let mut client = FtpClient::explicit(server.addresses.ftps_explicit.unwrap()).await;
    client.login().await;
    client.upload("STOR x.txt", b"mine").await;
    let address = client.epsv().await;
    let mut thief = client
        .connect_data_from("127.0.0.2".parse().unwrap(), address)
        .await;
    let mut byte = [0u8; 1];
    let stolen = tokio::io::AsyncReadExt::read(&mut thief, &mut byte).await;
    assert!(
        matches!(stolen, Ok(0) | Err(_)),
        "the thief's connection must be closed"
    );
    // The real client still gets its data on the same port.
    let tcp = client.connect_data(address).await.unwrap();
    drop(tcp);
    assert_eq!(client.download("RETR x.txt").await, b"mine");
    assert_eq!(
        server
            .running()
            .ftp_stats()
            .unwrap()
            .foreign_data_connections,
        1
    );
    server.stop().await;
}

#[tokio::test]
async fn commands_pipelined_after_auth_tls_are_never_executed() {
    let server = TestServer::start().await;
    let mut client = FtpClient::plain(server.addresses.ftps_explicit.unwrap()).await;
    client
        .send_raw(format!("AUTH TLS\r\nUSER {USER}\r\nPASS {PASSWORD}\r\n").as_bytes())
        .await;
    assert_eq!(client.reply().await.code, 234);
    client.start_tls().await;
    // Had USER/PASS run inside TLS, PASS would now be out of sequence or logged in.
    assert_eq!(client.cmd("PWD").await.code, 530);
    assert_eq!(client.cmd("PASS x").await.code, 503);
    server.stop().await;
}

#[tokio::test]
async fn an_over_long_line_gets_500_and_the_session_survives() {
    let server = TestServer::start().await;
    let mut client = FtpClient::explicit(server.addresses.ftps_explicit.unwrap()).await;
    client.login().await;
    let mut line = b"STOR ".to_vec();
    line.resize(100_000, b'a');
    line.extend_from_slice(b"\r\n");
    client.send_raw(&line).await;
    assert_eq!(client.reply().await.code, 500);
    assert_eq!(client.cmd("NOOP").await.code, 200);
    server.stop().await;
}

#[tokio::test]
async fn garbage_bytes_get_errors_and_never_take_the_server_down() {
    let server = TestServer::start_with(|config, _| config.ftps.require_tls = false).await;
    let address = server.addresses.ftps_explicit.unwrap();
    let mut client = FtpClient::plain(address).await;
    client.send_raw(b"\xff\xfe\xfd\x00\x01 garbage\r\n").await;
    assert!(
        matches!(client.reply().await.code, 500..=502),
        "invalid bytes"
    );
    client.send_raw(b"RETR a\0b\r\n").await;
    assert_eq!(client.reply().await.code, 501);
    client.send_raw(b"\r\n").await;
    assert_eq!(client.reply().await.code, 501);
    assert_eq!(client.cmd("REST -5").await.code, 501);
    assert_eq!(client.cmd("PORT 1,2,3").await.code, 501);
    assert_eq!(client.cmd("EPRT |3|x|1|").await.code, 522);
    // TLS garbage on the implicit port closes that connection only.
    let mut raw = tokio::net::TcpStream::connect(server.addresses.ftps_implicit.unwrap())
        .await
        .unwrap();
    raw.write_all(b"USER alice\r\n not a client hello")
        .await
        .unwrap();
    let mut sink = Vec::new();
    let _ = tokio::io::AsyncReadExt::read_to_end(&mut raw, &mut sink).await;
    assert_eq!(client.cmd("NOOP").await.code, 200);
    let mut fresh = FtpClient::explicit(address).await;
    fresh.login().await;
    server.stop().await;
}

#[tokio::test]
async fn active_mode_is_off_by_default_and_bounce_proof_when_on() {
    let server = TestServer::start_with(|config, _| config.ftps.active_mode = true).await;
    let mut client = FtpClient::explicit(server.addresses.ftps_explicit.unwrap()).await;
    client.login().await;
    assert_eq!(
        client.cmd("PORT 10,0,0,1,200,1").await.code,
        501,
        "another host"
    );
    assert_eq!(
        client.cmd("PORT 127,0,0,1,0,80").await.code,
        501,
        "a low port"
    );
    assert_eq!(client.cmd("EPRT |1|127.0.0.1|21|").await.code, 501);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let reply = client.cmd(&format!("EPRT |1|127.0.0.1|{port}|")).await;
    assert_eq!(reply.code, 200);
    client.send("LIST").await;
    let (tcp, _) = listener.accept().await.unwrap();
    assert_eq!(client.reply().await.code, 150);
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let connector = tokio_rustls::TlsConnector::from(client.tls.clone());
    let mut stream = connector.connect(name, tcp).await.unwrap();
    let mut listing = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut listing)
        .await
        .unwrap();
    assert_eq!(client.reply().await.code, 226);
    server.stop().await;
}

/// TLS 1.3 tickets a data connection's server sent, counted by a client that reads the
/// connection only after its upload (a client like Go's never reads it at all: unread tickets
/// make its kernel reset the connection and drop the unsent end of the file).
async fn tickets_on_upload(client: &mut FtpClient, connect_first: bool, name: &str) -> u32 {
    let address = client.epsv().await;
    let early = if connect_first {
        Some(client.connect_data(address).await.unwrap())
    } else {
        None
    };
    // The command overtakes a connection that is not there yet: the reply cannot wait for it.
    assert_eq!(client.cmd(&format!("STOR {name}")).await.code, 150);
    let tcp = match early {
        Some(tcp) => tcp,
        None => client.connect_data(address).await.unwrap(),
    };
    let server_name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut stream = tokio_rustls::TlsConnector::from(client.tls.clone())
        .connect(server_name, tcp)
        .await
        .unwrap();
    assert_eq!(
        stream.get_ref().1.handshake_kind(),
        Some(HandshakeKind::Resumed)
    );
    stream.write_all(&[7u8; 300_000]).await.unwrap();
    stream.shutdown().await.unwrap();
    let mut rest = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut rest)
        .await
        .unwrap();
    assert_eq!(client.reply().await.code, 226);
    stream.get_ref().1.tls13_tickets_received()
}

#[tokio::test]
async fn clients_that_start_tls_after_the_reply_get_no_tickets_on_uploads() {
    let server = TestServer::start().await;
    let explicit = server.addresses.ftps_explicit.unwrap();
    let mut client = FtpClient::explicit_with(explicit, ftp_client::tls13()).await;
    client.login().await;
    // Connected before the command, then after it (the command overtakes the connection, as
    // on a loaded server): no tickets either way. rustls uses each ticket once, which the two
    // different tickets show; from then on its uploads bring new ones.
    for (round, (connect_first, expected)) in [(true, 0), (false, 0), (false, 4), (true, 4)]
        .into_iter()
        .enumerate()
    {
        let name = format!("late-{round}.bin");
        let tickets = tickets_on_upload(&mut client, connect_first, &name).await;
        assert_eq!(
            tickets, expected,
            "round {round}, connected first: {connect_first}"
        );
        let stored = std::fs::read(server.home(USER).join(&name)).unwrap();
        assert_eq!(stored.len(), 300_000);
    }
    server.stop().await;
}
