//! Listing items: the entries of an index or section page, an RSS/Atom/RDF
//! (or JSON) feed, or an XML sitemap, for watches of `kind = "listing"`.
//!
//! A listing watch does not diff prose: it keeps the list of [`Item`]s a
//! page offers (URL, title, date) and [`crate::detect::listing`] turns two
//! lists into `item_added` / `item_removed`. This module only reads lists;
//! it is pure (no I/O) and never fails: a document it cannot read yields
//! an empty list, which the comparison treats as a suspicious shrink
//! rather than as every item removed.
//!
//! # What kind of document
//!
//! The root element decides first (so a feed served as `text/html` or
//! `application/octet-stream` still reads as a feed): `<rss>`, `<feed>` and
//! `<rdf:RDF>` are feeds, `<urlset>` and `<sitemapindex>` are sitemaps,
//! `<html>` is HTML; a JSON Feed is recognized by its `version` URL. An XML
//! media type (`application/rss+xml`, `application/atom+xml`,
//! `application/xml`, `text/xml`, any `+xml`) with another root is tried as
//! a feed; everything else is read as HTML.
//!
//! # Feeds and sitemaps
//!
//! Feeds are parsed by `feed-rs`. An entry's URL is its first link that is
//! not an enclosure (Atom: `rel="alternate"` or none), else its id when
//! that is an http(s) URL; title is the entry title (HTML titles as text);
//! date is `published`, else `updated`, as RFC 3339 UTC. Sitemaps are read
//! with `quick-xml`: `<url><loc>` with `<lastmod>` (and the Google News
//! extension's `<news:title>` / `<news:publication_date>` when present);
//! a `<sitemapindex>` lists its child sitemaps as items. Feed and sitemap
//! order is kept.
//!
//! # HTML
//!
//! With an `items` CSS selector, each selected element is one item: its
//! link is the element itself when it is an `<a href>`, else the link in a
//! heading inside it, else its first `<a href>`. Without one, the general
//! default finds the page's article list (see the `html` submodule): links
//! outside page chrome, grouped by URL *shape*, the best group kept.
//! In both modes the title is the link text (or a heading of the item when
//! the link has no text or only a word or two), and the date is a
//! `<time datetime>` or a date-looking text inside the item.
//!
//! # Common rules
//!
//! Item URLs are absolute (resolved against the page and `<base href>` /
//! `xml:base`), http(s) only, without fragment, query kept, and in the
//! `url` crate's normal form. Duplicates are dropped (the first occurrence
//! wins) and document order is kept: index pages and feeds list the newest
//! first, and [`crate::detect::listing`] relies on this order to tell an
//! item that aged off the end from one that was taken down. When an
//! `item_url` regex is set, only URLs it matches are items.
//!
//! # The version text
//!
//! [`to_text`] writes one line per item, `URL<TAB>title<TAB>date`, in list
//! order; [`from_text`] reads it back exactly. This text is what a listing
//! stores as its version, so a changed title or date makes a new version
//! (a record of the headline edit) without making an item event.

mod date;
mod feed;
mod html;
mod shape;

pub use date::date_key;

use regex::Regex;
use scraper::Selector;
use serde::{Deserialize, Serialize};

/// One entry of a listing.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Item {
    /// Absolute, normalized URL (no fragment; the query is kept).
    pub url: String,
    /// The item's title as shown (link text, heading, feed title), whitespace-normalized.
    pub title: Option<String>,
    /// The item's date: ISO-8601 when it was parsed (`2026-01-30`, or RFC
    /// 3339 from feeds), otherwise the text as found (`01/02/2026`).
    pub date: Option<String>,
}

/// A listing watch's rules, compiled once.
#[derive(Debug, Default)]
pub struct ListingRules {
    /// The elements that are items (`items = "ul.news > li"`).
    items: Option<Selector>,
    /// Item URLs must match this (`item_url = "/article/\\d+"`).
    item_url: Option<Regex>,
    /// blake3 of the rule sources and [`LISTING_EXTRACTOR_VERSION`].
    fingerprint: [u8; 32],
}

