//! Watches, channels and subscriptions made through the API.
//!
//! Each is kept as the TOML body of one config table ([`ApiObject`]), and
//! every change goes through [`change`]: under the edit lock, the new set
//! of objects is validated together with the config file; only a valid
//! whole is stored and put in force. So an object made through the API
//! obeys exactly the rules, defaults and error messages of the file.

use super::{ApiError, App};
use crate::config::Config;
use crate::control::ReloadError;
use crate::store::{ApiObject, ObjectKind, Store};
use axum::http::StatusCode;
use serde_json::{Map, Value};
use std::sync::Arc;

/// A change to the objects made through the API.
pub enum Change {
    Put(ApiObject),
    Delete(ObjectKind, String),
    /// A new subscription (its TOML body). It is named by the fingerprint
    /// the outbox knows it by, so its row leads back to it; that name is
    /// known only once the whole config validates.
    AddSubscription(String),
}

/// Validates the objects with `change` applied, then stores the change and
/// puts the new config in force. Returns the new config.
pub async fn change<S: Store>(app: &App<S>, change: Change) -> Result<Arc<Config>, ApiError> {
    let _edit = app.control.edit().await;
    let mut objects = app.store.api_objects().await?;
    match &change {
        Change::Put(obj) => {
            match objects
                .iter_mut()
                .find(|o| o.kind == obj.kind && o.name == obj.name)
            {
                Some(o) => *o = obj.clone(),
                None => objects.push(obj.clone()),
            }
        }
        Change::Delete(kind, name) => objects.retain(|o| !(o.kind == *kind && &o.name == name)),
        Change::AddSubscription(body) => objects.push(ApiObject {
            kind: ObjectKind::Subscription,
            name: String::new(),
            body: body.clone(),
        }),
    }
    let cfg = Arc::new(app.control.compose(&objects).map_err(invalid)?);
    match change {
        Change::Put(obj) => app.store.put_api_object(&obj, super::now()).await?,
        Change::Delete(kind, name) => {
            app.store.delete_api_object(kind, &name).await?;
        }
        Change::AddSubscription(body) => {
            // The objects come after the file, so the new one is the last.
            let defs = crate::notify::subscription_defs(&cfg);
            let Some((new, others)) = defs.split_last() else {
                return Err(ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the new subscription is missing from the config",
                ));
            };
            let name = new.fingerprint();
            if others.iter().any(|d| d.fingerprint() == name) {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "this subscription exists already",
                ));
            }
            let obj = ApiObject {
                kind: ObjectKind::Subscription,
                name,
                body,
            };
            app.store.put_api_object(&obj, super::now()).await?;
        }
    }
    app.control.apply(cfg.clone());
    Ok(cfg)
}

/// A config that does not validate: 400 with every problem.
pub fn invalid(e: ReloadError) -> ApiError {
    match e {
        ReloadError::Invalid(e) => {
            let details: Vec<String> = e
                .diagnostics
                .iter()
                .map(|d| match &d.hint {
                    Some(h) => format!("{} (hint: {h})", d.message),
                    None => d.message.clone(),
                })
                .collect();
            let mut err = ApiError::bad_request(
                details
                    .first()
                    .cloned()
                    .unwrap_or_else(|| "the object is not valid".into()),
            );
            err.details = details;
            err
        }
        ReloadError::NoFile => ApiError::new(StatusCode::CONFLICT, e.to_string()),
        ReloadError::Store(e) => e.into(),
    }
}

/// The TOML body of one table from a JSON object. Strings are escaped so
/// that `${…}` is kept literally: an API client must never read the
/// daemon's environment through config expansion.
pub fn toml_body(obj: &Map<String, Value>) -> Result<String, ApiError> {
    // One `key = value` line per key, values inline: the body is pasted
    // under a `[[watch]]` (etc.) header, so a nested table written as a
    // `[section]` of its own would become a top-level table of the config
    // (`{"smtp": {...}}` would set the daemon's SMTP server).
    let mut out = String::new();
    for (k, v) in obj {
        if let Some(v) = to_toml(v, k)? {
            out.push_str(&toml_key(k));
            out.push_str(" = ");
            out.push_str(&v.to_string());
            out.push('\n');
        }
    }
    Ok(out)
}

/// A key as TOML writes it: bare when it can be, quoted otherwise.
fn toml_key(k: &str) -> String {
    if !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        k.to_string()
    } else {
        toml::Value::String(k.to_string()).to_string()
    }
}

