//! A three-node Redis Cluster of the test's own, shared by the tests that need one (the replay
//! store's in `it/redis_cluster.rs`, the session store's in `it/sessions_cluster.rs`, the demo's
//! three instances in `examples/demo-server/tests/it/multi_instance.rs`): three
//! `redis-server` processes in cluster mode, the slots split three ways, no replicas, on ports
//! the OS gave; killed, and their directory removed, on drop. A test may kill one node.
//!
//! Needs the `redis-server` binary (the Debian package `redis-server`, which also provides the
//! Redis on 127.0.0.1:6379 the other tests use), or `$REDIS_SERVER` pointing at one. Without it
//! the test fails and says so; it never skips.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::unique_prefix;
use redis::aio::MultiplexedConnection;
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;

use crate::wait::{PATIENCE, eventually, patient};

/// The nodes of a cluster.
pub const NODES: usize = 3;
const SLOTS: usize = 16384;

/// Three cluster nodes, killed and their directory removed on drop.
#[derive(Debug)]
pub struct Cluster {
    ports: Vec<u16>,
    bus_ports: Vec<u16>,
    /// `None` once killed.
    children: Vec<Option<Child>>,
    dir: PathBuf,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in self.children.iter_mut().flatten() {
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

/// A connection to one node (not the cluster), once it answers.
pub async fn node(port: u16) -> MultiplexedConnection {
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
                self.children.push(Some(child));
                return;
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("no cluster node could bind a port the OS gave, in 20 tries");
    }

    /// Starts three nodes and forms the cluster: returns once every node says `cluster_state:ok`.
    pub async fn start() -> Self {
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

    /// How many keys each node holds (`DBSIZE`), in the order of [`ports`](Self::ports).
    pub async fn keys_per_node(&self) -> Vec<u64> {
        let mut counts = Vec::new();
        for &port in &self.ports {
            let mut conn = node(port).await;
            counts.push(redis::cmd("DBSIZE").query_async(&mut conn).await.unwrap());
        }
        counts
    }

    /// The nodes' client ports.
    pub fn ports(&self) -> &[u16] {
        &self.ports
    }

    /// A cluster connection that knows every node, patient (a busy machine answers late).
    pub async fn connection(&self) -> ClusterConnection {
        let nodes: Vec<String> = self
            .ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect();
        ClusterClient::builder(nodes)
            .connection_timeout(PATIENCE)
            .response_timeout(PATIENCE)
            .build()
            .unwrap()
            .get_async_connection()
            .await
            .unwrap()
    }

    /// Kills node `index` (its process: its data is gone, its slots have no node); the others
    /// go on. Its port stays in [`ports`](Self::ports).
    pub fn kill_node(&mut self, index: usize) {
        let mut child = self.children[index].take().expect("a node killed twice");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// The hash slot of `key`, as the cluster computes it (`CLUSTER KEYSLOT`).
    pub async fn slot_of(&self, key: &str) -> u16 {
        let mut conn = node(self.ports[0]).await;
        redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(key)
            .query_async(&mut conn)
            .await
            .unwrap()
    }

    /// The index (in [`ports`](Self::ports)) of the node that serves `slot`: the slots are
    /// split three ways in order.
    pub fn node_of_slot(slot: u16) -> usize {
        (0..NODES)
            .find(|i| usize::from(slot) < (i + 1) * SLOTS / NODES)
            .expect("a slot of the cluster")
    }
}
