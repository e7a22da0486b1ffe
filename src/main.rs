//! The `ferryd` binary: parse the command line, run it, print the error chain, exit with a
//! sysexits-style code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = ferryd::cli::Cli::parse();
    match ferryd::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("ferryd: error: {}", failure.error);
            for cause in failure.error.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(failure.code)
        }
    }
}
