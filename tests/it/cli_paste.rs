//! Every `ferryd …` command ferryd prints for the user works when pasted into a shell exactly
//! as printed: from another directory, with the config in a path with spaces, and whether or
//! not `ferryd` is on the PATH.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use ferryd::auth::{password, UserDb};

use crate::harness::daemon::{binary, Daemon};

/// A PATH without ferryd on it (unless the machine installed one there).
const SYSTEM_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// `config/quickstart.toml` as shipped, on ephemeral ports.
fn quick_start_config() -> String {
    include_str!("../../config/quickstart.toml")
        .replace("127.0.0.1:2121", "127.0.0.1:0")
        .replace("127.0.0.1:2990", "127.0.0.1:0")
        .replace("127.0.0.1:2222", "127.0.0.1:0")
        .replace(
            "passive_ports = \"52000-52100\"",
            &format!("passive_ports = \"{}\"", crate::harness::passive_ports()),
        )
}

/// A temp dir whose path needs quoting in a shell.
fn awkward_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("ferryd paste 'it' $HOME ")
        .tempdir()
        .unwrap()
}

/// Runs `line` with `sh -c` from `/`, so nothing relies on the working directory.
fn paste(line: &str, path_var: &str) -> Output {
    let output = Command::new("sh")
        .arg("-c")
        .arg(line)
        .current_dir("/")
        .env("PATH", path_var)
        .env_remove("FERRYD_CONFIG")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "pasted {line:?}: {}\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The command on the line after the one containing `intro`, as printed (indented).
fn command_after(text: &str, intro: &str) -> String {
    let mut lines = text.lines();
    lines
        .by_ref()
        .find(|line| line.contains(intro))
        .unwrap_or_else(|| panic!("no {intro:?} in:\n{text}"));
    let line = lines
        .next()
        .unwrap_or_else(|| panic!("nothing after {intro:?}"));
    line.trim().to_owned()
}

fn stored_hash(users_file: &Path, name: &str) -> String {
    let users = UserDb::load(users_file).unwrap();
    let user = users.get(name).unwrap();
    user.password.as_ref().unwrap().as_str().to_owned()
}

/// A ready daemon as in the README: a relative config with relative paths inside, started in
/// an awkward directory, ferryd not on the PATH.
fn quick_start_daemon() -> (tempfile::TempDir, Daemon) {
    let dir = awkward_dir();
    std::fs::write(dir.path().join("quickstart.toml"), quick_start_config()).unwrap();
    let mut daemon = Daemon::spawn_in(
        dir.path(),
        Path::new("quickstart.toml"),
        &[("PATH", SYSTEM_PATH)],
    );
    daemon.wait_for_notification("READY=1", Duration::from_secs(60));
    (dir, daemon)
}

#[test]
fn first_start_password_command_works_pasted_from_anywhere() {
    let (dir, daemon) = quick_start_daemon();
    daemon.wait_for_stdout("user passwd", Duration::from_secs(10));
    let stdout = daemon.stdout();
    let first_password = stdout
        .lines()
        .find_map(|line| line.split("with password: ").nth(1))
        .unwrap()
        .to_owned();
    let line = command_after(&stdout, "To change it, run:");
    assert!(
        line.contains("user passwd ferry --random-password"),
        "{line}"
    );
    if !Path::new("/usr/local/bin/ferryd").exists() && !Path::new("/usr/bin/ferryd").exists() {
        assert!(
            !line.contains("&& ferryd "),
            "ferryd is not on the PATH: {line}"
        );
    }
    let users_file = dir.path().join("state/users.toml");
    let before = stored_hash(&users_file, "ferry");
    assert!(password::verify_password(&before, &first_password));

    let output = paste(&line, SYSTEM_PATH);
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let new_password = text
        .lines()
        .find_map(|line| line.strip_prefix("password: "))
        .unwrap();
    let after = stored_hash(&users_file, "ferry");
    assert_ne!(after, before, "the users file was not changed");
    assert!(password::verify_password(&after, new_password));
    assert!(!password::verify_password(&after, &first_password));

    // The command passwd prints next reaches this very daemon.
    let reload = command_after(&text, "picks this up on reload");
    assert!(reload.ends_with(" reload)"), "{reload}");
    paste(&reload, SYSTEM_PATH);
    daemon.wait_for_log("configuration reloaded", Duration::from_secs(10));

    daemon.signal("TERM");
    let exit = daemon.wait(Duration::from_secs(30));
    assert_eq!(exit.status.code(), Some(0), "stderr:\n{}", exit.stderr);
}

/// A directory whose `ferryd` is this build, as `cargo install` would make it.
fn path_with_ferryd() -> (tempfile::TempDir, String) {
    let bin = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(binary(), bin.path().join("ferryd")).unwrap();
    let path_var = format!("{}:{SYSTEM_PATH}", bin.path().display());
    (bin, path_var)
}

#[test]
fn init_and_user_commands_print_ferryd_when_it_is_on_the_path() {
    let (_bin, path_var) = path_with_ferryd();
    let dir = awkward_dir();
    let root = dir.path().join("etc dir");
    let output = Command::new("ferryd")
        .args(["init", "--dir"])
        .arg(&root)
        .env("PATH", &path_var)
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let add = command_after(&text, "Next, add a user");
    // Absolute paths in the generated config: no `cd`, and the program is the one on the PATH.
    assert!(add.starts_with("ferryd --config '"), "{add}");
    assert!(add.ends_with(" user add NAME --random-password"), "{add}");
    let serve = command_after(&text, "in the foreground");
    assert!(serve.starts_with("ferryd --config '") && serve.ends_with(" serve"));

    paste(&add, &path_var);
    let users_file: PathBuf = root.join("state/users.toml");
    assert!(UserDb::load(&users_file).unwrap().get("NAME").is_some());

    // `user cert add` says how to make the certificate count; that works pasted too.
    let certificate = rcgen::generate_simple_self_signed(vec!["partner".to_owned()]).unwrap();
    let pem = dir.path().join("partner.pem");
    std::fs::write(&pem, certificate.cert.pem()).unwrap();
    let config = root.join("ferryd.toml");
    let output = Command::new(binary())
        .arg("--config")
        .arg(&config)
        .args(["user", "cert", "add", "NAME"])
        .arg(&pem)
        .env("PATH", &path_var)
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let login = command_after(&text, "to use the certificate");
    assert!(login.starts_with("ferryd --config '"), "{login}");
    paste(&login, &path_var);
    let stored = std::fs::read_to_string(&users_file).unwrap();
    assert!(
        stored.contains("tls_client_certificate_login = \"certificate\""),
        "{stored}"
    );
}

#[test]
fn check_config_says_how_to_add_the_first_user_as_a_command_that_works_pasted() {
    let (_bin, path_var) = path_with_ferryd();
    let dir = awkward_dir();
    let root = dir.path().join("etc dir");
    let init = Command::new(binary())
        .args(["init", "--dir"])
        .arg(&root)
        .output()
        .unwrap();
    assert!(init.status.success());
    let config = root.join("ferryd.toml");
    // init's config listens on privileged ports; check-config binds each for a moment.
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("0.0.0.0:21\"", "127.0.0.1:0\"")
        .replace("0.0.0.0:990\"", "127.0.0.1:0\"")
        .replace("0.0.0.0:22\"", "127.0.0.1:0\"");
    std::fs::write(&config, text).unwrap();
    let output = Command::new("ferryd")
        .arg("--config")
        .arg(&config)
        .arg("check-config")
        .env("PATH", &path_var)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let add = command_after(&stdout, "add a user with:");
    assert!(add.starts_with("ferryd --config '"), "{add}");
    paste(&format!("{add} --random-password"), &path_var);
    let users = UserDb::load(&root.join("state/users.toml")).unwrap();
    assert!(users.get("NAME").is_some());
}

#[test]
fn a_mistyped_session_id_points_to_a_session_list_that_works_pasted() {
    let (dir, daemon) = quick_start_daemon();
    let output = Command::new(binary())
        .args(["--config", "quickstart.toml", "session", "kick", "first"])
        .current_dir(dir.path())
        .env("PATH", SYSTEM_PATH)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let list = command_after(&stderr, "the ids are listed by:");
    assert!(list.ends_with(" session list)"), "{list}");
    let listed = paste(&list, SYSTEM_PATH);
    assert!(String::from_utf8_lossy(&listed.stdout).contains("no sessions"));

    daemon.signal("TERM");
    daemon.wait(Duration::from_secs(30));
}
