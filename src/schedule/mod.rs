//! The daemon: keeps every watch on its schedule, runs checks side by side
//! within the concurrency limits, funnels their records into one writer,
//! and shuts down gracefully.
//!
//! * Due times are persisted with each check ([`timing`]), so a restart
//!   resumes the schedule; overdue watches run once, spread out.
//! * The loop polls the checks in flight itself, as futures: a fetch, a 304
//!   or an unchanged body costs no task and no thread switch of its own.
//!   A body that must be parsed is processed on a task (both cores
//!   extract). A slow or failing page holds only its own future; a panic
//!   in one is caught around it and the watch is rescheduled with backoff,
//!   so no panic reaches the loop.
//! * A check hands its record to the single [`writer`] and is done; the
//!   writer commits records in groups and reports each group back, and
//!   only then is the watch scheduled again.
//! * Shutdown is a [`CancellationToken`] passed in (never a global): no new
//!   checks start, running ones get `shutdown_grace` to finish and be
//!   written, the writer drains, and the run returns.

pub mod timing;
mod writer;

use crate::check;
use crate::config::{Config, WatchSpec};
use crate::control::{Control, Readiness};
use crate::fetch::{FetchError, Fetcher};
use crate::model::{CheckOutcome, now_millis};
use crate::store::{self, Store, StoreError, VersionRef, WatchDef, WatchState};
use futures_util::FutureExt;
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// Why the daemon could not run at all (a single check never fails it).
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot build the HTTP client: {0}")]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    Notify(#[from] crate::notify::NotifyError),
}

/// What a run did, for the closing log line and for tests.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct RunReport {
    pub checks: usize,
    pub outcomes: BTreeMap<&'static str, usize>,
    pub new_versions: usize,
    pub events: BTreeMap<&'static str, usize>,
    pub write_errors: usize,
    /// Checks still running when the shutdown grace period ended.
    pub abandoned: usize,
    /// Alerts sent, retried and given up by the delivery worker.
    pub deliveries: crate::notify::DeliveryReport,
}

impl RunReport {
    fn add(&mut self, outcome: &Outcome) {
        self.checks += 1;
        *self.outcomes.entry(outcome.outcome.as_str()).or_default() += 1;
        if outcome.new_version {
            self.new_versions += 1;
        }
        for k in &outcome.events {
            *self.events.entry(k.as_str()).or_default() += 1;
        }
        if !outcome.written {
            self.write_errors += 1;
        }
    }
}

/// Whether to loop forever or check everything once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Daemon,
    Once,
}

struct Outcome {
    outcome: CheckOutcome,
    duration: Duration,
    bytes: u64,
    new_version: bool,
    events: Vec<crate::model::EventKind>,
    written: bool,
    /// Page watches this check created by following a listing.
    followed: Vec<WatchState>,
}

/// The spec of a page found on a listing, from the listing's spec.
fn followed_spec(listing: &WatchSpec, state: &WatchState) -> Option<Arc<WatchSpec>> {
    let f = state.followed.as_ref()?;
    let url = url::Url::parse(&f.url).ok()?;
    Some(Arc::new(listing.followed(
        state.name.clone(),
        url,
        f.created_at,
    )))
}

struct Slot {
    spec: Arc<WatchSpec>,
    state: WatchState,
    /// Between the start of a check and the report of its commit.
    running: bool,
}

/// How a check future in the loop ended.
enum Started {
    /// Its record is with the writer; the commit is reported later.
    Submitted,
    /// The writer had stopped; nothing was written.
    Unwritten(Box<writer::Ticket>),
    /// It panicked: a bug, met on one page.
    Panicked(usize, String),
}

/// A check as the loop polls it: a panic in it (a bug meeting one page)
/// ends that check only, as [`Started::Panicked`]; the loop reschedules
/// the watch with backoff.
fn guarded(
    idx: usize,
    check: impl Future<Output = Result<(), writer::Ticket>> + Send + 'static,
) -> impl Future<Output = Started> + Send + 'static {
    AssertUnwindSafe(check)
        .catch_unwind()
        .map(move |r| match r {
            Ok(Ok(())) => Started::Submitted,
            Ok(Err(ticket)) => Started::Unwritten(Box::new(ticket)),
            Err(panic) => Started::Panicked(idx, panic_message(&panic)),
        })
}

/// The message of a caught panic.
fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".to_string())
}

