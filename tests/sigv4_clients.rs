//! AWS SigV4 signed by AWS's own Rust signer, the `aws-sigv4` crate, against the demo server
//! over real TCP: the header form (a body hashed by the layer, `UNSIGNED-PAYLOAD`, non-ASCII
//! paths under the generic and the S3 rule), presigned URLs (GET and PUT, expired), and a
//! streaming upload whose chunks it signs with `sign_chunk`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation,
    SigningSettings, UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use bytes::Bytes;

const STREAMING: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";

async fn start_demo() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let registry = demo_server::demo_registry().unwrap();
    tokio::spawn(async move { demo_server::serve(listener, registry).await.unwrap() });
    // Past the second the demo's replay store started in.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    addr
}

fn credentials() -> Credentials {
    Credentials::new(
        demo_server::DEMO_KEY_ID,
        demo_server::demo_secret_base64(),
        None,
        None,
        "tower-hmac tests",
    )
}

/// What to sign and how.
struct Sig<'a> {
    service: &'a str,
    settings: SigningSettings,
    body: SignableBody<'a>,
    time: SystemTime,
}

impl<'a> Sig<'a> {
    fn new(service: &'a str) -> Self {
        Self {
            service,
            settings: SigningSettings::default(),
            body: SignableBody::Bytes(b""),
            time: SystemTime::now(),
        }
    }
}

/// Signs `method url` with `headers`; returns the signed URL and headers, and the signature.
fn signed(
    sig: Sig<'_>,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
) -> (String, http::HeaderMap, String) {
    let identity = credentials().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(demo_server::DEMO_SIGV4_REGION)
        .name(sig.service)
        .time(sig.time)
        .settings(sig.settings)
        .build()
        .unwrap()
        .into();
    let signable = SignableRequest::new(method, url, headers.iter().copied(), sig.body).unwrap();
    let (instructions, signature) = sign(signable, &params).unwrap().into_parts();
    let mut request = http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut request = request.body(()).unwrap();
    instructions.apply_to_request_http1x(&mut request);
    (
        request.uri().to_string(),
        request.headers().clone(),
        signature,
    )
}

async fn send(
    method: &str,
    url: &str,
    headers: http::HeaderMap,
    body: impl Into<reqwest::Body>,
) -> (u16, String) {
    let res = reqwest::Client::new()
        .request(method.parse().unwrap(), url)
        .headers(headers)
        .body(body)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

#[tokio::test]
async fn header_form_requests_are_accepted_once() {
    let addr = start_demo().await;
    let host = addr.to_string();
    let url = format!("http://{addr}/whoami?b=2&a=x%20y");
    let (url, headers, _) = signed(Sig::new("demo"), "GET", &url, &[("host", &host)]);
    let (status, body) = send("GET", &url, headers.clone(), "").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""scheme":"sigv4""#), "{body}");
    // The same signed request again: a replay.
    let (status, body) = send("GET", &url, headers, "").await;
    assert_eq!(status, 401);
    assert!(body.contains("replayed_nonce"), "{body}");

    // A body, hashed by the signer (no X-Amz-Content-Sha256 sent) and by the layer.
    let json = br#"{"signed":"by aws-sigv4"}"#;
    let mut sig = Sig::new("demo");
    sig.body = SignableBody::Bytes(json);
    let url = format!("http://{addr}/echo");
    let headers = [
        ("host", host.as_str()),
        ("content-type", "application/json"),
    ];
    let (url, headers, _) = signed(sig, "POST", &url, &headers);
    assert!(headers.get("x-amz-content-sha256").is_none());
    let (status, body) = send("POST", &url, headers.clone(), &json[..]).await;
    assert_eq!((status, body.as_bytes()), (200, &json[..]));
    // The same head with another body.
    let (status, body) = send("POST", &url, headers, "{}").await;
    assert_eq!(status, 401, "{body}");
}

#[tokio::test]
async fn unsigned_payload_and_declared_hashes() {
    let addr = start_demo().await;
    let host = addr.to_string();
    let url = format!("http://{addr}/echo");
    // UNSIGNED-PAYLOAD (the demo allows it): any body.
    let mut sig = Sig::new("s3");
    sig.settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    sig.body = SignableBody::UnsignedPayload;
    let (signed_url, headers, _) = signed(sig, "PUT", &url, &[("host", &host)]);
    assert_eq!(headers["x-amz-content-sha256"], "UNSIGNED-PAYLOAD");
    let (status, body) = send("PUT", &signed_url, headers, "anything").await;
    assert_eq!((status, body.as_str()), (200, "anything"));

    // A declared hash: the body must match it.
    let mut sig = Sig::new("s3");
    sig.settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    sig.body = SignableBody::Bytes(b"declared body");
    let (signed_url, headers, _) = signed(sig, "PUT", &url, &[("host", &host)]);
    let (status, body) = send("PUT", &signed_url, headers.clone(), "declared body").await;
    assert_eq!((status, body.as_str()), (200, "declared body"));
    tokio::time::sleep(Duration::from_millis(10)).await;
    let mut sig = Sig::new("s3");
    sig.settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    sig.body = SignableBody::Bytes(b"declared body");
    sig.time = SystemTime::now() + Duration::from_secs(1);
    let (signed_url, headers, _) = signed(sig, "PUT", &url, &[("host", &host)]);
    let (status, body) = send("PUT", &signed_url, headers, "tampered body").await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("X-Amz-Content-Sha256"), "{body}");
}