fn to_toml(v: &Value, key: &str) -> Result<Option<toml::Value>, ApiError> {
    Ok(Some(match v {
        Value::Null => return Ok(None),
        Value::Bool(b) => toml::Value::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => toml::Value::Integer(i),
            None => toml::Value::Float(n.as_f64().ok_or_else(|| {
                ApiError::bad_request(format!("`{key}`: the number {n} is out of range"))
            })?),
        },
        Value::String(s) => toml::Value::String(s.replace("${", "$${")),
        Value::Array(a) => {
            let mut out = Vec::with_capacity(a.len());
            for x in a {
                match to_toml(x, key)? {
                    Some(x) => out.push(x),
                    None => {
                        return Err(ApiError::bad_request(format!(
                            "`{key}`: a list may not hold null"
                        )));
                    }
                }
            }
            toml::Value::Array(out)
        }
        Value::Object(o) => {
            let mut t = toml::Table::new();
            for (k, x) in o {
                if let Some(x) = to_toml(x, k)? {
                    t.insert(k.clone(), x);
                }
            }
            toml::Value::Table(t)
        }
    }))
}

/// The JSON of a stored body (strings unescaped), for reading it back.
pub fn json_of(body: &str) -> Map<String, Value> {
    let Ok(table) = body.parse::<toml::Table>() else {
        return Map::new();
    };
    table.into_iter().map(|(k, v)| (k, from_toml(v))).collect()
}

fn from_toml(v: toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::String(s.replace("$${", "${")),
        toml::Value::Integer(i) => Value::from(i),
        toml::Value::Float(f) => Value::from(f),
        toml::Value::Boolean(b) => Value::Bool(b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(a) => Value::Array(a.into_iter().map(from_toml).collect()),
        toml::Value::Table(t) => {
            Value::Object(t.into_iter().map(|(k, v)| (k, from_toml(v))).collect())
        }
    }
}

/// The JSON object of a request body, or a 400 that says what is wrong.
pub fn object(body: Value) -> Result<Map<String, Value>, ApiError> {
    match body {
        Value::Object(o) => Ok(o),
        other => Err(ApiError::bad_request(format!(
            "the body must be a JSON object, not {}",
            match other {
                Value::Array(_) => "a list",
                Value::String(_) => "a string",
                Value::Number(_) => "a number",
                Value::Bool(_) => "a boolean",
                _ => "null",
            }
        ))),
    }
}

/// A required string field.
pub fn name_field(o: &Map<String, Value>, key: &str) -> Result<String, ApiError> {
    match o.get(key) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
        Some(_) => Err(ApiError::bad_request(format!(
            "`{key}` must be a non-empty string"
        ))),
        None => Err(ApiError::bad_request(format!("`{key}` is required"))),
    }
}

/// The stored object of a kind and name, if it was made through the API.
pub async fn find<S: Store>(
    app: &App<S>,
    kind: ObjectKind,
    name: &str,
) -> Result<Option<ApiObject>, ApiError> {
    Ok(app
        .store
        .api_objects()
        .await?
        .into_iter()
        .find(|o| o.kind == kind && o.name == name))
}

/// 409 for an object that the config file defines.
pub fn read_only(kind: &str, name: &str, cfg: &Config) -> ApiError {
    let file = cfg
        .source
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "the config file".into());
    ApiError::new(
        StatusCode::CONFLICT,
        format!("the {kind} `{name}` is defined in {file} and is read-only here"),
    )
    .hint("edit the config file and reload the daemon (SIGHUP, or `systemctl reload palimpsest`)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_round_trip_and_never_expand_the_environment() {
        let o = object(serde_json::json!({
            "name": "a", "url": "https://example.org/?q=${SMTP_PASSWORD}",
            "tags": ["x", "y"], "paused": false, "keep_versions": 5, "select": null
        }))
        .expect("object");
        let body = toml_body(&o).expect("toml");
        assert!(body.contains("$${SMTP_PASSWORD}"), "{body}");
        assert!(!body.contains("select"));
        let back = json_of(&body);
        assert_eq!(back["url"], "https://example.org/?q=${SMTP_PASSWORD}");
        assert_eq!(back["keep_versions"], 5);
        assert_eq!(back["tags"], serde_json::json!(["x", "y"]));
    }

    #[test]
    fn nested_objects_stay_inside_their_table() {
        let o = object(serde_json::json!({
            "name": "h", "type": "webhook", "url": "https://example.org/h",
            "headers": {"X-Api-Key": "k", "a b": "c"},
            "smtp": {"host": "evil.example"},
            "list": [{"x": 1}],
            "weird key": "v"
        }))
        .expect("object");
        let body = toml_body(&o).expect("toml");
        let doc: toml::Table = format!("[[channel]]\n{body}").parse().expect("TOML");
        assert_eq!(doc.keys().collect::<Vec<_>>(), ["channel"], "{body}");
        let back = json_of(&body);
        assert_eq!(back["headers"]["X-Api-Key"], "k");
        assert_eq!(back["headers"]["a b"], "c");
        assert_eq!(back["smtp"]["host"], "evil.example");
        assert_eq!(back["list"][0]["x"], 1);
        assert_eq!(back["weird key"], "v");
    }

    #[test]
    fn bodies_must_be_objects() {
        assert!(object(serde_json::json!([1])).is_err());
        assert!(toml_body(&object(serde_json::json!({"a": [null]})).expect("o")).is_err());
    }
}
