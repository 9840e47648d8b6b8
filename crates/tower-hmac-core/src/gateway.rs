//! The API gateways' `hmac-auth` formats: Kong's (feature `kong`) and Apache APISIX's 3.11+
//! (feature `apisix`), both variants of draft-cavage HTTP Signatures and byte-compatible with
//! neither each other nor standard cavage clients. Their clients work unchanged; what the
//! gateways never had is added on the server (docs/PROTOCOL.md §5f, §5g).
//!
//! ```text
//! Kong:   Authorization: hmac username="…", algorithm="hmac-sha256", headers="date request-line", signature="<Base64>"
//!         (or Proxy-Authorization); signing string: one line per listed name, joined by "\n":
//!         `name: value`, `request-line` → `GET /path?q HTTP/1.1`,
//!         `@request-target` → `@request-target: get /path?q`, an absent header → `name:`
//! APISIX: Authorization: Signature keyId="…",algorithm="hmac-sha256",headers="@request-target date",signature="<Base64>"
//!         signing string: keyId, then per listed name `name: value`, `@request-target` →
//!         `GET /path?q`, an absent header → nothing; every line ends with "\n"
//! ```
//!
//! The HMAC key is the key's text form ([`SecretKey::text_form`]: the string a gateway consumer
//! was configured with, or the Base64 that `tower-hmac keygen` prints).
//!
//! What the gateways never had: the signature is the replay key, recorded after the MAC checks
//! out, within the window around the request's `Date` / `X-Date` — which must itself be signed;
//! a request with a body must sign a `Digest: SHA-256=…` that matches it; constant-time
//! comparisons; hmac-sha1 only by explicit opt-in, and allowed algorithms per key; the layer's
//! problem+json codes instead of a bare 401.

use std::collections::HashMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use http::header::{AUTHORIZATION, DATE, PROXY_AUTHORIZATION};
use http::request::Parts;
use http::{HeaderName, HeaderValue, Version};
use sha2::Digest as _;
use subtle::ConstantTimeEq;

use crate::authorization::{MAX_SIGNED_HEADERS, is_valid_key_id};
use crate::key::SecretKey;
use crate::rejection::{Rejection, RejectionKind};
use crate::scheme::{Credentials, Locator, Scheme, Verified};

const X_DATE: HeaderName = HeaderName::from_static("x-date");
const DIGEST: HeaderName = HeaderName::from_static("digest");

/// A gateway's HMAC algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// `hmac-sha1`: only where explicitly allowed.
    HmacSha1,
    /// `hmac-sha256`.
    HmacSha256,
    /// `hmac-sha384` (Kong only).
    HmacSha384,
    /// `hmac-sha512`.
    HmacSha512,
}

impl Algorithm {
    const ALL: [Self; 4] = [
        Self::HmacSha1,
        Self::HmacSha256,
        Self::HmacSha384,
        Self::HmacSha512,
    ];

    /// The name in the header (`hmac-sha256`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::HmacSha1 => "hmac-sha1",
            Self::HmacSha256 => "hmac-sha256",
            Self::HmacSha384 => "hmac-sha384",
            Self::HmacSha512 => "hmac-sha512",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    const fn output_len(self) -> usize {
        match self {
            Self::HmacSha1 => 20,
            Self::HmacSha256 => 32,
            Self::HmacSha384 => 48,
            Self::HmacSha512 => 64,
        }
    }

    const fn bit(self) -> u8 {
        match self {
            Self::HmacSha1 => 1,
            Self::HmacSha256 => 2,
            Self::HmacSha384 => 4,
            Self::HmacSha512 => 8,
        }
    }

