//! Several schemes behind one layer: a test scheme written in one module and enabled with one
//! builder line verifies end to end next to protocol v1, and the shared checks (choice of scheme,
//! key limits, replay guard) hold across schemes.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::convert::Infallible;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::HOST;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::{ServiceBuilder, ServiceExt};
use tower_hmac::protocol::{KeyRecord, Signer, body_sha256};
use tower_hmac::server::{HmacAuthLayer, VerifiedBody};
use tower_hmac::{
    AllowedHosts, Authenticated, InMemoryRegistry, MemoryNonceStore, Rejection, RejectionKind,
    SecretKey,
};

const NOW: u64 = 1_700_000_000;
const HOST_OK: &str = "api.example.com";

/// The whole test scheme: `X-Test-Auth: <key-id>:<ts>:<nonce>:<hex HMAC(key, method \n path \n ts
/// \n nonce \n hex SHA-256(body))>[:<expires>]` (with an expiry, it is a line of the MAC too).
mod test_scheme {
    use hmac::{Hmac, KeyInit, Mac};
    use http::request::Parts;
    use sha2::{Digest, Sha256};
    use subtle::ConstantTimeEq;
    use tower_hmac::protocol::{
        Credentials, Freshness, Locator, Rejection, RejectionKind, Scheme, SecretKey,
    };

    pub(crate) struct TestScheme;

    pub(crate) struct Token {
        key_id: String,
        ts: u64,
        nonce: String,
        mac: Vec<u8>,
        expires: Option<u64>,
    }

    impl Credentials for Token {
        fn key_id(&self) -> &str {
            &self.key_id
        }
        fn nonce(&self) -> &str {
            &self.nonce
        }
        fn freshness(&self) -> Freshness {
            match self.expires {
                Some(until) => Freshness::Until {
                    from: self.ts,
                    until,
                },
                None => Freshness::Window { at: self.ts },
            }
        }
    }

    pub(crate) struct Pending {
        head: String,
        body: Sha256,
    }

    pub(crate) fn mac(key: &[u8], head: &str, body_sha256: &[u8]) -> Vec<u8> {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
        mac.update(head.as_bytes());
        mac.update(hex::encode(body_sha256).as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    pub(crate) fn head(
        method: &str,
        path: &str,
        ts: u64,
        nonce: &str,
        expires: Option<u64>,
    ) -> String {
        match expires {
            None => format!("{method}\n{path}\n{ts}\n{nonce}\n"),
            Some(e) => format!("{method}\n{path}\n{ts}\n{nonce}\n{e}\n"),
        }
    }

    fn malformed() -> Rejection {
        Rejection::new(RejectionKind::MalformedAuthorization)
    }

    impl Scheme for TestScheme {
        type Credentials = Token;
        type Pending = Pending;

        fn id(&self) -> &'static str {
            "test"
        }
        fn name(&self) -> &'static str {
            "X-Test-Auth"
        }
        fn locator(&self) -> &Locator {
            static LOCATOR: Locator = Locator::Header(http::HeaderName::from_static("x-test-auth"));
            &LOCATOR
        }
        fn parse(&self, parts: &Parts, max_len: usize) -> Result<Token, Rejection> {
            let value = parts.headers.get("x-test-auth").ok_or_else(malformed)?;
            if value.len() > max_len {
                return Err(malformed());
            }
            let text = value.to_str().map_err(|_| malformed())?;
            let mut fields = text.split(':');
            let (Some(key_id), Some(ts), Some(nonce), Some(mac), expires, None) = (
                fields.next(),
                fields.next(),
                fields.next(),
                fields.next(),
                fields.next(),
                fields.next(),
            ) else {
                return Err(malformed());
            };
            Ok(Token {
                key_id: key_id.to_owned(),
                ts: ts.parse().map_err(|_| malformed())?,
                nonce: nonce.to_owned(),
                mac: hex::decode(mac).map_err(|_| malformed())?,
                expires: expires
                    .map(|e| e.parse().map_err(|_| malformed()))
                    .transpose()?,
            })
        }
        fn prepare(
            &self,
            t: &Token,
            parts: &Parts,
            _key: &SecretKey,
        ) -> Result<Pending, Rejection> {
            Ok(Pending {
                head: head(
                    parts.method.as_str(),
                    parts.uri.path(),
                    t.ts,
                    &t.nonce,
                    t.expires,
                ),
                body: Sha256::new(),
            })
        }
        fn update(&self, pending: &mut Pending, chunk: &[u8]) {
            pending.body.update(chunk);
        }
        fn verify(
            &self,
            t: &Token,
            pending: Pending,
            key: &SecretKey,
        ) -> Result<tower_hmac::protocol::Verified, Rejection> {
            let expected = mac(key.expose_secret(), &pending.head, &pending.body.finalize());
            if bool::from(expected.ct_eq(&t.mac)) {
                // The nonce is in the MACed head.
                Ok(tower_hmac::protocol::Verified::signed_nonce())
            } else {
                Err(Rejection::new(RejectionKind::InvalidSignature))
            }
        }
    }
}

