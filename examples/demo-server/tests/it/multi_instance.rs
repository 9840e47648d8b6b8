//! Issue 29 item 4: three demo processes sharing their state on one Redis, and again on a
//! three-node Redis Cluster of the test's own (the replay store, the sessions, the failure
//! throttle and risk state: `TOWER_HMAC_DEMO_REPLAY_STORE`, `…_SESSION_STORE`, `…_POLICY_STORE`)
//! and, for the key lifecycle, one PostgreSQL registry; a client spreading its requests over
//! them, over real TCP:
//! - a request of every scheme accepted through one instance is a replay through the other two;
//! - a logout through one instance is seen by the others on the very next request;
//! - the failure throttle's allowance holds across the three (not three times it), and a guess
//!   spread over them and over addresses raises the risk monitor's `failure_burst` alert;
//! - a key revoked in PostgreSQL is refused by all three within 2 s;
//! - every instance restarted in turn, and nothing is accepted twice.
//!
//! Each test's Redis prefixes and PostgreSQL schema are its own. A request the replay store
//! could not record in time (`503`, fail-closed on a loaded machine) was not accepted: the
//! client signs a new one, as a real client retries.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tower_hmac::SecretKey;
use tower_hmac::protocol::gateway::{Algorithm, Apisix, Kong};
use tower_hmac::protocol::webhooks::{github_signature, slack_signature, stripe_signature};
use tower_hmac::protocol::{rfc9421, softaware, token};
use tower_hmac_integration::{require_redis, sign_at, unique_prefix};

use crate::common::{Instance, PATIENCE, now_seconds, send, start_demo};

/// The name every instance answers for, as behind a load balancer.
const HOST: &str = "api.fleet.test";

/// The shared HS256 key of the session tokens (every instance must verify the others' tokens).
const JWT_SECRET: &str = "bXVsdGktaW5zdGFuY2UtdGVzdC1qd3Qta2V5LS0tMzItYnl0ZXMh";

fn demo_key() -> SecretKey {
    SecretKey::from_base64(demo_server::demo_secret_base64()).unwrap()
}

fn counter() -> u64 {
    static N: AtomicU64 = AtomicU64::new(1);
    N.fetch_add(1, Ordering::Relaxed)
}

