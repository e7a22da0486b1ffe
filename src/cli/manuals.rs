//! `ferryd completions SHELL` and `ferryd manpage DIR`: shell completions and the man pages
//! (`ferryd(1)` and one per subcommand), generated from the clap definitions so they cannot
//! drift from the real options.
//!
//! The package build (`packaging/build-deb.sh`) runs both and ships their output; hidden
//! subcommands (`manpage`, `hook-runner`) appear in neither.

use std::path::PathBuf;

use super::failure::Failure;
use super::output;
use anyhow::Context;

/// Options of `ferryd completions`.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

/// Options of `ferryd manpage`.
#[derive(Debug, clap::Args)]
pub struct ManpageArgs {
    /// Where to write `ferryd.1` and a `ferryd-SUBCOMMAND.1` per visible subcommand.
    dir: PathBuf,
}

/// The program name completions and the man page are written for: the installed binary's.
const PROGRAM_NAME: &str = "ferryd";

/// `cli` is the whole command line (`Cli::command()`), passed in so this module needs no
/// import of its parent.
pub(super) fn completions(cli: clap::Command, args: &CompletionsArgs) -> Result<(), Failure> {
    let mut script = Vec::new();
    clap_complete::generate(
        args.shell,
        &mut visible_command(cli),
        PROGRAM_NAME,
        &mut script,
    );
    // The generators panic when their writer fails, so they write to memory and only this
    // write, which a closed pipe can fail, reaches stdout.
    output::stdout().write_all(&script)
}

pub(super) fn manpage(cli: clap::Command, args: &ManpageArgs) -> Result<(), Failure> {
    std::fs::create_dir_all(&args.dir)
        .and_then(|()| clap_mangen::generate_to(cli, &args.dir))
        .with_context(|| format!("writing man pages to {}", args.dir.display()))
        .map_err(|error| Failure::new(Failure::CANT_CREATE, error))?;
    writeln!(
        output::stdout(),
        "wrote man pages to {}",
        args.dir.display()
    )
}

/// The command line without its hidden subcommands: the man page generator leaves them out by
/// itself, the completion generators do not, and clap cannot remove a subcommand, so this
/// builds the top level anew from the visible parts.
fn visible_command(full: clap::Command) -> clap::Command {
    let mut visible = clap::Command::new(PROGRAM_NAME)
        .version(env!("CARGO_PKG_VERSION"))
        .subcommand_required(true)
        .args(full.get_arguments().cloned())
        .subcommands(full.get_subcommands().filter(|s| !s.is_hide_set()).cloned());
    if let Some(about) = full.get_about() {
        visible = visible.about(about.clone());
    }
    visible
}