/// A listing rule that does not compile.
#[derive(Debug, thiserror::Error)]
pub enum ListingError {
    #[error("`{0}` is not a CSS selector: {1}")]
    Selector(String, String),
    #[error("`{0}` is not a regular expression: {1}")]
    Regex(String, String),
}

/// Bumped when item extraction changes in a way that changes the version
/// text, so that a stored body hash is not trusted across the upgrade.
pub const LISTING_EXTRACTOR_VERSION: &str = "listing-1";

impl ListingRules {
    /// Compiles the rules: `items` is a CSS selector, `item_url` a regex
    /// (searched anywhere in the absolute item URL).
    pub fn new(items: Option<&str>, item_url: Option<&str>) -> Result<Self, ListingError> {
        let selector = items
            .map(|s| {
                Selector::parse(s).map_err(|e| ListingError::Selector(s.to_string(), e.to_string()))
            })
            .transpose()?;
        let regex = item_url
            .map(|r| Regex::new(r).map_err(|e| ListingError::Regex(r.to_string(), e.to_string())))
            .transpose()?;
        let mut hasher = blake3::Hasher::new();
        hasher.update(b"listing-rules-v1\0");
        if let Some(s) = items {
            hasher.update(b"items\0").update(s.as_bytes()).update(b"\0");
        }
        if let Some(r) = item_url {
            hasher
                .update(b"item_url\0")
                .update(r.as_bytes())
                .update(b"\0");
        }
        hasher.update(LISTING_EXTRACTOR_VERSION.as_bytes());
        Ok(ListingRules {
            items: selector,
            item_url: regex,
            fingerprint: *hasher.finalize().as_bytes(),
        })
    }

    /// blake3 of the rule sources and the extractor version: a version made
    /// under other rules cannot be trusted by body hash alone.
    pub fn fingerprint(&self) -> [u8; 32] {
        self.fingerprint
    }

    fn url_allowed(&self, url: &str) -> bool {
        self.item_url.as_ref().is_none_or(|re| re.is_match(url))
    }
}

/// The items of a listing document, in document order, deduplicated by URL.
///
/// `content_type` is the response's media type (parameters and case do not
/// matter); `base` is the final URL of the response. Never panics and never
/// fails: a document that cannot be read gives an empty list.
pub fn extract_items(
    body: &str,
    content_type: &str,
    base: &url::Url,
    rules: &ListingRules,
) -> Vec<Item> {
    let body = body.strip_prefix('\u{feff}').unwrap_or(body);
    let items = match feed::classify(content_type, body) {
        feed::Source::Feed => feed::feed_items(body, base),
        feed::Source::Sitemap => feed::sitemap_items(body, base),
        feed::Source::Html => return html::html_items(body, base, rules),
    };
    dedupe(items.into_iter().filter(|i| rules.url_allowed(&i.url)))
}

/// Keeps the first item of every URL, in order.
fn dedupe(items: impl IntoIterator<Item = Item>) -> Vec<Item> {
    let mut seen = std::collections::HashSet::new();
    items
        .into_iter()
        .filter(|i| seen.insert(i.url.clone()))
        .collect()
}

/// The canonical version text of a listing: one line per item, in list
/// order, `URL<TAB>title<TAB>date`.
///
/// Every field is escaped so that any string survives: `\` as `\\`, tab as
/// `\t`, line feed as `\n`, carriage return as `\r`. A missing title or
/// date is an empty field; a present but empty one is written `\e`, so
/// that [`from_text`] is the exact inverse. Lines are joined by `\n`
/// without a final newline; no list gives the empty text.
pub fn to_text(items: &[Item]) -> String {
    let mut out = String::new();
    for (n, item) in items.iter().enumerate() {
        if n > 0 {
            out.push('\n');
        }
        escape_into(&item.url, &mut out);
        out.push('\t');
        escape_opt(item.title.as_deref(), &mut out);
        out.push('\t');
        escape_opt(item.date.as_deref(), &mut out);
    }
    out
}

