//! Log output: human-readable text (journald-friendly under systemd) or JSON lines.
//!
//! Under systemd (`JOURNAL_STREAM` set) text lines carry no timestamp and no colour — the
//! journal adds its own timestamp and would show escape codes literally — and start with the
//! syslog priority (`<3>` error … `<7>` debug), which journald strips and uses as the line's
//! priority, so `journalctl -p warning` works.

use std::fmt;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{FmtSpan, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// Logging could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    /// The level/filter text is invalid.
    #[error("invalid log level {level:?}: {source}")]
    Filter {
        /// The text given.
        level: String,
        /// Why it was refused.
        source: tracing_subscriber::filter::ParseError,
    },
    /// A global subscriber was already installed (a second call).
    #[error("logging was already initialised")]
    AlreadyInitialised,
}

/// Installs the global subscriber. `level_override` (from the command line or `RUST_LOG`)
/// wins over the config's level.
pub fn init(config: &LogConfig, level_override: Option<&str>) -> Result<(), LoggingError> {
    let level = level_override.unwrap_or(&config.level);
    let filter =
        EnvFilter::try_new(filter_directives(level)).map_err(|source| LoggingError::Filter {
            level: level.to_owned(),
            source,
        })?;
    let under_journald = std::env::var_os("JOURNAL_STREAM").is_some();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_span_events(FmtSpan::NONE);
    let result = match (config.format, under_journald) {
        (LogFormat::Json, _) => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        (LogFormat::Text, true) => builder
            .with_ansi(false)
            .event_format(SyslogPriority(
                tracing_subscriber::fmt::format()
                    .without_time()
                    .with_ansi(false),
            ))
            .try_init(),
        (LogFormat::Text, false) => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
    };
    result.map_err(|_| LoggingError::AlreadyInitialised)
}

/// Libraries whose warnings describe a client's quirks, not the server's health: rustls warns
/// on every handshake of a client that sends its IP address as SNI (lftp does, on every data
/// connection). ferryd logs the failures that matter itself, with the session's context.
const QUIET_LIBRARIES: &[&str] = &["rustls=error"];

/// The filter for a configured level: a plain level (`info`, `warn`, `error`) quiets
/// [`QUIET_LIBRARIES`]; a more verbose level or an explicit filter (anything with `=` or `,`)
/// is taken as written, since whoever wrote it is looking for details.
fn filter_directives(level: &str) -> String {
    let plain = level.trim().to_ascii_lowercase();
    if matches!(plain.as_str(), "info" | "warn" | "error") {
        std::iter::once(plain.as_str())
            .chain(QUIET_LIBRARIES.iter().copied())
            .collect::<Vec<_>>()
            .join(",")
    } else {
        level.to_owned()
    }
}

/// Prefixes each line with its syslog priority for journald (sd-daemon(3) `<N>` prefixes).
struct SyslogPriority<F>(F);

impl<S, N, F> FormatEvent<S, N> for SyslogPriority<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        context: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        write!(writer, "<{}>", syslog_priority(*event.metadata().level()))?;
        self.0.format_event(context, writer, event)
    }
}

fn syslog_priority(level: Level) -> u8 {
    match level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_map_to_syslog_priorities() {
        assert_eq!(syslog_priority(Level::ERROR), 3);
        assert_eq!(syslog_priority(Level::WARN), 4);
        assert_eq!(syslog_priority(Level::INFO), 6);
        assert_eq!(syslog_priority(Level::TRACE), 7);
    }

    #[test]
    fn plain_levels_quiet_client_quirk_warnings_from_libraries() {
        assert_eq!(filter_directives("info"), "info,rustls=error");
        assert_eq!(filter_directives(" WARN "), "warn,rustls=error");
        // looking for details: as written
        assert_eq!(filter_directives("debug"), "debug");
        assert_eq!(filter_directives("info,rustls=warn"), "info,rustls=warn");
        assert_eq!(filter_directives("ferryd=debug"), "ferryd=debug");
        for level in ["info", "warn", "debug", "ferryd=trace,info"] {
            assert!(
                EnvFilter::try_new(filter_directives(level)).is_ok(),
                "{level}"
            );
        }
    }
}
