//! The control connection's login and idle timeouts: the deadline rule itself, and the real
//! control task over a loopback socket on tokio's paused clock, so waiting minutes of
//! timeouts costs no wall-clock time (tokio advances a paused clock only when every task
//! waits, straight to the next timer).

use std::io::ErrorKind;
use std::time::Duration;

use tokio::io::AsyncWriteExt as _;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::super::control::{self, silence_deadline};
use super::super::shared::TlsMode;
use super::fixture::{self, PASSWORD};

const LOGIN: Duration = Duration::from_secs(10);
const IDLE: Duration = Duration::from_secs(60);
/// How far before a deadline the connection must still be open.
const JUST_BEFORE: Duration = Duration::from_millis(1);
const TIMEOUT_REPLY: &str = "421 Timeout: closing control connection";

#[test]
fn before_login_the_earlier_of_login_and_idle_deadline_applies() {
    let started = Instant::now();
    let deadline = |last_command, idle| silence_deadline(started, last_command, false, idle, LOGIN);
    assert_eq!(deadline(started, IDLE), started + LOGIN);
    assert_eq!(
        deadline(started + Duration::from_secs(5), IDLE),
        started + LOGIN,
        "a command before login does not extend the login deadline"
    );
    let short_idle = Duration::from_secs(3);
    assert_eq!(deadline(started, short_idle), started + short_idle);
    assert_eq!(
        deadline(started + Duration::from_secs(2), short_idle),
        started + Duration::from_secs(5)
    );
}

#[test]
fn after_login_only_the_idle_deadline_applies() {
    let started = Instant::now();
    let last_command = started + Duration::from_secs(30);
    assert_eq!(
        silence_deadline(started, last_command, true, IDLE, LOGIN),
        last_command + IDLE
    );
    assert_eq!(
        silence_deadline(started, started, true, IDLE, LOGIN),
        started + IDLE
    );
}

/// The client's end of a control connection served by the real control task.
struct Client {
    stream: TcpStream,
    received: Vec<u8>,
    task: JoinHandle<()>,
    /// When the server started serving (the paused clock has not moved since).
    connected: Instant,
    _temp: tempfile::TempDir,
}

impl Client {
    /// Connects over loopback to `control::serve` with the login and idle timeouts above, and
    /// reads the banner.
    async fn connect() -> Client {
        let (temp, shared) = fixture::server(|config| {
            config.server.login_timeout = LOGIN;
            config.server.idle_timeout = IDLE;
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (stream, accepted) = tokio::join!(
            TcpStream::connect(listener.local_addr().unwrap()),
            listener.accept()
        );
        let (stream, (tcp, peer)) = (stream.unwrap(), accepted.unwrap());
        let admitted = fixture::admit(&shared, peer, tcp.local_addr().unwrap());
        let connected = Instant::now();
        let serving =
            control::serve(shared, tcp, admitted, TlsMode::Explicit).expect("session TLS");
        let task = tokio::spawn(serving);
        let mut client = Client {
            stream,
            received: Vec::new(),
            task,
            connected,
            _temp: temp,
        };
        assert!(client.line().await.unwrap().starts_with("220 "));
        assert_eq!(Instant::now(), connected, "the banner took no time");
        client
    }

    /// The next reply line; `None` once the server closed the connection.
    async fn line(&mut self) -> Option<String> {
        loop {
            if let Some(end) = self.received.windows(2).position(|pair| pair == b"\r\n") {
                let line: Vec<u8> = self.received.drain(..end + 2).collect();
                return Some(String::from_utf8(line[..end].to_vec()).unwrap());
            }
            self.stream.readable().await.unwrap();
            let mut buffer = [0u8; 1024];
            match self.stream.try_read(&mut buffer) {
                Ok(0) => return None,
                Ok(count) => self.received.extend_from_slice(&buffer[..count]),
                Err(error) if error.kind() == ErrorKind::WouldBlock => {}
                Err(error) => panic!("reading the control connection: {error}"),
            }
        }
    }

    async fn command(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.line().await.unwrap()
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// Sleeps on the paused clock until `at`, then checks that the server has neither
    /// replied nor closed.
    async fn still_open_at(&mut self, at: Instant) {
        tokio::time::sleep_until(at).await;
        // Lets the control task run whatever became due, should it wrongly be due.
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        let mut buffer = [0u8; 64];
        match self.stream.try_read(&mut buffer) {
            Err(error) if error.kind() == ErrorKind::WouldBlock => {}
            Ok(0) => panic!("closed before its deadline"),
            other => panic!("unexpected before the deadline: {other:?}"),
        }
        assert!(self.received.is_empty() && !self.task.is_finished());
    }

    /// Waits for the timeout reply, which must come exactly at `deadline`, then for the end
    /// of the connection and of the control task.
    async fn closed_by_timeout_at(mut self, deadline: Instant) {
        assert_eq!(self.line().await.as_deref(), Some(TIMEOUT_REPLY));
        let now = Instant::now();
        // The timer wheel rounds a deadline up to its next millisecond.
        assert!(
            now >= deadline && now - deadline <= JUST_BEFORE,
            "timed out {:?} after connecting, expected {:?}",
            now - self.connected,
            deadline - self.connected
        );
        assert_eq!(self.line().await, None, "the socket closes after the 421");
        self.task.await.unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn a_silent_client_gets_421_at_the_login_timeout() {
    let mut client = Client::connect().await;
    let deadline = client.connected + LOGIN;
    client.still_open_at(deadline - JUST_BEFORE).await;
    client.closed_by_timeout_at(deadline).await;
}

#[tokio::test(start_paused = true)]
async fn a_command_before_login_does_not_extend_the_login_timeout() {
    let mut client = Client::connect().await;
    tokio::time::sleep(LOGIN / 2).await;
    assert!(client.command("USER alice").await.starts_with("331 "));
    let deadline = client.connected + LOGIN;
    client.still_open_at(deadline - JUST_BEFORE).await;
    client.closed_by_timeout_at(deadline).await;
}

#[tokio::test(start_paused = true)]
async fn a_logged_in_client_is_closed_at_the_idle_timeout_and_noop_restarts_it() {
    let mut client = Client::connect().await;
    assert!(client.command("USER alice").await.starts_with("331 "));
    let reply = client.command(&format!("PASS {PASSWORD}")).await;
    assert!(reply.starts_with("230 "), "{reply}");
    let logged_in = Instant::now();
    // Logged in, the login timeout no longer applies.
    client.still_open_at(client.connected + LOGIN * 2).await;
    // A command shortly before the idle deadline moves it.
    client.still_open_at(logged_in + IDLE - LOGIN).await;
    assert!(client.command("NOOP").await.starts_with("200 "));
    let noop = Instant::now();
    client.still_open_at(logged_in + IDLE + LOGIN).await;
    client.still_open_at(noop + IDLE - JUST_BEFORE).await;
    client.closed_by_timeout_at(noop + IDLE).await;
}

#[tokio::test(start_paused = true)]
async fn a_client_trickling_half_a_line_is_cut_at_the_login_timeout() {
    let mut client = Client::connect().await;
    // Slowloris: a byte every second is activity on the socket, but never a command.
    for byte in b"USER aliceeeeeee"
        .iter()
        .take(LOGIN.as_secs() as usize - 1)
    {
        client.send(&[*byte]).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let deadline = client.connected + LOGIN;
    client.still_open_at(deadline - JUST_BEFORE).await;
    client.closed_by_timeout_at(deadline).await;
}
