//! Deletions, restorations, faults and flip-flops (issue 4), each against a
//! real HTTP site on 127.0.0.1, checked with `--once` runs as the simulator
//! does: every run counts as one check.

mod common;

use common::*;
use palimpsest::config::Config;
use palimpsest::model::EventKind;
use palimpsest::store::{EventInfo, Store};

async fn events(cfg: &Config, watch: &str) -> Vec<EventInfo> {
    let store = open_store(cfg).await;
    let w = store
        .find_watch(watch)
        .await
        .expect("find")
        .expect("watch exists");
    let mut ev = store.events(w.id, 100).await.expect("events");
    ev.reverse();
    store.close().await;
    ev
}

async fn kinds(cfg: &Config, watch: &str) -> Vec<EventKind> {
    events(cfg, watch)
        .await
        .into_iter()
        .map(|e| e.kind)
        .collect()
}

async fn status(cfg: &Config, watch: &str) -> String {
    let store = open_store(cfg).await;
    let w = store.find_watch(watch).await.expect("find").expect("watch");
    store.close().await;
    w.status
}

fn article(day: usize) -> String {
    let paras = seed_paragraphs();
    let p: Vec<&str> = paras.iter().map(String::as_str).collect();
    seed_article("Workshop", &p, day)
}

/// A site with one article at `/a.html` and a watch on it, baseline taken.
async fn baseline(extra: &str) -> (TestSite, tempfile::TempDir, Config) {
    let site = TestSite::start().await;
    let dir = tempfile::tempdir().expect("tmp");
    site.set_html("/a.html", article(0));
    site.set_html("/", "<html><head><title>Front</title></head><body><h1>Front page</h1><ul><li><a href=\"/a.html\">Workshop</a></li></ul></body></html>");
    let cfg = config(
        dir.path(),
        &format!(
            "{extra}\n[[watch]]\nname = \"a\"\nurl = \"{}\"\nterms = [\"Kim Jong Un\"]\n",
            site.url("/a.html")
        ),
    );
    run_once(&cfg).await;
    assert_eq!(kinds(&cfg, "a").await, vec![EventKind::FirstSeen]);
    (site, dir, cfg)
}

/// Runs `n` checks and returns the events they added.
async fn checks(cfg: &Config, n: usize) -> Vec<EventInfo> {
    let before = events(cfg, "a").await.len();
    for _ in 0..n {
        run_once(cfg).await;
    }
    events(cfg, "a").await.split_off(before)
}

#[tokio::test]
async fn hard_404_is_deleted_after_two_checks_once_then_restored() {
    let (site, _dir, cfg) = baseline("").await;
    site.remove("/a.html");
    assert!(
        checks(&cfg, 1).await.is_empty(),
        "one 404 is not yet a deletion"
    );
    let ev = checks(&cfg, 1).await;
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0].kind, EventKind::Deleted);
    assert_eq!(ev[0].data["how"], "404");
    assert_eq!(
        ev[0].data["terms_removed"][0], "Kim Jong Un",
        "{}",
        ev[0].data
    );
    assert_eq!(status(&cfg, "a").await, "deleted");
    assert!(
        checks(&cfg, 2).await.is_empty(),
        "a deletion is alerted once"
    );
    // Back, with another sidebar: restored, and the text is unchanged.
    site.set_html("/a.html", article(3));
    let ev = checks(&cfg, 1).await;
    assert_eq!(
        ev.iter().map(|e| e.kind).collect::<Vec<_>>(),
        vec![EventKind::Restored]
    );
    assert_eq!(ev[0].data["unchanged"], true);
    assert_eq!(status(&cfg, "a").await, "ok");
}

#[tokio::test]
async fn gone_410() {
    let (site, _dir, cfg) = baseline("").await;
    site.set(
        "/a.html",
        Page {
            status: 410,
            ..Page::html("<h1>Gone</h1>")
        },
    );
    let ev = checks(&cfg, 2).await;
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].data["how"], "410");
}

#[tokio::test]
async fn redirect_to_the_front_page() {
    let (site, _dir, cfg) = baseline("").await;
    site.set("/a.html", Page::redirect(301, "/"));
    let ev = checks(&cfg, 2).await;
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0].kind, EventKind::Deleted);
    assert_eq!(ev[0].data["how"], "redirect");
    assert_eq!(ev[0].data["target"], site.url("/"));
}

#[tokio::test]
async fn a_redirect_to_the_same_text_is_the_page() {
    let (site, _dir, cfg) = baseline("").await;
    site.set_html("/new/a.html", article(1));
    site.set("/a.html", Page::redirect(301, "/new/a.html"));
    assert!(checks(&cfg, 2).await.is_empty());
}

