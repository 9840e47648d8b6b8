//! `CachingRegistry` (issue 14): TTLs on the injected clock, one backend lookup for concurrent
//! misses, explicit invalidation, a bounded size, and stale keys (never `unknown_key`) while the
//! backend is down.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tower_hmac::registry::{CachingRegistry, KeyRecord, KeyRegistry, RegistryError, StoreFuture};
use tower_hmac::{
    AllowedHosts, HmacAuthLayer, InMemoryRegistry, MemoryNonceStore, RejectionKind, SecretKey,
};

const NOW: u64 = 1_700_000_000;

/// A backend that counts its lookups, can be slow, and can be down.
#[derive(Clone, Default)]
struct Backend {
    keys: InMemoryRegistry,
    calls: Arc<AtomicUsize>,
    down: Arc<AtomicBool>,
    delay_ms: Arc<AtomicU64>,
}

impl KeyRegistry for Backend {
    fn lookup(&self, key_id: &str) -> StoreFuture<Result<Option<KeyRecord>, RegistryError>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let (keys, down, delay) = (self.keys.clone(), self.down.clone(), self.delay_ms.clone());
        let key_id = key_id.to_owned();
        StoreFuture::new(async move {
            let delay = delay.load(Ordering::SeqCst);
            if delay > 0 {
                tokio::time::sleep(Duration::from_millis(delay)).await;
            }
            if down.load(Ordering::SeqCst) {
                return Err(RegistryError::new("the database is down"));
            }
            Ok(keys.get(&key_id))
        })
    }
}

fn key() -> SecretKey {
    SecretKey::from_bytes(&[3; 32]).unwrap()
}

/// A clock the test moves.
#[derive(Clone, Default)]
struct Clock(Arc<AtomicU64>);

impl Clock {
    fn advance(&self, secs: u64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(NOW + self.0.load(Ordering::SeqCst))
    }
}

fn cache(backend: &Backend, clock: &Clock) -> CachingRegistry<Backend> {
    let clock = clock.clone();
    CachingRegistry::builder(backend.clone())
        .positive_ttl(Duration::from_secs(30))
        .negative_ttl(Duration::from_secs(5))
        .max_stale(Duration::from_secs(600))
        .clock(move || clock.now())
        .build()
}

async fn found(cache: &CachingRegistry<Backend>, id: &str) -> Result<bool, ()> {
    cache.lookup(id).await.map(|r| r.is_some()).map_err(|_| ())
}

#[tokio::test]
async fn found_and_unknown_keys_have_their_own_ttls() {
    let (backend, clock) = (Backend::default(), Clock::default());
    backend.keys.insert("k1", "app", key());
    let cache = cache(&backend, &clock);
    assert_eq!(found(&cache, "k1").await, Ok(true));
    assert_eq!(found(&cache, "nobody").await, Ok(false));
    assert_eq!(backend.calls.load(Ordering::SeqCst), 2);
    // Within both TTLs: from the cache.
    clock.advance(4);
    assert_eq!(found(&cache, "k1").await, Ok(true));
    assert_eq!(found(&cache, "nobody").await, Ok(false));
    assert_eq!(backend.calls.load(Ordering::SeqCst), 2);
    // A key added now is seen once the negative entry is 5 s old; a revocation once the positive
    // one is 30 s old — or at once, invalidated.
    backend.keys.insert("nobody", "app", key());
    backend.keys.revoke("k1");
    clock.advance(1);
    assert_eq!(found(&cache, "nobody").await, Ok(true));
    let state = |c: &CachingRegistry<Backend>| {
        let c = c.clone();
        async move { c.lookup("k1").await.unwrap().unwrap().state() }
    };
    assert_eq!(state(&cache).await, tower_hmac::registry::KeyState::Active);
    cache.invalidate("k1");
    assert_eq!(state(&cache).await, tower_hmac::registry::KeyState::Revoked);
    assert_eq!(backend.calls.load(Ordering::SeqCst), 4);
    clock.advance(31);
    let _ = found(&cache, "k1").await;
    assert_eq!(backend.calls.load(Ordering::SeqCst), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_of_one_key_make_one_backend_lookup() {
    let (backend, clock) = (Backend::default(), Clock::default());
    backend.keys.insert("k1", "app", key());
    backend.delay_ms.store(50, Ordering::SeqCst);
    let cache = cache(&backend, &clock);
    let lookups: Vec<_> = (0..64)
        .map(|i| {
            let cache = cache.clone();
            tokio::spawn(async move {
                let id = if i % 2 == 0 { "k1" } else { "nobody" };
                cache.lookup(id).await.unwrap().is_some() == (i % 2 == 0)
            })
        })
        .collect();
    for lookup in lookups {
        assert!(lookup.await.unwrap());
    }
    // One per key id, not one per request.
    assert_eq!(backend.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn the_cache_is_bounded() {
    let (backend, clock) = (Backend::default(), Clock::default());
    let cache = {
        let clock = clock.clone();
        CachingRegistry::builder(backend.clone())
            .capacity(100)
            .clock(move || clock.now())
            .build()
    };
    for i in 0..1000 {
        let _ = found(&cache, &format!("id-{i}")).await;
        assert!(cache.len() <= 100);
    }
    cache.invalidate_all();
    assert!(cache.is_empty());
}

#[tokio::test]
async fn while_the_backend_is_down_cached_keys_work_and_others_are_unavailable() {
    let (backend, clock) = (Backend::default(), Clock::default());
    backend.keys.insert("k1", "app", key());
    let cache = cache(&backend, &clock);
    assert_eq!(found(&cache, "k1").await, Ok(true));
    backend.down.store(true, Ordering::SeqCst);
    clock.advance(60); // past the positive TTL: the backend is asked, and fails
    assert_eq!(found(&cache, "k1").await, Ok(true), "served stale");
    assert_eq!(
        found(&cache, "k2").await,
        Err(()),
        "unknown while down: an error"
    );

    // Through the layer: the cached key signs, an unknown one is 503 with Retry-After.
    let layer = HmacAuthLayer::builder(cache.clone(), AllowedHosts::new(["api.test"]).unwrap())
        .clock({
            let clock = clock.clone();
            move || clock.now()
        })
        .nonce_store(MemoryNonceStore::new(100).unwrap().with_horizon(UNIX_EPOCH))
        .reveal_key_errors(true)
        .build()
        .unwrap();
    let call = |key_id: &'static str| {
        let layer = layer.clone();
        let ts = clock.now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        async move {
            let request = common::signed_get("https://api.test/", key_id, &key(), ts);
            layer
                .verify(request)
                .await
                .map(|_| ())
                .map_err(|r| r.kind())
        }
    };
    assert_eq!(call("k1").await, Ok(()));
    assert_eq!(call("k2").await, Err(RejectionKind::KeyStoreUnavailable));
    // Beyond max_stale the cached key stops working too.
    clock.advance(600);
    assert_eq!(call("k1").await, Err(RejectionKind::KeyStoreUnavailable));
    // The backend back: recovery without a restart.
    backend.down.store(false, Ordering::SeqCst);
    assert_eq!(call("k1").await, Ok(()));
}
