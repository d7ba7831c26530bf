//! Items of an HTML index or section page.
//!
//! # The default, without an `items` selector
//!
//! The article list of a page is found from the page alone, with no rule
//! for any one site:
//!
//! 1. **Candidates.** Every `<a href>` resolving to an http(s) URL on the
//!    same site as the page (`www.` and other subdomains count as the
//!    site), that is not the page itself, not the site root, and not in a
//!    hidden or invisible subtree (`hidden`, `display:none`, `<template>`,
//!    `<script>`, ...). Fragment-only, `mailto:` and `javascript:` links
//!    are gone with the scheme rule.
//! 2. **Chrome is skipped.** `<nav>`, `<menu>`, ARIA navigation, banner,
//!    contentinfo, search and menu landmarks, and elements whose class or
//!    id names navigation (`nav`, `menu`, `breadcrumb`, `pagination`,
//!    `pager`, `toolbar`, ...) contribute no candidates. So do a
//!    `<header>`/`<footer>` (or an element named `header`, `footer`,
//!    `masthead`) of the *page*: one that is not inside an `<article>`,
//!    `<section>`, `<main>` or `<li>` and whose parent is not one of
//!    several same-class siblings (a `div.post` with its own `<header>` is
//!    an item, not the page's header). A name that also says content
//!    (`entry-header`, `card-footer`) is not the page's.
//! 3. **Secondary regions.** Links in `<aside>`, `role="complementary"`
//!    and elements named `sidebar`, `related`, `popular`, `trending`,
//!    `widget`, ... are candidates of a lower rank (see 5).
//! 4. **Shapes.** Candidates are grouped by URL shape (see `shape.rs`):
//!    `/en/article/{n}.html`. Menus and section links have literal shapes
//!    and fall apart into groups of one; pagination and tag clouds are
//!    groups of their own.
//! 5. **The best group** is the one with the highest score: the sum over
//!    its distinct URLs of a weight that grows with the length of the
//!    link's text up to a headline's (24 characters; a CJK character counts
//!    three), from 0.15 for a bare number or an image — so twenty
//!    headlines beat forty one-word tags — halved for a URL seen only in
//!    secondary regions. A group needs two distinct URLs: a single link is
//!    not a list. Within the chosen group, secondary links are dropped when
//!    the page has at least as many primary ones (an index with a "most
//!    read" box keeps only its own list); otherwise they are kept (an
//!    article page whose only list is its "More Articles" sidebar).
//! 6. **The item** around each link is the largest element that holds no
//!    link of another item of the group (the `<li>`, the `div.card`); its
//!    title and date are read from it.
//!
//! With an `item_url` regex and no selector, steps 4–5 are skipped: every
//! candidate the regex matches is an item (on any site), still without
//! chrome and with the same primary/secondary rule.

use super::shape::{same_site, shape};
use super::{Item, ListingRules, date, dedupe};
use crate::extract::html::{MAX_NESTING, approximate_depth, is_dropped, resolve_link};
use crate::extract::normalize_line;
use ego_tree::iter::Edge;
use ego_tree::{NodeId, NodeRef};
use scraper::node::Element;
use scraper::{ElementRef, Html, Node};
use std::collections::{HashMap, HashSet};
use url::Url;

/// The items of an HTML document under `rules`.
pub(super) fn html_items(body: &str, page: &Url, rules: &ListingRules) -> Vec<Item> {
    if approximate_depth(body) > MAX_NESTING {
        tracing::warn!("listing page nests elements deeper than {MAX_NESTING}; no items read");
        return Vec::new();
    }
    let doc = Html::parse_document(body);
    let base = document_base(&doc, page);
    let items = match &rules.items {
        Some(selector) => selected_items(&doc, &base, selector),
        None => default_items(&doc, page, &base, rules),
    };
    dedupe(items.into_iter().filter(|i| rules.url_allowed(&i.url)))
}

/// The page URL, or the `<base href>` it names.
fn document_base(doc: &Html, page: &Url) -> Url {
    for node in doc.tree.root().descendants() {
        if let Node::Element(e) = node.value()
            && e.name() == "base"
            && let Some(b) = e.attr("href").and_then(|h| page.join(h.trim()).ok())
        {
            return b;
        }
    }
    page.clone()
}

