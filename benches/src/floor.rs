//! The floor: a lower bound, not a verifier to use. What any implementation of protocol v1 with
//! an in-process replay store must do for `bench_server`'s own requests at the least — one
//! HMAC-SHA256 over the string to sign (the key's pads precomputed), the signature compared in
//! constant time, the age, one replay check in the default store (one slot of a table that
//! holds the window's nonces), an identity handed to the handler — and nothing the layer adds
//! (no strict grammar, no key lookup, no host policy, no diagnostics, no events, no metrics).
//! It reads only the fields of the `Authorization` value `bench_server sign` writes for the
//! bench key, so any other request is refused.
//!
//! Served as `bench_server serve floor…` for `scripts/bench-http.sh`: the throughput ratio to
//! bare axum that the floor reaches bounds the one the layer can reach on the same machine, and
//! its parts ([`FloorMode`]) say what the MAC and the replay check each cost over HTTP
//! (docs/PERFORMANCE.md, "The floor").

use std::convert::Infallible;
use std::fmt;
use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime};

use axum::response::{IntoResponse, Response};
use hmac::{KeyInit, Mac};
use http::{Request, StatusCode, header};
use tower::Service;
use tower_hmac::MemoryNonceStore;
use tower_hmac::store::{NonceLifetime, NonceOutcome, NonceStore};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The skew the floor accepts, the layer's default.
const MAX_SKEW: Duration = Duration::from_secs(300);

const EMPTY_BODY_HEX: &[u8; 64] =
    b"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Which of the floor's work is done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FloorMode {
    /// Everything (`floor`).
    Full,
    /// Without the MAC (`floor-no-mac`): the fields, the age, the replay check.
    NoMac,
    /// Without the replay check (`floor-no-replay`): the fields, the age, the MAC.
    NoReplay,
    /// Neither (`floor-neither`): the fields, the signature's hex, the age, the identity.
    Neither,
    /// Nothing at all (`floor-identity`): every request handed on, what a layer costs in axum.
    Identity,
}

impl FloorMode {
    /// The mode `bench_server serve` names, `None` for another name.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "floor" => Self::Full,
            "floor-no-mac" => Self::NoMac,
            "floor-no-replay" => Self::NoReplay,
            "floor-neither" => Self::Neither,
            "floor-identity" => Self::Identity,
            _ => return None,
        })
    }

    fn mac(self) -> bool {
        matches!(self, Self::Full | Self::NoReplay)
    }

    fn replay(self) -> bool {
        matches!(self, Self::Full | Self::NoMac)
    }
}

