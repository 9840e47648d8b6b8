//! The replay store's 80 % warning, read through `common::capture` (this thread's events only).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use crate::common;

use std::time::SystemTime;

use tower_hmac::MemoryNonceStore;
use tower_hmac::protocol::{NonceLifetime, unix_millis};
use tower_hmac::store::NonceStore;

fn insert(store: &MemoryNonceStore, i: usize) {
    let now = unix_millis(SystemTime::now());
    let lifetime = NonceLifetime::from_millis(now, now, now + 60_000);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let mut future =
        std::pin::pin!(store.check_and_insert("k", &format!("nonce-{i:012}"), lifetime));
    assert!(matches!(
        future.as_mut().poll(&mut cx),
        std::task::Poll::Ready(Ok(_))
    ));
}

#[test]
fn warns_once_when_the_store_passes_80_percent() {
    let (captured, _guard) = common::capture(tracing::Level::INFO);
    let text = || captured.text();

    let store = MemoryNonceStore::new(100)
        .unwrap()
        .with_key_share_percent(100)
        .unwrap();
    for i in 0..79 {
        insert(&store, i);
    }
    assert!(!text().contains("80 %"), "{}", text());
    insert(&store, 79);
    assert_eq!(text().matches("over 80 % full").count(), 1, "{}", text());
    assert!(text().contains("WARN") && text().contains("tower_hmac::store"));
    assert!(text().contains("capacity=100"), "{}", text());
    for i in 80..95 {
        insert(&store, i);
    }
    assert_eq!(text().matches("over 80 % full").count(), 1, "warned again");
}
