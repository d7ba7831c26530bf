//! One check of one watch: fetch, decode, extract, compare, and the
//! [`CheckRecord`] that the store writes in one transaction.
//!
//! The cheap paths come first, because most checks find nothing new:
//! a 304 costs one request; identical body bytes cost one hash and no
//! parse; an identical extracted text costs one parse and no diff. Only a
//! text whose hash differs from the last version's reads that version back
//! and diffs it.

use crate::config::{ScheduleConfig, WatchSpec};
use crate::detect::{self, Verdict};
use crate::extract::{self, Extracted};
use crate::fetch::{self, Fetched, Fetcher, Validators};
use crate::model::{CheckOutcome, Millis, now_millis};
use crate::schedule::timing;
use crate::store::blob::{self, Blob};
use crate::store::{CheckRecord, NewVersion, Seen, StateUpdate, Store, WatchState};
use std::time::Instant;

/// Bodies larger than this are extracted on the blocking pool.
const INLINE_EXTRACT_LIMIT: usize = 512 * 1024;

/// Runs one check. Never fails: every failure becomes a check row.
pub async fn run<S: Store>(
    fetcher: &Fetcher,
    store: &S,
    spec: &WatchSpec,
    state: &WatchState,
    schedule: &ScheduleConfig,
) -> CheckRecord {
    let started_at = now_millis();
    let t0 = Instant::now();
    let rules_hash = spec.rules.fingerprint();
    // Validators are only trusted when the stored version was made under the same rules.
    let same_rules = state.rules_hash == Some(rules_hash);
    let validators = if state.last_version.is_some() && same_rules {
        state.validators.clone()
    } else {
        Validators::default()
    };
    let result = fetcher.fetch(&spec.url, &validators).await;
    let mut record = match result {
        Err(e) => failed(spec, state, schedule, started_at, &e),
        Ok(f) => match f.status {
            200..=299 => {
                content(
                    store, spec, state, schedule, started_at, f, rules_hash, same_rules,
                )
                .await
            }
            304 if state.last_version.is_some() => {
                let seen = Seen {
                    validators: merge_validators(&state.validators, &f.validators),
                    body_hash: state.body_hash,
                    rules_hash,
                };
                success(
                    spec,
                    state.id,
                    started_at,
                    &f,
                    CheckOutcome::NotModified,
                    seen,
                )
            }
            _ => http_error(spec, state, schedule, started_at, &f),
        },
    };
    record.duration_ms = i64::try_from(t0.elapsed().as_millis()).unwrap_or(i64::MAX);
    record
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
    r.final_url = Some(f.final_url.to_string());
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
    r.final_url = Some(f.final_url.to_string());
    r.redirects = f.redirects.clone();
    r.state = StateUpdate {
        next_due_at: timing::next_after_success(&spec.name, spec.interval, now_millis()),
        failure_streak: 0,
        seen: Some(seen),
        changed_at: None,
    };
    r
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

#[allow(clippy::too_many_arguments)]
async fn content<S: Store>(
    store: &S,
    spec: &WatchSpec,
    state: &WatchState,
    schedule: &ScheduleConfig,
    started_at: Millis,
    f: Fetched,
    rules_hash: [u8; 32],
    same_rules: bool,
) -> CheckRecord {
    let body_hash = blob::hash(&f.body);
    let seen = |body_hash| Seen {
        validators: f.validators.clone(),
        body_hash: Some(body_hash),
        rules_hash,
    };
    let unchanged = || {
        success(
            spec,
            state.id,
            started_at,
            &f,
            CheckOutcome::Unchanged,
            seen(body_hash),
        )
    };
    // Same bytes, same rules, a version exists: nothing can have changed.
    if same_rules && state.last_version.is_some() && state.body_hash == Some(body_hash) {
        return unchanged();
    }

    let (extracted, encoding) = if f.body.len() > INLINE_EXTRACT_LIMIT {
        // The clone is cheap: the body is reference-counted `Bytes`.
        let (rules, f2) = (spec.rules.clone(), f.clone());
        match tokio::task::spawn_blocking(move || decode_and_extract(&f2, &rules, &body_hash)).await
        {
            Ok(v) => v,
            Err(e) => {
                tracing::error!("extraction task failed: {e}");
                return processing_failed(
                    spec,
                    state,
                    schedule,
                    started_at,
                    &f,
                    "extract",
                    format!("extraction failed: {e}"),
                );
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

    let previous = match &state.last_version {
        Some(last) => match crate::store::version_text(store, &last.text_hash).await {
            Ok(t) => Some(t),
            Err(e) => {
                // Without the old text there is no honest diff; try again next time.
                tracing::error!("cannot read the last version: {e}");
                return processing_failed(
                    spec,
                    state,
                    schedule,
                    started_at,
                    &f,
                    "store",
                    e.to_string(),
                );
            }
        },
        None => None,
    };
    let verdict = detect::compare(previous.as_deref(), &text);
    let from_seq = state.last_version.as_ref().map(|v| v.seq);
    let to_seq = from_seq.unwrap_or(0) + 1;
    let events = detect::events_for(&verdict, from_seq, to_seq, extracted.title.as_deref());
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

    // The text is compressed against its own body, of which it is mostly a
    // copy. The links are not stored: they are re-derived from the body.
    let blobs = (|| -> std::io::Result<(Blob, Blob)> {
        let body = Blob::compress(&f.body)?;
        let text = Blob::compress_with(text.as_bytes(), (&body.hash, &f.body))?;
        Ok((text, body))
    })();
    let (text_blob, body_blob) = match blobs {
        Ok(b) => b,
        Err(e) => {
            return processing_failed(
                spec,
                state,
                schedule,
                started_at,
                &f,
                "compress",
                format!("compression failed: {e}"),
            );
        }
    };
    let mut r = success(
        spec,
        state.id,
        started_at,
        &f,
        CheckOutcome::NewVersion,
        seen(body_hash),
    );
    r.state.changed_at = Some(started_at);
    r.prev_version_id = state.last_version.as_ref().map(|v| v.id);
    r.version = Some(NewVersion {
        seq: to_seq,
        text: text_blob,
        body: body_blob,
        title: extracted.title,
        http_status: f.status,
        final_url: f.final_url.to_string(),
        media_type: f.media_type.clone(),
        encoding: Some(encoding.to_string()),
        rules_hash,
    });
    r.events = events;
    r
}
