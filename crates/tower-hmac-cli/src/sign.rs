//! `tower-hmac sign`.

use http::{HeaderName, HeaderValue, header};
use tower_hmac_core::clock::{Clock, SystemClock};
use tower_hmac_core::{Authorization, body_sha256, generate_nonce};

use crate::KeyArgs;
use crate::input::{Given, RequestArgs};
use crate::shell::quote;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    request: RequestArgs,
    /// Print a complete curl command instead of the Authorization header.
    #[arg(long)]
    curl: bool,
    #[command(flatten)]
    key: KeyArgs,
}

pub(crate) fn run(args: &Args) -> Result<u8, String> {
    let signer = crate::credentials::signer(&args.key)?;
    let mut given = args.request.given()?;
    let body = &given.body;
    if args.curl && !body.bytes.is_empty() && body.file.is_none() && body.inline.is_none() {
        return Err(
            "a body from standard input must be UTF-8 to print a curl command; use -d @FILE".into(),
        );
    }
    if given.headers.contains_key(header::AUTHORIZATION) {
        return Err("-H Authorization: the Authorization header is what this command makes".into());
    }
    let names = signed_names(&given);
    // Send the host that is signed: curl would otherwise pick its own form.
    if !given.headers.contains_key(header::HOST) {
        let authority = given
            .uri
            .authority()
            .map(|a| a.as_str())
            .unwrap_or_default();
        let value =
            HeaderValue::from_str(authority).map_err(|_| "invalid URL authority".to_owned())?;
        given.headers.insert(header::HOST, value);
        given
            .listed
            .insert(0, ("host".into(), authority.to_owned()));
    }
    let auth = signer
        .sign(
            &(&given.method, &given.uri, &given.headers),
            &body_sha256(&given.body.bytes),
            &tower_hmac_core::SignParams::new(
                SystemClock.unix_seconds(),
                &generate_nonce().map_err(|e| e.to_string())?,
            )
            .headers(&names),
        )
        .map_err(|e| e.to_string())?;
    if args.curl {
        println!("{}", curl_command(&given, &auth));
    } else {
        println!("Authorization: {auth}");
    }
    Ok(0)
}

/// Every header given is signed (the host always is).
pub(crate) fn signed_names(given: &Given) -> Vec<HeaderName> {
    given
        .headers
        .keys()
        .filter(|n| **n != header::AUTHORIZATION)
        .cloned()
        .collect()
}

fn curl_command(given: &Given, auth: &Authorization) -> String {
    let mut words = vec![
        "curl".to_owned(),
        "-sS".to_owned(),
        "--path-as-is".to_owned(),
        "-X".to_owned(),
        quote(given.method.as_str()),
    ];
    for (name, value) in &given.listed {
        words.push("-H".into());
        words.push(quote(&format!("{name}: {value}")));
    }
    words.push("-H".into());
    words.push(quote(&format!("Authorization: {auth}")));
    if let Some(file) = &given.body.file {
        words.push("--data-binary".into());
        words.push(quote(&format!("@{file}")));
    } else if let Some(text) = &given.body.inline {
        words.push("--data-raw".into());
        words.push(quote(text));
    }
    words.push(quote(&given.url));
    words.join(" ")
}
