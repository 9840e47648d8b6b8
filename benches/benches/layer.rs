//! A request through an Axum router in memory (`oneshot`), bare and behind the layer, in the same
//! run: the ratio is the layer's cost without the network. The replay store holds 1M live nonces.

#![allow(missing_docs)] // criterion_group! makes undocumented functions
#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark set-up

use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::routing::{get, post};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use http::{Method, Request};
use tower::ServiceExt;
use tower_hmac::{AllowedHosts, HmacAuthLayer};
use tower_hmac_benches::{prefill, registry, signed_request, store_started_earlier};

const HOST: &str = "api.example.com";

fn app() -> Router {
    Router::new().route("/", get(|| async { "hello" })).route(
        "/upload",
        post(|body: Bytes| async move { body.len().to_string() }),
    )
}

fn layer(rt: &tokio::runtime::Runtime) -> HmacAuthLayer {
    let store = store_started_earlier(4_000_000);
    rt.block_on(prefill(&store, 1_000_000, Duration::from_secs(600)));
    HmacAuthLayer::builder(registry(), AllowedHosts::new([HOST]).unwrap())
        .nonce_store(store)
        .build()
        .unwrap()
}

fn plain(method: Method, target: &str, body: &[u8]) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(target)
        .header(http::header::HOST, HOST)
        .body(Body::from(body.to_vec()))
        .unwrap()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let bare = app();
    let signed = app().layer(layer(&rt));
    #[allow(deprecated)]
    let bearer = app()
        .layer(tower_http::validate_request::ValidateRequestHeaderLayer::bearer("secret-token"));

    let mut g = c.benchmark_group("router oneshot");
    g.bench_function("GET bare", |b| {
        b.iter_batched(
            || plain(Method::GET, "/", b""),
            |req| rt.block_on(bare.clone().oneshot(req)),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("GET tower-http bearer", |b| {
        b.iter_batched(
            || {
                let mut req = plain(Method::GET, "/", b"");
                req.headers_mut().insert(
                    http::header::AUTHORIZATION,
                    "Bearer secret-token".parse().unwrap(),
                );
                req
            },
            |req| rt.block_on(bearer.clone().oneshot(req)),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("GET tower-hmac (1M live nonces)", |b| {
        b.iter_batched(
            || signed_request(Method::GET, HOST, "/", b"", Body::from),
            |req| {
                let res = rt.block_on(signed.clone().oneshot(req)).unwrap();
                assert_eq!(res.status(), 200);
            },
            BatchSize::SmallInput,
        )
    });
    let body = vec![0x61u8; 64 * 1024];
    // Issue 16's bodies goal: the layer's POST ≤ 1.05 × (this + bare's POST), in the same run.
    g.bench_function("SHA-256 of 64 KiB", |b| {
        b.iter(|| tower_hmac::protocol::body_sha256(criterion::black_box(&body)))
    });
    // The same over a buffer built just before, as a request's body is.
    g.bench_function("SHA-256 of a fresh 64 KiB", |b| {
        b.iter_batched(
            || body.to_vec(),
            |fresh| tower_hmac::protocol::body_sha256(&fresh),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("POST 64 KiB bare", |b| {
        b.iter_batched(
            || plain(Method::POST, "/upload", &body),
            |req| rt.block_on(bare.clone().oneshot(req)),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("POST 64 KiB tower-hmac", |b| {
        b.iter_batched(
            || signed_request(Method::POST, HOST, "/upload", &body, Body::from),
            |req| {
                let res = rt.block_on(signed.clone().oneshot(req)).unwrap();
                assert_eq!(res.status(), 200);
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
