//! `ferryd user add --umask` and `user show`: a per-user umask from the command line.

use assert_cmd::Command;
use predicates::prelude::*;

use crate::harness::daemon::binary;

#[test]
fn a_user_gets_a_umask_from_the_command_line_and_show_prints_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("etc");
    Command::new(binary())
        .args(["init", "--dir"])
        .arg(&root)
        .assert()
        .success();
    let config = root.join("ferryd.toml");
    let ferryd = || {
        let mut command = Command::new(binary());
        command
            .arg("--config")
            .arg(&config)
            .env_remove("FERRYD_CONFIG");
        command
    };
    ferryd()
        .args([
            "user",
            "add",
            "partner",
            "--random-password",
            "--umask",
            "027",
        ])
        .assert()
        .success();
    ferryd()
        .args(["user", "add", "plain", "--random-password"])
        .assert()
        .success();
    ferryd()
        .args(["user", "show", "partner"])
        .assert()
        .success()
        .stdout(predicate::str::contains("umask:       027\n"));
    ferryd()
        .args(["user", "show", "plain"])
        .assert()
        .success()
        .stdout(predicate::str::contains("umask:       022 (server.umask)"));
    ferryd()
        .args(["user", "add", "odd", "--random-password", "--umask", "999"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not a umask"));
}
