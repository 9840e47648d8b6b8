//! Requests signed as each scheme signs them, and a layer verifying one scheme (or all of them),
//! shared by `instr_count` (in memory) and `bench_server` (over HTTP).

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderValue, Method, Request};
use http_body_util::Full;
use tower_hmac::protocol::gateway::{Algorithm, Apisix, Kong};
use tower_hmac::protocol::{V1, generate_nonce, rfc9421, sigv4, softaware};
use tower_hmac::server::Schemes;
use tower_hmac::store::NonceStore;
use tower_hmac::test_util::sign_request;
use tower_hmac::{AllowedHosts, HmacAuthBuilder, HmacAuthLayer};

use crate::{KEY_ID, key, registry};

/// The schemes a benchmark can sign and verify: `bare` is unsigned, `v1-all-schemes` is a v1
/// request on a layer with every scheme enabled (the demo's set).
pub const SCHEMES: [&str; 8] = [
    "bare",
    "v1",
    "v1-all-schemes",
    "softaware",
    "rfc9421",
    "sigv4-presigned",
    "kong",
    "apisix",
];

/// A benchmark request.
pub type Req = Request<Full<Bytes>>;

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

fn request(host: &str, i: usize) -> Req {
    Request::get(format!("http://{host}/orders?id={i}"))
        .header("host", host)
        .body(Full::default())
        .unwrap_or_else(|e| panic!("request: {e}"))
}

/// `n` distinct `GET /orders?id=<i>` to `host`, signed now as `scheme` signs them.
pub fn signed(scheme: &str, host: &str, n: usize) -> Vec<Req> {
    let key = key();
    let t = unix_now();
    let date = httpdate::fmt_http_date(SystemTime::now());
    let header = |s: &str| HeaderValue::from_str(s).unwrap_or_else(|e| panic!("header: {e}"));
    (0..n)
        .map(|i| {
            let mut req = request(host, i);
            let url = format!("http://{host}/orders?id={i}");
            match scheme {
                "bare" => {}
                "v1" | "v1-all-schemes" => sign_request(&mut req, b"", KEY_ID, &key, t)
                    .unwrap_or_else(|e| panic!("sign: {e}")),
                "softaware" => {
                    let nonce =
                        softaware::generate_nonce().unwrap_or_else(|e| panic!("nonce: {e}"));
                    let value = softaware::authorization(KEY_ID, &key, "GET", &url, b"", &nonce, t);
                    req.headers_mut().insert("authorization", header(&value));
                }
                "rfc9421" => {
                    let nonce = generate_nonce().unwrap_or_else(|e| panic!("nonce: {e}"));
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
                    .unwrap_or_else(|e| panic!("sign: {e}"));
                    req = Request::from_parts(parts, body);
                    req.headers_mut().insert("signature-input", header(&input));
                    req.headers_mut().insert("signature", header(&signature));
                }
                "sigv4-presigned" => {
                    let presigned = sigv4::presign_url(
                        &Method::GET,
                        &url.parse().unwrap_or_else(|e| panic!("url: {e}")),
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
                    .unwrap_or_else(|e| panic!("presign: {e}"));
                    *req.uri_mut() = presigned.parse().unwrap_or_else(|e| panic!("url: {e}"));
                }
                "kong" | "apisix" => {
                    req.headers_mut().insert("date", header(&date));
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
                    .unwrap_or_else(|e| panic!("sign: {e}"));
                    req = Request::from_parts(parts, body);
                    req.headers_mut().insert("authorization", value);
                }
                other => panic!("unknown scheme {other}"),
            }
            req
        })
        .collect()
}

/// `n` distinct v1 requests to `host` signed with a key the registry does not hold for
/// [`KEY_ID`]: each refused as `invalid_signature` after all the work (the
/// rejection path of the gates).
pub fn signed_with_wrong_key(host: &str, n: usize) -> Vec<Req> {
    let other =
        tower_hmac::SecretKey::from_bytes(&[0x11; 32]).unwrap_or_else(|e| panic!("key: {e}"));
    let t = unix_now();
    (0..n)
        .map(|i| {
            let mut req = request(host, i);
            sign_request(&mut req, b"", KEY_ID, &other, t).unwrap_or_else(|e| panic!("sign: {e}"));
            req
        })
        .collect()
}

/// A request as HTTP/1.1 puts it on the wire (origin-form target), for load generators that
/// send pre-built requests.
pub fn raw(req: &Req) -> Vec<u8> {
    let target = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let mut out = format!("{} {target} HTTP/1.1\r\n", req.method()).into_bytes();
    for (name, value) in req.headers() {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// The builder every scheme's layer starts from: the bench registry, `host` allowed, a 5-minute
/// window, `store` as the replay store.
pub fn builder(host: &str, store: impl NonceStore) -> HmacAuthBuilder {
    HmacAuthLayer::builder(
        registry(),
        AllowedHosts::new([host]).unwrap_or_else(|e| panic!("hosts: {e}")),
    )
    .nonce_store(store)
    .max_skew(Duration::from_secs(300))
}

/// Every scheme of the layer's set, as the demo enables them.
pub fn all_schemes() -> Schemes {
    Schemes::v1()
        .with(softaware::Softaware::new().uri_scheme(tower_hmac::protocol::UriScheme::Http))
        .with(rfc9421::Rfc9421::new().uri_scheme(tower_hmac::protocol::UriScheme::Http))
        .with(sigv4::SigV4::new("us-east-1", "bench"))
        .with(Kong::new())
        .with(Apisix::new())
}

/// The set of schemes that verifies `scheme` (one of [`SCHEMES`] but `bare`;
/// `v1-all-schemes`: every scheme).
pub fn schemes_for(scheme: &str) -> Schemes {
    match scheme {
        "v1" => Schemes::only(V1),
        "v1-all-schemes" => all_schemes(),
        "softaware" => Schemes::only(
            softaware::Softaware::new().uri_scheme(tower_hmac::protocol::UriScheme::Http),
        ),
        "rfc9421" => {
            Schemes::only(rfc9421::Rfc9421::new().uri_scheme(tower_hmac::protocol::UriScheme::Http))
        }
        "sigv4-presigned" => Schemes::only(sigv4::SigV4::new("us-east-1", "bench")),
        "kong" => Schemes::only(Kong::new()),
        "apisix" => Schemes::only(Apisix::new()),
        other => panic!("unknown scheme {other}"),
    }
}

/// The layer `builder` makes when it verifies `scheme` (see [`schemes_for`]).
pub fn scheme_layer(scheme: &str, builder: HmacAuthBuilder) -> HmacAuthLayer {
    builder
        .schemes(schemes_for(scheme))
        .build()
        .unwrap_or_else(|e| panic!("layer: {e}"))
}
