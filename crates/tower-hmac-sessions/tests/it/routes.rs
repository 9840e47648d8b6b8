//! Issue 30 item 3 and issue 31 item 6: `routes::AuthRoutes` served by Axum on a 127.0.0.1:0
//! listener, called over TCP: the JSON routes as the demo answered them, and RFC 6749 §6's form
//! refresh with §5.1 answers and §5.2 errors.

use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower_hmac_sessions::routes::AuthRoutes;
use tower_hmac_sessions::store::TokenHash;
use tower_hmac_sessions::{
    IssuedAccess, LoginGuard, LoginLimits, MemorySessionStore, NewSession, Rotation, SessionConfig,
    SessionStore, Sessions, SigningKeys, StoreError,
};

/// A served router, aborted when dropped.
struct Server {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn check(user: &str, password: &str) -> Option<Vec<String>> {
    (user == "alice" && password == "secret")
        .then(|| vec!["orders:read".into(), "orders:write".into()])
}

async fn serve_with(store: impl SessionStore, config: SessionConfig) -> Server {
    let sessions = Arc::new(Sessions::new(
        SigningKeys::generate("k1").unwrap(),
        store,
        config,
    ));
    let guard = LoginGuard::new(LoginLimits::new()).unwrap();
    let app: axum::Router = AuthRoutes::new(sessions, guard, check).into_router();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    Server { addr, task }
}

async fn serve() -> Server {
    serve_with(MemorySessionStore::new(), SessionConfig::new("i", "a")).await
}

/// An answer: status, headers (lower-case names), body.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("not JSON: {}", self.body))
    }

    /// Asserts a refused refresh (RFC 6749 §5.2): `400 invalid_grant`, its description
    /// starting with `code`.
    fn assert_invalid_grant(&self, code: &str) {
        let json = self.json();
        assert_eq!(
            (self.status, json["error"].as_str()),
            (400, Some("invalid_grant")),
            "{}",
            self.body
        );
        let description = json["error_description"].as_str().unwrap_or_default();
        assert!(description.starts_with(code), "{code}: {}", self.body);
    }
}

/// One HTTP/1.1 request over a new connection.
async fn post(addr: SocketAddr, path: &str, headers: &[(&str, &str)], body: &str) -> Answer {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
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
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Answer {
        status,
        headers,
        body: body.to_owned(),
    }
}

const JSON: (&str, &str) = ("content-type", "application/json");
const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

