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

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use bytes::{Buf, Bytes, BytesMut};
use hmac::{Hmac, KeyInit, Mac};
use http::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_LENGTH, DATE, HOST, HeaderValue};
use http::request::Parts;
use http::{HeaderMap, HeaderName};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::authorization::is_valid_key_id;
use crate::key::SecretKey;
use crate::rejection::{Rejection, RejectionKind};
use crate::scheme::{Credentials, Locator, Scheme, Verified};

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

/// The most signed headers one request may list.
pub const MAX_SIGNED_HEADERS: usize = 64;
/// The longest chunk header (`<hex size>;chunk-signature=<64 hex>`) of a streaming upload.
const MAX_CHUNK_HEADER: usize = 128;
const CHUNK_ALGORITHM: &str = "AWS4-HMAC-SHA256-PAYLOAD";
const EMPTY_SHA256_HEX: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

const X_AMZ_DATE: HeaderName = HeaderName::from_static("x-amz-date");
const X_AMZ_CONTENT_SHA256: HeaderName = HeaderName::from_static("x-amz-content-sha256");
const X_AMZ_SECURITY_TOKEN: HeaderName = HeaderName::from_static("x-amz-security-token");
const X_AMZ_DECODED_LENGTH: HeaderName = HeaderName::from_static("x-amz-decoded-content-length");

/// Lower-case hex of a SHA-256 (or HMAC-SHA256) output, on the stack.
fn hex32(bytes: &[u8]) -> [u8; 64] {
    let mut out = [0u8; 64];
    // 32 bytes into 64: cannot fail for the outputs this module passes.
    let _ = hex::encode_to_slice(bytes, &mut out);
    out
}

/// 64 lower-case hex digits → 32 bytes, in one pass (`None` for anything else).
fn unhex32(text: &[u8]) -> Option<[u8; 32]> {
    fn nibble(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            _ => None,
        }
    }
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

/// The text of [`hex32`]'s output (always ASCII).
fn hex_str(hex: &[u8; 64]) -> &str {
    std::str::from_utf8(hex).unwrap_or_default()
}

/// AWS's URI encoding: every byte but `A–Z a–z 0–9 - . _ ~` as `%XX`, upper-case.
const AWS_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
/// The same, keeping `/` (paths).
const AWS_ENCODE_PATH: &AsciiSet = &AWS_ENCODE.remove(b'/');

/// How a service's canonical URI is built from the request's path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PathRule {
    /// Every service but S3: the path, with `.`/`..` and empty segments removed, URI-encoded
    /// again — so each segment of the unencoded path is encoded twice. A request whose path that
    /// removal would change is refused (`malformed_authorization`): the path verified must be
    /// the path the router sees.
    Generic,
    /// S3: the path exactly as sent (encoded once), no normalisation.
    S3,
}

