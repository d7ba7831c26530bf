//! The single writer: every check record goes through here, and records
//! that arrive together are committed together (group commit: one fsync
//! for many checks, while each record stays atomic).
//!
//! A check hands its record over and is done: it does not wait for the
//! commit. The writer reports each batch back to the daemon loop in one
//! message ([`Written`]), and only then does the loop move the watch to its
//! new state and schedule it again. So a check costs no task and no wake-up
//! of its own between its response and its commit.

use super::{Outcome, next_state};
use crate::config::Retention;
use crate::model::now_millis;
use crate::store::{CheckRecord, Committed, Store, WatchState};
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

/// Bytes of records waiting for the writer; past this, checks wait
/// (back-pressure). A record's weight is mostly its compressed blobs, so
/// this bounds the memory of a pass where every page is new, while the
/// small records of unchanged pages can queue by the hundred: the writer
/// then commits them in large groups, and the checks do not stall while
/// it syncs.
const QUEUE_BYTES: usize = 1 << 20;
/// Records waiting for the writer, however small.
const QUEUE: usize = 2048;
/// Most records in one transaction. A commit writes every page its rows
/// touched, and rows keyed by hash touch index pages anywhere: fewer,
/// larger commits write each such page fewer times (512 against 256:
/// pass 2a of the benchmark 9 % faster, 4 MB more at its peak).
const BATCH: usize = 512;
/// What a record weighs besides its blobs (its fields, URL, events).
const RECORD_BYTES: usize = 512;

/// A record and what the loop needs back once it is written.
pub(super) struct Job {
    record: CheckRecord,
    ticket: Ticket,
    /// Its share of [`QUEUE_BYTES`], given back when the job is dropped.
    room: OwnedSemaphorePermit,
}

/// Where checks hand their records to the writer.
#[derive(Clone)]
pub(super) struct Queue {
    tx: mpsc::Sender<Job>,
    room: Arc<Semaphore>,
}

/// What the loop needs, besides the commit, to finish one check.
pub(super) struct Ticket {
    /// The watch's slot in the loop.
    pub(super) slot: usize,
    outcome: crate::model::CheckOutcome,
    duration: std::time::Duration,
    bytes: u64,
    events: Vec<crate::model::EventKind>,
    has_version: bool,
    update: crate::store::StateUpdate,
    text_hash: Option<[u8; 32]>,
    retention: Retention,
    /// Page watches the check created by following a listing.
    followed: Vec<WatchState>,
}

/// A record's fate: committed (with its version's id), or why not.
pub(super) struct Written {
    pub(super) ticket: Ticket,
    result: Result<Committed, String>,
}

/// Starts the writer. Returns where to send records, where the committed
/// batches come back, and the writer's task (it ends when every sender is
/// dropped and the queue is written).
pub(super) fn spawn<S: Store>(
    store: Arc<S>,
) -> (
    Queue,
    mpsc::UnboundedReceiver<Vec<Written>>,
    tokio::task::JoinHandle<()>,
) {
    let (tx, rx) = mpsc::channel(QUEUE);
    // Unbounded, yet never long: at most QUEUE + BATCH + the checks in flight.
    let (done_tx, done_rx) = mpsc::unbounded_channel();
    let queue = Queue {
        tx,
        room: Arc::new(Semaphore::new(QUEUE_BYTES)),
    };
    (queue, done_rx, tokio::spawn(run(store, rx, done_tx)))
}

/// What a record weighs in the writer's queue, in bytes.
fn weight(record: &CheckRecord) -> u32 {
    let blobs = record
        .version
        .as_ref()
        .map_or(0, |v| v.body.data.len() + v.text.data.len());
    // At most the whole queue: a record larger than that waits for an empty one.
    u32::try_from(RECORD_BYTES.saturating_add(blobs).min(QUEUE_BYTES)).unwrap_or(u32::MAX)
}

