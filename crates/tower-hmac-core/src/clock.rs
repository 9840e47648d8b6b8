//! The clock, passed in so that tests can set it.

use std::time::{SystemTime, UNIX_EPOCH};

#[cfg(feature = "test-util")]
pub use offset::{ManualClock, OffsetClock};

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

    /// A clock a test sets and moves by hand, shared by its clones (feature `test-util`): time
    /// passes only when the test says, so nothing sleeps.
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use tower_hmac_core::{Clock, ManualClock};
    /// let clock = ManualClock::at_unix(1_700_000_000);
    /// clock.advance(Duration::from_secs(60));
    /// assert_eq!(clock.now(), UNIX_EPOCH + Duration::from_secs(1_700_000_060));
    /// ```
    #[derive(Clone, Debug)]
    pub struct ManualClock {
        millis: std::sync::Arc<std::sync::atomic::AtomicU64>,
    }

    impl ManualClock {
        /// A clock standing at `secs` Unix seconds.
        pub fn at_unix(secs: u64) -> Self {
            Self {
                millis: std::sync::Arc::new(secs.saturating_mul(1000).into()),
            }
        }

        /// Moves it forward by `by` (millisecond precision).
        pub fn advance(&self, by: Duration) {
            let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
            self.millis
                .fetch_add(ms, std::sync::atomic::Ordering::SeqCst);
        }

        /// Sets it to `secs` Unix seconds.
        pub fn set_unix(&self, secs: u64) {
            self.millis.store(
                secs.saturating_mul(1000),
                std::sync::atomic::Ordering::SeqCst,
            );
        }

        /// Its time, Unix seconds.
        pub fn unix(&self) -> u64 {
            self.millis.load(std::sync::atomic::Ordering::SeqCst) / 1000
        }
    }

    impl Clock for ManualClock {
        fn now(&self) -> SystemTime {
            UNIX_EPOCH
                + Duration::from_millis(self.millis.load(std::sync::atomic::Ordering::SeqCst))
        }
    }
}
