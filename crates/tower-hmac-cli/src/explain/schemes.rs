//! `explain` for every scheme besides protocol v1: AWS SigV4, RFC 9421, softaware's `Hmac`,
//! Kong's and APISIX's `hmac-auth`, and the ID:TS:HMAC token.
//!
//! Each request is rebuilt with the scheme's own code — the server's `parse`, `prepare`,
//! `update` and `verify` — so the text printed is the text the server MACs, and the text whose
//! keyed line digests an `invalid_signature` answer carries.

use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use http::request::Parts;
use http::{HeaderName, Request, header};
use tower_hmac_core::gateway::{Apisix, GatewayCredentials, GatewayPending, Kong};
use tower_hmac_core::rfc9421::Rfc9421;
use tower_hmac_core::sigv4::{self, PathRule, SecurityToken, SigV4, UnsignedPayload};
use tower_hmac_core::softaware::{NonceSyntax, Softaware};
use tower_hmac_core::token::{self, Token};
use tower_hmac_core::{
    Credentials, Locator, Rejection, RejectionKind, Scheme, SecretKey, UriScheme,
    authorization_token, body_sha256, line_digests,
};

use super::{Args, visible};
use crate::input::Given;

/// The longest credentials read (the server's default is smaller; explain is lenient).
const MAX_HEADER_LEN: usize = 65536;

/// The schemes `explain` knows, by their registry ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum SchemeName {
    /// tower-hmac protocol v1 (`Authorization: HMAC-SHA256 …`).
    V1,
    /// AWS Signature Version 4: header form or presigned URL.
    Sigv4,
    /// RFC 9421 HTTP Message Signatures (`Signature-Input`, `Signature`).
    Rfc9421,
    /// softaware.Authentication.Hmac (`Authorization: Hmac app:signature:nonce:time`).
    Softaware,
    /// Kong's `hmac-auth` (`Authorization: hmac username="…"`).
    Kong,
    /// Apache APISIX's `hmac-auth` (`Authorization: Signature keyId="…"`).
    Apisix,
    /// The ID:TS:HMAC token (`X-Auth-Token`).
    Token,
}

impl SchemeName {
    fn id(self) -> &'static str {
        match self {
            Self::V1 => "v1",
            Self::Sigv4 => "sigv4",
            Self::Rfc9421 => "rfc9421",
            Self::Softaware => "softaware",
            Self::Kong => "kong",
            Self::Apisix => "apisix",
            Self::Token => "token",
        }
    }
}

/// The URI scheme clients reach the server by (`--uri-scheme`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum UriSchemeArg {
    /// `http://`.
    Http,
    /// `https://`.
    Https,
}

/// The request's head as the server receives it: the origin-form target, the headers, and a
/// `Host` from the URL when none was given.
pub(crate) fn parts_of(given: &Given) -> Result<Parts, String> {
    let target = given.uri.path_and_query().map_or("/", |p| p.as_str());
    let (mut parts, ()) = Request::builder()
        .method(given.method.clone())
        .uri(target)
        .body(())
        .map_err(|e| format!("invalid request target {target:?}: {e}"))?
        .into_parts();
    parts.headers = given.headers.clone();
    if !parts.headers.contains_key(header::HOST)
        && let Some(authority) = given.uri.authority()
    {
        let host = authority
            .as_str()
            .parse()
            .map_err(|_| "the URL's host is not a valid Host header")?;
        parts.headers.insert(header::HOST, host);
    }
    Ok(parts)
}

