//! `tower-hmac explain`: why does a signature not match? Protocol v1 here; every other scheme
//! the layer verifies in [`schemes`].

use std::fmt::Write as _;
use std::path::PathBuf;

use http::header;
use tower_hmac_core::clock::{Clock, SystemClock};
use tower_hmac_core::{
    Authorization, CanonicalRequest, Line, Problem, RejectionKind, body_sha256, generate_nonce,
    line_digests, line_layout,
};

use crate::KeyArgs;
use crate::credentials::KeyForm;
use crate::input::{from_args, from_raw, read_body};

mod schemes;

use schemes::{SchemeName, UriSchemeArg};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The HTTP method (unless --request-file is given).
    method: Option<String>,
    /// The absolute URL (unless --request-file is given).
    url: Option<String>,
    /// A header as 'Name: value' (repeatable); include the Authorization header to check it.
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    headers: Vec<String>,
    /// The body: the text itself, @FILE for a file's bytes, or @- for standard input.
    #[arg(short = 'd', long = "data", value_name = "DATA")]
    data: Option<String>,
    /// A raw HTTP/1.1 request (request line, headers, blank line, body) instead of METHOD URL -H -d.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["method", "url", "headers", "data"])]
    request_file: Option<PathBuf>,
    /// The server's problem+json answer, to say what it rejected and which part differs.
    #[arg(long, value_name = "FILE")]
    problem: Option<PathBuf>,
    /// The server's allowed clock skew in seconds.
    #[arg(long, default_value_t = 300, value_name = "SECS")]
    max_skew: u64,
    /// The scheme, when the request's credentials do not say it (by default it is detected as
    /// the server picks it: `AWS4-HMAC-SHA256`, `Signature-Input`, `Hmac app:…`, `hmac
    /// username=`, `Signature keyId=`, `X-Auth-Token`, `HMAC-SHA256`).
    #[arg(long, value_enum, value_name = "NAME")]
    scheme: Option<SchemeName>,
    /// How the secret is written: `base64` (as `keygen` prints it) or `text`, a provider's
    /// secret as issued (an AWS secret access key the registry holds as text).
    #[arg(long, value_enum, default_value = "base64", value_name = "FORM")]
    key_form: KeyForm,
    /// The URI scheme clients reach the server by, for softaware's signed URI and RFC 9421's
    /// `@scheme` and `@target-uri` (default: the URL's; `http` for a --request-file in origin form).
    #[arg(long, value_enum, value_name = "SCHEME")]
    uri_scheme: Option<UriSchemeArg>,
    #[command(flatten)]
    key: KeyArgs,
}

/// What each line of the string to sign is.
fn labels(auth: &Authorization) -> Vec<String> {
    line_layout(auth).iter().map(Line::label).collect()
}

