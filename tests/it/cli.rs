//! The command line, run as a user would: `init`, `user …`, `check-config`, `serve`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use assert_cmd::Command;
use predicates::prelude::*;

use crate::harness::daemon::{binary, Daemon};

fn ferryd(config: &Path) -> Command {
    let mut command = Command::new(binary());
    command
        .arg("--config")
        .arg(config)
        .env_remove("FERRYD_CONFIG");
    command
}

/// A self-contained `ferryd init --dir` setup; returns (temp dir, config path).
fn initialised() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("etc");
    Command::new(binary())
        .args(["init", "--dir"])
        .arg(&root)
        .args(["--name", "ftp.example.com"])
        .assert()
        .success()
        .stdout(predicate::str::contains("SHA256:"));
    let config = root.join("ferryd.toml");
    // check-config binds every listener as serve would: the production ports (21, 990, 22)
    // need root and may be taken on a build machine, so the tests listen on free ports.
    let text = std::fs::read_to_string(&config).unwrap();
    let text = ["0.0.0.0:21", "0.0.0.0:990", "0.0.0.0:22"]
        .iter()
        .fold(text, |text, address| {
            text.replace(&format!("\"{address}\""), "\"127.0.0.1:0\"")
        });
    std::fs::write(&config, text).unwrap();
    (dir, config)
}

fn test_key_line() -> String {
    let key = russh::keys::PrivateKey::random(
        &mut russh::keys::key::safe_rng(),
        russh::keys::Algorithm::Ed25519,
    )
    .unwrap();
    key.public_key().to_openssh().unwrap() + " ci@example"
}

#[test]
fn version_is_printed() {
    Command::new(binary())
        .arg("--version")
        .assert()
        .success()
        .stdout(predicate::str::starts_with("ferryd "));
}

#[test]
fn init_writes_a_valid_production_setup_and_refuses_to_overwrite() {
    let (dir, config) = initialised();
    let root = dir.path().join("etc");
    for file in [
        "ferryd.toml",
        "state/ftps-cert.pem",
        "state/ftps-key.pem",
        "state/ssh_host_ed25519_key",
        "state/ssh_host_ecdsa_key",
        "state/users.toml",
    ] {
        assert!(root.join(file).is_file(), "{file} missing");
    }
    assert!(!root.join("state/ssh_host_rsa_key").exists());
    use std::os::unix::fs::PermissionsExt;
    for secret in [
        "state/ftps-key.pem",
        "state/ssh_host_ed25519_key",
        "state/users.toml",
    ] {
        let mode = std::fs::metadata(root.join(secret))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{secret} is readable by others");
    }
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains(&format!("data_dir = \"{}\"", root.join("data").display())));
    assert!(
        !text.contains("bootstrap_user = \"ferry\""),
        "production config must not bootstrap"
    );

    ferryd(&config)
        .arg("check-config")
        .assert()
        .success()
        .stdout(predicate::str::contains("configuration OK"))
        .stdout(predicate::str::contains("firewall"));

    Command::new(binary())
        .args(["init", "--dir"])
        .arg(&root)
        .assert()
        .code(73)
        .stderr(predicate::str::contains("refusing to overwrite"));
}

