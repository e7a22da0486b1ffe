//! `ferryd reload` and `ferryd status`: ask the running daemon over its admin socket.

use std::path::Path;

use crate::config::Config;
use crate::server::admin_protocol::{Request, Response};

use super::admin_client::{ask, done, short_duration, unexpected};
use super::failure::Failure;
use super::output;

/// Checks the config here first (so the errors show file and line), then asks the daemon to
/// reload and waits for its verdict: exit 0 only when the daemon applied it.
pub(super) fn reload(config_path: &Path) -> Result<(), Failure> {
    Config::load(config_path).map_err(Failure::config)?;
    let message = done(ask(config_path, &Request::Reload, Failure::CONFIG)?)?;
    writeln!(output::stdout(), "{message}")
}

pub(super) fn status(config_path: &Path) -> Result<(), Failure> {
    let status = match ask(config_path, &Request::Status, Failure::SOFTWARE)? {
        Response::Status(status) => status,
        other => return Err(unexpected(&other)),
    };
    let mut out = output::stdout();
    writeln!(out, "ferryd is running (pid {})", status.pid)?;
    writeln!(out, "version {}", status.version)?;
    writeln!(out, "uptime {}", short_duration(status.uptime_secs))?;
    for (name, address) in &status.listeners {
        writeln!(out, "listener {name}: {address}")?;
    }
    for (protocol, count) in &status.sessions {
        writeln!(out, "sessions {protocol}: {count}")?;
    }
    writeln!(out, "connections: {}", status.connections)?;
    writeln!(out, "bans: {}", status.bans)?;
    Ok(())
}