/// Items chosen by the user's selector: one per selected element.
fn selected_items(doc: &Html, base: &Url, selector: &scraper::Selector) -> Vec<Item> {
    let mut out = Vec::new();
    for el in doc.select(selector) {
        let Some((link, url)) = item_link(el, base) else {
            continue;
        };
        let links: Vec<NodeId> = el
            .descendants()
            .filter(|n| {
                ElementRef::wrap(*n)
                    .and_then(|a| link_url(a, base))
                    .is_some_and(|u| u == url)
            })
            .map(|n| n.id())
            .collect();
        let links = if links.is_empty() { vec![link] } else { links };
        out.push(Item {
            title: title_of(doc, el.id(), &links),
            date: date_of(doc, el.id()),
            url,
        });
    }
    out
}

/// The link of a selected element: itself, the link in one of its
/// headings, or its first link.
fn item_link(el: ElementRef<'_>, base: &Url) -> Option<(NodeId, String)> {
    if let Some(url) = link_url(el, base) {
        return Some((el.id(), url));
    }
    let mut first = None;
    for node in el.descendants() {
        let Some(a) = ElementRef::wrap(node) else {
            continue;
        };
        let Some(url) = link_url(a, base) else {
            continue;
        };
        if in_heading(node, el.id()) {
            return Some((node.id(), url));
        }
        if first.is_none() {
            first = Some((node.id(), url));
        }
    }
    first
}

/// The resolved URL of an `<a href>`.
fn link_url(a: ElementRef<'_>, base: &Url) -> Option<String> {
    let e = a.value();
    if e.name() != "a" {
        return None;
    }
    resolve_link(base, e.attr("href")?)
}

/// True when a heading lies between `node` and `stop` (inclusive of `node`).
fn in_heading(node: NodeRef<'_, Node>, stop: NodeId) -> bool {
    let mut cur = Some(node);
    while let Some(n) = cur {
        if let Node::Element(e) = n.value()
            && is_heading(e.name())
        {
            return true;
        }
        if n.id() == stop {
            return false;
        }
        cur = n.parent();
    }
    false
}

fn is_heading(name: &str) -> bool {
    matches!(name, "h1" | "h2" | "h3" | "h4" | "h5" | "h6")
}

/// A link found by the default rules.
struct Candidate {
    node: NodeId,
    url: String,
    shape: String,
    /// Normalized text: the link's, else its image's `alt`, `title` or `aria-label`.
    text: String,
    secondary: bool,
}

/// The default rules (module docs).
fn default_items(doc: &Html, page: &Url, base: &Url, rules: &ListingRules) -> Vec<Item> {
    let candidates = collect_candidates(doc, page, base, rules.item_url.is_none());
    let chosen: Vec<&Candidate> = if rules.item_url.is_some() {
        let matching: Vec<&Candidate> = candidates
            .iter()
            .filter(|c| rules.url_allowed(&c.url))
            .collect();
        prefer_primary(matching)
    } else {
        match best_group(&candidates) {
            Some(group) => prefer_primary(group),
            None => return Vec::new(),
        }
    };
    build_items(doc, &chosen)
}

