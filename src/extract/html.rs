//! HTML to text lines, title and links, from one parse.

use super::main_content::{self, Survey};
use super::{DocKind, Extracted, Link, Rules, normalize_line};
use ego_tree::NodeId;
use ego_tree::iter::Edge;
use rustc_hash::FxHashSet as HashSet;
use scraper::{Html, Node};

/// Elements whose content is never text a reader sees.
pub(super) fn is_invisible_tag(name: &str) -> bool {
    matches!(
        name,
        "script"
            | "style"
            | "noscript"
            | "template"
            | "svg"
            | "math"
            | "iframe"
            | "object"
            | "embed"
            | "canvas"
            | "head"
            | "select"
            | "button"
            | "input"
            | "textarea"
            | "video"
            | "audio"
            | "picture"
            | "map"
    )
}

/// True for elements hidden by markup: `hidden`, `aria-hidden="true"`,
/// inline `display:none` / `visibility:hidden`, `type="hidden"`.
pub(super) fn is_hidden(e: &scraper::node::Element) -> bool {
    // One pass over the element's few attributes.
    e.attrs().any(|(name, value)| match name {
        "hidden" => true,
        "aria-hidden" => value.trim().eq_ignore_ascii_case("true"),
        "type" => value.eq_ignore_ascii_case("hidden"),
        "style" => {
            let compact: String = value
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect::<String>()
                .to_ascii_lowercase();
            compact.contains("display:none") || compact.contains("visibility:hidden")
        }
        _ => false,
    })
}

/// An attribute's value by its name. scraper's `Element::attr` interns the
/// name (a hash and a table lookup) and binary-searches; an element has a
/// handful of attributes, so comparing their names is cheaper, and this
/// runs for every element of every page. Attributes in a namespace
/// (`xlink:href`) only occur inside SVG and MathML, which are dropped whole.
pub(super) fn attr<'a>(e: &'a scraper::node::Element, name: &str) -> Option<&'a str> {
    e.attrs().find(|(n, _)| *n == name).map(|(_, v)| v)
}

/// True when an element and its subtree produce no text at all.
pub(super) fn is_dropped(e: &scraper::node::Element) -> bool {
    is_invisible_tag(e.name()) || is_hidden(e)
}

/// Elements that start and end a line.
pub(super) fn is_block(name: &str) -> bool {
    matches!(
        name,
        "address"
            | "article"
            | "aside"
            | "blockquote"
            | "body"
            | "caption"
            | "center"
            | "dd"
            | "details"
            | "dialog"
            | "div"
            | "dl"
            | "dt"
            | "fieldset"
            | "figcaption"
            | "figure"
            | "footer"
            | "form"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "header"
            | "hgroup"
            | "hr"
            | "html"
            | "legend"
            | "li"
            | "main"
            | "menu"
            | "nav"
            | "ol"
            | "option"
            | "p"
            | "pre"
            | "section"
            | "summary"
            | "table"
            | "tbody"
            | "td"
            | "tfoot"
            | "th"
            | "thead"
            | "tr"
            | "ul"
    )
}

/// Nesting beyond this is treated as hostile: html5ever's tree builder is
/// quadratic in the depth of open elements (20,000 nested `<div>`s take
/// most of a second, 200,000 over a minute), so such a page gets the
/// linear fallback instead of a parse.
pub(super) const MAX_NESTING: usize = 8_000;

pub(super) fn extract_html(body: &str, base: &url::Url, rules: &Rules) -> Extracted {
    if approximate_depth(body) > MAX_NESTING {
        tracing::warn!("page nests elements deeper than {MAX_NESTING}; extracting without a parse");
        return flat_text(body);
    }
    let doc = Html::parse_document(body);
    let survey = Survey::of(&doc, base, rules.select.is_none(), rules.links);

    let mut skip: HashSet<NodeId> = HashSet::default();
    for sel in &rules.exclude {
        skip.extend(doc.select(sel).map(|e| e.id()));
    }
    let roots: Vec<NodeId> = match &rules.select {
        Some(sel) => {
            let picked: Vec<NodeId> = doc.select(sel).map(|e| e.id()).collect();
            let set: HashSet<NodeId> = picked.iter().copied().collect();
            // Keep only outermost matches, so nested matches are not doubled.
            picked
                .into_iter()
                .filter(|id| {
                    let mut node = doc.tree.get(*id).and_then(|n| n.parent());
                    while let Some(n) = node {
                        if set.contains(&n.id()) {
                            return false;
                        }
                        node = n.parent();
                    }
                    true
                })
                .collect()
        }
        None => main_content::choose(&doc, &survey, &mut skip),
    };

    let mut lines = Vec::new();
    for root in roots {
        write_lines(&doc, root, &skip, &mut lines);
    }
    Extracted {
        kind: DocKind::Html,
        lines,
        title: survey.title,
        links: survey.links,
    }
}

