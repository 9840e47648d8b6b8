//! When an in-process store's memory begins, on the layer's clock.

use std::sync::OnceLock;
use std::time::Instant;

/// The instant from which a store remembers every nonce it recorded.
///
/// An in-process store starts empty when the process starts, so a request accepted by the
/// previous process is unknown to it. Its horizon is its creation, expressed on the layer's clock:
/// the first call maps the monotonic time since creation onto the `now` the layer passes, so a
/// test with a set clock and the system clock in production agree without configuration.
#[derive(Debug)]
pub(crate) struct Horizon {
    created: Instant,
    millis: OnceLock<u64>,
}

impl Horizon {
    /// The horizon of a store created now.
    pub(crate) fn now() -> Self {
        Self {
            created: Instant::now(),
            millis: OnceLock::new(),
        }
    }

    /// A horizon set explicitly (Unix milliseconds of the layer's clock).
    pub(crate) fn at(millis: u64) -> Self {
        let horizon = Self::now();
        let _ = horizon.millis.set(millis);
        horizon
    }

    /// The horizon in Unix milliseconds, given the layer's `now`.
    pub(crate) fn get(&self, now_millis: u64) -> u64 {
        *self.millis.get_or_init(|| {
            // Rounded up, so that whole milliseconds of two clocks never put it after a request
            // signed right after the store was created.
            let elapsed = u64::try_from(self.created.elapsed().as_millis()).unwrap_or(u64::MAX);
            now_millis.saturating_sub(elapsed.saturating_add(1))
        })
    }
}
