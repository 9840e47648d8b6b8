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
use tower_hmac::protocol::OffsetClock;

use crate::support;

const STREAMING: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";

/// The demo, its clock a few seconds behind the system's (with which aws-sigv4 signs): every
/// request signed from now on is after its replay store's horizon, with no second to wait for.
async fn start_demo() -> SocketAddr {
    support::start_demo(OffsetClock::new(support::DEMO_BEHIND_SECS)).await
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
    // UNSIGNED-PAYLOAD (the demo allows it on its S3 routes): any body.
    let unsigned = || {
        let mut sig = Sig::new("s3");
        sig.settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        sig.body = SignableBody::UnsignedPayload;
        sig
    };
    let objects = format!("http://{addr}/objects/anything.bin");
    let (signed_url, headers, _) = signed(unsigned(), "PUT", &objects, &[("host", &host)]);
    assert_eq!(headers["x-amz-content-sha256"], "UNSIGNED-PAYLOAD");
    let (status, body) = send("PUT", &signed_url, headers, "anything").await;
    assert_eq!((status, body.as_str()), (200, "anything"));
    // Elsewhere a body must be signed.
    let (signed_url, headers, _) = signed(unsigned(), "PUT", &url, &[("host", &host)]);
    let (status, body) = send("PUT", &signed_url, headers, "anything").await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body.contains("UNSIGNED-PAYLOAD is not accepted here"),
        "{body}"
    );

    // A declared hash: the body must match it.
    let mut sig = Sig::new("s3");
    sig.settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    sig.body = SignableBody::Bytes(b"declared body");
    let first = sig.time;
    let (signed_url, headers, _) = signed(sig, "PUT", &url, &[("host", &host)]);
    let (status, body) = send("PUT", &signed_url, headers.clone(), "declared body").await;
    assert_eq!((status, body.as_str()), (200, "declared body"));
    // Signed a second later (another signature, so not a replay of the first), with another body.
    let mut sig = Sig::new("s3");
    sig.settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    sig.body = SignableBody::Bytes(b"declared body");
    sig.time = first + Duration::from_secs(1);
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

impl Sig<'_> {
    /// A presigned URL for `service`, valid `expires` seconds, `UNSIGNED-PAYLOAD` (as the SDKs'
    /// presigners make them).
    fn presigned(service: &str, expires: u64) -> Sig<'_> {
        let mut sig = Sig::new(service);
        sig.settings.signature_location = SignatureLocation::QueryParams;
        sig.settings.expires_in = Some(Duration::from_secs(expires));
        sig.body = SignableBody::UnsignedPayload;
        sig
    }
}

#[tokio::test]
async fn presigned_urls_for_downloads_and_uploads() {
    let addr = start_demo().await;
    let host = addr.to_string();
    let sig = Sig::presigned("demo", 300);
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

    // An upload, to an S3 route (the demo's only paths where a body may go unsigned).
    let upload = || {
        let mut sig = Sig::presigned("s3", 60);
        sig.settings.percent_encoding_mode = PercentEncodingMode::Single;
        sig
    };
    let (url, _, _) = signed(
        upload(),
        "PUT",
        &format!("http://{addr}/objects/uploaded.txt"),
        &[("host", &host)],
    );
    let res = client.put(&url).body("uploaded").send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "uploaded");
    // The same elsewhere: its body is not signed, so it is refused.
    let (url, _, _) = signed(
        upload(),
        "PUT",
        &format!("http://{addr}/echo"),
        &[("host", &host)],
    );
    let res = client.put(&url).body("uploaded").send().await.unwrap();
    assert_eq!(res.status(), 401);

    // Expired: signed two hours ago for one hour.
    let mut sig = Sig::presigned("demo", 3600);
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
    let sig = Sig::presigned("demo", 604_801);
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

