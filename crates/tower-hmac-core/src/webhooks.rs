//! Incoming webhooks (feature `webhooks`): GitHub's, Stripe's and Slack's signatures as schemes,
//! each mounted on the route that receives them.
//!
//! A provider sends no key id: each scheme is made with the registry key id whose secret it
//! verifies with — the provider's secret as issued, `secret_text` in the registry (the key's
//! [`text_form`](SecretKey::text_form), used as bytes). The time is the layer's window (300 s by
//! default, as the providers' SDKs use) and a second delivery of the same signed event within it
//! is refused: the signature is the replay key.
//!
//! ```
//! use tower_hmac_core::webhooks::{Slack, Stripe};
//!
//! let stripe = Stripe::new("stripe-webhooks");
//! let slack = Slack::new("slack-signing");
//! # let _ = (stripe, slack);
//! ```

use std::fmt;

use hmac::{KeyInit, Mac};
use http::HeaderName;
use http::request::Parts;
use subtle::ConstantTimeEq;

use crate::key::{HmacSha256, SecretKey};
use crate::rejection::{Rejection, RejectionKind};
use crate::scheme::{Credentials, Locator, Scheme, Verified};

/// The most `v1` signatures a `Stripe-Signature` may carry (one per secret during a rotation).
const MAX_STRIPE_SIGNATURES: usize = 8;
/// The longest signature header parsed.
const MAX_HEADER: usize = 1024;

fn malformed(detail: &'static str) -> Rejection {
    Rejection::new(RejectionKind::MalformedAuthorization).with_detail(detail)
}

/// A 64-digit lower-case hex SHA-256 MAC.
fn parse_mac(hex_text: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    (hex_text.len() == 64
        && hex_text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && hex::decode_to_slice(hex_text, &mut out).is_ok())
    .then_some(out)
}

/// Unix seconds: 1 to 12 digits, no leading zero.
fn parse_time(text: &str) -> Option<u64> {
    let ok = !text.is_empty()
        && text.len() <= 12
        && text.bytes().all(|b| b.is_ascii_digit())
        && !(text.len() > 1 && text.starts_with('0'));
    ok.then(|| text.parse().ok()).flatten()
}

/// The one value of a header, as text of at most [`MAX_HEADER`] bytes.
fn one_header<'a>(parts: &'a Parts, name: &HeaderName) -> Result<&'a str, Rejection> {
    let mut values = parts.headers.get_all(name).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(malformed("exactly one signature header"));
    };
    if value.len() > MAX_HEADER {
        return Err(malformed("the signature header is too long"));
    }
    value
        .to_str()
        .map_err(|_| malformed("the signature header is not text"))
}

/// A MAC over the provider's prefix and the body, keyed with the secret as issued.
fn keyed(key: &SecretKey, prefix: &[u8]) -> HmacSha256 {
    let text = key.text_form();
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(text.as_bytes())
        .unwrap_or_else(|_| <HmacSha256 as KeyInit>::new(&Default::default()));
    mac.update(prefix);
    mac
}

/// What the providers' credentials hold.
#[derive(Clone)]
pub struct WebhookCredentials {
    key_id: &'static str,
    timestamp: u64,
    /// GitHub's: no time; the replay key is kept this long.
    untimed: Option<std::time::Duration>,
    /// The signatures given (Stripe may send one per secret).
    macs: Vec<[u8; 32]>,
}

impl fmt::Debug for WebhookCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookCredentials")
            .field("key_id", &self.key_id)
            .field("timestamp", &self.timestamp)
            .field("signatures", &self.macs.len())
            .finish()
    }
}

impl Credentials for WebhookCredentials {
    fn key_id(&self) -> &str {
        self.key_id
    }
    fn timestamp(&self) -> u64 {
        self.timestamp
    }
    /// None: the replay key is the MAC that verified ([`Verified::mac`]).
    fn nonce(&self) -> &str {
        ""
    }
    fn untimed(&self) -> Option<std::time::Duration> {
        self.untimed
    }
}

