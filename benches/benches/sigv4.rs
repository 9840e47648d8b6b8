//! AWS SigV4: verifying a signed GET (head + empty body) next to AWS's own `aws-sigv4` crate
//! signing the same request, in the same run. The goal (issue 12): verifying costs less than
//! signing.
//!
//! - `aws-sigv4 sign`: `aws_sigv4::http_request::sign` of the GET (what every Rust SDK call does).
//! - `scheme verify`: `SigV4` parse → prepare (signing key from the cache) → verify, no I/O.
//! - `layer verify`: the whole layer (`HmacAuthLayer::verify`: key lookup, host, time, the MAC,
//!   the replay store), each request signed for its own query so that none is a replay.
//!
//! And the streaming upload (issue 16: chunks verified at ≥ 90 % of SHA-256's speed): a 1 MiB
//! `aws-chunked` PUT in 64 KiB chunks signed by `aws-sigv4`'s `sign_chunk`, through the layer into
//! a handler that reads the decoded body frame by frame, next to SHA-256 over the same MiB
//! (criterion reports both as bytes a second).

#![allow(missing_docs)] // criterion_group! makes undocumented functions
#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark set-up

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PercentEncodingMode, SignableBody, SignableRequest, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use axum::body::Body;
use criterion::{BatchSize, Criterion, Throughput, black_box, criterion_group, criterion_main};
use http::Request;
use tower::ServiceExt;
use tower_hmac::protocol::Scheme;
use tower_hmac::protocol::sigv4::SigV4;
use tower_hmac::server::Schemes;
use tower_hmac::{AllowedHosts, HmacAuthLayer};
use tower_hmac_benches::{KEY_ID, key, registry, store_started_earlier};

const HOST: &str = "api.example.com";

