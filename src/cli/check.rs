//! `ferryd check-config`: run every check `serve` runs before it serves, report every problem.

use std::path::Path;

use anyhow::anyhow;

use crate::config::Config;
use crate::server::{one_line_chain, preflight};

use super::failure::Failure;
use super::invocation::Invocation;
use super::output;

pub(super) fn run(config_path: &Path) -> Result<(), Failure> {
    let config = match Config::load(config_path) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("{error}");
            return Err(Failure::config(anyhow!("the config file is invalid")));
        }
    };
    let report = preflight(&config);
    let mut out = output::stdout();
    for note in &report.notes {
        writeln!(out, "{note}")?;
    }
    if report.needs_a_user {
        let add = Invocation::new(config_path, &config).command(&["user", "add", "NAME"]);
        writeln!(out, "add a user with:\n  {add}")?;
    }
    if let Some(hint) = firewall_hint(&config) {
        writeln!(out, "firewall: {hint}")?;
    }
    for warning in &report.warnings {
        writeln!(out, "warning: {warning}")?;
    }
    for problem in &report.problems {
        eprintln!("{}", one_line_chain(problem));
    }
    if !report.problems.is_empty() {
        let count = report.problems.len();
        return Err(Failure::config(anyhow!(
            "{count} problem(s) found; `serve` would refuse to start"
        )));
    }
    writeln!(out, "{}: configuration OK", config_path.display())
}

/// Every port that will listen, for the firewall: the control ports, the passive range (which
/// FTPS data connections need as much as port 21) and SFTP; metrics only for the scraper.
fn firewall_hint(config: &Config) -> Option<String> {
    let ftps = &config.ftps;
    let mut open = Vec::new();
    if ftps.enabled {
        for (key, address) in [
            ("ftps.listen", ftps.listen),
            ("ftps.implicit_listen", ftps.implicit_listen),
        ] {
            if let Some(address) = address {
                open.push(format!("{} ({key})", address.port()));
            }
        }
        if !open.is_empty() {
            open.push(format!(
                "{}-{} (ftps.passive_ports)",
                ftps.passive_ports.start(),
                ftps.passive_ports.end()
            ));
        }
    }
    if let Some(address) = config.sftp.listen.filter(|_| config.sftp.enabled) {
        open.push(format!("{} (sftp.listen)", address.port()));
    }
    let metrics = config.metrics.listen.map(|address| {
        format!(
            "; TCP {} (metrics.listen) only to the hosts that scrape it",
            address.port()
        )
    });
    if open.is_empty() && metrics.is_none() {
        return None;
    }
    Some(format!(
        "allow TCP {}{}",
        open.join(", "),
        metrics.unwrap_or_default()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_firewall_hint_lists_every_port_that_listens() {
        let mut config = Config::default();
        config.ftps.listen = Some("0.0.0.0:21".parse().unwrap());
        config.ftps.implicit_listen = Some("0.0.0.0:990".parse().unwrap());
        config.ftps.passive_ports = 50000..=50100;
        config.sftp.listen = Some("0.0.0.0:2222".parse().unwrap());
        config.metrics.listen = Some("127.0.0.1:9100".parse().unwrap());
        let hint = firewall_hint(&config).unwrap();
        for part in [
            "21 (ftps.listen)",
            "990 (ftps.implicit_listen)",
            "50000-50100 (ftps.passive_ports)",
            "2222 (sftp.listen)",
            "9100 (metrics.listen) only to the hosts",
        ] {
            assert!(hint.contains(part), "{part} missing from {hint}");
        }
        config.ftps.enabled = false;
        let hint = firewall_hint(&config).unwrap();
        assert!(!hint.contains("passive"), "{hint}");
    }
}