/// The MAC being computed over the body.
pub struct WebhookPending(HmacSha256);

impl fmt::Debug for WebhookPending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookPending")
    }
}

/// Any of the given signatures matches, each compared in constant time. The replay key is the
/// MAC that matched — the server's own, so neither another signature sent beside it (Stripe's
/// `v1=<anything>,v1=<captured>`) nor its spelling makes a captured delivery new.
fn verify_any(creds: &WebhookCredentials, pending: WebhookPending) -> Result<Verified, Rejection> {
    let computed: [u8; 32] = pending.0.finalize().into_bytes().into();
    let mut matched = subtle::Choice::from(0u8);
    for mac in &creds.macs {
        matched |= computed.ct_eq(mac);
    }
    if bool::from(matched) {
        Ok(Verified::mac(&computed))
    } else {
        Err(Rejection::new(RejectionKind::InvalidSignature))
    }
}

/// Stripe: `Stripe-Signature: t=<unix-seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>`,
/// with one `v1` per secret during a rotation (scheme id `stripe`). Other signature kinds Stripe
/// may add (`v0`) are ignored, as its SDKs do.
#[derive(Debug, Clone)]
pub struct Stripe {
    key_id: &'static str,
    locator: Locator,
}

impl Stripe {
    /// Verifies with the registry key `key_id` (the endpoint's signing secret, `whsec_…`).
    pub fn new(key_id: &'static str) -> Self {
        Self {
            key_id,
            locator: Locator::Header(HeaderName::from_static("stripe-signature")),
        }
    }
}

impl Scheme for Stripe {
    type Credentials = WebhookCredentials;
    type Pending = WebhookPending;