/// The scheme whose credentials the request carries, as the server picks it (each scheme's
/// [`Locator`]); `None` without credentials.
pub(crate) fn detect(parts: &Parts) -> Result<Option<SchemeName>, String> {
    let token = authorization_token(parts);
    let candidates = [
        (
            SchemeName::V1,
            Locator::Authorization(tower_hmac_core::SCHEME).matches(parts, token),
        ),
        (
            SchemeName::Sigv4,
            SigV4::new("-", "-").locator().matches(parts, token),
        ),
        (
            SchemeName::Rfc9421,
            Rfc9421::new().locator().matches(parts, token),
        ),
        (
            SchemeName::Softaware,
            Softaware::new().locator().matches(parts, token),
        ),
        (
            SchemeName::Kong,
            Kong::new().locator().matches(parts, token),
        ),
        (
            SchemeName::Apisix,
            Apisix::new().locator().matches(parts, token),
        ),
        (
            SchemeName::Token,
            Token::default().locator().matches(parts, token),
        ),
    ];
    let found: Vec<SchemeName> = candidates
        .iter()
        .filter(|(_, found)| *found)
        .map(|(name, _)| *name)
        .collect();
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        many => Err(format!(
            "the request carries the credentials of several schemes ({}): choose one with --scheme",
            many.iter().map(|n| n.id()).collect::<Vec<_>>().join(", ")
        )),
    }
}

/// What a scheme rebuilt from the request.
struct Rebuilt {
    key_id: String,
    /// What the server digests line by line in an `invalid_signature` answer: its name, its
    /// bytes and what each line is.
    title: &'static str,
    text: Vec<u8>,
    labels: Vec<String>,
    /// More text the MAC depends on, not digested by the server (SigV4's string to sign).
    more: Option<(&'static str, String, Vec<String>)>,
    /// Named parts of a text that is one line (softaware's).
    fields: Vec<(&'static str, Vec<u8>)>,
    given_signature: String,
    expected_signature: String,
    /// The server's own verification of this request with this key.
    verified: Result<(), Rejection>,
    signed_at: Option<u64>,
    /// Whether the server sends line digests for this scheme.
    digested: bool,
    notes: Vec<String>,
}

/// Prepares, feeds the body and verifies, as the server does: through `decode`, as the layer
/// does (SigV4's `aws-chunked` uploads are checked chunk by chunk there, not by `update`).
fn check<S: Scheme>(
    scheme: &S,
    creds: &S::Credentials,
    parts: &Parts,
    body: &[u8],
    key: &SecretKey,
) -> Result<(), Rejection> {
    let mut pending = scheme.prepare(creds, parts, key)?;
    scheme.decode(&mut pending, Bytes::copy_from_slice(body), &mut |_| {})?;
    scheme.verify(creds, pending, key).map(|_| ())
}

fn refused(rejection: &Rejection) -> String {
    format!(
        "{} — {}",
        rejection.code(),
        rejection.detail().unwrap_or(rejection.kind().title())
    )
}

fn mac_base64<M: Mac + KeyInit>(key: &[u8], text: &[u8]) -> Result<String, String> {
    let mut mac = <M as KeyInit>::new_from_slice(key).map_err(|e| e.to_string())?;
    mac.update(text);
    Ok(STANDARD.encode(mac.finalize().into_bytes()))
}

/// A header's value as text (empty when absent or not text).
fn header_text<'a>(parts: &'a Parts, name: &str) -> &'a str {
    parts
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// The value of `name=` in an auth-param list (`a=b, c="d"`), unquoted.
fn param<'a>(list: &'a str, name: &str) -> Option<&'a str> {
    list.split(',').find_map(|p| {
        let p = p.trim();
        let p = p.split_once(' ').map_or(
            p,
            |(token, rest)| {
                if token.contains('=') { p } else { rest.trim() }
            },
        );
        let (n, v) = p.split_once('=')?;
        (n.trim() == name).then(|| v.trim().trim_matches('"'))
    })
}

/// A query parameter's raw value.
fn query_param<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts.uri.query()?.split('&').find_map(|p| {
        p.split_once('=')
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v)
    })
}

