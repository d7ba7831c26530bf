//! `/api/v1`: JSON for programs. Every route needs a bearer token; routes
//! that change something refuse read-only tokens. Errors are JSON:
//! `{"error": "...", "hint": "...", "details": [...]}`.
//!
//! Watches, channels and subscriptions defined in the config file are
//! shown but read-only (409); those made here live in the database as
//! config fragments ([`super::objects`]).

use super::auth::Bearer;
use super::objects::{self, Change};
use super::{ApiError, App};
use crate::detect::diff;
use crate::store::{
    ApiObject, EventFilter, ObjectKind, Store, VersionInfo, WatchSummary, version_text,
};
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::sync::Arc;

type AppState<S> = State<Arc<App<S>>>;
type ApiResult = Result<Response, ApiError>;

/// Every API route as (method, path), in the form the OpenAPI document
/// uses; a test checks that the two agree.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/api/v1/openapi.json"),
    ("get", "/api/v1/watches"),
    ("post", "/api/v1/watches"),
    ("get", "/api/v1/watches/{watch}"),
    ("patch", "/api/v1/watches/{watch}"),
    ("delete", "/api/v1/watches/{watch}"),
    ("post", "/api/v1/watches/{watch}/pause"),
    ("post", "/api/v1/watches/{watch}/resume"),
    ("post", "/api/v1/watches/{watch}/check"),
    ("get", "/api/v1/watches/{watch}/versions"),
    ("get", "/api/v1/watches/{watch}/versions/{seq}"),
    ("get", "/api/v1/watches/{watch}/versions/{seq}/text"),
    ("get", "/api/v1/watches/{watch}/versions/{seq}/raw"),
    ("get", "/api/v1/watches/{watch}/diff"),
    ("get", "/api/v1/events"),
    ("get", "/api/v1/channels"),
    ("post", "/api/v1/channels"),
    ("delete", "/api/v1/channels/{channel}"),
    ("get", "/api/v1/subscriptions"),
    ("post", "/api/v1/subscriptions"),
    ("delete", "/api/v1/subscriptions/{id}"),
    ("get", "/api/v1/deliveries"),
    ("post", "/api/v1/deliveries/{id}/retry"),
    ("post", "/api/v1/preview"),
];

pub(super) fn routes<S: Store>() -> Router<Arc<App<S>>> {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi::<S>))
        .route(
            "/api/v1/watches",
            get(list_watches::<S>).post(create_watch::<S>),
        )
        .route(
            "/api/v1/watches/{watch}",
            get(get_watch::<S>)
                .patch(update_watch::<S>)
                .delete(delete_watch::<S>),
        )
        .route("/api/v1/watches/{watch}/pause", post(pause::<S>))
        .route("/api/v1/watches/{watch}/resume", post(resume::<S>))
        .route("/api/v1/watches/{watch}/check", post(check_now::<S>))
        .route("/api/v1/watches/{watch}/versions", get(list_versions::<S>))
        .route(
            "/api/v1/watches/{watch}/versions/{seq}",
            get(get_version::<S>),
        )
        .route(
            "/api/v1/watches/{watch}/versions/{seq}/text",
            get(version_text_route::<S>),
        )
        .route(
            "/api/v1/watches/{watch}/versions/{seq}/raw",
            get(version_raw::<S>),
        )
        .route("/api/v1/watches/{watch}/diff", get(diff_route::<S>))
        .route("/api/v1/events", get(list_events::<S>))
        .route(
            "/api/v1/channels",
            get(list_channels::<S>).post(create_channel::<S>),
        )
        .route(
            "/api/v1/channels/{channel}",
            axum::routing::delete(delete_channel::<S>),
        )
        .route(
            "/api/v1/subscriptions",
            get(list_subscriptions::<S>).post(create_subscription::<S>),
        )
        .route(
            "/api/v1/subscriptions/{id}",
            axum::routing::delete(delete_subscription::<S>),
        )
        .route("/api/v1/deliveries", get(list_deliveries::<S>))
        .route("/api/v1/deliveries/{id}/retry", post(retry_delivery::<S>))
        .route("/api/v1/preview", post(preview_route::<S>))
}

