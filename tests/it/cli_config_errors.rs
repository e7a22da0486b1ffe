//! `ferryd check-config` on files with a wrong type: one line per problem naming the file, line,
//! dotted key, what was expected and what was found; exit code 78 (EX_CONFIG).

use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;

use crate::harness::daemon::binary;

fn check_config(config: &Path) -> assert_cmd::assert::Assert {
    Command::new(binary())
        .arg("--config")
        .arg(config)
        .env_remove("FERRYD_CONFIG")
        .arg("check-config")
        .assert()
}

#[test]
fn a_wrong_type_in_the_config_names_key_expectation_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ferryd.toml");
    let quickstart = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("config/quickstart.toml"),
    )
    .unwrap();
    let text = quickstart.replacen("[server]\n", "[server]\nmax_connections = \"many\"\n", 1);
    let line = text
        .lines()
        .position(|line| line.starts_with("max_connections"))
        .unwrap()
        + 1;
    std::fs::write(&config, text).unwrap();
    let expected = format!(
        "{}:{line}:19: server.max_connections: expected an integer, found string \"many\"",
        config.display()
    );
    check_config(&config)
        .code(78)
        .stderr(predicate::str::contains(expected))
        .stderr(predicate::str::contains("i64").not());
}

#[test]
fn a_wrong_type_in_the_users_file_names_the_user_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("etc");
    Command::new(binary())
        .args(["init", "--dir"])
        .arg(&root)
        .assert()
        .success();
    let users_file = root.join("state/users.toml");
    std::fs::write(
        &users_file,
        "[[user]]\nname = \"ok\"\n\n[[user]]\nname = \"partner\"\nquota_bytes = \"lots\"\n",
    )
    .unwrap();
    let expected = format!(
        "{}:6:15: user \"partner\": quota_bytes: expected an integer, found string \"lots\"",
        users_file.display()
    );
    check_config(&root.join("ferryd.toml"))
        .code(78)
        .stderr(predicate::str::contains(expected));
}