    /// The raw MAC of `data` with `key` (any length): what a gateway's signature is the Base64
    /// of. For checking vectors whose secrets are shorter than a registry key may be.
    pub fn mac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        fn run<M: Mac + KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
            // HMAC takes keys of any length.
            let Ok(mut mac) = <M as KeyInit>::new_from_slice(key) else {
                return Vec::new();
            };
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
        match self {
            Self::HmacSha1 => run::<Hmac<sha1::Sha1>>(key, data),
            Self::HmacSha256 => run::<Hmac<sha2::Sha256>>(key, data),
            Self::HmacSha384 => run::<Hmac<sha2::Sha384>>(key, data),
            Self::HmacSha512 => run::<Hmac<sha2::Sha512>>(key, data),
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Algorithms(u8);

impl Algorithms {
    fn of(list: &[Algorithm]) -> Self {
        Self(list.iter().fold(0, |bits, a| bits | a.bit()))
    }

    fn contains(self, a: Algorithm) -> bool {
        self.0 & a.bit() != 0
    }
}

/// Which gateway's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(all(feature = "kong", feature = "apisix")), allow(dead_code))]
enum Flavor {
    Kong,
    Apisix,
}

impl Flavor {
    /// The parameters of the header: key id, algorithm, headers, signature.
    const fn params(self) -> [&'static str; 4] {
        match self {
            Self::Kong => ["username", "algorithm", "headers", "signature"],
            Self::Apisix => ["keyId", "algorithm", "headers", "signature"],
        }
    }

    /// The time headers, in the order the gateway reads them.
    const fn time_headers(self) -> [HeaderName; 2] {
        match self {
            Self::Kong => [X_DATE, DATE],
            Self::Apisix => [DATE, X_DATE],
        }
    }
}

/// What both formats share: the algorithms, the headers that must be signed, the replay guard.
#[derive(Clone)]
struct Rules {
    flavor: Flavor,
    algorithms: Algorithms,
    per_key: HashMap<Box<str>, Algorithms>,
    required: Vec<Box<str>>,
    replay_guard: bool,
    locator: Locator,
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
    fn new(flavor: Flavor, algorithms: &[Algorithm], locator: Locator) -> Self {
        Self {
            flavor,
            algorithms: Algorithms::of(algorithms),
            per_key: HashMap::new(),
            required: Vec::new(),
            replay_guard: true,
            locator,
        }
    }

    fn allows(&self, key_id: &str, algorithm: Algorithm) -> bool {
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

/// Kong's `hmac-auth` format (`id` `kong`).
///
/// ```
/// use tower_hmac_core::gateway::Kong;
/// let kong = Kong::new().allow_sha1().require_signed(&["request-line"]);
/// # let _ = kong;
/// ```
#[cfg(feature = "kong")]
#[derive(Debug, Clone)]
pub struct Kong {
    rules: Rules,
}

#[cfg(feature = "kong")]
impl Default for Kong {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(feature = "kong")]
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

#[cfg(feature = "kong")]
gateway_settings!(Kong, Flavor::Kong);

/// Apache APISIX's `hmac-auth` format, 3.11 and later (`id` `apisix`).
///
/// ```
/// use tower_hmac_core::gateway::Apisix;
/// let apisix = Apisix::new().require_signed(&["@request-target"]);
/// # let _ = apisix;
/// ```
#[cfg(feature = "apisix")]
#[derive(Debug, Clone)]
pub struct Apisix {
    rules: Rules,
}

#[cfg(feature = "apisix")]
impl Default for Apisix {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(feature = "apisix")]
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

#[cfg(feature = "apisix")]
gateway_settings!(Apisix, Flavor::Apisix);

/// The credentials header of `parts` as `flavor` signs it.
fn authorization(
    flavor: Flavor,
    parts: &Parts,
    key_id: &str,
    key: &SecretKey,
    algorithm: Algorithm,
    headers: &[&str],
) -> Result<HeaderValue, Rejection> {
    let names: Vec<Box<str>> = headers.iter().map(|&h| h.into()).collect();
    let signing = signing_string(flavor, parts, key_id, &names)?;
    let signature = STANDARD.encode(algorithm.mac(key.text_form().as_bytes(), &signing));
    let names = headers.join(" ");
    let text = match flavor {
        Flavor::Kong => format!(
            "hmac username=\"{key_id}\", algorithm=\"{algorithm}\", headers=\"{names}\", signature=\"{signature}\""
        ),
        Flavor::Apisix => format!(
            "Signature keyId=\"{key_id}\",algorithm=\"{algorithm}\",headers=\"{names}\",signature=\"{signature}\""
        ),
    };
    HeaderValue::from_str(&text).map_err(|_| malformed("the header would not be a valid value"))
}

/// The credentials of a Kong or APISIX request.
pub struct GatewayCredentials {
    key_id: String,
    algorithm: Algorithm,
    headers: Vec<Box<str>>,
    signature: Vec<u8>,
    signature_text: String,
    timestamp: u64,
    replay_guard: bool,
    /// The algorithm is allowed for some key but not this one: refused as a bad signature would
    /// be (an unknown key id's answer), never with an answer that says the key id has a rule.
    algorithm_refused: bool,
}

impl fmt::Debug for GatewayCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewayCredentials")
            .field("key_id", &self.key_id)
            .field("algorithm", &self.algorithm)
            .field("headers", &self.headers)
            .field("timestamp", &self.timestamp)
            .finish_non_exhaustive()
    }
}

impl GatewayCredentials {
    /// The algorithm the request names.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The names the signature covers, as listed.
    pub fn headers(&self) -> impl Iterator<Item = &str> {
        self.headers.iter().map(|h| &**h)
    }

    fn covers(&self, name: &str) -> bool {
        self.headers.iter().any(|h| h.eq_ignore_ascii_case(name))
    }
}

impl Credentials for GatewayCredentials {
    fn key_id(&self) -> &str {
        &self.key_id
    }

    fn timestamp(&self) -> u64 {
        self.timestamp
    }

    /// The signature: unique to the signed request, so a copy is a replay.
    fn nonce(&self) -> &str {
        &self.signature_text
    }
}

/// The signing string, and what the body must match.
pub struct GatewayPending {
    signing: Vec<u8>,
    body: sha2::Sha256,
    body_len: u64,
    digest: Option<[u8; 32]>,
}

impl fmt::Debug for GatewayPending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewayPending")
            .field("signing", &String::from_utf8_lossy(&self.signing))
            .field("body_len", &self.body_len)
            .finish_non_exhaustive()
    }
}