/// A JSON request body; a body that is not JSON is a JSON 400 (413 past
/// the size limit), like every other API error.
pub struct JsonBody(pub Value);

impl<St: Send + Sync> FromRequest<St> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &St) -> Result<Self, ApiError> {
        match Json::<Value>::from_request(req, state).await {
            Ok(Json(v)) => Ok(JsonBody(v)),
            Err(e) => Err(ApiError::new(e.status(), e.body_text())
                .hint("send a JSON object with `Content-Type: application/json`")),
        }
    }
}

fn ok(v: impl serde::Serialize) -> ApiResult {
    Ok(Json(v).into_response())
}

fn created(v: impl serde::Serialize) -> ApiResult {
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

/// The watch named by a path segment (name or id), or 404.
pub(super) async fn watch_of<S: Store>(app: &App<S>, key: &str) -> Result<WatchSummary, ApiError> {
    app.store.find_watch(key).await?.ok_or_else(|| {
        ApiError::not_found(format!("no watch named or numbered `{key}`"))
            .hint("GET /api/v1/watches lists the watches")
    })
}

/// The names of the objects of a kind made through the API.
pub(super) async fn api_names<S: Store>(
    app: &App<S>,
    kind: ObjectKind,
) -> Result<std::collections::HashSet<String>, ApiError> {
    Ok(app
        .store
        .api_objects()
        .await?
        .into_iter()
        .filter(|o| o.kind == kind)
        .map(|o| o.name)
        .collect())
}

/// Says where an object is defined (`api`, `config`, `follow`) and so
/// whether the API may change it.
fn mark_source(v: &mut Value, source: &str) {
    v["source"] = json!(source);
    v["read_only"] = json!(source != "api");
}

/// Where a watch is defined: `api`, `config` or `follow` (found on a listing).
pub(super) async fn origin_of<S: Store>(
    app: &App<S>,
    name: &str,
) -> Result<&'static str, ApiError> {
    if objects::find(app, ObjectKind::Watch, name).await?.is_some() {
        return Ok("api");
    }
    let cfg = app.control.config();
    Ok(if cfg.watches.iter().any(|w| w.name == name) {
        "config"
    } else {
        "follow"
    })
}

async fn watch_json<S: Store>(app: &App<S>, w: &WatchSummary) -> Result<Value, ApiError> {
    let origin = origin_of(app, &w.name).await?;
    let mut v = serde_json::to_value(w).unwrap_or(Value::Null);
    mark_source(&mut v, origin);
    v["definition"] = match origin {
        "api" => objects::find(app, ObjectKind::Watch, &w.name)
            .await?
            .map(|o| Value::Object(objects::json_of(&o.body)))
            .unwrap_or(Value::Null),
        _ => app
            .control
            .config()
            .watches
            .iter()
            .find(|s| s.name == w.name)
            .map(|s| {
                json!({
                    "name": s.name, "url": s.url.as_str(), "kind": s.kind.as_str(),
                    "interval": humantime::format_duration(s.interval).to_string(),
                    "tags": s.tags, "paused": s.paused, "follow": s.follow,
                })
            })
            .unwrap_or(Value::Null),
    };
    Ok(v)
}

#[derive(Debug, Deserialize)]
struct WatchQuery {
    tag: Option<String>,
    status: Option<String>,
    /// Also watches that are no longer defined (their history is kept).
    #[serde(default)]
    all: bool,
}

async fn list_watches<S: Store>(
    State(app): AppState<S>,
    _auth: Bearer,
    q: Result<Query<WatchQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let api_names = api_names(app.as_ref(), ObjectKind::Watch).await?;
    let out: Vec<Value> = app
        .store
        .watch_summaries()
        .await?
        .into_iter()
        .filter(|w| q.all || w.active)
        .filter(|w| q.tag.as_ref().is_none_or(|t| w.tags.contains(t)))
        .filter(|w| q.status.as_ref().is_none_or(|s| &w.status == s))
        .map(|w| {
            let api = api_names.contains(&w.name);
            let mut v = serde_json::to_value(&w).unwrap_or(Value::Null);
            mark_source(&mut v, if api { "api" } else { "config" });
            v
        })
        .collect();
    ok(json!({ "watches": out }))
}