#[test]
fn user_lifecycle_add_list_show_key_passwd_del() {
    let (dir, config) = initialised();
    let users_file = dir.path().join("etc/state/users.toml");

    let output = ferryd(&config)
        .args(["user", "add", "alice", "--random-password"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let output = String::from_utf8(output).unwrap();
    let password = output
        .lines()
        .find_map(|line| line.strip_prefix("password: "))
        .expect("random password printed");
    assert!(password.len() >= 16);
    let stored = std::fs::read_to_string(&users_file).unwrap();
    assert!(stored.contains("$argon2id$"));
    assert!(
        !stored.contains(password),
        "the password itself must not be stored"
    );

    ferryd(&config)
        .args([
            "user",
            "add",
            "ci",
            "--password-stdin",
            "--protocol",
            "sftp",
        ])
        .write_stdin("s3cret-from-stdin\n")
        .assert()
        .success();
    ferryd(&config)
        .args(["user", "add", "alice", "--random-password"])
        .assert()
        .code(65)
        .stderr(predicate::str::contains("already exists"));
    ferryd(&config)
        .args(["user", "add", "-bad name", "--random-password"])
        .assert()
        .failure();
    ferryd(&config)
        .args(["user", "add", "nokey"])
        .assert()
        .code(64)
        .stderr(predicate::str::contains("cannot log in"));

    ferryd(&config)
        .args(["user", "list"])
        .assert()
        .success()
        .stdout(predicate::str::contains("alice").and(predicate::str::contains("ci")))
        .stdout(predicate::str::contains("sftp"));

    let key = test_key_line();
    let added = ferryd(&config)
        .args(["user", "key", "add", "alice", &key])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let added = String::from_utf8(added).unwrap();
    let fingerprint = added
        .split_whitespace()
        .find(|word| word.starts_with("SHA256:"))
        .unwrap()
        .to_owned();
    ferryd(&config)
        .args(["user", "key", "add", "alice", "ssh-ed25519 not-base64"])
        .assert()
        .code(65);
    ferryd(&config)
        .args(["user", "show", "alice"])
        .assert()
        .success()
        .stdout(predicate::str::contains(fingerprint.as_str()))
        .stdout(predicate::str::contains("argon2").not());

    ferryd(&config)
        .args(["user", "passwd", "alice", "--password-stdin"])
        .write_stdin("another password\n")
        .assert()
        .success();
    let before = std::fs::read_to_string(&users_file).unwrap();
    ferryd(&config)
        .args(["user", "key", "del", "alice", &fingerprint])
        .assert()
        .success();
    let after = std::fs::read_to_string(&users_file).unwrap();
    assert_ne!(before, after);
    assert!(!after.contains(key.split_whitespace().nth(1).unwrap()));

    ferryd(&config)
        .args(["user", "del", "ci"])
        .assert()
        .success();
    ferryd(&config)
        .args(["user", "list"])
        .assert()
        .success()
        .stdout(predicate::str::contains("ci ").not());
    ferryd(&config)
        .args(["user", "del", "ghost"])
        .assert()
        .code(65);
}

/// Runs `ferryd --config CONFIG ARGS` with `stdin`, its standard output a pipe whose reader has
/// gone before the first line (a `| grep -q` that already matched, a `| true`); how it exited
/// and its stderr.
fn run_with_stdout_closed(config: &Path, args: &[&str], stdin: &str) -> (ExitStatus, String) {
    let mut child = std::process::Command::new(binary())
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("FERRYD_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    // Only now the password: whatever ferryd prints comes after it.
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).unwrap();
    drop(input);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status, stderr)
}

#[test]
fn user_commands_whose_reader_went_away_still_do_their_work_without_a_panic() {
    let (dir, config) = initialised();
    let users_file = dir.path().join("etc/state/users.toml");
    let added = |name: &str| {
        let text = std::fs::read_to_string(&users_file).unwrap();
        text.contains(&format!("name = \"{name}\""))
    };
    let runs: [(&[&str], &str); 4] = [
        (
            &["user", "add", "bob", "--password-stdin"],
            "correct horse battery staple\n",
        ),
        // Prints the generated password before the users file is saved.
        (&["user", "add", "carol", "--random-password"], ""),
        (&["user", "list"], ""),
        (&["completions", "bash"], ""),
    ];
    for (args, stdin) in runs {
        let (status, stderr) = run_with_stdout_closed(&config, args, stdin);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(status.success(), "{args:?}: {status}\n{stderr}");
    }
    assert!(added("bob") && added("carol"));
}

#[test]
fn check_config_reports_every_problem_with_line_and_exits_78() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(
        &config,
        "[server]\nmax_connections = 0\n\n[ftps]\nlisten = \"nowhere\"\npassive_ports = \"9-1\"\n",
    )
    .unwrap();
    ferryd(&config)
        .arg("check-config")
        .assert()
        .code(78)
        .stderr(predicate::str::contains(
            "bad.toml:2:1: server.max_connections",
        ))
        .stderr(predicate::str::contains("bad.toml:5:1: ftps.listen"))
        .stderr(predicate::str::contains("bad.toml:6:1: ftps.passive_ports"));

    std::fs::write(&config, "[server]\nmax_conections = 5\n").unwrap();
    ferryd(&config)
        .arg("check-config")
        .assert()
        .code(78)
        .stderr(predicate::str::contains("max_conections"))
        .stderr(predicate::str::contains("bad.toml:2"));
}

#[test]
fn check_config_reports_a_broken_users_file() {
    let (dir, config) = initialised();
    let users_file = dir.path().join("etc/state/users.toml");
    std::fs::write(
        &users_file,
        "[[user]]\nname = \"ok\"\n\n[[user]]\nname = \"bad name\"\nfoo = 1\n",
    )
    .unwrap();
    ferryd(&config)
        .arg("check-config")
        .assert()
        .code(78)
        .stderr(predicate::str::contains("users.toml"));
}

#[test]
fn serve_with_a_missing_config_file_exits_78() {
    ferryd(Path::new("/nonexistent/ferryd.toml"))
        .arg("serve")
        .assert()
        .code(78)
        .stderr(predicate::str::contains("/nonexistent/ferryd.toml"));
}

