//! Issue 25, items 4 and 8, over TCP against the demo with its PostgreSQL registry
//! (`TOWER_HMAC_DEMO_REGISTRY=postgres://…`, the machine's PostgreSQL, a schema of each test's
//! own): a revoked key stays refused across full refreshes, and an unknown key id is answered
//! `503` from the first request once the database cannot be reached (through a proxy the test
//! owns and freezes: the machine's PostgreSQL is never stopped).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower_hmac::SecretKey;
use tower_hmac_postgres::{KeyAdmin, Keyring, MasterKey};

use crate::common::{Instance, PATIENCE, on_every_instance, start_demo, whoami_status};

fn url() -> String {
    std::env::var("TOWER_HMAC_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A schema of this test's own (and the demo's `application_name`), dropped at the end.
struct Schema(String);

impl Schema {
    fn new(name: &str) -> Self {
        Self(format!("th_rt_{}_{name}", std::process::id()))
    }

    async fn drop_now(self) {
        let pool = sqlx::PgPool::connect(&url()).await.unwrap();
        let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.0);
        let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&pool).await;
    }
}

/// The demo on the PostgreSQL registry at `database` (tables in `schema`, connections named
/// after it), with one key `partner-1` of `admin`'s.
async fn demo(database: &str, schema: &Schema) -> (Instance, KeyAdmin, SecretKey) {
    let master = MasterKey::generate().unwrap();
    let admin = KeyAdmin::connect(&url(), Keyring::new(master.clone()), Some(&schema.0))
        .await
        .unwrap();
    let key = admin
        .generate_key("partner", "partner-1", "ops")
        .await
        .unwrap();
    let registry = format!(
        "{database}?options[search_path]={s}&application_name={s}",
        s = schema.0
    );
    let master_b64 = master.to_base64();
    let demo = start_demo(&[
        ("TOWER_HMAC_DEMO_ADDR", "127.0.0.1:0"),
        ("TOWER_HMAC_DEMO_REGISTRY", registry.as_str()),
        ("TOWER_HMAC_MASTER_KEY", master_b64.as_str()),
        // Every refusal must be the key's own answer, not the throttle's 429.
        ("TOWER_HMAC_DEMO_THROTTLE", "off"),
    ])
    .await;
    on_every_instance(&[demo.addr], "partner-1", &key, 200).await;
    (demo, admin, key)
}

/// The pid of the demo's `LISTEN` connection, once there is one (panics after [`PATIENCE`]).
async fn listener_pid(pool: &sqlx::PgPool, name: &str, not: Option<i32>) -> i32 {
    let start = Instant::now();
    loop {
        let pid: Option<i32> = sqlx::query_scalar(
            "SELECT pid FROM pg_stat_activity WHERE application_name = $1 \
             AND query LIKE 'LISTEN%' AND pid IS DISTINCT FROM $2 LIMIT 1",
        )
        .bind(name)
        .bind(not)
        .fetch_optional(pool)
        .await
        .unwrap();
        if let Some(pid) = pid {
            return pid;
        }
        assert!(start.elapsed() < PATIENCE, "no LISTEN of {name}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether one of the demo's connections has run a full refresh (the query of every key,
/// without a `WHERE`) that started after `since` and finished.
async fn refreshed_since(pool: &sqlx::PgPool, name: &str, since: &str) -> bool {
    sqlx::query_scalar::<_, bool>(
        "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name = $1 \
         AND query LIKE 'SELECT k.key_id%' AND query NOT LIKE '%WHERE%' \
         AND state = 'idle' AND query_start > $2::timestamptz)",
    )
    .bind(name)
    .bind(since)
    .fetch_one(pool)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_revoked_in_postgres_stays_refused_across_full_refreshes() {
    let schema = Schema::new("revoked");
    let (demo, admin, key) = demo(&url(), &schema).await;
    admin.revoke("partner-1", "ops").await.unwrap();
    on_every_instance(&[demo.addr], "partner-1", &key, 401).await;

    // The demo has no refresh-interval setting (30 s): each round ends its LISTEN connection,
    // and the registry reconnects and runs the same full refresh, while the key is tried.
    let pool = sqlx::PgPool::connect(&url()).await.unwrap();
    let mut pid = listener_pid(&pool, &schema.0, None).await;
    for round in 0..3 {
        let since: String = sqlx::query_scalar("SELECT now()::text")
            .fetch_one(&pool)
            .await
            .unwrap();
        sqlx::query("SELECT pg_terminate_backend($1)")
            .bind(pid)
            .execute(&pool)
            .await
            .unwrap();
        let start = Instant::now();
        while !refreshed_since(&pool, &schema.0, &since).await {
            assert_eq!(
                whoami_status(demo.addr, "partner-1", &key).await,
                401,
                "round {round}: the revoked key during the refresh"
            );
            assert!(start.elapsed() < PATIENCE, "round {round}: no full refresh");
        }
        assert_eq!(
            whoami_status(demo.addr, "partner-1", &key).await,
            401,
            "round {round}: the revoked key after the refresh"
        );
        pid = listener_pid(&pool, &schema.0, Some(pid)).await;
    }
    drop(demo);
    schema.drop_now().await;
}

/// A TCP proxy to the machine's PostgreSQL that the test can freeze: connections stay open and
/// bytes are held (a database host gone silent, which nothing notices by itself).
struct Freezer {
    port: u16,
    frozen: Arc<watch::Sender<bool>>,
}

impl Freezer {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let frozen = Arc::new(watch::channel(false).0);
        let f = frozen.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect("127.0.0.1:5432").await else {
                    continue;
                };
                let f = f.clone();
                tokio::spawn(async move {
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    tokio::join!(
                        pump(client_read, server_write, f.subscribe()),
                        pump(server_read, client_write, f.subscribe()),
                    );
                });
            }
        });
        Self { port, frozen }
    }

    fn url(&self) -> String {
        url().replace("127.0.0.1:5432", &format!("127.0.0.1:{}", self.port))
    }
}

/// Copies `from` to `to`, holding what it read while frozen.
async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, mut frozen: watch::Receiver<bool>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if frozen.wait_for(|f| !*f).await.is_err() || to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_key_id_is_503_from_the_first_request_while_postgres_cannot_be_reached() {
    let schema = Schema::new("first503");
    let freezer = Freezer::start().await;
    let (demo, _admin, key) = demo(&freezer.url(), &schema).await;
    let stranger = SecretKey::from_bytes(&[0x5a; 32]).unwrap();
    // Unknown while the database answers (polled: a lookup the database does not answer within
    // the registry's 500 ms is a 503, which a loaded machine may cause before the freeze).
    on_every_instance(&[demo.addr], "stranger-1", &stranger, 401).await;

    freezer.frozen.send_replace(true);
    let start = Instant::now();
    let first = whoami_status(demo.addr, "stranger-2", &stranger).await;
    eprintln!(
        "frozen: the first unknown key id answered {first} in {:?}",
        start.elapsed()
    );
    assert_eq!(first, 503, "the first request of the outage");
    assert_eq!(
        whoami_status(demo.addr, "partner-1", &key).await,
        200,
        "a key held keeps working"
    );
    assert_eq!(whoami_status(demo.addr, "stranger-3", &stranger).await, 503);

    freezer.frozen.send_replace(false);
    on_every_instance(&[demo.addr], "stranger-4", &stranger, 401).await;
    drop(demo);
    schema.drop_now().await;
}