#[tokio::test]
async fn soft_404_page_not_found() {
    let (site, _dir, cfg) = baseline("").await;
    site.set_html(
        "/a.html",
        "<html><head><title>Page not found</title></head><body><h1>Page not found</h1><p>Sorry, the page you requested could not be found.</p></body></html>",
    );
    let ev = checks(&cfg, 2).await;
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0].data["how"], "soft404");
}

#[tokio::test]
async fn soft_404_null_body() {
    let (site, _dir, cfg) = baseline("").await;
    site.set_html("/a.html", "NULL");
    let ev = checks(&cfg, 2).await;
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0].data["how"], "soft404");
}

#[tokio::test]
async fn soft_404_recognised_by_probing_a_missing_sibling() {
    // The site answers every unknown URL with the same generic page and a
    // 200, titled like any other page: only the probe can tell.
    let (site, _dir, cfg) = baseline("").await;
    let generic = "<html><head><title>Naenara</title></head><body><h2>Welcome to Naenara</h2><p>Browse our sections for the latest reports on politics, economy, culture and tourism. Use the search box to find what you are looking for on the portal.</p></body></html>";
    site.set_fallback(Page::html(generic));
    site.set_html("/a.html", generic);
    let ev = checks(&cfg, 2).await;
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0].data["how"], "soft404");
    assert!(
        ev[0].data["reason"]
            .as_str()
            .unwrap_or("")
            .contains("missing page"),
        "{}",
        ev[0].data
    );
}

#[tokio::test]
async fn a_rewrite_is_an_edit_not_a_deletion() {
    // Unknown URLs get a real 404 here: a rewritten page is an edit.
    let (site, _dir, cfg) = baseline("").await;
    let other: Vec<String> = (0..6)
        .map(|i| format!("Paragraph {i} of an entirely different report about the harvest in the northern provinces, with figures and quotes from farm managers."))
        .collect();
    let p: Vec<&str> = other.iter().map(String::as_str).collect();
    site.set_html("/a.html", seed_article("Workshop", &p, 0));
    let ev = checks(&cfg, 1).await;
    assert_eq!(
        ev.iter().map(|e| e.kind).collect::<Vec<_>>(),
        vec![EventKind::Edited]
    );
}

#[tokio::test]
async fn one_day_503_then_recovery_is_silent() {
    let (site, _dir, cfg) = baseline("").await;
    site.set(
        "/a.html",
        Page {
            status: 503,
            ..Page::html("<h1>Service Unavailable</h1>")
        },
    );
    assert!(checks(&cfg, 1).await.is_empty());
    // Back the next day, with the sidebar rotated: still nothing.
    site.set_html("/a.html", article(1));
    assert!(checks(&cfg, 1).await.is_empty());
    assert_eq!(status(&cfg, "a").await, "ok");
}

#[tokio::test]
async fn too_many_requests_is_not_a_deletion() {
    let (site, _dir, cfg) = baseline("").await;
    site.set(
        "/a.html",
        Page {
            status: 429,
            ..Page::html("<h1>Slow down</h1>")
        },
    );
    assert!(
        checks(&cfg, 3).await.is_empty(),
        "blocked needs a day, and is never deleted"
    );
    site.set_html("/a.html", article(0));
    assert!(checks(&cfg, 1).await.is_empty());
}

#[tokio::test]
async fn flip_flop_is_reverted() {
    let (site, _dir, cfg) = baseline("").await;
    let paras = seed_paragraphs();
    let b: Vec<String> = paras
        .iter()
        .map(|l| l.replace("Kim Jong Un", "the leader"))
        .collect();
    let b: Vec<&str> = b.iter().map(String::as_str).collect();
    site.set_html("/a.html", seed_article("Workshop", &b, 0));
    let ev = checks(&cfg, 1).await;
    assert_eq!(ev[0].kind, EventKind::Edited);
    assert_eq!(ev[0].data["terms_removed"][0], "Kim Jong Un");
    site.set_html("/a.html", article(0));
    let ev = checks(&cfg, 1).await;
    assert_eq!(
        ev.iter().map(|e| e.kind).collect::<Vec<_>>(),
        vec![EventKind::Reverted]
    );
    assert_eq!(ev[0].data["same_as_version"], 1);
    assert_eq!(ev[0].data["terms_added"][0], "Kim Jong Un");
}

