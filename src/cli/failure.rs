//! How a command fails: the sysexits-style exit code `main` returns, with the error.

/// A failed command, with the exit code it maps to.
#[derive(Debug)]
pub struct Failure {
    /// The exit code (sysexits.h).
    pub code: u8,
    /// What went wrong, with context.
    pub error: anyhow::Error,
}

impl Failure {
    /// EX_USAGE: the command line was wrong.
    pub const USAGE: u8 = 64;
    /// EX_DATAERR: input data (a key, a password) was wrong.
    pub const DATA: u8 = 65;
    /// EX_UNAVAILABLE: a resource (a port) is not available.
    pub const UNAVAILABLE: u8 = 69;
    /// EX_SOFTWARE: an internal error.
    pub const SOFTWARE: u8 = 70;
    /// EX_CANTCREAT: an output file could not be created.
    pub const CANT_CREATE: u8 = 73;
    /// EX_CONFIG: the configuration is wrong.
    pub const CONFIG: u8 = 78;

    /// A failure with `code`.
    pub fn new(code: u8, error: impl Into<anyhow::Error>) -> Failure {
        Failure {
            code,
            error: error.into(),
        }
    }

    /// A configuration failure (78).
    pub fn config(error: impl Into<anyhow::Error>) -> Failure {
        Failure::new(Failure::CONFIG, error)
    }
}
