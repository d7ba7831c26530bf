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
//!    `<section>`, `<main>` or `<li>` and that is not repeated (its parent
//!    has no sibling of the same tag and class with the same kind of child:
//!    a `div.post` with its own `<header>` is an item, not the page's
//!    header). A name that also says content
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
//! 6. **Sections of one list.** A list that mixes sections
//!    (`/politics/{n}.html`, `/world/{n}.html`) splits into several shapes
//!    of one *family* (literal parts as wildcards). Links of the best
//!    group's family are added when they sit in the same list: inside an
//!    element that is a sibling of the group's items, of the same tag and
//!    sharing a class (or both without one). A tag cloud elsewhere on the
//!    page shares the family (`/tag/{s}`) but not the list, and stays out.
//! 7. **The item** around each link is the largest element that holds no
//!    link of another item of the group (the `<li>`, the `div.card`); its
//!    title and date are read from it.
//!
//! With an `item_url` regex and no selector, steps 4–6 are skipped: every
//! candidate the regex matches is an item (on any site), still without
//! chrome and with the same primary/secondary rule.

use super::shape::{family, same_site, shape};
use super::{Item, ListingRules, date, dedupe};
use crate::extract::html::{MAX_NESTING, approximate_depth, attr, is_dropped, resolve_link};
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
            && let Some(b) = attr(e, "href").and_then(|h| page.join(h.trim()).ok())
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
    resolve_link(base, attr(e, "href")?)
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
    /// Index in the candidate list (document order).
    pos: usize,
    node: NodeId,
    url: String,
    shape: String,
    family: String,
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
            Some(group) => add_family(doc, &candidates, prefer_primary(group)),
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
                let Some(href) = attr(e, "href") else {
                    continue;
                };
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
                let shape = shape(&url);
                out.push(Candidate {
                    pos: out.len(),
                    node: node.id(),
                    family: family(&shape),
                    shape,
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
            && let Some(alt) = attr(e, "alt")
        {
            let alt = normalize_line(alt);
            if !alt.is_empty() {
                return alt;
            }
        }
    }
    let e = a.value();
    attr(e, "title")
        .or_else(|| attr(e, "aria-label"))
        .map(normalize_line)
        .unwrap_or_default()
}

/// Navigation chrome, whose links are never items (module docs, step 2).
fn is_chrome(node: NodeRef<'_, Node>, e: &Element, in_content: bool) -> bool {
    let name = e.name();
    if matches!(name, "nav" | "menu") {
        return true;
    }
    if let Some(role) = attr(e, "role")
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
    if e.name() == "aside" || attr(e, "role").is_some_and(|r| r.trim() == "complementary") {
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
    [attr(e, "class"), attr(e, "id")]
        .into_iter()
        .flatten()
        .flat_map(crate::extract::main_content::tokens)
        .collect()
}

/// True when `node` is one of a repeated structure: its parent has a
/// sibling of the same tag and class that has a child of `node`'s own tag
/// and class (`div.post > header`, again and again).
fn parent_repeats(node: NodeRef<'_, Node>) -> bool {
    let (Some(parent), Node::Element(ne)) = (node.parent(), node.value()) else {
        return false;
    };
    let Node::Element(pe) = parent.value() else {
        return false;
    };
    let same_kind = |n: &NodeRef<'_, Node>, like: &Element| match n.value() {
        Node::Element(e) => e.name() == like.name() && attr(e, "class") == attr(like, "class"),
        _ => false,
    };
    let repeats = |sibling: NodeRef<'_, Node>| {
        same_kind(&sibling, pe) && sibling.children().any(|c| same_kind(&c, ne))
    };
    parent.prev_siblings().any(repeats) || parent.next_siblings().any(repeats)
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

/// The links of one shape, while the best group is chosen.
struct Group<'a> {
    /// Position of its first link, for ties: the earlier list wins.
    first: usize,
    /// URL → (the best weight of its link texts, seen outside secondary regions).
    urls: HashMap<&'a str, (f64, bool)>,
}

