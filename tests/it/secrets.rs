//! No secret, derived key or full signature in any log line or `Debug` rendering, across a run of
//! every scenario: accepted, each rejection, the client layer with clock-skew recovery, a
//! registry loaded from TOML. Its log subscriber is its own thread's (the tests beside it log
//! elsewhere), and every request it makes runs on that thread.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::{get, post};
use bytes::Bytes;
use http::Request;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use http_body_util::{BodyExt, Full};
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_hmac::client::{RequestSigner, SignRequestLayer};
use tower_hmac::protocol::{Authorization, Challenge, ManualClock, SystemClock, clock::Clock};
use tower_hmac::{
    AllowedHosts, HmacAuthLayer, InMemoryRegistry, MemoryNonceStore, MokaNonceStore, Rejection,
    SecretKey,
};
use tower_hmac_integration::sign_at;

const SECRET_B64: &str = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldC0=";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn registry() -> InMemoryRegistry {
    InMemoryRegistry::from_toml_str(&format!(
        "[[apps]]\nid = \"secret-app\"\n[[apps.keys]]\nid = \"secret-key\"\nsecret = \"{SECRET_B64}\"\n\
         [[apps.keys]]\nid = \"old-key\"\nsecret = \"{SECRET_B64}\"\nrevoked = true\n"
    ))
    .unwrap()
}

fn key() -> SecretKey {
    SecretKey::from_base64(SECRET_B64).unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn no_secret_or_signature_reaches_a_log_line_or_a_debug_string() {
    let captured = Captured::default();
    let writer = captured.clone();
    // This thread's default, not the process's: a current-thread runtime runs every request of
    // this test here, and only here.
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _logging = tracing::subscriber::set_default(subscriber);
    // The test's clock: the server's runs ten minutes ahead of it, the client's is it.
    let clock = ManualClock::at_unix(SystemClock.unix_seconds());
    let ahead = clock.clone();
    let server_clock = move || ahead.now() + Duration::from_secs(600);

    let mut debug = String::new();
    let mut signatures = Vec::new();
    let mut note = |d: String| {
        debug.push_str(&d);
        debug.push('\n');
    };

    let registry = registry();
    let layer = HmacAuthLayer::builder(registry.clone(), AllowedHosts::new(["api.test"]).unwrap())
        .clock(server_clock)
        .build()
        .unwrap();
    let app = Router::new()
        .route("/", get(|| async { "ok" }))
        .route("/echo", post(|b: Bytes| async move { b }))
        .layer(layer.clone());
    note(format!(
        "{layer:?} {registry:?} {:?} {:?}",
        key(),
        registry.get("secret-key")
    ));
    note(format!(
        "{:?} {:?}",
        MemoryNonceStore::new(10).unwrap(),
        MokaNonceStore::new(10).unwrap()
    ));

    // The client layer in front of the server: the first request is stale (the server's clock
    // is 10 minutes ahead), the client learns the offset and retries.
    let signer = RequestSigner::new("secret-key", key())
        .unwrap()
        .clock(clock.clone());
    note(format!("{signer:?}"));
    let server = app.clone();
    let mut client = ServiceBuilder::new()
        .layer(SignRequestLayer::new(signer.clone()))
        .service(tower::service_fn(move |req: Request<Full<Bytes>>| {
            let server = server.clone();
            async move {
                let res = server.oneshot(req.map(Body::new)).await.unwrap();
                Ok::<_, std::convert::Infallible>(res)
            }
        }));
    for body in ["", "{\"a\":1}"] {
        let req = Request::post("http://api.test/echo")
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        note(format!("{req:?}"));
        let res = ServiceExt::<Request<Full<Bytes>>>::ready(&mut client)
            .await
            .unwrap()
            .call(req)
            .await
            .unwrap();
        note(format!("{res:?}"));
        assert_eq!(res.status(), 200);
    }
    assert_eq!(signer.clock_offset().seconds(), 600);

    // Every rejection, with the server's time back to the test's.
    let layer = HmacAuthLayer::builder(registry.clone(), AllowedHosts::new(["api.test"]).unwrap())
        .clock(clock.clone())
        .build()
        .unwrap();
    let app = Router::new()
        .route("/", get(|| async { "ok" }))
        .layer(layer);
    let sign = |key_id: &str, key: &SecretKey, ts: u64, host: &str| {
        sign_at(key_id, key, &http::Method::GET, host, "/", b"", ts)
    };
    let now = clock.unix();
    let wrong = SecretKey::from_bytes(&[1; 32]).unwrap();
    let cases: Vec<(Option<Authorization>, &str)> = vec![
        (
            Some(sign("secret-key", &key(), now, "api.test")),
            "api.test",
        ),
        (
            Some(sign("secret-key", &wrong, now, "api.test")),
            "api.test",
        ),
        (
            Some(sign("secret-key", &key(), now - 1000, "api.test")),
            "api.test",
        ),
        (
            Some(sign("secret-key", &key(), now, "evil.test")),
            "evil.test",
        ),
        (Some(sign("old-key", &key(), now, "api.test")), "api.test"),
        (Some(sign("nobody", &key(), now, "api.test")), "api.test"),
        (None, "api.test"),
    ];
    for (auth, host) in cases {
        let mut req = Request::get("/").header(HOST, host);
        if let Some(auth) = &auth {
            signatures.push(auth.signature().to_hex());
            note(format!("{auth:?}"));
            req = req.header(AUTHORIZATION, auth.to_string());
        }
        let res = app
            .clone()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        if let Some(rejection) = res.extensions().get::<Rejection>() {
            note(format!("{rejection:?} {rejection}"));
        }
        for value in res.headers().get_all(http::header::WWW_AUTHENTICATE) {
            note(format!("{:?}", Challenge::parse(value.as_bytes())));
        }
        let (parts, body) = res.into_parts();
        note(format!("{parts:?}"));
        note(String::from_utf8_lossy(&body.collect().await.unwrap().to_bytes()).into_owned());
    }

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("tower_hmac::auth"),
        "the scenarios logged nothing:\n{logs}"
    );
    let key_bytes = SecretKey::from_base64(SECRET_B64).unwrap();
    let raw: Vec<u8> = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(SECRET_B64)
            .unwrap()
    };
    let mut forbidden = vec![
        SECRET_B64.to_owned(),
        SECRET_B64.trim_end_matches('=').to_owned(),
        hex::encode(&raw),
        format!("{raw:?}"),
        String::from_utf8_lossy(&raw).into_owned(),
    ];
    forbidden.extend(signatures);
    assert_eq!(key_bytes.len(), raw.len());
    for (what, text) in [("log output", &logs), ("Debug renderings", &debug)] {
        for secret in &forbidden {
            assert!(
                !text.contains(secret.as_str()),
                "{what} contain {secret:?}:\n{text}"
            );
        }
    }
    println!(
        "checked {} bytes of logs and {} bytes of Debug output",
        logs.len(),
        debug.len()
    );
}
