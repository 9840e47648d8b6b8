//! AWS Signature Version 4 (feature `sigv4`): requests signed by the AWS SDKs, botocore/boto3,
//! the AWS CLI, `curl --aws-sigv4`, rclone and the S3 tools, verified with the registry's keys.
//!
//! ```text
//! Authorization: AWS4-HMAC-SHA256 Credential=<key id>/<yyyymmdd>/<region>/<service>/aws4_request,
//!                SignedHeaders=host;x-amz-date, Signature=<64 hex>
//! X-Amz-Date: 20150830T123600Z                (or Date: <HTTP-date>)
//!
//! canonical request = method \n canonical URI \n canonical query \n canonical headers \n
//!                     signed headers \n payload hash
//! string to sign    = AWS4-HMAC-SHA256 \n <X-Amz-Date> \n <scope> \n hex(SHA-256(canonical request))
//! signing key       = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, yyyymmdd), region), service), "aws4_request")
//! signature         = hex(HMAC(signing key, string to sign))
//! ```
//!
//! The access key id is the registry's key id and the secret access key is the key's
//! [text form](crate::SecretKey::text_form) (its Base64, as `tower-hmac keygen` prints it).
//! Presigned URLs (`X-Amz-Algorithm`, `X-Amz-Credential`, `X-Amz-Date`, `X-Amz-Expires`,
//! `X-Amz-SignedHeaders`, `X-Amz-Signature` in the query) and streaming uploads
//! (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD`, `Content-Encoding: aws-chunked`) are verified by the
//! same scheme; docs/PROTOCOL.md §5e has the details and the settings.
//!
//! The server builds the [`CanonicalRequest`] and the [`StringToSign`] as types whose `Display`
//! is exactly the text the MAC covers: what an `invalid_signature` answer digests (or shows, in
//! clear diagnostics) is what was signed.
//!
//! # Settings
//!
//! Each setting is a typed value, as in `aws-sigv4`'s `SigningSettings`; the defaults are the
//! secure ones:
//!
//! | setter | values (default first) |
//! |---|---|
//! | [`path_rule`](SigV4::path_rule), [`s3_service`](SigV4::s3_service) | [`PathRule::Generic`], [`PathRule::S3`] |
//! | [`unsigned_payload`](SigV4::unsigned_payload) | [`UnsignedPayload::Refused`], [`UnsignedPayload::UnderPaths`], [`UnsignedPayload::Anywhere`] |
//! | [`security_token`](SigV4::security_token) | [`SecurityToken::Refused`], [`SecurityToken::Accepted`] |
//! | [`query_order`](SigV4::query_order) | [`QueryOrder::SortedOrAsSent`], [`QueryOrder::Sorted`] |
//! | [`replay_guard`](SigV4::replay_guard) | [`ReplayGuard::RecordSignature`], [`ReplayGuard::Off`] |
//! | [`presigned_url_use`](SigV4::presigned_url_use) | [`PresignedUrlUse::Bearer`], [`PresignedUrlUse::OneTime`] |
//!
//! The defaults, for the SDKs' generic clients of one region and one service:
//!
//! ```
//! use tower_hmac_core::sigv4::SigV4;
//!
//! let sigv4 = SigV4::new("eu-west-1", "execute-api");
//! # let _ = sigv4;
//! ```
//!
//! Customised, for S3 clients that upload without signing the body under `/objects/`, with
//! one-time presigned URLs and AWS's query rule only:
//!
//! ```
//! use std::time::Duration;
//! use tower_hmac_core::sigv4::{PresignedUrlUse, QueryOrder, SigV4, UnsignedPayload};
//!
//! let sigv4 = SigV4::new("us-east-1", "demo")
//!     .s3_service("s3")
//!     .unsigned_payload(UnsignedPayload::under_paths(["/objects/"]))
//!     .presigned_url_use(PresignedUrlUse::OneTime)
//!     .max_presign_expires(Duration::from_secs(3600))
//!     .query_order(QueryOrder::Sorted);
//! # let _ = sigv4;
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;

