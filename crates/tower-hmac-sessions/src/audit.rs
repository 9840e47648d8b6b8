//! What every refusal shares: its metric (feature `metrics`), one per refusal.

/// Where a refusal happened: the `stage` label of `tower_hmac_sessions_refusals_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// `BearerAuthLayer`: an access token refused.
    Access,
    /// `Sessions::refresh`: a refresh token refused.
    Refresh,
    /// `LoginGuard::check`: a login refused.
    Login,
}

impl Stage {
    fn as_str(self) -> &'static str {
        match self {
            Self::Access => "access",
            Self::Refresh => "refresh",
            Self::Login => "login",
        }
    }
}

/// Counts one refusal: `tower_hmac_sessions_refusals_total{stage, code}`.
pub(crate) fn count_refusal(stage: Stage, code: &'static str) {
    #[cfg(feature = "metrics")]
    metrics::counter!(
        "tower_hmac_sessions_refusals_total",
        "stage" => stage.as_str(),
        "code" => code,
    )
    .increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = (stage.as_str(), code);
}
