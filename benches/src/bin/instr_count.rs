//! Instructions per request through the layer, per scheme (issue 16): repeatable on this shared,
//! noisy machine where wall-clock time is not. Run under callgrind, collecting only inside the
//! measured loop:
//!
//! ```sh
//! cargo build --release -p tower-hmac-benches --bin instr_count
//! valgrind --tool=callgrind --toggle-collect='*measured*' --callgrind-out-file=/dev/null \
//!     target/release/instr_count v1 2000
//! #   bare | v1 | v1-reject | v1-all-schemes | softaware | rfc9421 | sigv4-presigned | kong | apisix
//! ```
//!
//! and divide the `Collected` instructions by the count. Each run signs its requests first (not
//! collected), sends 200 of them to warm the layer up (not collected), then the rest inside
//! `measured`, on a replay store that already holds other nonces (`busy_store`: no request pays for
//! a shard's first table, as none does on a server that has run for a while). Every request is a
//! distinct signed `GET /orders?id=<n>`; the inner service answers an empty `200`. `v1-reject`
//! signs them with a key the registry does not hold for the key id: the rejection path, each
//! refused `401 invalid_signature` after all the work. `scripts/instr-counts.sh` runs every scheme
//! and prints the table.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark program

use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use tower::{Service, ServiceExt};
use tower_hmac::server::VerifiedBody;
use tower_hmac_benches::busy_store;
use tower_hmac_benches::schemes::{Req, builder, scheme_layer, signed, signed_with_wrong_key};

const HOST: &str = "api.example.com";
const WARM: usize = 200;

async fn ok(_: Request<VerifiedBody>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::default()))
}

async fn ok_bare(_: Req) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::default()))
}

/// Sends every request; panics on another answer than `expect`.
async fn send<S>(svc: &mut S, requests: Vec<Req>, expect: u16)
where
    S: Service<Req, Error = Infallible>,
    S::Response: HasStatus,
{
    for req in requests {
        let res = svc.ready().await.unwrap().call(req).await.unwrap();
        assert_eq!(res.status(), expect);
    }
}

trait HasStatus {
    fn status(&self) -> u16;
}

impl<B> HasStatus for Response<B> {
    fn status(&self) -> u16 {
        self.status().as_u16()
    }
}

/// The loop callgrind collects (`--toggle-collect='*measured*'`).
#[inline(never)]
fn measured<S>(rt: &tokio::runtime::Runtime, svc: &mut S, requests: Vec<Req>, expect: u16)
where
    S: Service<Req, Error = Infallible>,
    S::Response: HasStatus,
{
    rt.block_on(send(svc, requests, expect));
}

fn run<S>(rt: &tokio::runtime::Runtime, mut svc: S, mut requests: Vec<Req>, expect: u16)
where
    S: Service<Req, Error = Infallible>,
    S::Response: HasStatus,
{
    let rest = requests.split_off(WARM);
    let count = rest.len();
    rt.block_on(send(&mut svc, requests, expect));
    let started = std::time::Instant::now();
    measured(rt, &mut svc, rest, expect);
    // Natively only: the measured loop alone.
    let ns = started.elapsed().as_nanos() / count.max(1) as u128;
    println!("measured loop: {ns} ns per request");
}

fn main() {
    let mut args = std::env::args().skip(1);
    let scheme = args.next().unwrap_or_else(|| "v1".into());
    let count: usize = args.next().map_or(2000, |n| n.parse().unwrap());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Signed before the clock starts: the client's work is not the server's.
    let (requests, layer_of, expect) = if scheme == "v1-reject" {
        (signed_with_wrong_key(HOST, WARM + count), "v1", 401)
    } else if scheme.starts_with("v1+") {
        (signed("v1", HOST, WARM + count), "v1", 200)
    } else {
        (signed(&scheme, HOST, WARM + count), scheme.as_str(), 200)
    };
    let started = std::time::Instant::now();
    if let Some(capability) = scheme.strip_prefix("v1+") {
        capabilities::measure(&rt, capability, requests);
    } else {
        if scheme == "bare" {
            run(&rt, tower::service_fn(ok_bare), requests, expect);
        } else {
            let builder = builder(HOST, busy_store(1_000_000));
            let layer = scheme_layer(layer_of, builder);
            run(
                &rt,
                tower::Layer::layer(&layer, tower::service_fn(ok)),
                requests,
                expect,
            );
        }
    }
    // Meaningless under callgrind; run natively, the wall-clock time of the whole run per request:
    // the layer's construction, the store's prefill and the warm-up included, the signing not
    // (`scripts/capability-costs.sh` reads the `measured loop` line instead).
    let ns = started.elapsed().as_nanos() / (WARM + count) as u128;
    println!("{scheme}: {count} requests measured, {ns} ns per request");
}