fn malformed(detail: &'static str) -> Rejection {
    Rejection::new(RejectionKind::MalformedAuthorization).with_detail(detail)
}

/// `name="value"` pairs separated by commas (optional white space around each): the four of
/// `flavor`, each exactly once, nothing else.
fn params(flavor: Flavor, text: &str) -> Result<[&str; 4], Rejection> {
    let names = flavor.params();
    let mut found: [Option<&str>; 4] = [None; 4];
    let mut rest = text.trim_start_matches([' ', '\t']);
    while !rest.is_empty() {
        let (name, after) = rest
            .split_once("=\"")
            .ok_or_else(|| malformed("parameters are name=\"value\", separated by commas"))?;
        let (value, after) = after
            .split_once('"')
            .ok_or_else(|| malformed("a parameter's value has no closing quote"))?;
        let index = names
            .iter()
            .position(|n| *n == name)
            .ok_or_else(|| malformed("an unknown parameter"))?;
        if found[index].replace(value).is_some() {
            return Err(malformed("a parameter appears twice"));
        }
        let after = after.trim_start_matches([' ', '\t']);
        rest = match after.strip_prefix(',') {
            Some(next) => next.trim_start_matches([' ', '\t']),
            None if after.is_empty() => after,
            None => return Err(malformed("parameters are separated by commas")),
        };
    }
    let [Some(a), Some(b), Some(c), Some(d)] = found else {
        return Err(malformed(match flavor {
            Flavor::Kong => "username, algorithm, headers and signature are all required",
            Flavor::Apisix => "keyId, algorithm, headers and signature are all required",
        }));
    };
    Ok([a, b, c, d])
}

/// The value of the one field line of `name`, if the request has one (`duplicate_signed_header`
/// for two); for `host`, the URI authority when there is no `Host` (HTTP/2).
fn header<'a>(parts: &'a Parts, name: &str) -> Result<Option<&'a [u8]>, Rejection> {
    let mut lines = parts.headers.get_all(name).iter();
    match (lines.next(), lines.next()) {
        (Some(_), Some(_)) => Err(Rejection::new(RejectionKind::DuplicateSignedHeader)
            .with_detail(format!("{name} appears more than once"))),
        (Some(value), None) => Ok(Some(value.as_bytes())),
        (None, _) if name.eq_ignore_ascii_case("host") => {
            Ok(parts.uri.authority().map(|a| a.as_str().as_bytes()))
        }
        (None, _) => Ok(None),
    }
}

/// The request target as sent: path and query.
fn target(parts: &Parts) -> &str {
    match parts.uri.path_and_query().map(|pq| pq.as_str()) {
        Some(pq) if !pq.is_empty() => pq,
        _ => "/",
    }
}

