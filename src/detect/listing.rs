//! Listing events: from the previous and the current items of a listing
//! watch to `item_added` and `item_removed`.
//!
//! Items are the same item when their URLs are equal; a new title or date
//! of an item still listed is not an event (the version text records it).
//!
//! * **Added**: an item whose URL was not in the previous list.
//! * **Removed**: an item of the previous list that is gone, **while an
//!   item older than it is still listed**. Index pages and feeds show the
//!   newest N items, so the oldest ones drop off the end whenever new ones
//!   come in: that is ageing, not an event. An item taken out from above
//!   items that stay is what a person wants to know about (an article
//!   withdrawn from the index).
//! * **Older** means later in the previous list's order, unless both items
//!   have dates that [`date_key`] reads and they differ: then the earlier
//!   date is the older item. Dates win over order so that a list sorted by
//!   something else ("most read") still ages correctly when it shows dates.
//! * **Re-ordering** is not an event: only the set of URLs counts, and
//!   positions are taken from the previous list.
//! * **Duplicates** (the same URL twice in a list) count once, at their
//!   first position.
//! * **First listing**: with no previous items there is nothing to compare;
//!   the result is empty and the caller records `first_seen`.
//!
//! # A list that collapses
//!
//! A broken or half-rendered page (an error page answered with 200, an
//! empty template, a cut-off feed) shows few or none of its items. Taken
//! at face value it would remove everything below the survivors, and its
//! return would re-add everything. So when the list **comes back empty**,
//! or (for a previous list of four items or more) **shrinks to less than
//! half its previous length while more than half of the previous items are
//! gone**, [`ItemChanges::suspicious_shrink`] is set and `added` and
//! `removed` are left **empty**. The caller should treat the check like a
//! fault: keep the previous list as the one to compare with, and adopt the
//! short list only when it persists (for example over as many checks as a
//! deletion needs to be confirmed); adopting it is a silent baseline
//! change, not a batch of removals. A list that merely rotated (as many
//! items as before, many of them new) is not suspicious: everything that
//! fell off its end aged off.

use crate::extract::listing::{Item, date_key};
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// Lists shorter than this are not judged by the half-gone rule: losing two
/// of three items is as likely an edit as a fault. An empty list always is.
const MIN_SHRINK_LIST: usize = 4;

/// What changed between two lists of items.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ItemChanges {
    /// New items, in the current list's order.
    pub added: Vec<Item>,
    /// Items taken out while older ones stay, in the previous list's order
    /// (as they were last seen).
    pub removed: Vec<Item>,
    /// The list collapsed (module docs): `added` and `removed` are empty and
    /// the caller should treat the check as a fault.
    pub suspicious_shrink: bool,
}

impl ItemChanges {
    /// True when there is no event to raise.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }
}

/// Compares the previous items of a listing with the current ones (both
/// in list order, newest first as pages and feeds show them).
pub fn compare_items(prev: &[Item], now: &[Item]) -> ItemChanges {
    if prev.is_empty() {
        return ItemChanges::default();
    }
    let prev = unique(prev);
    let now = unique(now);
    let now_urls: HashSet<&str> = now.iter().map(|i| i.url.as_str()).collect();
    let prev_urls: HashSet<&str> = prev.iter().map(|i| i.url.as_str()).collect();

    let gone: Vec<usize> = (0..prev.len())
        .filter(|&i| !now_urls.contains(prev[i].url.as_str()))
        .collect();
    let collapsed = now.is_empty()
        || (prev.len() >= MIN_SHRINK_LIST
            && now.len() * 2 < prev.len()
            && gone.len() * 2 > prev.len());
    if collapsed {
        return ItemChanges {
            suspicious_shrink: true,
            ..ItemChanges::default()
        };
    }

    let added = now
        .iter()
        .filter(|i| !prev_urls.contains(i.url.as_str()))
        .map(|i| (*i).clone())
        .collect();

    // What the survivors (previous items still listed) tell about age:
    // the oldest dated one, the last position of an undated one, and the
    // last position of the dated ones per date.
    let keys: Vec<Option<i64>> = prev
        .iter()
        .map(|i| i.date.as_deref().and_then(date_key))
        .collect();
    let mut min_dated: Option<i64> = None;
    let mut last_undated: Option<usize> = None;
    let mut last_by_date: HashMap<i64, usize> = HashMap::new();
    for (j, item) in prev.iter().enumerate() {
        if !now_urls.contains(item.url.as_str()) {
            continue;
        }
        match keys[j] {
            Some(k) => {
                min_dated = Some(min_dated.map_or(k, |m| m.min(k)));
                last_by_date.insert(k, j);
            }
            None => last_undated = Some(j),
        }
    }
    let last_survivor = last_undated
        .into_iter()
        .chain(last_by_date.values().copied())
        .max();

    let removed = gone
        .into_iter()
        .filter(|&i| match keys[i] {
            // Undated: any survivor further down the list is older.
            None => last_survivor.is_some_and(|j| j > i),
            // Dated: a survivor with an earlier date, or one without a date
            // (or with the same date) further down.
            Some(k) => {
                min_dated.is_some_and(|m| m < k)
                    || last_undated.is_some_and(|j| j > i)
                    || last_by_date.get(&k).is_some_and(|&j| j > i)
            }
        })
        .map(|i| prev[i].clone())
        .collect();

    ItemChanges {
        added,
        removed,
        suspicious_shrink: false,
    }
}

