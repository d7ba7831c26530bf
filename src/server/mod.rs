//! The daemon's HTTP side, served by axum on `[server] listen`:
//!
//! * `/api/v1/…` ([`api`]): JSON for programs, bearer tokens;
//! * the web UI ([`ui`]): server-rendered HTML without JavaScript, a
//!   session cookie made from a token at `/login`, CSRF tokens on forms;
//! * [`ops`]: `/healthz`, `/readyz`, `/metrics`, Atom feeds, and the
//!   one-click unsubscribe endpoint of alert emails.
//!
//! Every handler reads through the [`Store`] trait and changes the config
//! only through [`Control`]: the server never speaks SQL and never touches
//! the scheduler's state.

pub mod api;
mod auth;
pub mod feeds;
mod objects;
pub mod openapi;
mod ops;
pub mod pages;
mod ui;

use crate::control::Control;
use crate::store::{Store, StoreError};
use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tower_http::set_header::SetResponseHeaderLayer;

pub use auth::{hash_token, new_token};

/// Largest request body accepted (413 above).
pub const BODY_LIMIT: usize = 256 * 1024;

/// The Content-Security-Policy of every response: no script at all.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// What every handler shares.
pub struct App<S> {
    pub store: Arc<S>,
    pub control: Arc<Control>,
    /// Signs session cookies, CSRF tokens and unsubscribe links.
    key: [u8; 32],
}

impl<S: Store> App<S> {
    pub async fn new(store: Arc<S>, control: Arc<Control>) -> Result<Arc<App<S>>, StoreError> {
        let key = store.server_key().await?;
        Ok(Arc::new(App {
            store,
            control,
            key,
        }))
    }
}

/// Every route, with the security headers and the body limit.
pub fn router<S: Store>(app: Arc<App<S>>) -> Router {
    Router::new()
        .merge(api::routes::<S>())
        .merge(ui::routes::<S>())
        .merge(ops::routes::<S>())
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .with_state(app)
}

/// Serves until `shutdown`; requests in flight are finished.
pub async fn serve<S: Store>(
    listener: tokio::net::TcpListener,
    app: Arc<App<S>>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router(app))
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}

async fn not_found(uri: axum::http::Uri) -> Response {
    if uri.path().starts_with("/api/") {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no such route: {}", uri.path()),
        )
        .hint("the routes are listed in /api/v1/openapi.json")
        .into_response()
    } else {
        (
            StatusCode::NOT_FOUND,
            pages::not_found(None, "this page"),
        )
            .into_response()
    }
}

/// An API error: a status and a JSON body `{"error": …, "hint": …}`
/// (`details` lists every problem of an invalid object).
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub hint: Option<String>,
    pub details: Vec<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            hint: None,
            details: Vec::new(),
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> ApiError {
        self.hint = Some(hint.into());
        self
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(what: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, what)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        tracing::error!("storage error while serving a request: {e}");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("storage error: {e}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = serde_json::json!({ "error": self.message });
        if let Some(h) = &self.hint {
            body["hint"] = serde_json::Value::String(h.clone());
        }
        if !self.details.is_empty() {
            body["details"] = serde_json::json!(self.details);
        }
        let mut resp = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"palimpsest\""),
            );
        }
        resp
    }
}

/// Milliseconds now (UTC).
fn now() -> crate::model::Millis {
    crate::model::now_millis()
}