async fn login(addr: SocketAddr, headers: &[(&str, &str)]) -> Value {
    let mut all = vec![JSON];
    all.extend_from_slice(headers);
    let a = post(
        addr,
        "/auth/login",
        &all,
        r#"{"username":"alice","password":"secret"}"#,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    a.json()
}

fn refresh_token(v: &Value) -> String {
    v["refresh_token"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_json_routes_log_in_refresh_and_log_out() {
    let server = serve().await;
    let pair = login(server.addr, &[]).await;
    let mut keys: Vec<_> = pair.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        ["access_token", "expires_in", "refresh_token", "token_type"],
        "the login answers the demo's four fields"
    );
    let body = format!(r#"{{"refresh_token":"{}"}}"#, refresh_token(&pair));
    let a = post(server.addr, "/auth/refresh", &[JSON], &body).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let next = a.json();
    // The used token again: reuse, problem+json with the stable code.
    let a = post(server.addr, "/auth/refresh", &[JSON], &body).await;
    assert_eq!(a.status, 400);
    assert_eq!(a.header("content-type"), Some("application/problem+json"));
    assert_eq!(a.json()["code"], "refresh_token_reused");
    // The reuse revoked the session: its newest access token is refused by logout's layer.
    let bearer = format!("Bearer {}", next["access_token"].as_str().unwrap());
    let a = post(
        server.addr,
        "/auth/logout",
        &[("authorization", &bearer)],
        "",
    )
    .await;
    assert_eq!(a.status, 401);
    let fresh = login(server.addr, &[]).await;
    let bearer = format!("Bearer {}", fresh["access_token"].as_str().unwrap());
    let a = post(
        server.addr,
        "/auth/logout-all",
        &[("authorization", &bearer)],
        "",
    )
    .await;
    assert_eq!(
        (a.status, a.json()["revoked_sessions"].as_u64()),
        (200, Some(1))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_refresh_without_a_json_body_is_invalid_request() {
    let server = serve().await;
    let a = post(
        server.addr,
        "/auth/refresh",
        &[("content-type", "text/plain")],
        "x",
    )
    .await;
    assert_eq!(
        (a.status, a.json()["code"].as_str()),
        (400, Some("invalid_request"))
    );
    let a = post(
        server.addr,
        "/auth/login",
        &[JSON],
        r#"{"username":"alice"}"#,
    )
    .await;
    assert_eq!(
        (a.status, a.json()["code"].as_str()),
        (400, Some("invalid_request"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_invalid_credentials() {
    let server = serve().await;
    let a = post(
        server.addr,
        "/auth/login",
        &[JSON],
        r#"{"username":"alice","password":"wrong"}"#,
    )
    .await;
    assert_eq!(a.status, 401);
    assert_eq!(a.json()["code"], "invalid_credentials");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_refresh_answers_rfc_6749_section_5_1_without_caching() {
    let server = serve().await;
    let pair = login(server.addr, &[]).await;
    let body = format!(
        "grant_type=refresh_token&refresh_token={}&client_id=demo",
        refresh_token(&pair)
    );
    let a = post(server.addr, "/auth/refresh", &[FORM], &body).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.header("cache-control"), Some("no-store"));
    assert_eq!(a.header("pragma"), Some("no-cache"));
    assert_eq!(a.header("content-type"), Some("application/json"));
    let v = a.json();
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["expires_in"], 900);
    assert_eq!(
        v["scope"], "orders:read orders:write",
        "no scope asked: the grant's"
    );
    assert!(v["access_token"].is_string() && v["refresh_token"].is_string());
}

/// A used refresh token is `invalid_grant` naming the reuse, and its session is revoked —
/// whatever scope it asks for: a scope the session does not hold does not get it the milder
/// `invalid_scope`, which would leave the session of a stolen token alive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_used_refresh_token_is_invalid_grant_naming_the_reuse() {
    let server = serve().await;
    for scope in ["", "&scope=admin", "&scope=orders:read"] {
        let pair = login(server.addr, &[]).await;
        let used = refresh_token(&pair);
        let body = format!("grant_type=refresh_token&refresh_token={used}");
        let a = post(server.addr, "/auth/refresh", &[FORM], &body).await;
        assert_eq!(a.status, 200, "{}", a.body);
        let current = refresh_token(&a.json());
        let a = post(
            server.addr,
            "/auth/refresh",
            &[FORM],
            &format!("{body}{scope}"),
        )
        .await;
        a.assert_invalid_grant("refresh_token_reused");
        // The session is revoked: its current token no longer refreshes.
        let body = format!("grant_type=refresh_token&refresh_token={current}");
        let a = post(server.addr, "/auth/refresh", &[FORM], &body).await;
        a.assert_invalid_grant("session_revoked");
    }
    let a = post(
        server.addr,
        "/auth/refresh",
        &[FORM],
        "grant_type=refresh_token&refresh_token=unknown",
    )
    .await;
    a.assert_invalid_grant("invalid_grant");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_form_refreshes_get_their_rfc_6749_error_codes() {
    let server = serve().await;
    let pair = login(server.addr, &[]).await;
    let token = refresh_token(&pair);
    let cases = [
        (format!("refresh_token={token}"), 400, "invalid_request"),
        (
            format!("grant_type=password&refresh_token={token}"),
            400,
            "unsupported_grant_type",
        ),
        (
            "grant_type=refresh_token".to_owned(),
            400,
            "invalid_request",
        ),
        (
            format!("grant_type=refresh_token&refresh_token={token}&refresh_token={token}"),
            400,
            "invalid_request",
        ),
        (
            format!("grant_type=refresh_token&grant_type=refresh_token&refresh_token={token}"),
            400,
            "invalid_request",
        ),
        (
            format!("grant_type=refresh_token&refresh_token={token}&scope=admin"),
            400,
            "invalid_scope",
        ),
        (
            format!("grant_type=refresh_token&refresh_token={token}&scope="),
            400,
            "invalid_scope",
        ),
        (
            format!(
                "grant_type=refresh_token&refresh_token={token}&pad={}",
                "x".repeat(9000)
            ),
            413,
            "invalid_request",
        ),
    ];
    for (body, status, error) in cases {
        let a = post(server.addr, "/auth/refresh", &[FORM], &body).await;
        assert_eq!(
            (a.status, a.json()["error"].as_str()),
            (status, Some(error)),
            "{body:.80}"
        );
        assert_eq!(a.header("cache-control"), Some("no-store"));
    }
    // None of them used the token: it still refreshes, narrowed to one scope (no `scope` in
    // the answer: what was asked).
    let body = format!("grant_type=refresh_token&refresh_token={token}&scope=orders:read");
    let a = post(server.addr, "/auth/refresh", &[FORM], &body).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.json().get("scope").is_none(), "{}", a.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_narrowed_refresh_issues_an_access_token_of_that_scope_only() {
    let server = serve().await;
    let pair = login(server.addr, &[]).await;
    let body = format!(
        "grant_type=refresh_token&refresh_token={}&scope=orders:read",
        refresh_token(&pair)
    );
    let v = post(server.addr, "/auth/refresh", &[FORM], &body)
        .await
        .json();
    let claims = v["access_token"]
        .as_str()
        .unwrap()
        .split('.')
        .nth(1)
        .unwrap();
    use base64::Engine as _;
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(claims)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["scope"], "orders:read");
}

/// The memory store, except that a rotation finds no backend.
#[derive(Default)]
struct DownForRefresh(MemorySessionStore);

#[async_trait]
impl SessionStore for DownForRefresh {
    async fn create(
        &self,
        session: &NewSession,
        token: &TokenHash,
        access: &IssuedAccess,
        now: u64,
    ) -> Result<(), StoreError> {
        self.0.create(session, token, access, now).await
    }
    async fn rotate(
        &self,
        _: &TokenHash,
        _: &TokenHash,
        _: &IssuedAccess,
        _: u64,
    ) -> Result<Rotation, StoreError> {
        Err(StoreError::new("down"))
    }
    async fn revoke_session(&self, session_id: &str, now: u64) -> Result<bool, StoreError> {
        self.0.revoke_session(session_id, now).await
    }
    async fn revoke_subject(&self, subject: &str, now: u64) -> Result<usize, StoreError> {
        self.0.revoke_subject(subject, now).await
    }
    async fn session_of(&self, token: &TokenHash) -> Result<Option<String>, StoreError> {
        self.0.session_of(token).await
    }
    async fn is_denied(&self, session_id: &str, jti: &str, now: u64) -> Result<bool, StoreError> {
        self.0.is_denied(session_id, jti, now).await
    }
    async fn horizon(&self, session_id: &str, now: u64) -> Result<u64, StoreError> {
        self.0.horizon(session_id, now).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_does_not_answer_is_temporarily_unavailable_with_retry_after() {
    let server = serve_with(DownForRefresh::default(), SessionConfig::new("i", "a")).await;
    let pair = login(server.addr, &[]).await;
    let body = format!(
        "grant_type=refresh_token&refresh_token={}",
        refresh_token(&pair)
    );
    let a = post(server.addr, "/auth/refresh", &[FORM], &body).await;
    assert_eq!(a.status, 503);
    assert_eq!(a.header("retry-after"), Some("1"));
    assert_eq!(a.json()["error"], "temporarily_unavailable");
    let body = format!(r#"{{"refresh_token":"{}"}}"#, refresh_token(&pair));
    let a = post(server.addr, "/auth/refresh", &[JSON], &body).await;
    assert_eq!(
        (a.status, a.json()["code"].as_str()),
        (503, Some("session_store_unavailable"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_production_preset_holds_through_the_router() {
    let server = serve_with(
        MemorySessionStore::new(),
        SessionConfig::production("i", "a"),
    )
    .await;
    let ua = ("user-agent", "app/1");
    let first = login(server.addr, &[ua]).await;
    let second = login(server.addr, &[ua]).await;
    // One session per subject: the first was ended by the second login.
    let bearer = format!("Bearer {}", first["access_token"].as_str().unwrap());
    let a = post(
        server.addr,
        "/auth/logout",
        &[ua, ("authorization", &bearer)],
        "",
    )
    .await;
    assert_eq!(
        (a.status, a.json()["code"].as_str()),
        (401, Some("token_revoked"))
    );
    // The second's refresh token from another user agent: refused, and the session ended.
    let body = format!(
        "grant_type=refresh_token&refresh_token={}",
        refresh_token(&second)
    );
    let a = post(
        server.addr,
        "/auth/refresh",
        &[FORM, ("user-agent", "curl/8")],
        &body,
    )
    .await;
    a.assert_invalid_grant("fingerprint_mismatch");
    let a = post(server.addr, "/auth/refresh", &[FORM, ua], &body).await;
    a.assert_invalid_grant("session_revoked");
}
