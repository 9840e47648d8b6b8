//! A PostgreSQL key registry for [tower-hmac](https://docs.rs/tower-hmac): apps and keys in
//! tables (several live keys per app, states, schemes and validity times as columns), secrets
//! encrypted at rest with AES-256-GCM under a master key (the key id is the associated data, so
//! a ciphertext copied to another row does not decrypt), every change in an audit table, and
//! changes on every instance within a second through `LISTEN`/`NOTIFY`, with a periodic full
//! refresh when a notification is lost.
//!
//! Each instance holds the keys in memory ([`PostgresRegistry`]): a lookup never waits for the
//! database. While the database is down, the keys it held keep working for
//! [`RegistryOptions::max_staleness`], and an id it does not hold is `key_store_unavailable`
//! (`503`, `Retry-After`), never `unknown_key`. [`KeyAdmin`] (and `tower-hmac keys …`) adds,
//! rotates, revokes, lists and re-encrypts.
//!
//! ```no_run
//! use tower_hmac_postgres::{Keyring, PostgresRegistry, RegistryOptions};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let keyring = Keyring::from_env("TOWER_HMAC_MASTER_KEY")?;
//! let registry =
//!     PostgresRegistry::connect("postgres://app@db/app", keyring, RegistryOptions::default())
//!         .await?;
//! // HmacAuthLayer::builder(registry, hosts) …
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest as _, Sha256};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use sqlx::{Postgres, Row as _, Transaction};
use tower_hmac_core::{
    KeyRecord, KeyRegistry, KeyState, RegistryError, SecretKey, StoreFuture, is_valid_key_id,
};
use zeroize::Zeroizing;

/// The `NOTIFY` channel of key changes (the payload is the key id).
pub const CHANNEL: &str = "tower_hmac_keys";
/// The tracing target of the registry's events.
pub const TRACING_TARGET: &str = "tower_hmac::postgres";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PostgresError {
    /// The database refused or could not be reached.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The migrations could not be applied.
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A master key is not 32 bytes of standard Base64, or could not be read.
    #[error("master key: {0}")]
    MasterKey(String),
    /// A row is encrypted under a master key this instance does not have.
    #[error(
        "key {key_id:?} is encrypted under master key {master:?}, which this instance does not have"
    )]
    UnknownMasterKey {
        /// The key id.
        key_id: String,
        /// The master key's id.
        master: String,
    },
    /// A row does not decrypt: a wrong master key, or a ciphertext moved from another row.
    #[error(
        "key {key_id:?} does not decrypt with its master key (tampered, or moved from another row)"
    )]
    Decrypt {
        /// The key id.
        key_id: String,
    },
    /// A stored value is not valid (a secret's length, a state, an id).
    #[error("key {key_id:?}: {message}")]
    Invalid {
        /// The key id.
        key_id: String,
        /// What is wrong.
        message: String,
    },
    /// No such key.
    #[error("no key {0:?}")]
    NoSuchKey(String),
}

/// An AES-256-GCM master key, and its id (stored with each row it encrypts).
#[derive(Clone)]
pub struct MasterKey {
    key: Zeroizing<[u8; 32]>,
    id: String,
}

