//! The verifier: the layer's settings and what the checks share; the checks themselves are the
//! hand-written future in `verification.rs`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::request::Parts;
use http::{Request, Uri, header};
use http_body::Body;
use tower_hmac_core::{
    AllowedHosts, Clock, Diagnostics, KeyRegistry, NonceStore, Rejection, RejectionKind, SecretKey,
    trim_ows,
};

mod body;
mod checks;
mod path;
pub(crate) mod proxy;
pub(crate) mod schemes;
mod skip;

pub(crate) use body::BodyError;
pub use body::VerifiedBody;
pub(crate) use path::Verification;

use super::observe::Failure;
use super::policy::Policy;
use super::respond::RejectionResponder;
use path::SchemeVerification;
use proxy::{Origin, TrustedProxies, apply_forwarded_host};
use schemes::{Routing, Schemes};
use skip::Passthrough;

/// Everything the layer checks, with its settings: what [`HmacAuthLayer`](crate::server::HmacAuthLayer)
/// runs for each request before the inner service. Built by the layer's builder; shared by every
/// clone of the layer.
pub(crate) struct Verifier {
    pub(crate) schemes: Schemes,
    /// Which schemes are looked for in which requests.
    pub(crate) routing: Routing,
    pub(crate) settings: Settings,
    pub(crate) nonces: Arc<dyn NonceStore>,
    /// A random key that verifies nothing: an unknown or revoked key id still costs a MAC, so
    /// that its answer takes as long as a bad signature's.
    pub(crate) decoy_key: SecretKey,
    /// The failed-authentication throttle and the risk monitor, when enabled.
    pub(crate) policy: Policy,
}

/// The layer's settings: one struct, filled by the builder and read by the verifier.
pub(crate) struct Settings {
    pub(crate) registry: Arc<dyn KeyRegistry>,
    pub(crate) hosts: AllowedHosts,
    pub(crate) max_skew: Duration,
    pub(crate) body_limit: u64,
    /// The whole of a body verified chunk by chunk; `None`: `body_limit`.
    pub(crate) streaming_body_limit: Option<u64>,
    pub(crate) max_header_len: usize,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) responder: Arc<dyn RejectionResponder>,
    pub(crate) diagnostics: Diagnostics,
    pub(crate) reveal_key_errors: bool,
    pub(crate) body_timeout: Duration,
    pub(crate) skip: Option<skip::SkipPredicate>,
    pub(crate) proxies: Option<TrustedProxies>,
    pub(crate) require_https: bool,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("hosts", &self.hosts)
            .field("max_skew", &self.max_skew)
            .field("body_limit", &self.body_limit)
            .field("streaming_body_limit", &self.streaming_body_limit)
            .field("body_timeout", &self.body_timeout)
            .field("max_header_len", &self.max_header_len)
            .field("diagnostics", &self.diagnostics)
            .field("reveal_key_errors", &self.reveal_key_errors)
            .field("skip", &self.skip.is_some())
            .field("proxies", &self.proxies)
            .field("require_https", &self.require_https)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("schemes", &self.schemes)
            .field("routing", &self.routing)
            .field("settings", &self.settings)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// The URI the client signed: axum's `OriginalUri` when a router nested the route (it strips the
/// prefix from the URI the layer sees), the request's own otherwise.
#[cfg(feature = "axum")]
pub(crate) fn signed_uri(parts: &Parts) -> Option<Uri> {
    let original = &parts.extensions.get::<axum::extract::OriginalUri>()?.0;
    (original != &parts.uri).then(|| original.clone())
}

#[cfg(not(feature = "axum"))]
pub(crate) fn signed_uri(_parts: &Parts) -> Option<Uri> {
    None
}

/// Whether the request names two authorities: a repeated `Host`, or a URI authority
/// (absolute-form target, HTTP/2 `:authority`) that is not its `Host` (RFC 9112 §3.2.2,
/// RFC 9113 §8.3.1).
pub(crate) fn authority_mismatch(parts: &Parts) -> bool {
    let mut hosts = parts.headers.get_all(header::HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return true;
    }
    match (parts.uri.authority(), host) {
        (Some(authority), Some(host)) => {
            // Userinfo is not part of the host.
            let authority = authority.as_str().rsplit('@').next().unwrap_or_default();
            !authority
                .as_bytes()
                .eq_ignore_ascii_case(trim_ows(host.as_bytes()))
        }
        _ => false,
    }
}

/// `host_not_allowed` naming the host received (a user who bound `0.0.0.0` sees why).
pub(crate) fn host_not_allowed(host: &[u8]) -> Rejection {
    let shown: String = String::from_utf8_lossy(host)
        .chars()
        .take(255)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    Rejection::new(RejectionKind::HostNotAllowed).with_detail(format!(
        "the request's host {shown:?} is not one of the allowed hosts"
    ))
}

impl Verifier {
    /// Picks the scheme whose credentials the request carries and starts its checks.
    pub(crate) fn verify<B>(self: &Arc<Self>, req: Request<B>, origin: &Origin) -> Verification<B>
    where
        B: Body,
        B::Error: Into<BodyError>,
    {
        let (mut parts, body) = req.into_parts();
        let settings = &self.settings;
        if settings.skip.as_ref().is_some_and(|skip| skip(&parts)) {
            return Verification::Skipped {
                read: Passthrough::new(parts, body, settings.body_limit, settings.body_timeout),
            };
        }
        let candidates = self.routing.candidates(&parts);
        // The challenge of a request refused before any scheme claimed it (on the failure path
        // only): the first scheme the route allows.
        let challenge = || self.schemes.first_name(candidates);
        if let Err(failure) = self.admit(&mut parts, origin) {
            return Verification::Refused {
                failure: Some(Failure {
                    rejection: failure.rejection.with_scheme(challenge()),
                    ..failure
                }),
            };
        }
        match self.schemes.select(&parts, candidates) {
            Ok(index) => Verification::Verifying {
                inner: SchemeVerification::new(Arc::clone(self), index, parts, body, origin.client),
            },
            Err(rejection) => Verification::Refused {
                failure: Some(Failure::from_rejection(rejection.with_scheme(challenge()))),
            },
        }
    }
    /// The checks before any scheme's: HTTPS when required, the client address's throttle; then
    /// the host a trusted proxy forwarded takes the place of `Host` for verifying.
    pub(crate) fn admit(&self, parts: &mut Parts, origin: &Origin) -> Result<(), Failure> {
        if self.settings.require_https && !origin.is_https(parts) {
            return Err(Failure::from_rejection(Rejection::new(
                RejectionKind::HttpsRequired,
            )));
        }
        if let Some(wait) = self.policy.address_wait(origin.client) {
            return Err(Failure::throttled(wait, "address"));
        }
        if let Some(host) = &origin.host {
            apply_forwarded_host(parts, host);
        }
        Ok(())
    }

    /// The throttle's answer for a key id from this client address, before its key is looked up.
    /// Inlined, the refusal built out of line: without a throttle it is one test.
    #[inline]
    pub(crate) fn key_id_throttled(
        &self,
        key_id: &str,
        client: Option<std::net::IpAddr>,
    ) -> Option<Failure> {
        let wait = self.policy.key_id_wait(key_id, client)?;
        Some(key_id_refusal(key_id, wait))
    }
}

#[cold]
fn key_id_refusal(key_id: &str, wait: std::time::Duration) -> Failure {
    Failure {
        key_id: Some(key_id.to_owned()),
        ..Failure::throttled(wait, "key_id")
    }
}
