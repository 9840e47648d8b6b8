//! One refresh at a time per (user hash, upstream): an async lock per key, in a map that holds a
//! key only while someone holds or waits for its lock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{Mutex as AsyncMutex, MutexGuard};

use crate::UserHash;

type Key = (UserHash, String);

/// The per-key locks, and the refreshes that just failed.
#[derive(Debug, Default)]
pub(crate) struct Flights {
    locks: Mutex<HashMap<Key, Arc<AsyncMutex<()>>>>,
    /// Per key, the record version whose refresh the token endpoint did not answer usefully,
    /// and when (vault seconds): the callers queued behind that refresh share its failure
    /// instead of each retrying with the same refresh token.
    failed: Mutex<HashMap<Key, (u64, u64)>>,
}

impl Flights {
    /// Whether the refresh of `version` of (`user`, `upstream`) failed less than `hold`
    /// seconds before `now`.
    pub(crate) fn failed_recently(
        &self,
        user: &UserHash,
        upstream: &str,
        version: u64,
        now: u64,
        hold: u64,
    ) -> bool {
        let failed = self.failed.lock().unwrap_or_else(PoisonError::into_inner);
        failed
            .get(&(user.clone(), upstream.to_owned()))
            .is_some_and(|&(v, at)| v == version && now < at.saturating_add(hold))
    }

    /// Records that the refresh of `version` failed at `now`; forgets the failures older than
    /// `hold` (the map holds only keys that failed within it).
    pub(crate) fn record_failure(
        &self,
        user: &UserHash,
        upstream: &str,
        version: u64,
        now: u64,
        hold: u64,
    ) {
        let mut failed = self.failed.lock().unwrap_or_else(PoisonError::into_inner);
        failed.retain(|_, &mut (_, at)| now < at.saturating_add(hold));
        failed.insert((user.clone(), upstream.to_owned()), (version, now));
    }

    /// Forgets a key's failure (its refresh succeeded).
    pub(crate) fn clear_failure(&self, user: &UserHash, upstream: &str) {
        let mut failed = self.failed.lock().unwrap_or_else(PoisonError::into_inner);
        if !failed.is_empty() {
            failed.remove(&(user.clone(), upstream.to_owned()));
        }
    }

    /// A ticket for the lock of (`user`, `upstream`); [`Ticket::lock`] waits for it. The key
    /// leaves the map when the last ticket for it is dropped (also when a waiting future is
    /// dropped).
    pub(crate) fn ticket(&self, user: &UserHash, upstream: &str) -> Ticket<'_> {
        let key = (user.clone(), upstream.to_owned());
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(locks.entry(key.clone()).or_default())
        };
        Ticket {
            flights: self,
            key,
            lock,
        }
    }

    /// How many keys have a refresh in progress or waiting.
    pub(crate) fn len(&self) -> usize {
        self.locks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// A claim on one key's lock; see [`Flights::ticket`].
pub(crate) struct Ticket<'a> {
    flights: &'a Flights,
    key: Key,
    lock: Arc<AsyncMutex<()>>,
}

impl Ticket<'_> {
    /// Waits for the key's lock.
    pub(crate) async fn lock(&self) -> MutexGuard<'_, ()> {
        self.lock.lock().await
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        let mut locks = self
            .flights
            .locks
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Only the map's reference and this ticket's left: nobody else holds or waits for it
        // (tickets are taken under the map's lock, so none can appear meanwhile).
        if locks
            .get(&self.key)
            .is_some_and(|lock| Arc::ptr_eq(lock, &self.lock) && Arc::strong_count(lock) == 2)
        {
            locks.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(c: char) -> UserHash {
        UserHash::from_hex(&c.to_string().repeat(64)).unwrap()
    }

    #[tokio::test]
    async fn a_key_leaves_the_map_when_its_last_ticket_is_dropped() {
        let flights = Flights::default();
        let first = flights.ticket(&hash('a'), "up");
        let guard = first.lock().await;
        let second = flights.ticket(&hash('a'), "up");
        let other = flights.ticket(&hash('b'), "up");
        assert_eq!(flights.len(), 2);
        drop(other);
        assert_eq!(flights.len(), 1);
        drop(guard);
        drop(first);
        assert_eq!(flights.len(), 1, "the second ticket still waits");
        drop(second.lock().await);
        drop(second);
        assert_eq!(flights.len(), 0);
    }

    #[tokio::test]
    async fn a_waiter_that_gives_up_leaves_nothing_behind() {
        let flights = Flights::default();
        let holder = flights.ticket(&hash('a'), "up");
        let guard = holder.lock().await;
        {
            let waiter = flights.ticket(&hash('a'), "up");
            let wait = waiter.lock();
            // Polled once (pending: the lock is held), then abandoned.
            let mut wait = std::pin::pin!(wait);
            let polled = futures_poll_once(wait.as_mut()).await;
            assert!(polled.is_none());
        }
        drop(guard);
        drop(holder);
        assert_eq!(flights.len(), 0);
    }

    async fn futures_poll_once<F: std::future::Future + Unpin>(mut f: F) -> Option<F::Output> {
        std::future::poll_fn(|cx| match std::pin::Pin::new(&mut f).poll(cx) {
            std::task::Poll::Ready(v) => std::task::Poll::Ready(Some(v)),
            std::task::Poll::Pending => std::task::Poll::Ready(None),
        })
        .await
    }
}