/// A line with invisible characters made visible: tabs as `\t`, other control and non-ASCII
/// bytes as `\xNN`, and spaces at either end as `·`.
pub(crate) fn visible(line: &[u8]) -> String {
    let lead = line.iter().take_while(|&&b| b == b' ').count();
    let trail = line[lead..]
        .iter()
        .rev()
        .take_while(|&&b| b == b' ')
        .count();
    let mut out = String::new();
    for (i, &b) in line.iter().enumerate() {
        match b {
            b' ' if i < lead || i >= line.len() - trail => out.push('·'),
            b'\t' => out.push_str("\\t"),
            0x20..=0x7e => out.push(b as char),
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    out
}

pub(crate) fn run(args: &Args) -> Result<u8, String> {
    let given = match &args.request_file {
        Some(path) => {
            let raw =
                std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            from_raw(&raw)?
        }
        None => {
            let (Some(method), Some(url)) = (&args.method, &args.url) else {
                return Err("give METHOD URL (with -H and -d), or --request-file FILE".into());
            };
            from_args(method, url, &args.headers, read_body(args.data.as_deref())?)?
        }
    };
    let key = crate::credentials::secret_as(&args.key, args.key_form)?;
    let parts = schemes::parts_of(&given)?;
    let scheme = match args.scheme {
        Some(name) => Some(name),
        None => schemes::detect(&parts)?,
    };
    if let Some(name) = scheme.filter(|&name| name != SchemeName::V1) {
        return schemes::run(args, &given, &parts, name, &key);
    }
    let mut out = String::new();
    let mut problems = 0;

    let body_hash = body_sha256(&given.body.bytes);
    let _ = writeln!(
        out,
        "Request: {} {} — host {} — body {} bytes",
        given.method,
        given.uri.path_and_query().map_or("/", |p| p.as_str()),
        tower_hmac_core::request_host(&given.uri, &given.headers)
            .map_or("(none)".into(), |h| String::from_utf8_lossy(&h)
                .into_owned()),
        given.body.bytes.len()
    );

    let (auth, given_auth) = match given.headers.get(header::AUTHORIZATION) {
        Some(value) => match Authorization::parse(value.as_bytes(), 65536) {
            Ok(auth) => (auth, true),
            Err(rejection) => {
                let _ = writeln!(
                    out,
                    "\nAuthorization header: {} — {}",
                    rejection.code(),
                    rejection.detail().unwrap_or(rejection.kind().title())
                );
                print!("{out}");
                return Ok(1);
            }
        },
        None => {
            let key_id = crate::credentials::key_id(&args.key)?;
            let signer =
                tower_hmac_core::Signer::new(key_id, key.clone()).map_err(|e| e.to_string())?;
            let names = crate::sign::signed_names(&given);
            let mut headers = given.headers.clone();
            if !headers.contains_key(header::HOST)
                && let Some(a) = given.uri.authority()
            {
                headers.insert(header::HOST, a.as_str().parse().map_err(|_| "bad host")?);
            }
            let nonce = generate_nonce().map_err(|e| e.to_string())?;
            let auth = signer
                .sign(
                    &(&given.method, &given.uri, &headers),
                    &body_hash,
                    &tower_hmac_core::SignParams::new(SystemClock.unix_seconds(), &nonce)
                        .headers(&names),
                )
                .map_err(|e| e.to_string())?;
            let _ = writeln!(
                out,
                "No Authorization header given: showing how `tower-hmac sign` would sign it now."
            );
            (auth, false)
        }
    };

    let canonical = match CanonicalRequest::new(&auth, &given.method, &given.uri, &given.headers) {
        Ok(c) => Some(c),
        Err(_) => {
            let missing: Vec<&str> = auth
                .signed_headers()
                .filter(|&n| {
                    if n == header::HOST.as_str() {
                        tower_hmac_core::request_host(&given.uri, &given.headers).is_none()
                    } else {
                        !given.headers.contains_key(n)
                    }
                })
                .collect();
            let _ = writeln!(
                out,
                "\nSigned header(s) absent from the request: {} → missing_signed_header",
                missing.join(", ")
            );
            problems += 1;
            None
        }
    };

    let string_to_sign = canonical.as_ref().map(|c| c.string_to_sign(&body_hash));
    if let Some(sts) = &string_to_sign {
        let _ = writeln!(
            out,
            "\nString to sign (lines end with \\n except the last; · is a space at either end, \\t a tab, \\xNN another byte):"
        );
        for (i, (label, line)) in labels(&auth)
            .iter()
            .zip(sts.split(|&b| b == b'\n'))
            .enumerate()
        {
            let _ = writeln!(out, "  {:>2}  {:<20} {}", i + 1, label, visible(line));
        }
    }
    let expected = canonical.as_ref().map(|c| c.sign(&key, &body_hash));
    if let Some(sig) = &expected {
        let _ = writeln!(out, "\nExpected signature with this key: {}", sig.to_hex());
    }
    // Whether the given header's signature verifies over this request with this key.
    let own_check = match (&expected, given_auth) {
        (Some(sig), true) => Some(sig == auth.signature()),
        _ => None,
    };

    if given_auth {
        let _ = writeln!(out, "\nThe Authorization header given:");
        match args.key.key_id.as_deref() {
            Some(id) if id != auth.key_id() => {
                problems += 1;
                let _ = writeln!(
                    out,
                    "  key id          {:<24} DIFFERS: the key given is for {id}",
                    auth.key_id()
                );
            }
            _ => {
                let _ = writeln!(out, "  key id          {}", auth.key_id());
            }
        }
        let now = SystemClock.unix_seconds();
        let age = i128::from(now) - i128::from(auth.timestamp());
        if age.unsigned_abs() > u128::from(args.max_skew) {
            problems += 1;
            let _ = writeln!(
                out,
                "  timestamp       {:<24} OUTSIDE the ±{} s window ({age:+} s from this machine's clock) → stale_timestamp",
                auth.timestamp(),
                args.max_skew
            );
        } else {
            let _ = writeln!(
                out,
                "  timestamp       {:<24} ok ({age:+} s from this machine's clock)",
                auth.timestamp()
            );
        }
        let unsigned: Vec<&str> = given
            .headers
            .keys()
            .filter(|n| {
                **n != header::AUTHORIZATION && !auth.signed_headers().any(|s| s == n.as_str())
            })
            .map(|n| n.as_str())
            .collect();
        let _ = writeln!(out, "  signed headers  {}", auth.signed_headers_str());
        if !unsigned.is_empty() {
            let _ = writeln!(
                out,
                "                  note: sent but not signed (anyone on the path may change them): {}",
                unsigned.join(", ")
            );
        }
        if let Some(sig) = &expected {
            if sig == auth.signature() {
                let _ = writeln!(out, "  signature       matches this request and key");
            } else {
                problems += 1;
                let _ = writeln!(
                    out,
                    "  signature       DIFFERS from the expected one: the request was changed after signing, or the key differs"
                );
            }
        }
    }

    if let Some(path) = &args.problem {
        let context = Context {
            auth: &auth,
            key: &key,
            string_to_sign: string_to_sign.as_deref(),
            own_check,
        };
        problems += explain_problem(path, &context, &mut out)?;
    } else if given_auth && problems > 0 {
        let _ = writeln!(
            out,
            "\nPass the server's answer with --problem FILE to see which part it signed differently."
        );
    }
    print!("{out}");
    Ok(u8::from(problems > 0))
}

/// The server's answer in `path`: its problem+json or S3 XML body.
fn read_problem(path: &std::path::Path) -> Result<Problem, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Problem::read(&text).map_err(|e| {
        format!(
            "{} is not the server's problem+json or S3 XML error: {e}",
            path.display()
        )
    })
}

/// How the server's keyed line digests compare with this text's under this key.
enum Comparison {
    /// Not as many lines: the list of signed parts differs.
    Lengths { server: usize, ours: usize },
    /// Every line of several differs: the digests were keyed with another key.
    AllDiffer,
    /// The lines that differ (none: the same text).
    Differing(Vec<usize>),
}

fn compare(server: &[[u8; 8]], ours: &[[u8; 8]]) -> Comparison {
    if server.len() != ours.len() {
        return Comparison::Lengths {
            server: server.len(),
            ours: ours.len(),
        };
    }
    let differing: Vec<usize> = (0..ours.len()).filter(|&i| server[i] != ours[i]).collect();
    if ours.len() > 1 && differing.len() == ours.len() {
        Comparison::AllDiffer
    } else {
        Comparison::Differing(differing)
    }
}

/// What the digests say of `key_id` when every line differs (they are keyed).
fn another_key(key_id: &str) -> String {
    format!(
        "every line differs: the digests are keyed, so this key cannot read them — the server verified with another key than this one for {key_id} (or knows no such active key and answers as for a wrong key)"
    )
}

/// The verdict when every line matches the server's `what`: the signature itself is the odd one
/// out, per whether it verifies here (`None`: nothing to verify).
fn matching_verdict(own_check: Option<bool>, what: &str) -> String {
    match own_check {
        Some(false) => format!(
            "every line matches the server's {what}, with this key, and the signature given does not verify over it here either: the request is not the one that was signed (changed after signing, e.g. its body), or it was signed with another key"
        ),
        Some(true) => "every line matches and the signature verifies here with this key: this answer is not for this request".to_owned(),
        None => format!("every line matches the server's {what}, with this key"),
    }
}

/// What `explain` knows of the request when it reads the server's answer.
struct Context<'a> {
    auth: &'a Authorization,
    key: &'a tower_hmac_core::SecretKey,
    string_to_sign: Option<&'a [u8]>,
    /// Whether the given signature verifies over this request with this key (`None`: no
    /// `Authorization` was given).
    own_check: Option<bool>,
}

