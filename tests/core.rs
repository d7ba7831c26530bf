//! The whole path of one check against a real HTTP site on 127.0.0.1.

mod common;

use common::*;
use palimpsest::model::EventKind;
use palimpsest::store::Store;

async fn kinds(cfg: &palimpsest::config::Config, watch: &str) -> Vec<EventKind> {
    let store = open_store(cfg).await;
    let w = store
        .find_watch(watch)
        .await
        .expect("find")
        .expect("watch exists");
    let mut ev: Vec<EventKind> = store
        .events(w.id, 100)
        .await
        .expect("events")
        .into_iter()
        .map(|e| e.kind)
        .collect();
    ev.reverse();
    store.close().await;
    ev
}

#[tokio::test]
async fn first_unchanged_not_modified_and_edit() {
    let site = TestSite::start().await;
    let dir = tempfile::tempdir().expect("tmp");
    let paras = seed_paragraphs();
    let p: Vec<&str> = paras.iter().map(String::as_str).collect();
    site.set(
        "/a.html",
        Page::html(seed_article("Workshop", &p, 0)).with_etag(),
    );
    site.set_html("/b.html", seed_article("Other", &p, 0));
    let cfg = config(
        dir.path(),
        &format!(
            "[[watch]]\nname = \"a\"\nurl = \"{}\"\n\n[[watch]]\nname = \"b\"\nurl = \"{}\"\n",
            site.url("/a.html"),
            site.url("/b.html")
        ),
    );

    // First check: version 1 and first_seen.
    let r1 = run_once(&cfg).await;
    assert_eq!(r1.new_versions, 2);
    assert_eq!(kinds(&cfg, "a").await, vec![EventKind::FirstSeen]);

    let store = open_store(&cfg).await;
    let before = store.counts().await.expect("counts");
    store.close().await;

    // Unchanged: a 304 for the page with validators, a body-hash hit for the other.
    let r2 = run_once(&cfg).await;
    assert_eq!(r2.new_versions, 0);
    assert_eq!(r2.outcomes.get("not_modified"), Some(&1), "{r2:?}");
    assert_eq!(r2.outcomes.get("unchanged"), Some(&1), "{r2:?}");
    assert_eq!(site.requests("/a.html").last(), Some(&(true, 304)));
    let store = open_store(&cfg).await;
    let after = store.counts().await.expect("counts");
    store.close().await;
    assert_eq!(after.versions, before.versions);
    assert_eq!(after.blobs, before.blobs, "an unchanged check adds no blob");
    assert_eq!(after.checks, before.checks + 2, "one check row each");

    // An edit that removes a name: exactly one `edited` event naming the words.
    let edited: Vec<String> = paras
        .iter()
        .map(|l| l.replace("Kim Jong Un", "the leader"))
        .collect();
    let e: Vec<&str> = edited.iter().map(String::as_str).collect();
    site.set(
        "/a.html",
        Page::html(seed_article("Workshop", &e, 0)).with_etag(),
    );
    let r3 = run_once(&cfg).await;
    assert_eq!(r3.new_versions, 1);
    assert_eq!(
        kinds(&cfg, "a").await,
        vec![EventKind::FirstSeen, EventKind::Edited]
    );
    let store = open_store(&cfg).await;
    let w = store.find_watch("a").await.expect("find").expect("a");
    let ev = store.events(w.id, 1).await.expect("events");
    let data = &ev[0].data;
    assert_eq!(data["removed"][0], "Kim Jong Un", "{data}");
    assert_eq!(data["added"][0], "the leader", "{data}");
    assert_eq!(ev[0].prev_version_seq, Some(1));
    assert_eq!(ev[0].version_seq, Some(2));
    store.close().await;
}