/// Walks the document once and collects the candidate links.
fn collect_candidates(doc: &Html, page: &Url, base: &Url, same_site_only: bool) -> Vec<Candidate> {
    let mut page_key = page.clone();
    page_key.set_fragment(None);
    let page_key = trim_slash(page_key.as_str()).to_string();

    let mut out = Vec::new();
    let mut skipping: Option<NodeId> = None;
    // Open elements that start a secondary region.
    let mut secondary: Vec<NodeId> = Vec::new();
    // Open <article>/<section>/<main>/<li> elements.
    let mut content_depth: Vec<NodeId> = Vec::new();
    for edge in doc.tree.root().traverse() {
        match edge {
            Edge::Open(node) => {
                if skipping.is_some() {
                    continue;
                }
                let Node::Element(e) = node.value() else {
                    continue;
                };
                if is_dropped(e) || is_chrome(node, e, !content_depth.is_empty()) {
                    skipping = Some(node.id());
                    continue;
                }
                if is_secondary(e) {
                    secondary.push(node.id());
                }
                if matches!(e.name(), "article" | "section" | "main" | "li") {
                    content_depth.push(node.id());
                }
                if e.name() != "a" {
                    continue;
                }
                let Some(href) = e.attr("href") else { continue };
                let Some(url_str) = resolve_link(base, href) else {
                    continue;
                };
                let Ok(url) = Url::parse(&url_str) else {
                    continue;
                };
                if trim_slash(&url_str) == page_key
                    || (url.path() == "/" && url.query().is_none())
                    || (same_site_only && !same_site(page, &url))
                {
                    continue;
                }
                let Some(a) = ElementRef::wrap(node) else {
                    continue;
                };
                out.push(Candidate {
                    node: node.id(),
                    shape: shape(&url),
                    url: url_str,
                    text: link_text(a),
                    secondary: !secondary.is_empty(),
                });
            }
            Edge::Close(node) => {
                if let Some(s) = skipping {
                    if s == node.id() {
                        skipping = None;
                    }
                    continue;
                }
                if secondary.last() == Some(&node.id()) {
                    secondary.pop();
                }
                if content_depth.last() == Some(&node.id()) {
                    content_depth.pop();
                }
            }
        }
    }
    out
}

fn trim_slash(s: &str) -> &str {
    s.strip_suffix('/').unwrap_or(s)
}

/// A link's text, or the text its image or attributes give it.
fn link_text(a: ElementRef<'_>) -> String {
    let text = normalize_line(&a.text().collect::<String>());
    if !text.is_empty() {
        return text;
    }
    for node in a.descendants() {
        if let Node::Element(e) = node.value()
            && e.name() == "img"
            && let Some(alt) = e.attr("alt")
        {
            let alt = normalize_line(alt);
            if !alt.is_empty() {
                return alt;
            }
        }
    }
    let e = a.value();
    e.attr("title")
        .or_else(|| e.attr("aria-label"))
        .map(normalize_line)
        .unwrap_or_default()
}

/// Navigation chrome, whose links are never items (module docs, step 2).
fn is_chrome(node: NodeRef<'_, Node>, e: &Element, in_content: bool) -> bool {
    let name = e.name();
    if matches!(name, "nav" | "menu") {
        return true;
    }
    if let Some(role) = e.attr("role")
        && matches!(
            role.trim(),
            "navigation" | "banner" | "contentinfo" | "search" | "menu" | "menubar" | "toolbar"
        )
    {
        return true;
    }
    let tokens = name_tokens(e);
    let named = |list: &[&str]| tokens.iter().any(|t| list.contains(&t.as_str()));
    if named(NAVIGATION) {
        return true;
    }
    let page_part = matches!(name, "header" | "footer") || (named(PAGE_PARTS) && !named(CONTENT));
    page_part && !in_content && !parent_repeats(node)
}

/// Secondary regions (module docs, step 3).
fn is_secondary(e: &Element) -> bool {
    if e.name() == "aside" || e.attr("role").is_some_and(|r| r.trim() == "complementary") {
        return true;
    }
    name_tokens(e)
        .iter()
        .any(|t| SECONDARY.contains(&t.as_str()))
}

const NAVIGATION: &[&str] = &[
    "nav",
    "navbar",
    "navigation",
    "menu",
    "menubar",
    "submenu",
    "breadcrumb",
    "breadcrumbs",
    "pagination",
    "pager",
    "paging",
    "toolbar",
    "topbar",
    "skip",
    "gnb",
    "lnb",
];

const PAGE_PARTS: &[&str] = &["header", "footer", "masthead", "copyright"];

const SECONDARY: &[&str] = &[
    "sidebar",
    "sidenav",
    "aside",
    "related",
    "recommended",
    "recommendations",
    "popular",
    "trending",
    "mostread",
    "widget",
    "widgets",
    "rightcol",
    "leftcol",
    "promo",
];

/// Words that make a `*-header` / `*-footer` part of an item, not of the page.
const CONTENT: &[&str] = &[
    "article", "post", "entry", "story", "item", "headline", "hentry", "title", "card", "teaser",
];

/// The class and id words of an element: `mainNav side-bar_2` →
/// `main nav side bar 2`, lower case.
fn name_tokens(e: &Element) -> Vec<String> {
    let mut out = Vec::new();
    for value in [e.attr("class"), e.attr("id")].into_iter().flatten() {
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
    }
    out
}

