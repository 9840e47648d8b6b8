//! The server of the HTTP load benchmark (`scripts/bench-http.sh`), and its request signer.
//!
//! ```text
//! bench_server serve MODE ADDR    MODE: bare | bearer | hmac | hmac-moka | hmac-defaults
//!                                       | scheme:SCHEME | floor[-no-mac|-no-replay|-neither
//!                                       |-identity]
//!                                 (BENCH_RUNTIME=quickstart: the README's runtime and
//!                                 `ConnectInfo`)
//! bench_server sign COUNT HOST    COUNT Authorization values for `GET /`, one per line
//! bench_server sign-raw SCHEME COUNT HOST
//!                                 COUNT whole `GET /orders?id=N` requests as HTTP/1.1 puts them
//!                                 on the wire, signed as SCHEME signs them (`bare`: unsigned)
//! ```
//!
//! The `hmac`, `hmac-moka` and `scheme:` modes hold one million live nonces before they listen,
//! as a busy server would; `scheme:SCHEME` verifies one scheme of
//! `tower_hmac_benches::schemes::SCHEMES` (`scheme:v1-all-schemes`: v1 on a layer with every
//! scheme); `hmac-defaults` is the builder's defaults exactly (the default replay store, empty),
//! for the review's load run (`scripts/load-defaults.sh`). The `floor` modes are the lower bound
//! of `tower_hmac_benches::floor`: the least any v1 verifier does, and its parts.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark program

use std::io::Write;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use http::Method;
use tower_hmac::store::NonceStore;
use tower_hmac::{AllowedHosts, HmacAuthLayer, MemoryNonceStore, MokaNonceStore};
use tower_hmac_benches::{authorization, prefill, registry};

const LIVE: usize = 1_000_000;

fn app() -> Router {
    Router::new()
        .route("/", get(|| async { "hello" }))
        .route("/orders", get(|| async { "hello" }))
}

/// The replay store of the loaded modes: room for four million nonces, all of them the one bench
/// key's (the default per-key share would refuse a long run's requests as over quota).
fn store() -> MemoryNonceStore {
    MemoryNonceStore::new(4 * LIVE as u64)
        .and_then(|store| store.with_key_share_percent(100))
        .unwrap()
}

async fn scheme(scheme: &str, addr: &str) -> Router {
    let store = store();
    prefill(&store, LIVE, Duration::from_secs(600)).await;
    let builder = tower_hmac_benches::schemes::builder(addr, store);
    app().layer(tower_hmac_benches::schemes::scheme_layer(scheme, builder))
}

async fn hmac(addr: &str, store: impl NonceStore) -> Router {
    prefill(&store, LIVE, Duration::from_secs(600)).await;
    let layer = HmacAuthLayer::builder(registry(), AllowedHosts::new([addr]).unwrap())
        .nonce_store(store)
        .build()
        .unwrap();
    app().layer(layer)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["sign", count, host] => {
            let count: usize = count.parse().unwrap();
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            for _ in 0..count {
                writeln!(out, "{}", authorization(&Method::GET, host, "/", b"")).unwrap();
            }
        }
        ["sign-raw", scheme, count, host] => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            for req in tower_hmac_benches::schemes::signed(scheme, host, count.parse().unwrap()) {
                out.write_all(&tower_hmac_benches::schemes::raw(&req))
                    .unwrap();
            }
        }
        ["serve", mode, addr] => {
            // `BENCH_RUNTIME=quickstart`: the README's quick start exactly — `#[tokio::main]`'s
            // multi-threaded runtime, and the client's address as Axum's `ConnectInfo`.
            // Pinned to one core (as `scripts/bench-http.sh` runs it), the multi-threaded runtime
            // has one worker: Tokio sizes it by the parallelism the process may use.
            let quickstart = match std::env::var("BENCH_RUNTIME") {
                Err(std::env::VarError::NotPresent) => false,
                Ok(runtime) if runtime == "quickstart" => true,
                other => panic!("BENCH_RUNTIME is `quickstart` or unset, not {other:?}"),
            };
            let rt = if quickstart {
                tokio::runtime::Builder::new_multi_thread()
            } else {
                tokio::runtime::Builder::new_current_thread()
            }
            .enable_all()
            .build()
            .unwrap();
            rt.block_on(async {
                let app = match *mode {
                    "bare" => app(),
                    #[allow(deprecated)]
                    "bearer" => app().layer(
                        tower_http::validate_request::ValidateRequestHeaderLayer::bearer(
                            "bench-token",
                        ),
                    ),
                    "hmac" => hmac(addr, store()).await,
                    "hmac-moka" => hmac(addr, MokaNonceStore::new(4 * LIVE as u64).unwrap()).await,
                    "hmac-defaults" => app().layer(
                        HmacAuthLayer::builder(registry(), AllowedHosts::new([*addr]).unwrap())
                            .build()
                            .unwrap(),
                    ),
                    floor if tower_hmac_benches::floor::FloorMode::from_name(floor).is_some() => {
                        app().layer(tower_hmac_benches::floor::FloorLayer::new(
                            &[0x5a; 32],
                            tower_hmac_benches::KEY_ID,
                            tower_hmac_benches::floor::FloorMode::from_name(floor).unwrap(),
                        ))
                    }
                    other if other.starts_with("scheme:") => scheme(&other[7..], addr).await,
                    other => panic!("unknown mode {other}"),
                };
                let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
                println!("ready {mode} on {addr}");
                if quickstart {
                    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
                    axum::serve(listener, app).await.unwrap();
                } else {
                    axum::serve(listener, app).await.unwrap();
                }
            });
        }
        _ => {
            eprintln!(
                "usage: bench_server serve bare|bearer|hmac|hmac-moka|hmac-defaults|scheme:SCHEME|floor[-no-mac|-no-replay|-neither|-identity] ADDR | bench_server sign COUNT HOST | bench_server sign-raw SCHEME COUNT HOST"
            );
            std::process::exit(2);
        }
    }
}
