use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderName, Method, StatusCode, Uri};
use http_body::Body;
use http_body_util::{BodyExt, Limited};
use tower_hmac_core::challenge::{apply_offset, clock_offset};
use tower_hmac_core::{
    Challenge, Clock, SecretKey, SignError, Signer, SystemClock, generate_nonce,
};

/// The default limit on a body the client buffers to sign: 8 MiB.
pub const DEFAULT_CLIENT_BODY_LIMIT: u64 = 8 * 1024 * 1024;
/// The default largest clock offset a client accepts from a server's verified time: one day.
pub const DEFAULT_MAX_CLOCK_OFFSET: Duration = Duration::from_secs(24 * 60 * 60);

/// The offset between the server's clock and this one, in seconds, learned from verified
/// `stale_timestamp` challenges. Shared by every clone of a [`RequestSigner`]; read it for
/// metrics or logs. The system clock is never changed.
#[derive(Debug, Clone, Default)]
pub struct ClockOffset(Arc<AtomicI64>);

impl ClockOffset {
    /// The current offset in seconds (server − local; 0 until one is learned).
    pub fn seconds(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }

    fn set(&self, seconds: i64) {
        self.0.store(seconds, Ordering::Relaxed);
    }
}

/// How a client signs requests: one key, the headers to sign, and the clock correction.
///
/// Used by [`SignRequestLayer`](super::SignRequestLayer) (any Tower HTTP client) and, with the
/// `reqwest` feature, by [`SigningMiddleware`]. Cheap to clone; clones share the learned
/// [`ClockOffset`].
///
/// Every request gets a fresh CSPRNG nonce and the time `now + offset`. `host` is always signed
/// (and set from the URI when absent), `content-type` whenever the request has one, and any
/// header named with [`sign_header`](Self::sign_header).
///
#[cfg_attr(
    feature = "reqwest",
    doc = "[`SigningMiddleware`]: super::SigningMiddleware"
)]
#[cfg_attr(
    not(feature = "reqwest"),
    doc = "[`SigningMiddleware`]: crate#features"
)]
#[derive(Clone)]
pub struct RequestSigner {
    signer: Signer,
    headers: Vec<HeaderName>,
    body_limit: u64,
    clock: Arc<dyn Clock>,
    offset: ClockOffset,
    max_offset: Duration,
    retry_on_stale: bool,
}

/// What [`RequestSigner::sign`] put in a request: its nonce, with which the server's answer to it
/// is verified ([`RequestSigner::learn_from`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    nonce: String,
}

impl Signed {
    /// The request's nonce.
    pub fn nonce(&self) -> &str {
        &self.nonce
    }
}

impl RequestSigner {
    /// A signer for `key_id` with `key`.
    pub fn new(key_id: impl Into<String>, key: SecretKey) -> Result<Self, SignError> {
        Ok(Self {
            signer: Signer::new(key_id, key)?,
            headers: Vec::new(),
            body_limit: DEFAULT_CLIENT_BODY_LIMIT,
            clock: Arc::new(SystemClock),
            offset: ClockOffset::default(),
            max_offset: DEFAULT_MAX_CLOCK_OFFSET,
            retry_on_stale: true,
        })
    }

    /// Also sign this header; a request without it is refused with [`SignError::MissingHeader`].
    pub fn sign_header(mut self, name: HeaderName) -> Self {
        if !self.headers.contains(&name) {
            self.headers.push(name);
        }
        self
    }

    /// The largest body buffered for signing (default 8 MiB); beyond it the request fails with
    /// [`SignRequestError::BodyTooLarge`] and is not sent.
    pub fn body_limit(mut self, bytes: u64) -> Self {
        self.body_limit = bytes;
        self
    }

    /// The clock (default: the system clock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Whether to learn the server's time from a verified `stale_timestamp` challenge and retry
    /// once (default: yes).
    pub fn retry_on_stale_timestamp(mut self, enabled: bool) -> Self {
        self.retry_on_stale = enabled;
        self
    }

    /// The largest clock offset learned from a server (default one day): a verified server time
    /// further from this clock is ignored, so that even a server holding the key cannot move the
    /// client's time arbitrarily.
    pub fn max_clock_offset(mut self, max: Duration) -> Self {
        self.max_offset = max;
        self
    }

    /// The learned clock offset.
    pub fn clock_offset(&self) -> &ClockOffset {
        &self.offset
    }

