//! Issue 25 items 5 and 6 over TCP: the demo binary does not say "listening" before its session
//! store answered — a session store that never answers (a listener this test owns, frozen) or a
//! closed port makes it exit with an error at start, answered (item 6); with Redis losing the
//! session store's keys (this test deletes its own prefix's keys, nothing else), a logged-out
//! access token stays refused by the demo's session routes, `401 token_before_horizon` (item 5).

use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

use crate::common::{PATIENCE, TestClock, now_seconds, send, serve_demo_with_sessions};

/// A failure guard only: the demo must have answered (exited) by then.
const GUARD: Duration = PATIENCE;

/// Runs the demo with its session store at `store`: its exit status, whether it printed the
/// "listening" line, its standard error, and how long it took.
async fn start_with_session_store(store: &str) -> (Option<i32>, bool, String, Duration) {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_demo-server"))
        .env("RUST_LOG", "warn")
        .env("TOWER_HMAC_DEMO_ADDR", "127.0.0.1:0")
        .env("TOWER_HMAC_DEMO_SESSION_STORE", store)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start demo-server");
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut err = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut listening = false;
    let mut stderr = String::new();
    let status = tokio::time::timeout(GUARD, async {
        loop {
            tokio::select! {
                line = out.next_line() => match line {
                    Ok(Some(line)) => listening |= line.contains("listening on"),
                    _ => break,
                },
                line = err.next_line() => match line {
                    Ok(Some(line)) => { stderr.push_str(&line); stderr.push('\n'); }
                    _ => break,
                },
            }
        }
        while let Ok(Some(line)) = err.next_line().await {
            stderr.push_str(&line);
            stderr.push('\n');
        }
        child.wait().await.unwrap()
    })
    .await;
    let elapsed = started.elapsed();
    eprintln!("session store {store}: answered in {elapsed:?}");
    let code = match status {
        Ok(status) => status.code(),
        Err(_) => panic!(
            "the demo with an unreachable session store ({store}) neither exited nor served \
             within {GUARD:?}; listening printed: {listening}; stderr: {stderr}"
        ),
    };
    (code, listening, stderr, elapsed)
}

/// A listener that accepts and never answers (a frozen server), for as long as it lives.
async fn frozen_listener() -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (addr, task)
}

/// A port nothing listens on, for as long as the socket lives: bound (so that nothing else gets
/// it meanwhile) but never listening, so a connection to it is refused.
fn closed_port() -> (std::net::SocketAddr, tokio::net::TcpSocket) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    (socket.local_addr().unwrap(), socket)
}

