//! The reqwest middleware against the demo server over real TCP.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::net::SocketAddr;
use std::time::Duration;

use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};
use tower_hmac::SecretKey;
use tower_hmac::client::{RequestSigner, SigningMiddleware};
use tower_hmac::protocol::{Clock as _, ManualClock, OffsetClock, SystemClock};

use crate::support;

/// The demo, its clock a few seconds behind the system's (with which these clients sign): every
/// request signed from now on is after its replay store's horizon, so none is refused once as
/// signed before it.
async fn start_demo() -> SocketAddr {
    support::start_demo(OffsetClock::new(support::DEMO_BEHIND_SECS)).await
}

fn demo_signer() -> RequestSigner {
    let key = SecretKey::from_base64(demo_server::demo_secret_base64()).unwrap();
    RequestSigner::new(demo_server::DEMO_KEY_ID, key).unwrap()
}

fn client(signer: RequestSigner) -> ClientWithMiddleware {
    ClientBuilder::new(reqwest::Client::new())
        .with(SigningMiddleware::new(signer))
        .build()
}

#[tokio::test]
async fn reqwest_calls_the_demo_server() {
    let addr = start_demo().await;
    let client = client(demo_signer());
    let res = client
        .get(format!("http://{addr}/whoami"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body = res.text().await.unwrap();
    assert!(body.contains("\"key_id\":\"demo-2026\""), "{body}");
}

#[tokio::test]
async fn reqwest_posts_json_with_its_content_type_signed() {
    let addr = start_demo().await;
    let client = client(demo_signer());
    let res = client
        .post(format!("http://{addr}/echo?note=a%2Bb&x=1+2"))
        .header("content-type", "application/json")
        .body(r#"{"amount":7}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), r#"{"amount":7}"#);
}

#[tokio::test]
async fn reqwest_with_a_wrong_key_is_told_why() {
    let addr = start_demo().await;
    let wrong = RequestSigner::new("demo-2026", SecretKey::from_bytes(&[1; 32]).unwrap()).unwrap();
    let res = client(wrong)
        .get(format!("http://{addr}/whoami"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(res.text().await.unwrap().contains("invalid_signature"));
}

#[tokio::test]
async fn reqwest_recovers_from_a_client_clock_ten_minutes_behind() {
    // Both clocks the test's: the server's stands still, the client's is ten minutes behind it,
    // so the offset the client learns is exact.
    let server = ManualClock::at_unix(SystemClock.unix_seconds());
    let addr = support::start_demo(server.clone()).await;
    let client_clock = move || server.now() - Duration::from_secs(600);
    let signer = demo_signer().clock(client_clock);
    let offset = signer.clock_offset().clone();
    let client = client(signer);
    let res = client
        .get(format!("http://{addr}/whoami"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(offset.seconds(), 600);
}

#[tokio::test]
async fn reqwest_refuses_a_body_over_the_limit() {
    let addr = start_demo().await;
    let client = client(demo_signer().body_limit(4));
    let err = client
        .post(format!("http://{addr}/echo"))
        .body("too long")
        .send()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("signing limit"), "{err}");
}
