//! Where a request carries a scheme's credentials, and the parts of the head several schemes
//! read the same way.

use http::HeaderName;
use http::header::AUTHORIZATION;
use http::request::Parts;

#[cfg(any(feature = "softaware", feature = "rfc9421"))]
use crate::rejection::{Rejection, RejectionKind};

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

/// The URI scheme clients reach a server by, for the formats that sign an absolute URI
/// (softaware, RFC 9421's `@scheme` and `@target-uri`): a server behind a TLS-terminating proxy
/// cannot see it, so it is configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UriScheme {
    /// `http`.
    Http,
    /// `https` (the default).
    #[default]
    Https,
}

impl UriScheme {
    /// `http` or `https`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
        }
    }
}

/// The URI scheme a request arrived by, for schemes that sign it: `X-Forwarded-Proto` (`http` or
/// `https`) when the server trusts its proxy, else the configured one.
#[cfg(any(feature = "softaware", feature = "rfc9421"))]
pub(crate) fn uri_scheme_of(
    parts: &Parts,
    configured: UriScheme,
    trust_forwarded_proto: bool,
) -> &'static str {
    match parts.headers.get("x-forwarded-proto") {
        Some(proto) if trust_forwarded_proto && proto == "http" => "http",
        Some(proto) if trust_forwarded_proto && proto == "https" => "https",
        _ => configured.as_str(),
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
