//! Instructions per request through the layer, per scheme (issue 16): repeatable on this shared,
//! noisy machine where wall-clock time is not. Run under callgrind, collecting only inside the
//! measured loop:
//!
//! ```sh
//! cargo build --release -p tower-hmac-benches --bin instr_count
//! valgrind --tool=callgrind --toggle-collect='*measured*' --callgrind-out-file=/dev/null \
//!     target/release/instr_count v1 2000
//! #   bare | v1 | v1-all-schemes | softaware | rfc9421 | sigv4-presigned | kong | apisix
//! ```
//!
//! and divide the `Collected` instructions by the count. Each run signs its requests first (not
//! collected), sends 200 of them to warm the layer up (not collected), then the rest inside
//! `measured`. Every request is a distinct signed `GET /orders?id=<n>`; the inner service
//! answers an empty `200`. `scripts/instr-counts.sh` runs every scheme and prints the table.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark program

use std::convert::Infallible;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response};
use http_body_util::Full;
use tower::{Service, ServiceExt};
use tower_hmac::protocol::V1;
use tower_hmac::protocol::gateway::{Algorithm, Apisix, Kong};
use tower_hmac::protocol::{generate_nonce, rfc9421, sigv4, softaware};
use tower_hmac::server::{SchemeSet, VerifiedBody};
use tower_hmac::test_util::sign_request;
use tower_hmac::{AllowedHosts, HmacAuthLayer};
use tower_hmac_benches::{KEY_ID, key, registry, store_started_earlier};

const HOST: &str = "api.example.com";
const WARM: usize = 200;

type Req = Request<Full<Bytes>>;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn request(i: usize) -> Req {
    Request::get(format!("http://{HOST}/orders?id={i}"))
        .header("host", HOST)
        .body(Full::default())
        .unwrap()
}

/// `n` requests signed as `scheme` signs them.
fn signed(scheme: &str, n: usize) -> Vec<Req> {
    let key = key();
    let t = now();
    let date = httpdate::fmt_http_date(SystemTime::now());
    (0..n)
        .map(|i| {
            let mut req = request(i);
            match scheme {
                "bare" => {}
                "v1" | "v1-all-schemes" => sign_request(&mut req, b"", KEY_ID, &key, t).unwrap(),
                "softaware" => {
                    let nonce = generate_nonce().unwrap();
                    let value = softaware::authorization(
                        KEY_ID,
                        &key,
                        "GET",
                        &format!("http://{HOST}/orders?id={i}"),
                        b"",
                        &nonce,
                        t,
                    );
                    req.headers_mut()
                        .insert("authorization", HeaderValue::from_str(&value).unwrap());
                }
                "rfc9421" => {
                    let nonce = generate_nonce().unwrap();
                    let (parts, body) = req.into_parts();
                    let (input, signature) = rfc9421::sign(
                        &parts,
                        "http",
                        &["\"@method\"", "\"@authority\"", "\"@path\"", "\"@query\""],
                        KEY_ID,
                        &key,
                        t,
                        Some(&nonce),
                    )
                    .unwrap();
                    req = Request::from_parts(parts, body);
                    req.headers_mut()
                        .insert("signature-input", HeaderValue::from_str(&input).unwrap());
                    req.headers_mut()
                        .insert("signature", HeaderValue::from_str(&signature).unwrap());
                }
                "sigv4-presigned" => {
                    let url = sigv4::presign_url(
                        &Method::GET,
                        &format!("http://{HOST}/orders?id={i}").parse().unwrap(),
                        KEY_ID,
                        &key,
                        &sigv4::PresignParams {
                            region: "us-east-1",
                            service: "bench",
                            rule: sigv4::PathRule::Generic,
                            time: t,
                            expires: 900,
                        },
                    )
                    .unwrap();
                    *req.uri_mut() = url.parse().unwrap();
                }
                "kong" | "apisix" => {
                    req.headers_mut()
                        .insert("date", HeaderValue::from_str(&date).unwrap());
                    let (parts, body) = req.into_parts();
                    let value = if scheme == "kong" {
                        Kong::new().authorization(
                            &parts,
                            KEY_ID,
                            &key,
                            Algorithm::HmacSha256,
                            &["date", "request-line"],
                        )
                    } else {
                        Apisix::new().authorization(
                            &parts,
                            KEY_ID,
                            &key,
                            Algorithm::HmacSha256,
                            &["@request-target", "date"],
                        )
                    }
                    .unwrap();
                    req = Request::from_parts(parts, body);
                    req.headers_mut().insert("authorization", value);
                }
                other => panic!("unknown scheme {other}"),
            }
            req
        })
        .collect()
}

async fn ok(_: Request<VerifiedBody>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::default()))
}

async fn ok_bare(_: Req) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::default()))
}

/// Sends every request; panics on a refusal.
async fn send<S>(svc: &mut S, requests: Vec<Req>)
where
    S: Service<Req, Error = Infallible>,
    S::Response: HasStatus,
{
    for req in requests {
        let res = svc.ready().await.unwrap().call(req).await.unwrap();
        assert_eq!(res.status(), 200);
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
fn measured<S>(rt: &tokio::runtime::Runtime, svc: &mut S, requests: Vec<Req>)
where
    S: Service<Req, Error = Infallible>,
    S::Response: HasStatus,
{
    rt.block_on(send(svc, requests));
}

fn run<S>(rt: &tokio::runtime::Runtime, mut svc: S, mut requests: Vec<Req>)
where
    S: Service<Req, Error = Infallible>,
    S::Response: HasStatus,
{
    let rest = requests.split_off(WARM);
    rt.block_on(send(&mut svc, requests));
    measured(rt, &mut svc, rest);
}

/// Runs the requests through a layer verifying `schemes`.
fn layered<S: SchemeSet>(rt: &tokio::runtime::Runtime, schemes: S, requests: Vec<Req>) {
    let layer = HmacAuthLayer::builder(registry(), AllowedHosts::new([HOST]).unwrap())
        .nonce_store(store_started_earlier(1_000_000))
        .max_skew(Duration::from_secs(300))
        .schemes(schemes)
        .build()
        .unwrap();
    run(
        rt,
        tower::Layer::layer(&layer, tower::service_fn(ok)),
        requests,
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let scheme = args.next().unwrap_or_else(|| "v1".into());
    let count: usize = args.next().map_or(2000, |n| n.parse().unwrap());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let requests = signed(&scheme, WARM + count);
    match scheme.as_str() {
        "bare" => run(&rt, tower::service_fn(ok_bare), requests),
        "v1" => layered(&rt, (V1,), requests),
        // A v1 request on a layer with every scheme of issues 11 to 18 enabled (the demo's set).
        "v1-all-schemes" => layered(
            &rt,
            (
                V1,
                softaware::Softaware::new().uri_scheme("http"),
                rfc9421::Rfc9421::new().uri_scheme("http"),
                sigv4::SigV4::new("us-east-1", "bench"),
                Kong::new(),
                Apisix::new(),
            ),
            requests,
        ),
        "softaware" => layered(
            &rt,
            (softaware::Softaware::new().uri_scheme("http"),),
            requests,
        ),
        "rfc9421" => layered(&rt, (rfc9421::Rfc9421::new().uri_scheme("http"),), requests),
        "sigv4-presigned" => layered(&rt, (sigv4::SigV4::new("us-east-1", "bench"),), requests),
        "kong" => layered(&rt, (Kong::new(),), requests),
        "apisix" => layered(&rt, (Apisix::new(),), requests),
        other => panic!("unknown scheme {other}"),
    }
    println!("{scheme}: {count} requests measured");
}
