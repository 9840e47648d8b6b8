//! Helpers for tests (feature `test-util`).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use http::request::Parts;

use crate::audit::{AuditEvent, AuditHook, AuditKind};

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

/// Every audit event a hook was handed, in order, for tests: give a clone as the hook
/// (`audit_hook(log.clone())`) and read the events back from the original.
#[derive(Clone, Debug, Default)]
pub struct AuditLog(Arc<Mutex<Vec<AuditEvent>>>);

impl AuditLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every event so far.
    pub fn all(&self) -> Vec<AuditEvent> {
        self.events().clone()
    }

    /// The events of `kind` so far.
    pub fn of_kind(&self, kind: AuditKind) -> Vec<AuditEvent> {
        self.events()
            .iter()
            .filter(|e| e.kind == kind)
            .cloned()
            .collect()
    }

    /// How many events so far.
    pub fn len(&self) -> usize {
        self.events().len()
    }

    /// Whether there is none yet.
    pub fn is_empty(&self) -> bool {
        self.events().is_empty()
    }

    fn events(&self) -> MutexGuard<'_, Vec<AuditEvent>> {
        // A test that panicked while holding it left whole events: keep reading them.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl AuditHook for AuditLog {
    fn audit(&self, event: &AuditEvent) {
        self.events().push(event.clone());
    }
}
