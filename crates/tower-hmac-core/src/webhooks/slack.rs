//! Slack's `X-Slack-Signature`.

use hmac::Mac;
use http::HeaderName;
use http::request::Parts;

use super::shared::{
    WebhookCredentials, WebhookPending, keyed, malformed, one_header, parse_mac, parse_time,
    verify_any,
};
use crate::key::SecretKey;
use crate::rejection::Rejection;
use crate::scheme::{Locator, Scheme, Verified};

/// Slack: `X-Slack-Request-Timestamp: <unix-seconds>` and
/// `X-Slack-Signature: v0=<hex HMAC-SHA256(secret, "v0:<ts>:" + body)>` (scheme id `slack`).
#[derive(Debug, Clone)]
pub struct Slack {
    key_id: std::sync::Arc<str>,
    locator: Locator,
}

impl Slack {
    /// Verifies with the registry key `key_id` (the app's signing secret).
    pub fn new(key_id: impl Into<std::sync::Arc<str>>) -> Self {
        Self {
            key_id: key_id.into(),
            locator: Locator::Header(HeaderName::from_static("x-slack-signature")),
        }
    }
}

impl Scheme for Slack {
    type Credentials = WebhookCredentials;
    type Pending = WebhookPending;

    fn id(&self) -> &'static str {
        "slack"
    }
    fn name(&self) -> &'static str {
        "X-Slack-Signature"
    }
    fn locator(&self) -> &Locator {
        &self.locator
    }

    fn parse(&self, parts: &Parts, _: usize) -> Result<WebhookCredentials, Rejection> {
        let signature = one_header(parts, &HeaderName::from_static("x-slack-signature"))?;
        let ts = one_header(parts, &HeaderName::from_static("x-slack-request-timestamp"))
            .map_err(|_| malformed("exactly one X-Slack-Request-Timestamp"))?;
        let timestamp = parse_time(ts).ok_or_else(|| malformed("bad X-Slack-Request-Timestamp"))?;
        let hex_text = signature
            .strip_prefix("v0=")
            .ok_or_else(|| malformed("X-Slack-Signature is v0=<hex>"))?;
        let mac = parse_mac(hex_text).ok_or_else(|| malformed("X-Slack-Signature is v0=<hex>"))?;
        Ok(WebhookCredentials {
            key_id: self.key_id.clone(),
            timestamp,
            untimed: None,
            macs: vec![mac],
        })
    }

    fn prepare(
        &self,
        creds: &WebhookCredentials,
        _: &Parts,
        key: &SecretKey,
    ) -> Result<WebhookPending, Rejection> {
        Ok(WebhookPending(keyed(
            key,
            format!("v0:{}:", creds.timestamp).as_bytes(),
        )))
    }

    fn update(&self, pending: &mut WebhookPending, chunk: &[u8]) {
        pending.0.update(chunk);
    }

    fn verify(
        &self,
        creds: &WebhookCredentials,
        pending: WebhookPending,
        _: &SecretKey,
    ) -> Result<Verified, Rejection> {
        verify_any(creds, pending)
    }
}

/// An `X-Slack-Signature` value for `body` at `timestamp`, as Slack makes it.
pub fn slack_signature(key: &SecretKey, timestamp: u64, body: &[u8]) -> String {
    let mut mac = keyed(key, format!("v0:{timestamp}:").as_bytes());
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rejection::RejectionKind;
    use crate::webhooks::testing::{parts, run, secret};

    #[test]
    fn slack_verifies_and_refuses_tampering() {
        let body = b"token=x&team_id=T1&text=hi";
        let sig = slack_signature(&secret(), 1_700_000_000, body);
        let slack = Slack::new("k");
        let ok = parts(&[
            ("x-slack-signature", &sig),
            ("x-slack-request-timestamp", "1700000000"),
        ]);
        assert!(run(&slack, &ok, body).is_ok());
        assert!(run(&slack, &ok, b"token=x").is_err());
        let moved = parts(&[
            ("x-slack-signature", &sig),
            ("x-slack-request-timestamp", "1700000001"),
        ]);
        assert!(run(&slack, &moved, body).is_err());
        let no_ts = parts(&[("x-slack-signature", &sig)]);
        assert_eq!(
            slack.parse(&no_ts, 4096).unwrap_err().kind(),
            RejectionKind::MalformedAuthorization
        );
    }
}
