//! The Redis store against private `redis-server` processes: it refuses a Redis that may evict
//! nonce keys (review item 12), and a Redis that lost its data does not reopen replays (item 11).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tower_hmac::protocol::{NonceLifetime, NonceOutcome};
use tower_hmac::store::NonceStore;
use tower_hmac_integration::{lifetime, now_millis, unique_key_id};
use tower_hmac_redis::{RedisNonceStore, RedisStoreError};

/// A `redis-server` of this test's own on a free port, killed on drop.
struct Server {
    port: u16,
    child: Child,
}

impl Server {
    fn start(extra: &[&str]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Self::start_on(port, extra)
    }

    fn start_on(port: u16, extra: &[&str]) -> Self {
        let binary = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_owned());
        let port_text = port.to_string();
        let mut args = vec![
            "--port",
            &port_text,
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ];
        args.extend_from_slice(extra);
        let child = Command::new(&binary)
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {binary} (apt-get install redis-server): {e}")
            });
        let server = Self { port, child };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server did not listen on {port}");
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_may_evict_nonces_is_refused_at_start_and_per_request() {
    let server = Server::start(&["--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru"]);
    let err = RedisNonceStore::connect(&server.url()).await.unwrap_err();
    assert!(
        matches!(&err, RedisStoreError::EvictingPolicy { policy } if policy == "allkeys-lru"),
        "{err}"
    );
    assert!(err.to_string().contains("noeviction"), "{err}");
    // A lazily opened store refuses every request instead (fail closed), never admits one.
    let store = RedisNonceStore::open(&server.url()).unwrap();
    let err = store
        .check_and_insert(
            "k",
            "nonce-nonce-nonce-1",
            lifetime(Duration::from_secs(60)),
        )
        .await
        .unwrap_err();
    assert!(err.retry_after().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn volatile_policies_evict_nonces_too_and_are_refused() {
    let server = Server::start(&["--maxmemory-policy", "volatile-ttl"]);
    assert!(matches!(
        RedisNonceStore::connect(&server.url()).await,
        Err(RedisStoreError::EvictingPolicy { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn where_config_is_not_allowed_the_store_starts_with_a_warning() {
    // A managed Redis that disables CONFIG.
    let server = Server::start(&["--rename-command", "CONFIG", ""]);
    let store = RedisNonceStore::connect(&server.url()).await.unwrap();
    let outcome = store
        .check_and_insert(
            "k",
            "nonce-nonce-nonce-2",
            lifetime(Duration::from_secs(60)),
        )
        .await
        .unwrap();
    assert_eq!(outcome, NonceOutcome::Fresh);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restarted_without_its_data_does_not_accept_a_replay() {
    let mut server = Server::start(&[]);
    let store = RedisNonceStore::connect(&server.url()).await.unwrap();
    let key = unique_key_id("restart");
    // Accepted before the restart.
    let accepted = lifetime(Duration::from_secs(60));
    assert_eq!(
        store
            .check_and_insert(&key, "captured-nonce-0001", accepted)
            .await
            .unwrap(),
        NonceOutcome::Fresh
    );
    // Redis restarts without persistence: every key is gone, the horizon marker too.
    let port = server.port;
    let _ = server.child.kill();
    let _ = server.child.wait();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let _restarted = Server::start_on(port, &[]);
    // The same request again (signed at the same time): the store cannot know it, and says so.
    let mut answer = None;
    for _ in 0..50 {
        // The layer's clock now; the request's own signing time.
        let replay = NonceLifetime::from_millis(
            now_millis(),
            accepted.signed_at_millis(),
            accepted.expires_millis(),
        );
        match store
            .check_and_insert(&key, "captured-nonce-0001", replay)
            .await
        {
            Ok(outcome) => {
                answer = Some(outcome);
                break;
            }
            // The connection manager reconnects after the first failure.
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    assert!(
        matches!(answer, Some(NonceOutcome::BeforeHorizon { .. })),
        "{answer:?}"
    );
    // A request signed now (after the new horizon) is fresh.
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(
        store
            .check_and_insert(
                &key,
                "new-nonce-000000001",
                lifetime(Duration::from_secs(60))
            )
            .await
            .unwrap(),
        NonceOutcome::Fresh
    );
}