/// The v1 layer with one optional capability configured (`v1+<capability>`): `none` (the same
/// build, nothing optional), `skip`, `proxies`, `scope`, and with the `capabilities` feature
/// `throttle`, `risk`, `metrics`.
mod capabilities {
    use std::convert::Infallible;

    use bytes::Bytes;
    use http::{Request, Response};
    use http_body_util::Full;
    use tower::ServiceBuilder;
    use tower_hmac::server::{PeerAddr, RequireScope, TrustedProxies, VerifiedBody};
    use tower_hmac_benches::busy_store;
    use tower_hmac_benches::schemes::{Req, builder, scheme_layer};

    use super::HOST;

    async fn ok(_: Request<VerifiedBody>) -> Result<Response<Full<Bytes>>, Infallible> {
        Ok(Response::new(Full::default()))
    }

    pub(super) fn run_with(
        rt: &tokio::runtime::Runtime,
        builder: tower_hmac::HmacAuthBuilder,
        requests: Vec<Req>,
    ) {
        let layer = scheme_layer("v1", builder);
        super::run(
            rt,
            tower::Layer::layer(&layer, tower::service_fn(ok)),
            requests,
            200,
        );
    }

    pub(super) fn measure(rt: &tokio::runtime::Runtime, capability: &str, mut requests: Vec<Req>) {
        // Each arm builds the layer it measures (`scope` its own, with a registry of its own).
        let base = || builder(HOST, busy_store(1_000_000));
        if matches!(capability, "throttle" | "risk") {
            // Both work per client address: the connection's, as a server hands it on.
            for req in &mut requests {
                req.extensions_mut()
                    .insert(PeerAddr("192.0.2.7:4711".parse().unwrap()));
            }
        }
        match capability {
            "none" => run_with(rt, base(), requests),
            "skip" => run_with(
                rt,
                base().skip(|head| head.uri.path() == "/health"),
                requests,
            ),
            "proxies" => {
                // Requests from a trusted proxy, naming the client it forwards.
                for req in &mut requests {
                    req.extensions_mut()
                        .insert(PeerAddr("10.0.0.1:4711".parse().unwrap()));
                    req.headers_mut()
                        .insert("x-forwarded-for", "192.0.2.7".parse().unwrap());
                }
                let proxies = TrustedProxies::x_forwarded(["10.0.0.0/8"]).unwrap();
                run_with(rt, base().trusted_proxies(proxies), requests);
            }
            "scope" => {
                let registry = tower_hmac::InMemoryRegistry::new();
                registry.insert_record(
                    tower_hmac_benches::KEY_ID,
                    tower_hmac::protocol::KeyRecord::new("bench-app", tower_hmac_benches::key())
                        .with_scopes(["orders:read"]),
                );
                let layer = tower_hmac::HmacAuthLayer::builder(
                    registry,
                    tower_hmac::AllowedHosts::new([HOST]).unwrap(),
                )
                .nonce_store(busy_store(1_000_000))
                .build()
                .unwrap();
                let svc = ServiceBuilder::new()
                    .layer(layer)
                    .layer(RequireScope::new("orders:read"))
                    .service(tower::service_fn(ok));
                super::run(rt, svc, requests, 200);
            }
            #[cfg(feature = "capabilities")]
            "throttle" => run_with(
                rt,
                base().throttle_failures(tower_hmac::server::FailureThrottle::new(
                    20,
                    std::time::Duration::from_secs(60),
                )),
                requests,
            ),
            #[cfg(feature = "capabilities")]
            "risk" => run_with(
                rt,
                base().risk_monitor(tower_hmac::server::RiskMonitor::new()),
                requests,
            ),
            #[cfg(feature = "capabilities")]
            "metrics" => {
                // The Prometheus recorder the demo serves `/metrics` with.
                let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
                    .install_recorder()
                    .unwrap();
                run_with(rt, base(), requests);
                drop(handle);
            }
            other => panic!(
                "unknown capability {other} (throttle, risk and metrics need --features capabilities)"
            ),
        }
    }
}
