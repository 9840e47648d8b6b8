//! Shared pieces of the benchmarks: the bench key, signed requests, a pre-filled replay store.

pub mod floor;
pub mod schemes;

use std::time::Duration;

use http::{HeaderMap, HeaderValue, Method, Request, Uri, header};
use tower_hmac::protocol::{Signer, SystemClock, body_sha256, clock::Clock, generate_nonce};
use tower_hmac::store::NonceStore;
use tower_hmac::{InMemoryRegistry, SecretKey};

/// The key id of the benchmarks.
pub const KEY_ID: &str = "bench-2026";

/// The benchmarks' key (not a secret: benchmarks only).
pub fn key() -> SecretKey {
    SecretKey::from_bytes(&[0x5a; 32]).unwrap_or_else(|e| panic!("bench key: {e}"))
}

/// A registry with the bench key.
pub fn registry() -> InMemoryRegistry {
    let registry = InMemoryRegistry::new();
    registry.insert(KEY_ID, "bench-app", key());
    registry
}

/// A signer for the bench key.
pub fn signer() -> Signer {
    Signer::new(KEY_ID, key()).unwrap_or_else(|e| panic!("signer: {e}"))
}

/// The `Authorization` value of a request to `host` with a fresh nonce, signed now.
pub fn authorization(method: &Method, host: &str, target: &str, body: &[u8]) -> String {
    let uri: Uri = target.parse().unwrap_or_else(|e| panic!("target: {e}"));
    let mut headers = HeaderMap::new();
    headers.insert(
        header::HOST,
        HeaderValue::from_str(host).unwrap_or_else(|e| panic!("host: {e}")),
    );
    let nonce = generate_nonce().unwrap_or_else(|e| panic!("nonce: {e}"));
    signer()
        .sign(
            &(method, &uri, &headers),
            &body_sha256(body),
            &tower_hmac::protocol::SignParams::new(SystemClock.unix_seconds(), &nonce),
        )
        .unwrap_or_else(|e| panic!("sign: {e}"))
        .to_string()
}

/// A signed request with a body type of the caller's.
pub fn signed_request<B>(
    method: Method,
    host: &str,
    target: &str,
    body: &[u8],
    wrap: impl FnOnce(Vec<u8>) -> B,
) -> Request<B> {
    let auth = authorization(&method, host, target, body);
    Request::builder()
        .method(method)
        .uri(target)
        .header(header::HOST, host)
        .header(header::AUTHORIZATION, auth)
        .body(wrap(body.to_vec()))
        .unwrap_or_else(|e| panic!("request: {e}"))
}

/// The lifetime of a nonce recorded and signed now (system clock), kept for `ttl`.
pub fn lifetime(ttl: Duration) -> tower_hmac::protocol::NonceLifetime {
    let now = tower_hmac::protocol::unix_millis(std::time::SystemTime::now());
    tower_hmac::protocol::NonceLifetime::from_millis(now, now, now + ttl.as_millis() as u64)
}

/// A replay store whose memory began a minute ago, and where the benchmarks' one key may take all
/// of it: benchmarks sign requests right after they build a layer (a store started this second
/// would refuse them once: its restart horizon), and send millions with one key (the default
/// share per key is half the store).
pub fn store_started_earlier(capacity: u64) -> tower_hmac::MemoryNonceStore {
    tower_hmac::MemoryNonceStore::new(capacity)
        .and_then(|store| store.with_key_share_percent(100))
        .unwrap_or_else(|e| panic!("store: {e}"))
        .with_horizon(std::time::SystemTime::now() - Duration::from_secs(60))
}

/// [`store_started_earlier`] holding [`BUSY_NONCES`] live nonces of another key: every one of the
/// store's shards has its table, as on a server that has run for a while. The deterministic
/// counts (`instr_count`, `alloc_count`) measure the layer on it: on an empty store a request
/// that lands on a shard for the first time also pays for that shard's first table (one 1 KiB
/// allocation, about 1 400 instructions), which a running server paid once, long ago.
pub fn busy_store(capacity: u64) -> tower_hmac::MemoryNonceStore {
    let store = store_started_earlier(capacity);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let filled = std::pin::pin!(prefill(&store, BUSY_NONCES, Duration::from_secs(3600)))
        .poll(&mut cx)
        .is_ready();
    assert!(filled, "the in-memory store answers at once");
    store
}

/// Nonces in a [`busy_store`]: 16 for each of the in-memory store's 1 024 shards on average (the
/// chance that one of them stays empty is 1 024 × e⁻¹⁶, about 10⁻⁴), well under the 48 that
/// would make a shard's first table grow.
pub const BUSY_NONCES: usize = 16 * 1024;

/// Fills a store with `n` live nonces (TTL `ttl`), as a busy server would have.
pub async fn prefill(store: &dyn NonceStore, n: usize, ttl: Duration) {
    for i in 0..n {
        let nonce = format!("prefill-{i:016}");
        store
            .check_and_insert("prefill-key", &nonce, lifetime(ttl))
            .await
            .unwrap_or_else(|e| panic!("prefill: {e}"));
    }
}

/// A scheme that is enabled but never used: its credentials are a header of its own that the
/// benchmark's requests do not carry. Four of them measure what enabling more schemes costs a
/// v1 request (the locator checks).
pub use tower_hmac::test_util::NullScheme as Unused;

/// The four unused schemes.
pub const UNUSED: [Unused; 4] = [
    Unused(
        "unused-a",
        tower_hmac::protocol::Locator::Header(http::HeaderName::from_static("x-unused-a")),
    ),
    Unused(
        "unused-b",
        tower_hmac::protocol::Locator::Header(http::HeaderName::from_static("x-unused-b")),
    ),
    Unused(
        "unused-c",
        tower_hmac::protocol::Locator::Header(http::HeaderName::from_static("x-unused-c")),
    ),
    Unused(
        "unused-d",
        tower_hmac::protocol::Locator::Header(http::HeaderName::from_static("x-unused-d")),
    ),
];

/// The process's resident memory, in bytes (Linux `/proc/self/statm`; 0 elsewhere).
pub fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    pages * 4096
}
