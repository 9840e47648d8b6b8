//! The vault: seals a user's tokens for an upstream, opens them, replaces them on a refresh,
//! revokes them, re-encrypts them when the master key rotates.

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tower_hmac_core::audit::{AuditEvent, AuditHook, AuditKind, Auditor};
use tower_hmac_core::clock::unix_seconds;
use tower_hmac_core::keyring::{Keyring, KeyringError};
use tower_hmac_core::{Clock, SecretKey, SystemClock};
use zeroize::Zeroizing;

use crate::TRACING_TARGET;
use crate::store::{Expiring, SealedRecord, VaultStore, VaultStoreError};

/// The longest upstream name, bytes.
pub const MAX_UPSTREAM_LEN: usize = 64;
/// The longest user id, bytes.
pub const MAX_USER_LEN: usize = 256;
/// The longest token (access or refresh), bytes.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;
/// The most scopes a record keeps.
pub const MAX_SCOPES: usize = 64;

/// A user's keyed hash: HMAC-SHA256 of the user id under the vault's user key, as 64 hex digits.
/// All a store (and a log) ever holds of the user: without the key nobody can tell whose
/// record it is, or test a guess.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UserHash(String);

impl UserHash {
    /// From its 64 lower-case hex digits (as a store keeps it); `None` for anything else.
    pub fn from_hex(text: &str) -> Option<Self> {
        (text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .then(|| Self(text.to_owned()))
    }

    /// The 64 hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for UserHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserHash({})", &self.0)
    }
}

impl fmt::Display for UserHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A user's tokens for one upstream: the access token, the refresh token, when the access
/// token expires and the scopes the user granted. The tokens are wiped from memory when
/// dropped, and never shown by `Debug`.
#[derive(Clone)]
pub struct DelegatedTokens {
    access_token: Zeroizing<String>,
    refresh_token: Option<Zeroizing<String>>,
    expires_at: u64,
    scopes: Vec<String>,
}

impl fmt::Debug for DelegatedTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DelegatedTokens")
            .field("access_token", &"[redacted]")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "[redacted]"),
            )
            .field("expires_at", &self.expires_at)
            .field("scopes", &self.scopes)
            .finish()
    }
}

impl DelegatedTokens {
    /// Tokens as an upstream's token endpoint answered them: `expires_at` in Unix seconds.
    pub fn new(
        access_token: impl Into<String>,
        refresh_token: Option<String>,
        expires_at: u64,
        scopes: Vec<String>,
    ) -> Self {
        Self {
            access_token: Zeroizing::new(access_token.into()),
            refresh_token: refresh_token.map(Zeroizing::new),
            expires_at,
            scopes,
        }
    }

    /// The access token (send it only to its upstream, over HTTPS).
    pub fn access_token(&self) -> &str {
        &self.access_token
    }

    /// The refresh token, if the upstream gave one.
    pub fn refresh_token(&self) -> Option<&str> {
        self.refresh_token.as_deref().map(String::as_str)
    }

    /// When the access token expires, Unix seconds.
    pub fn expires_at(&self) -> u64 {
        self.expires_at
    }

    /// The scopes the user granted.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// Whether every scope of `required` was granted.
    pub fn grants<S: AsRef<str>>(&self, required: &[S]) -> bool {
        required
            .iter()
            .all(|r| self.scopes.iter().any(|s| s == r.as_ref()))
    }

    fn check(&self) -> Result<(), VaultError> {
        // RFC 6749 appendix A: tokens are `1*VSCHAR` (%x20-7E), scope tokens `1*NQCHAR`
        // (%x21 / %x23-5B / %x5D-7E). Nothing else is stored: an access token with a CR or LF
        // would be refused only later, as a header value.
        let token_ok = |t: &str| {
            !t.is_empty()
                && t.len() <= MAX_TOKEN_LEN
                && t.bytes().all(|b| (0x20..=0x7e).contains(&b))
        };
        let scope_ok = |s: &str| {
            !s.is_empty()
                && s.len() <= 128
                && s.bytes()
                    .all(|b| (0x21..=0x7e).contains(&b) && b != b'"' && b != b'\\')
        };
        if !token_ok(&self.access_token)
            || self.refresh_token.as_deref().is_some_and(|t| !token_ok(t))
            || self.scopes.len() > MAX_SCOPES
            || !self.scopes.iter().all(|s| scope_ok(s))
        {
            return Err(VaultError::InvalidTokens);
        }
        Ok(())
    }
}