use crate::Locator;
use crate::{Rejection, RejectionKind};

mod canonical;
mod chunked;
mod credentials;
mod date;
mod hexdigits;
mod path;
mod presign;
mod settings;
mod signing_key;
mod verify;

pub use canonical::{CanonicalRequest, StringToSign};
pub use credentials::SigV4Credentials;
pub use date::{format_amz_date, parse_amz_date};
pub use presign::{PresignParams, presign_url};
pub use settings::{
    PathRule, PresignedUrlUse, QueryOrder, ReplayGuard, SecurityToken, UnsignedPayload,
};
pub use signing_key::derive_signing_key;
pub use verify::SigV4Pending;

use signing_key::KeyCache;

/// The algorithm name, in the `Authorization` header and in `X-Amz-Algorithm`.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The payload hash of a request whose body is not signed.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// The payload hash of a streaming (`aws-chunked`) upload whose chunks are signed.
pub const STREAMING_PAYLOAD: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
/// The longest `X-Amz-Expires` AWS allows, and the default cap: 7 days.
pub const MAX_PRESIGN_EXPIRES: Duration = Duration::from_secs(604_800);
/// SigV4's default window: a request is accepted 15 minutes either side of its `X-Amz-Date`.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(900);

/// The `Authorization` token of AWS Signature Version 2 (`AWS <key id>:<signature>`), refused.
const SIGV2_TOKEN: &str = "AWS";
/// The query parameter of a SigV2 presigned URL (`AWSAccessKeyId`, `Signature`, `Expires`),
/// refused.
const SIGV2_QUERY_KEY: &str = "AWSAccessKeyId";

/// The most signed headers one request may list.
pub const MAX_SIGNED_HEADERS: usize = 64;

const X_AMZ_DATE: HeaderName = HeaderName::from_static("x-amz-date");
const X_AMZ_CONTENT_SHA256: HeaderName = HeaderName::from_static("x-amz-content-sha256");
const X_AMZ_SECURITY_TOKEN: HeaderName = HeaderName::from_static("x-amz-security-token");
const X_AMZ_DECODED_LENGTH: HeaderName = HeaderName::from_static("x-amz-decoded-content-length");

/// The AWS SigV4 scheme (id `sigv4`), header form and presigned URLs.
///
/// ```
/// use tower_hmac_core::sigv4::{SigV4, UnsignedPayload};
///
/// let sigv4 = SigV4::new("us-east-1", "demo")
///     // S3 clients: the S3 path rule, and their UNSIGNED-PAYLOAD uploads under /objects/.
///     .s3_service("s3")
///     .unsigned_payload(UnsignedPayload::under_paths(["/objects/"]));
/// # let _ = sigv4;
/// ```
#[derive(Clone)]
pub struct SigV4 {
    regions: Vec<Box<str>>,
    services: Vec<(Box<str>, PathRule)>,
    unsigned_payload: UnsignedPayload,
    security_token: SecurityToken,
    query_order: QueryOrder,
    replay_guard: ReplayGuard,
    presigned_url_use: PresignedUrlUse,
    max_expires: u64,
    presigned_methods: Vec<http::Method>,
    window: Duration,
    locator: Locator,
    cache: Arc<KeyCache>,
}

impl fmt::Debug for SigV4 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigV4")
            .field("regions", &self.regions)
            .field("services", &self.services)
            .field("unsigned_payload", &self.unsigned_payload)
            .field("security_token", &self.security_token)
            .field("query_order", &self.query_order)
            .field("replay_guard", &self.replay_guard)
            .field("presigned_url_use", &self.presigned_url_use)
            .field("max_expires", &self.max_expires)
            .field("presigned_methods", &self.presigned_methods)
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

