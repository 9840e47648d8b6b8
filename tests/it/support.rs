//! What several modules share: a `redis-server` of a test's own, the demo server on a clock of the
//! test's choosing, a port that is closed and stays closed, and waiting for an event.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::time::Instant;

pub(crate) use tower_hmac_integration::wait::{PATIENCE, eventually, patient};

/// The `redis-server` binary: `$REDIS_SERVER`, or the one on the `PATH`.
pub(crate) fn redis_server_binary() -> String {
    std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_owned())
}

/// Starts `redis-server` with `args`, failing with one line naming what to install.
pub(crate) fn spawn_redis_server(args: &[String]) -> Child {
    let binary = redis_server_binary();
    Command::new(&binary)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start `{binary}` ({e}): these tests run Redis servers of their own; \
                 apt-get install redis-server, or set REDIS_SERVER to its path"
            )
        })
}

/// A `redis-server` of the test's own, listening on a Unix socket in a directory of its own (no
/// TCP port at all: nothing to race another process for), killed and removed on drop. A test
/// that kills connections, stops Redis or configures it differently uses one of these, never
/// the machine's shared Redis.
pub(crate) struct RedisServer {
    dir: PathBuf,
    args: Vec<String>,
    child: Child,
}

impl RedisServer {
    /// Starts one with these extra arguments, and waits until it answers.
    pub(crate) async fn start(extra: &[&str]) -> Self {
        let dir = std::env::temp_dir().join(tower_hmac_integration::unique_key_id("th-redis"));
        std::fs::create_dir_all(&dir).expect("the server's directory");
        let socket = dir.join("redis.sock");
        let mut args: Vec<String> = ["--port", "0", "--save", "", "--appendonly", "no"]
            .iter()
            .map(|a| (*a).to_owned())
            .collect();
        args.extend([
            "--unixsocket".to_owned(),
            socket.display().to_string(),
            "--dir".to_owned(),
            dir.display().to_string(),
        ]);
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        let child = spawn_redis_server(&args);
        let mut server = Self { dir, args, child };
        server.wait_until_it_answers().await;
        server
    }

    /// `redis+unix://…` of its socket.
    pub(crate) fn url(&self) -> String {
        format!("redis+unix://{}", self.dir.join("redis.sock").display())
    }

    /// Kills it (no persistence: every key is lost, as in a crash) and starts it again on the
    /// same socket, with the same arguments.
    pub(crate) async fn restart(&mut self) {
        self.kill();
        self.child = spawn_redis_server(&self.args);
        self.wait_until_it_answers().await;
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    async fn wait_until_it_answers(&mut self) {
        let client = redis::Client::open(self.url()).expect("a Unix socket URL");
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "redis-server {:?} exited at start ({status})",
                    self.args.join(" ")
                );
            }
            let ping = async {
                let mut conn = client
                    .get_multiplexed_async_connection_with_config(&patient())
                    .await
                    .ok()?;
                redis::cmd("PING")
                    .query_async::<String>(&mut conn)
                    .await
                    .ok()
            };
            if let Ok(Some(_)) = tokio::time::timeout(Duration::from_secs(5), ping).await {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server on {} did not answer within {PATIENCE:?}",
                self.url()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A loopback address on which nothing listens, and nothing can while the returned socket lives:
/// it is bound (so no other socket can take the port) but never listening (so a connection is
/// refused). Unlike a port bound and released, it cannot become another test's server.
pub(crate) fn closed_port() -> (SocketAddr, tokio::net::TcpSocket) {
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket
        .bind("127.0.0.1:0".parse().expect("an address"))
        .expect("an OS-given port");
    (socket.local_addr().expect("its address"), socket)
}

/// The demo server with its default settings, its layer on `clock`, on a port the OS gave.
///
/// A client that signs with the real time (aws-sigv4, botocore) against a demo whose clock runs
/// a few seconds behind the system's: the replay store's horizon (its start, on the layer's
/// clock) is then already past every such request, so nothing waits for a second to pass.
pub(crate) async fn start_demo(clock: impl tower_hmac::protocol::Clock) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("an OS-given port");
    let addr = listener.local_addr().expect("its address");
    let settings = demo_server::Settings {
        clock: Some(demo_server::DemoClock(std::sync::Arc::new(clock))),
        ..demo_server::Settings::default()
    };
    let store = demo_server::replay_store(&settings).expect("the demo's replay store");
    let layer = demo_server::layer(
        demo_server::demo_registry().expect("the demo registry"),
        addr,
        &settings,
        &store,
    )
    .expect("the demo's layer");
    tokio::spawn(async move {
        demo_server::serve_with(listener, layer)
            .await
            .expect("the demo serves")
    });
    addr
}

/// How far behind the system clock [`start_demo`]'s callers set the demo's clock: a few seconds,
/// far inside every scheme's window.
pub(crate) const DEMO_BEHIND_SECS: i64 = -5;

/// A Redis nonce store on `url` for a test that is not about timeouts: the connection's and the
/// store's timeouts are [`PATIENCE`] (the defaults, 250 ms, would turn a slow answer on a busy
/// machine into a refusal), the rest as [`RedisNonceStore::open`] sets it.
pub(crate) fn patient_redis_store(url: &str) -> tower_hmac_redis::RedisNonceStore {
    let client = redis::Client::open(url).expect("a Redis URL");
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(PATIENCE))
        .set_response_timeout(Some(PATIENCE))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_secs(1));
    let conn = redis::aio::ConnectionManager::new_lazy_with_config(client, config)
        .expect("a lazy connection manager");
    tower_hmac_redis::RedisNonceStore::from_connection(conn).with_timeout(PATIENCE)
}
