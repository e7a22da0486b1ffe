//! What the Debian package ships from the clap definitions: `ferryd completions SHELL` and the
//! man pages of `ferryd manpage DIR`; and `init --state-only`, which its postinst runs.

use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;

use crate::harness::daemon::binary;

/// Every subcommand a user can run; the hidden ones must appear nowhere.
const VISIBLE: &[&str] = &[
    "serve",
    "init",
    "check-config",
    "reload",
    "status",
    "session",
    "ban",
    "user",
    "completions",
];
const HIDDEN: &[&str] = &["hook-runner", "manpage"];

fn completions(shell: &str) -> String {
    let output = Command::new(binary())
        .args(["completions", shell])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    String::from_utf8(output).unwrap()
}

#[test]
fn completions_for_bash_zsh_and_fish_name_every_visible_subcommand_and_no_hidden_one() {
    for shell in ["bash", "zsh", "fish"] {
        let script = completions(shell);
        assert!(script.contains("ferryd"), "{shell}: no program name");
        for subcommand in VISIBLE {
            assert!(script.contains(subcommand), "{shell}: lacks {subcommand}");
        }
        for hidden in HIDDEN {
            assert!(!script.contains(hidden), "{shell}: offers hidden {hidden}");
        }
        // Nested subcommands and global options are completed too.
        for nested in ["passwd", "--config"] {
            assert!(script.contains(nested), "{shell}: lacks {nested}");
        }
    }
    assert!(completions("bash").contains("complete -F _ferryd"));
    assert!(completions("zsh").starts_with("#compdef ferryd"));
}

#[test]
fn an_unknown_shell_is_a_usage_error() {
    Command::new(binary())
        .args(["completions", "tcsh"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("possible values"));
}

#[test]
fn manpage_writes_a_page_per_visible_subcommand_and_none_for_hidden_ones() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("man1");
    Command::new(binary())
        .arg("manpage")
        .arg(&out)
        .assert()
        .success();
    let page = std::fs::read_to_string(out.join("ferryd.1")).unwrap();
    assert!(page.starts_with(".ie \\n(.g .ds Aq"), "not roff:\n{page}");
    assert!(page.contains(".TH ferryd 1"), "no title:\n{page}");
    for subcommand in VISIBLE {
        // roff writes every hyphen as `\-`.
        let reference = format!("ferryd-{subcommand}(1)").replace('-', "\\-");
        assert!(
            page.contains(&reference),
            "ferryd.1 does not refer to ferryd-{subcommand}(1)"
        );
        assert!(
            out.join(format!("ferryd-{subcommand}.1")).is_file(),
            "no page for {subcommand}"
        );
    }
    for hidden in HIDDEN {
        assert!(!page.contains(hidden), "ferryd.1 mentions {hidden}");
        assert!(!out.join(format!("ferryd-{hidden}.1")).exists());
    }
    let user_add = std::fs::read_to_string(out.join("ferryd-user-add.1")).unwrap();
    assert!(user_add.contains("random\\-password"), "{user_add}");
}

#[test]
fn init_state_only_completes_the_state_next_to_an_existing_config_and_keeps_what_exists() {
    let dir = tempfile::tempdir().unwrap();
    let lib = dir.path().join("lib");
    let config = dir.path().join("ferryd.toml");
    let reference =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/ferryd.toml"))
            .unwrap();
    let text = reference.replace("/var/lib/ferryd", &lib.display().to_string());
    std::fs::write(&config, &text).unwrap();
    let state_only = || {
        let mut command = Command::new(binary());
        command
            .arg("--config")
            .arg(&config)
            .args(["init", "--state-only"])
            .env_remove("FERRYD_CONFIG");
        command
    };

    state_only()
        .assert()
        .success()
        .stdout(predicate::str::contains("SHA256:"));
    let state = lib.join("state");
    for file in [
        "ftps-cert.pem",
        "ftps-key.pem",
        "ssh_host_ed25519_key",
        "ssh_host_ecdsa_key",
        "users.toml",
    ] {
        assert!(state.join(file).is_file(), "{file} missing");
    }
    assert!(lib.join("data").is_dir());
    assert_eq!(std::fs::read_to_string(&config).unwrap(), text);

    // A second run keeps every file; a lost host key comes back alone.
    let cert = std::fs::read(state.join("ftps-cert.pem")).unwrap();
    std::fs::remove_file(state.join("ssh_host_ecdsa_key")).unwrap();
    state_only()
        .assert()
        .success()
        .stdout(predicate::str::contains("ssh_host_ecdsa_key"))
        .stdout(predicate::str::contains("ftps-cert.pem").not());
    assert_eq!(std::fs::read(state.join("ftps-cert.pem")).unwrap(), cert);
    assert!(state.join("ssh_host_ecdsa_key").is_file());

    // Half a certificate pair is the admin's to sort out, not to be papered over.
    std::fs::remove_file(state.join("ftps-key.pem")).unwrap();
    state_only()
        .assert()
        .code(78)
        .stderr(predicate::str::contains("ftps-key.pem is missing"));
    assert_eq!(std::fs::read(state.join("ftps-cert.pem")).unwrap(), cert);

    // Without a config there is nothing to complete.
    std::fs::remove_file(&config).unwrap();
    state_only().assert().code(78);
}