#[tokio::test]
async fn non_ascii_paths_under_both_path_rules() {
    let addr = start_demo().await;
    let host = addr.to_string();
    let url = format!("http://{addr}/objects/caf%C3%A9%20%E1%88%B4/a+b");
    // Generic: normalised and encoded again (the SDK's default).
    let (signed_url, headers, _) = signed(Sig::new("demo"), "GET", &url, &[("host", &host)]);
    let (status, body) = send("GET", &signed_url, headers, "").await;
    assert_eq!(status, 200, "generic: {body}");
    // S3: as sent.
    let mut sig = Sig::new("s3");
    sig.settings.percent_encoding_mode = PercentEncodingMode::Single;
    sig.settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    sig.settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    let (signed_url, headers, _) = signed(sig, "GET", &url, &[("host", &host)]);
    let (status, body) = send("GET", &signed_url, headers.clone(), "").await;
    assert_eq!(status, 200, "s3: {body}");
    // The S3-signed request under the generic rule's service: refused.
    let mut sig = Sig::new("demo");
    sig.settings.percent_encoding_mode = PercentEncodingMode::Single;
    sig.settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    let (signed_url, headers, _) = signed(sig, "GET", &url, &[("host", &host)]);
    let (status, body) = send("GET", &signed_url, headers, "").await;
    assert_eq!(status, 401, "single encoding for a generic service: {body}");
}

fn presign_settings(expires: u64) -> SigningSettings {
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(Duration::from_secs(expires));
    settings
}