use test_scheme::TestScheme;

fn key() -> SecretKey {
    SecretKey::from_bytes(&[7; 32]).unwrap()
}

fn registry() -> InMemoryRegistry {
    let registry = InMemoryRegistry::new();
    registry.insert("k1", "backoffice", key());
    registry.insert_record(
        "signing-only",
        KeyRecord::new("backoffice", key()).with_schemes(["v1"]),
    );
    registry
}

fn layer(reveal: bool) -> HmacAuthLayer {
    HmacAuthLayer::builder(registry(), AllowedHosts::new([HOST_OK]).unwrap())
        .clock(|| UNIX_EPOCH + Duration::from_secs(NOW))
        .nonce_store(
            MemoryNonceStore::new(1000)
                .unwrap()
                .with_horizon(SystemTime::UNIX_EPOCH),
        )
        .reveal_key_errors(reveal)
        .with_scheme(TestScheme) // the one line
        .build()
        .unwrap()
}

fn v1(key_id: &str, nonce: &str) -> String {
    let uri: http::Uri = "/orders".parse().unwrap();
    let mut headers = http::HeaderMap::new();
    headers.insert(HOST, HOST_OK.parse().unwrap());
    Signer::new(key_id, key())
        .unwrap()
        .sign(
            &(&Method::POST, &uri, &headers),
            &body_sha256(b"{}"),
            &tower_hmac::protocol::SignParams::new(NOW, nonce),
        )
        .unwrap()
        .to_string()
}

fn token(key_id: &str, nonce: &str, body: &[u8]) -> String {
    let head = test_scheme::head("POST", "/orders", NOW, nonce, None);
    let mac = test_scheme::mac(&[7; 32], &head, &body_sha256(body));
    format!("{key_id}:{NOW}:{nonce}:{}", hex::encode(mac))
}

/// A token signed at `ts` that expires at `expires`.
fn expiring(nonce: &str, ts: u64, expires: u64) -> String {
    let head = test_scheme::head("POST", "/orders", ts, nonce, Some(expires));
    let mac = test_scheme::mac(&[7; 32], &head, &body_sha256(b"{}"));
    format!("k1:{ts}:{nonce}:{}:{expires}", hex::encode(mac))
}

async fn echo(req: Request<VerifiedBody>) -> Result<Response<Full<Bytes>>, Infallible> {
    let auth = req.extensions().get::<Authenticated>().cloned().unwrap();
    Ok(Response::new(Full::new(Bytes::from(format!(
        "{} {}",
        auth.key_id(),
        auth.scheme()
    )))))
}

async fn call(
    layer: &HmacAuthLayer,
    headers: &[(&str, String)],
    body: &'static [u8],
) -> (StatusCode, Option<Rejection>, String) {
    let mut builder = Request::post("/orders").header(HOST, HOST_OK);
    for (name, value) in headers {
        builder = builder.header(*name, value.as_str());
    }
    let req = builder.body(Full::new(Bytes::from_static(body))).unwrap();
    let res = ServiceBuilder::new()
        .layer(layer.clone())
        .service_fn(echo)
        .oneshot(req)
        .await
        .unwrap();
    let status = res.status();
    let rejection = res.extensions().get::<Rejection>().cloned();
    let text =
        String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    (status, rejection, text)
}

