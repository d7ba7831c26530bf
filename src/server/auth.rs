//! Who is asking: bearer tokens for the API, a signed session cookie for
//! the UI, CSRF tokens for its forms.
//!
//! * A token is `pal_` and 43 characters of base64url (256 random bits
//!   from the operating system). Only its blake3 hash is stored.
//! * The session cookie is `ID.EXPIRES.SIGNATURE`: the token's id, when it
//!   expires, and an HMAC-SHA256 of both under the server key. It holds no
//!   secret, and it dies with its token: every request looks the token up.
//! * A form's CSRF token is an HMAC of the session cookie, so it is bound
//!   to the session and needs no storage.

use super::{ApiError, App};
use crate::store::{Store, TokenInfo};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{KeyInit, Mac};
use std::sync::Arc;

pub const SESSION_COOKIE: &str = "palimpsest_session";
/// How long a UI session lasts.
pub const SESSION_MS: i64 = 12 * 3600 * 1000;

/// A fresh token, to be shown once: `pal_…`.
pub fn new_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(format!("pal_{}", B64.encode(bytes)))
}

/// What is stored of a token.
pub fn hash_token(token: &str) -> [u8; 32] {
    *blake3::hash(token.trim().as_bytes()).as_bytes()
}

fn sign(key: &[u8; 32], parts: &[&[u8]]) -> String {
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(key) else {
        return String::new(); // HMAC takes keys of any length
    };
    for p in parts {
        mac.update(&(p.len() as u64).to_le_bytes());
        mac.update(p);
    }
    B64.encode(mac.finalize().into_bytes())
}

/// Compares two strings in time independent of where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The value of a new session cookie for a token.
pub fn session_value(key: &[u8; 32], token_id: i64, now: i64) -> String {
    let exp = now + SESSION_MS;
    let body = format!("{token_id}.{exp}");
    let sig = sign(key, &[b"session", body.as_bytes()]);
    format!("{body}.{sig}")
}

/// The token id of a valid, unexpired session cookie value.
fn session_token_id(key: &[u8; 32], value: &str, now: i64) -> Option<i64> {
    let (body, sig) = value.rsplit_once('.')?;
    if !same(sig, &sign(key, &[b"session", body.as_bytes()])) {
        return None;
    }
    let (id, exp) = body.split_once('.')?;
    let exp: i64 = exp.parse().ok()?;
    (exp > now).then_some(())?;
    id.parse().ok()
}

/// The CSRF token of a session.
pub fn csrf_for(key: &[u8; 32], session: &str) -> String {
    sign(key, &[b"csrf", session.as_bytes()])
}

/// Checks an unsubscribe link's signature.
pub fn unsubscribe_ok(key: &[u8; 32], message_id: &str, sig: &str) -> bool {
    same(sig, &crate::notify::email::unsubscribe_sig(key, message_id))
}

fn cookie<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A caller with a valid bearer token (`Authorization: Bearer pal_…`).
pub struct Bearer(pub TokenInfo);

impl Bearer {
    /// Refuses read-only tokens (403) for a route that changes something.
    pub fn write(&self) -> Result<(), ApiError> {
        if self.0.read_only {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!("the token `{}` is read-only", self.0.name),
            )
            .hint("create one that may write with `palimpsest token create NAME`"))
        } else {
            Ok(())
        }
    }
}

impl<S: Store> FromRequestParts<Arc<App<S>>> for Bearer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App<S>>) -> Result<Self, ApiError> {
        let missing = || {
            ApiError::new(StatusCode::UNAUTHORIZED, "this route needs a bearer token")
                .hint("send `Authorization: Bearer TOKEN`; create a token with `palimpsest token create NAME`")
        };
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(missing)?
            .to_str()
            .map_err(|_| missing())?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(missing)?;
        lookup(app, token).await?.map(Bearer).ok_or_else(|| {
            ApiError::new(StatusCode::UNAUTHORIZED, "this token is not valid")
                .hint("it may have been revoked; `palimpsest token list` shows the tokens")
        })
    }
}

/// Finds a token by its text.
pub async fn lookup<S: Store>(app: &App<S>, token: &str) -> Result<Option<TokenInfo>, ApiError> {
    Ok(app
        .store
        .token_by_hash(&hash_token(token), super::now())
        .await?)
}

/// A UI visitor with a valid session; `csrf` is the token forms must carry.
pub struct Session {
    pub token: TokenInfo,
    pub csrf: String,
}

impl Session {
    /// Checks a submitted form's CSRF token.
    pub fn check_csrf(&self, submitted: &str) -> Result<(), StatusCode> {
        if same(submitted, &self.csrf) {
            Ok(())
        } else {
            Err(StatusCode::FORBIDDEN)
        }
    }

    pub fn nav(&self) -> super::pages::Nav {
        super::pages::Nav {
            csrf: self.csrf.clone(),
        }
    }
}

/// Why there is no session: go and log in.
pub struct LoginRedirect(String);

impl axum::response::IntoResponse for LoginRedirect {
    fn into_response(self) -> axum::response::Response {
        let next = url::form_urlencoded::byte_serialize(self.0.as_bytes()).collect::<String>();
        axum::response::Redirect::to(&format!("/login?next={next}")).into_response()
    }
}

impl<S: Store> FromRequestParts<Arc<App<S>>> for Session {
    type Rejection = axum::response::Response;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<App<S>>,
    ) -> Result<Self, axum::response::Response> {
        use axum::response::IntoResponse;
        let next = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        let Some(value) = cookie(parts, SESSION_COOKIE) else {
            return Err(LoginRedirect(next).into_response());
        };
        let Some(id) = session_token_id(&app.key, value, super::now()) else {
            return Err(LoginRedirect(next).into_response());
        };
        let tokens = app.store.tokens().await.map_err(|e| {
            ApiError::from(e).into_response()
        })?;
        let Some(token) = tokens.into_iter().find(|t| t.id == id) else {
            return Err(LoginRedirect(next).into_response());
        };
        Ok(Session {
            csrf: csrf_for(&app.key, value),
            token,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_signed_and_expire() {
        let key = [7u8; 32];
        let v = session_value(&key, 42, 1_000);
        assert_eq!(session_token_id(&key, &v, 2_000), Some(42));
        assert_eq!(session_token_id(&key, &v, 1_000 + SESSION_MS), None);
        assert_eq!(session_token_id(&[8u8; 32], &v, 2_000), None);
        let forged = v.replacen("42.", "43.", 1);
        assert_eq!(session_token_id(&key, &forged, 2_000), None);
        assert_eq!(session_token_id(&key, "garbage", 2_000), None);
    }

    #[test]
    fn tokens_are_long_and_distinct() {
        let a = new_token().expect("random");
        let b = new_token().expect("random");
        assert!(a.starts_with("pal_") && a.len() == 47, "{a}");
        assert_ne!(a, b);
        assert_eq!(hash_token(&a), hash_token(&format!(" {a}\n")));
    }

    #[test]
    fn unsubscribe_signatures() {
        let key = [1u8; 32];
        let s = crate::notify::email::unsubscribe_sig(&key, "msg_1");
        assert!(unsubscribe_ok(&key, "msg_1", &s));
        assert!(!unsubscribe_ok(&key, "msg_2", &s));
        assert!(!unsubscribe_ok(&key, "msg_1", "AAAA"));
    }
}
