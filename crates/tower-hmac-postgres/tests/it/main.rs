//! The PostgreSQL registry against the PostgreSQL every machine of this project runs
//! (`TOWER_HMAC_DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/test`), each test in a
//! schema of its own: CRUD and states, the audit trail, encryption at rest (no plain secret in
//! any column, the key id bound as associated data, a wrong master key refused at start),
//! revocation seen by another instance through its notification, an outage (through a proxy the
//! test cuts, and a private PostgreSQL server the test stops and starts) and a master-key rotation
//! while an instance serves.
//!
//! Nothing here depends on the machine's speed: no test sleeps for a fixed time or bounds a
//! duration; each waits for the state it expects (`until`, with a deadline far beyond what any
//! machine needs), and the registry's bounds that a test does not check are out of a slow
//! machine's reach ([`options`]). Listeners keep the port the OS gave them; the private server
//! listens on a Unix socket in its own directory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tower_hmac::protocol::{KeyRegistry, KeyState, SecretKey};
use tower_hmac_postgres::{
    KeyAdmin, Keyring, MasterKey, PostgresError, PostgresRegistry, RegistryOptions,
};

mod unreachable;

fn url() -> String {
    std::env::var("TOWER_HMAC_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A schema of this test's own, dropped when the guard goes.
struct Schema(String);

impl Schema {
    fn new(name: &str) -> Self {
        Self(format!("th_{}_{name}", std::process::id()))
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let (url, schema) = (url(), self.0.clone());
        // A fresh runtime on a plain thread: drop may run inside the test's runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(pool) = sqlx::PgPool::connect(&url).await {
                    let sql = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&pool).await;
                }
            });
        })
        .join();
    }
}

fn master() -> MasterKey {
    MasterKey::from_base64("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=").unwrap()
}

/// How long a test waits for what it expects before it fails: far more than any machine needs,
/// so that only a state that never comes fails a test, never a slow machine.
const PATIENCE: Duration = Duration::from_secs(60);

/// A registry in `schema`, refreshed every 30 s, with the bounds these tests do not check out of
/// a slow machine's reach: a lookup of an id not held may take up to [`PATIENCE`] (the 500 ms
/// default is `unreachable`'s subject), the keys held stay usable for an hour of outage.
fn options(schema: &Schema) -> RegistryOptions {
    RegistryOptions::default()
        .schema(&schema.0)
        .refresh_interval(Duration::from_secs(30))
        .max_staleness(Duration::from_secs(3600))
        .lookup_timeout(PATIENCE)
}

async fn admin(schema: &Schema, keyring: Keyring) -> KeyAdmin {
    KeyAdmin::connect(&url(), keyring, Some(&schema.0))
        .await
        .unwrap()
}

async fn state(registry: &PostgresRegistry, key_id: &str) -> Result<Option<KeyState>, ()> {
    registry
        .lookup(key_id)
        .await
        .map(|r| r.map(|r| r.state()))
        .map_err(|_| ())
}

/// Whether the registry answers a lookup of `key_id` (an id it does not hold) with what it says
/// when it knows the database is down — not merely a lookup that failed on its way.
async fn knows_it_is_down(registry: &PostgresRegistry, key_id: &str) -> bool {
    registry.lookup(key_id).await.is_err_and(|e| {
        std::error::Error::source(&e)
            .is_some_and(|s| s.to_string() == "the key database is unreachable")
    })
}