fn sigv4(parts: &Parts, body: &[u8], key: &SecretKey) -> Result<Rebuilt, String> {
    let authorization = header_text(parts, "authorization");
    let scope = match param(authorization, "Credential") {
        Some(credential) => credential.to_owned(),
        None => query_param(parts, "X-Amz-Credential")
            .map(|c| c.replace("%2F", "/").replace("%2f", "/"))
            .ok_or("no SigV4 credential: neither `Authorization: AWS4-HMAC-SHA256 Credential=…` nor X-Amz-Credential in the query")?,
    };
    let fields: Vec<&str> = scope.split('/').collect();
    let [_, _, region, service, "aws4_request"] = fields.as_slice() else {
        return Err(format!(
            "the SigV4 credential {scope:?} is not <key id>/<yyyymmdd>/<region>/<service>/aws4_request"
        ));
    };
    // The region and service the request names (a server accepts only its own: that check is
    // not the signature's); S3's path rule for `s3`; any payload form.
    let rule = if *service == "s3" {
        PathRule::S3
    } else {
        PathRule::Generic
    };
    let scheme = SigV4::new(region, service)
        .path_rule(service, rule)
        .unsigned_payload(UnsignedPayload::Anywhere)
        .security_token(SecurityToken::Accepted);
    let creds = scheme
        .parse(parts, MAX_HEADER_LEN)
        .map_err(|r| format!("the server would refuse it: {}", refused(&r)))?;
    let declared = header_text(parts, "x-amz-content-sha256");
    let payload = if !declared.is_empty() {
        declared.to_owned()
    } else if creds.is_presigned() {
        sigv4::UNSIGNED_PAYLOAD.to_owned()
    } else {
        hex::encode(body_sha256(body))
    };
    let canonical = sigv4::CanonicalRequest::new(&creds, parts, &payload)
        .map_err(|r| format!("the server would refuse it: {}", refused(&r)))?;
    let sts = sigv4::StringToSign::new(&creds, &canonical);
    let signing_key = sigv4::derive_signing_key(&key.text_form(), creds.scope());
    let expected = hex::encode(sts.signature(&signing_key));
    let given = param(authorization, "Signature")
        .or_else(|| query_param(parts, "X-Amz-Signature"))
        .unwrap_or_default()
        .to_owned();
    let text = canonical.as_str().as_bytes().to_vec();
    let mut labels = vec![
        "method".to_owned(),
        "canonical URI".to_owned(),
        "canonical query".to_owned(),
    ];
    let mut lines = canonical.as_str().split('\n').skip(3);
    for line in lines.by_ref() {
        if line.is_empty() {
            labels.push("(end of headers)".into());
            break;
        }
        labels.push(format!(
            "header {}",
            line.split_once(':').map_or(line, |(name, _)| name)
        ));
    }
    labels.extend(["signed headers".to_owned(), "payload hash".to_owned()]);
    let verified = check(&scheme, &creds, parts, body, key);
    let mut notes = Vec::new();
    // Verified over another text than the sorted query's: the server's other candidate, the
    // query in the order sent (never for a presigned URL, whose payload hash varies instead).
    let sorted_query = canonical.as_str().split('\n').nth(2).unwrap_or_default();
    let sent_unsorted =
        !creds.is_presigned() && parts.uri.query().is_some_and(|q| q != sorted_query);
    if verified.is_ok() && expected != given && sent_unsorted {
        notes.push(
            "the signature covers the query in the order sent, not sorted (curl 7.88's form): the server accepts it too"
                .to_owned(),
        );
    }
    Ok(Rebuilt {
        key_id: creds.key_id().to_owned(),
        title: "Canonical request",
        text,
        labels,
        more: Some((
            "String to sign",
            sts.to_string(),
            [
                "algorithm",
                "date",
                "credential scope",
                "canonical request SHA-256",
            ]
            .map(str::to_owned)
            .to_vec(),
        )),
        fields: Vec::new(),
        given_signature: given,
        expected_signature: expected,
        verified,
        signed_at: creds.freshness().signed_at(),
        digested: true,
        notes,
    })
}

