//! The web UI's handlers (see `pages` for the markup).
//!
//! Every page needs a session ([`Session`]; without one, a redirect to
//! `/login?next=…`), every state-changing POST carries the session's CSRF
//! token in its `csrf` field (403 otherwise), and every change goes
//! through the same code as the JSON API ([`super::api`]), so the UI
//! obeys the same rules and gives the same messages.

// A handler's error is the page to send: a `Response`, as axum wants it.
#![allow(clippy::result_large_err)]

use super::api::{self, DiffQuery};
use super::auth::{self, SESSION_COOKIE, SESSION_MS, Session};
use super::pages::{self, DiffMode, Nav, WatchForm};
use super::{ApiError, App};
use crate::detect::diff;
use crate::store::{ObjectKind, Store, version_text};
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::sync::Arc;

type AppState<S> = State<Arc<App<S>>>;
/// A page, or the error page that replaces it.
type UiResult = Result<Response, Response>;

pub(super) fn routes<S: Store>() -> Router<Arc<App<S>>> {
    Router::new()
        .route("/login", get(login_form).post(login::<S>))
        .route("/logout", post(logout))
        .route("/", get(dashboard::<S>))
        .route("/watches/new", get(new_watch).post(post_watch::<S>))
        .route("/watches/{id}", get(watch_page::<S>))
        .route("/watches/{id}/diff", get(diff_page::<S>))
        .route("/watches/{id}/{action}", post(watch_action::<S>))
        .route("/channels", get(channels::<S>).post(add_channel::<S>))
        .route("/channels/{name}/delete", post(delete_channel::<S>))
        .route("/subscriptions", post(add_subscription::<S>))
        .route("/subscriptions/{id}/delete", post(delete_subscription::<S>))
        .route("/deliveries", get(deliveries::<S>))
        .route("/deliveries/{id}/retry", post(retry_delivery::<S>))
        .route(pages::STYLE_PATH, get(style))
}

// ---- helpers ----

