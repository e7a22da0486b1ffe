//! `ferryd check-config`: validate everything `serve` would load, report every problem.

use std::path::Path;

use anyhow::anyhow;

use crate::auth::UserDb;
use crate::config::Config;
use crate::server::{certificate, ftps_firewall_note, ftps_setup_warnings, host_keys};

use super::Failure;

pub(super) fn run(config_path: &Path) -> Result<(), Failure> {
    let config = match Config::load(config_path) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("{error}");
            return Err(Failure::config(anyhow!("the config file is invalid")));
        }
    };
    let mut problems = 0usize;
    let mut report = |message: String| {
        eprintln!("{message}");
        problems += 1;
    };
    match UserDb::load(&config.auth.users_file) {
        Ok(users) if users.is_empty() && config.server.bootstrap_user.is_none() => {
            println!(
                "note: {} has no users yet; add one with `ferryd user add NAME`",
                config.auth.users_file.display()
            );
        }
        Ok(users) => println!(
            "{}: {} user(s)",
            config.auth.users_file.display(),
            users.len()
        ),
        Err(error) => report(error.to_string()),
    }
    let ftps = &config.ftps;
    let ftps_on = ftps.enabled && (ftps.listen.is_some() || ftps.implicit_listen.is_some());
    if ftps_on {
        if ftps.cert.exists() || ftps.key.exists() {
            match certificate::load(&ftps.cert, &ftps.key) {
                Ok(tls) => println!("TLS certificate OK (SHA-256 {})", tls.fingerprint()),
                Err(error) => report(format!("TLS certificate: {error}")),
            }
        } else {
            println!(
                "note: {} does not exist yet; a self-signed certificate is generated at start",
                ftps.cert.display()
            );
        }
        println!("firewall: {}", ftps_firewall_note(ftps));
        for warning in ftps_setup_warnings(ftps) {
            println!("warning: {warning}");
        }
    }
    if config.sftp.enabled && config.sftp.listen.is_some() {
        for path in &config.sftp.host_keys {
            if path.exists() {
                match host_keys::load(path) {
                    Ok(key) => println!("{}: {}", path.display(), host_keys::fingerprint(&key)),
                    Err(error) => report(error.to_string()),
                }
            } else {
                println!("note: {} is generated at start", path.display());
            }
        }
    }
    if problems > 0 {
        return Err(Failure::config(anyhow!("{problems} problem(s) found")));
    }
    println!("{}: configuration OK", config_path.display());
    Ok(())
}