fn rfc9421(
    parts: &Parts,
    body: &[u8],
    key: &SecretKey,
    uri_scheme: UriScheme,
) -> Result<Rebuilt, String> {
    // Which components a server requires is its policy, not the signature's: none here.
    let scheme = Rfc9421::new()
        .required_components(&[])
        .require_query(false)
        .require_content_digest(false)
        .uri_scheme(uri_scheme);
    let creds = scheme
        .parse(parts, MAX_HEADER_LEN)
        .map_err(|r| format!("the server would refuse it: {}", refused(&r)))?;
    let pending = scheme
        .prepare(&creds, parts, key)
        .map_err(|r| format!("the server would refuse it: {}", refused(&r)))?;
    let base = pending.signature_base().to_owned();
    let expected = format!(
        ":{}:",
        mac_base64::<Hmac<sha2::Sha256>>(key.expose_secret(), base.as_bytes())?
    );
    let given = header_text(parts, "signature");
    let given = given
        .split_once('=')
        .map_or(given, |(_, value)| value)
        .to_owned();
    let labels = base
        .split('\n')
        .map(|line| {
            line.split_once("\": ")
                .map_or(line, |(id, _)| id)
                .trim_start_matches('"')
                .to_owned()
        })
        .collect();
    let verified = check(&scheme, &creds, parts, body, key);
    let mut notes = Vec::new();
    if verified.is_ok() && expected != given {
        notes.push("the signature covers @target-uri with the scheme's default port spelled (https://host:443/…): the server accepts it too".to_owned());
    }
    Ok(Rebuilt {
        key_id: creds.key_id().to_owned(),
        title: "Signature base",
        text: base.into_bytes(),
        labels,
        more: None,
        fields: Vec::new(),
        given_signature: given,
        expected_signature: expected,
        verified,
        signed_at: creds.freshness().signed_at(),
        digested: true,
        notes,
    })
}

fn softaware(
    parts: &Parts,
    body: &[u8],
    key: &SecretKey,
    uri_scheme: UriScheme,
) -> Result<Rebuilt, String> {
    // Every algorithm and nonce form a client may send: which ones a server allows is policy.
    let scheme = Softaware::new()
        .allow_legacy()
        .nonce_syntax(NonceSyntax::Legacy)
        .uri_scheme(uri_scheme);
    let creds = scheme
        .parse(parts, MAX_HEADER_LEN)
        .map_err(|r| format!("the server would refuse it: {}", refused(&r)))?;
    let mut pending = scheme
        .prepare(&creds, parts, key)
        .map_err(|r| format!("the server would refuse it: {}", refused(&r)))?;
    scheme.update(&mut pending, body);
    let text = pending.into_signed_string();
    let value = header_text(parts, "authorization");
    let value = value.split_once(' ').map_or(value, |(_, rest)| rest.trim());
    let items: Vec<&str> = value.split(':').collect();
    let (alg, given, ts_text) = match items.as_slice() {
        [alg, _, _, signature, _, ts] => (*alg, *signature, *ts),
        [_, signature, _, ts] => ("HMACSHA256", *signature, *ts),
        _ => ("HMACSHA256", "", ""),
    };
    let secret = key.expose_secret();
    let expected = match alg {
        "HMACSHA256" => mac_base64::<Hmac<sha2::Sha256>>(secret, &text)?,
        "HMACSHA384" => mac_base64::<Hmac<sha2::Sha384>>(secret, &text)?,
        "HMACSHA512" => mac_base64::<Hmac<sha2::Sha512>>(secret, &text)?,
        other => format!("(not computed here for {other})"),
    };
    // The string has no separators: its parts are told apart by their syntax.
    let head = creds.key_id().len() + parts.method.as_str().len();
    let time_nonce = format!("{ts_text}{}", creds.nonce());
    let mut fields = Vec::new();
    if let Some(at) = text
        .windows(time_nonce.len().max(1))
        .rposition(|w| w == time_nonce.as_bytes())
        .filter(|&at| at >= head)
    {
        let end = at + time_nonce.len();
        fields = vec![
            ("app id", creds.key_id().as_bytes().to_vec()),
            ("method", parts.method.as_str().as_bytes().to_vec()),
            ("URL-encoded URI", text[head..at].to_vec()),
            ("timestamp", ts_text.as_bytes().to_vec()),
            ("nonce", creds.nonce().as_bytes().to_vec()),
            ("body hash (Base64)", text[end..].to_vec()),
        ];
    }
    let verified = check(&scheme, &creds, parts, body, key);
    Ok(Rebuilt {
        key_id: creds.key_id().to_owned(),
        title: "Signed string (one line, no separators)",
        text,
        labels: vec!["signed string".into()],
        more: None,
        fields,
        given_signature: given.to_owned(),
        expected_signature: expected,
        verified,
        signed_at: creds.freshness().signed_at(),
        digested: true,
        notes: Vec::new(),
    })
}

