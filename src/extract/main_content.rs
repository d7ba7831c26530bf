//! The main-content default: keep the article, drop what surrounds it.
//!
//! A page watch without `select` must not alert when the navigation, the
//! "More Articles" teaser list or the "Related" block rotates, and must
//! draw the same boundary on every version (a wobbling boundary is a false
//! alert). So the rules here are structural and deterministic, not a
//! best-candidate guess that can flip between two similar candidates:
//!
//! 1. The root is the page's single `<main>` (or `role="main"`), else its
//!    single `<article>` when that holds a real share of the text, else
//!    `<body>`.
//! 2. The *anchor* is the block with the most non-link paragraph text. Its
//!    ancestors are protected: nothing that contains the article body is
//!    ever dropped, whatever its class names say.
//! 3. Inside the root, unprotected elements are dropped when they are
//!    page chrome (`nav`, `aside`, page-level `header`/`footer`, ARIA
//!    landmarks), when their class or id says so (`sidebar`, `related`,
//!    `more`, `share`, ...), when they are link-dense (menus, tag clouds),
//!    or when they are a **teaser list**: three or more sibling items that
//!    each carry a link to another page with a short text — the shape of
//!    every "More Articles" block, whatever it is called and wherever it
//!    sits (before, after or inside the article, in list items, divs or
//!    unnamed table rows).
//! 4. A heading right before a dropped block ("More Articles") goes with
//!    it, and so does a wrapper left with only a few characters.
//! 5. A page that is *only* lists (an index or section page) keeps its
//!    largest teaser list, so that a page watch on an index still sees new
//!    items.

use super::html::{attr, is_block, is_dropped, is_link_target, push_link, resolve_link};
use super::{Link, normalize_line};
use ego_tree::NodeId;
use ego_tree::iter::Edge;
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use scraper::node::Element;
use scraper::{Html, Node};

/// Per-element text statistics, in characters that are not whitespace.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Stats {
    /// All text in the subtree.
    text: u32,
    /// Text inside links.
    link_text: u32,
    /// Links to real targets.
    links: u32,
    /// Text whose nearest block ancestor is this element (its own paragraph text).
    own_text: u32,
    /// The part of `own_text` inside links.
    own_link_text: u32,
}

/// One pass over the whole document: title, links (when asked for) and
/// (for main-content mode) per-element statistics.
pub(super) struct Survey {
    pub title: Option<String>,
    pub links: Vec<Link>,
    stats: HashMap<NodeId, Stats>,
    body: Option<NodeId>,
    mains: Vec<NodeId>,
    articles: Vec<NodeId>,
}

struct Frame {
    id: NodeId,
    stats: Stats,
    block: bool,
    /// An `<a>` with a real target (counted in the statistics).
    is_link: bool,
    /// Its resolved target, only when the links are collected.
    link: Option<String>,
    link_text: String,
}

