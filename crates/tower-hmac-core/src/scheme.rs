//! Schemes: the wire formats a server can verify.
//!
//! A scheme says where its credentials are ([`Locator`]), parses them, builds what it signs from
//! the request's head, consumes the body as it streams (hashing it with whatever digests it needs,
//! or MACing it with the key), and checks the MAC in constant time. Everything else — choosing
//! the scheme, key lookup, the host and clock checks, body limits, the replay guard, rejections —
//! is shared, and done by the server in the same order for every scheme. Protocol v1 is [`V1`].

use std::fmt;

use bytes::Bytes;
use http::HeaderName;
use http::header::AUTHORIZATION;
use http::request::Parts;

use crate::authorization::{Authorization, SCHEME};
use crate::canonical::{BodyHasher, CanonicalRequest};
use crate::key::SecretKey;
use crate::policy;
use crate::rejection::{Rejection, RejectionKind};

/// What the shared checks need from any scheme's credentials.
pub trait Credentials: Send + Sync + 'static {
    /// The key id, looked up in the registry and part of the replay key.
    fn key_id(&self) -> &str;
    /// The request's nonce as sent, when the format has one (the empty string otherwise): what a
    /// `stale_timestamp` answer's time MAC is bound to, and the replay key of a scheme whose
    /// [`verify`](Scheme::verify) returns [`Verified::signed_nonce`] (a nonce its MAC covers).
    fn nonce(&self) -> &str;
    /// When the request may be accepted, and so how long its replay key is remembered.
    fn freshness(&self) -> Freshness;
}

/// When a request may be accepted, as its credentials say: the one value the shared time checks
/// and the replay guard's memory read from a scheme.
///
/// Not `non_exhaustive`: the layer must understand every form a scheme can give, so a new one is
/// a new version of this crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Signed at `at` (Unix seconds): accepted within the window around it — the layer's
    /// `max_skew`, or the scheme's own [`Scheme::max_skew`] — either way (`stale_timestamp`
    /// outside it), and remembered as long as a copy could be accepted.
    Window {
        /// The signing time, Unix seconds.
        at: u64,
    },
    /// Valid from `from` (less the window) until `until`, inclusive (a presigned URL, an
    /// RFC 9421 `expires`, the token's lifetime): `expired` after it, `stale_timestamp` when
    /// `from` is still ahead; remembered until `until`.
    Until {
        /// The signing time, Unix seconds.
        from: u64,
        /// The last second the credentials are valid, Unix seconds.
        until: u64,
    },
    /// No time at all (GitHub's webhook signature): nothing about time is checked, and the
    /// replay key is remembered for `remember` from when it is first seen — a delivery captured
    /// earlier is refused only while it is remembered.
    Untimed {
        /// How long the replay key is remembered.
        remember: std::time::Duration,
    },
}

impl Freshness {
    /// The signing time the credentials name (Unix seconds), when they name one.
    pub const fn signed_at(&self) -> Option<u64> {
        match *self {
            Self::Window { at } => Some(at),
            Self::Until { from, .. } => Some(from),
            Self::Untimed { .. } => None,
        }
    }
}