#[tokio::test]
async fn a_changed_date_line_is_boring() {
    let site = TestSite::start().await;
    let dir = tempfile::tempdir().expect("tmp");
    let page = |stamp: &str| {
        format!(
            "<html><body><article><h1>Notice</h1><p>Updated: {stamp}</p><p>The office is open from Monday to Friday and closed on public holidays. Visitors must register at the gate.</p></article></body></html>"
        )
    };
    site.set_html("/n.html", page("2026-01-30 10:05"));
    let cfg = config(
        dir.path(),
        &format!(
            "[[watch]]\nname = \"a\"\nurl = \"{}\"\n",
            site.url("/n.html")
        ),
    );
    run_once(&cfg).await;
    site.set_html("/n.html", page("2026-01-31 11:20"));
    let ev = checks(&cfg, 1).await;
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].kind, EventKind::Edited);
    assert_eq!(ev[0].data["boring"], "dates or times only");
}

#[tokio::test]
async fn confirmation_is_scheduled_soon() {
    let (site, _dir, cfg) = baseline("[detect]\nconfirm_spacing = \"7m\"\n").await;
    site.remove("/a.html");
    let t0 = palimpsest::model::now_millis();
    run_once(&cfg).await;
    let store = open_store(&cfg).await;
    let w = store.find_watch("a").await.expect("find").expect("a");
    store.close().await;
    let due = w.next_due_at.expect("due") - t0;
    assert!(
        (6 * 60_000..=8 * 60_000).contains(&due),
        "next check in {due} ms"
    );
}

fn index_page(ids: &[u32]) -> String {
    let mut html = String::from(
        "<html><head><title>News index</title></head><body><nav><a href=\"/\">Home</a> <a href=\"/about.html\">About</a></nav><main><h1>Latest</h1><ul class=\"news\">",
    );
    for id in ids {
        html.push_str(&format!(
            "<li><a href=\"/news/{id}.html\">Report number {id} on the provincial harvest</a> <span>2026-01-{:02}</span></li>",
            (*id % 28) + 1
        ));
    }
    html.push_str(
        "</ul></main><footer><a href=\"/contact.html\">Contact</a></footer></body></html>",
    );
    html
}

#[tokio::test]
async fn listing_items_added_removed_and_followed() {
    let site = TestSite::start().await;
    let dir = tempfile::tempdir().expect("tmp");
    let paras = seed_paragraphs();
    let p: Vec<&str> = paras.iter().map(String::as_str).collect();
    for id in 1..=8 {
        site.set_html(
            &format!("/news/{id}.html"),
            seed_article(&format!("Report {id}"), &p, 0),
        );
    }
    site.set_html("/", index_page(&[5, 4, 3, 2, 1]));
    let cfg = config(
        dir.path(),
        &format!(
            "[[watch]]\nname = \"index\"\nurl = \"{}\"\nkind = \"listing\"\nfollow = true\n\n[[watch]]\nname = \"n1\"\nurl = \"{}\"\n",
            site.url("/"),
            site.url("/news/1.html")
        ),
    );
    let r = run_once(&cfg).await;
    // The index and n1, then the four items not yet watched, in the same run.
    assert_eq!(r.checks, 6, "{r:?}");
    assert_eq!(kinds(&cfg, "index").await, vec![EventKind::FirstSeen]);
    let store = open_store(&cfg).await;
    let followed = store
        .find_watch("index/news/5.html")
        .await
        .expect("find")
        .expect("followed");
    assert!(followed.tags.contains(&"index".to_string()), "{followed:?}");
    assert!(
        store
            .find_watch("index/news/1.html")
            .await
            .expect("find")
            .is_none(),
        "n1 is watched already"
    );
    store.close().await;

    // Two new items on top, item 3 withdrawn from the middle, item 1 ages off.
    site.set_html("/", index_page(&[7, 6, 5, 4, 2]));
    run_once(&cfg).await;
    let ev = events(&cfg, "index").await;
    let added: Vec<&str> = ev
        .iter()
        .filter(|e| e.kind == EventKind::ItemAdded)
        .filter_map(|e| e.data["item"]["url"].as_str())
        .collect();
    assert_eq!(
        added,
        vec![site.url("/news/7.html"), site.url("/news/6.html")]
    );
    let removed: Vec<&str> = ev
        .iter()
        .filter(|e| e.kind == EventKind::ItemRemoved)
        .filter_map(|e| e.data["item"]["url"].as_str())
        .collect();
    assert_eq!(
        removed,
        vec![site.url("/news/3.html")],
        "item 1 aged off: no event"
    );
    assert_eq!(
        kinds(&cfg, "index/news/7.html").await,
        vec![EventKind::FirstSeen]
    );

    // A followed page's edit is caught like any other.
    let edited: Vec<String> = paras
        .iter()
        .map(|l| l.replace("Kim Jong Un", "the leader"))
        .collect();
    let e: Vec<&str> = edited.iter().map(String::as_str).collect();
    site.set_html("/news/7.html", seed_article("Report 7", &e, 0));
    run_once(&cfg).await;
    assert_eq!(
        kinds(&cfg, "index/news/7.html").await,
        vec![EventKind::FirstSeen, EventKind::Edited]
    );

    // A broken index (one item left) is a fault, not four removals.
    site.set_html("/", index_page(&[7]));
    run_once(&cfg).await;
    let n = events(&cfg, "index").await.len();
    site.set_html("/", index_page(&[7, 6, 5, 4, 2]));
    run_once(&cfg).await;
    assert_eq!(
        events(&cfg, "index").await.len(),
        n,
        "the list came back: nothing to say"
    );
}

