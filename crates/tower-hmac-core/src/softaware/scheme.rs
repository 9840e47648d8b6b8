//! The scheme and its settings, and the checks of parse, prepare, update and verify.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::header::AUTHORIZATION;
use http::request::Parts;
use subtle::ConstantTimeEq;

use super::algorithms::{BodyAlg, BodyDigest, MacAlg};
use super::credentials::{SoftawareCredentials, SoftawarePending};
use super::malformed;
use super::nonce::NonceSyntax;
use super::url_encode::dotnet_url_encode;
use crate::authorization::is_valid_key_id;
use crate::key::SecretKey;
use crate::rejection::{Rejection, RejectionKind};
use crate::scheme::{Locator, Scheme, UriScheme, Verified};

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
