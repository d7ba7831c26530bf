//! One check of one watch: fetch, decode, extract, compare, and the
//! [`CheckRecord`] that the store writes in one transaction.
//!
//! The cheap paths come first, because most checks find nothing new:
//! a 304 costs one request; identical body bytes cost one hash and no
//! parse; an identical extracted text costs one parse and no diff. Only a
//! text whose hash differs from the last version's reads that version back
//! and diffs it.

use crate::config::{DetectConfig, FollowConfig, ScheduleConfig, WatchSpec};
use crate::detect::gone::{self, RedirectKind};
use crate::detect::status::{self, GoneHow, Observation, PageStatus, Raised, StatusRules};
use crate::detect::{self, EventDraft, Verdict};
use crate::extract::{self, Extracted};
use crate::fetch::{self, Fetched, Fetcher, Validators};
use crate::model::{CheckOutcome, EventKind, Millis, now_millis};
use crate::schedule::timing;
use crate::store::blob::{self, Blob};
use crate::store::{CheckRecord, NewVersion, Seen, StateUpdate, Store, WatchState};
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;

/// Bodies larger than this are extracted on the blocking pool.
const INLINE_EXTRACT_LIMIT: usize = 512 * 1024;

/// What the checks of a round share: the fetcher, the store and the rules.
/// Owned, so that a check can hand its CPU work to a task of its own.
pub struct Shared<S> {
    pub fetcher: Arc<Fetcher>,
    pub store: Arc<S>,
    pub schedule: ScheduleConfig,
    pub detect: DetectConfig,
    pub follow: FollowConfig,
}

impl<S> Shared<S> {
    fn cx(&self) -> Context<'_, S> {
        Context {
            fetcher: &self.fetcher,
            store: &self.store,
            schedule: &self.schedule,
            detect: &self.detect,
            follow: &self.follow,
        }
    }
}

/// What a check needs besides the watch, borrowed from [`Shared`].
struct Context<'a, S> {
    fetcher: &'a Fetcher,
    store: &'a S,
    schedule: &'a ScheduleConfig,
    detect: &'a DetectConfig,
    follow: &'a FollowConfig,
}

/// Runs one check. Never fails: every failure becomes a check row.
///
/// The fetch and the cheap answers (a 304, the same bytes, an error) run in
/// the caller's task; a body that must be parsed is processed on a task of
/// its own ([`process`]), so that a caller polling many checks is never
/// held by one page's CPU work.
pub async fn run<S: Store>(
    shared: &Arc<Shared<S>>,
    spec: &Arc<WatchSpec>,
    state: &WatchState,
) -> CheckRecord {
    let cx = &shared.cx();
    let started_at = now_millis();
    let t0 = Instant::now();
    // A followed page's interval depends on its age.
    let aged;
    let spec = if spec.born.is_some() {
        aged = Arc::new(WatchSpec {
            interval: spec.interval_at(started_at, cx.follow),
            ..WatchSpec::clone(spec)
        });
        &aged
    } else {
        spec
    };
    let rules_hash = match &spec.listing {
        Some(l) => {
            let mut h = blake3::Hasher::new();
            h.update(&spec.rules.fingerprint()).update(&l.fingerprint());
            *h.finalize().as_bytes()
        }
        None => spec.rules.fingerprint(),
    };
    // Validators are only trusted when the stored version was made under the
    // same rules, and never while the page is not plainly there (a 304 for
    // a deleted page would hide its return).
    let same_rules = state.rules_hash == Some(rules_hash);
    let validators = if state.last_version.is_some() && same_rules && state.status == PageStatus::Ok
    {
        state.validators.clone()
    } else {
        Validators::default()
    };
    let result = cx.fetcher.fetch(&spec.url, &validators).await;
    let (mut record, obs) = match result {
        Err(e) => (
            failed(spec, state, cx.schedule, started_at, &e),
            Observation::Failed {
                class: e.class().to_string(),
                http_status: None,
            },
        ),
        Ok(f) => match f.status {
            200..=299 => {
                let body_hash = blob::hash(&f.body);
                // Same bytes, same rules, a version exists: nothing can have changed.
                if same_rules && state.last_version.is_some() && state.body_hash == Some(body_hash)
                {
                    let seen = Seen {
                        validators: f.validators.clone(),
                        body_hash: Some(body_hash),
                        rules_hash,
                    };
                    nothing_new(spec, state, started_at, &f, CheckOutcome::Unchanged, seen)
                } else {
                    let hashes = Hashes {
                        body: body_hash,
                        rules: rules_hash,
                    };
                    process(shared, spec, state, started_at, f, hashes).await
                }
            }
            304 if state.last_version.is_some() => {
                let seen = Seen {
                    validators: merge_validators(&state.validators, &f.validators),
                    body_hash: state.body_hash,
                    rules_hash,
                };
                nothing_new(spec, state, started_at, &f, CheckOutcome::NotModified, seen)
            }
            // A challenge or block page (any status) is the site refusing us.
            _ if let Some(answer) = bot_wall(spec, state, cx.schedule, started_at, &f) => answer,
            404 | 410 => (
                http_error(spec, state, cx.schedule, started_at, &f),
                Observation::Gone {
                    how: if f.status == 404 {
                        GoneHow::NotFound
                    } else {
                        GoneHow::Gone
                    },
                    http_status: Some(f.status),
                    target: None,
                    reason: None,
                },
            ),
            401 | 403 | 429 | 451 => (
                http_error(spec, state, cx.schedule, started_at, &f),
                Observation::Blocked {
                    http_status: Some(f.status),
                    reason: f.status.to_string(),
                },
            ),
            _ => (
                http_error(spec, state, cx.schedule, started_at, &f),
                Observation::Failed {
                    class: format!("http_{}", f.status),
                    http_status: Some(f.status),
                },
            ),
        },
    };
    apply_status(cx, spec, state, &mut record, &obs).await;
    record.duration_ms = i64::try_from(t0.elapsed().as_millis()).unwrap_or(i64::MAX);
    record.state.touch_only = is_touch(spec, state, &record);
    record
}

