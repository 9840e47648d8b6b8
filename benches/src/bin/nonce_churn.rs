//! The replay store's latency-cliff benchmark: 1M live nonces, 50k new nonces per second with a
//! 20 s TTL (so as many expire as arrive), every check timed.
//!
//! ```sh
//! cargo run --release -p tower-hmac-benches --bin nonce_churn -- [memory|moka] [SECONDS] [CSV]
//! cargo run --release -p tower-hmac-benches --bin nonce_churn -- grow
//! ```
//!
//! Prints the insert latency distribution (median … max), how many checks took over 1 ms and
//! 5 ms, and the resident memory per live nonce. `grow` instead fills the default
//! `MemoryNonceStore` from empty to 95 % of its memory budget's capacity as fast as it can, every
//! check timed: its tables grow shard by shard, and no check may wait long for it. With a `CSV`
//! path the churn run also writes, per second, the median, p99 and largest check
//! (`second,p50_us,p99_us,max_us`), which `scripts/plots.py` draws.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark program

use std::time::{Duration, Instant};

use tower_hmac::store::NonceStore;
use tower_hmac::{MemoryNonceStore, MokaNonceStore};
use tower_hmac_benches::rss_bytes;

const LIVE: usize = 1_000_000;
const RATE: usize = 50_000;
const TTL_SECS: u64 = 20;

fn poll_ready<F: std::future::Future>(future: F) -> F::Output {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let mut future = std::pin::pin!(future);
    match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => panic!("in-process stores answer at once"),
    }
}