fn gateway<S>(scheme: &S, parts: &Parts, body: &[u8], key: &SecretKey) -> Result<Rebuilt, String>
where
    S: Scheme<Credentials = GatewayCredentials, Pending = GatewayPending>,
{
    let creds = scheme
        .parse(parts, MAX_HEADER_LEN)
        .map_err(|r| format!("the server would refuse it: {}", refused(&r)))?;
    let pending = scheme
        .prepare(&creds, parts, key)
        .map_err(|r| format!("the server would refuse it: {}", refused(&r)))?;
    let text = pending.signing_string().to_vec();
    let expected = STANDARD.encode(creds.algorithm().mac(key.text_form().as_bytes(), &text));
    let names: Vec<&str> = creds.headers().collect();
    let apisix = scheme.id() == "apisix";
    let lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
    let last = lines.len().saturating_sub(1);
    let labels = lines
        .iter()
        .enumerate()
        .map(|(i, line)| {
            let line = String::from_utf8_lossy(line);
            match line.split_once(": ") {
                _ if apisix && i == 0 => "key id".to_owned(),
                _ if apisix && i == last && line.is_empty() => "(end)".to_owned(),
                Some((name, _)) if names.contains(&name) => format!("header {name}"),
                Some(("@request-target", _)) => "@request-target".to_owned(),
                _ if apisix => "@request-target".to_owned(),
                _ => "request-line".to_owned(),
            }
        })
        .collect();
    let given = [header::AUTHORIZATION, header::PROXY_AUTHORIZATION]
        .iter()
        .find_map(|h: &HeaderName| {
            let value = parts.headers.get(h)?.to_str().ok()?;
            param(value, "signature")
        })
        .unwrap_or_default()
        .to_owned();
    let verified = check(scheme, &creds, parts, body, key);
    Ok(Rebuilt {
        key_id: creds.key_id().to_owned(),
        title: "Signing string",
        text,
        labels,
        more: None,
        fields: Vec::new(),
        given_signature: given,
        expected_signature: expected,
        verified,
        signed_at: creds.freshness().signed_at(),
        digested: true,
        notes: vec![format!(
            "algorithm {}, keyed with the secret's text form",
            creds.algorithm().name()
        )],
    })
}

fn token(parts: &Parts, key: &SecretKey) -> Result<Rebuilt, String> {
    let scheme = Token::default();
    let creds = scheme
        .parse(parts, MAX_HEADER_LEN)
        .map_err(|r| format!("the server would refuse it: {}", refused(&r)))?;
    let at = creds.freshness().signed_at().unwrap_or_default();
    let expected = token::issue(creds.key_id(), at, key).map_err(|e| e.to_string())?;
    let given = header_text(parts, token::HEADER.as_str()).to_owned();
    let verified = check(&scheme, &creds, parts, &[], key);
    Ok(Rebuilt {
        key_id: creds.key_id().to_owned(),
        title: "Signed text",
        text: format!("{}.{at}", creds.key_id()).into_bytes(),
        labels: vec!["client id.timestamp".into()],
        more: None,
        fields: Vec::new(),
        given_signature: given,
        expected_signature: expected,
        verified,
        signed_at: Some(at),
        digested: false,
        notes: vec![
            "the token is not bound to the request: method, path, query and body are not signed"
                .into(),
        ],
    })
}

fn write_lines(out: &mut String, title: &str, text: &[u8], labels: &[String]) {
    let _ = writeln!(out, "\n{title}:");
    for (i, line) in text.split(|&b| b == b'\n').enumerate() {
        let label = labels.get(i).map_or("", String::as_str);
        let _ = writeln!(out, "  {:>2}  {:<26} {}", i + 1, label, visible(line));
    }
}