/// The version of a record's plaintext format: a record of another is unreadable.
const FORMAT_VERSION: u8 = 1;

/// The plaintext of a record (JSON inside the ciphertext).
#[derive(Serialize, Deserialize)]
struct Plain<'a> {
    /// The format's version.
    v: u8,
    #[serde(borrow)]
    a: std::borrow::Cow<'a, str>,
    #[serde(borrow, default)]
    r: Option<std::borrow::Cow<'a, str>>,
    e: u64,
    s: Vec<String>,
}

/// One user's tokens for one upstream and the version of the record they came from (for
/// [`Vault::replace`]).
#[derive(Debug, Clone)]
pub struct Entry {
    /// The tokens.
    pub tokens: DelegatedTokens,
    /// The record's version.
    pub version: u64,
}

/// Why the vault refused or failed; each has a stable code. Never a token or a user id.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VaultError {
    /// The store failed (`vault_unavailable`).
    #[error("vault_unavailable")]
    Store(#[from] VaultStoreError),
    /// A record is sealed under a master key this vault does not have, or does not open
    /// (altered, or moved to another user or upstream), or holds a format this version does not
    /// read (written by a later version) (`vault_record_unreadable`).
    #[error("vault_record_unreadable: {0}")]
    Unreadable(KeyringError),
    /// No randomness for a nonce (`vault_unavailable`).
    #[error("vault_unavailable: {0}")]
    Seal(KeyringError),
    /// An upstream name that is empty, too long, or not `[A-Za-z0-9._-]`
    /// (`invalid_upstream`).
    #[error("invalid_upstream")]
    InvalidUpstream,
    /// An empty or over-long user id (`invalid_user`).
    #[error("invalid_user")]
    InvalidUser,
    /// An empty or over-long token, or one with a character outside RFC 6749's `VSCHAR`
    /// (a CR or LF …); too many scopes, or one outside `NQCHAR` (`invalid_tokens`).
    #[error("invalid_tokens")]
    InvalidTokens,
    /// Another writer changed the record first (`vault_conflict`).
    #[error("vault_conflict")]
    Conflict,
}

impl VaultError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Store(_) | Self::Seal(_) => "vault_unavailable",
            Self::Unreadable(_) => "vault_record_unreadable",
            Self::InvalidUpstream => "invalid_upstream",
            Self::InvalidUser => "invalid_user",
            Self::InvalidTokens => "invalid_tokens",
            Self::Conflict => "vault_conflict",
        }
    }
}

/// Whether `name` is a valid upstream name: 1 to [`MAX_UPSTREAM_LEN`] bytes of ASCII letters,
/// digits, `.`, `_` and `-` (the vault's records and the client's upstreams alike).
pub(crate) fn is_upstream_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_UPSTREAM_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn check_upstream(upstream: &str) -> Result<(), VaultError> {
    is_upstream_name(upstream)
        .then_some(())
        .ok_or(VaultError::InvalidUpstream)
}

/// The associated data of a record: it opens only as the record of this user and upstream.
fn aad(user: &UserHash, upstream: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(24 + 64 + upstream.len());
    aad.extend_from_slice(b"tower-hmac-vault v1\0");
    aad.extend_from_slice(user.as_str().as_bytes());
    aad.push(0);
    aad.extend_from_slice(upstream.as_bytes());
    aad
}

/// Users' delegated tokens, sealed in a [`VaultStore`] under a [`Keyring`].
///
/// ```
/// # tokio_test_block_on(async {
/// use tower_hmac_core::SecretKey;
/// use tower_hmac_core::keyring::{Keyring, MasterKey};
/// use tower_hmac_vault::{DelegatedTokens, Vault, store::MemoryVaultStore};
///
/// let vault = Vault::new(
///     MemoryVaultStore::new(),
///     Keyring::new(MasterKey::generate()?),
///     SecretKey::generate()?,
/// );
/// let tokens = DelegatedTokens::new("at", Some("rt".into()), 1_900_000_000, vec!["read".into()]);
/// vault.put("alice", "github", &tokens).await?;
/// let entry = vault.get("alice", "github").await?.expect("stored");
/// assert_eq!(entry.tokens.access_token(), "at");
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
pub struct Vault {
    store: Arc<dyn VaultStore>,
    keyring: RwLock<Arc<Keyring>>,
    user_key: SecretKey,
    clock: Arc<dyn Clock>,
    auditor: Auditor,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vault")
            .field("keyring", &self.keyring())
            .finish_non_exhaustive()
    }
}

