//! Standard output of the commands: a reader that goes away (`| head`, `| grep -q`) cuts what
//! they print, never what they do.

use std::fmt;
use std::io::{self, Write as _};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;

use super::failure::Failure;

/// Set once a write found the reader gone: every later line would find the same.
static READER_GONE: AtomicBool = AtomicBool::new(false);

/// Standard output, locked while a command prints; written with `writeln!`, which returns
/// `Result<(), Failure>` here.
///
/// A reader that went away (`ferryd user list | head -1`, `… | grep -q`) is no failure: the
/// rest of the output is dropped and the command still does all its work and exits as it
/// would have. `println!` panics there instead, possibly between one change and the next
/// (`init` reports each file as it writes it; `user add --random-password` shows the password
/// before it saves the users file). Any other write error fails the command.
pub(super) struct Stdout {
    lock: io::StdoutLock<'static>,
}

/// The process's standard output.
pub(super) fn stdout() -> Stdout {
    Stdout {
        lock: io::stdout().lock(),
    }
}

impl Stdout {
    /// What `write!` and `writeln!` call.
    pub(super) fn write_fmt(&mut self, arguments: fmt::Arguments<'_>) -> Result<(), Failure> {
        self.write_with(|lock| lock.write_fmt(arguments))
    }

    /// Writes `bytes` unchanged (a generated script) and flushes them.
    pub(super) fn write_all(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        self.write_with(|lock| lock.write_all(bytes).and_then(|()| lock.flush()))
    }

    fn write_with(
        &mut self,
        write: impl FnOnce(&mut io::StdoutLock<'static>) -> io::Result<()>,
    ) -> Result<(), Failure> {
        if READER_GONE.load(Ordering::Relaxed) {
            return Ok(());
        }
        match write(&mut self.lock) {
            Err(error) if error.kind() == io::ErrorKind::BrokenPipe => {
                READER_GONE.store(true, Ordering::Relaxed);
                Ok(())
            }
            result => result
                .context("writing to standard output")
                .map_err(|error| Failure::new(Failure::CANT_CREATE, error)),
        }
    }
}
