//! Helpers for tests (feature `test-util`).

use http::request::Parts;

/// The head of a request to `uri` with these header lines, in order (a name twice: two lines),
/// for tests of what a scheme finds in a request's head.
///
/// # Panics
///
/// On a URI or header the `http` crate refuses: a test's own mistake.
pub fn request_head(headers: &[(&str, &str)], uri: &str) -> Parts {
    let mut builder = http::Request::builder().uri(uri);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder
        .body(())
        .unwrap_or_else(|e| panic!("a test's request head: {e}"))
        .into_parts()
        .0
}