/// The identity the floor hands to the handler, as the layer hands its `Authenticated`.
#[derive(Clone, Debug)]
pub struct FloorIdentity(pub &'static str);

/// The floor as a layer.
#[derive(Clone)]
pub struct FloorLayer {
    keyed: HmacSha256,
    key_id: &'static str,
    store: MemoryNonceStore,
    mode: FloorMode,
}

impl fmt::Debug for FloorLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FloorLayer")
            .field("key_id", &self.key_id)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl FloorLayer {
    /// The floor for one key, on a default replay store of its own.
    pub fn new(key: &[u8], key_id: &'static str, mode: FloorMode) -> Self {
        Self {
            keyed: HmacSha256::new_from_slice(key).unwrap_or_else(|e| panic!("key: {e}")),
            key_id,
            store: MemoryNonceStore::default(),
            mode,
        }
    }

    /// The floor on `store` instead (tests: one whose memory began before the request).
    pub fn with_store(self, store: MemoryNonceStore) -> Self {
        Self { store, ..self }
    }

    /// Whether the request passes the floor's checks (all of them, in `Full` mode).
    fn check<B>(&self, req: &Request<B>) -> bool {
        let (Some(auth), Some(host)) = (
            req.headers().get(header::AUTHORIZATION),
            req.headers().get(header::HOST),
        ) else {
            return false;
        };
        let Some((timestamp, nonce, signature)) = fields(auth.as_bytes()) else {
            return false;
        };
        let mut claimed = [0u8; 32];
        if hex::decode_to_slice(signature, &mut claimed).is_err() {
            return false;
        }
        let Some(signed_at) = seconds(timestamp) else {
            return false;
        };
        let now = SystemTime::now();
        let now_secs = tower_hmac::protocol::clock::unix_seconds(now);
        if now_secs.abs_diff(signed_at) > MAX_SKEW.as_secs() {
            return false;
        }
        if self.mode.mac() && !self.mac_matches(req, timestamp, nonce, host.as_bytes(), &claimed) {
            return false;
        }
        if !self.mode.replay() {
            return true;
        }
        let Ok(nonce) = std::str::from_utf8(nonce) else {
            return false;
        };
        let lifetime = NonceLifetime::for_request(signed_at, now, MAX_SKEW);
        // The default store answers at once.
        let mut stored = self.store.check_and_insert(self.key_id, nonce, lifetime);
        matches!(
            Pin::new(&mut stored).poll(&mut Context::from_waker(Waker::noop())),
            Poll::Ready(Ok(NonceOutcome::Fresh))
        )
    }

    /// Protocol v1's string to sign for a `GET` with `SignedHeaders=host` and no body, MACed
    /// and compared in constant time.
    fn mac_matches<B>(
        &self,
        req: &Request<B>,
        timestamp: &[u8],
        nonce: &[u8],
        host: &[u8],
        claimed: &[u8; 32],
    ) -> bool {
        let mut mac = self.keyed.clone();
        for line in [
            b"HMAC-SHA256".as_slice(),
            timestamp,
            nonce,
            self.key_id.as_bytes(),
            req.method().as_str().as_bytes(),
            req.uri().path().as_bytes(),
            req.uri().query().unwrap_or("").as_bytes(),
            b"host",
        ] {
            mac.update(line);
            mac.update(b"\n");
        }
        mac.update(b"host:");
        mac.update(host);
        mac.update(b"\n");
        mac.update(EMPTY_BODY_HEX);
        mac.verify_slice(claimed).is_ok()
    }
}

/// The `Timestamp`, `Nonce` and `Signature` fields of a v1 `Authorization` value, in one pass.
fn fields(value: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
    let (mut timestamp, mut nonce, mut signature) = (None, None, None);
    for part in value.split(|&b| b == b',') {
        let part = part.trim_ascii_start();
        if let Some(v) = part.strip_prefix(b"Timestamp=") {
            timestamp = Some(v);
        } else if let Some(v) = part.strip_prefix(b"Nonce=") {
            nonce = Some(v);
        } else if let Some(v) = part.strip_prefix(b"Signature=") {
            signature = Some(v);
        }
    }
    Some((timestamp?, nonce?, signature?))
}

/// Unix seconds of at most 12 digits.
fn seconds(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 12 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        digits
            .iter()
            .fold(0u64, |n, d| n * 10 + u64::from(d - b'0')),
    )
}

impl<S> tower::Layer<S> for FloorLayer {
    type Service = Floor<S>;

    fn layer(&self, inner: S) -> Floor<S> {
        Floor {
            inner,
            layer: self.clone(),
        }
    }
}

/// The floor's service.
#[derive(Clone, Debug)]
pub struct Floor<S> {
    inner: S,
    layer: FloorLayer,
}

impl<S, B> Service<Request<B>> for Floor<S>
where
    S: Service<Request<B>, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = FloorFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        if self.layer.mode != FloorMode::Identity {
            if !self.layer.check(&req) {
                return FloorFuture::Refused {
                    answer: ready(Ok(StatusCode::UNAUTHORIZED.into_response())),
                };
            }
            req.extensions_mut()
                .insert(FloorIdentity(self.layer.key_id));
        }
        FloorFuture::Inner {
            future: self.inner.call(req),
        }
    }
}

