//! Issue 25, items 7 and 8: what the demo refuses at start, and refusals its own state caused
//! (the replay store's horizon after a restart) never charged to the caller's throttle.

use std::time::Duration;

use tower_hmac::SecretKey;
use tower_hmac_integration::sign_at;

use crate::common::{get, send, start_demo};

/// Runs the demo binary with these variables; its exit status and what it printed on stderr
/// (it must exit by itself: a start it refuses).
async fn refused_start(env: &[(&str, &str)]) -> (bool, String) {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_demo-server"));
    command
        .env("TOWER_HMAC_DEMO_ADDR", "127.0.0.1:0")
        .kill_on_drop(true);
    for (name, value) in env {
        command.env(name, value);
    }
    let out = tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .expect("the demo started instead of refusing")
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_filter_that_does_not_parse_is_refused_at_start() {
    let (ok, stderr) = refused_start(&[("RUST_LOG", "tower_hmac=loudest")]).await;
    assert!(!ok, "{stderr}");
    assert!(stderr.contains("is not a log filter"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_all_zero_secret_is_refused_at_start() {
    let dir = std::env::temp_dir().join(format!(
        "tower-hmac-zero-key-{}",
        tower_hmac_integration::unique_key_id("z")
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("registry.toml");
    std::fs::write(
        &path,
        "[[apps]]\nid = \"a\"\n[[apps.keys]]\nid = \"zero\"\n\
         secret = \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"\n",
    )
    .unwrap();
    let (ok, stderr) = refused_start(&[("TOWER_HMAC_DEMO_REGISTRY", path.to_str().unwrap())]).await;
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!ok, "{stderr}");
    assert!(stderr.contains("all zero"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_the_restart_horizon_refuses_are_not_charged_to_the_throttle() {
    // A busy client right after a restart: every request it signed before the demo started is
    // refused once (`stale_timestamp`, the replay store's horizon); with 3 failures allowed, ten
    // of them must not put it at 429.
    // Read before the demo starts: a second earlier is before its replay store's horizon,
    // whatever the machine's speed.
    let before = tower_hmac::protocol::clock::unix_seconds(std::time::SystemTime::now());
    let server = start_demo(&[
        ("TOWER_HMAC_DEMO_ADDR", "127.0.0.1:0"),
        ("TOWER_HMAC_DEMO_THROTTLE", "3/60"),
    ])
    .await;
    let host = server.addr.to_string();
    let key = SecretKey::from_base64(demo_server::demo_secret_base64()).unwrap();
    let now = tower_hmac::protocol::clock::unix_seconds(std::time::SystemTime::now());
    let whoami = |timestamp: u64| {
        let auth = sign_at(
            demo_server::DEMO_KEY_ID,
            &key,
            &http::Method::GET,
            &host,
            "/whoami",
            b"",
            timestamp,
        );
        get("/whoami", &host, &auth.to_string())
    };
    for _ in 0..10 {
        // Signed before the demo's start.
        let (status, text) = send(server.addr, &whoami(before - 1)).await;
        assert_eq!(status, 401, "{text}");
        assert!(text.contains("stale_timestamp"), "{text}");
    }
    let (status, text) = send(server.addr, &whoami(now + 1)).await;
    assert_eq!(status, 200, "the horizon's refusals were charged: {text}");
}
