//! Atom feeds of events: pure rendering, no I/O.
//!
//! A feed reader is the simplest alert channel there is: it polls, it keeps
//! what it has seen, and it needs no secret. The server reads the newest
//! events from the store, turns each into a [`FeedEntry`] and asks
//! [`atom`] for the document; this module knows nothing of HTTP or SQL, so
//! it is tested by parsing what it writes.
//!
//! # What makes a feed behave in a reader
//!
//! * **Stable ids.** A reader recognises an entry it has already shown by
//!   its `<id>` alone. Each entry's id is derived from the feed's id and the
//!   event's database id, both of which never change, so refreshing the
//!   feed never shows an event twice, even if its summary is re-rendered
//!   differently. (The ids are *not* URLs to fetch; `<link>` is.)
//! * **A meaningful `<updated>`.** The feed's is the newest entry's time, or
//!   the Unix epoch for an empty feed, so that the document does not look
//!   changed on every request.
//! * **Text, escaped.** Watch names and summaries come from config files
//!   and from the watched pages themselves, i.e. from strangers. Everything
//!   is written as `type="text"` and escaped by the XML writer; characters
//!   that XML 1.0 cannot carry at all (most control characters) are
//!   dropped first, because a single one makes a strict reader reject the
//!   whole feed.

use atom_syndication::{Content, Entry, Feed, FixedDateTime, Generator, Link, Person, Text};

/// One event as a feed shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedEntry {
    /// The event's id in the store: the stable part of the entry's `<id>`.
    pub id: i64,
    /// The watch's name, shown in the entry's title.
    pub watch_name: String,
    /// The watched page.
    pub watch_url: String,
    /// The event kind (`edited`, `deleted`, `item_added`...).
    pub kind: String,
    /// When the event was detected, UTC milliseconds.
    pub created_at: i64,
    /// Plain text shown as the entry's content.
    pub summary: String,
    /// Where to read about the event (palimpsest's own page of it).
    pub link: String,
}

/// Renders an Atom 1.0 document of `entries`, in the order given (newest
/// first, normally).
///
/// * `feed_id` is the feed's permanent `<id>`, an IRI that no other feed
///   uses, e.g. `tag:palimpsest.example.org,2026:events` for all events or
///   `tag:palimpsest.example.org,2026:watch/3` for one watch. Each entry's
///   id is `{feed_id}/event/{id}`, which stays a valid `tag:` IRI.
/// * `self_url` is where this document is served (`rel="self"`), and
///   `alternate_url` the HTML page showing the same events.
pub fn atom(
    title: &str,
    feed_id: &str,
    self_url: &str,
    alternate_url: &str,
    entries: &[FeedEntry],
) -> String {
    let newest = entries.iter().map(|e| e.created_at).max();
    let feed = Feed {
        title: Text::plain(xml_text(title)),
        id: xml_text(feed_id),
        updated: newest.map_or_else(FixedDateTime::default, atom_time),
        // Atom wants an author for every entry; one for the whole feed
        // covers them all.
        authors: vec![Person {
            name: "palimpsest".to_owned(),
            ..Person::default()
        }],
        generator: Some(Generator {
            value: "palimpsest".to_owned(),
            uri: None,
            version: Some(env!("CARGO_PKG_VERSION").to_owned()),
        }),
        links: vec![
            link(self_url, "self", "application/atom+xml"),
            link(alternate_url, "alternate", "text/html"),
        ],
        entries: entries.iter().map(|e| entry(feed_id, e)).collect(),
        ..Feed::default()
    };
    match feed.write_to(Vec::new()) {
        // The writer emits UTF-8; a lossy conversion cannot change it.
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => {
            // Writing into memory does not fail; if it ever does, an empty
            // but valid feed is better than a broken one.
            tracing::error!("cannot write the Atom feed: {e}");
            let empty = Feed {
                title: Text::plain(xml_text(title)),
                id: xml_text(feed_id),
                ..Feed::default()
            };
            empty.to_string()
        }
    }
}