async fn get_watch<S: Store>(
    State(app): AppState<S>,
    _auth: Bearer,
    Path(key): Path<String>,
) -> ApiResult {
    let w = watch_of(&app, &key).await?;
    ok(watch_json(&app, &w).await?)
}

/// Stores a watch definition and returns the watch once it is in force;
/// `None` when it is saved and in force but the scheduler has not synced
/// it into the store yet (it is busy finishing a slow check).
pub(super) async fn put_watch<S: Store>(
    app: &App<S>,
    def: Map<String, Value>,
) -> Result<Option<WatchSummary>, ApiError> {
    let name = objects::name_field(&def, "name")?;
    let body = objects::toml_body(&def)?;
    let cfg = objects::change(
        app,
        Change::Put(ApiObject {
            kind: ObjectKind::Watch,
            name: name.clone(),
            body,
        }),
    )
    .await?;
    let spec = cfg.watches.iter().find(|s| s.name == name);
    // The scheduler syncs the new config into the database; wait for it
    // (briefly) so the answer can show the watch as stored. A watch that
    // existed is active already: wait until it shows the change too.
    for _ in 0..100 {
        if let Some(w) = app.store.find_watch(&name).await?
            && w.active
            && spec.is_none_or(|s| {
                w.paused == s.paused
                    && w.url == s.url.as_str()
                    && w.kind == s.kind.as_str()
                    && w.tags == s.tags
            })
        {
            // A new or changed watch is checked now, not at its next turn.
            if !w.paused {
                app.control.check_now(w.id);
            }
            return Ok(Some(w));
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    Ok(None)
}

/// 202: a change is saved and in force, the store has not caught up yet.
fn accepted(name: &str) -> ApiResult {
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "saved": name,
            "note": "the scheduler is finishing running checks and will pick the change up; GET the watch again in a moment",
        })),
    )
        .into_response())
}

async fn create_watch<S: Store>(
    State(app): AppState<S>,
    auth: Bearer,
    JsonBody(body): JsonBody,
) -> ApiResult {
    auth.write()?;
    let def = objects::object(body)?;
    let name = objects::name_field(&def, "name")?;
    if app.store.find_watch(&name).await?.is_some_and(|w| w.active) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("a watch named `{name}` exists"),
        )
        .hint("change it with PATCH /api/v1/watches/NAME, or choose another name"));
    }
    match put_watch(&app, def).await? {
        Some(w) => created(watch_json(&app, &w).await?),
        None => accepted(&name),
    }
}

/// The stored definition of a watch made through the API, or 409/404.
async fn api_watch<S: Store>(
    app: &App<S>,
    key: &str,
) -> Result<(WatchSummary, ApiObject), ApiError> {
    let w = watch_of(app, key).await?;
    match objects::find(app, ObjectKind::Watch, &w.name).await? {
        Some(o) => Ok((w, o)),
        None => Err(objects::read_only("watch", &w.name, &app.control.config())),
    }
}

/// Changes some fields of a watch made through the API (the UI's pause
/// and resume too).
pub(super) async fn patch_watch<S: Store>(
    app: &App<S>,
    key: &str,
    patch: Map<String, Value>,
) -> ApiResult {
    let (w, obj) = api_watch(app, key).await?;
    let mut def = objects::json_of(&obj.body);
    for (k, v) in patch {
        if k == "name" && v.as_str() != Some(w.name.as_str()) {
            return Err(ApiError::bad_request("a watch's name cannot change")
                .hint("create a new watch instead; the name is how its history is found"));
        }
        if v.is_null() {
            def.remove(&k);
        } else {
            def.insert(k, v);
        }
    }
    match put_watch(app, def).await? {
        Some(w) => ok(watch_json(app, &w).await?),
        None => accepted(&w.name),
    }
}