impl MasterKey {
    /// A master key from 32 bytes as standard Base64 (surrounding white space ignored).
    pub fn from_base64(text: &str) -> Result<Self, PostgresError> {
        let bytes = Zeroizing::new(
            STANDARD
                .decode(text.trim_ascii())
                .map_err(|_| PostgresError::MasterKey("not standard Base64".into()))?,
        );
        let key: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| PostgresError::MasterKey(format!("{} bytes, expected 32", bytes.len())))?;
        let mut id = Sha256::new();
        id.update(b"tower-hmac master key id\0");
        id.update(key);
        Ok(Self {
            key: Zeroizing::new(key),
            id: hex::encode(&id.finalize()[..8]),
        })
    }

    /// A new random master key.
    pub fn generate() -> Result<Self, PostgresError> {
        let mut key = Zeroizing::new([0u8; 32]);
        getrandom::fill(key.as_mut()).map_err(|e| PostgresError::MasterKey(e.to_string()))?;
        Self::from_base64(&STANDARD.encode(key.as_ref()))
    }

    /// The key as standard Base64 (to store it; zeroized on drop).
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(STANDARD.encode(self.key.as_ref()))
    }

    /// The id stored with each row it encrypts (a digest of the key, not the key).
    pub fn id(&self) -> &str {
        &self.id
    }

    fn cipher(&self) -> Aes256Gcm {
        // 32 bytes is AES-256's key length: cannot fail.
        <Aes256Gcm as KeyInit>::new_from_slice(self.key.as_ref())
            .unwrap_or_else(|_| unreachable!("a 32-byte key"))
    }

    /// Encrypts a secret for `key_id` (the associated data): a fresh nonce and the ciphertext.
    fn encrypt(&self, key_id: &str, secret: &[u8]) -> Result<([u8; 12], Vec<u8>), PostgresError> {
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).map_err(|e| PostgresError::MasterKey(e.to_string()))?;
        let ciphertext = self
            .cipher()
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: secret,
                    aad: key_id.as_bytes(),
                },
            )
            .map_err(|_| PostgresError::Decrypt {
                key_id: key_id.to_owned(),
            })?;
        Ok((nonce, ciphertext))
    }

    fn decrypt(
        &self,
        key_id: &str,
        nonce: &[u8],
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, PostgresError> {
        let failed = || PostgresError::Decrypt {
            key_id: key_id.to_owned(),
        };
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| failed())?;
        self.cipher()
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: key_id.as_bytes(),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| failed())
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id)
            .field("key", &"[redacted]")
            .finish()
    }
}

/// The master keys of an instance: the current one encrypts; the previous ones (during a
/// master-key rotation) only decrypt.
#[derive(Debug, Clone)]
pub struct Keyring {
    current: MasterKey,
    previous: Vec<MasterKey>,
}

impl Keyring {
    /// A keyring of one master key.
    pub fn new(current: MasterKey) -> Self {
        Self {
            current,
            previous: Vec::new(),
        }
    }

    /// Also decrypts rows under `previous` (while they are re-encrypted).
    pub fn with_previous(mut self, previous: MasterKey) -> Self {
        self.previous.push(previous);
        self
    }

    /// The master key in the environment variable `var` (standard Base64).
    pub fn from_env(var: &str) -> Result<Self, PostgresError> {
        let text = Zeroizing::new(
            std::env::var(var)
                .map_err(|_| PostgresError::MasterKey(format!("{var} is not set")))?,
        );
        Ok(Self::new(MasterKey::from_base64(&text)?))
    }

    /// The master key in a file (standard Base64).
    pub fn from_file(path: &std::path::Path) -> Result<Self, PostgresError> {
        let text = Zeroizing::new(
            std::fs::read_to_string(path)
                .map_err(|e| PostgresError::MasterKey(format!("{}: {e}", path.display())))?,
        );
        Ok(Self::new(MasterKey::from_base64(&text)?))
    }

    /// The master key that encrypts.
    pub fn current(&self) -> &MasterKey {
        &self.current
    }

    fn by_id(&self, id: &str) -> Option<&MasterKey> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id == id)
    }
}

/// Where the tables are and how the registry keeps up.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RegistryOptions {
    /// The schema of the tables (`search_path`); `None`: the connection's default.
    pub schema: Option<String>,
    /// The period of the full refresh that catches a lost notification (30 s).
    pub refresh_interval: Duration,
    /// How long after the last successful refresh the keys held keep working while the database
    /// is unreachable (5 minutes).
    pub max_staleness: Duration,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        Self {
            schema: None,
            refresh_interval: Duration::from_secs(30),
            max_staleness: Duration::from_secs(300),
        }
    }
}

impl RegistryOptions {
    /// The tables in `schema`.
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self
    }

    /// The full refresh's period.
    pub fn refresh_interval(mut self, every: Duration) -> Self {
        self.refresh_interval = every;
        self
    }

    /// How long the keys held keep working while the database is unreachable.
    pub fn max_staleness(mut self, max: Duration) -> Self {
        self.max_staleness = max;
        self
    }
}

