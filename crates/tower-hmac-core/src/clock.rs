//! The clock, passed in so that tests can set it.

use std::time::{SystemTime, UNIX_EPOCH};

#[cfg(feature = "test-util")]
pub use offset::OffsetClock;

/// A source of the current time.
///
/// Implemented for [`SystemClock`] and for any `Fn() -> SystemTime`, so a test can pass a closure.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> SystemTime;

    /// The current Unix time in whole seconds (0 before 1970).
    fn unix_seconds(&self) -> u64 {
        unix_seconds(self.now())
    }
}

/// The operating system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

impl<F> Clock for F
where
    F: Fn() -> SystemTime + Send + Sync + 'static,
{
    fn now(&self) -> SystemTime {
        self()
    }
}

/// Unix seconds of a `SystemTime` (0 before 1970).
pub fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(feature = "test-util")]
mod offset {
    use std::fmt;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use super::Clock;

    /// A clock that runs a fixed offset ahead of (or behind) the system clock: for tests of clock skew
    /// (feature `test-util`).
    #[derive(Clone, Copy)]
    pub struct OffsetClock {
        offset_secs: i64,
    }

    impl OffsetClock {
        /// The system clock moved by `offset_secs` (negative: behind).
        pub fn new(offset_secs: i64) -> Self {
            Self { offset_secs }
        }
    }

    impl Clock for OffsetClock {
        fn now(&self) -> SystemTime {
            let now = SystemTime::now();
            let delta = Duration::from_secs(self.offset_secs.unsigned_abs());
            if self.offset_secs >= 0 {
                now.checked_add(delta).unwrap_or(now)
            } else {
                now.checked_sub(delta).unwrap_or(UNIX_EPOCH)
            }
        }
    }

    impl fmt::Debug for OffsetClock {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "OffsetClock({:+}s)", self.offset_secs)
        }
    }
}