#[test]
fn serve_first_start_generates_material_creates_bootstrap_user_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("quick.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\ndata_dir = \"{d}/data\"\nstate_dir = \"{d}/state\"\nbootstrap_user = \"ferry\"\n\
             [ftps]\nlisten = \"127.0.0.1:0\"\nimplicit_listen = \"127.0.0.1:0\"\n\
             [sftp]\nlisten = \"127.0.0.1:0\"\n",
            d = dir.path().display()
        ),
    )
    .unwrap();
    let daemon = Daemon::start(&config);
    let state = dir.path().join("state");
    for file in [
        "ftps-cert.pem",
        "ftps-key.pem",
        "ssh_host_ed25519_key",
        "ssh_host_ecdsa_key",
    ] {
        assert!(state.join(file).is_file(), "{file} not generated");
    }
    let users = std::fs::read_to_string(state.join("users.toml")).unwrap();
    assert!(users.contains("name = \"ferry\""));
    assert!(dir.path().join("data").is_dir());
    daemon.wait_for_stdout(
        "Created user \"ferry\" with password: ",
        Duration::from_secs(10),
    );
    daemon.wait_for_log("SHA256:", Duration::from_secs(10));

    daemon.signal("TERM");
    let exit = daemon.wait(Duration::from_secs(30));
    assert_eq!(exit.status.code(), Some(0), "stderr:\n{}", exit.stderr);

    // Second start: nothing regenerated, no new bootstrap user.
    let cert = std::fs::read(state.join("ftps-cert.pem")).unwrap();
    let daemon = Daemon::start(&config);
    assert!(!daemon.stdout().contains("Created user"));
    daemon.signal("INT");
    assert_eq!(daemon.wait(Duration::from_secs(30)).status.code(), Some(0));
    assert_eq!(std::fs::read(state.join("ftps-cert.pem")).unwrap(), cert);
}

#[test]
fn systemd_unit_passes_systemd_analyze_verify() {
    let Ok(output) = std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output()
    else {
        crate::harness::skip("systemd-analyze is not installed; the unit file was not verified");
        return;
    };
    assert!(output.status.success());
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("config/ferryd.service"),
    )
    .unwrap();
    for required in [
        "Type=notify",
        "ExecReload=/usr/local/bin/ferryd --config /etc/ferryd/ferryd.toml reload",
        "AmbientCapabilities=CAP_NET_BIND_SERVICE",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "WatchdogSec=",
    ] {
        assert!(unit.contains(required), "unit lacks {required}");
    }
    // verify checks that ExecStart exists, so point it at the binary under test.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ferryd.service");
    std::fs::write(&path, unit.replace("/usr/local/bin/ferryd", binary())).unwrap();
    let verify = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&verify.stderr);
    assert!(
        verify.status.success() && stderr.trim().is_empty(),
        "{stderr}"
    );
}

#[test]
fn check_config_warns_about_a_private_passive_address() {
    let (dir, config) = initialised();
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("passive_address = \"\"", "passive_address = \"10.0.0.5\""),
    )
    .unwrap();
    ferryd(&config)
        .arg("check-config")
        .assert()
        .success()
        .stdout(predicate::str::contains("10.0.0.5 is a private address"))
        .stdout(predicate::str::contains("50000-50100 (ftps.passive_ports)"));
    drop(dir);
}