async fn pool(url: &str, schema: Option<&str>) -> Result<PgPool, PostgresError> {
    let mut options = PgConnectOptions::from_str(url)?;
    if let Some(schema) = schema {
        if !is_valid_key_id(schema) || schema.contains(['.', '~', '-']) {
            return Err(PostgresError::Invalid {
                key_id: String::new(),
                message: format!("schema {schema:?}: letters, digits and _ only"),
            });
        }
        options = options.options([("search_path", schema)]);
    }
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(3))
        .connect_with(options)
        .await?;
    if let Some(schema) = schema {
        // The name was checked above: letters, digits and `_` only.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE SCHEMA IF NOT EXISTS {schema}"
        )))
        .execute(&pool)
        .await?;
    }
    MIGRATOR.run(&pool).await?;
    Ok(pool)
}

/// The keys of an instance, kept in step with the database.
#[derive(Clone)]
pub struct PostgresRegistry {
    shared: Arc<Shared>,
}

struct Shared {
    pool: PgPool,
    keyring: Keyring,
    options: RegistryOptions,
    keys: RwLock<HashMap<Box<str>, KeyRecord>>,
    /// Milliseconds since `started` of the last successful full refresh.
    last_ok: AtomicU64,
    started: Instant,
    /// Whether the last contact with the database succeeded.
    healthy: AtomicBool,
    tasks: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        for task in self
            .tasks
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
        {
            task.abort();
        }
    }
}

impl PostgresRegistry {
    /// Connects, applies the migrations, loads every key — refusing to start when a row does not
    /// decrypt with the keyring — and follows changes (`LISTEN` and the periodic refresh) until
    /// the last clone is dropped. Needs a Tokio runtime.
    pub async fn connect(
        url: &str,
        keyring: Keyring,
        options: RegistryOptions,
    ) -> Result<Self, PostgresError> {
        let pool = pool(url, options.schema.as_deref()).await?;
        let keys = load_all(&pool, &keyring).await?;
        let shared = Arc::new(Shared {
            pool,
            keyring,
            options,
            keys: RwLock::new(keys),
            last_ok: AtomicU64::new(0),
            started: Instant::now(),
            healthy: AtomicBool::new(true),
            tasks: std::sync::Mutex::new(Vec::new()),
        });
        let weak = Arc::downgrade(&shared);
        let listen = tokio::spawn(listen(weak.clone()));
        let refresh = tokio::spawn(refresh_periodically(weak));
        shared
            .tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend([listen, refresh]);
        Ok(Self { shared })
    }

    /// Reloads every key now.
    pub async fn refresh(&self) -> Result<usize, PostgresError> {
        self.shared.refresh().await
    }

    /// How many keys are held.
    pub fn len(&self) -> usize {
        self.shared.read().len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Shared {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<Box<str>, KeyRecord>> {
        self.keys.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<Box<str>, KeyRecord>> {
        self.keys.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn mark(&self, ok: bool) {
        if ok {
            let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
            self.last_ok.store(now, Ordering::SeqCst);
        }
        if self.healthy.swap(ok, Ordering::SeqCst) != ok {
            if ok {
                tracing::info!(target: TRACING_TARGET, "key database reachable again");
            } else {
                tracing::warn!(target: TRACING_TARGET, "key database unreachable: serving the keys held");
            }
        }
    }

    fn stale(&self) -> bool {
        let age = self
            .started
            .elapsed()
            .saturating_sub(Duration::from_millis(self.last_ok.load(Ordering::SeqCst)));
        age > self.options.max_staleness
    }

    async fn refresh(&self) -> Result<usize, PostgresError> {
        match load_all(&self.pool, &self.keyring).await {
            Ok(keys) => {
                let n = keys.len();
                *self.write() = keys;
                self.mark(true);
                Ok(n)
            }
            Err(e) => {
                if matches!(e, PostgresError::Database(_)) {
                    self.mark(false);
                }
                tracing::error!(target: TRACING_TARGET, "key refresh failed, keeping the keys held: {e}");
                Err(e)
            }
        }
    }

    async fn reload_key(&self, key_id: &str) -> Result<(), PostgresError> {
        let row = sqlx::query(SELECT_KEYS_WHERE_ID)
            .bind(key_id)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => {
                let (id, record) = decode_row(&row, &self.keyring)?;
                self.write().insert(id.into(), record);
            }
            None => {
                self.write().remove(key_id);
            }
        }
        Ok(())
    }
}

/// Follows `NOTIFY`s; a lost connection (notifications may be lost with it) is a full refresh.
async fn listen(shared: std::sync::Weak<Shared>) {
    loop {
        let Some(pool) = shared.upgrade().map(|s| s.pool.clone()) else {
            return;
        };
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(mut listener) => match listener.listen(CHANNEL).await {
                Ok(()) => listener,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    continue;
                }
            },
            Err(_) => {
                if let Some(s) = shared.upgrade() {
                    s.mark(false);
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
                continue;
            }
        };
        // Listening: catch up on what happened before (or while the connection was down).
        if let Some(s) = shared.upgrade() {
            let _ = s.refresh().await;
        }
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) => {
                    let Some(s) = shared.upgrade() else { return };
                    if let Err(e) = s.reload_key(notification.payload()).await {
                        tracing::error!(target: TRACING_TARGET, key_id = notification.payload(), "key reload failed: {e}");
                        let _ = s.refresh().await;
                    }
                }
                // The connection was lost: reconnect, then refresh everything.
                Ok(None) | Err(_) => {
                    if let Some(s) = shared.upgrade() {
                        s.mark(false);
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    break;
                }
            }
        }
    }
}

