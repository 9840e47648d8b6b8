//! softaware.Authentication.Hmac, the ASP.NET Core `Hmac` scheme (feature `softaware`): its
//! clients (`ApiKeyDelegatingHandler`) work unchanged, with its weaknesses fixed on the server.
//!
//! ```text
//! Authorization: Hmac <HmacAlg>:<BodyAlg>:<AppId>:<Base64Signature>:<Nonce>:<UnixSeconds>
//! Authorization: Hmac <AppId>:<Base64Signature>:<Nonce>:<UnixSeconds>      (older; legacy)
//! signature = Base64(HMAC_alg(key, UTF-8 of AppId + Method
//!             + UrlEncode(lowercase(absolute URI)) + UnixSeconds + Nonce + Base64(body hash))))
//! ```
//!
//! The absolute URI is the scheme (the one clients reach the server by; see
//! [`Softaware::uri_scheme`]) + `://` + the `Host` header + path + `?query`; lower-casing is ASCII;
//! UrlEncode is .NET's `WebUtility.UrlEncode`; the body-hash part is empty without a body. The
//! AppId is the registry's key id and the ApiKey the key's Base64.
//!
//! Fixed here: only HMACSHA256/384/512 with SHA256/384/512 by default (MD5, SHA1 and the
//! four-field form only with [`Softaware::allow_legacy`]); the nonce is recorded only after the
//! MAC checks out, for the whole window, per key; several keys per app; a malformed header is a
//! `401 malformed_authorization`, never a 500.
//!
//! The signed string has no separators, so its fields are told apart by their syntax alone: the
//! time is exactly 10 digits (what `ToUnixTimeSeconds` gives from 2001 to 2286) and the nonce
//! exactly 32 lower-case hex digits (the handler's `Guid.NewGuid().ToString("N")`), so the
//! URI, the time, the nonce and the body hash each start and end where the server expects. A
//! wider nonce is a setting that weakens this ([`NonceSyntax::Legacy`]).
//!
//! ```
//! use tower_hmac_core::softaware::{NonceSyntax, Softaware};
//!
//! // The default: what softaware's own client sends.
//! let strict = Softaware::new();
//! // Clients of another implementation whose nonces are not GUIDs (weakens security).
//! let wider = Softaware::new().nonce_syntax(NonceSyntax::Legacy);
//! # let _ = (strict, wider);
//! ```

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use http::header::AUTHORIZATION;
use http::request::Parts;
use sha2::Digest as _;
use subtle::ConstantTimeEq;

use crate::authorization::is_valid_key_id;
use crate::key::SecretKey;
use crate::rejection::{Rejection, RejectionKind};
use crate::scheme::{Credentials, Locator, Scheme, Verified};

/// The HMAC algorithms of the header (the .NET names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MacAlg {
    Md5,
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

/// The body hash algorithms of the header (the .NET names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyAlg {
    Md5,
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl MacAlg {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "HMACMD5" => Self::Md5,
            "HMACSHA1" => Self::Sha1,
            "HMACSHA256" => Self::Sha256,
            "HMACSHA384" => Self::Sha384,
            "HMACSHA512" => Self::Sha512,
            _ => return None,
        })
    }

    fn legacy(self) -> bool {
        matches!(self, Self::Md5 | Self::Sha1)
    }

    fn output_len(self) -> usize {
        match self {
            Self::Md5 => 16,
            Self::Sha1 => 20,
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }

    fn mac(self, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        fn run<M: Mac + KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
            // HMAC takes keys of any length.
            let Ok(mut mac) = <M as KeyInit>::new_from_slice(key) else {
                return Vec::new();
            };
            for part in parts {
                mac.update(part);
            }
            mac.finalize().into_bytes().to_vec()
        }
        match self {
            Self::Md5 => run::<Hmac<md5::Md5>>(key, parts),
            Self::Sha1 => run::<Hmac<sha1::Sha1>>(key, parts),
            Self::Sha256 => run::<Hmac<sha2::Sha256>>(key, parts),
            Self::Sha384 => run::<Hmac<sha2::Sha384>>(key, parts),
            Self::Sha512 => run::<Hmac<sha2::Sha512>>(key, parts),
        }
    }
}

