//! The ID:TS:HMAC token (feature `token`): the minimal form for shell scripts and small clients.
//!
//! ```text
//! X-Auth-Token: <client-id>:<unix-seconds>:<hex HMAC-SHA256(secret, "<client-id>.<unix-seconds>")>
//! ```
//!
//! The secret is the key's text form as UTF-8 ([`SecretKey::text_form`]: the Base64 exactly as
//! `tower-hmac keygen` prints it, or a provider's string). **The token is not bound to the
//! request**: it proves the holder of the key made it within the window, nothing about the
//! method, path, query or body. Accept it only on the routes that need it (reserve them for it:
//! `HmacAuthBuilder::reserve(["token"], …)` in `tower-hmac`), keep the window short (default
//! 30 s), and keep keys meant for request signing away from it (`schemes = ["v1"]` in the registry). Each token is accepted
//! once: its MAC is recorded by the replay guard until the window ends.
//!
//! ```
//! use tower_hmac_core::{SecretKey, token};
//!
//! let key = SecretKey::from_base64("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").unwrap();
//! let value = token::issue("backoffice-2026", 1_700_000_000, &key).unwrap();
//! assert!(value.starts_with("backoffice-2026:1700000000:"));
//! ```

use std::fmt;
use std::time::Duration;

use http::HeaderName;
use http::request::Parts;
use subtle::ConstantTimeEq;

use crate::authorization::is_valid_key_id;
use crate::key::SecretKey;
use crate::rejection::{Rejection, RejectionKind};
use crate::scheme::{Credentials, Freshness, Locator, Scheme, Verified};
use crate::sign::SignError;

/// The header that carries the token.
pub const HEADER: HeaderName = HeaderName::from_static("x-auth-token");
/// The default window: a token is valid for 30 s after its timestamp.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(30);
/// The longest token parsed.
const MAX_LEN: usize = 128 + 1 + 12 + 1 + 64;

/// The token scheme (id `token`).
#[derive(Debug, Clone)]
pub struct Token {
    window: Duration,
    locator: Locator,
}

impl Default for Token {
    fn default() -> Self {
        Self::new(DEFAULT_WINDOW)
    }
}

impl Token {
    /// A token valid for `window` after its timestamp (whole seconds; 1 s to 1 h — longer
    /// windows are refused: a leaked token is usable for the whole window).
    pub fn new(window: Duration) -> Self {
        let secs = window.as_secs().clamp(1, 3600);
        Self {
            window: Duration::from_secs(secs),
            locator: Locator::Header(HEADER),
        }
    }

    /// The window.
    pub fn window(&self) -> Duration {
        self.window
    }
}

/// A parsed token.
#[derive(Clone)]
pub struct TokenCredentials {
    client_id: String,
    timestamp: u64,
    expires: u64,
    mac_hex: String,
    mac: [u8; 32],
}

impl fmt::Debug for TokenCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCredentials")
            .field("client_id", &self.client_id)
            .field("timestamp", &self.timestamp)
            .field("mac", &"[present]")
            .finish()
    }
}

impl Credentials for TokenCredentials {
    fn key_id(&self) -> &str {
        &self.client_id
    }
    /// The MAC: a token is accepted once.
    fn nonce(&self) -> &str {
        &self.mac_hex
    }
    fn freshness(&self) -> Freshness {
        Freshness::Until {
            from: self.timestamp,
            until: self.expires,
        }
    }
}

fn malformed(detail: &'static str) -> Rejection {
    Rejection::new(RejectionKind::MalformedAuthorization).with_detail(detail)
}

