//! The server's backends: the sessions a protocol layer named by the pid it gave their
//! client (PostgreSQL's BackendKeyData), so that SQL can reach another session:
//! `pg_cancel_backend` sets its cancel flag, `pg_terminate_backend` its termination and wakes
//! its connection (which may be idle, waiting for the client) so that it closes; and
//! `pg_stat_activity` shows what each does ([`Activity`], which its session reports as each
//! client message starts and ends).
//!
//! Invariant: a pid is registered from [`crate::Session::set_backend`] until that session
//! drops, and an entry is removed only by the session that registered it (a pid reused by a
//! later session is never unregistered by an earlier one).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::cancel::Cancel;

/// The most bytes of a query's text pg_stat_activity keeps (PostgreSQL's default
/// track_activity_query_size): a 10 MB multi-row INSERT is not copied per message.
pub const QUERY_TEXT_LIMIT: usize = 1024;

/// `sql` as pg_stat_activity keeps it: at most [`QUERY_TEXT_LIMIT`] bytes, cut on a
/// character boundary.
pub fn query_text(sql: &str) -> Arc<str> {
    let mut end = sql.len().min(QUERY_TEXT_LIMIT);
    while !sql.is_char_boundary(end) {
        end -= 1;
    }
    Arc::from(sql.get(..end).unwrap_or_default())
}

/// Wakes a terminated session's connection (the protocol layer's part).
pub type Wake = Arc<dyn Fn() + Send + Sync>;

struct Backend {
    cancel: Arc<Cancel>,
    wake: Wake,
    activity: Arc<Activity>,
}

/// What pg_stat_activity shows of a session: fixed at its start, and what it reports.
#[derive(Debug)]
pub struct Activity {
    pub pid: i32,
    pub user: String,
    pub database: String,
    /// When the session started (microseconds since 2000-01-01 UTC).
    pub backend_start: i64,
    reported: Mutex<Reported>,
}

/// What a session reports as client messages start and end.
#[derive(Debug, Clone, Default)]
pub struct Reported {
    /// The last query's text (the running one's while it runs).
    pub query: Arc<str>,
    pub query_start: Option<i64>,
    /// When the open transaction block began, if one is open.
    pub xact_start: Option<i64>,
    /// The open block failed (`idle in transaction (aborted)`).
    pub failed: bool,
    pub application_name: String,
    /// When the state last changed.
    pub state_change: i64,
}

impl Activity {
    pub fn new(pid: i32, user: &str, database: &str, now: i64) -> Activity {
        Activity {
            pid,
            user: user.to_string(),
            database: database.to_string(),
            backend_start: now,
            reported: Mutex::new(Reported {
                state_change: now,
                ..Reported::default()
            }),
        }
    }

