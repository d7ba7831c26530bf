//! Routes for operators and feed readers: `/healthz` (alive), `/readyz`
//! (503 while starting or draining), `/metrics` (Prometheus, bearer
//! token), Atom feeds of events, and the one-click unsubscribe endpoint
//! of alert emails (RFC 8058).

use super::auth::{self, Bearer};
use super::feeds::{self, FeedEntry};
use super::{ApiError, App};
use crate::control::Readiness;
use crate::store::{EventFilter, EventRow, Store};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use std::sync::Arc;

type AppState<S> = State<Arc<App<S>>>;

pub(super) fn routes<S: Store>() -> Router<Arc<App<S>>> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz::<S>))
        .route("/metrics", get(metrics::<S>))
        .route("/feeds/events.atom", get(feed_all::<S>))
        .route("/feeds/watch/{watch}", get(feed_watch::<S>))
        .route("/feeds/tag/{tag}", get(feed_tag::<S>))
        .route(
            "/unsubscribe/{token}",
            get(unsubscribe_page::<S>).post(unsubscribe::<S>),
        )
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz<S: Store>(State(app): AppState<S>) -> Response {
    match app.control.readiness() {
        Readiness::Ready => (StatusCode::OK, "ready\n").into_response(),
        Readiness::Starting => (StatusCode::SERVICE_UNAVAILABLE, "starting\n").into_response(),
        Readiness::Draining => (StatusCode::SERVICE_UNAVAILABLE, "draining\n").into_response(),
    }
}

async fn metrics<S: Store>(State(app): AppState<S>, _auth: Bearer) -> Result<Response, ApiError> {
    let snap = app.store.ops_snapshot().await?;
    let now = super::now();
    let text = app.control.metrics.encode(&crate::metrics::Snapshot {
        watches_by_status: snap.watches_by_status,
        oldest_pending_delivery_age: snap.oldest_pending_delivery.map(|t| {
            std::time::Duration::from_millis(u64::try_from(now.saturating_sub(t)).unwrap_or(0))
        }),
    });
    Ok(([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text).into_response())
}

#[derive(Debug, Default, Deserialize)]
struct FeedQuery {
    token: Option<String>,
}

/// A feed reader with a valid token. Feeds take the token in the query
/// string (feed readers cannot send headers) or as a bearer token; any
/// valid token will do, since a feed only reads.
struct FeedReader;

impl<S: Store> axum::extract::FromRequestParts<Arc<App<S>>> for FeedReader {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        app: &Arc<App<S>>,
    ) -> Result<Self, ApiError> {
        let q = Query::<FeedQuery>::try_from_uri(&parts.uri)
            .map(|Query(q)| q)
            .unwrap_or_default();
        let from_header = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let Some(token) = q.token.as_deref().or(from_header) else {
            return Err(
                ApiError::new(StatusCode::UNAUTHORIZED, "feeds need a token").hint(
                    "add ?token=TOKEN (a read-only token: `palimpsest token create NAME --read-only`)",
                ),
            );
        };
        match auth::lookup(app, token).await? {
            Some(_) => Ok(FeedReader),
            None => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "this token is not valid",
            )),
        }
    }
}

fn base_url<S>(app: &App<S>, headers: &axum::http::HeaderMap) -> String {
    if let Some(u) = &app.control.config().server.public_url {
        return u.trim_end_matches('/').to_string();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}")
}

fn entries(base: &str, rows: &[EventRow]) -> Vec<FeedEntry> {
    rows.iter()
        .map(|r| {
            let e = &r.event;
            let link = match (e.prev_version_seq, e.version_seq) {
                (Some(a), Some(b)) => format!("{base}/watches/{}/diff?from={a}&to={b}", e.watch_id),
                _ => format!("{base}/watches/{}", e.watch_id),
            };
            FeedEntry {
                id: e.id,
                watch_name: r.watch.clone(),
                watch_url: r.url.clone(),
                kind: e.kind.as_str().to_string(),
                created_at: e.created_at,
                summary: summary(r),
                link,
            }
        })
        .collect()
}

/// One line on what happened, from the event's data.
fn summary(r: &EventRow) -> String {
    let d = &r.event.data;
    let mut s = format!("{}: {}", r.event.kind.as_str(), r.watch);
    if let Some(st) = d.get("stats") {
        let n = |k: &str| st.get(k).and_then(|v| v.as_u64()).unwrap_or(0);
        s.push_str(&format!(
            " (+{} / -{} words)",
            n("words_added"),
            n("words_removed")
        ));
    }
    for (key, label) in [("removed", "removed"), ("added", "added")] {
        if let Some(words) = d.get(key).and_then(|v| v.as_array())
            && !words.is_empty()
        {
            let w: Vec<&str> = words.iter().filter_map(|x| x.as_str()).take(5).collect();
            s.push_str(&format!("; {label}: {}", w.join(" · ")));
        }
    }
    s.push_str(&format!(" — {}", r.url));
    s
}

