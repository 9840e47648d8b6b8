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
use super::signing::{authorization, signing_string};
use crate::key::SecretKey;
use crate::rejection::Rejection;
use crate::scheme::Locator;

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
            pub fn authorization(
                &self,
                parts: &Parts,
                key_id: &str,
                key: &SecretKey,
                algorithm: Algorithm,
                headers: &[&str],
            ) -> Result<HeaderValue, Rejection> {
                authorization($flavor, parts, key_id, key, algorithm, headers)
            }

            /// The string this format signs for `parts` over `headers` (by `key_id`): what a
            /// client must produce, to compare with its own when a signature is refused.
            pub fn signing_string(
                &self,
                parts: &Parts,
                key_id: &str,
                headers: &[&str],
            ) -> Result<String, Rejection> {
                let headers: Vec<Box<str>> = headers.iter().map(|&h| h.into()).collect();
                let bytes = signing_string($flavor, parts, key_id, &headers)?;
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
