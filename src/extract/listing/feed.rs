//! Feeds (RSS 0.9x/1.0/2.0, Atom, JSON Feed) and XML sitemaps.

use super::Item;
use crate::extract::html::resolve_link;
use crate::extract::normalize_line;
use quick_xml::events::Event;
use quick_xml::reader::Reader;
use std::borrow::Cow;
use std::panic::AssertUnwindSafe;
use url::Url;

/// How a listing document is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Source {
    Html,
    Feed,
    Sitemap,
}

/// Sniffs the root element first, then falls back on the media type.
pub(super) fn classify(content_type: &str, body: &str) -> Source {
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let head = body.trim_start();
    if head.starts_with('{') {
        let prefix = head.get(..head.len().min(4096)).unwrap_or(head);
        if media == "application/feed+json" || prefix.contains("jsonfeed.org/version") {
            return Source::Feed;
        }
    }
    match root_element(body).as_deref() {
        Some("rss" | "feed" | "RDF" | "rdf") => return Source::Feed,
        Some("urlset" | "sitemapindex") => return Source::Sitemap,
        Some("html") => return Source::Html,
        _ => {}
    }
    let xml = media == "application/xml" || media == "text/xml" || media.ends_with("+xml");
    if xml && media != "application/xhtml+xml" {
        Source::Feed
    } else {
        Source::Html
    }
}

/// The local name of the document's first element, when the document
/// starts like XML (declaration, comments, doctype and processing
/// instructions are skipped).
fn root_element(body: &str) -> Option<String> {
    let head = body.trim_start();
    if !head.starts_with('<') {
        return None;
    }
    let mut reader = Reader::from_str(head);
    // Only the prolog is read, so give up quickly on anything strange.
    for _ in 0..64 {
        match reader.read_event() {
            Ok(Event::Start(e) | Event::Empty(e)) => {
                return Some(e.local_name().as_ref().to_string());
            }
            Ok(Event::Decl(_) | Event::Comment(_) | Event::DocType(_) | Event::PI(_)) => {}
            Ok(Event::Text(t)) if t.trim().is_empty() => {}
            _ => return None,
        }
    }
    None
}

/// The body with its XML declarations made harmless: the body was decoded
/// already, so a declared `encoding` must not make `feed-rs` decode it a
/// second time, and a declaration after the start (invalid XML) would make
/// its reader panic. The first declaration becomes a plain UTF-8 one, any
/// later one is dropped.
fn as_utf8_xml(body: &str) -> Cow<'_, str> {
    if !body.contains("<?xml") {
        return body.into();
    }
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    let mut first = true;
    while let Some(start) = rest.find("<?xml") {
        let Some(len) = rest[start..].find("?>") else {
            break;
        };
        out.push_str(&rest[..start]);
        if first && out.trim().is_empty() {
            out.clear();
            out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
        }
        first = false;
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    out.into()
}

/// The entries of a feed, in feed order; an unreadable feed has none.
pub(super) fn feed_items(body: &str, base: &Url) -> Vec<Item> {
    let body = as_utf8_xml(body);
    let parser = feed_rs::parser::Builder::new()
        .base_uri(Some(base.as_str()))
        .build();
    // feed-rs and its XML reader are fed whatever a server sends; a panic
    // inside them (a bug, not bad input) must not take the check with it.
    let parsed = std::panic::catch_unwind(AssertUnwindSafe(|| parser.parse(body.as_bytes())));
    let Ok(Ok(feed)) = parsed else {
        if parsed.is_err() {
            tracing::warn!("feed parser panicked; the feed is read as empty");
        }
        return Vec::new();
    };
    feed.entries
        .into_iter()
        .filter_map(|entry| {
            let link = entry
                .links
                .iter()
                .find(|l| l.rel.as_deref().is_none_or(|r| r == "alternate"))
                .or_else(|| {
                    entry
                        .links
                        .iter()
                        .find(|l| l.rel.as_deref() != Some("enclosure"))
                })
                .map(|l| l.href.as_str());
            let url = link
                .and_then(|href| resolve_link(base, href))
                .or_else(|| absolute(&entry.id))?;
            let title = entry.title.and_then(|t| {
                let text = if t.content_type.subty().as_str().contains("html") {
                    html_to_text(&t.content)
                } else {
                    t.content
                };
                non_empty(normalize_line(&text))
            });
            let date = entry
                .published
                .or(entry.updated)
                .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string());
            Some(Item { url, title, date })
        })
        .collect()
}

/// The text of an HTML fragment (an Atom `type="html"` title).
fn html_to_text(fragment: &str) -> String {
    scraper::Html::parse_fragment(fragment)
        .root_element()
        .text()
        .collect()
}

