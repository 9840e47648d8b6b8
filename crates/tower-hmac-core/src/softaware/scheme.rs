//! The scheme and its settings, and the checks of parse, prepare, update and verify.

use arrayvec::{ArrayString, ArrayVec};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::header::AUTHORIZATION;
use http::request::Parts;
use subtle::ConstantTimeEq;

use super::algorithms::{BodyAlg, BodyDigest, MAX_OUTPUT, MacAlg};
use super::credentials::{SoftawareCredentials, SoftawarePending};
use super::malformed;
use super::nonce::NonceSyntax;
use super::url_encode::url_encode_lowercase;
use crate::authorization::is_valid_key_id;
use crate::key::SecretKey;
use crate::rejection::{Rejection, RejectionKind};
use crate::scheme::{Locator, Scheme, UriScheme, Verified};

/// The Base64 of the longest body hash (SHA-512's 64 bytes).
const BODY_HASH_BASE64: usize = 88;

/// The `Hmac` scheme (id `softaware`).
#[derive(Debug, Clone)]
pub struct Softaware {
    legacy: bool,
    nonce_syntax: NonceSyntax,
    uri_scheme: UriScheme,
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
            uri_scheme: UriScheme::Https,
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

    /// The URI scheme clients reach this server by, [`UriScheme::Https`] (the default) or
    /// [`UriScheme::Http`]: it is part of the signed absolute URI, and a server behind a
    /// TLS-terminating proxy cannot see it.
    pub fn uri_scheme(mut self, scheme: UriScheme) -> Self {
        self.uri_scheme = scheme;
        self
    }

