//! The OpenAPI 3.1 document of `/api/v1`, served at
//! `/api/v1/openapi.json`. It is written by hand next to the routes; a
//! test checks that its paths and methods are exactly [`super::api::ROUTES`].

/// The document, as served.
pub const DOCUMENT: &str = include_str!("openapi.json");