async fn feed<S: Store>(
    app: &App<S>,
    headers: &axum::http::HeaderMap,
    title: &str,
    id: &str,
    path: &str,
    filter: EventFilter,
) -> Result<Response, ApiError> {
    let rows = app.store.list_events(&filter).await?;
    let base = base_url(app, headers);
    let xml = feeds::atom(
        title,
        id,
        &format!("{base}{path}"),
        &format!("{base}/"),
        &entries(&base, &rows),
    );
    Ok((
        [(header::CONTENT_TYPE, "application/atom+xml; charset=utf-8")],
        xml,
    )
        .into_response())
}

const FEED_LEN: i64 = 100;

async fn feed_all<S: Store>(
    State(app): AppState<S>,
    _reader: FeedReader,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    let filter = EventFilter {
        limit: FEED_LEN,
        ..Default::default()
    };
    feed(
        &app,
        &headers,
        "palimpsest: every event",
        "urn:palimpsest:events",
        "/feeds/events.atom",
        filter,
    )
    .await
}

async fn feed_watch<S: Store>(
    State(app): AppState<S>,
    _reader: FeedReader,
    headers: axum::http::HeaderMap,
    Path(key): Path<String>,
) -> Result<Response, ApiError> {
    let key = key.strip_suffix(".atom").unwrap_or(&key).to_string();
    let w = super::api::watch_of(&app, &key).await?;
    let filter = EventFilter {
        watch_id: Some(w.id),
        limit: FEED_LEN,
        ..Default::default()
    };
    feed(
        &app,
        &headers,
        &format!("palimpsest: {}", w.name),
        &format!("urn:palimpsest:watch:{}", w.id),
        &format!("/feeds/watch/{}.atom", w.id),
        filter,
    )
    .await
}

async fn feed_tag<S: Store>(
    State(app): AppState<S>,
    _reader: FeedReader,
    headers: axum::http::HeaderMap,
    Path(tag): Path<String>,
) -> Result<Response, ApiError> {
    let tag = tag.strip_suffix(".atom").unwrap_or(&tag).to_string();
    let filter = EventFilter {
        tag: Some(tag.clone()),
        limit: FEED_LEN,
        ..Default::default()
    };
    let path = format!(
        "/feeds/tag/{}.atom",
        url::form_urlencoded::byte_serialize(tag.as_bytes()).collect::<String>()
    );
    feed(
        &app,
        &headers,
        &format!("palimpsest: tag {tag}"),
        &format!("urn:palimpsest:tag:{tag}"),
        &path,
        filter,
    )
    .await
}

/// `TOKEN` is `MESSAGE_ID.SIGNATURE`; anything else, or a message that
/// does not exist, is 404 (a forged link learns nothing).
async fn target<S: Store>(
    app: &App<S>,
    token: &str,
) -> Result<Option<crate::store::UnsubscribeTarget>, ApiError> {
    let Some((msg, sig)) = token.split_once('.') else {
        return Ok(None);
    };
    if !auth::unsubscribe_ok(&app.key, msg, sig) {
        return Ok(None);
    }
    Ok(app.store.unsubscribe_target(msg).await?)
}

fn gone() -> Response {
    (
        StatusCode::NOT_FOUND,
        super::pages::not_found(None, "this unsubscribe link"),
    )
        .into_response()
}

/// GET shows what a POST would do and changes nothing (mail scanners
/// follow links; only the one-click POST unsubscribes).
async fn unsubscribe_page<S: Store>(
    State(app): AppState<S>,
    Path(token): Path<String>,
) -> Result<Response, ApiError> {
    Ok(match target(&app, &token).await? {
        Some(t) => super::pages::unsubscribe_confirm(&t.channel, t.unsubscribed).into_response(),
        None => gone(),
    })
}

/// RFC 8058 one-click: idempotent.
async fn unsubscribe<S: Store>(
    State(app): AppState<S>,
    Path(token): Path<String>,
) -> Result<Response, ApiError> {
    Ok(match target(&app, &token).await? {
        Some(t) => {
            app.store
                .unsubscribe(t.subscription_id, super::now())
                .await?;
            tracing::info!(channel = %t.channel, subscription = t.subscription_id, "unsubscribed by its recipient");
            super::pages::unsubscribe_confirm(&t.channel, true).into_response()
        }
        None => gone(),
    })
}
