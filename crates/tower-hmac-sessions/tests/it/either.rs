//! Issue 31 item 6: signed service calls and logged-in users on one route
//! (`HmacOrBearerLayer`), one `RequireScope` for both, over real TCP; time from the test's
//! clock.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::UNIX_EPOCH;

use axum::Router;
use axum::routing::post;
use http::{HeaderMap, Method, Uri};
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tower_hmac::server::{RequireScope, Schemes};
use tower_hmac::{AllowedHosts, HmacAuthLayer, InMemoryRegistry, MemoryNonceStore};
use tower_hmac_core::{
    ManualClock, NonceLifetime, NonceOutcome, NonceStore, NonceStoreError, SecretKey, SignParams,
    Signer, StoreFuture, body_sha256, generate_nonce,
};
use tower_hmac_sessions::either::{Caller, HmacOrBearerLayer};
use tower_hmac_sessions::{
    BearerAuthLayer, MemorySessionStore, SessionConfig, Sessions, SigningKeys,
};

const NOW: u64 = 1_800_000_000;
const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// The replay store, counting the nonces it is asked to record.
#[derive(Clone)]
struct Counting {
    inner: Arc<MemoryNonceStore>,
    calls: Arc<AtomicUsize>,
}

impl NonceStore for Counting {
    fn check_and_insert(
        &self,
        key_id: &str,
        nonce: &str,
        lifetime: NonceLifetime,
    ) -> StoreFuture<Result<NonceOutcome, NonceStoreError>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.check_and_insert(key_id, nonce, lifetime)
    }
}

/// The schemes beside v1 whose credentials make a bearer request ambiguous.
fn kong() -> tower_hmac_core::gateway::Kong {
    tower_hmac_core::gateway::Kong::new()
}

fn sigv4() -> tower_hmac_core::sigv4::SigV4 {
    tower_hmac_core::sigv4::SigV4::new("us-east-1", "api")
}

fn rfc9421() -> tower_hmac_core::rfc9421::Rfc9421 {
    tower_hmac_core::rfc9421::Rfc9421::new()
}

fn token() -> tower_hmac_core::token::Token {
    tower_hmac_core::token::Token::new(std::time::Duration::from_secs(300))
}

struct Server {
    addr: SocketAddr,
    sessions: Arc<Sessions>,
    clock: ManualClock,
    nonces: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Who called, as the handler sees it.
async fn who(caller: Caller) -> String {
    match caller {
        Caller::Service(service) => format!("service {}", service.app_id()),
        Caller::User(user) => format!("user {}", user.sub),
        _ => "unknown".to_owned(),
    }
}

/// `POST /orders` requires `orders:write`, from a service key or a session alike; `host` is
/// the one host signed calls may name; the HMAC layer verifies `schemes`.
fn app(
    host: &str,
    clock: &ManualClock,
    nonces: &Arc<AtomicUsize>,
    schemes: Schemes,
) -> (Router, Arc<Sessions>) {
    let registry = InMemoryRegistry::from_toml_str(&format!(
        "[[apps]]\nid = \"billing\"\nscopes = [\"orders:write\"]\n\
         [[apps.keys]]\nid = \"billing-1\"\nsecret = \"{KEY}\"\n\
         [[apps]]\nid = \"reports\"\nscopes = [\"orders:read\"]\n\
         [[apps.keys]]\nid = \"reports-1\"\nsecret = \"{KEY}\"\n"
    ))
    .unwrap();
    let store = Counting {
        inner: Arc::new(MemoryNonceStore::new(100).unwrap().with_horizon(UNIX_EPOCH)),
        calls: Arc::clone(nonces),
    };
    let hmac = HmacAuthLayer::builder(registry, AllowedHosts::new([host]).unwrap())
        .schemes(schemes)
        .clock(clock.clone())
        .nonce_store(store)
        .build()
        .unwrap();
    let keys = SigningKeys::new("k1", SecretKey::from_bytes(&[9; 32]).unwrap()).unwrap();
    let sessions = Arc::new(
        Sessions::new(
            keys,
            MemorySessionStore::new(),
            SessionConfig::new("i", "a"),
        )
        .with_clock(clock.clone()),
    );
    let app = Router::new()
        .route("/orders", post(who))
        .route_layer(RequireScope::new("orders:write"))
        .layer(HmacOrBearerLayer::new(
            hmac,
            BearerAuthLayer::new(Arc::clone(&sessions)),
        ));
    (app, sessions)
}

/// Protocol v1 alone (the layer's default).
async fn serve() -> Server {
    serve_with(Schemes::v1()).await
}

async fn serve_with(schemes: Schemes) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let clock = ManualClock::at_unix(NOW);
    let nonces = Arc::new(AtomicUsize::new(0));
    let (app, sessions) = app(&addr.to_string(), &clock, &nonces, schemes);
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Server {
        addr,
        sessions,
        clock,
        nonces,
        task,
    }
}