/// A GET of `target` signed now by aws-sigv4 with the bench key (as its secret access key).
fn signed(identity: &Identity, target: &str) -> Request<()> {
    let url = format!("https://{HOST}{target}");
    let params = v4::SigningParams::builder()
        .identity(identity)
        .region("us-east-1")
        .name("bench")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let signable = SignableRequest::new(
        "GET",
        &url,
        [("host", HOST)].into_iter(),
        SignableBody::Bytes(b""),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut request = Request::get(target).header("host", HOST).body(()).unwrap();
    instructions.apply_to_request_http1x(&mut request);
    request
}

const STREAMING: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";

/// A streaming PUT of `data` in chunks of `size`, each chunk signed by `aws-sigv4`.
fn chunked_upload(identity: &Identity, data: &[u8], size: usize, n: u64) -> Request<Body> {
    let target = format!("/bucket/object-{n}");
    let url = format!("https://{HOST}{target}");
    let decoded = data.len().to_string();
    let time = SystemTime::now();
    let mut settings = SigningSettings::default();
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    let params: aws_sigv4::http_request::SigningParams<'_> = v4::SigningParams::builder()
        .identity(identity)
        .region("us-east-1")
        .name("s3")
        .time(time)
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let headers = [
        ("host", HOST),
        ("content-encoding", "aws-chunked"),
        ("x-amz-content-sha256", STREAMING),
        ("x-amz-decoded-content-length", decoded.as_str()),
    ];
    let signable = SignableRequest::new(
        "PUT",
        &url,
        headers.into_iter(),
        SignableBody::Precomputed(STREAMING.into()),
    )
    .unwrap();
    let (instructions, seed) = sign(signable, &params).unwrap().into_parts();
    let chunk_params = v4::SigningParams::builder()
        .identity(identity)
        .region("us-east-1")
        .name("s3")
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .unwrap();
    let mut body = Vec::with_capacity(data.len() + 4096);
    let mut previous = seed;
    let mut pieces: Vec<&[u8]> = data.chunks(size).collect();
    pieces.push(b"");
    for piece in pieces {
        let chunk = bytes::Bytes::copy_from_slice(piece);
        let signature = v4::sign_chunk(&chunk, &previous, &chunk_params)
            .unwrap()
            .signature()
            .to_owned();
        body.extend_from_slice(
            format!("{:x};chunk-signature={signature}\r\n", piece.len()).as_bytes(),
        );
        body.extend_from_slice(piece);
        body.extend_from_slice(b"\r\n");
        previous = signature;
    }
    let mut request = Request::put(&target);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let mut request = request.body(Body::from(body)).unwrap();
    instructions.apply_to_request_http1x(&mut request);
    request
}

fn streaming(c: &mut Criterion) {
    let identity = Credentials::new(KEY_ID, key().text_form().as_str(), None, None, "bench").into();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let layer = HmacAuthLayer::builder(registry(), AllowedHosts::new([HOST]).unwrap())
        .nonce_store(store_started_earlier(20_000_000))
        .body_limit(4 * 1024 * 1024)
        .schemes(Schemes::only(SigV4::new("us-east-1", "s3")))
        .build()
        .unwrap();
    let app = axum::Router::new()
        .route(
            "/bucket/{object}",
            // Reads the decoded body frame by frame, without gathering it into one buffer (a copy
            // that is the handler's, not the verification's).
            axum::routing::put(|body: Body| async move {
                use http_body_util::BodyExt;
                let mut body = body;
                let mut len = 0;
                while let Some(frame) = body.frame().await {
                    len += frame.unwrap().data_ref().map_or(0, |d| d.len());
                }
                len.to_string()
            }),
        )
        .layer(layer);
    let data = vec![0x61u8; 1024 * 1024];
    let mut g = c.benchmark_group("sigv4 streaming 1 MiB");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("SHA-256", |b| {
        b.iter(|| tower_hmac::protocol::body_sha256(black_box(&data)))
    });
    let mut n = 0u64;
    g.bench_function("aws-chunked 64 KiB chunks through the layer", |b| {
        b.iter_batched(
            || {
                n += 1;
                chunked_upload(&identity, &data, 64 * 1024, n)
            },
            |req| {
                let res = rt.block_on(app.clone().oneshot(req)).unwrap();
                assert_eq!(res.status(), 200);
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

fn bench(c: &mut Criterion) {
    let identity = Credentials::new(KEY_ID, key().text_form().as_str(), None, None, "bench").into();
    let scheme = SigV4::new("us-east-1", "bench");
    let secret = key();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let layer = HmacAuthLayer::builder(registry(), AllowedHosts::new([HOST]).unwrap())
        .nonce_store(store_started_earlier(20_000_000))
        .schemes(Schemes::only(SigV4::new("us-east-1", "bench")))
        .build()
        .unwrap();

    let mut g = c.benchmark_group("sigv4");
    g.bench_function("aws-sigv4 sign", |b| {
        b.iter(|| black_box(signed(&identity, "/orders?id=7")))
    });
    let (parts, ()) = signed(&identity, "/orders?id=7").into_parts();
    g.bench_function("scheme verify", |b| {
        b.iter(|| {
            let creds = scheme.parse(black_box(&parts), 8192).unwrap();
            let mut pending = scheme.prepare(&creds, &parts, &secret).unwrap();
            scheme
                .decode(&mut pending, bytes::Bytes::new(), &mut |_| {})
                .unwrap();
            scheme.verify(&creds, pending, &secret).unwrap();
        })
    });
    g.bench_function("scheme parse", |b| {
        b.iter(|| scheme.parse(black_box(&parts), 8192).unwrap())
    });
    let creds = scheme.parse(&parts, 8192).unwrap();
    g.bench_function("scheme prepare", |b| {
        b.iter(|| scheme.prepare(black_box(&creds), &parts, &secret).unwrap())
    });
    let mut n = 0u64;
    g.bench_function("layer verify", |b| {
        b.iter_batched(
            || {
                n += 1;
                signed(&identity, &format!("/orders?id={n}")).map(|()| Body::empty())
            },
            |req| assert!(rt.block_on(layer.verify(req)).is_ok()),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench, streaming);
criterion_main!(benches);
