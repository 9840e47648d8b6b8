//! The demo's startup text is a working manual: its shell lines (`curl --aws-sigv4`, Kong's
//! `hmac-auth`, the token, the three webhook deliveries), run as printed with `sh`, `openssl` and
//! `curl`, are each accepted; and it states the defaults the binary runs with.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{PATIENCE, now_seconds};

/// The answer to a protocol v1 `GET /whoami` stamped with the current second: the status and
/// the whole response.
fn whoami_this_second(addr: SocketAddr) -> (u16, String) {
    let host = addr.to_string();
    let key = tower_hmac::SecretKey::from_base64(demo_server::demo_secret_base64()).unwrap();
    let auth = tower_hmac_integration::sign_at(
        demo_server::DEMO_KEY_ID,
        &key,
        &http::Method::GET,
        &host,
        "/whoami",
        b"",
        now_seconds(),
    );
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .write_all(&crate::common::get("/whoami", &host, &auth.to_string()))
        .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let status = text.split(' ').nth(1).unwrap_or("0").parse().unwrap_or(0);
    (status, text)
}

/// Kills the demo when the test ends, whatever happens.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_startup_texts_shell_lines_are_accepted() {
    let mut child = Killed(
        Command::new(env!("CARGO_BIN_EXE_demo-server"))
            .env("RUST_LOG", "warn")
            .env("TOWER_HMAC_DEMO_ADDR", "127.0.0.1:0")
            .stdout(Stdio::piped())
            .spawn()
            .expect("start demo-server"),
    );
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    let mut text = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let last = line.contains("/webhooks/slack") && line.trim_start().starts_with("curl");
        text.push(line);
        if last {
            break;
        }
    }
    // Keep draining its output so that it never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    for route in [
        "/token/whoami",
        "/webhooks/github",
        "/webhooks/stripe",
        "/webhooks/slack",
    ] {
        let listed = |l: &String| {
            let l = l.trim_start();
            (l.starts_with("POST ") || l.starts_with("GET ")) && l.contains(route)
        };
        assert!(text.iter().any(listed), "{route} is not listed: {text:#?}");
    }
    let shell: Vec<&str> = text
        .iter()
        .map(|l| l.trim_start())
        .filter(|l| {
            ["export ", "ts=", "body=", "d=", "curl "]
                .iter()
                .any(|p| l.starts_with(p))
        })
        .collect();
    assert_eq!(shell.len(), 11, "{text:#?}");
    // The defaults it runs with, as the binary wires them (no setting given).
    let (failures, seconds) = demo_server::DEMO_THROTTLE;
    let throttle = format!("failure throttling: {failures} failed authentications per {seconds} s");
    assert!(
        text.iter().any(|l| l.contains(&throttle)),
        "{throttle:?} is not stated: {text:#?}"
    );
    // The shell lines stamp their requests with the machine's clock, and `curl --aws-sigv4`
    // cannot be given another time (curl 7.88 sends a given X-Amz-Date twice): a request stamped
    // with the second the demo's replay store started in would be refused once
    // (`stale_timestamp`, its horizon). They run once the demo accepts a request stamped with
    // the current second — an event waited for (a probe every 20 ms), not a sleep.
    let addr: SocketAddr = text
        .iter()
        .find_map(|l| l.strip_prefix("tower-hmac demo server listening on http://"))
        .unwrap_or_else(|| panic!("it says where it listens: {text:#?}"))
        .parse()
        .unwrap();
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (status, answer) = whoami_this_second(addr);
        if status == 200 {
            break;
        }
        assert!(
            status == 401 && answer.contains("stale_timestamp"),
            "{answer}"
        );
        assert!(
            Instant::now() < deadline,
            "a request of this second still refused: {answer}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let script = format!(
        "set -eu\ncurl() {{ command curl -s -o /dev/null -w '%{{http_code}}\\n' \"$@\"; }}\n{}\n",
        shell.join("\n")
    );
    let out = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .output()
        .expect("sh, openssl and curl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let statuses = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        statuses.lines().collect::<Vec<_>>(),
        ["200"; 6],
        "{script}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