/// The largest count of elements open at once, estimated from tags alone:
/// void elements, self-closing tags and elements the parser closes
/// implicitly (`p`, `li`, `td`, ...) do not count.
pub(super) fn approximate_depth(body: &str) -> usize {
    let bytes = body.as_bytes();
    let (mut depth, mut max) = (0usize, 0usize);
    let mut i = 0;
    while let Some(off) = bytes.get(i..).and_then(|b| memchr::memchr(b'<', b)) {
        i += off + 1;
        let closing = bytes.get(i) == Some(&b'/');
        let start = if closing { i + 1 } else { i };
        let name_len = bytes.get(start..).map_or(0, |b| {
            b.iter().take_while(|c| c.is_ascii_alphanumeric()).count()
        });
        if name_len == 0 {
            continue;
        }
        // Lower-cased on the stack: every implicit name is short, so a
        // longer one is simply not implicit.
        let mut buf = [0u8; 8];
        let lower = match bytes.get(start..start + name_len) {
            Some(n) if n.len() <= buf.len() => {
                let b = &mut buf[..n.len()];
                b.copy_from_slice(n);
                b.make_ascii_lowercase();
                std::str::from_utf8(b).unwrap_or("")
            }
            _ => "",
        };
        let implicit = matches!(
            lower,
            "p" | "li"
                | "dt"
                | "dd"
                | "tr"
                | "td"
                | "th"
                | "option"
                | "optgroup"
                | "thead"
                | "tbody"
                | "tfoot"
                | "colgroup"
                | "caption"
                | "rb"
                | "rt"
                | "rp"
                | "area"
                | "base"
                | "br"
                | "col"
                | "embed"
                | "hr"
                | "img"
                | "input"
                | "link"
                | "meta"
                | "source"
                | "track"
                | "wbr"
                | "html"
                | "head"
                | "body"
        );
        if implicit {
            continue;
        }
        if closing {
            depth = depth.saturating_sub(1);
        } else {
            let self_closing = bytes
                .get(start..)
                .and_then(|b| memchr::memchr(b'>', b))
                .is_some_and(|end| end > 0 && bytes.get(start + end - 1) == Some(&b'/'));
            if !self_closing {
                depth += 1;
                max = max.max(depth);
            }
        }
    }
    max
}

/// The linear fallback for hostile documents: tags removed, block tags as
/// line breaks, the contents of script and style dropped.
fn flat_text(body: &str) -> Extracted {
    let mut lines = Vec::new();
    let mut w = LineWriter {
        lines: &mut lines,
        current: String::new(),
    };
    let mut rest = body;
    while let Some(lt) = rest.find('<') {
        w.push(&decode_entities(&rest[..lt]), false);
        rest = &rest[lt..];
        let end = rest.find('>').map_or(rest.len(), |e| e + 1);
        let tag = rest[..end].to_ascii_lowercase();
        let name: String = tag
            .trim_start_matches(['<', '/'])
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        rest = &rest[end..];
        if matches!(name.as_str(), "script" | "style" | "template") && !tag.starts_with("</") {
            let close = format!("</{name}");
            let lower = rest.to_ascii_lowercase();
            rest = lower.find(&close).map_or("", |p| &rest[p..]);
            continue;
        }
        if is_block(&name) || name == "br" {
            w.flush();
        }
    }
    w.push(&decode_entities(rest), false);
    w.flush();
    Extracted {
        kind: DocKind::Html,
        lines,
        title: None,
        links: Vec::new(),
    }
}

/// The `<title>` of an HTML document, found by a scan of its head rather
/// than a parse (a listing's items are read by their own parser).
pub fn title_of(html: &str) -> Option<String> {
    let head = &html[..html.floor_char_boundary(64 * 1024)];
    let lower = head.to_ascii_lowercase();
    let start = lower.find("<title")?;
    let open_end = start + lower[start..].find('>')? + 1;
    let end = open_end + lower[open_end..].find("</title")?;
    let t = normalize_line(&decode_entities(head.get(open_end..end)?));
    (!t.is_empty()).then_some(t)
}

fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    s.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// Accumulates inline text and cuts it into normalized lines.
struct LineWriter<'a> {
    lines: &'a mut Vec<String>,
    current: String,
}