/// The MAC of a token: `HMAC-SHA256(text form of the key, "<client-id>.<unix-seconds>")`.
fn mac(client_id: &str, timestamp: u64, key: &SecretKey) -> [u8; 32] {
    use hmac::Mac;
    let mut mac = key.text_mac();
    mac.update(client_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.finalize().into_bytes().into()
}

/// A token for `client_id` at `timestamp` (Unix seconds), as a client makes it.
pub fn issue(client_id: &str, timestamp: u64, key: &SecretKey) -> Result<String, SignError> {
    if !is_valid_key_id(client_id) {
        return Err(SignError::InvalidKeyId);
    }
    Ok(format!(
        "{client_id}:{timestamp}:{}",
        hex::encode(mac(client_id, timestamp, key))
    ))
}

impl Scheme for Token {
    type Credentials = TokenCredentials;
    type Pending = ();

    fn id(&self) -> &'static str {
        "token"
    }

    fn name(&self) -> &'static str {
        "X-Auth-Token"
    }

    fn locator(&self) -> &Locator {
        &self.locator
    }

    fn parse(&self, parts: &Parts, max_header_len: usize) -> Result<TokenCredentials, Rejection> {
        let mut values = parts.headers.get_all(HEADER).iter();
        let (Some(value), None) = (values.next(), values.next()) else {
            return Err(malformed("exactly one X-Auth-Token header"));
        };
        let value = value.as_bytes();
        if value.len() > MAX_LEN.min(max_header_len) {
            return Err(malformed("X-Auth-Token is too long"));
        }
        let text = std::str::from_utf8(value).map_err(|_| malformed("X-Auth-Token is not text"))?;
        let mut fields = text.split(':');
        let (Some(client_id), Some(ts), Some(mac_hex), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(malformed(
                "X-Auth-Token is <client-id>:<unix-seconds>:<hex>",
            ));
        };
        if !is_valid_key_id(client_id) {
            return Err(malformed(
                "the client id is 1 to 128 of A-Z a-z 0-9 . _ ~ -",
            ));
        }
        if ts.is_empty()
            || ts.len() > 12
            || !ts.bytes().all(|b| b.is_ascii_digit())
            || (ts.len() > 1 && ts.starts_with('0'))
        {
            return Err(malformed("the time is 1 to 12 digits, no leading zero"));
        }
        let timestamp: u64 = ts.parse().map_err(|_| malformed("bad time"))?;
        let mut mac = [0u8; 32];
        if mac_hex.len() != 64
            || !mac_hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            || hex::decode_to_slice(mac_hex, &mut mac).is_err()
        {
            return Err(malformed("the MAC is 64 lower-case hex digits"));
        }
        Ok(TokenCredentials {
            client_id: client_id.to_owned(),
            timestamp,
            expires: timestamp.saturating_add(self.window.as_secs()),
            mac_hex: mac_hex.to_owned(),
            mac,
        })
    }

    fn prepare(&self, _: &TokenCredentials, _: &Parts, _: &SecretKey) -> Result<(), Rejection> {
        Ok(())
    }

    fn update(&self, _: &mut (), _: &[u8]) {}

    fn verify(&self, t: &TokenCredentials, (): (), key: &SecretKey) -> Result<Verified, Rejection> {
        let expected = mac(&t.client_id, t.timestamp, key);
        if bool::from(expected.ct_eq(&t.mac)) {
            // A token is accepted once: its MAC is the replay key.
            Ok(Verified::mac(&expected))
        } else {
            Err(Rejection::new(RejectionKind::InvalidSignature))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SecretKey {
        SecretKey::from_base64("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").unwrap()
    }

    fn parts(value: &str) -> Parts {
        http::Request::get("/")
            .header("x-auth-token", value)
            .body(())
            .unwrap()
            .into_parts()
            .0
    }

    #[test]
    fn issues_and_verifies() {
        let value = issue("backoffice-2026", 1_700_000_000, &key()).unwrap();
        let scheme = Token::default();
        let creds = scheme.parse(&parts(&value), 4096).unwrap();
        assert_eq!(
            creds.freshness(),
            Freshness::Until {
                from: 1_700_000_000,
                until: 1_700_000_030
            }
        );
        assert!(scheme.verify(&creds, (), &key()).is_ok());
        let other = SecretKey::from_bytes(&[9; 32]).unwrap();
        assert!(scheme.verify(&creds, (), &other).is_err());
        // Another client id or time in the same MAC does not verify.
        let forged = value.replacen("1700000000", "1700000001", 1);
        let creds = scheme.parse(&parts(&forged), 4096).unwrap();
        assert!(scheme.verify(&creds, (), &key()).is_err());
    }

    #[test]
    fn matches_known_answers_computed_with_openssl() {
        // printf '%s' "backoffice-2026.1700000000" | openssl dgst -sha256 -hmac "<Base64 text>"
        assert_eq!(
            issue("backoffice-2026", 1_700_000_000, &key()).unwrap(),
            "backoffice-2026:1700000000:b9c5cc6fc06deb091b507480c39df7a61be4807dfbfe96bfad32da63f0f5e422"
        );
        // A provider's secret is used as issued.
        let provider = SecretKey::from_text("whsec_provider_secret_text_0001").unwrap();
        assert_eq!(
            issue("stripe-like", 1_732_420_000, &provider).unwrap(),
            "stripe-like:1732420000:069836804f9bd637bec356f7ac46020e1f3b6669a6114745f4a2ab33621a938b"
        );
    }

    proptest::proptest! {
        #[test]
        fn parsing_any_bytes_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            if let Ok(value) = http::HeaderValue::from_bytes(&bytes) {
                let parts = http::Request::get("/").header("x-auth-token", value).body(()).unwrap().into_parts().0;
                if let Ok(creds) = Token::default().parse(&parts, 4096) {
                    // Whatever parsed has the shape it claims.
                    proptest::prop_assert_eq!(creds.mac_hex.len(), 64);
                    proptest::prop_assert!(creds.expires >= creds.timestamp);
                }
            }
        }
    }

    #[test]
    fn parses_strictly() {
        let scheme = Token::default();
        let mac = "0".repeat(64);
        for bad in [
            String::new(),
            "a:1".into(),
            format!("a:1:{mac}:x"),
            format!("a b:1:{mac}"),
            format!("a:01:{mac}"),
            format!("a::{mac}"),
            format!("a:1:{}", "A".repeat(64)),
            format!("a:1:{}", "0".repeat(63)),
        ] {
            let err = scheme.parse(&parts(&bad), 4096).unwrap_err();
            assert_eq!(err.kind(), RejectionKind::MalformedAuthorization, "{bad}");
        }
    }
}