impl Group<'_> {
    fn score(&self) -> f64 {
        self.urls
            .values()
            .map(|(w, primary)| if *primary { *w } else { w / 2.0 })
            .sum()
    }
}

/// The best shape group (module docs, step 5), its links in document order.
fn best_group(candidates: &[Candidate]) -> Option<Vec<&Candidate>> {
    let mut groups: HashMap<&str, Group<'_>> = HashMap::new();
    for c in candidates {
        let group = groups.entry(c.shape.as_str()).or_insert_with(|| Group {
            first: c.pos,
            urls: HashMap::new(),
        });
        let entry = group.urls.entry(c.url.as_str()).or_insert((0.0, false));
        entry.0 = entry.0.max(weight(&c.text));
        entry.1 |= !c.secondary;
    }
    let (shape, _) = groups
        .iter()
        .filter(|(_, g)| g.urls.len() >= 2)
        .map(|(shape, g)| {
            (
                *shape,
                (g.score(), g.urls.len(), std::cmp::Reverse(g.first)),
            )
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

/// Adds the links of sibling shapes of the same family that sit in the
/// chosen group's list as items of the same kind (module docs, step 6):
/// a list that mixes `/politics/{n}` and `/world/{n}` articles is one list.
fn add_family<'a>(
    doc: &Html,
    candidates: &'a [Candidate],
    group: Vec<&'a Candidate>,
) -> Vec<&'a Candidate> {
    let Some(first) = group.first() else {
        return group;
    };
    let (family, shape) = (first.family.as_str(), first.shape.as_str());
    if family == shape {
        return group;
    }
    let items = item_elements(doc, &group);
    let item_set: HashSet<NodeId> = items.values().copied().collect();
    let mut containers = HashSet::new();
    let mut kinds: Vec<(&str, Vec<&str>)> = Vec::new();
    for id in &item_set {
        let Some(node) = doc.tree.get(*id) else {
            continue;
        };
        if let Some(parent) = node.parent() {
            containers.insert(parent.id());
        }
        if let Node::Element(e) = node.value() {
            kinds.push((e.name(), classes(e)));
        }
    }
    let secondary_ok = group.iter().any(|c| c.secondary);
    let in_group: HashSet<usize> = group.iter().map(|c| c.pos).collect();
    let mut out = group;
    for c in candidates {
        if in_group.contains(&c.pos)
            || c.family != family
            || c.shape == shape
            || (c.secondary && !secondary_ok)
        {
            continue;
        }
        // The ancestor that is a child of one of the list's containers.
        let mut cur = doc.tree.get(c.node);
        let mut sibling_item = None;
        while let Some(n) = cur {
            match n.parent() {
                Some(p) if containers.contains(&p.id()) => {
                    sibling_item = Some(n);
                    break;
                }
                p => cur = p,
            }
        }
        let Some(item) = sibling_item else { continue };
        let Node::Element(e) = item.value() else {
            continue;
        };
        let own = classes(e);
        let alike = kinds.iter().any(|(name, cls)| {
            *name == e.name()
                && ((cls.is_empty() && own.is_empty()) || cls.iter().any(|k| own.contains(k)))
        });
        if alike && !item_set.contains(&item.id()) {
            out.push(c);
        }
    }
    out.sort_by_key(|c| c.pos);
    out
}

fn classes(e: &Element) -> Vec<&str> {
    attr(e, "class")
        .map(|c| c.split_ascii_whitespace().collect())
        .unwrap_or_default()
}

/// The item element of every chosen link (keyed by the link's node): the
/// largest ancestor below `<body>` that holds links of that URL only.
fn item_elements(doc: &Html, chosen: &[&Candidate]) -> HashMap<NodeId, NodeId> {
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
    let mut out = HashMap::new();
    for c in chosen {
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
        out.insert(c.node, item.id());
    }
    out
}

/// One item per distinct URL of the chosen links, in document order, with
/// title and date read from the item element around the first link.
fn build_items(doc: &Html, chosen: &[&Candidate]) -> Vec<Item> {
    let items = item_elements(doc, chosen);
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
        let Some(&item) = items.get(&c.node) else {
            continue;
        };
        let links: Vec<NodeId> = occurrences
            .get(c.url.as_str())
            .into_iter()
            .flatten()
            .copied()
            .filter(|o| is_within(doc, *o, item))
            .collect();
        out.push(Item {
            url: c.url.clone(),
            title: title_of(doc, item, &links).or_else(|| non_empty(c.text.clone())),
            date: date_of(doc, item),
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
            if let Some(dt) = attr(e, "datetime").map(str::trim).filter(|d| !d.is_empty()) {
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

#[cfg(test)]
mod tests {
    use super::super::{Item, ListingRules, extract_items};
    use proptest::prelude::*;
    use url::Url;

    const SIM_DAY0: &str = include_str!("testdata/sim-index-day0.html");
    const SIM_ARTICLE: &str = include_str!("testdata/sim-article-3.html");
    const NAENARA: &str = include_str!("testdata/naenara-first.html");

    fn items_at(html: &str, page: &str, rules: &ListingRules) -> Vec<Item> {
        let page = Url::parse(page).expect("url");
        extract_items(html, "text/html", &page, rules)
    }

    fn items(html: &str, page: &str) -> Vec<Item> {
        items_at(html, page, &ListingRules::default())
    }

    fn paths(items: &[Item]) -> Vec<String> {
        items
            .iter()
            .map(|i| {
                let u = Url::parse(&i.url).expect("item url");
                match u.query() {
                    Some(q) => format!("{}?{q}", u.path()),
                    None => u.path().to_string(),
                }
            })
            .collect()
    }

    fn article_paths(ids: impl IntoIterator<Item = u32>) -> Vec<String> {
        ids.into_iter()
            .map(|n| format!("/en/article/{n}.html"))
            .collect()
    }

    #[test]
    fn simulator_index() {
        let got = items(SIM_DAY0, "http://127.0.0.1:18801/");
        let want: Vec<u32> = (20..=40).rev().filter(|&n| n != 29).collect();
        assert_eq!(paths(&got), article_paths(want));
        assert_eq!(
            got[0],
            Item {
                url: "http://127.0.0.1:18801/en/article/40.html".into(),
                title: Some("Paper Mill in Changdo Remodelled".into()),
                date: Some("2026-01-30".into()),
            }
        );
        assert_eq!(got[19].date.as_deref(), Some("2026-01-24"));
        assert!(got.iter().all(|i| i.title.is_some() && i.date.is_some()));
    }

    #[test]
    fn article_page_lists_its_sidebar() {
        // An article page watched as a listing: its only list is the
        // "More Articles" sidebar, which is found although secondary.
        let got = items(SIM_ARTICLE, "http://127.0.0.1:18801/en/article/3.html");
        assert_eq!(paths(&got), article_paths((31..=40).rev()));
        assert_eq!(
            got[9].title.as_deref(),
            Some("New Cement Factory Built in Songnam")
        );
        assert_eq!(got[9].date.as_deref(), Some("2026-01-27"));
    }

    #[test]
    fn naenara_more_from_block() {
        let got = items(NAENARA, "http://www.naenara.com.kp/main/index/en/first");
        assert_eq!(got.len(), 20, "{:#?}", paths(&got));
        // Sections are mixed in one list and kept in page order.
        let want: Vec<String> = [
            "politics/8240",
            "economy/8237",
            "economy/8234",
            "society/8231",
            "culture/8228",
        ]
        .iter()
        .map(|p| format!("/main/index/en/{p}"))
        .collect();
        assert_eq!(paths(&got)[..5], want[..]);
        assert_eq!(
            got[3].title.as_deref(),
            Some(
                "A large number of Korean people work devotedly for their country with a clear conscience whether they are acknowledged or not."
            )
        );
        assert_eq!(got[3].date.as_deref(), Some("2026-01-30"));
        assert_eq!(got[19].date.as_deref(), Some("2026-01-26"));
        assert!(got.iter().all(|i| {
            i.url
                .starts_with("http://www.naenara.com.kp/main/index/en/")
        }));
    }

    /// A blog-style index: menu, pagination, tag cloud, a "most read" box
    /// and the article list, each item with an image link, a heading link,
    /// a category link, a comments link and a "Read more" link.
    const BLOG: &str = r##"<!DOCTYPE html><html><head><title>News</title><base href="https://www.example.org/"></head><body>
<header class="site-header"><a href="/">Example News</a>
  <nav><a href="/world/">World</a> <a href="/politics/">Politics</a> <a href="/2026/01/pinned-story-about-nothing/">Pinned</a></nav></header>
<div id="wrapper">
<main>
  <div class="post"><header class="entry-header"><h2><a href="/2026/01/kim-visits-farm/">Kim Visits Co-operative Farm</a></h2></header>
    <a href="/2026/01/kim-visits-farm/"><img src="/i/1.jpg" alt="A farm"></a>
    <span class="meta">Posted in <a href="/category/economy/">Economy</a> on <time datetime="2026-01-30T08:00:00+09:00">30 January</time></span>
    <p>A short teaser of the story. <a href="/2026/01/kim-visits-farm/#more">Read more</a> <a href="/2026/01/kim-visits-farm/#comments">3 comments</a></p></div>
  <div class="post"><header><h2><a href="/2026/01/new-power-station/">New Power Station Opened in the North</a></h2></header>
    <span class="meta">Posted in <a href="/category/energy/">Energy</a> on <time datetime="2026-01-29">29 January</time></span>
    <p>Another teaser, dated 2020-01-01 in its text. <a href="/2026/01/new-power-station/">Read more</a></p></div>
  <div class="post"><header><h2><a href="/2026/01/delegation-leaves-for-moscow/">Delegation Leaves for Moscow</a></h2></header>
    <span class="meta">Posted on January 28, 2026</span></div>
  <div class="post"><header><h2><a href="/2025/12/year-end-review-published/">Year-End Review Published</a></h2></header></div>
  <div class="pagination"><a href="/page/2/">2</a> <a href="/page/3/">3</a> <a href="/page/2/">Next »</a></div>
</main>
<aside>
  <h3>Most read</h3>
  <ul><li><a href="/2025/11/old-but-popular-story/">An Old but Popular Story</a></li>
      <li><a href="/2025/10/another-popular-story/">Another Popular Story</a></li>
      <li><a href="/2026/01/kim-visits-farm/">Kim Visits Co-operative Farm</a></li></ul>
  <h3>Tags</h3>
  <div class="tagcloud"><a href="/tag/kim-jong-un/">Kim Jong Un</a> <a href="/tag/agri-culture/">agriculture</a>
    <a href="/tag/power-plants/">power</a> <a href="/tag/foreign-affairs/">diplomacy</a> <a href="/tag/year-2026/">2026</a>
    <a href="/tag/party-congress/">congress</a> <a href="/tag/new-year/">new year</a></div>
</aside>
</div>
<footer><a href="/about/">About</a> <a href="mailto:desk@example.org">Mail</a> <a href="javascript:void(0)">Top</a>
  <a href="https://other.example.com/2026/01/partner-story/">Partner story</a></footer>
</body></html>"##;

    #[test]
    fn blog_index_with_chrome_around_the_list() {
        let got = items(BLOG, "https://www.example.org/news/");
        assert_eq!(
            paths(&got),
            vec![
                "/2026/01/kim-visits-farm/",
                "/2026/01/new-power-station/",
                "/2026/01/delegation-leaves-for-moscow/",
                "/2025/12/year-end-review-published/",
            ]
        );
        assert_eq!(
            got[0].title.as_deref(),
            Some("Kim Visits Co-operative Farm")
        );
        assert_eq!(got[0].date.as_deref(), Some("2026-01-30T08:00:00+09:00"));
        assert_eq!(got[1].date.as_deref(), Some("2026-01-29"));
        assert_eq!(got[2].date.as_deref(), Some("2026-01-28"));
        assert_eq!(got[3].date, None);
    }

    #[test]
    fn repeated_item_headers_are_not_page_chrome() {
        let html = r#"<body><div class="header"><a href="/a/9">Site promo headline here</a><a href="/a/8">Another promo headline</a></div>
<div><div class="header"><a href="/a/3">Third article headline</a></div><p>Teaser.</p></div>
<div><div class="header"><a href="/a/2">Second article headline</a></div><p>Teaser.</p></div>
<div><div class="header"><a href="/a/1">First article headline</a></div><p>Teaser.</p></div>
</body>"#;
        assert_eq!(
            paths(&items(html, "https://e.org/")),
            vec!["/a/3", "/a/2", "/a/1"]
        );
    }

    #[test]
    fn selector_rules() {
        let rules = ListingRules::new(Some("div.post"), None).expect("rules");
        let got = items_at(BLOG, "https://www.example.org/news/", &rules);
        assert_eq!(got.len(), 4);
        assert_eq!(
            got[1].title.as_deref(),
            Some("New Power Station Opened in the North")
        );
        assert_eq!(got[1].date.as_deref(), Some("2026-01-29"));

        // The selected element may be the link itself; dates come from the link then.
        let rules = ListingRules::new(Some("aside li > a"), None).expect("rules");
        let got = items_at(BLOG, "https://www.example.org/news/", &rules);
        assert_eq!(
            paths(&got),
            vec![
                "/2025/11/old-but-popular-story/",
                "/2025/10/another-popular-story/",
                "/2026/01/kim-visits-farm/"
            ]
        );

        // item_url filters what the selector found.
        let rules =
            ListingRules::new(Some("ul.newslist > li"), Some(r"/(3\d|40)\.html$")).expect("rules");
        let got = items_at(SIM_DAY0, "http://127.0.0.1:18801/", &rules);
        assert_eq!(paths(&got), article_paths((30..=40).rev()));
        assert_eq!(
            got[0].title.as_deref(),
            Some("Paper Mill in Changdo Remodelled")
        );
        assert_eq!(got[0].date.as_deref(), Some("2026-01-30"));
    }

    #[test]
    fn item_url_without_selector() {
        // The pattern replaces the shape groups: both shapes it names are kept,
        // the "most read" box stays out because the main list is larger.
        let rules = ListingRules::new(None, Some(r"/20(25|26)/\d\d/")).expect("rules");
        let got = items_at(BLOG, "https://www.example.org/news/", &rules);
        assert_eq!(
            paths(&got),
            vec![
                "/2026/01/kim-visits-farm/",
                "/2026/01/new-power-station/",
                "/2026/01/delegation-leaves-for-moscow/",
                "/2025/12/year-end-review-published/",
            ]
        );
        // A pattern may accept other sites' links.
        let rules = ListingRules::new(None, Some(r"partner-story")).expect("rules");
        let got = items_at(BLOG, "https://www.example.org/news/", &rules);
        assert!(got.is_empty(), "the footer is chrome: {got:?}");
    }

    #[test]
    fn table_layout_with_counters() {
        let html = r#"<html><body><table>
<tr><td><a href="/">Home</a> | <a href="/list.php?cat=2">Economy</a> | <a href="/list.php?cat=3">Culture</a></td></tr>
<tr><td><table>
  <tr><td><a href="/view.php?cat=2&amp;no=501">장성택 동지의 현지지도</a></td><td>2026년 1월 30일</td><td>views 1234</td></tr>
  <tr><td><a href="/view.php?cat=3&amp;no=500">평양에서 새 극장 개관</a></td><td>2026년 1월 29일</td><td>views 98</td></tr>
  <tr><td><a href="/view.php?cat=2&amp;no=499">농업 생산 증대</a></td><td>2026년 1월 29일</td><td>views 7</td></tr>
</table></td></tr>
<tr><td><a href="/list.php?cat=2&amp;page=2">[2]</a> <a href="/list.php?cat=2&amp;page=3">[3]</a></td></tr>
<tr><td>Visitors today: 48211</td></tr>
</table></body></html>"#;
        let got = items(html, "http://example.kp/list.php?cat=2");
        assert_eq!(
            paths(&got),
            vec![
                "/view.php?cat=2&no=501",
                "/view.php?cat=3&no=500",
                "/view.php?cat=2&no=499"
            ]
        );
        assert_eq!(got[0].title.as_deref(), Some("장성택 동지의 현지지도"));
        assert_eq!(got[1].date.as_deref(), Some("2026-01-29"));
    }

    /// The simulator's index in another layout: unnamed table cells, the
    /// "More Articles" box before the list, a per-request counter and an
    /// "updated N minutes ago" line.
    #[test]
    fn table_layout_with_sidebar_first() {
        let mut html = String::from(
            r#"<html><body><table width="100%"><tr><td colspan="2"><a href="/"><img src="/logo.gif" alt="Naenara Daily"></a>
<a href="/en/politics/">Politics</a> | <a href="/en/economy/">Economy</a> | <a href="/kp/">조선어</a></td></tr>
<tr><td width="30%"><b>More Articles</b><table>"#,
        );
        for id in (31..=40).rev() {
            html.push_str(&format!(
                r#"<tr><td><a href="/en/article/{id}.html">Short headline {id}</a><br><font size="1">Teaser {id}</font></td></tr>"#
            ));
        }
        html.push_str(r#"</table></td><td><p>Updated 3 minutes ago</p><table>"#);
        for id in (20..=40).rev().filter(|&n| n != 29) {
            let day = 24 + (id - 20) / 3;
            html.push_str(&format!(
                r#"<tr><td><a href="/en/article/{id}.html">Headline of article number {id}</a></td><td>2026-01-{day:02}</td></tr>
<tr><td colspan="2">Teaser text of article {id}, views {}</td></tr>"#,
                id * 37
            ));
        }
        html.push_str(r#"</table></td></tr><tr><td colspan="2">Visitors: 48211 · (c) 2026</td></tr></table></body></html>"#);
        let got = items(&html, "http://127.0.0.1:18801/");
        let want: Vec<u32> = (20..=40).rev().filter(|&n| n != 29).collect();
        assert_eq!(paths(&got), article_paths(want));
        // The first occurrence (the box) gives the item; its date is absent there.
        assert_eq!(got[0].title.as_deref(), Some("Short headline 40"));
        assert_eq!(
            got[15].title.as_deref(),
            Some("Headline of article number 24")
        );
        assert_eq!(got[15].date.as_deref(), Some("2026-01-25"));
    }

    #[test]
    fn dedupe_fragments_queries_and_the_page_itself() {
        let html = r##"<body><div class="list">
<p><a href="a/1?x=1#top">One</a> <a href="a/1?x=1">One again</a></p>
<p><a href="a/1?x=2">One, other query</a></p>
<p><a href="#">Top</a> <a href="">Self</a> <a href="https://e.org/s/">Self with slash</a></p>
<p><a href="a/2?x=3">Two</a></p></div></body>"##;
        let got = items(html, "https://e.org/s");
        assert_eq!(
            got.iter().map(|i| i.url.as_str()).collect::<Vec<_>>(),
            vec![
                "https://e.org/a/1?x=1",
                "https://e.org/a/1?x=2",
                "https://e.org/a/2?x=3"
            ]
        );
        assert_eq!(got[0].title.as_deref(), Some("One"));
    }

    #[test]
    fn pages_without_a_list() {
        assert!(items("", "https://e.org/").is_empty());
        assert!(
            items(
                "<p>Page not found</p><a href='/'>home</a>",
                "https://e.org/x"
            )
            .is_empty()
        );
        assert!(items("<p>NULL</p>", "https://e.org/x").is_empty());
        let one = r#"<body><a href="/a/1">The only article here</a></body>"#;
        assert!(
            items(one, "https://e.org/").is_empty(),
            "a single link is not a list"
        );
    }

    #[test]
    fn hidden_links_are_not_items() {
        let html = r#"<body><ul>
<li><a href="/a/3">Third article title here</a></li>
<li hidden><a href="/a/2">Hidden article title</a></li>
<li><a href="/a/1">First article title here</a></li></ul>
<template><a href="/a/9">Template article</a></template></body>"#;
        assert_eq!(paths(&items(html, "https://e.org/")), vec!["/a/3", "/a/1"]);
    }

    #[test]
    fn hostile_nesting_is_empty_and_quick() {
        let mut html = String::from("<body>");
        for _ in 0..50_000 {
            html.push_str("<div><span>");
        }
        html.push_str(r#"<a href="/a/1">one</a><a href="/a/2">two</a>"#);
        let started = std::time::Instant::now();
        assert!(items(&html, "https://e.org/").is_empty());
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
    }

    fn soup() -> impl Strategy<Value = String> {
        let token = prop_oneof![
            Just("<a href=\"/a/1\">".to_string()),
            Just("<a href='x/2?q=1#f'>".to_string()),
            Just("<a href=\"javascript:x\">".to_string()),
            Just("</a>".to_string()),
            Just("<li class=item>".to_string()),
            Just("<nav>".to_string()),
            Just("<header>".to_string()),
            Just("</header>".to_string()),
            Just("<aside>".to_string()),
            Just("<time datetime=\"2026-01-30\">".to_string()),
            Just("<h2>".to_string()),
            Just("<base href=\"//x\">".to_string()),
            Just("<rss version=\"2.0\"><channel><item><link>".to_string()),
            Just("<urlset><url><loc>".to_string()),
            Just("</loc></url>".to_string()),
            Just("<?xml version=\"1.0\" encoding=\"latin1\"?>".to_string()),
            Just("<![CDATA[".to_string()),
            Just("&amp;&#x0;&#xD800;&bogus;".to_string()),
            Just("January 30, 2026".to_string()),
            Just("2026년 1월 30일".to_string()),
            "[a-z0-9 /:.<>\"'=&;#-]{0,12}",
            any::<String>(),
        ];
        proptest::collection::vec(token, 0..40).prop_map(|v| v.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn never_panics(
            body in soup(),
            ct in prop_oneof![
                Just("text/html"), Just("application/rss+xml"), Just("application/atom+xml"),
                Just("application/xml"), Just("text/xml"), Just(""), Just("application/json"),
                Just("application/feed+json"),
            ],
            selector in proptest::option::of(prop_oneof![Just("li"), Just("a"), Just("time")]),
        ) {
            let page = Url::parse("http://e.org/p/1").expect("url");
            let rules = ListingRules::new(selector, None).expect("rules");
            let got = extract_items(&body, ct, &page, &rules);
            let mut seen = std::collections::HashSet::new();
            for item in &got {
                prop_assert!(seen.insert(item.url.clone()), "duplicate {}", item.url);
                let url = Url::parse(&item.url).expect("absolute item url");
                prop_assert!(matches!(url.scheme(), "http" | "https"));
                prop_assert!(url.fragment().is_none());
            }
        }
    }
}