/// The AWS SigV4 scheme (id `sigv4`), header form and presigned URLs.
///
/// ```
/// use tower_hmac_core::sigv4::SigV4;
///
/// let sigv4 = SigV4::new("us-east-1", "demo")
///     .s3_service("s3")                 // S3 clients: the S3 path rule
///     .allow_unsigned_payload(true);    // S3 clients sending UNSIGNED-PAYLOAD
/// # let _ = sigv4;
/// ```
#[derive(Clone)]
pub struct SigV4 {
    regions: Vec<Box<str>>,
    services: Vec<(Box<str>, PathRule)>,
    unsigned_payload: UnsignedPayload,
    security_token: bool,
    as_sent_query: bool,
    replay_guard: bool,
    one_time_presigned: bool,
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
            .field("as_sent_query", &self.as_sent_query)
            .field("replay_guard", &self.replay_guard)
            .field("one_time_presigned", &self.one_time_presigned)
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
            unsigned_payload: UnsignedPayload::Refused,
            security_token: false,
            as_sent_query: true,
            replay_guard: true,
            one_time_presigned: false,
            max_expires: MAX_PRESIGN_EXPIRES.as_secs(),
            presigned_methods: vec![http::Method::GET, http::Method::HEAD, http::Method::PUT],
            window: DEFAULT_WINDOW,
            locator: Locator::AnyOf(vec![
                Locator::Authorization(ALGORITHM),
                Locator::Query("X-Amz-Signature"),
                Locator::Query("X-Amz-Credential"),
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

    /// Accepts `X-Amz-Content-Sha256: UNSIGNED-PAYLOAD` in the header form anywhere (`true`:
    /// [`UnsignedPayload::Anywhere`]) or nowhere (`false`, the default:
    /// [`UnsignedPayload::Refused`]). See [`unsigned_payload`](Self::unsigned_payload) to allow it
    /// on some paths only.
    pub fn allow_unsigned_payload(mut self, allow: bool) -> Self {
        self.unsigned_payload = if allow {
            UnsignedPayload::Anywhere
        } else {
            UnsignedPayload::Refused
        };
        self
    }

    /// Where a body may go uncovered by the signature (default [`UnsignedPayload::Refused`]):
    /// `X-Amz-Content-Sha256: UNSIGNED-PAYLOAD` in the header form, and a presigned URL's body
    /// (a presigned URL signs `UNSIGNED-PAYLOAD`, by AWS's design). Outside it, the header form
    /// must sign its body, and a presigned URL is accepted without a body only (a presigned
    /// GET), unless its client signed the body's hash.
    pub fn unsigned_payload(mut self, rule: UnsignedPayload) -> Self {
        self.unsigned_payload = rule;
        self
    }

    /// Accepts a signed `X-Amz-Security-Token` (header or query; off by default). The token is
    /// not checked — this server issues none — it is only covered by the signature.
    pub fn allow_security_token(mut self, allow: bool) -> Self {
        self.security_token = allow;
        self
    }

    /// When the sorted canonical query does not match, also tries the query in the order sent
    /// (on by default): curl 7.88 (Debian 12) signs it unsorted (curl issue #9717). One more MAC,
    /// only on a mismatch, over the same signed request: nothing unsigned is accepted.
    pub fn as_sent_query_order(mut self, allow: bool) -> Self {
        self.as_sent_query = allow;
        self
    }

    /// Whether the header form is guarded against replays (on by default): SigV4 has no nonce,
    /// so the signature itself is recorded for the window.
    pub fn replay_guard(mut self, enabled: bool) -> Self {
        self.replay_guard = enabled;
        self
    }

    /// One-time presigned URLs (off by default: a presigned URL is a bearer link, usable by
    /// whoever holds it until it expires). On: the first use is recorded in the replay store
    /// until the URL expires, and any later use is a `replayed_nonce`.
    pub fn one_time_presigned_urls(mut self, enabled: bool) -> Self {
        self.one_time_presigned = enabled;
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

fn malformed(detail: impl Into<std::borrow::Cow<'static, str>>) -> Rejection {
    Rejection::new(RejectionKind::MalformedAuthorization).with_detail(detail)
}

/// How the body is covered.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Payload {
    /// No `X-Amz-Content-Sha256`: the hash of the body the layer reads.
    Computed,
    /// `X-Amz-Content-Sha256: <hex>`: signed as declared, and checked against the body.
    Declared([u8; 32]),
    /// `UNSIGNED-PAYLOAD`.
    Unsigned,
    /// A presigned URL without `X-Amz-Content-Sha256`: `UNSIGNED-PAYLOAD` (S3 and the SDKs'
    /// presigners) or the body's hash (botocore's generic `SigV4QueryAuth`), whichever the
    /// client signed.
    Presigned,
    /// A presigned URL where bodies must be signed ([`UnsignedPayload`]): `UNSIGNED-PAYLOAD`
    /// only without a body, else the body's hash.
    PresignedBodyless,
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`, with the decoded length.
    Streaming(u64),
}

/// Where [`SigV4`] lets a body go uncovered by the signature (`UNSIGNED-PAYLOAD`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum UnsignedPayload {
    /// Nowhere (the default): every body is signed, except that a presigned URL without a body
    /// is accepted.
    #[default]
    Refused,
    /// On every path. **The body of any request may then be replaced** by whoever holds it.
    Anywhere,
    /// On paths under these prefixes only (`"/objects/"`: the routes S3 clients upload to),
    /// compared with the path as sent, which must also be the normalised path.
    UnderPaths(Vec<Box<str>>),
}

impl UnsignedPayload {
    /// On paths under these prefixes only.
    pub fn under_paths<I, S>(prefixes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<Box<str>>,
    {
        Self::UnderPaths(prefixes.into_iter().map(Into::into).collect())
    }

    /// Whether a body may go unsigned on `path`.
    pub fn allows(&self, path: &str) -> bool {
        match self {
            Self::Refused => false,
            Self::Anywhere => true,
            Self::UnderPaths(prefixes) => prefixes.iter().any(|p| path.starts_with(&**p)),
        }
    }
}

/// Parsed SigV4 credentials, from the `Authorization` header or a presigned URL's query.
#[derive(Clone)]
pub struct SigV4Credentials {
    key_id: Box<str>,
    /// `<yyyymmdd>/<region>/<service>/aws4_request`.
    scope: Box<str>,
    rule: PathRule,
    amz_date: Box<str>,
    timestamp: u64,
    signed_headers: Box<str>,
    signature: [u8; 32],
    signature_hex: Box<str>,
    /// For a presigned URL: the last second it is valid.
    expires: Option<u64>,
    payload: Payload,
    guarded: bool,
}

impl fmt::Debug for SigV4Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigV4Credentials")
            .field("key_id", &self.key_id)
            .field("scope", &self.scope)
            .field("amz_date", &self.amz_date)
            .field("signed_headers", &self.signed_headers)
            .field("presigned", &self.expires.is_some())
            .finish_non_exhaustive()
    }
}

impl SigV4Credentials {
    /// The credential scope, `<yyyymmdd>/<region>/<service>/aws4_request`.
    pub fn scope(&self) -> &str {
        &self.scope
    }

    /// Whether these came from a presigned URL.
    pub fn is_presigned(&self) -> bool {
        self.expires.is_some()
    }
}

impl Credentials for SigV4Credentials {
    fn key_id(&self) -> &str {
        &self.key_id
    }

    fn timestamp(&self) -> u64 {
        self.timestamp
    }

    fn nonce(&self) -> &str {
        &self.signature_hex
    }

    fn expires(&self) -> Option<u64> {
        self.expires
    }
}

/// The state between the head and the end of the body.
pub struct SigV4Pending {
    /// The canonical request without its last line (the payload hash): the sorted query's, and
    /// the as-sent query's when it differs.
    prefixes: Vec<Vec<u8>>,
    body: Sha256,
    signing_key: Zeroizing<[u8; 32]>,
    chunks: Option<ChunkDecoder>,
}

impl fmt::Debug for SigV4Pending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigV4Pending")
            .field("candidates", &self.prefixes.len())
            .field("streaming", &self.chunks.is_some())
            .finish_non_exhaustive()
    }
}

/// The string to sign of a canonical request (`prefix` + `payload`), for diagnostics.
fn string_to_sign(creds: &SigV4Credentials, prefix: &[u8], payload: &str) -> String {
    let mut creq = Sha256::new();
    creq.update(prefix);
    creq.update(payload.as_bytes());
    format!(
        "{ALGORITHM}\n{}\n{}\n{}",
        creds.amz_date,
        creds.scope,
        hex::encode(creq.finalize())
    )
}

impl Scheme for SigV4 {
    type Credentials = SigV4Credentials;
    type Pending = SigV4Pending;

    fn id(&self) -> &'static str {
        "sigv4"
    }

    fn name(&self) -> &'static str {
        ALGORITHM
    }

    fn locator(&self) -> &Locator {
        &self.locator
    }

    fn max_skew(&self) -> Option<Duration> {
        Some(self.window)
    }

    fn parse(&self, parts: &Parts, max_header_len: usize) -> Result<SigV4Credentials, Rejection> {
        let query = parts.uri.query().unwrap_or("");
        let presigned = query_params(query)
            .any(|(name, _)| name == "X-Amz-Signature" || name == "X-Amz-Credential");
        let header = parts.headers.contains_key(AUTHORIZATION);
        let creds = match (header, presigned) {
            (true, true) => {
                return Err(
                    Rejection::new(RejectionKind::AmbiguousCredentials).with_detail(
                        "the request has both an Authorization header and a presigned query",
                    ),
                );
            }
            (_, true) => self.parse_query(parts, query, max_header_len)?,
            _ => self.parse_header(parts, max_header_len)?,
        };
        check_path(creds.rule, parts.uri.path())?;
        Ok(creds)
    }

    fn prepare(
        &self,
        creds: &SigV4Credentials,
        parts: &Parts,
        key: &SecretKey,
    ) -> Result<SigV4Pending, Rejection> {
        let mut prefixes = Vec::with_capacity(1);
        let presigned = creds.expires.is_some();
        let head = canonical_head(creds, parts)?;
        let query = parts.uri.query().unwrap_or("");
        let sorted = canonical_query(query, presigned);
        prefixes.push(head.assemble(&sorted));
        if self.as_sent_query && !presigned && !query.is_empty() && sorted != query {
            prefixes.push(head.assemble(query));
        }
        let signing_key = self.cache.signing_key(&creds.key_id, &creds.scope, key);
        let chunks = match creds.payload {
            Payload::Streaming(_) => Some(ChunkDecoder::new(
                &creds.amz_date,
                &creds.scope,
                &creds.signature_hex,
            )),
            _ => None,
        };
        Ok(SigV4Pending {
            prefixes,
            body: Sha256::new(),
            signing_key,
            chunks,
        })
    }

    fn update(&self, pending: &mut SigV4Pending, chunk: &[u8]) {
        pending.body.update(chunk);
    }

    fn decode(
        &self,
        pending: &mut SigV4Pending,
        chunk: Bytes,
        out: &mut dyn FnMut(Bytes),
    ) -> Result<(), Rejection> {
        match pending.chunks.as_mut() {
            Some(decoder) => decoder.push(&pending.signing_key, chunk, out),
            None => {
                pending.body.update(&chunk);
                out(chunk);
                Ok(())
            }
        }
    }

    fn verify(
        &self,
        creds: &SigV4Credentials,
        pending: SigV4Pending,
        _key: &SecretKey,
    ) -> Result<Verified, Rejection> {
        let SigV4Pending {
            prefixes,
            body,
            signing_key,
            chunks,
        } = pending;
        let body = body.finalize();
        let computed;
        let mut also = None;
        let payload = match &creds.payload {
            Payload::Computed => {
                computed = hex32(&body);
                hex_str(&computed)
            }
            Payload::Presigned => {
                computed = hex32(&body);
                also = Some(hex_str(&computed));
                UNSIGNED_PAYLOAD
            }
            Payload::PresignedBodyless => {
                computed = hex32(&body);
                if hex_str(&computed) == EMPTY_SHA256_HEX {
                    also = Some(hex_str(&computed));
                    UNSIGNED_PAYLOAD
                } else {
                    hex_str(&computed)
                }
            }
            Payload::Declared(declared) => {
                if !bool::from(body.as_slice().ct_eq(declared)) {
                    return Err(Rejection::new(RejectionKind::InvalidSignature)
                        .with_detail("the body does not match X-Amz-Content-Sha256"));
                }
                computed = hex32(declared);
                hex_str(&computed)
            }
            Payload::Unsigned => UNSIGNED_PAYLOAD,
            Payload::Streaming(decoded) => {
                let finished = chunks.as_ref().and_then(ChunkDecoder::finished);
                if finished != Some(*decoded) {
                    return Err(Rejection::new(RejectionKind::BodyUnreadable).with_detail(
                        "the aws-chunked body ended early or does not have \
                         X-Amz-Decoded-Content-Length bytes",
                    ));
                }
                STREAMING_PAYLOAD
            }
        };
        let payloads = [Some(payload), also];
        let candidates = prefixes
            .iter()
            .flat_map(|prefix| payloads.iter().flatten().map(move |p| (prefix, *p)));
        for (prefix, payload) in candidates {
            let mut creq = Sha256::new();
            creq.update(prefix);
            creq.update(payload.as_bytes());
            let mut mac = hmac(&signing_key[..]);
            mac.update(ALGORITHM.as_bytes());
            mac.update(b"\n");
            mac.update(creds.amz_date.as_bytes());
            mac.update(b"\n");
            mac.update(creds.scope.as_bytes());
            mac.update(b"\n");
            mac.update(&hex32(&creq.finalize()));
            let computed = mac.finalize().into_bytes();
            if bool::from(computed.as_slice().ct_eq(&creds.signature)) {
                // No nonce: the MAC that verified is the replay key (a presigned URL is a bearer
                // link unless made one-time).
                return Ok(if creds.guarded {
                    Verified::mac(&computed)
                } else {
                    Verified::unguarded()
                });
            }
        }
        // The canonical request, withheld (keyed line digests in the answer); the string to sign
        // for S3 clients only when the operator sends diagnostics in clear.
        let Some(prefix) = prefixes.first() else {
            return Err(Rejection::new(RejectionKind::InvalidSignature));
        };
        let mut canonical = prefix.clone();
        canonical.extend_from_slice(payload.as_bytes());
        Err(Rejection::new(RejectionKind::InvalidSignature)
            .with_string_to_sign(string_to_sign(creds, prefix, payload))
            .with_signed_text(canonical))
    }

    fn accepted(&self, creds: &SigV4Credentials, parts: &mut Parts) {
        if let Payload::Streaming(decoded) = creds.payload {
            // The inner service reads the decoded body: its length, without `aws-chunked`.
            parts
                .headers
                .insert(CONTENT_LENGTH, HeaderValue::from(decoded));
            let rest = parts
                .headers
                .get(CONTENT_ENCODING)
                .and_then(|v| v.to_str().ok())
                .map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|c| !c.eq_ignore_ascii_case("aws-chunked") && !c.is_empty())
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            match HeaderValue::from_str(&rest) {
                Ok(value) if !rest.is_empty() => {
                    parts.headers.insert(CONTENT_ENCODING, value);
                }
                _ => {
                    parts.headers.remove(CONTENT_ENCODING);
                }
            }
        }
    }
}

impl SigV4 {
    fn parse_header(
        &self,
        parts: &Parts,
        max_header_len: usize,
    ) -> Result<SigV4Credentials, Rejection> {
        let mut values = parts.headers.get_all(AUTHORIZATION).iter();
        let value = values
            .next()
            .ok_or_else(|| Rejection::new(RejectionKind::MissingAuthorization))?;
        if values.next().is_some() {
            return Err(malformed("more than one Authorization header"));
        }
        if value.len() > max_header_len {
            return Err(malformed("the Authorization header is too long"));
        }
        let value = value
            .to_str()
            .map_err(|_| malformed("the Authorization header is not ASCII"))?;
        let rest = value
            .get(ALGORITHM.len()..)
            .filter(|_| value[..ALGORITHM.len()].eq_ignore_ascii_case(ALGORITHM))
            .and_then(|r| r.strip_prefix(' '))
            .ok_or_else(|| malformed("expected `AWS4-HMAC-SHA256 Credential=…`"))?;
        let (mut credential, mut signed, mut signature) = (None, None, None);
        for param in rest.split(',') {
            let param = param.trim_matches(' ');
            let (name, value) = param
                .split_once('=')
                .ok_or_else(|| malformed("a parameter without `=`"))?;
            let slot = match name {
                "Credential" => &mut credential,
                "SignedHeaders" => &mut signed,
                "Signature" => &mut signature,
                _ => return Err(malformed("unknown parameter in the Authorization header")),
            };
            if slot.replace(value).is_some() {
                return Err(malformed("a parameter appears twice"));
            }
        }
        let (Some(credential), Some(signed), Some(signature)) = (credential, signed, signature)
        else {
            return Err(malformed(
                "Credential, SignedHeaders and Signature are all required",
            ));
        };
        let (amz_date, timestamp) = header_date(&parts.headers)?;
        let payload = self.payload(parts, false)?;
        self.refuse_token(parts.headers.contains_key(X_AMZ_SECURITY_TOKEN))?;
        let guarded = self.replay_guard;
        self.credentials(
            credential, signed, signature, amz_date, timestamp, None, payload, guarded,
        )
    }

    fn parse_query(
        &self,
        parts: &Parts,
        query: &str,
        max_header_len: usize,
    ) -> Result<SigV4Credentials, Rejection> {
        if query.len() > max_header_len.saturating_mul(4) {
            return Err(malformed("the query is too long"));
        }
        let mut fields: [Option<String>; 7] = Default::default();
        const NAMES: [&str; 7] = [
            "X-Amz-Algorithm",
            "X-Amz-Credential",
            "X-Amz-Date",
            "X-Amz-Expires",
            "X-Amz-SignedHeaders",
            "X-Amz-Signature",
            "X-Amz-Security-Token",
        ];
        for (name, value) in query_params(query) {
            if let Some(i) = NAMES.iter().position(|n| *n == name) {
                let value = percent_decode_str(value)
                    .decode_utf8()
                    .map_err(|_| malformed("a presigned parameter is not UTF-8"))?;
                if fields[i].replace(value.into_owned()).is_some() {
                    return Err(malformed("a presigned parameter appears twice"));
                }
            }
        }
        let [alg, credential, date, expires, signed, signature, token] = fields;
        let (Some(alg), Some(credential), Some(date), Some(expires), Some(signed), Some(signature)) =
            (alg, credential, date, expires, signed, signature)
        else {
            return Err(malformed(
                "a presigned URL needs X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date, \
                 X-Amz-Expires, X-Amz-SignedHeaders and X-Amz-Signature",
            ));
        };
        if alg != ALGORITHM {
            return Err(malformed("X-Amz-Algorithm must be AWS4-HMAC-SHA256"));
        }
        if !self.presigned_methods.contains(&parts.method) {
            return Err(malformed(
                "presigned URLs are not accepted for this method here",
            ));
        }
        self.refuse_token(token.is_some() || parts.headers.contains_key(X_AMZ_SECURITY_TOKEN))?;
        let timestamp = parse_amz_date(&date)?;
        let expires: u64 = digits(&expires, 6)
            .filter(|e| (1..=self.max_expires).contains(e))
            .ok_or_else(|| {
                malformed(format!(
                    "X-Amz-Expires must be 1 to {} seconds",
                    self.max_expires
                ))
            })?;
        let payload = self.payload(parts, true)?;
        let guarded = self.one_time_presigned;
        self.credentials(
            &credential,
            &signed,
            &signature,
            date.into(),
            timestamp,
            Some(timestamp.saturating_add(expires)),
            payload,
            guarded,
        )
    }

    fn refuse_token(&self, present: bool) -> Result<(), Rejection> {
        if present && !self.security_token {
            return Err(malformed("X-Amz-Security-Token is not accepted here"));
        }
        Ok(())
    }

    fn payload(&self, parts: &Parts, presigned: bool) -> Result<Payload, Rejection> {
        let headers = &parts.headers;
        let unsigned_here = self.unsigned_payload.allows(parts.uri.path());
        let mut values = headers.get_all(X_AMZ_CONTENT_SHA256).iter();
        let Some(value) = values.next() else {
            return Ok(match presigned {
                true if unsigned_here => Payload::Presigned,
                true => Payload::PresignedBodyless,
                false => Payload::Computed,
            });
        };
        if values.next().is_some() {
            return Err(Rejection::new(RejectionKind::DuplicateSignedHeader)
                .with_detail("X-Amz-Content-Sha256 appears twice"));
        }
        let value = value.as_bytes();
        if value == UNSIGNED_PAYLOAD.as_bytes() {
            if unsigned_here {
                return Ok(Payload::Unsigned);
            }
            if presigned {
                return Ok(Payload::PresignedBodyless);
            }
            return Err(malformed("UNSIGNED-PAYLOAD is not accepted here"));
        }
        if value == STREAMING_PAYLOAD.as_bytes() && !presigned {
            let decoded = headers
                .get(X_AMZ_DECODED_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| digits(v, 19))
                .ok_or_else(|| {
                    malformed("a streaming upload needs X-Amz-Decoded-Content-Length")
                })?;
            return Ok(Payload::Streaming(decoded));
        }
        if let Some(hash) = unhex32(value) {
            return Ok(Payload::Declared(hash));
        }
        Err(malformed(
            "X-Amz-Content-Sha256 must be a lower-case hex SHA-256, UNSIGNED-PAYLOAD or \
             STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        ))
    }

    #[allow(clippy::too_many_arguments)]
    fn credentials(
        &self,
        credential: &str,
        signed: &str,
        signature: &str,
        amz_date: Box<str>,
        timestamp: u64,
        expires: Option<u64>,
        payload: Payload,
        guarded: bool,
    ) -> Result<SigV4Credentials, Rejection> {
        let mut fields = credential.split('/');
        let (Some(key_id), Some(day), Some(region), Some(service), Some("aws4_request"), None) = (
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
        ) else {
            return Err(malformed(
                "Credential must be <key id>/<yyyymmdd>/<region>/<service>/aws4_request",
            ));
        };
        if !is_valid_key_id(key_id) {
            return Err(malformed("the access key id is not a valid key id"));
        }
        if day.len() != 8 || !amz_date.starts_with(day) {
            return Err(malformed("the credential's date is not the request's date"));
        }
        if !self.regions.iter().any(|r| &**r == region) {
            return Err(malformed("the credential's region is not served here"));
        }
        let rule = self
            .rule_of(service)
            .ok_or_else(|| malformed("the credential's service is not served here"))?;
        check_signed_headers(signed)?;
        let sig = unhex32(signature.as_bytes())
            .ok_or_else(|| malformed("Signature must be 64 lower-case hex digits"))?;
        Ok(SigV4Credentials {
            key_id: key_id.into(),
            scope: credential[key_id.len() + 1..].into(),
            rule,
            amz_date,
            timestamp,
            signed_headers: signed.into(),
            signature: sig,
            signature_hex: signature.into(),
            expires,
            payload,
            guarded,
        })
    }
}

/// `SignedHeaders`: lower-case header names, sorted, each once, `host` among them.
fn check_signed_headers(signed: &str) -> Result<(), Rejection> {
    let mut previous: Option<&str> = None;
    let mut host = false;
    for (count, name) in signed.split(';').enumerate() {
        if count >= MAX_SIGNED_HEADERS {
            return Err(malformed("too many signed headers"));
        }
        if name.is_empty()
            || !name.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.!#$%&'*+^`|~".contains(&b)
            })
        {
            return Err(malformed("SignedHeaders must be lower-case header names"));
        }
        if previous.is_some_and(|p| p >= name) {
            return Err(malformed("SignedHeaders must be sorted, each name once"));
        }
        host |= name == "host";
        previous = Some(name);
    }
    if !host {
        return Err(Rejection::new(RejectionKind::MissingSignedHeader)
            .with_detail("SigV4 requests must sign the host header"));
    }
    Ok(())
}