/// A second of its own (0, 1, 2, … seconds after the signing time) for the formats whose replay
/// key is their time and MAC (the token, SigV4, Kong, APISIX): two requests of one of them signed
/// in one second would be one request.
fn own_second() -> u64 {
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Three demo processes started with the same environment; restarted one at a time.
struct Fleet {
    env: Vec<(String, String)>,
    instances: Vec<Instance>,
}

impl Fleet {
    async fn start(env: Vec<(String, String)>) -> Self {
        let mut fleet = Self {
            env,
            instances: Vec::new(),
        };
        for _ in 0..3 {
            let instance = fleet.spawn().await;
            fleet.instances.push(instance);
        }
        fleet
    }

    async fn spawn(&self) -> Instance {
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        start_demo(&env).await
    }

    fn addrs(&self) -> Vec<SocketAddr> {
        self.instances.iter().map(|i| i.addr).collect()
    }

    /// Stops instance `i` (killed, as a crash or a rolling deploy would) and starts it again.
    async fn restart(&mut self, i: usize) {
        let mut old = self.instances.remove(i);
        old.child.kill().await.unwrap();
        let new = self.spawn().await;
        self.instances.insert(i, new);
    }
}

/// The environment of a fleet on one Redis: the replay store, the sessions and the failure
/// throttle shared under prefixes of this test's own.
fn redis_env(url: &str, label: &str, throttle: &str) -> Vec<(String, String)> {
    let prefix = unique_prefix(label);
    [
        ("TOWER_HMAC_DEMO_ADDR", "127.0.0.1:0".to_owned()),
        ("TOWER_HMAC_DEMO_HOSTS", HOST.to_owned()),
        ("TOWER_HMAC_DEMO_REPLAY_STORE", url.to_owned()),
        ("TOWER_HMAC_DEMO_REDIS_PREFIX", format!("{prefix}nonce:")),
        ("TOWER_HMAC_DEMO_SESSION_STORE", url.to_owned()),
        (
            "TOWER_HMAC_DEMO_SESSION_NAMESPACE",
            format!("{prefix}sess:"),
        ),
        ("TOWER_HMAC_DEMO_JWT_SECRET", JWT_SECRET.to_owned()),
        ("TOWER_HMAC_DEMO_THROTTLE", throttle.to_owned()),
        ("TOWER_HMAC_DEMO_POLICY_STORE", url.to_owned()),
        ("TOWER_HMAC_DEMO_POLICY_PREFIX", format!("{prefix}policy:")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// A signing time: the next second (after the second the shared replay store's horizon may have
/// been set in), well inside every scheme's window.
fn signing_time() -> u64 {
    now_seconds() + 1
}

/// A raw request: method, target, headers, body; `Host` is [`HOST`], the connection closed.
fn raw(method: &str, target: &str, headers: &[(&str, String)], body: &str) -> Vec<u8> {
    let mut out = format!("{method} {target} HTTP/1.1\r\nHost: {HOST}\r\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() {
        out.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    out.push_str("Connection: close\r\n\r\n");
    out.push_str(body);
    out.into_bytes()
}

/// The head of a `GET /whoami` for the signers that sign an `http::request::Parts`.
fn whoami_parts(headers: &[(&str, &str)]) -> http::request::Parts {
    let mut builder = http::Request::get(format!("http://{HOST}/whoami")).header("host", HOST);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(()).unwrap().into_parts().0
}

/// A new request of `scheme`, signed now with the demo's key (or the provider's secret).
fn signed(scheme: &str) -> Vec<u8> {
    let t = signing_time();
    let key = demo_key();
    let id = demo_server::DEMO_KEY_ID;
    let body = format!(
        "{{\"id\":\"evt_fleet_{}_{}\"}}",
        std::process::id(),
        counter()
    );
    match scheme {
        "v1" => {
            let auth = sign_at(id, &key, &http::Method::GET, HOST, "/whoami", b"", t);
            raw("GET", "/whoami", &[("Authorization", auth.to_string())], "")
        }
        "token" => {
            // One token per (key id, second): a second of its own for each.
            let token = token::issue(id, t + own_second(), &key).unwrap();
            raw(
                "GET",
                demo_server::TOKEN_ROUTE,
                &[("X-Auth-Token", token)],
                "",
            )
        }
        "softaware" => {
            let nonce = format!("{:032x}", u128::from(counter()) << 64 | u128::from(t));
            let uri = format!("http://{HOST}/whoami");
            let auth = softaware::authorization(id, &key, "GET", &uri, b"", &nonce, t);
            raw("GET", "/whoami", &[("Authorization", auth)], "")
        }
        "rfc9421" => {
            let nonce = format!("n{}x{}", std::process::id(), counter());
            let (input, signature) = rfc9421::sign(
                &whoami_parts(&[]),
                "http",
                &["\"@method\"", "\"@authority\"", "\"@path\""],
                id,
                &key,
                t,
                Some(&nonce),
            )
            .unwrap();
            raw(
                "GET",
                "/whoami",
                &[("Signature-Input", input), ("Signature", signature)],
                "",
            )
        }
        // A second of its own for each (the signature is the replay key).
        "sigv4" => crate::red_team::sigv4::header_signed_get_for(
            HOST,
            "/whoami",
            "/whoami",
            t + own_second(),
        ),
        "kong" | "apisix" => {
            // The date is the replay key's time; a nonce-free format: a second of its own.
            let date = httpdate::fmt_http_date(
                std::time::UNIX_EPOCH + Duration::from_secs(t + own_second()),
            );
            let parts = whoami_parts(&[("date", &date)]);
            let auth = if scheme == "kong" {
                Kong::new().authorization(
                    &parts,
                    id,
                    &key,
                    Algorithm::HmacSha256,
                    &["date", "request-line"],
                )
            } else {
                Apisix::new().authorization(
                    &parts,
                    id,
                    &key,
                    Algorithm::HmacSha256,
                    &["@request-target", "date"],
                )
            }
            .unwrap();
            raw(
                "GET",
                "/whoami",
                &[
                    ("Date", date),
                    ("Authorization", auth.to_str().unwrap().to_owned()),
                ],
                "",
            )
        }
        "github" => {
            let secret = SecretKey::from_text(demo_server::DEMO_GITHUB_SECRET).unwrap();
            let delivery = format!("fleet-{}-{}", std::process::id(), counter());
            raw(
                "POST",
                demo_server::GITHUB_ROUTE,
                &[
                    ("X-GitHub-Delivery", delivery),
                    (
                        "X-Hub-Signature-256",
                        github_signature(&secret, body.as_bytes()),
                    ),
                ],
                &body,
            )
        }
        "stripe" => {
            let secret = SecretKey::from_text(demo_server::DEMO_STRIPE_SECRET).unwrap();
            raw(
                "POST",
                demo_server::STRIPE_ROUTE,
                &[(
                    "Stripe-Signature",
                    stripe_signature(&secret, t, body.as_bytes()),
                )],
                &body,
            )
        }
        "slack" => {
            let secret = SecretKey::from_text(demo_server::DEMO_SLACK_SECRET).unwrap();
            raw(
                "POST",
                demo_server::SLACK_ROUTE,
                &[
                    ("X-Slack-Request-Timestamp", t.to_string()),
                    (
                        "X-Slack-Signature",
                        slack_signature(&secret, t, body.as_bytes()),
                    ),
                ],
                &body,
            )
        }
        other => panic!("no signer for {other}"),
    }
}

/// Every scheme the demo's layer verifies.
const SCHEMES: [&str; 10] = [
    "v1",
    "token",
    "softaware",
    "rfc9421",
    "sigv4",
    "kong",
    "apisix",
    "github",
    "stripe",
    "slack",
];

/// Sends a new request of `scheme` to `addr` until one is accepted (a `503` — the shared store
/// not answering in time on a loaded machine — is retried with a new signature, as a client
/// would); returns the accepted request's bytes.
async fn accepted(addr: SocketAddr, scheme: &str) -> Vec<u8> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let request = signed(scheme);
        let (status, text) = send(addr, &request).await;
        if status == 200 {
            return request;
        }
        assert_eq!(status, 503, "{scheme} through {addr}: {text}");
        assert!(
            Instant::now() < deadline,
            "{scheme}: 503 until {PATIENCE:?}"
        );
    }
}

/// Asserts that `request` is refused by `addr` as a replay (retried while the store answers
/// `503`: refused either way).
async fn replayed(addr: SocketAddr, request: &[u8], what: &str) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (status, text) = send(addr, request).await;
        if status == 503 && Instant::now() < deadline {
            continue;
        }
        assert_eq!(status, 401, "{what} through {addr}: {text}");
        assert!(
            text.contains("\"code\":\"replayed_nonce\""),
            "{what}: {text}"
        );
        return;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scheme_is_accepted_once_by_three_instances_and_once_across_restarts() {
    replays_and_restarts(&require_redis().await).await;
}

/// Three instances on `url`: each scheme accepted once through one of them, a replay through
/// all three, before and after each instance's restart.
async fn replays_and_restarts(url: &str) {
    let mut fleet = Fleet::start(redis_env(url, "fleet-replay", "off")).await;
    let mut captured: Vec<(&str, Vec<u8>)> = Vec::new();
    // Each scheme accepted through one instance (the client spreads them), a replay through
    // every instance.
    for (n, scheme) in SCHEMES.iter().enumerate() {
        let addrs = fleet.addrs();
        let request = accepted(addrs[n % 3], scheme).await;
        for &addr in &addrs {
            replayed(addr, &request, scheme).await;
        }
        captured.push((scheme, request));
    }
    // Every instance restarted in turn: after each restart, what was accepted before is a replay
    // everywhere, and new requests are accepted once.
    for i in 0..3 {
        fleet.restart(i).await;
        let addrs = fleet.addrs();
        for scheme in SCHEMES {
            let request = accepted(addrs[i], scheme).await;
            captured.push((scheme, request));
        }
        for (scheme, request) in &captured {
            for &addr in &addrs {
                replayed(addr, request, scheme).await;
            }
        }
    }
}

fn json_post(path: &str, bearer: Option<&str>, body: &str) -> Vec<u8> {
    let auth = bearer
        .map(|t| vec![("Authorization", format!("Bearer {t}"))])
        .unwrap_or_default();
    raw("POST", path, &auth, body)
}

fn field(text: &str, name: &str) -> String {
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let json: serde_json::Value = serde_json::from_str(body).unwrap();
    json[name].as_str().unwrap_or_default().to_owned()
}

/// Sends until the answer is not a `503` (the shared store slow to answer on a loaded machine).
async fn answer(addr: SocketAddr, request: &[u8]) -> (u16, String) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (status, text) = send(addr, request).await;
        if status != 503 || Instant::now() >= deadline {
            return (status, text);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_through_one_instance_is_seen_by_the_others_on_the_next_request() {
    logout_seen_everywhere(&require_redis().await).await;
}

/// Three instances on `url`: a session started through one, refreshed through another, ended
/// through the third, is refused by all three on the next request.
async fn logout_seen_everywhere(url: &str) {
    let fleet = Fleet::start(redis_env(url, "fleet-sessions", "off")).await;
    let [a, b, c] = fleet.addrs()[..] else {
        unreachable!()
    };
    let login = serde_json::json!({
        "username": demo_server::sessions::DEMO_USER,
        "password": demo_server::sessions::DEMO_PASSWORD,
    })
    .to_string();
    let (status, text) = answer(a, &json_post("/auth/login", None, &login)).await;
    assert_eq!(status, 200, "{text}");
    let access = field(&text, "access_token");
    let refresh = field(&text, "refresh_token");
    let me = raw(
        "GET",
        "/me",
        &[("Authorization", format!("Bearer {access}"))],
        "",
    );
    for addr in [a, b, c] {
        let (status, text) = answer(addr, &me).await;
        assert_eq!(status, 200, "{addr}: {text}");
    }
    // The refresh token is rotated through B: its old value is spent for C too.
    let body = serde_json::json!({ "refresh_token": refresh }).to_string();
    let (status, text) = answer(b, &json_post("/auth/refresh", None, &body)).await;
    assert_eq!(status, 200, "{text}");
    let access = field(&text, "access_token");
    let me = raw(
        "GET",
        "/me",
        &[("Authorization", format!("Bearer {access}"))],
        "",
    );
    // Logged out through C: the very next request through A and B is refused.
    let (status, text) = answer(c, &json_post("/auth/logout", Some(&access), "{}")).await;
    assert!(status == 200 || status == 204, "{text}");
    for addr in [a, b, c] {
        let (status, text) = answer(addr, &me).await;
        assert_eq!(status, 401, "{addr} after the logout: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_failure_throttle_holds_across_three_instances() {
    throttle_shared(&require_redis().await).await;
}

/// Three instances on `url`: 6 failures an hour per address; spread over the three, the 7th is
/// refused by every one of them (three in-process throttles would allow 18).
async fn throttle_shared(url: &str) {
    let fleet = Fleet::start(redis_env(url, "fleet-throttle", "6/3600")).await;
    let addrs = fleet.addrs();
    let wrong = SecretKey::from_bytes(&[0x42; 32]).unwrap();
    let bad = |t: u64| {
        let auth = sign_at(
            demo_server::DEMO_KEY_ID,
            &wrong,
            &http::Method::GET,
            HOST,
            "/whoami",
            b"",
            t,
        );
        raw("GET", "/whoami", &[("Authorization", auth.to_string())], "")
    };
    for n in 0..6 {
        let (status, text) = answer(addrs[n % 3], &bad(signing_time())).await;
        assert_eq!(status, 401, "failure {n}: {text}");
    }
    for &addr in &addrs {
        let (status, text) = answer(addr, &bad(signing_time())).await;
        assert_eq!(
            status, 429,
            "{addr} after 6 failures over three instances: {text}"
        );
        assert!(text.contains("too_many_failures"), "{text}");
    }
}

/// Sends `request` from the local address `from` (any of 127.0.0.0/8) to `to`; the status.
async fn send_from(from: [u8; 4], to: SocketAddr, request: &[u8]) -> u16 {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((from, 0))).unwrap();
    let mut stream = socket.connect(to).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut out = Vec::new();
    stream.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    text.split(' ').nth(1).unwrap_or("0").parse().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guess_spread_over_instances_and_addresses_raises_the_failure_burst_alert() {
    burst_alert_across(&require_redis().await).await;
}

/// Three instances on `url`, no throttle: 10 failures naming one key id, each from an address of
/// its own and spread over the three instances (3 or 4 each), raise the risk monitor's
/// `failure_burst` alert (10 in 60 s per key id) — which no instance would see on its own state.
async fn burst_alert_across(url: &str) {
    let mut fleet = Fleet::start(redis_env(url, "fleet-risk", "off")).await;
    let addrs = fleet.addrs();
    let wrong = SecretKey::from_bytes(&[0x24; 32]).unwrap();
    for n in 0..10u8 {
        let auth = sign_at(
            demo_server::DEMO_KEY_ID,
            &wrong,
            &http::Method::GET,
            HOST,
            "/whoami",
            b"",
            signing_time(),
        );
        let request = raw("GET", "/whoami", &[("Authorization", auth.to_string())], "");
        let status = send_from([127, 0, 7, 10 + n], addrs[usize::from(n) % 3], &request).await;
        assert_eq!(status, 401, "failure {n}");
    }
    // The tenth failure reached instance 0: its alert hook logs the high-risk event.
    let line = fleet.instances[0]
        .line_with("high-risk authentication event")
        .await;
    assert!(line.contains("failure_burst"), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_on_a_redis_cluster_share_replays_throttle_and_logouts() {
    // A cluster of the test's own (three `redis-server` processes, the slots split three ways);
    // every store of the demo on it: the replay store, the sessions, the throttle and risk state.
    let cluster = tower_hmac_integration::cluster::Cluster::start().await;
    let nodes: Vec<String> = cluster
        .ports()
        .iter()
        .map(|port| format!("127.0.0.1:{port}"))
        .collect();
    let url = format!("redis+cluster://{}", nodes.join(","));
    replays_and_restarts(&url).await;
    logout_seen_everywhere(&url).await;
    throttle_shared(&url).await;
    burst_alert_across(&url).await;
    // The state is spread over the nodes, not on one.
    let per_node = cluster.keys_per_node().await;
    assert!(
        per_node.iter().all(|&n| n > 0),
        "keys per node: {per_node:?}"
    );
}

fn database_url() -> String {
    std::env::var("TOWER_HMAC_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_revoked_in_postgres_is_refused_by_all_three_within_two_seconds() {
    use tower_hmac_postgres::{KeyAdmin, Keyring, MasterKey};
    let url = require_redis().await;
    let schema = format!("th_fleet_{}", std::process::id());
    let master = MasterKey::generate().unwrap();
    let admin = KeyAdmin::connect(&database_url(), Keyring::new(master.clone()), Some(&schema))
        .await
        .unwrap();
    let key = admin
        .generate_key("partner", "fleet-partner-1", "ops")
        .await
        .unwrap();
    let mut env = redis_env(&url, "fleet-revoke", "off");
    env.push((
        "TOWER_HMAC_DEMO_REGISTRY".into(),
        format!("{}?options[search_path]={schema}", database_url()),
    ));
    env.push((
        "TOWER_HMAC_MASTER_KEY".into(),
        master.to_base64().to_string(),
    ));
    let fleet = Fleet::start(env).await;
    let addrs = fleet.addrs();
    let status_of = |addr: SocketAddr| {
        let key = key.clone();
        async move {
            let auth = sign_at(
                "fleet-partner-1",
                &key,
                &http::Method::GET,
                HOST,
                "/whoami",
                b"",
                signing_time(),
            );
            answer(
                addr,
                &raw("GET", "/whoami", &[("Authorization", auth.to_string())], ""),
            )
            .await
        }
    };
    for &addr in &addrs {
        let (status, text) = status_of(addr).await;
        assert_eq!(status, 200, "{addr}: {text}");
    }
    admin.revoke("fleet-partner-1", "ops").await.unwrap();
    let revoked_at = Instant::now();
    // Polled until all three refuse; the time it took is the figure the issue sets (2 s).
    let mut refused = [false; 3];
    while !refused.iter().all(|r| *r) {
        for (i, &addr) in addrs.iter().enumerate() {
            if !refused[i] {
                refused[i] = status_of(addr).await.0 == 401;
            }
        }
        assert!(
            revoked_at.elapsed() < PATIENCE,
            "the revocation did not reach every instance"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = revoked_at.elapsed();
    eprintln!("the revocation reached all three instances in {took:?}");
    assert!(
        took < Duration::from_secs(2),
        "the revocation took {took:?} to reach all three instances"
    );
    drop(fleet);
    let pool = sqlx::PgPool::connect(&database_url()).await.unwrap();
    let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&pool)
        .await;
}
