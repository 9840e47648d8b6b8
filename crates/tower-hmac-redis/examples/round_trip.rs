//! Measures the Redis store's round trip against a bare `PING` on the same connection, in the
//! same run (the machine is shared and noisy: compare ratios, not absolute figures).
//!
//! ```sh
//! cargo run --release -p tower-hmac-redis --example round_trip [-- REDIS_URL [N [ROUNDS]]]
//! ```

use std::time::{Duration, Instant};

use redis::aio::ConnectionManager;
use tower_hmac_core::{NonceStore, generate_nonce};
use tower_hmac_redis::RedisNonceStore;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn summary(name: &str, mut samples: Vec<Duration>) -> Duration {
    samples.sort_unstable();
    let median = percentile(&samples, 0.5);
    println!(
        "{name:<28} median {:>7.1} µs   p99 {:>7.1} µs   max {:>8.1} µs",
        median.as_secs_f64() * 1e6,
        percentile(&samples, 0.99).as_secs_f64() * 1e6,
        samples[samples.len() - 1].as_secs_f64() * 1e6
    );
    median
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "redis://127.0.0.1:6379".into());
    let n: usize = args.next().map_or(Ok(20_000), |s| s.parse())?;
    // Concurrent rounds: a p99 of one 0.1 s phase is noise; ten alternated phases each are not.
    let rounds: usize = args.next().map_or(Ok(10), |s| s.parse())?;
    let prefix = format!("tower-hmac-bench:{}:", generate_nonce()?);

    let client = redis::Client::open(url.as_str())?;
    let mut ping_conn = ConnectionManager::new(client.clone()).await?;
    let store = RedisNonceStore::from_connection(ConnectionManager::new(client).await?)
        .with_prefix(prefix.as_str());
    let ttl = Duration::from_secs(60);
    let nonces: Vec<String> = (0..n).map(|_| generate_nonce()).collect::<Result<_, _>>()?;

    // Warm up both paths.
    for nonce in nonces.iter().take(1000) {
        let _: String = redis::cmd("PING").query_async(&mut ping_conn).await?;
        store
            .check_and_insert("warmup", nonce, lifetime(ttl))
            .await?;
    }

    println!("sequential, {n} calls each, one connection, {url}");
    let mut ping = Vec::with_capacity(n);
    let mut set = Vec::with_capacity(n);
    for nonce in &nonces {
        let t = Instant::now();
        let _: String = redis::cmd("PING").query_async(&mut ping_conn).await?;
        ping.push(t.elapsed());
        let t = Instant::now();
        store
            .check_and_insert("bench-key", nonce, lifetime(ttl))
            .await?;
        set.push(t.elapsed());
    }
    let ping_median = summary("PING (baseline)", ping);
    let set_median = summary("check_and_insert (SET NX PX)", set);
    println!(
        "ratio check_and_insert / PING (medians): {:.2}",
        set_median.as_secs_f64() / ping_median.as_secs_f64()
    );

    // 64 concurrent tasks on one multiplexed connection: every call timed, the check's p99
    // against a PING's p99 under the same concurrency, alternating PING and check phases
    // `rounds` times (the machine drifts within a run).
    let concurrency = 64;
    let per_task = n / concurrency;
    let mut ping_all = Vec::new();
    let mut set_all = Vec::new();
    let mut set_elapsed = Duration::ZERO;
    for round in 0..rounds {
        ping_all.extend(
            concurrent(concurrency, per_task, |_| {
                let mut conn = ping_conn.clone();
                async move {
                    let _: String = redis::cmd("PING").query_async(&mut conn).await?;
                    Ok(())
                }
            })
            .await?,
        );
        let started = Instant::now();
        set_all.extend(
            concurrent(concurrency, per_task, |i| {
                let store = store.clone();
                let nonce = format!("concurrent-{round}-{i:010}");
                async move {
                    store
                        .check_and_insert("bench-key", &nonce, lifetime(Duration::from_secs(60)))
                        .await
                        .map(|_| ())
                        .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)
                }
            })
            .await?,
        );
        set_elapsed += started.elapsed();
    }
    println!(
        "concurrent: {rounds} rounds of {concurrency} tasks × {per_task} checks, {:.0} checks/s on one multiplexed connection",
        set_all.len() as f64 / set_elapsed.as_secs_f64()
    );
    let p99 = |mut v: Vec<Duration>| {
        v.sort_unstable();
        percentile(&v, 0.99)
    };
    let (ping_p99, set_p99) = (p99(ping_all.clone()), p99(set_all.clone()));
    summary("concurrent PING", ping_all);
    summary("concurrent check_and_insert", set_all);
    println!(
        "ratio check_and_insert / PING (p99, 64 concurrent): {:.2}",
        set_p99.as_secs_f64() / ping_p99.as_secs_f64()
    );

    // Clean up.
    let mut conn = ping_conn;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await?;
    for chunk in keys.chunks(1000) {
        let _: i64 = redis::cmd("DEL").arg(chunk).query_async(&mut conn).await?;
    }
    Ok(())
}

/// Runs `tasks` tasks of `per_task` calls each (`call(i)` with a number unique in the run), every
/// call timed.
async fn concurrent<F, Fut>(
    tasks: usize,
    per_task: usize,
    call: F,
) -> Result<Vec<Duration>, Box<dyn std::error::Error + Send + Sync>>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Result<(), Box<dyn std::error::Error + Send + Sync>>>
        + Send
        + 'static,
{
    let mut handles = Vec::new();
    for t in 0..tasks {
        let calls: Vec<Fut> = (0..per_task).map(|i| call(t * per_task + i)).collect();
        handles.push(tokio::spawn(async move {
            let mut samples = Vec::with_capacity(calls.len());
            for future in calls {
                let started = Instant::now();
                future.await?;
                samples.push(started.elapsed());
            }
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(samples)
        }));
    }
    let mut all = Vec::with_capacity(tasks * per_task);
    for handle in handles {
        all.extend(handle.await??);
    }
    Ok(all)
}

/// The lifetime of a nonce recorded and signed now, kept for `ttl`.
fn lifetime(ttl: Duration) -> tower_hmac_core::NonceLifetime {
    let now = tower_hmac_core::unix_millis(std::time::SystemTime::now());
    tower_hmac_core::NonceLifetime::from_millis(now, now, now + ttl.as_millis() as u64)
}