/// Up to `max` ASCII digits, no sign, as a number.
fn digits(text: &str, max: usize) -> Option<u64> {
    if text.is_empty() || text.len() > max || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// The request's time from `X-Amz-Date`, else `Date`: the basic ISO 8601 string and Unix seconds.
fn header_date(headers: &HeaderMap) -> Result<(Box<str>, u64), Rejection> {
    let mut values = headers.get_all(X_AMZ_DATE).iter();
    if let Some(value) = values.next() {
        if values.next().is_some() {
            return Err(Rejection::new(RejectionKind::DuplicateSignedHeader)
                .with_detail("X-Amz-Date appears twice"));
        }
        let text = value
            .to_str()
            .map_err(|_| malformed("X-Amz-Date must be yyyymmddThhmmssZ"))?;
        return Ok((text.into(), parse_amz_date(text)?));
    }
    let date = headers
        .get(DATE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok())
        .ok_or_else(|| malformed("the request needs an X-Amz-Date or a Date header"))?;
    let secs = date
        .duration_since(UNIX_EPOCH)
        .map_err(|_| malformed("the Date header is before 1970"))?
        .as_secs();
    Ok((format_amz_date(secs).into(), secs))
}

/// `yyyymmddThhmmssZ` → Unix seconds.
pub fn parse_amz_date(text: &str) -> Result<u64, Rejection> {
    let bad = || malformed("X-Amz-Date must be yyyymmddThhmmssZ");
    let b = text.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return Err(bad());
    }
    let num = |range: std::ops::Range<usize>| digits(&text[range], 4).ok_or_else(bad);
    let (year, month, day) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hour, min, sec) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1970..=9999).contains(&year)
        || !(1..=12).contains(&month)
        || !(1..=days_in_month(year, month)).contains(&day)
        || hour > 23
        || min > 59
        || sec > 59
    {
        return Err(bad());
    }
    let days = days_from_civil(year, month, day);
    Ok(days * 86_400 + hour * 3600 + min * 60 + sec)
}