impl BodyAlg {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "MD5" => Self::Md5,
            "SHA1" => Self::Sha1,
            "SHA256" => Self::Sha256,
            "SHA384" => Self::Sha384,
            "SHA512" => Self::Sha512,
            _ => return None,
        })
    }

    fn legacy(self) -> bool {
        matches!(self, Self::Md5 | Self::Sha1)
    }
}

/// What the server accepts as a nonce. The signed string puts the nonce between the time and
/// the body hash with no separator, so the nonce's syntax is what tells the three apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum NonceSyntax {
    /// Exactly 32 lower-case hex digits: `Guid.NewGuid().ToString("N")`, what softaware's
    /// `ApiKeyDelegatingHandler` sends (the default). Every field of the signed string then has
    /// a fixed width or a fixed alphabet, and no two requests sign the same string.
    #[default]
    Guid,
    /// **Weakens security**: 1 to 54 of `A-Z a-z 0-9 - _`, for clients of other implementations
    /// (upper-case or hyphenated GUIDs, Base64url nonces). The nonce's width is then not fixed,
    /// so syntax alone no longer tells where the time ends and the body hash starts, and two
    /// requests can sign the same string when characters shifted across those bounds still
    /// parse (docs/SECURITY.md). The cap keeps the replay the red team found out: the time and
    /// the nonce together are at most 64 characters, the length of a SHA384 body hash in
    /// Base64 (the one digest without `=` padding, a character no nonce has), so a resend with
    /// no body cannot carry a captured body's hash in its nonce; what it could move there is
    /// hash only, and 10 random Base64 characters of it must then read as an acceptable time
    /// (about 1 in 10^10 per captured request).
    Legacy,
}

impl NonceSyntax {
    fn accepts(self, nonce: &str) -> bool {
        match self {
            Self::Guid => {
                nonce.len() == 32
                    && nonce
                        .bytes()
                        .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            }
            Self::Legacy => {
                !nonce.is_empty()
                    && nonce.len() <= 54
                    && nonce
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            }
        }
    }

    fn rule(self) -> &'static str {
        match self {
            Self::Guid => "the nonce is 32 lower-case hex digits (a GUID, .NET format \"N\")",
            Self::Legacy => "the nonce is 1 to 54 of A-Z a-z 0-9 - _",
        }
    }
}

/// The body's digest, computed as it streams.
enum BodyDigest {
    Md5(md5::Md5),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
    Sha384(sha2::Sha384),
    Sha512(sha2::Sha512),
}

impl BodyDigest {
    fn new(alg: BodyAlg) -> Self {
        match alg {
            BodyAlg::Md5 => Self::Md5(md5::Md5::new()),
            BodyAlg::Sha1 => Self::Sha1(sha1::Sha1::new()),
            BodyAlg::Sha256 => Self::Sha256(sha2::Sha256::new()),
            BodyAlg::Sha384 => Self::Sha384(sha2::Sha384::new()),
            BodyAlg::Sha512 => Self::Sha512(sha2::Sha512::new()),
        }
    }

    fn update(&mut self, chunk: &[u8]) {
        match self {
            Self::Md5(d) => d.update(chunk),
            Self::Sha1(d) => d.update(chunk),
            Self::Sha256(d) => d.update(chunk),
            Self::Sha384(d) => d.update(chunk),
            Self::Sha512(d) => d.update(chunk),
        }
    }

    fn finish(self) -> Vec<u8> {
        match self {
            Self::Md5(d) => d.finalize().to_vec(),
            Self::Sha1(d) => d.finalize().to_vec(),
            Self::Sha256(d) => d.finalize().to_vec(),
            Self::Sha384(d) => d.finalize().to_vec(),
            Self::Sha512(d) => d.finalize().to_vec(),
        }
    }
}

/// The `Hmac` scheme (id `softaware`).
#[derive(Debug, Clone)]
pub struct Softaware {
    legacy: bool,
    nonce_syntax: NonceSyntax,
    uri_scheme: &'static str,
    trust_forwarded_proto: bool,
    locator: Locator,
}