/// Whether a check changed nothing that the watch row holds but what its
/// check row says too (the time, outcome and status of the last check) and
/// the due time that follows from it: a 304 or the same body after a good
/// check, nothing pending, nothing raised, the same validators and hashes.
/// Such a check writes its check row and leaves the watch row as it was
/// (most checks of a daemon are such touches). A followed page's interval
/// depends on its age, so its row is always written.
fn is_touch(spec: &WatchSpec, state: &WatchState, record: &CheckRecord) -> bool {
    let s = &record.state;
    spec.born.is_none()
        && matches!(
            record.outcome,
            CheckOutcome::NotModified | CheckOutcome::Unchanged
        )
        && state.last_good
        && record.version.is_none()
        && record.events.is_empty()
        && state.failure_streak == 0
        && s.failure_streak == 0
        && state.status == PageStatus::Ok
        && s.status == PageStatus::Ok
        && state.pending.is_none()
        && s.pending.is_none()
        && s.changed_at.is_none()
        && s.next_due_at == timing::next_after_success(&spec.name, spec.interval, record.started_at)
        && s.seen.as_ref().is_some_and(|seen| {
            seen.validators == state.validators
                && seen.body_hash == state.body_hash
                && Some(seen.rules_hash) == state.rules_hash
        })
}

