//! The replay store's 80 % warning. Alone in its own test binary: tracing caches per-callsite
//! interest globally, so a thread-local subscriber in a binary that runs other tests in parallel
//! can miss events.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::sync::Arc;
use std::time::SystemTime;

use tower_hmac::MemoryNonceStore;
use tower_hmac::protocol::{NonceLifetime, unix_millis};
use tower_hmac::store::NonceStore;

#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

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
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let text = || String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();

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
