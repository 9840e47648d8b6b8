//! The values of signed headers: the host a request is addressed to, and each header's value
//! as it is signed.

use std::borrow::Cow;

use http::{HeaderMap, Uri, header};

/// The host a request is addressed to, lower-cased: the `Host` header or, when there is none
/// (HTTP/2), the URI's authority. `None` when there is neither, or when `Host` is repeated.
pub fn request_host(uri: &Uri, headers: &HeaderMap) -> Option<Vec<u8>> {
    request_host_cow(uri, headers).map(Cow::into_owned)
}

/// [`request_host`] without a copy when it can: the host as sent when it is already lower case
/// (as clients send it), a lower-cased copy otherwise. `None` as for [`request_host`].
pub fn request_host_cow<'a>(uri: &'a Uri, headers: &'a HeaderMap) -> Option<Cow<'a, [u8]>> {
    let mut lines = headers.get_all(header::HOST).iter();
    let raw = match lines.next() {
        Some(value) if lines.next().is_none() => trim_ows(value.as_bytes()),
        Some(_) => return None,
        None => match uri.authority().map(|a| a.as_str().as_bytes()) {
            Some(authority) if !authority.is_empty() => authority,
            _ => return None,
        },
    };
    Some(if raw.iter().any(u8::is_ascii_uppercase) {
        Cow::Owned(raw.to_ascii_lowercase())
    } else {
        Cow::Borrowed(raw)
    })
}

/// Why a signed header has no value to sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeaderProblem {
    /// The request has no such header (for `host`: no `Host` and no URI authority).
    Absent,
    /// The header appears as more than one field line.
    Repeated,
}

/// Appends the value of the signed header `name` to `out`, trimmed of spaces and tabs (the host
/// as [`request_host`] gives it). On failure `out` is unchanged.
///
/// `name` is a lower-case header name: a `&str` from [`Authorization::signed_headers`] (looked up
/// without an allocation) or a [`HeaderName`](http::HeaderName).
///
/// [`Authorization::signed_headers`]: crate::authorization::Authorization::signed_headers
pub(crate) fn push_signed_header_value(
    out: &mut Vec<u8>,
    uri: &Uri,
    headers: &HeaderMap,
    name: &(impl AsRef<str> + ?Sized),
) -> Result<(), HeaderProblem> {
    let name = name.as_ref();
    let is_host = name == header::HOST.as_str();
    let mut lines = headers.get_all(name).iter();
    let Some(value) = lines.next() else {
        if !is_host {
            return Err(HeaderProblem::Absent);
        }
        return match uri.authority().map(|a| a.as_str().as_bytes()) {
            Some(authority) if !authority.is_empty() => {
                let start = out.len();
                out.extend_from_slice(authority);
                out[start..].make_ascii_lowercase();
                Ok(())
            }
            _ => Err(HeaderProblem::Absent),
        };
    };
    if lines.next().is_some() {
        // Joined, two lines would verify as one value while the handler reads the first.
        return Err(HeaderProblem::Repeated);
    }
    let start = out.len();
    out.extend_from_slice(trim_ows(value.as_bytes()));
    if is_host {
        out[start..].make_ascii_lowercase();
    }
    Ok(())
}

#[cfg(test)]
fn signed_header_value(uri: &Uri, headers: &HeaderMap, name: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    push_signed_header_value(&mut out, uri, headers, name)
        .ok()
        .map(|()| out)
}

/// `bytes` without leading and trailing spaces and tabs (HTTP's optional white space).
pub fn trim_ows(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |i| i + 1);
    &bytes[start..end]
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    #[test]
    fn host_falls_back_to_the_uri_authority() {
        let uri: Uri = "https://API.example.com:8443/x".parse().unwrap();
        assert_eq!(
            request_host(&uri, &HeaderMap::new()).unwrap(),
            b"api.example.com:8443"
        );
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("Other.Example"));
        assert_eq!(request_host(&uri, &headers).unwrap(), b"other.example");
    }

    #[test]
    fn a_repeated_host_has_no_request_host() {
        let mut headers = HeaderMap::new();
        headers.append(header::HOST, HeaderValue::from_static("a.example"));
        headers.append(header::HOST, HeaderValue::from_static("b.example"));
        assert!(request_host(&"/x".parse().unwrap(), &headers).is_none());
    }

    #[test]
    fn the_checked_host_is_the_signed_host() {
        let cases: [(&str, Option<&str>); 5] = [
            ("/x", Some("api.example.com")),
            ("/x", Some("  Api.Example.COM:8443\t")),
            ("https://Other.Example/x", None),
            ("/x", None),
            ("/x", Some("")),
        ];
        for (uri, host) in cases {
            let uri: Uri = uri.parse().unwrap();
            let mut headers = HeaderMap::new();
            if let Some(host) = host {
                headers.insert(header::HOST, host.parse().unwrap());
            }
            let cow = request_host_cow(&uri, &headers);
            // The host the layer checks is the one the canonical string signs.
            let signed = signed_header_value(&uri, &headers, "host");
            assert_eq!(cow.as_deref(), signed.as_deref(), "{uri} {host:?}");
            // Already lower case: no copy.
            if host == Some("api.example.com") {
                assert!(matches!(cow, Some(Cow::Borrowed(_))));
            }
        }
        let mut twice = HeaderMap::new();
        twice.append(header::HOST, "a".parse().unwrap());
        twice.append(header::HOST, "b".parse().unwrap());
        assert!(request_host_cow(&"/x".parse().unwrap(), &twice).is_none());
    }

    #[test]
    fn empty_signed_header_value_is_present() {
        let mut headers = HeaderMap::new();
        headers.insert("x-empty", HeaderValue::from_static(""));
        let uri: Uri = "http://h/".parse().unwrap();
        assert_eq!(signed_header_value(&uri, &headers, "x-empty").unwrap(), b"");
        assert!(signed_header_value(&uri, &headers, "x-absent").is_none());
    }
}
