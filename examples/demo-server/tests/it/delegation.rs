//! Issue 30 item 6: token delegation between two demo instances over TCP. The upstream is a demo
//! instance whose access tokens live 2 s (`TOWER_HMAC_DEMO_ACCESS_TTL=2`'s policy); the caller
//! is a demo instance with delegation on, its vault on the same clock. Time is the test's
//! clock, never a sleep: "after expiry" is the clock set 5 s later. The upstream's
//! `/auth/refresh` calls are counted as they arrive.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use demo_server::delegation::{DelegationSettings, VaultBackend};
use demo_server::sessions::{DEMO_KID, SessionPolicy};
use tower_hmac_core::audit::{AuditKind, Auditor, Risk};
use tower_hmac_core::test_util::AuditLog;
use tower_hmac_sessions::{MemorySessionStore, Sessions, SigningKeys};

use crate::common::{PATIENCE, TestClock, listener, send, start_demo};

const T0: u64 = 1_800_000_000_000;
const LOGIN: &str = r#"{"username":"demo","password":"demo-password"}"#;

/// A demo instance served in this process with its sessions on `clock` and these extra routes.
struct Served {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn sessions(clock: &TestClock, policy: SessionPolicy) -> Arc<Sessions> {
    Arc::new(
        Sessions::new(
            SigningKeys::generate(DEMO_KID).unwrap(),
            MemorySessionStore::new(),
            policy.config(),
        )
        .with_clock(clock.clone()),
    )
}

async fn serve(routes: axum::Router) -> Served {
    let (listener, addr) = listener().await;
    let settings = demo_server::Settings::default();
    let store = demo_server::replay_store(&settings).unwrap();
    let layer = demo_server::layer(
        demo_server::demo_registry().unwrap(),
        addr,
        &settings,
        &store,
    )
    .unwrap();
    Served {
        addr,
        task: tokio::spawn(demo_server::serve_all(
            listener,
            layer,
            Some(routes),
            None,
            std::future::pending(),
        )),
    }
}

/// The upstream: short access tokens, its `/auth/refresh` calls counted.
async fn upstream(clock: &TestClock) -> (Served, Arc<AtomicUsize>, Arc<Sessions>) {
    let policy = SessionPolicy::parse(Some("2"), None).unwrap();
    let sessions = sessions(clock, policy);
    let refreshes = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&refreshes);
    let routes = demo_server::sessions::routes(Arc::clone(&sessions))
        .unwrap()
        .layer(tower::util::MapRequestLayer::new(
            move |req: http::Request<axum::body::Body>| {
                if req.uri().path() == "/auth/refresh" {
                    counter.fetch_add(1, Ordering::SeqCst);
                }
                req
            },
        ));
    (serve(routes).await, refreshes, sessions)
}

/// The caller: delegation to `upstream` (plain HTTP to loopback allowed), the vault on
/// `store`, its audit events collected.
async fn caller(
    clock: &TestClock,
    upstream: SocketAddr,
    store: VaultBackend,
) -> Result<(Served, AuditLog), String> {
    let events = AuditLog::new();
    let settings = DelegationSettings {
        upstream: format!("http://{upstream}"),
        insecure_loopback: true,
        master_key: Some(
            tower_hmac_core::keyring::MasterKey::generate()
                .unwrap()
                .to_base64(),
        ),
        user_key: Some(zeroize::Zeroizing::new(
            tower_hmac::SecretKey::generate()
                .unwrap()
                .to_base64()
                .to_string(),
        )),
        store,
        clock: Some(clock.demo()),
        auditor: Some(Auditor::with_hook(events.clone())),
        store_timeout: Some(PATIENCE),
    };
    let delegation = settings.open().await?;
    let sessions = sessions(clock, SessionPolicy::default());
    let routes = demo_server::sessions::routes(Arc::clone(&sessions))
        .unwrap()
        .merge(demo_server::delegation::routes(sessions, delegation));
    Ok((serve(routes).await, events))
}

