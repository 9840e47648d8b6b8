//! GitHub's `X-Hub-Signature-256`.

use hmac::Mac;
use http::HeaderName;
use http::request::Parts;

use super::shared::{
    WebhookCredentials, WebhookPending, keyed, malformed, one_header, parse_mac, verify_any,
};
use crate::key::SecretKey;
use crate::rejection::Rejection;
use crate::scheme::{Locator, Scheme, Verified};

/// How long a GitHub delivery's signature is remembered by default: 1 hour.
pub const DEFAULT_GITHUB_WINDOW: std::time::Duration = std::time::Duration::from_secs(3600);

/// GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, raw body)>` (scheme id
/// `github`).
///
/// **GitHub signs no time.** A delivery captured in transit verifies forever; the layer can only
/// refuse it again while it remembers its signature (the window, default 1 hour, from the first
/// delivery). The replay key is the signature, not `X-GitHub-Delivery`: that header is not
/// signed, so an attacker could change it to pass a deduplication keyed on it. A redelivery of
/// the same event (same body) within the window is refused as a replay too.
#[derive(Debug, Clone)]
pub struct GitHub {
    key_id: std::sync::Arc<str>,
    window: std::time::Duration,
    locator: Locator,
}

impl GitHub {
    /// Verifies with the registry key `key_id` (the webhook's secret).
    pub fn new(key_id: impl Into<std::sync::Arc<str>>) -> Self {
        Self {
            key_id: key_id.into(),
            window: DEFAULT_GITHUB_WINDOW,
            locator: Locator::Header(HeaderName::from_static("x-hub-signature-256")),
        }
    }

    /// How long a delivery's signature is remembered (1 s to 7 days; default 1 hour).
    pub fn with_window(mut self, window: std::time::Duration) -> Self {
        self.window = window.clamp(
            std::time::Duration::from_secs(1),
            std::time::Duration::from_secs(7 * 86_400),
        );
        self
    }
}

impl Scheme for GitHub {
    type Credentials = WebhookCredentials;
    type Pending = WebhookPending;

    fn id(&self) -> &'static str {
        "github"
    }
    fn name(&self) -> &'static str {
        "X-Hub-Signature-256"
    }
    fn locator(&self) -> &Locator {
        &self.locator
    }

    fn parse(&self, parts: &Parts, _: usize) -> Result<WebhookCredentials, Rejection> {
        let value = one_header(parts, &HeaderName::from_static("x-hub-signature-256"))?;
        let hex_text = value
            .strip_prefix("sha256=")
            .ok_or_else(|| malformed("X-Hub-Signature-256 is sha256=<hex>"))?;
        let mac =
            parse_mac(hex_text).ok_or_else(|| malformed("X-Hub-Signature-256 is sha256=<hex>"))?;
        Ok(WebhookCredentials {
            key_id: self.key_id.clone(),
            timestamp: 0,
            untimed: Some(self.window),
            macs: vec![mac],
        })
    }

    fn prepare(
        &self,
        _: &WebhookCredentials,
        _: &Parts,
        key: &SecretKey,
    ) -> Result<WebhookPending, Rejection> {
        Ok(WebhookPending(keyed(key, b"")))
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

/// An `X-Hub-Signature-256` value for `body`, as GitHub makes it.
pub fn github_signature(key: &SecretKey, body: &[u8]) -> String {
    let mut mac = keyed(key, b"");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheme::{Credentials, Freshness};
    use crate::webhooks::testing::parts;

    #[test]
    fn github_matches_its_published_example() {
        // GitHub's documentation: secret "It's a Secret to Everybody", payload "Hello, World!".
        let key = SecretKey::from_text("It's a Secret to Everybody").unwrap();
        assert_eq!(
            github_signature(&key, b"Hello, World!"),
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
        let github = GitHub::new("k");
        let p = parts(&[(
            "x-hub-signature-256",
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        )]);
        let creds = github.parse(&p, 4096).unwrap();
        assert_eq!(
            creds.freshness(),
            Freshness::Untimed {
                remember: DEFAULT_GITHUB_WINDOW
            }
        );
        let mut pending = github.prepare(&creds, &p, &key).unwrap();
        github.update(&mut pending, b"Hello, ");
        github.update(&mut pending, b"World!");
        assert!(github.verify(&creds, pending, &key).is_ok());
        for bad in [
            "757107ea",
            "sha1=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        ] {
            assert!(
                github
                    .parse(&parts(&[("x-hub-signature-256", bad)]), 4096)
                    .is_err()
            );
        }
    }
}