/// Waits until `check` holds (asked every 10 ms); fails after [`PATIENCE`]. Returns how long it
/// took, for the log: no test bounds it.
async fn until(what: &str, mut check: impl AsyncFnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < PATIENCE, "{what}: not after {PATIENCE:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    start.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_added_listed_revoked_and_audited() {
    let schema = Schema::new("crud");
    let admin = admin(&schema, Keyring::new(master())).await;
    let secret = admin
        .generate_key("partner", "partner-1", "alice")
        .await
        .unwrap();
    let text = SecretKey::from_text("whsec_provider_secret_0001").unwrap();
    admin
        .add_key("stripe", "stripe-1", &text, "alice")
        .await
        .unwrap();
    let registry = PostgresRegistry::connect(&url(), Keyring::new(master()), options(&schema))
        .await
        .unwrap();
    let record = registry.lookup("partner-1").await.unwrap().unwrap();
    assert_eq!(record.app_id(), "partner");
    assert_eq!(record.secret().expose_secret(), secret.expose_secret());
    // A provider's text keeps its text form (SigV4 and webhooks sign with the text).
    let stripe = registry.lookup("stripe-1").await.unwrap().unwrap();
    assert_eq!(&*stripe.secret().text_form(), "whsec_provider_secret_0001");
    assert_eq!(state(&registry, "nobody").await, Ok(None));
    // Duplicates and bad ids are refused.
    assert!(
        admin
            .add_key("partner", "partner-1", &secret, "alice")
            .await
            .is_err()
    );
    assert!(
        admin
            .add_key("partner", "bad id", &secret, "alice")
            .await
            .is_err()
    );

    admin.revoke("partner-1", "bob").await.unwrap();
    assert!(matches!(
        admin.revoke("nobody", "bob").await,
        Err(PostgresError::NoSuchKey(_))
    ));
    registry.refresh().await.unwrap();
    assert_eq!(
        state(&registry, "partner-1").await,
        Ok(Some(KeyState::Revoked))
    );
    let list = admin.list().await.unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(
        (list[0].key_id.as_str(), list[0].state.as_str()),
        ("partner-1", "revoked")
    );
    let audit = admin.audit().await.unwrap();
    let actions: Vec<_> = audit
        .iter()
        .map(|e| {
            (
                e.actor.as_str(),
                e.key_id.as_str(),
                e.action.as_str(),
                e.old_state.as_deref(),
                e.new_state.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("alice", "partner-1", "added", None, Some("active")),
            ("alice", "stripe-1", "added", None, Some("active")),
            (
                "bob",
                "partner-1",
                "revoked",
                Some("active"),
                Some("revoked")
            ),
        ]
    );

    // Scopes: the app's, seen by the registry through the notification.
    admin
        .set_app_scopes("stripe", &["webhooks:receive"], "alice")
        .await
        .unwrap();
    until("scopes", async || {
        registry
            .lookup("stripe-1")
            .await
            .unwrap()
            .is_some_and(|r| r.scopes() == [Box::<str>::from("webhooks:receive")])
    })
    .await;

    // Rotation: a new key, the old active ones valid for the grace period only.
    admin
        .generate_key("partner", "partner-2", "alice")
        .await
        .unwrap();
    admin
        .rotate("partner", "partner-3", Duration::from_secs(3600), "alice")
        .await
        .unwrap();
    let list = admin.list().await.unwrap();
    let of = |id: &str| list.iter().find(|k| k.key_id == id).unwrap().clone();
    assert!(
        of("partner-2").not_after.is_some(),
        "the previous key gets a not_after"
    );
    assert!(of("partner-3").not_after.is_none());
    assert!(
        of("partner-1").not_after.is_none(),
        "a revoked key is left alone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_encrypted_at_rest_and_bound_to_their_key_id() {
    let schema = Schema::new("crypto");
    let admin = admin(&schema, Keyring::new(master())).await;
    let a = admin.generate_key("partner", "key-a", "t").await.unwrap();
    let b = admin.generate_key("partner", "key-b", "t").await.unwrap();
    // No column of any row holds a secret in any usual encoding.
    let pool = sqlx::PgPool::connect(&url()).await.unwrap();
    let dump: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT row_to_json(k)::text FROM {}.tower_hmac_keys k",
        schema.0
    )))
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(dump.len(), 2);
    for secret in [&a, &b] {
        let forms = [
            secret.to_base64().to_string(),
            hex::encode(secret.expose_secret()),
        ];
        for row in &dump {
            for form in &forms {
                assert!(!row.contains(form.as_str()), "a plain secret in {row}");
            }
        }
    }
    // A ciphertext moved to another row does not decrypt there: the instance refuses to start.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE {s}.tower_hmac_keys SET nonce = a.nonce, ciphertext = a.ciphertext \
         FROM {s}.tower_hmac_keys a WHERE a.key_id = 'key-a' AND {s}.tower_hmac_keys.key_id = 'key-b'",
        s = schema.0
    )))
    .execute(&pool)
    .await
    .unwrap();
    let err = PostgresRegistry::connect(&url(), Keyring::new(master()), options(&schema))
        .await
        .unwrap_err();
    assert!(
        matches!(err, PostgresError::Decrypt { ref key_id } if key_id == "key-b"),
        "{err}"
    );
    // A wrong master key: refused at start.
    let other = MasterKey::generate().unwrap();
    let err = PostgresRegistry::connect(&url(), Keyring::new(other), options(&schema))
        .await
        .unwrap_err();
    assert!(
        matches!(err, PostgresError::UnknownMasterKey { .. }),
        "{err}"
    );
    assert!(!format!("{:?}", master()).contains(&*master().to_base64()));
}