async fn refresh_periodically(shared: std::sync::Weak<Shared>) {
    loop {
        let Some(every) = shared.upgrade().map(|s| s.options.refresh_interval) else {
            return;
        };
        tokio::time::sleep(every).await;
        let Some(s) = shared.upgrade() else { return };
        let _ = s.refresh().await;
    }
}

impl KeyRegistry for PostgresRegistry {
    fn lookup(&self, key_id: &str) -> StoreFuture<Result<Option<KeyRecord>, RegistryError>> {
        let shared = &self.shared;
        let found = shared.read().get(key_id).cloned();
        let answer = match found {
            // A key held keeps working until the keys are too stale.
            Some(record) if !shared.stale() => Ok(Some(record)),
            Some(_) => Err(RegistryError::new(
                "the key database has been unreachable for too long",
            )),
            // Not held: unknown only if the database is reachable (it may be new).
            None if shared.healthy.load(Ordering::SeqCst) => Ok(None),
            None => Err(RegistryError::new("the key database is unreachable")),
        };
        StoreFuture::ready(answer)
    }
}

impl fmt::Debug for PostgresRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresRegistry")
            .field("keys", &self.len())
            .field("healthy", &self.shared.healthy.load(Ordering::SeqCst))
            .field("options", &self.shared.options)
            .finish_non_exhaustive()
    }
}

/// The query of keys (`$tail` added: a condition, a lock), each with its scopes (its own, else
/// its app's).
macro_rules! select_keys {
    ($tail:literal) => {
        concat!(
            "SELECT k.key_id, k.app_id, k.state, k.schemes, k.not_before, k.not_after, ",
            "k.secret_is_text, k.nonce, k.ciphertext, k.master_key, ",
            "COALESCE(k.scopes, a.scopes) AS scopes ",
            "FROM tower_hmac_keys k JOIN tower_hmac_apps a ON a.id = k.app_id",
            $tail
        )
    };
}

const SELECT_KEYS: &str = select_keys!("");
const SELECT_KEYS_WHERE_ID: &str = select_keys!(" WHERE k.key_id = $1");
const SELECT_KEY_FOR_UPDATE: &str = select_keys!(" WHERE k.key_id = $1 FOR UPDATE OF k");

async fn load_all(
    pool: &PgPool,
    keyring: &Keyring,
) -> Result<HashMap<Box<str>, KeyRecord>, PostgresError> {
    let rows = sqlx::query(SELECT_KEYS).fetch_all(pool).await?;
    let mut keys = HashMap::with_capacity(rows.len());
    for row in &rows {
        let (id, record) = decode_row(row, keyring)?;
        keys.insert(id.into(), record);
    }
    Ok(keys)
}