async fn update_watch<S: Store>(
    State(app): AppState<S>,
    auth: Bearer,
    Path(key): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult {
    auth.write()?;
    patch_watch(&app, &key, objects::object(body)?).await
}

async fn pause<S: Store>(
    State(app): AppState<S>,
    auth: Bearer,
    Path(key): Path<String>,
) -> ApiResult {
    auth.write()?;
    patch_watch(&app, &key, Map::from_iter([("paused".into(), json!(true))])).await
}

async fn resume<S: Store>(
    State(app): AppState<S>,
    auth: Bearer,
    Path(key): Path<String>,
) -> ApiResult {
    auth.write()?;
    patch_watch(
        &app,
        &key,
        Map::from_iter([("paused".into(), json!(false))]),
    )
    .await
}

async fn delete_watch<S: Store>(
    State(app): AppState<S>,
    auth: Bearer,
    Path(key): Path<String>,
) -> ApiResult {
    auth.write()?;
    let w = remove_watch(&app, &key).await?;
    ok(json!({
        "deleted": w.name,
        "note": "the watch is no longer checked; its versions and events are kept",
    }))
}

/// Deletes a watch made through the API (409 for others); its history
/// is kept. Returns it.
pub(super) async fn remove_watch<S: Store>(
    app: &App<S>,
    key: &str,
) -> Result<WatchSummary, ApiError> {
    let (w, _) = api_watch(app, key).await?;
    objects::change(app, Change::Delete(ObjectKind::Watch, w.name.clone())).await?;
    // Answer once the scheduler has let it go, so a list right after the
    // answer no longer shows it.
    settle(|| async {
        Ok(app
            .store
            .find_watch(&w.name)
            .await?
            .is_none_or(|x| !x.active))
    })
    .await?;
    Ok(w)
}

/// Waits (up to two seconds) until the scheduler has synced a change
/// into the store; `false` if it has not by then (the change is saved
/// and in force either way; the store catches up).
pub(super) async fn settle<F, Fut>(done: F) -> Result<bool, ApiError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<bool, ApiError>>,
{
    for _ in 0..100 {
        if done().await? {
            return Ok(true);
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    Ok(false)
}

/// Asks the scheduler to check an active, unpaused watch now.
pub(super) fn queue_check<S: Store>(app: &App<S>, w: &WatchSummary) -> Result<(), ApiError> {
    if !w.active || w.paused {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "the watch `{}` is {}",
                w.name,
                if w.paused {
                    "paused"
                } else {
                    "no longer defined"
                }
            ),
        ));
    }
    if !app.control.check_now(w.id) {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the scheduler is not taking requests now",
        )
        .hint("try again in a moment"));
    }
    Ok(())
}

async fn check_now<S: Store>(
    State(app): AppState<S>,
    auth: Bearer,
    Path(key): Path<String>,
) -> ApiResult {
    auth.write()?;
    let w = watch_of(&app, &key).await?;
    queue_check(&app, &w)?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "queued": w.name }))).into_response())
}

#[derive(Debug, Deserialize)]
struct Limit {
    limit: Option<i64>,
}

async fn list_versions<S: Store>(
    State(app): AppState<S>,
    _auth: Bearer,
    Path(key): Path<String>,
    q: Result<Query<Limit>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let w = watch_of(&app, &key).await?;
    let versions = app
        .store
        .versions(w.id, q.limit.unwrap_or(100).clamp(1, 1000))
        .await?;
    ok(json!({ "watch": w.name, "versions": versions }))
}

