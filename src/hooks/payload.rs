//! What a hook is told about an event: the `FERRYD_*` environment of a command and the JSON
//! body of a webhook, built from one value so both always carry the same facts; and the
//! webhook's signature.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::SystemTime;

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

use crate::config::{HookEvent, Protocol};

/// One event as hooks see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payload {
    /// What happened.
    pub event: HookEvent,
    /// Who did it (as they tried to log in, for `login_failed`).
    pub user: String,
    /// Over which protocol.
    pub protocol: Protocol,
    /// The client's address (the PROXY header's, behind a load balancer).
    pub client: IpAddr,
    /// The virtual path; empty for logins.
    pub path: String,
    /// A rename's new path.
    pub target: Option<String>,
    /// The file on the server's disk, where there is one (a gate: the temporary file).
    pub file: Option<PathBuf>,
    /// Bytes moved (uploads, downloads).
    pub size: Option<u64>,
    /// The upload's SHA-256, computed while its bytes streamed.
    pub sha256: Option<[u8; 32]>,
    /// When it happened.
    pub time: SystemTime,
    /// Why it did not end well, as the audit log words it (`crate::audit::reason`): for
    /// `login_failed`, whether the credentials were wrong or a right login was refused.
    pub reason: Option<&'static str>,
}

/// The webhook body: the same fields as the environment, lower-case.
#[derive(Serialize)]
struct Body<'a> {
    event: &'static str,
    user: &'a str,
    protocol: String,
    client: String,
    path: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sha256: Option<String>,
    time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
}

impl Payload {
    /// `FERRYD_*` variables for a command (a field that does not apply is left out).
    pub fn environment(&self) -> Vec<(String, String)> {
        let mut variables = vec![
            ("FERRYD_EVENT", self.event.as_str().to_owned()),
            ("FERRYD_USER", self.user.clone()),
            ("FERRYD_PROTOCOL", self.protocol.to_string()),
            ("FERRYD_CLIENT", self.client.to_canonical().to_string()),
            ("FERRYD_PATH", self.path.clone()),
            ("FERRYD_TIME", self.time_text()),
        ];
        if let Some(target) = &self.target {
            variables.push(("FERRYD_TARGET", target.clone()));
        }
        if let Some(file) = &self.file {
            variables.push(("FERRYD_FILE", file.to_string_lossy().into_owned()));
        }
        if let Some(size) = self.size {
            variables.push(("FERRYD_SIZE", size.to_string()));
        }
        if let Some(sha256) = &self.sha256 {
            variables.push(("FERRYD_SHA256", hex::encode(sha256)));
        }
        if let Some(reason) = self.reason {
            variables.push(("FERRYD_REASON", reason.to_owned()));
        }
        variables
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect()
    }

    /// The webhook's JSON body.
    pub fn json(&self) -> Vec<u8> {
        let body = Body {
            event: self.event.as_str(),
            user: &self.user,
            protocol: self.protocol.to_string(),
            client: self.client.to_canonical().to_string(),
            path: &self.path,
            target: self.target.as_deref(),
            size: self.size,
            sha256: self.sha256.as_ref().map(hex::encode),
            time: self.time_text(),
            reason: self.reason,
        };
        // Serialising plain strings and numbers cannot fail.
        serde_json::to_vec(&body).unwrap_or_default()
    }

    fn time_text(&self) -> String {
        let time = time::OffsetDateTime::from(self.time);
        time.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    }
}

/// `X-Ferryd-Signature`'s value: `sha256=` and the hex HMAC-SHA256 of `body` under `secret`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    // The `Result` is the shape `KeyInit` shares with fixed-length cipher keys; HMAC takes a
    // key of any length (RFC 2104 §2: a longer one is hashed, a shorter one padded), so this
    // is never `Err`, whatever the secret file holds.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
        .expect("HMAC accepts keys of every length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn upload() -> Payload {
        Payload {
            event: HookEvent::Upload,
            user: "ci".into(),
            protocol: Protocol::Sftp,
            client: "::ffff:192.0.2.7".parse().unwrap(),
            path: "/releases/app.tar".into(),
            target: None,
            file: Some("/srv/ci/releases/app.tar".into()),
            size: Some(3),
            sha256: Some([0xab; 32]),
            time: SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_979_200),
            reason: None,
        }
    }

    #[test]
    fn the_environment_names_every_fact() {
        let variables = upload().environment();
        let get = |name: &str| {
            variables
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.as_str())
        };
        assert_eq!(get("FERRYD_EVENT"), Some("upload"));
        assert_eq!(get("FERRYD_USER"), Some("ci"));
        assert_eq!(get("FERRYD_PROTOCOL"), Some("sftp"));
        assert_eq!(
            get("FERRYD_CLIENT"),
            Some("192.0.2.7"),
            "mapped IPv4 as IPv4"
        );
        assert_eq!(get("FERRYD_PATH"), Some("/releases/app.tar"));
        assert_eq!(get("FERRYD_FILE"), Some("/srv/ci/releases/app.tar"));
        assert_eq!(get("FERRYD_SIZE"), Some("3"));
        assert_eq!(get("FERRYD_SHA256"), Some("ab".repeat(32).as_str()));
        assert_eq!(get("FERRYD_TIME"), Some("2025-12-06T00:00:00Z"));
        assert_eq!(get("FERRYD_TARGET"), None);
        assert_eq!(get("FERRYD_REASON"), None);
    }

    #[test]
    fn a_failed_login_says_why() {
        let failed = Payload {
            event: HookEvent::LoginFailed,
            path: String::new(),
            file: None,
            size: None,
            sha256: None,
            reason: Some("limit"),
            ..upload()
        };
        let variables = failed.environment();
        assert!(variables.contains(&("FERRYD_REASON".to_owned(), "limit".to_owned())));
        let body: serde_json::Value = serde_json::from_slice(&failed.json()).unwrap();
        assert_eq!(body["reason"], "limit");
    }

    #[test]
    fn the_json_body_carries_the_same_facts() {
        let mut rename = upload();
        rename.event = HookEvent::Rename;
        rename.target = Some("/releases/app-1.tar".into());
        let body: serde_json::Value = serde_json::from_slice(&rename.json()).unwrap();
        assert_eq!(body["event"], "rename");
        assert_eq!(body["user"], "ci");
        assert_eq!(body["protocol"], "sftp");
        assert_eq!(body["client"], "192.0.2.7");
        assert_eq!(body["path"], "/releases/app.tar");
        assert_eq!(body["target"], "/releases/app-1.tar");
        assert_eq!(body["size"], 3);
        assert_eq!(body["sha256"], "ab".repeat(32));
        assert_eq!(body["time"], "2025-12-06T00:00:00Z");
        assert!(body.get("reason").is_none());
        assert!(
            body.get("file").is_none(),
            "a path on the server stays on the server"
        );
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_the_body() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn secrets_of_any_length_sign() {
        // RFC 4231 test case 6: a key longer than SHA-256's block.
        assert_eq!(
            signature(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            ),
            "sha256=60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
        assert_eq!(signature(b"", b"").len(), "sha256=".len() + 64);
    }
}
