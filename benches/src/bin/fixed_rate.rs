//! A constant-rate (open-loop) HTTP/1.1 load generator, for issue 16's tail-latency goal: a
//! saturating load's p99 is noise on this machine, a fixed rate's is not.
//!
//! ```sh
//! fixed_rate ADDR RATE SECONDS CONNECTIONS REQUESTS_FILE
//! ```
//!
//! Sends the pre-built requests of `REQUESTS_FILE` (whole HTTP/1.1 requests without bodies, one
//! after the other, as `bench_server sign-raw` writes them; each is sent once) at `RATE` requests
//! a second over `CONNECTIONS` keep-alive connections: request `i` is due at `i / RATE` seconds
//! from the start, on connection `i % CONNECTIONS`. Its latency counts from when it was due, not
//! from when it could be sent (as wrk2 does), so a stall delays and counts every request behind
//! it instead of hiding them (coordinated omission). The first fifth of the run (at most one
//! second) is a warm-up, left out of the figures. Prints one line:
//!
//! ```text
//! offered RATE achieved R/s n N p50 X p90 X p99 X p999 X max X us non2xx K errors E
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark program

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Splits a file of bodiless requests at each blank line.
fn requests(bytes: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    while let Some(end) = bytes[start..]
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| start + i + 4)
    {
        out.push(&bytes[start..end]);
        start = end;
    }
    out
}

/// Reads one response; returns its status. `buf` keeps what follows it (nothing, without
/// pipelining).
async fn response(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<u16> {
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&buf[..head_end]).unwrap_or("");
            let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0u16);
            let length: usize = head
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().ok())
                        .flatten()
                })
                .unwrap_or(0);
            let total = head_end + 4 + length;
            while buf.len() < total {
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            buf.drain(..total);
            return Ok(status);
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

struct Outcome {
    latencies: Vec<Duration>,
    non2xx: usize,
    errors: usize,
    last: Instant,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [addr, rate, seconds, connections, file] = args.as_slice() else {
        eprintln!("usage: fixed_rate ADDR RATE SECONDS CONNECTIONS REQUESTS_FILE");
        std::process::exit(2);
    };
    let rate: f64 = rate.parse().unwrap();
    let seconds: f64 = seconds.parse().unwrap();
    let connections: usize = connections.parse().unwrap();
    let bytes = std::fs::read(file).unwrap();
    let all = requests(&bytes);
    let total = (rate * seconds) as usize;
    assert!(
        all.len() >= total,
        "{file} holds {} requests, {total} needed",
        all.len()
    );
    let owned: Arc<Vec<Vec<u8>>> = Arc::new(all[..total].iter().map(|r| r.to_vec()).collect());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let addr = addr.clone();
    let outcomes = rt.block_on(async move {
        let mut streams = Vec::with_capacity(connections);
        for _ in 0..connections {
            let stream = TcpStream::connect(addr.as_str()).await.unwrap();
            stream.set_nodelay(true).unwrap();
            streams.push(stream);
        }
        let start = Instant::now() + Duration::from_millis(50);
        let warmup = Duration::from_secs_f64((seconds / 5.0).min(1.0));
        let mut tasks = Vec::new();
        for (c, mut stream) in streams.into_iter().enumerate() {
            let requests = owned.clone();
            tasks.push(tokio::spawn(async move {
                let mut out = Outcome {
                    latencies: Vec::with_capacity(requests.len() / connections + 1),
                    non2xx: 0,
                    errors: 0,
                    last: start,
                };
                let mut buf = Vec::with_capacity(8192);
                let mut i = c;
                while i < requests.len() {
                    let due = start + Duration::from_nanos((i as f64 * 1e9 / rate) as u64);
                    // Tokio's timer has millisecond resolution: sleep to within 2 ms of the due
                    // time, then yield until it (this core is the generator's alone).
                    if due > Instant::now() + Duration::from_millis(2) {
                        tokio::time::sleep_until((due - Duration::from_millis(2)).into()).await;
                    }
                    while due > Instant::now() {
                        tokio::task::yield_now().await;
                    }
                    let sent = stream.write_all(&requests[i]).await;
                    let status = match sent {
                        Ok(()) => response(&mut stream, &mut buf).await,
                        Err(e) => Err(e),
                    };
                    let now = Instant::now();
                    match status {
                        // The first fifth of the run (at most a second) warms connections and
                        // caches up, as wrk2's calibration period does: not counted.
                        Ok(_) if due < start + warmup => {}
                        Ok(status) => {
                            out.latencies.push(now - due);
                            if !(200..300).contains(&status) {
                                out.non2xx += 1;
                            }
                        }
                        Err(_) => {
                            out.errors += 1;
                            break;
                        }
                    }
                    out.last = now;
                    i += connections;
                }
                (start, out)
            }));
        }
        let mut outcomes = Vec::new();
        for task in tasks {
            outcomes.push(task.await.unwrap());
        }
        outcomes
    });
    let start = outcomes[0].0;
    let mut latencies = Vec::with_capacity(total);
    let (mut non2xx, mut errors, mut last) = (0, 0, start);
    for (_, outcome) in outcomes {
        latencies.extend(outcome.latencies);
        non2xx += outcome.non2xx;
        errors += outcome.errors;
        last = last.max(outcome.last);
    }
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len().max(1) - 1) as f64 * p) as usize)
            .map_or(0.0, |d| d.as_secs_f64() * 1e6)
    };
    println!(
        "offered {rate:.0} achieved {:.0}/s n {} p50 {:.0} p90 {:.0} p99 {:.0} p999 {:.0} max {:.0} us non2xx {non2xx} errors {errors}",
        total as f64 / (last - start).as_secs_f64(),
        latencies.len(),
        pct(0.5),
        pct(0.9),
        pct(0.99),
        pct(0.999),
        pct(1.0),
    );
}