/// The pages of a `<urlset>` or the sitemaps of a `<sitemapindex>`, in
/// order; a document that breaks off keeps the entries read before.
pub(super) fn sitemap_items(body: &str, base: &Url) -> Vec<Item> {
    let mut reader = Reader::from_str(body);
    reader.config_mut().check_end_names = false;
    let mut items = Vec::new();
    // Local names of the open elements.
    let mut path: Vec<String> = Vec::new();
    let mut current: Option<Entry> = None;
    let mut text = String::new();
    loop {
        let event = match reader.read_event() {
            Ok(Event::Eof) | Err(_) => break,
            Ok(e) => e,
        };
        match event {
            Event::Start(e) => {
                let name = e.local_name().as_ref().to_string();
                if matches!(name.as_str(), "url" | "sitemap") && current.is_none() {
                    current = Some(Entry::default());
                }
                path.push(name);
                text.clear();
            }
            Event::Empty(_) => text.clear(),
            Event::Text(t) => text.push_str(&t.xml10_content()),
            Event::CData(t) => text.push_str(&t.xml10_content()),
            Event::GeneralRef(r) => {
                if let Ok(Some(c)) = r.resolve_char_ref() {
                    text.push(c);
                } else if let Some(s) = quick_xml::escape::resolve_predefined_entity(&r) {
                    text.push_str(s);
                }
            }
            Event::End(_) => {
                let Some(name) = path.pop() else { continue };
                let parent = path.last().map(String::as_str);
                if let Some(entry) = current.as_mut() {
                    let value = text.trim();
                    match (parent, name.as_str()) {
                        (Some("url" | "sitemap"), "loc") => entry.loc = Some(value.to_string()),
                        (Some("url" | "sitemap"), "lastmod") => {
                            entry.lastmod = Some(value.to_string());
                        }
                        (Some("news"), "title") => entry.title = non_empty(normalize_line(value)),
                        (Some("news"), "publication_date") => {
                            entry.published = Some(value.to_string());
                        }
                        (_, "url" | "sitemap")
                            if !path.iter().any(|p| p == "url" || p == "sitemap") =>
                        {
                            if let Some(entry) = current.take()
                                && let Some(url) =
                                    entry.loc.as_deref().and_then(|l| resolve_link(base, l))
                            {
                                items.push(Item {
                                    url,
                                    title: entry.title,
                                    date: entry.published.or(entry.lastmod).and_then(non_empty),
                                });
                            }
                        }
                        _ => {}
                    }
                }
                text.clear();
            }
            _ => {}
        }
    }
    items
}

#[derive(Default)]
struct Entry {
    loc: Option<String>,
    lastmod: Option<String>,
    title: Option<String>,
    published: Option<String>,
}

