//! Time as a dependency: wall-clock milliseconds and a monotonic reading, real or manual.

use std::fmt::Debug;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A source of time. Code that depends on time takes a `dyn Clock` so tests never sleep.
pub trait Clock: Send + Sync + Debug {
    /// Milliseconds since the Unix epoch (wall clock; may jump).
    fn unix_millis(&self) -> i64;
    /// Time since an arbitrary fixed origin; never goes backwards.
    fn monotonic(&self) -> Duration;
}

/// The operating system's clocks.
#[derive(Debug)]
pub struct SystemClock {
    origin: Instant,
}

impl SystemClock {
    /// A system clock whose monotonic origin is now.
    pub fn new() -> Self {
        SystemClock {
            origin: Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn unix_millis(&self) -> i64 {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
            // A clock set before 1970: report negative milliseconds rather than fail.
            Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
        }
    }

    fn monotonic(&self) -> Duration {
        self.origin.elapsed()
    }
}

/// A clock that moves only when told to.
#[derive(Debug, Default)]
pub struct ManualClock {
    unix_millis: AtomicI64,
    monotonic_nanos: AtomicU64,
}

impl ManualClock {
    /// A manual clock reading `unix_millis` on the wall clock and zero on the monotonic one.
    pub fn new(unix_millis: i64) -> Self {
        ManualClock {
            unix_millis: AtomicI64::new(unix_millis),
            monotonic_nanos: AtomicU64::new(0),
        }
    }

    /// Moves both clocks forward by `by`.
    pub fn advance(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.monotonic_nanos.fetch_add(nanos, Ordering::SeqCst);
        let millis = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.unix_millis.fetch_add(millis, Ordering::SeqCst);
    }

    /// Sets the wall clock (the monotonic clock is unaffected, as with a real clock step).
    pub fn set_unix_millis(&self, millis: i64) {
        self.unix_millis.store(millis, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn unix_millis(&self) -> i64 {
        self.unix_millis.load(Ordering::SeqCst)
    }

    fn monotonic(&self) -> Duration {
        Duration::from_nanos(self.monotonic_nanos.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(1_000);
        assert_eq!(clock.unix_millis(), 1_000);
        assert_eq!(clock.monotonic(), Duration::ZERO);
        clock.advance(Duration::from_millis(250));
        assert_eq!(clock.unix_millis(), 1_250);
        assert_eq!(clock.monotonic(), Duration::from_millis(250));
        clock.set_unix_millis(10);
        assert_eq!(clock.unix_millis(), 10);
        assert_eq!(clock.monotonic(), Duration::from_millis(250));
    }

    #[test]
    fn system_clock_is_monotonic_and_near_now() {
        let clock = SystemClock::new();
        let a = clock.monotonic();
        let b = clock.monotonic();
        assert!(b >= a);
        // 2020-01-01 in ms: any sane machine is past it.
        assert!(clock.unix_millis() > 1_577_836_800_000);
    }
}
