//! `tower-hmac sign`.

use std::io::Read;

use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri, header};
use tower_hmac_core::clock::{Clock, SystemClock};
use tower_hmac_core::{body_sha256, generate_nonce};

use crate::KeyArgs;
use crate::shell::quote;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The HTTP method (GET, POST, …).
    method: String,
    /// The absolute URL (http:// or https://).
    url: String,
    /// A header to send and sign, as 'Name: value' (repeatable).
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    headers: Vec<String>,
    /// The body: the text itself, @FILE for a file's bytes, or @- for standard input.
    #[arg(short = 'd', long = "data", value_name = "DATA")]
    data: Option<String>,
    /// Print a complete curl command instead of the Authorization header.
    #[arg(long)]
    curl: bool,
    #[command(flatten)]
    key: KeyArgs,
}

/// What the signed request is made of, ready to print.
struct Signed {
    method: Method,
    url: String,
    headers: Vec<(String, String)>,
    authorization: String,
}

pub(crate) fn run(args: &Args) -> Result<(), String> {
    let signer = crate::credentials::signer(&args.key)?;
    let body = read_body(args.data.as_deref())?;
    if args.curl && !body.bytes.is_empty() && body.file.is_none() && body.inline.is_none() {
        return Err(
            "a body from standard input must be UTF-8 to print a curl command; use -d @FILE".into(),
        );
    }
    let signed = sign(args, &signer, &body.bytes)?;
    if args.curl {
        println!("{}", curl_command(&signed, &body));
    } else {
        println!("Authorization: {}", signed.authorization);
    }
    Ok(())
}

struct Body {
    bytes: Vec<u8>,
    /// The file it came from, so that curl reads the same bytes.
    file: Option<String>,
    inline: Option<String>,
}

fn read_body(data: Option<&str>) -> Result<Body, String> {
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

fn sign(args: &Args, signer: &tower_hmac_core::Signer, body: &[u8]) -> Result<Signed, String> {
    let method = Method::from_bytes(args.method.as_bytes())
        .map_err(|_| format!("invalid method {:?}", args.method))?;
    let uri: Uri = args
        .url
        .parse()
        .map_err(|e| format!("invalid URL {:?}: {e}", args.url))?;
    match uri.scheme_str() {
        Some("http" | "https") if uri.authority().is_some() => {}
        _ => {
            return Err(format!(
                "the URL must be absolute http:// or https://, got {:?}",
                args.url
            ));
        }
    }

    let mut headers = HeaderMap::new();
    let mut listed = Vec::new();
    let mut names = Vec::new();
    for line in &args.headers {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("header {line:?} is not 'Name: value'"))?;
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| format!("invalid header name in {line:?}"))?;
        if name == header::AUTHORIZATION {
            return Err(
                "-H Authorization: the Authorization header is what this command makes".into(),
            );
        }
        let value = value.trim_matches([' ', '\t']);
        let header_value = HeaderValue::from_str(value)
            .map_err(|_| format!("invalid header value in {line:?}"))?;
        headers.append(name.clone(), header_value);
        listed.push((name.as_str().to_owned(), value.to_owned()));
        names.push(name);
    }
    // Send the host that is signed: curl would otherwise pick its own form.
    if !headers.contains_key(header::HOST) {
        let authority = uri.authority().map(|a| a.as_str()).unwrap_or_default();
        let value =
            HeaderValue::from_str(authority).map_err(|_| "invalid URL authority".to_owned())?;
        headers.insert(header::HOST, value);
        listed.insert(0, ("host".into(), authority.to_owned()));
    }

    let timestamp = SystemClock.unix_seconds();
    let nonce = generate_nonce().map_err(|e| e.to_string())?;
    let authorization = signer
        .sign(
            &method,
            &uri,
            &headers,
            &body_sha256(body),
            timestamp,
            &nonce,
            &names,
        )
        .map_err(|e| e.to_string())?;
    Ok(Signed {
        method,
        url: args.url.clone(),
        headers: listed,
        authorization: authorization.to_string(),
    })
}

fn curl_command(signed: &Signed, body: &Body) -> String {
    let mut words = vec![
        "curl".to_owned(),
        "-sS".to_owned(),
        "--path-as-is".to_owned(),
        "-X".to_owned(),
        quote(signed.method.as_str()),
    ];
    for (name, value) in &signed.headers {
        words.push("-H".into());
        words.push(quote(&format!("{name}: {value}")));
    }
    words.push("-H".into());
    words.push(quote(&format!("Authorization: {}", signed.authorization)));
    if let Some(file) = &body.file {
        words.push("--data-binary".into());
        words.push(quote(&format!("@{file}")));
    } else if let Some(text) = &body.inline {
        words.push("--data-raw".into());
        words.push(quote(text));
    }
    words.push(quote(&signed.url));
    words.join(" ")
}