    /// The key id.
    pub fn key_id(&self) -> &str {
        self.signer.key_id()
    }

    pub(crate) fn body_limit_bytes(&self) -> u64 {
        self.body_limit
    }

    pub(crate) fn retries(&self) -> bool {
        self.retry_on_stale
    }

    /// Signs a request's head in place for a body with this hash (`Host` set when absent,
    /// `Authorization` replaced and marked sensitive); returns its nonce, for
    /// [`learn_from`](Self::learn_from).
    pub fn sign(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &mut HeaderMap,
        body_sha256: &[u8; 32],
    ) -> Result<Signed, SignRequestError> {
        let mut names = self.headers.clone();
        if headers.contains_key(CONTENT_TYPE) && !names.contains(&CONTENT_TYPE) {
            names.push(CONTENT_TYPE);
        }
        let now = apply_offset(self.clock.unix_seconds(), self.offset.seconds());
        let nonce = generate_nonce().map_err(|_| SignRequestError::RandomUnavailable)?;
        self.signer
            .authorize(
                method,
                uri,
                headers,
                body_sha256,
                &tower_hmac_core::SignParams::new(now, &nonce).headers(&names),
            )
            .map_err(SignRequestError::Sign)?;
        Ok(Signed { nonce })
    }

    /// Reads the `401` answer to the request `signed`; when it is a `stale_timestamp` whose server
    /// time verifies with this key and that request's nonce, and lies within the largest offset,
    /// stores the new offset and returns `true` (retry).
    pub fn learn_from(&self, status: StatusCode, headers: &HeaderMap, signed: &Signed) -> bool {
        if status != StatusCode::UNAUTHORIZED {
            return false;
        }
        for value in headers.get_all(WWW_AUTHENTICATE) {
            let Some(challenge) = Challenge::parse(value.as_bytes()) else {
                continue;
            };
            if challenge.error() != "stale_timestamp" {
                continue;
            }
            if let Some(server_ts) =
                challenge.verified_server_time(self.signer.key(), &signed.nonce)
            {
                let offset = clock_offset(server_ts, self.clock.unix_seconds());
                if offset.unsigned_abs() > self.max_offset.as_secs() {
                    tracing::warn!(
                        target: "tower_hmac::client",
                        key_id = self.signer.key_id(),
                        offset_secs = offset,
                        max_secs = self.max_offset.as_secs(),
                        "ignored a server time further from this clock than the largest offset"
                    );
                    return false;
                }
                tracing::info!(
                    target: "tower_hmac::client",
                    key_id = self.signer.key_id(),
                    offset_secs = offset,
                    "learned the server's clock offset"
                );
                self.offset.set(offset);
                return true;
            }
            tracing::warn!(
                target: "tower_hmac::client",
                key_id = self.signer.key_id(),
                "ignored a stale_timestamp challenge whose server time does not verify"
            );
        }
        false
    }
}

impl fmt::Debug for RequestSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestSigner")
            .field("signer", &self.signer)
            .field("headers", &self.headers)
            .field("body_limit", &self.body_limit)
            .field("offset", &self.offset.seconds())
            .field("max_offset", &self.max_offset)
            .field("retry_on_stale", &self.retry_on_stale)
            .finish()
    }
}

/// Why a request could not be signed and sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignRequestError {
    /// The body is larger than the signer's limit.
    #[error("request body larger than the signing limit of {limit} bytes")]
    BodyTooLarge {
        /// The limit.
        limit: u64,
    },
    /// The body could not be read.
    #[error("cannot read the request body")]
    Body(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A body that is a stream cannot be buffered to be signed (reqwest).
    #[error("a streaming request body cannot be signed; give the body as bytes")]
    StreamingBody,
    /// The request could not be signed.
    #[error(transparent)]
    Sign(SignError),
    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator is unavailable")]
    RandomUnavailable,
}

/// Reads a body up to `limit` bytes.
pub(crate) async fn buffer_body<B>(body: B, limit: u64) -> Result<Bytes, SignRequestError>
where
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    if body.size_hint().lower() > limit {
        return Err(SignRequestError::BodyTooLarge { limit });
    }
    let limit_usize = usize::try_from(limit).unwrap_or(usize::MAX);
    match Limited::new(body, limit_usize).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            Err(SignRequestError::BodyTooLarge { limit })
        }
        Err(e) => Err(SignRequestError::Body(e)),
    }
}
