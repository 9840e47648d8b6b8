//! Waiting for an event in the tests: a generous deadline, never a figure the test asserts.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// How long a test waits for something that takes a moment (a server starting, Redis expiring a
/// key, a store reconnecting) before failing: generous, so that a busy machine never reaches it.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// Polls `probe` every few milliseconds until it yields a value; fails after [`PATIENCE`],
/// naming `what`.
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "{what}: not within {PATIENCE:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Connections of the tests' own (set-up, checks) wait as long as [`PATIENCE`] for Redis: the
/// client's defaults (1 s to connect, 500 ms to answer) are not made for a busy machine.
pub fn patient() -> redis::AsyncConnectionConfig {
    redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(PATIENCE))
        .set_response_timeout(Some(PATIENCE))
}