/// Moves the page's status with what this check observed, and raises the
/// status events (`deleted`, `restored`, `unreachable`, `reachable`, `blocked`).
async fn apply_status<S: Store>(
    cx: &Context<'_, S>,
    spec: &WatchSpec,
    state: &WatchState,
    record: &mut CheckRecord,
    obs: &Observation,
) {
    let now = record.started_at;
    let rules = StatusRules {
        confirm_checks: cx.detect.confirm_checks,
        unreachable_after_ms: i64::try_from(cx.detect.unreachable_after.as_millis())
            .unwrap_or(i64::MAX),
        unreachable_checks: cx.detect.unreachable_checks,
    };
    // A processing failure (a store or extraction error) says nothing about the page.
    if record.outcome == CheckOutcome::Failed && matches!(obs, Observation::Content) {
        record.state.status = state.status;
        record.state.pending = state.pending.clone();
        return;
    }
    let t = status::transition(state.status, state.pending.as_ref(), obs, now, rules);
    record.state.status = t.status;
    record.state.pending = t.pending.clone();
    if t.confirm_soon {
        let soon = now_millis()
            + i64::try_from(cx.detect.confirm_spacing.as_millis()).unwrap_or(i64::MAX / 2);
        record.state.next_due_at = soon;
        tracing::info!(pending = ?t.pending, "the page looks gone; confirming soon");
    }
    let last_seq = state.last_version.as_ref().map(|v| v.seq);
    let event = match t.raised {
        None => None,
        Some(Raised::Deleted(c)) => {
            let (title, terms_removed) = match &state.last_version {
                Some(v) => {
                    let title = cx
                        .store
                        .version(state.id, v.seq)
                        .await
                        .ok()
                        .flatten()
                        .and_then(|i| i.title);
                    let terms = if spec.terms.is_empty() {
                        Vec::new()
                    } else {
                        match crate::store::version_text(cx.store, &v.text_hash).await {
                            Ok(t) => detect::terms_in(&spec.terms, &t),
                            Err(_) => Vec::new(),
                        }
                    };
                    (title, terms)
                }
                None => (None, Vec::new()),
            };
            tracing::warn!(how = %c.how, "deleted");
            Some(EventDraft {
                kind: EventKind::Deleted,
                data: json!({
                    "how": c.how,
                    "http_status": c.http_status,
                    "target": c.target,
                    "reason": c.reason,
                    "since": crate::model::format_millis(c.since),
                    "checks": c.checks,
                    "last_version": last_seq,
                    "title": title,
                    "terms_removed": terms_removed,
                }),
            })
        }
        Some(Raised::Unreachable(c)) | Some(Raised::Blocked(c)) => {
            let kind = if c.kind == status::CondKind::Blocked {
                EventKind::Blocked
            } else {
                EventKind::Unreachable
            };
            tracing::warn!(kind = kind.as_str(), "{}", c.how);
            Some(EventDraft {
                kind,
                data: json!({
                    "error": c.how,
                    "http_status": c.http_status,
                    "since": crate::model::format_millis(c.since),
                    "checks": c.checks,
                    "last_version": last_seq,
                }),
            })
        }
        Some(Raised::Reachable { after }) => Some(EventDraft {
            kind: EventKind::Reachable,
            data: json!({ "after": after.as_str(), "last_version": last_seq }),
        }),
        Some(Raised::Restored) => {
            tracing::info!("restored");
            // A restored page that also changed: its `edited` becomes the
            // `restored`, with the diff against the last good version.
            match record
                .events
                .iter_mut()
                .find(|e| matches!(e.kind, EventKind::Edited | EventKind::Reverted))
            {
                Some(e) => {
                    e.kind = EventKind::Restored;
                    if let Some(obj) = e.data.as_object_mut() {
                        obj.insert("after".into(), json!("deleted"));
                        obj.insert("unchanged".into(), json!(false));
                    }
                    None
                }
                None => Some(EventDraft {
                    kind: EventKind::Restored,
                    data: json!({
                        "after": "deleted",
                        "unchanged": true,
                        "from_version": last_seq,
                        "to_version": last_seq,
                    }),
                }),
            }
        }
    };
    record.events.extend(event);
}

fn merge_validators(old: &Validators, new: &Validators) -> Validators {
    Validators {
        etag: new.etag.clone().or_else(|| old.etag.clone()),
        last_modified: new
            .last_modified
            .clone()
            .or_else(|| old.last_modified.clone()),
    }
}

/// The URL that answered, as the check row keeps it: `None` when it is the
/// watch's own URL (most checks), which readers then take from the watch.
fn answered_url(spec: &WatchSpec, f: &Fetched) -> Option<String> {
    (f.final_url != spec.url).then(|| f.final_url.to_string())
}

fn base_record(spec_id: i64, started_at: Millis, outcome: CheckOutcome) -> CheckRecord {
    CheckRecord {
        watch_id: spec_id,
        started_at,
        duration_ms: 0,
        outcome,
        http_status: None,
        error_class: None,
        error: None,
        bytes: 0,
        final_url: None,
        redirects: Vec::new(),
        version: None,
        prev_version_id: None,
        events: Vec::new(),
        follow: Vec::new(),
        state: StateUpdate::default(),
    }
}

