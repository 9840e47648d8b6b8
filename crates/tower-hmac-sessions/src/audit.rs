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

/// The one metric of this crate.
#[cfg(feature = "metrics")]
const REFUSALS: &str = "tower_hmac_sessions_refusals_total";

/// Gives the installed recorder the metric's unit and help text, once per recorder (the address
/// of the last one described is kept): whether it was installed before or after the sessions
/// were built, its `/metrics` has the family's `# HELP` line. Called on a refusal, before its
/// count; one comparison once described.
#[cfg(feature = "metrics")]
fn describe_once() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static DESCRIBED: AtomicUsize = AtomicUsize::new(0);
    metrics::with_recorder(|recorder| {
        let address = std::ptr::from_ref(recorder).cast::<()>().addr();
        if DESCRIBED.load(Ordering::Relaxed) != address {
            recorder.describe_counter(
                metrics::KeyName::from_const_str(REFUSALS),
                Some(metrics::Unit::Count),
                metrics::SharedString::const_str(
                    "Refusals of the sessions crate, by stage (access, refresh, login) and code.",
                ),
            );
            DESCRIBED.store(address, Ordering::Relaxed);
        }
    });
}

/// Counts one refusal: `tower_hmac_sessions_refusals_total{stage, code}`.
pub(crate) fn count_refusal(stage: Stage, code: &'static str) {
    #[cfg(feature = "metrics")]
    describe_once();
    #[cfg(feature = "metrics")]
    metrics::counter!(
        REFUSALS,
        "stage" => stage.as_str(),
        "code" => code,
    )
    .increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = (stage.as_str(), code);
}