#[tokio::test]
async fn rotating_sidebar_is_not_an_edit() {
    let site = TestSite::start().await;
    let dir = tempfile::tempdir().expect("tmp");
    let paras = seed_paragraphs();
    let p: Vec<&str> = paras.iter().map(String::as_str).collect();
    site.set_html("/a.html", seed_article("Workshop", &p, 0));
    let cfg = config(
        dir.path(),
        &format!(
            "[[watch]]\nname = \"a\"\nurl = \"{}\"\n",
            site.url("/a.html")
        ),
    );
    run_once(&cfg).await;
    for day in 1..=5 {
        site.set_html("/a.html", seed_article("Workshop", &p, day));
        let r = run_once(&cfg).await;
        assert_eq!(r.new_versions, 0, "day {day}: {r:?}");
    }
    assert_eq!(kinds(&cfg, "a").await, vec![EventKind::FirstSeen]);
    // And the stored text is the article, not the sidebar.
    let store = open_store(&cfg).await;
    let w = store.find_watch("a").await.expect("find").expect("a");
    let v = store.versions(w.id, 1).await.expect("versions");
    let text = palimpsest::store::version_text(&store, &v[0].text_hash)
        .await
        .expect("text");
    assert!(text.contains(&paras[0]), "{text}");
    assert!(!text.contains("More From"), "{text}");
    assert!(!text.contains("Unpha Cement"), "{text}");
    store.close().await;
}

#[tokio::test]
async fn exclude_and_ignore() {
    let site = TestSite::start().await;
    let dir = tempfile::tempdir().expect("tmp");
    let page = |n: u32| {
        format!(
            "<html><body><div class=\"article\"><h1>Report</h1><p>Updated: 10:{n:02}</p><p>The harvest was good this year in every province.</p>\
             <div class=\"share\">Shared {n} times</div></div></body></html>"
        )
    };
    site.set_html("/r.html", page(1));
    let cfg = config(
        dir.path(),
        &format!(
            "[[watch]]\nname = \"r\"\nurl = \"{}\"\nselect = \"div.article\"\nexclude = [\".share\"]\nignore = ['^Updated: .*$']\n",
            site.url("/r.html")
        ),
    );
    run_once(&cfg).await;
    site.set_html("/r.html", page(2));
    let r = run_once(&cfg).await;
    assert_eq!(r.new_versions, 0, "{r:?}");
    assert_eq!(kinds(&cfg, "r").await, vec![EventKind::FirstSeen]);
    // Whitespace-only differences never make an event either.
    site.set_html("/r.html", page(3).replace("was good", "was   good\n"));
    run_once(&cfg).await;
    assert_eq!(kinds(&cfg, "r").await, vec![EventKind::FirstSeen]);
}

#[tokio::test]
async fn euc_kr_with_only_a_meta_charset() {
    let site = TestSite::start().await;
    let dir = tempfile::tempdir().expect("tmp");
    let html = "<html><head><meta charset=\"euc-kr\"><title>사리원피혁공장 준공</title></head><body><div class=\"article\"><h1>사리원피혁공장 준공</h1>\
                <p>황해북도에서 은파세멘트공장과 은파골판지공장을 개건현대화하였다. 장성택 동지는 회의에 참가하였다.</p></div></body></html>";
    let (bytes, _, _) = encoding_rs::EUC_KR.encode(html);
    site.set(
        "/kp/17.html",
        Page {
            status: 200,
            body: bytes.into_owned(),
            content_type: "text/html".into(),
            etag: false,
            headers: vec![],
            drip: false,
        },
    );
    let cfg = config(
        dir.path(),
        &format!(
            "[[watch]]\nname = \"kp\"\nurl = \"{}\"\n",
            site.url("/kp/17.html")
        ),
    );
    run_once(&cfg).await;
    let r = run_once(&cfg).await;
    assert_eq!(r.new_versions, 0, "stable on re-check");
    let store = open_store(&cfg).await;
    let w = store.find_watch("kp").await.expect("find").expect("kp");
    let v = store.versions(w.id, 10).await.expect("versions");
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].encoding.as_deref(), Some("EUC-KR"));
    assert_eq!(v[0].title.as_deref(), Some("사리원피혁공장 준공"));
    let text = palimpsest::store::version_text(&store, &v[0].text_hash)
        .await
        .expect("text");
    assert!(text.contains("장성택 동지는 회의에 참가하였다."), "{text}");
    store.close().await;
}