fn failed(
    spec: &WatchSpec,
    state: &WatchState,
    schedule: &ScheduleConfig,
    started_at: Millis,
    e: &fetch::FetchError,
) -> CheckRecord {
    tracing::warn!(error_class = e.class(), "check failed: {e}");
    let streak = state.failure_streak.saturating_add(1);
    let mut r = base_record(state.id, started_at, CheckOutcome::Failed);
    r.error_class = Some(e.class().to_string());
    r.error = Some(e.to_string());
    r.state = StateUpdate {
        next_due_at: timing::next_after_failure(
            &spec.name,
            spec.interval,
            schedule.max_backoff,
            streak,
            now_millis(),
        ),
        failure_streak: streak,
        seen: None,
        changed_at: None,
        status: state.status,
        pending: state.pending.clone(),
        touch_only: false,
    };
    r
}

fn http_error(
    spec: &WatchSpec,
    state: &WatchState,
    schedule: &ScheduleConfig,
    started_at: Millis,
    f: &Fetched,
) -> CheckRecord {
    tracing::warn!(status = f.status, "check got HTTP {}", f.status);
    let streak = state.failure_streak.saturating_add(1);
    let mut r = base_record(state.id, started_at, CheckOutcome::HttpError);
    r.http_status = Some(f.status);
    r.error_class = Some(format!("http_{}", f.status));
    r.error = Some(format!("the server answered HTTP {}", f.status));
    r.bytes = f.body.len() as u64;
    r.final_url = answered_url(spec, f);
    r.redirects = f.redirects.clone();
    r.state = StateUpdate {
        next_due_at: timing::next_after_failure(
            &spec.name,
            spec.interval,
            schedule.max_backoff,
            streak,
            now_millis(),
        ),
        failure_streak: streak,
        seen: None,
        changed_at: None,
        status: state.status,
        pending: state.pending.clone(),
        touch_only: false,
    };
    r
}

fn success(
    spec: &WatchSpec,
    watch_id: i64,
    started_at: Millis,
    f: &Fetched,
    outcome: CheckOutcome,
    seen: Seen,
) -> CheckRecord {
    let mut r = base_record(watch_id, started_at, outcome);
    r.http_status = Some(f.status);
    r.bytes = f.body.len() as u64;
    r.final_url = answered_url(spec, f);
    r.redirects = f.redirects.clone();
    r.state = StateUpdate {
        // From the start of the check, so that a reader can derive it from
        // the check row when the watch row is left as it was (a touch).
        next_due_at: timing::next_after_success(&spec.name, spec.interval, started_at),
        failure_streak: 0,
        seen: Some(seen),
        changed_at: None,
        status: PageStatus::Ok,
        pending: None,
        touch_only: false,
    };
    r
}

/// A good answer with nothing new in it: a 304, or the same bytes or text.
fn nothing_new(
    spec: &WatchSpec,
    state: &WatchState,
    started_at: Millis,
    f: &Fetched,
    outcome: CheckOutcome,
    seen: Seen,
) -> (CheckRecord, Observation) {
    (
        success(spec, state.id, started_at, f, outcome, seen),
        Observation::Content,
    )
}

/// A response that arrived but could not be processed: recorded as a
/// failure with its class, retried with backoff.
fn processing_failed(
    spec: &WatchSpec,
    state: &WatchState,
    schedule: &ScheduleConfig,
    started_at: Millis,
    f: &Fetched,
    class: &str,
    message: String,
) -> CheckRecord {
    let mut r = http_error(spec, state, schedule, started_at, f);
    r.outcome = CheckOutcome::Failed;
    r.error_class = Some(class.to_string());
    r.error = Some(message);
    r
}

/// Decodes and extracts a body the way `palimpsest check` shows it.
pub fn decode_and_extract(
    f: &Fetched,
    rules: &extract::Rules,
    body_hash: &[u8; 32],
) -> (Extracted, &'static str) {
    let html = matches!(
        f.media_type.as_str(),
        "text/html" | "application/xhtml+xml" | ""
    );
    let (text, enc, _) = fetch::charset::decode(&f.body, f.charset.as_deref(), html, &f.final_url);
    let extracted = extract::extract(
        &text,
        &f.media_type,
        &f.final_url,
        rules,
        f.body.len(),
        &blob::hex(body_hash),
    );
    (extracted, enc.name())
}

/// The hashes a check has computed before its body is processed.
struct Hashes {
    body: [u8; 32],
    rules: [u8; 32],
}