/// A streaming upload of `data` in chunks of `size`, signed at `time`, each chunk signed by
/// `sign_chunk`; `corrupt` flips a byte of that chunk after signing.
fn chunked_upload(
    host: &str,
    path: &str,
    data: &[u8],
    size: usize,
    corrupt: Option<usize>,
    time: SystemTime,
) -> (String, http::HeaderMap, Vec<u8>) {
    let decoded = data.len().to_string();
    let mut sig = Sig::new("s3");
    sig.settings.percent_encoding_mode = PercentEncodingMode::Single;
    sig.body = SignableBody::Precomputed(STREAMING.into());
    sig.time = time;
    let headers = [
        ("host", host),
        ("content-encoding", "aws-chunked"),
        ("x-amz-content-sha256", STREAMING),
        ("x-amz-decoded-content-length", decoded.as_str()),
    ];
    let (url, headers, seed) = signed(sig, "PUT", &format!("http://{host}{path}"), &headers);

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
    let time = SystemTime::now();
    let (url, headers, body) = chunked_upload(&addr.to_string(), "/echo", &data, 8192, None, time);
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

    // Signed a second later: another seed signature, so not a replay of the first upload.
    let later = time + Duration::from_secs(1);
    let (url, headers, body) =
        chunked_upload(&addr.to_string(), "/echo", &data, 8192, Some(1), later);
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

/// `tower-hmac presign`'s URLs (`presign_url`) carry the signature AWS's own presigner computes
/// for the same request, time and scope.
#[test]
fn presign_url_matches_the_aws_sigv4_presigner() {
    use tower_hmac::protocol::sigv4::{PathRule, PresignParams, presign_url};
    let key = tower_hmac::SecretKey::from_base64(demo_server::demo_secret_base64()).unwrap();
    let time = 1_764_000_000;
    for (method, url, service, rule) in [
        (
            "GET",
            "https://files.example.com/whoami",
            "demo",
            PathRule::Generic,
        ),
        (
            "GET",
            "https://files.example.com/a/./b//c%20d?z=1&a=%E1%88%B4",
            "demo",
            PathRule::Generic,
        ),
        (
            "PUT",
            "https://files.example.com/bucket/caf%C3%A9%20v2.txt",
            "s3",
            PathRule::S3,
        ),
        (
            "HEAD",
            "http://127.0.0.1:8080/objects/x?versionId=3",
            "s3",
            PathRule::S3,
        ),
    ] {
        let ours = presign_url(
            &method.parse().unwrap(),
            &url.parse().unwrap(),
            demo_server::DEMO_KEY_ID,
            &key,
            &PresignParams {
                region: "us-east-1",
                service,
                rule,
                time,
                expires: 900,
            },
        )
        .unwrap();
        let mut sig = Sig::presigned(service, 900);
        if rule == PathRule::S3 {
            sig.settings.percent_encoding_mode = PercentEncodingMode::Single;
            sig.settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        }
        sig.time = SystemTime::UNIX_EPOCH + Duration::from_secs(time);
        let host = url.split('/').nth(2).unwrap();
        let (theirs, _, _) = signed(sig, method, url, &[("host", host)]);
        let signature = |u: &str| u.rsplit_once("X-Amz-Signature=").unwrap().1.to_owned();
        assert_eq!(
            signature(&ours),
            signature(&theirs),
            "{method} {url}\n{ours}\n{theirs}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The scheme's settings through the layer, in memory (`oneshot`), requests signed by aws-sigv4.

mod layer {
    use super::*;
    use axum::Router;
    use axum::routing::{get, put};
    use http::{HeaderMap, Request};
    use tower::ServiceExt as _;
    use tower_hmac::protocol::sigv4::SigV4;
    use tower_hmac::server::S3XmlResponder;
    use tower_hmac::{
        AllowedHosts, Authenticated, HmacAuthBuilder, HmacAuthLayer, MemoryNonceStore,
    };

    const HOST: &str = "api.test";

    /// `GET /x` answers the scheme; `PUT /up` answers the body, its `Content-Length` and
    /// `Content-Encoding`.
    fn app(sigv4: SigV4, configure: impl FnOnce(HmacAuthBuilder) -> HmacAuthBuilder) -> Router {
        let builder = HmacAuthLayer::builder(
            demo_server::demo_registry().unwrap(),
            AllowedHosts::new([HOST]).unwrap(),
        )
        // Remembering from the epoch: requests signed before this test started are not
        // "before the store's memory".
        .nonce_store(
            MemoryNonceStore::new(10_000)
                .unwrap()
                .with_horizon(SystemTime::UNIX_EPOCH),
        )
        .with_scheme(sigv4);
        let layer = configure(builder).build().unwrap();
        Router::new()
            .route(
                "/x",
                get(|auth: Authenticated| async move { auth.scheme().to_owned() }),
            )
            .route(
                "/up",
                put(|headers: HeaderMap, body: Bytes| async move {
                    let header = |n: &str| {
                        headers
                            .get(n)
                            .map_or("-".to_owned(), |v| v.to_str().unwrap().to_owned())
                    };
                    format!(
                        "{} {} {}",
                        header("content-length"),
                        header("content-encoding"),
                        String::from_utf8_lossy(&body)
                    )
                }),
            )
            .layer(layer)
    }

    fn sigv4() -> SigV4 {
        SigV4::new("us-east-1", "demo").s3_service("s3")
    }

    async fn call(
        app: &Router,
        method: &str,
        url: &str,
        headers: HeaderMap,
        body: Vec<u8>,
    ) -> (u16, String) {
        let mut request = Request::builder().method(method).uri(url);
        *request.headers_mut().unwrap() = headers;
        let res = app
            .clone()
            .oneshot(request.body(axum::body::Body::from(body)).unwrap())
            .await
            .unwrap();
        let status = res.status().as_u16();
        let body = axum::body::to_bytes(res.into_body(), 4 << 20)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    fn get_x(sig: Sig<'_>) -> (String, HeaderMap) {
        let (url, headers, _) = signed(sig, "GET", "http://api.test/x", &[("host", HOST)]);
        (url, headers)
    }

    #[tokio::test]
    async fn s3_xml_errors_carry_the_string_to_sign_only_with_clear_diagnostics() {
        use tower_hmac::Diagnostics;
        // Keyed by default (the red team recovered a proxy's header from the canonical request's
        // hash); in clear only when the operator says so, for development.
        for (diagnostics, clear) in [
            (Diagnostics::Clear, true),
            (Diagnostics::Keyed, false),
            (Diagnostics::Off, false),
        ] {
            let app = app(sigv4(), |b| {
                b.responder(S3XmlResponder).diagnostics(diagnostics)
            });
            let (url, headers) = get_x(Sig::new("demo"));
            // The GET's signature on a PUT.
            let (status, body) =
                call(&app, "PUT", &url.replace("/x", "/up"), headers, vec![]).await;
            assert_eq!(status, 403, "{body}");
            assert!(
                body.contains("<Code>SignatureDoesNotMatch</Code>"),
                "{body}"
            );
            assert_eq!(
                body.contains("<StringToSign>AWS4-HMAC-SHA256\n"),
                clear,
                "{body}"
            );
            assert_eq!(
                body.contains("<CanonicalRequest>PUT\n/up\n"),
                clear,
                "{body}"
            );
        }
        // The default responder and settings: problem+json with keyed digests of the canonical
        // request's lines, no string to sign.
        let app = app(sigv4(), |b| b);
        let (url, headers) = get_x(Sig::new("demo"));
        let (status, body) = call(&app, "PUT", &url.replace("/x", "/up"), headers, vec![]).await;
        assert_eq!(status, 401);
        let problem = tower_hmac::protocol::Problem::from_json(&body).unwrap();
        assert_eq!(problem.string_to_sign(), None, "{body}");
        assert!(
            problem.line_digests().is_some_and(|d| d.len() > 3),
            "{body}"
        );
    }

    #[tokio::test]
    async fn presigned_urls_can_be_made_one_time() {
        let app = app(
            sigv4().presigned_url_use(tower_hmac::protocol::sigv4::PresignedUrlUse::OneTime),
            |b| b,
        );
        let sig = Sig::presigned("demo", 60);
        let (url, headers) = get_x(sig);
        let (status, body) = call(&app, "GET", &url, headers.clone(), vec![]).await;
        assert_eq!((status, body.as_str()), (200, "sigv4"));
        let (status, body) = call(&app, "GET", &url, headers, vec![]).await;
        assert_eq!(status, 401);
        assert!(body.contains("replayed_nonce"), "{body}");
    }

    #[tokio::test]
    async fn presigned_urls_only_for_downloads_and_uploads_by_default() {
        let sig = Sig::presigned("demo", 60);
        let (url, headers, _) = signed(sig, "DELETE", "http://api.test/x", &[("host", HOST)]);
        let strict = app(sigv4(), |b| b);
        let (status, body) = call(&strict, "DELETE", &url, headers.clone(), vec![]).await;
        assert_eq!(status, 401);
        assert!(body.contains("not accepted for this method"), "{body}");
        // Allowed knowingly: past the layer (the route has no DELETE: 405, not 401).
        let lenient = app(
            sigv4().presigned_methods([http::Method::GET, http::Method::DELETE]),
            |b| b,
        );
        let (status, body) = call(&lenient, "DELETE", &url, headers, vec![]).await;
        assert_eq!(status, 405, "{body}");
    }

    #[tokio::test]
    async fn the_header_forms_replay_guard_can_be_turned_off() {
        let (url, headers) = get_x(Sig::new("demo"));
        let guarded = app(sigv4(), |b| b);
        assert_eq!(
            call(&guarded, "GET", &url, headers.clone(), vec![]).await.0,
            200
        );
        assert_eq!(
            call(&guarded, "GET", &url, headers.clone(), vec![]).await.0,
            401
        );
        let open = app(
            sigv4().replay_guard(tower_hmac::protocol::sigv4::ReplayGuard::Off),
            |b| b,
        );
        for _ in 0..2 {
            assert_eq!(
                call(&open, "GET", &url, headers.clone(), vec![]).await.0,
                200
            );
        }
    }

    #[tokio::test]
    async fn unsigned_payloads_and_session_tokens_only_when_allowed() {
        let mut sig = Sig::new("s3");
        sig.settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        sig.settings.percent_encoding_mode = PercentEncodingMode::Single;
        sig.body = SignableBody::UnsignedPayload;
        let (url, headers, _) = signed(sig, "PUT", "http://api.test/up", &[("host", HOST)]);
        let strict = app(sigv4(), |b| b);
        let (status, body) = call(&strict, "PUT", &url, headers.clone(), b"x".to_vec()).await;
        assert_eq!(status, 401);
        assert!(body.contains("UNSIGNED-PAYLOAD"), "{body}");
        let lenient = app(
            sigv4().unsigned_payload(tower_hmac::protocol::sigv4::UnsignedPayload::Anywhere),
            |b| b,
        );
        let (status, body) = call(&lenient, "PUT", &url, headers, b"x".to_vec()).await;
        assert_eq!((status, body.as_str()), (200, "- - x"));

        // Temporary credentials: X-Amz-Security-Token, signed.
        let identity = Credentials::new(
            demo_server::DEMO_KEY_ID,
            demo_server::demo_secret_base64(),
            Some("session-token-from-sts".into()),
            None,
            "test",
        )
        .into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("demo")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let signable = SignableRequest::new(
            "GET",
            "http://api.test/x",
            [("host", HOST)].into_iter(),
            SignableBody::Bytes(b""),
        )
        .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        let mut request = http::Request::get("http://api.test/x")
            .header("host", HOST)
            .body(())
            .unwrap();
        instructions.apply_to_request_http1x(&mut request);
        assert!(request.headers().contains_key("x-amz-security-token"));
        let headers = request.headers().clone();
        let (status, body) =
            call(&strict, "GET", "http://api.test/x", headers.clone(), vec![]).await;
        assert_eq!(status, 401);
        assert!(body.contains("Security-Token"), "{body}");
        let tokens = app(
            sigv4().security_token(tower_hmac::protocol::sigv4::SecurityToken::Accepted),
            |b| b,
        );
        let (status, body) = call(&tokens, "GET", "http://api.test/x", headers, vec![]).await;
        assert_eq!((status, body.as_str()), (200, "sigv4"));
    }

    #[tokio::test]
    async fn the_window_is_sigv4s_fifteen_minutes() {
        // The layer's own window stays 300 s (for v1); SigV4's is 900 s.
        let app = app(sigv4(), |b| b);
        for (age, expected) in [(600, 200), (960, 401)] {
            let mut sig = Sig::new("demo");
            sig.time = SystemTime::now() - Duration::from_secs(age);
            let (url, headers) = get_x(sig);
            let (status, body) = call(&app, "GET", &url, headers, vec![]).await;
            assert_eq!(status, expected, "{age} s old: {body}");
            if expected == 401 {
                assert!(body.contains("stale_timestamp"), "{body}");
            }
        }
        let narrow = super::layer::app(sigv4().window(Duration::from_secs(60)), |b| b);
        let mut sig = Sig::new("demo");
        sig.time = SystemTime::now() - Duration::from_secs(120);
        let (url, headers) = get_x(sig);
        assert_eq!(call(&narrow, "GET", &url, headers, vec![]).await.0, 401);
    }

    #[tokio::test]
    async fn a_date_header_stands_in_for_x_amz_date() {
        // Signed by hand, the canonical request spelled out (no SDK signs with `Date`).
        use tower_hmac::protocol::Clock as _;
        use tower_hmac::protocol::sigv4::{derive_signing_key, format_amz_date};
        let now = tower_hmac::protocol::SystemClock.unix_seconds();
        let amz = format_amz_date(now);
        let http_date = httpdate::fmt_http_date(SystemTime::UNIX_EPOCH + Duration::from_secs(now));
        let scope = format!("{}/us-east-1/demo/aws4_request", &amz[..8]);
        let creq = format!(
            "GET\n/x\n\ndate:{http_date}\nhost:{HOST}\n\ndate;host\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let sts = format!(
            "AWS4-HMAC-SHA256\n{amz}\n{scope}\n{}",
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(creq.as_bytes()))
        );
        let key = derive_signing_key(demo_server::demo_secret_base64(), &scope);
        let mut mac =
            <hmac::Hmac<sha2::Sha256> as hmac::KeyInit>::new_from_slice(&key[..]).unwrap();
        hmac::Mac::update(&mut mac, sts.as_bytes());
        let signature = hex::encode(hmac::Mac::finalize(mac).into_bytes());
        let mut headers = HeaderMap::new();
        headers.insert("host", HOST.parse().unwrap());
        headers.insert("date", http_date.parse().unwrap());
        headers.insert(
            "authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders=date;host, Signature={signature}",
                demo_server::DEMO_KEY_ID
            )
            .parse()
            .unwrap(),
        );
        let app = app(sigv4(), |b| b);
        let (status, body) = call(&app, "GET", "http://api.test/x", headers, vec![]).await;
        assert_eq!((status, body.as_str()), (200, "sigv4"));
    }

    #[tokio::test]
    async fn a_streaming_upload_reaches_the_inner_service_decoded() {
        let app = app(sigv4(), |b| b.body_limit(64 * 1024));
        let data = vec![b'z'; 10_000];
        let (url, headers, body) =
            chunked_upload(HOST, "/up", &data, 4096, None, SystemTime::now());
        assert_eq!(headers["content-encoding"], "aws-chunked");
        let (status, answer) = call(&app, "PUT", &url, headers, body).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer, format!("10000 - {}", "z".repeat(10_000)));
        // The limit counts the bytes read (chunk headers included).
        let small = super::layer::app(sigv4(), |b| b.body_limit(10_100));
        let (url, headers, body) =
            chunked_upload(HOST, "/up", &data, 4096, None, SystemTime::now());
        let (status, answer) = call(&small, "PUT", &url, headers, body).await;
        assert_eq!(status, 413, "{answer}");
    }

    /// 2 MiB, in the AWS SDKs' 64 KiB chunks, each signed by aws-sigv4's `sign_chunk`.
    fn two_mib() -> Vec<u8> {
        (0..2 * 1024 * 1024u32)
            .map(|i| b'a' + (i % 26) as u8)
            .collect()
    }

    #[tokio::test]
    async fn a_two_mib_streaming_upload_needs_only_the_streaming_limit() {
        let data = two_mib();
        let time = SystemTime::now();
        // The defaults: the whole body within the 1 MiB body limit, S3's EntityTooLarge.
        let defaults = app(sigv4(), |b| b.responder(S3XmlResponder));
        let (url, headers, body) = chunked_upload(HOST, "/up", &data, 64 * 1024, None, time);
        let (status, answer) = call(&defaults, "PUT", &url, headers, body).await;
        assert_eq!(status, 400, "{answer}");
        assert!(answer.contains("<Code>EntityTooLarge</Code>"), "{answer}");

        // With a streaming limit: each chunk within the body limit, the whole within 4 MiB.
        let streaming = app(sigv4(), |b| b.streaming_body_limit(4 << 20));
        let later = time + Duration::from_secs(1);
        let (url, headers, body) = chunked_upload(HOST, "/up", &data, 64 * 1024, None, later);
        assert!(body.len() > 2 << 20);
        let (status, answer) = call(&streaming, "PUT", &url, headers, body).await;
        assert_eq!(status, 200, "{}", &answer[..answer.len().min(300)]);
        let prefix = format!("{} - ", data.len());
        assert!(answer.starts_with(&prefix));
        assert_eq!(&answer.as_bytes()[prefix.len()..], &data[..]);

        // A body the layer hashes whole still has the body limit.
        let mut sig = Sig::new("s3");
        sig.settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        sig.body = SignableBody::Bytes(&data);
        let (url, headers, _) = signed(sig, "PUT", "http://api.test/up", &[("host", HOST)]);
        let (status, answer) = call(&streaming, "PUT", &url, headers, data.clone()).await;
        assert_eq!(status, 413, "{answer}");
    }

    #[tokio::test]
    async fn a_streaming_chunk_over_the_body_limit_is_entity_too_large() {
        let data = two_mib();
        let app = app(sigv4(), |b| {
            b.body_limit(64 * 1024)
                .streaming_body_limit(4 << 20)
                .responder(S3XmlResponder)
        });
        // 128 KiB chunks: the first is refused on its header.
        let (url, headers, body) =
            chunked_upload(HOST, "/up", &data, 128 * 1024, None, SystemTime::now());
        let (status, answer) = call(&app, "PUT", &url, headers, body).await;
        assert_eq!(status, 400, "{answer}");
        assert!(answer.contains("<Code>EntityTooLarge</Code>"), "{answer}");
        assert!(answer.contains("chunk 0 declares 131072 bytes"), "{answer}");
        assert!(answer.contains("<TowerHmacCode>body_too_large"), "{answer}");
    }
}