/// Explains a request of `name`'s scheme; the exit code as `explain`'s.
pub(crate) fn run(
    args: &Args,
    given: &Given,
    parts: &Parts,
    name: SchemeName,
    key: &SecretKey,
) -> Result<u8, String> {
    let body = &given.body.bytes;
    let uri_scheme = match args.uri_scheme {
        Some(UriSchemeArg::Https) => UriScheme::Https,
        Some(UriSchemeArg::Http) => UriScheme::Http,
        None if given.url.starts_with("https://") => UriScheme::Https,
        None => UriScheme::Http,
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Request: {} {} — host {} — body {} bytes",
        parts.method,
        parts.uri,
        header_text(parts, "host"),
        body.len()
    );
    let how = if args.scheme.is_some() {
        "as given with --scheme"
    } else {
        "detected from the request"
    };
    let _ = writeln!(out, "Scheme: {} ({how})", name.id());
    let rebuilt = match name {
        SchemeName::Sigv4 => sigv4(parts, body, key),
        SchemeName::Rfc9421 => rfc9421(parts, body, key, uri_scheme),
        SchemeName::Softaware => softaware(parts, body, key, uri_scheme),
        SchemeName::Kong => gateway(&Kong::new().allow_sha1(), parts, body, key),
        SchemeName::Apisix => gateway(&Apisix::new().allow_sha1(), parts, body, key),
        SchemeName::Token => token(parts, key),
        SchemeName::V1 => Err("protocol v1 is explained by the v1 path".to_owned()),
    };
    let rebuilt = match rebuilt {
        Ok(rebuilt) => rebuilt,
        Err(why) => {
            let _ = writeln!(out, "\n{why}");
            print!("{out}");
            return Ok(1);
        }
    };
    let mut problems = 0;
    write_lines(&mut out, rebuilt.title, &rebuilt.text, &rebuilt.labels);
    let _ = writeln!(
        out,
        "  (lines end with \\n except the last; · is a space at either end, \\t a tab, \\xNN another byte)"
    );
    if !rebuilt.fields.is_empty() {
        let _ = writeln!(out, "  its parts:");
        for (label, value) in &rebuilt.fields {
            let _ = writeln!(out, "      {label:<22} {}", visible(value));
        }
    }
    if let Some((title, text, labels)) = &rebuilt.more {
        write_lines(&mut out, title, text.as_bytes(), labels);
    }
    let _ = writeln!(out);
    match args.key.key_id.as_deref() {
        Some(id) if id != rebuilt.key_id => {
            problems += 1;
            let _ = writeln!(
                out,
                "  key id          {:<24} DIFFERS: the key given is for {id}",
                rebuilt.key_id
            );
        }
        _ => {
            let _ = writeln!(out, "  key id          {}", rebuilt.key_id);
        }
    }
    if let Some(at) = rebuilt.signed_at {
        let now = tower_hmac_core::clock::Clock::unix_seconds(&tower_hmac_core::SystemClock);
        let age = i128::from(now) - i128::from(at);
        let _ = writeln!(
            out,
            "  signed at       {at} ({age:+} s from this machine's clock)"
        );
    }
    let _ = writeln!(out, "  signature given {}", rebuilt.given_signature);
    let _ = writeln!(out, "  expected        {}", rebuilt.expected_signature);
    for note in &rebuilt.notes {
        let _ = writeln!(out, "  note: {note}");
    }
    match &rebuilt.verified {
        Ok(()) => {
            let _ = writeln!(out, "  signature       matches this request and key");
        }
        Err(r) if r.kind() == RejectionKind::InvalidSignature && r.detail().is_none() => {
            problems += 1;
            let _ = writeln!(
                out,
                "  signature       DIFFERS from the expected one: the request was changed after signing, or the key differs"
            );
        }
        Err(r) => {
            problems += 1;
            let _ = writeln!(
                out,
                "  signature       the server refuses it: {}",
                refused(r)
            );
        }
    }
    if let Some(path) = &args.problem {
        problems += explain_problem(path, &rebuilt, key, &mut out)?;
    } else if problems > 0 && rebuilt.digested {
        let _ = writeln!(
            out,
            "\nPass the server's answer with --problem FILE to see which line it signed differently."
        );
    }
    print!("{out}");
    Ok(u8::from(problems > 0))
}