/// Unix seconds → `yyyymmddThhmmssZ`.
pub fn format_amz_date(secs: u64) -> String {
    let (year, month, day) = civil_from_days(secs / 86_400);
    let rest = secs % 86_400;
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a date on or after it (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day since 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// The query's `name=value` pairs, raw, empty pieces skipped.
fn query_params(query: &str) -> impl Iterator<Item = (&str, &str)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
}

/// AWS's canonical query: each name and value decoded and re-encoded, sorted by name then
/// value; for a presigned URL, without `X-Amz-Signature`.
fn canonical_query(query: &str, presigned: bool) -> String {
    let mut pairs: Vec<(String, String)> = query_params(query)
        .filter(|(name, _)| !(presigned && *name == "X-Amz-Signature"))
        .map(|(name, value)| (reencode(name), reencode(value)))
        .collect();
    pairs.sort_unstable();
    let mut out = String::with_capacity(query.len() + 8);
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    }
    out
}

fn reencode(text: &str) -> String {
    let decoded: Vec<u8> = percent_decode_str(text).collect();
    percent_encoding::percent_encode(&decoded, AWS_ENCODE).to_string()
}

/// The canonical request's lines before the query and after it, up to the payload hash.
struct CanonicalHead {
    method_and_uri: Vec<u8>,
    headers_and_signed: Vec<u8>,
}

