//! The CLI's side of the admin socket: one request, one answer, every wait bounded.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, Context as _};

use crate::config::Config;
use crate::server::admin::{self, RELOAD_TIMEOUT};
use crate::server::admin_protocol::{Request, Response, MAX_RESPONSE_BYTES};

use super::failure::Failure;

/// Loads the config (to find `state_dir`), sends `request` and returns the daemon's answer.
/// A refusal (`Response::Error`) comes back as a failure with `refused_code`.
pub(super) fn ask(
    config_path: &Path,
    request: &Request,
    refused_code: u8,
) -> Result<Response, Failure> {
    let config = Config::load(config_path).map_err(Failure::config)?;
    let path = admin::socket_path(&config.server.state_dir);
    let unavailable = |error: anyhow::Error| Failure::new(Failure::UNAVAILABLE, error);
    let mut stream = UnixStream::connect(&path)
        .with_context(|| {
            format!(
                "no running ferryd answers on {} (is it running with this config? \
                 `sudo -u` the daemon's user if the socket is not yours)",
                path.display()
            )
        })
        .map_err(unavailable)?;
    // A reload may load a big users file and a certificate; everything else is immediate.
    let wait = RELOAD_TIMEOUT + Duration::from_secs(10);
    let mut exchange = || -> anyhow::Result<Response> {
        stream.set_read_timeout(Some(wait))?;
        stream.set_write_timeout(Some(Duration::from_secs(10)))?;
        let mut line = serde_json::to_vec(request)?;
        line.push(b'\n');
        // The daemon answers a caller it refuses at once and closes, so the request may meet a
        // closed socket: the answer is still there to read, and says more than EPIPE.
        let sent = stream.write_all(&line);
        let mut answer = Vec::new();
        let read =
            BufReader::new((&stream).take(MAX_RESPONSE_BYTES)).read_until(b'\n', &mut answer);
        if answer.is_empty() {
            sent?;
            read?;
            return Err(anyhow!(
                "the daemon closed the admin connection without an answer"
            ));
        }
        serde_json::from_slice(&answer).context("malformed answer from the daemon")
    };
    match exchange().map_err(unavailable)? {
        Response::Error { message } => Err(Failure::new(refused_code, anyhow!(message))),
        response => Ok(response),
    }
}

/// `Done`'s message, or a failure for an answer of the wrong kind.
pub(super) fn done(response: Response) -> Result<String, Failure> {
    match response {
        Response::Done { message } => Ok(message),
        other => Err(unexpected(&other)),
    }
}

/// A failure for an answer that does not fit the request (a daemon of another version).
pub(super) fn unexpected(response: &Response) -> Failure {
    Failure::new(
        Failure::SOFTWARE,
        anyhow!("unexpected answer from the daemon: {response:?}"),
    )
}

/// `3d4h`, `5m12s`, `40s`: a duration for tables.
pub(super) fn short_duration(seconds: u64) -> String {
    let (days, hours, minutes, secs) = (
        seconds / 86_400,
        seconds / 3600 % 24,
        seconds / 60 % 60,
        seconds % 60,
    );
    match (days, hours, minutes) {
        (0, 0, 0) => format!("{secs}s"),
        (0, 0, _) => format!("{minutes}m{secs:02}s"),
        (0, _, _) => format!("{hours}h{minutes:02}m"),
        _ => format!("{days}d{hours:02}h"),
    }
}

/// Parses `90`, `90s`, `15m`, `2h`, `7d` (for `ban add --for`).
pub(super) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let digits = text.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 90s, 15m, 2h or 7d"))?;
    let unit = match &text[digits.len()..] {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        other => return Err(format!("unknown unit {other:?}; use s, m, h or d")),
    };
    number
        .checked_mul(unit)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{text:?} is too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_print() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_duration("7d").unwrap(), Duration::from_secs(604_800));
        assert!(parse_duration("1w").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
        assert_eq!(short_duration(40), "40s");
        assert_eq!(short_duration(312), "5m12s");
        assert_eq!(short_duration(7260), "2h01m");
        assert_eq!(short_duration(90_000), "1d01h");
    }
}