/// What reaches the instances here can only come through their listeners: the periodic refresh
/// is an hour away, and the keys are counted (`len`), never looked up (a lookup of an id not held
/// reads the database). How long it took is logged, not bounded: that is the machine's speed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_reaches_another_instance_through_its_notification() {
    let schema = Schema::new("notify");
    let admin = admin(&schema, Keyring::new(master())).await;
    admin.generate_key("partner", "key-a", "t").await.unwrap();
    let options = options(&schema).refresh_interval(Duration::from_secs(3600));
    let one = PostgresRegistry::connect(&url(), Keyring::new(master()), options.clone())
        .await
        .unwrap();
    let two = PostgresRegistry::connect(&url(), Keyring::new(master()), options)
        .await
        .unwrap();
    // Both listening: a key added now is held by each, through a notification or through the
    // catch-up read that follows `LISTEN` — either way, once it is held, the listener listens.
    admin
        .generate_key("partner", "key-probe", "t")
        .await
        .unwrap();
    for (name, instance) in [("one", &one), ("two", &two)] {
        until(&format!("instance {name} listening"), async || {
            instance.len() == 2
        })
        .await;
    }
    // From here on, only a notification brings a change.
    admin.revoke("key-a", "ops").await.unwrap();
    for (name, instance) in [("one", &one), ("two", &two)] {
        let took = until(
            &format!("instance {name} sees the revocation"),
            async || state(instance, "key-a").await == Ok(Some(KeyState::Revoked)),
        )
        .await;
        eprintln!("instance {name} saw the revocation after {took:?}");
    }
    // A new key, too: held before anyone asks for it.
    admin.generate_key("partner", "key-b", "t").await.unwrap();
    let took = until("key-b held", async || two.len() == 3).await;
    eprintln!("instance two held the new key after {took:?}");
    assert_eq!(state(&two, "key-b").await, Ok(Some(KeyState::Active)));
}

/// A TCP proxy to PostgreSQL that the test can cut (every connection closed, new ones refused)
/// and restore; it counts the connections it refused.
struct Proxy {
    port: u16,
    down: Arc<AtomicBool>,
    refused: Arc<AtomicUsize>,
    generation: Arc<tokio::sync::watch::Sender<u64>>,
}

impl Proxy {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let down = Arc::new(AtomicBool::new(false));
        let refused = Arc::new(AtomicUsize::new(0));
        let (tx, _) = tokio::sync::watch::channel(0u64);
        let generation = Arc::new(tx);
        let (d, r, g) = (down.clone(), refused.clone(), generation.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                if d.load(Ordering::SeqCst) {
                    r.fetch_add(1, Ordering::SeqCst);
                    continue; // dropped: refused
                }
                let mut cut = g.subscribe();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect("127.0.0.1:5432").await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Self {
            port,
            down,
            refused,
            generation,
        }
    }

    /// How many connections it has refused so far.
    fn refused(&self) -> usize {
        self.refused.load(Ordering::SeqCst)
    }

    fn cut(&self) {
        self.down.store(true, Ordering::SeqCst);
        self.generation.send_modify(|g| *g += 1);
    }

    fn restore(&self) {
        self.down.store(false, Ordering::SeqCst);
    }

