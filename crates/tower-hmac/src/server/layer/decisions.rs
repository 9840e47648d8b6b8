//! What the layer does with a decision once it is made: the policy's count and signals, then
//! the one event and metric; and the same for a refusal made after the layer (a scope).

use tower_hmac_core::Rejection;

use crate::Authenticated;
use crate::extract::Decisions;
use crate::server::observe::{AuditMeta, Failure, Signals, log_accepted, log_rejected};
use crate::server::verify::Verifier;

impl Verifier {
    /// What the decision's event, metric and alert will say of the request: taken from its head
    /// before verifying it, each part only if someone may read it.
    pub(crate) fn audit_meta(
        &self,
        headers: &http::HeaderMap,
        client: Option<std::net::IpAddr>,
    ) -> AuditMeta {
        AuditMeta::of(headers, client, self.policy.alerts())
    }

    /// After an accepted request: its risk signals, event, metrics and alert.
    pub(crate) fn accepted(&self, auth: Option<&Authenticated>, meta: &AuditMeta) {
        let signals = auth.map_or_else(Signals::default, |auth| self.policy.accepted(auth, meta));
        log_accepted(auth, meta, signals);
    }

    /// [`accepted`](Self::accepted) with the signals a shared risk store gave (`None`: it failed).
    pub(crate) fn accepted_with(
        &self,
        auth: Option<&Authenticated>,
        meta: &AuditMeta,
        shared: Option<Signals>,
    ) {
        let signals = auth.map_or_else(Signals::default, |auth| {
            self.policy.accepted_with(auth, meta, shared)
        });
        log_accepted(auth, meta, signals);
    }

    /// After a refused request: the throttle's count, its risk signals, event, metrics and alert.
    pub(crate) fn rejected(&self, failure: &Failure, meta: &AuditMeta) {
        let signals = self.policy.rejected(failure, meta, self.settings.max_skew);
        self.record_rejected(failure, meta, signals);
    }

    /// [`rejected`](Self::rejected) after the shared store's step.
    pub(crate) fn rejected_with(
        &self,
        failure: &Failure,
        meta: &AuditMeta,
        shared: Option<crate::server::policy::Shared>,
    ) {
        let signals = self
            .policy
            .rejected_with(failure, meta, self.settings.max_skew, shared);
        self.record_rejected(failure, meta, signals);
    }

    fn record_rejected(&self, failure: &Failure, meta: &AuditMeta, signals: Signals) {
        #[cfg(feature = "metrics")]
        if let Some(by) = failure.throttled_by {
            metrics::counter!("tower_hmac_throttled_total", "by" => by).increment(1);
        }
        log_rejected(failure, meta, signals, self.settings.reveal_key_errors);
    }
}

impl Decisions for Verifier {
    /// A refusal after the layer accepted the request (`insufficient_scope`): one event and one
    /// metric like any of the layer's, answered by the layer's responder with the scheme's
    /// challenge.
    fn refuse(
        &self,
        caller: &Authenticated,
        headers: &http::HeaderMap,
        extensions: &http::Extensions,
        rejection: Rejection,
    ) -> http::Response<bytes::Bytes> {
        let origin = crate::server::verify::proxy::Origin::of(
            headers,
            extensions,
            self.settings.proxies.as_ref(),
        );
        let meta = self.audit_meta(headers, origin.client);
        let failure = Failure {
            key_id: Some(caller.key_id().to_owned()),
            app_id: Some(caller.app_id().into()),
            scheme_id: Some(caller.scheme()),
            mac_verified: true,
            after_accept: true,
            ..Failure::from_rejection(rejection.with_scheme(caller.challenge()))
        };
        self.rejected(&failure, &meta);
        super::service::rejection_response(&self.settings, failure)
    }
}
