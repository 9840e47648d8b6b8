//! What both formats share: which format, the algorithms allowed, the names that must be
//! signed, the replay guard, and the settings that change them.

use std::collections::HashMap;
use std::fmt;

use http::header::DATE;
use http::request::Parts;
use http::{HeaderName, HeaderValue};

#[cfg(feature = "apisix")]
use super::Apisix;
#[cfg(feature = "kong")]
use super::Kong;
use super::algorithm::{Algorithm, Algorithms};
use super::signing::{authorization, client_signing_string};
use crate::key::SecretKey;
use crate::scheme::Locator;
use crate::sign::SignError;

const X_DATE: HeaderName = HeaderName::from_static("x-date");

/// Which gateway's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(all(feature = "kong", feature = "apisix")), allow(dead_code))]
pub(super) enum Flavor {
    Kong,
    Apisix,
}

impl Flavor {
    /// The parameters of the header: key id, algorithm, headers, signature.
    pub(super) const fn params(self) -> [&'static str; 4] {
        match self {
            Self::Kong => ["username", "algorithm", "headers", "signature"],
            Self::Apisix => ["keyId", "algorithm", "headers", "signature"],
        }
    }

    /// The time headers, in the order the gateway reads them.
    pub(super) const fn time_headers(self) -> [HeaderName; 2] {
        match self {
            Self::Kong => [X_DATE, DATE],
            Self::Apisix => [DATE, X_DATE],
        }
    }
}

/// What both formats share: the algorithms, the headers that must be signed, the replay guard.
#[derive(Clone)]
pub(super) struct Rules {
    pub(super) flavor: Flavor,
    pub(super) algorithms: Algorithms,
    pub(super) per_key: HashMap<Box<str>, Algorithms>,
    pub(super) required: Vec<Box<str>>,
    pub(super) replay_guard: bool,
    pub(super) locator: Locator,
}

impl fmt::Debug for Rules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rules")
            .field("flavor", &self.flavor)
            .field("algorithms", &self.algorithms)
            .field("per_key", &self.per_key.len())
            .field("required", &self.required)
            .field("replay_guard", &self.replay_guard)
            .finish()
    }
}

impl Rules {
    pub(super) fn new(flavor: Flavor, algorithms: &[Algorithm], locator: Locator) -> Self {
        Self {
            flavor,
            algorithms: Algorithms::of(algorithms),
            per_key: HashMap::new(),
            required: Vec::new(),
            replay_guard: true,
            locator,
        }
    }

    pub(super) fn allows(&self, key_id: &str, algorithm: Algorithm) -> bool {
        self.per_key
            .get(key_id)
            .copied()
            .unwrap_or(self.algorithms)
            .contains(algorithm)
    }
}

macro_rules! gateway_settings {
    ($ty:ident, $flavor:expr) => {
        impl $ty {
            /// The `Authorization` value for `parts`, signed with `key` (its text form) by
            /// `key_id` over `headers` (header names, `request-line` for Kong, `@request-target`):
            /// the client side, for tests and for services that call a gateway-fronted API. Add
            /// `Date` (and `Digest` with a body) to `parts` first.
            ///
            /// # Errors
            /// [`SignError::RepeatedHeader`] for a header to sign with more than one field line;
            /// [`SignError::InvalidKeyId`] or [`SignError::InvalidComponent`] for a key id or a
            /// name holding a control character (which the header cannot carry).
            pub fn authorization(
                &self,
                parts: &Parts,
                key_id: &str,
                key: &SecretKey,
                algorithm: Algorithm,
                headers: &[&str],
            ) -> Result<HeaderValue, SignError> {
                authorization($flavor, parts, key_id, key, algorithm, headers)
            }

            /// The string this format signs for `parts` over `headers` (by `key_id`): what a
            /// client must produce, to compare with its own when a signature is refused.
            ///
            /// # Errors
            /// [`SignError::RepeatedHeader`] for a header to sign with more than one field line.
            pub fn signing_string(
                &self,
                parts: &Parts,
                key_id: &str,
                headers: &[&str],
            ) -> Result<String, SignError> {
                let bytes = client_signing_string($flavor, parts, key_id, headers)?;
                Ok(String::from_utf8_lossy(&bytes).into_owned())
            }

            /// Also accepts `hmac-sha1` (off by default: SHA-1 is kept only for clients that
            /// cannot move).
            pub fn allow_sha1(mut self) -> Self {
                self.rules.algorithms.0 |= Algorithm::HmacSha1.bit();
                self
            }

            /// Exactly these algorithms (for every key without its own list).
            pub fn algorithms(mut self, algorithms: &[Algorithm]) -> Self {
                self.rules.algorithms = Algorithms::of(algorithms);
                self
            }

            /// The algorithms one key may use, instead of the scheme's (a legacy client's
            /// `hmac-sha1`, or a key kept to `hmac-sha512`).
            pub fn key_algorithms(mut self, key_id: &str, algorithms: &[Algorithm]) -> Self {
                self.rules
                    .per_key
                    .insert(key_id.into(), Algorithms::of(algorithms));
                self
            }

            /// Names every signature must cover besides the time header (the gateways'
            /// `enforce_headers` / `signed_headers`): `request-line`, `@request-target`,
            /// `content-type`, … Refused with `missing_covered_component` otherwise.
            pub fn require_signed(mut self, names: &[&str]) -> Self {
                self.rules.required = names
                    .iter()
                    .map(|n| n.to_ascii_lowercase().into())
                    .collect();
                self
            }

            /// Whether a signature is recorded so that it cannot be used twice within the
            /// window (default: yes). Turning it off gives back the gateway's behaviour.
            pub fn replay_guard(mut self, enabled: bool) -> Self {
                self.rules.replay_guard = enabled;
                self
            }
        }
    };
}