#[tokio::test]
async fn body_cap_stops_a_gzip_bomb() {
    use std::io::Write;
    let site = TestSite::start().await;
    let dir = tempfile::tempdir().expect("tmp");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![b' '; 1 << 20];
    for _ in 0..64 {
        enc.write_all(&zeros).expect("gzip");
    }
    let bomb = enc.finish().expect("gzip");
    assert!(
        bomb.len() < 1 << 20,
        "the bomb is small on the wire: {}",
        bomb.len()
    );
    let mut page = Page::html(String::new());
    page.body = bomb;
    page.headers
        .push(("content-encoding".into(), "gzip".into()));
    site.set("/bomb", page);
    let cfg = config_fetch(
        dir.path(),
        "max_body = \"2MiB\"\nallow_private_networks = true",
        &format!(
            "[[watch]]\nname = \"bomb\"\nurl = \"{}\"\n",
            site.url("/bomb")
        ),
    );
    let r = run_once(&cfg).await;
    assert_eq!(r.outcomes.get("failed"), Some(&1), "{r:?}");
    let store = open_store(&cfg).await;
    let w = store.find_watch("bomb").await.expect("find").expect("bomb");
    let c = store.checks(w.id, 1).await.expect("checks");
    assert_eq!(c[0].error_class.as_deref(), Some("too_large"), "{:?}", c[0]);
    assert!(c[0].error.as_deref().unwrap_or("").contains("max_body"));
    store.close().await;
}