/// Runs [`content`] on a task of its own, in the check's span. A panic
/// there (a bug on one page) becomes a failed check of that page.
async fn process<S: Store>(
    shared: &Arc<Shared<S>>,
    spec: &Arc<WatchSpec>,
    state: &WatchState,
    started_at: Millis,
    f: Fetched,
    hashes: Hashes,
) -> (CheckRecord, Observation) {
    // For the failure record only; the body is shared, not copied.
    let fetched = f.clone();
    let (shared2, spec2, state2) = (shared.clone(), spec.clone(), state.clone());
    let task = tokio::spawn(
        async move { content(&shared2.cx(), &spec2, &state2, started_at, f, hashes).await }
            .in_current_span(),
    );
    match task.await {
        Ok(answer) => answer,
        Err(e) => {
            tracing::error!("processing the page failed: {e}");
            (
                processing_failed(
                    spec,
                    state,
                    &shared.schedule,
                    started_at,
                    &fetched,
                    "process",
                    format!("processing the page failed: {e}"),
                ),
                Observation::Content,
            )
        }
    }
}

async fn content<S: Store>(
    cx: &Context<'_, S>,
    spec: &WatchSpec,
    state: &WatchState,
    started_at: Millis,
    f: Fetched,
    hashes: Hashes,
) -> (CheckRecord, Observation) {
    let (store, schedule) = (cx.store, cx.schedule);
    let Hashes {
        body: body_hash,
        rules: rules_hash,
    } = hashes;
    let seen = |body_hash| Seen {
        validators: f.validators.clone(),
        body_hash: Some(body_hash),
        rules_hash,
    };
    let unchanged = || {
        nothing_new(
            spec,
            state,
            started_at,
            &f,
            CheckOutcome::Unchanged,
            seen(body_hash),
        )
    };
    let failed = |class: &str, message: String| {
        (
            processing_failed(spec, state, schedule, started_at, &f, class, message),
            Observation::Content,
        )
    };
    let gone = |how, reason| gone_by_content(spec, state, schedule, started_at, &f, how, reason);
    if let Some(answer) = bot_wall(spec, state, schedule, started_at, &f) {
        return answer;
    }
    // A redirect to the front page or to a section above the article: the
    // article is gone, whatever that page says. (A first check has nothing
    // to lose: whatever answers is the page.)
    let redirect = if f.redirects.is_empty() || state.last_version.is_none() {
        RedirectKind::Same
    } else {
        gone::redirect_kind(&spec.url, &f.final_url)
    };
    if matches!(redirect, RedirectKind::Root | RedirectKind::Section) {
        return gone(GoneHow::Redirect, None);
    }

    if let Some(listing) = spec.listing.clone() {
        return listing_content(
            cx, spec, state, started_at, f, body_hash, rules_hash, &listing,
        )
        .await;
    }

    let (extracted, encoding) = if f.body.len() > INLINE_EXTRACT_LIMIT {
        // The clone is cheap: the body is reference-counted `Bytes`.
        let (rules, f2) = (spec.rules.clone(), f.clone());
        match tokio::task::spawn_blocking(move || decode_and_extract(&f2, &rules, &body_hash)).await
        {
            Ok(v) => v,
            Err(e) => {
                tracing::error!("extraction task failed: {e}");
                return failed("extract", format!("extraction failed: {e}"));
            }
        }
    } else {
        decode_and_extract(&f, &spec.rules, &body_hash)
    };
    let text = extracted.text();
    let text_hash = blob::hash(text.as_bytes());

    if state
        .last_version
        .as_ref()
        .is_some_and(|last| last.text_hash == text_hash)
    {
        return unchanged();
    }

    // The last text, and in the same read whether this text was seen within
    // the flip-flop window (A → B → A is a reversion, not news).
    let window = i64::try_from(cx.detect.flipflop_window.as_millis()).unwrap_or(i64::MAX);
    let (previous, same_as, base) = match &state.last_version {
        Some(last) => match store
            .last_text(
                state.id,
                &last.text_hash,
                &text_hash,
                started_at.saturating_sub(window),
            )
            .await
        {
            Ok(last) => (Some(last.text), last.same_as, last.base),
            Err(e) => {
                // Without the old text there is no honest diff; try again next time.
                tracing::error!("cannot read the last version: {e}");
                return failed("store", e.to_string());
            }
        },
        None => (None, None, None),
    };

    // Is this answer the page, or the site saying it is gone?
    if let (Some(prev), Some(last)) = (previous.as_deref(), state.last_version.as_ref()) {
        // The last title matters only when the new one reads like an
        // error: an edit does not pay for the read.
        let prev_title = if extracted.title.as_deref().is_some_and(gone::is_error_title) {
            store
                .version(state.id, last.seq)
                .await
                .ok()
                .flatten()
                .and_then(|v| v.title)
        } else {
            None
        };
        if let Some(reason) = gone::soft404_reason(
            extracted.title.as_deref(),
            &text,
            prev_title.as_deref(),
            prev,
        ) {
            return gone(GoneHow::Soft404, Some(reason));
        }
        let sim = gone::similarity(prev, &text);
        if redirect == RedirectKind::Elsewhere && sim < 0.5 {
            return gone(GoneHow::Redirect, None);
        }
        if sim < gone::PROBE_BELOW
            && cx.detect.soft404_probe
            && let Some(reason) = probe_says_missing(cx, spec, &text).await
        {
            return gone(GoneHow::Soft404, Some(reason));
        }
    }

    let verdict = detect::compare(previous.as_deref(), &text);
    let from_seq = state.last_version.as_ref().map(|v| v.seq);
    let to_seq = from_seq.unwrap_or(0) + 1;
    let mut events = detect::events_for(&verdict, from_seq, to_seq, extracted.title.as_deref());
    if let (Verdict::Edited(d), Some(prev)) = (&verdict, previous.as_deref()) {
        for e in &mut events {
            detect::annotate_edit(e, d, prev, &text, &spec.terms);
        }
        // A text seen recently (A → B → A) is a flip-flop, not news.
        if let Some(seq) = same_as {
            for e in &mut events {
                if e.kind == EventKind::Edited {
                    e.kind = EventKind::Reverted;
                    if let Some(obj) = e.data.as_object_mut() {
                        obj.insert("same_as_version".into(), json!(seq));
                    }
                }
            }
        }
    }
    match &verdict {
        Verdict::First => tracing::info!(version = to_seq, "first version"),
        Verdict::Edited(d) => tracing::info!(
            version = to_seq,
            words_added = d.stats.words_added,
            words_removed = d.stats.words_removed,
            "edited"
        ),
        Verdict::WhitespaceOnly => {
            tracing::info!(version = to_seq, "whitespace-only change, no event")
        }
        Verdict::Same => {}
    }

    let title = extracted.title;
    new_version(
        spec,
        state,
        schedule,
        started_at,
        &f,
        NewText {
            text: &text,
            text_hash,
            title,
            encoding,
            rules_hash,
            body_hash,
            seq: to_seq,
            base: base.as_ref(),
        },
        events,
    )
}