impl Default for Softaware {
    fn default() -> Self {
        Self::new()
    }
}

impl Softaware {
    /// The scheme with the secure defaults: SHA-256/384/512 only, the six-field form only, GUID
    /// nonces ([`NonceSyntax::Guid`]), the absolute URI with `https`.
    pub fn new() -> Self {
        Self {
            legacy: false,
            nonce_syntax: NonceSyntax::Guid,
            uri_scheme: "https",
            trust_forwarded_proto: false,
            locator: Locator::AuthorizationToken68("Hmac"),
        }
    }

    /// **Weakens security**: also HMACMD5 / HMACSHA1, MD5 / SHA1 body hashes and the older
    /// four-field form (HMACSHA256 with MD5), for clients that cannot be changed yet.
    pub fn allow_legacy(mut self) -> Self {
        self.legacy = true;
        self
    }

    /// What the server accepts as a nonce: [`NonceSyntax::Guid`] by default.
    /// [`NonceSyntax::Legacy`] **weakens security** (see there): only for clients that cannot
    /// send a GUID.
    pub fn nonce_syntax(mut self, syntax: NonceSyntax) -> Self {
        self.nonce_syntax = syntax;
        self
    }

    /// The URI scheme clients reach this server by, `https` (the default) or `http`: it is part
    /// of the signed absolute URI, and a server behind a TLS-terminating proxy cannot see it.
    pub fn uri_scheme(mut self, scheme: &'static str) -> Self {
        self.uri_scheme = if scheme == "http" { "http" } else { "https" };
        self
    }

    /// Take the URI scheme from `X-Forwarded-Proto` (`http` or `https`) when present. Only behind
    /// a proxy that sets it and strips the client's: otherwise a client chooses it.
    pub fn trust_forwarded_proto(mut self, trust: bool) -> Self {
        self.trust_forwarded_proto = trust;
        self
    }
}

/// A parsed `Hmac` header.
#[derive(Clone)]
pub struct SoftawareCredentials {
    mac_alg: MacAlg,
    body_alg: BodyAlg,
    app_id: String,
    signature: Vec<u8>,
    nonce: String,
    timestamp: u64,
    timestamp_text: String,
}

impl fmt::Debug for SoftawareCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SoftawareCredentials")
            .field("app_id", &self.app_id)
            .field("alg", &(self.mac_alg, self.body_alg))
            .field("timestamp", &self.timestamp)
            .finish_non_exhaustive()
    }
}

impl Credentials for SoftawareCredentials {
    fn key_id(&self) -> &str {
        &self.app_id
    }
    fn timestamp(&self) -> u64 {
        self.timestamp
    }
    fn nonce(&self) -> &str {
        &self.nonce
    }
}

/// What `prepare` builds: the signed content before the body hash, and the body's digest.
pub struct SoftawarePending {
    content: String,
    body: BodyDigest,
    len: u64,
}

impl fmt::Debug for SoftawarePending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SoftawarePending")
            .field("len", &self.len)
            .finish()
    }
}

fn malformed(detail: &'static str) -> Rejection {
    Rejection::new(RejectionKind::MalformedAuthorization).with_detail(detail)
}

/// .NET's `WebUtility.UrlEncode`.
fn dotnet_url_encode(text: &str, out: &mut String) {
    for &b in text.as_bytes() {
        match b {
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'-'
            | b'_'
            | b'.'
            | b'!'
            | b'*'
            | b'('
            | b')' => out.push(b as char),
            b' ' => out.push('+'),
            _ => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                out.push('%');
                out.push(HEX[usize::from(b >> 4)] as char);
                out.push(HEX[usize::from(b & 15)] as char);
            }
        }
    }
}

impl Scheme for Softaware {
    type Credentials = SoftawareCredentials;
    type Pending = SoftawarePending;