/// Fills the default store from empty to 95 % of its capacity, timing every check.
fn grow() {
    let store = MemoryNonceStore::default();
    let target = store.capacity() * 95 / 100;
    let rss_before = rss_bytes();
    let lifetime = tower_hmac_benches::lifetime(Duration::from_secs(600));
    let mut samples: Vec<Duration> = Vec::with_capacity(target as usize);
    let mut nonce = *b"grow-0000000000000000";
    let started = Instant::now();
    for n in 0..target {
        // Eight keys, so that no key reaches its share of the store.
        let key = ["k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"][(n % 8) as usize];
        for (i, b) in nonce[5..].iter_mut().enumerate() {
            *b = b"0123456789abcdef"[((n >> (4 * (15 - i))) & 15) as usize];
        }
        let text = std::str::from_utf8(&nonce).unwrap();
        let t = Instant::now();
        let outcome = poll_ready(store.check_and_insert(key, text, lifetime));
        samples.push(t.elapsed());
        assert!(outcome.is_ok(), "refused at {n} of {target}: {outcome:?}");
    }
    let elapsed = started.elapsed();
    let rss_after = rss_bytes();
    samples.sort_unstable();
    let pct = |p: f64| samples[((samples.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e6;
    let over = |limit: Duration| samples.iter().filter(|s| **s > limit).count();
    println!(
        "grow: {} checks from empty to 95 % of {} in {:.1} s: median {:.2} µs, p99 {:.2} µs, p99.9 {:.2} µs, max {:.1} µs; > 1 ms: {}, > 5 ms: {}; tables {:.1} MB of a {:.0} MB budget, RSS +{:.1} MB",
        samples.len(),
        store.capacity(),
        elapsed.as_secs_f64(),
        pct(0.5),
        pct(0.99),
        pct(0.999),
        samples[samples.len() - 1].as_secs_f64() * 1e6,
        over(Duration::from_millis(1)),
        over(Duration::from_millis(5)),
        store.allocated_bytes() as f64 / 1e6,
        store.memory_budget() as f64 / 1e6,
        (rss_after - rss_before) as f64 / 1e6,
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let kind = args.next().unwrap_or_else(|| "memory".into());
    if kind == "grow" {
        grow();
        return;
    }
    let seconds: usize = args.next().map_or(30, |s| s.parse().unwrap());
    let csv = args.next();
    let mut samples: Vec<Duration> = Vec::with_capacity(RATE * seconds + 1);

    let rss_before = rss_bytes();
    let memory = MemoryNonceStore::new(4 * LIVE as u64).unwrap();
    // The default store's own table bytes, to tell its growth from the allocator's.
    let tables = |when: &str| {
        if kind == "memory" {
            println!(
                "memory: tables {:.1} MB {when}",
                memory.allocated_bytes() as f64 / 1e6
            );
        }
    };
    let store: Box<dyn NonceStore> = match kind.as_str() {
        "memory" => Box::new(memory.clone()),
        "moka" => Box::new(MokaNonceStore::new(4 * LIVE as u64).unwrap()),
        other => panic!("unknown store {other}: memory or moka"),
    };
    // 1M live nonces whose expiries are spread over the next 20 s, as under steady churn.
    for i in 0..LIVE {
        let ttl = Duration::from_millis(1000 + (i as u64 * TTL_SECS * 1000 / LIVE as u64));
        poll_ready(store.check_and_insert(
            "churn-key",
            &format!("prefill-{i:016}"),
            tower_hmac_benches::lifetime(ttl),
        ))
        .unwrap();
    }
    let rss_after = rss_bytes();
    println!(
        "{kind}: {LIVE} live nonces, resident memory {:.1} MB → {:.0} bytes per live nonce",
        (rss_after - rss_before) as f64 / 1e6,
        (rss_after - rss_before) as f64 / LIVE as f64
    );
    tables("after the prefill");

    // Steady churn: RATE new nonces per second in 100 batches per second.
    let batch = RATE / 100;
    let started = Instant::now();
    let mut n: u64 = 0;
    for tick in 0..(seconds * 100) {
        let due = started + Duration::from_millis(tick as u64 * 10);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        for _ in 0..batch {
            n += 1;
            let nonce = format!("churn-{n:016}");
            let t = Instant::now();
            let outcome = poll_ready(store.check_and_insert(
                "churn-key",
                &nonce,
                tower_hmac_benches::lifetime(Duration::from_secs(TTL_SECS)),
            ));
            samples.push(t.elapsed());
            outcome.unwrap();
        }
    }
    let elapsed = started.elapsed();
    tables("at the end");
    if let Some(path) = csv {
        // The samples are in order, RATE a second.
        let mut out = String::from("second,p50_us,p99_us,max_us\n");
        for (second, window) in samples.chunks(RATE).enumerate() {
            let mut window = window.to_vec();
            window.sort_unstable();
            let at = |p: f64| window[((window.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e6;
            out.push_str(&format!(
                "{},{:.3},{:.3},{:.3}\n",
                second + 1,
                at(0.5),
                at(0.99),
                at(1.0)
            ));
        }
        std::fs::write(&path, out).unwrap();
    }
    samples.sort_unstable();
    let pct = |p: f64| samples[((samples.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e6;
    let over = |limit: Duration| samples.iter().filter(|s| **s > limit).count();
    println!(
        "{kind}: {} checks in {:.1} s ({:.0}/s): median {:.2} µs, p99 {:.2} µs, p99.9 {:.2} µs, max {:.1} µs; > 1 ms: {}, > 5 ms: {}",
        samples.len(),
        elapsed.as_secs_f64(),
        samples.len() as f64 / elapsed.as_secs_f64(),
        pct(0.5),
        pct(0.99),
        pct(0.999),
        samples[samples.len() - 1].as_secs_f64() * 1e6,
        over(Duration::from_millis(1)),
        over(Duration::from_millis(5)),
    );
    // The timing samples are resident too by now: their bytes are not the store's.
    let samples_bytes = (samples.len() * std::mem::size_of::<Duration>()) as u64;
    let end = rss_bytes()
        .saturating_sub(rss_before)
        .saturating_sub(samples_bytes);
    println!(
        "{kind}: resident memory at the end {:.1} MB (the timing samples' {:.1} MB left out): {:.2}x the prefill's",
        end as f64 / 1e6,
        samples_bytes as f64 / 1e6,
        end as f64 / (rss_after - rss_before).max(1) as f64
    );
}