fn http_version(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

/// The string a gateway signs (the plugins' `create_hash` / `generate_signature`).
fn signing_string(
    flavor: Flavor,
    parts: &Parts,
    key_id: &str,
    headers: &[Box<str>],
) -> Result<Vec<u8>, Rejection> {
    let mut out = Vec::with_capacity(256);
    if flavor == Flavor::Apisix {
        out.extend_from_slice(key_id.as_bytes());
        out.push(b'\n');
    }
    for (i, name) in headers.iter().enumerate() {
        if flavor == Flavor::Kong && i > 0 {
            out.push(b'\n');
        }
        let start = out.len();
        match (header(parts, name)?, &**name) {
            (Some(value), _) => {
                out.extend_from_slice(name.as_bytes());
                out.extend_from_slice(b": ");
                out.extend_from_slice(value);
            }
            (None, "@request-target") if flavor == Flavor::Kong => {
                out.extend_from_slice(b"@request-target: ");
                out.extend_from_slice(parts.method.as_str().to_ascii_lowercase().as_bytes());
                out.push(b' ');
                out.extend_from_slice(target(parts).as_bytes());
            }
            (None, "@request-target") => {
                out.extend_from_slice(parts.method.as_str().as_bytes());
                out.push(b' ');
                out.extend_from_slice(target(parts).as_bytes());
            }
            (None, "request-line") if flavor == Flavor::Kong => {
                out.extend_from_slice(parts.method.as_str().as_bytes());
                out.push(b' ');
                out.extend_from_slice(target(parts).as_bytes());
                out.push(b' ');
                out.extend_from_slice(http_version(parts.version).as_bytes());
            }
            (None, _) if flavor == Flavor::Kong => {
                out.extend_from_slice(name.as_bytes());
                out.push(b':');
            }
            // APISIX leaves an absent header out.
            (None, _) => {}
        }
        if flavor == Flavor::Apisix && out.len() > start {
            out.push(b'\n');
        }
    }
    Ok(out)
}

/// The header value carrying the credentials: Kong reads `Proxy-Authorization` first, then
/// `Authorization`; APISIX `Authorization`.
fn credentials_text(flavor: Flavor, parts: &Parts, max_len: usize) -> Result<&str, Rejection> {
    let candidates: &[(HeaderName, &[&str])] = match flavor {
        Flavor::Kong => &[
            (PROXY_AUTHORIZATION, &["hmac"]),
            (AUTHORIZATION, &["hmac", "\"hmac"]),
        ],
        Flavor::Apisix => &[(AUTHORIZATION, &["Signature"])],
    };
    let mut first_error = None;
    for (name, tokens) in candidates {
        let mut lines = parts.headers.get_all(name).iter();
        let Some(value) = lines.next() else { continue };
        let found = if lines.next().is_some() {
            Err(malformed("the credentials header appears more than once"))
        } else if value.len() > max_len {
            Err(malformed("the credentials header is too long"))
        } else {
            value
                .to_str()
                .map_err(|_| malformed("the credentials header is not text"))
                .and_then(|text| {
                    let (token, rest) = text
                        .split_once(' ')
                        .ok_or_else(|| malformed("<scheme> name=\"value\", …"))?;
                    tokens
                        .iter()
                        .any(|t| t.eq_ignore_ascii_case(token))
                        .then_some(rest)
                        .ok_or_else(|| malformed("not this scheme's credentials"))
                })
        };
        match found {
            Ok(found) => return Ok(found),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(first_error.unwrap_or_else(|| Rejection::new(RejectionKind::MissingAuthorization)))
}

/// A header name of the list: a token, or the pseudo-names.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().enumerate().all(|(i, b)| {
            b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || (i == 0 && b == b'@')
        })
}