fn explain_problem(
    path: &std::path::Path,
    rebuilt: &Rebuilt,
    key: &SecretKey,
    out: &mut String,
) -> Result<usize, String> {
    let problem = super::read_problem(path)?;
    let kind = problem.kind();
    let _ = writeln!(
        out,
        "\nThe server answered: {} — {}",
        kind.code(),
        problem.detail().unwrap_or(kind.title())
    );
    if kind != RejectionKind::InvalidSignature {
        return Ok(1);
    }
    let Some(server) = problem.line_digests() else {
        let why = if rebuilt.digested {
            "the server sent no line digests (its diagnostics are off)"
        } else {
            "this scheme's answers carry no line digests"
        };
        let _ = writeln!(out, "  {why}");
        return Ok(1);
    };
    // The server keys its digests with the key it verified with: only the same key reads them.
    let ours = line_digests(key, &rebuilt.text);
    let differing = match super::compare(server, &ours) {
        super::Comparison::Lengths { server, ours } => {
            let _ = writeln!(
                out,
                "  the server's {} has {server} lines, this one {ours}: the list of signed parts differs",
                rebuilt.title.to_lowercase(),
            );
            return Ok(1);
        }
        super::Comparison::AllDiffer => {
            let _ = writeln!(out, "  {}", super::another_key(&rebuilt.key_id));
            return Ok(1);
        }
        super::Comparison::Differing(differing) => differing,
    };
    let lines: Vec<&[u8]> = rebuilt.text.split(|&b| b == b'\n').collect();
    for &i in &differing {
        let label = rebuilt.labels.get(i).map_or("", String::as_str);
        let here = lines.get(i).map_or(String::new(), |l| visible(l));
        let why = if ours.len() == 1 {
            "the server signed another string, or verified with another key (one line: the two look the same; compare its parts above with what reached the server)"
        } else {
            "the server built another value for this line"
        };
        let _ = writeln!(
            out,
            "  line {:>2} {label:<26} DIFFERS: {why}\n          here: {here}",
            i + 1
        );
    }
    if differing.is_empty() {
        let what = rebuilt.title.to_lowercase();
        let _ = writeln!(
            out,
            "  {}",
            super::matching_verdict(Some(rebuilt.verified.is_ok()), &what)
        );
    }
    Ok(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_auth_params_after_the_token_quoted_or_not() {
        let sigv4 = "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=ab12";
        assert_eq!(
            param(sigv4, "Credential"),
            Some("AKID/20150830/us-east-1/s3/aws4_request")
        );
        assert_eq!(param(sigv4, "Signature"), Some("ab12"));
        let kong = r#"hmac username="app", headers="date request-line", signature="c2ln=""#;
        assert_eq!(param(kong, "username"), Some("app"));
        assert_eq!(param(kong, "signature"), Some("c2ln="));
        assert_eq!(param(kong, "algorithm"), None);
    }

    #[test]
    fn detects_each_scheme_as_the_server_picks_it() {
        let parts = |name: &str, value: &str| {
            http::Request::get("/x?y=1")
                .header(name, value)
                .body(())
                .map(|r| r.into_parts().0)
                .unwrap()
        };
        for (name, value, scheme) in [
            ("authorization", "HMAC-SHA256 Credential=a", SchemeName::V1),
            (
                "authorization",
                "AWS4-HMAC-SHA256 Credential=a",
                SchemeName::Sigv4,
            ),
            ("signature-input", "sig1=()", SchemeName::Rfc9421),
            ("authorization", "Hmac a:b:c:d", SchemeName::Softaware),
            ("authorization", "hmac username=\"a\"", SchemeName::Kong),
            ("authorization", "Signature keyId=\"a\"", SchemeName::Apisix),
            ("x-auth-token", "a:1:00", SchemeName::Token),
        ] {
            assert_eq!(detect(&parts(name, value)), Ok(Some(scheme)), "{value}");
        }
        assert_eq!(detect(&parts("x-other", "1")), Ok(None));
    }
}
