//! Kong's `hmac-auth` format.

use http::header::{AUTHORIZATION, PROXY_AUTHORIZATION};

use super::algorithm::Algorithm;
use super::rules::{Flavor, Rules};
use crate::scheme::Locator;

/// Kong's `hmac-auth` format (`id` `kong`).
///
/// ```
/// use tower_hmac_core::gateway::Kong;
/// let kong = Kong::new().allow_sha1().require_signed(&["request-line"]);
/// # let _ = kong;
/// ```
#[derive(Debug, Clone)]
pub struct Kong {
    pub(super) rules: Rules,
}

impl Default for Kong {
    fn default() -> Self {
        Self::new()
    }
}

impl Kong {
    /// hmac-sha256, -384 and -512; `Authorization` or `Proxy-Authorization`; replay guard on.
    pub fn new() -> Self {
        Self {
            rules: Rules::new(
                Flavor::Kong,
                &[
                    Algorithm::HmacSha256,
                    Algorithm::HmacSha384,
                    Algorithm::HmacSha512,
                ],
                Locator::AnyOf(vec![
                    Locator::AuthParams(AUTHORIZATION, "hmac"),
                    // Kong matches `hmac` anywhere in the header; its own test suite sends
                    // `"hmac username=…`.
                    Locator::AuthParams(AUTHORIZATION, "\"hmac"),
                    Locator::AuthParams(PROXY_AUTHORIZATION, "hmac"),
                ]),
            ),
        }
    }
}