fn parse(rules: &Rules, parts: &Parts, max_len: usize) -> Result<GatewayCredentials, Rejection> {
    let rest = credentials_text(rules.flavor, parts, max_len)?;
    let [key_id, algorithm, headers, signature_text] = params(rules.flavor, rest)?;
    if !is_valid_key_id(key_id) {
        return Err(malformed(
            "the key id is 1 to 128 of A-Z a-z 0-9 . _ ~ - (a registry key id)",
        ));
    }
    let algorithm = Algorithm::parse(algorithm).ok_or_else(|| malformed("an unknown algorithm"))?;
    // An algorithm no key may use is refused as such (it says nothing of the key id); one that
    // only another key may use is refused after the MAC, as a bad signature.
    let allowed_somewhere = rules.algorithms.contains(algorithm)
        || rules.per_key.values().any(|a| a.contains(algorithm));
    if !allowed_somewhere {
        return Err(Rejection::new(RejectionKind::MalformedAuthorization)
            .with_detail(format!("{algorithm} is not allowed here")));
    }
    let algorithm_refused = !rules.allows(key_id, algorithm);
    let mut names: Vec<Box<str>> = Vec::new();
    for name in headers.split(' ') {
        if !valid_name(name) {
            return Err(malformed(
                "headers lists names separated by single spaces: A-Z a-z 0-9 - _ (@request-target)",
            ));
        }
        if names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            return Err(malformed("a name appears twice in headers"));
        }
        if names.len() == MAX_SIGNED_HEADERS {
            return Err(malformed("headers lists more than 32 names"));
        }
        names.push(name.into());
    }
    let signature = STANDARD
        .decode(signature_text)
        .ok()
        .filter(|s| s.len() == algorithm.output_len())
        .ok_or_else(|| malformed("the signature is the Base64 of the MAC"))?;
    let mut creds = GatewayCredentials {
        key_id: key_id.to_owned(),
        algorithm,
        headers: names,
        signature,
        signature_text: signature_text.to_owned(),
        timestamp: 0,
        replay_guard: rules.replay_guard,
        algorithm_refused,
    };
    // The time: the first of the gateway's time headers that is a date — and it must be signed.
    let mut dated = None;
    for name in rules.flavor.time_headers() {
        if let Some(value) = header(parts, name.as_str())? {
            let parsed = std::str::from_utf8(value)
                .ok()
                .and_then(|v| httpdate::parse_http_date(v).ok());
            if let Some(at) = parsed {
                dated = Some((name, at));
                break;
            }
        }
    }
    let Some((name, at)) = dated else {
        return Err(Rejection::new(RejectionKind::MissingSignedHeader)
            .with_detail("a valid Date or X-Date header is required"));
    };
    if !creds.covers(name.as_str()) {
        return Err(
            Rejection::new(RejectionKind::MissingCoveredComponent).with_detail(format!(
                "the {name} header dates the request and must be in headers"
            )),
        );
    }
    creds.timestamp = crate::clock::unix_seconds(at);
    if let Some(missing) = rules.required.iter().find(|r| !creds.covers(r)) {
        return Err(Rejection::new(RejectionKind::MissingCoveredComponent)
            .with_detail(format!("the signature must cover {missing}")));
    }
    Ok(creds)
}

fn prepare(
    flavor: Flavor,
    creds: &GatewayCredentials,
    parts: &Parts,
) -> Result<GatewayPending, Rejection> {
    let signing = signing_string(flavor, parts, &creds.key_id, &creds.headers)?;
    let digest = match header(parts, DIGEST.as_str())? {
        None => None,
        Some(value) => Some(
            value
                .strip_prefix(b"SHA-256=")
                .and_then(|b64| STANDARD.decode(b64).ok())
                .and_then(|d| <[u8; 32]>::try_from(d).ok())
                .ok_or_else(|| {
                    Rejection::new(RejectionKind::InvalidSignature)
                        .with_detail("the Digest header is not SHA-256=<Base64 of 32 bytes>")
                })?,
        ),
    };
    Ok(GatewayPending {
        signing,
        body: sha2::Sha256::new(),
        body_len: 0,
        digest,
    })
}