#[tokio::test]
async fn seed_page_extraction_snapshot() {
    // The main-content rules on the seed's structure: the article, its
    // headline, no navigation, no "More From" teasers.
    let paras = vec![
        "The First Workshop of Officials in the Information Field served as an important occasion.",
        "Kim Jong Un , general secretary of the Workers’ Party of Korea, sent those attending a letter.",
    ];
    let html = seed_article("Workshop", &paras, 3);
    let base = url::Url::parse("http://example.org/a.html").expect("url");
    let e = palimpsest::extract::extract(
        &html,
        "text/html",
        &base,
        &palimpsest::extract::Rules::default().with_links(),
        0,
        "",
    );
    insta::assert_snapshot!(e.text(), @r"
    Workshop
    The First Workshop of Officials in the Information Field served as an important occasion.
    Kim Jong Un , general secretary of the Workers’ Party of Korea, sent those attending a letter.
    Copyright 2026
    ");
    assert_eq!(e.title.as_deref(), Some("Workshop | Naenara"));
    assert!(
        e.links
            .iter()
            .any(|l| l.href == "http://example.org/article/9.html"),
        "links come from the whole page"
    );
}

#[tokio::test]
async fn redirects_are_recorded_in_the_check_row() {
    let site = TestSite::start().await;
    let dir = tempfile::tempdir().expect("tmp");
    site.set("/old", Page::redirect(301, "/mid"));
    site.set("/mid", Page::redirect(302, "/new"));
    site.set_html(
        "/new",
        "<html><body><article><p>Moved here, the same story as before.</p></article></body></html>",
    );
    let cfg = config(
        dir.path(),
        &format!("[[watch]]\nname = \"m\"\nurl = \"{}\"\n", site.url("/old")),
    );
    run_once(&cfg).await;
    let store = open_store(&cfg).await;
    let w = store.find_watch("m").await.expect("find").expect("m");
    let c = store.checks(w.id, 1).await.expect("checks");
    let hops: Vec<(String, u16)> = c[0]
        .redirects
        .iter()
        .map(|h| (h.url.clone(), h.status))
        .collect();
    assert_eq!(hops, vec![(site.url("/old"), 301), (site.url("/mid"), 302)]);
    assert_eq!(c[0].final_url.as_deref(), Some(site.url("/new").as_str()));
    let v = store.versions(w.id, 1).await.expect("versions");
    assert_eq!(v[0].final_url, site.url("/new"));
    store.close().await;
}

#[tokio::test]
async fn retention_keeps_the_newest_versions_and_frees_blobs() {
    let site = TestSite::start().await;
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = config(
        dir.path(),
        &format!(
            "[[watch]]\nname = \"r\"\nurl = \"{}\"\nkeep_versions = 2\n",
            site.url("/r.html")
        ),
    );
    for rev in 0..5 {
        site.set_html("/r.html", format!("<html><body><article><p>Revision number {rev} of this story, with its own words.</p></article></body></html>"));
        run_once(&cfg).await;
    }
    let store = open_store(&cfg).await;
    let w = store.find_watch("r").await.expect("find").expect("r");
    let seqs: Vec<i64> = store
        .versions(w.id, 10)
        .await
        .expect("versions")
        .iter()
        .map(|v| v.seq)
        .collect();
    assert_eq!(
        seqs,
        vec![5, 4],
        "the two newest are kept, numbering goes on"
    );
    let counts = store.counts().await.expect("counts");
    assert_eq!(
        counts.blobs, 4,
        "a body and a text per kept version; the rest were freed"
    );
    for v in store.versions(w.id, 10).await.expect("versions") {
        palimpsest::store::version_text(&store, &v.text_hash)
            .await
            .expect("kept texts read back");
    }
    // Events keep their history even when the versions they named are gone.
    assert_eq!(store.events(w.id, 10).await.expect("events").len(), 5);
    store.close().await;
}

#[tokio::test]
async fn one_bad_page_does_not_stop_the_others() {
    let site = TestSite::start().await;
    let dir = tempfile::tempdir().expect("tmp");
    site.set_html("/good.html", "<html><body><article><p>A page that answers as it should, every time.</p></article></body></html>");
    site.set(
        "/bad.html",
        Page {
            status: 500,
            ..Page::html("<p>oops</p>")
        },
    );
    let mut drip = Page::html("<p>slow</p>".repeat(10));
    drip.drip = true;
    site.set("/slow.html", drip);
    let cfg = config_fetch(
        dir.path(),
        "timeout = \"2s\"\nallow_private_networks = true",
        &format!(
            "[[watch]]\nname = \"good\"\nurl = \"{}\"\n\n[[watch]]\nname = \"bad\"\nurl = \"{}\"\n\n[[watch]]\nname = \"slow\"\nurl = \"{}\"\n\n[[watch]]\nname = \"gone\"\nurl = \"http://127.0.0.1:9/\"\n",
            site.url("/good.html"),
            site.url("/bad.html"),
            site.url("/slow.html")
        ),
    );
    let r = run_once(&cfg).await;
    assert_eq!(r.checks, 4);
    assert_eq!(r.new_versions, 1, "{r:?}");
    assert_eq!(r.outcomes.get("http_error"), Some(&1), "{r:?}");
    assert_eq!(r.outcomes.get("failed"), Some(&2), "{r:?}");
    let store = open_store(&cfg).await;
    let bad = store.find_watch("bad").await.expect("find").expect("bad");
    assert_eq!(bad.status, "failing");
    assert_eq!(bad.failure_streak, 1);
    assert!(bad.next_due_at.is_some());
    store.close().await;
}

#[tokio::test]
async fn old_check_rows_are_pruned_when_asked() {
    let site = TestSite::start().await;
    let dir = tempfile::tempdir().expect("tmp");
    site.set_html("/k.html", "<html><body><article><p>A page whose checks are counted and pruned.</p></article></body></html>");
    let mut cfg = config(
        dir.path(),
        &format!(
            "[[watch]]\nname = \"k\"\nurl = \"{}\"\n",
            site.url("/k.html")
        ),
    );
    run_once(&cfg).await;
    run_once(&cfg).await;
    cfg.keep_checks = Some(std::time::Duration::from_millis(300));
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    run_once(&cfg).await;
    let store = open_store(&cfg).await;
    let counts = store.counts().await.expect("counts");
    assert_eq!(
        counts.checks, 2,
        "of the old rows only the newest is left (it records the last check); then the new one"
    );
    assert_eq!(
        counts.versions, 1,
        "versions are never pruned by keep_checks"
    );
    store.close().await;
}

#[tokio::test]
async fn a_new_body_is_stored_against_the_last_one_and_reads_back() {
    let site = TestSite::start().await;
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = config(
        dir.path(),
        &format!(
            "[[watch]]\nname = \"a\"\nurl = \"{}\"\nkeep_versions = 2\n",
            site.url("/a.html")
        ),
    );
    let paragraphs = seed_paragraphs();
    let mut served = Vec::new();
    // Four versions of one article: a sentence more each day, and the
    // "More Articles" sidebar of that day.
    for day in 0..4 {
        let corrections: Vec<String> = (0..=day)
            .map(|d| format!("Correction {d}: the meeting was held on the {d}th day of the month."))
            .collect();
        let ps: Vec<&str> = paragraphs
            .iter()
            .chain(&corrections)
            .map(String::as_str)
            .collect();
        let html = seed_article("The First Workshop", &ps, day);
        site.set_html("/a.html", html.clone());
        served.push(html);
        run_once(&cfg).await;
    }
    let store = open_store(&cfg).await;
    let w = store.find_watch("a").await.expect("find").expect("a");
    let versions = store.versions(w.id, 10).await.expect("versions");
    assert_eq!(
        versions.iter().map(|v| v.seq).collect::<Vec<_>>(),
        vec![4, 3]
    );
    let first_body = palimpsest::store::blob::hash(served[0].as_bytes());
    for v in &versions {
        let seq = usize::try_from(v.seq).expect("seq");
        let body = store.blob(&v.body_hash).await.expect("read").expect("body");
        assert_eq!(body, served[seq - 1].as_bytes(), "version {seq}'s body");
        let text = palimpsest::store::version_text(&store, &v.text_hash)
            .await
            .expect("text reads back");
        assert!(text.contains(&format!("Correction {}:", seq - 1)));
        // Stored against the first body, in under a third of its plain size.
        let (dict, stored): (Option<Vec<u8>>, i64) =
            sqlx::query_as("SELECT dict, length(data) FROM blobs WHERE hash = ?")
                .bind(&v.body_hash[..])
                .fetch_one(store.pool())
                .await
                .expect("body row");
        assert_eq!(dict.as_deref(), Some(&first_body[..]), "version {seq}");
        let plain = palimpsest::store::blob::Blob::compress(&body, v.body_hash)
            .expect("zstd")
            .data
            .len();
        assert!(
            stored * 3 < i64::try_from(plain).expect("len"),
            "version {seq}: {stored} bytes stored, {plain} plain, {} raw",
            body.len()
        );
    }
    // Version 1 is gone, its body stays while the kept bodies need it.
    let (base_rows,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM blobs WHERE hash = ?")
        .bind(&first_body[..])
        .fetch_one(store.pool())
        .await
        .expect("count");
    assert_eq!(base_rows, 1);
    store.close().await;
}

#[tokio::test]
async fn check_rows_keep_their_url_when_the_watch_moves() {
    let site = TestSite::start().await;
    let dir = tempfile::tempdir().expect("tmp");
    for (path, home) in [("/one.html", "first"), ("/two.html", "second")] {
        site.set_html(
            path,
            format!("<html><body><article><p>The {home} home of this story, with enough words to keep.</p></article></body></html>"),
        );
    }
    let at = |path: &str| {
        config(
            dir.path(),
            &format!("[[watch]]\nname = \"m\"\nurl = \"{}\"\n", site.url(path)),
        )
    };
    run_once(&at("/one.html")).await;
    run_once(&at("/one.html")).await;
    let cfg = at("/two.html");
    run_once(&cfg).await;
    let store = open_store(&cfg).await;
    let w = store.find_watch("m").await.expect("find").expect("m");
    let urls: Vec<Option<String>> = store
        .checks(w.id, 10)
        .await
        .expect("checks")
        .into_iter()
        .map(|c| c.final_url)
        .collect();
    assert_eq!(
        urls,
        vec![
            Some(site.url("/two.html")),
            Some(site.url("/one.html")),
            Some(site.url("/one.html"))
        ],
        "each check row names the URL it fetched, before and after the move"
    );
    // Stored, the newest row leaves out the URL it shares with its watch.
    let stored: Option<String> = sqlx::query_scalar(
        "SELECT final_url FROM checks WHERE watch_id = ? ORDER BY id DESC LIMIT 1",
    )
    .bind(w.id)
    .fetch_one(store.pool())
    .await
    .expect("row");
    assert_eq!(stored, None);
    store.close().await;
}

#[tokio::test]
async fn a_check_that_changes_nothing_leaves_the_watch_row_alone() {
    let site = TestSite::start().await;
    let dir = tempfile::tempdir().expect("tmp");
    site.set(
        "/t.html",
        Page::html("<html><body><article><p>A page that answers 304 from its second check on.</p></article></body></html>".to_string()).with_etag(),
    );
    let cfg = config(
        dir.path(),
        &format!(
            "[[watch]]\nname = \"t\"\nurl = \"{}\"\ninterval = \"1h\"\n",
            site.url("/t.html")
        ),
    );
    // A new version (the watch row is written), then four 304s: touches.
    for _ in 0..5 {
        run_once(&cfg).await;
    }
    let store = open_store(&cfg).await;
    let w = store.find_watch("t").await.expect("find").expect("t");
    let starts: Vec<i64> =
        sqlx::query_scalar("SELECT started_at FROM checks WHERE watch_id = ? ORDER BY id")
            .bind(w.id)
            .fetch_all(store.pool())
            .await
            .expect("checks");
    assert_eq!(starts.len(), 5, "every check has its row");
    let (row_last, row_outcome): (Option<i64>, Option<String>) =
        sqlx::query_as("SELECT last_check_at, last_outcome FROM watches WHERE id = ?")
            .bind(w.id)
            .fetch_one(store.pool())
            .await
            .expect("row");
    assert_eq!(
        (row_last, row_outcome.as_deref()),
        (Some(starts[0]), Some("new_version")),
        "the 304s left the watch row as the first check wrote it"
    );
    assert_eq!((w.status.as_str(), w.last_status), ("ok", Some(304)));
    // Readers take the last check and the due time from the newest check row.
    let newest = starts[4];
    let due = palimpsest::schedule::timing::next_after_success(
        "t",
        std::time::Duration::from_secs(3600),
        newest,
    );
    assert_eq!(w.last_check_at, Some(newest));
    assert_eq!(w.next_due_at, Some(due));
    let states = store
        .sync_watches(&[palimpsest::store::WatchDef {
            name: "t",
            url: &site.url("/t.html"),
            kind: palimpsest::model::WatchKind::Page,
            tags: &[],
            interval_ms: 3_600_000,
            paused: false,
        }])
        .await
        .expect("sync");
    assert_eq!(states.len(), 1);
    assert_eq!(
        states[0].next_due_at,
        Some(due),
        "a restart resumes from the newest check"
    );
    // Pruning every old check row keeps the newest: it is the last check.
    assert_eq!(store.prune_checks(newest + 1).await.expect("prune"), 4);
    let after = store.find_watch("t").await.expect("find").expect("t");
    assert_eq!(
        (after.last_check_at, after.next_due_at),
        (Some(newest), Some(due))
    );
    store.close().await;
}