impl SigV4 {
    /// The scheme for one region and one service (the generic path rule), with the secure
    /// defaults: signed payloads only, no session tokens, the header form guarded against
    /// replays, a 15-minute window, presigned URLs valid for at most 7 days.
    pub fn new(region: &str, service: &str) -> Self {
        Self {
            regions: vec![region.into()],
            services: vec![(service.into(), PathRule::Generic)],
            unsigned_payload: UnsignedPayload::default(),
            security_token: SecurityToken::default(),
            query_order: QueryOrder::default(),
            replay_guard: ReplayGuard::default(),
            presigned_url_use: PresignedUrlUse::default(),
            max_expires: MAX_PRESIGN_EXPIRES.as_secs(),
            presigned_methods: vec![http::Method::GET, http::Method::HEAD, http::Method::PUT],
            window: DEFAULT_WINDOW,
            locator: Locator::AnyOf(vec![
                Locator::Authorization(ALGORITHM),
                Locator::Query("X-Amz-Signature"),
                Locator::Query("X-Amz-Credential"),
                // SigV2's header and presigned URL: claimed only to be refused with a clear
                // answer (`unsupported_scheme`, naming the fix), not `missing_authorization`.
                Locator::Authorization(SIGV2_TOKEN),
                Locator::Query(SIGV2_QUERY_KEY),
            ]),
            cache: Arc::new(KeyCache::new(KeyCache::DEFAULT_CAPACITY)),
        }
    }

    /// Also accepts this region in the credential scope.
    pub fn region(mut self, region: &str) -> Self {
        self.regions.push(region.into());
        self
    }

    /// Also accepts this service, with the generic path rule.
    pub fn service(mut self, service: &str) -> Self {
        self.services.push((service.into(), PathRule::Generic));
        self
    }

    /// Also accepts this service, with S3's path rule (no double encoding, no normalisation).
    pub fn s3_service(mut self, service: &str) -> Self {
        self.services.push((service.into(), PathRule::S3));
        self
    }

    /// Sets the path rule of a service already accepted (or adds the service).
    pub fn path_rule(mut self, service: &str, rule: PathRule) -> Self {
        match self.services.iter_mut().find(|(s, _)| &**s == service) {
            Some(entry) => entry.1 = rule,
            None => self.services.push((service.into(), rule)),
        }
        self
    }

    /// Where a body may go uncovered by the signature (default [`UnsignedPayload::Refused`]):
    /// `X-Amz-Content-Sha256: UNSIGNED-PAYLOAD` in the header form, and a presigned URL's body
    /// (a presigned URL signs `UNSIGNED-PAYLOAD`, by AWS's design). Outside it, the header form
    /// must sign its body, and a presigned URL is accepted without a body only (a presigned
    /// GET), unless its client signed the body's hash. **[`UnsignedPayload::Anywhere`] weakens
    /// security**: the body of any request may then be replaced by whoever holds it.
    pub fn unsigned_payload(mut self, rule: UnsignedPayload) -> Self {
        self.unsigned_payload = rule;
        self
    }

    /// Whether `X-Amz-Security-Token` (header or query) is accepted (default
    /// [`SecurityToken::Refused`]). Accepted, the token is not checked — this server issues
    /// none.
    pub fn security_token(mut self, rule: SecurityToken) -> Self {
        self.security_token = rule;
        self
    }

    /// Which query orders are tried (default [`QueryOrder::SortedOrAsSent`]: AWS's sorted query,
    /// then on a mismatch the query in the order sent, for curl 7.88).
    pub fn query_order(mut self, order: QueryOrder) -> Self {
        self.query_order = order;
        self
    }

    /// How the header form is guarded against replays (default [`ReplayGuard::RecordSignature`]).
    /// **[`ReplayGuard::Off`] weakens security**: a captured request can then be replayed within
    /// the window.
    pub fn replay_guard(mut self, guard: ReplayGuard) -> Self {
        self.replay_guard = guard;
        self
    }

    /// How often a presigned URL may be used (default [`PresignedUrlUse::Bearer`]: as often as
    /// its holder likes until it expires; [`PresignedUrlUse::OneTime`]: once).
    pub fn presigned_url_use(mut self, rule: PresignedUrlUse) -> Self {
        self.presigned_url_use = rule;
        self
    }

