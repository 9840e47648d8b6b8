//! What enabling more schemes costs a protocol v1 request: the same signed GET verified by a
//! v1-only layer and by a layer with v1 and four other schemes enabled, in the same run
//! (`HmacAuthLayer::verify`, no router). The goal (issue 11): at most 50 ns more.

#![allow(missing_docs)] // criterion_group! makes undocumented functions
#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark set-up

use axum::body::Body;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use http::Method;
use tower_hmac::{AllowedHosts, HmacAuthLayer};
use tower_hmac_benches::{UNUSED, registry, signed_request, store_started_earlier};

const HOST: &str = "api.example.com";

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let hosts = || AllowedHosts::new([HOST]).unwrap();
    let v1_only = HmacAuthLayer::builder(registry(), hosts())
        .nonce_store(store_started_earlier(20_000_000))
        .build()
        .unwrap();
    let [a, b, c2, d] = UNUSED;
    let five = HmacAuthLayer::builder(registry(), hosts())
        .nonce_store(store_started_earlier(20_000_000))
        .with_scheme(a)
        .with_scheme(b)
        .with_scheme(c2)
        .with_scheme(d)
        .build()
        .unwrap();

    let mut g = c.benchmark_group("schemes");
    g.bench_function("GET v1-only layer", |bench| {
        bench.iter_batched(
            || signed_request(Method::GET, HOST, "/", b"", Body::from),
            |req| {
                if let Err(e) = rt.block_on(v1_only.verify(req)) {
                    panic!("{e:?}")
                }
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("GET v1 + 4 schemes layer", |bench| {
        bench.iter_batched(
            || signed_request(Method::GET, HOST, "/", b"", Body::from),
            |req| assert!(rt.block_on(five.verify(req)).is_ok()),
            BatchSize::SmallInput,
        )
    });
    // Again, after: the machine drifts during a run; the two v1-only figures bracket the other.
    g.bench_function("GET v1-only layer, again", |bench| {
        bench.iter_batched(
            || signed_request(Method::GET, HOST, "/", b"", Body::from),
            |req| assert!(rt.block_on(v1_only.verify(req)).is_ok()),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
