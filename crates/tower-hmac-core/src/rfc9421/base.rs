//! The signature base (RFC 9421 §2.5) and the value of each covered component (§2.1, §2.2).

use http::HeaderName;
use http::request::Parts;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sfv::Item;

use super::malformed;
use super::parse::component_name;
use crate::rejection::{Rejection, RejectionKind};

/// The `application/x-www-form-urlencoded` percent-encode set: all but `A–Z a–z 0–9 * - . _`.
const FORM: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'*')
    .remove(b'-')
    .remove(b'.')
    .remove(b'_');

/// The signature base (RFC 9421 §2.5): a line per component, then `@signature-params`.
/// `lines`: each covered component with its serialized identifier; `params`: the serialized
/// inner list with its parameters.
pub(super) fn signature_base<'a>(
    lines: impl Iterator<Item = (&'a Item, &'a str)>,
    params: &str,
    parts: &Parts,
    scheme: &str,
) -> Result<String, Rejection> {
    let mut base = String::with_capacity(256);
    for (item, id) in lines {
        let name = component_name(item)?;
        let value = component_value(name, item, parts, scheme)?;
        base.push_str(id);
        base.push_str(": ");
        base.push_str(&value);
        base.push('\n');
    }
    base.push_str("\"@signature-params\": ");
    base.push_str(params);
    Ok(base)
}

/// The value of one covered component (RFC 9421 §2.1, §2.2).
fn component_value(
    name: &str,
    item: &Item,
    parts: &Parts,
    scheme: &str,
) -> Result<String, Rejection> {
    let host =
        || crate::scheme::host_of(parts, "@authority is covered but the request has no host");
    // Lower-cased, without the scheme's default port (RFC 3986 normalization; the `Host` a
    // client sends omits a default port even when its URL spelled it).
    let authority = || -> Result<String, Rejection> {
        let mut authority = host()?.to_ascii_lowercase();
        let default_port = if scheme == "https" { ":443" } else { ":80" };
        if authority.ends_with(default_port) {
            authority.truncate(authority.len() - default_port.len());
        }
        Ok(authority)
    };
    let path = || match parts.uri.path() {
        "" => "/",
        path => path,
    };
    let query = || {
        parts
            .uri
            .query()
            .map(|q| format!("?{q}"))
            .unwrap_or_else(|| "?".into())
    };
    Ok(match name {
        "@method" => parts.method.as_str().to_owned(),
        "@authority" => authority()?,
        "@scheme" => scheme.to_owned(),
        "@target-uri" => {
            let mut uri = format!("{scheme}://{}{}", authority()?, path());
            if let Some(q) = parts.uri.query() {
                uri.push('?');
                uri.push_str(q);
            }
            uri
        }
        "@request-target" => match parts.uri.query() {
            Some(q) => format!("{}?{q}", path()),
            None => path().to_owned(),
        },
        "@path" => path().to_owned(),
        "@query" => query(),
        "@query-param" => {
            let wanted = item
                .params
                .get("name")
                .and_then(|v| v.as_string())
                .map(|s| s.as_str())
                .unwrap_or_default();
            let query = parts.uri.query().unwrap_or_default().as_bytes();
            let mut found = None;
            for (n, v) in form_urlencoded::parse(query) {
                if utf8_percent_encode(&n, FORM).to_string() == wanted {
                    if found.is_some() {
                        return Err(malformed("@query-param names a parameter that repeats"));
                    }
                    found = Some(utf8_percent_encode(&v, FORM).to_string());
                }
            }
            found.ok_or_else(|| {
                Rejection::new(RejectionKind::MissingSignedHeader)
                    .with_detail("a covered query parameter is absent")
            })?
        }
        _ if name.starts_with('@') => return Err(malformed("unsupported derived component")),
        _ => {
            let header = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| malformed("a covered component is not a field name"))?;
            let mut values = parts.headers.get_all(&header).iter().peekable();
            if values.peek().is_none() {
                return Err(Rejection::new(RejectionKind::MissingSignedHeader)
                    .with_detail("a covered header is absent"));
            }
            let mut joined = String::new();
            for (i, value) in values.enumerate() {
                let text = value
                    .to_str()
                    .map_err(|_| malformed("a covered header is not text"))?;
                if i > 0 {
                    joined.push_str(", ");
                }
                joined.push_str(text.trim_matches([' ', '\t']));
            }
            joined
        }
    })
}