/// Opens the store and runs.
pub async fn run(
    cfg: Arc<Config>,
    mode: Mode,
    shutdown: CancellationToken,
) -> Result<RunReport, DaemonError> {
    let store = Arc::new(store::open(&cfg.storage).await?);
    let report = run_with(store.clone(), cfg, mode, shutdown).await;
    store.close().await;
    report
}

/// Runs with a given store (tests hand in their own).
pub async fn run_with<S: Store>(
    store: Arc<S>,
    cfg: Arc<Config>,
    mode: Mode,
    shutdown: CancellationToken,
) -> Result<RunReport, DaemonError> {
    run_controlled(store, Control::fixed(cfg), mode, shutdown).await
}

/// Runs under `control`: when its config changes (SIGHUP, or a watch,
/// channel or subscription made through the API), the running checks
/// finish, the alert worker stops, and the daemon starts again on the new
/// config; due times are persisted, so nothing is checked twice for it.
pub async fn run_controlled<S: Store>(
    store: Arc<S>,
    control: Arc<Control>,
    mode: Mode,
    shutdown: CancellationToken,
) -> Result<RunReport, DaemonError> {
    let mut report = RunReport::default();
    let mut check_rx = control.take_check_requests();
    loop {
        let cfg = control.config();
        let mut cfg_rx = control.subscribe();
        cfg_rx.mark_unchanged();
        let end = round(
            store.clone(),
            cfg,
            mode,
            &shutdown,
            &control,
            &mut cfg_rx,
            &mut check_rx,
            &mut report,
        )
        .await?;
        if end == RoundEnd::Stopped {
            break;
        }
        tracing::info!("the config changed: starting again on the new one");
    }
    tracing::info!(
        checks = report.checks,
        new_versions = report.new_versions,
        outcomes = ?report.outcomes,
        events = ?report.events,
        deliveries = ?report.deliveries,
        "palimpsest stopped"
    );
    Ok(report)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RoundEnd {
    Stopped,
    Reload,
}

/// The next "check now" request, or never when there is no channel.
async fn next_request(rx: &mut Option<tokio::sync::mpsc::Receiver<i64>>) -> Option<i64> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// One run on one config, until shutdown (or, in a daemon, a new config).
#[allow(clippy::too_many_arguments)]
async fn round<S: Store>(
    store: Arc<S>,
    cfg: Arc<Config>,
    mode: Mode,
    shutdown: &CancellationToken,
    control: &Control,
    cfg_rx: &mut tokio::sync::watch::Receiver<Arc<Config>>,
    check_rx: &mut Option<tokio::sync::mpsc::Receiver<i64>>,
    report: &mut RunReport,
) -> Result<RoundEnd, DaemonError> {
    // Stops this round's alert worker on a reload; a shutdown stops it too.
    let round_stop = shutdown.child_token();
    // The HTTP client loads the system's root certificates (a few ms):
    // on a blocking thread, while the watch states load.
    let fetch_cfg = cfg.fetch.clone();
    let fetcher = tokio::task::spawn_blocking(move || Fetcher::new(&fetch_cfg));
    let defs: Vec<WatchDef> = cfg
        .watches
        .iter()
        .map(|w| WatchDef {
            name: &w.name,
            url: w.url.as_str(),
            kind: w.kind,
            tags: &w.tags,
            interval_ms: i64::try_from(w.interval.as_millis()).unwrap_or(i64::MAX),
            paused: w.paused,
        })
        .collect();
    let states = store.sync_watches(&defs).await?;
    let fetcher = Arc::new(
        fetcher
            .await
            .map_err(|e| FetchError::Http(format!("building the HTTP client failed: {e}")))??,
    );
    prune_checks(store.as_ref(), &cfg).await;
    // Alerts: the outbox worker runs beside the checks (None without channels).
    let notifier = crate::notify::start(
        store.clone(),
        &cfg,
        mode == Mode::Once,
        &round_stop,
        Some(control.metrics.clone()),
    )
    .await?;
    let specs: HashMap<&str, Arc<WatchSpec>> = cfg
        .watches
        .iter()
        .map(|w| (w.name.as_str(), w.clone()))
        .collect();
    // Listings that follow, by watch id: their followed pages are watched too.
    let mut followers: HashMap<i64, Arc<WatchSpec>> = HashMap::new();
    for state in &states {
        if let Some(spec) = specs.get(state.name.as_str())
            && spec.follow
        {
            followers.insert(state.id, spec.clone());
        }
    }
    let mut slots: Vec<Slot> = states
        .into_iter()
        .filter_map(|state| {
            let spec = match (&state.followed, specs.get(state.name.as_str())) {
                (_, Some(spec)) => spec.clone(),
                (Some(f), None) => followed_spec(followers.get(&f.parent_id)?, &state)?,
                (None, None) => return None,
            };
            Some(Slot {
                spec,
                state,
                running: false,
            })
        })
        .collect();
    tracing::info!(watches = slots.len(), mode = ?mode, "palimpsest starting");
    control.set_readiness(Readiness::Ready);
    control.systemd.ready();
    let metrics = control.metrics.clone();

    let (writer_tx, mut written_rx, writer_handle) = writer::spawn(store.clone());
    let shared = Arc::new(check::Shared {
        fetcher,
        store: store.clone(),
        schedule: cfg.schedule.clone(),
        detect: cfg.detect.clone(),
        follow: cfg.follow.clone(),
    });
    let concurrency = cfg.fetch.concurrency.max(1);
    // The checks in flight, polled by this loop itself: a check is a future
    // here, not a task, until it has handed its record to the writer. Only
    // a body that must be parsed gets a task (see `check::run`).
    let mut running: FuturesUnordered<BoxFuture<'static, Started>> = FuturesUnordered::new();
    // Records handed to the writer whose commit has not been reported yet.
    let mut unwritten = 0usize;

    // `concurrency` bounds the checks between their start and the hand-over
    // to the writer, whose own queue is bounded: at most that many check
    // futures exist at a time, whatever the watch count.
    let start = |idx: usize, slot: &mut Slot| -> BoxFuture<'static, Started> {
        slot.running = true;
        let spec = slot.spec.clone();
        let state = slot.state.clone();
        let shared = shared.clone();
        let writer_tx = writer_tx.clone();
        let span = tracing::info_span!("check", watch = %spec.name, url = %spec.url);
        let check = async move {
            let mut record = check::run(&shared, &spec, &state).await;
            // Followed pages are created before the listing's version is
            // written: a crash in between loses nothing, the next check
            // of the listing follows the same items again.
            let mut followed = Vec::new();
            if spec.follow && !record.follow.is_empty() {
                let interval =
                    i64::try_from(shared.follow.first_day.as_millis()).unwrap_or(i64::MAX);
                match shared
                    .store
                    .follow(
                        state.id,
                        &record.follow,
                        &spec.tags_with_self(),
                        interval,
                        shared.follow.max_per_listing,
                        now_millis(),
                    )
                    .await
                {
                    Ok(new) => followed = new,
                    Err(e) => tracing::warn!("cannot follow the listing's items: {e}"),
                }
                record.follow.clear();
            }
            writer::submit(&writer_tx, idx, record, spec.retention, followed).await
        };
        // Boxed first: the check's future is kilobytes, and every wrapper
        // around an unboxed one would copy all of it again.
        guarded(idx, check.boxed()).instrument(span).boxed()
    };

    // Handles one written record: records the outcome, returns the slot to reschedule.
    let finish = |written: writer::Written,
                  slots: &mut Vec<Slot>,
                  report: &mut RunReport|
     -> Option<(usize, Vec<WatchState>)> {
        let idx = written.ticket.slot;
        let slot = slots.get_mut(idx)?;
        let (state, outcome) = written.finish(&slot.state);
        report.add(&outcome);
        metrics.record_check(outcome.outcome.as_str(), outcome.duration, outcome.bytes);
        for k in &outcome.events {
            metrics.record_event(k.as_str());
        }
        slot.state = state;
        slot.running = false;
        Some((idx, outcome.followed))
    };
    // Handles a check that ended before its record reached the writer.
    let abort = |idx: usize,
                 why: &str,
                 slots: &mut Vec<Slot>,
                 report: &mut RunReport|
     -> Option<(usize, Vec<WatchState>)> {
        let slot = slots.get_mut(idx)?;
        tracing::error!(watch = %slot.spec.name, "check ended abnormally: {why}");
        slot.running = false;
        slot.state.failure_streak = slot.state.failure_streak.saturating_add(1);
        slot.state.next_due_at = Some(timing::next_after_failure(
            &slot.spec.name,
            slot.spec.interval,
            cfg.schedule.max_backoff,
            slot.state.failure_streak,
            now_millis(),
        ));
        report.checks += 1;
        *report.outcomes.entry("panicked").or_default() += 1;
        metrics.record_check("panicked", Duration::ZERO, 0);
        Some((idx, Vec::new()))
    };
    // A check future that ended: its record is with the writer (reported
    // later), or the check ended before and is finished here.
    let ended = |started: Started,
                 slots: &mut Vec<Slot>,
                 report: &mut RunReport,
                 unwritten: &mut usize|
     -> Option<(usize, Vec<WatchState>)> {
        match started {
            Started::Submitted => {
                *unwritten += 1;
                None
            }
            Started::Unwritten(ticket) => {
                finish(writer::Written::unwritten(*ticket), slots, report)
            }
            Started::Panicked(idx, why) => abort(idx, &why, slots, report),
        }
    };

    // Due watches wait in `ready` until fewer than `concurrency` run.
    let mut ready: VecDeque<usize> = VecDeque::new();
    let mut heap: BinaryHeap<Reverse<(i64, usize)>> = BinaryHeap::new();
    match mode {
        Mode::Once => ready.extend(0..slots.len()),
        Mode::Daemon => {
            let now = now_millis();
            heap.reserve(slots.len());
            for (idx, slot) in slots.iter_mut().enumerate() {
                let due = timing::initial_due(
                    &slot.spec.name,
                    slot.state.next_due_at,
                    now,
                    cfg.schedule.startup_spread,
                );
                slot.state.next_due_at = Some(due);
                heap.push(Reverse((due, idx)));
            }
        }
    }
    let mut prune_every = tokio::time::interval_at(
        tokio::time::Instant::now() + Duration::from_secs(3600),
        Duration::from_secs(3600),
    );
    // systemd's watchdog is pinged from this loop, so a ping proves the
    // loop turns, not merely that the process exists.
    let watchdog = control.systemd.watchdog_interval();
    let mut watchdog_every = tokio::time::interval(watchdog.unwrap_or(Duration::from_secs(3600)));
    let mut end = RoundEnd::Stopped;
    // A written record: the watch's new state, its next due time, and the
    // pages it followed (checked now, in both modes, so their first version
    // is the text as first published).
    let reschedule = |done: Option<(usize, Vec<WatchState>)>,
                      slots: &mut Vec<Slot>,
                      heap: &mut BinaryHeap<Reverse<(i64, usize)>>,
                      ready: &mut VecDeque<usize>| {
        let Some((idx, followed)) = done else { return };
        if mode == Mode::Daemon {
            let due = slots[idx]
                .state
                .next_due_at
                .unwrap_or_else(|| now_millis() + 60_000);
            heap.push(Reverse((due, idx)));
        }
        let listing = slots[idx].spec.clone();
        for state in followed {
            if let Some(spec) = followed_spec(&listing, &state) {
                tracing::info!(watch = %state.name, "following a new page");
                slots.push(Slot {
                    spec,
                    state,
                    running: false,
                });
                ready.push_back(slots.len() - 1);
            }
        }
    };
    loop {
        while running.len() < concurrency
            && let Some(idx) = ready.pop_front()
        {
            if let Some(slot) = slots.get_mut(idx) {
                running.push(start(idx, slot));
            }
        }
        if mode == Mode::Once && ready.is_empty() && running.is_empty() && unwritten == 0 {
            break;
        }
        let wait = heap
            .peek()
            .map(|Reverse((due, _))| {
                Duration::from_millis(u64::try_from(due - now_millis()).unwrap_or(0))
            })
            .unwrap_or(Duration::from_secs(3600));
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => {
                control.set_readiness(Readiness::Draining);
                control.systemd.stopping();
                break;
            }
            Ok(()) = cfg_rx.changed(), if mode == Mode::Daemon => {
                end = RoundEnd::Reload;
                break;
            }
            Some(batch) = written_rx.recv(), if unwritten > 0 => {
                let events_before: usize = report.events.values().sum();
                for written in batch {
                    unwritten = unwritten.saturating_sub(1);
                    let done = finish(written, &mut slots, report);
                    reschedule(done, &mut slots, &mut heap, &mut ready);
                }
                if let Some(n) = &notifier
                    && report.events.values().sum::<usize>() > events_before
                {
                    n.wake();
                }
            }
            Some(started) = running.next(), if !running.is_empty() => {
                let done = ended(started, &mut slots, report, &mut unwritten);
                reschedule(done, &mut slots, &mut heap, &mut ready);
            }
            _ = prune_every.tick(), if mode == Mode::Daemon => prune_checks(store.as_ref(), &cfg).await,
            _ = watchdog_every.tick(), if watchdog.is_some() => control.systemd.watchdog(),
            Some(id) = next_request(check_rx) => {
                // "Check now": due now, unless a check of it is running.
                if let Some(idx) = slots.iter().position(|s| s.state.id == id)
                    && !slots[idx].running
                    && !ready.contains(&idx)
                {
                    tracing::info!(watch = %slots[idx].spec.name, "check requested");
                    ready.push_back(idx);
                }
            }
            _ = tokio::time::sleep(wait), if mode == Mode::Daemon => {
                let now = now_millis();
                while let Some(Reverse((due, idx))) = heap.peek().copied() {
                    if due > now {
                        break;
                    }
                    heap.pop();
                    match slots.get(idx) {
                        // A stale entry: the watch was rescheduled since.
                        Some(slot) if slot.state.next_due_at != Some(due) || slot.running => {}
                        Some(_) => ready.push_back(idx),
                        None => {}
                    }
                }
            }
            else => break,
        }
    }

    // Drain: running checks get the grace period to reach the writer.
    if !running.is_empty() {
        tracing::info!(running = running.len(), grace = ?cfg.schedule.shutdown_grace, "waiting for running checks");
        let drained = tokio::time::timeout(cfg.schedule.shutdown_grace, async {
            while let Some(started) = running.next().await {
                ended(started, &mut slots, report, &mut unwritten);
            }
        })
        .await;
        if drained.is_err() {
            report.abandoned = running.len();
            tracing::warn!(
                abandoned = running.len(),
                "grace period over; abandoning running checks"
            );
            // Dropping a check future stops it where it waits.
            running.clear();
        }
    }
    // The writer commits what it was handed, then ends; its last reports
    // are counted.
    drop(writer_tx);
    if let Err(e) = writer_handle.await {
        tracing::error!("the writer task ended abnormally: {e}");
    }
    while let Ok(batch) = written_rx.try_recv() {
        for written in batch {
            finish(written, &mut slots, report);
        }
    }
    if end == RoundEnd::Reload {
        round_stop.cancel();
    }
    if let Some(n) = notifier {
        let d = n.finish().await;
        report.deliveries.delivered += d.delivered;
        report.deliveries.retried += d.retried;
        report.deliveries.failed += d.failed;
    }
    Ok(end)
}

