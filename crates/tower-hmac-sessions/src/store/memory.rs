//! The in-process store: one mutex, everything expiring with its session.

use std::collections::{HashMap, HashSet};
use std::num::NonZeroUsize;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Instant;

use async_trait::async_trait;

use super::{IssuedAccess, NewSession, Rotation, Session, SessionStore, StoreError, TokenHash};

/// When the store's memory begins, on the caller's clock: its creation. The first call maps the
/// monotonic time since creation onto the `now` it is given (rounded so that the horizon is
/// never after a token this store issued), so a test's clock and the system clock agree.
#[derive(Debug)]
struct Horizon {
    created: Instant,
    secs: OnceLock<u64>,
}

impl Horizon {
    fn get(&self, now: u64) -> u64 {
        *self.secs.get_or_init(|| {
            let elapsed = self.created.elapsed();
            let whole = elapsed.as_secs() + u64::from(elapsed.subsec_nanos() > 0);
            now.saturating_sub(whole)
        })
    }
}

impl Default for Horizon {
    fn default() -> Self {
        Self {
            created: Instant::now(),
            secs: OnceLock::new(),
        }
    }
}

#[derive(Debug)]
struct SessionRecord {
    subject: String,
    scopes: Vec<String>,
    absolute_expiry: u64,
    idle_timeout: u64,
    last_used: u64,
    revoked: bool,
    /// The order of creation (the session limit ends the oldest).
    order: u64,
    /// Live access tokens: (jti, deny until).
    access: Vec<(String, u64)>,
    tokens: Vec<TokenHash>,
}

#[derive(Debug, Default)]
struct Inner {
    sessions: HashMap<String, SessionRecord>,
    /// Token → (session, used).
    tokens: HashMap<TokenHash, (String, bool)>,
    subjects: HashMap<String, HashSet<String>>,
    denied: HashMap<String, u64>,
    /// The next session's `order`.
    next_order: u64,
}

impl Inner {
    fn insert(&mut self, session: &NewSession, token: &TokenHash, access: &IssuedAccess, now: u64) {
        let order = self.next_order;
        self.next_order += 1;
        self.sessions.insert(
            session.session_id.clone(),
            SessionRecord {
                subject: session.subject.clone(),
                scopes: session.scopes.clone(),
                absolute_expiry: session.absolute_expiry,
                idle_timeout: session.idle_timeout,
                last_used: now,
                revoked: false,
                order,
                access: vec![(access.jti.clone(), access.deny_until)],
                tokens: vec![*token],
            },
        );
        self.tokens
            .insert(*token, (session.session_id.clone(), false));
        self.subjects
            .entry(session.subject.clone())
            .or_default()
            .insert(session.session_id.clone());
    }

    /// Ends the live sessions of `subject` other than `keep` beyond the `max - 1` most recent.
    fn limit(&mut self, subject: &str, keep: &str, max: NonZeroUsize, now: u64) -> Vec<String> {
        let mut live: Vec<(u64, String)> = self
            .subjects
            .get(subject)
            .into_iter()
            .flatten()
            .filter(|id| id.as_str() != keep)
            .filter_map(|id| {
                let s = self.sessions.get(id)?;
                let alive = !s.revoked
                    && now < s.absolute_expiry
                    && now < s.last_used.saturating_add(s.idle_timeout);
                alive.then(|| (s.order, id.clone()))
            })
            .collect();
        live.sort_unstable_by_key(|s| std::cmp::Reverse(s.0));
        let ended: Vec<String> = live
            .into_iter()
            .skip(max.get() - 1)
            .map(|(_, id)| id)
            .collect();
        for id in &ended {
            self.revoke(id, now);
        }
        ended
    }

    fn revoke(&mut self, session_id: &str, now: u64) -> bool {
        let Some(session) = self.sessions.get_mut(session_id) else {
            return false;
        };
        if session.revoked {
            return false;
        }
        session.revoked = true;
        for (jti, exp) in session.access.drain(..) {
            if exp > now {
                self.denied.insert(jti, exp);
            }
        }
        true
    }

    /// Forgets what is past: sessions after their absolute expiry (with their tokens), denied
    /// ids after their token's expiry. Memory stays proportional to live sessions.
    fn sweep(&mut self, now: u64) {
        let ended: Vec<String> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.absolute_expiry <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in ended {
            if let Some(session) = self.sessions.remove(&id) {
                for token in &session.tokens {
                    self.tokens.remove(token);
                }
                if let Some(set) = self.subjects.get_mut(&session.subject) {
                    set.remove(&id);
                    if set.is_empty() {
                        self.subjects.remove(&session.subject);
                    }
                }
            }
        }
        self.denied.retain(|_, exp| *exp > now);
    }
}