/// One request over TCP: the status and the JSON body (`Null` when there is none).
async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: Option<&str>,
) -> (u16, serde_json::Value) {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(token) = bearer {
        head.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    let body = body.unwrap_or("");
    head.push_str(&format!(
        "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    let (status, text) = send(addr, head.as_bytes()).await;
    let json = text
        .split_once("\r\n\r\n")
        .and_then(|(_, body)| serde_json::from_str(body).ok())
        .unwrap_or(serde_json::Value::Null);
    (status, json)
}

/// `GET /delegation/upstream/me` at the caller `addr` with its access token `me`.
async fn upstream_me(addr: SocketAddr, me: &str) -> (u16, serde_json::Value) {
    call(addr, "GET", "/delegation/upstream/me", Some(me), None).await
}

/// `POST /delegation/link` of the upstream's token answer `linked` at the caller `addr`.
async fn link(addr: SocketAddr, me: &str, linked: &serde_json::Value) -> (u16, serde_json::Value) {
    call(
        addr,
        "POST",
        "/delegation/link",
        Some(me),
        Some(&linked.to_string()),
    )
    .await
}

/// Two demo processes: an upstream (with `upstream_env`) and a caller delegating to it.
async fn process_pair(
    upstream_env: &[(&str, &str)],
) -> (crate::common::Instance, crate::common::Instance) {
    let mut env = vec![("TOWER_HMAC_DEMO_ADDR", "127.0.0.1:0")];
    env.extend_from_slice(upstream_env);
    let upstream = start_demo(&env).await;
    let base = format!("http://{}", upstream.addr);
    let caller = start_demo(&[
        ("TOWER_HMAC_DEMO_ADDR", "127.0.0.1:0"),
        ("TOWER_HMAC_DEMO_UPSTREAM", &base),
        ("TOWER_HMAC_DEMO_UPSTREAM_INSECURE_LOOPBACK", "1"),
    ])
    .await;
    (upstream, caller)
}

/// Logs the demo user in at `addr`: the whole token answer.
async fn login(addr: SocketAddr) -> serde_json::Value {
    let (status, answer) = call(addr, "POST", "/auth/login", None, Some(LOGIN)).await;
    assert_eq!(status, 200, "{answer}");
    answer
}

fn access(answer: &serde_json::Value) -> String {
    answer["access_token"].as_str().unwrap().to_owned()
}

fn count(events: &AuditLog, kind: AuditKind) -> usize {
    events.of_kind(kind).len()
}

/// Both instances, the user logged in at both and the upstream tokens linked at the caller: the
/// caller, its events, the caller's access token, the upstream's token answer.
struct Linked {
    upstream: Served,
    refreshes: Arc<AtomicUsize>,
    caller: Served,
    events: AuditLog,
    me: String,
    linked: serde_json::Value,
}

async fn linked(clock: &TestClock) -> Linked {
    linked_on(clock, VaultBackend::Memory).await
}

/// [`linked`] with the caller's vault on `store`.
async fn linked_on(clock: &TestClock, store: VaultBackend) -> Linked {
    let (upstream, refreshes, _) = upstream(clock).await;
    let (caller, events) = caller(clock, upstream.addr, store).await.unwrap();
    let linked = login(upstream.addr).await;
    assert_eq!(linked["expires_in"], 2, "the upstream's tokens live 2 s");
    let me = access(&login(caller.addr).await);
    let (status, answer) = link(caller.addr, &me, &linked).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["scope"], "orders:read");
    Linked {
        upstream,
        refreshes,
        caller,
        events,
        me,
        linked,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delegated_call_after_the_upstream_token_expired_refreshes_exactly_once() {
    let clock = TestClock::at(T0);
    let l = linked(&clock).await;

    let (status, answer) = upstream_me(l.caller.addr, &l.me).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], 200);
    assert_eq!(answer["upstream"]["sub"], "demo");
    assert_eq!(
        l.refreshes.load(Ordering::SeqCst),
        0,
        "a fresh token is used"
    );
    let first_exp = answer["upstream"]["exp"].as_u64().unwrap();

    // The upstream refuses the linked token now: it expired 3 s ago.
    clock.set(T0 + 5_000);
    let stale = access(&l.linked);
    let (status, _) = call(l.upstream.addr, "GET", "/me", Some(&stale), None).await;
    assert_eq!(status, 401, "the upstream's token has expired");

    let (status, answer) = upstream_me(l.caller.addr, &l.me).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["upstream"]["sub"], "demo");
    assert!(
        answer["upstream"]["exp"].as_u64().unwrap() > first_exp,
        "called with a new access token: {answer}"
    );
    assert_eq!(l.refreshes.load(Ordering::SeqCst), 1, "exactly one refresh");
    assert_eq!(count(&l.events, AuditKind::TokenRefreshed), 1);

    // The refreshed token is used as long as it lives: no second refresh.
    let (status, _) = upstream_me(l.caller.addr, &l.me).await;
    assert_eq!(status, 200);
    assert_eq!(l.refreshes.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_concurrent_calls_after_expiry_cause_one_refresh() {
    let clock = TestClock::at(T0);
    let l = linked(&clock).await;
    clock.set(T0 + 5_000);

    let calls: Vec<_> = (0..100)
        .map(|_| {
            let (addr, me) = (l.caller.addr, l.me.clone());
            tokio::spawn(async move { upstream_me(addr, &me).await })
        })
        .collect();
    for task in calls {
        let (status, answer) = task.await.unwrap();
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["upstream"]["sub"], "demo");
    }
    assert_eq!(
        l.refreshes.load(Ordering::SeqCst),
        1,
        "one refresh for the hundred"
    );
    assert_eq!(count(&l.events, AuditKind::TokenRefreshed), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_upstream_refresh_token_is_token_refresh_failed_and_a_clean_401() {
    let clock = TestClock::at(T0);
    let l = linked(&clock).await;
    // The user ends the upstream session the caller holds tokens of.
    let upstream_access = access(&l.linked);
    let (status, answer) = call(
        l.upstream.addr,
        "POST",
        "/auth/logout",
        Some(&upstream_access),
        None,
    )
    .await;
    assert_eq!(status, 200, "logout: {answer}");
    assert_eq!(answer["revoked"], true, "{answer}");
    clock.set(T0 + 5_000);

    let (status, answer) = upstream_me(l.caller.addr, &l.me).await;
    assert_eq!(status, 401, "{answer}");
    assert_eq!(answer["error"], "refresh_failed");
    let text = answer.to_string();
    let refresh = l.linked["refresh_token"].as_str().unwrap();
    assert!(
        !text.contains(refresh) && !text.contains(&upstream_access),
        "no token in the answer: {text}"
    );
    let failed = l.events.of_kind(AuditKind::TokenRefreshFailed);
    assert_eq!(failed.len(), 1, "one TOKEN_REFRESH_FAILED");
    assert_eq!(failed[0].risk, Risk::High);
    assert_eq!(failed[0].upstream.as_deref(), Some("upstream"));

    // The vault no longer holds them: the user must link again.
    let (status, answer) = upstream_me(l.caller.addr, &l.me).await;
    assert_eq!(status, 401);
    assert_eq!(answer["error"], "not_linked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_cuts_the_caller_off_and_revoke_all_ends_their_sessions_too() {
    let clock = TestClock::at(T0);
    let l = linked(&clock).await;
    let (status, answer) = call(
        l.caller.addr,
        "POST",
        "/delegation/revoke",
        Some(&l.me),
        None,
    )
    .await;
    assert_eq!(
        (status, &answer["revoked"]),
        (200, &serde_json::json!(true))
    );
    let (status, answer) = upstream_me(l.caller.addr, &l.me).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (401, Some("not_linked"))
    );
    assert_eq!(count(&l.events, AuditKind::TokenRevoked), 1);

    // Link again, then the incident path: every token and every session of the user.
    let (status, _) = link(l.caller.addr, &l.me, &l.linked).await;
    assert_eq!(status, 200);
    let (status, answer) = call(
        l.caller.addr,
        "POST",
        "/delegation/revoke-all",
        Some(&l.me),
        None,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["tokens"], 1);
    assert_eq!(answer["sessions"], 1);
    assert_eq!(count(&l.events, AuditKind::AllTokensRevoked), 1);
    let (status, _) = call(l.caller.addr, "GET", "/me", Some(&l.me), None).await;
    assert_eq!(status, 401, "the caller's session is over");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_that_is_not_a_token_answer_is_refused_and_every_route_needs_a_session() {
    let clock = TestClock::at(T0);
    let l = linked(&clock).await;
    for body in [
        "{}",
        "not json",
        r#"{"access_token":"a","expires_in":0}"#,
        r#"{"access_token":"","expires_in":60}"#,
        r#"{"access_token":"a","expires_in":60,"scope":"a  b"}"#,
    ] {
        let (status, answer) = call(
            l.caller.addr,
            "POST",
            "/delegation/link",
            Some(&l.me),
            Some(body),
        )
        .await;
        assert_eq!(status, 400, "{body}: {answer}");
    }
    for (method, path) in [
        ("POST", "/delegation/link"),
        ("GET", "/delegation/upstream/me"),
        ("POST", "/delegation/revoke"),
        ("POST", "/delegation/revoke-all"),
    ] {
        let (status, _) = call(l.caller.addr, method, path, None, Some("{}")).await;
        assert_eq!(status, 401, "{method} {path} without a session");
    }
}

/// Starts the binary with these settings and expects it to stop before listening: its stderr.
async fn refused_at_start(env: &[(&str, &str)]) -> String {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_demo-server"));
    command
        .env("RUST_LOG", "warn")
        .env("TOWER_HMAC_DEMO_ADDR", "127.0.0.1:0");
    for (name, value) in env {
        command.env(name, value);
    }
    let out = tokio::time::timeout(PATIENCE, command.kill_on_drop(true).output())
        .await
        .expect("the demo stops at once")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "started: {stdout}");
    assert!(!stdout.contains("listening"), "{stdout}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_upstream_is_refused_at_start() {
    for env in [
        vec![("TOWER_HMAC_DEMO_UPSTREAM", "http://api.example.com")],
        vec![("TOWER_HMAC_DEMO_UPSTREAM", "http://127.0.0.1:9")],
        vec![
            ("TOWER_HMAC_DEMO_UPSTREAM", "http://api.example.com"),
            ("TOWER_HMAC_DEMO_UPSTREAM_INSECURE_LOOPBACK", "1"),
        ],
        vec![
            ("TOWER_HMAC_DEMO_UPSTREAM", "http://10.0.0.1:8081"),
            ("TOWER_HMAC_DEMO_UPSTREAM_INSECURE_LOOPBACK", "1"),
        ],
    ] {
        let stderr = refused_at_start(&env).await;
        assert!(
            stderr.contains("TOWER_HMAC_DEMO_UPSTREAM is refused"),
            "{env:?}: {stderr}"
        );
    }
    // A shared vault store without the keys every instance needs is refused too.
    let stderr = refused_at_start(&[
        ("TOWER_HMAC_DEMO_UPSTREAM", "https://api.example.com"),
        ("TOWER_HMAC_DEMO_VAULT_STORE", "redis://127.0.0.1:6379"),
    ])
    .await;
    assert!(
        stderr.contains("TOWER_HMAC_DEMO_VAULT_MASTER_KEY is required"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_setting_that_is_refused_is_never_repeated_with_its_password() {
    // Found by the attack on the demo: the refusal repeated the whole setting, password and all.
    for (var, value) in [
        ("TOWER_HMAC_DEMO_VAULT_STORE", "mysql://u:STOREPW@h/db"),
        ("TOWER_HMAC_DEMO_VAULT_STORE", "redisx://u:STOREPW@h/db"),
        ("TOWER_HMAC_DEMO_SESSION_STORE", "mysql://u:STOREPW@h/db"),
        ("TOWER_HMAC_DEMO_REPLAY_STORE", "mysql://u:STOREPW@h/db"),
        ("TOWER_HMAC_DEMO_POLICY_STORE", "u:STOREPW@h"),
    ] {
        let stderr = refused_at_start(&[
            ("TOWER_HMAC_DEMO_UPSTREAM", "https://api.example.com"),
            (var, value),
        ])
        .await;
        assert!(stderr.contains("store ("), "{var}: {stderr}");
        assert!(!stderr.contains("STOREPW"), "{var}: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_login_with_the_single_session_policy_ends_the_first() {
    let server = start_demo(&[
        ("TOWER_HMAC_DEMO_ADDR", "127.0.0.1:0"),
        ("TOWER_HMAC_DEMO_MAX_SESSIONS", "1"),
    ])
    .await;
    let first = login(server.addr).await;
    let (status, _) = call(server.addr, "GET", "/me", Some(&access(&first)), None).await;
    assert_eq!(status, 200);
    let second = login(server.addr).await;
    let (status, _) = call(server.addr, "GET", "/me", Some(&access(&first)), None).await;
    assert_eq!(
        status, 401,
        "the first session was ended by the second login"
    );
    let refresh = format!(
        r#"{{"refresh_token":"{}"}}"#,
        first["refresh_token"].as_str().unwrap()
    );
    let (status, _) = call(server.addr, "POST", "/auth/refresh", None, Some(&refresh)).await;
    assert_eq!(status, 400, "its refresh token is dead too");
    let (status, _) = call(server.addr, "GET", "/me", Some(&access(&second)), None).await;
    assert_eq!(status, 200);
}

/// Every byte the caller's vault left in the store, as `(name, value)` pairs.
async fn redis_contents(prefix: &str) -> Vec<(String, Vec<u8>)> {
    let client = redis::Client::open(tower_hmac_integration::redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    let mut out = Vec::new();
    for key in keys {
        let kind: String = redis::cmd("TYPE")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        let values: Vec<Vec<u8>> = match kind.as_str() {
            "string" => vec![
                redis::cmd("GET")
                    .arg(&key)
                    .query_async(&mut conn)
                    .await
                    .unwrap(),
            ],
            "hash" => redis::cmd("HGETALL")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .unwrap(),
            "set" => redis::cmd("SMEMBERS")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .unwrap(),
            "zset" => redis::cmd("ZRANGE")
                .arg(&key)
                .arg(0)
                .arg(-1)
                .arg("WITHSCORES")
                .query_async(&mut conn)
                .await
                .unwrap(),
            "list" => redis::cmd("LRANGE")
                .arg(&key)
                .arg(0)
                .arg(-1)
                .query_async(&mut conn)
                .await
                .unwrap(),
            other => panic!("{key}: a {other} the test does not read"),
        };
        let name = key.strip_prefix(prefix).unwrap().to_owned();
        out.push((name, values.concat()));
    }
    let _: () = redis::cmd("DEL")
        .arg(
            out.iter()
                .map(|(k, _)| format!("{prefix}{k}"))
                .collect::<Vec<_>>(),
        )
        .query_async(&mut conn)
        .await
        .unwrap_or(());
    out
}

/// Asserts that no form of `secret` (as is, hex, Base64) is in `haystack`.
fn assert_absent(haystack: &[u8], secret: &str, what: &str) {
    use base64::Engine as _;
    let forms = [
        secret.as_bytes().to_vec(),
        hex::encode(secret).into_bytes(),
        base64::engine::general_purpose::STANDARD
            .encode(secret)
            .into_bytes(),
    ];
    for form in forms {
        assert!(
            !haystack.windows(form.len()).any(|w| w == form.as_slice()),
            "{what} found in the store"
        );
    }
}

/// Links through the caller whose vault is on `store` and reads the record back through a
/// delegated call; the tokens linked.
async fn link_on(store: VaultBackend) -> (String, String) {
    let l = linked_on(&TestClock::at(T0), store).await;
    let (status, _) = upstream_me(l.caller.addr, &l.me).await;
    assert_eq!(status, 200, "the record is read back from the store");
    (
        access(&l.linked),
        l.linked["refresh_token"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vaults_redis_records_hold_no_token_and_no_user_id() {
    let prefix = format!(
        "tower-hmac-test:vault-at-rest:{}:",
        tower_hmac::protocol::generate_nonce().unwrap()
    );
    let (access_token, refresh_token) = link_on(VaultBackend::Redis(
        tower_hmac_integration::require_redis().await,
        prefix.clone(),
    ))
    .await;
    let contents = redis_contents(&prefix).await;
    assert!(!contents.is_empty(), "the vault wrote to Redis");
    for (name, value) in &contents {
        let all = [name.as_bytes(), value.as_slice()].concat();
        assert_absent(&all, &access_token, "the access token");
        assert_absent(&all, &refresh_token, "the refresh token");
        assert_absent(&all, "demo", "the user id");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vaults_postgres_rows_hold_no_token_and_no_user_id() {
    let url = std::env::var("TOWER_HMAC_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let schema = format!("th_vault_rest_{}", std::process::id());
    let (access_token, refresh_token) =
        link_on(VaultBackend::Postgres(url.clone(), Some(schema.clone()))).await;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(PATIENCE)
        .connect(&url)
        .await
        .unwrap();
    let rows: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT t::text FROM \"{schema}\".tower_hmac_vault t"
    )))
    .fetch_all(&pool)
    .await
    .unwrap();
    // The bytea columns' own bytes too (as text they are hex).
    let raw: Vec<(Vec<u8>, Vec<u8>)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT nonce, ciphertext FROM \"{schema}\".tower_hmac_vault"
    )))
    .fetch_all(&pool)
    .await
    .unwrap();
    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA \"{schema}\" CASCADE"
    )))
    .execute(&pool)
    .await;
    assert_eq!(rows.len(), 1, "one record");
    let all = [rows[0].0.as_bytes(), &raw[0].0, &raw[0].1].concat();
    assert_absent(&all, &access_token, "the access token");
    assert_absent(&all, &refresh_token, "the refresh token");
    assert_absent(&all, "demo", "the user id");
}

/// The command after a route's name in a startup line (`  POST /delegation/link   curl …`),
/// without the trailing comment in parentheses.
fn command_of(line: &str) -> String {
    let command = &line[line.find("curl").expect("a curl line")..];
    match command.find("   (") {
        Some(end) => command[..end].to_owned(),
        None => command.to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_startup_texts_delegation_lines_run_as_printed_against_two_instances() {
    let (upstream, mut caller) = process_pair(&[("TOWER_HMAC_DEMO_ACCESS_TTL", "2")]).await;
    let base = format!("http://{}", upstream.addr);
    let login = caller.line_with("login='").await.trim().to_owned();
    let linked = caller.line_with("linked=$(curl").await.trim().to_owned();
    assert!(linked.contains(&base), "the upstream's address: {linked}");
    let me = caller.line_with("me=$(curl").await.trim().to_owned();
    let mut script = vec![login, linked, me];
    for route in [
        "POST /delegation/link ",
        "GET  /delegation/upstream/me ",
        "POST /delegation/revoke ",
        "POST /delegation/revoke-all ",
    ] {
        let line = caller.line_with(route).await;
        script.push(format!(
            "{}; echo",
            command_of(&line).replacen("curl", "curl -s", 1)
        ));
    }
    let out = tokio::process::Command::new("sh")
        .args(["-c", &script.join("\n")])
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let answers: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l:?}\n{stdout}")))
        .collect();
    assert_eq!(answers.len(), 4, "{stdout}");
    assert_eq!(answers[0]["linked"], "upstream", "{stdout}");
    assert_eq!(answers[1]["status"], 200, "{stdout}");
    assert_eq!(answers[1]["upstream"]["sub"], "demo", "{stdout}");
    assert_eq!(answers[2]["revoked"], true, "{stdout}");
    assert_eq!(answers[3]["sessions"], 1, "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_the_upstream_refuses_is_a_high_risk_alert_of_the_demo_process() {
    // Two processes, the upstream's tokens long-lived: the caller's call meets a 401 only
    // because the user ended the upstream session, and its refresh is then refused.
    let (upstream, mut caller) = process_pair(&[]).await;
    let linked = login(upstream.addr).await;
    let me = access(&login(caller.addr).await);
    let (status, _) = link(caller.addr, &me, &linked).await;
    assert_eq!(status, 200);
    let (status, _) = upstream_me(caller.addr, &me).await;
    assert_eq!(status, 200);
    let (status, answer) = call(
        upstream.addr,
        "POST",
        "/auth/logout",
        Some(&access(&linked)),
        None,
    )
    .await;
    assert_eq!(status, 200, "logout: {answer}");
    assert_eq!(answer["revoked"], true, "{answer}");

    let (status, answer) = upstream_me(caller.addr, &me).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (401, Some("refresh_failed"))
    );
    let alert = caller.line_with("demo_server::alerts").await;
    assert!(alert.contains("TOKEN_REFRESH_FAILED"), "{alert}");
    assert!(
        !alert.contains(linked["refresh_token"].as_str().unwrap()) && !alert.contains("\"demo\""),
        "no token, no user id: {alert}"
    );
}