    /// Take the URI scheme from `X-Forwarded-Proto` (`http` or `https`) when present. Only behind
    /// a proxy that sets it and strips the client's: otherwise a client chooses it.
    pub fn trust_forwarded_proto(mut self, trust: bool) -> Self {
        self.trust_forwarded_proto = trust;
        self
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
        // `Hmac` (any case), then one space: the first space is the fifth character.
        let rest = text
            .split_at_checked(4)
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("Hmac"))
            .and_then(|(_, rest)| rest.strip_prefix(' '))
            .ok_or_else(|| malformed("Hmac <fields>"))?;
        // The fields, in one pass: up to six, and `count` past six when there are more.
        let mut fields = [""; 6];
        let mut count = 0;
        let mut rest = rest;
        loop {
            let end = rest.bytes().position(|b| b == b':');
            let (field, after) = rest.split_at(end.unwrap_or(rest.len()));
            let Some(slot) = fields.get_mut(count) else {
                count += 1;
                break;
            };
            *slot = field;
            count += 1;
            match after.strip_prefix(':') {
                Some(after) => rest = after,
                None => break,
            }
        }
        let (mac_alg, body_alg, [app_id, signature, nonce, ts]) = match (count, fields) {
            (6, [m, b, app, sig, nonce, ts]) => (
                MacAlg::parse(m).ok_or_else(|| malformed("unknown HMAC algorithm"))?,
                BodyAlg::parse(b).ok_or_else(|| malformed("unknown body hash algorithm"))?,
                [app, sig, nonce, ts],
            ),
            (4, [app, sig, nonce, ts, _, _]) if self.legacy => {
                (MacAlg::Sha256, BodyAlg::Md5, [app, sig, nonce, ts])
            }
            (4, _) => {
                return Err(malformed(
                    "the four-field Hmac form (MD5 body hash) is not allowed here",
                ));
            }
            _ => return Err(malformed("Hmac needs six fields separated by ':'")),
        };
        if !self.legacy && (mac_alg.legacy() || body_alg.legacy()) {
            return Err(malformed("MD5 and SHA1 are not allowed here"));
        }
        const APP_ID_RULE: &str = "the AppId is 1 to 128 of A-Z a-z 0-9 . _ ~ -";
        if !is_valid_key_id(app_id) {
            return Err(malformed(APP_ID_RULE));
        }
        let app_id = ArrayString::from(app_id).map_err(|_| malformed(APP_ID_RULE))?;
        if !self.nonce_syntax.accepts(nonce) {
            return Err(malformed(self.nonce_syntax.rule()));
        }
        let nonce = ArrayString::from(nonce).map_err(|_| malformed(self.nonce_syntax.rule()))?;
        // Exactly 10 digits: every time a server accepts from 2001 to 2286, and a fixed width,
        // so that no digit can move between the URI and the time.
        const TIME_RULE: &str = "the time is 10 digits (Unix seconds), no leading zero";
        let timestamp_text = ArrayString::<10>::from(ts)
            .ok()
            .filter(|ts| ts.len() == 10 && !ts.starts_with('0'))
            .ok_or_else(|| malformed(TIME_RULE))?;
        let timestamp = ts
            .bytes()
            .try_fold(0u64, |n, b| {
                b.is_ascii_digit().then(|| n * 10 + u64::from(b - b'0'))
            })
            .ok_or_else(|| malformed(TIME_RULE))?;
        // Decoded in place: a buffer that holds the longest MAC with Base64's slack (an input
        // that needs more decodes to more than any MAC, and is refused either way).
        let mut decoded = [0u8; MAX_OUTPUT + 2];
        let signature = STANDARD
            .decode_slice(signature, &mut decoded)
            .ok()
            .filter(|&len| len == mac_alg.output_len())
            .and_then(|len| decoded.get(..len))
            .and_then(|bytes| ArrayVec::try_from(bytes).ok())
            .ok_or_else(|| malformed("the signature is the Base64 of the MAC"))?;
        Ok(SoftawareCredentials {
            mac_alg,
            body_alg,
            app_id,
            signature,
            nonce,
            timestamp,
            timestamp_text,
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
        let query = parts.uri.query();
        let method = parts.method.as_str();
        // UrlEncode(lowercase(scheme://host path ?query)), written piece by piece: at most three
        // bytes each. One buffer, sized once, with room for the body hash's Base64.
        let uri_len = uri_scheme.len()
            + "://".len()
            + host.len()
            + path.len()
            + query.map_or(0, |q| 1 + q.len());
        let mut content = Vec::with_capacity(
            creds.app_id.len()
                + method.len()
                + 3 * uri_len
                + creds.timestamp_text.len()
                + creds.nonce.len()
                + BODY_HASH_BASE64,
        );
        content.extend_from_slice(creds.app_id.as_bytes());
        content.extend_from_slice(method.as_bytes());
        for piece in [uri_scheme, "://", host, path] {
            url_encode_lowercase(piece.as_bytes(), &mut content);
        }
        if let Some(query) = query {
            url_encode_lowercase(b"?", &mut content);
            url_encode_lowercase(query.as_bytes(), &mut content);
        }
        content.extend_from_slice(creds.timestamp_text.as_bytes());
        content.extend_from_slice(creds.nonce.as_bytes());
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
        let mut encoded = [0u8; BODY_HASH_BASE64];
        let body_hash: &[u8] = if pending.len == 0 {
            &[]
        } else {
            let digest = pending.body.finish();
            // Every digest fits (SHA-512's Base64 is 88 bytes); one that did not is refused.
            STANDARD
                .encode_slice(&digest, &mut encoded)
                .ok()
                .filter(|_| !digest.is_empty())
                .and_then(|len| encoded.get(..len))
                .ok_or_else(|| Rejection::new(RejectionKind::InvalidSignature))?
        };
        let mac = creds.mac_alg.mac(key, &[&pending.content, body_hash]);
        if bool::from(mac.ct_eq(&creds.signature)) {
            // The nonce is part of the signed string, with unambiguous bounds.
            Ok(Verified::signed_nonce())
        } else {
            let mut text = pending.content;
            text.extend_from_slice(body_hash);
            Err(Rejection::new(RejectionKind::InvalidSignature).with_signed_text(text))
        }
    }
}
