//! What an alert says, independent of where it goes: one [`EventView`] per
//! event (the watch, the event, the title, the diff derived from the two
//! stored versions), and the webhook envelope of GUIDE §5 built from it.

use crate::detect::diff::{self, Diff, Stats};
use crate::model::{EventKind, Millis, format_millis};
use crate::store::{EventInfo, Store, StoreError, version_text};
use serde::Serialize;
use serde_json::{Value, json};

/// Lines of a diff carried in one alert; a page rewritten from top to
/// bottom is cut here (and `truncated` says so).
pub const MAX_DIFF_LINES: usize = 400;

/// The watch an event belongs to.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WatchView {
    pub id: i64,
    pub name: String,
    pub url: String,
    pub kind: String,
    pub tags: Vec<String>,
}

/// The diff of an event, ready to show.
#[derive(Debug, Clone, PartialEq)]
pub struct DiffView {
    pub from_version: i64,
    pub to_version: i64,
    pub diff: Diff,
    pub truncated: bool,
}

impl DiffView {
    pub fn unified(&self) -> String {
        self.diff.unified(
            &format!("version {}", self.from_version),
            &format!("version {}", self.to_version),
        )
    }
}

/// Everything an alert shows about one event.
#[derive(Debug, Clone)]
pub struct EventView {
    pub event: EventInfo,
    pub watch: WatchView,
    pub title: Option<String>,
    pub diff: Option<DiffView>,
    pub stats: Option<Stats>,
}

impl EventView {
    /// `page.edited`, `listing.item_added`, `incident.opened`.
    pub fn envelope_type(&self) -> String {
        if self.event.kind == EventKind::Incident {
            return "incident.opened".into();
        }
        let prefix = if self.watch.kind == "listing" {
            "listing"
        } else {
            "page"
        };
        format!("{prefix}.{}", self.event.kind.as_str())
    }

    /// The title if there is one, else the watch's name.
    pub fn headline(&self) -> &str {
        self.title
            .as_deref()
            .filter(|t| !t.trim().is_empty())
            .unwrap_or(&self.watch.name)
    }
}

/// "Edited", "First seen", "Item removed".
pub fn kind_label(kind: EventKind) -> &'static str {
    match kind {
        EventKind::FirstSeen => "First seen",
        EventKind::Edited => "Edited",
        EventKind::Reverted => "Reverted",
        EventKind::Deleted => "Deleted",
        EventKind::Restored => "Restored",
        EventKind::Unreachable => "Unreachable",
        EventKind::Reachable => "Reachable again",
        EventKind::Blocked => "Blocked",
        EventKind::ItemAdded => "Item added",
        EventKind::ItemRemoved => "Item removed",
        EventKind::Incident => "Incident",
    }
}

/// "Deleted (404)", "Edited": the kind, and a deletion's `how`.
pub fn kind_line(v: &EventView) -> String {
    let label = kind_label(v.event.kind);
    match v.event.data.get("how").and_then(Value::as_str) {
        Some(how) => format!("{label} ({how})"),
        None => label.to_string(),
    }
}