impl LineWriter<'_> {
    fn flush(&mut self) {
        if !self.current.is_empty() {
            let line = normalize_line(&self.current);
            if !line.is_empty() {
                self.lines.push(line);
            }
            self.current.clear();
        }
    }

    fn push(&mut self, text: &str, preformatted: bool) {
        if preformatted {
            let mut parts = text.split('\n');
            if let Some(first) = parts.next() {
                self.current.push_str(first);
            }
            for part in parts {
                self.flush();
                self.current.push_str(part);
            }
        } else {
            self.current.push_str(text);
        }
    }
}

/// Walks one subtree iteratively (no recursion: deep documents cannot
/// overflow the stack) and appends its text lines.
fn write_lines(doc: &Html, root: NodeId, skip: &HashSet<NodeId>, lines: &mut Vec<String>) {
    let Some(root) = doc.tree.get(root) else {
        return;
    };
    let mut w = LineWriter {
        lines,
        current: String::new(),
    };
    let mut skipping: Option<NodeId> = None;
    let mut pre_depth = 0usize;
    for edge in root.traverse() {
        match edge {
            Edge::Open(node) => {
                if skipping.is_some() {
                    continue;
                }
                match node.value() {
                    Node::Element(e) => {
                        if skip.contains(&node.id()) || is_dropped(e) {
                            skipping = Some(node.id());
                            continue;
                        }
                        let name = e.name();
                        if is_block(name) || name == "br" {
                            w.flush();
                        }
                        if name == "pre" || name == "textarea" {
                            pre_depth += 1;
                        }
                    }
                    Node::Text(t) => w.push(t, pre_depth > 0),
                    _ => {}
                }
            }
            Edge::Close(node) => {
                if let Some(s) = skipping {
                    if s == node.id() {
                        skipping = None;
                    }
                    continue;
                }
                if let Node::Element(e) = node.value() {
                    let name = e.name();
                    if is_block(name) {
                        w.flush();
                    }
                    if name == "pre" || name == "textarea" {
                        pre_depth = pre_depth.saturating_sub(1);
                    }
                }
            }
        }
    }
    w.flush();
}

/// Resolves an `href` the way a browser would, keeping only http(s) links.
pub(super) fn resolve_link(base: &url::Url, href: &str) -> Option<String> {
    let href = href.trim();
    if href.is_empty() || href.starts_with('#') {
        return None;
    }
    let mut url = base.join(href).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    url.set_fragment(None);
    Some(url.to_string())
}

/// Whether `resolve_link` would keep `href`, without building the URL when
/// the answer is sure: a relative reference (no scheme, not
/// protocol-relative) on an http(s) base always resolves to an http(s) URL.
/// Anything else takes the full resolution.
pub(super) fn is_link_target(base: &url::Url, href: &str) -> bool {
    let h = href.trim();
    if h.is_empty() || h.starts_with('#') {
        return false;
    }
    // Control characters (the URL parser drops tabs and newlines anywhere)
    // and backslashes (`/` for http) can make an authority or a scheme out
    // of what looks relative: such an `href` takes the full resolution.
    let plain = !h.bytes().any(|b| b < b' ' || b == 0x7f || b == b'\\');
    let relative = plain
        && !h.starts_with("//")
        && !h
            .split(['/', '?', '#'])
            .next()
            .is_some_and(|first| first.contains(':'));
    if relative && matches!(base.scheme(), "http" | "https") {
        return true;
    }
    resolve_link(base, href).is_some()
}

/// The collected links, deduplicated in document order.
pub(super) fn push_link(links: &mut Vec<Link>, seen: &mut HashSet<(String, String)>, link: Link) {
    if seen.insert((link.href.clone(), link.text.clone())) {
        links.push(link);
    }
}