/// A version by number; `latest` is the newest.
pub(super) async fn version_of<S: Store>(
    app: &App<S>,
    w: &WatchSummary,
    seq: &str,
) -> Result<VersionInfo, ApiError> {
    let n = if seq == "latest" {
        app.store
            .versions(w.id, 1)
            .await?
            .first()
            .map(|v| v.seq)
            .ok_or_else(|| {
                ApiError::not_found(format!("the watch `{}` has no version yet", w.name))
            })?
    } else {
        seq.parse::<i64>().map_err(|_| {
            ApiError::bad_request(format!("`{seq}` is not a version number"))
                .hint("versions are numbered 1, 2, 3… per watch; `latest` is the newest")
        })?
    };
    app.store.version(w.id, n).await?.ok_or_else(|| {
        ApiError::not_found(format!("the watch `{}` has no version {n}", w.name))
            .hint(format!("GET /api/v1/watches/{}/versions lists them", w.id))
    })
}

async fn get_version<S: Store>(
    State(app): AppState<S>,
    _auth: Bearer,
    Path((key, seq)): Path<(String, String)>,
) -> ApiResult {
    let w = watch_of(&app, &key).await?;
    ok(version_of(&app, &w, &seq).await?)
}

/// Plain text that no browser may take for anything else.
fn plain(body: impl Into<axum::body::Body>, charset: bool) -> Response {
    let mut r = Response::new(body.into());
    let ct = if charset {
        "text/plain; charset=utf-8"
    } else {
        "text/plain"
    };
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    r
}

async fn version_text_route<S: Store>(
    State(app): AppState<S>,
    _auth: Bearer,
    Path((key, seq)): Path<(String, String)>,
) -> ApiResult {
    let w = watch_of(&app, &key).await?;
    let v = version_of(&app, &w, &seq).await?;
    let text = version_text(app.store.as_ref(), &v.text_hash).await?;
    Ok(plain(text, true))
}

async fn version_raw<S: Store>(
    State(app): AppState<S>,
    _auth: Bearer,
    Path((key, seq)): Path<(String, String)>,
) -> ApiResult {
    let w = watch_of(&app, &key).await?;
    let v = version_of(&app, &w, &seq).await?;
    let body =
        app.store.blob(&v.body_hash).await?.ok_or_else(|| {
            ApiError::not_found("the raw body of this version is no longer stored")
        })?;
    let utf8 = std::str::from_utf8(&body).is_ok();
    Ok(plain(body, utf8))
}

#[derive(Debug, Deserialize)]
pub(super) struct DiffQuery {
    pub from: Option<String>,
    pub to: Option<String>,
}

/// The two versions a diff compares: by default the last two.
pub(super) async fn diff_versions<S: Store>(
    app: &App<S>,
    w: &WatchSummary,
    q: &DiffQuery,
) -> Result<(VersionInfo, VersionInfo), ApiError> {
    let to = version_of(app, w, q.to.as_deref().unwrap_or("latest")).await?;
    let from = match q.from.as_deref() {
        Some(f) => version_of(app, w, f).await?,
        None if to.seq > 1 => version_of(app, w, &(to.seq - 1).to_string()).await?,
        None => to.clone(),
    };
    Ok((from, to))
}

async fn diff_route<S: Store>(
    State(app): AppState<S>,
    _auth: Bearer,
    Path(key): Path<String>,
    q: Result<Query<DiffQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let w = watch_of(&app, &key).await?;
    let (from, to) = diff_versions(&app, &w, &q).await?;
    let old = version_text(app.store.as_ref(), &from.text_hash).await?;
    let new = version_text(app.store.as_ref(), &to.text_hash).await?;
    let d = diff::diff(&old, &new);
    let unified = d.unified(
        &format!("{} #{}", w.name, from.seq),
        &format!("{} #{}", w.name, to.seq),
    );
    ok(json!({
        "watch": w.name, "from": from, "to": to,
        "stats": d.stats, "unified": unified, "hunks": d.hunks,
    }))
}

#[derive(Debug, Deserialize)]
struct EventsQuery {
    watch: Option<String>,
    tag: Option<String>,
    kind: Option<String>,
    /// UTC milliseconds or RFC 3339.
    since: Option<String>,
    /// The `next` cursor of the previous page.
    before: Option<i64>,
    limit: Option<i64>,
}

