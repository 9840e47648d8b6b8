//! Bytes per live nonce of the default `MemoryNonceStore`, as it fills: the tables' allocated
//! bytes and the process's resident memory, each divided by the nonces held (issue 25: the docs'
//! sizing rule, measured).
//!
//! ```sh
//! cargo run --release -p tower-hmac-benches --bin store_sizing
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark program

use std::time::{Duration, SystemTime};

use tower_hmac::MemoryNonceStore;
use tower_hmac::protocol::NonceLifetime;
use tower_hmac::store::NonceStore;
use tower_hmac_benches::rss_bytes;

fn main() {
    let before = rss_bytes();
    let store = MemoryNonceStore::default();
    let now = SystemTime::now();
    // Signed a second ahead: after the store's horizon (its start), so every nonce is held.
    let lifetime = NonceLifetime::for_request(
        tower_hmac::protocol::clock::unix_seconds(now) + 1,
        now,
        Duration::from_secs(300),
    );
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut held = 0usize;
    println!("live nonces | table bytes / nonce | resident bytes / nonce");
    for target in [
        100_000usize,
        300_000,
        1_000_000,
        2_000_000,
        4_000_000,
        8_000_000,
    ] {
        while held < target {
            // Many key ids, as a server's traffic has; each nonce once.
            let key_id = format!("k{}", held % 1000);
            let nonce = format!("{held:022}");
            let mut future = std::pin::pin!(store.check_and_insert(&key_id, &nonce, lifetime));
            match future.as_mut().poll(&mut cx) {
                std::task::Poll::Ready(Ok(tower_hmac::protocol::NonceOutcome::Fresh)) => {}
                other => panic!("insert {held}: {other:?}"),
            }
            held += 1;
        }
        println!(
            "{held:>11} | {:>19.1} | {:>22.1}",
            store.allocated_bytes() as f64 / held as f64,
            rss_bytes().saturating_sub(before) as f64 / held as f64,
        );
    }
}
