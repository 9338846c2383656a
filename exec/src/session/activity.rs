//! A session as other sessions see it: the pid its client knows it by, through which
//! `pg_cancel_backend` and `pg_terminate_backend` reach it, and what it reports to
//! `pg_stat_activity` (its query, its block) as each client message starts and ends.
//!
//! Invariant: a session registered under a pid stays registered until it drops (see
//! `crate::backends`); a session the protocol layer never named has the server's process id
//! and does not appear in pg_stat_activity.

use std::sync::Arc;

use super::Session;
use crate::backends::{Activity, Wake};
use crate::types::now_micros;

impl Session {
    /// Names the session by `pid` (the pid its client was given, PostgreSQL's
    /// BackendKeyData) and makes it reachable by `pg_cancel_backend`, `pg_terminate_backend`
    /// and `pg_stat_activity` until it drops; `wake` gets a terminated session's connection
    /// to close even while it waits for its client.
    pub fn set_backend(&mut self, pid: i32, wake: Wake) {
        if let Some(old) = self.activity.take() {
            self.engine.backends.unregister(old.pid, &self.cancel);
        }
        let activity = Arc::new(Activity::new(pid, &self.user, &self.database, now_micros()));
        self.engine
            .backends
            .register(Arc::clone(&self.cancel), wake, Arc::clone(&activity));
        self.activity = Some(activity);
    }

    /// What pg_backend_pid() gives: the pid [`Session::set_backend`] named, else the
    /// server's process id.
    pub fn backend_pid(&self) -> i32 {
        match &self.activity {
            Some(a) => a.pid,
            None => i32::try_from(std::process::id()).unwrap_or(i32::MAX),
        }
    }

    /// Reports that the client's message `query` (its text) starts now.
    pub fn report_query(&self, query: Arc<str>) {
        let Some(a) = &self.activity else { return };
        let now = now_micros();
        let name = self.setting("application_name").unwrap_or_default();
        a.report(|r| {
            r.query = query;
            r.query_start = Some(now);
            // Outside a block the statement is its own transaction.
            r.xact_start.get_or_insert(now);
            r.state_change = now;
            if r.application_name != name {
                r.application_name = name.to_string();
            }
        });
    }

    /// Reports the session idle after a message: in a block (failed or not) or not.
    pub fn report_idle(&self) {
        let Some(a) = &self.activity else { return };
        let xact_start = self.txn.as_ref().map(|_| self.block_now);
        let failed = self.failed;
        let now = now_micros();
        a.report(|r| {
            r.xact_start = xact_start;
            r.failed = failed;
            r.state_change = now;
        });
    }
}
