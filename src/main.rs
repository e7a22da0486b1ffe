//! The `ferryd` binary: parse the command line, run it, print the error chain, exit with a
//! sysexits-style code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = ferryd::cli::Cli::parse();
    match ferryd::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            for line in chain_lines(&failure.error) {
                eprintln!("{line}");
            }
            ExitCode::from(failure.code)
        }
    }
}

/// The error and its causes, one per line, leaving out a cause whose text a line above already
/// shows: thiserror's `"…: {0}"` messages embed their source, which `chain()` yields again.
fn chain_lines(error: &anyhow::Error) -> Vec<String> {
    let mut shown = Vec::new();
    let mut lines = Vec::new();
    for (index, cause) in error.chain().enumerate() {
        let text = cause.to_string();
        if shown.iter().any(|seen: &String| seen.contains(&text)) {
            continue;
        }
        lines.push(if index == 0 {
            format!("ferryd: error: {text}")
        } else {
            format!("  caused by: {text}")
        });
        shown.push(text);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("TLS certificate: {0}")]
    struct Outer(#[from] std::io::Error);

    #[test]
    fn a_cause_already_in_the_message_is_not_repeated() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "cert.pem: not found");
        let error = anyhow::Error::new(Outer(io)).context("starting");
        assert_eq!(
            chain_lines(&error),
            [
                "ferryd: error: starting",
                "  caused by: TLS certificate: cert.pem: not found"
            ]
        );
    }
}