/// The error page for an API error (404 gets the not-found page).
fn error_response(nav: Option<&Nav>, e: ApiError) -> Response {
    let status = if e.status.is_client_error() || e.status.is_server_error() {
        e.status
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    if status == StatusCode::NOT_FOUND {
        return (status, pages::not_found(nav, &e.message)).into_response();
    }
    let mut message = e.message;
    for d in e.details.iter().skip(1) {
        message.push_str("; ");
        message.push_str(d);
    }
    (status, pages::error_page(nav, status.as_u16(), &message)).into_response()
}

/// Turns an API error into its error page.
trait OrPage<T> {
    fn page(self, nav: &Nav) -> Result<T, Response>;
}

impl<T> OrPage<T> for Result<T, ApiError> {
    fn page(self, nav: &Nav) -> Result<T, Response> {
        self.map_err(|e| error_response(Some(nav), e))
    }
}

impl<T> OrPage<T> for Result<T, crate::store::StoreError> {
    fn page(self, nav: &Nav) -> Result<T, Response> {
        self.map_err(|e| error_response(Some(nav), ApiError::from(e)))
    }
}

/// A 303 to a path the handler built (ids, or names percent-encoded).
fn see_other(location: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// Where to go after signing in: a local path (`/…`, not `//…`, no
/// backslash), re-encoded so that only safe characters reach the header;
/// anything else is `/`.
fn local_next(next: &str) -> String {
    if !next.starts_with('/') || next.starts_with("//") || next.contains('\\') {
        return "/".into();
    }
    let mut out = String::with_capacity(next.len());
    for b in next.bytes() {
        if b.is_ascii_alphanumeric() || b"/?&=%-_.~+:@,;!$'()*".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The fields of a posted form, in order (a key may repeat).
struct Fields(Vec<(String, String)>);

impl Fields {
    fn parse(body: &[u8]) -> Fields {
        Fields(
            url::form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    fn get(&self, key: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// Checks a form's CSRF token: the 403 page otherwise.
fn csrf(session: &Session, submitted: &str) -> Result<(), Response> {
    session.check_csrf(submitted).map_err(|status| {
        (
            status,
            pages::error_page(
                Some(&session.nav()),
                status.as_u16(),
                "This form has expired or did not come from this site. Go back, reload the page and try again.",
            ),
        )
            .into_response()
    })
}

/// Splits on `sep`, trimmed, empty parts left out.
fn split(s: &str, sep: char) -> Vec<String> {
    s.split(sep)
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

/// One entry per line.
fn lines(s: &str) -> Vec<String> {
    s.lines()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

/// Every message of an API error, for a form's error list.
fn messages(e: ApiError) -> Vec<String> {
    if e.details.is_empty() {
        vec![e.message]
    } else {
        e.details
    }
}

// ---- sign in and out ----

#[derive(Debug, Default, Deserialize)]
struct NextQuery {
    #[serde(default)]
    next: String,
}

async fn login_form(q: Result<Query<NextQuery>, QueryRejection>) -> Response {
    let next = q.map(|Query(q)| q.next).unwrap_or_default();
    pages::login(None, &local_next(&next)).into_response()
}

async fn login<S: Store>(State(app): AppState<S>, body: Bytes) -> Response {
    let f = Fields::parse(&body);
    let next = local_next(f.get("next"));
    let token = f.get("token").trim();
    let found = if token.is_empty() {
        Ok(None)
    } else {
        auth::lookup(&app, token).await
    };
    match found {
        Ok(Some(t)) => {
            let value = auth::session_value(&app.key, t.id, super::now());
            let secure = app
                .control
                .config()
                .server
                .public_url
                .as_deref()
                .is_some_and(|u| u.starts_with("https"));
            let cookie = format!(
                "{SESSION_COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{}",
                SESSION_MS / 1000,
                if secure { "; Secure" } else { "" }
            );
            let mut r = see_other(&next);
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            r
        }
        Ok(None) => (
            StatusCode::UNAUTHORIZED,
            pages::login(
                Some("This token is not valid: it may have been mistyped or revoked."),
                &next,
            ),
        )
            .into_response(),
        Err(e) => error_response(None, e),
    }
}

async fn logout(session: Session, body: Bytes) -> UiResult {
    csrf(&session, Fields::parse(&body).get("csrf"))?;
    let mut r = see_other("/login");
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "palimpsest_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0",
        ),
    );
    Ok(r)
}

// ---- watches ----

#[derive(Debug, Default, Deserialize)]
struct TagQuery {
    tag: Option<String>,
}

async fn dashboard<S: Store>(
    State(app): AppState<S>,
    session: Session,
    q: Result<Query<TagQuery>, QueryRejection>,
) -> UiResult {
    let nav = session.nav();
    let tag = q.ok().and_then(|Query(q)| q.tag).filter(|t| !t.is_empty());
    let api = api::api_names(&app, ObjectKind::Watch).await.page(&nav)?;
    let watches = app.store.watch_summaries().await.page(&nav)?;
    let mut tags: Vec<String> = watches
        .iter()
        .filter(|w| w.active)
        .flat_map(|w| w.tags.iter().cloned())
        .collect();
    tags.sort();
    tags.dedup();
    let rows: Vec<pages::WatchRow> = watches
        .into_iter()
        .filter(|w| w.active)
        .map(|w| pages::WatchRow {
            read_only: !api.contains(&w.name),
            summary: w,
        })
        .collect();
    Ok(pages::dashboard(&nav, &rows, &tags, tag.as_deref()).into_response())
}

async fn watch_page<S: Store>(
    State(app): AppState<S>,
    session: Session,
    Path(id): Path<String>,
) -> UiResult {
    let nav = session.nav();
    let w = api::watch_of(&app, &id).await.page(&nav)?;
    let read_only = api::origin_of(&app, &w.name).await.page(&nav)? != "api";
    let versions = app.store.versions(w.id, 50).await.page(&nav)?;
    let events = app.store.events(w.id, 50).await.page(&nav)?;
    let checks = app.store.checks(w.id, 20).await.page(&nav)?;
    Ok(pages::watch_page(&nav, &w, read_only, &versions, &events, &checks).into_response())
}

#[derive(Debug, Default, Deserialize)]
struct DiffPageQuery {
    from: Option<String>,
    to: Option<String>,
    mode: Option<String>,
}

async fn diff_page<S: Store>(
    State(app): AppState<S>,
    session: Session,
    Path(id): Path<String>,
    q: Result<Query<DiffPageQuery>, QueryRejection>,
) -> UiResult {
    let nav = session.nav();
    let q = q.map(|Query(q)| q).unwrap_or_default();
    let w = api::watch_of(&app, &id).await.page(&nav)?;
    let dq = DiffQuery {
        from: q.from.filter(|s| !s.is_empty()),
        to: q.to.filter(|s| !s.is_empty()),
    };
    let (from, to) = api::diff_versions(&app, &w, &dq).await.page(&nav)?;
    let old = version_text(app.store.as_ref(), &from.text_hash)
        .await
        .page(&nav)?;
    let new = version_text(app.store.as_ref(), &to.text_hash)
        .await
        .page(&nav)?;
    let d = diff::diff(&old, &new);
    let mode = DiffMode::parse(q.mode.as_deref().unwrap_or(""));
    let versions = app.store.versions(w.id, 200).await.page(&nav)?;
    Ok(pages::diff_page(&nav, &w, &from, &to, &d, mode, &versions, &old, &new).into_response())
}

async fn new_watch(session: Session) -> Response {
    let nav = session.nav();
    let form = WatchForm {
        kind: "page".into(),
        csrf: nav.csrf.clone(),
        ..WatchForm::default()
    };
    pages::add_watch(&nav, &form, None, &[]).into_response()
}

/// The watch definition a form describes; empty fields are left out.
fn watch_def(f: &WatchForm) -> Map<String, Value> {
    let mut def = Map::new();
    let mut text = |k: &str, v: &str| {
        let v = v.trim();
        if !v.is_empty() {
            def.insert(k.into(), json!(v));
        }
    };
    text("name", &f.name);
    text("url", &f.url);
    text("kind", &f.kind);
    text("interval", &f.interval);
    text("select", &f.select);
    for (k, v) in [
        ("tags", split(&f.tags, ',')),
        ("exclude", lines(&f.exclude)),
        ("ignore", lines(&f.ignore)),
        ("terms", lines(&f.terms)),
    ] {
        if !v.is_empty() {
            def.insert(k.into(), json!(v));
        }
    }
    def
}

async fn post_watch<S: Store>(
    State(app): AppState<S>,
    session: Session,
    form: Result<axum::Form<WatchForm>, axum::extract::rejection::FormRejection>,
) -> UiResult {
    let nav = session.nav();
    let axum::Form(mut form) =
        form.map_err(|e| error_response(Some(&nav), ApiError::bad_request(e.body_text())))?;
    csrf(&session, &form.csrf)?;
    form.csrf = nav.csrf.clone();
    let invalid = |form: &WatchForm, preview: Option<&pages::Preview>, errors: Vec<String>| {
        (
            StatusCode::BAD_REQUEST,
            pages::add_watch(&nav, form, preview, &errors),
        )
            .into_response()
    };
    if form.action == "preview" {
        if form.url.trim().is_empty() {
            return Err(invalid(
                &form,
                None,
                vec!["Give the URL to preview.".into()],
            ));
        }
        let select = Some(form.select.trim()).filter(|s| !s.is_empty());
        let p = match api::preview(
            &app,
            form.url.trim(),
            select,
            &lines(&form.exclude),
            &lines(&form.ignore),
        )
        .await
        {
            Ok(p) => pages::Preview {
                title: p.title,
                lines: p.lines,
                status: p.status,
                final_url: p.final_url,
                error: None,
            },
            Err(e) => pages::Preview {
                error: Some(messages(e).join("; ")),
                ..pages::Preview::default()
            },
        };
        return Ok(pages::add_watch(&nav, &form, Some(&p), &[]).into_response());
    }
    if session.token.read_only {
        return Err(invalid(
            &form,
            None,
            vec![format!(
                "The token `{}` is read-only: it cannot add watches.",
                session.token.name
            )],
        ));
    }
    let def = watch_def(&form);
    let name = form.name.trim();
    if !name.is_empty() {
        match app.store.find_watch(name).await {
            Ok(Some(w)) if w.active => {
                return Err(invalid(
                    &form,
                    None,
                    vec![format!(
                        "A watch named `{name}` exists: choose another name."
                    )],
                ));
            }
            Ok(_) => {}
            Err(e) => return Err(error_response(Some(&nav), e.into())),
        }
    }
    match api::put_watch(&app, def).await {
        Ok(Some(w)) => Ok(see_other(&format!("/watches/{}", w.id))),
        // Saved, but not yet picked up by the scheduler.
        Ok(None) => Ok(see_other("/")),
        Err(e) if e.status.is_client_error() => Err(invalid(&form, None, messages(e))),
        Err(e) => Err(error_response(Some(&nav), e)),
    }
}

async fn watch_action<S: Store>(
    State(app): AppState<S>,
    session: Session,
    Path((id, action)): Path<(String, String)>,
    body: Bytes,
) -> UiResult {
    let nav = session.nav();
    if !matches!(action.as_str(), "check" | "pause" | "resume" | "delete") {
        return Err((
            StatusCode::NOT_FOUND,
            pages::not_found(Some(&nav), "this page"),
        )
            .into_response());
    }
    csrf(&session, Fields::parse(&body).get("csrf"))?;
    if session.token.read_only {
        return Err(error_response(
            Some(&nav),
            ApiError::new(
                StatusCode::FORBIDDEN,
                format!("the token `{}` is read-only", session.token.name),
            ),
        ));
    }
    let w = api::watch_of(&app, &id).await.page(&nav)?;
    let back = format!("/watches/{}", w.id);
    match action.as_str() {
        "check" => {
            api::queue_check(&app, &w).page(&nav)?;
            Ok(see_other(&back))
        }
        "pause" | "resume" => {
            let paused = action == "pause";
            api::patch_watch(
                &app,
                &id,
                Map::from_iter([("paused".into(), json!(paused))]),
            )
            .await
            .page(&nav)?;
            Ok(see_other(&back))
        }
        _ => {
            api::remove_watch(&app, &id).await.page(&nav)?;
            Ok(see_other("/"))
        }
    }
}

// ---- channels and subscriptions ----

async fn channels_response<S: Store>(app: &App<S>, nav: &Nav, errors: &[String]) -> UiResult {
    let channels: Vec<pages::ChannelRow> = api::channels_json(app)
        .await
        .page(nav)?
        .iter()
        .map(|c| {
            let s = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            let kind = s("type");
            let target = if kind == "email" {
                c.get("to")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default()
            } else {
                format!("{} ({})", s("host"), s("format"))
            };
            let disabled = c.get("disabled_at").is_some_and(|v| !v.is_null()).then(|| {
                let r = s("disabled_reason");
                if r.is_empty() {
                    "disabled".to_string()
                } else {
                    r
                }
            });
            pages::ChannelRow {
                name: s("name"),
                kind,
                target,
                read_only: c.get("read_only").and_then(Value::as_bool).unwrap_or(true),
                disabled,
            }
        })
        .collect();
    let api = api::api_names(app, ObjectKind::Subscription)
        .await
        .page(nav)?;
    let subs: Vec<pages::SubscriptionRow> = app
        .store
        .subscriptions()
        .await
        .page(nav)?
        .into_iter()
        .map(|s| pages::SubscriptionRow {
            id: s.id,
            watches: match s.selector.as_str() {
                "tag" => format!("tag:{}", s.tag.clone().unwrap_or_default()),
                "names" => s.names.join(", "),
                _ => "*".into(),
            },
            channel: s.channel,
            kinds: s.kinds,
            digest: s.digest,
            read_only: !api.contains(&s.fingerprint),
            unsubscribed: s.unsubscribed_at.is_some(),
        })
        .collect();
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    Ok((status, pages::channels_page(nav, &channels, &subs, errors)).into_response())
}

async fn channels<S: Store>(State(app): AppState<S>, session: Session) -> UiResult {
    channels_response(&app, &session.nav(), &[]).await
}

/// A form's change, or the channels page again with its errors.
async fn after_change<S: Store>(app: &App<S>, nav: &Nav, result: Result<(), ApiError>) -> UiResult {
    match result {
        Ok(()) => Ok(see_other("/channels")),
        Err(e) if e.status.is_client_error() => {
            let errors = messages(e);
            channels_response(app, nav, &errors).await
        }
        Err(e) => Err(error_response(Some(nav), e)),
    }
}

fn writable(session: &Session) -> Result<(), ApiError> {
    if session.token.read_only {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "The token `{}` is read-only: it cannot change anything.",
                session.token.name
            ),
        ))
    } else {
        Ok(())
    }
}

async fn add_channel<S: Store>(State(app): AppState<S>, session: Session, body: Bytes) -> UiResult {
    let f = Fields::parse(&body);
    csrf(&session, f.get("csrf"))?;
    let mut def = Map::new();
    for k in ["name", "type", "url", "format", "secret"] {
        let v = f.get(k).trim();
        if !v.is_empty() {
            def.insert(k.into(), json!(v));
        }
    }
    let to = split(f.get("to"), ',');
    if !to.is_empty() {
        def.insert("to".into(), json!(to));
    }
    let result = async {
        writable(&session)?;
        api::put_channel(&app, def).await.map(|_| ())
    }
    .await;
    after_change(&app, &session.nav(), result).await
}

async fn delete_channel<S: Store>(
    State(app): AppState<S>,
    session: Session,
    Path(name): Path<String>,
    body: Bytes,
) -> UiResult {
    csrf(&session, Fields::parse(&body).get("csrf"))?;
    let result = async {
        writable(&session)?;
        api::remove_channel(&app, &name).await
    }
    .await;
    after_change(&app, &session.nav(), result).await
}

async fn add_subscription<S: Store>(
    State(app): AppState<S>,
    session: Session,
    body: Bytes,
) -> UiResult {
    let f = Fields::parse(&body);
    csrf(&session, f.get("csrf"))?;
    let mut def = Map::new();
    let channel = f.get("channel").trim();
    if !channel.is_empty() {
        def.insert("channel".into(), json!(channel));
    }
    let watches = f.get("watches").trim();
    if watches == "*" || watches.starts_with("tag:") {
        def.insert("watches".into(), json!(watches));
    } else if !watches.is_empty() {
        def.insert("watches".into(), json!(split(watches, ',')));
    }
    let kinds = f.all("kinds");
    if !kinds.is_empty() {
        def.insert("kinds".into(), json!(kinds));
    }
    let digest = f.get("digest").trim();
    if !digest.is_empty() {
        def.insert("digest".into(), json!(digest));
    }
    let result = async {
        writable(&session)?;
        api::put_subscription(&app, def).await.map(|_| ())
    }
    .await;
    after_change(&app, &session.nav(), result).await
}

async fn delete_subscription<S: Store>(
    State(app): AppState<S>,
    session: Session,
    Path(id): Path<String>,
    body: Bytes,
) -> UiResult {
    csrf(&session, Fields::parse(&body).get("csrf"))?;
    let nav = session.nav();
    let id: i64 = id.parse().map_err(|_| {
        (
            StatusCode::NOT_FOUND,
            pages::not_found(Some(&nav), "this subscription"),
        )
            .into_response()
    })?;
    let result = async {
        writable(&session)?;
        api::remove_subscription(&app, id).await
    }
    .await;
    after_change(&app, &nav, result).await
}

// ---- deliveries ----

#[derive(Debug, Default, Deserialize)]
struct StatusQuery {
    status: Option<String>,
}

async fn deliveries<S: Store>(
    State(app): AppState<S>,
    session: Session,
    q: Result<Query<StatusQuery>, QueryRejection>,
) -> UiResult {
    let nav = session.nav();
    let status = q
        .ok()
        .and_then(|Query(q)| q.status)
        .filter(|s| !s.is_empty());
    if let Some(s) = &status
        && !matches!(s.as_str(), "pending" | "delivered" | "failed")
    {
        return Err(error_response(
            Some(&nav),
            ApiError::bad_request(format!(
                "`{s}` is not a delivery status: choose pending, delivered or failed"
            )),
        ));
    }
    let rows = app
        .store
        .deliveries(status.as_deref(), 200)
        .await
        .page(&nav)?;
    Ok(pages::deliveries_page(&nav, &rows, status.as_deref()).into_response())
}

async fn retry_delivery<S: Store>(
    State(app): AppState<S>,
    session: Session,
    Path(id): Path<String>,
    body: Bytes,
) -> UiResult {
    csrf(&session, Fields::parse(&body).get("csrf"))?;
    let nav = session.nav();
    writable(&session).page(&nav)?;
    let missing = || {
        error_response(
            Some(&nav),
            ApiError::not_found(format!(
                "no failed delivery {id} (pending deliveries are retried on their own)"
            )),
        )
    };
    let n: i64 = id.parse().map_err(|_| missing())?;
    if !app.store.retry_delivery(n, super::now()).await.page(&nav)? {
        return Err(missing());
    }
    Ok(see_other("/deliveries"))
}

// ---- the stylesheet ----

async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=604800"),
        ],
        pages::STYLE_CSS,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_local_and_encoded() {
        assert_eq!(local_next("/watches/3?x=1"), "/watches/3?x=1");
        assert_eq!(local_next("//evil.example/"), "/");
        assert_eq!(local_next("https://evil.example/"), "/");
        assert_eq!(local_next("/\\evil.example"), "/");
        assert_eq!(local_next(""), "/");
        assert_eq!(
            local_next("/a b\r\nSet-Cookie:x"),
            "/a%20b%0D%0ASet-Cookie:x"
        );
        assert_eq!(local_next("/é"), "/%C3%A9");
    }

    #[test]
    fn forms_make_watch_definitions() {
        let f = WatchForm {
            name: " news ".into(),
            url: "https://example.org/".into(),
            kind: "page".into(),
            tags: "a, b,,".into(),
            exclude: "nav\n\n.ad\r\n".into(),
            ..WatchForm::default()
        };
        let d = watch_def(&f);
        assert_eq!(d["name"], json!("news"));
        assert_eq!(d["tags"], json!(["a", "b"]));
        assert_eq!(d["exclude"], json!(["nav", ".ad"]));
        assert!(!d.contains_key("interval") && !d.contains_key("terms"));
    }

    #[test]
    fn repeated_fields() {
        let f = Fields::parse(b"kinds=edited&kinds=deleted&csrf=a%2Bb");
        assert_eq!(f.all("kinds"), vec!["edited", "deleted"]);
        assert_eq!(f.get("csrf"), "a+b");
        assert_eq!(f.get("missing"), "");
    }
}