/// True when the parent of `node` has a sibling of the same tag and class:
/// `node` then belongs to one of several repeated items.
fn parent_repeats(node: NodeRef<'_, Node>) -> bool {
    let Some(parent) = node.parent() else {
        return false;
    };
    let Node::Element(pe) = parent.value() else {
        return false;
    };
    let Some(class) = pe.attr("class").filter(|c| !c.trim().is_empty()) else {
        return false;
    };
    let same = |n: NodeRef<'_, Node>| match n.value() {
        Node::Element(se) => se.name() == pe.name() && se.attr("class") == Some(class),
        _ => false,
    };
    parent.prev_siblings().any(same) || parent.next_siblings().any(same)
}

/// The link text's weight in a group's score (module docs, step 5).
fn weight(text: &str) -> f64 {
    let units: usize = text
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| if is_cjk(c) { 3 } else { 1 })
        .sum();
    (units as f64 / 24.0).clamp(0.15, 1.0)
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x1100..=0x11FF | 0x3040..=0x30FF | 0x3130..=0x318F | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF | 0xAC00..=0xD7AF | 0xF900..=0xFAFF)
}

/// The best shape group (module docs, step 5), its links in document order.
fn best_group(candidates: &[Candidate]) -> Option<Vec<&Candidate>> {
    // shape → (first position, URL → (best weight, seen as primary))
    let mut groups: HashMap<&str, (usize, HashMap<&str, (f64, bool)>)> = HashMap::new();
    for (pos, c) in candidates.iter().enumerate() {
        let (_, urls) = groups
            .entry(c.shape.as_str())
            .or_insert((pos, HashMap::new()));
        let entry = urls.entry(c.url.as_str()).or_insert((0.0, false));
        entry.0 = entry.0.max(weight(&c.text));
        entry.1 |= !c.secondary;
    }
    let (shape, _) = groups
        .iter()
        .filter(|(_, (_, urls))| urls.len() >= 2)
        .map(|(shape, (first, urls))| {
            let score: f64 = urls
                .values()
                .map(|(w, primary)| if *primary { *w } else { w / 2.0 })
                .sum();
            (*shape, (score, urls.len(), std::cmp::Reverse(*first)))
        })
        .max_by(|a, b| {
            a.1.0
                .total_cmp(&b.1.0)
                .then(a.1.1.cmp(&b.1.1))
                .then(a.1.2.cmp(&b.1.2))
        })?;
    Some(candidates.iter().filter(|c| c.shape == shape).collect())
}

/// Drops the secondary links when the primary ones are at least as many
/// distinct URLs (module docs, step 5).
fn prefer_primary(links: Vec<&Candidate>) -> Vec<&Candidate> {
    let primary: HashSet<&str> = links
        .iter()
        .filter(|c| !c.secondary)
        .map(|c| c.url.as_str())
        .collect();
    let secondary_only = links
        .iter()
        .filter(|c| c.secondary && !primary.contains(c.url.as_str()))
        .map(|c| c.url.as_str())
        .collect::<HashSet<_>>()
        .len();
    if !primary.is_empty() && primary.len() >= secondary_only {
        links.into_iter().filter(|c| !c.secondary).collect()
    } else {
        links
    }
}

