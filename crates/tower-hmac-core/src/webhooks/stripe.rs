//! Stripe's `Stripe-Signature`.

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

/// The most `v1` signatures a `Stripe-Signature` may carry (one per secret during a rotation).
const MAX_STRIPE_SIGNATURES: usize = 8;

/// Stripe: `Stripe-Signature: t=<unix-seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>`,
/// with one `v1` per secret during a rotation (scheme id `stripe`). Other signature kinds Stripe
/// may add (`v0`) are ignored, as its SDKs do.
#[derive(Debug, Clone)]
pub struct Stripe {
    key_id: std::sync::Arc<str>,
    locator: Locator,
}

impl Stripe {
    /// Verifies with the registry key `key_id` (the endpoint's signing secret, `whsec_…`).
    pub fn new(key_id: impl Into<std::sync::Arc<str>>) -> Self {
        Self {
            key_id: key_id.into(),
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
            key_id: self.key_id.clone(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rejection::RejectionKind;
    use crate::webhooks::testing::{parts, run, secret};

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
}