impl CanonicalHead {
    fn assemble(&self, query: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            self.method_and_uri.len() + query.len() + self.headers_and_signed.len() + 70,
        );
        out.extend_from_slice(&self.method_and_uri);
        out.extend_from_slice(query.as_bytes());
        out.push(b'\n');
        out.extend_from_slice(&self.headers_and_signed);
        out
    }
}

fn canonical_head(creds: &SigV4Credentials, parts: &Parts) -> Result<CanonicalHead, Rejection> {
    let mut method_and_uri = Vec::with_capacity(64);
    method_and_uri.extend_from_slice(parts.method.as_str().as_bytes());
    method_and_uri.push(b'\n');
    let path = parts.uri.path();
    match creds.rule {
        PathRule::S3 => method_and_uri.extend_from_slice(path.as_bytes()),
        PathRule::Generic => {
            let normalized = normalize_path(path);
            method_and_uri
                .extend(utf8_percent_encode(&normalized, AWS_ENCODE_PATH).flat_map(str::bytes));
        }
    }
    method_and_uri.push(b'\n');

    let mut lines = Vec::with_capacity(128);
    for name in creds.signed_headers.split(';') {
        lines.extend_from_slice(name.as_bytes());
        lines.push(b':');
        if name == "host" {
            let mut hosts = parts.headers.get_all(HOST).iter();
            let host = match (hosts.next(), hosts.next()) {
                (Some(_), Some(_)) => {
                    return Err(Rejection::new(RejectionKind::DuplicateSignedHeader)
                        .with_detail("host appears twice"));
                }
                (Some(h), None) => h.as_bytes(),
                (None, _) => parts
                    .uri
                    .authority()
                    .map(|a| a.as_str().as_bytes())
                    .ok_or_else(|| {
                        Rejection::new(RejectionKind::MissingSignedHeader).with_detail("host")
                    })?,
            };
            push_trimmed(&mut lines, host);
        } else {
            let mut values = parts.headers.get_all(name).iter().peekable();
            if values.peek().is_none() {
                return Err(Rejection::new(RejectionKind::MissingSignedHeader)
                    .with_detail(format!("signed header `{name}` is missing")));
            }
            for (i, value) in values.enumerate() {
                if i > 0 {
                    lines.push(b',');
                }
                push_trimmed(&mut lines, value.as_bytes());
            }
        }
        lines.push(b'\n');
    }
    lines.push(b'\n');
    lines.extend_from_slice(creds.signed_headers.as_bytes());
    lines.push(b'\n');
    Ok(CanonicalHead {
        method_and_uri,
        headers_and_signed: lines,
    })
}