/// Where a request carries a scheme's credentials: how the server picks the scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Locator {
    /// `Authorization: <token> …`, the token compared case-insensitively.
    Authorization(&'static str),
    /// A header of its own (`X-Auth-Token`, `Signature-Input`, a webhook's signature header):
    /// `Locator::Header(HeaderName::from_static("x-auth-token"))`, parsed once, not per request.
    Header(HeaderName),
    /// A query parameter (presigned URLs), exactly as spelled.
    Query(&'static str),
    /// Any of these (a scheme with more than one form: SigV4's header and presigned URL).
    AnyOf(Vec<Locator>),
    /// `<header>: <token> name="value", …`: an auth-param list after the token (draft-cavage
    /// style: Kong's and APISIX's `hmac-auth`), in `Authorization` or another header
    /// (`Proxy-Authorization`). Told apart from a token68 after the same token.
    AuthParams(HeaderName, &'static str),
    /// `Authorization: <token> <credentials>` where the credentials are not an auth-param list
    /// (softaware's `Hmac app:signature:nonce:time`, which shares its token with Kong's `hmac
    /// username="…"`).
    AuthorizationToken68(&'static str),
}

impl Locator {
    /// Whether the request's head carries credentials at this place. `auth_token` is the
    /// `Authorization` header's scheme token, when there is one.
    pub fn matches(&self, parts: &Parts, auth_token: Option<&[u8]>) -> bool {
        match self {
            Self::Authorization(token) => {
                auth_token.is_some_and(|t| t.eq_ignore_ascii_case(token.as_bytes()))
            }
            Self::Header(name) => parts.headers.contains_key(name),
            // A substring search rules out most queries before they are split.
            Self::Query(name) => parts.uri.query().is_some_and(|q| {
                q.contains(name)
                    && q.split('&')
                        .any(|pair| pair.split('=').next() == Some(*name))
            }),
            Self::AnyOf(locators) => locators.iter().any(|l| l.matches(parts, auth_token)),
            // In `Authorization`: the request's token, already read, rules most requests out
            // without a look at the header.
            Self::AuthParams(header, token)
                if *header == AUTHORIZATION
                    && !auth_token.is_some_and(|t| t.eq_ignore_ascii_case(token.as_bytes())) =>
            {
                false
            }
            Self::AuthParams(header, token) => parts.headers.get_all(header).iter().any(|v| {
                split_token(v.as_bytes()).is_some_and(|(t, rest)| {
                    t.eq_ignore_ascii_case(token.as_bytes()) && is_auth_params(rest)
                })
            }),
            Self::AuthorizationToken68(token) => {
                auth_token.is_some_and(|t| t.eq_ignore_ascii_case(token.as_bytes()))
                    && parts
                        .headers
                        .get(AUTHORIZATION)
                        .and_then(|v| split_token(v.as_bytes()))
                        .is_some_and(|(_, rest)| !is_auth_params(rest))
            }
        }
    }
}

impl Locator {
    /// Whether every request that carries credentials at `other` carries them here too: then a
    /// set holding both schemes can never pick `other`'s alone (every such request is ambiguous),
    /// which a layer's `build()` refuses.
    pub fn covers(&self, other: &Locator) -> bool {
        let same = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
        match (self, other) {
            // Every form of `other` is covered.
            (_, Self::AnyOf(others)) if !others.is_empty() => others.iter().all(|o| self.covers(o)),
            // One of my forms covers it.
            (Self::AnyOf(mine), _) => mine.iter().any(|m| m.covers(other)),
            (Self::Header(a), Self::Header(b)) => a == b,
            (Self::Header(a), Self::AuthParams(b, _)) => a == b,
            (Self::Header(a), Self::Authorization(_) | Self::AuthorizationToken68(_)) => {
                *a == AUTHORIZATION
            }
            (Self::Query(a), Self::Query(b)) => a == b,
            (Self::Authorization(a), Self::Authorization(b) | Self::AuthorizationToken68(b)) => {
                same(a, b)
            }
            (Self::Authorization(a), Self::AuthParams(header, b)) => {
                *header == AUTHORIZATION && same(a, b)
            }
            (Self::AuthParams(h1, a), Self::AuthParams(h2, b)) => h1 == h2 && same(a, b),
            (Self::AuthorizationToken68(a), Self::AuthorizationToken68(b)) => same(a, b),
            _ => false,
        }
    }
}

/// A credentials header's scheme token and what follows it.
fn split_token(value: &[u8]) -> Option<(&[u8], &[u8])> {
    let space = value.iter().position(|&b| b == b' ')?;
    Some((&value[..space], &value[space + 1..]))
}

/// Whether `rest` (after the scheme token) is an auth-param list: `name="…`.
pub(crate) fn is_auth_params(rest: &[u8]) -> bool {
    let rest = rest.trim_ascii_start();
    let name_len = rest
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_' || **b == b'-')
        .count();
    name_len > 0
        && rest.first().is_some_and(u8::is_ascii_alphabetic)
        && rest[name_len..].starts_with(b"=\"")
}

/// The scheme token of an `Authorization` header (the bytes before the first space), if the
/// request has exactly one such header.
pub fn authorization_token(parts: &Parts) -> Option<&[u8]> {
    let value = parts.headers.get(AUTHORIZATION)?.as_bytes();
    Some(value.split(|&b| b == b' ').next().unwrap_or(value))
}

/// The URI scheme a request arrived by, for schemes that sign it: `X-Forwarded-Proto` (`http` or
/// `https`) when the server trusts its proxy, else the configured one.
#[cfg(any(feature = "softaware", feature = "rfc9421"))]
pub(crate) fn uri_scheme_of(
    parts: &Parts,
    configured: &'static str,
    trust_forwarded_proto: bool,
) -> &'static str {
    match parts.headers.get("x-forwarded-proto") {
        Some(proto) if trust_forwarded_proto && proto == "http" => "http",
        Some(proto) if trust_forwarded_proto && proto == "https" => "https",
        _ => configured,
    }
}

/// The request's host: the `Host` header, else the target's authority (`missing_signed_header`
/// naming `what` when there is neither).
#[cfg(any(feature = "softaware", feature = "rfc9421"))]
pub(crate) fn host_of<'a>(parts: &'a Parts, what: &'static str) -> Result<&'a str, Rejection> {
    parts
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| parts.uri.authority().map(|a| a.as_str()))
        .ok_or_else(|| Rejection::new(RejectionKind::MissingSignedHeader).with_detail(what))
}

/// What a successful [`Scheme::verify`] hands the shared path: what the replay guard records,
/// bound by the MAC that verified.
///
/// The replay key is decided here, after the MAC, and never from what the parse saw: a value the
/// client can vary without breaking the MAC (a second signature beside the one that matched, a
/// signature's spelling) would be a fresh replay key for a captured request. Every scheme records
/// one of three things, in the one replay space every scheme shares:
/// - [`signed_nonce`](Self::signed_nonce): the credentials' nonce, for formats whose MAC covers
///   their nonce (protocol v1, softaware, RFC 9421's `nonce` parameter);
/// - [`mac`](Self::mac): the MAC the server computed (equal to the request's, compared in constant
///   time): the same signed content is the same key, however the request spells it;
/// - [`unguarded`](Self::unguarded): nothing, for credentials that are bearer links by design (a
///   presigned URL) or a scheme whose replay guard the user turned off.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    replay: ReplayKey,
}