/// An entry id that is itself an absolute http(s) URL (RSS `guid`, Atom `id`).
fn absolute(id: &str) -> Option<String> {
    let mut url = Url::parse(id.trim()).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    url.set_fragment(None);
    Some(url.to_string())
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::super::{ListingRules, extract_items};
    use super::*;

    fn base() -> Url {
        Url::parse("https://news.example.org/feeds/latest").expect("url")
    }

    fn items(body: &str, content_type: &str) -> Vec<Item> {
        extract_items(body, content_type, &base(), &ListingRules::default())
    }

    const RSS: &str = r#"<?xml version="1.0" encoding="ISO-8859-1"?>
<?xml-stylesheet type="text/xsl" href="/rss.xsl"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel>
  <title>Naenara Daily</title>
  <link>https://news.example.org/</link>
  <description>Latest news</description>
  <item>
    <title>Paper Mill in Changdo Remodelled</title>
    <link>https://news.example.org/en/article/40.html</link>
    <description>Several establishments increase their production.</description>
    <pubDate>Fri, 30 Jan 2026 09:00:00 +0900</pubDate>
    <guid>https://news.example.org/en/article/40.html</guid>
  </item>
  <item>
    <title>Hamhung Mining Complex &amp; Its   Workers</title>
    <link>/en/article/39.html#top</link>
    <pubDate>Thu, 29 Jan 2026 10:30:00 GMT</pubDate>
  </item>
  <item>
    <title>Only a permalink guid</title>
    <guid isPermaLink="true">https://news.example.org/en/article/38.html</guid>
  </item>
  <item>
    <title>No URL at all</title>
    <guid isPermaLink="false">tag:example.org,2026:37</guid>
  </item>
  <item>
    <title>장성택 동지</title>
    <link>https://news.example.org/kp/article/5.html</link>
  </item>
</channel>
</rss>"#;

    #[test]
    fn rss2() {
        let got = items(RSS, "application/rss+xml");
        assert_eq!(
            got,
            vec![
                Item {
                    url: "https://news.example.org/en/article/40.html".into(),
                    title: Some("Paper Mill in Changdo Remodelled".into()),
                    date: Some("2026-01-30T00:00:00Z".into()),
                },
                Item {
                    url: "https://news.example.org/en/article/39.html".into(),
                    title: Some("Hamhung Mining Complex & Its Workers".into()),
                    date: Some("2026-01-29T10:30:00Z".into()),
                },
                Item {
                    url: "https://news.example.org/en/article/38.html".into(),
                    title: Some("Only a permalink guid".into()),
                    date: None,
                },
                Item {
                    url: "https://news.example.org/kp/article/5.html".into(),
                    title: Some("장성택 동지".into()),
                    date: None,
                },
            ]
        );
        // Sniffed whatever the server says.
        assert_eq!(items(RSS, "text/html"), got);
        assert_eq!(items(RSS, ""), got);
    }

    const ATOM: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://news.example.org/en/">
  <title>Naenara Daily</title>
  <id>urn:uuid:60a76c80-d399-11d9-b93C-0003939e0af6</id>
  <updated>2026-01-30T10:00:00Z</updated>
  <link rel="self" href="https://news.example.org/feeds/latest"/>
  <entry>
    <title type="html">New &lt;em&gt;Co-operative&lt;/em&gt; Farm Built in Kujang</title>
    <link rel="enclosure" href="https://cdn.example.org/38.jpg"/>
    <link rel="alternate" type="text/html" href="article/38.html"/>
    <id>tag:news.example.org,2026:38</id>
    <updated>2026-01-30T10:00:00+09:00</updated>
    <published>2026-01-30T08:00:00+09:00</published>
  </entry>
  <entry>
    <title>Workers of Thongchon Foodstuff Factory Make Innovations</title>
    <link href="https://news.example.org/en/article/37.html"/>
    <id>https://news.example.org/en/article/37.html</id>
    <updated>2026-01-29T12:00:00Z</updated>
  </entry>
  <entry>
    <title>Id only</title>
    <id>https://news.example.org/en/article/36.html</id>
    <updated>2026-01-29T11:00:00Z</updated>
  </entry>
</feed>"#;

    #[test]
    fn atom() {
        let got = items(ATOM, "application/atom+xml");
        let urls: Vec<&str> = got.iter().map(|i| i.url.as_str()).collect();
        assert_eq!(
            urls,
            vec![
                "https://news.example.org/en/article/38.html",
                "https://news.example.org/en/article/37.html",
                "https://news.example.org/en/article/36.html",
            ]
        );
        assert_eq!(
            got[0].title.as_deref(),
            Some("New Co-operative Farm Built in Kujang")
        );
        assert_eq!(got[0].date.as_deref(), Some("2026-01-29T23:00:00Z"));
        assert_eq!(got[1].date.as_deref(), Some("2026-01-29T12:00:00Z"));
    }

    #[test]
    fn rdf_and_json_feed() {
        let rdf = r#"<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/">
  <channel rdf:about="https://news.example.org/"><title>N</title><link>https://news.example.org/</link></channel>
  <item rdf:about="https://news.example.org/a/2"><title>Two</title><link>https://news.example.org/a/2</link></item>
  <item rdf:about="https://news.example.org/a/1"><title>One</title><link>https://news.example.org/a/1</link></item>
</rdf:RDF>"#;
        let got = items(rdf, "application/rdf+xml");
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].url, "https://news.example.org/a/2");
        assert_eq!(got[1].title.as_deref(), Some("One"));

        let json = r#"{"version": "https://jsonfeed.org/version/1.1", "title": "N",
            "items": [{"id": "2", "url": "https://news.example.org/a/2", "title": "Two",
                       "date_published": "2026-01-30T10:00:00Z"}]}"#;
        let got = items(json, "application/json");
        assert_eq!(
            got,
            vec![Item {
                url: "https://news.example.org/a/2".into(),
                title: Some("Two".into()),
                date: Some("2026-01-30T10:00:00Z".into()),
            }]
        );
    }

    #[test]
    fn sitemap() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
        xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"
        xmlns:image="http://www.google.com/schemas/sitemap-image/1.1">
  <url>
    <loc>https://news.example.org/en/article/40.html</loc>
    <lastmod>2026-01-30T10:00:00+09:00</lastmod>
    <image:image><image:loc>https://cdn.example.org/40.jpg</image:loc></image:image>
    <news:news>
      <news:publication><news:name>Naenara</news:name><news:language>en</news:language></news:publication>
      <news:publication_date>2026-01-30</news:publication_date>
      <news:title>Paper Mill in Changdo Remodelled</news:title>
    </news:news>
  </url>
  <url><loc>https://news.example.org/view?id=39&amp;lang=en</loc><lastmod>2026-01-29</lastmod></url>
  <url><loc><![CDATA[https://news.example.org/en/article/38.html]]></loc></url>
  <url><lastmod>2026-01-28</lastmod></url>
  <url><loc>https://news.example.org/en/article/40.html</loc></url>
</urlset>"#;
        let got = items(xml, "application/xml");
        assert_eq!(
            got,
            vec![
                Item {
                    url: "https://news.example.org/en/article/40.html".into(),
                    title: Some("Paper Mill in Changdo Remodelled".into()),
                    date: Some("2026-01-30".into()),
                },
                Item {
                    url: "https://news.example.org/view?id=39&lang=en".into(),
                    title: None,
                    date: Some("2026-01-29".into()),
                },
                Item {
                    url: "https://news.example.org/en/article/38.html".into(),
                    title: None,
                    date: None,
                },
            ]
        );
    }

    #[test]
    fn sitemap_index() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <sitemap><loc>https://news.example.org/sitemap-2026-01.xml</loc><lastmod>2026-01-30</lastmod></sitemap>
  <sitemap><loc>/sitemap-2025-12.xml</loc></sitemap>
</sitemapindex>"#;
        let got = items(xml, "text/xml");
        assert_eq!(
            got,
            vec![
                Item {
                    url: "https://news.example.org/sitemap-2026-01.xml".into(),
                    title: None,
                    date: Some("2026-01-30".into()),
                },
                Item {
                    url: "https://news.example.org/sitemap-2025-12.xml".into(),
                    title: None,
                    date: None,
                },
            ]
        );
    }

    #[test]
    fn item_url_filters_feeds() {
        let rules = ListingRules::new(None, Some(r"/en/article/(38|40)\.html$")).expect("rules");
        let got = extract_items(RSS, "application/rss+xml", &base(), &rules);
        let urls: Vec<&str> = got.iter().map(|i| i.url.as_str()).collect();
        assert_eq!(
            urls,
            vec![
                "https://news.example.org/en/article/40.html",
                "https://news.example.org/en/article/38.html"
            ]
        );
    }

    #[test]
    fn broken_xml_is_empty_or_partial() {
        assert!(
            items(
                "<rss version=\"2.0\"><channel><item><title>x",
                "application/rss+xml"
            )
            .is_empty()
        );
        assert!(items("<?xml version=\"1.0\"?><nonsense/>", "application/xml").is_empty());
        assert!(items("not xml at all", "application/xml").is_empty());
        assert!(items("", "application/rss+xml").is_empty());
        // A sitemap cut off mid-way keeps what came before the cut.
        let cut =
            "<urlset><url><loc>https://news.example.org/1</loc></url><url><loc>https://news.exa";
        assert_eq!(items(cut, "application/xml").len(), 1);
    }

    #[test]
    fn xml_declarations_are_neutralized() {
        assert_eq!(
            as_utf8_xml("<?xml version='1.0' encoding='latin1'?><rss/>"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><rss/>"
        );
        assert_eq!(
            as_utf8_xml("<rss><?xml version=\"1.0\" encoding=\"latin1\"?><channel/></rss>"),
            "<rss><channel/></rss>"
        );
        assert_eq!(as_utf8_xml("<rss><?xml unclosed"), "<rss><?xml unclosed");
        // Found by the never-panics property: a late declaration used to panic the reader.
        let late =
            "<rss version=\"2.0\"><channel><item><link><?xml version=\"1.0\" encoding=\"latin1\"?>";
        assert!(items(late, "text/html").is_empty());
    }

    #[test]
    fn classification() {
        assert_eq!(
            classify("text/html", "<!DOCTYPE html><html><body></body></html>"),
            Source::Html
        );
        assert_eq!(
            classify(
                "application/xml",
                "<?xml version='1.0'?><!-- x --><urlset/>"
            ),
            Source::Sitemap
        );
        assert_eq!(
            classify("text/html; charset=utf-8", "\n <rss version='2.0'/>"),
            Source::Feed
        );
        assert_eq!(
            classify("text/html", "<feed xmlns='http://www.w3.org/2005/Atom'/>"),
            Source::Feed
        );
        assert_eq!(classify("application/rss+xml", "garbage"), Source::Feed);
        assert_eq!(classify("application/xhtml+xml", "<p>x</p>"), Source::Html);
        assert_eq!(classify("", "<p>hello"), Source::Html);
    }
}
