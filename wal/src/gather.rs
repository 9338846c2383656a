//! Adaptive group-commit gathering: decides, from measured throughput, whether the writer
//! should wait briefly for appenders that recent groups suggest are on their way.
//!
//! Waiting merges cohorts of appenders into one fdatasync when they come back quickly (async
//! tasks resumed in a batch by one runtime wake-up), but idles the disk when they trickle back
//! (many blocking threads on few cores). Which one holds depends on the caller, so the policy
//! measures: it runs epochs of `EPOCH_GROUPS` groups with gathering on or off, keeps a smoothed
//! records-per-second figure for each, uses the better one, and tries the other every
//! `EXPLORE_EVERY` epochs so a change of workload is noticed.

use std::time::{Duration, Instant};

/// Groups per measurement epoch.
const EPOCH_GROUPS: u32 = 64;
/// One epoch in this many runs the policy currently judged worse.
const EXPLORE_EVERY: u64 = 8;
/// Weight of the newest epoch in the smoothed rates.
const SMOOTHING: f64 = 0.3;

#[derive(Debug)]
pub(crate) struct GatherPolicy {
    gathering: bool,
    /// Smoothed records per second with gathering off (`[0]`) and on (`[1]`); `None` until
    /// measured.
    rate: [Option<f64>; 2],
    epoch_start: Instant,
    epoch_groups: u32,
    epoch_records: u64,
    epochs: u64,
}

impl GatherPolicy {
    pub(crate) fn new(now: Instant) -> Self {
        GatherPolicy {
            gathering: true,
            rate: [None, None],
            epoch_start: now,
            epoch_groups: 0,
            epoch_records: 0,
            epochs: 0,
        }
    }

    /// Whether the next group should gather.
    pub(crate) fn gathering(&self) -> bool {
        self.gathering
    }

    /// Records that a group of `records` was taken at `now`.
    pub(crate) fn on_group(&mut self, records: usize, now: Instant) {
        self.epoch_groups += 1;
        self.epoch_records += records as u64;
        if self.epoch_groups < EPOCH_GROUPS {
            return;
        }
        let secs = now
            .saturating_duration_since(self.epoch_start)
            .max(Duration::from_micros(1))
            .as_secs_f64();
        let measured = self.epoch_records as f64 / secs;
        let slot = &mut self.rate[usize::from(self.gathering)];
        *slot = Some(match *slot {
            None => measured,
            Some(old) => old * (1.0 - SMOOTHING) + measured * SMOOTHING,
        });
        self.epochs += 1;
        self.gathering = match self.rate {
            [_, None] => true,
            [None, _] => false,
            [Some(off), Some(on)] => {
                let better = on > off;
                if self.epochs % EXPLORE_EVERY == 0 {
                    !better
                } else {
                    better
                }
            }
        };
        self.epoch_start = now;
        self.epoch_groups = 0;
        self.epoch_records = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drives the policy with a synthetic workload where gathering yields `on` records per
    /// millisecond and not gathering `off`, and returns the share of epochs spent gathering.
    fn share_gathering(on: u64, off: u64) -> f64 {
        let mut now = Instant::now();
        let mut p = GatherPolicy::new(now);
        let (mut on_epochs, total) = (0, 400);
        for _ in 0..total {
            let gathering = p.gathering();
            on_epochs += u32::from(gathering);
            let per_ms = if gathering { on } else { off };
            for _ in 0..EPOCH_GROUPS {
                now += Duration::from_millis(1);
                p.on_group(per_ms as usize, now);
            }
        }
        f64::from(on_epochs) / f64::from(total)
    }

    #[test]
    fn prefers_gathering_when_it_pays() {
        let share = share_gathering(220, 190);
        assert!(share > 0.8 && share < 0.95, "gathering share {share}");
    }

    #[test]
    fn prefers_plain_group_commit_when_gathering_idles_the_disk() {
        let share = share_gathering(150, 190);
        assert!(share > 0.05 && share < 0.2, "gathering share {share}");
    }
}
