//! OpenSSH's `sftp` and `scp` as the tests run them against a test server on 127.0.0.1.

use std::path::Path;

use tokio::process::Command;

/// `program` (`sftp` or `scp`: both take the port as `-P`) set up to log in to 127.0.0.1
/// `port` with `key` alone; the caller adds its own options, the batch and the operands.
///
/// Every test server has a new host key, so none is checked or remembered, and `BatchMode`
/// turns a refused key into a failure instead of a password prompt that would hang the test.
pub fn command(program: &str, port: u16, key: &Path) -> Command {
    command_at_log_level(program, port, key, "ERROR")
}

/// `command` logging at `log_level` (`INFO` shows the server's disconnect reason).
///
/// A separate constructor because OpenSSH keeps the first value given for an option: a later
/// `-o LogLevel=…` from the caller would be ignored.
pub fn command_at_log_level(program: &str, port: u16, key: &Path, log_level: &str) -> Command {
    let mut command = Command::new(program);
    command
        .arg("-i")
        .arg(key)
        .args(["-o", "StrictHostKeyChecking=no"])
        .args(["-o", "UserKnownHostsFile=/dev/null"])
        .args(["-o", "BatchMode=yes"])
        .arg("-o")
        .arg(format!("LogLevel={log_level}"))
        .arg("-P")
        .arg(port.to_string());
    command
}