/// The items with the first occurrence of every URL, in order.
fn unique(items: &[Item]) -> Vec<&Item> {
    let mut seen = HashSet::new();
    items
        .iter()
        .filter(|i| seen.insert(i.url.as_str()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::listing::{ListingRules, extract_items, from_text, to_text};
    use proptest::prelude::*;

    fn it(n: u32) -> Item {
        Item {
            url: format!("http://e.org/a/{n}.html"),
            title: Some(format!("Article {n}")),
            date: None,
        }
    }

    fn dated(n: u32, date: &str) -> Item {
        Item {
            date: Some(date.to_string()),
            ..it(n)
        }
    }

    /// Newest first: the list of articles `from` down to `to`.
    fn list(from: u32, to: u32) -> Vec<Item> {
        (to..=from).rev().map(it).collect()
    }

    fn urls(items: &[Item]) -> Vec<&str> {
        items.iter().map(|i| i.url.as_str()).collect()
    }

    #[test]
    fn first_listing_is_silent() {
        assert_eq!(compare_items(&[], &list(20, 1)), ItemChanges::default());
    }

    #[test]
    fn unchanged_list_is_silent() {
        assert!(compare_items(&list(20, 1), &list(20, 1)).is_empty());
    }

    #[test]
    fn new_item_at_top_and_ageing_off_the_bottom() {
        // 21 and 22 arrive, 1 and 2 fall off the end: two additions, no removal.
        let c = compare_items(&list(20, 1), &list(22, 3));
        assert_eq!(
            urls(&c.added),
            vec!["http://e.org/a/22.html", "http://e.org/a/21.html"]
        );
        assert!(c.removed.is_empty());
        assert!(!c.suspicious_shrink);
    }

    #[test]
    fn shorter_list_without_new_items_is_ageing() {
        let c = compare_items(&list(20, 1), &list(20, 11));
        assert!(c.is_empty() && !c.suspicious_shrink);
    }

    #[test]
    fn removal_from_the_middle() {
        let prev = list(20, 1);
        let now: Vec<Item> = prev
            .iter()
            .filter(|i| !i.url.contains("/12."))
            .cloned()
            .collect();
        let c = compare_items(&prev, &now);
        assert_eq!(urls(&c.removed), vec!["http://e.org/a/12.html"]);
        assert!(c.added.is_empty());
    }

    #[test]
    fn removal_together_with_new_items_and_ageing() {
        // Simulator day 1: three new on top, 23 deleted from the middle, two age off.
        let prev = list(40, 20);
        let mut now = list(43, 22);
        now.retain(|i| !i.url.contains("/23."));
        let c = compare_items(&prev, &now);
        assert_eq!(urls(&c.added).len(), 3);
        assert_eq!(urls(&c.removed), vec!["http://e.org/a/23.html"]);
    }

    #[test]
    fn top_item_withdrawn() {
        let prev = list(20, 1);
        let c = compare_items(&prev, &list(19, 1));
        assert_eq!(urls(&c.removed), vec!["http://e.org/a/20.html"]);
    }

    #[test]
    fn reorder_is_not_an_event() {
        let prev = list(20, 1);
        let mut now = prev.clone();
        now.reverse();
        now.swap(3, 7);
        assert!(compare_items(&prev, &now).is_empty());
    }

    #[test]
    fn title_change_is_not_an_event() {
        let prev = list(5, 1);
        let mut now = prev.clone();
        now[2].title = Some("A corrected headline".into());
        now[3].date = Some("2026-01-30".into());
        assert!(compare_items(&prev, &now).is_empty());
    }

    #[test]
    fn duplicates_count_once() {
        let mut prev = list(5, 1);
        prev.push(it(5));
        let mut now = list(6, 2);
        now.insert(1, it(6));
        let c = compare_items(&prev, &now);
        assert_eq!(urls(&c.added), vec!["http://e.org/a/6.html"]);
        assert!(c.removed.is_empty());
    }

    #[test]
    fn empty_or_nearly_empty_page_is_suspicious() {
        let prev = list(20, 1);
        for now in [vec![], vec![it(1)], list(3, 1), vec![it(99)]] {
            let c = compare_items(&prev, &now);
            assert!(c.suspicious_shrink, "{now:?}");
            assert!(c.is_empty());
        }
        // Small lists: empty is suspicious, losing two of three is an edit.
        let c = compare_items(&list(3, 1), &[]);
        assert!(c.suspicious_shrink);
        let c = compare_items(&list(3, 1), &[it(1)]);
        assert!(!c.suspicious_shrink);
        assert_eq!(
            urls(&c.removed),
            vec!["http://e.org/a/3.html", "http://e.org/a/2.html"]
        );
        // Half of the list left, the older half: still ageing, not suspicious.
        assert!(!compare_items(&prev, &list(20, 11)).suspicious_shrink);
        // A full rotation of the same length is not a shrink.
        let c = compare_items(&prev, &list(40, 21));
        assert!(!c.suspicious_shrink);
        assert_eq!(c.added.len(), 20);
        assert!(c.removed.is_empty());
    }

    #[test]
    fn dates_decide_age_when_both_have_one() {
        // A "most read" order: positions say nothing about age, dates do.
        let prev = vec![
            dated(1, "2026-01-20"),
            dated(2, "2026-01-30"),
            dated(3, "2026-01-25"),
        ];
        // 2 is gone; 1 and 3 (both older by date) stay: removed.
        let c = compare_items(&prev, &[prev[0].clone(), prev[2].clone()]);
        assert_eq!(urls(&c.removed), vec!["http://e.org/a/2.html"]);
        // 3 is gone; 1 stays and is older by date although above it: removed.
        let c = compare_items(&prev, &[prev[0].clone(), prev[1].clone()]);
        assert_eq!(urls(&c.removed), vec!["http://e.org/a/3.html"]);
        // 1 is gone; the survivors are newer by date although below it: aged off.
        let c = compare_items(&prev, &[prev[1].clone(), prev[2].clone()]);
        assert!(c.removed.is_empty());
    }

    #[test]
    fn equal_or_missing_dates_fall_back_to_order() {
        let prev = vec![
            dated(3, "2026-01-30"),
            dated(2, "2026-01-30"),
            it(1),
            dated(0, "2026-01-30T00:00:00Z"),
        ];
        // 3 gone, 2 (same day, further down) stays: removed.
        let c = compare_items(&prev, &[prev[1].clone(), prev[2].clone(), prev[3].clone()]);
        assert_eq!(urls(&c.removed), vec!["http://e.org/a/3.html"]);
        // 2 gone; the undated 1 further down stays: removed.
        let c = compare_items(&prev, &[prev[0].clone(), prev[2].clone(), prev[3].clone()]);
        assert_eq!(urls(&c.removed), vec!["http://e.org/a/2.html"]);
        // 1 (undated) gone; 0 further down stays: removed.
        let c = compare_items(&prev, &[prev[0].clone(), prev[1].clone(), prev[3].clone()]);
        assert_eq!(urls(&c.removed), vec!["http://e.org/a/1.html"]);
        // 0 gone from the bottom: aged off.
        let c = compare_items(&prev, &prev[..3]);
        assert!(c.removed.is_empty());
    }

    /// The simulator's index on day 0 and day 1 (seed 42), through the
    /// real extraction and the version text, as the check will run it.
    #[test]
    fn simulator_index_day_to_day() {
        let base = url::Url::parse("http://127.0.0.1:8080/").expect("url");
        let rules = ListingRules::default();
        let page = |ids: &[u32]| {
            let mut html = String::from(
                r#"<html><body><div id="header"><a href="/" class="logo">Naenara Daily</a>
<ul class="nav"><li><a href="/">Home</a></li><li><a href="/en/politics/">Politics</a></li></ul></div>
<div id="main"><h2 class="section">Latest News</h2><ul class="newslist">"#,
            );
            for id in ids {
                html.push_str(&format!(
                    r#"<li class="item"><a href="/en/article/{id}.html" class="title">Headline number {id} of the day</a>
<p class="teaser">Teaser text of article {id}.</p><span class="date">January 30, 2026</span></li>"#
                ));
            }
            html.push_str(r#"</ul></div><div id="footer"><p>Copyright</p></div></body></html>"#);
            html
        };
        let day0: Vec<u32> = (20..=40).rev().filter(|&n| n != 29).collect();
        let mut day1: Vec<u32> = (22..=43).rev().filter(|&n| n != 29 && n != 23).collect();
        day1.truncate(20);
        let v0 = to_text(&extract_items(&page(&day0), "text/html", &base, &rules));
        let v1 = to_text(&extract_items(&page(&day1), "text/html", &base, &rules));
        let c = compare_items(&from_text(&v0), &from_text(&v1));
        assert_eq!(
            urls(&c.added),
            vec![
                "http://127.0.0.1:8080/en/article/43.html",
                "http://127.0.0.1:8080/en/article/42.html",
                "http://127.0.0.1:8080/en/article/41.html",
            ]
        );
        assert_eq!(
            urls(&c.removed),
            vec!["http://127.0.0.1:8080/en/article/23.html"]
        );
    }

    /// The simulator's real pages (seed 42): day 1 publishes 41–43 and
    /// deletes 23 (it leaves the index); 20 and 21 age off the bottom.
    #[test]
    fn simulator_fixture_day0_to_day1() {
        let base = url::Url::parse("http://127.0.0.1:18801/").expect("url");
        let read = |html: &str| {
            let items = extract_items(
                html,
                "text/html; charset=utf-8",
                &base,
                &ListingRules::default(),
            );
            from_text(&to_text(&items))
        };
        let day0 = read(include_str!(
            "../extract/listing/testdata/sim-index-day0.html"
        ));
        let day1 = read(include_str!(
            "../extract/listing/testdata/sim-index-day1.html"
        ));
        assert_eq!((day0.len(), day1.len()), (20, 20));
        let c = compare_items(&day0, &day1);
        assert_eq!(
            urls(&c.added),
            vec![
                "http://127.0.0.1:18801/en/article/43.html",
                "http://127.0.0.1:18801/en/article/42.html",
                "http://127.0.0.1:18801/en/article/41.html",
            ]
        );
        assert_eq!(
            c.added[0].title.as_deref(),
            Some("Modern Houses Built in Churung County")
        );
        assert_eq!(
            urls(&c.removed),
            vec!["http://127.0.0.1:18801/en/article/23.html"]
        );
        assert!(!c.suspicious_shrink);
    }

    fn arb_list() -> impl Strategy<Value = Vec<Item>> {
        proptest::collection::vec((0u32..30, proptest::option::of(0u32..5)), 0..25).prop_map(|v| {
            v.into_iter()
                .map(|(n, d)| Item {
                    date: d.map(|d| format!("2026-01-{:02}", 10 + d)),
                    ..it(n)
                })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn invariants(prev in arb_list(), now in arb_list()) {
            let c = compare_items(&prev, &now);
            let prev_urls: HashSet<&str> = prev.iter().map(|i| i.url.as_str()).collect();
            let now_urls: HashSet<&str> = now.iter().map(|i| i.url.as_str()).collect();
            for a in &c.added {
                prop_assert!(!prev_urls.contains(a.url.as_str()) && now_urls.contains(a.url.as_str()));
            }
            for r in &c.removed {
                prop_assert!(prev_urls.contains(r.url.as_str()) && !now_urls.contains(r.url.as_str()));
            }
            let added: HashSet<&str> = c.added.iter().map(|i| i.url.as_str()).collect();
            prop_assert_eq!(added.len(), c.added.len());
            // The same list again is never an event; ageing off alone never removes.
            prop_assert!(compare_items(&now, &now).is_empty());
            if prev.is_empty() {
                prop_assert!(c.is_empty());
            }
        }
    }
}