pin_project_lite::pin_project! {
    /// The inner service's future, or the refusal.
    #[project = FloorProj]
    #[allow(missing_docs)]
    pub enum FloorFuture<F> {
        Inner { #[pin] future: F },
        Refused { #[pin] answer: Ready<Result<Response, Infallible>> },
    }
}

impl<F: Future<Output = Result<Response, Infallible>>> Future for FloorFuture<F> {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            FloorProj::Inner { future } => future.poll(cx),
            FloorProj::Refused { answer } => answer.poll(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::routing::get;
    use http::Method;
    use tower::ServiceExt;

    use super::*;

    fn app(mode: FloorMode) -> Router {
        Router::new()
            .route(
                "/",
                get(
                    |identity: Option<axum::Extension<FloorIdentity>>| async move {
                        identity.map_or("none", |axum::Extension(FloorIdentity(id))| id)
                    },
                ),
            )
            .layer(
                FloorLayer::new(&[0x5a; 32], crate::KEY_ID, mode)
                    .with_store(crate::store_started_earlier(1000)),
            )
    }

    fn request(authorization: &str) -> Request<axum::body::Body> {
        Request::get("/")
            .header(header::HOST, "h")
            .header(header::AUTHORIZATION, authorization)
            .body(axum::body::Body::empty())
            .unwrap()
    }

    fn stale_signed() -> String {
        let mut req = Request::get("/")
            .header(header::HOST, "h")
            .body(())
            .unwrap();
        let now = tower_hmac::protocol::clock::unix_seconds(SystemTime::now());
        tower_hmac::test_util::sign_request(
            &mut req,
            b"",
            crate::KEY_ID,
            &crate::key(),
            now - 5400,
        )
        .unwrap();
        req.headers()[header::AUTHORIZATION]
            .to_str()
            .unwrap()
            .to_owned()
    }

    async fn answer(app: &Router, authorization: &str) -> (StatusCode, String) {
        let response = app.clone().oneshot(request(authorization)).await.unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    /// The floor is a real check of the bench's requests: the signed request passes once, with
    /// the identity; its replay, a changed signature, a stale one and a missing one do not.
    #[tokio::test]
    async fn the_full_floor_verifies_and_refuses_replays() {
        let app = app(FloorMode::Full);
        let signed = crate::authorization(&Method::GET, "h", "/", b"");
        assert_eq!(
            answer(&app, &signed).await,
            (StatusCode::OK, crate::KEY_ID.to_owned())
        );
        assert_eq!(answer(&app, &signed).await.0, StatusCode::UNAUTHORIZED);
        let fresh = crate::authorization(&Method::GET, "h", "/", b"");
        let last = fresh.chars().last().unwrap();
        let flipped = format!(
            "{}{}",
            &fresh[..fresh.len() - 1],
            if last == '0' { '1' } else { '0' }
        );
        assert_eq!(answer(&app, &flipped).await.0, StatusCode::UNAUTHORIZED);
        // Signed by the key (a MAC that matches), an hour and a half ago: refused for its age
        // alone, even by the floor without a MAC.
        let stale = stale_signed();
        assert_eq!(answer(&app, &stale).await.0, StatusCode::UNAUTHORIZED);
        assert_eq!(
            answer(&self::app(FloorMode::Neither), &stale).await.0,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            answer(&app, "HMAC-SHA256 Credential=x").await.0,
            StatusCode::UNAUTHORIZED
        );
        // The fresh request itself still passes: the refusals above left no trace.
        assert_eq!(answer(&app, &fresh).await.0, StatusCode::OK);
    }

    /// The body hash in the string to sign is the protocol's, for an empty body.
    #[test]
    fn the_empty_body_hash_is_the_protocols() {
        assert_eq!(
            hex::encode(tower_hmac::protocol::EMPTY_BODY_SHA256).as_bytes(),
            EMPTY_BODY_HEX
        );
    }

    /// Each part leaves out exactly its own check.
    #[tokio::test]
    async fn each_part_leaves_out_its_check() {
        let signed = crate::authorization(&Method::GET, "h", "/", b"");
        let forged = format!("{}0000", &signed[..signed.len() - 4]);
        let forged = if forged == signed {
            format!("{}1111", &signed[..signed.len() - 4])
        } else {
            forged
        };
        // Without the MAC a forged signature passes, once; without the replay check a
        // signed request passes twice, a forged one never.
        let no_mac = app(FloorMode::NoMac);
        assert_eq!(answer(&no_mac, &forged).await.0, StatusCode::OK);
        assert_eq!(answer(&no_mac, &forged).await.0, StatusCode::UNAUTHORIZED);
        let no_replay = app(FloorMode::NoReplay);
        assert_eq!(answer(&no_replay, &signed).await.0, StatusCode::OK);
        assert_eq!(answer(&no_replay, &signed).await.0, StatusCode::OK);
        assert_eq!(
            answer(&no_replay, &forged).await.0,
            StatusCode::UNAUTHORIZED
        );
        let neither = app(FloorMode::Neither);
        assert_eq!(answer(&neither, &forged).await.0, StatusCode::OK);
        assert_eq!(answer(&neither, &forged).await.0, StatusCode::OK);
        // The identity layer checks nothing and hands no identity on.
        assert_eq!(
            answer(&app(FloorMode::Identity), "none at all").await,
            (StatusCode::OK, "none".to_owned())
        );
        assert_eq!(FloorMode::from_name("floor-no-mac"), Some(FloorMode::NoMac));
        assert_eq!(FloorMode::from_name("floors"), None);
    }
}
