//! Instruction counts for what enabling more schemes costs a protocol v1 request, for callgrind
//! (repeatable on a noisy machine):
//!
//! ```sh
//! cargo build --release -p tower-hmac-benches --bin scheme_cost
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/scheme_cost v1 20000
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/scheme_cost five 20000
//! ```
//!
//! Both runs sign and verify the same number of requests; the difference of the two totals over
//! the count is the cost per request of the four extra schemes.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark program

use axum::body::Body;
use http::Method;
use tower_hmac::{AllowedHosts, HmacAuthLayer};
use tower_hmac_benches::{UNUSED, registry, signed_request, store_started_earlier};

fn main() {
    let mut args = std::env::args().skip(1);
    let kind = args.next().unwrap_or_else(|| "v1".into());
    let count: usize = args.next().map_or(20_000, |n| n.parse().unwrap());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let hosts = || AllowedHosts::new(["api.example.com"]).unwrap();
    let requests: Vec<_> = (0..count)
        .map(|_| signed_request(Method::GET, "api.example.com", "/", b"", Body::from))
        .collect();
    let builder = || {
        HmacAuthLayer::builder(registry(), hosts()).nonce_store(store_started_earlier(1_000_000))
    };
    let accepted = match kind.as_str() {
        "v1" => verify_all(&rt, builder().build().unwrap(), requests),
        "five" => {
            let [a, b, c, d] = UNUSED;
            let layer = builder()
                .with_scheme(a)
                .with_scheme(b)
                .with_scheme(c)
                .with_scheme(d)
                .build()
                .unwrap();
            verify_all(&rt, layer, requests)
        }
        other => panic!("unknown kind {other}: v1 or five"),
    };
    assert_eq!(accepted, count);
    println!("{kind}: {accepted} requests verified");
}

/// Verifies every request with `layer`; how many were accepted.
fn verify_all(
    rt: &tokio::runtime::Runtime,
    layer: HmacAuthLayer,
    requests: Vec<http::Request<Body>>,
) -> usize {
    rt.block_on(async {
        let mut ok = 0;
        for req in requests {
            ok += usize::from(layer.verify(req).await.is_ok());
        }
        ok
    })
}
