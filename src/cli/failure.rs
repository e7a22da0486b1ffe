//! How a command fails: the sysexits-style exit code `main` returns, and the error's text.

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

/// An error and its causes on one line, each cause once.
pub(super) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
