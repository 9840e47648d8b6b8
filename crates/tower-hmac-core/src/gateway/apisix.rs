//! Apache APISIX's `hmac-auth` format, 3.11 and later.

use http::header::AUTHORIZATION;

use super::algorithm::Algorithm;
use super::rules::{Flavor, Rules};
use crate::scheme::Locator;

/// Apache APISIX's `hmac-auth` format, 3.11 and later (`id` `apisix`).
///
/// ```
/// use tower_hmac_core::gateway::Apisix;
/// let apisix = Apisix::new().require_signed(&["@request-target"]);
/// # let _ = apisix;
/// ```
#[derive(Debug, Clone)]
pub struct Apisix {
    pub(super) rules: Rules,
}

impl Default for Apisix {
    fn default() -> Self {
        Self::new()
    }
}

impl Apisix {
    /// hmac-sha256 and -512; replay guard on.
    pub fn new() -> Self {
        Self {
            rules: Rules::new(
                Flavor::Apisix,
                &[Algorithm::HmacSha256, Algorithm::HmacSha512],
                Locator::AuthParams(AUTHORIZATION, "Signature"),
            ),
        }
    }
}
