//! Pacing of backup downloads, so that a backup yields to the server's own writes.
//!
//! The admin endpoint sends backup files in slices of [`SLICE`] bytes, each admitted by the
//! one [`Pacer`] all downloads share. While the server is busy writing (its WAL grew by at
//! least [`BUSY_WAL_RATE`] over the last sample of [`SAMPLE`] or more), slices go out at
//! `--backup-busy-rate` bytes a second in all; once no such growth was seen for [`HOLD`], at
//! full speed. An idle server thus copies at disk speed, and a loaded one keeps its write
//! throughput (a copy at full speed takes a core's worth of CPU: sendfile here, receive,
//! crc32c and write in the client), as RocksDB's rate limiter favours foreground I/O.
//!
//! Invariant: the state is advanced only through [`State::admit`], a pure function of the
//! time, the WAL position and the slice, which the tests drive with a made-up clock.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Bytes sent per admission.
pub const SLICE: u64 = 1 << 20;
/// The shortest span the WAL's growth is measured over.
pub const SAMPLE: Duration = Duration::from_millis(100);
/// WAL bytes a second from which the server counts as busy writing.
pub const BUSY_WAL_RATE: u64 = 1 << 20;
/// How long the server counts as busy after the last busy sample.
pub const HOLD: Duration = Duration::from_secs(1);

/// Admits backup slices; shared by every download of one server.
pub struct Pacer {
    /// Bytes a second while busy; `None`: never paced.
    busy_rate: Option<u64>,
    /// The WAL's written position.
    wal_end: Box<dyn Fn() -> u64 + Send + Sync>,
    state: Mutex<State>,
}

impl Pacer {
    /// A pacer holding downloads to `busy_rate` bytes a second (`None`: no limit) while
    /// `wal_end` grows at [`BUSY_WAL_RATE`] or more.
    pub fn new(busy_rate: Option<u64>, wal_end: Box<dyn Fn() -> u64 + Send + Sync>) -> Pacer {
        let state = State::new(Instant::now(), wal_end());
        Pacer {
            busy_rate: busy_rate.filter(|r| *r > 0),
            wal_end,
            state: Mutex::new(state),
        }
    }

    /// Blocks until `bytes` more may be sent.
    pub fn admit(&self, bytes: u64) {
        let Some(rate) = self.busy_rate else { return };
        let wait = self.state.lock().unwrap_or_else(|p| p.into_inner()).admit(
            Instant::now(),
            (self.wal_end)(),
            bytes,
            rate,
        );
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
    }
}

/// The pacer's clockwork.
#[derive(Debug, Clone)]
pub struct State {
    sampled_at: Instant,
    sampled_end: u64,
    /// Busy until then (set by a busy sample).
    busy_until: Option<Instant>,
    /// When the bytes admitted so far at the busy rate will have gone out.
    free_at: Instant,
}

impl State {
    pub fn new(now: Instant, wal_end: u64) -> State {
        State {
            sampled_at: now,
            sampled_end: wal_end,
            busy_until: None,
            free_at: now,
        }
    }

    /// Admits `bytes` at `now` with the WAL ending at `wal_end`: how long the caller waits
    /// before sending them (zero while the server is not busy).
    pub fn admit(&mut self, now: Instant, wal_end: u64, bytes: u64, rate: u64) -> Duration {
        let span = now.saturating_duration_since(self.sampled_at);
        if span >= SAMPLE {
            let grown = wal_end.saturating_sub(self.sampled_end);
            if grown as f64 >= BUSY_WAL_RATE as f64 * span.as_secs_f64() {
                self.busy_until = Some(now + HOLD);
            }
            self.sampled_at = now;
            self.sampled_end = wal_end;
        }
        if self.busy_until.is_none_or(|until| now >= until) {
            self.busy_until = None;
            self.free_at = now;
            return Duration::ZERO;
        }
        let start = self.free_at.max(now);
        self.free_at = start + Duration::from_secs_f64(bytes as f64 / rate.max(1) as f64);
        start - now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: u64 = 1 << 20;

    /// Sends `slices` slices back to back (each after its wait) with the WAL growing at
    /// `wal_rate` bytes a second; returns the time taken.
    fn send(s: &mut State, now: &mut Instant, wal: &mut u64, wal_rate: u64, slices: u32) -> f64 {
        let start = *now;
        for _ in 0..slices {
            let wait = s.admit(*now, *wal, MB, 64 * MB);
            // The slice's own transfer takes 1 ms; the WAL grows meanwhile.
            let step = wait + Duration::from_millis(1);
            *wal += (wal_rate as f64 * step.as_secs_f64()) as u64;
            *now += step;
        }
        (*now - start).as_secs_f64()
    }

    #[test]
    fn an_idle_server_is_not_paced() {
        let mut now = Instant::now();
        let mut wal = 1000;
        let mut s = State::new(now, wal);
        // A trickle of writes (100 KB/s) does not count as busy.
        let took = send(&mut s, &mut now, &mut wal, 100_000, 640);
        assert!(took < 0.7, "640 MB took {took} s");
    }

    #[test]
    fn a_busy_server_gets_the_busy_rate_then_full_speed_after_the_hold() {
        let mut now = Instant::now();
        let mut wal = 0;
        let mut s = State::new(now, wal);
        // Writes at 20 MB/s: full speed until the first sample (100 slices of 1 ms), then
        // 64 MB/s for the other 540.
        let took = send(&mut s, &mut now, &mut wal, 20 * MB, 640);
        let want = 0.1 + 540.0 / 64.0;
        assert!(
            (took - want).abs() < 0.1,
            "640 MB took {took} s, not {want}"
        );
        // Writes stop: paced for at most the hold (plus one sample), then full speed.
        let took = send(&mut s, &mut now, &mut wal, 0, 640);
        assert!(
            took < 1.2 + 0.7,
            "640 MB took {took} s after the writes stopped"
        );
        let (mut quiet_at, mut t) = (now, now);
        for _ in 0..10 {
            let wait = s.admit(t, wal, MB, 64 * MB);
            assert_eq!(wait, Duration::ZERO);
            t += Duration::from_millis(1);
            quiet_at = t;
        }
        assert!(quiet_at > now);
    }

    #[test]
    fn waits_add_up_across_downloads() {
        let now = Instant::now();
        let mut s = State::new(now, 0);
        // A busy sample, then two downloads asking at the same instant queue one behind the
        // other.
        let t = now + SAMPLE;
        let first = s.admit(t, 10 * MB, MB, 10 * MB);
        let second = s.admit(t, 10 * MB, MB, 10 * MB);
        let third = s.admit(t, 10 * MB, MB, 10 * MB);
        assert_eq!(first, Duration::ZERO);
        assert_eq!(second, Duration::from_millis(100));
        assert_eq!(third, Duration::from_millis(200));
    }
}