async fn run<S: Store>(
    store: Arc<S>,
    mut rx: mpsc::Receiver<Job>,
    done: mpsc::UnboundedSender<Vec<Written>>,
) {
    let mut jobs: Vec<Job> = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut jobs, BATCH).await > 0 {
        // The jobs' room is given back once the batch is written and dropped.
        let mut room = Vec::with_capacity(jobs.len());
        let (records, tickets): (Vec<CheckRecord>, Vec<Ticket>) = jobs
            .drain(..)
            .map(|j| {
                room.push(j.room);
                (j.record, j.ticket)
            })
            .unzip();
        let mut results: Vec<Result<Committed, String>> = match store.commit(&records).await {
            Ok(done) => done.into_iter().map(Ok).collect(),
            Err(e) if records.len() > 1 => {
                // One bad record must not sink its neighbours: retry one by one.
                tracing::warn!(
                    batch = records.len(),
                    "group commit failed ({e}); retrying records one by one"
                );
                let mut results = Vec::with_capacity(records.len());
                for r in &records {
                    results.push(
                        store
                            .commit(std::slice::from_ref(r))
                            .await
                            .map_err(|e| e.to_string())
                            .and_then(|mut v| {
                                v.pop().ok_or_else(|| "nothing committed".to_string())
                            }),
                    );
                }
                results
            }
            Err(e) => vec![Err(e.to_string())],
        };
        // Every ticket goes back, whatever the store answered: the loop
        // waits for each one (a store that answered short loses none).
        results.resize_with(tickets.len(), || Err("nothing committed".to_string()));
        // Retention runs after the commit that added a version, never in it:
        // a failure there loses nothing and is logged.
        for ((r, t), res) in records.iter().zip(&tickets).zip(&results) {
            if res.is_ok()
                && t.has_version
                && t.retention != Retention::default()
                && let Err(e) = store
                    .apply_retention(r.watch_id, t.retention, now_millis())
                    .await
            {
                tracing::warn!(watch_id = r.watch_id, "retention failed: {e}");
            }
        }
        drop(records);
        drop(room);
        let batch = tickets
            .into_iter()
            .zip(results)
            .map(|(ticket, result)| Written { ticket, result })
            .collect();
        // The loop is gone only when the daemon is: nothing left to tell.
        let _ = done.send(batch);
    }
}

/// Hands a record to the writer, waiting only while its queue is full.
/// `Err` gives the ticket back when the writer has stopped.
pub(super) async fn submit(
    queue: &Queue,
    slot: usize,
    record: CheckRecord,
    retention: Retention,
    followed: Vec<WatchState>,
) -> Result<(), Ticket> {
    let ticket = Ticket {
        slot,
        outcome: record.outcome,
        duration: std::time::Duration::from_millis(u64::try_from(record.duration_ms).unwrap_or(0)),
        bytes: record.bytes,
        events: record.events.iter().map(|e| e.kind).collect(),
        has_version: record.version.is_some(),
        update: record.state.clone(),
        text_hash: record.version.as_ref().map(|v| v.text.hash),
        retention,
        followed,
    };
    // The semaphore is never closed; a closed one would mean no room at all.
    let Ok(room) = queue.room.clone().acquire_many_owned(weight(&record)).await else {
        return Err(ticket);
    };
    queue
        .tx
        .send(Job {
            record,
            ticket,
            room,
        })
        .await
        .map_err(|mpsc::error::SendError(job)| job.ticket)
}

impl Written {
    /// A record the writer never took (it had stopped).
    pub(super) fn unwritten(ticket: Ticket) -> Written {
        Written {
            ticket,
            result: Err("the writer stopped".to_string()),
        }
    }

    /// The watch's new state and the check's outcome, from its old state.
    pub(super) fn finish(self, old: &WatchState) -> (WatchState, Outcome) {
        let t = self.ticket;
        match self.result {
            Ok(c) => (
                next_state(old, t.outcome, &t.update, t.text_hash, &c),
                Outcome {
                    outcome: t.outcome,
                    duration: t.duration,
                    bytes: t.bytes,
                    new_version: t.has_version,
                    events: t.events,
                    written: true,
                    followed: t.followed,
                },
            ),
            Err(e) => {
                tracing::error!(watch = %old.name, "could not write the check: {e}");
                let mut s = old.clone();
                s.next_due_at = Some(now_millis() + 60_000);
                (
                    s,
                    Outcome {
                        outcome: t.outcome,
                        duration: t.duration,
                        bytes: t.bytes,
                        new_version: false,
                        events: Vec::new(),
                        written: false,
                        // Created before the record was lost: they are
                        // watches now, and are checked like any other.
                        followed: t.followed,
                    },
                )
            }
        }
    }
}
