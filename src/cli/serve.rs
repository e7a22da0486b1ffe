//! `ferryd serve`: load the config, hand it to `server::lifecycle`, map its errors to exit
//! codes, and print the first-start help on the terminal.

use std::path::Path;

use crate::config::Config;
use crate::logging;
use crate::server::lifecycle::{self, DaemonError};
use crate::server::{SandboxError, StartError};

use super::failure::Failure;
use super::first_start;
use super::invocation::Invocation;

pub(super) fn run(config_path: &Path, log_level: Option<&str>) -> Result<(), Failure> {
    let config = Config::load(config_path).map_err(Failure::config)?;
    // Before the sandbox, which may hide the PATH's directories.
    let invocation = Invocation::new(config_path, &config);
    logging::init(&config.log, log_level).map_err(Failure::config)?;
    let confined = lifecycle::confine(config).map_err(daemon_failure)?;
    let runtime = confined.runtime().map_err(daemon_failure)?;
    runtime.block_on(async {
        let daemon = confined.start().await.map_err(daemon_failure)?;
        if let Some(user) = daemon.server().bootstrap_user() {
            let addresses = daemon.server().addresses();
            // The daemon already serves: a terminal that cannot show the help is no reason
            // to stop it, and the password itself never goes to the log.
            if let Err(failure) = first_start::print_help(user, addresses, &invocation) {
                tracing::warn!(error = %failure.error, "could not print the first-start help");
            }
        }
        daemon.run().await;
        Ok(())
    })
}

fn daemon_failure(error: DaemonError) -> Failure {
    match error {
        DaemonError::Start(error) => start_failure(error),
        DaemonError::Sandbox(error) => sandbox_failure(error),
        DaemonError::PidFile(_) => Failure::new(Failure::CANT_CREATE, error),
        DaemonError::HookRunner(_) => Failure::new(Failure::UNAVAILABLE, error),
        DaemonError::Runtime(_) | DaemonError::Signals(_) => Failure::new(Failure::SOFTWARE, error),
    }
}

fn start_failure(error: StartError) -> Failure {
    let code = if error.is_configuration() {
        Failure::CONFIG
    } else {
        Failure::UNAVAILABLE
    };
    Failure::new(code, error)
}

fn sandbox_failure(error: SandboxError) -> Failure {
    let code = if error.is_configuration() {
        Failure::CONFIG
    } else {
        Failure::SOFTWARE
    };
    Failure::new(code, error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_daemon_error_gets_its_exit_code() {
        let io = || std::io::Error::other("x");
        let cases = [
            (DaemonError::PidFile(io()), Failure::CANT_CREATE),
            (DaemonError::Runtime(io()), Failure::SOFTWARE),
            (DaemonError::Signals(io()), Failure::SOFTWARE),
            (
                DaemonError::Start(StartError::Bootstrap("x".into())),
                Failure::CONFIG,
            ),
            (
                DaemonError::Start(StartError::Bind {
                    key: "sftp.listen",
                    address: ([127, 0, 0, 1], 22).into(),
                    source: io(),
                }),
                Failure::UNAVAILABLE,
            ),
        ];
        for (error, code) in cases {
            let text = error.to_string();
            let failure = daemon_failure(error);
            assert_eq!(failure.code, code, "{text}");
            assert_eq!(failure.error.to_string(), text);
        }
    }
}