/// "removed: Jang Song Thaek; added: …" when watched terms came or went.
pub fn terms_note(v: &EventView) -> Option<String> {
    let list = |key: &str| -> Vec<String> {
        v.event
            .data
            .get(key)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (removed, added) = (list("terms_removed"), list("terms_added"));
    let mut parts = Vec::new();
    if !removed.is_empty() {
        parts.push(format!("removed: {}", removed.join(", ")));
    }
    if !added.is_empty() {
        parts.push(format!("added: {}", added.join(", ")));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// The first line of an alert: kind, headline, and the watched terms.
pub fn first_line(v: &EventView) -> String {
    match terms_note(v) {
        Some(t) => format!("{}: {} ({t})", kind_line(v), v.headline()),
        None => format!("{}: {}", kind_line(v), v.headline()),
    }
}

/// Keys of an event's stored data that the envelope shows elsewhere.
const SHOWN_ELSEWHERE: &[&str] = &["from_version", "to_version", "title", "stats"];

/// Reads what the views of `events` need from the store: the watch, and
/// for an event between two versions, both texts, diffed here.
pub async fn load_views<S: Store>(
    store: &S,
    events: &[EventInfo],
) -> Result<Vec<EventView>, StoreError> {
    let mut out = Vec::with_capacity(events.len());
    for ev in events {
        let w = store
            .find_watch(&ev.watch_id.to_string())
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("event {} has no watch", ev.id)))?;
        let watch = WatchView {
            id: w.id,
            name: w.name,
            url: w.url,
            kind: w.kind,
            tags: w.tags,
        };
        let mut title = ev
            .data
            .get("title")
            .and_then(Value::as_str)
            .map(str::to_string);
        let mut diff = None;
        if let (Some(from), Some(to)) = (ev.prev_version_seq, ev.version_seq) {
            let a = store.version(ev.watch_id, from).await?;
            let b = store.version(ev.watch_id, to).await?;
            if let (Some(a), Some(b)) = (a, b) {
                if title.is_none() {
                    title = b.title.clone();
                }
                let old = version_text(store, &a.text_hash).await?;
                let new = version_text(store, &b.text_hash).await?;
                let (d, truncated) = truncate(diff::diff(&old, &new), MAX_DIFF_LINES);
                diff = Some(DiffView {
                    from_version: from,
                    to_version: to,
                    diff: d,
                    truncated,
                });
            }
        }
        let stats = diff
            .as_ref()
            .map(|d| d.diff.stats)
            .or_else(|| serde_json::from_value(ev.data.get("stats")?.clone()).ok());
        out.push(EventView {
            event: ev.clone(),
            watch,
            title,
            diff,
            stats,
        });
    }
    Ok(out)
}

/// Keeps the first `max` lines of a diff's hunks (the stats stay whole).
pub fn truncate(mut d: Diff, max: usize) -> (Diff, bool) {
    let mut left = max;
    let mut cut = false;
    d.hunks.retain_mut(|h| {
        if left == 0 {
            cut = true;
            return false;
        }
        if h.lines.len() > left {
            h.lines.truncate(left);
            cut = true;
        }
        left -= h.lines.len();
        true
    });
    (d, cut)
}

/// `data` of the envelope for one event.
pub fn event_data(v: &EventView) -> Value {
    let mut event = serde_json::Map::new();
    event.insert("id".into(), json!(v.event.id));
    event.insert("kind".into(), json!(v.event.kind.as_str()));
    event.insert(
        "detected_at".into(),
        json!(format_millis(v.event.created_at)),
    );
    event.insert("version".into(), json!(v.event.version_seq));
    event.insert("prev_version".into(), json!(v.event.prev_version_seq));
    // Whatever detection recorded (`how` of a deletion, terms, removed and
    // added words) travels with the event.
    if let Value::Object(extra) = &v.event.data {
        for (k, val) in extra {
            if !SHOWN_ELSEWHERE.contains(&k.as_str()) && !event.contains_key(k) {
                event.insert(k.clone(), val.clone());
            }
        }
    }
    json!({
        "watch": v.watch,
        "event": event,
        "title": v.title,
        "diff": v.diff.as_ref().map(|d| json!({
            "from_version": d.from_version,
            "to_version": d.to_version,
            "unified": d.unified(),
            "hunks": d.diff.hunks,
            "truncated": d.truncated,
        })),
        "stats": v.stats,
    })
}

/// The Standard Webhooks envelope of one event (GUIDE §5).
pub fn envelope(v: &EventView) -> Value {
    json!({
        "id": format!("evt_{}", v.event.id),
        "type": v.envelope_type(),
        "timestamp": format_millis(v.event.created_at),
        "data": event_data(v),
    })
}

/// The envelope of a digest: every event of the window, each with the
/// `type` and `data` it would have had alone.
pub fn digest_envelope(message_id: &str, views: &[EventView], now: Millis) -> Value {
    let events: Vec<Value> = views
        .iter()
        .map(|v| json!({ "id": format!("evt_{}", v.event.id), "type": v.envelope_type(), "data": event_data(v) }))
        .collect();
    json!({
        "id": message_id,
        "type": "digest",
        "timestamp": format_millis(now),
        "data": { "count": views.len(), "events": events },
    })
}

/// A sample event for `palimpsest notify test`: an edit of an example page.
pub fn sample_view() -> EventView {
    let old = "Kim Jong Un met Jang Song Thaek in Pyongyang.\nThe talks were friendly.";
    let new = "Kim Jong Un met the delegation in Pyongyang.\nThe talks were friendly.";
    let d = diff::diff(old, new);
    let stats = d.stats;
    EventView {
        event: EventInfo {
            id: 0,
            watch_id: 0,
            kind: EventKind::Edited,
            created_at: crate::model::now_millis(),
            version_seq: Some(2),
            prev_version_seq: Some(1),
            data: json!({ "test": true }),
        },
        watch: WatchView {
            id: 0,
            name: "palimpsest-test".into(),
            url: "https://example.org/article/123.html".into(),
            kind: "page".into(),
            tags: vec!["test".into()],
        },
        title: Some("A test alert from palimpsest".into()),
        diff: Some(DiffView {
            from_version: 1,
            to_version: 2,
            diff: d,
            truncated: false,
        }),
        stats: Some(stats),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_follow_the_watch_kind() {
        let mut v = sample_view();
        assert_eq!(v.envelope_type(), "page.edited");
        v.watch.kind = "listing".into();
        v.event.kind = EventKind::ItemRemoved;
        assert_eq!(v.envelope_type(), "listing.item_removed");
        v.event.kind = EventKind::Incident;
        assert_eq!(v.envelope_type(), "incident.opened");
    }

    #[test]
    fn event_data_carries_how_and_the_diff() {
        let mut v = sample_view();
        v.event.kind = EventKind::Deleted;
        v.event.data = json!({"how": "redirect", "title": "x", "to_version": 3});
        let e = envelope(&v);
        assert_eq!(e["type"], "page.deleted");
        assert_eq!(e["data"]["event"]["how"], "redirect");
        assert_eq!(e["data"]["event"]["kind"], "deleted");
        assert!(e["data"]["event"].get("to_version").is_none());
        assert_eq!(
            e["data"]["watch"]["url"],
            "https://example.org/article/123.html"
        );
        let unified = e["data"]["diff"]["unified"].as_str().unwrap_or_default();
        assert!(
            unified.contains("-Kim Jong Un met Jang Song Thaek"),
            "{unified}"
        );
    }

    #[test]
    fn truncation_keeps_the_first_lines() {
        let old: String = (0..100).map(|i| format!("line {i}\n")).collect();
        let new: String = (0..100).map(|i| format!("LINE {i}\n")).collect();
        let (d, cut) = truncate(diff::diff(&old, &new), 10);
        assert!(cut);
        assert_eq!(d.hunks.iter().map(|h| h.lines.len()).sum::<usize>(), 10);
        assert_eq!(d.stats.lines_removed, 100, "stats stay whole");
        let (_, cut) = truncate(diff::diff("a", "b"), 10);
        assert!(!cut);
    }
}