fn decode_row(
    row: &sqlx::postgres::PgRow,
    keyring: &Keyring,
) -> Result<(String, KeyRecord), PostgresError> {
    let key_id: String = row.try_get("key_id")?;
    let invalid = |message: String| PostgresError::Invalid {
        key_id: key_id.clone(),
        message,
    };
    let master_id: String = row.try_get("master_key")?;
    let master = keyring
        .by_id(&master_id)
        .ok_or_else(|| PostgresError::UnknownMasterKey {
            key_id: key_id.clone(),
            master: master_id.clone(),
        })?;
    let nonce: Vec<u8> = row.try_get("nonce")?;
    let ciphertext: Vec<u8> = row.try_get("ciphertext")?;
    let plain = master.decrypt(&key_id, &nonce, &ciphertext)?;
    let is_text: bool = row.try_get("secret_is_text")?;
    let secret = if is_text {
        let text =
            std::str::from_utf8(&plain).map_err(|_| invalid("text secret is not UTF-8".into()))?;
        SecretKey::from_text(text)
    } else {
        SecretKey::from_bytes(&plain)
    }
    .map_err(|e| invalid(e.to_string()))?;
    let state = match row.try_get::<String, _>("state")?.as_str() {
        "active" => KeyState::Active,
        "revoked" => KeyState::Revoked,
        other => return Err(invalid(format!("unknown state {other:?}"))),
    };
    let app_id: String = row.try_get("app_id")?;
    let schemes: Option<Vec<String>> = row.try_get("schemes")?;
    let not_before: Option<time::OffsetDateTime> = row.try_get("not_before")?;
    let not_after: Option<time::OffsetDateTime> = row.try_get("not_after")?;
    let mut record = KeyRecord::new(app_id, secret)
        .with_key_id(key_id.as_str())
        .with_state(state)
        .with_validity(
            not_before.map(SystemTime::from),
            not_after.map(SystemTime::from),
        );
    if let Some(schemes) = schemes {
        record = record.with_schemes(schemes);
    }
    let scopes: Vec<String> = row.try_get("scopes")?;
    record = record.with_scopes(scopes);
    Ok((key_id, record))
}

/// One key as [`KeyAdmin::list`] shows it: never its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyInfo {
    /// The key id.
    pub key_id: String,
    /// Its app.
    pub app_id: String,
    /// `active` or `revoked`.
    pub state: String,
    /// Start of validity.
    pub not_before: Option<SystemTime>,
    /// End of validity.
    pub not_after: Option<SystemTime>,
    /// The id of the master key it is encrypted under.
    pub master_key: String,
}

/// One entry of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditEntry {
    /// Who made the change (the `actor` given).
    pub actor: String,
    /// The key id.
    pub key_id: String,
    /// `added`, `revoked`, `expires` (rotation), `scopes`, `reencrypted`.
    pub action: String,
    /// The state before.
    pub old_state: Option<String>,
    /// The state after.
    pub new_state: Option<String>,
    /// When.
    pub at: SystemTime,
}

/// Changes the keys: every change is one transaction with its audit row and its `NOTIFY`.
#[derive(Debug, Clone)]
pub struct KeyAdmin {
    pool: PgPool,
    keyring: Keyring,
}

impl KeyAdmin {
    /// Connects (and applies the migrations).
    pub async fn connect(
        url: &str,
        keyring: Keyring,
        schema: Option<&str>,
    ) -> Result<Self, PostgresError> {
        Ok(Self {
            pool: pool(url, schema).await?,
            keyring,
        })
    }

