//! Webhooks: the event's JSON POSTed to a URL, signed with HMAC-SHA256 when the hook has a
//! secret, through one shared HTTP client (rustls, no OpenSSL; connection reuse).

use std::time::Duration;

use super::payload::signature;

/// The header carrying `sha256=HEX` (see [`super::payload::signature`]).
pub const SIGNATURE_HEADER: &str = "X-Ferryd-Signature";
/// The header naming the event, so a receiver can route without parsing the body.
pub const EVENT_HEADER: &str = "X-Ferryd-Event";

/// How a POST ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WebhookOutcome {
    /// A 2xx answer.
    Delivered(u16),
    /// Another answer; 5xx ones are worth retrying, 4xx are not.
    Status(u16),
    /// No answer: connection refused, TLS failure, timeout.
    Unreachable(String),
}

impl WebhookOutcome {
    /// Whether the receiver took it.
    pub fn succeeded(&self) -> bool {
        matches!(self, WebhookOutcome::Delivered(_))
    }

    /// Whether another attempt may do better (connection errors and 5xx).
    pub fn retryable(&self) -> bool {
        match self {
            WebhookOutcome::Delivered(_) => false,
            WebhookOutcome::Status(code) => *code >= 500,
            WebhookOutcome::Unreachable(_) => true,
        }
    }

    /// Words for the log.
    pub fn describe(&self) -> String {
        match self {
            WebhookOutcome::Delivered(code) => format!("HTTP {code}"),
            WebhookOutcome::Status(code) => format!("HTTP {code}"),
            WebhookOutcome::Unreachable(reason) => reason.clone(),
        }
    }

    /// A stable word for metrics.
    pub fn result(&self) -> &'static str {
        match self {
            WebhookOutcome::Delivered(_) => "ok",
            WebhookOutcome::Status(_) => "failed",
            WebhookOutcome::Unreachable(_) => "unreachable",
        }
    }
}

/// The shared HTTP client.
#[derive(Clone, Debug)]
pub struct WebhookClient {
    http: reqwest::Client,
}

impl WebhookClient {
    /// A client that never follows redirects (a hook's URL is what the admin wrote).
    pub fn new() -> Result<WebhookClient, String> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("ferryd/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| error.to_string())?;
        Ok(WebhookClient { http })
    }

    /// POSTs `body` to `url` within `timeout`.
    pub async fn post(
        &self,
        url: &str,
        event: &str,
        body: Vec<u8>,
        secret: Option<&[u8]>,
        timeout: Duration,
    ) -> WebhookOutcome {
        let mut request = self
            .http
            .post(url)
            .timeout(timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(EVENT_HEADER, event);
        if let Some(secret) = secret {
            request = request.header(SIGNATURE_HEADER, signature(secret, &body));
        }
        match request.body(body).send().await {
            Ok(response) if response.status().is_success() => {
                WebhookOutcome::Delivered(response.status().as_u16())
            }
            Ok(response) => WebhookOutcome::Status(response.status().as_u16()),
            Err(error) => WebhookOutcome::Unreachable(error_chain(&error)),
        }
    }
}

/// reqwest's error with its causes ("error sending request: connection refused").
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