/// A header value trimmed, with runs of spaces and tabs inside it as one space.
fn push_trimmed(out: &mut Vec<u8>, value: &[u8]) {
    let value = value.trim_ascii();
    let mut space = false;
    for &b in value {
        if b == b' ' || b == b'\t' {
            space = true;
            continue;
        }
        if space {
            out.push(b' ');
            space = false;
        }
        out.push(b);
    }
}

/// The path verified must be the path routed: under the generic rule, a path that normalisation
/// would change (`.`, `..` or empty segments) is refused, since the signature covers another path
/// than the one the router and the handler see (`/objects/x/../report.txt` would be verified as
/// `/objects/report.txt` and routed to `/objects/{*key}` with key `x/../report.txt`). Decided from
/// the request alone, before any key is looked up. The S3 rule signs the path as sent.
fn check_path(rule: PathRule, path: &str) -> Result<(), Rejection> {
    match rule {
        PathRule::S3 => Ok(()),
        PathRule::Generic if path.is_empty() || normalize_path(path) == path => Ok(()),
        PathRule::Generic => Err(malformed(
            "the path has `.`, `..` or empty segments, which SigV4 removes before signing: \
             send the normalised path",
        )),
    }
}

/// The generic rule's normalisation: `.` and empty segments dropped, `..` removes the one before;
/// a trailing slash is kept. It works on the path as sent, without percent-decoding it (as AWS
/// and `aws-sigv4` do): `%2E%2E` is an ordinary segment.
fn normalize_path(path: &str) -> String {
    if path.is_empty() {
        return "/".into();
    }
    if !path.contains("/.") && !path.contains("//") {
        return path.into();
    }
    let mut kept: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                kept.pop();
            }
            other => kept.push(other),
        }
    }
    let mut out = String::with_capacity(path.len());
    for segment in &kept {
        out.push('/');
        out.push_str(segment);
    }
    let trailing = ["/", "/.", "/.."].iter().any(|end| path.ends_with(end));
    if out.is_empty() || trailing {
        out.push('/');
    }
    out
}

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length.
    <HmacSha256 as KeyInit>::new_from_slice(key).unwrap_or_else(|_| {
        <HmacSha256 as KeyInit>::new_from_slice(&[0u8; 32]).unwrap_or_else(|_| unreachable!())
    })
}

fn hmac_once(key: &[u8], data: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut mac = hmac(key);
    mac.update(data);
    Zeroizing::new(mac.finalize().into_bytes().into())
}

/// The signing key of a scope, `<yyyymmdd>/<region>/<service>/aws4_request`, from the secret
/// access key's text.
pub fn derive_signing_key(secret: &str, scope: &str) -> Zeroizing<[u8; 32]> {
    let mut k_secret = Zeroizing::new(Vec::with_capacity(secret.len() + 4));
    k_secret.extend_from_slice(b"AWS4");
    k_secret.extend_from_slice(secret.as_bytes());
    let mut key = Zeroizing::new(Vec::clone(&k_secret));
    for part in scope.split('/') {
        let next = hmac_once(&key, part.as_bytes());
        key = Zeroizing::new(next.to_vec());
    }
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(&key[..32.min(key.len())]);
    out
}

/// Why a presigned URL could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PresignError {
    /// The URL is not absolute (`http://host/path`).
    #[error("the URL must be absolute, with a scheme and a host")]
    NotAbsolute,
    /// The key id is not a valid key id.
    #[error("the key id must be 1 to 128 characters of A-Z a-z 0-9 . _ ~ -")]
    KeyId,
    /// The expiry is outside 1 s to 7 days.
    #[error("the expiry must be 1 to 604800 seconds")]
    Expires,
    /// The region or service is empty or holds a `/`.
    #[error("the region and service must be non-empty and hold no `/`")]
    Scope,
    /// The URL already carries presigning parameters.
    #[error("the URL already carries X-Amz-* presigning parameters")]
    AlreadySigned,
}

/// What a presigned URL is made for.
#[derive(Debug, Clone, Copy)]
pub struct PresignParams<'a> {
    /// The region of the scope.
    pub region: &'a str,
    /// The service of the scope.
    pub service: &'a str,
    /// The service's path rule ([`PathRule::S3`] for S3 clients).
    pub rule: PathRule,
    /// The signing time, Unix seconds.
    pub time: u64,
    /// How long the URL is valid, in seconds (1 to 604,800).
    pub expires: u64,
}

