//! The registry's settings.

use std::time::Duration;

/// Where the tables are and how the registry keeps up.
///
/// ```
/// use std::time::Duration;
/// use tower_hmac_postgres::RegistryOptions;
///
/// // The defaults: a full refresh every 30 s, held keys served for 5 minutes of outage, an id
/// // not held looked up in the database within 500 ms, at most 2 such lookups at a time.
/// let defaults = RegistryOptions::default();
/// assert_eq!(defaults.lookup_timeout, Duration::from_millis(500));
/// // Customised: a schema of its own, a faster refresh, a shorter lookup bound.
/// let options = RegistryOptions::default()
///     .schema("auth")
///     .refresh_interval(Duration::from_secs(10))
///     .lookup_timeout(Duration::from_millis(200));
/// # let _ = options;
/// ```
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
    /// The bound on looking up, in the database, a key id the instance does not hold (500 ms):
    /// waiting for a lookup slot, a connection and the answer. Past it the lookup is the
    /// registry's error (`503 key_store_unavailable`), never `unknown_key`.
    pub lookup_timeout: Duration,
    /// How many lookups of ids not held may be in the database at once (2); the connection pool
    /// has two more, so that a flood of unknown ids never delays applying a revocation.
    pub max_concurrent_lookups: usize,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        Self {
            schema: None,
            refresh_interval: Duration::from_secs(30),
            max_staleness: Duration::from_secs(300),
            lookup_timeout: Duration::from_millis(500),
            max_concurrent_lookups: 2,
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

    /// The bound on looking up an id not held (see [`RegistryOptions::lookup_timeout`]).
    pub fn lookup_timeout(mut self, timeout: Duration) -> Self {
        self.lookup_timeout = timeout;
        self
    }

    /// How many lookups of ids not held may run at once (at least 1).
    pub fn max_concurrent_lookups(mut self, max: usize) -> Self {
        self.max_concurrent_lookups = max;
        self
    }
}