#[cfg(feature = "kong")]
gateway_settings!(Kong, Flavor::Kong);

#[cfg(feature = "apisix")]
gateway_settings!(Apisix, Flavor::Apisix);

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(headers: &[(&str, &str)]) -> Parts {
        let mut builder = http::Request::get("/orders?id=7");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).unwrap().into_parts().0
    }

    fn key() -> SecretKey {
        SecretKey::from_text("a-long-enough-gateway-secret").unwrap()
    }

    #[cfg(feature = "kong")]
    #[test]
    fn kong_names_a_repeated_header() {
        let mut p = parts(&[("date", "Tue, 15 Sep 2026 10:00:00 GMT")]);
        p.headers.append("x-tag", "a".parse().unwrap());
        p.headers.append("x-tag", "b".parse().unwrap());
        let kong = Kong::new();
        let names = ["date", "x-tag"];
        let err = kong
            .authorization(&p, "bob", &key(), Algorithm::HmacSha256, &names)
            .unwrap_err();
        assert_eq!(err, SignError::RepeatedHeader("x-tag".into()));
        assert!(err.to_string().contains("x-tag"), "{err}");
        let err = kong.signing_string(&p, "bob", &names).unwrap_err();
        assert_eq!(err, SignError::RepeatedHeader("x-tag".into()));
    }

    #[cfg(feature = "apisix")]
    #[test]
    fn apisix_names_a_repeated_header() {
        let mut p = parts(&[]);
        p.headers.append("date", "a".parse().unwrap());
        p.headers.append("date", "b".parse().unwrap());
        let apisix = Apisix::new();
        let err = apisix
            .authorization(&p, "bob", &key(), Algorithm::HmacSha256, &["date"])
            .unwrap_err();
        assert_eq!(err, SignError::RepeatedHeader("date".into()));
        let err = apisix.signing_string(&p, "bob", &["date"]).unwrap_err();
        assert_eq!(err, SignError::RepeatedHeader("date".into()));
    }

    #[cfg(feature = "kong")]
    #[test]
    fn a_name_the_header_cannot_carry_is_an_invalid_component() {
        let p = parts(&[("date", "Tue, 15 Sep 2026 10:00:00 GMT")]);
        let err = Kong::new()
            .authorization(&p, "bob", &key(), Algorithm::HmacSha256, &["date", "x\na"])
            .unwrap_err();
        assert_eq!(
            err,
            SignError::InvalidComponent {
                component: "x\na".into(),
                reason: "it holds a control character, which a header cannot carry",
            }
        );
        // The message names the component on one line.
        assert_eq!(
            err.to_string(),
            "component `x\\na` cannot be signed: it holds a control character, which a header \
             cannot carry"
        );
    }

    #[cfg(feature = "apisix")]
    #[test]
    fn a_key_id_the_header_cannot_carry_is_an_invalid_key_id() {
        let p = parts(&[("date", "Tue, 15 Sep 2026 10:00:00 GMT")]);
        let err = Apisix::new()
            .authorization(&p, "b\rob", &key(), Algorithm::HmacSha256, &["date"])
            .unwrap_err();
        assert_eq!(err, SignError::InvalidKeyId);
    }
}