/// Sessions in this process: for one instance, and for tests.
///
/// Everything is lost with the process. Its horizon is its creation: an access token issued
/// before (by a previous process, whose logouts this one never saw) is refused
/// (`token_before_horizon`), and its refresh token is unknown — the user logs in again.
#[derive(Debug, Default)]
pub struct MemorySessionStore {
    inner: Mutex<Inner>,
    horizon: Horizon,
}

impl MemorySessionStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl SessionStore for MemorySessionStore {
    async fn create(
        &self,
        session: &NewSession,
        token: &TokenHash,
        access: &IssuedAccess,
        now: u64,
    ) -> Result<(), StoreError> {
        // The horizon is fixed no later than the first token this store records.
        self.horizon.get(now);
        // One lock for the session, its token and its first access token: one atomic step.
        let mut inner = self.lock();
        inner.sweep(now);
        inner.insert(session, token, access, now);
        Ok(())
    }

    async fn create_limited(
        &self,
        session: &NewSession,
        token: &TokenHash,
        access: &IssuedAccess,
        now: u64,
        max: NonZeroUsize,
    ) -> Result<Vec<String>, StoreError> {
        self.horizon.get(now);
        // The start and the limit under one lock: concurrent logins are serialized.
        let mut inner = self.lock();
        inner.sweep(now);
        inner.insert(session, token, access, now);
        Ok(inner.limit(&session.subject, &session.session_id, max, now))
    }

    async fn scopes_of(&self, token: &TokenHash) -> Result<Option<Vec<String>>, StoreError> {
        let inner = self.lock();
        Ok(inner
            .tokens
            .get(token)
            .filter(|(_, used)| !*used)
            .and_then(|(id, _)| inner.sessions.get(id))
            .map(|s| s.scopes.clone()))
    }

    async fn rotate(
        &self,
        old: &TokenHash,
        new: &TokenHash,
        access: &IssuedAccess,
        now: u64,
    ) -> Result<Rotation, StoreError> {
        self.horizon.get(now);
        // Rotation and the recording of the new access token under one lock: a revocation comes
        // wholly before (this answers `Revoked`) or wholly after (it denies `access`).
        let mut inner = self.lock();
        let Some((session_id, used)) = inner.tokens.get(old).cloned() else {
            return Ok(Rotation::Unknown);
        };
        let Some(session) = inner.sessions.get(&session_id) else {
            return Ok(Rotation::Unknown);
        };
        if session.revoked {
            return Ok(Rotation::Revoked);
        }
        if used {
            let subject = session.subject.clone();
            inner.revoke(&session_id, now);
            return Ok(Rotation::Reused {
                session_id,
                subject,
            });
        }
        if now >= session.absolute_expiry
            || now >= session.last_used.saturating_add(session.idle_timeout)
        {
            return Ok(Rotation::Expired);
        }
        inner.tokens.insert(*old, (session_id.clone(), true));
        inner.tokens.insert(*new, (session_id.clone(), false));
        let Some(session) = inner.sessions.get_mut(&session_id) else {
            return Ok(Rotation::Unknown);
        };
        session.last_used = now;
        session.tokens.push(*new);
        session.access.retain(|(_, until)| *until > now);
        session.access.push((access.jti.clone(), access.deny_until));
        Ok(Rotation::Rotated(Session {
            session_id,
            subject: session.subject.clone(),
            scopes: session.scopes.clone(),
            absolute_expiry: session.absolute_expiry,
        }))
    }

    async fn revoke_session(&self, session_id: &str, now: u64) -> Result<bool, StoreError> {
        Ok(self.lock().revoke(session_id, now))
    }

    async fn revoke_subject(&self, subject: &str, now: u64) -> Result<usize, StoreError> {
        let mut inner = self.lock();
        let ids: Vec<String> = inner
            .subjects
            .get(subject)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        Ok(ids.iter().filter(|id| inner.revoke(id, now)).count())
    }

    async fn session_of(&self, token: &TokenHash) -> Result<Option<String>, StoreError> {
        Ok(self.lock().tokens.get(token).map(|(id, _)| id.clone()))
    }

    async fn is_denied(&self, _session_id: &str, jti: &str, now: u64) -> Result<bool, StoreError> {
        Ok(self.lock().denied.get(jti).is_some_and(|exp| *exp > now))
    }

    /// The store's creation, whatever the session: it holds every revocation since.
    async fn horizon(&self, _session_id: &str, now: u64) -> Result<u64, StoreError> {
        Ok(self.horizon.get(now))
    }
}
