//! The plain types of the alert outbox, shared by every backend.
//!
//! The rules every backend keeps:
//!
//! * a delivery row is written in the same transaction as its event, one
//!   per matching active subscription whose channel is not disabled;
//! * a *message* is the rows that share a `message_id` (one row for an
//!   immediate alert; every due row of a subscription for a digest); its
//!   id never changes, and its payload, once stored, never changes;
//! * a claim is a lease (`claimed_at` + `owner`): a message whose lease has
//!   expired can be claimed again, so a killed worker loses nothing;
//! * a message is marked delivered only after the receiver accepted it.

use crate::config::{Digest, WatchSelector};
use crate::model::{EventKind, Millis};
use serde::Serialize;

use super::EventInfo;

/// A channel as the config defines it.
#[derive(Debug, Clone)]
pub struct ChannelDef<'a> {
    pub name: &'a str,
    /// `email` or `webhook`.
    pub kind: &'static str,
    /// Changes when the target changes (re-enables a channel disabled by a 410).
    pub fingerprint: String,
}

/// A subscription as the config defines it.
#[derive(Debug, Clone)]
pub struct SubscriptionDef<'a> {
    pub channel: &'a str,
    pub watches: &'a WatchSelector,
    pub kinds: &'a [EventKind],
    pub digest: Digest,
    /// Boring edits (`data.boring` set by detection) are matched only when true.
    pub boring: bool,
}

impl SubscriptionDef<'_> {
    /// The subscription's identity: the same config line keeps its id.
    pub fn fingerprint(&self) -> String {
        let mut h = blake3::Hasher::new();
        h.update(self.channel.as_bytes()).update(&[0]);
        match self.watches {
            WatchSelector::All => {
                h.update(b"all");
            }
            WatchSelector::Tag(t) => {
                h.update(b"tag\0").update(t.as_bytes());
            }
            WatchSelector::Names(ns) => {
                h.update(b"names");
                for n in ns {
                    h.update(&[0]).update(n.as_bytes());
                }
            }
        }
        h.update(&[1]);
        for k in self.kinds {
            h.update(k.as_str().as_bytes()).update(&[0]);
        }
        h.update(digest_str(self.digest).as_bytes());
        if self.boring {
            h.update(b"\0boring");
        }
        h.finalize().to_hex()[..32].to_string()
    }
}

/// Many deletions on one host in a short time are one story: past
/// `threshold` deletions within `window_ms`, the next opens one `incident`
/// event, alerted instead of each deletion (every deletion is still stored).
///
/// `not_before` bounds the window from below: a `--once` run sets it to its
/// own start, because each run is one observation of the sites, however
/// close in time the runs are (a run every day from cron, or a simulated
/// day every few seconds); the daemon leaves it at 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IncidentRule {
    pub threshold: u32,
    pub window_ms: i64,
    pub not_before: Millis,
}

impl Default for IncidentRule {
    fn default() -> Self {
        IncidentRule {
            threshold: crate::config::defaults::INCIDENT_THRESHOLD as u32,
            window_ms: crate::config::defaults::INCIDENT_WINDOW.as_millis() as i64,
            not_before: 0,
        }
    }
}

pub fn digest_str(d: Digest) -> &'static str {
    match d {
        Digest::Off => "off",
        Digest::Hourly => "hourly",
        Digest::Daily => "daily",
    }
}

/// One claimed message: its rows' events, in order.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub message_id: String,
    pub channel: String,
    pub subscription_id: i64,
    /// `off`, `hourly` or `daily`.
    pub digest: String,
    /// Attempts made before this one.
    pub attempts: u32,
    /// When the oldest row of the message was written.
    pub created_at: Millis,
    pub payload: Option<String>,
    pub events: Vec<EventInfo>,
}

/// What an attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The receiver accepted the message.
    Delivered,
    /// A temporary failure: try again at `at`. The channel's other
    /// waiting (unclaimed, due) messages are postponed to `at` too.
    Retry { at: Millis, error: String },
    /// A permanent failure (or the message is too old): stop trying.
    /// `disable_channel` also disables the channel (a webhook's 410) and
    /// fails its other pending messages.
    Failed {
        error: String,
        disable_channel: bool,
    },
    /// Not attempted (shutdown, or the channel just failed): claimable
    /// again at `at`, no attempt counted.
    Released { at: Millis },
}

/// One row of `palimpsest deliveries`.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryInfo {
    pub id: i64,
    pub message_id: Option<String>,
    pub channel: String,
    pub watch: String,
    pub event_id: i64,
    pub event_kind: String,
    pub digest: String,
    pub status: String,
    pub attempts: u32,
    pub created_at: Millis,
    pub next_attempt_at: Millis,
    pub last_attempt_at: Option<Millis>,
    pub last_error: Option<String>,
    pub delivered_at: Option<Millis>,
}
