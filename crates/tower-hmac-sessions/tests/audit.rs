//! A reused refresh token raises one high-risk event on `tower_hmac::sessions`, with the subject
//! and the session, never a token. Alone in its binary (tracing caches callsite interest).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use tower_hmac_core::{ManualClock, SecretKey};
use tower_hmac_sessions::{MemorySessionStore, RefreshError, SessionConfig, Sessions, SigningKeys};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_reused_refresh_token_is_a_high_risk_event_without_tokens() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let sessions = Sessions::new(
        SigningKeys::new("k1", SecretKey::from_bytes(&[3; 32]).unwrap()).unwrap(),
        MemorySessionStore::new(),
        SessionConfig::new("https://auth.example.com", "orders-api"),
    )
    .with_clock(ManualClock::at_unix(1_800_000_000));
    let first = sessions.login("alice", &[]).await.unwrap();
    let second = sessions.refresh(&first.refresh_token).await.unwrap();
    assert!(matches!(
        sessions.refresh(&first.refresh_token).await.unwrap_err(),
        RefreshError::Reused
    ));

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let reused: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("refresh_token_reused"))
        .collect();
    assert_eq!(reused.len(), 1, "{text}");
    assert!(
        reused[0].contains("WARN") && reused[0].contains("risk=\"high\""),
        "{text}"
    );
    assert!(reused[0].contains("subject=\"alice\""), "{text}");
    for token in [
        &first.access_token,
        &first.refresh_token,
        &second.access_token,
        &second.refresh_token,
    ] {
        assert!(!text.contains(token.as_str()), "a token was logged: {text}");
    }
}
