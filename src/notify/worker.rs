//! The outbox worker.
//!
//! A loop claims due messages (a lease: `claimed_at` + `owner`) for the
//! channels that are not busy, and hands each channel's messages to one
//! task that sends them in order; `concurrency` sends run at once across
//! channels. An attempt ends in one of: delivered (only after the receiver
//! accepted), retry at a backoff time, failed (permanent, or past
//! `max_age`). After a retryable failure the channel's other messages
//! (claimed or waiting) are put off to the same time, so a channel that is
//! down costs one timeout per round, and never delays another channel.
//!
//! Stopping: on shutdown no new claim is made; sends in flight get the
//! grace period, then are abandoned and their claims released. A claim held
//! by a process that died is claimed again when its lease expires.
//!
//! `--once`: the worker runs during the checks; once they are done it
//! attempts everything due, and retries that fall due within
//! `[notify] once_wait` of that moment, then stops. Later retries stay in
//! the outbox for the next run.

use super::payload::load_views;
use super::{NotifyError, Rendered, SendError, Senders, backoff};
use crate::config::{ChannelSpec, Config, NotifyConfig};
use crate::model::{Millis, now_millis};
use crate::store::{Attempt, Claimed, Store};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// Most messages claimed per channel per round (fewer when the lease is
/// short: a channel's messages are sent one after the other, and the last
/// must still be inside its lease).
const PER_CHANNEL: usize = 8;
/// Messages claimed per round, all channels.
const PER_ROUND: usize = 256;
/// Longest sleep between two looks at the outbox.
const POLL: Duration = Duration::from_secs(2);

/// What the worker did, for the run's closing line and for tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct DeliveryReport {
    pub delivered: usize,
    pub retried: usize,
    pub failed: usize,
}

impl DeliveryReport {
    fn add(&mut self, o: DeliveryReport) {
        self.delivered += o.delivered;
        self.retried += o.retried;
        self.failed += o.failed;
    }
}

/// A running worker.
pub struct Worker {
    handle: tokio::task::JoinHandle<DeliveryReport>,
    wake: Arc<Notify>,
    drain: CancellationToken,
}

impl Worker {
    /// New events were committed: look at the outbox now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// The checks are over: deliver what is due (see the module doc), stop,
    /// and report. After a shutdown signal it only waits for sends in flight.
    pub async fn finish(self) -> DeliveryReport {
        self.drain.cancel();
        match self.handle.await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!("the delivery worker ended abnormally: {e}");
                DeliveryReport::default()
            }
        }
    }
}

struct Ctx<S> {
    store: Arc<S>,
    cfg: NotifyConfig,
    channels: HashMap<String, ChannelSpec>,
    senders: Senders,
    owner: String,
    permits: Semaphore,
    /// Claimed by this worker and not finished yet (released if abandoned).
    in_flight: Mutex<HashSet<String>>,
    metrics: Option<Arc<crate::metrics::Metrics>>,
}