impl Vault {
    /// A vault over `store`, sealing under `keyring`'s current master key, hashing user ids
    /// under `user_key` (keep it as secret as the master key, and the same on every instance:
    /// records are found by it).
    pub fn new(store: impl VaultStore, keyring: Keyring, user_key: SecretKey) -> Self {
        Self::with_shared_store(Arc::new(store), keyring, user_key)
    }

    /// A vault over a store shared with other owners.
    pub fn with_shared_store(
        store: Arc<dyn VaultStore>,
        keyring: Keyring,
        user_key: SecretKey,
    ) -> Self {
        Self {
            store,
            keyring: RwLock::new(Arc::new(keyring)),
            user_key,
            clock: Arc::new(SystemClock),
            auditor: Auditor::new(),
        }
    }

    /// With another clock (tests).
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Audit events (`TOKEN_*`) to `hook` as well as to the log.
    pub fn audit_hook(mut self, hook: impl AuditHook) -> Self {
        self.auditor = Auditor::with_hook(hook);
        self
    }

    /// With this auditor (shared with the delegating client and the sessions).
    pub fn auditor(mut self, auditor: Auditor) -> Self {
        self.auditor = auditor;
        self
    }

    /// The auditor events go through.
    pub fn audit(&self) -> &Auditor {
        &self.auditor
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The time on the vault's clock, Unix seconds.
    pub fn now(&self) -> u64 {
        unix_seconds(self.clock.now())
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn VaultStore> {
        &self.store
    }

    /// The keyring in use.
    pub fn keyring(&self) -> Arc<Keyring> {
        Arc::clone(&self.keyring.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Seals with `keyring` from now on (a master key rotation: its current key new, the old
    /// one among its previous keys); then [`reencrypt`](Self::reencrypt) moves the existing
    /// records.
    pub fn set_keyring(&self, keyring: Keyring) {
        *self.keyring.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(keyring);
    }

    /// The keyed hash of `user`.
    pub fn user_hash(&self, user: &str) -> Result<UserHash, VaultError> {
        if user.is_empty() || user.len() > MAX_USER_LEN {
            return Err(VaultError::InvalidUser);
        }
        let digest = self
            .user_key
            .derive(&[b"tower-hmac-vault user\0", user.as_bytes()]);
        Ok(UserHash(hex::encode(digest.expose_secret())))
    }

    fn event(&self, kind: AuditKind, user: &UserHash, upstream: Option<&str>) -> AuditEvent {
        let event = AuditEvent::new(kind, self.clock.now()).subject(user.as_str());
        match upstream {
            Some(upstream) => event.upstream(upstream),
            None => event,
        }
    }

    fn seal(
        &self,
        user: &UserHash,
        upstream: &str,
        tokens: &DelegatedTokens,
        version: u64,
    ) -> Result<SealedRecord, VaultError> {
        tokens.check()?;
        let plain = Plain {
            v: FORMAT_VERSION,
            a: tokens.access_token().into(),
            r: tokens.refresh_token().map(Into::into),
            e: tokens.expires_at,
            s: tokens.scopes.clone(),
        };
        // Sized up front so that serialising never reallocates (which would leave a copy of
        // the tokens behind in freed memory); wiped when dropped.
        let capacity = 64
            + tokens.access_token.len() * 2
            + tokens.refresh_token.as_ref().map_or(0, |t| t.len() * 2)
            + tokens.scopes.iter().map(|s| s.len() * 2 + 3).sum::<usize>();
        let mut json = Zeroizing::new(Vec::with_capacity(capacity));
        serde_json::to_writer(&mut *json, &plain).map_err(|_| VaultError::InvalidTokens)?;
        let keyring = self.keyring();
        let master = keyring.current();
        let (nonce, ciphertext) = master
            .seal(&aad(user, upstream), &json)
            .map_err(VaultError::Seal)?;
        Ok(SealedRecord {
            user: user.clone(),
            upstream: upstream.to_owned(),
            master_key: master.id().to_owned(),
            nonce,
            ciphertext,
            expires_at: tokens.expires_at,
            version,
        })
    }

    fn open(&self, record: &SealedRecord) -> Result<DelegatedTokens, VaultError> {
        let keyring = self.keyring();
        let master = keyring
            .get(&record.master_key)
            .map_err(VaultError::Unreadable)?;
        let json = master
            .open(
                &aad(&record.user, &record.upstream),
                &record.nonce,
                &record.ciphertext,
            )
            .map_err(VaultError::Unreadable)?;
        // A record this version cannot read: not JSON, or another format's (a later version
        // wrote it and the service was rolled back) — refused, never read as this format.
        let unreadable = || {
            VaultError::Unreadable(KeyringError::Decrypt {
                master: record.master_key.clone(),
            })
        };
        let plain = serde_json::from_slice::<Plain<'_>>(&json).map_err(|_| unreadable())?;
        if plain.v != FORMAT_VERSION {
            // It opened: the keys are right, the format is not this version's.
            tracing::warn!(
                target: TRACING_TARGET,
                version = plain.v,
                upstream = record.upstream,
                "a vault record is in a format this version does not read (written by a later \
                 version?): refused as unreadable"
            );
            return Err(unreadable());
        }
        Ok(DelegatedTokens {
            access_token: Zeroizing::new(plain.a.into_owned()),
            refresh_token: plain.r.map(|r| Zeroizing::new(r.into_owned())),
            expires_at: plain.e,
            scopes: plain.s,
        })
    }

    /// Stores `tokens` as `user`'s for `upstream`, replacing what was there (a user links an
    /// upstream account): `TOKEN_STORED`.
    pub async fn put(
        &self,
        user: &str,
        upstream: &str,
        tokens: &DelegatedTokens,
    ) -> Result<(), VaultError> {
        check_upstream(upstream)?;
        let hash = self.user_hash(user)?;
        // Compare-and-set against whatever is there, until it lands (a concurrent refresh
        // loses to a new link: the link is newer).
        for _ in 0..8 {
            let current = self.store.get(&hash, upstream).await?.map(|r| r.version);
            let record = self.seal(&hash, upstream, tokens, current.map_or(1, |v| v + 1))?;
            if self.store.put(&record, current).await? {
                self.auditor
                    .emit(self.event(AuditKind::TokenStored, &hash, Some(upstream)));
                return Ok(());
            }
        }
        Err(VaultError::Conflict)
    }

    /// `user`'s tokens for `upstream`, if any.
    pub async fn get(&self, user: &str, upstream: &str) -> Result<Option<Entry>, VaultError> {
        check_upstream(upstream)?;
        let hash = self.user_hash(user)?;
        self.get_hashed(&hash, upstream).await
    }

    /// The tokens of the user whose hash is `user` for `upstream`, if any (the background
    /// refresher knows users only by their hash).
    pub async fn get_hashed(
        &self,
        user: &UserHash,
        upstream: &str,
    ) -> Result<Option<Entry>, VaultError> {
        check_upstream(upstream)?;
        match self.store.get(user, upstream).await? {
            Some(record) => Ok(Some(Entry {
                tokens: self.open(&record)?,
                version: record.version,
            })),
            None => Ok(None),
        }
    }

    /// Replaces the tokens of `user` for `upstream` with `tokens` (a refresh: the access token
    /// and the rotated refresh token in one record, one write), if the record is still at
    /// `version`; `false` when another writer changed it first.
    pub async fn replace(
        &self,
        user: &UserHash,
        upstream: &str,
        version: u64,
        tokens: &DelegatedTokens,
    ) -> Result<bool, VaultError> {
        check_upstream(upstream)?;
        let record = self.seal(user, upstream, tokens, version + 1)?;
        Ok(self.store.put(&record, Some(version)).await?)
    }

    /// Deletes `user`'s tokens for `upstream`: `TOKEN_REVOKED`. Whether there were any.
    pub async fn revoke(&self, user: &str, upstream: &str) -> Result<bool, VaultError> {
        check_upstream(upstream)?;
        let hash = self.user_hash(user)?;
        self.revoke_hashed(&hash, upstream, "revoked").await
    }

    /// Deletes the tokens of the user whose hash is `user` for `upstream`, with `reason` in its
    /// `TOKEN_REVOKED` event (`revoked`, `refresh_failed`, …).
    pub async fn revoke_hashed(
        &self,
        user: &UserHash,
        upstream: &str,
        reason: &'static str,
    ) -> Result<bool, VaultError> {
        check_upstream(upstream)?;
        let deleted = self.store.delete(user, upstream).await?;
        if deleted {
            self.auditor.emit(
                self.event(AuditKind::TokenRevoked, user, Some(upstream))
                    .reason(reason),
            );
        }
        Ok(deleted)
    }

    /// Deletes every upstream's tokens of `user`: one `TOKEN_REVOKED` with their count. How
    /// many. (The security-incident path, sessions included, is [`crate::revoke_all`].)
    pub async fn revoke_user(&self, user: &str) -> Result<usize, VaultError> {
        let hash = self.user_hash(user)?;
        let count = self.store.delete_user(&hash).await?;
        self.auditor.emit(
            self.event(AuditKind::TokenRevoked, &hash, None)
                .reason("all_upstreams")
                .count(count as u64),
        );
        Ok(count)
    }

    /// At most `limit` records whose access token expires within `within` from now, soonest
    /// first, from the first one after `after` (from the very first when `None`): page through
    /// them with the last one of a page.
    pub async fn expiring(
        &self,
        within: Duration,
        after: Option<&Expiring>,
        limit: usize,
    ) -> Result<Vec<Expiring>, VaultError> {
        let before = self.now().saturating_add(within.as_secs());
        Ok(self.store.expiring(before, after, limit).await?)
    }

    /// Re-seals under the current master key at most `limit` records sealed under a previous
    /// one (after [`set_keyring`](Self::set_keyring)); how many. Run it until it answers 0,
    /// then the previous master key can be dropped from the keyring.
    pub async fn reencrypt(&self, limit: usize) -> Result<usize, VaultError> {
        let current = self.keyring().current().id().to_owned();
        let mut done = 0;
        for (user, upstream) in self.store.sealed_under_other(&current, limit).await? {
            let Some(record) = self.store.get(&user, &upstream).await? else {
                continue;
            };
            if record.master_key == current {
                continue;
            }
            let tokens = self.open(&record)?;
            let sealed = self.seal(&user, &upstream, &tokens, record.version + 1)?;
            // A record changed meanwhile was re-sealed by its writer.
            if self.store.put(&sealed, Some(record.version)).await? {
                done += 1;
            }
        }
        Ok(done)
    }

    /// Checks that the store answers.
    pub async fn ping(&self) -> Result<(), VaultError> {
        Ok(self.store.ping().await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryVaultStore;
    use tower_hmac_core::keyring::MasterKey;

    fn vault() -> Vault {
        Vault::new(
            MemoryVaultStore::new(),
            Keyring::new(MasterKey::generate().unwrap()),
            SecretKey::generate().unwrap(),
        )
    }

    fn tokens(access: &str) -> DelegatedTokens {
        DelegatedTokens::new(access, Some("refresh-1".into()), 100, vec!["read".into()])
    }

    #[tokio::test]
    async fn a_record_opens_only_as_its_own_users_and_upstreams() {
        let vault = vault();
        vault
            .put("alice", "up", &tokens("secret-access"))
            .await
            .unwrap();
        let alice = vault.user_hash("alice").unwrap();
        let bob = vault.user_hash("bob").unwrap();
        let mut record = vault.store.get(&alice, "up").await.unwrap().unwrap();
        // Moved to another user: refused, not opened as theirs.
        record.user = bob.clone();
        assert!(vault.store.put(&record, None).await.unwrap());
        assert!(matches!(
            vault.get_hashed(&bob, "up").await,
            Err(VaultError::Unreadable(_))
        ));
        let entry = vault.get("alice", "up").await.unwrap().unwrap();
        assert_eq!(entry.tokens.access_token(), "secret-access");
        assert_eq!(entry.tokens.refresh_token(), Some("refresh-1"));
        assert!(entry.tokens.grants(&["read"]) && !entry.tokens.grants(&["write"]));
        assert!(!format!("{:?}", entry.tokens).contains("secret-access"));
    }

    /// A record in a format this version does not know (a later version wrote it, and the
    /// service was rolled back) is unreadable, not read as this version's format.
    #[tokio::test]
    async fn a_record_of_another_format_version_is_unreadable() {
        let vault = vault();
        let alice = vault.user_hash("alice").unwrap();
        for (v, readable) in [(1, true), (0, false), (2, false)] {
            let json = format!(r#"{{"v":{v},"a":"secret-access","r":null,"e":100,"s":[]}}"#);
            let keyring = vault.keyring();
            let master = keyring.current();
            let (nonce, ciphertext) = master.seal(&aad(&alice, "up"), json.as_bytes()).unwrap();
            let record = SealedRecord {
                user: alice.clone(),
                upstream: "up".into(),
                master_key: master.id().to_owned(),
                nonce,
                ciphertext,
                expires_at: 100,
                version: 1,
            };
            match vault.open(&record) {
                Ok(tokens) => {
                    assert!(readable, "v {v} was read");
                    assert_eq!(tokens.access_token(), "secret-access");
                }
                Err(VaultError::Unreadable(_)) => assert!(!readable, "v {v} was refused"),
                Err(other) => panic!("v {v}: {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn the_hashed_calls_refuse_an_invalid_upstream_like_the_others() {
        let vault = vault();
        let alice = vault.user_hash("alice").unwrap();
        for upstream in ["", "a/b", "a:b", &"u".repeat(MAX_UPSTREAM_LEN + 1)] {
            assert!(
                matches!(
                    vault.get_hashed(&alice, upstream).await,
                    Err(VaultError::InvalidUpstream)
                ),
                "get_hashed {upstream:?}"
            );
            assert!(
                matches!(
                    vault.revoke_hashed(&alice, upstream, "revoked").await,
                    Err(VaultError::InvalidUpstream)
                ),
                "revoke_hashed {upstream:?}"
            );
        }
    }

    #[tokio::test]
    async fn replace_is_compare_and_set() {
        let vault = vault();
        vault.put("alice", "up", &tokens("a1")).await.unwrap();
        let hash = vault.user_hash("alice").unwrap();
        let entry = vault.get_hashed(&hash, "up").await.unwrap().unwrap();
        assert!(
            vault
                .replace(&hash, "up", entry.version, &tokens("a2"))
                .await
                .unwrap()
        );
        assert!(
            !vault
                .replace(&hash, "up", entry.version, &tokens("a3"))
                .await
                .unwrap()
        );
        let now = vault.get_hashed(&hash, "up").await.unwrap().unwrap();
        assert_eq!(now.tokens.access_token(), "a2");
    }

    #[tokio::test]
    async fn bad_input_is_refused_with_its_code() {
        let vault = vault();
        for upstream in ["", "a b", &"x".repeat(65)] {
            let err = vault
                .put("alice", upstream, &tokens("a"))
                .await
                .unwrap_err();
            assert_eq!(err.code(), "invalid_upstream");
        }
        let err = vault.put("", "up", &tokens("a")).await.unwrap_err();
        assert_eq!(err.code(), "invalid_user");
        let err = vault.put("alice", "up", &tokens("")).await.unwrap_err();
        assert_eq!(err.code(), "invalid_tokens");
    }

    #[tokio::test]
    async fn a_rotation_reencrypts_every_record() {
        let old = MasterKey::generate().unwrap();
        let vault = Vault::new(
            MemoryVaultStore::new(),
            Keyring::new(old.clone()),
            SecretKey::generate().unwrap(),
        );
        for user in ["a", "b", "c"] {
            vault.put(user, "up", &tokens(user)).await.unwrap();
        }
        let new = MasterKey::generate().unwrap();
        vault.set_keyring(Keyring::new(new.clone()).with_previous(old));
        assert_eq!(vault.reencrypt(2).await.unwrap(), 2);
        assert_eq!(vault.reencrypt(10).await.unwrap(), 1);
        assert_eq!(vault.reencrypt(10).await.unwrap(), 0);
        // The previous key dropped: every record still opens.
        vault.set_keyring(Keyring::new(new));
        for user in ["a", "b", "c"] {
            let entry = vault.get(user, "up").await.unwrap().unwrap();
            assert_eq!(entry.tokens.access_token(), user);
        }
    }
}