    /// Changes what the session reports.
    pub fn report(&self, f: impl FnOnce(&mut Reported)) {
        f(&mut self
            .reported
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner));
    }

    fn reported(&self) -> Reported {
        self.reported
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// One row of pg_stat_activity.
#[derive(Debug, Clone)]
pub struct ActivityRow {
    pub pid: i32,
    pub user: String,
    pub database: String,
    pub backend_start: i64,
    /// `active`, `idle`, `idle in transaction` or `idle in transaction (aborted)`.
    pub state: &'static str,
    pub reported: Reported,
}

/// The registry of backends by pid.
#[derive(Default)]
pub struct Backends {
    map: Mutex<HashMap<i32, Backend>>,
}

impl Backends {
    fn lock(&self) -> MutexGuard<'_, HashMap<i32, Backend>> {
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn register(&self, cancel: Arc<Cancel>, wake: Wake, activity: Arc<Activity>) {
        self.lock().insert(
            activity.pid,
            Backend {
                cancel,
                wake,
                activity,
            },
        );
    }

    /// Removes `pid` if `cancel` (its session's flag) registered it.
    pub(crate) fn unregister(&self, pid: i32, cancel: &Arc<Cancel>) {
        let mut map = self.lock();
        if map
            .get(&pid)
            .is_some_and(|b| Arc::ptr_eq(&b.cancel, cancel))
        {
            map.remove(&pid);
        }
    }

    /// Whether the session `pid` is gone or, terminated, runs no statement: it runs none
    /// again, and its connection closes as soon as its thread is free (which may be the
    /// caller's, so waiting for more could wait for itself).
    pub fn stopped(&self, pid: i32) -> bool {
        self.lock()
            .get(&pid)
            .is_none_or(|b| b.cancel.terminated() && !b.cancel.is_running())
    }

    /// Cancels the statement `pid` runs, if any; false if no session has `pid`.
    pub fn cancel(&self, pid: i32) -> bool {
        match self.lock().get(&pid) {
            Some(b) => {
                b.cancel.cancel();
                true
            }
            None => false,
        }
    }

    /// Terminates the session `pid` (its statement stops, its connection closes); false if
    /// no session has `pid`.
    pub fn terminate(&self, pid: i32) -> bool {
        let wake = match self.lock().get(&pid) {
            Some(b) => {
                b.cancel.terminate();
                Arc::clone(&b.wake)
            }
            None => return false,
        };
        wake();
        true
    }

    /// How many sessions on `database` were terminated.
    pub fn terminated_in(&self, database: &str) -> usize {
        self.lock()
            .values()
            .filter(|b| b.cancel.terminated() && b.activity.database == database)
            .count()
    }

    /// What every session does now, by pid (pg_stat_activity).
    pub fn activity(&self) -> Vec<ActivityRow> {
        let mut rows: Vec<ActivityRow> = self
            .lock()
            .values()
            .map(|b| {
                let reported = b.activity.reported();
                let state = match (b.cancel.is_running(), &reported) {
                    (true, _) => "active",
                    (false, r) if r.failed => "idle in transaction (aborted)",
                    (false, r) if r.xact_start.is_some() => "idle in transaction",
                    (false, _) => "idle",
                };
                ActivityRow {
                    pid: b.activity.pid,
                    user: b.activity.user.clone(),
                    database: b.activity.database.clone(),
                    backend_start: b.activity.backend_start,
                    state,
                    reported,
                }
            })
            .collect();
        rows.sort_unstable_by_key(|r| r.pid);
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn query_texts_are_cut_on_a_character_boundary() {
        assert_eq!(&*query_text("SELECT 1"), "SELECT 1");
        let long = format!("SELECT '{}'", "é".repeat(QUERY_TEXT_LIMIT));
        let cut = query_text(&long);
        assert!(cut.len() <= QUERY_TEXT_LIMIT && cut.len() >= QUERY_TEXT_LIMIT - 1);
        assert!(long.starts_with(&*cut));
    }

    /// The registered pids, in order.
    fn pids(backends: &Backends) -> Vec<i32> {
        backends.activity().iter().map(|r| r.pid).collect()
    }

    fn activity(pid: i32) -> Arc<Activity> {
        Arc::new(Activity::new(pid, "postgres", "postgres", 1))
    }

    #[test]
    fn states_follow_the_statement_and_the_block() {
        let backends = Backends::default();
        let c = Cancel::new();
        let a = activity(3);
        backends.register(Arc::clone(&c), Arc::new(|| {}), Arc::clone(&a));
        let state = || backends.activity()[0].state;
        assert_eq!(state(), "idle");
        let running = c.running();
        a.report(|r| r.query = "BEGIN".into());
        assert_eq!(state(), "active");
        drop(running);
        a.report(|r| r.xact_start = Some(5));
        assert_eq!(state(), "idle in transaction");
        a.report(|r| r.failed = true);
        assert_eq!(state(), "idle in transaction (aborted)");
        let row = &backends.activity()[0];
        assert_eq!((row.pid, &*row.reported.query), (3, "BEGIN"));
    }

    #[test]
    fn signals_reach_the_registered_session_only() {
        let backends = Backends::default();
        let woken = Arc::new(AtomicUsize::new(0));
        let w = Arc::clone(&woken);
        let wake: Wake = Arc::new(move || {
            w.fetch_add(1, Ordering::SeqCst);
        });
        let (a, b) = (Cancel::new(), Cancel::new());
        backends.register(Arc::clone(&a), Arc::clone(&wake), activity(7));
        backends.register(Arc::clone(&b), wake, activity(8));
        let _running = a.running();
        assert!(backends.cancel(7));
        assert!(a.canceled() && !b.canceled());
        assert!(!backends.cancel(9) && !backends.terminate(9));
        assert!(!backends.stopped(8));
        assert!(backends.terminate(8));
        assert!(b.terminated() && !a.terminated());
        // Terminated and idle: stopped; a statement still running: not yet.
        assert!(backends.stopped(8) && backends.stopped(9));
        let running = b.running();
        assert!(!backends.stopped(8));
        drop(running);
        assert_eq!(woken.load(Ordering::SeqCst), 1);
        assert_eq!(pids(&backends), vec![7, 8]);
        // A pid taken over by another session is not removed by the first one.
        let c = Cancel::new();
        backends.register(Arc::clone(&c), Arc::new(|| {}), activity(7));
        backends.unregister(7, &a);
        assert!(pids(&backends).contains(&7));
        backends.unregister(7, &c);
        assert!(!pids(&backends).contains(&7));
    }
}