    fn id(&self) -> &'static str {
        "stripe"
    }
    fn name(&self) -> &'static str {
        "Stripe-Signature"
    }
    fn locator(&self) -> &Locator {
        &self.locator
    }

    fn parse(&self, parts: &Parts, _: usize) -> Result<WebhookCredentials, Rejection> {
        let value = one_header(parts, &HeaderName::from_static("stripe-signature"))?;
        let mut timestamp = None;
        let mut macs = Vec::new();
        for item in value.split(',') {
            let (name, field) = item
                .split_once('=')
                .ok_or_else(|| malformed("Stripe-Signature items are name=value"))?;
            match name {
                "t" if timestamp.is_none() => {
                    timestamp = Some(parse_time(field).ok_or_else(|| malformed("bad t"))?);
                }
                "t" => return Err(malformed("t appears twice")),
                "v1" => {
                    if macs.len() == MAX_STRIPE_SIGNATURES {
                        return Err(malformed("too many v1 signatures"));
                    }
                    macs.push(parse_mac(field).ok_or_else(|| malformed("bad v1"))?);
                }
                _ => {}
            }
        }
        let Some(timestamp) = timestamp.filter(|_| !macs.is_empty()) else {
            return Err(malformed("Stripe-Signature needs t and v1"));
        };
        Ok(WebhookCredentials {
            key_id: self.key_id,
            timestamp,
            untimed: None,
            macs,
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
            format!("{}.", creds.timestamp).as_bytes(),
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

/// Slack: `X-Slack-Request-Timestamp: <unix-seconds>` and
/// `X-Slack-Signature: v0=<hex HMAC-SHA256(secret, "v0:<ts>:" + body)>` (scheme id `slack`).
#[derive(Debug, Clone)]
pub struct Slack {
    key_id: &'static str,
    locator: Locator,
}

impl Slack {
    /// Verifies with the registry key `key_id` (the app's signing secret).
    pub fn new(key_id: &'static str) -> Self {
        Self {
            key_id,
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
            key_id: self.key_id,
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
    key_id: &'static str,
    window: std::time::Duration,
    locator: Locator,
}

impl GitHub {
    /// Verifies with the registry key `key_id` (the webhook's secret).
    pub fn new(key_id: &'static str) -> Self {
        Self {
            key_id,
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
            key_id: self.key_id,
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

/// A `Stripe-Signature` value for `body` at `timestamp`, as Stripe makes it (for tests and
/// local tools; the format is checked against Stripe's own SDK in this workspace's tests).
pub fn stripe_signature(key: &SecretKey, timestamp: u64, body: &[u8]) -> String {
    let mut mac = keyed(key, format!("{timestamp}.").as_bytes());
    mac.update(body);
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
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

    fn secret() -> SecretKey {
        SecretKey::from_text("whsec_demo_secret_not_a_real_one_0001").unwrap()
    }

    fn parts(headers: &[(&str, &str)]) -> Parts {
        let mut b = http::Request::post("/hook");
        for (n, v) in headers {
            b = b.header(*n, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    fn run<S: Scheme>(scheme: &S, p: &Parts, body: &[u8]) -> Result<Verified, Rejection> {
        let creds = scheme.parse(p, 4096)?;
        let mut pending = scheme.prepare(&creds, p, &secret())?;
        scheme.update(&mut pending, &body[..body.len() / 2]);
        scheme.update(&mut pending, &body[body.len() / 2..]);
        scheme.verify(&creds, pending, &secret())
    }

    #[test]
    fn stripe_replay_key_is_the_matching_signature_whatever_is_sent_beside_it() {
        // The red team's replay: a random v1 before the captured one made a fresh replay key.
        let body = br#"{"id":"evt_1"}"#;
        let header = stripe_signature(&secret(), 1_700_000_000, body);
        let ours = header.split("v1=").nth(1).unwrap();
        let stripe = Stripe::new("k");
        let captured = run(&stripe, &parts(&[("stripe-signature", &header)]), body).unwrap();
        for decoy in ["0", "1", "a", "f"] {
            let sent = format!("t=1700000000,v1={},v1={ours}", decoy.repeat(64));
            let again = run(&stripe, &parts(&[("stripe-signature", &sent)]), body).unwrap();
            assert_eq!(again.replay_key(), captured.replay_key());
        }
        let mut expected = [0u8; 32];
        hex::decode_to_slice(ours, &mut expected).unwrap();
        assert_eq!(captured.replay_key(), crate::ReplayKey::Mac(expected));
    }

    #[test]
    fn stripe_verifies_any_v1_and_refuses_tampering() {
        let body = br#"{"id":"evt_1"}"#;
        let header = stripe_signature(&secret(), 1_700_000_000, body);
        let stripe = Stripe::new("k");
        assert!(run(&stripe, &parts(&[("stripe-signature", &header)]), body).is_ok());
        // During a rotation: another secret's signature first, ours second, and a v0 ignored.
        let ours = header.split("v1=").nth(1).unwrap();
        let rotated = format!("t=1700000000,v1={},v1={ours},v0=abc", "1".repeat(64));
        assert!(run(&stripe, &parts(&[("stripe-signature", &rotated)]), body).is_ok());
        let only_other = format!("t=1700000000,v1={}", "1".repeat(64));
        assert!(run(&stripe, &parts(&[("stripe-signature", &only_other)]), body).is_err());
        assert!(run(&stripe, &parts(&[("stripe-signature", &header)]), b"{}").is_err());
        let moved = header.replace("t=1700000000", "t=1700000001");
        assert!(run(&stripe, &parts(&[("stripe-signature", &moved)]), body).is_err());
        for bad in ["t=1", "v1=00", "t=01,v1=", "t=1,t=2,v1=x", "nonsense"] {
            let err = stripe
                .parse(&parts(&[("stripe-signature", bad)]), 4096)
                .unwrap_err();
            assert_eq!(err.kind(), RejectionKind::MalformedAuthorization, "{bad}");
        }
    }

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
        assert_eq!(creds.untimed(), Some(DEFAULT_GITHUB_WINDOW));
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