async fn refuses_to_start(store: &str) {
    let (code, listening, stderr, _) = start_with_session_store(store).await;
    assert!(
        !listening,
        "the demo said it was listening before its session store ({store}) answered"
    );
    assert_eq!(code, Some(1), "stderr: {stderr}");
    assert!(
        stderr.contains("session store"),
        "a clear error names the session store: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_does_not_start_on_a_frozen_redis_session_store() {
    let (addr, task) = frozen_listener().await;
    refuses_to_start(&format!("redis://{addr}")).await;
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_does_not_start_on_a_frozen_postgres_session_store() {
    let (addr, task) = frozen_listener().await;
    refuses_to_start(&format!("postgres://postgres@{addr}/test")).await;
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_does_not_start_on_a_closed_session_store_port() {
    let (redis, _held) = closed_port();
    refuses_to_start(&format!("redis://{redis}")).await;
    let (postgres, _held) = closed_port();
    refuses_to_start(&format!("postgres://postgres@{postgres}/test")).await;
}

fn post(path: &str, host: std::net::SocketAddr, authorization: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\n{authorization}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn json_body(response: &str) -> serde_json::Value {
    let (_, body) = response.split_once("\r\n\r\n").unwrap();
    serde_json::from_str(body).unwrap()
}

/// Deletes every key under `prefix` on the Redis at `addr`: one `EVAL` of a `SCAN` loop (this
/// test's keys only — never a FLUSHALL), spoken in RESP by hand. How many.
async fn delete_prefix(addr: &str, prefix: &str) -> i64 {
    let script = "local c, n = '0', 0 repeat local r = redis.call('SCAN', c, 'MATCH', ARGV[1], \
                  'COUNT', 1000) c = r[1] for _, k in ipairs(r[2]) do redis.call('DEL', k) \
                  n = n + 1 end until c == '0' return n";
    let pattern = format!("{prefix}*");
    let mut command = String::from("*4\r\n");
    for part in ["EVAL", script, "0", &pattern] {
        command.push_str(&format!("${}\r\n{part}\r\n", part.len()));
    }
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(command.as_bytes()).await.unwrap();
    let mut reply = vec![0u8; 64];
    let n = stream.read(&mut reply).await.unwrap();
    let reply = String::from_utf8_lossy(&reply[..n]).into_owned();
    reply
        .strip_prefix(':')
        .and_then(|r| r.trim().parse().ok())
        .unwrap_or_else(|| panic!("Redis answered {reply:?}"))
}

/// Item 5 over TCP: log in, log out (the token is `token_revoked`), Redis loses the session
/// store's keys; the logged-out token is then `401 token_before_horizon` — before the fix it was
/// accepted again (200) for the rest of its 15 minutes. The client's path: its refresh token is
/// gone with the data (`invalid_grant`), a new login works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_is_not_forgotten_when_redis_loses_the_session_store() {
    let redis = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let redis_addr = redis
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .to_owned();
    let prefix = tower_hmac_integration::unique_prefix("demo-sessions-loss");
    // The demo's session routes served in this process, on the Redis store as
    // `TOWER_HMAC_DEMO_SESSION_STORE` and `…_NAMESPACE` open it, waiting for Redis as long as the
    // test does (the store's own 500 ms may not hold on a loaded machine: `503`).
    let store = tower_hmac_sessions::store::RedisSessionStore::connect_with_timeout(
        &redis, &prefix, PATIENCE,
    )
    .await
    .unwrap();
    // On a clock the test sets: the loss comes a second after the login, without waiting for one.
    let clock = TestClock::at(now_seconds() * 1000);
    let demo = serve_demo_with_sessions(store, None, Some(&clock)).await;
    let addr = demo.addr;
    let credentials = serde_json::json!({
        "username": demo_server::sessions::DEMO_USER,
        "password": demo_server::sessions::DEMO_PASSWORD,
    })
    .to_string();
    let (status, response) = send(addr, &post("/auth/login", addr, "", &credentials)).await;
    assert_eq!(status, 200, "{response}");
    let pair = json_body(&response);
    let access = pair["access_token"].as_str().unwrap().to_owned();
    let refresh = pair["refresh_token"].as_str().unwrap().to_owned();
    let bearer = format!("Authorization: Bearer {access}\r\n");
    let me = format!("GET /me HTTP/1.1\r\nHost: {addr}\r\n{bearer}Connection: close\r\n\r\n");
    let (status, me_answer) = send(addr, me.as_bytes()).await;
    assert_eq!(status, 200, "{me_answer}");
    let issued_at = json_body(&me_answer)["exp"].as_u64().unwrap() - 900;
    let (status, response) = send(addr, &post("/auth/logout", addr, &bearer, "{}")).await;
    assert_eq!(status, 200, "{response}");
    let (status, response) = send(addr, me.as_bytes()).await;
    assert_eq!(status, 401, "{response}");
    assert!(response.contains("token_revoked"), "{response}");
    // Redis loses the data — after the second the token was issued in: the horizon has
    // whole-second precision, as `iat` (docs/SESSIONS.md). A later time changes nothing.
    clock.set((issued_at + 1) * 1000);
    assert!(delete_prefix(&redis_addr, &prefix).await > 0);
    let (status, response) = send(addr, me.as_bytes()).await;
    assert_eq!(
        status, 401,
        "the logged-out token is not accepted again: {response}"
    );
    assert!(response.contains("token_before_horizon"), "{response}");
    let body = serde_json::json!({ "refresh_token": refresh }).to_string();
    let (status, response) = send(addr, &post("/auth/refresh", addr, "", &body)).await;
    assert_eq!(status, 400, "{response}");
    assert!(response.contains("invalid_grant"), "{response}");
    let (status, response) = send(addr, &post("/auth/login", addr, "", &credentials)).await;
    assert_eq!(status, 200, "{response}");
    let fresh = json_body(&response)["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let me = format!(
        "GET /me HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {fresh}\r\nConnection: close\r\n\r\n"
    );
    assert_eq!(send(addr, me.as_bytes()).await.0, 200);
    delete_prefix(&redis_addr, &prefix).await;
}
