//! The admin socket's protocol: one JSON request per line, one JSON response per line.
//!
//! Pure types and parsing, shared by the daemon (`admin.rs`) and the CLI; the request size is
//! checked before parsing.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// The longest request line the daemon reads (requests are a few dozen bytes).
pub const MAX_REQUEST_BYTES: usize = 4096;
/// The longest response the CLI reads (a session list of the largest server fits).
pub const MAX_RESPONSE_BYTES: u64 = 64 * 1024 * 1024;

/// What the CLI asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Request {
    /// Reload config, users and certificate; answered once applied or refused.
    Reload,
    /// Version, uptime, listeners, sessions, bans.
    Status,
    /// Every logged-in session.
    SessionList,
    /// End sessions: by connection id or by user name.
    SessionKick {
        /// The connection id (`c12` in logs is 12).
        #[serde(default)]
        id: Option<u64>,
        /// Every session of this user.
        #[serde(default)]
        user: Option<String>,
    },
    /// Live bans.
    BanList,
    /// Ban an address for `seconds`.
    BanAdd {
        /// The address.
        address: IpAddr,
        /// How long.
        seconds: u64,
    },
    /// Lift the ban of an address.
    BanDel {
        /// The address.
        address: IpAddr,
    },
}

/// What the daemon answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum Response {
    /// The request was refused or failed; `message` says why.
    Error {
        /// Why, for the operator.
        message: String,
    },
    /// Done; `message` says what happened.
    Done {
        /// What happened.
        message: String,
    },
    /// The answer to `status`.
    Status(Status),
    /// The answer to `session-list`.
    Sessions {
        /// The sessions.
        sessions: Vec<SessionRow>,
    },
    /// The answer to `ban-list`.
    Bans {
        /// The bans.
        bans: Vec<BanRow>,
    },
}

/// The daemon's state for `ferryd status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// The daemon's version.
    pub version: String,
    /// Its process id.
    pub pid: u32,
    /// Seconds since it started.
    pub uptime_secs: u64,
    /// Listener name (`ftps`, `ftps-implicit`, `sftp`, `metrics`) → address.
    pub listeners: BTreeMap<String, String>,
    /// Logged-in sessions per protocol.
    pub sessions: BTreeMap<String, usize>,
    /// Open connections (logged in or not).
    pub connections: usize,
    /// Banned addresses.
    pub bans: usize,
}

/// One session for `ferryd session list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRow {
    /// Connection id.
    pub id: u64,
    /// User name.
    pub user: String,
    /// `ftps` or `sftp`.
    pub protocol: String,
    /// Client address and port.
    pub client: String,
    /// Login time, seconds since the Unix epoch.
    pub since_unix: u64,
    /// The running transfer, if any.
    pub transfer: Option<String>,
    /// Bytes of the running transfer so far.
    pub bytes: u64,
}

/// One ban for `ferryd ban list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BanRow {
    /// The address (an IPv6 /64 is shown as its network address).
    pub address: String,
    /// `failed-logins`, `protocol-abuse` or `admin`.
    pub reason: String,
    /// The score that reached the threshold.
    pub score: u32,
    /// Seconds the ban still lasts.
    pub remaining_secs: u64,
}

/// Why a request line was refused before it was served.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// Longer than [`MAX_REQUEST_BYTES`].
    #[error("request longer than {MAX_REQUEST_BYTES} bytes")]
    TooLong,
    /// Not a request.
    #[error("malformed request: {0}")]
    Malformed(#[from] serde_json::Error),
}

/// Parses one request line (without or with its newline).
pub fn parse_request(line: &[u8]) -> Result<Request, RequestError> {
    if line.len() > MAX_REQUEST_BYTES {
        return Err(RequestError::TooLong);
    }
    Ok(serde_json::from_slice(line)?)
}

/// One response line, newline included.
pub fn encode_response(response: &Response) -> Vec<u8> {
    let mut bytes = serde_json::to_vec(response).unwrap_or_else(|error| {
        // Only a map with non-string keys could fail; none of ours has one.
        format!("{{\"result\":\"error\",\"message\":\"cannot encode response: {error}\"}}")
            .into_bytes()
    });
    bytes.push(b'\n');
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_and_unknown_or_oversized_ones_are_refused() {
        let requests = [
            Request::Reload,
            Request::SessionKick {
                id: None,
                user: Some("alice".into()),
            },
            Request::BanAdd {
                address: "192.0.2.1".parse().unwrap(),
                seconds: 60,
            },
        ];
        for request in requests {
            let line = serde_json::to_vec(&request).unwrap();
            assert_eq!(parse_request(&line).unwrap(), request);
        }
        assert!(parse_request(br#"{"command":"reload"}"#).is_ok());
        assert!(parse_request(br#"{"command":"format-disk"}"#).is_err());
        let long = vec![b' '; MAX_REQUEST_BYTES + 1];
        assert!(matches!(parse_request(&long), Err(RequestError::TooLong)));
    }

    #[test]
    fn responses_are_one_line() {
        let response = Response::Error {
            message: "line one\nline two".into(),
        };
        let bytes = encode_response(&response);
        assert_eq!(bytes.iter().filter(|b| **b == b'\n').count(), 1);
        let decoded: Response = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(decoded, response);
    }
}
