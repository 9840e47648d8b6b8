//! The size of the layer's response future per scheme (moved on its way into the server's box):
//!
//! ```sh
//! cargo run --release -p tower-hmac-benches --bin future_sizes
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)]
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use std::convert::Infallible;
use tower::Service;
use tower_hmac::server::VerifiedBody;
use tower_hmac_benches::schemes::{builder, scheme_layer, signed};
use tower_hmac_benches::store_started_earlier;

async fn ok(_: Request<VerifiedBody>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::default()))
}

fn main() {
    for scheme in tower_hmac_benches::schemes::SCHEMES
        .into_iter()
        .filter(|s| *s != "bare")
    {
        let req = signed(
            if scheme == "v1-all-schemes" {
                "v1"
            } else {
                scheme
            },
            "h",
            1,
        )
        .pop()
        .unwrap();
        let b = builder("h", store_started_earlier(1000));
        let layer = scheme_layer(scheme, b);
        let mut svc = tower::Layer::layer(&layer, tower::service_fn(ok));
        let fut = svc.call(req);
        println!(
            "{scheme}: response future {} bytes",
            std::mem::size_of_val(&fut)
        );
    }
}