    fn url(&self) -> String {
        url().replace("127.0.0.1:5432", &format!("127.0.0.1:{}", self.port))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_database_is_down_held_keys_work_and_unknown_ones_are_unavailable() {
    let schema = Schema::new("outage");
    let admin = admin(&schema, Keyring::new(master())).await;
    admin.generate_key("partner", "key-a", "t").await.unwrap();
    let proxy = Proxy::start().await;
    let registry = PostgresRegistry::connect(
        &proxy.url(),
        Keyring::new(master()),
        options(&schema).refresh_interval(Duration::from_millis(200)),
    )
    .await
    .unwrap();
    assert_eq!(
        state(&registry, "key-b").await,
        Ok(None),
        "unknown while up"
    );

    proxy.cut();
    // Unavailable, and known to be: the registry's listener or refresh has noticed. (Before, a
    // lookup fails on its own way to the database, and the registry may still believe it up.)
    until("unavailable, the database known to be down", async || {
        knows_it_is_down(&registry, "key-b").await
    })
    .await;
    assert_eq!(
        state(&registry, "key-a").await,
        Ok(Some(KeyState::Active)),
        "held key works"
    );
    // Meanwhile (through the direct connection), a key is added and the old one revoked.
    admin.generate_key("partner", "key-b", "t").await.unwrap();
    admin.revoke("key-a", "t").await.unwrap();
    // The registry keeps trying (its refresh every 200 ms, its listener): refused again since the
    // changes, it has tried to take them, and must still answer the error.
    let refused = proxy.refused();
    until("the registry tried the database again", async || {
        proxy.refused() >= refused + 3
    })
    .await;
    assert_eq!(
        state(&registry, "key-b").await,
        Err(()),
        "still down: 503, not unknown"
    );

    // Back: recovered without a restart, changes made during the outage included.
    proxy.restore();
    until("recovered", async || {
        state(&registry, "key-b").await == Ok(Some(KeyState::Active))
    })
    .await;
    assert_eq!(state(&registry, "key-a").await, Ok(Some(KeyState::Revoked)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_master_key_is_rotated_while_an_instance_serves() {
    let schema = Schema::new("rekey");
    let old = master();
    let new = MasterKey::generate().unwrap();
    let admin_old = admin(&schema, Keyring::new(old.clone())).await;
    let a = admin_old
        .generate_key("partner", "key-a", "t")
        .await
        .unwrap();
    // The instance knows both keys (new current, old previous), as during a rotation.
    let keyring = Keyring::new(new.clone()).with_previous(old.clone());
    let registry = PostgresRegistry::connect(&url(), keyring.clone(), options(&schema))
        .await
        .unwrap();
    let admin_new = admin(&schema, keyring).await;
    assert_eq!(admin_new.reencrypt("ops").await.unwrap(), 1);
    assert_eq!(
        admin_new.reencrypt("ops").await.unwrap(),
        0,
        "nothing left to do"
    );
    let list = admin_new.list().await.unwrap();
    assert_eq!(list[0].master_key, new.id());
    registry.refresh().await.unwrap();
    let record = registry.lookup("key-a").await.unwrap().unwrap();
    assert_eq!(record.secret().expose_secret(), a.expose_secret());
    // The old key alone no longer starts an instance; the new one alone does.
    assert!(
        PostgresRegistry::connect(&url(), Keyring::new(old), options(&schema))
            .await
            .is_err()
    );
    let fresh = PostgresRegistry::connect(&url(), Keyring::new(new), options(&schema))
        .await
        .unwrap();
    assert_eq!(state(&fresh, "key-a").await, Ok(Some(KeyState::Active)));
    assert!(
        admin_new
            .audit()
            .await
            .unwrap()
            .iter()
            .any(|e| e.action == "reencrypted")
    );
}

/// A PostgreSQL server of this test's own (the machine's binaries, a data directory in /tmp),
/// which the test can stop and start again: the shared server is not touched. It listens on a
/// Unix socket in its own directory only: no TCP port to pick, to release, or to lose to another
/// program while the server is down.
struct PrivatePostgres {
    dir: std::path::PathBuf,
}

impl PrivatePostgres {
    const BIN: &'static str = "/usr/lib/postgresql/15/bin";
    /// Only names the socket (`.s.PGSQL.5432`) in the server's directory.
    const PORT: u16 = 5432;

    /// Runs a PostgreSQL binary, as the `postgres` user when this is root (initdb refuses root).
    fn run(tool: &str, args: &[&str]) -> std::process::Output {
        let bin = format!("{}/{tool}", Self::BIN);
        let root = std::process::Command::new("id")
            .arg("-u")
            .output()
            .map(|o| o.stdout == b"0\n");
        let mut command = if root.unwrap_or(false) {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--", &bin]);
            c
        } else {
            std::process::Command::new(&bin)
        };
        command
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{bin}: {e} (PostgreSQL's server binaries are needed)"))
    }

    fn new() -> Self {
        static SERVERS: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tower-hmac-pg-{}-{}",
            std::process::id(),
            SERVERS.fetch_add(1, Ordering::SeqCst)
        ));
        // Left by an earlier process of the same id, killed before its cleanup: initdb wants it
        // empty.
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let _ = std::process::Command::new("chown")
            .args(["postgres:postgres", dir.to_str().unwrap()])
            .status();
        let data = dir.join("data");
        let out = Self::run(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-A",
                "trust",
                "-U",
                "postgres",
                // A throwaway cluster: nothing waits for the disk.
                "--no-sync",
            ],
        );
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let server = Self { dir };
        server.start();
        server
    }

    fn pg_ctl(&self, action: &str) {
        let data = self.dir.join("data");
        let options = format!(
            "-p {} -k {} -c listen_addresses='' -c fsync=off",
            Self::PORT,
            self.dir.display()
        );
        let log = self.dir.join("log");
        let out = Self::run(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-o",
                &options,
                "-l",
                log.to_str().unwrap(),
                // Waits until the server is up or down, for as long as a loaded machine needs.
                "-w",
                "-t",
                "600",
                "-m",
                "fast",
                action,
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl {action}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn start(&self) {
        self.pg_ctl("start");
    }

    fn stop(&self) {
        self.pg_ctl("stop");
    }

    fn url(&self) -> String {
        format!(
            "postgres://postgres@localhost:{}/postgres?host={}",
            Self::PORT,
            self.dir.display()
        )
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let _ = Self::run(
            "pg_ctl",
            &["-D", data.to_str().unwrap(), "-m", "immediate", "stop"],
        );
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_stopped_and_restarted() {
    let server = tokio::task::spawn_blocking(PrivatePostgres::new)
        .await
        .unwrap();
    let admin = KeyAdmin::connect(&server.url(), Keyring::new(master()), None)
        .await
        .unwrap();
    admin.generate_key("partner", "key-a", "t").await.unwrap();
    let registry = PostgresRegistry::connect(
        &server.url(),
        Keyring::new(master()),
        RegistryOptions::default()
            .refresh_interval(Duration::from_millis(200))
            .max_staleness(Duration::from_secs(3600))
            .lookup_timeout(PATIENCE),
    )
    .await
    .unwrap();
    assert_eq!(state(&registry, "key-b").await, Ok(None));

    let server = tokio::task::spawn_blocking(move || {
        server.stop();
        server
    })
    .await
    .unwrap();
    until("unavailable", async || {
        state(&registry, "key-b").await == Err(())
    })
    .await;
    assert_eq!(
        state(&registry, "key-a").await,
        Ok(Some(KeyState::Active)),
        "held key works"
    );

    let server = tokio::task::spawn_blocking(move || {
        server.start();
        server
    })
    .await
    .unwrap();
    // Changes made after the restart arrive without restarting the instance.
    let admin = KeyAdmin::connect(&server.url(), Keyring::new(master()), None)
        .await
        .unwrap();
    admin.generate_key("partner", "key-b", "t").await.unwrap();
    admin.revoke("key-a", "t").await.unwrap();
    until("recovered", async || {
        state(&registry, "key-b").await == Ok(Some(KeyState::Active))
    })
    .await;
    until("revocation seen", async || {
        state(&registry, "key-a").await == Ok(Some(KeyState::Revoked))
    })
    .await;
    drop(registry);
    tokio::task::spawn_blocking(move || drop(server))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_added_for_schemes_is_kept_to_them_and_audited() {
    let schema = Schema::new("schemes");
    let admin = admin(&schema, Keyring::new(master())).await;
    let text = SecretKey::from_text("whsec_provider_secret_0002").unwrap();
    admin
        .add_key_for_schemes("stripe", "stripe-2", &text, &["stripe"], "alice")
        .await
        .unwrap();
    let registry = PostgresRegistry::connect(&url(), Keyring::new(master()), options(&schema))
        .await
        .unwrap();
    let record = registry.lookup("stripe-2").await.unwrap().unwrap();
    assert_eq!(record.app_id(), "stripe");
    assert_eq!(record.secret().expose_secret(), text.expose_secret());
    assert_eq!(&*record.secret().text_form(), "whsec_provider_secret_0002");
    assert!(record.allows_scheme("stripe"));
    assert!(!record.allows_scheme("v1"));
    let audit = admin.audit().await.unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.key_id == "stripe-2" && e.action == "added" && e.actor == "alice"),
        "{audit:?}"
    );
    // No scheme, or one that cannot be named, is refused before anything is written.
    for schemes in [&[][..], &["Stripe"][..], &["has space"][..]] {
        assert!(matches!(
            admin
                .add_key_for_schemes("stripe", "stripe-3", &text, schemes, "alice")
                .await,
            Err(PostgresError::Invalid { .. })
        ));
    }
    assert!(registry.lookup("stripe-3").await.unwrap().is_none());
}
