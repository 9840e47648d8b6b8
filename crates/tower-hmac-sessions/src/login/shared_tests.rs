//! The login guard with its buckets in Redis (`tower_hmac_redis::RedisPolicyStore`): guards
//! sharing one Redis allow together what one allows, answer as the in-process guard does, and
//! fail open or closed as configured while Redis does not answer.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tower_hmac::server::{OnStoreError, SharedPolicyStore};
use tower_hmac_core::ManualClock;
use tower_hmac_redis::RedisPolicyStore;

use super::{LoginGuard, LoginLimits, LoginRefusal};

const T0: u64 = 1_800_000_000;

fn client(s: &str) -> Option<IpAddr> {
    Some(s.parse().unwrap())
}

fn unique_prefix(label: &str) -> String {
    let mut bytes = [0u8; 12];
    getrandom::fill(&mut bytes).unwrap();
    format!("tower-hmac-test:{label}:{}:", hex::encode(bytes))
}

fn redis(label: &str) -> Arc<dyn SharedPolicyStore> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    Arc::new(
        RedisPolicyStore::open(&url)
            .unwrap()
            .with_prefix(&unique_prefix(label))
            .with_timeout(Duration::from_secs(10)),
    )
}

fn limits() -> LoginLimits {
    LoginLimits::new().failures(3, 5, Duration::from_secs(60))
}

fn guard(limits: LoginLimits, clock: &ManualClock) -> LoginGuard {
    LoginGuard::new(limits).unwrap().with_clock(clock.clone())
}

#[tokio::test]
async fn guards_sharing_redis_allow_together_what_one_allows() {
    let store = redis("login-two");
    let clock = ManualClock::at_unix(T0);
    let shared = || {
        limits()
            .shared(store.clone())
            .store_timeout(Duration::from_secs(10))
    };
    let (first, second) = (guard(shared(), &clock), guard(shared(), &clock));
    for i in 0..3 {
        let g = if i % 2 == 0 { &first } else { &second };
        assert_eq!(
            g.check("alice", client("192.0.2.1"), || false).await,
            Err(LoginRefusal::InvalidCredentials)
        );
    }
    for g in [&first, &second] {
        assert!(matches!(
            g.check("Alice", client("192.0.2.1"), || true).await,
            Err(LoginRefusal::Throttled { .. })
        ));
    }
    // Another name from that address has failures left; the pair elsewhere is untouched.
    assert_eq!(
        second.check("bob", client("192.0.2.1"), || true).await,
        Ok(())
    );
    assert_eq!(
        first.check("alice", client("192.0.2.2"), || true).await,
        Ok(())
    );
}

#[tokio::test]
async fn a_shared_guard_answers_as_the_in_process_one() {
    let script: &[(&str, &str, bool, u64)] = &[
        ("alice", "192.0.2.1", false, 0),
        ("alice", "192.0.2.1", false, 0),
        ("alice", "192.0.2.1", false, 0),
        ("alice", "192.0.2.1", true, 0),
        ("bob", "192.0.2.1", false, 0),
        ("carol", "192.0.2.1", false, 0),
        ("dave", "192.0.2.1", true, 0),
        ("alice", "2001:db8::1", false, 7),
        ("alice", "2001:db8::2", true, 13),
        ("alice", "192.0.2.1", true, 1),
        ("alice", "192.0.2.1", false, 61),
        ("alice", "192.0.2.1", true, 0),
    ];
    let run = |g: LoginGuard, clock: ManualClock| async move {
        let mut answers = Vec::new();
        for &(name, from, right, advance) in script {
            clock.advance(Duration::from_secs(advance));
            answers.push(g.check(name, client(from), move || right).await);
        }
        answers
    };
    let clock = ManualClock::at_unix(T0);
    let local = run(guard(limits(), &clock), clock).await;
    let clock = ManualClock::at_unix(T0);
    let shared = limits()
        .shared(redis("login-same"))
        .store_timeout(Duration::from_secs(10));
    let remote = run(guard(shared, &clock), clock).await;
    assert!(
        local
            .iter()
            .any(|a| matches!(a, Err(LoginRefusal::Throttled { .. })))
    );
    assert!(local.iter().any(Result::is_ok));
    assert_eq!(remote, local);
}

/// A Redis that never answers: a port the OS gave, bound, never accepted from.
async fn silent() -> (tokio::net::TcpListener, Arc<dyn SharedPolicyStore>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("redis://{}", listener.local_addr().unwrap());
    let store = RedisPolicyStore::open(&url)
        .unwrap()
        .with_timeout(Duration::from_millis(50));
    (listener, Arc::new(store))
}

#[tokio::test]
async fn fail_open_counts_here_and_fail_closed_refuses_while_redis_is_silent() {
    let (_listener, store) = silent().await;
    let clock = ManualClock::at_unix(T0);
    let open = guard(limits().shared(store.clone()), &clock);
    for _ in 0..3 {
        assert_eq!(
            open.check("alice", client("192.0.2.1"), || false).await,
            Err(LoginRefusal::InvalidCredentials)
        );
    }
    assert!(matches!(
        open.check("alice", client("192.0.2.1"), || true).await,
        Err(LoginRefusal::Throttled { .. })
    ));
    let closed = guard(
        limits()
            .shared(store)
            .on_store_error(OnStoreError::FailClosed),
        &clock,
    );
    assert_eq!(
        closed.check("alice", client("192.0.2.1"), || true).await,
        Err(LoginRefusal::Unavailable)
    );
}