/// A time given as UTC milliseconds or RFC 3339.
pub(super) fn parse_time(s: &str) -> Result<i64, ApiError> {
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    s.parse::<jiff::Timestamp>()
        .map(|t| t.as_millisecond())
        .map_err(|_| {
            ApiError::bad_request(format!("`{s}` is not a time"))
                .hint("give UTC milliseconds or RFC 3339, e.g. 2026-11-28T12:00:00Z")
        })
}

async fn list_events<S: Store>(
    State(app): AppState<S>,
    _auth: Bearer,
    q: Result<Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    if let Some(k) = &q.kind
        && crate::model::EventKind::parse(k).is_none()
    {
        return Err(ApiError::bad_request(format!("`{k}` is not an event kind"))
            .hint("kinds: first_seen, edited, deleted, restored, reverted, unreachable, reachable, blocked, item_added, item_removed, incident"));
    }
    let watch_id = match &q.watch {
        Some(key) => Some(watch_of(&app, key).await?.id),
        None => None,
    };
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let filter = EventFilter {
        watch_id,
        tag: q.tag.clone(),
        kind: q.kind.clone(),
        since: q.since.as_deref().map(parse_time).transpose()?,
        before: q.before,
        limit,
    };
    let events = app.store.list_events(&filter).await?;
    let next = (events.len() as i64 == limit)
        .then(|| events.last().map(|e| e.event.id))
        .flatten();
    ok(json!({ "events": events, "next": next }))
}

/// A channel as the API shows it: never its secret, never a webhook's
/// full URL (Slack's carry their secret in the path).
fn channel_json(
    c: &crate::config::ChannelSpec,
    source: &str,
    state: Option<&crate::store::ChannelState>,
) -> Value {
    use crate::config::ChannelTarget;
    let mut v = json!({ "name": c.name });
    mark_source(&mut v, source);
    match &c.target {
        ChannelTarget::Email { to } => {
            v["type"] = json!("email");
            v["to"] = json!(to);
        }
        ChannelTarget::Webhook {
            url,
            format,
            secret,
            headers,
        } => {
            v["type"] = json!("webhook");
            v["host"] = json!(url.host_str());
            v["format"] = json!(format!("{format:?}").to_lowercase());
            v["has_secret"] = json!(secret.is_some());
            v["headers"] = json!(headers.iter().map(|(k, _)| k).collect::<Vec<_>>());
        }
    }
    if let Some(s) = state {
        v["disabled_at"] = json!(s.disabled_at);
        v["disabled_reason"] = json!(s.disabled_reason);
    }
    v
}

pub(super) async fn channels_json<S: Store>(app: &App<S>) -> Result<Vec<Value>, ApiError> {
    let cfg = app.control.config();
    let api = api_names(app, ObjectKind::Channel).await?;
    let states = app.store.channel_states().await?;
    Ok(cfg
        .channels
        .iter()
        .map(|c| {
            channel_json(
                c,
                if api.contains(&c.name) {
                    "api"
                } else {
                    "config"
                },
                states.iter().find(|s| s.name == c.name),
            )
        })
        .collect())
}

async fn list_channels<S: Store>(State(app): AppState<S>, _auth: Bearer) -> ApiResult {
    ok(json!({ "channels": channels_json(&app).await? }))
}

pub(super) async fn put_channel<S: Store>(
    app: &App<S>,
    def: Map<String, Value>,
) -> Result<Value, ApiError> {
    let name = objects::name_field(&def, "name")?;
    if app.control.config().channels.iter().any(|c| c.name == name) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("a channel named `{name}` exists"),
        )
        .hint("delete it first, or choose another name"));
    }
    let body = objects::toml_body(&def)?;
    let cfg = objects::change(
        app,
        Change::Put(ApiObject {
            kind: ObjectKind::Channel,
            name: name.clone(),
            body,
        }),
    )
    .await?;
    let c = cfg
        .channels
        .iter()
        .find(|c| c.name == name)
        .ok_or_else(|| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "the channel vanished"))?;
    Ok(channel_json(c, "api", None))
}