/// Applies `[storage] keep_checks`; a failure is logged, never fatal.
async fn prune_checks<S: Store>(store: &S, cfg: &Config) {
    let Some(keep) = cfg.keep_checks else { return };
    let before = now_millis().saturating_sub(i64::try_from(keep.as_millis()).unwrap_or(i64::MAX));
    match store.prune_checks(before).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(removed = n, "pruned old check rows"),
        Err(e) => tracing::warn!("could not prune old check rows: {e}"),
    }
}

/// The state a watch has after a written record.
fn next_state(
    old: &WatchState,
    outcome: CheckOutcome,
    update: &crate::store::StateUpdate,
    text_hash: Option<[u8; 32]>,
    committed: &crate::store::Committed,
) -> WatchState {
    let mut s = old.clone();
    s.next_due_at = Some(update.next_due_at);
    s.failure_streak = update.failure_streak;
    s.status = update.status;
    s.pending = update.pending.clone();
    s.last_good = outcome.is_success();
    if let Some(seen) = &update.seen {
        s.validators = seen.validators.clone();
        s.body_hash = seen.body_hash;
        s.rules_hash = Some(seen.rules_hash);
    }
    if let (Some((id, seq)), Some(text_hash)) = (committed.version, text_hash) {
        s.last_version = Some(VersionRef { id, seq, text_hash });
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn bad_page() -> Result<(), writer::Ticket> {
        panic!("a bug met one page")
    }

    #[tokio::test]
    async fn a_panicking_check_ends_alone_and_says_why() {
        let mut running: FuturesUnordered<BoxFuture<'static, Started>> = FuturesUnordered::new();
        running.push(guarded(7, bad_page()).boxed());
        running.push(guarded(8, async { Ok(()) }).boxed());
        let mut ended = Vec::new();
        while let Some(started) = running.next().await {
            ended.push(match started {
                Started::Submitted => "submitted".to_string(),
                Started::Unwritten(_) => "unwritten".to_string(),
                Started::Panicked(idx, why) => format!("{idx} panicked: {why}"),
            });
        }
        ended.sort();
        assert_eq!(ended, ["7 panicked: a bug met one page", "submitted"]);
    }
}
