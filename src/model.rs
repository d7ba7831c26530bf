//! Plain data types shared by several stages: the vocabulary of the GUIDE.
//!
//! Nothing in here does I/O. Stages exchange these values across module
//! boundaries, so they are deliberately boring: enums with a stable string
//! form (used in the database, JSON output and config) and small structs.

use serde::{Deserialize, Serialize};
use std::fmt;

/// What kind of thing a watch tracks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum WatchKind {
    /// One page whose text is kept and diffed.
    #[default]
    Page,
    /// An index, section page, feed or sitemap whose items are tracked.
    Listing,
}

impl WatchKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WatchKind::Page => "page",
            WatchKind::Listing => "listing",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "page" => Some(WatchKind::Page),
            "listing" => Some(WatchKind::Listing),
            _ => None,
        }
    }
}

/// Every kind of event palimpsest records (GUIDE §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    FirstSeen,
    Edited,
    Reverted,
    Deleted,
    Restored,
    Unreachable,
    Reachable,
    Blocked,
    ItemAdded,
    ItemRemoved,
    Incident,
}

impl EventKind {
    pub const ALL: [EventKind; 11] = [
        EventKind::FirstSeen,
        EventKind::Edited,
        EventKind::Reverted,
        EventKind::Deleted,
        EventKind::Restored,
        EventKind::Unreachable,
        EventKind::Reachable,
        EventKind::Blocked,
        EventKind::ItemAdded,
        EventKind::ItemRemoved,
        EventKind::Incident,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::FirstSeen => "first_seen",
            EventKind::Edited => "edited",
            EventKind::Reverted => "reverted",
            EventKind::Deleted => "deleted",
            EventKind::Restored => "restored",
            EventKind::Unreachable => "unreachable",
            EventKind::Reachable => "reachable",
            EventKind::Blocked => "blocked",
            EventKind::ItemAdded => "item_added",
            EventKind::ItemRemoved => "item_removed",
            EventKind::Incident => "incident",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How one check ended, as recorded in its check row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckOutcome {
    /// The server answered 304 Not Modified to our conditional request.
    NotModified,
    /// The body bytes, or failing that the extracted text, equal the last version's.
    Unchanged,
    /// A new version was stored.
    NewVersion,
    /// The server answered, but not with content (4xx/5xx).
    HttpError,
    /// No usable answer: DNS, connect, TLS, timeout, body too large, refused address.
    Failed,
}

impl CheckOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckOutcome::NotModified => "not_modified",
            CheckOutcome::Unchanged => "unchanged",
            CheckOutcome::NewVersion => "new_version",
            CheckOutcome::HttpError => "http_error",
            CheckOutcome::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            CheckOutcome::NotModified,
            CheckOutcome::Unchanged,
            CheckOutcome::NewVersion,
            CheckOutcome::HttpError,
            CheckOutcome::Failed,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }

    /// True when the check reached the page and saw its content (or a 304).
    pub fn is_success(self) -> bool {
        matches!(
            self,
            CheckOutcome::NotModified | CheckOutcome::Unchanged | CheckOutcome::NewVersion
        )
    }
}

/// Milliseconds since the Unix epoch, UTC: the one time representation in storage.
pub type Millis = i64;

/// The current time in [`Millis`].
pub fn now_millis() -> Millis {
    jiff::Timestamp::now().as_millisecond()
}

/// Formats [`Millis`] as RFC 3339 UTC, e.g. `2026-01-30T10:00:00Z`.
pub fn format_millis(ms: Millis) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(t) => t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        Err(_) => format!("@{ms}ms"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip() {
        for k in EventKind::ALL {
            assert_eq!(EventKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(format_millis(0), "1970-01-01T00:00:00Z");
    }
}