async fn create_channel<S: Store>(
    State(app): AppState<S>,
    auth: Bearer,
    JsonBody(body): JsonBody,
) -> ApiResult {
    auth.write()?;
    created(put_channel(&app, objects::object(body)?).await?)
}

pub(super) async fn remove_channel<S: Store>(app: &App<S>, name: &str) -> Result<(), ApiError> {
    let cfg = app.control.config();
    if !cfg.channels.iter().any(|c| c.name == name) {
        return Err(ApiError::not_found(format!("no channel named `{name}`")));
    }
    if objects::find(app, ObjectKind::Channel, name)
        .await?
        .is_none()
    {
        return Err(objects::read_only("channel", name, &cfg));
    }
    if cfg.subscriptions.iter().any(|s| s.channel == name) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("the channel `{name}` still has subscriptions"),
        )
        .hint("delete its subscriptions first (GET /api/v1/subscriptions)"));
    }
    objects::change(app, Change::Delete(ObjectKind::Channel, name.to_string())).await?;
    Ok(())
}

async fn delete_channel<S: Store>(
    State(app): AppState<S>,
    auth: Bearer,
    Path(name): Path<String>,
) -> ApiResult {
    auth.write()?;
    remove_channel(&app, &name).await?;
    ok(json!({ "deleted": name }))
}

pub(super) async fn subscriptions_json<S: Store>(app: &App<S>) -> Result<Vec<Value>, ApiError> {
    let api = api_names(app, ObjectKind::Subscription).await?;
    Ok(app
        .store
        .subscriptions()
        .await?
        .into_iter()
        .map(|s| {
            let api = api.contains(&s.fingerprint);
            let mut v = serde_json::to_value(&s).unwrap_or(Value::Null);
            mark_source(&mut v, if api { "api" } else { "config" });
            v
        })
        .collect())
}

async fn list_subscriptions<S: Store>(State(app): AppState<S>, _auth: Bearer) -> ApiResult {
    ok(json!({ "subscriptions": subscriptions_json(&app).await? }))
}

/// Stores a subscription; its object name is the fingerprint the outbox
/// knows it by, so it can be found again from its row.
pub(super) async fn put_subscription<S: Store>(
    app: &App<S>,
    def: Map<String, Value>,
) -> Result<Value, ApiError> {
    let body = objects::toml_body(&def)?;
    let cfg = objects::change(app, Change::AddSubscription(body)).await?;
    let fp = crate::notify::subscription_defs(&cfg)
        .last()
        .map(|d| d.fingerprint())
        .unwrap_or_default();
    for _ in 0..100 {
        if let Some(s) = app
            .store
            .subscriptions()
            .await?
            .into_iter()
            .find(|s| s.fingerprint == fp)
        {
            let mut v = serde_json::to_value(&s).unwrap_or(Value::Null);
            mark_source(&mut v, "api");
            return Ok(v);
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    Ok(json!({ "saved": true, "note": "the scheduler has not picked it up yet" }))
}

async fn create_subscription<S: Store>(
    State(app): AppState<S>,
    auth: Bearer,
    JsonBody(body): JsonBody,
) -> ApiResult {
    auth.write()?;
    created(put_subscription(&app, objects::object(body)?).await?)
}

pub(super) async fn remove_subscription<S: Store>(app: &App<S>, id: i64) -> Result<(), ApiError> {
    let subs = app.store.subscriptions().await?;
    let s = subs
        .iter()
        .find(|s| s.id == id)
        .ok_or_else(|| ApiError::not_found(format!("no subscription {id}")))?;
    if objects::find(app, ObjectKind::Subscription, &s.fingerprint)
        .await?
        .is_none()
    {
        return Err(objects::read_only(
            "subscription",
            &id.to_string(),
            &app.control.config(),
        ));
    }
    objects::change(
        app,
        Change::Delete(ObjectKind::Subscription, s.fingerprint.clone()),
    )
    .await?;
    settle(|| async { Ok(!app.store.subscriptions().await?.iter().any(|x| x.id == id)) }).await?;
    Ok(())
}

async fn delete_subscription<S: Store>(
    State(app): AppState<S>,
    auth: Bearer,
    Path(id): Path<String>,
) -> ApiResult {
    auth.write()?;
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::bad_request(format!("`{id}` is not a subscription id")))?;
    remove_subscription(&app, id).await?;
    ok(json!({ "deleted": id }))
}

#[derive(Debug, Deserialize)]
struct DeliveriesQuery {
    status: Option<String>,
    limit: Option<i64>,
}

async fn list_deliveries<S: Store>(
    State(app): AppState<S>,
    _auth: Bearer,
    q: Result<Query<DeliveriesQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    if let Some(s) = &q.status
        && !matches!(s.as_str(), "pending" | "delivered" | "failed")
    {
        return Err(
            ApiError::bad_request(format!("`{s}` is not a delivery status"))
                .hint("one of pending, delivered, failed"),
        );
    }
    let rows = app
        .store
        .deliveries(q.status.as_deref(), q.limit.unwrap_or(100).clamp(1, 1000))
        .await?;
    ok(json!({ "deliveries": rows }))
}

async fn retry_delivery<S: Store>(
    State(app): AppState<S>,
    auth: Bearer,
    Path(id): Path<String>,
) -> ApiResult {
    auth.write()?;
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::bad_request(format!("`{id}` is not a delivery id")))?;
    if !app.store.retry_delivery(id, super::now()).await? {
        return Err(ApiError::not_found(format!("no failed delivery {id}"))
            .hint("only failed deliveries can be retried; pending ones are retried on their own"));
    }
    ok(json!({ "retrying": id }))
}

