//! The demo's startup text is a working manual: its shell lines (`curl --aws-sigv4`, Kong's
//! `hmac-auth`, the token, the three webhook deliveries), run as printed with `sh`, `openssl` and
//! `curl`, are each accepted.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

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
    // Past the second the demo started in (its replay store's horizon): the token is per second.
    std::thread::sleep(std::time::Duration::from_millis(1100));
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