fn entry(feed_id: &str, e: &FeedEntry) -> Entry {
    let when = atom_time(e.created_at);
    let title = format!("{}: {}", e.kind.replace('_', " "), e.watch_name);
    let mut content = xml_text(&e.summary);
    if !e.watch_url.is_empty() {
        if !content.is_empty() {
            content.push_str("\n\n");
        }
        content.push_str(&xml_text(&e.watch_url));
    }
    let mut links = Vec::with_capacity(2);
    if !e.link.is_empty() {
        links.push(link(&e.link, "alternate", "text/html"));
    }
    if !e.watch_url.is_empty() {
        links.push(link(&e.watch_url, "related", "text/html"));
    }
    Entry {
        title: Text::plain(xml_text(&title)),
        id: format!("{}/event/{}", xml_text(feed_id), e.id),
        updated: when,
        published: Some(when),
        links,
        categories: vec![atom_syndication::Category {
            term: xml_text(&e.kind),
            ..atom_syndication::Category::default()
        }],
        content: Some(Content {
            value: Some(content),
            content_type: Some("text".to_owned()),
            ..Content::default()
        }),
        ..Entry::default()
    }
}

fn link(href: &str, rel: &str, mime_type: &str) -> Link {
    Link {
        href: xml_text(href),
        rel: rel.to_owned(),
        mime_type: Some(mime_type.to_owned()),
        ..Link::default()
    }
}

/// UTC milliseconds as the date type `atom_syndication` uses.
///
/// That type is chrono's `DateTime<FixedOffset>`, while the rest of
/// palimpsest uses jiff; rather than add chrono as a dependency, the time
/// crosses over as an RFC 3339 string, which both sides speak. A time
/// outside either library's range becomes the epoch.
fn atom_time(ms: i64) -> FixedDateTime {
    jiff::Timestamp::from_millisecond(ms)
        .ok()
        .and_then(|t| FixedDateTime::parse_from_rfc3339(&t.to_string()).ok())
        .unwrap_or_default()
}

