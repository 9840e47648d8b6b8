//! tower-hmac-sessions' tests, in one binary: [`sessions`] (issuing, verifying, refreshing and
//! revoking on a clock the test moves; the layer; the login guard) and [`audit`] (the events and
//! metrics of refusals, each test in a process of its own: [`alone`]); [`either`] (signed
//! calls and sessions on one route).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod audit;
mod either;
mod policy;
#[cfg(feature = "axum")]
mod routes;
mod sessions;

/// Runs `body` in a process of its own: this test binary again, asked to run the test `test`
/// (its path, e.g. `audit::name`) and nothing else.
///
/// For a test that captures events with a subscriber of its own (`set_default`): tracing decides
/// once per callsite whether anyone wants its events, and while at most one subscriber exists it
/// asks the thread that reaches the callsite first. Another test reaching a callsite first, on a
/// thread without a subscriber, would silence it for the capturing test; alone in a process, no
/// other test does.
fn alone(test: &str, body: impl FnOnce()) {
    const ALONE: &str = "TOWER_HMAC_TEST_ALONE";
    if std::env::var_os(ALONE).is_some_and(|t| t == test) {
        return body();
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--test-threads=1", "--nocapture"])
        .env(ALONE, test)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("test result: ok. 1 passed"),
        "{test}, in a process of its own:\n{stdout}\n{stderr}"
    );
}
