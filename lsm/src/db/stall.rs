//! Write stalls: writers slow down gradually before the tree falls too far behind, and stop
//! (in `rotate`) only at the hard limits.
//!
//! Pressure is recomputed whenever a flush or compaction changes the tree: the L0 table count
//! of the fullest keyspace and the immutable memtables waiting for flush. From
//! `l0_slowdown_writes` L0 tables (or with all but one immutable slot taken) every write is
//! paced by one shared limiter at `delayed_write_rate` bytes/s, scaled down linearly as L0
//! approaches `l0_stop_writes` (RocksDB's delayed writes). A writer never waits longer than
//! its own bytes at the slowest rate, and never longer than `MAX_WRITE_DELAY`: being slowed is
//! never being blocked, and one huge batch (a bulk load's transaction: its delay would be
//! minutes at the slowest rate, and would push back every writer after it) is charged as if it
//! were at most that long.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::{lock, Inner};

/// The slowest pace is this fraction of `delayed_write_rate`.
const MIN_RATE_FRACTION: f64 = 1.0 / 16.0;
/// The most one write is delayed (and delays the writers after it).
pub(crate) const MAX_WRITE_DELAY: Duration = Duration::from_secs(1);
/// Delays shorter than this are banked rather than slept (sleep granularity).
const MIN_SLEEP: Duration = Duration::from_micros(100);

impl Inner {
    /// Recomputes write pressure; called after flushes and compaction installs.
    pub(crate) fn update_pressure(&self) {
        let l0 = self.max_l0();
        let imms = lock(&self.flush_queue).len();
        self.pressure
            .store((l0 as u64) << 32 | imms as u64, Ordering::Relaxed);
    }

    /// The fraction of `delayed_write_rate` writers may use now (`None`: no slowdown).
    fn write_rate_fraction(&self) -> Option<f64> {
        let p = self.pressure.load(Ordering::Relaxed);
        let (l0, imms) = ((p >> 32) as usize, (p & 0xffff_ffff) as usize);
        let opts = &self.opts;
        let imm_pressure = opts.max_immutable >= 3 && imms + 1 >= opts.max_immutable;
        if l0 < opts.l0_slowdown_writes && !imm_pressure {
            return None;
        }
        let span = opts
            .l0_stop_writes
            .saturating_sub(opts.l0_slowdown_writes)
            .max(1);
        let over = l0.saturating_sub(opts.l0_slowdown_writes) as f64 / span as f64;
        Some((1.0 - over).clamp(MIN_RATE_FRACTION, 1.0))
    }

    /// Paces a writer of `bytes` while the tree is behind.
    pub(crate) fn throttle(&self, bytes: usize) {
        let Some(fraction) = self.write_rate_fraction() else {
            return;
        };
        let rate = (self.opts.delayed_write_rate as f64 * fraction).max(1.0);
        let secs = bytes.max(1) as f64 / rate;
        let cost = Duration::from_secs_f64(secs.min(MAX_WRITE_DELAY.as_secs_f64()));
        let wake = {
            let mut next = lock(&self.throttle_next);
            let now = Instant::now();
            let slot = (*next).max(now);
            *next = slot + cost;
            slot
        };
        self.stats.delayed_writes.fetch_add(1, Ordering::Relaxed);
        let wait = wake.saturating_duration_since(Instant::now());
        if wait >= MIN_SLEEP {
            self.stats
                .delay_micros
                .fetch_add(wait.as_micros() as u64, Ordering::Relaxed);
            std::thread::sleep(wait);
        }
    }
}