/// One item per distinct URL of the chosen links, in document order, with
/// title and date read from the item element around the first link.
fn build_items(doc: &Html, chosen: &[&Candidate]) -> Vec<Item> {
    // For every ancestor of a chosen link: the one URL below it, or None
    // when links of several URLs are below it.
    let mut owner: HashMap<NodeId, Option<&str>> = HashMap::new();
    for c in chosen {
        let Some(node) = doc.tree.get(c.node) else {
            continue;
        };
        for anc in node.ancestors() {
            match owner.get_mut(&anc.id()) {
                None => {
                    owner.insert(anc.id(), Some(c.url.as_str()));
                }
                Some(slot) => {
                    if *slot != Some(c.url.as_str()) {
                        *slot = None;
                    }
                }
            }
        }
    }
    let mut occurrences: HashMap<&str, Vec<NodeId>> = HashMap::new();
    for c in chosen {
        occurrences.entry(c.url.as_str()).or_default().push(c.node);
    }
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for c in chosen {
        if !seen.insert(c.url.as_str()) {
            continue;
        }
        let Some(node) = doc.tree.get(c.node) else {
            continue;
        };
        // Climb while the parent holds this item's links only.
        let mut item = node;
        while let Some(parent) = item.parent() {
            let own = owner.get(&parent.id()).copied().flatten() == Some(c.url.as_str());
            let top =
                matches!(parent.value(), Node::Element(e) if matches!(e.name(), "body" | "html"));
            if !own || top {
                break;
            }
            item = parent;
        }
        let links: Vec<NodeId> = occurrences
            .get(c.url.as_str())
            .into_iter()
            .flatten()
            .copied()
            .filter(|o| is_within(doc, *o, item.id()))
            .collect();
        out.push(Item {
            url: c.url.clone(),
            title: title_of(doc, item.id(), &links).or_else(|| non_empty(c.text.clone())),
            date: date_of(doc, item.id()),
        });
    }
    out
}

fn is_within(doc: &Html, node: NodeId, root: NodeId) -> bool {
    doc.tree
        .get(node)
        .is_some_and(|n| n.id() == root || n.ancestors().any(|a| a.id() == root))
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

/// The title of an item: the text of its link inside a heading, else the
/// first link text of three words or more, else the item's first heading,
/// else any link text (or image `alt`).
fn title_of(doc: &Html, item: NodeId, links: &[NodeId]) -> Option<String> {
    let texts: Vec<(bool, String)> = links
        .iter()
        .filter_map(|id| {
            let node = doc.tree.get(*id)?;
            let a = ElementRef::wrap(node)?;
            Some((in_heading(node, item), link_text(a)))
        })
        .filter(|(_, t)| !t.is_empty())
        .collect();
    if let Some((_, t)) = texts.iter().find(|(h, _)| *h) {
        return Some(t.clone());
    }
    if let Some((_, t)) = texts.iter().find(|(_, t)| t.split(' ').count() >= 3) {
        return Some(t.clone());
    }
    let heading = doc.tree.get(item).and_then(|n| {
        n.descendants().find_map(|d| {
            let e = ElementRef::wrap(d)?;
            if !is_heading(e.value().name()) {
                return None;
            }
            non_empty(normalize_line(&e.text().collect::<String>()))
        })
    });
    heading.or_else(|| texts.into_iter().next().map(|(_, t)| t))
}

/// Text read from an item for its date, at most this many bytes.
const DATE_TEXT_LIMIT: usize = 4096;

/// The date of an item: a `<time datetime>` (as written), a `<time>`'s
/// text, or the first date in the item's text outside links, else inside.
fn date_of(doc: &Html, item: NodeId) -> Option<String> {
    let root = doc.tree.get(item)?;
    for node in root.descendants() {
        if let Node::Element(e) = node.value()
            && e.name() == "time"
        {
            if let Some(dt) = e.attr("datetime").map(str::trim).filter(|d| !d.is_empty()) {
                return Some(normalize_line(dt));
            }
            if let Some(a) = ElementRef::wrap(node) {
                let text = a.text().collect::<String>();
                if let Some(d) = date::find_date(&text) {
                    return Some(d);
                }
            }
        }
    }
    let (mut outside, mut inside) = (String::new(), String::new());
    let mut skipping: Option<NodeId> = None;
    let mut link_depth = 0usize;
    for edge in root.traverse() {
        match edge {
            Edge::Open(node) => {
                if skipping.is_some() {
                    continue;
                }
                match node.value() {
                    Node::Element(e) if is_dropped(e) => skipping = Some(node.id()),
                    Node::Element(e) if e.name() == "a" => link_depth += 1,
                    Node::Text(t) => {
                        let buf = if link_depth > 0 {
                            &mut inside
                        } else {
                            &mut outside
                        };
                        if buf.len() < DATE_TEXT_LIMIT {
                            buf.push_str(t);
                            buf.push(' ');
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
                if let Node::Element(e) = node.value()
                    && e.name() == "a"
                {
                    link_depth = link_depth.saturating_sub(1);
                }
            }
        }
    }
    date::find_date(&normalize_line(&outside)).or_else(|| date::find_date(&normalize_line(&inside)))
}