    /// Adds a key of `app_id` (the app is created when new). A `from_text` secret keeps its
    /// text form.
    pub async fn add_key(
        &self,
        app_id: &str,
        key_id: &str,
        secret: &SecretKey,
        actor: &str,
    ) -> Result<(), PostgresError> {
        for (what, id) in [("app", app_id), ("key", key_id)] {
            if !is_valid_key_id(id) {
                return Err(PostgresError::Invalid {
                    key_id: key_id.to_owned(),
                    message: format!("invalid {what} id {id:?}"),
                });
            }
        }
        let text = secret.text_form();
        let is_text = text.as_bytes() == secret.expose_secret();
        let master = self.keyring.current();
        let (nonce, ciphertext) = master.encrypt(key_id, secret.expose_secret())?;
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO tower_hmac_apps (id) VALUES ($1) ON CONFLICT DO NOTHING")
            .bind(app_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO tower_hmac_keys (key_id, app_id, state, secret_is_text, nonce, ciphertext, master_key) \
             VALUES ($1, $2, 'active', $3, $4, $5, $6)",
        )
        .bind(key_id)
        .bind(app_id)
        .bind(is_text)
        .bind(&nonce[..])
        .bind(&ciphertext)
        .bind(master.id())
        .execute(&mut *tx)
        .await?;
        change(&mut tx, actor, key_id, "added", None, Some("active")).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Generates a new 32-byte key for `app_id`, stores it encrypted and returns it — the only
    /// time it exists in plain text outside this process's memory is where the caller prints it.
    pub async fn generate_key(
        &self,
        app_id: &str,
        key_id: &str,
        actor: &str,
    ) -> Result<SecretKey, PostgresError> {
        let secret = SecretKey::generate().map_err(|e| PostgresError::MasterKey(e.to_string()))?;
        self.add_key(app_id, key_id, &secret, actor).await?;
        Ok(secret)
    }

    /// Rotation: a new key for `app_id`, and every other active key of the app valid only for
    /// `grace` more (its `not_after`), so that clients roll over in that time.
    pub async fn rotate(
        &self,
        app_id: &str,
        new_key_id: &str,
        grace: Duration,
        actor: &str,
    ) -> Result<SecretKey, PostgresError> {
        let secret = self.generate_key(app_id, new_key_id, actor).await?;
        let until = time::OffsetDateTime::from(SystemTime::now() + grace);
        let mut tx = self.pool.begin().await?;
        let old: Vec<String> = sqlx::query_scalar(
            "UPDATE tower_hmac_keys SET not_after = $1, updated_at = now() \
             WHERE app_id = $2 AND key_id <> $3 AND state = 'active' \
             AND (not_after IS NULL OR not_after > $1) RETURNING key_id",
        )
        .bind(until)
        .bind(app_id)
        .bind(new_key_id)
        .fetch_all(&mut *tx)
        .await?;
        for key_id in &old {
            change(
                &mut tx,
                actor,
                key_id,
                "expires",
                Some("active"),
                Some("active"),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(secret)
    }

    /// Sets what an app's keys may call (its scopes; a key with scopes of its own keeps them).
    pub async fn set_app_scopes(
        &self,
        app_id: &str,
        scopes: &[&str],
        actor: &str,
    ) -> Result<(), PostgresError> {
        if let Some(bad) = scopes.iter().find(|s| !tower_hmac_core::is_valid_scope(s)) {
            return Err(PostgresError::Invalid {
                key_id: format!("app {app_id}"),
                message: format!(
                    "scope {bad:?}: 1 to 128 visible ASCII characters, without quotes or backslashes"
                ),
            });
        }
        let mut tx = self.pool.begin().await?;
        let updated = sqlx::query("UPDATE tower_hmac_apps SET scopes = $1 WHERE id = $2")
            .bind(scopes)
            .bind(app_id)
            .execute(&mut *tx)
            .await?;
        if updated.rows_affected() == 0 {
            return Err(PostgresError::NoSuchKey(format!("app {app_id}")));
        }
        let keys: Vec<String> =
            sqlx::query_scalar("SELECT key_id FROM tower_hmac_keys WHERE app_id = $1")
                .bind(app_id)
                .fetch_all(&mut *tx)
                .await?;
        for key_id in &keys {
            change(&mut tx, actor, key_id, "scopes", None, None).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Revokes a key: refused (`revoked_key`) on every instance within a second.
    pub async fn revoke(&self, key_id: &str, actor: &str) -> Result<(), PostgresError> {
        let mut tx = self.pool.begin().await?;
        let old: Option<String> =
            sqlx::query_scalar("SELECT state FROM tower_hmac_keys WHERE key_id = $1 FOR UPDATE")
                .bind(key_id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(old) = old else {
            return Err(PostgresError::NoSuchKey(key_id.to_owned()));
        };
        sqlx::query(
            "UPDATE tower_hmac_keys SET state = 'revoked', updated_at = now() WHERE key_id = $1",
        )
        .bind(key_id)
        .execute(&mut *tx)
        .await?;
        change(
            &mut tx,
            actor,
            key_id,
            "revoked",
            Some(&old),
            Some("revoked"),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every key, without secrets.
    pub async fn list(&self) -> Result<Vec<KeyInfo>, PostgresError> {
        let rows = sqlx::query(
            "SELECT key_id, app_id, state, not_before, not_after, master_key FROM tower_hmac_keys ORDER BY app_id, key_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let time = |name: &str| -> Result<Option<SystemTime>, sqlx::Error> {
                    Ok(row
                        .try_get::<Option<time::OffsetDateTime>, _>(name)?
                        .map(SystemTime::from))
                };
                Ok(KeyInfo {
                    key_id: row.try_get("key_id")?,
                    app_id: row.try_get("app_id")?,
                    state: row.try_get("state")?,
                    not_before: time("not_before")?,
                    not_after: time("not_after")?,
                    master_key: row.try_get("master_key")?,
                })
            })
            .collect()
    }

    /// The audit trail, oldest first.
    pub async fn audit(&self) -> Result<Vec<AuditEntry>, PostgresError> {
        let rows = sqlx::query(
            "SELECT actor, key_id, action, old_state, new_state, at FROM tower_hmac_audit ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(AuditEntry {
                    actor: row.try_get("actor")?,
                    key_id: row.try_get("key_id")?,
                    action: row.try_get("action")?,
                    old_state: row.try_get("old_state")?,
                    new_state: row.try_get("new_state")?,
                    at: row.try_get::<time::OffsetDateTime, _>("at")?.into(),
                })
            })
            .collect()
    }

    /// Master-key rotation: re-encrypts, one row per transaction, every row not under the
    /// keyring's current key (decrypting with the previous ones). Instances running with both
    /// keys in their keyring go on serving throughout. Returns how many rows were re-encrypted.
    pub async fn reencrypt(&self, actor: &str) -> Result<usize, PostgresError> {
        let current = self.keyring.current();
        let ids: Vec<String> =
            sqlx::query_scalar("SELECT key_id FROM tower_hmac_keys WHERE master_key <> $1")
                .bind(current.id())
                .fetch_all(&self.pool)
                .await?;
        let mut done = 0;
        for key_id in ids {
            let mut tx = self.pool.begin().await?;
            let row = sqlx::query(SELECT_KEY_FOR_UPDATE)
                .bind(&key_id)
                .fetch_optional(&mut *tx)
                .await?;
            let Some(row) = row else { continue };
            let master_id: String = row.try_get("master_key")?;
            let old =
                self.keyring
                    .by_id(&master_id)
                    .ok_or_else(|| PostgresError::UnknownMasterKey {
                        key_id: key_id.clone(),
                        master: master_id.clone(),
                    })?;
            let nonce: Vec<u8> = row.try_get("nonce")?;
            let ciphertext: Vec<u8> = row.try_get("ciphertext")?;
            let plain = old.decrypt(&key_id, &nonce, &ciphertext)?;
            let (nonce, ciphertext) = current.encrypt(&key_id, &plain)?;
            sqlx::query(
                "UPDATE tower_hmac_keys SET nonce = $1, ciphertext = $2, master_key = $3, updated_at = now() WHERE key_id = $4",
            )
            .bind(&nonce[..])
            .bind(&ciphertext)
            .bind(current.id())
            .bind(&key_id)
            .execute(&mut *tx)
            .await?;
            change(&mut tx, actor, &key_id, "reencrypted", None, None).await?;
            tx.commit().await?;
            done += 1;
        }
        Ok(done)
    }
}

/// The audit row and the `NOTIFY` of one change, in its transaction.
async fn change(
    tx: &mut Transaction<'_, Postgres>,
    actor: &str,
    key_id: &str,
    action: &str,
    old_state: Option<&str>,
    new_state: Option<&str>,
) -> Result<(), PostgresError> {
    sqlx::query(
        "INSERT INTO tower_hmac_audit (actor, key_id, action, old_state, new_state) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(actor)
    .bind(key_id)
    .bind(action)
    .bind(old_state)
    .bind(new_state)
    .execute(&mut **tx)
    .await?;
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(key_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
