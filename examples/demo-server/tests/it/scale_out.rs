//! Two demo instances sharing one Redis replay store, over real TCP: a request accepted by one
//! demo-server process is a replay at the other, and of 200 concurrent copies of one signed
//! request spread over two instances, exactly one is accepted.

use std::sync::Arc;
use std::time::Duration;

use tower_hmac::SecretKey;
use tower_hmac_integration::authorization_now;
use tower_hmac_integration::{require_redis, unique_prefix};

use crate::common::{InProcess, Instance, PATIENCE, listener, send, start_demo};

/// The name both instances answer for, as behind a load balancer.
const SHARED_HOST: &str = "api.shared.test";

/// An instance sharing the Redis store, without failure throttling (the test sends 199
/// replays on purpose; the throttle would answer them 429 instead of `replayed_nonce`).
async fn start_instance(redis_url: &str, prefix: &str) -> Instance {
    start_demo(&[
        ("TOWER_HMAC_DEMO_ADDR", "127.0.0.1:0"),
        ("TOWER_HMAC_DEMO_REPLAY_STORE", redis_url),
        ("TOWER_HMAC_DEMO_REDIS_PREFIX", prefix),
        ("TOWER_HMAC_DEMO_HOSTS", SHARED_HOST),
        ("TOWER_HMAC_DEMO_THROTTLE", "off"),
    ])
    .await
}

fn signed_request() -> Vec<u8> {
    let key = SecretKey::from_base64(demo_server::demo_secret_base64()).unwrap();
    let auth = authorization_now(
        demo_server::DEMO_KEY_ID,
        &key,
        &http::Method::GET,
        SHARED_HOST,
        "/whoami",
        b"",
    );
    crate::common::get("/whoami", SHARED_HOST, &auth)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_accepted_by_one_instance_is_a_replay_at_the_other() {
    let url = require_redis().await;
    let prefix = unique_prefix("scale-out");
    let (a, b) = (
        start_instance(&url, &prefix).await,
        start_instance(&url, &prefix).await,
    );
    let request = signed_request();

    let (status, text) = send(a.addr, &request).await;
    assert_eq!(status, 200, "{text}");
    let (status, text) = send(b.addr, &request).await;
    assert_eq!(status, 401, "{text}");
    assert!(text.contains("replayed_nonce"), "{text}");
    let (status, _) = send(a.addr, &request).await;
    assert_eq!(status, 401);
}

/// A runtime of its own for the Redis connections' drivers (the tasks that write the commands
/// and read Redis's answers): with 200 copies at once, the test's runtime is busy serving them,
/// and a driver among them may not read an answer within the client's response timeout (250 ms,
/// set by `RedisNonceStore::open`, which `with_timeout` does not lengthen) — the instance would
/// answer `503` (fail-closed) for a copy whose fate this test asserts. On a thread of its own the
/// driver answers in time however loaded the machine. Shut down when dropped.
struct DriverRuntime(Option<tokio::runtime::Runtime>);

impl DriverRuntime {
    fn new() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        Self(Some(runtime))
    }
}

impl Drop for DriverRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// An instance of the demo's routes and layer served in this process, on its own client of the
/// Redis store (what `TOWER_HMAC_DEMO_REPLAY_STORE=<url>` and `TOWER_HMAC_DEMO_REDIS_PREFIX`
/// make: `demo_server::replay_store`), without failure throttling; waiting for Redis up to
/// [`PATIENCE`] instead of the store's 250 ms, its connection opened (and the store's start
/// checked) on `drivers` before the race.
async fn in_process_instance(redis_url: &str, prefix: &str, drivers: &DriverRuntime) -> InProcess {
    use tower_hmac::store::NonceStore as _;
    let settings = demo_server::Settings {
        extra_hosts: vec![SHARED_HOST.into()],
        replay_store: demo_server::ReplayStore::Redis {
            url: redis_url.into(),
            prefix: prefix.into(),
        },
        throttle: demo_server::Throttle::Off,
        ..Default::default()
    };
    let store: demo_server::SharedNonceStore = Arc::new(
        tower_hmac_redis::RedisNonceStore::open(redis_url)
            .unwrap()
            .with_prefix(prefix)
            .with_timeout(PATIENCE),
    );
    // The connection is opened by its first use, and its driver spawned where that use runs.
    let first = Arc::clone(&store);
    let outcome = drivers
        .0
        .as_ref()
        .unwrap()
        .spawn(async move {
            let nonce = tower_hmac::protocol::generate_nonce().unwrap();
            first
                .check_and_insert(
                    "scale-out-warm-up",
                    &nonce,
                    tower_hmac_integration::lifetime(Duration::from_secs(60)),
                )
                .await
        })
        .await
        .unwrap();
    assert!(
        matches!(outcome, Ok(tower_hmac::protocol::NonceOutcome::Fresh)),
        "{outcome:?}"
    );
    let (listener, addr) = listener().await;
    let layer = demo_server::layer(
        demo_server::demo_registry().unwrap(),
        addr,
        &settings,
        &store,
    )
    .unwrap();
    InProcess::spawn(listener, layer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_200_concurrent_copies_over_two_instances_exactly_one_is_accepted() {
    let url = require_redis().await;
    let prefix = unique_prefix("scale-out-race");
    let drivers = DriverRuntime::new();
    let (a, b) = (
        in_process_instance(&url, &prefix, &drivers).await,
        in_process_instance(&url, &prefix, &drivers).await,
    );
    let request = Arc::new(signed_request());
    let barrier = Arc::new(tokio::sync::Barrier::new(200));
    let mut tasks = Vec::new();
    for i in 0..200 {
        let addr = if i % 2 == 0 { a.addr } else { b.addr };
        let (request, barrier) = (Arc::clone(&request), Arc::clone(&barrier));
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            send(addr, &request).await
        }));
    }
    let mut accepted = 0;
    let mut replayed = 0;
    for task in tasks {
        let (status, text) = task.await.unwrap();
        match status {
            200 => accepted += 1,
            401 if text.contains("replayed_nonce") => replayed += 1,
            other => panic!("unexpected answer {other}: {text}"),
        }
    }
    assert_eq!((accepted, replayed), (1, 199));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_with_in_process_stores_do_not_share_nonces() {
    // The reason for a shared store: with the default in-process store, each instance accepts
    // a captured request once.
    let a = start_instance("memory", "unused").await;
    let b = start_instance("memory", "unused").await;
    let request = signed_request();
    assert_eq!(send(a.addr, &request).await.0, 200);
    assert_eq!(send(b.addr, &request).await.0, 200);
    assert_eq!(send(b.addr, &request).await.0, 401);
}