/// The replay key of a verified request.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum ReplayKey {
    /// The credentials' nonce, which the MAC covers.
    SignedNonce,
    /// The first 32 bytes of the MAC that verified (all of it for HMAC-SHA256).
    Mac([u8; 32]),
    /// Nothing is recorded.
    Off,
}

impl Verified {
    /// The replay guard records the credentials' [`nonce`](Credentials::nonce): only for a format
    /// whose MAC covers the nonce.
    pub const fn signed_nonce() -> Self {
        Self {
            replay: ReplayKey::SignedNonce,
        }
    }

    /// The replay guard records the MAC the server computed and found equal to the request's
    /// (its first 32 bytes; a shorter MAC is padded with zeros).
    pub fn mac(computed: &[u8]) -> Self {
        let mut key = [0u8; 32];
        let n = computed.len().min(32);
        key[..n].copy_from_slice(&computed[..n]);
        Self {
            replay: ReplayKey::Mac(key),
        }
    }

    /// Nothing is recorded: a bearer link by design, or a replay guard turned off.
    pub const fn unguarded() -> Self {
        Self {
            replay: ReplayKey::Off,
        }
    }

    /// What the replay guard records.
    pub const fn replay_key(&self) -> ReplayKey {
        self.replay
    }
}

impl fmt::Debug for Verified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.replay {
            ReplayKey::SignedNonce => "Verified(signed nonce)",
            ReplayKey::Mac(_) => "Verified(mac)",
            ReplayKey::Off => "Verified(unguarded)",
        })
    }
}

impl fmt::Debug for ReplayKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::SignedNonce => "SignedNonce",
            Self::Mac(_) => "Mac([redacted])",
            Self::Off => "Off",
        })
    }
}