fn explain_problem(
    path: &std::path::Path,
    context: &Context<'_>,
    out: &mut String,
) -> Result<usize, String> {
    let auth = context.auth;
    let problem = read_problem(path)?;
    let kind = problem.kind();
    let _ = writeln!(
        out,
        "\nThe server answered: {} — {}",
        kind.code(),
        kind.title()
    );
    let hint = match kind {
        RejectionKind::UnknownKey => format!("the server has no key id {}", auth.key_id()),
        RejectionKind::RevokedKey => format!("key id {} is revoked on the server: use the current key", auth.key_id()),
        RejectionKind::HostNotAllowed => "the server does not answer for this host: check the URL's host and port (and any proxy's Host)".into(),
        RejectionKind::StaleTimestamp => "the clocks differ by more than the skew: sync the clock (the client library corrects this itself)".into(),
        RejectionKind::ReplayedNonce => "the same nonce was sent twice: sign every request (and every retry) anew".into(),
        RejectionKind::MissingSignedHeader => "a header named in SignedHeaders did not reach the server: a proxy may drop it".into(),
        RejectionKind::MalformedAuthorization => problem.detail().unwrap_or("the Authorization header breaks the grammar").into(),
        RejectionKind::TooManyFailures => "too many failed attempts from this key id or address: fix the signature, then wait the Retry-After seconds".into(),
        RejectionKind::HttpsRequired => "the server accepts signed requests over HTTPS only: use an https:// URL".into(),
        RejectionKind::InsufficientScope => format!("the key's app lacks the scope {}", problem.scope().unwrap_or("the route requires")),
        _ => String::new(),
    };
    if !hint.is_empty() {
        let _ = writeln!(out, "  {hint}");
    }
    if kind != RejectionKind::InvalidSignature {
        return Ok(1);
    }
    let Some(server) = problem.line_digests() else {
        let _ = writeln!(
            out,
            "  the server sent no string-to-sign digests (diagnostics are off)"
        );
        return Ok(1);
    };
    let Some(sts) = context.string_to_sign else {
        return Ok(1);
    };
    // The server keys its digests with the key it verified with: only the same key gives the same.
    let ours = line_digests(context.key, sts);
    let layout = line_layout(auth);
    let differing = match compare(server, &ours) {
        Comparison::Lengths { server, ours } => {
            let _ = writeln!(
                out,
                "  the server's string to sign has {server} lines, this one {ours}: the signed-header list differs"
            );
            return Ok(1);
        }
        Comparison::AllDiffer => {
            let _ = writeln!(out, "  {}", another_key(auth.key_id()));
            return Ok(1);
        }
        Comparison::Differing(differing) => differing,
    };
    for &i in &differing {
        let line = &layout[i];
        let why = match line {
            Line::BodySha256 => {
                "the server hashed a different body than this one (the body hash differs)"
            }
            Line::Path | Line::Query => {
                "the server received another request target (a proxy may rewrite or re-encode it)"
            }
            Line::Header(name) if name == http::header::HOST => {
                "the server saw another host (a proxy may set its own Host)"
            }
            Line::Header(_) => "the server received another value for this header",
            _ => "differs",
        };
        let _ = writeln!(
            out,
            "  line {:>2} {:<20} DIFFERS: {why}",
            i + 1,
            line.label()
        );
    }
    if differing.is_empty() {
        let _ = writeln!(
            out,
            "  {}",
            matching_verdict(context.own_check, "string to sign")
        );
    }
    Ok(1)
}

#[cfg(test)]
mod tests {
    use super::visible;

    #[test]
    fn makes_invisible_characters_visible() {
        assert_eq!(visible(b"  a b\t"), "··a b\\t");
        assert_eq!(visible(b"caf\xc3\xa9 "), "caf\\xc3\\xa9·");
        assert_eq!(visible(b"\x00"), "\\x00");
        assert_eq!(visible(b""), "");
    }
}