/// Syncs the config's channels and subscriptions into the store and, when
/// there are channels, starts the worker. `shutdown` stops it.
pub async fn start<S: Store>(
    store: Arc<S>,
    cfg: &Config,
    once: bool,
    shutdown: &CancellationToken,
    metrics: Option<Arc<crate::metrics::Metrics>>,
) -> Result<Option<Worker>, NotifyError> {
    store
        .sync_notify(
            &super::channel_defs(cfg),
            &super::subscription_defs(cfg),
            crate::store::outbox::IncidentRule {
                threshold: cfg.detect.incident_threshold,
                window_ms: i64::try_from(cfg.detect.incident_window.as_millis())
                    .unwrap_or(i64::MAX),
                not_before: if once { crate::model::now_millis() } else { 0 },
            },
        )
        .await?;
    if cfg.channels.is_empty() {
        return Ok(None);
    }
    let mut senders = Senders::new(cfg)?;
    if cfg.server.public_url.is_some() {
        match store.server_key().await {
            Ok(key) => senders = senders.with_key(key),
            Err(e) => tracing::warn!("alert emails go without an unsubscribe link: {e}"),
        }
    }
    let ctx = Arc::new(Ctx {
        store,
        cfg: cfg.notify.clone(),
        channels: cfg
            .channels
            .iter()
            .map(|c| (c.name.clone(), c.clone()))
            .collect(),
        senders,
        owner: format!("pid{}-{:08x}", std::process::id(), fastrand::u32(..)),
        permits: Semaphore::new(cfg.notify.concurrency.max(1)),
        in_flight: Mutex::new(HashSet::new()),
        metrics,
    });
    let wake = Arc::new(Notify::new());
    let drain = CancellationToken::new();
    let grace = cfg.schedule.shutdown_grace;
    let span = tracing::info_span!("notify", owner = %ctx.owner);
    let handle = tokio::spawn(
        run(ctx, wake.clone(), drain.clone(), shutdown.clone(), grace).instrument(span),
    );
    Ok(Some(Worker {
        handle,
        wake,
        drain,
    }))
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

async fn run<S: Store>(
    ctx: Arc<Ctx<S>>,
    wake: Arc<Notify>,
    drain: CancellationToken,
    stop: CancellationToken,
    grace: Duration,
) -> DeliveryReport {
    let mut report = DeliveryReport::default();
    let mut tasks: JoinSet<(String, DeliveryReport)> = JoinSet::new();
    let mut busy: HashSet<String> = HashSet::new();
    let mut deadline: Option<Millis> = None;
    let lease = ms(ctx.cfg.lease);
    let per_channel = usize::try_from(lease / ms(ctx.cfg.timeout).max(1))
        .unwrap_or(1)
        .saturating_sub(1)
        .clamp(1, PER_CHANNEL);
    loop {
        if stop.is_cancelled() {
            break;
        }
        let now = now_millis();
        if deadline.is_none() && drain.is_cancelled() {
            deadline = Some(now.saturating_add(ms(ctx.cfg.once_wait)));
        }
        let skip: Vec<String> = busy.iter().cloned().collect();
        let mut store_trouble = false;
        // `--once` past its deadline: only what was due by then (a busy
        // channel's waiting messages included), nothing that fell due later.
        let claim_now = deadline.map_or(now, |dl| now.min(dl));
        let claim = ctx
            .store
            .claim_deliveries(&ctx.owner, claim_now, lease, per_channel, PER_ROUND, &skip)
            .await;
        match claim {
            Ok(claimed) => {
                let mut by_channel: HashMap<String, Vec<Claimed>> = HashMap::new();
                for m in claimed {
                    by_channel.entry(m.channel.clone()).or_default().push(m);
                }
                for (channel, msgs) in by_channel {
                    if let Ok(mut f) = ctx.in_flight.lock() {
                        f.extend(msgs.iter().map(|m| m.message_id.clone()));
                    }
                    busy.insert(channel.clone());
                    let span = tracing::info_span!("channel", channel = %channel);
                    tasks.spawn(channel_task(ctx.clone(), channel, msgs).instrument(span));
                }
            }
            Err(e) => {
                tracing::warn!("cannot claim deliveries: {e}");
                store_trouble = true;
            }
        }
        let mut sleep_for = POLL;
        if tasks.is_empty() {
            let next = if store_trouble {
                // Look again in a second (a busy database is not an empty outbox).
                Some(now + 1_000)
            } else {
                match ctx.store.next_delivery_at(now, lease).await {
                    Ok(n) => n,
                    Err(e) => {
                        tracing::warn!("cannot look at the outbox: {e}");
                        None
                    }
                }
            };
            if let Some(dl) = deadline {
                match next {
                    Some(t) if t <= dl && now <= dl => {}
                    _ => break,
                }
            }
            if let Some(t) = next {
                sleep_for = Duration::from_millis(u64::try_from(t - now).unwrap_or(0))
                    .clamp(Duration::from_millis(20), POLL);
            }
        }
        tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            Some(joined) = tasks.join_next(), if !tasks.is_empty() => {
                match joined {
                    Ok((channel, r)) => {
                        busy.remove(&channel);
                        report.add(r);
                    }
                    Err(e) => {
                        // A panicking channel task: its claims expire with the lease.
                        tracing::error!("a delivery task ended abnormally: {e}");
                        busy.clear();
                    }
                }
            }
            _ = wake.notified() => {}
            _ = drain.cancelled(), if deadline.is_none() => {}
            _ = tokio::time::sleep(sleep_for) => {}
        }
    }
    // Sends in flight get the grace period; then their claims are released.
    if !tasks.is_empty() {
        let waited = tokio::time::timeout(grace, async {
            while let Some(j) = tasks.join_next().await {
                if let Ok((_, r)) = j {
                    report.add(r);
                }
            }
        })
        .await;
        if waited.is_err() {
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
        }
    }
    let left: Vec<String> = ctx
        .in_flight
        .lock()
        .map(|mut f| f.drain().collect())
        .unwrap_or_default();
    for id in left {
        let _ = ctx
            .store
            .finish_delivery(&id, &ctx.owner, now_millis(), &Attempt::Released { at: 0 })
            .await;
    }
    report
}