/// A wire format.
///
/// A request goes through: [`parse`](Self::parse) → (key lookup, host, time) →
/// [`prepare`](Self::prepare) with the key → [`update`](Self::update) with every body chunk →
/// [`verify`](Self::verify). `prepare` runs before any body byte is read, so a request missing a
/// signed part is refused without reading its body.
pub trait Scheme: Send + Sync + 'static {
    /// The parsed credentials.
    type Credentials: Credentials;
    /// What `prepare` builds and the body updates: the signed head, and the body's digests.
    type Pending: Send + 'static;

    /// A short stable id (`v1`, `sigv4`, …): what a registry lists to limit a key to some schemes,
    /// and what [`Authenticated::scheme`] reports.
    ///
    /// [`Authenticated::scheme`]: https://docs.rs/tower-hmac/latest/tower_hmac/struct.Authenticated.html
    fn id(&self) -> &'static str;

    /// The scheme name, as used in `WWW-Authenticate`.
    fn name(&self) -> &'static str;

    /// Where the request carries this scheme's credentials (checked for every request, for every
    /// enabled scheme: return a `static` or a field, built once).
    fn locator(&self) -> &Locator;

    /// Reads the credentials from the request's head (`malformed_authorization`).
    fn parse(&self, parts: &Parts, max_header_len: usize) -> Result<Self::Credentials, Rejection>;

    /// Builds the signed representation of the head (`missing_signed_header`, …) and the body's
    /// digest state, with the key (a scheme may MAC the body with it).
    fn prepare(
        &self,
        credentials: &Self::Credentials,
        parts: &Parts,
        key: &SecretKey,
    ) -> Result<Self::Pending, Rejection>;

    /// Adds the next body chunk.
    fn update(&self, pending: &mut Self::Pending, chunk: &[u8]);

    /// Adds the next body chunk, as read, and hands `out` what the inner service reads of it: by
    /// default the chunk itself (after [`update`](Self::update)). A scheme whose body is encoded
    /// (SigV4's `aws-chunked` uploads) decodes it here — it may hand on nothing, one piece or
    /// several (each a slice of the input where it can: no copy) — and refuses the body at its
    /// first bad part.
    fn decode(
        &self,
        pending: &mut Self::Pending,
        chunk: Bytes,
        out: &mut dyn FnMut(Bytes),
    ) -> Result<(), Rejection> {
        self.update(pending, &chunk);
        out(chunk);
        Ok(())
    }

    /// Adjusts the head the inner service receives, once the request is accepted (SigV4's
    /// streaming uploads: the decoded `Content-Length`, without `aws-chunked`). By default,
    /// nothing.
    fn accepted(&self, credentials: &Self::Credentials, parts: &mut Parts) {
        let _ = (credentials, parts);
    }

    /// This scheme's own window around the request's time, replacing the layer's
    /// ([`max_skew`](https://docs.rs/tower-hmac/latest/tower_hmac/server/struct.HmacAuthBuilder.html#method.max_skew)):
    /// SigV4's 15 minutes. `None` (the default): the layer's.
    fn max_skew(&self) -> Option<std::time::Duration> {
        None
    }

    /// Checks the signature in constant time (`invalid_signature`) and says what the replay
    /// guard records ([`Verified`]). A mismatch's rejection carries the scheme's signed text with
    /// [`Rejection::with_signed_text`]: the layer turns it into digests keyed with the key being
    /// verified, and never sends it in clear unless the operator asked for that.
    fn verify(
        &self,
        credentials: &Self::Credentials,
        pending: Self::Pending,
        key: &SecretKey,
    ) -> Result<Verified, Rejection>;

    /// The MAC of the server's time sent with `stale_timestamp` (`tsm`), bound to the nonce of
    /// the request it answers.
    fn time_mac(&self, key: &SecretKey, ts: u64, nonce: &str) -> [u8; 32] {
        policy::time_mac(key, ts, nonce)
    }
}

/// Protocol v1: `Authorization: HMAC-SHA256 Credential=…, Timestamp=…, Nonce=…, SignedHeaders=…,
/// Signature=…` (docs/PROTOCOL.md).
#[derive(Debug, Clone, Copy, Default)]
pub struct V1;

impl Credentials for Authorization {
    fn key_id(&self) -> &str {
        Authorization::key_id(self)
    }

    fn nonce(&self) -> &str {
        Authorization::nonce(self)
    }

    fn freshness(&self) -> Freshness {
        Freshness::Window {
            at: Authorization::timestamp(self),
        }
    }
}

/// Protocol v1's state between the head and the end of the body.
pub struct V1Pending {
    canonical: CanonicalRequest,
    body: BodyHasher,
}

impl fmt::Debug for V1Pending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("V1Pending")
            .field("canonical", &self.canonical)
            .field("body", &self.body)
            .finish()
    }
}

impl Scheme for V1 {
    type Credentials = Authorization;
    type Pending = V1Pending;

