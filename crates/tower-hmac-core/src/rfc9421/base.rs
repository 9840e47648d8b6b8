//! The signature base (RFC 9421 §2.5) and the value of each covered component (§2.1, §2.2).

use http::HeaderName;
use http::request::Parts;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::malformed;
use crate::rejection::{Rejection, RejectionKind};

/// The `application/x-www-form-urlencoded` percent-encode set: all but `A–Z a–z 0–9 * - . _`.
const FORM: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'*')
    .remove(b'-')
    .remove(b'.')
    .remove(b'_');

/// A signature base, and where a client may have spelled the default port in it.
pub(super) struct Base {
    /// The signature base (RFC 9421 §2.5).
    pub(super) text: String,
    /// Where the `@target-uri` line's authority ends, when that authority has no port: a client
    /// may have spelled the scheme's default port there ([`default_port`]: `https://host:443/…`,
    /// as `http-message-signatures` signs a URL that names it), which the `Host` header it sends
    /// does not show.
    pub(super) default_port_at: Option<usize>,
}

/// A covered component, as the signature base needs it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Line<'a> {
    /// Its identifier, serialized (`"@query-param";name="a"`).
    pub(super) id: &'a str,
    /// Its name; `None` when the item is not a string.
    pub(super) name: Option<&'a str>,
    /// `@query-param`'s `name` parameter.
    pub(super) query_name: Option<&'a str>,
}

/// The signature base (RFC 9421 §2.5): a line per component, then `@signature-params`.
/// `lines`: each covered component; `params`: the serialized inner list with its parameters.
/// Each value is written straight into the base.
pub(super) fn signature_base<'a>(
    lines: impl Iterator<Item = Line<'a>>,
    params: &str,
    parts: &Parts,
    scheme: &str,
) -> Result<Base, Rejection> {
    let mut base = Base {
        text: String::with_capacity(256),
        default_port_at: None,
    };
    for line in lines {
        let name = line
            .name
            .ok_or_else(|| malformed("a covered component is a string"))?;
        base.text.push_str(line.id);
        base.text.push_str(": ");
        push_value(&mut base, name, line.query_name, parts, scheme)?;
        base.text.push('\n');
    }
    base.text.push_str("\"@signature-params\": ");
    base.text.push_str(params);
    Ok(base)
}

/// The scheme's default port as a URI spells it after the host (`:443`, `:80`).
pub(super) fn default_port(scheme: &str) -> &'static str {
    if scheme == "https" { ":443" } else { ":80" }
}

/// Appends the request's authority for `@authority` and `@target-uri`: the `Host` header (or the
/// target's authority), lower-cased, without the scheme's default port (RFC 3986 §6.2.3; the
/// `Host` a client sends omits a default port even when its URL spelled it). An authority with
/// userinfo (`user@host`) is refused: RFC 9110 §4.2.4 forbids it in `http(s)` URIs, and neither
/// component has one.
fn push_authority(out: &mut String, parts: &Parts, scheme: &str) -> Result<(), Rejection> {
    let host = crate::scheme::host_of(parts, "@authority is covered but the request has no host")?;
    if host.contains('@') {
        return Err(malformed(
            "the request's authority has userinfo (user@host), which no http(s) URI may carry",
        ));
    }
    let start = out.len();
    out.push_str(host);
    let authority = out.get_mut(start..).unwrap_or_default();
    authority.make_ascii_lowercase();
    let default_port = default_port(scheme);
    if authority.ends_with(default_port) {
        out.truncate(out.len() - default_port.len());
    }
    Ok(())
}

/// Whether an authority names a port (`host:8443`, `[::1]:8443`; not `[::1]`).
fn has_port(authority: &str) -> bool {
    let after_literal = authority.rfind(']').map_or(0, |i| i + 1);
    authority
        .get(after_literal..)
        .is_some_and(|rest| rest.contains(':'))
}

/// The request's path, `/` when empty.
fn path(parts: &Parts) -> &str {
    match parts.uri.path() {
        "" => "/",
        path => path,
    }
}

/// Appends the value of one covered component (RFC 9421 §2.1, §2.2).
fn push_value(
    base: &mut Base,
    name: &str,
    query_name: Option<&str>,
    parts: &Parts,
    scheme: &str,
) -> Result<(), Rejection> {
    let out = &mut base.text;
    match name {
        "@method" => out.push_str(parts.method.as_str()),
        "@authority" => push_authority(out, parts, scheme)?,
        "@scheme" => out.push_str(scheme),
        // RFC 9421 §2.2.2: `<scheme>://<authority><path>[?<query>]`, each part as the server
        // takes it for `@scheme`, `@authority`, `@path` and `@query`.
        "@target-uri" => {
            out.push_str(scheme);
            out.push_str("://");
            let start = out.len();
            push_authority(out, parts, scheme)?;
            if !out.get(start..).is_some_and(has_port) {
                base.default_port_at = Some(out.len());
            }
            out.push_str(path(parts));
            if let Some(q) = parts.uri.query() {
                out.push('?');
                out.push_str(q);
            }
        }
        "@request-target" => {
            out.push_str(path(parts));
            if let Some(q) = parts.uri.query() {
                out.push('?');
                out.push_str(q);
            }
        }
        "@path" => out.push_str(path(parts)),
        "@query" => {
            out.push('?');
            out.push_str(parts.uri.query().unwrap_or_default());
        }
        "@query-param" => {
            let wanted = query_name.unwrap_or_default();
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
            let value = found.ok_or_else(|| {
                Rejection::new(RejectionKind::MissingSignedHeader)
                    .with_detail("a covered query parameter is absent")
            })?;
            out.push_str(&value);
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
            for (i, value) in values.enumerate() {
                let text = value
                    .to_str()
                    .map_err(|_| malformed("a covered header is not text"))?;
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(text.trim_matches([' ', '\t']));
            }
        }
    }
    Ok(())
}
