//! The command line: `serve`, `init`, `check-config`, `reload`, `status`, `session …`,
//! `ban …`, `user …`, `completions SHELL`.
//!
//! Each subcommand returns `Result<(), Failure>`; `Failure` carries the sysexits-style exit
//! code so `systemctl status` tells an admin whether to fix the config (78), the environment
//! (69) or report a bug (70).

mod admin_client;
mod ban;
mod check;
mod failure;
mod first_start;
mod init;
mod invocation;
mod manuals;
mod output;
mod serve;
mod session;
mod status;
mod user;

use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand};

pub use failure::Failure;
pub use invocation::DEFAULT_CONFIG;

/// ferryd: an FTPS and SFTP file server.
///
/// One binary and one TOML config serve FTPS (explicit AUTH TLS and implicit TLS) and SFTP over
/// SSH from one virtual file system and one user database. Run `ferryd init` to create a
/// production setup, or `ferryd serve --config config/quickstart.toml` to try it.
#[derive(Debug, Parser)]
#[command(name = "ferryd", version, about, long_about, max_term_width = 100)]
pub struct Cli {
    /// The config file.
    #[arg(
        long,
        short = 'c',
        global = true,
        env = "FERRYD_CONFIG",
        default_value = DEFAULT_CONFIG
    )]
    pub config: PathBuf,

    /// Log filter overriding `[log] level` (e.g. `debug`, `ferryd=trace,info`).
    #[arg(long, global = true, env = "FERRYD_LOG")]
    pub log_level: Option<String>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server in the foreground (systemd style; it never daemonizes itself).
    ///
    /// Loads and validates the config, creates missing directories, generates a missing TLS
    /// certificate and SSH host keys, binds every listener, then serves until SIGTERM or
    /// SIGINT. SIGHUP reloads the config, the users file and the certificate without
    /// dropping sessions. `reload`, `status`, `session` and `ban` talk to it over its admin
    /// socket, `state_dir/ferryd.sock` (mode 0600; only the daemon's user and root).
    Serve,
    /// Create a production setup: config file, TLS certificate, SSH host keys, users file.
    ///
    /// Refuses to overwrite anything that exists. Without --dir the config goes to --config
    /// and state and data to /var/lib/ferryd; with --dir everything goes below DIR. With
    /// --state-only the config must exist, and only the state it names that is missing is
    /// created (what the Debian package's postinst runs).
    Init(init::InitArgs),
    /// Validate the config and the users file; print every problem with file and line.
    CheckConfig,
    /// Ask the running server to reload its config, users file and certificate, and wait.
    ///
    /// Talks to the daemon over its admin socket (`state_dir/ferryd.sock`) and exits 0 only
    /// when the daemon applied the new configuration; when it refuses, prints its reasons and
    /// exits 78 while the daemon keeps the old configuration. `systemctl reload ferryd` runs
    /// this; SIGHUP still reloads too, but nobody learns the result.
    Reload,
    /// Show the running server: version, uptime, listeners, sessions per protocol, bans.
    ///
    /// Over the admin socket (`state_dir/ferryd.sock`): run as the daemon's user or root.
    Status,
    /// List the running server's sessions, or end some (`session kick ID|--user NAME`).
    ///
    /// Over the admin socket (`state_dir/ferryd.sock`): run as the daemon's user or root.
    #[command(subcommand)]
    Session(session::SessionCommand),
    /// List, add or lift the running server's bans of client addresses.
    ///
    /// Over the admin socket (`state_dir/ferryd.sock`): run as the daemon's user or root.
    /// Bans live in memory: a restart clears them. Adding an address to
    /// `defender.allow_list` and reloading lifts its ban too.
    #[command(subcommand)]
    Ban(ban::BanCommand),
    /// Manage users in the users file (the server need not be running).
    #[command(subcommand)]
    User(user::UserCommand),
    /// Print the shell completion script for SHELL (bash, zsh, fish, elvish, powershell).
    ///
    /// The Debian package installs them; otherwise, e.g. for bash:
    /// `ferryd completions bash > /etc/bash_completion.d/ferryd`.
    Completions(manuals::CompletionsArgs),
    /// Write the man pages (ferryd.1, ferryd-SUBCOMMAND.1) into DIR; the package build ships them.
    #[command(hide = true)]
    Manpage(manuals::ManpageArgs),
    /// Internal: runs hook commands for `serve` outside its sandbox (started by `serve`).
    #[command(hide = true)]
    HookRunner,
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Serve => serve::run(&cli.config, cli.log_level.as_deref()),
        Command::Init(args) => init::run(&cli.config, &args),
        Command::CheckConfig => check::run(&cli.config),
        Command::Reload => status::reload(&cli.config),
        Command::Status => status::status(&cli.config),
        Command::Session(command) => session::run(&cli.config, command),
        Command::Ban(command) => ban::run(&cli.config, command),
        Command::User(command) => user::run(&cli.config, command),
        Command::Completions(args) => manuals::completions(Cli::command(), &args),
        Command::Manpage(args) => manuals::manpage(Cli::command(), &args),
        Command::HookRunner => match crate::hooks::serve_runner(&cli.config) {
            0 => Ok(()),
            code => Err(Failure::new(
                Failure::SOFTWARE,
                anyhow::anyhow!(
                    "hook runner: the daemon sent something it cannot read (code {code})"
                ),
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
