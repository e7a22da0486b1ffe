//! The real binary under a fake systemd: readiness, watchdog, reload, stop.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;
use predicates::prelude::*;

use crate::harness::daemon::{binary, Daemon};

/// A config for the real binary with every listener on port 0, and one user.
fn daemon_config(dir: &Path, extra: &str) -> PathBuf {
    let path = dir.join("ferryd.toml");
    std::fs::write(
        &path,
        format!(
            "[server]\ndata_dir = \"{d}/data\"\nstate_dir = \"{d}/state\"\nshutdown_grace_secs = 5\n\
             [ftps]\nlisten = \"127.0.0.1:0\"\nimplicit_listen = \"127.0.0.1:0\"\npassive_ports = \"{ports}\"\n\
             [sftp]\nlisten = \"127.0.0.1:0\"\n{extra}",
            d = dir.display(), ports = crate::harness::passive_ports()
        ),
    )
    .unwrap();
    Command::new(binary())
        .arg("--config")
        .arg(&path)
        .args(["user", "add", "alice", "--password-stdin"])
        .write_stdin("correct horse battery staple\n")
        .assert()
        .success();
    path
}

#[test]
fn ready_is_sent_only_when_every_port_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let config = daemon_config(dir.path(), "");
    let daemon = Daemon::start(&config);
    let addresses = daemon.listening_addresses(3);
    assert_eq!(addresses.len(), 3, "stderr:\n{}", daemon.stderr());
    for address in addresses {
        TcpStream::connect_timeout(&address, Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("{address} does not accept after READY=1: {e}"));
    }
    daemon.signal("TERM");
    assert_eq!(daemon.wait(Duration::from_secs(30)).status.code(), Some(0));
}

#[test]
fn watchdog_is_pinged_when_systemd_asks() {
    let dir = tempfile::tempdir().unwrap();
    let config = daemon_config(dir.path(), "");
    let mut daemon = Daemon::spawn_with_env(&config, &[("WATCHDOG_USEC", "200000")]);
    daemon.wait_for_notification("READY=1", Duration::from_secs(60));
    daemon.wait_for_notification("WATCHDOG=1", Duration::from_secs(10));
    daemon.signal("TERM");
    let exit = daemon.wait(Duration::from_secs(30));
    assert_eq!(exit.status.code(), Some(0));
}

#[test]
fn sighup_and_ferryd_reload_reload_users_and_a_bad_config_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = daemon_config(dir.path(), "");
    let mut daemon = Daemon::start(&config);

    Command::new(binary())
        .arg("--config")
        .arg(&config)
        .args(["user", "add", "bob", "--random-password"])
        .assert()
        .success();
    // `ferryd reload` finds the daemon through its pid file.
    Command::new(binary())
        .arg("--config")
        .arg(&config)
        .arg("reload")
        .assert()
        .success()
        .stdout(predicate::str::contains("configuration reloaded"));
    daemon.wait_for_notification("RELOADING=1", Duration::from_secs(10));
    daemon.wait_for_notification("READY=1", Duration::from_secs(10));
    daemon.wait_for_log("users=2", Duration::from_secs(10));

    // A broken config: `ferryd reload` says so without signalling; a raw SIGHUP is refused by
    // the daemon, which keeps serving with the old configuration.
    let good = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, good.clone() + "[log]\nlevel = \"=bad\"\n").unwrap();
    Command::new(binary())
        .arg("--config")
        .arg(&config)
        .arg("reload")
        .assert()
        .code(78)
        .stderr(predicate::str::contains("log.level"));
    daemon.signal("HUP");
    daemon.wait_for_notification("RELOADING=1", Duration::from_secs(10));
    daemon.wait_for_notification("READY=1", Duration::from_secs(10));
    daemon.wait_for_log("reload refused", Duration::from_secs(10));
    std::fs::write(&config, good).unwrap();

    Command::new(binary())
        .arg("--config")
        .arg(&config)
        .arg("status")
        .assert()
        .success()
        .stdout(predicate::str::contains(format!("pid {}", daemon.pid())));

    daemon.signal("TERM");
    daemon.wait_for_notification("STOPPING=1", Duration::from_secs(10));
    assert_eq!(daemon.wait(Duration::from_secs(30)).status.code(), Some(0));
    assert!(
        !dir.path().join("state/ferryd.pid").exists(),
        "pid file removed on stop"
    );
    Command::new(binary())
        .arg("--config")
        .arg(&config)
        .arg("reload")
        .assert()
        .code(69);
}

#[test]
fn port_in_use_exits_69_with_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ferryd.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\ndata_dir = \"{d}/data\"\nstate_dir = \"{d}/state\"\n[ftps]\nenabled = false\n\
             [sftp]\nlisten = \"{a}\"\n",
            d = dir.path().display(),
            a = taken.local_addr().unwrap()
        ),
    )
    .unwrap();
    Command::new(binary())
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .timeout(Duration::from_secs(60))
        .assert()
        .code(69)
        .stderr(predicate::str::contains(
            taken.local_addr().unwrap().to_string(),
        ));
}

#[test]
fn under_journald_lines_carry_priorities_and_no_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let config = daemon_config(dir.path(), "");
    let mut daemon = Daemon::spawn_with_env(&config, &[("JOURNAL_STREAM", "8:12345")]);
    daemon.wait_for_notification("READY=1", Duration::from_secs(60));
    let listening = daemon.wait_for_log(" listening ", Duration::from_secs(10));
    assert!(listening.starts_with("<6>"), "{listening}");
    assert!(
        !listening.contains("2026-") && !listening.contains('\u{1b}'),
        "{listening}"
    );
    daemon.signal("TERM");
    daemon.wait(Duration::from_secs(30));
}

#[test]
fn json_logs_are_one_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = daemon_config(dir.path(), "[log]\nformat = \"json\"\n");
    let daemon = Daemon::start(&config);
    let line = daemon.wait_for_log("listening", Duration::from_secs(10));
    assert!(line.starts_with('{') && line.ends_with('}'), "{line}");
    assert!(line.contains("\"level\":\"INFO\""), "{line}");
    daemon.signal("TERM");
    daemon.wait(Duration::from_secs(30));
}

/// "Max open files" soft and hard limits of a process, from /proc.
fn open_file_limits(pid: u32) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .unwrap()
        .to_owned();
    let fields: Vec<&str> = line.split_whitespace().collect();
    (fields[3].to_owned(), fields[4].to_owned())
}

#[test]
fn the_soft_open_file_limit_is_raised_to_the_hard_limit() {
    let dir = tempfile::tempdir().unwrap();
    let config = daemon_config(dir.path(), "");
    let daemon = Daemon::start_with_soft_file_limit(&config, 256);
    let (soft, hard) = open_file_limits(daemon.pid());
    assert_eq!(soft, hard, "{}", daemon.stderr());
    if hard != "256" {
        assert!(
            daemon
                .stderr()
                .contains("open-file limit raised to the hard limit"),
            "{}",
            daemon.stderr()
        );
    }
}