/// What a watch would store, fetched now (the `check` command's output).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Preview {
    pub status: u16,
    pub final_url: String,
    pub title: Option<String>,
    pub lines: Vec<String>,
}

/// Fetches and extracts a URL under the config in force; stores nothing.
pub(super) async fn preview<S: Store>(
    app: &App<S>,
    url: &str,
    select: Option<&str>,
    exclude: &[String],
    ignore: &[String],
) -> Result<Preview, ApiError> {
    let cfg = app.control.config();
    let url = crate::config::validate_url(url).map_err(ApiError::bad_request)?;
    let rules = crate::extract::Rules::new(select, exclude, ignore)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let fetcher = crate::fetch::Fetcher::new(&cfg.fetch)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let f = fetcher
        .fetch(&url, &crate::fetch::Validators::default())
        .await
        .map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, format!("{url}: {e}")))?;
    let body_hash = crate::store::blob::hash(&f.body);
    let (x, _) = crate::check::decode_and_extract(&f, &rules, &body_hash);
    Ok(Preview {
        status: f.status,
        final_url: f.final_url.to_string(),
        title: x.title,
        lines: x.lines,
    })
}

#[derive(Debug, Deserialize)]
struct PreviewBody {
    url: String,
    select: Option<String>,
    #[serde(default)]
    exclude: Vec<String>,
    #[serde(default)]
    ignore: Vec<String>,
}

async fn preview_route<S: Store>(
    State(app): AppState<S>,
    auth: Bearer,
    JsonBody(body): JsonBody,
) -> ApiResult {
    // It stores nothing, but it makes the daemon fetch any URL: not for
    // read-only tokens (handed to feed readers and dashboards).
    auth.write()?;
    let b: PreviewBody = serde_json::from_value(body).map_err(|e| {
        ApiError::bad_request(format!("invalid preview request: {e}"))
            .hint(r#"send {"url": "...", "select": "...", "exclude": [...], "ignore": [...]}"#)
    })?;
    ok(preview(&app, &b.url, b.select.as_deref(), &b.exclude, &b.ignore).await?)
}

async fn openapi<S: Store>(State(_app): AppState<S>, _auth: Bearer) -> ApiResult {
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        super::openapi::DOCUMENT,
    )
        .into_response())
}
