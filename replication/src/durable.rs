//! How far the state machine's applies are durable, published to the Raft log so that it
//! purges nothing a crash could still make the state machine need.
//!
//! openraft purges the log up to a snapshot: after building one (the build flushes the
//! engine first, so the mark is already there) and, on a follower, as soon as it hands a
//! received snapshot to the state machine to install, before the install has run. A purge
//! that went ahead then, followed by a crash before the install was durable, would leave a
//! node whose log starts past what its engine holds, which openraft refuses to start. So
//! [`crate::LogStore`]'s purge waits here until the state machine holds the purge point
//! durably. openraft queues the install before it issues the purge, and the state machine
//! works through its queue on its own task, so the wait ends: for an install, once the
//! snapshot file is checked and synced and the install's first batch is synced, not when
//! the whole install is done (Raft's core waits meanwhile).
//!
//! Invariants: the mark only rises; it is raised only to a log index a restart brings the
//! state machine back to at least (applies flushed, or an install whose first batch, naming
//! the staged snapshot, is synced: the restart finishes it); once failed (the state
//! machine hit an error, and openraft stops it) every wait fails instead of hanging.

use tokio::sync::watch;

/// The published mark: the last durable log index, or failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    Upto(u64),
    Failed,
}

/// The state machine's side: raises the mark. Clones share it.
#[derive(Debug, Clone)]
pub struct DurableMark {
    tx: watch::Sender<Mark>,
}

/// The log's side: waits for the mark.
#[derive(Debug, Clone)]
pub struct DurableWatch {
    rx: watch::Receiver<Mark>,
}

/// The state machine failed (or is gone) before the mark reached what was waited for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failed;

impl Default for DurableMark {
    fn default() -> Self {
        DurableMark {
            tx: watch::Sender::new(Mark::Upto(0)),
        }
    }
}

impl DurableMark {
    /// Everything applied up to log index `index` is durable (a lower index changes
    /// nothing).
    pub fn raise(&self, index: u64) {
        self.tx.send_if_modified(|mark| match *mark {
            Mark::Upto(i) if i < index => {
                *mark = Mark::Upto(index);
                true
            }
            _ => false,
        });
    }

    /// The state machine failed: waits from here on fail.
    pub fn fail(&self) {
        self.tx.send_replace(Mark::Failed);
    }

    /// A watch for the log store.
    pub fn watch(&self) -> DurableWatch {
        DurableWatch {
            rx: self.tx.subscribe(),
        }
    }

    /// The last durable log index (0 before any, or once failed).
    #[cfg(test)]
    pub fn get(&self) -> u64 {
        match *self.tx.borrow() {
            Mark::Upto(i) => i,
            Mark::Failed => 0,
        }
    }
}

impl DurableWatch {
    /// Returns once everything applied up to log index `index` is durable.
    pub async fn wait_for(&mut self, index: u64) -> Result<(), Failed> {
        let reached = self
            .rx
            .wait_for(|mark| match *mark {
                Mark::Upto(i) => i >= index,
                Mark::Failed => true,
            })
            .await
            .map_err(|_| Failed)?;
        match *reached {
            Mark::Upto(_) => Ok(()),
            Mark::Failed => Err(Failed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
    }

    #[test]
    fn a_wait_returns_once_the_mark_reaches_it_and_the_mark_never_falls() {
        let rt = runtime();
        let mark = DurableMark::default();
        let mut watch = mark.watch();
        rt.block_on(async {
            let waiting = tokio::spawn(async move { watch.wait_for(7).await });
            for _ in 0..10 {
                tokio::task::yield_now().await;
            }
            assert!(!waiting.is_finished());
            mark.raise(6);
            for _ in 0..10 {
                tokio::task::yield_now().await;
            }
            assert!(!waiting.is_finished());
            mark.raise(9);
            assert_eq!(waiting.await.expect("joins"), Ok(()));
            mark.raise(3);
            assert_eq!(mark.get(), 9);
            assert_eq!(mark.watch().wait_for(9).await, Ok(()));
        });
    }

    #[test]
    fn a_failed_or_dropped_state_machine_ends_the_wait_with_an_error() {
        let rt = runtime();
        rt.block_on(async {
            let mark = DurableMark::default();
            let mut watch = mark.watch();
            let waiting = tokio::spawn(async move { watch.wait_for(5).await });
            tokio::task::yield_now().await;
            mark.fail();
            assert_eq!(waiting.await.expect("joins"), Err(Failed));
            mark.raise(10);
            assert_eq!(mark.watch().wait_for(1).await, Err(Failed));

            let mark = DurableMark::default();
            let mut watch = mark.watch();
            drop(mark);
            assert_eq!(watch.wait_for(1).await, Err(Failed));
        });
    }
}