    fn id(&self) -> &'static str {
        "softaware"
    }
    fn name(&self) -> &'static str {
        "Hmac"
    }
    fn locator(&self) -> &Locator {
        &self.locator
    }

    fn parse(&self, parts: &Parts, max_len: usize) -> Result<SoftawareCredentials, Rejection> {
        let mut values = parts.headers.get_all(AUTHORIZATION).iter();
        let (Some(value), None) = (values.next(), values.next()) else {
            return Err(malformed("exactly one Authorization header"));
        };
        if value.len() > max_len {
            return Err(malformed("the Authorization header is too long"));
        }
        let text = value
            .to_str()
            .map_err(|_| malformed("the Authorization header is not text"))?;
        let (scheme, rest) = text
            .split_once(' ')
            .ok_or_else(|| malformed("Hmac <fields>"))?;
        if !scheme.eq_ignore_ascii_case("Hmac") {
            return Err(malformed("Hmac <fields>"));
        }
        let fields: Vec<&str> = rest.split(':').collect();
        let (mac_alg, body_alg, app_id, signature, nonce, ts) = match fields.as_slice() {
            [m, b, app, sig, nonce, ts] => (
                MacAlg::parse(m).ok_or_else(|| malformed("unknown HMAC algorithm"))?,
                BodyAlg::parse(b).ok_or_else(|| malformed("unknown body hash algorithm"))?,
                *app,
                *sig,
                *nonce,
                *ts,
            ),
            [app, sig, nonce, ts] if self.legacy => {
                (MacAlg::Sha256, BodyAlg::Md5, *app, *sig, *nonce, *ts)
            }
            [_, _, _, _] => {
                return Err(malformed(
                    "the four-field Hmac form (MD5 body hash) is not allowed here",
                ));
            }
            _ => return Err(malformed("Hmac needs six fields separated by ':'")),
        };
        if !self.legacy && (mac_alg.legacy() || body_alg.legacy()) {
            return Err(malformed("MD5 and SHA1 are not allowed here"));
        }
        if !is_valid_key_id(app_id) {
            return Err(malformed("the AppId is 1 to 128 of A-Z a-z 0-9 . _ ~ -"));
        }
        if !self.nonce_syntax.accepts(nonce) {
            return Err(malformed(self.nonce_syntax.rule()));
        }
        // Exactly 10 digits: every time a server accepts from 2001 to 2286, and a fixed width,
        // so that no digit can move between the URI and the time.
        let timestamp = (ts.len() == 10
            && ts.bytes().all(|b| b.is_ascii_digit())
            && !ts.starts_with('0'))
        .then(|| ts.parse().ok())
        .flatten()
        .ok_or_else(|| malformed("the time is 10 digits (Unix seconds), no leading zero"))?;
        let signature = STANDARD
            .decode(signature)
            .ok()
            .filter(|s| s.len() == mac_alg.output_len())
            .ok_or_else(|| malformed("the signature is the Base64 of the MAC"))?;
        Ok(SoftawareCredentials {
            mac_alg,
            body_alg,
            app_id: app_id.to_owned(),
            signature,
            nonce: nonce.to_owned(),
            timestamp,
            timestamp_text: ts.to_owned(),
        })
    }

    fn prepare(
        &self,
        creds: &SoftawareCredentials,
        parts: &Parts,
        _: &SecretKey,
    ) -> Result<SoftawarePending, Rejection> {
        let uri_scheme =
            crate::scheme::uri_scheme_of(parts, self.uri_scheme, self.trust_forwarded_proto);
        let host = crate::scheme::host_of(parts, "host is part of the signed URI but absent")?;
        let path = match parts.uri.path() {
            "" => "/",
            path => path,
        };
        let mut absolute = format!("{uri_scheme}://{host}{path}");
        if let Some(query) = parts.uri.query() {
            absolute.push('?');
            absolute.push_str(query);
        }
        absolute.make_ascii_lowercase();
        let mut content = String::with_capacity(absolute.len() * 2 + 128);
        content.push_str(&creds.app_id);
        content.push_str(parts.method.as_str());
        dotnet_url_encode(&absolute, &mut content);
        content.push_str(&creds.timestamp_text);
        content.push_str(&creds.nonce);
        Ok(SoftawarePending {
            content,
            body: BodyDigest::new(creds.body_alg),
            len: 0,
        })
    }

    fn update(&self, pending: &mut SoftawarePending, chunk: &[u8]) {
        pending.len += chunk.len() as u64;
        pending.body.update(chunk);
    }

    fn verify(
        &self,
        creds: &SoftawareCredentials,
        pending: SoftawarePending,
        key: &SecretKey,
    ) -> Result<Verified, Rejection> {
        let body_hash = if pending.len == 0 {
            String::new()
        } else {
            STANDARD.encode(pending.body.finish())
        };
        let mac = creds.mac_alg.mac(
            key.expose_secret(),
            &[pending.content.as_bytes(), body_hash.as_bytes()],
        );
        if bool::from(mac.ct_eq(&creds.signature)) {
            // The nonce is part of the signed string, with unambiguous bounds.
            Ok(Verified::signed_nonce())
        } else {
            let mut text = pending.content.into_bytes();
            text.extend_from_slice(body_hash.as_bytes());
            Err(Rejection::new(RejectionKind::InvalidSignature).with_signed_text(text))
        }
    }
}

