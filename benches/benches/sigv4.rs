//! AWS SigV4: verifying a signed GET (head + empty body) next to AWS's own `aws-sigv4` crate
//! signing the same request, in the same run. The goal (issue 12): verifying costs less than
//! signing.
//!
//! - `aws-sigv4 sign`: `aws_sigv4::http_request::sign` of the GET (what every Rust SDK call does).
//! - `scheme verify`: `SigV4` parse → prepare (signing key from the cache) → verify, no I/O.
//! - `layer verify`: the whole layer (`HmacAuthLayer::verify`: key lookup, host, time, the MAC,
//!   the replay store), each request signed for its own query so that none is a replay.

#![allow(missing_docs)] // criterion_group! makes undocumented functions
#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark set-up

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use axum::body::Body;
use criterion::{BatchSize, Criterion, black_box, criterion_group, criterion_main};
use http::Request;
use tower_hmac::protocol::Scheme;
use tower_hmac::protocol::sigv4::SigV4;
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
        .schemes((SigV4::new("us-east-1", "bench"),))
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
            let _ = scheme.decode(&mut pending, bytes::Bytes::new()).unwrap();
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

criterion_group!(benches, bench);
criterion_main!(benches);