/// Reads a text written by [`to_text`] back into items.
///
/// Lenient with anything else: empty lines are skipped, missing fields are
/// `None`, fields past the third are ignored, an unknown escape is kept as
/// written.
pub fn from_text(text: &str) -> Vec<Item> {
    text.split('\n')
        .filter(|line| !line.is_empty())
        .map(|line| {
            let mut fields = line.split('\t');
            let url = fields.next().map(unescape).unwrap_or_default();
            let title = fields.next().and_then(unescape_opt);
            let date = fields.next().and_then(unescape_opt);
            Item { url, title, date }
        })
        .collect()
}

fn escape_opt(field: Option<&str>, out: &mut String) {
    match field {
        None => {}
        Some("") => out.push_str("\\e"),
        Some(s) => escape_into(s, out),
    }
}

fn escape_into(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

fn unescape_opt(field: &str) -> Option<String> {
    (!field.is_empty()).then(|| unescape(field))
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            // The marker of a present, empty field.
            Some('e') => {}
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn item(url: &str, title: Option<&str>, date: Option<&str>) -> Item {
        Item {
            url: url.to_string(),
            title: title.map(str::to_string),
            date: date.map(str::to_string),
        }
    }

    #[test]
    fn text_format_is_readable() {
        let items = vec![
            item("http://e.org/a/2.html", Some("Two"), Some("2026-01-30")),
            item("http://e.org/a/1.html", None, None),
            item("http://e.org/a/0.html", Some("tab\there\\"), Some("")),
        ];
        let text = to_text(&items);
        assert_eq!(
            text,
            "http://e.org/a/2.html\tTwo\t2026-01-30\nhttp://e.org/a/1.html\t\t\nhttp://e.org/a/0.html\ttab\\there\\\\\t\\e"
        );
        assert_eq!(from_text(&text), items);
        assert_eq!(to_text(&[]), "");
        assert!(from_text("").is_empty());
    }

    #[test]
    fn from_text_is_lenient() {
        assert_eq!(
            from_text("http://e.org/1\n\nhttp://e.org/2\tT\nx\\q\ta\tb\textra"),
            vec![
                item("http://e.org/1", None, None),
                item("http://e.org/2", Some("T"), None),
                item("x\\q", Some("a"), Some("b")),
            ]
        );
    }

    #[test]
    fn rules_compile_and_fingerprint() {
        let a = ListingRules::new(Some("ul.news > li"), Some(r"/article/\d+")).expect("rules");
        let b = ListingRules::new(Some("ul.news > li"), None).expect("rules");
        let c = ListingRules::new(None, None).expect("rules");
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_ne!(b.fingerprint(), c.fingerprint());
        assert_eq!(
            c.fingerprint(),
            ListingRules::new(None, None).expect("rules").fingerprint()
        );
        assert!(matches!(
            ListingRules::new(Some("ul >"), None),
            Err(ListingError::Selector(..))
        ));
        assert!(matches!(
            ListingRules::new(None, Some("(")),
            Err(ListingError::Regex(..))
        ));
    }

    fn any_text() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "[a-z\\\\\t\n\r ]{0,12}",
            "(\\\\e|\\\\|\t|\n|e|장성택|x){0,6}",
        ]
    }

    fn any_item() -> impl Strategy<Value = Item> {
        (
            any_text(),
            proptest::option::of(any_text()),
            proptest::option::of(any_text()),
        )
            .prop_map(|(url, title, date)| Item { url, title, date })
    }

    proptest! {
        #[test]
        fn text_round_trips(items in proptest::collection::vec(any_item(), 0..8)) {
            prop_assert_eq!(from_text(&to_text(&items)), items);
        }
    }
}