#[cfg(test)]
mod tests {
    use super::{approximate_depth, is_link_target, resolve_link};
    use crate::extract::{Rules, extract};
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// The shortcut that counts links without resolving them never
        /// disagrees with the resolution (it decides what the main-content
        /// choice counts, so a disagreement would move stored texts).
        #[test]
        fn link_shortcut_agrees_with_resolution(
            href in "[ a-zA-Z0-9/:?#.%\\\\\t\n@\\[\\]-]{0,16}",
            base in prop::sample::select(vec![
                "http://example.org/a/b.html",
                "https://example.org/",
                "ftp://example.org/x",
                "file:///tmp/x.html",
            ]),
        ) {
            let base = url::Url::parse(base).unwrap();
            prop_assert_eq!(is_link_target(&base, &href), resolve_link(&base, &href).is_some());
        }
    }

    #[test]
    fn link_shortcut_cases() {
        let base = url::Url::parse("http://example.org/a/").unwrap();
        for href in [
            "x.html",
            "/x",
            "?q",
            "#top",
            "",
            "  ",
            "//other.org/",
            "/\\\\x",
            "\\\\x",
            "mailto:a@b",
            "javascript:void(0)",
            "java\nscript:x",
            "http://",
            "http://a b/",
            "https://ok.org/p",
            "a/b:c",
            "1a:b",
            "/\t/host",
        ] {
            assert_eq!(
                is_link_target(&base, href),
                resolve_link(&base, href).is_some(),
                "{href:?}"
            );
        }
    }

    fn text(html: &str) -> Vec<String> {
        let base = url::Url::parse("http://example.org/news/1.html").expect("url");
        extract(html, "text/html", &base, &Rules::default(), 0, "").lines
    }

    #[test]
    fn blocks_and_inline() {
        let t = text(
            "<html><body><p>Hello <b>big</b>\n   world</p><p>Second<br>line</p><script>x()</script><style>p{}</style></body></html>",
        );
        assert_eq!(t, vec!["Hello big world", "Second", "line"]);
    }

    #[test]
    fn hidden_elements_are_dropped() {
        let t = text(
            r#"<body><p>shown</p><p hidden>no</p><p style="display: none">no</p><div aria-hidden="true">no</div><template><p>no</p></template><noscript>no</noscript><svg><text>no</text></svg></body>"#,
        );
        assert_eq!(t, vec!["shown"]);
        // Found among other attributes, in any order; a visible style, an
        // `aria-hidden="false"` and an ordinary `type` hide nothing.
        let t = text(
            r#"<body><p class="a" id="b" style="color: red" aria-hidden="false">kept</p><input type="text"><p id="c" class="d" aria-hidden=" TRUE ">no</p><div class="x" style="margin:0; Visibility : Hidden">no</div><input class="y" type="HIDDEN" value="no"></body>"#,
        );
        assert_eq!(t, vec!["kept"]);
    }

    #[test]
    fn attributes_are_found_by_name() {
        let doc = scraper::Html::parse_fragment(
            r#"<a class="c" href="/x" data-role="r" role="main">t</a>"#,
        );
        let a = doc
            .tree
            .values()
            .find_map(|n| n.as_element().filter(|e| e.name() == "a"))
            .expect("an a element");
        assert_eq!(super::attr(a, "href"), Some("/x"));
        assert_eq!(super::attr(a, "role"), Some("main"));
        assert_eq!(super::attr(a, "data-role"), Some("r"));
        assert_eq!(super::attr(a, "id"), None);
        for name in ["href", "role", "class", "id", "title"] {
            assert_eq!(super::attr(a, name), a.attr(name), "{name}");
        }
    }

    #[test]
    fn pre_keeps_lines() {
        let t = text("<body><pre>a  b\nc\n\nd</pre></body>");
        assert_eq!(t, vec!["a b", "c", "d"]);
    }

    #[test]
    fn select_and_exclude() {
        let base = url::Url::parse("http://example.org/").expect("url");
        let rules = Rules::new(Some("div.a"), &[".share".into()], &[]).expect("rules");
        let html = r#"<body><p>out</p><div class="a"><p>in</p><div class="a"><p>nested</p></div><p class="share">Share this</p></div></body>"#;
        let e = extract(html, "text/html", &base, &rules, 0, "");
        assert_eq!(e.lines, vec!["in", "nested"]);
    }

    #[test]
    fn title_and_links() {
        let base = url::Url::parse("http://example.org/news/1.html").expect("url");
        let html = r##"<html><head><title> The  Title </title><base href="/x/"></head><body><a href="2.html">Two</a><a href="mailto:a@b">m</a><a href="#top">top</a><a href="https://other.org/p#frag">Other</a></body></html>"##;
        let e = extract(
            html,
            "text/html",
            &base,
            &Rules::default().with_links(),
            0,
            "",
        );
        assert_eq!(e.title.as_deref(), Some("The Title"));
        let hrefs: Vec<&str> = e.links.iter().map(|l| l.href.as_str()).collect();
        assert_eq!(
            hrefs,
            vec!["http://example.org/x/2.html", "https://other.org/p"]
        );
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let mut html = String::from("<body>");
        for _ in 0..100_000 {
            html.push_str("<div><span>");
        }
        html.push_str("deep &amp; text<script>var x = '<div>';</script>");
        let started = std::time::Instant::now();
        let t = text(&html);
        assert_eq!(t, vec!["deep & text"]);
        // Not a speed assertion: a parse of this would take minutes, the fallback milliseconds.
        assert!(started.elapsed() < std::time::Duration::from_secs(30));
    }

    #[test]
    fn depth_estimate_ignores_implicit_closes() {
        let legacy = "<body>".to_string() + &"<p>para".repeat(20_000) + &"<li>x".repeat(20_000);
        assert!(approximate_depth(&legacy) < 10);
        assert_eq!(approximate_depth("<div><div/><span></span><br></div>"), 2);
    }
}