#[tokio::test]
async fn presigned_urls_for_downloads_and_uploads() {
    let addr = start_demo().await;
    let host = addr.to_string();
    let mut sig = Sig::new("demo");
    sig.settings = presign_settings(300);
    sig.body = SignableBody::UnsignedPayload;
    let (url, _, _) = signed(
        sig,
        "GET",
        &format!("http://{addr}/whoami"),
        &[("host", &host)],
    );
    assert!(url.contains("X-Amz-Expires=300"), "{url}");
    let client = reqwest::Client::new();
    for _ in 0..2 {
        let res = client.get(&url).send().await.unwrap();
        assert_eq!(
            res.status(),
            200,
            "a presigned URL is a bearer link until it expires"
        );
    }
    // HEAD with the GET's URL: another method.
    let res = client.head(&url).send().await.unwrap();
    assert_eq!(res.status(), 401);

    // An upload.
    let mut sig = Sig::new("s3");
    sig.settings = presign_settings(60);
    sig.settings.percent_encoding_mode = PercentEncodingMode::Single;
    sig.body = SignableBody::UnsignedPayload;
    let (url, _, _) = signed(
        sig,
        "PUT",
        &format!("http://{addr}/echo"),
        &[("host", &host)],
    );
    let res = client.put(&url).body("uploaded").send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "uploaded");

    // Expired: signed two hours ago for one hour.
    let mut sig = Sig::new("demo");
    sig.settings = presign_settings(3600);
    sig.body = SignableBody::UnsignedPayload;
    sig.time = SystemTime::now() - Duration::from_secs(7200);
    let (url, _, _) = signed(
        sig,
        "GET",
        &format!("http://{addr}/whoami"),
        &[("host", &host)],
    );
    let res = client.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert!(res.text().await.unwrap().contains("expired"));

    // More than 7 days.
    let mut sig = Sig::new("demo");
    sig.settings = presign_settings(604_801);
    sig.body = SignableBody::UnsignedPayload;
    let (url, _, _) = signed(
        sig,
        "GET",
        &format!("http://{addr}/whoami"),
        &[("host", &host)],
    );
    let res = client.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert!(res.text().await.unwrap().contains("X-Amz-Expires"));
}

/// A streaming upload of `data` in chunks of `size`, each signed by `sign_chunk`; `corrupt`
/// flips a byte of that chunk after signing.
fn chunked_upload(
    addr: SocketAddr,
    data: &[u8],
    size: usize,
    corrupt: Option<usize>,
) -> (String, http::HeaderMap, Vec<u8>) {
    let host = addr.to_string();
    let decoded = data.len().to_string();
    let time = SystemTime::now();
    let mut sig = Sig::new("s3");
    sig.settings.percent_encoding_mode = PercentEncodingMode::Single;
    sig.body = SignableBody::Precomputed(STREAMING.into());
    sig.time = time;
    let headers = [
        ("host", host.as_str()),
        ("content-encoding", "aws-chunked"),
        ("x-amz-content-sha256", STREAMING),
        ("x-amz-decoded-content-length", decoded.as_str()),
    ];
    let (url, headers, seed) = signed(sig, "PUT", &format!("http://{addr}/echo"), &headers);

    let identity = credentials().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(demo_server::DEMO_SIGV4_REGION)
        .name("s3")
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .unwrap();
    let mut body = Vec::new();
    let mut previous = seed;
    let mut pieces: Vec<&[u8]> = data.chunks(size).collect();
    pieces.push(b"");
    for (i, piece) in pieces.into_iter().enumerate() {
        let chunk = Bytes::copy_from_slice(piece);
        let signature = v4::sign_chunk(&chunk, &previous, &params)
            .unwrap()
            .signature()
            .to_owned();
        body.extend_from_slice(
            format!("{:x};chunk-signature={signature}\r\n", piece.len()).as_bytes(),
        );
        let mut piece = piece.to_vec();
        if corrupt == Some(i) {
            piece[0] ^= 1;
        }
        body.extend_from_slice(&piece);
        body.extend_from_slice(b"\r\n");
        previous = signature;
    }
    (url, headers, body)
}

#[tokio::test]
async fn streaming_uploads_are_decoded_and_a_bad_chunk_fails_the_body() {
    let addr = start_demo().await;
    let data: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
    let (url, headers, body) = chunked_upload(addr, &data, 8192, None);
    let res = reqwest::Client::new()
        .put(&url)
        .headers(headers)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // The inner service read the decoded bytes.
    assert_eq!(res.bytes().await.unwrap(), data);

    tokio::time::sleep(Duration::from_millis(1000)).await;
    let (url, headers, body) = chunked_upload(addr, &data, 8192, Some(1));
    let res = reqwest::Client::new()
        .put(&url)
        .headers(headers)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let text = res.text().await.unwrap();
    assert!(text.contains("chunk 1"), "{text}");
}