fn verify(
    creds: &GatewayCredentials,
    pending: GatewayPending,
    key: &SecretKey,
) -> Result<Verified, Rejection> {
    if pending.body_len > 0 && !(pending.digest.is_some() && creds.covers("digest")) {
        return Err(
            Rejection::new(RejectionKind::MissingCoveredComponent).with_detail(
                "a request with a body must send Digest: SHA-256=… and list digest in headers",
            ),
        );
    }
    let mac = creds
        .algorithm
        .mac(key.text_form().as_bytes(), &pending.signing);
    if !bool::from(mac.ct_eq(&creds.signature)) || creds.algorithm_refused {
        // Withheld: the layer answers with digests keyed with the key being verified, never
        // the signing string (it holds the values of every listed header, a proxy's too).
        return Err(
            Rejection::new(RejectionKind::InvalidSignature).with_signed_text(pending.signing)
        );
    }
    if let Some(expected) = pending.digest {
        let actual: [u8; 32] = pending.body.finalize().into();
        if !bool::from(actual.ct_eq(&expected)) {
            return Err(Rejection::new(RejectionKind::InvalidSignature)
                .with_detail("the body does not match its Digest"));
        }
    }
    // No nonce: the MAC that verified is the replay key.
    Ok(if creds.replay_guard {
        Verified::mac(&mac)
    } else {
        Verified::unguarded()
    })
}

macro_rules! gateway_scheme {
    ($ty:ident, $id:literal, $name:literal, $flavor:expr) => {
        impl Scheme for $ty {
            type Credentials = GatewayCredentials;
            type Pending = GatewayPending;

            fn id(&self) -> &'static str {
                $id
            }

            fn name(&self) -> &'static str {
                $name
            }

            fn locator(&self) -> &Locator {
                &self.rules.locator
            }

            fn parse(
                &self,
                parts: &Parts,
                max_len: usize,
            ) -> Result<GatewayCredentials, Rejection> {
                parse(&self.rules, parts, max_len)
            }

            fn prepare(
                &self,
                creds: &GatewayCredentials,
                parts: &Parts,
                _: &SecretKey,
            ) -> Result<GatewayPending, Rejection> {
                prepare($flavor, creds, parts)
            }

            fn update(&self, pending: &mut GatewayPending, chunk: &[u8]) {
                pending.body_len += chunk.len() as u64;
                pending.body.update(chunk);
            }

            fn verify(
                &self,
                creds: &GatewayCredentials,
                pending: GatewayPending,
                key: &SecretKey,
            ) -> Result<Verified, Rejection> {
                verify(creds, pending, key)
            }
        }
    };
}

#[cfg(feature = "kong")]
gateway_scheme!(Kong, "kong", "hmac", Flavor::Kong);
#[cfg(feature = "apisix")]
gateway_scheme!(Apisix, "apisix", "Signature", Flavor::Apisix);

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(req: http::request::Builder) -> Parts {
        req.body(()).unwrap().into_parts().0
    }

    #[test]
    fn params_are_strict() {
        let ok = params(
            Flavor::Kong,
            "username=\"bob\",  algorithm=\"a\", headers=\"date\",signature=\"s\"",
        )
        .unwrap();
        assert_eq!(ok, ["bob", "a", "date", "s"]);
        for bad in [
            "username=\"bob\", algorithm=\"a\", headers=\"date\"",
            "username=\"bob\", algorithm=\"a\", headers=\"date\", signature=\"s\", extra=\"x\"",
            "username=\"bob\", username=\"eve\", algorithm=\"a\", headers=\"date\", signature=\"s\"",
            "username=\"bob\" algorithm=\"a\", headers=\"date\", signature=\"s\"",
            "username=\"bob, algorithm=\"a\"",
        ] {
            assert!(params(Flavor::Kong, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn kong_and_apisix_sign_the_same_request_differently() {
        let p = parts(
            http::Request::post("/orders?id=7")
                .header("date", "Tue, 15 Sep 2026 10:00:00 GMT")
                .header("x-a", "1"),
        );
        let names: Vec<Box<str>> = ["request-line", "@request-target", "date", "x-a", "x-b"]
            .iter()
            .map(|&n| n.into())
            .collect();
        let kong = signing_string(Flavor::Kong, &p, "k", &names).unwrap();
        assert_eq!(
            String::from_utf8(kong).unwrap(),
            "POST /orders?id=7 HTTP/1.1\n@request-target: post /orders?id=7\ndate: Tue, 15 Sep 2026 10:00:00 GMT\nx-a: 1\nx-b:"
        );
        let apisix = signing_string(Flavor::Apisix, &p, "k", &names).unwrap();
        assert_eq!(
            String::from_utf8(apisix).unwrap(),
            "k\nPOST /orders?id=7\ndate: Tue, 15 Sep 2026 10:00:00 GMT\nx-a: 1\n"
        );
    }
}
