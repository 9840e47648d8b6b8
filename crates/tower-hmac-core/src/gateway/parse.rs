//! Parsing the credentials header: the four parameters, the listed names, the signed time.

use arrayvec::{ArrayString, ArrayVec};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::HeaderName;
use http::header::{AUTHORIZATION, PROXY_AUTHORIZATION};
use http::request::Parts;

use super::algorithm::{Algorithm, MAX_OUTPUT};
use super::credentials::{GatewayCredentials, Names, is_space};
use super::malformed;
use super::rules::{Flavor, Rules};
use super::signing::header;
use crate::authorization::{MAX_SIGNED_HEADERS, is_valid_key_id};
use crate::rejection::{Rejection, RejectionKind};

/// `name="value"` pairs separated by commas (optional white space around each): the four of
/// `flavor`, each exactly once, nothing else.
fn params(flavor: Flavor, text: &str) -> Result<[&str; 4], Rejection> {
    let names = flavor.params();
    let mut found: [Option<&str>; 4] = [None; 4];
    let mut rest = text.trim_start_matches([' ', '\t']);
    while !rest.is_empty() {
        let (name, after) = rest
            .as_bytes()
            .windows(2)
            .position(|pair| pair == b"=\"")
            .and_then(|i| Some((rest.get(..i)?, rest.get(i + 2..)?)))
            .ok_or_else(|| malformed("parameters are name=\"value\", separated by commas"))?;
        let (value, after) = split_at_byte(after, b'"')
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

/// `text` around the first `byte` (ASCII): a plain scan, which for these short values costs less
/// than `str::split_once`'s searcher.
fn split_at_byte(text: &str, byte: u8) -> Option<(&str, &str)> {
    let i = text.bytes().position(|b| b == byte)?;
    Some((text.get(..i)?, text.get(i + 1..)?))
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
                    let (token, rest) = split_at_byte(text, b' ')
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

pub(super) fn parse(
    rules: &Rules,
    parts: &Parts,
    max_len: usize,
) -> Result<GatewayCredentials, Rejection> {
    let rest = credentials_text(rules.flavor, parts, max_len)?;
    let [key_id, algorithm, headers, signature_text] = params(rules.flavor, rest)?;
    const KEY_ID_RULE: &str = "the key id is 1 to 128 of A-Z a-z 0-9 . _ ~ - (a registry key id)";
    if !is_valid_key_id(key_id) {
        return Err(malformed(KEY_ID_RULE));
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
    // The names, checked in place: each against those before it, with no copy of any.
    let mut seen: ArrayVec<&str, MAX_SIGNED_HEADERS> = ArrayVec::new();
    for name in headers.split(is_space) {
        if !valid_name(name) {
            return Err(malformed(
                "headers lists names separated by single spaces: A-Z a-z 0-9 - _ (@request-target)",
            ));
        }
        if seen.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            return Err(malformed("a name appears twice in headers"));
        }
        if seen.try_push(name).is_err() {
            return Err(malformed("headers lists more than 32 names"));
        }
    }
    const SIGNATURE_RULE: &str = "the signature is the Base64 of the MAC";
    // Decoded in place: a buffer that holds the longest MAC with Base64's slack (an input that
    // needs more decodes to more than any MAC, and is refused either way).
    let mut decoded = [0u8; MAX_OUTPUT + 2];
    let signature = STANDARD
        .decode_slice(signature_text, &mut decoded)
        .ok()
        .filter(|&len| len == algorithm.output_len())
        .and_then(|len| decoded.get(..len))
        .and_then(|bytes| ArrayVec::try_from(bytes).ok())
        .ok_or_else(|| malformed(SIGNATURE_RULE))?;
    let mut creds = GatewayCredentials {
        key_id: ArrayString::from(key_id).map_err(|_| malformed(KEY_ID_RULE))?,
        algorithm,
        headers: Names::new(headers),
        signature,
        signature_text: ArrayString::from(signature_text).map_err(|_| malformed(SIGNATURE_RULE))?,
        timestamp: 0,
        replay_guard: rules.replay_guard,
        algorithm_refused,
    };
    // The time: the first of the gateway's time headers that is a date — and it must be signed.
    let mut dated = None;
    for name in rules.flavor.time_headers() {
        if let Some(value) = header(parts, &name)? {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