/// `s` without the characters XML 1.0 forbids: controls other than tab,
/// line feed and carriage return, and the non-characters U+FFFE/U+FFFF.
/// (Surrogates cannot occur in a Rust `str`.) The XML writer escapes the
/// rest (`<`, `&`...).
fn xml_text(s: &str) -> String {
    s.chars()
        .filter(|&c| {
            matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}')
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    const FEED_ID: &str = "tag:palimpsest.example.org,2026:events";

    fn sample(id: i64, kind: &str, name: &str, created_at: i64) -> FeedEntry {
        FeedEntry {
            id,
            watch_name: name.to_owned(),
            watch_url: format!("https://example.org/{id}"),
            kind: kind.to_owned(),
            created_at,
            summary: format!("summary of {id}"),
            link: format!("https://palimpsest.example.org/events/{id}"),
        }
    }

    fn render(entries: &[FeedEntry]) -> String {
        atom(
            "palimpsest: all events",
            FEED_ID,
            "https://palimpsest.example.org/feeds/events.atom",
            "https://palimpsest.example.org/events",
            entries,
        )
    }

    #[test]
    fn round_trips_with_entries_in_order() {
        // 2026-01-30T10:00:00Z and a minute before and after.
        let t = 1_769_767_200_000;
        let entries = [
            sample(42, "edited", "kcna-article", t),
            sample(41, "deleted", "other", t + 60_000),
            sample(7, "item_added", "index", t - 60_000),
        ];
        let xml = render(&entries);
        let feed = Feed::from_str(&xml).unwrap();

        assert_eq!(feed.title.as_str(), "palimpsest: all events");
        assert_eq!(feed.id, FEED_ID);
        // The newest entry's time, not the first one's.
        assert_eq!(feed.updated.to_rfc3339(), "2026-01-30T10:01:00+00:00");
        let rels: Vec<(&str, &str)> = feed
            .links
            .iter()
            .map(|l| (l.rel.as_str(), l.href.as_str()))
            .collect();
        assert_eq!(
            rels,
            [
                ("self", "https://palimpsest.example.org/feeds/events.atom"),
                ("alternate", "https://palimpsest.example.org/events"),
            ]
        );

        let ids: Vec<&str> = feed.entries.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "tag:palimpsest.example.org,2026:events/event/42",
                "tag:palimpsest.example.org,2026:events/event/41",
                "tag:palimpsest.example.org,2026:events/event/7",
            ]
        );
        let first = &feed.entries[0];
        assert_eq!(first.title.as_str(), "edited: kcna-article");
        assert_eq!(feed.entries[2].title.as_str(), "item added: index");
        assert_eq!(first.updated.to_rfc3339(), "2026-01-30T10:00:00+00:00");
        assert_eq!(
            first.published.map(|p| p.to_rfc3339()),
            first.updated.to_rfc3339().into()
        );
        assert_eq!(first.links[0].rel, "alternate");
        assert_eq!(
            first.links[0].href,
            "https://palimpsest.example.org/events/42"
        );
        assert_eq!(first.links[1].rel, "related");
        assert_eq!(first.links[1].href, "https://example.org/42");
        assert_eq!(first.categories[0].term, "edited");
        let content = first.content.as_ref().unwrap();
        assert_eq!(content.content_type.as_deref(), Some("text"));
        assert_eq!(
            content.value.as_deref(),
            Some("summary of 42\n\nhttps://example.org/42")
        );
    }

    #[test]
    fn the_same_event_keeps_its_id() {
        let a = render(&[sample(5, "edited", "w", 1_000)]);
        let mut changed = sample(5, "edited", "w", 1_000);
        changed.summary = "re-rendered differently".to_owned();
        let b = render(&[changed, sample(6, "edited", "w", 2_000)]);
        let id_a = &Feed::from_str(&a).unwrap().entries[0].id;
        let id_b = &Feed::from_str(&b).unwrap().entries[0].id;
        assert_eq!(id_a, id_b);
    }

    #[test]
    fn user_text_is_escaped() {
        let mut e = sample(1, "edited", "<script>alert(1)</script>", 0);
        e.summary = "a <script>alert('x')</script> & <b>bold</b>".to_owned();
        e.watch_url = "https://example.org/?a=1&b=<2>".to_owned();
        let xml = render(&[e]);
        assert!(!xml.contains("<script>"), "{xml}");
        assert!(!xml.contains("<b>"), "{xml}");
        assert!(xml.contains("&lt;script&gt;"), "{xml}");

        // ... and comes back exactly as it went in.
        let feed = Feed::from_str(&xml).unwrap();
        let entry = &feed.entries[0];
        assert_eq!(entry.title.as_str(), "edited: <script>alert(1)</script>");
        assert_eq!(
            entry.content.as_ref().and_then(|c| c.value.as_deref()),
            Some("a <script>alert('x')</script> & <b>bold</b>\n\nhttps://example.org/?a=1&b=<2>")
        );
        assert_eq!(entry.links[1].href, "https://example.org/?a=1&b=<2>");
    }

    #[test]
    fn control_characters_are_dropped() {
        let mut e = sample(1, "edited", "bell\u{7}name", 0);
        e.summary = "nul\u{0}here\ttab\u{FFFF}".to_owned();
        let xml = render(&[e]);
        assert!(!xml.contains('\u{0}') && !xml.contains('\u{7}'));
        let feed = Feed::from_str(&xml).unwrap();
        assert_eq!(feed.entries[0].title.as_str(), "edited: bellname");
        assert!(
            feed.entries[0]
                .content
                .as_ref()
                .and_then(|c| c.value.as_deref())
                .is_some_and(|v| v.starts_with("nulhere\ttab\n"))
        );
    }

    #[test]
    fn an_empty_feed_is_dated_at_the_epoch() {
        let xml = render(&[]);
        let feed = Feed::from_str(&xml).unwrap();
        assert!(feed.entries.is_empty());
        assert_eq!(feed.updated.timestamp(), 0);
        assert_eq!(feed.authors[0].name, "palimpsest");
    }

    #[test]
    fn times_keep_their_milliseconds_and_survive_extremes() {
        assert_eq!(
            atom_time(1_769_767_200_123).to_rfc3339(),
            "2026-01-30T10:00:00.123+00:00"
        );
        assert_eq!(atom_time(i64::MAX).timestamp(), 0);
        assert_eq!(atom_time(i64::MIN).timestamp(), 0);
    }
}
