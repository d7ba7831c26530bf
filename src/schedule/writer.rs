//! The single writer: every check record goes through here, and records
//! that arrive together are committed together (group commit: one fsync
//! for many checks, while each record stays atomic).

use super::{Outcome, next_state};
use crate::model::now_millis;
use crate::store::{CheckRecord, Committed, Store, WatchState};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Records waiting for the writer; past this, checks wait (back-pressure).
const QUEUE: usize = 64;
/// Most records in one transaction.
const BATCH: usize = 256;

pub(super) struct Job {
    record: CheckRecord,
    done: oneshot::Sender<Result<Committed, String>>,
}

pub(super) fn spawn<S: Store>(store: Arc<S>) -> (mpsc::Sender<Job>, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(QUEUE);
    (tx, tokio::spawn(run(store, rx)))
}

async fn run<S: Store>(store: Arc<S>, mut rx: mpsc::Receiver<Job>) {
    let mut jobs: Vec<Job> = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut jobs, BATCH).await > 0 {
        let (records, senders): (Vec<CheckRecord>, Vec<_>) =
            jobs.drain(..).map(|j| (j.record, j.done)).unzip();
        match store.commit(&records).await {
            Ok(done) => {
                for (s, c) in senders.into_iter().zip(done) {
                    let _ = s.send(Ok(c));
                }
            }
            Err(e) if records.len() > 1 => {
                // One bad record must not sink its neighbours: retry one by one.
                tracing::warn!(
                    batch = records.len(),
                    "group commit failed ({e}); retrying records one by one"
                );
                for (r, s) in records.iter().zip(senders) {
                    let res = store
                        .commit(std::slice::from_ref(r))
                        .await
                        .map_err(|e| e.to_string())
                        .and_then(|mut v| v.pop().ok_or_else(|| "nothing committed".to_string()));
                    let _ = s.send(res);
                }
            }
            Err(e) => {
                for s in senders {
                    let _ = s.send(Err(e.to_string()));
                }
            }
        }
    }
}

/// A record handed to the writer, not yet known to be committed.
pub(super) struct Pending {
    done: Option<oneshot::Receiver<Result<Committed, String>>>,
    outcome: crate::model::CheckOutcome,
    duration: std::time::Duration,
    bytes: u64,
    events: Vec<crate::model::EventKind>,
    has_version: bool,
    update: crate::store::StateUpdate,
    text_hash: Option<[u8; 32]>,
}

/// Queues a record for the writer; waits only while the queue is full.
pub(super) async fn submit(tx: &mpsc::Sender<Job>, record: CheckRecord) -> Pending {
    let (done_tx, done_rx) = oneshot::channel();
    let mut pending = Pending {
        done: Some(done_rx),
        outcome: record.outcome,
        duration: std::time::Duration::from_millis(u64::try_from(record.duration_ms).unwrap_or(0)),
        bytes: record.bytes,
        events: record.events.iter().map(|e| e.kind).collect(),
        has_version: record.version.is_some(),
        update: record.state.clone(),
        text_hash: record.version.as_ref().map(|v| v.text.hash),
    };
    let job = Job {
        record,
        done: done_tx,
    };
    if tx.send(job).await.is_err() {
        pending.done = None; // the writer stopped
    }
    pending
}

impl Pending {
    /// Waits for the commit; returns the watch's new state and the outcome.
    pub(super) async fn wait(self, old: &WatchState) -> (WatchState, Outcome) {
        let result = match self.done {
            Some(rx) => rx
                .await
                .unwrap_or_else(|_| Err("the writer stopped".to_string())),
            None => Err("the writer stopped".to_string()),
        };
        match result {
            Ok(c) => (
                next_state(old, &self.update, self.text_hash, &c),
                Outcome {
                    outcome: self.outcome,
                    duration: self.duration,
                    bytes: self.bytes,
                    new_version: self.has_version,
                    events: self.events,
                    written: true,
                    followed: Vec::new(),
                },
            ),
            Err(e) => {
                tracing::error!("could not write the check: {e}");
                let mut s = old.clone();
                s.next_due_at = Some(now_millis() + 60_000);
                (
                    s,
                    Outcome {
                        outcome: self.outcome,
                        duration: self.duration,
                        bytes: self.bytes,
                        new_version: false,
                        events: Vec::new(),
                        written: false,
                        followed: Vec::new(),
                    },
                )
            }
        }
    }
}