impl Survey {
    /// `want_links`: collect the links (resolved, with their text). A check
    /// does not store them, so it only counts them, which needs no URL
    /// to be built for most `href`s.
    pub fn of(doc: &Html, page_url: &url::Url, with_stats: bool, want_links: bool) -> Survey {
        let mut title: Option<String> = None;
        let mut title_buf: Option<String> = None;
        let mut h1: Option<String> = None;
        let mut h1_buf: Option<String> = None;
        let mut og_title: Option<String> = None;
        let mut base = page_url.clone();
        let mut links = Vec::new();
        let mut seen_links = HashSet::default();
        let mut stats = HashMap::default();
        let mut body = None;
        let mut mains = Vec::new();
        let mut articles = Vec::new();

        let mut stack: Vec<Frame> = Vec::new();
        let mut skipping: Option<NodeId> = None;
        let mut link_depth = 0usize;

        for edge in doc.tree.root().traverse() {
            match edge {
                Edge::Open(node) => {
                    if skipping.is_some() {
                        continue;
                    }
                    match node.value() {
                        Node::Element(e) => {
                            let name = e.name();
                            match name {
                                "title" if title.is_none() => title_buf = Some(String::new()),
                                "base" => {
                                    if let Some(b) =
                                        attr(e, "href").and_then(|h| page_url.join(h).ok())
                                    {
                                        base = b;
                                    }
                                }
                                "meta"
                                    if og_title.is_none()
                                        && attr(e, "property") == Some("og:title") =>
                                {
                                    og_title = attr(e, "content").map(normalize_line);
                                }
                                _ => {}
                            }
                            if !matches!(name, "title" | "head") && is_dropped(e) {
                                skipping = Some(node.id());
                                continue;
                            }
                            match name {
                                "body" if body.is_none() => body = Some(node.id()),
                                "main" => mains.push(node.id()),
                                "article" => articles.push(node.id()),
                                "h1" if h1.is_none() => h1_buf = Some(String::new()),
                                _ => {}
                            }
                            if attr(e, "role") == Some("main") && name != "main" {
                                mains.push(node.id());
                            }
                            let (is_link, link) = match attr(e, "href") {
                                Some(h) if name == "a" && want_links => {
                                    let link = resolve_link(&base, h);
                                    (link.is_some(), link)
                                }
                                Some(h) if name == "a" => (is_link_target(&base, h), None),
                                _ => (false, None),
                            };
                            if is_link {
                                link_depth += 1;
                            }
                            stack.push(Frame {
                                id: node.id(),
                                stats: Stats::default(),
                                block: is_block(name),
                                is_link,
                                link,
                                link_text: String::new(),
                            });
                        }
                        Node::Text(t) => {
                            if let Some(buf) = title_buf.as_mut() {
                                buf.push_str(t);
                                continue;
                            }
                            if let Some(buf) = h1_buf.as_mut() {
                                buf.push_str(t);
                            }
                            if want_links
                                && let Some(f) = stack.iter_mut().rev().find(|f| f.link.is_some())
                            {
                                f.link_text.push_str(t);
                            }
                            if !with_stats {
                                continue;
                            }
                            let n = visible_chars(t);
                            if n == 0 {
                                continue;
                            }
                            let in_link = link_depth > 0;
                            if let Some(top) = stack.last_mut() {
                                top.stats.text += n;
                                if in_link {
                                    top.stats.link_text += n;
                                }
                            }
                            if let Some(b) = stack.iter_mut().rev().find(|f| f.block) {
                                b.stats.own_text += n;
                                if in_link {
                                    b.stats.own_link_text += n;
                                }
                            }
                        }
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
                    let Node::Element(e) = node.value() else {
                        continue;
                    };
                    if e.name() == "title"
                        && let Some(buf) = title_buf.take()
                    {
                        let t = normalize_line(&buf);
                        if !t.is_empty() {
                            title = Some(t);
                        }
                    }
                    if e.name() == "h1"
                        && let Some(buf) = h1_buf.take()
                    {
                        let t = normalize_line(&buf);
                        if !t.is_empty() {
                            h1 = Some(t);
                        }
                    }
                    let Some(frame) = stack.pop() else { continue };
                    let mut s = frame.stats;
                    if frame.is_link {
                        link_depth = link_depth.saturating_sub(1);
                        s.links += 1;
                    }
                    if let Some(href) = frame.link {
                        push_link(
                            &mut links,
                            &mut seen_links,
                            Link {
                                href,
                                text: normalize_line(&frame.link_text),
                            },
                        );
                    }
                    if with_stats {
                        if let Some(parent) = stack.last_mut() {
                            parent.stats.text += s.text;
                            parent.stats.link_text += s.link_text;
                            parent.stats.links += s.links;
                        }
                        stats.insert(frame.id, s);
                    }
                }
            }
        }
        Survey {
            title: title.or(og_title).or(h1),
            links,
            stats,
            body,
            mains,
            articles,
        }
    }

    fn get(&self, id: NodeId) -> Stats {
        self.stats.get(&id).copied().unwrap_or_default()
    }
}

/// Characters that are not whitespace; byte-wise for ASCII text.
fn visible_chars(t: &str) -> u32 {
    // Bytes that start a character and are not ASCII whitespace: one pass,
    // no decoding (non-ASCII spaces count as characters; this is a measure,
    // not a normalization).
    // Counted per 255-byte chunk into a byte-wide sum, which vectorizes.
    let n: usize = t
        .as_bytes()
        .chunks(255)
        .map(|c| {
            c.iter()
                .map(|&b| u8::from(!b.is_ascii_whitespace() && (b & 0xC0) != 0x80))
                .fold(0u8, u8::wrapping_add) as usize
        })
        .sum();
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Picks the root(s) of the main content and adds boilerplate to `skip`.
pub(super) fn choose(doc: &Html, survey: &Survey, skip: &mut HashSet<NodeId>) -> Vec<NodeId> {
    let Some(body) = survey.body else {
        return vec![doc.tree.root().id()];
    };
    let body_text = survey.get(body).text;
    let root = if survey.mains.len() == 1 {
        survey.mains[0]
    } else if survey.articles.len() == 1 && survey.get(survey.articles[0]).text * 4 >= body_text {
        survey.articles[0]
    } else {
        body
    };

    let protected = protected_ancestors(doc, survey, root);
    let mut drops: Vec<(NodeId, Why)> = Vec::new();
    let Some(root_node) = doc.tree.get(root) else {
        return vec![root];
    };

    let mut skipping: Option<NodeId> = None;
    for edge in root_node.traverse() {
        match edge {
            Edge::Open(node) => {
                if skipping.is_some() || node.id() == root {
                    continue;
                }
                let Node::Element(e) = node.value() else {
                    continue;
                };
                if skip.contains(&node.id()) || is_dropped(e) {
                    skipping = Some(node.id());
                    continue;
                }
                if protected.contains(&node.id()) {
                    continue;
                }
                if let Some(why) = boilerplate(doc, survey, node.id(), e, root) {
                    drops.push((node.id(), why));
                    skipping = Some(node.id());
                }
            }
            Edge::Close(node) => {
                if skipping == Some(node.id()) {
                    skipping = None;
                }
            }
        }
    }

    // An index or section page is nothing but lists: keep its largest one.
    let dropped_text: u32 = drops.iter().map(|(id, _)| survey.get(*id).text).sum();
    let kept = survey.get(root).text.saturating_sub(dropped_text);
    let largest_list = drops
        .iter()
        .enumerate()
        .filter(|(_, (_, why))| *why == Why::TeaserList)
        .max_by_key(|(_, (id, _))| survey.get(*id).text)
        .map(|(i, (id, _))| (i, survey.get(*id).text));
    if let Some((i, list_text)) = largest_list
        && kept < 100
        && list_text > kept.saturating_mul(3)
    {
        drops.remove(i);
    }

    for (id, _) in &drops {
        skip.insert(*id);
    }
    drop_remnants(doc, survey, root, &protected, &drops, skip);
    vec![root]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Why {
    Chrome,
    Named,
    LinkDense,
    TeaserList,
}

/// The anchor (block with the most non-link paragraph text) and all its
/// ancestors up to the root.
fn protected_ancestors(doc: &Html, survey: &Survey, root: NodeId) -> HashSet<NodeId> {
    // The anchor is looked for outside anything shaped like a list of
    // links: a teaser in a sidebar can be longer than every paragraph of a
    // short article, and must not make the sidebar "the content".
    let mut best: Option<(u32, NodeId)> = None;
    if let Some(root_node) = doc.tree.get(root) {
        let mut skipping: Option<NodeId> = None;
        for edge in root_node.traverse() {
            match edge {
                Edge::Open(node) => {
                    if skipping.is_some() {
                        continue;
                    }
                    let Node::Element(e) = node.value() else {
                        continue;
                    };
                    let s = survey.get(node.id());
                    let listy = matches!(e.name(), "nav" | "aside" | "menu")
                        || (node.id() != root
                            && is_container(e.name())
                            && ((s.links >= 3 && s.link_text * 2 >= s.text)
                                || is_teaser_list(doc, survey, node.id(), s)));
                    if is_dropped(e) || listy {
                        skipping = Some(node.id());
                        continue;
                    }
                    let own = s.own_text.saturating_sub(s.own_link_text);
                    if own > 0 && best.is_none_or(|(b, _)| own > b) {
                        best = Some((own, node.id()));
                    }
                }
                Edge::Close(node) => {
                    if skipping == Some(node.id()) {
                        skipping = None;
                    }
                }
            }
        }
    }
    let mut protected = HashSet::default();
    let mut cur = best.and_then(|(_, id)| doc.tree.get(id));
    while let Some(n) = cur {
        protected.insert(n.id());
        if n.id() == root {
            break;
        }
        cur = n.parent();
    }
    protected
}

fn boilerplate(doc: &Html, survey: &Survey, id: NodeId, e: &Element, root: NodeId) -> Option<Why> {
    let name = e.name();
    match name {
        "nav" | "aside" | "menu" | "dialog" => return Some(Why::Chrome),
        "header" | "footer" if !inside(doc, id, root, "article") => return Some(Why::Chrome),
        _ => {}
    }
    if let Some(role) = attr(e, "role")
        && matches!(
            role.trim(),
            "navigation"
                | "banner"
                | "contentinfo"
                | "complementary"
                | "search"
                | "menu"
                | "menubar"
                | "toolbar"
                | "dialog"
        )
    {
        return Some(Why::Chrome);
    }
    if named_boilerplate(e) {
        return Some(Why::Named);
    }
    if !is_container(name) {
        return None;
    }
    let s = survey.get(id);
    if s.links >= 3 && s.link_text * 2 >= s.text {
        return Some(Why::LinkDense);
    }
    if is_teaser_list(doc, survey, id, s) {
        return Some(Why::TeaserList);
    }
    None
}

fn is_container(name: &str) -> bool {
    matches!(
        name,
        "ul" | "ol"
            | "dl"
            | "div"
            | "section"
            | "table"
            | "tbody"
            | "thead"
            | "tfoot"
            | "tr"
            | "td"
            | "th"
            | "article"
            | "header"
            | "footer"
            | "center"
            | "span"
            | "font"
            | "li"
            | "p"
    )
}

/// Three or more sibling items that each link somewhere, with short texts
/// in which the link is a real share: the shape of a teaser list.
fn is_teaser_list(doc: &Html, survey: &Survey, id: NodeId, s: Stats) -> bool {
    let Some(node) = doc.tree.get(id) else {
        return false;
    };
    let mut with_text = 0u32;
    let mut items = 0u32;
    let mut item_text = 0u32;
    let mut item_link_text = 0u32;
    for child in node.children() {
        if let Node::Element(ce) = child.value() {
            // Dropped elements have no stats (the survey skips them),
            // so the cheap test comes first.
            let cs = survey.get(child.id());
            if cs.text == 0 || is_dropped(ce) {
                continue;
            }
            with_text += 1;
            if cs.links >= 1 && cs.link_text > 0 {
                items += 1;
                item_text += cs.text;
                item_link_text += cs.link_text;
            }
        }
    }
    if items < 3 || items * 5 < with_text * 3 {
        return false;
    }
    let total = s.text.max(1);
    let short_items = item_text / items <= 500;
    let linky = item_link_text * 100 >= item_text * 12;
    if !(item_text * 10 >= total * 8 && short_items && linky) {
        return false;
    }
    // Text between the items (not inside any): counted last, since it
    // means scanning the text, and most containers are decided before.
    let loose_text: u32 = node
        .children()
        .filter_map(|c| match c.value() {
            Node::Text(t) => Some(visible_chars(t)),
            _ => None,
        })
        .sum();
    loose_text * 5 <= total
}

/// Class or id tokens that name page furniture, without a token that names content.
fn named_boilerplate(e: &Element) -> bool {
    let mut negative = false;
    let mut check = |value: &str| {
        for token in tokens(value) {
            if POSITIVE.contains(&token.as_str()) {
                return true;
            }
            if NEGATIVE.contains(&token.as_str()) {
                negative = true;
            }
        }
        false
    };
    let id_pos = attr(e, "id").is_some_and(&mut check);
    let class_pos = attr(e, "class").is_some_and(&mut check);
    negative && !id_pos && !class_pos
}

const NEGATIVE: &[&str] = &[
    "sidebar",
    "sidenav",
    "aside",
    "nav",
    "navbar",
    "navigation",
    "menu",
    "menubar",
    "breadcrumb",
    "breadcrumbs",
    "footer",
    "header",
    "masthead",
    "banner",
    "related",
    "recommended",
    "recommendations",
    "popular",
    "trending",
    "mostread",
    "promo",
    "advert",
    "advertisement",
    "ads",
    "ad",
    "sponsor",
    "sponsored",
    "share",
    "sharing",
    "social",
    "comment",
    "comments",
    "newsletter",
    "subscribe",
    "cookie",
    "cookies",
    "consent",
    "pagination",
    "pager",
    "toolbar",
    "topbar",
    "skip",
    "widget",
    "widgets",
    "more",
    "outbrain",
    "taboola",
    "rightcol",
    "leftcol",
];

const POSITIVE: &[&str] = &[
    "article", "content", "main", "body", "post", "entry", "story", "text", "hentry", "headline",
];

/// Splits `relatedArticles side-bar_2` into `related articles side bar 2`, lower case.
pub(crate) fn tokens(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in value.chars() {
        if !c.is_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        cur.extend(c.to_lowercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// True when an ancestor of `id` (below `root`) is a `tag` element.
fn inside(doc: &Html, id: NodeId, root: NodeId, tag: &str) -> bool {
    let mut cur = doc.tree.get(id).and_then(|n| n.parent());
    while let Some(n) = cur {
        if let Node::Element(e) = n.value()
            && e.name() == tag
        {
            return true;
        }
        if n.id() == root {
            // The root itself counts: a <header> directly in the chosen <article>.
            return false;
        }
        cur = n.parent();
    }
    false
}

/// Headings that introduced a dropped block, and wrappers left nearly empty.
fn drop_remnants(
    doc: &Html,
    survey: &Survey,
    root: NodeId,
    protected: &HashSet<NodeId>,
    drops: &[(NodeId, Why)],
    skip: &mut HashSet<NodeId>,
) {
    let mut removed: HashMap<NodeId, u32> = HashMap::default();
    for (id, _) in drops {
        let Some(node) = doc.tree.get(*id) else {
            continue;
        };
        // The heading right before a dropped block ("More Articles").
        let mut prev = node.prev_sibling();
        while let Some(p) = prev {
            match p.value() {
                Node::Text(t) if t.trim().is_empty() => prev = p.prev_sibling(),
                Node::Comment(_) => prev = p.prev_sibling(),
                Node::Element(pe) => {
                    let ps = survey.get(p.id());
                    let heading = matches!(pe.name(), "h1" | "h2" | "h3" | "h4" | "h5" | "h6");
                    if !protected.contains(&p.id())
                        && ps.links == 0
                        && ((heading && ps.text <= 80) || ps.text <= 40)
                        && skip.insert(p.id())
                    {
                        *removed.entry(p.id()).or_default() += ps.text;
                        bump_ancestors(&node, ps.text, root, &mut removed);
                    }
                    break;
                }
                _ => break,
            }
        }
        bump_ancestors(&node, survey.get(*id).text, root, &mut removed);
    }
    // Wrappers whose text went almost entirely with dropped children, outermost first.
    let Some(root_node) = doc.tree.get(root) else {
        return;
    };
    let mut skipping: Option<NodeId> = None;
    for edge in root_node.traverse() {
        match edge {
            Edge::Open(node) => {
                if skipping.is_some() || node.id() == root {
                    continue;
                }
                if skip.contains(&node.id()) {
                    skipping = Some(node.id());
                    continue;
                }
                let Some(&gone) = removed.get(&node.id()) else {
                    continue;
                };
                if protected.contains(&node.id()) {
                    continue;
                }
                let left = survey.get(node.id()).text.saturating_sub(gone);
                if left <= 60 && gone >= left.saturating_mul(3) {
                    skip.insert(node.id());
                    skipping = Some(node.id());
                }
            }
            Edge::Close(node) => {
                if skipping == Some(node.id()) {
                    skipping = None;
                }
            }
        }
    }
}

fn bump_ancestors(
    node: &ego_tree::NodeRef<'_, Node>,
    amount: u32,
    root: NodeId,
    removed: &mut HashMap<NodeId, u32>,
) {
    let mut cur = node.parent();
    while let Some(n) = cur {
        if n.id() == root {
            break;
        }
        *removed.entry(n.id()).or_default() += amount;
        cur = n.parent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenizer() {
        assert_eq!(
            tokens("relatedArticles side-bar_2"),
            vec!["related", "articles", "side", "bar", "2"]
        );
        assert_eq!(tokens("HTMLContent"), vec!["htmlcontent"]);
    }
}
