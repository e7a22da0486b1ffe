//! `ferryd session list|kick`: the running daemon's logged-in sessions, over the admin socket.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{Args, Subcommand};

use crate::config::Config;
use crate::server::admin_protocol::{Request, Response};

use super::admin_client::{ask, done, short_duration, unexpected};
use super::failure::Failure;
use super::invocation::Invocation;
use super::output;

/// `ferryd session …`.
#[derive(Debug, Subcommand)]
pub enum SessionCommand {
    /// List logged-in sessions: id, user, protocol, client address, login time, running
    /// transfer and its bytes so far.
    List,
    /// End sessions cleanly: the client is told why (FTPS `421`, SSH disconnect), a running
    /// upload is discarded, and the kick is logged.
    Kick(KickArgs),
}

/// Which sessions to end.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("whom").required(true).args(["id", "user"])))]
pub struct KickArgs {
    /// The session id from `ferryd session list` (`c12` or `12`).
    pub id: Option<String>,
    /// End every session of this user instead.
    #[arg(long)]
    pub user: Option<String>,
}

pub(super) fn run(config_path: &Path, command: SessionCommand) -> Result<(), Failure> {
    match command {
        SessionCommand::List => list(config_path),
        SessionCommand::Kick(args) => {
            let id = match &args.id {
                Some(text) => Some(text.trim_start_matches('c').parse::<u64>().map_err(|_| {
                    Failure::new(
                        Failure::USAGE,
                        anyhow::anyhow!(
                            "{text:?} is not a session id; the ids are listed by:\n  {}",
                            pasteable(config_path, &["session", "list"])
                        ),
                    )
                })?),
                None => None,
            };
            let request = Request::SessionKick {
                id,
                user: args.user,
            };
            let message = done(ask(config_path, &request, Failure::DATA)?)?;
            writeln!(output::stdout(), "{message}")
        }
    }
}

/// `args` as a command that works pasted; with an unreadable config, the bare command.
fn pasteable(config_path: &Path, args: &[&str]) -> String {
    match Config::load(config_path) {
        Ok(config) => Invocation::new(config_path, &config).command(args),
        Err(_) => format!("ferryd {}", args.join(" ")),
    }
}

fn list(config_path: &Path) -> Result<(), Failure> {
    let sessions = match ask(config_path, &Request::SessionList, Failure::SOFTWARE)? {
        Response::Sessions { sessions } => sessions,
        other => return Err(unexpected(&other)),
    };
    let mut out = output::stdout();
    if sessions.is_empty() {
        writeln!(out, "no sessions")?;
        return Ok(());
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    writeln!(
        out,
        "{:<8} {:<16} {:<8} {:<24} {:>10}  TRANSFER (BYTES)",
        "ID", "USER", "PROTOCOL", "CLIENT", "SINCE"
    )?;
    for session in sessions {
        let transfer = match &session.transfer {
            Some(what) => format!("{what} ({})", session.bytes),
            None => "-".to_owned(),
        };
        writeln!(
            out,
            "{:<8} {:<16} {:<8} {:<24} {:>10}  {transfer}",
            format!("c{}", session.id),
            session.user,
            session.protocol,
            session.client,
            format!(
                "{} ago",
                short_duration(now.saturating_sub(session.since_unix))
            ),
        )?;
    }
    Ok(())
}
