//! The string each format signs (the plugins' `create_hash` / `generate_signature`), and the
//! client's header over it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::header::AsHeaderName;
use http::request::Parts;
use http::{HeaderValue, Version};

use super::algorithm::Algorithm;
use super::rules::Flavor;
use crate::key::SecretKey;
use crate::rejection::{Rejection, RejectionKind};
use crate::sign::SignError;

/// The value of the one field line of `name`, if the request has one (`duplicate_signed_header`
/// for two); for `host`, the URI authority when there is no `Host` (HTTP/2).
/// `name` is a listed name (`&str`) or a known one (`&HeaderName`, looked up without parsing it
/// again).
pub(super) fn header<N>(parts: &Parts, name: N) -> Result<Option<&[u8]>, Rejection>
where
    N: AsHeaderName + AsRef<str> + Copy,
{
    let mut lines = parts.headers.get_all(name).iter();
    match (lines.next(), lines.next()) {
        (Some(_), Some(_)) => Err(Rejection::new(RejectionKind::DuplicateSignedHeader)
            .with_detail(format!("{} appears more than once", name.as_ref()))),
        (Some(value), None) => Ok(Some(value.as_bytes())),
        (None, _) if name.as_ref().eq_ignore_ascii_case("host") => {
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

/// The string a gateway signs (the plugins' `create_hash` / `generate_signature`) over the
/// listed names, written into one buffer.
pub(super) fn signing_string<'n>(
    flavor: Flavor,
    parts: &Parts,
    key_id: &str,
    headers: impl IntoIterator<Item = &'n str>,
) -> Result<Vec<u8>, Rejection> {
    let mut out = Vec::with_capacity(256);
    if flavor == Flavor::Apisix {
        out.extend_from_slice(key_id.as_bytes());
        out.push(b'\n');
    }
    for (i, name) in headers.into_iter().enumerate() {
        if flavor == Flavor::Kong && i > 0 {
            out.push(b'\n');
        }
        let start = out.len();
        match (header(parts, name)?, name) {
            (Some(value), _) => {
                out.extend_from_slice(name.as_bytes());
                out.extend_from_slice(b": ");
                out.extend_from_slice(value);
            }
            (None, "@request-target") if flavor == Flavor::Kong => {
                out.extend_from_slice(b"@request-target: ");
                let method = out.len();
                out.extend_from_slice(parts.method.as_str().as_bytes());
                if let Some(method) = out.get_mut(method..) {
                    method.make_ascii_lowercase();
                }
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

/// [`signing_string`] for a client: a name to sign that has more than one field line (the one
/// way it fails) is named.
pub(super) fn client_signing_string(
    flavor: Flavor,
    parts: &Parts,
    key_id: &str,
    headers: &[&str],
) -> Result<Vec<u8>, SignError> {
    signing_string(flavor, parts, key_id, headers.iter().copied()).map_err(|_| {
        let repeated = headers.iter().find(|&&name| header(parts, name).is_err());
        SignError::RepeatedHeader(repeated.map_or_else(String::new, |name| name.to_string()))
    })
}

/// The credentials header of `parts` as `flavor` signs it.
pub(super) fn authorization(
    flavor: Flavor,
    parts: &Parts,
    key_id: &str,
    key: &SecretKey,
    algorithm: Algorithm,
    headers: &[&str],
) -> Result<HeaderValue, SignError> {
    let signing = client_signing_string(flavor, parts, key_id, headers)?;
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
    HeaderValue::from_str(&text).map_err(|_| unsendable(key_id, headers))
}

/// Why the header could not be a header value: the key id or a name holds a control character
/// (the signature and the algorithm never do).
fn unsendable(key_id: &str, headers: &[&str]) -> SignError {
    let sendable = |text: &str| HeaderValue::from_str(text).is_ok();
    if !sendable(key_id) {
        return SignError::InvalidKeyId;
    }
    let component = headers
        .iter()
        .find(|name| !sendable(name))
        .map_or_else(|| headers.join(" "), |name| (*name).to_owned());
    SignError::InvalidComponent {
        component,
        reason: "it holds a control character, which a header cannot carry",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(req: http::request::Builder) -> Parts {
        req.body(()).unwrap().into_parts().0
    }

    #[test]
    fn kong_and_apisix_sign_the_same_request_differently() {
        let p = parts(
            http::Request::post("/orders?id=7")
                .header("date", "Tue, 15 Sep 2026 10:00:00 GMT")
                .header("x-a", "1"),
        );
        let names = ["request-line", "@request-target", "date", "x-a", "x-b"];
        let kong = signing_string(Flavor::Kong, &p, "k", names).unwrap();
        assert_eq!(
            String::from_utf8(kong).unwrap(),
            "POST /orders?id=7 HTTP/1.1\n@request-target: post /orders?id=7\ndate: Tue, 15 Sep 2026 10:00:00 GMT\nx-a: 1\nx-b:"
        );
        let apisix = signing_string(Flavor::Apisix, &p, "k", names).unwrap();
        assert_eq!(
            String::from_utf8(apisix).unwrap(),
            "k\nPOST /orders?id=7\ndate: Tue, 15 Sep 2026 10:00:00 GMT\nx-a: 1\n"
        );
    }
}