/// The body hash a client chooses (the handler's `RequestBodyHashingMethod`), for
/// [`authorization_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum BodyHash {
    /// `SHA256`, the handler's default.
    #[default]
    Sha256,
    /// `SHA384`.
    Sha384,
    /// `SHA512`.
    Sha512,
}

impl BodyHash {
    fn alg(self) -> BodyAlg {
        match self {
            Self::Sha256 => BodyAlg::Sha256,
            Self::Sha384 => BodyAlg::Sha384,
            Self::Sha512 => BodyAlg::Sha512,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "SHA256",
            Self::Sha384 => "SHA384",
            Self::Sha512 => "SHA512",
        }
    }
}

/// A fresh nonce as softaware's handler makes it (`Guid.NewGuid().ToString("N")`): 128 random
/// bits from the OS CSPRNG as 32 lower-case hex digits, what [`NonceSyntax::Guid`] accepts.
pub fn generate_nonce() -> Result<String, crate::KeyError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|_| crate::KeyError::RandomUnavailable)?;
    Ok(hex::encode(bytes))
}

/// An `Authorization` value as softaware's `ApiKeyDelegatingHandler` makes it (HMACSHA256 with a
/// SHA256 body hash), for a request to `absolute_uri` (scheme, host, path and query as sent).
///
/// `nonce` is sent as given: the server accepts 32 lower-case hex digits by default
/// ([`generate_nonce`]), and `timestamp` is Unix seconds (10 digits).
pub fn authorization(
    app_id: &str,
    key: &SecretKey,
    method: &str,
    absolute_uri: &str,
    body: &[u8],
    nonce: &str,
    timestamp: u64,
) -> String {
    authorization_with(
        app_id,
        key,
        method,
        absolute_uri,
        body,
        nonce,
        timestamp,
        BodyHash::Sha256,
    )
}

/// [`authorization`] with another body hash (HMACSHA256 still), as the handler makes it when
/// given a `RequestBodyHashingMethod`.
#[allow(clippy::too_many_arguments)] // the handler's inputs, one each
pub fn authorization_with(
    app_id: &str,
    key: &SecretKey,
    method: &str,
    absolute_uri: &str,
    body: &[u8],
    nonce: &str,
    timestamp: u64,
    body_hash: BodyHash,
) -> String {
    let mut content = String::new();
    content.push_str(app_id);
    content.push_str(method);
    dotnet_url_encode(&absolute_uri.to_ascii_lowercase(), &mut content);
    content.push_str(&timestamp.to_string());
    content.push_str(nonce);
    if !body.is_empty() {
        let mut digest = BodyDigest::new(body_hash.alg());
        digest.update(body);
        content.push_str(&STANDARD.encode(digest.finish()));
    }
    let mac = MacAlg::Sha256.mac(key.expose_secret(), &[content.as_bytes()]);
    format!(
        "Hmac HMACSHA256:{}:{app_id}:{}:{nonce}:{timestamp}",
        body_hash.name(),
        STANDARD.encode(mac)
    )
}