#[tokio::test]
async fn a_scheme_added_in_one_line_verifies_next_to_v1() {
    let layer = layer(false);
    assert_eq!(layer.scheme_ids(), ["v1", "test"]);
    let (status, _, text) = call(
        &layer,
        &[("x-test-auth", token("k1", "test-nonce-000000001", b"{}"))],
        b"{}",
    )
    .await;
    assert_eq!((status, text.as_str()), (StatusCode::OK, "k1 test"));
    let (status, _, text) = call(
        &layer,
        &[("authorization", v1("k1", "v1-nonce-00000000001"))],
        b"{}",
    )
    .await;
    assert_eq!((status, text.as_str()), (StatusCode::OK, "k1 v1"));
    // Tampered body: the test scheme's MAC covers it.
    let (status, rejection, _) = call(
        &layer,
        &[("x-test-auth", token("k1", "test-nonce-000000002", b"{}"))],
        b"{\"x\":1}",
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(rejection.unwrap().kind(), RejectionKind::InvalidSignature);
}

#[tokio::test]
async fn the_layer_picks_one_scheme_or_says_why_not() {
    let layer = layer(false);
    let (_, rejection, _) = call(&layer, &[], b"").await;
    assert_eq!(
        rejection.unwrap().kind(),
        RejectionKind::MissingAuthorization
    );
    let (_, rejection, _) = call(&layer, &[("authorization", "Bearer abc".into())], b"").await;
    assert_eq!(rejection.unwrap().kind(), RejectionKind::UnsupportedScheme);
    let (status, rejection, _) = call(
        &layer,
        &[
            ("authorization", v1("k1", "both-nonce-000000001")),
            ("x-test-auth", token("k1", "both-nonce-000000001", b"{}")),
        ],
        b"{}",
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        rejection.unwrap().kind(),
        RejectionKind::AmbiguousCredentials
    );
    // A v1-only layer does not read the test scheme's header.
    let v1_only = HmacAuthLayer::builder(registry(), AllowedHosts::new([HOST_OK]).unwrap())
        .build()
        .unwrap();
    let req = Request::post("/orders")
        .header(HOST, HOST_OK)
        .header("x-test-auth", token("k1", "n-000000000000000001", b""))
        .body(Full::<Bytes>::default())
        .unwrap();
    let err = v1_only.verify(req).await.unwrap_err();
    assert_eq!(err.kind(), RejectionKind::MissingAuthorization);
}

#[tokio::test]
async fn a_key_limited_to_v1_is_refused_through_another_scheme() {
    let headers = [(
        "x-test-auth",
        token("signing-only", "lim-nonce-0000000001", b"{}"),
    )];
    let (status, rejection, _) = call(&layer(true), &headers, b"{}").await;
    assert_eq!(status, 401);
    assert_eq!(rejection.unwrap().kind(), RejectionKind::SchemeNotAllowed);
    // By default answered as any key that verifies nothing.
    let (status, rejection, _) = call(&layer(false), &headers, b"{}").await;
    assert_eq!(status, 401);
    assert_eq!(rejection.unwrap().kind(), RejectionKind::InvalidSignature);
    // Through v1 the same key works.
    let (status, _, _) = call(
        &layer(false),
        &[("authorization", v1("signing-only", "lim-nonce-0000000002"))],
        b"{}",
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_nonce_recorded_by_one_scheme_is_a_replay_through_another() {
    let layer = layer(false);
    let nonce = "shared-nonce-0000001";
    let (status, _, _) = call(&layer, &[("authorization", v1("k1", nonce))], b"{}").await;
    assert_eq!(status, 200);
    let (status, rejection, _) =
        call(&layer, &[("x-test-auth", token("k1", nonce, b"{}"))], b"{}").await;
    assert_eq!(status, 401);
    assert_eq!(rejection.unwrap().kind(), RejectionKind::ReplayedNonce);
}

#[tokio::test]
async fn a_scheme_with_an_expiry_is_valid_until_it_and_replay_safe_until_then() {
    let layer = layer(false);
    // Signed long before (beyond the 300 s skew) but not yet expired: accepted once.
    let valid = expiring("exp-nonce-0000000001", NOW - 1000, NOW + 600);
    let (status, _, text) = call(&layer, &[("x-test-auth", valid.clone())], b"{}").await;
    assert_eq!((status, text.as_str()), (StatusCode::OK, "k1 test"));
    let (_, rejection, _) = call(&layer, &[("x-test-auth", valid)], b"{}").await;
    assert_eq!(rejection.unwrap().kind(), RejectionKind::ReplayedNonce);
    // Expired a second ago.
    let expired = expiring("exp-nonce-0000000002", NOW - 1000, NOW - 1);
    let (status, rejection, _) = call(&layer, &[("x-test-auth", expired)], b"{}").await;
    assert_eq!(status, 401);
    assert_eq!(rejection.unwrap().kind(), RejectionKind::Expired);
    // Valid through its last second.
    let last = expiring("exp-nonce-0000000003", NOW - 10, NOW);
    assert_eq!(call(&layer, &[("x-test-auth", last)], b"{}").await.0, 200);
    // Signed further in the future than the skew allows: stale, whatever the expiry.
    let future = expiring("exp-nonce-0000000004", NOW + 1000, NOW + 2000);
    let (_, rejection, _) = call(&layer, &[("x-test-auth", future)], b"{}").await;
    assert_eq!(rejection.unwrap().kind(), RejectionKind::StaleTimestamp);
}