/// A new text for [`new_version`].
struct NewText<'a> {
    text: &'a str,
    text_hash: [u8; 32],
    title: Option<String>,
    encoding: &'static str,
    rules_hash: [u8; 32],
    body_hash: [u8; 32],
    seq: i64,
    /// The plain body under the last version, to store this body against.
    base: Option<&'a crate::store::blob::Base>,
}

/// The record of a check that found a new text: blobs, version, events.
fn new_version(
    spec: &WatchSpec,
    state: &WatchState,
    schedule: &ScheduleConfig,
    started_at: Millis,
    f: &Fetched,
    t: NewText<'_>,
    events: Vec<EventDraft>,
) -> (CheckRecord, Observation) {
    // The body is compressed against the plain body under the last version
    // (mostly the same page), the text against its own body (mostly a copy
    // of it). The links are not stored: they are re-derived from the body.
    let blobs = (|| -> std::io::Result<(Blob, Blob)> {
        let body = Blob::compress_against_base(&f.body, t.body_hash, t.base)?;
        let text = Blob::compress_with(t.text.as_bytes(), t.text_hash, (&body.hash, &f.body))?;
        Ok((text, body))
    })();
    let (text_blob, body_blob) = match blobs {
        Ok(b) => b,
        Err(e) => {
            return (
                processing_failed(
                    spec,
                    state,
                    schedule,
                    started_at,
                    f,
                    "compress",
                    format!("compression failed: {e}"),
                ),
                Observation::Content,
            );
        }
    };
    let seen = Seen {
        validators: f.validators.clone(),
        body_hash: Some(t.body_hash),
        rules_hash: t.rules_hash,
    };
    let mut r = success(
        spec,
        state.id,
        started_at,
        f,
        CheckOutcome::NewVersion,
        seen,
    );
    r.state.changed_at = Some(started_at);
    r.prev_version_id = state.last_version.as_ref().map(|v| v.id);
    r.version = Some(NewVersion {
        seq: t.seq,
        text: text_blob,
        body: body_blob,
        title: t.title,
        http_status: f.status,
        final_url: f.final_url.to_string(),
        media_type: f.media_type.clone(),
        encoding: Some(t.encoding.to_string()),
        rules_hash: t.rules_hash,
    });
    r.events = events;
    (r, Observation::Content)
}