#[test]
fn user_cert_pins_certificates_from_files_or_fingerprints_and_sets_the_login() {
    let (dir, config) = initialised();
    let users_file = dir.path().join("etc/state/users.toml");
    let first = rcgen::generate_simple_self_signed(vec!["partner".to_owned()]).unwrap();
    let second = rcgen::generate_simple_self_signed(vec!["partner-2".to_owned()]).unwrap();
    let first_pem = dir.path().join("partner.pem");
    std::fs::write(&first_pem, first.cert.pem()).unwrap();
    let first_pem = first_pem.to_str().unwrap();
    let first_fingerprint =
        ferryd::auth::CertificateFingerprint::of_der(first.cert.der()).to_string();
    let second_fingerprint = ferryd::auth::CertificateFingerprint::of_der(second.cert.der());
    // The way `openssl x509 -fingerprint -sha256` prints it.
    let second_openssl = second_fingerprint
        .to_string()
        .replace("sha256:", "sha256 Fingerprint=");

    // A certificate-only user needs no password.
    ferryd(&config)
        .args([
            "user",
            "add",
            "partner",
            "--protocol",
            "ftps",
            "--cert",
            first_pem,
        ])
        .args(["--cert-login", "certificate"])
        .assert()
        .success();
    let stored = std::fs::read_to_string(&users_file).unwrap();
    assert!(stored.contains(&first_fingerprint), "{stored}");
    assert!(stored.contains("tls_client_certificate_login = \"certificate\""));
    ferryd(&config)
        .args(["user", "cert", "add", "partner", &second_openssl])
        .assert()
        .success()
        .stdout(predicate::str::contains(second_fingerprint.to_string()));
    ferryd(&config)
        .args(["user", "cert", "list", "partner"])
        .assert()
        .success()
        .stdout(predicate::str::contains("login: certificate"))
        .stdout(predicate::str::contains(first_fingerprint.as_str()))
        .stdout(predicate::str::contains(second_fingerprint.to_string()));
    ferryd(&config)
        .args(["user", "show", "partner"])
        .assert()
        .success()
        .stdout(predicate::str::contains("cert login:  certificate"))
        .stdout(predicate::str::contains(first_fingerprint.as_str()));

    ferryd(&config)
        .args(["user", "cert", "add", "partner", first_pem])
        .assert()
        .code(65)
        .stderr(predicate::str::contains("already has client certificate"));
    ferryd(&config)
        .args(["user", "cert", "add", "partner", "/nonexistent/partner.pem"])
        .assert()
        .code(65)
        .stderr(predicate::str::contains("neither a certificate file"));
    let not_a_certificate = dir.path().join("garbage.pem");
    std::fs::write(
        &not_a_certificate,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    ferryd(&config)
        .args(["user", "cert", "add", "partner"])
        .arg(&not_a_certificate)
        .assert()
        .code(65)
        .stderr(predicate::str::contains("not an X.509 certificate"));
    ferryd(&config)
        .args(["user", "cert", "login", "partner", "sometimes"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("certificate_and_password"));

    let second_pin = second_fingerprint.to_string();
    ferryd(&config)
        .args(["user", "cert", "del", "partner", first_pem])
        .assert()
        .success();
    // The last pin of a certificate-only user stays until the login mode changes.
    ferryd(&config)
        .args(["user", "cert", "del", "partner", &second_pin])
        .assert()
        .code(65)
        .stderr(predicate::str::contains("needs at least one fingerprint"));
    ferryd(&config)
        .args(["user", "cert", "login", "partner", "password"])
        .assert()
        .success();
    ferryd(&config)
        .args(["user", "cert", "del", "partner", &second_pin])
        .assert()
        .success();
    let stored = std::fs::read_to_string(&users_file).unwrap();
    assert!(!stored.contains("tls_client"), "{stored}");

    ferryd(&config)
        .args(["user", "add", "nocert", "--cert-login", "certificate"])
        .assert()
        .code(65)
        .stderr(predicate::str::contains("needs at least one fingerprint"));
    ferryd(&config).arg("check-config").assert().success();
}

#[test]
fn a_user_on_object_storage_is_added_shown_and_checked() {
    let (dir, config) = initialised();
    let users_file = dir.path().join("etc/state/users.toml");
    ferryd(&config)
        .args(["user", "add", "ci", "--random-password", "--bucket", "x"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--storage"));
    ferryd(&config)
        .args(["user", "add", "ci", "--random-password", "--storage", "s3"])
        .args(["--bucket", "Bad_Bucket"])
        .assert()
        .code(65)
        .stderr(predicate::str::contains("bucket"));
    ferryd(&config)
        .args(["user", "add", "ci", "--random-password", "--storage", "s3"])
        .args(["--bucket", "artifacts", "--prefix", "ci/uploads"])
        .assert()
        .success()
        .stdout(predicate::str::contains("s3://artifacts/ci/uploads"));
    let stored = std::fs::read_to_string(&users_file).unwrap();
    for line in [
        "storage = \"s3\"",
        "bucket = \"artifacts\"",
        "prefix = \"ci/uploads\"",
    ] {
        assert!(stored.contains(line), "{line} missing in:\n{stored}");
    }
    ferryd(&config)
        .args(["user", "show", "ci"])
        .assert()
        .success()
        .stdout(predicate::str::contains("s3://artifacts/ci/uploads"));
    // No credentials anywhere: check-config says so before serve would.
    ferryd(&config)
        .arg("check-config")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .assert()
        .failure()
        .stderr(predicate::str::contains("AWS_ACCESS_KEY_ID is not set"));
    ferryd(&config)
        .arg("check-config")
        .env("AWS_ACCESS_KEY_ID", "GK0123")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .assert()
        .success()
        .stdout(predicate::str::contains("object storage: bucket artifacts"));
}