/// An answer: status, `WWW-Authenticate`, body.
#[derive(Debug)]
struct Answer {
    status: u16,
    challenge: String,
    body: String,
}

impl Answer {
    fn code(&self) -> String {
        let v: Value = serde_json::from_str(&self.body).unwrap_or(Value::Null);
        v["code"].as_str().unwrap_or_default().to_owned()
    }
}

/// `POST {path}` with `body` over a new connection.
async fn post_to(addr: SocketAddr, path: &str, headers: &HeaderMap, body: &str) -> Answer {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    if !headers.contains_key("host") {
        head.push_str(&format!("host: {addr}\r\n"));
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {}\r\n", value.to_str().unwrap()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let challenge = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.eq_ignore_ascii_case("www-authenticate"))
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_default();
    Answer {
        status,
        challenge,
        body: body.to_owned(),
    }
}

/// The headers of a protocol v1 call to `path` with `body`, signed with `key_id`.
fn signed(server: &Server, key_id: &str, path: &str, body: &str) -> HeaderMap {
    let uri: Uri = format!("http://{}{path}", server.addr).parse().unwrap();
    let mut headers = HeaderMap::new();
    Signer::new(key_id, SecretKey::from_base64(KEY).unwrap())
        .unwrap()
        .authorize(
            &Method::POST,
            &uri,
            &mut headers,
            &body_sha256(body.as_bytes()),
            &SignParams::new(NOW, &generate_nonce().unwrap()),
        )
        .unwrap();
    headers
}

/// The headers of a call with a session's access token granting `scopes`.
async fn bearer(server: &Server, scopes: &[&str]) -> HeaderMap {
    let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
    let pair = server.sessions.login("alice", &scopes).await.unwrap();
    let mut headers = HeaderMap::new();
    headers.insert(
        "authorization",
        format!("Bearer {}", pair.access_token).parse().unwrap(),
    );
    headers
}

#[tokio::test]
async fn a_signed_call_with_the_scope_is_served_as_the_service() {
    let server = serve().await;
    let headers = signed(&server, "billing-1", "/orders", "{}");
    let a = post_to(server.addr, "/orders", &headers, "{}").await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (200, "service billing"),
        "{a:?}"
    );
    assert_eq!(server.nonces.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_signed_call_without_the_scope_is_refused_with_the_hmac_challenge() {
    let server = serve().await;
    let headers = signed(&server, "reports-1", "/orders", "{}");
    let a = post_to(server.addr, "/orders", &headers, "{}").await;
    assert_eq!(a.status, 403, "{a:?}");
    assert_eq!(a.code(), "insufficient_scope");
    assert_eq!(
        a.challenge,
        "HMAC-SHA256 error=\"insufficient_scope\", scope=\"orders:write\""
    );
}

#[tokio::test]
async fn a_session_with_the_scope_is_served_as_the_user_without_touching_the_replay_store() {
    let server = serve().await;
    let headers = bearer(&server, &["orders:read", "orders:write"]).await;
    let a = post_to(server.addr, "/orders", &headers, "{}").await;
    assert_eq!((a.status, a.body.as_str()), (200, "user alice"), "{a:?}");
    assert_eq!(server.nonces.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_session_without_the_scope_is_refused_with_the_bearer_challenge() {
    let server = serve().await;
    let headers = bearer(&server, &["orders:read"]).await;
    let a = post_to(server.addr, "/orders", &headers, "{}").await;
    assert_eq!(a.status, 403, "{a:?}");
    assert_eq!(a.code(), "insufficient_scope");
    assert_eq!(
        a.challenge,
        "Bearer error=\"insufficient_scope\", scope=\"orders:write\""
    );
}

#[tokio::test]
async fn an_invalid_bearer_token_is_refused_by_the_session_check() {
    let server = serve().await;
    let mut headers = HeaderMap::new();
    headers.insert("authorization", "Bearer not.a.jwt".parse().unwrap());
    let a = post_to(server.addr, "/orders", &headers, "{}").await;
    assert_eq!(a.status, 401, "{a:?}");
    assert_eq!(a.code(), "invalid_token");
    assert!(
        a.challenge.starts_with("Bearer error=\"invalid_token\""),
        "{a:?}"
    );
    assert_eq!(server.nonces.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn an_expired_session_token_is_refused_on_the_clock_the_test_moves() {
    let server = serve().await;
    let headers = bearer(&server, &["orders:write"]).await;
    let a = post_to(server.addr, "/orders", &headers, "{}").await;
    assert_eq!(a.status, 200, "{a:?}");
    // A day later, past the access token's lifetime: the session check refuses it.
    server
        .clock
        .advance(std::time::Duration::from_secs(24 * 3600));
    let a = post_to(server.addr, "/orders", &headers, "{}").await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (401, "token_expired"),
        "{a:?}"
    );
}

#[tokio::test]
async fn a_request_without_credentials_gets_the_hmac_layers_answer() {
    let server = serve().await;
    let a = post_to(server.addr, "/orders", &HeaderMap::new(), "{}").await;
    assert_eq!(a.status, 401, "{a:?}");
    assert_eq!(a.code(), "missing_authorization");
    assert!(a.challenge.starts_with("HMAC-SHA256"), "{a:?}");
}

#[tokio::test]
async fn a_bearer_token_with_signature_headers_is_refused_as_ambiguous() {
    let server = serve_with(Schemes::v1().with(rfc9421()).with(sigv4())).await;
    let mut headers = bearer(&server, &["orders:write"]).await;
    headers.insert("signature-input", "sig1=(\"@method\")".parse().unwrap());
    headers.insert("signature", "sig1=:AAAA:".parse().unwrap());
    let a = post_to(server.addr, "/orders", &headers, "{}").await;
    assert_eq!(a.status, 400, "{a:?}");
    assert_eq!(a.code(), "ambiguous_credentials");

    // A bearer token beside a presigned URL's signature, and beside a signed call's
    // Authorization: refused too, and neither is verified.
    let headers = bearer(&server, &["orders:write"]).await;
    let a = post_to(server.addr, "/orders?X-Amz-Signature=00", &headers, "{}").await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (400, "ambiguous_credentials")
    );
    let mut both = signed(&server, "billing-1", "/orders", "{}");
    let token = bearer(&server, &["orders:write"]).await;
    both.append("authorization", token["authorization"].clone());
    let a = post_to(server.addr, "/orders", &both, "{}").await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (400, "ambiguous_credentials")
    );
    assert_eq!(server.nonces.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_bearer_token_with_kong_credentials_in_proxy_authorization_is_refused_as_ambiguous() {
    let server = serve_with(Schemes::v1().with(kong())).await;
    let mut headers = bearer(&server, &["orders:write"]).await;
    headers.insert(
        "proxy-authorization",
        "hmac username=\"billing\", algorithm=\"hmac-sha256\", headers=\"date\", signature=\"AAAA\""
            .parse()
            .unwrap(),
    );
    let a = post_to(server.addr, "/orders", &headers, "{}").await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (400, "ambiguous_credentials"),
        "{a:?}"
    );
    assert_eq!(server.nonces.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_bearer_token_beside_headers_no_configured_scheme_reads_is_served_as_the_user() {
    // Protocol v1 alone: no scheme reads these, so the bearer token is the only credential.
    let server = serve().await;
    for (name, value) in [
        ("signature", "x"),
        ("signature-input", "sig1=()"),
        ("stripe-signature", "t=1,v1=00"),
        ("x-auth-token", "id:1:mac"),
        (
            "proxy-authorization",
            "hmac username=\"billing\", signature=\"AAAA\"",
        ),
    ] {
        let mut headers = bearer(&server, &["orders:write"]).await;
        headers.insert(name, value.parse().unwrap());
        let a = post_to(server.addr, "/orders", &headers, "{}").await;
        assert_eq!(
            (a.status, a.body.as_str()),
            (200, "user alice"),
            "{name}: {a:?}"
        );
    }
    let headers = bearer(&server, &["orders:write"]).await;
    let a = post_to(server.addr, "/orders?X-Amz-Signature=00", &headers, "{}").await;
    assert_eq!((a.status, a.body.as_str()), (200, "user alice"), "{a:?}");
    assert_eq!(server.nonces.load(Ordering::SeqCst), 0);
}

#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A bearer caller's scope refusal, and an ambiguous request's, are each one event on
/// `tower_hmac::sessions` (`access_refused`, the code) and one
/// `tower_hmac_sessions_refusals_total{stage="access", code}`; the HMAC layer logs nothing of
/// them, and no token is logged.
#[cfg(feature = "metrics")]
#[test]
fn a_bearer_callers_refusals_are_logged_and_counted_once() {
    crate::alone(
        "either::a_bearer_callers_refusals_are_logged_and_counted_once",
        a_bearer_callers_refusals_are_logged_and_counted_once_here,
    );
}

#[cfg(feature = "metrics")]
fn a_bearer_callers_refusals_are_logged_and_counted_once_here() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    use tower::ServiceExt as _;

    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let token = metrics::with_local_recorder(&recorder, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let clock = ManualClock::at_unix(NOW);
            let nonces = Arc::new(AtomicUsize::new(0));
            let (app, sessions) = app("api.test", &clock, &nonces, Schemes::v1().with(token()));
            let token = sessions
                .login("alice", &["orders:read".to_owned()])
                .await
                .unwrap()
                .access_token;
            let call = |extra: Option<(&'static str, &'static str)>| {
                let mut req = http::Request::post("http://api.test/orders")
                    .header("authorization", format!("Bearer {token}"))
                    .body(axum::body::Body::empty())
                    .unwrap();
                if let Some((name, value)) = extra {
                    req.headers_mut().insert(name, value.parse().unwrap());
                }
                app.clone().oneshot(req)
            };
            assert_eq!(call(None).await.unwrap().status(), 403);
            assert_eq!(
                call(Some(("x-auth-token", "id:1:mac")))
                    .await
                    .unwrap()
                    .status(),
                400
            );
            token
        })
    });
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let refusals: Vec<&str> = text.lines().filter(|l| l.contains("rejected")).collect();
    assert_eq!(refusals.len(), 2, "{text}");
    assert!(refusals[0].contains("tower_hmac::sessions"), "{text}");
    assert!(refusals[0].contains("access_refused"), "{text}");
    assert!(refusals[0].contains("insufficient_scope"), "{text}");
    assert!(refusals[1].contains("tower_hmac::sessions"), "{text}");
    assert!(refusals[1].contains("ambiguous_credentials"), "{text}");
    assert!(!text.contains(&token), "a token in the log: {text}");
    let mut counters = Vec::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        if let DebugValue::Counter(n) = value
            && n > 0
        {
            let key = key.key();
            let labels: Vec<String> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            counters.push(format!("{}{{{}}} {n}", key.name(), labels.join(",")));
        }
    }
    counters.sort();
    assert_eq!(
        counters,
        [
            "tower_hmac_sessions_refusals_total{stage=access,code=ambiguous_credentials} 1",
            "tower_hmac_sessions_refusals_total{stage=access,code=insufficient_scope} 1",
        ],
        "{text}"
    );
}