    fn id(&self) -> &'static str {
        "v1"
    }

    fn name(&self) -> &'static str {
        SCHEME
    }

    fn locator(&self) -> &Locator {
        const LOCATOR: Locator = Locator::Authorization(SCHEME);
        &LOCATOR
    }

    fn parse(&self, parts: &Parts, max_header_len: usize) -> Result<Authorization, Rejection> {
        let mut values = parts.headers.get_all(AUTHORIZATION).iter();
        let value = values
            .next()
            .ok_or_else(|| Rejection::new(RejectionKind::MissingAuthorization))?;
        if values.next().is_some() {
            return Err(Rejection::new(RejectionKind::MalformedAuthorization)
                .with_detail("more than one Authorization header"));
        }
        Authorization::parse(value.as_bytes(), max_header_len)
    }

    fn prepare(
        &self,
        auth: &Authorization,
        parts: &Parts,
        _key: &SecretKey,
    ) -> Result<V1Pending, Rejection> {
        Ok(V1Pending {
            canonical: CanonicalRequest::new(auth, &parts.method, &parts.uri, &parts.headers)?,
            body: BodyHasher::new(),
        })
    }

    fn update(&self, pending: &mut V1Pending, chunk: &[u8]) {
        pending.body.update(chunk);
    }

    fn verify(
        &self,
        auth: &Authorization,
        pending: V1Pending,
        key: &SecretKey,
    ) -> Result<Verified, Rejection> {
        pending
            .canonical
            .verify(key, &pending.body.finish(), auth.signature())?;
        // The nonce is a line of the string to sign.
        Ok(Verified::signed_nonce())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_params_are_told_from_a_token68() {
        assert!(is_auth_params(b"username=\"bob\", algorithm=\"x\""));
        assert!(is_auth_params(b"  keyId=\"k\""));
        assert!(!is_auth_params(b"app:c2ln:nonce:17"));
        assert!(!is_auth_params(b"YWJj=="));
        assert!(!is_auth_params(b""));
        let req = |value: &str| {
            http::Request::get("/")
                .header(AUTHORIZATION, value)
                .body(())
                .unwrap()
                .into_parts()
                .0
        };
        let kong = req("hmac username=\"bob\", algorithm=\"hmac-sha256\"");
        let softaware = req("Hmac app:c2lnbmF0dXJl:nonce:1700000000");
        let params = Locator::AuthParams(AUTHORIZATION, "hmac");
        let token68 = Locator::AuthorizationToken68("Hmac");
        assert!(params.matches(&kong, authorization_token(&kong)));
        assert!(!token68.matches(&kong, authorization_token(&kong)));
        assert!(token68.matches(&softaware, authorization_token(&softaware)));
        assert!(!params.matches(&softaware, authorization_token(&softaware)));
    }

    #[test]
    fn locators_that_always_collide_are_found() {
        let v1 = Locator::Authorization("HMAC-SHA256");
        let kong = Locator::AnyOf(vec![
            Locator::AuthParams(AUTHORIZATION, "hmac"),
            Locator::AuthParams(HeaderName::from_static("proxy-authorization"), "hmac"),
        ]);
        let softaware = Locator::AuthorizationToken68("Hmac");
        let sigv4 = Locator::AnyOf(vec![
            Locator::Authorization("AWS4-HMAC-SHA256"),
            Locator::Query("X-Amz-Signature"),
        ]);
        assert!(v1.covers(&Locator::Authorization("hmac-sha256")));
        assert!(Locator::Authorization("Hmac").covers(&softaware));
        assert!(Locator::Authorization("hmac").covers(&Locator::AuthParams(AUTHORIZATION, "hmac")));
        assert!(!kong.covers(&softaware) && !softaware.covers(&kong));
        assert!(!v1.covers(&sigv4) && !sigv4.covers(&v1));
        assert!(sigv4.covers(&Locator::Query("X-Amz-Signature")));
        assert!(!Locator::Query("X-Amz-Signature").covers(&sigv4));
        let h = Locator::Header(HeaderName::from_static("x-auth-token"));
        assert!(h.covers(&h.clone()));
        assert!(!h.covers(&Locator::Header(HeaderName::from_static("signature-input"))));
        assert!(Locator::Header(AUTHORIZATION).covers(&v1));
    }

    fn parts(uri: &str, headers: &[(&str, &str)]) -> Parts {
        let mut builder = http::Request::builder().uri(uri);
        for (n, v) in headers {
            builder = builder.header(*n, *v);
        }
        builder.body(()).unwrap().into_parts().0
    }

    #[test]
    fn locators_find_their_credentials() {
        let p = parts(
            "/x?X-Amz-Signature=ab&y=1",
            &[
                ("authorization", "hmac-sha256 Credential=x"),
                ("x-auth-token", "t"),
            ],
        );
        let token = authorization_token(&p);
        assert_eq!(token, Some(&b"hmac-sha256"[..]));
        assert!(Locator::Authorization("HMAC-SHA256").matches(&p, token));
        assert!(!Locator::Authorization("Hmac").matches(&p, token));
        assert!(Locator::Header(HeaderName::from_static("x-auth-token")).matches(&p, token));
        assert!(!Locator::Header(HeaderName::from_static("signature-input")).matches(&p, token));
        assert!(Locator::Query("X-Amz-Signature").matches(&p, token));
        assert!(!Locator::Query("X-Amz").matches(&p, token));
        let bare = parts("/x", &[]);
        assert!(!Locator::Query("X-Amz-Signature").matches(&bare, None));
        assert!(!Locator::Authorization("HMAC-SHA256").matches(&bare, None));
    }
}
