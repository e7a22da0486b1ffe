//! `ferryd check-config`: validate everything `serve` would load, report every problem.

use std::path::Path;

use anyhow::anyhow;

use crate::auth::UserDb;
use crate::config::{Config, PassiveAddress};
use crate::server::{certificate, host_keys};

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
        let ports = &ftps.passive_ports;
        println!(
            "firewall: open TCP {} for FTPS control and {}-{} for passive data connections",
            [ftps.listen, ftps.implicit_listen]
                .iter()
                .flatten()
                .map(|address| address.port().to_string())
                .collect::<Vec<_>>()
                .join(" and "),
            ports.start(),
            ports.end()
        );
        if let Some(PassiveAddress::Ip(ip)) = &ftps.passive_address {
            if is_private(*ip) {
                println!(
                    "warning: passive_address {ip} is a private address; clients on the internet cannot reach it"
                );
            }
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

fn is_private(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => v4.is_private() || v4.is_loopback() || v4.is_link_local(),
        std::net::IpAddr::V6(v6) => v6.is_loopback() || (v6.segments()[0] & 0xfe00) == 0xfc00,
    }
}
