//! Signs a request as a client does and verifies it as a server does, with no I/O: the
//! signature checks out for the body it was made for, and not for another one.
//!
//! ```sh
//! cargo run -p tower-hmac-core --example sign_and_verify
//! ```

use http::{Request, header};
use tower_hmac_core::{
    Authorization, CanonicalRequest, Clock, DEFAULT_MAX_HEADER_LEN, SecretKey, SignParams, Signer,
    SystemClock, body_sha256, generate_nonce,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let key = SecretKey::generate()?; // or SecretKey::from_base64(…) with a shared key
    let body = br#"{"amount":7}"#;
    let request = Request::post("/payments")
        .header(header::HOST, "api.example.com")
        .header(header::CONTENT_TYPE, "application/json")
        .body(())?;

    // Client: sign the request's head and the body's digest, now, with a fresh nonce.
    let signer = Signer::new("backoffice-2026-11", key.clone())?;
    let nonce = generate_nonce()?;
    let signed_headers = [header::CONTENT_TYPE]; // `host` is always signed
    let params = SignParams::new(SystemClock.unix_seconds(), &nonce).headers(&signed_headers);
    let authorization = signer.sign(&request, &body_sha256(body), &params)?;
    println!("Authorization: {authorization}");

    // Server: parse strictly, rebuild the string to sign, compare in constant time. (The time
    // window, the allowed hosts and the replay store are the layer's checks: tower-hmac.)
    let header_value = authorization.to_string();
    let parsed = Authorization::parse(header_value.as_bytes(), DEFAULT_MAX_HEADER_LEN)?;
    let (method, uri, headers) = (request.method(), request.uri(), request.headers());
    let canonical = CanonicalRequest::new(&parsed, method, uri, headers)?;
    let string_to_sign = canonical.string_to_sign(&body_sha256(body));
    println!(
        "string to sign:\n{}",
        String::from_utf8_lossy(&string_to_sign)
    );

    canonical.verify(&key, &body_sha256(body), parsed.signature())?;
    println!("verified");

    // The same signature over another body: refused as `invalid_signature`.
    let other = body_sha256(br#"{"amount":700}"#);
    match canonical.verify(&key, &other, parsed.signature()) {
        Err(rejection) => println!("another body: {}", rejection.code()),
        Ok(()) => return Err("a signature verified for another body".into()),
    }
    Ok(())
}