/// A presigned URL for `method url`, as the SDKs' presigners make it: `host` signed,
/// `UNSIGNED-PAYLOAD`, the `X-Amz-*` parameters after the URL's own query. Under
/// [`PathRule::Generic`] the URL carries the path normalised (`/a/./b//c/../d` becomes `/a/b/d`):
/// the path its signature covers, and the only one the verifier accepts. A presigned URL is a
/// bearer link: whoever holds it can use it until it expires (see
/// [`SigV4::one_time_presigned_urls`]).
pub fn presign_url(
    method: &http::Method,
    url: &http::Uri,
    key_id: &str,
    key: &SecretKey,
    params: &PresignParams<'_>,
) -> Result<String, PresignError> {
    let (Some(scheme), Some(authority)) = (url.scheme_str(), url.authority()) else {
        return Err(PresignError::NotAbsolute);
    };
    if !is_valid_key_id(key_id) {
        return Err(PresignError::KeyId);
    }
    if !(1..=MAX_PRESIGN_EXPIRES.as_secs()).contains(&params.expires) {
        return Err(PresignError::Expires);
    }
    let bad_part = |p: &str| p.is_empty() || p.contains('/');
    if bad_part(params.region) || bad_part(params.service) {
        return Err(PresignError::Scope);
    }
    let own = url.query().unwrap_or("");
    if query_params(own).any(|(name, _)| name.starts_with("X-Amz-")) {
        return Err(PresignError::AlreadySigned);
    }
    let amz_date = format_amz_date(params.time);
    let scope = format!(
        "{}/{}/{}/aws4_request",
        &amz_date[..8],
        params.region,
        params.service
    );
    let credential = format!("{key_id}/{scope}");
    let encode = |v: &str| utf8_percent_encode(v, AWS_ENCODE).to_string();
    let mut query = String::from(own);
    for (name, value) in [
        ("X-Amz-Algorithm", ALGORITHM.to_owned()),
        ("X-Amz-Credential", encode(&credential)),
        ("X-Amz-Date", amz_date.clone()),
        ("X-Amz-Expires", params.expires.to_string()),
        ("X-Amz-SignedHeaders", "host".to_owned()),
    ] {
        if !query.is_empty() {
            query.push('&');
        }
        query.push_str(name);
        query.push('=');
        query.push_str(&value);
    }
    let path = if url.path().is_empty() {
        "/"
    } else {
        url.path()
    };
    // Under the generic rule the URL carries the normalised path: the one its signature covers,
    // and the only one the server accepts (it refuses a path normalisation would change).
    let (path, canonical_uri) = match params.rule {
        PathRule::S3 => (path.to_owned(), path.to_owned()),
        PathRule::Generic => {
            let normalized = normalize_path(path);
            let encoded = utf8_percent_encode(&normalized, AWS_ENCODE_PATH).to_string();
            (normalized, encoded)
        }
    };
    let creq = format!(
        "{}\n{canonical_uri}\n{}\nhost:{}\n\nhost\n{UNSIGNED_PAYLOAD}",
        method.as_str(),
        canonical_query(&query, true),
        authority.as_str(),
    );
    let sts = format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(creq.as_bytes()))
    );
    let signing_key = derive_signing_key(&key.text_form(), &scope);
    let mut mac = hmac(&signing_key[..]);
    mac.update(sts.as_bytes());
    let signature = hex::encode(mac.finalize().into_bytes());
    Ok(format!(
        "{scheme}://{}{path}?{query}&X-Amz-Signature={signature}",
        authority.as_str()
    ))
}

/// Derived signing keys, per key id and scope, each with the secret it came from (so that a
/// rotated secret never meets a key derived from the old one).
struct KeyCache {
    capacity: usize,
    entries: Mutex<HashMap<Box<str>, CachedKey>>,
}

struct CachedKey {
    /// The secret's bytes and whether its text form is itself (rather than its Base64): together,
    /// the text the key was derived from.
    secret: Zeroizing<Vec<u8>>,
    text: bool,
    key: Zeroizing<[u8; 32]>,
}

impl KeyCache {
    const DEFAULT_CAPACITY: usize = 1024;

    fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn signing_key(&self, key_id: &str, scope: &str, key: &SecretKey) -> Zeroizing<[u8; 32]> {
        let mut id = String::with_capacity(key_id.len() + scope.len() + 1);
        id.push_str(key_id);
        id.push('/');
        id.push_str(scope);
        if let Ok(entries) = self.entries.lock()
            && let Some(entry) = entries.get(id.as_str())
            && entry.text == key.is_text()
            && bool::from(entry.secret.as_slice().ct_eq(key.expose_secret()))
        {
            return entry.key.clone();
        }
        let derived = derive_signing_key(&key.text_form(), scope);
        if self.capacity > 0
            && let Ok(mut entries) = self.entries.lock()
        {
            if entries.len() >= self.capacity {
                entries.clear();
            }
            entries.insert(
                id.into(),
                CachedKey {
                    secret: Zeroizing::new(key.expose_secret().to_vec()),
                    text: key.is_text(),
                    key: derived.clone(),
                },
            );
        }
        derived
    }
}

/// Decodes and verifies an `aws-chunked` body: `<hex size>;chunk-signature=<sig>\r\n<data>\r\n`,
/// each signature chained on the previous one, the last chunk empty.
struct ChunkDecoder {
    /// `AWS4-HMAC-SHA256-PAYLOAD\n<date>\n<scope>\n`.
    sts_prefix: Vec<u8>,
    previous: String,
    buffer: BytesMut,
    decoded: u64,
    done: bool,
    index: u64,
}

impl ChunkDecoder {
    fn new(amz_date: &str, scope: &str, seed: &str) -> Self {
        Self {
            sts_prefix: format!("{CHUNK_ALGORITHM}\n{amz_date}\n{scope}\n").into_bytes(),
            previous: seed.to_owned(),
            buffer: BytesMut::new(),
            decoded: 0,
            done: false,
            index: 0,
        }
    }

    /// The decoded length, once the final chunk has been read.
    fn finished(&self) -> Option<u64> {
        (self.done && self.buffer.is_empty()).then_some(self.decoded)
    }

