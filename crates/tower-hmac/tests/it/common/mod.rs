//! What the tests share: a log capture that sees only its own thread's events, and a signed GET.

#![allow(clippy::unwrap_used, dead_code)] // test helpers

use std::cell::RefCell;
use std::sync::{Arc, Mutex, OnceLock};

use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;

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

thread_local! {
    /// This thread's capture and its level, while a [`CaptureGuard`] lives.
    static CAPTURE: RefCell<Option<(Captured, tracing::Level)>> = const { RefCell::new(None) };
}

/// Writes an event into the capture of the thread that emitted it.
struct ThisThread;

impl std::io::Write for ThisThread {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        CAPTURE.with(|capture| match &mut *capture.borrow_mut() {
            Some((captured, _)) => captured.write(buf),
            None => Ok(buf.len()),
        })
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The binary's one subscriber, set once and never changed: a formatter (no colours) whose filter
/// lets an event through only on a thread that captures, up to that capture's level.
///
/// Not a thread-local default per test (`tracing::subscriber::set_default`): tracing caches each
/// callsite's interest for the whole process, and while exactly one subscriber is registered it
/// asks the default of whichever thread reaches a callsite first — a test without a capture, in
/// parallel, would cache "never" and a capturing test would miss its events. With one global
/// subscriber every thread asks the same one, and its filter (decided per event) answers
/// "sometimes".
fn install() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let layer = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(|| ThisThread)
            // Dynamic: decided per event, never cached per callsite (`filter_fn` would cache).
            .with_filter(tracing_subscriber::filter::dynamic_filter_fn(
                |metadata, _| {
                    CAPTURE.with(|capture| {
                        capture
                            .borrow()
                            .as_ref()
                            .is_some_and(|(_, level)| metadata.level() <= level)
                    })
                },
            ));
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))
            .unwrap();
    });
    // A callsite first reached by another thread in the instant between the subscriber's
    // registration and its becoming the global default cached "never": asked again.
    tracing::callsite::rebuild_interest_cache();
}

/// Captures this thread's events until dropped.
#[must_use = "the capture ends when the guard is dropped"]
pub(crate) struct CaptureGuard(std::marker::PhantomData<*const ()>);

impl Drop for CaptureGuard {
    fn drop(&mut self) {
        CAPTURE.with(|capture| capture.borrow_mut().take());
    }
}

/// Captures the events of this thread (up to `level`, no colours) into the returned buffer until
/// the guard is dropped. Other threads' events — other tests', or a watcher thread's — are not
/// in it.
pub(crate) fn capture(level: tracing::Level) -> (Captured, CaptureGuard) {
    install();
    let captured = Captured::default();
    CAPTURE.with(|capture| {
        let mut capture = capture.borrow_mut();
        assert!(capture.is_none(), "this thread already captures");
        *capture = Some((captured.clone(), level));
    });
    (captured, CaptureGuard(std::marker::PhantomData))
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
