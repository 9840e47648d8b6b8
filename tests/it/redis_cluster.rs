//! The Redis store against a real Redis Cluster: three `redis-server` processes started by the
//! test itself (cluster mode, slots split three ways, no replicas), reached through
//! `redis::cluster_async::ClusterConnection`.
//!
//! Needs the `redis-server` binary (the Debian package `redis-server`, which also provides the
//! Redis on 127.0.0.1:6379 the other tests use), or `$REDIS_SERVER` pointing at one. Without it
//! the test fails and says so; it never skips.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::cluster::ClusterClient;
use tower_hmac::protocol::{NonceOutcome, NonceStoreErrorKind};
use tower_hmac::store::NonceStore;
use tower_hmac_integration::{
    StoreClock, lifetime, nonce_store_conformance, unique_key_id, unique_prefix,
};
use tower_hmac_redis::RedisNonceStore;

use crate::support::{PATIENCE, eventually, patient};

const NODES: usize = 3;
const SLOTS: usize = 16384;

/// Three cluster nodes, killed and their directory removed on drop.
struct Cluster {
    ports: Vec<u16>,
    bus_ports: Vec<u16>,
    children: Vec<Child>,
    dir: PathBuf,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A port the OS gave a moment ago, and released: another process may take it before
/// `redis-server` binds it, so the node that tries it checks that it did (see
/// [`Cluster::start_node`]).
fn candidate_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn node(port: u16) -> MultiplexedConnection {
    let client = &redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap();
    eventually(&format!("node {port} answers"), || async move {
        let mut conn = client
            .get_multiplexed_async_connection_with_config(&patient())
            .await
            .ok()?;
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .ok()?;
        Some(conn)
    })
    .await
}

/// Whether the Redis answering on `port` is the process `pid`: `Some(true)` when it is, `Some
/// (false)` when another one answers, `None` while nothing answers (yet).
async fn answers_as(port: u16, pid: u32) -> Option<bool> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).ok()?;
    let probe = async {
        let mut conn = client
            .get_multiplexed_async_connection_with_config(&patient())
            .await
            .ok()?;
        let info: String = redis::cmd("INFO")
            .arg("server")
            .query_async(&mut conn)
            .await
            .ok()?;
        Some(
            info.lines()
                .any(|l| l.trim() == format!("process_id:{pid}")),
        )
    };
    // Something that accepts and never answers is not our node either: tried again.
    tokio::time::timeout(Duration::from_secs(5), probe)
        .await
        .ok()
        .flatten()
}

