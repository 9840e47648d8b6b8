//! A refused request as the layer records it: its answer, and what is known of the caller for
//! the event, the metric and the throttle.

use std::sync::Arc;

use tower_hmac_core::{Rejection, RejectionKind};

/// A refused request: its [`Rejection`], with what is known of the caller for the log line.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) rejection: Rejection,
    pub(crate) key_id: Option<String>,
    pub(crate) app_id: Option<Arc<str>>,
    /// The real reason, when the answer hides it (an unknown or revoked key answered as any
    /// other key that verifies nothing): logged, never sent.
    pub(crate) hidden: Option<RejectionKind>,
    /// For a request outside the time window: how far, in seconds (a risk signal).
    #[cfg_attr(not(feature = "policy"), allow(dead_code))]
    pub(crate) off_by: Option<u64>,
    /// For a throttled request: which bucket was empty (`key_id` or `address`).
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) throttled_by: Option<&'static str>,
    /// The id of the scheme that refused it (`v1`, `sigv4`, …), when one was picked: the label
    /// of metrics and events, the same as an accepted request's.
    pub(crate) scheme_id: Option<&'static str>,
    /// Refused after its MAC verified (a replay, a scope): the caller's key id and app are then
    /// facts of a signed request, not claims.
    pub(crate) mac_verified: bool,
    /// Refused by the route after the layer accepted the request (a scope): the request is
    /// already counted as accepted, so the refusal has a counter of its own.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) after_accept: bool,
}

impl Failure {
    pub(crate) fn from_rejection(rejection: Rejection) -> Self {
        Self {
            rejection,
            key_id: None,
            app_id: None,
            hidden: None,
            off_by: None,
            throttled_by: None,
            scheme_id: None,
            mac_verified: false,
            after_accept: false,
        }
    }

    /// This failure as `scheme`'s: its name in the challenge, its id in events and metrics.
    pub(crate) fn in_scheme<Sc: tower_hmac_core::Scheme>(mut self, scheme: &Sc) -> Self {
        self.rejection = self.rejection.with_scheme(scheme.name());
        self.scheme_id = Some(scheme.id());
        self
    }

    /// The code the log gives: the real reason, when the answer hides it.
    pub(crate) fn logged_code(&self) -> &'static str {
        self.hidden
            .map_or(self.rejection.code(), RejectionKind::code)
    }

    /// Whether it counts against the throttle and the burst signal: a failed authentication or a
    /// replay, not the server's own trouble (a store down, the replay store's horizon), another
    /// refusal of a request signed with the key (a scope), a slow or broken body, plain HTTP or
    /// the throttle itself.
    #[cfg_attr(not(feature = "policy"), allow(dead_code))]
    pub(crate) fn counts_as_failure(&self) -> bool {
        // Past the MAC the caller proved the key: a refusal there is the server's state (the
        // replay store's horizon after a restart, a store down), never a guess — except a
        // replay, which whoever captured a request can repeat at will.
        if self.mac_verified {
            return self.rejection.kind() == RejectionKind::ReplayedNonce;
        }
        !matches!(
            self.rejection.kind(),
            RejectionKind::TooManyFailures
                | RejectionKind::HttpsRequired
                | RejectionKind::ReplayQuotaExceeded
                | RejectionKind::ReplayStoreUnavailable
                | RejectionKind::KeyStoreUnavailable
                | RejectionKind::BodyTimeout
                | RejectionKind::BodyUnreadable
                | RejectionKind::InsufficientScope
        )
    }

    /// `429 too_many_failures`, waiting `wait`, for the bucket `by`.
    pub(crate) fn throttled(wait: std::time::Duration, by: &'static str) -> Self {
        // Whole seconds, rounded up: a client that waits that long finds a token back.
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let rejection = Rejection::new(RejectionKind::TooManyFailures)
            .with_retry_after(std::time::Duration::from_secs(secs.max(1)))
            .with_detail(format!(
                "too many failed authentications from this {}",
                by.replace('_', " ")
            ));
        Self {
            throttled_by: Some(by),
            ..Self::from_rejection(rejection)
        }
    }
}