/// Sends one channel's claimed messages, in order.
async fn channel_task<S: Store>(
    ctx: Arc<Ctx<S>>,
    channel: String,
    msgs: Vec<Claimed>,
) -> (String, DeliveryReport) {
    let mut report = DeliveryReport::default();
    let mut rest = msgs.into_iter();
    while let Some(m) = rest.next() {
        let attempt = {
            let _permit = ctx.permits.acquire().await;
            attempt(&ctx, &m).await
        };
        let outcome = match &attempt {
            Attempt::Delivered => {
                report.delivered += 1;
                Some("delivered")
            }
            Attempt::Retry { .. } => {
                report.retried += 1;
                Some("retry")
            }
            Attempt::Failed { .. } => {
                report.failed += 1;
                Some("failed")
            }
            Attempt::Released { .. } => None,
        };
        if let (Some(o), Some(m)) = (outcome, &ctx.metrics) {
            m.record_delivery(o);
        }
        finish(&ctx, &m.message_id, &attempt).await;
        let stop_here = match &attempt {
            Attempt::Retry { at, .. } => Some(Attempt::Released { at: *at }),
            Attempt::Failed {
                disable_channel: true,
                ..
            } => Some(Attempt::Released { at: 0 }),
            _ => None,
        };
        if let Some(release) = stop_here {
            // The channel is down (or gone): the others wait with it.
            for other in rest.by_ref() {
                finish(&ctx, &other.message_id, &release).await;
            }
            break;
        }
    }
    (channel, report)
}

async fn finish<S: Store>(ctx: &Ctx<S>, message_id: &str, attempt: &Attempt) {
    if let Err(e) = ctx
        .store
        .finish_delivery(message_id, &ctx.owner, now_millis(), attempt)
        .await
    {
        // The lease expires and the message is tried again: a duplicate at worst.
        tracing::error!(message_id, "cannot record a delivery attempt: {e}");
    }
    if let Ok(mut f) = ctx.in_flight.lock() {
        f.remove(message_id);
    }
}

/// One attempt at one message: render (first time only), send, classify.
async fn attempt<S: Store>(ctx: &Ctx<S>, m: &Claimed) -> Attempt {
    let now = now_millis();
    let Some(channel) = ctx.channels.get(&m.channel) else {
        return Attempt::Released { at: now + 60_000 };
    };
    let payload = match &m.payload {
        Some(p) => p.clone(),
        None => {
            let views = match load_views(ctx.store.as_ref(), &m.events).await {
                Ok(v) => v,
                Err(e) => return retry(ctx, m, format!("cannot read the event: {e}"), None),
            };
            let rendered = ctx.senders.render(channel, &m.message_id, &views, now);
            let text = match serde_json::to_string(&rendered) {
                Ok(t) => t,
                Err(e) => {
                    return Attempt::Failed {
                        error: format!("cannot encode the message: {e}"),
                        disable_channel: false,
                    };
                }
            };
            match ctx.store.fix_payload(&m.message_id, &text).await {
                Ok(stored) => stored,
                Err(e) => return retry(ctx, m, format!("cannot store the message: {e}"), None),
            }
        }
    };
    let rendered: Rendered = match serde_json::from_str(&payload) {
        Ok(r) => r,
        Err(e) => {
            return Attempt::Failed {
                error: format!("the stored message is damaged: {e}"),
                disable_channel: false,
            };
        }
    };
    let t0 = std::time::Instant::now();
    match ctx.senders.send(channel, &m.message_id, &rendered).await {
        Ok(what) => {
            tracing::info!(
                message_id = %m.message_id,
                events = m.events.len(),
                attempt = m.attempts + 1,
                ms = t0.elapsed().as_millis() as u64,
                "delivered ({what})"
            );
            Attempt::Delivered
        }
        Err(SendError::Retry { error, retry_after }) => retry(ctx, m, error, retry_after),
        Err(SendError::Permanent { error }) => {
            tracing::warn!(message_id = %m.message_id, "delivery failed for good: {error}");
            Attempt::Failed {
                error,
                disable_channel: false,
            }
        }
        Err(SendError::Gone { error }) => {
            tracing::warn!(message_id = %m.message_id, "the receiver is gone; disabling the channel: {error}");
            Attempt::Failed {
                error,
                disable_channel: true,
            }
        }
    }
}

fn retry<S>(ctx: &Ctx<S>, m: &Claimed, error: String, retry_after: Option<Duration>) -> Attempt {
    let now = now_millis();
    let failures = m.attempts + 1;
    match backoff::next_attempt(now, m.created_at, failures, &ctx.cfg, retry_after) {
        Some(at) => {
            tracing::warn!(
                message_id = %m.message_id,
                attempt = failures,
                retry_in_ms = at - now,
                "delivery failed, will retry: {error}"
            );
            Attempt::Retry { at, error }
        }
        None => {
            let error = format!(
                "gave up after {failures} attempts in {}: {error}",
                humantime::format_duration(ctx.cfg.max_age)
            );
            tracing::warn!(message_id = %m.message_id, "{error}");
            Attempt::Failed {
                error,
                disable_channel: false,
            }
        }
    }
}