/// A listing: its items are the text; new and withdrawn items are the events.
#[allow(clippy::too_many_arguments)]
async fn listing_content<S: Store>(
    cx: &Context<'_, S>,
    spec: &WatchSpec,
    state: &WatchState,
    started_at: Millis,
    f: Fetched,
    body_hash: [u8; 32],
    rules_hash: [u8; 32],
    rules: &extract::listing::ListingRules,
) -> (CheckRecord, Observation) {
    use extract::listing::{self, Item};
    let schedule = cx.schedule;
    let html = matches!(
        f.media_type.as_str(),
        "text/html" | "application/xhtml+xml" | ""
    );
    let (decoded, enc, _) =
        fetch::charset::decode(&f.body, f.charset.as_deref(), html, &f.final_url);
    let items = listing::extract_items(&decoded, &f.media_type, &f.final_url, rules);
    let title = html.then(|| extract::title_of(&decoded)).flatten();
    let text = listing::to_text(&items);
    let text_hash = blob::hash(text.as_bytes());
    let follow: Vec<crate::store::FollowItem> = if spec.follow {
        items
            .iter()
            .filter_map(|i| {
                let u = url::Url::parse(&i.url).ok()?;
                let path = match u.query() {
                    Some(q) => format!("{}?{q}", u.path()),
                    None => u.path().to_string(),
                };
                Some(crate::store::FollowItem {
                    url: i.url.clone(),
                    name: format!("{}{}", spec.name, path),
                })
            })
            .collect()
    } else {
        Vec::new()
    };
    let unchanged = |follow| {
        let seen = Seen {
            validators: f.validators.clone(),
            body_hash: Some(body_hash),
            rules_hash,
        };
        let mut r = success(
            spec,
            state.id,
            started_at,
            &f,
            CheckOutcome::Unchanged,
            seen,
        );
        r.follow = follow;
        (r, Observation::Content)
    };
    if state
        .last_version
        .as_ref()
        .is_some_and(|last| last.text_hash == text_hash)
    {
        return unchanged(follow);
    }
    let prev_items: Option<Vec<Item>> = match &state.last_version {
        Some(last) => match crate::store::version_text(cx.store, &last.text_hash).await {
            Ok(t) => Some(listing::from_text(&t)),
            Err(e) => {
                tracing::error!("cannot read the last version: {e}");
                return (
                    processing_failed(
                        spec,
                        state,
                        schedule,
                        started_at,
                        &f,
                        "store",
                        e.to_string(),
                    ),
                    Observation::Content,
                );
            }
        },
        None => None,
    };
    let from_seq = state.last_version.as_ref().map(|v| v.seq);
    let to_seq = from_seq.unwrap_or(0) + 1;
    let item_json = |i: &Item| json!({ "url": i.url, "title": i.title, "date": i.date });
    let events = match &prev_items {
        None => vec![EventDraft {
            kind: EventKind::FirstSeen,
            data: json!({ "to_version": to_seq, "title": title, "items": items.len() }),
        }],
        Some(prev) => {
            let changes = crate::detect::listing::compare_items(prev, &items);
            if changes.suspicious_shrink {
                // Half the list gone at once is a broken page until it
                // persists; then it is adopted without events.
                let persisted = state.pending.as_ref().is_some_and(|p| {
                    p.how == "listing_collapsed"
                        && p.checks.saturating_add(1) >= cx.detect.confirm_checks
                });
                if !persisted {
                    tracing::warn!(
                        before = prev.len(),
                        now = items.len(),
                        "the listing collapsed; keeping the previous items"
                    );
                    let mut r = processing_failed(
                        spec,
                        state,
                        schedule,
                        started_at,
                        &f,
                        "listing_collapsed",
                        format!(
                            "the list shrank from {} to {} items",
                            prev.len(),
                            items.len()
                        ),
                    );
                    r.outcome = CheckOutcome::HttpError;
                    return (
                        r,
                        Observation::Failed {
                            class: "listing_collapsed".into(),
                            http_status: Some(f.status),
                        },
                    );
                }
                Vec::new()
            } else {
                let mut ev = Vec::new();
                for i in &changes.added {
                    ev.push(EventDraft {
                        kind: EventKind::ItemAdded,
                        data: json!({
                            "item": item_json(i),
                            "title": i.title,
                            "listing_title": title,
                            "from_version": from_seq,
                            "to_version": to_seq,
                        }),
                    });
                }
                for i in &changes.removed {
                    ev.push(EventDraft {
                        kind: EventKind::ItemRemoved,
                        data: json!({
                            "item": item_json(i),
                            "title": i.title,
                            "listing_title": title,
                            "from_version": from_seq,
                            "to_version": to_seq,
                        }),
                    });
                }
                ev
            }
        }
    };
    tracing::info!(
        version = to_seq,
        items = items.len(),
        events = events.len(),
        "new listing version"
    );
    let (mut r, obs) = new_version(
        spec,
        state,
        schedule,
        started_at,
        &f,
        NewText {
            text: &text,
            text_hash,
            title,
            encoding: enc.name(),
            rules_hash,
            body_hash,
            seq: to_seq,
            // A listing's page changes all over; its body is stored plain.
            base: None,
        },
        events,
    );
    r.follow = follow;
    (r, obs)
}

