//! What the HTTP API keeps in storage besides the record of pages: objects
//! made through the API (as config fragments), bearer tokens, the server's
//! signing key, and the filtered views the API and the UI read.

use crate::model::Millis;
use serde::Serialize;

/// What an object made through the API is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjectKind {
    Watch,
    Channel,
    Subscription,
}

impl ObjectKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Watch => "watch",
            ObjectKind::Channel => "channel",
            ObjectKind::Subscription => "subscription",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "watch" => Some(ObjectKind::Watch),
            "channel" => Some(ObjectKind::Channel),
            "subscription" => Some(ObjectKind::Subscription),
            _ => None,
        }
    }
}

/// A watch, channel or subscription made through the API: the TOML body
/// of one `[[watch]]`, `[[channel]]` or `[[subscription]]` table. It is
/// validated together with the config file at every load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiObject {
    pub kind: ObjectKind,
    /// The watch or channel name; a subscription's fingerprint.
    pub name: String,
    pub body: String,
}

/// A bearer token, without the token.
#[derive(Debug, Clone, Serialize)]
pub struct TokenInfo {
    pub id: i64,
    pub name: String,
    pub read_only: bool,
    pub created_at: Millis,
    pub last_used_at: Option<Millis>,
}

/// Which events to list, newest first. `before` is the id of the last
/// event of the previous page (keyset pagination).
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub watch_id: Option<i64>,
    pub tag: Option<String>,
    pub kind: Option<String>,
    pub since: Option<Millis>,
    pub before: Option<i64>,
    pub limit: i64,
}

/// An event with the name and URL of its watch.
#[derive(Debug, Clone, Serialize)]
pub struct EventRow {
    #[serde(flatten)]
    pub event: super::EventInfo,
    pub watch: String,
    pub url: String,
}

/// A subscription row as stored (config and API ones alike).
#[derive(Debug, Clone, Serialize)]
pub struct SubscriptionInfo {
    pub id: i64,
    pub channel: String,
    /// `all`, `tag` or `names`.
    pub selector: String,
    pub tag: Option<String>,
    pub names: Vec<String>,
    pub kinds: Vec<String>,
    pub digest: String,
    pub boring: bool,
    #[serde(skip)]
    pub fingerprint: String,
    pub unsubscribed_at: Option<Millis>,
}

/// A channel's stored state (its definition lives in the config).
#[derive(Debug, Clone, Serialize)]
pub struct ChannelState {
    pub name: String,
    pub disabled_at: Option<Millis>,
    pub disabled_reason: Option<String>,
}

/// What `/metrics` reads from storage at scrape time.
#[derive(Debug, Clone, Default)]
pub struct OpsSnapshot {
    /// Active watches by page status (`paused` counted apart).
    pub watches_by_status: Vec<(String, i64)>,
    /// When the oldest pending delivery was written.
    pub oldest_pending_delivery: Option<Millis>,
}

/// What an unsubscribe link points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsubscribeTarget {
    pub subscription_id: i64,
    pub channel: String,
    pub unsubscribed: bool,
}