#[tokio::test]
async fn rss_feed_is_a_listing() {
    let site = TestSite::start().await;
    let dir = tempfile::tempdir().expect("tmp");
    let feed = |ids: &[u32]| {
        let mut x = String::from(
            "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Feed</title>",
        );
        for id in ids {
            x.push_str(&format!(
                "<item><title>Story {id}</title><link>{}</link><pubDate>Mon, 0{id} Jan 2026 10:00:00 GMT</pubDate></item>",
                site.url(&format!("/s/{id}.html"))
            ));
        }
        x.push_str("</channel></rss>");
        x
    };
    site.set(
        "/feed.xml",
        Page {
            content_type: "application/rss+xml".into(),
            ..Page::html(feed(&[3, 2, 1]))
        },
    );
    let cfg = config(
        dir.path(),
        &format!(
            "[[watch]]\nname = \"feed\"\nurl = \"{}\"\nkind = \"listing\"\n",
            site.url("/feed.xml")
        ),
    );
    run_once(&cfg).await;
    site.set(
        "/feed.xml",
        Page {
            content_type: "application/rss+xml".into(),
            ..Page::html(feed(&[4, 3, 2, 1]))
        },
    );
    run_once(&cfg).await;
    let ev = events(&cfg, "feed").await;
    assert_eq!(ev.len(), 2, "{ev:?}");
    assert_eq!(ev[1].kind, EventKind::ItemAdded);
    assert_eq!(ev[1].data["item"]["title"], "Story 4");
}

#[tokio::test]
async fn a_bot_wall_is_blocked_not_deleted_or_edited() {
    let (site, _dir, cfg) = baseline("").await;
    let wall = "<!DOCTYPE html><html><head><title>Just a moment...</title></head><body><h1>Checking your browser</h1><div id=\"cf-chl-widget\"></div></body></html>";
    site.set(
        "/a.html",
        Page {
            status: 503,
            ..Page::html(wall)
        },
    );
    assert!(checks(&cfg, 2).await.is_empty());
    site.set_html("/a.html", wall); // the same wall with a 200
    assert!(
        checks(&cfg, 2).await.is_empty(),
        "not a soft 404, not an edit"
    );
    site.set_html("/a.html", article(2));
    assert!(checks(&cfg, 1).await.is_empty());
    assert_eq!(status(&cfg, "a").await, "ok");
}

#[tokio::test]
async fn lasting_failures_are_unreachable_once_then_reachable() {
    let (site, _dir, cfg) =
        baseline("[detect]\nunreachable_after = \"1s\"\nunreachable_checks = 2\n").await;
    site.set(
        "/a.html",
        Page {
            status: 500,
            ..Page::html("<h1>Internal Server Error</h1>")
        },
    );
    assert!(checks(&cfg, 1).await.is_empty());
    assert!(
        checks(&cfg, 1).await.is_empty(),
        "two checks, but not yet for long enough"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let ev = checks(&cfg, 1).await;
    assert_eq!(
        ev.iter().map(|e| e.kind).collect::<Vec<_>>(),
        vec![EventKind::Unreachable]
    );
    assert_eq!(ev[0].data["error"], "http_500");
    assert_eq!(status(&cfg, "a").await, "unreachable");
    assert!(checks(&cfg, 1).await.is_empty(), "alerted once");
    site.set_html("/a.html", article(4));
    let ev = checks(&cfg, 1).await;
    assert_eq!(
        ev.iter().map(|e| e.kind).collect::<Vec<_>>(),
        vec![EventKind::Reachable]
    );
    assert_eq!(ev[0].data["after"], "unreachable");
}
