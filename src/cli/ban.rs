//! `ferryd ban list|add|del`: the running daemon's defender bans, over the admin socket.

use std::net::IpAddr;
use std::path::Path;

use clap::{Args, Subcommand};

use crate::config::Config;
use crate::server::admin_protocol::{Request, Response};

use super::admin_client::{ask, done, parse_duration, short_duration, unexpected};
use super::failure::Failure;
use super::output;

/// `ferryd ban …`.
#[derive(Debug, Subcommand)]
pub enum BanCommand {
    /// List banned addresses: address, reason, score, time left.
    List,
    /// Ban an address now (both protocols; FTPS clients get `421`, SFTP a disconnect).
    Add(AddArgs),
    /// Lift an address's ban and forget its score.
    Del(DelArgs),
}

/// `ban add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// The address (IPv6 bans cover its /64).
    pub address: IpAddr,
    /// How long: `90s`, `15m`, `2h`, `7d` (default: `defender.ban_time_secs`).
    #[arg(long = "for", value_name = "DURATION", value_parser = parse_duration)]
    pub duration: Option<std::time::Duration>,
}

/// `ban del`.
#[derive(Debug, Args)]
pub struct DelArgs {
    /// The address.
    pub address: IpAddr,
}

pub(super) fn run(config_path: &Path, command: BanCommand) -> Result<(), Failure> {
    match command {
        BanCommand::List => list(config_path),
        BanCommand::Add(args) => {
            let duration = match args.duration {
                Some(duration) => duration,
                None => {
                    Config::load(config_path)
                        .map_err(Failure::config)?
                        .defender
                        .ban_time
                }
            };
            let request = Request::BanAdd {
                address: args.address,
                seconds: duration.as_secs(),
            };
            let message = done(ask(config_path, &request, Failure::DATA)?)?;
            writeln!(output::stdout(), "{message}")
        }
        BanCommand::Del(args) => {
            let request = Request::BanDel {
                address: args.address,
            };
            let message = done(ask(config_path, &request, Failure::DATA)?)?;
            writeln!(output::stdout(), "{message}")
        }
    }
}

fn list(config_path: &Path) -> Result<(), Failure> {
    let bans = match ask(config_path, &Request::BanList, Failure::SOFTWARE)? {
        Response::Bans { bans } => bans,
        other => return Err(unexpected(&other)),
    };
    let mut out = output::stdout();
    if bans.is_empty() {
        writeln!(out, "no bans")?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<40} {:<15} {:>5} {:>8}",
        "ADDRESS", "REASON", "SCORE", "UNTIL"
    )?;
    for ban in bans {
        writeln!(
            out,
            "{:<40} {:<15} {:>5} {:>8}",
            ban.address,
            ban.reason,
            ban.score,
            format!("+{}", short_duration(ban.remaining_secs))
        )?;
    }
    Ok(())
}