impl Cluster {
    /// Starts one node on ports the OS gave a moment ago. When another process took one of them
    /// in between, the node cannot bind it and exits, or another server
    /// answers there: the node is stopped and started again on another port — never assumed to
    /// have the port it was given.
    async fn start_node(&mut self, binary: &str) {
        for _ in 0..20 {
            // The client port and the cluster bus port, both from the OS (not the default bus
            // port, +10000, which nobody reserved).
            let (port, bus) = (candidate_port(), candidate_port());
            let mut child = Command::new(binary)
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--cluster-enabled", "yes"])
                .args(["--cluster-port", &bus.to_string()])
                .arg("--cluster-config-file")
                .arg(self.dir.join(format!("nodes-{port}.conf")))
                .arg("--dir")
                .arg(&self.dir)
                .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| {
                    panic!(
                        "cannot start `{binary}` ({e}). This test runs a Redis Cluster of its own \
                         and needs the redis-server binary: apt-get install redis-server, or set \
                         REDIS_SERVER to its path."
                    )
                });
            let pid = child.id();
            let ours = eventually(&format!("a node on port {port} starts"), || {
                let exited = matches!(child.try_wait(), Ok(Some(_)));
                async move {
                    if exited {
                        return Some(false);
                    }
                    answers_as(port, pid).await
                }
            })
            .await;
            if ours {
                self.ports.push(port);
                self.bus_ports.push(bus);
                self.children.push(child);
                return;
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("no cluster node could bind a port the OS gave, in 20 tries");
    }

    async fn start() -> Self {
        let binary = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_owned());
        let dir = std::env::temp_dir().join(unique_prefix("cluster").replace(':', "-"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut cluster = Cluster {
            ports: Vec::new(),
            bus_ports: Vec::new(),
            children: Vec::new(),
            dir,
        };
        for _ in 0..NODES {
            cluster.start_node(&binary).await;
        }

        let mut conns = Vec::new();
        for &port in &cluster.ports {
            conns.push(node(port).await);
        }
        // Slots split three ways, then every node introduced to the first.
        for (i, conn) in conns.iter_mut().enumerate() {
            let mut cmd = redis::cmd("CLUSTER");
            cmd.arg("ADDSLOTS");
            for slot in i * SLOTS / NODES..(i + 1) * SLOTS / NODES {
                cmd.arg(slot);
            }
            cmd.query_async::<()>(conn).await.unwrap();
        }
        for (&port, &bus) in cluster.ports[1..].iter().zip(&cluster.bus_ports[1..]) {
            redis::cmd("CLUSTER")
                .arg("MEET")
                .arg("127.0.0.1")
                .arg(port)
                .arg(bus)
                .query_async::<()>(&mut conns[0])
                .await
                .unwrap();
        }
        let deadline = Instant::now() + PATIENCE;
        for conn in &mut conns {
            loop {
                let info: String = redis::cmd("CLUSTER")
                    .arg("INFO")
                    .query_async(conn)
                    .await
                    .unwrap();
                if info.contains("cluster_state:ok") && info.contains("cluster_known_nodes:3") {
                    break;
                }
                assert!(Instant::now() < deadline, "cluster did not form:\n{info}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        cluster
    }

    async fn store(
        &self,
        prefix: &str,
    ) -> RedisNonceStore<redis::cluster_async::ClusterConnection> {
        let nodes: Vec<String> = self
            .ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect();
        let conn = ClusterClient::builder(nodes)
            .connection_timeout(PATIENCE)
            .response_timeout(PATIENCE)
            .build()
            .unwrap()
            .get_async_connection()
            .await
            .unwrap();
        // Patient (a busy machine answers late); the test of a dead node sets its own timeout.
        RedisNonceStore::from_connection(conn)
            .with_prefix(prefix)
            .with_timeout(PATIENCE)
    }

    async fn keys_per_node(&self) -> Vec<u64> {
        let mut counts = Vec::new();
        for &port in &self.ports {
            let mut conn = node(port).await;
            counts.push(redis::cmd("DBSIZE").query_async(&mut conn).await.unwrap());
        }
        counts
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_store_conforms_and_is_shared_across_instances() {
    let cluster = Cluster::start().await;
    let prefix = unique_prefix("cluster");

    // The suite written once for every store: fresh, replayed, per-key isolation, 200 concurrent
    // identical inserts admit one, remembered for the TTL and forgotten after.
    nonce_store_conformance(Arc::new(cluster.store(&prefix).await), StoreClock::Own).await;

    // Two instances, each with its own cluster connection, share one replay window, and the
    // nonces are spread over every node (slots) — no cross-slot command is ever needed.
    let (a, b) = (cluster.store(&prefix).await, cluster.store(&prefix).await);
    let key = unique_key_id("instances");
    for i in 0..300 {
        let nonce = format!("nonce-{i:012}");
        assert_eq!(
            a.check_and_insert(&key, &nonce, lifetime(Duration::from_secs(60)))
                .await
                .unwrap(),
            NonceOutcome::Fresh
        );
        assert_eq!(
            b.check_and_insert(&key, &nonce, lifetime(Duration::from_secs(60)))
                .await
                .unwrap(),
            NonceOutcome::Replayed,
            "instance b accepted what instance a had seen"
        );
    }
    let counts = cluster.keys_per_node().await;
    assert!(counts.iter().all(|&n| n > 0), "keys per node: {counts:?}");
    println!("keys per node after the run: {counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_store_fails_closed_when_a_node_dies() {
    let mut cluster = Cluster::start().await;
    let patient = cluster.store(&unique_prefix("cluster-down")).await;
    let key = unique_key_id("down");
    for i in 0..10 {
        let nonce = format!("before-{i:012}");
        assert_eq!(
            patient
                .check_and_insert(&key, &nonce, lifetime(Duration::from_secs(60)))
                .await
                .unwrap(),
            NonceOutcome::Fresh
        );
    }

    // The same store (its connection, its state) with the timeout a service would set.
    let store = patient.clone().with_timeout(Duration::from_millis(300));
    let mut dead = cluster.children.pop().unwrap();
    dead.kill().unwrap();
    dead.wait().unwrap();

    // A third of the slots have no node: those nonces cannot be recorded, so they must be
    // refused (an error the layer turns into 503 with Retry-After), promptly — by the store's own
    // timeout or at once, never after the cluster client's retries — and never admitted.
    let (mut fresh, mut refused) = (0, 0);
    for i in 0..60 {
        let nonce = format!("after-{i:012}");
        let started = Instant::now();
        let outcome = tokio::time::timeout(
            PATIENCE,
            store.check_and_insert(&key, &nonce, lifetime(Duration::from_secs(60))),
        )
        .await
        .unwrap_or_else(|_| panic!("a call did not end within {PATIENCE:?}"));
        match outcome {
            Ok(NonceOutcome::Fresh) => fresh += 1,
            Ok(other) => panic!("a new nonce reported as {other:?}"),
            Err(e) => {
                assert!(e.retry_after().is_some(), "{e:?}");
                assert!(
                    matches!(
                        e.kind(),
                        NonceStoreErrorKind::Timeout | NonceStoreErrorKind::Unavailable
                    ),
                    "{e:?}"
                );
                refused += 1;
            }
        }
        if i == 0 {
            println!(
                "the first call after the node died took {:?}",
                started.elapsed()
            );
        }
    }
    println!("with one node of three down: {fresh} recorded, {refused} refused");
    assert!(refused > 0, "nothing was refused with a node down");
}