/// A bot wall (a CDN/WAF challenge or block page, a captcha) is the site
/// refusing us, whatever the status: a check row, no version.
fn bot_wall(
    spec: &WatchSpec,
    state: &WatchState,
    schedule: &ScheduleConfig,
    started_at: Millis,
    f: &Fetched,
) -> Option<(CheckRecord, Observation)> {
    let wall = gone::bot_wall(&f.body)?;
    let mut record = http_error(spec, state, schedule, started_at, f);
    record.error_class = Some("blocked".into());
    record.error = Some(format!("the site answered with a bot wall ({wall})"));
    Some((
        record,
        Observation::Blocked {
            http_status: Some(f.status),
            reason: wall.to_string(),
        },
    ))
}

/// A 200 answer that is really "gone": a check row, no version.
fn gone_by_content(
    spec: &WatchSpec,
    state: &WatchState,
    schedule: &ScheduleConfig,
    started_at: Millis,
    f: &Fetched,
    how: GoneHow,
    reason: Option<String>,
) -> (CheckRecord, Observation) {
    let mut r = http_error(spec, state, schedule, started_at, f);
    r.error_class = Some(format!("gone_{}", how.as_str()));
    r.error = Some(match &reason {
        Some(why) => format!("the page looks gone ({}): {why}", how.as_str()),
        None => format!("redirected away to {}", f.final_url),
    });
    let target = (how == GoneHow::Redirect).then(|| f.final_url.to_string());
    (
        r,
        Observation::Gone {
            how,
            http_status: Some(f.status),
            target,
            reason,
        },
    )
}

/// Asks the site for a sibling URL that cannot exist. If its answer looks
/// like this one, this one is the site's "not found" page.
async fn probe_says_missing<S: Store>(
    cx: &Context<'_, S>,
    spec: &WatchSpec,
    text: &str,
) -> Option<String> {
    let token = blob::hex(&blob::hash(
        format!("{}{}", spec.url, now_millis()).as_bytes(),
    ));
    let url = gone::probe_url(&spec.url, token.get(..16).unwrap_or("probe"));
    let f = match cx.fetcher.fetch(&url, &Validators::default()).await {
        Ok(f) => f,
        Err(e) => {
            tracing::debug!("soft-404 probe failed: {e}");
            return None;
        }
    };
    let (probe, _) = decode_and_extract(&f, &spec.rules, &blob::hash(&f.body));
    let sim = gone::similarity(&probe.text(), text);
    (sim >= gone::SAME_PAGE_AT).then(|| {
        format!(
            "it matches the site's answer for a missing page ({} answered HTTP {})",
            url, f.status
        )
    })
}
