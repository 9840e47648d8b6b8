//! One check-and-insert of a fresh nonce in each in-process store: empty, and with 1M live nonces.

#![allow(missing_docs)] // criterion_group! makes undocumented functions
#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark set-up

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use tower_hmac::store::NonceStore;
use tower_hmac::{MemoryNonceStore, MokaNonceStore};
use tower_hmac_benches::prefill;

/// Inserts fresh nonces with a 2 s TTL, so that the store holds about 2 s worth of the
/// benchmark's own inserts on top of what it was filled with, and never fills up.
fn insert_fresh(c: &mut Criterion, name: &str, store: &dyn NonceStore) {
    let counter = AtomicU64::new(0);
    let ttl = Duration::from_secs(2);
    c.bench_function(name, |b| {
        b.iter(|| {
            let n = counter.fetch_add(1, Ordering::Relaxed);
            let mut buf = *b"bench-nonce-0000000000000000";
            hex_into(&mut buf[12..], n);
            let nonce = std::str::from_utf8(&buf).unwrap();
            // Ready at once for in-process stores: poll without a runtime.
            let outcome = futures_poll(store.check_and_insert(
                "bench-key",
                nonce,
                tower_hmac_benches::lifetime(ttl),
            ));
            assert!(
                outcome.is_ok(),
                "the store filled up: the benchmark would measure refusals"
            );
        })
    });
}

/// Writes `n` as 16 hex digits without allocating (the benchmark measures the store, not
/// `format!`).
fn hex_into(out: &mut [u8], mut n: u64) {
    for b in out.iter_mut().rev() {
        *b = b"0123456789abcdef"[(n & 15) as usize];
        n >>= 4;
    }
}

fn futures_poll<F: std::future::Future>(future: F) -> F::Output {
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut future = std::pin::pin!(future);
    match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => panic!("an in-process store is always ready"),
    }
}

fn stores(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let capacity = 50_000_000;

    let memory = MemoryNonceStore::new(capacity).unwrap();
    insert_fresh(c, "memory store: insert, empty", &memory);
    let moka = MokaNonceStore::new(capacity).unwrap();
    insert_fresh(c, "moka store: insert, empty", &moka);

    let memory = MemoryNonceStore::new(capacity).unwrap();
    rt.block_on(prefill(&memory, 1_000_000, Duration::from_secs(600)));
    insert_fresh(c, "memory store: insert, 1M live", &memory);
    let moka = MokaNonceStore::new(capacity).unwrap();
    rt.block_on(prefill(&moka, 1_000_000, Duration::from_secs(600)));
    insert_fresh(c, "moka store: insert, 1M live", &moka);
}

criterion_group!(benches, stores);
criterion_main!(benches);
