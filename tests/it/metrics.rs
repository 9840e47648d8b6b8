//! The layer's metrics (`metrics` feature), read through a recorder as an exporter would: requests
//! by outcome, code, scheme and app, the verification latency, and the caching registry's hits
//! and misses.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, UNIX_EPOCH};

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use tower_hmac::protocol::{SignParams, Signer, body_sha256, generate_nonce};
use tower_hmac::registry::CachingRegistry;
use tower_hmac::{AllowedHosts, HmacAuthLayer, InMemoryRegistry, MemoryNonceStore, SecretKey};

const NOW: u64 = 1_700_000_000;

fn request(key_id: &str, key: &SecretKey) -> http::Request<http_body_util::Full<bytes::Bytes>> {
    let mut request = http::Request::get("https://api.test/")
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    let (m, uri) = (request.method().clone(), request.uri().clone());
    Signer::new(key_id, key.clone())
        .unwrap()
        .authorize(
            &m,
            &uri,
            request.headers_mut(),
            &body_sha256(b""),
            &SignParams::new(NOW, &generate_nonce().unwrap()),
        )
        .unwrap();
    request
}

#[test]
fn requests_latency_and_registry_lookups_are_counted() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let key = SecretKey::from_bytes(&[4; 32]).unwrap();
            let backend = InMemoryRegistry::new();
            backend.insert("k1", "shop", key.clone());
            let layer = HmacAuthLayer::builder(
                CachingRegistry::new(backend),
                AllowedHosts::new(["api.test"]).unwrap(),
            )
            .clock(|| UNIX_EPOCH + Duration::from_secs(NOW))
            .nonce_store(MemoryNonceStore::new(100).unwrap().with_horizon(UNIX_EPOCH))
            .build()
            .unwrap();
            let svc = tower::ServiceBuilder::new()
                .layer(layer)
                .service_fn(|_| async {
                    Ok::<_, std::convert::Infallible>(http::Response::new(
                        http_body_util::Full::new(bytes::Bytes::new()),
                    ))
                });
            use tower::ServiceExt as _;
            for _ in 0..3 {
                assert_eq!(
                    svc.clone()
                        .oneshot(request("k1", &key))
                        .await
                        .unwrap()
                        .status(),
                    200
                );
            }
            let wrong = SecretKey::from_bytes(&[5; 32]).unwrap();
            assert_eq!(
                svc.clone()
                    .oneshot(request("k1", &wrong))
                    .await
                    .unwrap()
                    .status(),
                401
            );
            assert_eq!(
                svc.clone()
                    .oneshot(request("nobody", &key))
                    .await
                    .unwrap()
                    .status(),
                401
            );
        });
    });
    let mut counters = std::collections::HashMap::new();
    let mut latencies = 0;
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let labels: Vec<String> = key
            .key()
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        match value {
            DebugValue::Counter(n) => {
                counters.insert(format!("{} {}", key.key().name(), labels.join(",")), n);
            }
            DebugValue::Histogram(values)
                if key.key().name() == "tower_hmac_verification_seconds" =>
            {
                latencies += values.len();
            }
            _ => {}
        }
    }
    let get = |k: &str| {
        counters
            .get(k)
            .copied()
            .unwrap_or_else(|| panic!("no {k} in {counters:#?}"))
    };
    assert_eq!(
        get("tower_hmac_requests_total outcome=accepted,code=ok,scheme=v1,app=shop"),
        3
    );
    // A bad signature and an unknown key are counted as they were answered: metrics are as
    // readable as the answers, so they tell no more (the log has the real code and the app).
    assert_eq!(
        get(
            "tower_hmac_requests_total outcome=rejected,code=invalid_signature,scheme=v1,app=unknown"
        ),
        2
    );
    assert_eq!(latencies, 5);
    // k1: one miss then hits; nobody: one miss (a negative entry).
    assert_eq!(get("tower_hmac_registry_lookups_total result=miss"), 2);
    assert_eq!(get("tower_hmac_registry_lookups_total result=hit"), 3);
}

#[test]
fn a_scope_refusal_is_one_decision_counted_like_the_layers() {
    use tower_hmac::server::RequireScope;
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let key = SecretKey::from_bytes(&[4; 32]).unwrap();
            let registry = InMemoryRegistry::new();
            registry.insert("k1", "shop", key.clone());
            let layer = HmacAuthLayer::builder(registry, AllowedHosts::new(["api.test"]).unwrap())
                .clock(|| UNIX_EPOCH + Duration::from_secs(NOW))
                .nonce_store(MemoryNonceStore::new(100).unwrap().with_horizon(UNIX_EPOCH))
                .build()
                .unwrap();
            let svc = tower::ServiceBuilder::new()
                .layer(layer)
                .layer(RequireScope::new("orders:write"))
                .service_fn(|_| async {
                    Ok::<_, std::convert::Infallible>(http::Response::new(
                        http_body_util::Full::new(bytes::Bytes::new()),
                    ))
                });
            use tower::ServiceExt as _;
            let res = svc.oneshot(request("k1", &key)).await.unwrap();
            assert_eq!(res.status(), 403);
        });
    });
    let counters: Vec<String> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter(|(key, ..)| key.key().name().ends_with("_total"))
        .map(|(key, _, _, value)| {
            let labels: Vec<String> = key
                .key()
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            format!("{} {} {value:?}", key.key().name(), labels.join(","))
        })
        .collect();
    // The layer accepted the signature (one request, one count), then the route refused the
    // scope: that refusal has its own counter.
    assert_eq!(
        counters,
        [
            "tower_hmac_requests_total outcome=accepted,code=ok,scheme=v1,app=shop Counter(1)",
            "tower_hmac_scope_refusals_total code=insufficient_scope,scheme=v1,app=shop Counter(1)",
        ],
        "{counters:#?}"
    );
}
