//! The web UI's handlers (see `pages` for the markup).

use super::App;
use crate::store::Store;
use axum::Router;
use std::sync::Arc;

pub(super) fn routes<S: Store>() -> Router<Arc<App<S>>> {
    Router::new()
}
