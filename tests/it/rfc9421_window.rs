//! RFC 9421 through the layer: `created` is checked against the window, a client's far `expires`
//! does not reopen it, and a nonce is a replay across the whole validity.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use tower_hmac::protocol::rfc9421::Rfc9421;
use tower_hmac::{
    AllowedHosts, HmacAuthLayer, InMemoryRegistry, MemoryNonceStore, RejectionKind, SecretKey,
};

const NOW: u64 = 1_700_000_000;

fn layer() -> HmacAuthLayer {
    let registry = InMemoryRegistry::new();
    registry.insert("app-1", "app", SecretKey::from_bytes(&[7; 32]).unwrap());
    HmacAuthLayer::builder(registry, AllowedHosts::any())
        .with_scheme(Rfc9421::new())
        .clock(|| UNIX_EPOCH + Duration::from_secs(NOW))
        .nonce_store(
            MemoryNonceStore::new(1024)
                .unwrap()
                .with_horizon(UNIX_EPOCH + Duration::from_secs(NOW - 100_000)),
        )
        .build()
        .unwrap()
}

/// A GET signed by hand (the signature base written out, independent of the crate's signer),
/// with `expires` among the parameters when given.
fn request(created: u64, expires: Option<u64>, nonce: &str) -> Request<Full<Bytes>> {
    use base64::Engine as _;
    use hmac::{KeyInit as _, Mac as _};
    let expires = expires.map(|e| format!(";expires={e}")).unwrap_or_default();
    let list = format!(
        "(\"@method\" \"@authority\" \"@path\");created={created};keyid=\"app-1\";alg=\"hmac-sha256\";nonce=\"{nonce}\"{expires}"
    );
    let base = format!(
        "\"@method\": GET\n\"@authority\": api.example.com\n\"@path\": /a\n\"@signature-params\": {list}"
    );
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&[7; 32]).unwrap();
    mac.update(base.as_bytes());
    let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    Request::get("/a")
        .header("host", "api.example.com")
        .header("signature-input", format!("sig1={list}"))
        .header("signature", format!("sig1=:{sig}:"))
        .body(Full::new(Bytes::new()))
        .unwrap()
}

#[tokio::test]
async fn created_is_checked_and_a_far_expires_does_not_reopen_the_window() {
    let layer = layer();
    // Fresh: accepted once.
    assert!(layer.verify(request(NOW, None, "n1")).await.is_ok());
    let err = layer.verify(request(NOW, None, "n1")).await.unwrap_err();
    assert_eq!(err.kind(), RejectionKind::ReplayedNonce);
    // A day old, no expires: outside the skew.
    let err = layer
        .verify(request(NOW - 86_400, None, "n2"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), RejectionKind::StaleTimestamp);
    // A day old with an expiry a year ahead: still refused (validity capped at created + 300 s).
    let err = layer
        .verify(request(NOW - 86_400, Some(NOW + 31_536_000), "n3"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), RejectionKind::Expired);
    // Within the cap, with an expiry: accepted once.
    if let Err(e) = layer
        .verify(request(NOW - 100, Some(NOW + 100), "n4"))
        .await
    {
        panic!("{e:?}");
    }
    let err = layer
        .verify(request(NOW - 100, Some(NOW + 100), "n4"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), RejectionKind::ReplayedNonce);
    // A client's own earlier expiry is kept.
    let err = layer
        .verify(request(NOW - 100, Some(NOW - 1), "n5"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), RejectionKind::Expired);
}
