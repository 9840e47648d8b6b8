//! The background refresher: renews access tokens before they expire.

use std::sync::PoisonError;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use super::delegation::{Delegation, Due};
use super::error::{DelegationError, DelegationErrorKind};
use crate::TRACING_TARGET;
use crate::store::Expiring;

/// What one round of the background refresher did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RefreshRound {
    /// Records refreshed.
    pub refreshed: usize,
    /// Records whose refresh failed (refused: revoked and audited; or the token endpoint
    /// unavailable: kept for the next round).
    pub failed: usize,
    /// Records left alone: refreshed by someone else meanwhile, not due for their upstream's
    /// `refresh_before`, without a refresh token, gone, or of an upstream this delegation does
    /// not know.
    pub skipped: usize,
}

impl Delegation {
    /// One round of the background refresher: every record whose access token expires within
    /// its upstream's `refresh_before` (at most the builder's `refresh_batch`, soonest first) is
    /// refreshed, single-flight with the requests. A round starts after the record where the
    /// last one stopped, and past the last due record goes on from the first: records it cannot
    /// renew (an upstream no longer configured, no refresh token, a token endpoint that is down)
    /// do not keep it from the ones behind them for ever: they still take their places in the
    /// batch, so with N records due a pass over all of them takes N / `refresh_batch` rounds
    /// (size the batch and the interval for the records that may be due at once). Time is the
    /// vault's clock. `Err` only when the vault cannot list the records.
    pub async fn refresh_due_once(&self) -> Result<RefreshRound, DelegationError> {
        let inner = &self.inner;
        let mut round = RefreshRound::default();
        let Some(within) = inner.upstreams.values().map(|u| u.refresh_before()).max() else {
            return Ok(round);
        };
        let batch = inner.refresh_batch;
        let after = inner
            .refresh_cursor
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut due = inner.vault.expiring(within, after.as_ref(), batch).await?;
        if let Some(after) = &after
            && due.len() < batch
        {
            // Past the last one: from the first, up to where this round began.
            let wrapped = inner
                .vault
                .expiring(within, None, batch - due.len())
                .await?;
            due.extend(wrapped.into_iter().take_while(|e| e <= after));
        }
        // A full round stops somewhere: the next one starts after it. Otherwise every due
        // record was listed, and the next one starts from the first.
        *inner
            .refresh_cursor
            .lock()
            .unwrap_or_else(PoisonError::into_inner) =
            due.last().filter(|_| due.len() == batch).cloned();
        for Expiring {
            user: hash,
            upstream: name,
            ..
        } in due
        {
            let Some(upstream) = inner.upstreams.get(&name) else {
                round.skipped += 1;
                continue;
            };
            let due = Due::Within(upstream.refresh_before());
            match self.refresh_locked(&hash, upstream, due, "expiring").await {
                Ok((_, true)) => round.refreshed += 1,
                Ok((_, false)) => round.skipped += 1,
                Err(e) if e.kind() == DelegationErrorKind::NotLinked => round.skipped += 1,
                Err(e) => {
                    round.failed += 1;
                    tracing::warn!(
                        target: TRACING_TARGET,
                        upstream = name,
                        code = e.code(),
                        "background refresh failed"
                    );
                }
            }
        }
        Ok(round)
    }

    /// Runs [`refresh_due_once`](Self::refresh_due_once) every `every` (at least a second) on
    /// the current Tokio runtime, until the handle is aborted (the task keeps the delegation
    /// alive). A round that fails is logged and the next one runs as planned.
    pub fn spawn_refresher(&self, every: Duration) -> JoinHandle<()> {
        let this = self.clone();
        let every = every.max(Duration::from_secs(1));
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                if let Err(e) = this.refresh_due_once().await {
                    tracing::warn!(
                        target: TRACING_TARGET,
                        code = e.code(),
                        "background refresher could not list expiring tokens"
                    );
                }
            }
        })
    }
}
