//! Heap allocations per request through the layer (issue 16's goal: none on the v1 accept path
//! after warm-up, at most two on the rejection path), counted by a counting global allocator:
//!
//! ```sh
//! cargo run --release -p tower-hmac-benches --bin alloc_count
//! ```
//!
//! Requests are signed before counting starts; the inner service answers an empty `200` (no
//! allocation of its own); one Tokio `block_on` runs each measured loop.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark program

use std::convert::Infallible;

use bytes::Bytes;
use http::{Method, Request, Response};
use http_body_util::Full;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_hmac::server::VerifiedBody;
use tower_hmac::test_util::sign_request;
use tower_hmac::{AllowedHosts, HmacAuthLayer, SecretKey};
use tower_hmac_benches::schemes::{Req, builder, scheme_layer, signed as signed_as};
use tower_hmac_benches::{KEY_ID, busy_store, registry, signed_request};

#[global_allocator]
static GLOBAL: &StatsAlloc<std::alloc::System> = &INSTRUMENTED_SYSTEM;

const HOST: &str = "api.example.com";
const COUNT: usize = 10_000;

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // A layer on a busy replay store (every shard has its table), fresh for each measured path,
    // so that a table rarely grows while it is counted (a growth adds ≈ 0.0001 per request).
    let fresh = || {
        let layer = HmacAuthLayer::builder(registry(), AllowedHosts::new([HOST]).unwrap())
            .nonce_store(busy_store(1_000_000))
            .build()
            .unwrap();
        ServiceBuilder::new()
            .layer(layer)
            .service(tower::service_fn(|_: Request<VerifiedBody>| async {
                Ok::<_, Infallible>(Response::new(Full::<Bytes>::default()))
            }))
    };
    let signed = |n: usize| -> Vec<Request<Full<Bytes>>> {
        (0..n)
            .map(|_| signed_request(Method::GET, HOST, "/", b"", |b| Full::new(Bytes::from(b))))
            .collect()
    };
    // Signed with another key: refused as invalid_signature after all the work.
    let wrong = |n: usize| -> Vec<Request<Full<Bytes>>> {
        let other = SecretKey::from_bytes(&[0x11; 32]).unwrap();
        let now = tower_hmac::store::unix_millis(std::time::SystemTime::now()) / 1000;
        (0..n)
            .map(|_| {
                let mut req = Request::get("/")
                    .header("host", HOST)
                    .body(Full::<Bytes>::default())
                    .unwrap();
                sign_request(&mut req, b"", KEY_ID, &other, now).unwrap();
                req
            })
            .collect()
    };
    let run = |service: &mut _, requests, expect| count(&rt, service, requests, expect);
    // Warm-up: the runtime, lazy statics, the layer's pools.
    let mut service = fresh();
    run(&mut service, signed(2_000), 200);
    run(&mut service, wrong(2_000), 401);
    let accepted = run(&mut service, signed(COUNT), 200);
    // A refusal records no nonce: the same layer.
    let rejected = run(&mut service, wrong(COUNT), 401);
    // As a server hands them on: hyper-util's and axum's requests carry extensions of their own
    // (the connection info, the matched path), so the identity joins an existing map.
    let mut service = fresh();
    run(&mut service, signed(2_000), 200);
    let with_extension = run(
        &mut service,
        signed(COUNT)
            .into_iter()
            .map(|mut req| {
                req.extensions_mut().insert(tower_hmac::server::PeerAddr(
                    "192.0.2.1:4711".parse().unwrap(),
                ));
                req
            })
            .collect(),
        200,
    );
    // A POST with a body: read (its frames), hashed and handed on to the inner service.
    let posts = |n: usize| -> Vec<Request<Full<Bytes>>> {
        (0..n)
            .map(|_| {
                signed_request(Method::POST, HOST, "/", &[b'x'; 64], |b| {
                    Full::new(Bytes::from(b))
                })
            })
            .collect()
    };
    let mut service = fresh();
    run(&mut service, posts(2_000), 200);
    let post = run(&mut service, posts(COUNT), 200);
    println!(
        "allocations per request: accepted {accepted:.2}, rejected (invalid_signature) {rejected:.2}, accepted with an extension already in the request {with_extension:.2}"
    );
    // One line per gated path (`scripts/perf-gate.py` reads them): v1's, then each scheme's
    // accept path on a layer of its own (a distinct signed `GET /orders?id=<n>` each).
    println!("allocations v1 {accepted:.2}");
    println!("allocations v1-reject {rejected:.2}");
    println!("allocations v1-extended {with_extension:.2}");
    println!("allocations v1-post {post:.2}");
    for scheme in [
        "v1-all-schemes",
        "softaware",
        "rfc9421",
        "sigv4-presigned",
        "kong",
        "apisix",
    ] {
        let layer = scheme_layer(scheme, builder(HOST, busy_store(1_000_000)));
        let mut svc = ServiceBuilder::new()
            .layer(layer)
            .service(tower::service_fn(|_: Request<VerifiedBody>| async {
                Ok::<_, Infallible>(Response::new(Full::<Bytes>::default()))
            }));
        // One batch of distinct requests (a copy within its second would be a replay for the
        // formats whose replay key is the signature): the first part warms the layer up.
        let mut requests = signed_as(scheme, HOST, 2_000 + SCHEME_COUNT);
        let measured = requests.split_off(2_000);
        count(&rt, &mut svc, requests, 200);
        let per_request = count(&rt, &mut svc, measured, 200);
        println!("allocations {scheme} {per_request:.2}");
    }
}

/// Requests per scheme in the per-scheme counts (signing some schemes' requests is slow).
const SCHEME_COUNT: usize = 2_000;

/// Sends every request; the allocations per request while doing so. Panics on another answer
/// than `expect`.
fn count<S, B>(
    rt: &tokio::runtime::Runtime,
    service: &mut S,
    requests: Vec<Req>,
    expect: u16,
) -> f64
where
    S: Service<Req, Response = Response<B>>,
    S::Error: std::fmt::Debug,
{
    let n = requests.len();
    let region = Region::new(GLOBAL);
    rt.block_on(async {
        for req in requests {
            let res = ServiceExt::<Req>::ready(&mut *service)
                .await
                .unwrap()
                .call(req)
                .await
                .unwrap();
            assert_eq!(res.status(), expect);
        }
    });
    region.change().allocations as f64 / n as f64
}
