//! What the log-capturing tests share (each runs alone in its own binary: tracing caches
//! per-callsite interest globally).

#![allow(clippy::unwrap_used, dead_code)] // test helpers

use std::sync::{Arc, Mutex};

/// A `Write` into a shared buffer: what a captured subscriber printed.
#[derive(Clone, Default)]
pub(crate) struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// Everything written so far.
    pub(crate) fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A subscriber for this thread (events up to `level`, no colours) that writes into the
/// returned buffer until the guard is dropped.
pub(crate) fn capture(level: tracing::Level) -> (Captured, tracing::subscriber::DefaultGuard) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    (captured, tracing::subscriber::set_default(subscriber))
}

/// A `GET url` with an empty body, signed with protocol v1 by `key_id` at `timestamp`.
pub(crate) fn signed_get(
    url: &str,
    key_id: &str,
    key: &tower_hmac::SecretKey,
    timestamp: u64,
) -> http::Request<http_body_util::Full<bytes::Bytes>> {
    use tower_hmac::protocol::{SignParams, Signer, body_sha256, generate_nonce};
    let mut request = http::Request::get(url)
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    let (method, uri) = (request.method().clone(), request.uri().clone());
    Signer::new(key_id, key.clone())
        .unwrap()
        .authorize(
            &method,
            &uri,
            request.headers_mut(),
            &body_sha256(b""),
            &SignParams::new(timestamp, &generate_nonce().unwrap()),
        )
        .unwrap();
    request
}