    /// The longest `X-Amz-Expires` accepted, at most (and by default) 7 days.
    pub fn max_presign_expires(mut self, max: Duration) -> Self {
        self.max_expires = max.as_secs().clamp(1, MAX_PRESIGN_EXPIRES.as_secs());
        self
    }

    /// The methods a presigned URL may be used with: GET, HEAD (downloads) and PUT (uploads) by
    /// default. A presigned URL is a bearer link: allow `DELETE` or `POST` only knowingly.
    pub fn presigned_methods(mut self, methods: impl IntoIterator<Item = http::Method>) -> Self {
        self.presigned_methods = methods.into_iter().collect();
        self
    }

    /// The window around `X-Amz-Date` in which a header-form request is accepted (15 minutes by
    /// default, as AWS; 1 s to 1 h). It replaces the layer's window for this scheme.
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window.clamp(Duration::from_secs(1), Duration::from_secs(3600));
        self
    }

    /// How many derived signing keys are cached (one per key, day, region and service; 1024 by
    /// default). A full cache is emptied.
    pub fn signing_key_cache(mut self, capacity: usize) -> Self {
        self.cache = Arc::new(KeyCache::new(capacity));
        self
    }

    fn rule_of(&self, service: &str) -> Option<PathRule> {
        self.services
            .iter()
            .find(|(s, _)| &**s == service)
            .map(|(_, rule)| *rule)
    }
}

/// `unsupported_scheme` for a request signed with SigV2 (botocore's and boto3's default for
/// S3 presigned URLs): what is not supported, and the client setting that fixes it.
fn sigv2_refused(form: &'static str) -> Rejection {
    Rejection::new(RejectionKind::UnsupportedScheme).with_detail(format!(
        "AWS Signature Version 2 (SigV2: {form}) is not supported; sign with SigV4 \
         (AWS4-HMAC-SHA256). boto3/botocore: \
         Config(signature_version=\"s3v4\"); AWS CLI: `aws configure set \
         default.s3.signature_version s3v4`"
    ))
}

fn malformed(detail: impl Into<std::borrow::Cow<'static, str>>) -> Rejection {
    Rejection::new(RejectionKind::MalformedAuthorization).with_detail(detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_the_secure_ones() {
        let sigv4 = SigV4::new("us-east-1", "demo");
        assert_eq!(sigv4.unsigned_payload, UnsignedPayload::Refused);
        assert_eq!(sigv4.security_token, SecurityToken::Refused);
        assert_eq!(sigv4.query_order, QueryOrder::SortedOrAsSent);
        assert_eq!(sigv4.replay_guard, ReplayGuard::RecordSignature);
        assert_eq!(sigv4.presigned_url_use, PresignedUrlUse::Bearer);
        assert_eq!(sigv4.max_expires, MAX_PRESIGN_EXPIRES.as_secs());
        assert_eq!(sigv4.window, DEFAULT_WINDOW);
        assert_eq!(sigv4.rule_of("demo"), Some(PathRule::Generic));
    }

    #[test]
    fn each_setter_sets_its_value() {
        let sigv4 = SigV4::new("us-east-1", "demo")
            .unsigned_payload(UnsignedPayload::Anywhere)
            .security_token(SecurityToken::Accepted)
            .query_order(QueryOrder::Sorted)
            .replay_guard(ReplayGuard::Off)
            .presigned_url_use(PresignedUrlUse::OneTime)
            .path_rule("demo", PathRule::S3);
        assert_eq!(sigv4.unsigned_payload, UnsignedPayload::Anywhere);
        assert_eq!(sigv4.security_token, SecurityToken::Accepted);
        assert_eq!(sigv4.query_order, QueryOrder::Sorted);
        assert_eq!(sigv4.replay_guard, ReplayGuard::Off);
        assert_eq!(sigv4.presigned_url_use, PresignedUrlUse::OneTime);
        assert_eq!(sigv4.rule_of("demo"), Some(PathRule::S3));
    }
}
