//! Turning `-H`/`-d` arguments, or a raw HTTP request file, into a request to sign.

use std::io::Read;

use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri, header};

/// The arguments that describe a request to sign (`sign`, `request`).
#[derive(Debug, clap::Args)]
pub(crate) struct RequestArgs {
    /// The HTTP method (GET, POST, …).
    pub(crate) method: String,
    /// The absolute URL (http:// or https://).
    pub(crate) url: String,
    /// A header to send and sign, as 'Name: value' (repeatable).
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    pub(crate) headers: Vec<String>,
    /// The body: the text itself, @FILE for a file's bytes, or @- for standard input.
    #[arg(short = 'd', long = "data", value_name = "DATA")]
    pub(crate) data: Option<String>,
}

impl RequestArgs {
    /// The request these arguments describe.
    pub(crate) fn given(&self) -> Result<Given, String> {
        from_args(
            &self.method,
            &self.url,
            &self.headers,
            read_body(self.data.as_deref())?,
        )
    }
}

/// A request as given on the command line.
pub(crate) struct Given {
    pub(crate) method: Method,
    pub(crate) uri: Uri,
    /// The URL to send it to (absolute).
    pub(crate) url: String,
    pub(crate) headers: HeaderMap,
    /// The headers in the order given, as `(lower-case name, value)`, for printing.
    pub(crate) listed: Vec<(String, String)>,
    pub(crate) body: Body,
}

/// A request body and where it came from (so that curl can send the same bytes).
pub(crate) struct Body {
    pub(crate) bytes: Vec<u8>,
    pub(crate) file: Option<String>,
    pub(crate) inline: Option<String>,
}

/// `-d` argument: the text itself, `@FILE`, or `@-` for standard input.
pub(crate) fn read_body(data: Option<&str>) -> Result<Body, String> {
    match data {
        None => Ok(Body {
            bytes: Vec::new(),
            file: None,
            inline: None,
        }),
        Some("@-") => {
            let mut bytes = Vec::new();
            std::io::stdin()
                .read_to_end(&mut bytes)
                .map_err(|e| format!("cannot read standard input: {e}"))?;
            let inline = String::from_utf8(bytes.clone()).ok();
            Ok(Body {
                bytes,
                file: None,
                inline,
            })
        }
        Some(text) => match text.strip_prefix('@') {
            Some(path) => Ok(Body {
                bytes: std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))?,
                file: Some(path.to_owned()),
                inline: None,
            }),
            None => Ok(Body {
                bytes: text.as_bytes().to_vec(),
                file: None,
                inline: Some(text.to_owned()),
            }),
        },
    }
}

/// A request from a method, an absolute URL, `Name: value` header lines and a body.
pub(crate) fn from_args(
    method: &str,
    url: &str,
    lines: &[String],
    body: Body,
) -> Result<Given, String> {
    let method =
        Method::from_bytes(method.as_bytes()).map_err(|_| format!("invalid method {method:?}"))?;
    let uri: Uri = url
        .parse()
        .map_err(|e| format!("invalid URL {url:?}: {e}"))?;
    match uri.scheme_str() {
        Some("http" | "https") if uri.authority().is_some() => {}
        _ => {
            return Err(format!(
                "the URL must be absolute http:// or https://, got {url:?}"
            ));
        }
    }
    let (headers, listed) = parse_headers(lines.iter().map(String::as_str))?;
    Ok(Given {
        method,
        uri,
        url: url.to_owned(),
        headers,
        listed,
        body,
    })
}

/// `Name: value` lines into a header map, and the same list for printing.
fn parse_headers<'a>(
    lines: impl Iterator<Item = &'a str>,
) -> Result<(HeaderMap, Vec<(String, String)>), String> {
    let mut headers = HeaderMap::new();
    let mut listed = Vec::new();
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("header {line:?} is not 'Name: value'"))?;
        add_header(
            &mut headers,
            &mut listed,
            name.trim().as_bytes(),
            value.as_bytes(),
        )
        .map_err(|e| format!("{e} in {line:?}"))?;
    }
    Ok((headers, listed))
}

fn add_header(
    headers: &mut HeaderMap,
    listed: &mut Vec<(String, String)>,
    name: &[u8],
    value: &[u8],
) -> Result<(), String> {
    let name = HeaderName::from_bytes(name).map_err(|_| "invalid header name".to_owned())?;
    let value = tower_hmac_core::trim_ows(value);
    let header_value =
        HeaderValue::from_bytes(value).map_err(|_| "invalid header value".to_owned())?;
    headers.append(name.clone(), header_value);
    listed.push((
        name.as_str().to_owned(),
        String::from_utf8_lossy(value).into_owned(),
    ));
    Ok(())
}

/// A request from a raw HTTP/1.x request: request line, header lines (CRLF or LF), a blank line,
/// and the body as the rest of the file, byte for byte.
pub(crate) fn from_raw(raw: &[u8]) -> Result<Given, String> {
    let (head, body) = split_head(raw).ok_or("no blank line after the headers")?;
    let head = std::str::from_utf8(head).map_err(|_| "the request head is not UTF-8")?;
    let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let request_line = lines.next().ok_or("empty request")?;
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Err(format!("bad request line {request_line:?}"));
    };
    let (headers, listed) = parse_headers(lines)?;
    let url = if target.starts_with('/') || target == "*" {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .ok_or("the request has no Host header")?;
        format!("http://{host}{target}")
    } else {
        target.to_owned()
    };
    let method =
        Method::from_bytes(method.as_bytes()).map_err(|_| format!("invalid method {method:?}"))?;
    let uri: Uri = target
        .parse()
        .map_err(|e| format!("invalid request target {target:?}: {e}"))?;
    Ok(Given {
        method,
        uri,
        url,
        headers,
        listed,
        body: Body {
            bytes: body.to_vec(),
            file: None,
            inline: None,
        },
    })
}

fn split_head(raw: &[u8]) -> Option<(&[u8], &[u8])> {
    if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
        return Some((&raw[..i], &raw[i + 4..]));
    }
    raw.windows(2)
        .position(|w| w == b"\n\n")
        .map(|i| (&raw[..i], &raw[i + 2..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_raw_request_with_crlf() {
        let raw =
            b"POST /echo?x=1 HTTP/1.1\r\nHost: h:8080\r\nContent-Type: text/plain\r\n\r\nline\r\n";
        let given = from_raw(raw).unwrap();
        assert_eq!(given.method, Method::POST);
        assert_eq!(given.url, "http://h:8080/echo?x=1");
        assert_eq!(given.uri, "/echo?x=1");
        assert_eq!(given.body.bytes, b"line\r\n");
        assert_eq!(given.headers[header::CONTENT_TYPE], "text/plain");
    }

    #[test]
    fn parses_a_raw_request_with_lf() {
        let given = from_raw(b"GET / HTTP/1.1\nHost: h\n\n").unwrap();
        assert!(given.body.bytes.is_empty());
        assert_eq!(given.url, "http://h/");
    }

    #[test]
    fn rejects_a_raw_request_without_a_blank_line() {
        assert!(from_raw(b"GET / HTTP/1.1\r\nHost: h\r\n").is_err());
    }
}