    /// Verifies the chunks `input` completes and hands `out` the data of each. Each byte is
    /// copied at most once: a chunk that arrives whole within one input is sliced out of it, and
    /// only a chunk split across inputs is gathered in the buffer (issue 16: every byte was
    /// copied into the buffer, then again into the output).
    fn push(
        &mut self,
        key: &[u8; 32],
        input: Bytes,
        out: &mut dyn FnMut(Bytes),
    ) -> Result<(), Rejection> {
        let bad =
            |what: &'static str| Rejection::new(RejectionKind::BodyUnreadable).with_detail(what);
        if self.done {
            if input.is_empty() && self.buffer.is_empty() {
                return Ok(());
            }
            return Err(bad("bytes after the final aws-chunked chunk"));
        }
        // Where the chunks are read from: the input itself when nothing is pending, else the
        // buffer with the input appended.
        let mut direct = if self.buffer.is_empty() {
            Some(input)
        } else {
            self.buffer.extend_from_slice(&input);
            None
        };
        while !self.done {
            let view: &[u8] = match &direct {
                Some(bytes) => bytes,
                None => &self.buffer,
            };
            let Some(end) = view.windows(2).position(|w| w == b"\r\n") else {
                if view.len() > MAX_CHUNK_HEADER {
                    return Err(bad("an aws-chunked chunk header is too long"));
                }
                break;
            };
            if end > MAX_CHUNK_HEADER {
                return Err(bad("an aws-chunked chunk header is too long"));
            }
            let header = std::str::from_utf8(&view[..end])
                .map_err(|_| bad("an aws-chunked chunk header is not ASCII"))?;
            let (size, signature) = header
                .split_once(";chunk-signature=")
                .ok_or_else(|| bad("an aws-chunked chunk has no chunk-signature"))?;
            if size.is_empty()
                || size.len() > 15
                || !size.bytes().all(|b| b.is_ascii_hexdigit())
                || signature.len() != 64
            {
                return Err(bad("a malformed aws-chunked chunk header"));
            }
            let size = usize::from_str_radix(size, 16)
                .map_err(|_| bad("a malformed aws-chunked chunk size"))?;
            let total = end + 2 + size + 2;
            if view.len() < total {
                break;
            }
            if &view[total - 2..total] != b"\r\n" {
                return Err(bad("an aws-chunked chunk does not end with CRLF"));
            }
            let mut sig = [0u8; 64];
            sig.copy_from_slice(signature.as_bytes());
            let data = match &mut direct {
                Some(bytes) => {
                    let data = bytes.slice(end + 2..end + 2 + size);
                    bytes.advance(total);
                    data
                }
                None => {
                    self.buffer.advance(end + 2);
                    let data = self.buffer.split_to(size).freeze();
                    self.buffer.advance(2);
                    data
                }
            };
            let mut mac = hmac(key);
            mac.update(&self.sts_prefix);
            mac.update(self.previous.as_bytes());
            mac.update(b"\n");
            mac.update(EMPTY_SHA256_HEX.as_bytes());
            mac.update(b"\n");
            mac.update(&hex32(&Sha256::digest(&data)));
            let expected = hex32(&mac.finalize().into_bytes());
            if !bool::from(expected.as_slice().ct_eq(&sig)) {
                return Err(
                    Rejection::new(RejectionKind::InvalidSignature).with_detail(format!(
                        "the signature of aws-chunked chunk {} does not match",
                        self.index
                    )),
                );
            }
            self.index += 1;
            self.previous.clear();
            // The signature is 64 ASCII bytes (checked above as part of a UTF-8 header).
            self.previous
                .push_str(std::str::from_utf8(&sig).unwrap_or_default());
            if size == 0 {
                self.done = true;
            }
            self.decoded += size as u64;
            if !data.is_empty() {
                out(data);
            }
        }
        // What is left of a direct input is the start of the next chunk: kept for the next one.
        if let Some(rest) = direct {
            self.buffer.extend_from_slice(&rest);
        }
        if self.done && !self.buffer.is_empty() {
            return Err(bad("bytes after the final aws-chunked chunk"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_strict_lower_case() {
        let text = "00ff10ab".repeat(8);
        assert_eq!(
            unhex32(text.as_bytes()).unwrap()[..4],
            [0x00, 0xff, 0x10, 0xab]
        );
        assert!(unhex32(text.to_uppercase().as_bytes()).is_none());
        assert!(unhex32(&text.as_bytes()[..62]).is_none());
        assert!(unhex32(format!("{}g0", &text[..62]).as_bytes()).is_none());
        assert_eq!(hex_str(&hex32(&unhex32(text.as_bytes()).unwrap())), text);
    }

    #[test]
    fn dates_round_trip() {
        assert_eq!(parse_amz_date("20150830T123600Z").unwrap(), 1_440_938_160);
        assert_eq!(format_amz_date(1_440_938_160), "20150830T123600Z");
        assert_eq!(format_amz_date(951_782_400), "20000229T000000Z");
        assert_eq!(parse_amz_date("20000229T000000Z").unwrap(), 951_782_400);
        for bad in [
            "20150830T123600",
            "20150230T000000Z",
            "20150830t123600Z",
            "2015083OT123600Z",
            "20150830T246000Z",
            "+0150830T123600Z",
        ] {
            assert!(parse_amz_date(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn paths_normalize_as_aws() {
        for (given, expected) in [
            ("/", "/"),
            ("", "/"),
            ("//", "/"),
            ("//example//", "/example/"),
            ("/./", "/"),
            ("/./example", "/example"),
            ("/example/..", "/"),
            ("/example1/example2/../..", "/"),
            ("/a/b/../c", "/a/c"),
            ("/a.b/c", "/a.b/c"),
        ] {
            assert_eq!(normalize_path(given), expected, "{given}");
        }
    }

    #[test]
    fn generic_rule_refuses_paths_it_would_change() {
        for path in [
            "/a/../b",
            "/objects/x/../report.txt",
            "/objects//report.txt",
            "/objects/./report.txt",
            "//",
            "//a",
            "/a//",
            "/.",
            "/..",
            "/a/.",
            "/a/..",
            "/./",
            "/a/b/../../c",
        ] {
            let err = check_path(PathRule::Generic, path).unwrap_err();
            assert_eq!(err.kind(), RejectionKind::MalformedAuthorization, "{path}");
            assert!(err.detail().unwrap_or("").contains("segments"), "{path}");
            // The S3 rule signs the path as sent: nothing to refuse.
            assert!(check_path(PathRule::S3, path).is_ok(), "{path}");
        }
        for path in [
            "/",
            "",
            "*",
            "/a",
            "/a/",
            "/.well-known/x",
            "/a.b/c",
            "/a/..b/c",
            "/a/b../c",
            "/a/.../c",
            "/a/%2E%2E/b",
            "/a/.%2E/b",
            "/a/%2e/b",
            "/a%2F%2Fb",
            "/objects/report.txt",
        ] {
            assert!(check_path(PathRule::Generic, path).is_ok(), "{path}");
        }
    }

    #[test]
    fn queries_sort_and_reencode() {
        assert_eq!(
            canonical_query("Param2=value2&Param1=value1", false),
            "Param1=value1&Param2=value2"
        );
        assert_eq!(canonical_query("b&a=%7e&a=1", false), "a=1&a=~&b=");
        assert_eq!(canonical_query("k=a b!", false), "k=a%20b%21");
        assert_eq!(
            canonical_query("X-Amz-Signature=ab&X-Amz-Date=1", true),
            "X-Amz-Date=1"
        );
    }

    #[test]
    fn signing_keys_derive_as_aws_documents() {
        // AWS's documented example: secret wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY,
        // 20120215/us-east-1/iam.
        let key = derive_signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20120215/us-east-1/iam/aws4_request",
        );
        assert_eq!(
            hex::encode(*key),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }
}
